//! The command layer: what a user (or a worker) asks of the system, one plain async function
//! per intent, grouped by aggregate. Each owns its stream name, the facts it looks up, the
//! retry when another writer got to the stream first, and the read-your-writes wait, and
//! answers with the domain's result. Routes only parse, authorise, call one of these and map
//! the answer; workers call the same functions, so there is one way to do each thing.

pub mod as_of;
pub mod clock;
pub mod deadlines;
pub mod diffs;
mod error;
mod execute;
pub mod exports;
pub mod log_seals;
pub mod organizations;
pub mod privacy;
pub mod reexports;
pub mod reminders;
pub mod reports;
pub mod signoff;
pub mod snapshots;
pub mod source_records;
pub mod submissions;
pub mod webhook_endpoints;

use sha2::Digest;
use std::sync::Arc;
use std::time::Duration;

use domain::Aggregate;
use projections::{ProjectionName, Projections};
use store::{Database, Metadata, Position};

pub use error::Error;
pub use execute::Executed;
pub(crate) use execute::{execute, load};

/// What every command needs: the log and read models, and how long it waits for them.
#[derive(Clone)]
pub struct Ctx {
    pub db: Database,
    pub projections: Arc<Projections>,
    /// How long a command waits for the read models to show what it recorded. After that it
    /// answers anyway; the write stands, a read right after may briefly miss it.
    pub wait: Duration,
    /// How long a submission waits for its delivery to Bufdir before it answers (the client
    /// then follows it); zero for a caller that does not wait (a worker).
    pub delivery_wait: Duration,
    /// The time deadlines are judged by.
    pub clock: Arc<dyn clock::Clock>,
    /// The reporting calendar of organisations without one of their own.
    pub calendar: Arc<domain::calendar::Calendar>,
}

impl Ctx {
    pub fn new(db: Database, projections: Arc<Projections>, wait: Duration) -> Self {
        Ctx {
            db,
            projections,
            wait,
            delivery_wait: Duration::ZERO,
            clock: Arc::new(clock::SystemClock),
            calendar: Arc::new(domain::calendar::Calendar::standard()),
        }
    }

    /// This context, judging deadlines by `clock` against `calendar`.
    pub fn with_calendar(
        mut self,
        calendar: domain::calendar::Calendar,
        clock: Arc<dyn clock::Clock>,
    ) -> Self {
        self.calendar = Arc::new(calendar);
        self.clock = clock;
        self
    }

    /// This context, with submissions waiting up to `bound` for their delivery.
    pub fn with_delivery_wait(mut self, bound: Duration) -> Self {
        self.delivery_wait = bound;
        self
    }

    /// Decides `command` on `stream` (again on fresh state after a conflict), appends what it
    /// decided, and waits until each read model in `read_by` shows it.
    pub async fn run<A>(
        &self,
        stream: &str,
        metadata: &Metadata,
        read_by: &[ProjectionName],
        command: A::Command,
    ) -> Result<Executed<A::Event>, Error<A::Error>>
    where
        A: Aggregate,
        A::Command: Clone,
    {
        let executed = execute::<A>(self.db.events.as_ref(), stream, metadata, move || {
            command.clone()
        })
        .await?;
        if let Some(outcome) = &executed.outcome {
            for projection in read_by {
                self.settle(*projection, &outcome.position).await;
            }
        }
        Ok(executed)
    }

    /// Waits (bounded) until `projection` has applied `position`. A context whose bound is zero
    /// does not wait: its caller reads nothing back (the demo data, before the service runs).
    pub(crate) async fn settle(&self, projection: ProjectionName, position: &Position) {
        if self.wait.is_zero() {
            return;
        }
        match self
            .projections
            .wait_for(projection, position, self.wait)
            .await
        {
            Ok(true) => {}
            Ok(false) => {
                tracing::warn!(%projection, %position, "read model did not catch up within the bound")
            }
            Err(e) => {
                tracing::warn!(%projection, %position, error = %store::causes(&e), "could not wait for the read model")
            }
        }
    }

    /// Waits until `projection` has caught up with the whole log as it is now: for a command
    /// that recorded nothing but answers from the read model.
    pub async fn settle_all(&self, projection: ProjectionName) -> Result<(), store::StoreError> {
        if let Some(head) = self.db.events.head().await? {
            self.settle(projection, &head).await;
        }
        Ok(())
    }
}

/// A prefixed, sortable, unguessable id (`snap_01j...`).
pub(crate) fn new_id(prefix: &str) -> String {
    format!("{prefix}_{}", ulid::Ulid::new().to_string().to_lowercase())
}

/// The id of what a request creates: [`new_id`], unless the request has an idempotency key;
/// then the same for every attempt of that request (unguessable still, but not time-ordered),
/// so a retry whose first attempt was recorded lands on the same stream and finds it there
/// (`execute`) instead of creating a second one.
pub fn id_for(prefix: &str, metadata: &store::Metadata) -> String {
    match seeded(prefix, metadata) {
        Some(bits) => format!("{prefix}_{}", ulid::Ulid(bits).to_string().to_lowercase()),
        None => new_id(prefix),
    }
}

/// 128 bits fixed by the request's idempotency seed and `purpose`, when it has one.
fn seeded(purpose: &str, metadata: &store::Metadata) -> Option<u128> {
    let seed = metadata.idempotency.as_ref()?;
    let digest = sha2::Sha256::new()
        .chain_update(seed.as_bytes())
        .chain_update([0])
        .chain_update(purpose.as_bytes())
        .finalize();
    Some(u128::from_be_bytes(
        digest[..16]
            .try_into()
            .expect("a SHA-256 digest has 32 bytes"),
    ))
}

/// The event a request appends without a decision (an import): with an idempotency key its id
/// is the same on every attempt, so the store takes a retry of a recorded attempt as already
/// done instead of storing the event twice.
pub(crate) fn request_event(
    purpose: &str,
    event_type: String,
    payload: serde_json::Value,
    metadata: &store::Metadata,
) -> store::NewEvent {
    let mut event = store::NewEvent::new(event_type, payload, metadata.clone());
    if let Some(bits) = seeded(purpose, metadata) {
        event.event_id = uuid::Builder::from_random_bytes(bits.to_be_bytes()).into_uuid();
    }
    event
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keyed(seed: Option<&str>) -> Metadata {
        Metadata {
            idempotency: seed.map(str::to_string),
            ..Metadata::default()
        }
    }

    #[test]
    fn a_keyed_request_creates_the_same_ids_on_every_attempt() {
        let first = keyed(Some("caller:key:body"));
        let again = keyed(Some("caller:key:body"));
        assert_eq!(id_for("exp", &first), id_for("exp", &again));
        assert!(id_for("exp", &first).starts_with("exp_"));
        // Each purpose its own id, and another request other ids.
        assert_ne!(id_for("exp", &first), id_for("job", &first));
        assert_ne!(
            id_for("exp", &first),
            id_for("exp", &keyed(Some("caller:key:other body")))
        );
    }

    #[test]
    fn an_unkeyed_request_gets_fresh_ids() {
        let unkeyed = keyed(None);
        assert_ne!(id_for("exp", &unkeyed), id_for("exp", &unkeyed));
    }

    #[test]
    fn a_keyed_requests_event_ids_repeat_and_an_unkeyed_ones_do_not() {
        let event = |m: &Metadata| {
            request_event("imp-event", "E".into(), serde_json::json!({}), m).event_id
        };
        let first = keyed(Some("seed"));
        assert_eq!(event(&first), event(&keyed(Some("seed"))));
        assert_ne!(event(&keyed(None)), event(&keyed(None)));
    }
}
