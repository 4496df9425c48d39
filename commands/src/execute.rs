//! The generic executor: load a stream, let the aggregate decide, append with the expected version.

use domain::{Aggregate, DecodeError, decode_event, encode_event};
use store::{AppendOutcome, EventStore, ExpectedVersion, Metadata, NewEvent, StoreError};

use crate::Error;

/// How often a command is decided again when another writer got to the stream first.
const CONFLICT_RETRIES: usize = 3;

/// What a command did: the events it recorded and where.
#[derive(Debug)]
pub struct Executed<E> {
    pub events: Vec<E>,
    /// `None` when the aggregate decided nothing needed recording.
    pub outcome: Option<AppendOutcome>,
}

/// Runs `command` against the aggregate in `stream`. The command is rebuilt by `make` for each
/// attempt, so a conflict (another writer appended first) is decided again on fresh state.
pub async fn execute<A: Aggregate>(
    store: &dyn EventStore,
    stream: &str,
    metadata: &Metadata,
    mut make: impl FnMut() -> A::Command,
) -> Result<Executed<A::Event>, Error<A::Error>> {
    for _ in 0..CONFLICT_RETRIES {
        let history = store.read_stream(stream, 0).await?;
        if let Some(done) = earlier_attempt::<A>(&history, metadata)? {
            return Ok(done);
        }
        let expected = history.last().map_or(ExpectedVersion::NoStream, |e| {
            ExpectedVersion::Exact(e.version)
        });
        let mut state = A::State::default();
        for recorded in &history {
            let event: A::Event = decode_event(&recorded.event_type, &recorded.payload)?;
            state = A::evolve(state, &event);
        }
        let events = A::decide(&state, make()).map_err(Error::Rejected)?;
        if events.is_empty() {
            return Ok(Executed {
                events,
                outcome: None,
            });
        }
        let new_events = events
            .iter()
            .map(|e| {
                let (event_type, payload) = encode_event(e);
                NewEvent::new(event_type, payload, metadata.clone())
            })
            .collect();
        match store.append(stream, expected, new_events).await {
            Ok(outcome) => {
                return Ok(Executed {
                    events,
                    outcome: Some(outcome),
                });
            }
            Err(StoreError::Conflict { .. }) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(Error::Contended)
}

/// The state of the aggregate in `stream`, as its history stands now: for a fact a command of
/// another aggregate needs (a submission, the approvals of its report).
pub(crate) async fn load<A: Aggregate, E: std::error::Error>(
    store: &dyn EventStore,
    stream: &str,
) -> Result<A::State, Error<E>> {
    let mut state = A::State::default();
    for recorded in store.read_stream(stream, 0).await? {
        let event: A::Event = decode_event(&recorded.event_type, &recorded.payload)?;
        state = A::evolve(state, &event);
    }
    Ok(state)
}

/// The events a first attempt of this very request (same idempotency key and caller) recorded
/// in the stream, as that attempt's result: its answer was lost (a crash, or a 5xx after the
/// write released the key), and deciding again would record the request twice.
fn earlier_attempt<A: Aggregate>(
    history: &[store::RecordedEvent],
    metadata: &Metadata,
) -> Result<Option<Executed<A::Event>>, DecodeError> {
    let Some(seed) = &metadata.idempotency else {
        return Ok(None);
    };
    let attempt: Vec<&store::RecordedEvent> = history
        .iter()
        .filter(|e| e.metadata.idempotency.as_ref() == Some(seed))
        .collect();
    let Some(last) = attempt.last() else {
        return Ok(None);
    };
    let events = attempt
        .iter()
        .map(|e| decode_event(&e.event_type, &e.payload))
        .collect::<Result<Vec<A::Event>, _>>()?;
    Ok(Some(Executed {
        events,
        outcome: Some(AppendOutcome {
            version: last.version,
            position: last.position,
        }),
    }))
}
