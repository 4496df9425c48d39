//! Everything that talks to Bufdir: the wire contract, a typed client, the encrypted credentials and
//! the per-organisation token cache that the API and the workers share.

pub mod client;
mod gateway;
pub mod retry;
pub mod wire;

pub use client::{BufdirClient, BufdirError, ClientSettings};
pub use gateway::{Bufdir, BufdirSettings, GatewayError};
pub use retry::Backoff;
