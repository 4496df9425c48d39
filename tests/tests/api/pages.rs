//! The pages for people (`/`, `/preview`) and the one API addition the preview needs (a
//! snapshot's Bufdir payload), over HTTP. The page itself is driven in a real browser by
//! `api/tests/browser_preview.rs`.

use api::http::auth::Role;
use serde_json::{Value, json};

use crate::helpers::spawn_app;

#[tokio::test]
async fn the_front_door_is_html_for_browsers_and_a_problem_for_json_clients() {
    let app = spawn_app().await;
    let page = app
        .client
        .get(app.url("/"))
        .header("Accept", "text/html,application/xhtml+xml,*/*;q=0.8")
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    assert!(
        page.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let html = page.text().await.unwrap();
    for link in ["/preview", "/docs", "/openapi.yaml", "/readyz"] {
        assert!(html.contains(&format!("href=\"{link}\"")), "{link}");
    }
    assert!(html.contains("SQLite"), "names the store");
    assert!(
        html.contains("Bufdir's API at"),
        "says where submissions go"
    );

    for accept in ["application/json", "*/*"] {
        let r = app
            .client
            .get(app.url("/"))
            .header("Accept", accept)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 404, "{accept}");
        assert_eq!(r.headers()["content-type"], "application/problem+json");
        let problem: Value = r.json().await.unwrap();
        assert_eq!(problem["status"], 404);
    }
}

#[tokio::test]
async fn the_preview_and_its_assets_are_served_from_the_binary() {
    let app = spawn_app().await;
    let page = app.client.get(app.url("/preview")).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let csp = page.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        csp.contains("script-src 'self'") && csp.contains("connect-src 'self'"),
        "{csp}"
    );
    assert_eq!(page.headers()["referrer-policy"], "no-referrer");
    let html = page.text().await.unwrap();
    assert!(html.contains("/preview/preview.js") && html.contains("/preview/preview.css"));
    for (path, kind) in [
        ("/preview/preview.js", "text/javascript"),
        ("/preview/preview.css", "text/css"),
    ] {
        let r = app.client.get(app.url(path)).send().await.unwrap();
        assert_eq!(r.status(), 200, "{path}");
        assert!(
            r.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with(kind)
        );
        // The SVG namespace is a name, not an address: nothing else may point off the origin.
        let text = r
            .text()
            .await
            .unwrap()
            .replace("http://www.w3.org/2000/svg", "");
        assert!(
            !text.contains("http://") && !text.contains("https://"),
            "{path}"
        );
    }
}

#[tokio::test]
async fn a_snapshot_s_bufdir_payload_is_what_validate_payload_takes() {
    let app = spawn_app().await;
    app.create_org("org-1", "986128433").await;
    let records = json!({"organization_id": "org-1", "data_source": "fagsystem-cis", "records": [
        {"record_id": "a", "occurred_on": "2024-03-01", "metric": "reports_received", "value": 12},
        {"record_id": "b", "occurred_on": "2024-04-01", "metric": "group_session", "value": 3, "hours": 4.5}
    ]});
    let (status, body) = app
        .post("/api/v1/source-records", &app.admin, &records)
        .await;
    assert_eq!(status, 200, "{body}");
    let trigger = json!({"organization_id": "org-1", "period_id": "2024"});
    let (status, job) = app
        .post("/api/v1/aggregated-report-data", &app.admin, &trigger)
        .await;
    assert_eq!(status, 202, "{job}");
    app.drain_workers().await;
    let id = job["snapshot_id"].as_str().unwrap();

    let (status, payload) = app
        .get(
            &format!("/api/v1/aggregated-report-data/{id}/bufdir-payload"),
            &app.admin,
        )
        .await;
    assert_eq!(status, 200, "{payload}");
    assert_eq!(payload["organisasjonsnummer"], "986128433");
    assert_eq!(payload["rapporteringsperiode"], "2024");
    assert_eq!(payload["felter"]["antall_bekymringsmeldinger"], 12.0);
    assert_eq!(payload["aktiviteter"][0]["kategori"], "group_session");
    assert_eq!(payload["aktiviteter"][0]["antall"], 3);
    let check = json!({"payload_version": "bufdir_2025_v2", "payload": payload});
    let (status, result) = app
        .post("/api/v1/bufdir-api/validate-payload", &app.admin, &check)
        .await;
    assert_eq!(status, 200, "{result}");
    assert!(
        result["errors"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["code"] != "invalid_type"),
        "{result}"
    );

    // Another organisation's token does not find it.
    let other = app.token(&["org-2"], &[Role::Viewer]);
    let (status, _) = app
        .get(
            &format!("/api/v1/aggregated-report-data/{id}/bufdir-payload"),
            &other,
        )
        .await;
    assert_eq!(status, 404);
}
