//! The organisations registry: who reports. An organisation is registered once under its
//! `org_id`; its name can change later. It carries what an admin sets for it: who must approve
//! its reports, its own reporting calendar, and the calendar-feed links it has handed out.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::calendar::Calendar;
use crate::signoff::ApprovalPolicy;
use crate::{Aggregate, OrgId, OrgNumber};

pub struct Organization;

#[derive(Debug, Default, Clone, PartialEq)]
pub enum OrganizationState {
    #[default]
    Unregistered,
    Registered(Registered),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Registered {
    pub name: String,
    pub organisasjonsnummer: OrgNumber,
    pub policy: ApprovalPolicy,
    /// Its own calendar; `None` follows the service's.
    pub calendar: Option<Calendar>,
    /// Feed links not revoked.
    pub feeds: BTreeSet<String>,
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
    /// Gives the organisation its own reporting calendar; `None` returns it to the service's.
    SetCalendar {
        org_id: OrgId,
        calendar: Option<Calendar>,
        now: DateTime<Utc>,
    },
    /// Hands out a calendar-feed link, named by `feed_id` (chosen by the caller, unguessable).
    IssueFeedLink {
        org_id: OrgId,
        feed_id: String,
        now: DateTime<Utc>,
    },
    RevokeFeedLink {
        org_id: OrgId,
        feed_id: String,
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
    CalendarSet {
        org_id: OrgId,
        calendar: Option<Calendar>,
        set_at: DateTime<Utc>,
    },
    FeedLinkIssued {
        org_id: OrgId,
        feed_id: String,
        issued_at: DateTime<Utc>,
    },
    FeedLinkRevoked {
        org_id: OrgId,
        feed_id: String,
        revoked_at: DateTime<Utc>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OrganizationError {
    #[error("organisation {0} is already registered")]
    AlreadyRegistered(OrgId),
    #[error("organisation {0} is not registered")]
    Unregistered(OrgId),
    #[error("the organisation has no calendar feed link {0}")]
    NoSuchFeedLink(String),
    #[error("calendar feed link {0} exists already")]
    FeedLinkExists(String),
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
        let registered = match (state, command) {
            (
                OrganizationState::Unregistered,
                OrganizationCommand::Register {
                    org_id,
                    name,
                    organisasjonsnummer,
                    now,
                },
            ) => {
                return Ok(vec![OrganizationEvent::OrganizationRegistered {
                    org_id,
                    name: name.0,
                    organisasjonsnummer,
                    registered_at: now,
                }]);
            }
            (OrganizationState::Registered(_), OrganizationCommand::Register { org_id, .. }) => {
                return Err(OrganizationError::AlreadyRegistered(org_id));
            }
            (OrganizationState::Unregistered, command) => {
                return Err(OrganizationError::Unregistered(command.org_id().clone()));
            }
            (OrganizationState::Registered(registered), command) => (registered, command),
        };
        match registered {
            (_, OrganizationCommand::Register { .. }) => unreachable!("answered above"),
            (current, OrganizationCommand::SetApprovalPolicy { policy, .. })
                if current.policy == policy =>
            {
                Ok(vec![])
            }
            (
                _,
                OrganizationCommand::SetApprovalPolicy {
                    org_id,
                    policy,
                    now,
                },
            ) => Ok(vec![OrganizationEvent::ApprovalPolicySet {
                org_id,
                policy,
                set_at: now,
            }]),
            (current, OrganizationCommand::SetCalendar { calendar, .. })
                if current.calendar == calendar =>
            {
                Ok(vec![])
            }
            (
                _,
                OrganizationCommand::SetCalendar {
                    org_id,
                    calendar,
                    now,
                },
            ) => Ok(vec![OrganizationEvent::CalendarSet {
                org_id,
                calendar,
                set_at: now,
            }]),
            (current, OrganizationCommand::IssueFeedLink { feed_id, .. })
                if current.feeds.contains(&feed_id) =>
            {
                Err(OrganizationError::FeedLinkExists(feed_id))
            }
            (
                _,
                OrganizationCommand::IssueFeedLink {
                    org_id,
                    feed_id,
                    now,
                },
            ) => Ok(vec![OrganizationEvent::FeedLinkIssued {
                org_id,
                feed_id,
                issued_at: now,
            }]),
            (current, OrganizationCommand::RevokeFeedLink { feed_id, .. })
                if !current.feeds.contains(&feed_id) =>
            {
                Err(OrganizationError::NoSuchFeedLink(feed_id))
            }
            (
                _,
                OrganizationCommand::RevokeFeedLink {
                    org_id,
                    feed_id,
                    now,
                },
            ) => Ok(vec![OrganizationEvent::FeedLinkRevoked {
                org_id,
                feed_id,
                revoked_at: now,
            }]),
        }
    }

    fn evolve(state: Self::State, event: &Self::Event) -> Self::State {
        let mut registered = match (state, event) {
            (
                _,
                OrganizationEvent::OrganizationRegistered {
                    name,
                    organisasjonsnummer,
                    ..
                },
            ) => {
                return OrganizationState::Registered(Registered {
                    name: name.clone(),
                    organisasjonsnummer: organisasjonsnummer.clone(),
                    policy: ApprovalPolicy::default(),
                    calendar: None,
                    feeds: BTreeSet::new(),
                });
            }
            (OrganizationState::Unregistered, _) => return OrganizationState::Unregistered,
            (OrganizationState::Registered(registered), _) => registered,
        };
        match event {
            OrganizationEvent::OrganizationRegistered { .. } => {}
            OrganizationEvent::ApprovalPolicySet { policy, .. } => {
                registered.policy = policy.clone();
            }
            OrganizationEvent::CalendarSet { calendar, .. } => {
                registered.calendar = calendar.clone();
            }
            OrganizationEvent::FeedLinkIssued { feed_id, .. } => {
                registered.feeds.insert(feed_id.clone());
            }
            OrganizationEvent::FeedLinkRevoked { feed_id, .. } => {
                registered.feeds.remove(feed_id);
            }
        }
        OrganizationState::Registered(registered)
    }
}

impl OrganizationCommand {
    fn org_id(&self) -> &OrgId {
        match self {
            OrganizationCommand::Register { org_id, .. }
            | OrganizationCommand::SetApprovalPolicy { org_id, .. }
            | OrganizationCommand::SetCalendar { org_id, .. }
            | OrganizationCommand::IssueFeedLink { org_id, .. }
            | OrganizationCommand::RevokeFeedLink { org_id, .. } => org_id,
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
    fn an_organisation_takes_its_own_calendar_and_hands_out_and_revokes_feed_links() {
        let org = || OrgId::parse("org-1").unwrap();
        let now: DateTime<Utc> = "2026-03-03T08:00:00Z".parse().unwrap();
        let mut history = given::<Organization>(&[]).when(register("org-1")).events();
        let own = || OrganizationCommand::SetCalendar {
            org_id: org(),
            calendar: Some(Calendar::standard()),
            now,
        };
        history.extend(given::<Organization>(&history).when(own()).events());
        given::<Organization>(&history).when(own()).then(vec![]);
        let issue = || OrganizationCommand::IssueFeedLink {
            org_id: org(),
            feed_id: "f1".into(),
            now,
        };
        history.extend(given::<Organization>(&history).when(issue()).events());
        given::<Organization>(&history)
            .when(issue())
            .then_error(OrganizationError::FeedLinkExists("f1".into()));
        let revoke = || OrganizationCommand::RevokeFeedLink {
            org_id: org(),
            feed_id: "f1".into(),
            now,
        };
        history.extend(given::<Organization>(&history).when(revoke()).events());
        given::<Organization>(&history)
            .when(revoke())
            .then_error(OrganizationError::NoSuchFeedLink("f1".into()));
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
