//! A snapshot read `as_of` a log position through the API shows what `audit replay --as-of`
//! rebuilds from an export of the log alone, before and after its figures changed.

mod common;
#[path = "../../tests/tests/support/mod.rs"]
mod support;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use serde_json::{Value, json};

use common::{command, get_json, stop, wait_ready};

const FIELD_METRIC: &str = "reports_received";

/// `field_key → value` of an API snapshot's sections.
fn api_values(snapshot: &Value) -> BTreeMap<String, f64> {
    snapshot["sections"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| s["fields"].as_array().unwrap().iter())
        .filter_map(|f| Some((f["field_key"].as_str()?.to_string(), f["value"].as_f64()?)))
        .collect()
}

/// `field_key → value` of `audit replay`'s raw sections.
fn replay_values(shown: &Value) -> BTreeMap<String, f64> {
    shown["sections"]
        .as_object()
        .unwrap()
        .values()
        .flat_map(|fields| fields.as_object().unwrap().iter())
        .map(|(k, v)| (k.clone(), v["value"].as_f64().unwrap()))
        .collect()
}

fn instant(v: &Value) -> chrono::DateTime<chrono::Utc> {
    v.as_str().unwrap().parse().unwrap()
}

async fn head(client: &reqwest::Client, base: &str) -> i64 {
    let ready = wait_ready(client, base).await;
    ready["store"]["head"].as_str().unwrap().parse().unwrap()
}

fn replay(export: &Path, at: i64, snapshot: &str) -> Value {
    let nowhere = support::TempSqlite::new();
    let out = command(
        &nowhere.dir,
        None,
        &[
            "audit",
            "replay",
            "--from",
            export.to_str().unwrap(),
            "--as-of",
            &at.to_string(),
            "--snapshot",
            snapshot,
        ],
    )
    .output()
    .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_snapshot_as_of_a_position_is_what_audit_replay_rebuilds_from_the_log() {
    let dir = support::TempSqlite::new();
    let token = common::token(&dir.dir, None, &["--role", "admin"]);
    let server = common::listening(command(&dir.dir, None, &["serve", "--bind", "127.0.0.1:0"]));
    let base = server.base.clone();
    let client = reqwest::Client::new();
    let before_change = head(&client, &base).await;
    let list = get_json(
        &client,
        &format!("{base}/api/v1/aggregated-report-data?organization_id=org-demo&period_id=2025&snapshot_status=current"),
        Some(&token),
    )
    .await;
    let id = list["data"][0]["snapshot_id"].as_str().unwrap().to_string();
    let url = format!("{base}/api/v1/aggregated-report-data/{id}");
    let then = get_json(&client, &url, Some(&token)).await;

    // The figures change: the snapshot is aggregated again.
    let imported = client
        .post(format!("{base}/api/v1/source-records"))
        .bearer_auth(&token)
        .json(&json!({"organization_id": "org-demo", "data_source": "as-of-test", "records": [
            {"record_id": "as-of-1", "occurred_on": "2025-06-01", "metric": FIELD_METRIC, "value": 11}
        ]}))
        .send()
        .await
        .unwrap();
    assert!(imported.status().is_success());
    let mut now = then.clone();
    for _ in 0..400 {
        now = get_json(&client, &url, Some(&token)).await;
        if now["snapshot_status"] == "current" && now["aggregated_at"] != then["aggregated_at"] {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_ne!(
        now["aggregated_at"], then["aggregated_at"],
        "aggregated again"
    );
    let after_change = head(&client, &base).await;

    let as_of = |at: i64| {
        let client = client.clone();
        let url = url.clone();
        let token = token.clone();
        async move { get_json(&client, &format!("{url}?as_of=position:{at}"), Some(&token)).await }
    };
    let old = as_of(before_change).await;
    let new = as_of(after_change).await;
    assert_eq!(
        api_values(&old),
        api_values(&then),
        "as of then: what was shown then"
    );
    assert_eq!(api_values(&new), api_values(&now));
    assert_ne!(api_values(&old), api_values(&new));
    let refused = client
        .get(format!("{url}?as_of=yesterday"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 422);
    stop(server.child);

    let export = dir.dir.join("log.jsonl");
    let out = command(
        &dir.dir,
        None,
        &["audit", "export", "--to", export.to_str().unwrap()],
    )
    .output()
    .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for (at, api) in [(before_change, &old), (after_change, &new)] {
        let shown = replay(&export, at, &id);
        assert_eq!(shown["status"], api["snapshot_status"], "at {at}");
        assert_eq!(replay_values(&shown), api_values(api), "at {at}");
        // The API writes milliseconds, the replay the stored precision.
        let (a, b) = (
            instant(&shown["aggregated_at"]),
            instant(&api["aggregated_at"]),
        );
        assert!((a - b).num_milliseconds().abs() < 1, "at {at}: {a} vs {b}");
    }
}
