//! The domain: pure rules with no IO, no async and no clock. Aggregates decide which events a
//! command produces and evolve their state from events; anything from outside (the time, facts
//! looked up elsewhere) arrives inside the command.

pub mod aggregate;
pub mod org_id;
pub mod org_number;
pub mod organization;

pub use aggregate::{Aggregate, DecodeError, decode_event, encode_event};
pub use org_id::OrgId;
pub use org_number::OrgNumber;
