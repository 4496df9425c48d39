//! Domain enums are kept in read models by name (`completed`); reading one back goes through
//! `TryFrom<String>`, so a row holding a name this build does not know is an error, never a
//! guess, and code compares enums instead of strings.

use crate::export::{ExportFormat, ExportStatus};
use crate::report::{ReportStatus, ReportType};
use crate::report_data::SnapshotStatus;
use crate::submission::SubmissionStatus;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a name this version knows")]
pub struct UnknownName(pub String);

macro_rules! read_by_name {
    ($($named:ty),* $(,)?) => {
        $(
            impl TryFrom<String> for $named {
                type Error = UnknownName;

                fn try_from(name: String) -> Result<Self, UnknownName> {
                    <$named>::parse(&name).ok_or(UnknownName(name))
                }
            }
        )*
    };
}

read_by_name!(
    ExportStatus,
    ExportFormat,
    ReportStatus,
    ReportType,
    SnapshotStatus,
    SubmissionStatus,
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_read_back_as_what_wrote_them_and_unknown_ones_are_refused() {
        for status in [ExportStatus::Queued, ExportStatus::Cancelled] {
            assert_eq!(
                ExportStatus::try_from(status.as_str().to_string()),
                Ok(status)
            );
        }
        assert_eq!(
            SnapshotStatus::try_from("current".to_string()),
            Ok(SnapshotStatus::Current)
        );
        assert_eq!(
            ReportStatus::try_from("done".to_string()),
            Err(UnknownName("done".into()))
        );
    }
}
