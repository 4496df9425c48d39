//! Bearer JWTs: who the caller is, which organisations they belong to, what they may do. Local
//! tokens are HS256 with the server's secret (`bufdir-reporting token`); tokens of identity
//! providers are RS256, ES256 or EdDSA with the issuer's published keys (`oidc`).

pub mod claim_map;
pub mod oidc;

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, RwLock};

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use poem::Request;
use poem_openapi::SecurityScheme;
use poem_openapi::auth::Bearer;
use serde::{Deserialize, Serialize};

use crate::http::problem::ApiError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Viewer,
    Reporter,
    Admin,
    Service,
    /// Approves a report before it is submitted: the daily manager or the board chair.
    Approver,
    /// Confirms a report before it is submitted (an ISRS 4400 check).
    Auditor,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    pub sub: String,
    #[serde(default)]
    pub orgs: Vec<String>,
    #[serde(default)]
    pub roles: Vec<Role>,
    pub exp: i64,
    pub iat: i64,
}

/// The verified caller of a request.
#[derive(Debug, Clone)]
pub struct Caller {
    pub claims: Claims,
    /// The identity provider that issued the token (`iss`); `None` for a local token.
    pub issuer: Option<String>,
    /// The caller's name and e-mail from the provider's token, encrypted under their data
    /// subject's key (`commands::privacy::protect_actor`), for the events they cause.
    pub person: Option<serde_json::Value>,
}

impl Caller {
    pub(crate) fn is_admin(&self) -> bool {
        self.claims.roles.contains(&Role::Admin)
    }

    pub fn actor(&self) -> String {
        self.claims.sub.clone()
    }

    /// The caller as a signer of approvals: their subject, with its issuer for a provider's token.
    pub fn signer(&self) -> domain::signoff::Signer {
        domain::signoff::Signer {
            subject: self.claims.sub.clone(),
            issuer: self.issuer.clone(),
        }
    }

    /// The roles the caller may approve a report in.
    pub fn signer_roles(&self) -> Vec<domain::signoff::SignerRole> {
        use domain::signoff::SignerRole;
        self.claims
            .roles
            .iter()
            .filter_map(|r| match r {
                Role::Approver => Some(SignerRole::Approver),
                Role::Auditor => Some(SignerRole::Auditor),
                _ => None,
            })
            .collect()
    }

    /// Who the caller is, unique across identity providers (a subject is unique only within its
    /// issuer): the subject, with its issuer for a provider's token.
    pub fn identity(&self) -> String {
        match &self.issuer {
            Some(issuer) => format!("{}@{issuer}", self.claims.sub),
            None => self.claims.sub.clone(),
        }
    }

    /// The organisations whose resources the caller's lists may show.
    pub fn visible(&self) -> projections::organizations::Visible<'_> {
        if self.is_admin() {
            projections::organizations::Visible::All
        } else {
            projections::organizations::Visible::Only(&self.claims.orgs)
        }
    }

    /// Whether the caller may see `org_id`'s resources. Admins reach every organisation.
    pub(crate) fn may_see(&self, org_id: &str) -> bool {
        self.is_admin() || self.claims.orgs.iter().any(|o| o == org_id)
    }

    /// The org scoping rule for org-owned resources: another organisation's resource is
    /// indistinguishable from a missing one.
    pub fn scope<T>(&self, org_id: &str, found: Option<T>, what: &str) -> Result<T, ApiError> {
        match found {
            Some(t) if self.may_see(org_id) => Ok(t),
            _ => Err(ApiError::NotFound(format!("{what} not found"))),
        }
    }

    pub fn require_any(&self, roles: &[Role]) -> Result<(), ApiError> {
        if self.claims.roles.iter().any(|r| roles.contains(r)) {
            Ok(())
        } else {
            Err(ApiError::Forbidden(format!(
                "this needs one of the roles {}",
                roles
                    .iter()
                    .map(|r| format!("{r:?}").to_lowercase())
                    .collect::<Vec<_>>()
                    .join(", ")
            )))
        }
    }
}

/// Signing and verification keys.
#[derive(Clone)]
pub struct Keys {
    encoding: Arc<EncodingKey>,
    decoding: Arc<DecodingKey>,
    secret: Arc<[u8]>,
    /// Tokens already verified, so a client's every request does not pay for the signature
    /// check and the decoding again. Bounded; an entry is used only while its token is valid.
    verified: Arc<RwLock<HashMap<Box<str>, Caller>>>,
    /// The identity providers whose tokens are accepted, when configured.
    issuers: Option<Arc<oidc::Issuers>>,
    /// Whether local (HS256) tokens are accepted (`LOCAL_TOKENS`).
    local: bool,
    /// Where the names and e-mails of providers' callers are encrypted (their subjects' keys);
    /// without it (the CLI) they are not kept.
    people: Option<store::ReadPool>,
}

/// Verified tokens kept at most; a full map is emptied (clients' next requests refill it).
const VERIFIED_CAPACITY: usize = 10_000;
/// Seconds a token is still accepted after its `exp` (clock skew between issuer and us).
pub(crate) const LEEWAY: i64 = 30;

impl Keys {
    pub fn from_secret(secret: &[u8]) -> Self {
        Keys {
            encoding: Arc::new(EncodingKey::from_secret(secret)),
            decoding: Arc::new(DecodingKey::from_secret(secret)),
            secret: secret.into(),
            verified: Arc::default(),
            issuers: None,
            local: true,
            people: None,
        }
    }

    /// Encrypts the names and e-mails that providers' tokens carry with the key store in `pool`,
    /// so the events a caller causes name the person, erasably.
    pub(crate) fn recording_people_in(mut self, pool: store::ReadPool) -> Self {
        self.people = Some(pool);
        self
    }

    /// Whether local tokens are accepted.
    pub(crate) fn local_tokens(&self) -> bool {
        self.local
    }

    /// Also accepts the tokens of `issuers`; `local` says whether local tokens still are.
    pub fn with_issuers(mut self, issuers: Option<Arc<oidc::Issuers>>, local: bool) -> Self {
        self.issuers = issuers;
        self.local = local;
        self
    }

    /// The identity providers, when configured (for `/readyz`).
    pub fn issuers(&self) -> Option<&oidc::Issuers> {
        self.issuers.as_deref()
    }

    /// Verifies a request's token: a local one, or one of a configured identity provider.
    pub(crate) async fn verify_request(&self, token: &str) -> Result<Caller, ApiError> {
        let now = chrono::Utc::now().timestamp();
        // A client's every request carries the same token: answered from the kept ones before
        // anything of it is decoded.
        if let Some(kept) = self.kept(token, now) {
            return kept;
        }
        let alg = jsonwebtoken::decode_header(token)
            .map_err(|e| ApiError::Unauthorized(format!("invalid bearer token: {e}")))?
            .alg;
        match (alg, &self.issuers) {
            (Algorithm::HS256, _) if self.local => self.verify_at(token, now),
            (Algorithm::HS256, _) => Err(ApiError::Unauthorized(
                "invalid bearer token: local tokens are not accepted here (LOCAL_TOKENS=false)"
                    .into(),
            )),
            (_, Some(issuers)) => {
                let (mut caller, person) = issuers.verify(token).await?;
                // Encrypted once per token: the verified token is kept with the encrypted person.
                if let (Some(person), Some(pool)) = (person, &self.people) {
                    caller.person = commands::privacy::protect_actor(pool, &person).await?;
                }
                self.keep(token, &caller, now);
                Ok(caller)
            }
            (alg, None) => Err(ApiError::Unauthorized(format!(
                "invalid bearer token: {alg:?} tokens need an identity provider (OIDC_ISSUER)"
            ))),
        }
    }

    /// The server's secret, from which keys for other purposes (encrypting stored secrets)
    /// are derived.
    pub fn server_secret(&self) -> &[u8] {
        &self.secret
    }

    /// The configured secret, or the one persisted in the data directory, created on first use so
    /// that tokens survive restarts and `bufdir-reporting token` mints tokens the server accepts.
    pub fn load(secret: Option<&str>, data_dir: &Path) -> anyhow::Result<Self> {
        if let Some(secret) = secret {
            anyhow::ensure!(secret.len() >= 32, "JWT_SECRET must be at least 32 bytes");
            return Ok(Keys::from_secret(secret.as_bytes()));
        }
        let path = data_dir.join("jwt-secret");
        let secret = match std::fs::read_to_string(&path) {
            Ok(s) => s.trim().to_string(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                std::fs::create_dir_all(data_dir)?;
                let secret = hex::encode(rand::random::<[u8; 32]>());
                write_private(&path, &secret)?;
                secret
            }
            Err(e) => return Err(e.into()),
        };
        Ok(Keys::from_secret(secret.as_bytes()))
    }

    pub fn mint(&self, sub: &str, orgs: Vec<String>, roles: Vec<Role>, ttl_seconds: i64) -> String {
        let now = chrono::Utc::now().timestamp();
        let claims = Claims {
            sub: sub.into(),
            orgs,
            roles,
            iat: now,
            exp: now + ttl_seconds,
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .expect("HS256 signs")
    }

    pub fn verify(&self, token: &str) -> Result<Caller, ApiError> {
        self.verify_at(token, chrono::Utc::now().timestamp())
    }

    /// Verifies `token` as of `now` (seconds since the epoch). The expiry is checked here, for
    /// a token from the cache as for one verified now: one rule for both.
    fn verify_at(&self, token: &str, now: i64) -> Result<Caller, ApiError> {
        if let Some(kept) = self.kept(token, now) {
            return kept;
        }
        let mut validation = Validation::new(Algorithm::HS256);
        validation.validate_exp = false;
        validation.set_required_spec_claims(&["exp", "sub"]);
        let caller = jsonwebtoken::decode::<Claims>(token, &self.decoding, &validation)
            .map(|data| Caller {
                claims: data.claims,
                issuer: None,
                person: None,
            })
            .map_err(|e| ApiError::Unauthorized(format!("invalid bearer token: {e}")))?;
        if !unexpired(&caller, now) {
            return Err(expired());
        }
        self.keep(token, &caller, now);
        Ok(caller)
    }

    /// The answer for a token verified before, if it was; its expiry is checked again here by
    /// the same rule as for a token verified now.
    fn kept(&self, token: &str, now: i64) -> Option<Result<Caller, ApiError>> {
        let kept = self
            .verified
            .read()
            .expect("token cache lock")
            .get(token)
            .cloned()?;
        Some(if unexpired(&kept, now) {
            Ok(kept)
        } else {
            Err(expired())
        })
    }

    fn keep(&self, token: &str, caller: &Caller, now: i64) {
        let mut verified = self.verified.write().expect("token cache lock");
        if verified.len() >= VERIFIED_CAPACITY {
            verified.retain(|_, c| unexpired(c, now));
            if verified.len() >= VERIFIED_CAPACITY {
                verified.clear();
            }
        }
        verified.insert(token.into(), caller.clone());
    }
}

fn unexpired(caller: &Caller, now: i64) -> bool {
    caller.claims.exp + LEEWAY >= now
}

fn expired() -> ApiError {
    ApiError::Unauthorized("invalid bearer token: ExpiredSignature".into())
}

fn write_private(path: &Path, content: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)?.write_all(content.as_bytes())
}

/// `Authorization: Bearer <JWT>` with claims `sub`, `orgs` and `roles`.
#[derive(SecurityScheme)]
#[oai(ty = "bearer", bearer_format = "JWT", checker = "check_bearer")]
pub struct BearerAuth(pub Caller);

async fn check_bearer(req: &Request, bearer: Bearer) -> poem::Result<Caller> {
    let keys = req.data::<Keys>().expect("Keys are in the app data");
    keys.verify_request(&bearer.token).await.map_err(Into::into)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys() -> Keys {
        Keys::from_secret(b"unit-test-secret-unit-test-secret")
    }

    #[test]
    fn a_verified_token_is_refused_once_it_expires_though_it_is_kept() {
        let keys = keys();
        let token = keys.mint("someone", vec!["org-a".into()], vec![Role::Viewer], 60);
        let now = chrono::Utc::now().timestamp();
        let caller = keys.verify_at(&token, now).unwrap();
        assert_eq!(caller.claims.orgs, ["org-a"]);
        assert!(keys.verified.read().unwrap().contains_key(token.as_str()));
        // Within the leeway after `exp`, then past it.
        assert!(keys.verify_at(&token, now + 60 + LEEWAY).is_ok());
        assert!(keys.verify_at(&token, now + 60 + LEEWAY + 1).is_err());
    }

    #[test]
    fn an_expired_token_is_refused_and_not_kept() {
        let keys = keys();
        let token = keys.mint("someone", vec![], vec![Role::Admin], -LEEWAY - 1);
        assert!(keys.verify(&token).is_err());
        assert!(keys.verified.read().unwrap().is_empty());
    }

    #[test]
    fn a_token_signed_with_another_secret_is_refused_and_not_kept() {
        let other = Keys::from_secret(b"another-secret-another-secret-xx");
        let token = other.mint("someone", vec![], vec![Role::Admin], 60);
        let keys = keys();
        assert!(keys.verify(&token).is_err());
        assert!(keys.verified.read().unwrap().is_empty());
    }
}
