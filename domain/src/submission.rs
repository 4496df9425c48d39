//! Submissions to Bufdir: one stream per (organisation, report). The stream is also the outbox:
//! a `SubmissionRequested` without a `SubmissionDelivered` or `SubmissionRefused` after it is a
//! delivery still owed, so a crash or a Bufdir outage can delay a submission but never lose it.
//! Every delivery attempt carries the submission id as its idempotency key, so Bufdir files a
//! retried submission once.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::signoff::{ApprovalRef, SignOffCheck, describe_missing};
use crate::{Aggregate, OrgId};

pub struct Submission;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SubmissionStatus {
    /// Accepted by us, not yet delivered to Bufdir.
    Pending,
    /// Bufdir has it and is processing it.
    Received,
    Accepted,
    Rejected,
    /// Bufdir refused to take it (not a processing verdict); a new submission may follow.
    Failed,
}

impl SubmissionStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Received => "received",
            Self::Accepted => "accepted",
            Self::Rejected => "rejected",
            Self::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "pending" => Self::Pending,
            "received" => Self::Received,
            "accepted" => Self::Accepted,
            "rejected" => Self::Rejected,
            "failed" => Self::Failed,
            _ => return None,
        })
    }

    /// Bufdir will not change it any more.
    pub fn is_final(self) -> bool {
        matches!(self, Self::Accepted | Self::Rejected | Self::Failed)
    }
}

/// A report id as callers send it: 1 to 128 of `A-Z a-z 0-9 _ . -`, starting alphanumeric.
pub fn valid_report_id(s: &str) -> bool {
    (1..=128).contains(&s.len())
        && s.bytes().next().is_some_and(|b| b.is_ascii_alphanumeric())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
}

/// Equal for the same payload whatever its key order.
pub fn payload_digest(payload_version: &str, payload: &serde_json::Value) -> String {
    let mut hasher = Sha256::new();
    hasher.update(payload_version.as_bytes());
    hasher.update(b"\n");
    hasher.update(crate::bufdir_payload::canonical(payload).as_bytes());
    hex::encode(hasher.finalize())
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct SubmissionState {
    /// The latest submission of this report, if any.
    pub current: Option<Current>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Current {
    pub submission_id: String,
    pub payload_digest: String,
    pub status: SubmissionStatus,
    pub reference_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum SubmissionCommand {
    Submit {
        submission_id: String,
        org_id: OrgId,
        report_id: String,
        payload_version: String,
        payload: serde_json::Value,
        /// Whether the organisation gave its Bufdir credentials: nothing can be delivered
        /// without them.
        authenticated: bool,
        /// Whether the approvals the organisation's policy asks for name this payload.
        sign_off: SignOffCheck,
        now: DateTime<Utc>,
    },
    RecordDelivery {
        submission_id: String,
        reference_id: String,
        status: SubmissionStatus,
        submitted_at: DateTime<Utc>,
        confirmation: Option<String>,
        attempt: u32,
        now: DateTime<Utc>,
    },
    RecordFailedAttempt {
        submission_id: String,
        attempt: u32,
        error: String,
        retry_at: DateTime<Utc>,
        now: DateTime<Utc>,
    },
    RecordRefusal {
        submission_id: String,
        http_status: u16,
        reason: String,
        now: DateTime<Utc>,
    },
    RecordStatus {
        submission_id: String,
        status: SubmissionStatus,
        processed_at: Option<DateTime<Utc>>,
        notes: Option<String>,
        now: DateTime<Utc>,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event_type", content = "payload")]
pub enum SubmissionEvent {
    SubmissionRequested {
        submission_id: String,
        org_id: OrgId,
        report_id: String,
        payload_version: String,
        payload: serde_json::Value,
        payload_digest: String,
        requested_at: DateTime<Utc>,
        /// The approvals the submission relied on (none without a policy).
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        approvals: Vec<ApprovalRef>,
    },
    SubmissionDeliveryFailed {
        submission_id: String,
        attempt: u32,
        error: String,
        retry_at: DateTime<Utc>,
        failed_at: DateTime<Utc>,
    },
    SubmissionDelivered {
        submission_id: String,
        reference_id: String,
        status: SubmissionStatus,
        submitted_at: DateTime<Utc>,
        confirmation: Option<String>,
        attempt: u32,
        delivered_at: DateTime<Utc>,
    },
    SubmissionRefused {
        submission_id: String,
        http_status: u16,
        reason: String,
        refused_at: DateTime<Utc>,
    },
    SubmissionStatusChanged {
        submission_id: String,
        status: SubmissionStatus,
        processed_at: Option<DateTime<Utc>>,
        notes: Option<String>,
        observed_at: DateTime<Utc>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SubmissionError {
    #[error(
        "report {report_id} was already submitted with another payload (submission {submission_id}, {status}); a new payload is taken only after Bufdir rejected or refused the last one"
    )]
    OtherPayload {
        report_id: String,
        submission_id: String,
        status: &'static str,
    },
    #[error("{0} has no Bufdir credentials yet: call POST /api/v1/bufdir-api/authenticate first")]
    NotAuthenticated(OrgId),
    #[error("the report needs {} before it can be submitted{}", describe_missing(.missing), .voided.as_ref().map(|why| format!("; earlier approvals no longer count: {why}")).unwrap_or_default())]
    NotSignedOff {
        missing: Vec<crate::signoff::Requirement>,
        voided: Option<String>,
    },
    #[error("submission {0} is not this report's current submission")]
    NotCurrent(String),
    #[error("submission {0} is no longer waiting for delivery")]
    NotPending(String),
    #[error("submission {0} has not been delivered yet")]
    NotDelivered(String),
}

impl Submission {
    pub fn stream(org_id: &OrgId, report_id: &str) -> String {
        format!("{}-{}:{}", Self::CATEGORY, org_id, report_id)
    }
}

fn current<'a>(state: &'a SubmissionState, id: &str) -> Result<&'a Current, SubmissionError> {
    state
        .current
        .as_ref()
        .filter(|c| c.submission_id == id)
        .ok_or_else(|| SubmissionError::NotCurrent(id.to_string()))
}

fn pending<'a>(state: &'a SubmissionState, id: &str) -> Result<&'a Current, SubmissionError> {
    let c = current(state, id)?;
    if c.status == SubmissionStatus::Pending {
        Ok(c)
    } else {
        Err(SubmissionError::NotPending(id.to_string()))
    }
}

impl Aggregate for Submission {
    type State = SubmissionState;
    type Command = SubmissionCommand;
    type Event = SubmissionEvent;
    type Error = SubmissionError;

    const CATEGORY: &'static str = "submission";

    fn decide(
        state: &SubmissionState,
        command: SubmissionCommand,
    ) -> Result<Vec<SubmissionEvent>, SubmissionError> {
        use SubmissionStatus as S;
        match command {
            SubmissionCommand::Submit {
                submission_id,
                org_id,
                report_id,
                payload_version,
                payload,
                authenticated,
                sign_off,
                now,
            } => {
                if !authenticated {
                    return Err(SubmissionError::NotAuthenticated(org_id));
                }
                let digest = payload_digest(&payload_version, &payload);
                if let Some(c) = &state.current {
                    let same = c.payload_digest == digest;
                    match c.status {
                        // The same request again: its first answer stands.
                        _ if same && c.status != S::Failed => return Ok(vec![]),
                        S::Failed | S::Rejected => {}
                        status => {
                            return Err(SubmissionError::OtherPayload {
                                report_id,
                                submission_id: c.submission_id.clone(),
                                status: status.as_str(),
                            });
                        }
                    }
                }
                let approvals = match sign_off {
                    SignOffCheck::NotRequired => vec![],
                    SignOffCheck::Approved(relied) => relied,
                    SignOffCheck::Missing { missing, voided } => {
                        return Err(SubmissionError::NotSignedOff { missing, voided });
                    }
                };
                Ok(vec![SubmissionEvent::SubmissionRequested {
                    submission_id,
                    org_id,
                    report_id,
                    payload_version,
                    payload,
                    payload_digest: digest,
                    requested_at: now,
                    approvals,
                }])
            }
            SubmissionCommand::RecordDelivery {
                submission_id,
                reference_id,
                status,
                submitted_at,
                confirmation,
                attempt,
                now,
            } => {
                let c = current(state, &submission_id)?;
                // A second worker that delivered the same submission got the same reference
                // back (the idempotency key); its record adds nothing.
                if c.reference_id.as_deref() == Some(reference_id.as_str()) {
                    return Ok(vec![]);
                }
                pending(state, &submission_id)?;
                Ok(vec![SubmissionEvent::SubmissionDelivered {
                    submission_id,
                    reference_id,
                    status,
                    submitted_at,
                    confirmation,
                    attempt,
                    delivered_at: now,
                }])
            }
            SubmissionCommand::RecordFailedAttempt {
                submission_id,
                attempt,
                error,
                retry_at,
                now,
            } => {
                pending(state, &submission_id)?;
                Ok(vec![SubmissionEvent::SubmissionDeliveryFailed {
                    submission_id,
                    attempt,
                    error,
                    retry_at,
                    failed_at: now,
                }])
            }
            SubmissionCommand::RecordRefusal {
                submission_id,
                http_status,
                reason,
                now,
            } => {
                pending(state, &submission_id)?;
                Ok(vec![SubmissionEvent::SubmissionRefused {
                    submission_id,
                    http_status,
                    reason,
                    refused_at: now,
                }])
            }
            SubmissionCommand::RecordStatus {
                submission_id,
                status,
                processed_at,
                notes,
                now,
            } => {
                let c = current(state, &submission_id)?;
                if c.reference_id.is_none() {
                    return Err(SubmissionError::NotDelivered(submission_id));
                }
                if c.status == status || c.status.is_final() {
                    return Ok(vec![]);
                }
                Ok(vec![SubmissionEvent::SubmissionStatusChanged {
                    submission_id,
                    status,
                    processed_at,
                    notes,
                    observed_at: now,
                }])
            }
        }
    }

    fn evolve(mut state: SubmissionState, event: &SubmissionEvent) -> SubmissionState {
        match event {
            SubmissionEvent::SubmissionRequested {
                submission_id,
                payload_digest,
                ..
            } => {
                state.current = Some(Current {
                    submission_id: submission_id.clone(),
                    payload_digest: payload_digest.clone(),
                    status: SubmissionStatus::Pending,
                    reference_id: None,
                });
            }
            SubmissionEvent::SubmissionDeliveryFailed { .. } => {}
            SubmissionEvent::SubmissionDelivered {
                reference_id,
                status,
                ..
            } => {
                if let Some(c) = &mut state.current {
                    c.reference_id = Some(reference_id.clone());
                    c.status = *status;
                }
            }
            SubmissionEvent::SubmissionRefused { .. } => {
                if let Some(c) = &mut state.current {
                    c.status = SubmissionStatus::Failed;
                }
            }
            SubmissionEvent::SubmissionStatusChanged { status, .. } => {
                if let Some(c) = &mut state.current {
                    c.status = *status;
                }
            }
        }
        state
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::testing::{given, state_after};

    fn org() -> OrgId {
        OrgId::parse("org_482").unwrap()
    }

    fn submit(id: &str, payload: serde_json::Value) -> SubmissionCommand {
        SubmissionCommand::Submit {
            submission_id: id.into(),
            org_id: org(),
            report_id: "rpt_1".into(),
            payload_version: "bufdir_2025_v2".into(),
            payload,
            authenticated: true,
            sign_off: SignOffCheck::NotRequired,
            now: Utc::now(),
        }
    }

    fn delivered(id: &str) -> SubmissionCommand {
        SubmissionCommand::RecordDelivery {
            submission_id: id.into(),
            reference_id: "ref_1".into(),
            status: SubmissionStatus::Received,
            submitted_at: Utc::now(),
            confirmation: None,
            attempt: 1,
            now: Utc::now(),
        }
    }

    fn with_sign_off(mut command: SubmissionCommand, check: SignOffCheck) -> SubmissionCommand {
        if let SubmissionCommand::Submit { sign_off, .. } = &mut command {
            *sign_off = check;
        }
        command
    }

    #[test]
    fn missing_approvals_refuse_the_submission_and_name_who_is_needed() {
        use crate::signoff::{Requirement, SignerRole};
        let command = with_sign_off(
            submit("sub_1", json!({"a": 1})),
            SignOffCheck::Missing {
                missing: vec![Requirement {
                    role: SignerRole::Auditor,
                    count: 1,
                }],
                voided: Some("the figures changed".into()),
            },
        );
        let refused = given::<Submission>(&[]).when(command).result().unwrap_err();
        assert_eq!(
            refused.to_string(),
            "the report needs 1 more auditor before it can be submitted; earlier approvals no longer count: the figures changed"
        );
    }

    #[test]
    fn a_submission_records_the_approvals_it_relied_on() {
        use crate::signoff::{ApprovalRef, Signer, SignerRole};
        let relied = vec![ApprovalRef {
            approval_id: "apr_1".into(),
            signer: Signer {
                subject: "kari".into(),
                issuer: None,
            },
            role: SignerRole::Approver,
            approved_at: Utc::now(),
        }];
        let events = given::<Submission>(&[])
            .when(with_sign_off(
                submit("sub_1", json!({"a": 1})),
                SignOffCheck::Approved(relied.clone()),
            ))
            .events();
        let [SubmissionEvent::SubmissionRequested { approvals, .. }] = events.as_slice() else {
            panic!("one submission requested: {events:?}")
        };
        assert_eq!(approvals, &relied);
    }

    #[test]
    fn nothing_is_submitted_before_the_organisation_gave_its_credentials() {
        let mut command = submit("sub_1", json!({"a": 1}));
        if let SubmissionCommand::Submit { authenticated, .. } = &mut command {
            *authenticated = false;
        }
        given::<Submission>(&[])
            .when(command)
            .then_error(SubmissionError::NotAuthenticated(org()));
    }

    #[test]
    fn the_same_payload_again_changes_nothing_and_another_is_refused() {
        let first = given::<Submission>(&[])
            .when(submit("sub_1", json!({"a": 1, "b": 2})))
            .events();
        given::<Submission>(&first)
            .when(submit("sub_2", json!({"b": 2, "a": 1})))
            .then(vec![]);
        assert!(matches!(
            given::<Submission>(&first)
                .when(submit("sub_2", json!({"a": 2})))
                .result(),
            Err(SubmissionError::OtherPayload { .. })
        ));
    }

    #[test]
    fn a_rejected_report_takes_a_corrected_payload() {
        let mut events = given::<Submission>(&[])
            .when(submit("sub_1", json!({"a": 1})))
            .events();
        events.extend(
            given::<Submission>(&events)
                .when(delivered("sub_1"))
                .events(),
        );
        events.extend(
            given::<Submission>(&events)
                .when(SubmissionCommand::RecordStatus {
                    submission_id: "sub_1".into(),
                    status: SubmissionStatus::Rejected,
                    processed_at: None,
                    notes: Some("feil".into()),
                    now: Utc::now(),
                })
                .events(),
        );
        given::<Submission>(&events)
            .when(submit("sub_2", json!({"a": 1})))
            .then(vec![]);
        let next = given::<Submission>(&events)
            .when(submit("sub_2", json!({"a": 3})))
            .events();
        assert_eq!(next.len(), 1);
        assert_eq!(
            state_after::<Submission>(&[events, next].concat())
                .current
                .unwrap()
                .submission_id,
            "sub_2"
        );
    }

    #[test]
    fn a_delivery_is_recorded_once() {
        let mut events = given::<Submission>(&[])
            .when(submit("sub_1", json!({})))
            .events();
        events.extend(
            given::<Submission>(&events)
                .when(delivered("sub_1"))
                .events(),
        );
        given::<Submission>(&events)
            .when(delivered("sub_1"))
            .then(vec![]);
        assert!(matches!(
            given::<Submission>(&events)
                .when(SubmissionCommand::RecordRefusal {
                    submission_id: "sub_1".into(),
                    http_status: 400,
                    reason: "x".into(),
                    now: Utc::now()
                })
                .result(),
            Err(SubmissionError::NotPending(_))
        ));
    }

    #[test]
    fn report_ids_are_checked() {
        assert!(valid_report_id("rpt_20250101_region07_pdf"));
        assert!(!valid_report_id(""));
        assert!(!valid_report_id("_x"));
        assert!(!valid_report_id("a/b"));
        assert!(!valid_report_id(&"a".repeat(129)));
    }
}
