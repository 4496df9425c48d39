//! Tokens of an identity provider: an issuer in the test (discovery and a JWKS on a random
//! port) signs with RSA, EC and Ed25519 keys made here. Valid tokens of each algorithm are
//! accepted; every kind of bad token is a 401 that writes nothing; a rotated key is picked up
//! with one fetch, and a flood of made-up key ids does not make us fetch more; keys already
//! fetched keep working while the issuer is down.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use poem::listener::TcpListener;
use poem::web::{Data, Json};
use poem::{EndpointExt, Route, Server, get, handler};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use crate::helpers::{Options, TestApp, spawn_app_with};

const AUDIENCE: &str = "bufdir-reporting";

/// A signing key and its public JWK.
#[derive(Clone)]
struct Key {
    kid: String,
    alg: Algorithm,
    encoding: EncodingKey,
    jwk: Value,
}

fn rsa_key(kid: &str) -> Key {
    use rsa::pkcs8::EncodePrivateKey;
    use rsa::traits::PublicKeyParts;
    let private = rsa::RsaPrivateKey::new(&mut rsa::rand_core::OsRng, 2048).unwrap();
    let pem = private.to_pkcs8_pem(Default::default()).unwrap();
    Key {
        kid: kid.into(),
        alg: Algorithm::RS256,
        encoding: EncodingKey::from_rsa_pem(pem.as_bytes()).unwrap(),
        jwk: json!({"kty": "RSA", "kid": kid, "alg": "RS256", "use": "sig",
                    "n": B64.encode(private.n().to_bytes_be()),
                    "e": B64.encode(private.e().to_bytes_be())}),
    }
}

fn ec_key(kid: &str) -> Key {
    use p256::elliptic_curve::sec1::ToEncodedPoint;
    use p256::pkcs8::EncodePrivateKey;
    let secret = p256::SecretKey::random(&mut p256::elliptic_curve::rand_core::OsRng);
    let pem = secret.to_pkcs8_pem(Default::default()).unwrap();
    let point = secret.public_key().to_encoded_point(false);
    Key {
        kid: kid.into(),
        alg: Algorithm::ES256,
        encoding: EncodingKey::from_ec_pem(pem.as_bytes()).unwrap(),
        jwk: json!({"kty": "EC", "kid": kid, "alg": "ES256", "use": "sig", "crv": "P-256",
                    "x": B64.encode(point.x().unwrap()), "y": B64.encode(point.y().unwrap())}),
    }
}

fn ed_key(kid: &str) -> Key {
    use ed25519_dalek::pkcs8::EncodePrivateKey;
    let signing = ed25519_dalek::SigningKey::from_bytes(&rand_bytes());
    let pem = signing.to_pkcs8_pem(Default::default()).unwrap();
    Key {
        kid: kid.into(),
        alg: Algorithm::EdDSA,
        encoding: EncodingKey::from_ed_pem(pem.as_bytes()).unwrap(),
        jwk: json!({"kty": "OKP", "kid": kid, "alg": "EdDSA", "use": "sig", "crv": "Ed25519",
                    "x": B64.encode(signing.verifying_key().to_bytes())}),
    }
}

fn rand_bytes() -> [u8; 32] {
    let mut bytes = [0u8; 32];
    for (i, b) in uuid::Uuid::new_v4()
        .as_bytes()
        .iter()
        .chain(uuid::Uuid::new_v4().as_bytes())
        .enumerate()
    {
        bytes[i] = *b;
    }
    bytes
}

/// What the issuer publishes, and how often its keys were fetched.
#[derive(Clone, Default)]
struct Published {
    keys: Arc<Mutex<Vec<Value>>>,
    fetches: Arc<AtomicUsize>,
    base: Arc<Mutex<String>>,
    /// The `Cache-Control` the JWKS is answered with.
    cache_control: Arc<Mutex<Option<String>>>,
}

#[handler]
fn discovery(Data(p): Data<&Published>) -> Json<Value> {
    let base = p.base.lock().unwrap().clone();
    Json(json!({"issuer": base, "jwks_uri": format!("{base}/keys")}))
}

#[handler]
fn jwks(Data(p): Data<&Published>) -> poem::Response {
    p.fetches.fetch_add(1, Ordering::SeqCst);
    let mut answer = poem::Response::builder().content_type("application/json");
    if let Some(value) = p.cache_control.lock().unwrap().clone() {
        answer = answer.header("Cache-Control", value);
    }
    answer.body(json!({"keys": p.keys.lock().unwrap().clone()}).to_string())
}

struct Issuer {
    url: String,
    published: Published,
    stop: CancellationToken,
}

async fn issuer(keys: &[&Key]) -> Issuer {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let published = Published::default();
    *published.base.lock().unwrap() = url.clone();
    *published.keys.lock().unwrap() = keys.iter().map(|k| k.jwk.clone()).collect();
    let app = Route::new()
        .at("/.well-known/openid-configuration", get(discovery))
        .at("/keys", get(jwks))
        .data(published.clone());
    let stop = CancellationToken::new();
    let addr = url.trim_start_matches("http://").to_string();
    let server = Server::new(TcpListener::bind(addr));
    let until = stop.clone();
    tokio::spawn(async move {
        let _ = server
            .run_with_graceful_shutdown(app, until.cancelled_owned(), None)
            .await;
    });
    // Ready when it answers.
    let client = reqwest::Client::new();
    for _ in 0..100 {
        if client.get(format!("{url}/keys")).send().await.is_ok() {
            break;
        }
        tokio::task::yield_now().await;
    }
    published.fetches.store(0, Ordering::SeqCst);
    Issuer {
        url,
        published,
        stop,
    }
}

fn token(key: &Key, claims: Value) -> String {
    let mut header = Header::new(key.alg);
    header.kid = Some(key.kid.clone());
    jsonwebtoken::encode(&header, &claims, &key.encoding).unwrap()
}

fn claims(iss: &str) -> Value {
    let now = chrono::Utc::now().timestamp();
    json!({"iss": iss, "aud": AUDIENCE, "sub": "kari", "iat": now, "nbf": now - 5,
           "exp": now + 600, "roles": ["admin"], "orgs": []})
}

async fn app_of(issuer: &Issuer, local: bool) -> TestApp {
    app_with_map(issuer, local, "orgs", Default::default()).await
}

async fn app_with_map(
    issuer: &Issuer,
    local: bool,
    orgs_claim: &str,
    claim_map: api::http::auth::claim_map::ClaimMap,
) -> TestApp {
    app_of_all(&[issuer], local, orgs_claim, claim_map).await
}

/// An app that takes the tokens of every one of `issuers`.
async fn app_of_all(
    issuers: &[&Issuer],
    local: bool,
    orgs_claim: &str,
    claim_map: api::http::auth::claim_map::ClaimMap,
) -> TestApp {
    let issuers = api::http::auth::oidc::Issuers::discover(api::http::auth::oidc::OidcSettings {
        issuers: issuers.iter().map(|i| i.url.clone()).collect(),
        audience: Some(AUDIENCE.into()),
        roles_claim: "roles".into(),
        orgs_claim: orgs_claim.into(),
        claim_map,
    })
    .await
    .unwrap();
    spawn_app_with(Options {
        issuers: Some((Arc::new(issuers), local)),
        ..Options::default()
    })
    .await
}

async fn status_with(app: &TestApp, token: &str) -> (u16, Value) {
    app.post(
        "/api/v1/organizations",
        token,
        &json!({"org_id": format!("org-{}", uuid::Uuid::new_v4().simple()), "name": "Via OIDC",
                "organisasjonsnummer": "986128433"}),
    )
    .await
}

#[tokio::test]
async fn tokens_of_each_algorithm_are_accepted_and_bad_ones_refused_writing_nothing() {
    let (rs, es, ed) = (rsa_key("rs-1"), ec_key("es-1"), ed_key("ed-1"));
    let issuer = issuer(&[&rs, &es, &ed]).await;
    let app = app_of(&issuer, true).await;
    for key in [&rs, &es, &ed] {
        let (status, body) = status_with(&app, &token(key, claims(&issuer.url))).await;
        assert_eq!(status, 201, "{:?}: {body}", key.alg);
    }
    // Local tokens still work beside them here.
    assert_eq!(status_with(&app, &app.admin).await.0, 201);

    let head = app.state.db.events.head().await.unwrap();
    let now = chrono::Utc::now().timestamp();
    let with = |change: &dyn Fn(&mut Value)| {
        let mut c = claims(&issuer.url);
        change(&mut c);
        c
    };
    let unknown = Key {
        kid: "nobody".into(),
        ..rsa_key("nobody")
    };
    let good = token(&rs, claims(&issuer.url));
    let (h, p, s) = {
        let mut parts = good.split('.');
        (
            parts.next().unwrap().to_string(),
            parts.next().unwrap().to_string(),
            parts.next().unwrap().to_string(),
        )
    };
    let mut tampered: Value = serde_json::from_slice(&B64.decode(&p).unwrap()).unwrap();
    tampered["sub"] = json!("mallory");
    let tampered = format!("{h}.{}.{s}", B64.encode(tampered.to_string()));
    let none = format!(
        "{}.{p}.",
        B64.encode(json!({"alg": "none", "typ": "JWT", "kid": "rs-1"}).to_string())
    );
    // Algorithm confusion: HS256 with the issuer's public key as the shared secret.
    let public_pem = {
        use rsa::pkcs8::EncodePublicKey;
        let n = rsa::BigUint::from_bytes_be(&B64.decode(rs.jwk["n"].as_str().unwrap()).unwrap());
        let e = rsa::BigUint::from_bytes_be(&B64.decode(rs.jwk["e"].as_str().unwrap()).unwrap());
        rsa::RsaPublicKey::new(n, e)
            .unwrap()
            .to_public_key_pem(Default::default())
            .unwrap()
    };
    let mut confused = Header::new(Algorithm::HS256);
    confused.kid = Some("rs-1".into());
    let confused = jsonwebtoken::encode(
        &confused,
        &claims(&issuer.url),
        &EncodingKey::from_secret(public_pem.as_bytes()),
    )
    .unwrap();
    let bad = [
        (
            "wrong issuer",
            token(&rs, with(&|c| c["iss"] = json!("https://evil.example"))),
        ),
        (
            "wrong audience",
            token(&rs, with(&|c| c["aud"] = json!("someone-else"))),
        ),
        (
            "expired",
            token(&rs, with(&|c| c["exp"] = json!(now - 3600))),
        ),
        (
            "not yet valid",
            token(&rs, with(&|c| c["nbf"] = json!(now + 3600))),
        ),
        ("unknown key", token(&unknown, claims(&issuer.url))),
        ("alg none", none),
        ("algorithm confusion", confused),
        ("tampered payload", tampered),
    ];
    for (what, bad) in bad {
        let (status, body) = status_with(&app, &bad).await;
        assert_eq!(status, 401, "{what}: {body}");
    }
    assert_eq!(
        app.state.db.events.head().await.unwrap(),
        head,
        "nothing written"
    );

    // A token without a role this service knows: 403 naming the claim.
    let (status, body) =
        status_with(&app, &token(&rs, with(&|c| c["roles"] = json!(["guest"])))).await;
    assert_eq!(status, 403, "{body}");
    assert!(
        body["detail"].as_str().unwrap().contains("`roles`"),
        "{body}"
    );
    issuer.stop.cancel();
}

#[tokio::test]
async fn a_rotated_key_is_fetched_once_and_made_up_keys_do_not_make_us_fetch_more() {
    let old = ec_key("old");
    let issuer = issuer(&[&old]).await;
    let app = app_of(&issuer, false).await;
    assert_eq!(
        status_with(&app, &token(&old, claims(&issuer.url))).await.0,
        201
    );
    // Local tokens are switched off here.
    assert_eq!(status_with(&app, &app.admin).await.0, 401);

    let new = ec_key("new");
    *issuer.published.keys.lock().unwrap() = vec![new.jwk.clone()];
    let before = issuer.published.fetches.load(Ordering::SeqCst);
    let (status, body) = status_with(&app, &token(&new, claims(&issuer.url))).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(issuer.published.fetches.load(Ordering::SeqCst), before + 1);
    // A flood of tokens naming keys nobody has: at most one more fetch in the refresh interval.
    for i in 0..50 {
        let made_up = Key {
            kid: format!("made-up-{i}"),
            ..new.clone()
        };
        assert_eq!(
            status_with(&app, &token(&made_up, claims(&issuer.url)))
                .await
                .0,
            401
        );
    }
    assert!(
        issuer.published.fetches.load(Ordering::SeqCst) <= before + 2,
        "{} fetches",
        issuer.published.fetches.load(Ordering::SeqCst)
    );

    // The issuer goes away: the keys we have keep working.
    issuer.stop.cancel();
    let (status, body) = status_with(&app, &token(&new, claims(&issuer.url))).await;
    assert_eq!(status, 201, "{body}");
}

#[tokio::test]
async fn an_unreachable_issuer_shows_in_readiness_and_its_keys_keep_working() {
    let key = rsa_key("k1");
    let issuer = issuer(&[&key]).await;
    let app = app_of(&issuer, true).await;
    let (_, ready) = app.get("/readyz", &app.admin).await;
    assert_eq!(
        ready["identity_providers"],
        json!([{"issuer": issuer.url, "reachable": true}])
    );
    issuer.stop.cancel();
    // A key it does not know makes the service ask the issuer, which does not answer.
    let stranger = Key {
        kid: "stranger".into(),
        ..key.clone()
    };
    assert_eq!(
        status_with(&app, &token(&stranger, claims(&issuer.url)))
            .await
            .0,
        401
    );
    let (status, ready) = app.get("/readyz", &app.admin).await;
    assert_eq!(status, 200, "still ready: {ready}");
    assert_eq!(
        ready["identity_providers"],
        json!([{"issuer": issuer.url, "reachable": false}])
    );
    assert_eq!(
        status_with(&app, &token(&key, claims(&issuer.url))).await.0,
        201
    );
}

/// Entra ID style: app roles and group ids, mapped by the claim table.
#[tokio::test]
async fn app_roles_and_groups_map_to_roles_and_organisations() {
    let key = ec_key("k1");
    let issuer = issuer(&[&key]).await;
    let map: api::http::auth::claim_map::ClaimMap = toml::from_str(
        "[roles]\n\"Bufdir.Reporter\" = \"reporter\"\n[organisations]\n\"grp-1\" = \"org-mapped\"\n",
    )
    .unwrap();
    let app = app_with_map(&issuer, true, "groups", map).await;
    for org in ["org-mapped", "org-other"] {
        assert_eq!(app.create_org(org, "986128433").await.0, 201);
    }
    let mut c = claims(&issuer.url);
    c["roles"] = json!(["Bufdir.Reporter"]);
    c["groups"] = json!(["grp-1", "grp-unknown"]);
    let reporter = token(&key, c.clone());
    assert_eq!(
        app.get("/api/v1/organizations/org-mapped", &reporter)
            .await
            .0,
        200
    );
    assert_eq!(
        app.get("/api/v1/organizations/org-other", &reporter)
            .await
            .0,
        404
    );
    // The table is the whole truth: our own role name is not in it.
    c["roles"] = json!(["reporter"]);
    let (status, body) = app
        .get("/api/v1/organizations/org-mapped", &token(&key, c))
        .await;
    assert_eq!(status, 403, "{body}");
}

/// The tenancy matrix (`tenancy.rs`) with every token of it from the identity provider.
#[tokio::test]
async fn no_operation_lets_an_oidc_caller_past_its_organisation_or_role() {
    let key = rsa_key("tenancy");
    let issuer = issuer(&[&key]).await;
    let app = app_of(&issuer, true).await;
    let stranger = Key {
        kid: "tenancy".into(),
        ..rsa_key("tenancy")
    };
    let url = issuer.url.clone();
    let minted = move |signer: Key| {
        let url = url.clone();
        move |sub: &str, orgs: Vec<String>, roles: Vec<api::http::auth::Role>, ttl: i64| {
            let now = chrono::Utc::now().timestamp();
            token(
                &signer,
                json!({"iss": url, "aud": AUDIENCE, "sub": sub, "iat": now, "nbf": now - 5,
                       "exp": now + ttl, "roles": roles, "orgs": orgs}),
            )
        }
    };
    let minter = crate::tenancy::Minter {
        mint: Box::new(minted(key.clone())),
        foreign: Box::new(minted(stranger)),
    };
    crate::tenancy::no_operation_crosses_organisations_with(app, minter).await;
    issuer.stop.cancel();
}

/// The audit trail names the person behind a provider's token: its issuer and subject in the
/// clear, its name and e-mail sealed under the person's data subject key, so erasing the person
/// forgets those two and leaves who it was (issuer and subject), the events and their hashes.
#[tokio::test]
async fn the_audit_trail_names_the_person_and_forgets_name_and_address_on_erasure() {
    let rs = rsa_key("rs-1");
    let issuer = issuer(&[&rs]).await;
    let app = app_of(&issuer, true).await;
    let person_claims = |sub: &str, extra: Value| {
        let mut c = claims(&issuer.url);
        c["sub"] = json!(sub);
        for (k, v) in extra.as_object().unwrap() {
            c[k] = v.clone();
        }
        c
    };
    let kari = token(
        &rs,
        person_claims(
            "oid-kari",
            json!({"name": "Kari Nordmann", "email": "Kari@Example.no"}),
        ),
    );
    let (status, kari_org) = status_with(&app, &kari).await;
    assert_eq!(status, 201, "{kari_org}");
    let nameless = token(&rs, person_claims("oid-svc", json!({})));
    let (status, nameless_org) = status_with(&app, &nameless).await;
    assert_eq!(status, 201, "{nameless_org}");
    let (status, local_org) = status_with(&app, &app.admin).await;
    assert_eq!(status, 201, "{local_org}");

    let stream_of = |org: &Value| format!("organization-{}", org["org_id"].as_str().unwrap());
    // Stored: issuer and subject in the clear, name and address nowhere.
    let stored = app
        .state
        .db
        .events
        .read_stream(&stream_of(&kari_org), 0)
        .await
        .unwrap();
    let metadata = &stored[0].metadata;
    assert_eq!(metadata.actor.as_deref(), Some("oid-kari"));
    assert_eq!(metadata.issuer.as_deref(), Some(issuer.url.as_str()));
    let text = serde_json::to_string(metadata).unwrap().to_lowercase();
    assert!(metadata.person.is_some(), "{text}");
    assert!(
        !text.contains("kari nordmann") && !text.contains("kari@example.no"),
        "{text}"
    );

    let audit_of = |org: Value| {
        let app = &app;
        async move {
            let org_id = org["org_id"].as_str().unwrap().to_string();
            let (status, page) = app
                .get(
                    &format!("/api/v1/audit/events?stream=organization-{org_id}&limit=1000"),
                    &app.admin,
                )
                .await;
            assert_eq!(status, 200, "{page}");
            page["data"][0].clone()
        }
    };
    let before = audit_of(kari_org.clone()).await;
    assert_eq!(before["metadata"]["actor"], "oid-kari");
    assert_eq!(before["metadata"]["issuer"], json!(issuer.url));
    assert_eq!(
        before["metadata"]["person"],
        json!({"name": "Kari Nordmann", "email": "Kari@Example.no", "erased": false})
    );
    let nameless = audit_of(nameless_org).await;
    assert_eq!(nameless["metadata"]["issuer"], json!(issuer.url));
    assert_eq!(nameless["metadata"]["person"], Value::Null);
    let local = audit_of(local_org).await;
    assert_eq!(local["metadata"]["actor"], "test-admin");
    assert_eq!(local["metadata"]["issuer"], Value::Null);
    assert_eq!(local["metadata"]["person"], Value::Null);

    // Erased by the address: nothing of the person holds a report, so no force is needed.
    let erased = commands::privacy::erase(
        &app.state.commands,
        &workers::acting("test"),
        "kari@example.no",
        None,
    )
    .await
    .unwrap();
    assert!(erased.subject_id.starts_with("subj_"));
    let after = audit_of(kari_org).await;
    assert_eq!(
        after["metadata"]["person"],
        json!({"name": null, "email": null, "erased": true})
    );
    assert_eq!(after["metadata"]["actor"], "oid-kari");
    assert_eq!(after["metadata"]["issuer"], json!(issuer.url));
    assert_eq!(after["hash"], before["hash"], "the event is unchanged");
    assert_eq!(after["payload"], before["payload"]);
    issuer.stop.cancel();
}

/// With an identity provider configured, the served spec names it: an `openIdConnect` scheme at
/// its discovery document that every operation taking a token accepts, beside the local bearer
/// scheme, or instead of it when local tokens are off. The YAML and Swagger UI say the same.
#[tokio::test]
async fn the_served_spec_points_clients_at_the_identity_provider() {
    let rs = rsa_key("rs-1");
    let issuer = issuer(&[&rs]).await;
    let discovery_url = format!("{}/.well-known/openid-configuration", issuer.url);
    for local in [true, false] {
        let app = app_of(&issuer, local).await;
        let fetch = |path: &'static str| {
            let app = &app;
            async move {
                let r = app.client.get(app.url(path)).send().await.unwrap();
                assert_eq!(r.status(), 200, "{path}");
                r.text().await.unwrap()
            }
        };
        let spec: Value = serde_json::from_str(&fetch("/openapi.json").await).unwrap();
        let schemes = &spec["components"]["securitySchemes"];
        assert_eq!(schemes["OpenIdConnect"]["type"], "openIdConnect");
        assert_eq!(
            schemes["OpenIdConnect"]["openIdConnectUrl"],
            json!(discovery_url)
        );
        assert_eq!(schemes.get("BearerAuth").is_some(), local, "{schemes}");
        let mut operations = 0;
        for (path, methods) in spec["paths"].as_object().unwrap() {
            for (method, operation) in methods.as_object().unwrap() {
                let Some(security) = operation["security"].as_array() else {
                    continue;
                };
                let names: Vec<&str> = security
                    .iter()
                    .flat_map(|r| r.as_object().unwrap().keys().map(String::as_str))
                    .collect();
                assert!(
                    names.contains(&"OpenIdConnect"),
                    "{method} {path}: {names:?}"
                );
                assert_eq!(
                    names.contains(&"BearerAuth"),
                    local,
                    "{method} {path}: {names:?}"
                );
                operations += 1;
            }
        }
        assert!(operations > 25, "{operations} operations take a token");
        // Compared as YAML values: serde_json's float parsing is not exact for 2^53 - 1.
        let yaml: serde_yaml::Value = serde_yaml::from_str(&fetch("/openapi.yaml").await).unwrap();
        let json: serde_yaml::Value = serde_yaml::from_str(&fetch("/openapi.json").await).unwrap();
        assert_eq!(yaml, json);
        assert!(fetch("/docs").await.contains(&discovery_url));
        // What it points at is the issuer's discovery document.
        let discovered: Value = reqwest::get(&discovery_url)
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(discovered["issuer"], json!(issuer.url));
    }
    issuer.stop.cancel();
}

/// Keys are fetched again as the lifetime the issuer gives them (`Cache-Control: max-age`, held
/// between a minute and a day, an hour without one) runs out: the background task waits
/// `next_refresh` and then does `refresh_all`, stepped here. A key published meanwhile is then
/// known without a token having to name it first.
#[tokio::test]
async fn keys_are_fetched_again_as_the_lifetime_the_issuer_gives_them_runs_out() {
    use std::time::Duration;
    let (old, new) = (rsa_key("rs-old"), ec_key("es-new"));
    let issuer = issuer(&[&old]).await;
    let settings = || api::http::auth::oidc::OidcSettings {
        issuers: vec![issuer.url.clone()],
        audience: Some(AUDIENCE.into()),
        roles_claim: "roles".into(),
        orgs_claim: "orgs".into(),
        claim_map: Default::default(),
    };
    let discover = |cache_control: Option<&str>| {
        *issuer.published.cache_control.lock().unwrap() = cache_control.map(str::to_string);
        api::http::auth::oidc::Issuers::discover(settings())
    };
    for (cache_control, lifetime) in [
        (Some("public, max-age=600"), 600),
        (Some("max-age=5"), 60),
        (Some("max-age=999999"), 24 * 3600),
        (None, 3600),
    ] {
        let issuers = discover(cache_control).await.unwrap();
        assert_eq!(
            issuers.next_refresh(),
            Duration::from_secs(lifetime),
            "{cache_control:?}"
        );
    }

    let issuers = discover(Some("max-age=600")).await.unwrap();
    issuers
        .verify(&token(&old, claims(&issuer.url)))
        .await
        .unwrap();
    *issuer.published.keys.lock().unwrap() = vec![new.jwk.clone()];
    *issuer.published.cache_control.lock().unwrap() = Some("max-age=120".into());
    let fetched = issuer.published.fetches.load(Ordering::SeqCst);
    issuers.refresh_all().await;
    assert_eq!(issuer.published.fetches.load(Ordering::SeqCst), fetched + 1);
    assert_eq!(issuers.next_refresh(), Duration::from_secs(120));
    issuers
        .verify(&token(&new, claims(&issuer.url)))
        .await
        .unwrap();
    assert_eq!(
        issuer.published.fetches.load(Ordering::SeqCst),
        fetched + 1,
        "the new key was known without a fetch for it"
    );
    // The retired key went with the refresh.
    assert!(
        issuers
            .verify(&token(&old, claims(&issuer.url)))
            .await
            .is_err()
    );
    issuer.stop.cancel();
}

/// A person's key cannot be made while the database is gone: the request is a 503 to retry,
/// not a 500, and is not let through without its person.
#[tokio::test]
async fn a_named_token_met_while_the_database_is_gone_is_a_503_to_retry() {
    let rs = rsa_key("rs-1");
    let issuer = issuer(&[&rs]).await;
    let app = app_of(&issuer, true).await;
    let mut named = claims(&issuer.url);
    named["name"] = json!("Kari Nordmann");
    let named = token(&rs, named);
    match &app.state.db.read {
        store::ReadPool::Sqlite(pool) => pool.close().await,
        store::ReadPool::Postgres(pool) => pool.close().await,
    }
    let response = app
        .client
        .get(app.url("/api/v1/organizations"))
        .bearer_auth(&named)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 503);
    assert!(response.headers().contains_key("retry-after"));
    let problem: Value = response.json().await.unwrap();
    assert_eq!(problem["status"], 503, "{problem}");
    issuer.stop.cancel();
}

/// Idempotency keys are the caller's own: the same `sub` at two identity providers is two
/// callers, so one's key never replays the other's answer.
#[tokio::test]
async fn the_same_subject_at_two_issuers_shares_no_idempotency_keys() {
    let (key_a, key_b) = (rsa_key("a-1"), ec_key("b-1"));
    let (a, b) = (issuer(&[&key_a]).await, issuer(&[&key_b]).await);
    // Local tokens too, for the test's own setup.
    let app = app_of_all(&[&a, &b], true, "orgs", Default::default()).await;
    let send = |token: String| {
        let app = &app;
        async move {
            let r = app
                .client
                .post(app.url("/api/v1/organizations"))
                .bearer_auth(token)
                .header("Idempotency-Key", "register-once")
                .json(&json!({"org_id": "org-twice", "name": "Twice",
                              "organisasjonsnummer": "986128433"}))
                .send()
                .await
                .unwrap();
            let replayed = r.headers().get("idempotent-replayed").is_some();
            (r.status().as_u16(), replayed)
        }
    };
    // Both tokens say `sub: kari`, role admin, no organisations.
    assert_eq!(send(token(&key_a, claims(&a.url))).await, (201, false));
    assert_eq!(
        send(token(&key_b, claims(&b.url))).await,
        (409, false),
        "the other issuer's kari is not answered with the first one's result"
    );
    assert_eq!(send(token(&key_a, claims(&a.url))).await, (201, true));
    a.stop.cancel();
    b.stop.cancel();
}

/// An external renderer's hold on a re-export is its caller's: a renderer with the same `sub`
/// at another identity provider is another renderer, refused while the first holds it.
#[tokio::test]
async fn a_renderer_of_another_issuer_with_the_same_subject_cannot_take_over_a_held_job() {
    let (key_a, key_b) = (rsa_key("a-1"), ec_key("b-1"));
    let (a, b) = (issuer(&[&key_a]).await, issuer(&[&key_b]).await);
    // Local tokens too, for the test's own setup.
    let app = app_of_all(&[&a, &b], true, "orgs", Default::default()).await;
    let (path, _, _) = crate::reexports::renderer_job(&app).await;
    let renderer = |iss: &str| {
        let mut c = claims(iss);
        c["sub"] = json!("render-bot");
        c["roles"] = json!(["service"]);
        c["orgs"] = json!([crate::report_history::ORG]);
        c
    };
    let running = json!({"status": "running"});
    let (status, body) = app
        .put(&path, &token(&key_a, renderer(&a.url)), &running)
        .await;
    assert_eq!(status, 200, "{body}");
    let (status, problem) = app
        .put(&path, &token(&key_b, renderer(&b.url)), &running)
        .await;
    assert_eq!(status, 409, "{problem}");
    // The holder renews its hold.
    let (status, body) = app
        .put(&path, &token(&key_a, renderer(&a.url)), &running)
        .await;
    assert_eq!(status, 200, "{body}");
    a.stop.cancel();
    b.stop.cancel();
}
