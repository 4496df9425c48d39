//! A local identity provider, for trying the service's OIDC sign-in on one machine: it serves
//! a discovery document and a JWKS with one P-256 key made at start (held in memory only), and
//! hands out ES256 tokens for whatever subject, roles and organisations are asked for. Never
//! for production: anyone who reaches it gets any token it can sign.
//!
//! ```sh
//! cargo run -p api --bin local-issuer              # prints: issuer http://127.0.0.1:9400
//! OIDC_ISSUER=http://127.0.0.1:9400 OIDC_AUDIENCE=bufdir-reporting cargo run -p api -- serve
//! curl -s 'http://127.0.0.1:9400/token?sub=kari&role=admin&name=Kari%20Nordmann'
//! ```

use std::net::SocketAddr;
use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use clap::Parser;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use p256::elliptic_curve::sec1::ToEncodedPoint;
use p256::pkcs8::EncodePrivateKey;
use poem::http::StatusCode;
use poem::listener::{Acceptor, Listener, TcpListener};
use poem::web::{Data, Json};
use poem::{EndpointExt, Request, Response, Route, Server, get, handler};
use serde_json::{Value, json};

#[derive(Parser)]
#[command(about = "A local OIDC issuer that signs any token it is asked for (testing only)")]
struct Args {
    /// The address to listen on (port 0: any free port; the issuer URL is printed).
    #[arg(long, default_value = "127.0.0.1:9400")]
    listen: SocketAddr,
    /// The `aud` of the tokens it signs: the service's `OIDC_AUDIENCE`.
    #[arg(long, default_value = "bufdir-reporting")]
    audience: String,
}

const KID: &str = "local-1";

struct Issuer {
    url: String,
    audience: String,
    key: EncodingKey,
    jwk: Value,
}

#[handler]
fn discovery(Data(issuer): Data<&Arc<Issuer>>) -> Json<Value> {
    Json(json!({
        "issuer": issuer.url,
        "jwks_uri": format!("{}/jwks", issuer.url),
        "id_token_signing_alg_values_supported": ["ES256"],
        "response_types_supported": ["id_token"],
        "subject_types_supported": ["public"],
    }))
}

#[handler]
fn jwks(Data(issuer): Data<&Arc<Issuer>>) -> Response {
    Response::builder()
        .content_type("application/json")
        .header("Cache-Control", "public, max-age=300")
        .body(json!({"keys": [issuer.jwk]}).to_string())
}

/// `GET /token?sub=&role=&org=&name=&email=&ttl=`: `role` and `org` may repeat; `ttl` is in
/// seconds (default 3600).
#[handler]
fn token(req: &Request, Data(issuer): Data<&Arc<Issuer>>) -> Response {
    let mut claims = json!({"sub": "local-user", "roles": [], "orgs": []});
    let mut ttl = 3600i64;
    for (key, value) in url::form_urlencoded::parse(req.uri().query().unwrap_or("").as_bytes()) {
        match key.as_ref() {
            "role" => push(&mut claims["roles"], &value),
            "org" => push(&mut claims["orgs"], &value),
            "sub" | "name" | "email" => claims[key.as_ref()] = json!(value),
            "ttl" => match value.parse() {
                Ok(seconds) => ttl = seconds,
                Err(_) => return refused("ttl is a whole number of seconds"),
            },
            other => return refused(&format!("unknown parameter {other}")),
        }
    }
    let now = chrono::Utc::now().timestamp();
    claims["iss"] = json!(issuer.url);
    claims["aud"] = json!(issuer.audience);
    claims["iat"] = json!(now);
    claims["nbf"] = json!(now);
    claims["exp"] = json!(now + ttl);
    let mut header = Header::new(Algorithm::ES256);
    header.kid = Some(KID.into());
    let token = jsonwebtoken::encode(&header, &claims, &issuer.key).expect("ES256 signs");
    Response::builder().content_type("text/plain").body(token)
}

fn push(list: &mut Value, value: &str) {
    if let Value::Array(items) = list {
        items.push(json!(value));
    }
}

fn refused(why: &str) -> Response {
    Response::builder()
        .status(StatusCode::BAD_REQUEST)
        .content_type("text/plain")
        .body(format!("{why}\n"))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let secret = p256::SecretKey::random(&mut p256::elliptic_curve::rand_core::OsRng);
    let point = secret.public_key().to_encoded_point(false);
    let pem = secret.to_pkcs8_pem(Default::default())?;
    let acceptor = TcpListener::bind(args.listen).into_acceptor().await?;
    let addr = acceptor
        .local_addr()
        .first()
        .and_then(|a| a.as_socket_addr().copied())
        .ok_or_else(|| anyhow::anyhow!("no address to listen on"))?;
    let url = format!("http://{addr}");
    let issuer = Arc::new(Issuer {
        url: url.clone(),
        audience: args.audience,
        key: EncodingKey::from_ec_pem(pem.as_bytes())?,
        jwk: json!({"kty": "EC", "crv": "P-256", "kid": KID, "alg": "ES256", "use": "sig",
                    "x": B64.encode(point.x().expect("an uncompressed point")),
                    "y": B64.encode(point.y().expect("an uncompressed point"))}),
    });
    let app = Route::new()
        .at("/.well-known/openid-configuration", get(discovery))
        .at("/jwks", get(jwks))
        .at("/token", get(token))
        .data(issuer);
    println!("issuer {url}");
    Server::new_with_acceptor(acceptor).run(app).await?;
    Ok(())
}
