//! What every handler shares: the database, the projections (for read-your-writes), the SSE hub,
//! the workers' services and the command context.

use std::sync::Arc;
use std::time::Duration;

use projections::Projections;
use store::Database;

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub db: Database,
    pub projections: Arc<Projections>,
    /// The SSE fan-out of snapshot events.
    pub watch: Arc<crate::http::watch::WatchHub>,
    /// Bufdir, the file store and the export settings, shared with the workers.
    pub services: workers::Services,
    /// Signs and checks download links.
    pub links: workers::files::LinkSigner,
    /// Signs and checks calendar-feed links.
    pub feeds: crate::http::feed_signing::FeedSigner,
    /// The base of download links; `None`: taken from the request.
    pub public_url: Option<String>,
    /// What commands need, with the API's bound on read-your-writes waits.
    pub commands: commands::Ctx,
}

/// How long a write waits for the read models its answer needs (read-your-writes). After that the
/// write still stands; the client may briefly read the older state.
pub const READ_YOUR_WRITES: Duration = Duration::from_secs(2);
