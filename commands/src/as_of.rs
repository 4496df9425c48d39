//! Reads of what the service showed at a point of the log: a stream's events up to a position
//! or a moment, for the domain's folds (`snapshot_history`, `submission_history`).

use serde::de::DeserializeOwned;

use crate::{Ctx, Error};

/// Where in the log a read looks: at a position (its numeric key, as `audit replay --as-of`
/// takes it), or at a moment (the events recorded by then).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum AsOf {
    Position(i64),
    Time(chrono::DateTime<chrono::Utc>),
}

impl AsOf {
    fn includes(&self, event: &store::RecordedEvent) -> bool {
        match self {
            AsOf::Position(p) => projections::report_data::position_key(&event.position) <= *p,
            AsOf::Time(t) => event.metadata.recorded_at.is_some_and(|at| at <= *t),
        }
    }
}

/// `stream`'s events up to `as_of`, decoded.
pub(crate) async fn events_until<E: DeserializeOwned>(
    ctx: &Ctx,
    stream: &str,
    as_of: AsOf,
) -> Result<Vec<E>, Error<std::convert::Infallible>> {
    let mut events = Vec::new();
    for recorded in ctx.db.events.read_stream(stream, 0).await? {
        // A stream's versions grow with positions: the first later event ends the read.
        if !as_of.includes(&recorded) {
            break;
        }
        events.push(domain::decode_event(
            &recorded.event_type,
            &recorded.payload,
        )?);
    }
    Ok(events)
}
