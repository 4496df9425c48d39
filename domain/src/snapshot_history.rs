//! A snapshot as it stood at a point of the log: the fold of its organisation-period's events up
//! to there, the same steps the report_data read model takes, so "what did the service show
//! then" is answered from the log without rebuilding anything.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use crate::report_data::{ReportDataEvent, SectionValues, SnapshotStatus};

/// A snapshot's state at a position.
#[derive(Debug, Clone, PartialEq)]
pub struct SnapshotAt {
    pub status: SnapshotStatus,
    pub job_id: String,
    pub created_at: DateTime<Utc>,
    pub aggregated_at: Option<DateTime<Utc>>,
    pub sections: Option<SectionValues>,
    pub prior_values: Option<BTreeMap<String, f64>>,
    pub populated_field_count: u64,
    pub invalidation_reason: Option<String>,
    pub invalidated_at: Option<DateTime<Utc>>,
    pub error: Option<String>,
}

/// Snapshot `id` after `events` (its organisation-period's, in log order); `None` before it was
/// requested, or once deleted.
pub fn snapshot_at<'a>(
    events: impl IntoIterator<Item = &'a ReportDataEvent>,
    id: &str,
) -> Option<SnapshotAt> {
    use ReportDataEvent as E;
    let mut at: Option<SnapshotAt> = None;
    for event in events {
        match event {
            E::SnapshotRequested {
                snapshot_id,
                job_id,
                requested_at,
                ..
            } if snapshot_id == id && at.is_none() => {
                at = Some(SnapshotAt {
                    status: SnapshotStatus::Processing,
                    job_id: job_id.clone(),
                    created_at: *requested_at,
                    aggregated_at: None,
                    sections: None,
                    prior_values: None,
                    populated_field_count: 0,
                    invalidation_reason: None,
                    invalidated_at: None,
                    error: None,
                });
            }
            E::SnapshotInvalidated {
                snapshot_id,
                job_id,
                reason,
                invalidated_at,
                ..
            } if snapshot_id == id => {
                if let Some(s) = at.as_mut() {
                    s.status = SnapshotStatus::Processing;
                    s.job_id = job_id.clone();
                    s.invalidation_reason = Some(reason.clone());
                    s.invalidated_at = Some(*invalidated_at);
                }
            }
            E::SnapshotAggregated {
                snapshot_id,
                sections,
                prior_values,
                aggregated_at,
                ..
            } if snapshot_id == id => {
                if let Some(s) = at.as_mut() {
                    s.status = SnapshotStatus::Current;
                    s.populated_field_count = sections.values().map(|f| f.len() as u64).sum();
                    s.sections = Some(sections.clone());
                    s.prior_values = Some(prior_values.clone());
                    s.aggregated_at = Some(*aggregated_at);
                    s.error = None;
                }
            }
            E::SnapshotAggregated {
                superseded: Some(old),
                ..
            } if old == id => {
                if let Some(s) = at.as_mut() {
                    s.status = SnapshotStatus::Historical;
                }
            }
            E::SnapshotAggregationFailed {
                snapshot_id, error, ..
            } if snapshot_id == id => {
                if let Some(s) = at.as_mut() {
                    s.status = SnapshotStatus::Failed;
                    s.error = Some(error.clone());
                }
            }
            E::SnapshotDeleted { snapshot_id, .. } if snapshot_id == id => at = None,
            _ => {}
        }
    }
    at
}
