//! Aggregated report data: the snapshots of one organisation and period.
//!
//! All snapshots of an (organisation, period) live in one stream, so "one `current` snapshot per
//! organisation and period" is an invariant of one aggregate: the aggregation that makes a
//! snapshot current turns the previous one `historical` in the same event.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::{Aggregate, OrgId, PeriodId};

pub struct ReportData;

impl ReportData {
    /// `snapshot-{org_id}:{period_id}`; `:` cannot occur in either id.
    pub fn stream(org_id: &OrgId, period_id: &PeriodId) -> String {
        format!("{}-{org_id}:{period_id}", Self::CATEGORY)
    }
}

/// One aggregated figure.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FieldValue {
    pub value: f64,
    /// Where the records came from (`fagsystem-cis`); several sources are joined with `, `.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_source: Option<String>,
}

/// Populated figures by section id, then field key. Fields without records are absent.
pub type SectionValues = BTreeMap<String, BTreeMap<String, FieldValue>>;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SnapshotStatus {
    Processing,
    Current,
    Historical,
    Failed,
}

impl SnapshotStatus {
    pub fn as_str(&self) -> &'static str {
        match self {
            SnapshotStatus::Processing => "processing",
            SnapshotStatus::Current => "current",
            SnapshotStatus::Historical => "historical",
            SnapshotStatus::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [
            SnapshotStatus::Processing,
            SnapshotStatus::Current,
            SnapshotStatus::Historical,
            SnapshotStatus::Failed,
        ]
        .into_iter()
        .find(|status| status.as_str() == s)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Snapshot {
    pub status: SnapshotStatus,
    pub job_id: String,
    pub values: Option<SectionValues>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct ReportDataState {
    /// The stream's organisation and period, known from its first event.
    pub ids: Option<(OrgId, PeriodId)>,
    pub snapshots: BTreeMap<String, Snapshot>,
    pub current: Option<String>,
}

impl ReportDataState {
    /// The snapshot a plain (not forced) request is answered with: the current one, else one
    /// still processing.
    pub(crate) fn reusable(&self) -> Option<&str> {
        self.current.as_deref().or_else(|| {
            self.snapshots
                .iter()
                .find(|(_, s)| s.status == SnapshotStatus::Processing)
                .map(|(id, _)| id.as_str())
        })
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum ReportDataCommand {
    Request {
        snapshot_id: String,
        job_id: String,
        org_id: OrgId,
        period_id: PeriodId,
        force: bool,
        now: DateTime<Utc>,
    },
    Invalidate {
        snapshot_id: String,
        job_id: String,
        reason: String,
        now: DateTime<Utc>,
    },
    RecordAggregation {
        snapshot_id: String,
        sections: SectionValues,
        prior_values: BTreeMap<String, f64>,
        /// The log position the source data was read at.
        source_position: String,
        duration_ms: u64,
        now: DateTime<Utc>,
    },
    Fail {
        snapshot_id: String,
        error: String,
        now: DateTime<Utc>,
    },
    Delete {
        snapshot_id: String,
        now: DateTime<Utc>,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event_type", content = "payload")]
pub enum ReportDataEvent {
    SnapshotRequested {
        snapshot_id: String,
        org_id: OrgId,
        period_id: PeriodId,
        job_id: String,
        requested_at: DateTime<Utc>,
    },
    SnapshotInvalidated {
        snapshot_id: String,
        org_id: OrgId,
        period_id: PeriodId,
        job_id: String,
        reason: String,
        invalidated_at: DateTime<Utc>,
    },
    SnapshotAggregated {
        snapshot_id: String,
        org_id: OrgId,
        period_id: PeriodId,
        job_id: String,
        sections: SectionValues,
        prior_values: BTreeMap<String, f64>,
        changed_sections: Vec<String>,
        changed_field_keys: Vec<String>,
        /// The snapshot this one replaced as `current`, now `historical`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        superseded: Option<String>,
        source_position: String,
        duration_ms: u64,
        aggregated_at: DateTime<Utc>,
    },
    SnapshotAggregationFailed {
        snapshot_id: String,
        org_id: OrgId,
        period_id: PeriodId,
        error: String,
        failed_at: DateTime<Utc>,
    },
    SnapshotDeleted {
        snapshot_id: String,
        org_id: OrgId,
        period_id: PeriodId,
        deleted_at: DateTime<Utc>,
    },
}

impl ReportDataEvent {
    pub fn snapshot_id(&self) -> &str {
        match self {
            ReportDataEvent::SnapshotRequested { snapshot_id, .. }
            | ReportDataEvent::SnapshotInvalidated { snapshot_id, .. }
            | ReportDataEvent::SnapshotAggregated { snapshot_id, .. }
            | ReportDataEvent::SnapshotAggregationFailed { snapshot_id, .. }
            | ReportDataEvent::SnapshotDeleted { snapshot_id, .. } => snapshot_id,
        }
    }

    pub fn org_and_period(&self) -> (&OrgId, &PeriodId) {
        match self {
            ReportDataEvent::SnapshotRequested {
                org_id, period_id, ..
            }
            | ReportDataEvent::SnapshotInvalidated {
                org_id, period_id, ..
            }
            | ReportDataEvent::SnapshotAggregated {
                org_id, period_id, ..
            }
            | ReportDataEvent::SnapshotAggregationFailed {
                org_id, period_id, ..
            }
            | ReportDataEvent::SnapshotDeleted {
                org_id, period_id, ..
            } => (org_id, period_id),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReportDataError {
    #[error("snapshot {0} not found")]
    UnknownSnapshot(String),
    #[error("snapshot {0} is historical: it is kept as it was and is not re-aggregated")]
    Historical(String),
    #[error("snapshot {0} is not waiting for an aggregation")]
    NotProcessing(String),
}

impl Aggregate for ReportData {
    type State = ReportDataState;
    type Command = ReportDataCommand;
    type Event = ReportDataEvent;
    type Error = ReportDataError;
    const CATEGORY: &'static str = "snapshot";

    fn decide(
        state: &Self::State,
        command: Self::Command,
    ) -> Result<Vec<Self::Event>, Self::Error> {
        use ReportDataCommand as C;
        use ReportDataEvent as E;
        match command {
            C::Request {
                snapshot_id,
                job_id,
                org_id,
                period_id,
                force,
                now,
            } => {
                if !force && state.reusable().is_some() {
                    return Ok(vec![]);
                }
                Ok(vec![E::SnapshotRequested {
                    snapshot_id,
                    org_id,
                    period_id,
                    job_id,
                    requested_at: now,
                }])
            }
            C::Invalidate {
                snapshot_id,
                job_id,
                reason,
                now,
            } => {
                let snapshot = known(state, &snapshot_id)?;
                if snapshot.status == SnapshotStatus::Historical {
                    return Err(ReportDataError::Historical(snapshot_id));
                }
                let (org_id, period_id) = ids(state);
                Ok(vec![E::SnapshotInvalidated {
                    snapshot_id,
                    org_id,
                    period_id,
                    job_id,
                    reason,
                    invalidated_at: now,
                }])
            }
            C::RecordAggregation {
                snapshot_id,
                sections,
                prior_values,
                source_position,
                duration_ms,
                now,
            } => {
                let snapshot = known(state, &snapshot_id)?;
                if snapshot.status == SnapshotStatus::Historical {
                    return Err(ReportDataError::Historical(snapshot_id));
                }
                let (changed_sections, changed_field_keys) =
                    diff(snapshot.values.as_ref(), &sections);
                let superseded = state.current.clone().filter(|c| *c != snapshot_id);
                let (org_id, period_id) = ids(state);
                Ok(vec![E::SnapshotAggregated {
                    snapshot_id,
                    org_id,
                    period_id,
                    job_id: snapshot.job_id.clone(),
                    sections,
                    prior_values,
                    changed_sections,
                    changed_field_keys,
                    superseded,
                    source_position,
                    duration_ms,
                    aggregated_at: now,
                }])
            }
            C::Fail {
                snapshot_id,
                error,
                now,
            } => {
                let snapshot = known(state, &snapshot_id)?;
                if snapshot.status != SnapshotStatus::Processing {
                    return Err(ReportDataError::NotProcessing(snapshot_id));
                }
                let (org_id, period_id) = ids(state);
                Ok(vec![E::SnapshotAggregationFailed {
                    snapshot_id,
                    org_id,
                    period_id,
                    error,
                    failed_at: now,
                }])
            }
            C::Delete { snapshot_id, now } => {
                known(state, &snapshot_id)?;
                let (org_id, period_id) = ids(state);
                Ok(vec![E::SnapshotDeleted {
                    snapshot_id,
                    org_id,
                    period_id,
                    deleted_at: now,
                }])
            }
        }
    }

    fn evolve(mut state: Self::State, event: &Self::Event) -> Self::State {
        use ReportDataEvent as E;
        match event {
            E::SnapshotRequested {
                snapshot_id,
                job_id,
                org_id,
                period_id,
                ..
            } => {
                state.snapshots.insert(
                    snapshot_id.clone(),
                    Snapshot {
                        status: SnapshotStatus::Processing,
                        job_id: job_id.clone(),
                        values: None,
                    },
                );
                state.ids = Some((org_id.clone(), *period_id));
            }
            E::SnapshotInvalidated {
                snapshot_id,
                job_id,
                ..
            } => {
                if let Some(s) = state.snapshots.get_mut(snapshot_id) {
                    s.status = SnapshotStatus::Processing;
                    s.job_id = job_id.clone();
                }
                if state.current.as_deref() == Some(snapshot_id) {
                    state.current = None;
                }
            }
            E::SnapshotAggregated {
                snapshot_id,
                sections,
                superseded,
                ..
            } => {
                if let Some(old) = superseded
                    .as_ref()
                    .and_then(|id| state.snapshots.get_mut(id))
                {
                    old.status = SnapshotStatus::Historical;
                }
                if let Some(s) = state.snapshots.get_mut(snapshot_id) {
                    s.status = SnapshotStatus::Current;
                    s.values = Some(sections.clone());
                }
                state.current = Some(snapshot_id.clone());
            }
            E::SnapshotAggregationFailed { snapshot_id, .. } => {
                if let Some(s) = state.snapshots.get_mut(snapshot_id) {
                    s.status = SnapshotStatus::Failed;
                }
            }
            E::SnapshotDeleted { snapshot_id, .. } => {
                state.snapshots.remove(snapshot_id);
                if state.current.as_deref() == Some(snapshot_id) {
                    state.current = None;
                }
            }
        }
        state
    }
}

fn known<'a>(
    state: &'a ReportDataState,
    snapshot_id: &str,
) -> Result<&'a Snapshot, ReportDataError> {
    state
        .snapshots
        .get(snapshot_id)
        .ok_or_else(|| ReportDataError::UnknownSnapshot(snapshot_id.to_string()))
}

/// A stream with a known snapshot has had a `SnapshotRequested`, which names org and period.
fn ids(state: &ReportDataState) -> (OrgId, PeriodId) {
    state
        .ids
        .clone()
        .expect("a stream with snapshots knows its org and period")
}

/// Which sections and field keys differ between two aggregations. A figure that appears,
/// disappears or changes value counts; a changed data source alone does not.
pub fn diff(before: Option<&SectionValues>, after: &SectionValues) -> (Vec<String>, Vec<String>) {
    let empty = SectionValues::new();
    let before = before.unwrap_or(&empty);
    let mut sections = Vec::new();
    let mut keys = Vec::new();
    let section_ids: std::collections::BTreeSet<&String> =
        before.keys().chain(after.keys()).collect();
    for section in section_ids {
        let no_fields = BTreeMap::new();
        let b = before.get(section).unwrap_or(&no_fields);
        let a = after.get(section).unwrap_or(&no_fields);
        let field_keys: std::collections::BTreeSet<&String> = b.keys().chain(a.keys()).collect();
        let mut changed = false;
        for key in field_keys {
            if b.get(key).map(|v| v.value) != a.get(key).map(|v| v.value) {
                keys.push(key.clone());
                changed = true;
            }
        }
        if changed {
            sections.push(section.clone());
        }
    }
    (sections, keys)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{given, state_after};

    fn now() -> DateTime<Utc> {
        "2026-03-26T09:00:00Z".parse().unwrap()
    }

    fn request(id: &str, force: bool) -> ReportDataCommand {
        ReportDataCommand::Request {
            snapshot_id: id.into(),
            job_id: format!("job-{id}"),
            org_id: OrgId::parse("org-1").unwrap(),
            period_id: PeriodId::parse("2024").unwrap(),
            force,
            now: now(),
        }
    }

    fn values(pairs: &[(&str, &str, f64)]) -> SectionValues {
        let mut v = SectionValues::new();
        for (section, key, value) in pairs {
            v.entry(section.to_string()).or_default().insert(
                key.to_string(),
                FieldValue {
                    value: *value,
                    data_source: Some("cis".into()),
                },
            );
        }
        v
    }

    fn aggregate(id: &str, v: SectionValues) -> ReportDataCommand {
        ReportDataCommand::RecordAggregation {
            snapshot_id: id.into(),
            sections: v,
            prior_values: BTreeMap::new(),
            source_position: "10".into(),
            duration_ms: 5,
            now: now(),
        }
    }

    /// Decides `command` after `history` and adds what it decided to the history.
    fn run(
        history: &mut Vec<ReportDataEvent>,
        command: ReportDataCommand,
    ) -> Result<Vec<ReportDataEvent>, ReportDataError> {
        let events = given::<ReportData>(history).when(command).result()?;
        history.extend(events.clone());
        Ok(events)
    }

    #[test]
    fn a_first_request_starts_a_processing_snapshot() {
        let events = given::<ReportData>(&[])
            .when(request("snap_a", false))
            .events();
        assert!(
            matches!(&events[..], [ReportDataEvent::SnapshotRequested { snapshot_id, .. }] if snapshot_id == "snap_a")
        );
        let state = state_after::<ReportData>(&events);
        assert_eq!(state.snapshots["snap_a"].status, SnapshotStatus::Processing);
        assert_eq!(state.reusable(), Some("snap_a"));
    }

    #[test]
    fn a_plain_request_reuses_the_existing_snapshot_and_a_forced_one_starts_another() {
        let mut h = vec![];
        run(&mut h, request("snap_a", false)).unwrap();
        given::<ReportData>(&h)
            .when(request("snap_b", false))
            .then(vec![]);
        assert_eq!(run(&mut h, request("snap_b", true)).unwrap().len(), 1);
    }

    #[test]
    fn the_first_aggregation_reports_every_populated_field_as_changed() {
        let mut h = vec![];
        run(&mut h, request("snap_a", false)).unwrap();
        let events = run(
            &mut h,
            aggregate(
                "snap_a",
                values(&[("tiltak", "a", 1.0), ("frivillige", "b", 2.0)]),
            ),
        )
        .unwrap();
        let ReportDataEvent::SnapshotAggregated {
            changed_sections,
            changed_field_keys,
            superseded,
            ..
        } = &events[0]
        else {
            panic!()
        };
        assert_eq!(changed_sections, &["frivillige", "tiltak"]);
        assert_eq!(changed_field_keys, &["b", "a"]);
        assert_eq!(superseded, &None);
        assert_eq!(
            state_after::<ReportData>(&h).current.as_deref(),
            Some("snap_a")
        );
    }

    #[test]
    fn a_re_aggregation_names_only_what_changed() {
        let mut h = vec![];
        run(&mut h, request("snap_a", false)).unwrap();
        run(
            &mut h,
            aggregate(
                "snap_a",
                values(&[("tiltak", "a", 1.0), ("frivillige", "b", 2.0)]),
            ),
        )
        .unwrap();
        let events = run(
            &mut h,
            aggregate(
                "snap_a",
                values(&[
                    ("tiltak", "a", 1.0),
                    ("frivillige", "b", 3.0),
                    ("deltakere", "c", 1.0),
                ]),
            ),
        )
        .unwrap();
        let ReportDataEvent::SnapshotAggregated {
            changed_sections,
            changed_field_keys,
            ..
        } = &events[0]
        else {
            panic!()
        };
        assert_eq!(changed_sections, &["deltakere", "frivillige"]);
        assert_eq!(changed_field_keys, &["c", "b"]);
    }

    #[test]
    fn a_newer_snapshot_turns_the_current_one_historical() {
        let mut h = vec![];
        run(&mut h, request("snap_a", false)).unwrap();
        run(&mut h, aggregate("snap_a", values(&[("tiltak", "a", 1.0)]))).unwrap();
        run(&mut h, request("snap_b", true)).unwrap();
        let events = run(&mut h, aggregate("snap_b", values(&[("tiltak", "a", 1.0)]))).unwrap();
        assert!(
            matches!(&events[0], ReportDataEvent::SnapshotAggregated { superseded: Some(s), .. } if s == "snap_a")
        );
        let state = state_after::<ReportData>(&h);
        assert_eq!(state.snapshots["snap_a"].status, SnapshotStatus::Historical);
        assert_eq!(state.current.as_deref(), Some("snap_b"));
        // History is kept as it was.
        let invalidate = ReportDataCommand::Invalidate {
            snapshot_id: "snap_a".into(),
            job_id: "j".into(),
            reason: "r".into(),
            now: now(),
        };
        given::<ReportData>(&h)
            .when(invalidate)
            .then_error(ReportDataError::Historical("snap_a".into()));
        given::<ReportData>(&h)
            .when(aggregate("snap_a", values(&[])))
            .then_error(ReportDataError::Historical("snap_a".into()));
    }

    #[test]
    fn invalidating_puts_a_snapshot_back_to_processing_until_it_is_aggregated() {
        let mut h = vec![];
        run(&mut h, request("snap_a", false)).unwrap();
        run(&mut h, aggregate("snap_a", values(&[("tiltak", "a", 1.0)]))).unwrap();
        let invalidate = ReportDataCommand::Invalidate {
            snapshot_id: "snap_a".into(),
            job_id: "job-2".into(),
            reason: "late data".into(),
            now: now(),
        };
        run(&mut h, invalidate).unwrap();
        let state = state_after::<ReportData>(&h);
        assert_eq!(state.snapshots["snap_a"].status, SnapshotStatus::Processing);
        assert_eq!(state.snapshots["snap_a"].job_id, "job-2");
        run(&mut h, aggregate("snap_a", values(&[("tiltak", "a", 1.0)]))).unwrap();
        assert_eq!(
            state_after::<ReportData>(&h).snapshots["snap_a"].status,
            SnapshotStatus::Current
        );
    }

    #[test]
    fn unknown_and_deleted_snapshots_are_refused() {
        let mut h = vec![];
        run(&mut h, request("snap_a", false)).unwrap();
        run(
            &mut h,
            ReportDataCommand::Delete {
                snapshot_id: "snap_a".into(),
                now: now(),
            },
        )
        .unwrap();
        let state = state_after::<ReportData>(&h);
        assert!(state.snapshots.is_empty() && state.current.is_none());
        let delete = ReportDataCommand::Delete {
            snapshot_id: "snap_a".into(),
            now: now(),
        };
        given::<ReportData>(&h)
            .when(delete)
            .then_error(ReportDataError::UnknownSnapshot("snap_a".into()));
    }

    #[test]
    fn only_a_processing_snapshot_can_fail() {
        let mut h = vec![];
        run(&mut h, request("snap_a", false)).unwrap();
        run(
            &mut h,
            ReportDataCommand::Fail {
                snapshot_id: "snap_a".into(),
                error: "boom".into(),
                now: now(),
            },
        )
        .unwrap();
        assert_eq!(
            state_after::<ReportData>(&h).snapshots["snap_a"].status,
            SnapshotStatus::Failed
        );
        let again = ReportDataCommand::Fail {
            snapshot_id: "snap_a".into(),
            error: "boom".into(),
            now: now(),
        };
        given::<ReportData>(&h)
            .when(again)
            .then_error(ReportDataError::NotProcessing("snap_a".into()));
    }
}
