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
