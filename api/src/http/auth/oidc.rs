//! Tokens from identity providers (OIDC): each configured issuer's discovery document names its
//! JWKS; its keys are kept in memory and a token signed with one of them (RS256, ES256, EdDSA)
//! is accepted when its `iss`, `aud`, `exp` and `nbf` hold. Roles and organisations come from
//! configurable claims. A token naming a key we do not have makes us fetch the issuer's keys
//! again, at most once per [`REFRESH_EVERY`], so tokens with made-up key ids cannot make us
//! hammer the issuer; when the issuer cannot be reached the keys we have keep working.

use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use serde_json::Value;

use crate::http::auth::{Caller, Claims, LEEWAY, Role};
use crate::http::problem::ApiError;

/// The least time between two fetches of one issuer's keys for unknown key ids.
pub(crate) const REFRESH_EVERY: Duration = Duration::from_secs(10);
/// How long fetched keys are kept when the issuer does not say (`Cache-Control: max-age`), and
/// the bounds of what it may say.
const KEYS_LIFETIME: Duration = Duration::from_secs(3600);
const KEYS_LIFETIME_BOUNDS: (Duration, Duration) =
    (Duration::from_secs(60), Duration::from_secs(24 * 3600));

/// How tokens of the configured issuers are read.
#[derive(Debug, Clone)]
pub struct OidcSettings {
    pub issuers: Vec<String>,
    /// The `aud` our tokens must name; unset, any audience (not for production).
    pub audience: Option<String>,
    /// The claim holding the caller's roles (`viewer`, `reporter`, `admin`, `service`,
    /// `approver`, `auditor`).
    pub roles_claim: String,
    /// The claim holding the organisations the caller belongs to.
    pub orgs_claim: String,
    /// The claim values' meaning, when they are not our names (`OIDC_CLAIM_MAP`).
    pub claim_map: crate::http::auth::claim_map::ClaimMap,
}

struct Issuer {
    issuer: String,
    jwks_uri: String,
    keys: Mutex<JwkSet>,
    /// How long the issuer said its keys may be kept.
    lifetime: Mutex<Duration>,
    /// When an unknown key id last made us fetch the keys (none yet: the first may at once),
    /// and whether the last fetch worked.
    fetched: Mutex<(Option<Instant>, bool)>,
}

pub struct Issuers {
    settings: OidcSettings,
    client: reqwest::Client,
    list: Vec<Issuer>,
}

#[derive(Deserialize)]
struct Discovery {
    issuer: String,
    jwks_uri: String,
}

impl Issuers {
    /// Reads each issuer's discovery document and keys; an issuer that cannot be reached at
    /// start is an error (a misconfiguration should not start a service that refuses everyone).
    pub async fn discover(settings: OidcSettings) -> anyhow::Result<Issuers> {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()?;
        let mut list = Vec::new();
        for issuer in &settings.issuers {
            let issuer = issuer.trim_end_matches('/').to_string();
            let url = format!("{issuer}/.well-known/openid-configuration");
            let discovery: Discovery = client
                .get(&url)
                .send()
                .await
                .and_then(reqwest::Response::error_for_status)
                .map_err(|e| anyhow::anyhow!("OIDC_ISSUER {issuer}: {url}: {e}"))?
                .json()
                .await
                .map_err(|e| anyhow::anyhow!("OIDC_ISSUER {issuer}: {url}: {e}"))?;
            anyhow::ensure!(
                discovery.issuer.trim_end_matches('/') == issuer,
                "OIDC_ISSUER {issuer}: its discovery document names the issuer {}",
                discovery.issuer
            );
            let (keys, lifetime) = fetch_keys(&client, &discovery.jwks_uri)
                .await
                .map_err(|e| anyhow::anyhow!("OIDC_ISSUER {issuer}: its keys: {e}"))?;
            list.push(Issuer {
                issuer: discovery.issuer,
                jwks_uri: discovery.jwks_uri,
                keys: Mutex::new(keys),
                lifetime: Mutex::new(lifetime),
                fetched: Mutex::new((None, true)),
            });
        }
        Ok(Issuers {
            settings,
            client,
            list,
        })
    }

    /// Fetches each issuer's keys again as their lifetime runs out, for as long as `issuers` is
    /// in use (the task ends when the last handle is dropped).
    pub(crate) fn refresh_in_background(issuers: &Arc<Issuers>) {
        let weak: Weak<Issuers> = Arc::downgrade(issuers);
        tokio::spawn(async move {
            loop {
                let Some(wait) = weak.upgrade().map(|i| i.next_refresh()) else {
                    return;
                };
                tokio::time::sleep(wait).await;
                let Some(issuers) = weak.upgrade() else {
                    return;
                };
                issuers.refresh_all().await;
            }
        });
    }

    /// Fetches every issuer's keys again, as the background task does when they are due.
    pub async fn refresh_all(&self) {
        for issuer in &self.list {
            self.fetch_into(issuer).await;
        }
    }

    /// How long until the keys are fetched again: the shortest lifetime an issuer gave them.
    pub fn next_refresh(&self) -> Duration {
        self.list
            .iter()
            .map(|i| *i.lifetime.lock().expect("lock"))
            .min()
            .unwrap_or(KEYS_LIFETIME)
    }

    /// Fetches an issuer's keys; keeps the old ones when it cannot be reached.
    async fn fetch_into(&self, issuer: &Issuer) {
        let fetched = fetch_keys(&self.client, &issuer.jwks_uri).await;
        let ok = fetched.is_ok();
        match fetched {
            Ok((keys, lifetime)) => {
                *issuer.keys.lock().expect("lock") = keys;
                *issuer.lifetime.lock().expect("lock") = lifetime;
            }
            Err(e) => {
                tracing::warn!(issuer = %issuer.issuer, error = %store::causes(e.as_ref()), "could not fetch the issuer's keys; keeping the ones we have")
            }
        }
        issuer.fetched.lock().expect("lock").1 = ok;
    }

    /// The issuers, as their discovery documents name them.
    pub fn names(&self) -> Vec<String> {
        self.list.iter().map(|i| i.issuer.clone()).collect()
    }

    pub fn settings(&self) -> &OidcSettings {
        &self.settings
    }

    /// Whether the last fetch of every issuer's keys worked (for `/readyz`).
    pub fn reachable(&self) -> Vec<(String, bool)> {
        self.list
            .iter()
            .map(|i| (i.issuer.clone(), i.fetched.lock().expect("lock").1))
            .collect()
    }

    /// Verifies a token of one of the issuers: the caller, and their name and e-mail
    /// (`{"name", "email"}`, in the clear) where the token gives either.
    pub async fn verify(&self, token: &str) -> Result<(Caller, Option<Value>), ApiError> {
        let refused = |why: String| ApiError::Unauthorized(format!("invalid bearer token: {why}"));
        let header = jsonwebtoken::decode_header(token).map_err(|e| refused(e.to_string()))?;
        if !matches!(
            header.alg,
            Algorithm::RS256 | Algorithm::ES256 | Algorithm::EdDSA
        ) {
            return Err(refused(format!(
                "{:?} tokens are not accepted from an identity provider",
                header.alg
            )));
        }
        let kid = header
            .kid
            .ok_or_else(|| refused("the token names no key (kid)".into()))?;
        let (issuer, key) = match self.find(&kid) {
            Some(found) => found,
            None => {
                self.refresh_for_unknown_key().await;
                self.find(&kid)
                    .ok_or_else(|| refused(format!("no issuer has the key {kid:?}")))?
            }
        };
        let mut validation = Validation::new(header.alg);
        validation.leeway = LEEWAY as u64;
        validation.validate_nbf = true;
        validation.set_issuer(&[issuer.as_str()]);
        match &self.settings.audience {
            Some(aud) => validation.set_audience(&[aud.as_str()]),
            None => validation.validate_aud = false,
        }
        validation.set_required_spec_claims(&["exp", "sub", "iss"]);
        let data = jsonwebtoken::decode::<Value>(token, &key, &validation)
            .map_err(|e| refused(e.to_string()))?;
        self.caller(data.claims)
    }

    /// Roles and organisations from the configured claims.
    fn caller(&self, claims: Value) -> Result<(Caller, Option<Value>), ApiError> {
        let strings = |name: &str| -> Vec<String> {
            match claims.get(name) {
                Some(Value::Array(items)) => items
                    .iter()
                    .filter_map(|i| i.as_str().map(str::to_string))
                    .collect(),
                Some(Value::String(one)) => one.split_whitespace().map(str::to_string).collect(),
                _ => vec![],
            }
        };
        let map = &self.settings.claim_map;
        let roles: Vec<Role> = strings(&self.settings.roles_claim)
            .iter()
            .filter_map(|r| map.role(r))
            .collect();
        if roles.is_empty() {
            return Err(ApiError::Forbidden(format!(
                "the token has no role this service knows in its claim `{}` (viewer, reporter, \
                 admin, service, approver or auditor)",
                self.settings.roles_claim
            )));
        }
        let number = |name: &str| claims.get(name).and_then(Value::as_i64).unwrap_or(0);
        let caller = Caller {
            claims: Claims {
                sub: claims["sub"].as_str().unwrap_or_default().to_string(),
                orgs: strings(&self.settings.orgs_claim)
                    .iter()
                    .filter_map(|o| map.organisation(o))
                    .collect(),
                roles,
                exp: number("exp"),
                iat: number("iat"),
            },
            issuer: claims["iss"].as_str().map(str::to_string),
            person: None,
        };
        Ok((caller, person(&claims)))
    }

    /// The issuer and decoding key of key id `kid`.
    fn find(&self, kid: &str) -> Option<(String, DecodingKey)> {
        self.list.iter().find_map(|i| {
            let keys = i.keys.lock().expect("lock");
            let jwk = keys.find(kid)?;
            Some((i.issuer.clone(), DecodingKey::from_jwk(jwk).ok()?))
        })
    }

    /// Fetches the keys of every issuer not fetched within [`REFRESH_EVERY`]; keeps the old keys
    /// of one that cannot be reached.
    async fn refresh_for_unknown_key(&self) {
        for issuer in &self.list {
            {
                let mut fetched = issuer.fetched.lock().expect("lock");
                if fetched.0.is_some_and(|at| at.elapsed() < REFRESH_EVERY) {
                    continue;
                }
                // Taken now, so concurrent requests with unknown keys do not fetch too.
                fetched.0 = Some(Instant::now());
            }
            self.fetch_into(issuer).await;
        }
    }
}

/// The person a token names: its `name`, and its `email` (else a `preferred_username` that is
/// an address, as Entra ID's user principal names are); `None` when it gives neither.
fn person(claims: &Value) -> Option<Value> {
    let text = |name: &str| {
        claims
            .get(name)
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|t| !t.is_empty())
    };
    let name = text("name");
    let email = text("email").or_else(|| text("preferred_username").filter(|u| u.contains('@')));
    if name.is_none() && email.is_none() {
        return None;
    }
    Some(serde_json::json!({"name": name, "email": email}))
}

/// The keys at `jwks_uri`, and how long the issuer says they may be kept.
async fn fetch_keys(
    client: &reqwest::Client,
    jwks_uri: &str,
) -> anyhow::Result<(JwkSet, Duration)> {
    let response = client.get(jwks_uri).send().await?.error_for_status()?;
    let lifetime = response
        .headers()
        .get(reqwest::header::CACHE_CONTROL)
        .and_then(|v| v.to_str().ok())
        .and_then(max_age)
        .map_or(KEYS_LIFETIME, |d| {
            d.clamp(KEYS_LIFETIME_BOUNDS.0, KEYS_LIFETIME_BOUNDS.1)
        });
    Ok((response.json().await?, lifetime))
}

/// `max-age` of a `Cache-Control` value.
fn max_age(value: &str) -> Option<Duration> {
    value.split(',').find_map(|part| {
        let seconds = part.trim().strip_prefix("max-age=")?;
        Some(Duration::from_secs(seconds.trim().parse().ok()?))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_keys_lifetime_is_the_max_age_the_issuer_sends() {
        assert_eq!(
            max_age("public, max-age=600"),
            Some(Duration::from_secs(600))
        );
        assert_eq!(max_age("no-cache"), None);
        assert_eq!(max_age("max-age=soon"), None);
    }

    #[test]
    fn the_person_is_the_name_and_an_address() {
        let claims = serde_json::json!({"name": " Kari ", "preferred_username": "kari@x.no"});
        assert_eq!(
            person(&claims),
            Some(serde_json::json!({"name": "Kari", "email": "kari@x.no"}))
        );
        let claims = serde_json::json!({"preferred_username": "kari", "email": ""});
        assert_eq!(person(&claims), None);
    }
}
