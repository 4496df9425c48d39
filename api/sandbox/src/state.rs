//! What the sandbox remembers: registered clients, issued tokens, filed submissions, the faults
//! to inject, and counters tests can read. In memory: the sandbox stands in for Bufdir, whose
//! own records are not ours to keep.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use rand::Rng;
use serde::{Deserialize, Serialize};
use workers::bufdir::wire::{StatusResponse, SubmitResponse};

#[derive(Debug, Clone)]
pub struct SandboxConfig {
    /// Registered clients: id and secret.
    pub clients: Vec<(String, String)>,
    /// Lifetime of issued tokens, in seconds.
    pub token_ttl: u64,
    /// How long a submission stays `received` before its verdict.
    pub processing_delay: Duration,
    /// The share of submissions rejected (with notes) instead of accepted.
    pub reject_share: f64,
    pub faults: Faults,
}

impl Default for SandboxConfig {
    fn default() -> Self {
        SandboxConfig {
            clients: default_clients(),
            token_ttl: 3600,
            processing_delay: Duration::from_secs(30),
            reject_share: 0.0,
            faults: Faults::default(),
        }
    }
}

/// The test clients every sandbox knows unless told otherwise: the one from the API contract's
/// example, and one for the demo organisations.
pub fn default_clients() -> Vec<(String, String)> {
    vec![
        ("eircodex_org_482".into(), "s3cr3t_token_here".into()),
        ("demo-client".into(), "demo-secret".into()),
    ]
}

/// Faults applied to Bufdir's endpoints (not to the sandbox's own control endpoints).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Faults {
    /// Added to every answer.
    pub latency_ms: u64,
    /// The share of requests answered 503.
    pub fail_share: f64,
    /// The share of requests handled and then cut off before the answer arrives.
    pub drop_share: f64,
    /// Answer the next N requests with 503.
    pub fail_next: u32,
    /// Handle the next N requests, then cut each off before its answer.
    pub drop_next: u32,
    /// Answer everything with 503 until turned off.
    pub down: bool,
}

/// What happens to one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fate {
    Serve,
    Fail,
    Drop,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Counters {
    pub authentications: u64,
    pub failed_authentications: u64,
    /// Submit calls that reached the handler, including repeats of a key.
    pub submit_calls: u64,
    pub status_calls: u64,
    pub faults_injected: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Filed {
    pub reference_id: String,
    pub client_id: String,
    pub idempotency_key: String,
    pub payload_version: String,
    pub payload: serde_json::Value,
    pub submitted_at: DateTime<Utc>,
    #[serde(skip)]
    received: Instant,
    #[serde(skip)]
    rejected: bool,
}

struct Token {
    client_id: String,
    expires: Instant,
}

#[derive(Default)]
struct Inner {
    tokens: HashMap<String, Token>,
    filed: Vec<Filed>,
    by_key: HashMap<(String, String), usize>,
    faults: Faults,
    counters: Counters,
}

pub struct SandboxState {
    pub config: SandboxConfig,
    inner: Mutex<Inner>,
}

/// Why a bearer token was not accepted.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum TokenProblem {
    Unknown,
    Expired,
}

impl SandboxState {
    pub fn new(config: SandboxConfig) -> Self {
        let inner = Inner {
            faults: config.faults.clone(),
            ..Inner::default()
        };
        SandboxState {
            config,
            inner: Mutex::new(inner),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().expect("sandbox state lock")
    }

    pub fn faults(&self) -> Faults {
        self.lock().faults.clone()
    }

    pub fn set_faults(&self, faults: Faults) {
        self.lock().faults = faults;
    }

    pub fn counters(&self) -> Counters {
        self.lock().counters.clone()
    }

    pub fn filed(&self) -> Vec<Filed> {
        self.lock().filed.clone()
    }

    /// Expires every issued token, as if their lifetime had passed.
    pub fn expire_tokens(&self) {
        let now = Instant::now();
        for token in self.lock().tokens.values_mut() {
            token.expires = now;
        }
    }

    /// Decides what happens to the next request, using up one-shot faults first.
    pub(crate) fn fate(&self) -> Fate {
        let mut inner = self.lock();
        let f = &mut inner.faults;
        let mut rng = rand::rng();
        let fate = if f.down {
            Fate::Fail
        } else if f.fail_next > 0 {
            f.fail_next -= 1;
            Fate::Fail
        } else if f.drop_next > 0 {
            f.drop_next -= 1;
            Fate::Drop
        } else if f.fail_share > 0.0 && rng.random_bool(f.fail_share.clamp(0.0, 1.0)) {
            Fate::Fail
        } else if f.drop_share > 0.0 && rng.random_bool(f.drop_share.clamp(0.0, 1.0)) {
            Fate::Drop
        } else {
            Fate::Serve
        };
        if fate != Fate::Serve {
            inner.counters.faults_injected += 1;
        }
        fate
    }

    /// A token for a registered client, or `None` for wrong credentials.
    pub fn authenticate(&self, client_id: &str, secret: &str) -> Option<String> {
        let known =
            self.config.clients.iter().any(|(id, s)| {
                id == client_id && constant_time_eq(s.as_bytes(), secret.as_bytes())
            });
        let mut inner = self.lock();
        if !known {
            inner.counters.failed_authentications += 1;
            return None;
        }
        inner.counters.authentications += 1;
        let token = format!("sbx.{}", hex::encode(rand::random::<[u8; 24]>()));
        inner.tokens.insert(
            token.clone(),
            Token {
                client_id: client_id.to_string(),
                expires: Instant::now() + Duration::from_secs(self.config.token_ttl),
            },
        );
        Some(token)
    }

    /// The client a token belongs to.
    pub(crate) fn client_of(&self, token: &str) -> Result<String, TokenProblem> {
        let inner = self.lock();
        let t = inner.tokens.get(token).ok_or(TokenProblem::Unknown)?;
        if Instant::now() >= t.expires {
            return Err(TokenProblem::Expired);
        }
        Ok(t.client_id.clone())
    }

    /// Files a submission once per (client, key); a repeat answers with the first filing.
    pub fn file(
        &self,
        client_id: &str,
        key: &str,
        payload_version: String,
        payload: serde_json::Value,
    ) -> (SubmitResponse, bool) {
        let mut inner = self.lock();
        inner.counters.submit_calls += 1;
        if let Some(&i) = inner.by_key.get(&(client_id.to_string(), key.to_string())) {
            return (receipt(&inner.filed[i]), false);
        }
        let now = Utc::now();
        let reference_id = loop {
            let candidate = format!(
                "bufdir_ref_{}_{:08}",
                now.format("%Y%m%d"),
                rand::rng().random_range(0..100_000_000u32)
            );
            if !inner.filed.iter().any(|f| f.reference_id == candidate) {
                break candidate;
            }
        };
        let rejected = self.config.reject_share > 0.0
            && rand::rng().random_bool(self.config.reject_share.clamp(0.0, 1.0));
        inner.filed.push(Filed {
            reference_id,
            client_id: client_id.to_string(),
            idempotency_key: key.to_string(),
            payload_version,
            payload,
            submitted_at: now,
            received: Instant::now(),
            rejected,
        });
        let i = inner.filed.len() - 1;
        inner
            .by_key
            .insert((client_id.to_string(), key.to_string()), i);
        (receipt(&inner.filed[i]), true)
    }

    /// A filed submission's status, if it is this client's.
    pub fn status(&self, client_id: &str, reference_id: &str) -> Option<StatusResponse> {
        let mut inner = self.lock();
        inner.counters.status_calls += 1;
        let filed = inner
            .filed
            .iter()
            .find(|f| f.reference_id == reference_id && f.client_id == client_id)?;
        let delay = self.config.processing_delay;
        let decided = filed.received.elapsed() >= delay;
        let processed_at = decided
            .then(|| filed.submitted_at + chrono::Duration::from_std(delay).unwrap_or_default());
        let (status, notes) = match (decided, filed.rejected) {
            (false, _) => ("received", None),
            (true, false) => ("accepted", Some("Rapporten er behandlet og godkjent.")),
            (true, true) => (
                "rejected",
                Some("Rapporten er avvist: tallene stemmer ikke med tidligere innrapportering."),
            ),
        };
        Some(StatusResponse {
            reference_id: filed.reference_id.clone(),
            status: status.into(),
            submitted_at: filed.submitted_at,
            processed_at,
            notes: notes.map(String::from),
        })
    }
}

fn receipt(filed: &Filed) -> SubmitResponse {
    SubmitResponse {
        submission_reference_id: filed.reference_id.clone(),
        status: "received".into(),
        submitted_at: filed.submitted_at,
        bufdir_confirmation: Some("Rapport mottatt og registrert.".into()),
    }
}

/// Compares secrets without an early exit, so timing does not reveal a matching prefix.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
