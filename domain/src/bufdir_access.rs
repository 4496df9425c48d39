//! That an organisation's Bufdir client credentials were exchanged for a token, and by whom.
//! The token and the secret never enter the log: it is kept for as long as reports are, and a
//! leaked token or secret would let anyone submit in the organisation's name.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::{Aggregate, OrgId};

pub struct BufdirAccess;

#[derive(Debug, Clone, PartialEq)]
pub enum BufdirAccessCommand {
    RecordAuthentication {
        org_id: OrgId,
        client_id: String,
        expires_in: u64,
        now: DateTime<Utc>,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event_type", content = "payload")]
pub enum BufdirAccessEvent {
    BufdirAuthenticated {
        org_id: OrgId,
        client_id: String,
        /// The token's lifetime in seconds, as Bufdir granted it.
        expires_in: u64,
        authenticated_at: DateTime<Utc>,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum BufdirAccessError {}

impl BufdirAccess {
    pub fn stream(org_id: &OrgId) -> String {
        format!("{}-{}", Self::CATEGORY, org_id)
    }
}

impl Aggregate for BufdirAccess {
    type State = ();
    type Command = BufdirAccessCommand;
    type Event = BufdirAccessEvent;
    type Error = BufdirAccessError;

    const CATEGORY: &'static str = "bufdiraccess";

    fn decide(_: &(), command: BufdirAccessCommand) -> Result<Vec<BufdirAccessEvent>, Self::Error> {
        let BufdirAccessCommand::RecordAuthentication {
            org_id,
            client_id,
            expires_in,
            now,
        } = command;
        Ok(vec![BufdirAccessEvent::BufdirAuthenticated {
            org_id,
            client_id,
            expires_in,
            authenticated_at: now,
        }])
    }

    fn evolve(state: (), _: &BufdirAccessEvent) {
        state
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::encode_event;
    use crate::testing::given;

    fn org() -> OrgId {
        OrgId::parse("org_482").unwrap()
    }

    fn time(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    fn record(client_id: &str, expires_in: u64, now: &str) -> BufdirAccessCommand {
        BufdirAccessCommand::RecordAuthentication {
            org_id: org(),
            client_id: client_id.into(),
            expires_in,
            now: time(now),
        }
    }

    fn authenticated(client_id: &str, expires_in: u64, at: &str) -> BufdirAccessEvent {
        BufdirAccessEvent::BufdirAuthenticated {
            org_id: org(),
            client_id: client_id.into(),
            expires_in,
            authenticated_at: time(at),
        }
    }

    #[test]
    fn a_first_authentication_is_recorded_with_its_client_lifetime_and_time() {
        given::<BufdirAccess>(&[])
            .when(record("eircodex_org_482", 3600, "2026-03-26T10:00:00Z"))
            .then(vec![authenticated(
                "eircodex_org_482",
                3600,
                "2026-03-26T10:00:00Z",
            )]);
    }

    #[test]
    fn every_later_authentication_is_recorded_too_even_with_another_client() {
        // A refreshed token or changed credentials are facts of their own: the log says who
        // authenticated when, so nothing before is a reason to refuse or to stay silent.
        let history = [
            authenticated("eircodex_org_482", 3600, "2026-03-26T10:00:00Z"),
            authenticated("eircodex_org_482", 3600, "2026-03-26T11:00:00Z"),
        ];
        given::<BufdirAccess>(&history)
            .when(record("demo-client", 600, "2026-03-26T12:00:00Z"))
            .then(vec![authenticated(
                "demo-client",
                600,
                "2026-03-26T12:00:00Z",
            )]);
    }

    #[test]
    fn the_stored_event_holds_no_token_and_no_secret() {
        let events = given::<BufdirAccess>(&[])
            .when(record("eircodex_org_482", 3600, "2026-03-26T10:00:00Z"))
            .events();
        let (event_type, payload) = encode_event(&events[0]);
        assert_eq!(event_type, "BufdirAuthenticated");
        let mut keys: Vec<&str> = payload
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        keys.sort_unstable();
        assert_eq!(
            keys,
            ["authenticated_at", "client_id", "expires_in", "org_id"]
        );
    }

    #[test]
    fn each_organisation_has_a_stream_of_its_own() {
        assert_eq!(BufdirAccess::stream(&org()), "bufdiraccess-org_482");
    }
}
