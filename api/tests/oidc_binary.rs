//! Sign-in through an identity provider with the real binaries, as docs/operating.md's "Trying it
//! with a local issuer" does: `local-issuer` serves discovery, keys and tokens; `serve` is
//! pointed at it with local tokens switched off.

mod common;
#[path = "../../tests/tests/support/mod.rs"]
mod support;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use serde_json::{Value, json};

use common::{BIN, get_json, wait_ready};

const ISSUER_BIN: &str = env!("CARGO_BIN_EXE_local-issuer");

/// The local issuer on a free port, and its URL from the line it prints.
fn local_issuer() -> (Child, String) {
    let mut child = Command::new(ISSUER_BIN)
        .args(["--listen", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .spawn()
        .expect("start local-issuer");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line
        .trim()
        .strip_prefix("issuer ")
        .unwrap_or_else(|| panic!("local-issuer printed {line:?}"))
        .to_string();
    (child, url)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_takes_the_local_issuers_tokens_only_and_names_the_person_in_the_audit_trail() {
    let (mut issuer_process, issuer) = local_issuer();
    let dir = support::TempSqlite::new();
    let mut cmd = Command::new(BIN);
    cmd.args(["serve", "--bind", "127.0.0.1:0", "--no-demo", "--data-dir"])
        .arg(&dir.dir)
        .env_remove("DATABASE_URL")
        .env_remove("BUFDIR_API_URL")
        .env("OIDC_ISSUER", &issuer)
        .env("OIDC_AUDIENCE", "bufdir-reporting")
        .env("LOCAL_TOKENS", "false");
    let server = common::listening(cmd);
    let client = reqwest::Client::new();
    let ready = wait_ready(&client, &server.base).await;
    assert_eq!(
        ready["identity_providers"],
        json!([{"issuer": issuer, "reachable": true}])
    );

    let token_for = |query: &'static str| {
        let (client, issuer) = (&client, &issuer);
        async move {
            let r = client
                .get(format!("{issuer}/token?{query}"))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 200, "{query}");
            r.text().await.unwrap()
        }
    };
    let create = |token: String, org_id: &'static str| {
        let (client, base) = (&client, &server.base);
        async move {
            let r = client
                .post(format!("{base}/api/v1/organizations"))
                .bearer_auth(token)
                .json(&json!({"org_id": org_id, "name": "Redd Barna",
                              "organisasjonsnummer": "991825827"}))
                .send()
                .await
                .unwrap();
            let status = r.status().as_u16();
            (status, r.json::<Value>().await.unwrap())
        }
    };

    let kari =
        token_for("sub=oid-kari&role=admin&name=Kari%20Nordmann&email=kari@example.no").await;
    let (status, body) = create(kari.clone(), "org-kari").await;
    assert_eq!(status, 201, "{body}");
    // Local tokens are off; a provider's token without a role is a 403 naming the claim.
    let local = common::token(&dir.dir, None, &["--role", "admin"]);
    assert_eq!(create(local, "org-local").await.0, 401);
    // Configured the same way, `token` says why it mints none.
    let refused = common::command(&dir.dir, None, &["token", "--role", "admin"])
        .env("LOCAL_TOKENS", "false")
        .output()
        .unwrap();
    assert!(!refused.status.success());
    assert!(refused.stdout.is_empty());
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("LOCAL_TOKENS=false"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
    let (status, problem) = create(token_for("sub=oid-nobody").await, "org-nobody").await;
    assert_eq!(status, 403, "{problem}");
    assert!(
        problem["detail"].as_str().unwrap().contains("`roles`"),
        "{problem}"
    );

    let spec = get_json(&client, &format!("{}/openapi.json", server.base), None).await;
    let schemes = &spec["components"]["securitySchemes"];
    assert_eq!(
        schemes["OpenIdConnect"]["openIdConnectUrl"],
        json!(format!("{issuer}/.well-known/openid-configuration"))
    );
    assert!(schemes.get("BearerAuth").is_none(), "{schemes}");

    let audit = format!(
        "{}/api/v1/audit/events?stream=organization-org-kari",
        server.base
    );
    let page = get_json(&client, &audit, Some(&kari)).await;
    let metadata = &page["data"][0]["metadata"];
    assert_eq!(metadata["actor"], "oid-kari");
    assert_eq!(metadata["issuer"], json!(issuer));
    assert_eq!(
        metadata["person"],
        json!({"name": "Kari Nordmann", "email": "kari@example.no", "erased": false})
    );
    common::stop(server.child);
    issuer_process.kill().unwrap();
    issuer_process.wait().unwrap();
}
