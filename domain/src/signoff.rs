//! Sign-off before submission: the people who answer for a report approve exactly what is sent.
//! An approval names the digest of the Bufdir payload it approves (`submission::payload_digest`:
//! SHA-256 over the payload version and the canonically serialised payload), and counts only
//! for that digest; when the figures move, the approvals of the old digest are voided by an event
//! that says why. One stream per organisation and period (`signoff-{org}:{period}`).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::{Aggregate, OrgId, PeriodId};

pub struct SignOff;

/// The roles whose approval a policy may require.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SignerRole {
    /// The daily manager or the board chair, who answers for the report.
    Approver,
    /// The auditor who confirms it (an ISRS 4400 check) for larger grants.
    Auditor,
}

impl SignerRole {
    pub const ALL: [SignerRole; 2] = [SignerRole::Approver, SignerRole::Auditor];

    pub fn as_str(self) -> &'static str {
        match self {
            SignerRole::Approver => "approver",
            SignerRole::Auditor => "auditor",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.as_str() == s)
    }
}

impl TryFrom<String> for SignerRole {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        SignerRole::parse(&s).ok_or(s)
    }
}

/// Where an approval stands, as the read model keeps it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApprovalStatus {
    /// It counts for the digest it names.
    Standing,
    /// Its signer took it back.
    Withdrawn,
    /// The figures changed after it was given.
    Voided,
}

impl ApprovalStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ApprovalStatus::Standing => "standing",
            ApprovalStatus::Withdrawn => "withdrawn",
            ApprovalStatus::Voided => "voided",
        }
    }
}

impl TryFrom<String> for ApprovalStatus {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        [
            ApprovalStatus::Standing,
            ApprovalStatus::Withdrawn,
            ApprovalStatus::Voided,
        ]
        .into_iter()
        .find(|st| st.as_str() == s)
        .ok_or(s)
    }
}

/// How many distinct people of `role` must approve.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Requirement {
    pub role: SignerRole,
    pub count: u32,
}

/// An organisation's approval policy: who must approve a report before it may be submitted.
/// Empty: no sign-off is needed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApprovalPolicy {
    requirements: Vec<Requirement>,
}

/// The most people of one role a policy may ask for.
pub const MAX_SIGNERS_PER_ROLE: u32 = 5;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidPolicy {
    #[error("{0} is named twice; name each role once, with how many must approve")]
    RoleTwice(&'static str),
    #[error("{role} needs 1 to {MAX_SIGNERS_PER_ROLE} approvals, not {count}")]
    Count { role: &'static str, count: u32 },
}

impl ApprovalPolicy {
    pub fn new(requirements: Vec<Requirement>) -> Result<Self, InvalidPolicy> {
        let mut seen = Vec::new();
        for r in &requirements {
            if seen.contains(&r.role) {
                return Err(InvalidPolicy::RoleTwice(r.role.as_str()));
            }
            if !(1..=MAX_SIGNERS_PER_ROLE).contains(&r.count) {
                return Err(InvalidPolicy::Count {
                    role: r.role.as_str(),
                    count: r.count,
                });
            }
            seen.push(r.role);
        }
        let mut requirements = requirements;
        requirements.sort_by_key(|r| r.role);
        Ok(ApprovalPolicy { requirements })
    }

    pub fn requirements(&self) -> &[Requirement] {
        &self.requirements
    }

    pub fn is_empty(&self) -> bool {
        self.requirements.is_empty()
    }
}

/// Who signed. A subject is unique only within its issuer (none for our own tokens).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Signer {
    pub subject: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issuer: Option<String>,
}

/// An approval that stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Approval {
    pub approval_id: String,
    pub signer: Signer,
    pub role: SignerRole,
    pub digest: String,
    pub approved_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct SignOffState {
    pub live: Vec<Approval>,
    /// Why approvals were last voided, until someone approves again.
    pub voided: Option<String>,
    /// Voided approvals the organisation's webhook has not been told of yet.
    pub unnotified: Vec<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum SignOffCommand {
    Approve {
        approval_id: String,
        org_id: OrgId,
        period_id: PeriodId,
        signer: Signer,
        role: SignerRole,
        /// The roles the signer holds.
        held: Vec<SignerRole>,
        /// The digest the signer was shown and approves.
        digest: String,
        /// The digest of the payload as the figures stand now.
        current_digest: String,
        /// Who made the last import or correction that moved these figures.
        changed_by: Option<Signer>,
        comment: Option<String>,
        now: DateTime<Utc>,
    },
    Withdraw {
        approval_id: String,
        signer: Signer,
        now: DateTime<Utc>,
    },
    /// Voids the approvals of any digest but the current one.
    Void {
        current_digest: String,
        reason: String,
        now: DateTime<Utc>,
    },
    /// The organisation's webhook answered for these voided approvals.
    RecordVoidingNotified {
        approval_ids: Vec<String>,
        now: DateTime<Utc>,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event_type", content = "payload")]
pub enum SignOffEvent {
    ReportApproved {
        approval_id: String,
        org_id: OrgId,
        period_id: PeriodId,
        signer: Signer,
        role: SignerRole,
        digest: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        comment: Option<String>,
        approved_at: DateTime<Utc>,
    },
    ApprovalWithdrawn {
        approval_id: String,
        signer: Signer,
        withdrawn_at: DateTime<Utc>,
    },
    ApprovalsVoided {
        approval_ids: Vec<String>,
        /// The digest the figures have now.
        current_digest: String,
        reason: String,
        voided_at: DateTime<Utc>,
    },
    VoidingNotified {
        approval_ids: Vec<String>,
        notified_at: DateTime<Utc>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignOffError {
    #[error(
        "the figures changed since this report was shown to you (it was {seen}, it is now {current}); look at it again and approve what it is now"
    )]
    Stale { seen: String, current: String },
    #[error("you do not hold the role {0}")]
    RoleNotHeld(&'static str),
    #[error(
        "you made the last change to these figures; another person must approve them (four eyes)"
    )]
    OwnChange,
    #[error("approval {0} is not a standing approval of yours")]
    NotYours(String),
}

impl SignOff {
    pub fn stream(org_id: &OrgId, period_id: &PeriodId) -> String {
        format!("{}-{}:{}", Self::CATEGORY, org_id, period_id)
    }
}

impl Aggregate for SignOff {
    type State = SignOffState;
    type Command = SignOffCommand;
    type Event = SignOffEvent;
    type Error = SignOffError;
    const CATEGORY: &'static str = "signoff";

    fn decide(
        state: &SignOffState,
        command: SignOffCommand,
    ) -> Result<Vec<SignOffEvent>, SignOffError> {
        match command {
            SignOffCommand::Approve {
                approval_id,
                org_id,
                period_id,
                signer,
                role,
                held,
                digest,
                current_digest,
                changed_by,
                comment,
                now,
            } => {
                if digest != current_digest {
                    return Err(SignOffError::Stale {
                        seen: digest,
                        current: current_digest,
                    });
                }
                if !held.contains(&role) {
                    return Err(SignOffError::RoleNotHeld(role.as_str()));
                }
                if changed_by.as_ref() == Some(&signer) {
                    return Err(SignOffError::OwnChange);
                }
                // One person counts once, whatever roles they hold: a second approval of the
                // same payload by them adds nothing.
                if state
                    .live
                    .iter()
                    .any(|a| a.signer == signer && a.digest == digest)
                {
                    return Ok(vec![]);
                }
                Ok(vec![SignOffEvent::ReportApproved {
                    approval_id,
                    org_id,
                    period_id,
                    signer,
                    role,
                    digest,
                    comment,
                    approved_at: now,
                }])
            }
            SignOffCommand::Withdraw {
                approval_id,
                signer,
                now,
            } => {
                let standing = state
                    .live
                    .iter()
                    .any(|a| a.approval_id == approval_id && a.signer == signer);
                if !standing {
                    return Err(SignOffError::NotYours(approval_id));
                }
                Ok(vec![SignOffEvent::ApprovalWithdrawn {
                    approval_id,
                    signer,
                    withdrawn_at: now,
                }])
            }
            SignOffCommand::Void {
                current_digest,
                reason,
                now,
            } => {
                let approval_ids: Vec<String> = state
                    .live
                    .iter()
                    .filter(|a| a.digest != current_digest)
                    .map(|a| a.approval_id.clone())
                    .collect();
                if approval_ids.is_empty() {
                    return Ok(vec![]);
                }
                Ok(vec![SignOffEvent::ApprovalsVoided {
                    approval_ids,
                    current_digest,
                    reason,
                    voided_at: now,
                }])
            }
            SignOffCommand::RecordVoidingNotified { approval_ids, now } => {
                let owed: Vec<String> = approval_ids
                    .into_iter()
                    .filter(|id| state.unnotified.contains(id))
                    .collect();
                if owed.is_empty() {
                    return Ok(vec![]);
                }
                Ok(vec![SignOffEvent::VoidingNotified {
                    approval_ids: owed,
                    notified_at: now,
                }])
            }
        }
    }

    fn evolve(mut state: SignOffState, event: &SignOffEvent) -> SignOffState {
        match event {
            SignOffEvent::ReportApproved {
                approval_id,
                signer,
                role,
                digest,
                approved_at,
                ..
            } => {
                state.live.push(Approval {
                    approval_id: approval_id.clone(),
                    signer: signer.clone(),
                    role: *role,
                    digest: digest.clone(),
                    approved_at: *approved_at,
                });
                state.voided = None;
            }
            SignOffEvent::ApprovalWithdrawn { approval_id, .. } => {
                state.live.retain(|a| &a.approval_id != approval_id);
            }
            SignOffEvent::ApprovalsVoided {
                approval_ids,
                reason,
                ..
            } => {
                state
                    .live
                    .retain(|a| !approval_ids.contains(&a.approval_id));
                state.voided = Some(reason.clone());
                state.unnotified.extend(approval_ids.iter().cloned());
            }
            SignOffEvent::VoidingNotified { approval_ids, .. } => {
                state.unnotified.retain(|id| !approval_ids.contains(id));
            }
        }
        state
    }
}

/// What a submission relied on: one approval.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApprovalRef {
    pub approval_id: String,
    pub signer: Signer,
    pub role: SignerRole,
    pub approved_at: DateTime<Utc>,
}

/// Whether a payload may be submitted under a policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignOffCheck {
    /// The organisation has no policy.
    NotRequired,
    /// The standing approvals of the payload's digest meet the policy.
    Approved(Vec<ApprovalRef>),
    /// They do not: `missing` says who is still needed; `voided`, why earlier approvals no
    /// longer count, if they were voided.
    Missing {
        missing: Vec<Requirement>,
        voided: Option<String>,
    },
}

/// Checks the approvals standing in `state` for the payload whose digest is `digest` (and is
/// the figures' current one: `current`) against `policy`. Each person counts once.
pub fn check(
    policy: &ApprovalPolicy,
    state: &SignOffState,
    digest: &str,
    current: &str,
) -> SignOffCheck {
    if policy.is_empty() {
        return SignOffCheck::NotRequired;
    }
    let of_payload: Vec<&Approval> = if digest == current {
        state.live.iter().filter(|a| a.digest == digest).collect()
    } else {
        vec![]
    };
    let mut people: BTreeMap<&Signer, &Approval> = BTreeMap::new();
    for a in &of_payload {
        people.entry(&a.signer).or_insert(a);
    }
    let mut counted = Vec::new();
    let mut missing = Vec::new();
    for r in policy.requirements() {
        let of_role: Vec<&&Approval> = people.values().filter(|a| a.role == r.role).collect();
        if (of_role.len() as u32) < r.count {
            missing.push(Requirement {
                role: r.role,
                count: r.count - of_role.len() as u32,
            });
        }
        counted.extend(
            of_role
                .into_iter()
                .take(r.count as usize)
                .map(|a| ApprovalRef {
                    approval_id: a.approval_id.clone(),
                    signer: a.signer.clone(),
                    role: a.role,
                    approved_at: a.approved_at,
                }),
        );
    }
    if missing.is_empty() {
        return SignOffCheck::Approved(counted);
    }
    let voided = if digest != current {
        Some(
            "the payload is not the report's current figures; its approvals do not cover it".into(),
        )
    } else {
        state.voided.clone()
    };
    SignOffCheck::Missing { missing, voided }
}

/// "1 more approver and 2 more auditors", for a refusal.
pub fn describe_missing(missing: &[Requirement]) -> String {
    let parts: Vec<String> = missing
        .iter()
        .map(|r| {
            let role = r.role.as_str();
            if r.count == 1 {
                format!("1 more {role}")
            } else {
                format!("{} more {role}s", r.count)
            }
        })
        .collect();
    parts.join(" and ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{given, state_after};

    fn org() -> OrgId {
        OrgId::parse("org-a").unwrap()
    }

    fn period() -> PeriodId {
        PeriodId::parse("2025").unwrap()
    }

    fn kari() -> Signer {
        Signer {
            subject: "kari".into(),
            issuer: None,
        }
    }

    fn ola() -> Signer {
        Signer {
            subject: "ola".into(),
            issuer: Some("https://idp.example".into()),
        }
    }

    fn at() -> DateTime<Utc> {
        "2026-02-01T10:00:00Z".parse().unwrap()
    }

    fn approve(id: &str, signer: Signer, role: SignerRole, digest: &str) -> SignOffCommand {
        SignOffCommand::Approve {
            approval_id: id.into(),
            org_id: org(),
            period_id: period(),
            signer,
            role,
            held: vec![SignerRole::Approver, SignerRole::Auditor],
            digest: digest.into(),
            current_digest: digest.into(),
            changed_by: None,
            comment: None,
            now: at(),
        }
    }

    fn approved(id: &str, signer: Signer, role: SignerRole, digest: &str) -> SignOffEvent {
        SignOffEvent::ReportApproved {
            approval_id: id.into(),
            org_id: org(),
            period_id: period(),
            signer,
            role,
            digest: digest.into(),
            comment: None,
            approved_at: at(),
        }
    }

    fn policy(reqs: &[(SignerRole, u32)]) -> ApprovalPolicy {
        ApprovalPolicy::new(
            reqs.iter()
                .map(|&(role, count)| Requirement { role, count })
                .collect(),
        )
        .unwrap()
    }

    #[test]
    fn an_approval_names_the_digest_it_approves() {
        given::<SignOff>(&[])
            .when(approve("apr_1", kari(), SignerRole::Approver, "d1"))
            .then(vec![approved("apr_1", kari(), SignerRole::Approver, "d1")]);
    }

    #[test]
    fn a_digest_other_than_the_current_one_is_stale() {
        let mut command = approve("apr_1", kari(), SignerRole::Approver, "d1");
        if let SignOffCommand::Approve { current_digest, .. } = &mut command {
            *current_digest = "d2".into();
        }
        given::<SignOff>(&[])
            .when(command)
            .then_error(SignOffError::Stale {
                seen: "d1".into(),
                current: "d2".into(),
            });
    }

    #[test]
    fn nobody_approves_figures_they_changed_themselves() {
        let mut command = approve("apr_1", ola(), SignerRole::Approver, "d1");
        if let SignOffCommand::Approve { changed_by, .. } = &mut command {
            *changed_by = Some(ola());
        }
        given::<SignOff>(&[])
            .when(command)
            .then_error(SignOffError::OwnChange);
    }

    #[test]
    fn the_same_subject_of_another_issuer_is_another_person() {
        let mut command = approve("apr_1", kari(), SignerRole::Approver, "d1");
        if let SignOffCommand::Approve { changed_by, .. } = &mut command {
            *changed_by = Some(Signer {
                subject: "kari".into(),
                issuer: Some("https://idp.example".into()),
            });
        }
        given::<SignOff>(&[]).when(command).then(vec![approved(
            "apr_1",
            kari(),
            SignerRole::Approver,
            "d1",
        )]);
    }

    #[test]
    fn a_role_not_held_is_refused() {
        let mut command = approve("apr_1", kari(), SignerRole::Auditor, "d1");
        if let SignOffCommand::Approve { held, .. } = &mut command {
            *held = vec![SignerRole::Approver];
        }
        given::<SignOff>(&[])
            .when(command)
            .then_error(SignOffError::RoleNotHeld("auditor"));
    }

    #[test]
    fn one_person_approving_again_adds_nothing_even_in_another_role() {
        given::<SignOff>(&[approved("apr_1", kari(), SignerRole::Approver, "d1")])
            .when(approve("apr_2", kari(), SignerRole::Auditor, "d1"))
            .then(vec![]);
    }

    #[test]
    fn only_the_signer_withdraws_their_standing_approval() {
        let history = [approved("apr_1", kari(), SignerRole::Approver, "d1")];
        given::<SignOff>(&history)
            .when(SignOffCommand::Withdraw {
                approval_id: "apr_1".into(),
                signer: ola(),
                now: at(),
            })
            .then_error(SignOffError::NotYours("apr_1".into()));
        given::<SignOff>(&history)
            .when(SignOffCommand::Withdraw {
                approval_id: "apr_1".into(),
                signer: kari(),
                now: at(),
            })
            .then(vec![SignOffEvent::ApprovalWithdrawn {
                approval_id: "apr_1".into(),
                signer: kari(),
                withdrawn_at: at(),
            }]);
    }

    #[test]
    fn a_change_voids_the_approvals_of_the_old_digest_only() {
        let history = [
            approved("apr_1", kari(), SignerRole::Approver, "d1"),
            approved("apr_2", ola(), SignerRole::Auditor, "d2"),
        ];
        given::<SignOff>(&history)
            .when(SignOffCommand::Void {
                current_digest: "d2".into(),
                reason: "new source records".into(),
                now: at(),
            })
            .then(vec![SignOffEvent::ApprovalsVoided {
                approval_ids: vec!["apr_1".into()],
                current_digest: "d2".into(),
                reason: "new source records".into(),
                voided_at: at(),
            }]);
        given::<SignOff>(&history[1..])
            .when(SignOffCommand::Void {
                current_digest: "d2".into(),
                reason: "nothing moved".into(),
                now: at(),
            })
            .then(vec![]);
    }

    #[test]
    fn a_voiding_is_notified_once() {
        let history = [
            approved("apr_1", kari(), SignerRole::Approver, "d1"),
            SignOffEvent::ApprovalsVoided {
                approval_ids: vec!["apr_1".into()],
                current_digest: "d2".into(),
                reason: "new source records".into(),
                voided_at: at(),
            },
        ];
        let notify = || SignOffCommand::RecordVoidingNotified {
            approval_ids: vec!["apr_1".into(), "apr_9".into()],
            now: at(),
        };
        given::<SignOff>(&history)
            .when(notify())
            .then(vec![SignOffEvent::VoidingNotified {
                approval_ids: vec!["apr_1".into()],
                notified_at: at(),
            }]);
        let mut notified = history.to_vec();
        notified.push(SignOffEvent::VoidingNotified {
            approval_ids: vec!["apr_1".into()],
            notified_at: at(),
        });
        given::<SignOff>(&notified).when(notify()).then(vec![]);
    }

    #[test]
    fn the_policy_counts_distinct_people_of_each_role_for_the_digest() {
        let p = policy(&[(SignerRole::Approver, 1), (SignerRole::Auditor, 1)]);
        let state =
            state_after::<SignOff>(&[approved("apr_1", kari(), SignerRole::Approver, "d1")]);
        assert_eq!(
            check(&p, &state, "d1", "d1"),
            SignOffCheck::Missing {
                missing: vec![Requirement {
                    role: SignerRole::Auditor,
                    count: 1
                }],
                voided: None
            }
        );
        let state = state_after::<SignOff>(&[
            approved("apr_1", kari(), SignerRole::Approver, "d1"),
            approved("apr_2", ola(), SignerRole::Auditor, "d1"),
        ]);
        let SignOffCheck::Approved(relied) = check(&p, &state, "d1", "d1") else {
            panic!("approved")
        };
        assert_eq!(relied.len(), 2);
        assert!(matches!(
            check(&ApprovalPolicy::default(), &state, "d9", "d1"),
            SignOffCheck::NotRequired
        ));
    }

    #[test]
    fn approvals_never_count_for_a_digest_they_did_not_name() {
        let p = policy(&[(SignerRole::Approver, 1)]);
        let state =
            state_after::<SignOff>(&[approved("apr_1", kari(), SignerRole::Approver, "d1")]);
        let SignOffCheck::Missing { missing, voided } = check(&p, &state, "d2", "d2") else {
            panic!("missing")
        };
        assert_eq!(describe_missing(&missing), "1 more approver");
        assert_eq!(voided, None);
        // A payload that is not the current figures is not covered, even by its own approvals.
        let SignOffCheck::Missing { voided, .. } = check(&p, &state, "d1", "d2") else {
            panic!("missing")
        };
        assert!(voided.is_some());
    }

    #[test]
    fn after_a_voiding_the_check_says_why() {
        let p = policy(&[(SignerRole::Approver, 2)]);
        let state = state_after::<SignOff>(&[
            approved("apr_1", kari(), SignerRole::Approver, "d1"),
            SignOffEvent::ApprovalsVoided {
                approval_ids: vec!["apr_1".into()],
                current_digest: "d2".into(),
                reason: "new source records".into(),
                voided_at: at(),
            },
        ]);
        assert_eq!(
            check(&p, &state, "d2", "d2"),
            SignOffCheck::Missing {
                missing: vec![Requirement {
                    role: SignerRole::Approver,
                    count: 2
                }],
                voided: Some("new source records".into())
            }
        );
        assert_eq!(
            describe_missing(&[Requirement {
                role: SignerRole::Approver,
                count: 2
            }]),
            "2 more approvers"
        );
    }

    #[test]
    fn a_policy_names_each_role_once_with_a_sane_count() {
        assert_eq!(
            ApprovalPolicy::new(vec![
                Requirement {
                    role: SignerRole::Approver,
                    count: 1
                },
                Requirement {
                    role: SignerRole::Approver,
                    count: 2
                }
            ]),
            Err(InvalidPolicy::RoleTwice("approver"))
        );
        assert!(
            ApprovalPolicy::new(vec![Requirement {
                role: SignerRole::Auditor,
                count: 0
            }])
            .is_err()
        );
        assert!(ApprovalPolicy::new(vec![]).unwrap().is_empty());
    }
}
