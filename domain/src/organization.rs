//! The organisations registry: who reports. An organisation is registered once under its
//! `org_id`; its name can change later.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::signoff::ApprovalPolicy;
use crate::{Aggregate, OrgId, OrgNumber};

pub struct Organization;

#[derive(Debug, Default, Clone, PartialEq)]
pub enum OrganizationState {
    #[default]
    Unregistered,
    Registered {
        name: String,
        organisasjonsnummer: OrgNumber,
        policy: ApprovalPolicy,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub enum OrganizationCommand {
    Register {
        org_id: OrgId,
        name: OrgName,
        organisasjonsnummer: OrgNumber,
        now: DateTime<Utc>,
    },
    /// Who must approve a report before it may be submitted; an empty policy: nobody.
    SetApprovalPolicy {
        org_id: OrgId,
        policy: ApprovalPolicy,
        now: DateTime<Utc>,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event_type", content = "payload")]
pub enum OrganizationEvent {
    OrganizationRegistered {
        org_id: OrgId,
        name: String,
        organisasjonsnummer: OrgNumber,
        registered_at: DateTime<Utc>,
    },
    ApprovalPolicySet {
        org_id: OrgId,
        policy: ApprovalPolicy,
        set_at: DateTime<Utc>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OrganizationError {
    #[error("organisation {0} is already registered")]
    AlreadyRegistered(OrgId),
    #[error("organisation {0} is not registered")]
    Unregistered(OrgId),
}

/// A display name: trimmed, 1 to 200 characters, no control characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrgName(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("name must be 1 to 200 characters with no control characters")]
pub struct InvalidOrgName;

impl OrgName {
    pub fn parse(s: &str) -> Result<Self, InvalidOrgName> {
        let s = s.trim();
        let len = s.chars().count();
        if (1..=200).contains(&len) && !s.chars().any(char::is_control) {
            Ok(OrgName(s.to_string()))
        } else {
            Err(InvalidOrgName)
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Organization {
    pub fn stream(org_id: &OrgId) -> String {
        format!("{}-{}", Self::CATEGORY, org_id)
    }
}

impl Aggregate for Organization {
    type State = OrganizationState;
    type Command = OrganizationCommand;
    type Event = OrganizationEvent;
    type Error = OrganizationError;
    const CATEGORY: &'static str = "organization";

    fn decide(
        state: &Self::State,
        command: Self::Command,
    ) -> Result<Vec<Self::Event>, Self::Error> {
        match command {
            OrganizationCommand::Register {
                org_id,
                name,
                organisasjonsnummer,
                now,
            } => match state {
                OrganizationState::Registered { .. } => {
                    Err(OrganizationError::AlreadyRegistered(org_id))
                }
                OrganizationState::Unregistered => {
                    Ok(vec![OrganizationEvent::OrganizationRegistered {
                        org_id,
                        name: name.0,
                        organisasjonsnummer,
                        registered_at: now,
                    }])
                }
            },
            OrganizationCommand::SetApprovalPolicy {
                org_id,
                policy,
                now,
            } => match state {
                OrganizationState::Unregistered => Err(OrganizationError::Unregistered(org_id)),
                OrganizationState::Registered {
                    policy: current, ..
                } if *current == policy => Ok(vec![]),
                OrganizationState::Registered { .. } => {
                    Ok(vec![OrganizationEvent::ApprovalPolicySet {
                        org_id,
                        policy,
                        set_at: now,
                    }])
                }
            },
        }
    }

    fn evolve(state: Self::State, event: &Self::Event) -> Self::State {
        match (state, event) {
            (
                _,
                OrganizationEvent::OrganizationRegistered {
                    name,
                    organisasjonsnummer,
                    ..
                },
            ) => OrganizationState::Registered {
                name: name.clone(),
                organisasjonsnummer: organisasjonsnummer.clone(),
                policy: ApprovalPolicy::default(),
            },
            (
                OrganizationState::Registered {
                    name,
                    organisasjonsnummer,
                    ..
                },
                OrganizationEvent::ApprovalPolicySet { policy, .. },
            ) => OrganizationState::Registered {
                name,
                organisasjonsnummer,
                policy: policy.clone(),
            },
            (state, OrganizationEvent::ApprovalPolicySet { .. }) => state,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::given;
    use crate::{decode_event, encode_event};

    fn register(org: &str) -> OrganizationCommand {
        OrganizationCommand::Register {
            org_id: OrgId::parse(org).unwrap(),
            name: OrgName::parse("  Redd Barna  ").unwrap(),
            organisasjonsnummer: OrgNumber::parse("986128433").unwrap(),
            now: "2026-03-01T08:00:00Z".parse().unwrap(),
        }
    }

    #[test]
    fn registering_a_new_organisation_records_it() {
        given::<Organization>(&[])
            .when(register("org-1"))
            .then(vec![OrganizationEvent::OrganizationRegistered {
                org_id: OrgId::parse("org-1").unwrap(),
                name: "Redd Barna".into(),
                organisasjonsnummer: OrgNumber::parse("986128433").unwrap(),
                registered_at: "2026-03-01T08:00:00Z".parse().unwrap(),
            }]);
    }

    #[test]
    fn an_organisation_cannot_be_registered_twice() {
        let history = given::<Organization>(&[]).when(register("org-1")).events();
        given::<Organization>(&history)
            .when(register("org-1"))
            .then_error(OrganizationError::AlreadyRegistered(
                OrgId::parse("org-1").unwrap(),
            ));
    }

    fn one_approver() -> ApprovalPolicy {
        ApprovalPolicy::new(vec![crate::signoff::Requirement {
            role: crate::signoff::SignerRole::Approver,
            count: 1,
        }])
        .unwrap()
    }

    fn set_policy(policy: ApprovalPolicy) -> OrganizationCommand {
        OrganizationCommand::SetApprovalPolicy {
            org_id: OrgId::parse("org-1").unwrap(),
            policy,
            now: "2026-03-02T08:00:00Z".parse().unwrap(),
        }
    }

    #[test]
    fn a_registered_organisation_sets_its_approval_policy_once_per_change() {
        let history = given::<Organization>(&[]).when(register("org-1")).events();
        given::<Organization>(&history)
            .when(set_policy(one_approver()))
            .then(vec![OrganizationEvent::ApprovalPolicySet {
                org_id: OrgId::parse("org-1").unwrap(),
                policy: one_approver(),
                set_at: "2026-03-02T08:00:00Z".parse().unwrap(),
            }]);
        let mut set = history.clone();
        set.extend(
            given::<Organization>(&history)
                .when(set_policy(one_approver()))
                .events(),
        );
        given::<Organization>(&set)
            .when(set_policy(one_approver()))
            .then(vec![]);
    }

    #[test]
    fn an_unregistered_organisation_has_no_policy_to_set() {
        given::<Organization>(&[])
            .when(set_policy(one_approver()))
            .then_error(OrganizationError::Unregistered(
                OrgId::parse("org-1").unwrap(),
            ));
    }

    #[test]
    fn events_round_trip_through_the_stored_form() {
        let events = given::<Organization>(&[]).when(register("org-1")).events();
        let (event_type, payload) = encode_event(&events[0]);
        assert_eq!(event_type, "OrganizationRegistered");
        assert_eq!(payload["organisasjonsnummer"], "986128433");
        let back: OrganizationEvent = decode_event(&event_type, &payload).unwrap();
        assert_eq!(back, events[0]);
    }

    #[test]
    fn a_stored_event_with_an_invalid_number_is_reported_not_accepted() {
        let payload = serde_json::json!({"org_id": "org-1", "name": "x", "organisasjonsnummer": "988077918", "registered_at": "2026-03-01T08:00:00Z"});
        assert!(decode_event::<OrganizationEvent>("OrganizationRegistered", &payload).is_err());
    }

    #[test]
    fn names_are_trimmed_and_bounded() {
        assert_eq!(OrgName::parse(" a ").unwrap().as_str(), "a");
        assert!(OrgName::parse("   ").is_err());
        assert!(OrgName::parse(&"x".repeat(201)).is_err());
        assert!(OrgName::parse("a\u{0}b").is_err());
    }
}
