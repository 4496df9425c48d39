//! The read models by name. A name is the key of a projection's checkpoint, the argument of
//! `projections rebuild NAME`, and the slot of its batch counter (`batch_counts`): one enum, so
//! a new read model cannot be forgotten in any of them.

use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ProjectionName {
    Organizations,
    ReportData,
    Submissions,
    Exports,
    Reports,
    SignOffs,
    FigureChanges,
}

impl ProjectionName {
    /// Every read model, in the order of their counter slots.
    pub const ALL: [ProjectionName; 7] = [
        ProjectionName::Organizations,
        ProjectionName::ReportData,
        ProjectionName::Submissions,
        ProjectionName::Exports,
        ProjectionName::Reports,
        ProjectionName::SignOffs,
        ProjectionName::FigureChanges,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            ProjectionName::Organizations => "organizations",
            ProjectionName::ReportData => "report_data",
            ProjectionName::Submissions => "submissions",
            ProjectionName::Exports => "exports",
            ProjectionName::Reports => "reports",
            ProjectionName::SignOffs => "signoffs",
            ProjectionName::FigureChanges => "figure_changes",
        }
    }

    pub fn parse(name: &str) -> Option<ProjectionName> {
        Self::ALL.into_iter().find(|p| p.as_str() == name)
    }

    /// Its counter's place in the shared file.
    pub(crate) const fn slot(self) -> usize {
        self as usize
    }
}

impl fmt::Display for ProjectionName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_name_has_its_own_slot_and_reads_back() {
        for (i, name) in ProjectionName::ALL.into_iter().enumerate() {
            assert_eq!(name.slot(), i);
            assert_eq!(ProjectionName::parse(name.as_str()), Some(name));
        }
        assert_eq!(ProjectionName::parse("report-data"), None);
    }
}
