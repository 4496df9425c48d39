//! Given/when/then for tests of aggregates, after cqrs-es's test framework: a history of events,
//! one command, and the events or the typed error it must produce. No store and no IO, so a test
//! reads as the rule it checks.
//!
//! ```
//! use domain::organization::{Organization, OrganizationCommand, OrganizationError};
//! use domain::testing::given;
//! # use domain::{OrgId, OrgNumber, organization::OrgName};
//! # let register = || OrganizationCommand::Register {
//! #     org_id: OrgId::parse("org-1").unwrap(),
//! #     name: OrgName::parse("Redd Barna").unwrap(),
//! #     organisasjonsnummer: OrgNumber::parse("986128433").unwrap(),
//! #     now: "2026-03-01T08:00:00Z".parse().unwrap(),
//! # };
//! let history = given::<Organization>(&[]).when(register()).events();
//! given::<Organization>(&history)
//!     .when(register())
//!     .then_error(OrganizationError::AlreadyRegistered(OrgId::parse("org-1").unwrap()));
//! ```

use std::fmt::Debug;

use crate::Aggregate;

/// The state an aggregate is in after `events`, from its default.
pub(crate) fn state_after<A: Aggregate>(events: &[A::Event]) -> A::State {
    events.iter().fold(A::State::default(), A::evolve)
}

/// An aggregate with `events` as its history (`&[]`: a new one).
pub fn given<A: Aggregate>(events: &[A::Event]) -> Given<A> {
    Given {
        state: state_after::<A>(events),
    }
}

/// An aggregate's state, waiting for a command.
pub struct Given<A: Aggregate> {
    state: A::State,
}

impl<A: Aggregate> Given<A> {
    /// Decides `command` against the history.
    pub fn when(self, command: A::Command) -> When<A> {
        When {
            decided: A::decide(&self.state, command),
        }
    }
}

/// What the aggregate decided.
pub struct When<A: Aggregate> {
    decided: Result<Vec<A::Event>, A::Error>,
}

impl<A: Aggregate> When<A>
where
    A::Event: Debug,
    A::Error: Debug,
{
    /// The command is accepted and produces exactly `expected` (none: it changes nothing).
    #[track_caller]
    pub fn then(self, expected: Vec<A::Event>)
    where
        A::Event: PartialEq,
    {
        match self.decided {
            Ok(events) => assert_eq!(events, expected, "other events than expected"),
            Err(error) => panic!("refused with {error:?}, expected the events {expected:?}"),
        }
    }

    /// The command is refused with `expected`, the typed error, not its message.
    #[track_caller]
    pub fn then_error(self, expected: A::Error)
    where
        A::Error: PartialEq,
    {
        match self.decided {
            Ok(events) => panic!("accepted with {events:?}, expected the error {expected:?}"),
            Err(error) => assert_eq!(error, expected, "another error than expected"),
        }
    }

    /// The events of an accepted command, to check by pattern or to extend a history with.
    #[track_caller]
    pub fn events(self) -> Vec<A::Event> {
        self.decided
            .unwrap_or_else(|error| panic!("refused with {error:?}, expected it accepted"))
    }

    /// The decision as it is, for errors checked by pattern (`matches!`).
    pub fn result(self) -> Result<Vec<A::Event>, A::Error> {
        self.decided
    }
}
