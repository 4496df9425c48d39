//! Recomputing the chains and seals of a log, event by event in position order, from the
//! database or from an export: the first broken link is named with its stream, version and
//! position.

use std::collections::{HashMap, VecDeque};
use std::fmt;

use crate::chain::{ChainedEvent, SEAL_STREAM, SEAL_TYPE, Seal, running_digest};

/// Where the log stops being what its hashes and seals say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Break {
    pub stream: String,
    pub version: u64,
    pub position: i64,
    pub what: String,
}

impl fmt::Display for Break {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "stream {} version {} at position {}: {}",
            self.stream, self.version, self.position, self.what
        )
    }
}

/// What an intact log holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    pub events: u64,
    pub streams: usize,
    pub seals: u64,
    /// The last position and the running digest there (what a seal made now would hold).
    pub head: Option<(i64, String)>,
    /// Digests given from outside (`--expect`) that were checked.
    pub anchors_checked: usize,
}

#[derive(Default)]
pub struct Verifier {
    /// Each stream's last version, hash and position.
    streams: HashMap<String, (u64, String, i64)>,
    digest: String,
    last_position: Option<i64>,
    events: u64,
    seals: u64,
    /// Running digests since the last seal's `up_to`, for the next seal to be checked against.
    recent: VecDeque<(i64, String)>,
    last_seal_hash: Option<String>,
    /// Digests kept outside the system: (position, digest, checked yet), checked when the log
    /// passes them.
    anchors: Vec<(i64, String, bool)>,
}

impl Verifier {
    pub fn new() -> Self {
        Verifier::default()
    }

    /// Also checks that the log's running digest at `position` is `digest` (a seal's digest
    /// printed by `audit seal --print` and kept elsewhere).
    pub fn expect(mut self, position: i64, digest: String) -> Self {
        self.anchors.push((position, digest.to_lowercase(), false));
        self
    }

    pub fn push(&mut self, event: &ChainedEvent) -> Result<(), Break> {
        let broken = |what: String| Break {
            stream: event.stream.clone(),
            version: event.version,
            position: event.position,
            what,
        };
        if let Some(last) = self.last_position
            && event.position <= last
        {
            return Err(broken(format!(
                "comes after position {last}: the log is out of order"
            )));
        }
        let previous = self.streams.get(&event.stream);
        let due = previous.map_or(0, |(v, _, _)| v + 1);
        if event.version != due {
            let what = if event.version > due {
                format!(
                    "version {due} of the stream is missing (deleted?) before it, or the \
                     events were reordered"
                )
            } else {
                format!("version {due} was due here: the stream's events are out of order")
            };
            return Err(broken(what));
        }
        let Some(stored) = &event.hash else {
            return Err(broken(
                "has no hash: the log was not upgraded to chains".into(),
            ));
        };
        let computed = event.link(previous.map(|(_, h, _)| h.as_str())).hash();
        if &computed != stored {
            return Err(broken(format!(
                "its content does not match its hash (stored {stored}, computed {computed}): \
                 the event or one before it in the stream was changed"
            )));
        }
        let position = event.position.to_string();
        self.digest = running_digest(&self.digest, &position, stored);
        if event.stream == SEAL_STREAM && event.event_type == SEAL_TYPE {
            self.check_seal(event).map_err(broken)?;
            self.last_seal_hash = Some(stored.clone());
            self.seals += 1;
        }
        self.recent.push_back((event.position, self.digest.clone()));
        for (at, digest, checked) in &mut self.anchors {
            if *at == event.position {
                if *digest != self.digest {
                    return Err(broken(format!(
                        "the log up to here does not match the digest kept outside \
                         ({digest}); it is {}",
                        self.digest
                    )));
                }
                *checked = true;
            }
        }
        self.streams.insert(
            event.stream.clone(),
            (event.version, stored.clone(), event.position),
        );
        self.last_position = Some(event.position);
        self.events += 1;
        Ok(())
    }

    fn check_seal(&mut self, event: &ChainedEvent) -> Result<(), String> {
        let seal: Seal = serde_json::from_str(event.payload.get())
            .map_err(|e| format!("a seal that cannot be read: {e}"))?;
        if seal.previous_seal != self.last_seal_hash {
            return Err(format!(
                "the seal names {:?} as the seal before it, but that was {:?}",
                seal.previous_seal, self.last_seal_hash
            ));
        }
        let up_to: i64 = seal
            .up_to
            .parse()
            .map_err(|_| format!("a seal up to {:?}, which is not a position", seal.up_to))?;
        while self.recent.front().is_some_and(|(at, _)| *at < up_to) {
            self.recent.pop_front();
        }
        match self.recent.front() {
            Some((at, digest)) if *at == up_to => {
                if *digest != seal.digest {
                    return Err(format!(
                        "the log up to position {up_to} does not match this seal (sealed \
                         {}, computed {digest}): an event up to there was changed, removed, \
                         added or moved",
                        seal.digest
                    ));
                }
            }
            _ => {
                return Err(format!(
                    "the seal covers the log up to position {up_to}, which is not in the log \
                     (removed?)"
                ));
            }
        }
        self.recent.clear();
        Ok(())
    }

    /// Each stream's last version, hash and position, to compare with what the store says its
    /// streams are (a stream's last event removed leaves no gap behind it).
    pub(crate) fn stream_heads(&self) -> &HashMap<String, (u64, String, i64)> {
        &self.streams
    }

    pub fn finish(self) -> Result<Summary, String> {
        if let Some((at, _, _)) = self.anchors.iter().find(|(_, _, checked)| !checked) {
            return Err(format!(
                "a digest kept outside names position {at}, which is not in the log (removed?)"
            ));
        }
        Ok(Summary {
            events: self.events,
            streams: self.streams.len(),
            seals: self.seals,
            head: self.last_position.map(|p| (p, self.digest.clone())),
            anchors_checked: self.anchors.len(),
        })
    }
}
