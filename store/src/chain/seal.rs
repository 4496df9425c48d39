//! What the log records about its own integrity: seals, and the one-time upgrade that chained a
//! log written before chains existed.

use serde::{Deserialize, Serialize};

/// The stream every seal is appended to, one after another.
pub const SEAL_STREAM: &str = "log-seals";
pub const SEAL_TYPE: &str = "LogSealed";
/// Where the chain upgrade of an existing log records itself.
pub const UPGRADE_STREAM: &str = "log-chain";
pub const UPGRADE_TYPE: &str = "LogChainUpgraded";

/// The payload of a `LogSealed` event.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Seal {
    /// The last position the digest covers (the seal itself lies after it).
    pub up_to: String,
    /// How many events the digest covers.
    pub events: u64,
    /// The running digest of the log up to and including `up_to`.
    pub digest: String,
    /// The hash of the seal before this one (`None` for the first).
    pub previous_seal: Option<String>,
}
