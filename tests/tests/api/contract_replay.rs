//! A client written from the five contracts works as written: every one of the 27 request
//! examples (`tests/contracts/`), with the contracts' ids and organisation number swapped for
//! real ones made earlier, is sent to a real server, and the answer must succeed and carry every
//! field of the contract's response example with the same JSON type (a null only where our spec
//! says the field is nullable).

use std::collections::BTreeSet;
use std::time::Duration;

use api::http::auth::Role;
use domain::schema;
use serde_json::{Value, json};

use crate::bufdir::{options, sandbox};
use crate::helpers::{TestApp, spawn_app_on_postgres_with, spawn_app_with};
use crate::sse::SseClient;

const ORG: &str = "org-contract";
/// A real organisation number in place of the contracts' `912345678`, which has no valid MOD11
/// check digit.
const NUMBER: &str = "986128433";
/// The organisation ids the contracts' examples use, all of them ours here.
const CONTRACT_ORGS: [&str; 4] = [
    "org-1042",
    "org_482",
    "org-bufdir-042",
    "org_bufdir_oslo_42",
];

/// One operation as the contract gives it.
struct Example {
    operation_id: String,
    method: String,
    request: Option<Value>,
    response: Value,
}

fn examples() -> Vec<Example> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("contracts");
    let mut all = vec![];
    for contract in std::fs::read_dir(&root).unwrap() {
        let dir = contract.unwrap().path();
        if !dir.is_dir() {
            continue;
        }
        for file in std::fs::read_dir(dir).unwrap() {
            let doc: Value =
                serde_json::from_slice(&std::fs::read(file.unwrap().path()).unwrap()).unwrap();
            all.push(Example {
                operation_id: doc["operation_id"].as_str().unwrap().into(),
                method: doc["method"].as_str().unwrap().into(),
                request: Some(doc["request"].clone()).filter(|r| !r.is_null()),
                response: doc["response"].clone(),
            });
        }
    }
    all
}

/// The contract's example with its organisations and organisation number made ours.
fn swapped(value: &Value) -> Value {
    match value {
        Value::String(s) if CONTRACT_ORGS.contains(&s.as_str()) => Value::String(ORG.into()),
        Value::String(s) if s == "912345678" => Value::String(NUMBER.into()),
        // File references under a contract organisation's prefix.
        Value::String(s) => Value::String(
            CONTRACT_ORGS
                .iter()
                .find_map(|org| s.strip_prefix(&format!("reports/{org}/")))
                .map_or_else(|| s.clone(), |rest| format!("reports/{ORG}/{rest}")),
        ),
        Value::Array(items) => Value::Array(items.iter().map(swapped).collect()),
        Value::Object(map) => {
            Value::Object(map.iter().map(|(k, v)| (k.clone(), swapped(v))).collect())
        }
        other => other.clone(),
    }
}

/// Our spec, to know which response fields are nullable.
struct Spec(Value);

impl Spec {
    fn load() -> Self {
        Spec(serde_json::from_str(&api::http::spec::service().spec()).unwrap())
    }

    fn resolve<'a>(&'a self, schema: &'a Value) -> &'a Value {
        match schema["$ref"].as_str() {
            Some(r) => {
                let name = r.rsplit('/').next().unwrap();
                self.resolve(&self.0["components"]["schemas"][name])
            }
            None => schema,
        }
    }

    /// The schemas an object may be (itself, its `allOf` parts, its `oneOf` choices).
    fn parts<'a>(&'a self, schema: &'a Value) -> Vec<&'a Value> {
        let schema = self.resolve(schema);
        let mut parts = vec![schema];
        for key in ["allOf", "oneOf"] {
            for part in schema[key].as_array().into_iter().flatten() {
                parts.extend(self.parts(part));
            }
        }
        parts
    }

    fn property<'a>(&'a self, schema: &'a Value, name: &str) -> Option<&'a Value> {
        self.parts(schema)
            .into_iter()
            .find_map(|p| p["properties"].get(name))
    }

    /// The schema of the successful answer of an operation.
    fn response(&self, operation_id: &str) -> &Value {
        for path in self.0["paths"].as_object().unwrap().values() {
            for op in path.as_object().unwrap().values() {
                if op["operationId"] == operation_id {
                    let responses = op["responses"].as_object().unwrap();
                    let (_, ok) = responses
                        .iter()
                        .find(|(status, _)| status.starts_with('2'))
                        .unwrap();
                    let content = ok["content"].as_object().unwrap();
                    return &content.values().next().unwrap()["schema"];
                }
            }
        }
        panic!("no operation {operation_id}")
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Every field of `expected` is in `actual` with the same JSON type; a null only where the
/// spec (`schema`) says nullable. Arrays compare their first items.
fn same_shape(
    spec: &Spec,
    schema: Option<&Value>,
    expected: &Value,
    actual: &Value,
    at: &str,
    problems: &mut Vec<String>,
) {
    match (expected, actual) {
        (Value::Object(want), Value::Object(got)) => {
            for (key, want_value) in want {
                let field_schema = schema.and_then(|s| spec.property(s, key));
                let here = format!("{at}/{key}");
                let Some(got_value) = got.get(key) else {
                    problems.push(format!("{here} is missing"));
                    continue;
                };
                if got_value.is_null() {
                    let nullable = field_schema
                        .map(|s| spec.parts(s).iter().any(|p| p["nullable"] == true))
                        .unwrap_or(false);
                    if !nullable {
                        problems.push(format!("{here} is null, and the spec does not allow it"));
                    }
                    continue;
                }
                same_shape(spec, field_schema, want_value, got_value, &here, problems);
            }
        }
        (Value::Array(want), Value::Array(got)) => {
            if let (Some(w), Some(g)) = (want.first(), got.first()) {
                let items = schema.map(|s| &spec.resolve(s)["items"]);
                same_shape(spec, items, w, g, &format!("{at}/0"), problems);
            }
        }
        // The contract shows null: any value (of a nullable field) will do.
        (Value::Null, _) => {}
        (want, got) => {
            let (w, g) = (kind(want), kind(got));
            // An integer is a number too.
            if w != g && !(w == "number" && g == "integer") {
                problems.push(format!(
                    "{at} is {g} ({got}), the contract shows {w} ({want})"
                ));
            }
        }
    }
}

struct Replay {
    app: TestApp,
    token: String,
    spec: Spec,
    examples: Vec<Example>,
    replayed: std::cell::RefCell<BTreeSet<String>>,
}

impl Replay {
    fn example(&self, operation_id: &str) -> &Example {
        self.examples
            .iter()
            .find(|e| e.operation_id == operation_id)
            .unwrap_or_else(|| panic!("no example of {operation_id}"))
    }

    /// The request example, made ours, with `fix` applied.
    fn request(&self, operation_id: &str, fix: impl FnOnce(&mut Value)) -> Value {
        let mut body = swapped(self.example(operation_id).request.as_ref().unwrap());
        fix(&mut body);
        body
    }

    async fn send(&self, operation_id: &str, path: &str, body: Option<&Value>) -> Value {
        let example = self.example(operation_id);
        let method = reqwest::Method::from_bytes(example.method.as_bytes()).unwrap();
        let mut request = self
            .app
            .client
            .request(method, self.app.url(path))
            .bearer_auth(&self.token);
        if let Some(body) = body {
            request = request.json(body);
        }
        let (status, answer) = crate::helpers::read(request.send().await.unwrap()).await;
        assert!(
            (200..300).contains(&status),
            "{operation_id} {path}: {status} {answer}"
        );
        answer
    }

    /// Checks an answer against the contract's response example.
    fn check(&self, operation_id: &str, answer: &Value) {
        let example = self.example(operation_id);
        let mut problems = vec![];
        same_shape(
            &self.spec,
            Some(self.spec.response(operation_id)),
            &example.response,
            answer,
            "",
            &mut problems,
        );
        assert!(
            problems.is_empty(),
            "{operation_id}: {problems:#?}\nanswer: {answer}"
        );
        self.replayed.borrow_mut().insert(operation_id.to_string());
    }

    async fn replay(&self, operation_id: &str, path: &str, body: Option<Value>) -> Value {
        let answer = self.send(operation_id, path, body.as_ref()).await;
        self.check(operation_id, &answer);
        answer
    }

    /// Runs the workers until `done` finds what it waits for (each round waits for the read
    /// models to change).
    async fn work_until<T, F, Fut>(&self, what: &str, mut done: F) -> T
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Option<T>>,
    {
        let waited = tokio::time::timeout(Duration::from_secs(30), async {
            loop {
                let changed = self.app.state.projections.changed();
                let notified = changed.notified();
                tokio::pin!(notified);
                notified.as_mut().enable();
                self.app.drain_workers_except(&["webhooks"]).await;
                if let Some(found) = done().await {
                    return found;
                }
                let _ = tokio::time::timeout(Duration::from_millis(200), notified).await;
            }
        })
        .await;
        waited.unwrap_or_else(|_| panic!("gave up waiting for {what}"))
    }
}

/// A client that sends every optional query parameter, empty where it has no value
/// (`?period_from=&org_id=`), gets what it gets without them: for every GET without path
/// parameters in the spec, and every type of parameter (dates, enums, numbers, text).
async fn every_empty_optional_query_value_is_absent(r: &Replay) {
    let mut asked = Vec::new();
    for (path, item) in r.spec.0["paths"].as_object().unwrap() {
        let Some(get) = item.get("get") else { continue };
        let params = get["parameters"].as_array().cloned().unwrap_or_default();
        let in_path = params.iter().any(|p| p["in"] == "path");
        let query: Vec<&str> = params
            .iter()
            .filter(|p| p["in"] == "query" && p["required"] != true)
            .filter_map(|p| p["name"].as_str())
            .collect();
        let json = get["responses"]["200"]["content"]
            .as_object()
            .is_some_and(|content| content.keys().any(|k| k.starts_with("application/json")));
        if in_path || query.is_empty() || !json {
            continue;
        }
        let empty: Vec<String> = query.iter().map(|name| format!("{name}=")).collect();
        let with_empties = format!("{path}?{}", empty.join("&"));
        // Operations the contract client may not call (the audit trail is an admin's) answer
        // the same refusal either way (a problem document names its own request).
        let (plain_status, plain) = r.app.get(path, &r.token).await;
        let (status, answer) = r.app.get(&with_empties, &r.token).await;
        assert_eq!(status, plain_status, "{with_empties}: {answer}");
        if status == 200 {
            assert_eq!(answer, plain, "{with_empties} answers as {path} does");
        }
        asked.push(path.clone());
    }
    for listed in ["/api/v1/bufdir-exports", "/api/v1/aggregated-report-data"] {
        assert!(
            asked.iter().any(|p| p == listed),
            "{listed} was asked: {asked:?}"
        );
    }
}

fn id(v: &Value, key: &str) -> String {
    v[key]
        .as_str()
        .unwrap_or_else(|| panic!("no {key} in {v}"))
        .to_string()
}

#[tokio::test]
async fn every_contract_example_works_as_written_on_sqlite() {
    let (sandbox, _stop) = sandbox(Duration::ZERO).await;
    let options = options(&sandbox, Duration::from_secs(10), false);
    replay_every_contract(spawn_app_with(options).await).await;
}

#[tokio::test]
#[ignore = "needs PostgreSQL: run ci/test, or set TEST_DATABASE_URL and pass --run-ignored all"]
async fn every_contract_example_works_as_written_on_postgres() {
    let (sandbox, _stop) = sandbox(Duration::ZERO).await;
    let options = options(&sandbox, Duration::from_secs(10), false);
    let app = spawn_app_on_postgres_with(options).await;
    replay_every_contract(app).await;
}

async fn replay_every_contract(app: TestApp) {
    assert_eq!(app.create_org(ORG, NUMBER).await.0, 201);
    // One organisation in the token: a contract client names none where it may leave it out.
    let token = app.keys.mint(
        "user_09AXKL2",
        vec![ORG.into()],
        vec![Role::Admin, Role::Service],
        3600,
    );
    let examples = examples();
    assert_eq!(examples.len(), 27, "the five contracts hold 27 operations");
    let r = Replay {
        app,
        token,
        spec: Spec::load(),
        examples,
        replayed: Default::default(),
    };

    // Source data for the contracts' periods: the first field of the first section, for 2024
    // and the prior year, and activities for 2025.
    let s = schema::bufdir_2025_v2();
    let first = &s.sections[0].fields[0];
    let records = json!({"organization_id": ORG, "data_source": "fagsystem-cis", "records": [
        {"record_id": "c-1", "occurred_on": "2024-03-01", "metric": first.metric, "value": 47},
        {"record_id": "c-2", "occurred_on": "2023-03-01", "metric": first.metric, "value": 52},
        {"record_id": "c-3", "occurred_on": "2025-03-01", "metric": "group_session", "value": 3, "hours": 6},
    ]});
    let (status, body) = r
        .app
        .post("/api/v1/source-records", &r.token, &records)
        .await;
    assert_eq!(status, 200, "{body}");

    // --- aggregated report data -----------------------------------------------------------
    let prior = json!({"organization_id": ORG, "period_id": "2023"});
    r.send(
        "triggerAggregation",
        "/api/v1/aggregated-report-data",
        Some(&prior),
    )
    .await;
    let trigger = r.request("triggerAggregation", |_| {});
    let job = r
        .replay(
            "triggerAggregation",
            "/api/v1/aggregated-report-data",
            Some(trigger),
        )
        .await;
    let snapshot = id(&job, "snapshot_id");
    let detail_path = format!("/api/v1/aggregated-report-data/{snapshot}");
    let app = &r.app;
    r.work_until("the 2024 snapshot", || async {
        let (_, s) = app.get(&detail_path, &r.token).await;
        (s["snapshot_status"] == "current").then_some(())
    })
    .await;
    r.replay("listSnapshots", "/api/v1/aggregated-report-data", None)
        .await;
    let detail = r.replay("getSnapshot", &detail_path, None).await;
    assert_eq!(detail["sections"][0]["fields"][0]["value"], json!(47));
    assert_eq!(
        detail["sections"][0]["fields"][0]["prior_period_value"],
        json!(52)
    );
    // The watch: a change to 2024's data arrives as data_updated.
    let url = r.app.url(&format!(
        "/api/v1/aggregated-report-data/watch?organization_id={ORG}&period_id=2024"
    ));
    let (status, watch) = SseClient::connect(&r.app.client, &url, &r.token, None).await;
    assert_eq!(status, 200);
    let mut watch = watch.unwrap();
    let change = json!({"organization_id": ORG, "data_source": "fagsystem-cis", "records": [
        {"record_id": "c-4", "occurred_on": "2024-05-01", "metric": first.metric, "value": 1}]});
    r.app
        .post("/api/v1/source-records", &r.token, &change)
        .await;
    r.app.drain_workers_except(&["webhooks"]).await;
    let event = loop {
        let event = watch.next().await;
        if event.event.as_deref() == Some("data_updated") {
            break event;
        }
    };
    r.check("watchReportData", &event.data);
    let invalidate = r.request("invalidateSnapshot", |_| {});
    r.replay("invalidateSnapshot", &detail_path, Some(invalidate))
        .await;
    r.app.drain_workers_except(&["webhooks"]).await;

    // --- Bufdir -------------------------------------------------------------------------------
    let credentials = r.request("authenticateBufdir", |_| {});
    r.replay(
        "authenticateBufdir",
        "/api/v1/bufdir-api/authenticate",
        Some(credentials),
    )
    .await;
    let payload = r.request("validateBufdirPayload", |_| {});
    let verdict = r
        .replay(
            "validateBufdirPayload",
            "/api/v1/bufdir-api/validate-payload",
            Some(payload),
        )
        .await;
    assert_eq!(verdict["is_valid"], true, "{verdict}");
    assert_eq!(
        verdict["warnings"],
        json!(["Field 'kontaktperson' is recommended but not present."])
    );
    let submission = r.request("submitToBufdir", |_| {});
    // Delivered while the submit waits: the workers run beside it.
    let submitting = r.send(
        "submitToBufdir",
        "/api/v1/bufdir-api/submit",
        Some(&submission),
    );
    tokio::pin!(submitting);
    let receipt = loop {
        tokio::select! {
            answer = &mut submitting => break answer,
            () = r.app.drain_workers_except(&["webhooks"]) => {
                tokio::task::yield_now().await;
            }
        }
    };
    assert_eq!(receipt["status"], "received", "{receipt}");
    r.check("submitToBufdir", &receipt);
    let reference = id(&receipt, "submission_reference_id");
    let status_path = format!("/api/v1/bufdir-api/submission-status/{reference}");
    r.work_until("Bufdir's verdict", || async {
        let (_, s) = app.get(&status_path, &r.token).await;
        (s["status"] != "received").then_some(())
    })
    .await;
    r.replay("getBufdirSubmissionStatus", &status_path, None)
        .await;

    // --- exports ------------------------------------------------------------------------------
    let create = r.request("createExport", |_| {});
    let queued = r
        .replay(
            "createExport",
            "/api/v1/bufdir-exports",
            Some(create.clone()),
        )
        .await;
    let export = id(&queued, "export_id");
    let export_path = format!("/api/v1/bufdir-exports/{export}");
    r.work_until("the export", || async {
        let (_, e) = app.get(&export_path, &r.token).await;
        (e["status"] == "completed").then_some(())
    })
    .await;
    r.replay("listExports", "/api/v1/bufdir-exports", None)
        .await;
    r.replay("getExport", &export_path, None).await;
    let second = r
        .send("createExport", "/api/v1/bufdir-exports", Some(&create))
        .await;
    let second = format!("/api/v1/bufdir-exports/{}", id(&second, "export_id"));
    let reason = r.request("cancelExport", |_| {});
    r.replay("cancelExport", &format!("{second}/cancel"), Some(reason))
        .await;
    r.replay("retryExport", &format!("{second}/retry"), None)
        .await;

    // --- report history -----------------------------------------------------------------------
    // The completed export recorded its report.
    let report = r
        .work_until("the export's report", || async {
            let (_, list) = app
                .get(&format!("/api/v1/report-history?org_id={ORG}"), &r.token)
                .await;
            list["data"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|rep| rep["export_id"] == export.as_str())
                .map(|rep| id(rep, "report_id"))
        })
        .await;
    let record = r.request("createReportHistory", |_| {});
    let created = r
        .replay(
            "createReportHistory",
            "/api/v1/report-history",
            Some(record),
        )
        .await;
    let created_path = format!("/api/v1/report-history/{}", id(&created, "report_id"));
    let update = r.request("updateReportHistory", |_| {});
    // The renderer left its file in the organisation's own part of the store.
    let key = update["file_ref"].as_str().unwrap();
    let size = update["file_size_bytes"].as_u64().unwrap() as usize;
    r.app.put_file(key, &vec![1u8; size]).await;
    r.replay("updateReportHistory", &created_path, Some(update))
        .await;
    r.replay("listReportHistory", "/api/v1/report-history", None)
        .await;
    let report_path = format!("/api/v1/report-history/{report}");
    r.replay("getReportHistory", &report_path, None).await;
    r.replay(
        "getReportDownloadUrl",
        &format!("{report_path}/download-url"),
        None,
    )
    .await;
    // Deletion waits for the retention period: a report of 2019 has passed it.
    let old = json!({"org_id": ORG, "report_type": "annual_summary",
                     "period_from": "2019-01-01", "period_to": "2019-12-31"});
    let old = r
        .send("createReportHistory", "/api/v1/report-history", Some(&old))
        .await;
    r.replay(
        "deleteReportHistory",
        &format!("/api/v1/report-history/{}", id(&old, "report_id")),
        None,
    )
    .await;

    // --- re-exports ---------------------------------------------------------------------------
    let reexport = r.request("createReexport", |body| {
        body["report_id"] = json!(report);
    });
    let pending = r
        .replay(
            "createReexport",
            "/api/v1/report-reexports",
            Some(reexport.clone()),
        )
        .await;
    let reexport_path = format!("/api/v1/report-reexports/{}", id(&pending, "reexport_id"));
    let done = r.request("updateReexport", |_| {});
    let key = done["output_file_ref"].as_str().unwrap();
    let size = done["output_file_size_bytes"].as_u64().unwrap() as usize;
    r.app.put_file(key, &vec![2u8; size]).await;
    r.replay("updateReexport", &reexport_path, Some(done)).await;
    r.replay("listReexports", "/api/v1/report-reexports", None)
        .await;
    r.replay("getReexport", &reexport_path, None).await;
    let another = r
        .send(
            "createReexport",
            "/api/v1/report-reexports",
            Some(&reexport),
        )
        .await;
    r.replay(
        "cancelReexport",
        &format!("/api/v1/report-reexports/{}", id(&another, "reexport_id")),
        None,
    )
    .await;

    every_empty_optional_query_value_is_absent(&r).await;

    // --- the rest of the deletions -------------------------------------------------------------
    r.replay("deleteExport", &export_path, None).await;
    r.replay("deleteSnapshot", &detail_path, None).await;

    let all: BTreeSet<String> = r.examples.iter().map(|e| e.operation_id.clone()).collect();
    assert_eq!(
        *r.replayed.borrow(),
        all,
        "every operation of the contracts was replayed"
    );
}
