//! Tenant isolation and auth, endpoint by endpoint: without a token, or with an expired, tampered
//! or foreign-signed one, every operation is a 401; another organisation's caller finds nothing
//! of this organisation (404 on its resources, none of its data in lists); a viewer may not write
//! (403). None of these refusals changes anything in the log.

use api::http::auth::{Keys, Role};
use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{TestApp, read, spawn_app, spawn_app_on_postgres};
use crate::report_history::{count_field, export_2025, import, report_of};

const A: &str = "org-a";
const B: &str = "org-b";

/// What organisation A owns, for the table.
struct Owned {
    snapshot: String,
    export: String,
    report: String,
    reexport: String,
    /// The report's file in the store, and its size.
    file: (String, u64),
}

async fn seed(app: &TestApp) -> Owned {
    assert_eq!(app.create_org(A, "986128433").await.0, 201);
    assert_eq!(app.create_org(B, "991825827").await.0, 201);
    let (_, metric) = count_field();
    import(app, A, &metric, &[("a-record-1", "2025-03-01", 10.0)]).await;
    let (status, snapshot) = app
        .post(
            "/api/v1/aggregated-report-data",
            &app.admin,
            &json!({"organization_id": A, "period_id": "2025"}),
        )
        .await;
    assert!(status == 200 || status == 202, "{snapshot}");
    let export = export_2025(app, A, "csv").await;
    let export_id = export["export_id"].as_str().unwrap().to_string();
    let report = report_of(app, A, &export_id).await;
    let report_id = report["report_id"].as_str().unwrap().to_string();
    let (status, reexport) = app
        .post(
            "/api/v1/report-reexports",
            &app.admin,
            &json!({"report_id": report_id}),
        )
        .await;
    assert_eq!(status, 202, "{reexport}");
    Owned {
        snapshot: snapshot["snapshot_id"].as_str().unwrap().to_string(),
        export: export_id,
        report: report_id,
        reexport: reexport["reexport_id"].as_str().unwrap().to_string(),
        file: (
            report["file_ref"].as_str().unwrap().to_string(),
            report["file_size_bytes"].as_u64().unwrap(),
        ),
    }
}

/// How a caller of another organisation is answered.
#[derive(Clone, Copy, Debug)]
enum Foreign {
    /// The resource does not exist for them.
    NotFound,
    /// A list: answered, without any of A's data (or 404 when the filter names A).
    Filtered,
    /// The operation is not for their role at all.
    Forbidden,
}

struct Case {
    method: Method,
    path: String,
    body: Option<Value>,
    write: bool,
    foreign: Foreign,
}

fn case(method: Method, path: &str, body: Option<Value>, write: bool, foreign: Foreign) -> Case {
    Case {
        method,
        path: path.to_string(),
        body,
        write,
        foreign,
    }
}

/// Every operation of the API, aimed at organisation A's resources.
fn table(o: &Owned) -> Vec<Case> {
    use Foreign::*;
    let (get, post, put, delete) = (Method::GET, Method::POST, Method::PUT, Method::DELETE);
    let snap = format!("/api/v1/aggregated-report-data/{}", o.snapshot);
    let exp = format!("/api/v1/bufdir-exports/{}", o.export);
    let rpt = format!("/api/v1/report-history/{}", o.report);
    let rex = format!("/api/v1/report-reexports/{}", o.reexport);
    let hook = format!("/api/v1/organizations/{A}/webhook");
    let sign_off = format!("/api/v1/organizations/{A}/sign-offs/2025");
    let calendar = format!("/api/v1/organizations/{A}/calendar");
    let feeds = format!("/api/v1/organizations/{A}/calendar-feeds");
    let records = json!({"organization_id": A, "data_source": "x", "records": [
        {"record_id": "evil", "occurred_on": "2025-01-01", "metric": count_field().1, "value": 1}]});
    let export = json!({"org_id": A, "format": "csv", "period_from": "2025-01-01",
                        "period_to": "2025-12-31"});
    let report = json!({"org_id": A, "report_type": "annual_summary",
                        "period_from": "2024-01-01", "period_to": "2024-12-31"});
    let submit = json!({"org_id": A, "report_id": "r", "payload_version": "bufdir_2025_v2",
                        "payload": {}});
    vec![
        case(
            post.clone(),
            "/api/v1/organizations",
            Some(json!({"org_id": "org-new",
            "name": "New", "organisasjonsnummer": "123456785"})),
            true,
            Forbidden,
        ),
        case(get.clone(), "/api/v1/organizations", None, false, Filtered),
        case(
            get.clone(),
            &format!("/api/v1/organizations/{A}"),
            None,
            false,
            NotFound,
        ),
        case(
            post.clone(),
            "/api/v1/source-records",
            Some(records),
            true,
            NotFound,
        ),
        case(
            get.clone(),
            &format!("/api/v1/source-records?organization_id={A}"),
            None,
            false,
            Filtered,
        ),
        case(
            get.clone(),
            &format!("/api/v1/aggregated-report-data/watch?organization_id={A}&period_id=2025"),
            None,
            false,
            NotFound,
        ),
        case(
            get.clone(),
            "/api/v1/aggregated-report-data",
            None,
            false,
            Filtered,
        ),
        case(
            get.clone(),
            &format!("/api/v1/aggregated-report-data?organization_id={A}"),
            None,
            false,
            Filtered,
        ),
        case(
            post.clone(),
            "/api/v1/aggregated-report-data",
            Some(json!({"organization_id": A, "period_id": "2025", "force_reaggregate": true})),
            true,
            NotFound,
        ),
        case(get.clone(), &snap, None, false, NotFound),
        case(
            put.clone(),
            &snap,
            Some(json!({"invalidate_cache": true, "reason": "x"})),
            true,
            NotFound,
        ),
        case(delete.clone(), &snap, None, true, NotFound),
        case(
            post.clone(),
            "/api/v1/bufdir-api/authenticate",
            Some(json!({"org_id": A, "client_id": "c", "client_secret": "s"})),
            true,
            NotFound,
        ),
        case(
            post.clone(),
            "/api/v1/bufdir-api/submit",
            Some(submit),
            true,
            NotFound,
        ),
        case(
            get.clone(),
            "/api/v1/bufdir-api/submission-status/ref-unknown",
            None,
            false,
            NotFound,
        ),
        case(
            post.clone(),
            "/api/v1/bufdir-exports",
            Some(export),
            true,
            NotFound,
        ),
        case(get.clone(), "/api/v1/bufdir-exports", None, false, Filtered),
        case(
            get.clone(),
            &format!("/api/v1/bufdir-exports?org_id={A}"),
            None,
            false,
            Filtered,
        ),
        case(get.clone(), &exp, None, false, NotFound),
        case(
            put.clone(),
            &format!("{exp}/cancel"),
            Some(json!({"reason": "x"})),
            true,
            NotFound,
        ),
        case(post.clone(), &format!("{exp}/retry"), None, true, NotFound),
        case(delete.clone(), &exp, None, true, NotFound),
        case(get.clone(), "/api/v1/report-history", None, false, Filtered),
        case(
            get.clone(),
            &format!("/api/v1/report-history?org_id={A}"),
            None,
            false,
            Filtered,
        ),
        case(
            post.clone(),
            "/api/v1/report-history",
            Some(report),
            true,
            NotFound,
        ),
        case(get.clone(), &rpt, None, false, NotFound),
        case(
            put.clone(),
            &rpt,
            Some(json!({"status": "failed"})),
            true,
            NotFound,
        ),
        case(delete.clone(), &rpt, None, true, NotFound),
        case(
            put.clone(),
            &format!("{rpt}/upload"),
            Some(json!("bytes")),
            true,
            NotFound,
        ),
        case(
            get.clone(),
            &format!("{rpt}/download-url"),
            None,
            false,
            NotFound,
        ),
        case(
            get.clone(),
            "/api/v1/report-reexports",
            None,
            false,
            Filtered,
        ),
        case(
            get.clone(),
            &format!("/api/v1/report-reexports?org_id={A}"),
            None,
            false,
            Filtered,
        ),
        case(
            post.clone(),
            "/api/v1/report-reexports",
            Some(json!({"report_id": o.report})),
            true,
            NotFound,
        ),
        case(get.clone(), &rex, None, false, NotFound),
        case(
            put.clone(),
            &rex,
            Some(json!({"status": "running"})),
            true,
            NotFound,
        ),
        case(delete.clone(), &rex, None, true, NotFound),
        case(
            put.clone(),
            &format!("{rex}/upload"),
            Some(json!("bytes")),
            true,
            NotFound,
        ),
        case(
            get.clone(),
            &format!("/api/v1/report-reexports?report_id={}", o.report),
            None,
            false,
            Filtered,
        ),
        case(
            put.clone(),
            &hook,
            Some(json!({"url": "https://evil.example"})),
            true,
            NotFound,
        ),
        case(get.clone(), &hook, None, false, NotFound),
        case(delete.clone(), &hook, None, true, NotFound),
        case(
            put.clone(),
            &format!("/api/v1/organizations/{A}/approval-policy"),
            Some(json!({"requirements": []})),
            true,
            NotFound,
        ),
        case(get.clone(), &sign_off, None, false, NotFound),
        case(
            get.clone(),
            &format!("/api/v1/organizations/{A}/deadlines"),
            None,
            false,
            NotFound,
        ),
        case(
            get.clone(),
            &format!("/api/v1/organizations/{A}/deadlines.ics"),
            None,
            false,
            NotFound,
        ),
        case(
            get.clone(),
            &format!("/api/v1/organizations/{A}/report-diffs/2025?from_version=position:0"),
            None,
            false,
            NotFound,
        ),
        case(
            get.clone(),
            &format!(
                "/api/v1/organizations/{A}/report-diffs/2025/imports/1/records?field_key={}",
                count_field().0
            ),
            None,
            false,
            NotFound,
        ),
        case(get.clone(), &calendar, None, false, NotFound),
        case(
            put.clone(),
            &calendar,
            Some(json!({"rules": [{"cadence": "annual", "due": {"days_after_end": 10}}]})),
            true,
            NotFound,
        ),
        case(delete.clone(), &calendar, None, true, NotFound),
        case(post.clone(), &feeds, None, true, NotFound),
        // Only admins see the links: a viewer's read is refused like a write.
        case(get.clone(), &feeds, None, true, NotFound),
        case(
            delete.clone(),
            &format!("{feeds}/feed_0"),
            None,
            true,
            NotFound,
        ),
        case(
            post.clone(),
            &format!("{sign_off}/approvals"),
            Some(json!({"role": "approver", "payload_digest": "0"})),
            true,
            NotFound,
        ),
        case(
            delete.clone(),
            &format!("{sign_off}/approvals/apr_0"),
            None,
            true,
            NotFound,
        ),
        case(get.clone(), "/api/v1/audit/events", None, false, Forbidden),
        case(
            get.clone(),
            &format!("/api/v1/audit/events?org={A}"),
            None,
            false,
            Forbidden,
        ),
    ]
}

async fn call(app: &TestApp, c: &Case, token: Option<&str>) -> (u16, Value) {
    let mut request = app.client.request(c.method.clone(), app.url(&c.path));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    if let Some(body) = &c.body {
        request = request.json(body);
    }
    read(request.send().await.unwrap()).await
}

/// A's identifiers that must never reach another organisation.
fn secrets(o: &Owned) -> Vec<String> {
    vec![
        A.into(),
        "a-record-1".into(),
        o.snapshot.clone(),
        o.export.clone(),
        o.report.clone(),
        o.reexport.clone(),
    ]
}

#[tokio::test]
async fn no_operation_lets_a_caller_past_its_token_organisation_or_role() {
    no_operation_crosses_organisations(spawn_app().await).await;
}

#[tokio::test]
#[ignore = "needs PostgreSQL: run ci/test, or set TEST_DATABASE_URL and pass --run-ignored all"]
async fn no_operation_lets_a_caller_past_its_token_organisation_or_role_on_postgres() {
    let app = spawn_app_on_postgres().await;
    no_operation_crosses_organisations(app).await;
}

/// A token for (subject, organisations, roles, seconds to live).
pub type Mint = Box<dyn Fn(&str, Vec<String>, Vec<Role>, i64) -> String + Send + Sync>;

/// Who signs the tokens of the matrix: the service's own secret, or an identity provider.
pub struct Minter {
    pub mint: Mint,
    /// The same, signed with a key the service does not trust.
    pub foreign: Mint,
}

async fn no_operation_crosses_organisations(app: TestApp) {
    let keys = app.keys.clone();
    let minter = Minter {
        mint: Box::new(move |s, o, r, t| keys.mint(s, o, r, t)),
        foreign: Box::new(|s, o, r, t| {
            Keys::from_secret(b"another-secret-another-secret-!!").mint(s, o, r, t)
        }),
    };
    no_operation_crosses_organisations_with(app, minter).await;
}

pub async fn no_operation_crosses_organisations_with(app: TestApp, minter: Minter) {
    let owned = seed(&app).await;
    let cases = table(&owned);
    let head = app.state.db.events.head().await.unwrap();

    let all_roles = [
        Role::Viewer,
        Role::Reporter,
        Role::Service,
        Role::Approver,
        Role::Auditor,
    ];
    let mint = &minter.mint;
    let expired = mint("u", vec![A.into()], vec![Role::Admin], -120);
    let valid = mint("u", vec![A.into()], vec![Role::Admin], 3600);
    let (body, signature) = valid.rsplit_once('.').unwrap();
    let flipped = if signature.starts_with('A') { "B" } else { "A" };
    let tampered = format!("{body}.{flipped}{}", &signature[1..]);
    let claims_changed = {
        let mut parts: Vec<&str> = valid.split('.').collect();
        let other = mint("u", vec![B.into()], vec![Role::Admin], 3600);
        let other_claims = other.split('.').nth(1).unwrap().to_string();
        parts[1] = &other_claims;
        parts.join(".")
    };
    let foreign_key = (minter.foreign)("u", vec![A.into()], vec![Role::Admin], 3600);
    let bad_tokens = [
        ("expired", expired),
        ("tampered signature", tampered),
        ("claims swapped", claims_changed),
        ("signed by another key", foreign_key),
        ("not a JWT", "garbage".to_string()),
    ];
    let other_org = mint("user-b", vec![B.into()], all_roles.to_vec(), 3600);
    let viewer = mint("viewer-a", vec![A.into()], vec![Role::Viewer], 3600);
    let never_seen = secrets(&owned);

    for c in &cases {
        let what = format!("{} {}", c.method, c.path);
        let (status, problem) = call(&app, c, None).await;
        assert_eq!(status, 401, "{what} without a token: {problem}");
        for (kind, token) in &bad_tokens {
            let (status, problem) = call(&app, c, Some(token)).await;
            assert_eq!(status, 401, "{what} with a token {kind}: {problem}");
        }

        let (status, body) = call(&app, c, Some(&other_org)).await;
        match c.foreign {
            Foreign::NotFound => assert_eq!(status, 404, "{what} from another org: {body}"),
            Foreign::Forbidden => assert_eq!(status, 403, "{what} from another org: {body}"),
            Foreign::Filtered => {
                assert!(
                    status == 200 || status == 404,
                    "{what} from another org: {status} {body}"
                );
                if status == 200 {
                    assert_eq!(
                        body["data"].as_array().map(Vec::len).unwrap_or(0) > 0,
                        body["data"].to_string().contains(B),
                        "{what}: only B's own data: {body}"
                    );
                }
            }
        }
        let text = body.to_string();
        for secret in &never_seen {
            assert!(
                !text.contains(secret.as_str()),
                "{what} showed {secret} to another org: {text}"
            );
        }

        if c.write {
            let (status, problem) = call(&app, c, Some(&viewer)).await;
            assert_eq!(status, 403, "{what} by a viewer: {problem}");
        }
    }
    assert_eq!(
        app.state.db.events.head().await.unwrap(),
        head,
        "no refused request wrote anything"
    );
}

#[tokio::test]
async fn oversized_bodies_and_headers_are_refused_cleanly() {
    let app = spawn_app().await;
    assert_eq!(app.create_org(A, "986128433").await.0, 201);
    let head = app.state.db.events.head().await.unwrap();
    let huge = format!(
        "{{\"organization_id\":\"{A}\",\"data_source\":\"x\",\"records\":[],\"pad\":\"{}\"}}",
        "x".repeat(17 * 1024 * 1024)
    );
    let r = app
        .client
        .post(app.url("/api/v1/source-records"))
        .bearer_auth(&app.admin)
        .header("content-type", "application/json")
        .body(huge)
        .send()
        .await
        .unwrap();
    let (status, problem) = read(r).await;
    assert_eq!(status, 413, "{problem}");

    let r = app
        .client
        .get(app.url("/api/v1/organizations"))
        .bearer_auth(&app.admin)
        .header("x-padding", "y".repeat(64 * 1024))
        .send()
        .await;
    let (status, problem) = read(r.unwrap()).await;
    assert_eq!(status, 431, "a 64 KiB header is too large: {problem}");
    assert_eq!(app.state.db.events.head().await.unwrap(), head);
    // The server is still well.
    let (status, _) = app.get("/api/v1/organizations", &app.admin).await;
    assert_eq!(status, 200);
}

/// A request of organisation B's caller that names one of A's objects in its body or query.
struct Naming {
    what: &'static str,
    method: Method,
    path: String,
    body: Value,
    status: u16,
    /// The field a 422 names.
    field: Option<&'static str>,
}

#[tokio::test]
async fn no_body_field_or_file_reference_reaches_another_organisation() {
    body_fields_stay_in_their_organisation(spawn_app().await).await;
}

#[tokio::test]
#[ignore = "needs PostgreSQL: run ci/test, or set TEST_DATABASE_URL and pass --run-ignored all"]
async fn no_body_field_or_file_reference_reaches_another_organisation_on_postgres() {
    let app = spawn_app_on_postgres().await;
    body_fields_stay_in_their_organisation(app).await;
}

async fn body_fields_stay_in_their_organisation(app: TestApp) {
    let a = seed(&app).await;
    // B's own report and re-export, which B's caller may change, aimed at A's objects.
    let (_, metric) = count_field();
    import(&app, B, &metric, &[("b-record-1", "2025-04-01", 3.0)]).await;
    let b_export = export_2025(&app, B, "csv").await;
    let b_report = report_of(&app, B, b_export["export_id"].as_str().unwrap()).await;
    let (status, b_reexport) = app
        .post(
            "/api/v1/report-reexports",
            &app.admin,
            &json!({"report_id": b_report["report_id"]}),
        )
        .await;
    assert_eq!(status, 202, "{b_reexport}");
    let b_pending = {
        let body = json!({"org_id": B, "report_type": "annual_summary",
                          "period_from": "2024-01-01", "period_to": "2024-12-31"});
        let (status, created) = app.post("/api/v1/report-history", &app.admin, &body).await;
        assert_eq!(status, 201, "{created}");
        created["report_id"].as_str().unwrap().to_string()
    };
    let (a_key, a_size) = a.file.clone();
    let b_rex = format!(
        "/api/v1/report-reexports/{}",
        b_reexport["reexport_id"].as_str().unwrap()
    );
    let post = Method::POST;
    let put = Method::PUT;
    let cases = vec![
        Naming {
            what: "A's file attached to B's report",
            method: put.clone(),
            path: format!("/api/v1/report-history/{b_pending}"),
            body: json!({"status": "completed", "file_ref": a_key, "file_size_bytes": a_size}),
            status: 422,
            field: Some("file_ref"),
        },
        Naming {
            what: "A's file in a new report of B",
            method: post.clone(),
            path: "/api/v1/report-history".into(),
            body: json!({"org_id": B, "report_type": "annual_summary", "period_from": "2023-01-01",
                         "period_to": "2023-12-31", "status": "completed", "file_ref": a_key,
                         "file_size_bytes": a_size}),
            status: 422,
            field: Some("file_ref"),
        },
        Naming {
            what: "A's file as B's re-export result",
            method: put.clone(),
            path: b_rex.clone(),
            body: json!({"status": "completed", "output_file_ref": a_key,
                         "output_file_size_bytes": a_size}),
            status: 422,
            field: Some("output_file_ref"),
        },
        Naming {
            what: "A's export file as B's re-export result",
            method: put.clone(),
            path: b_rex.clone(),
            body: json!({"status": "completed",
                         "output_file_ref": format!("exports/{}/1/report.csv", a.export),
                         "output_file_size_bytes": 1}),
            status: 422,
            field: Some("output_file_ref"),
        },
        Naming {
            what: "a re-export of A's report",
            method: post.clone(),
            path: "/api/v1/report-reexports".into(),
            body: json!({"report_id": a.report}),
            status: 404,
            field: None,
        },
        Naming {
            what: "B's submission tied to A's report",
            method: post.clone(),
            path: "/api/v1/bufdir-api/submit".into(),
            body: json!({"org_id": B, "report_id": a.report, "payload_version": "bufdir_2025_v2",
                         "payload": {}}),
            status: 422,
            field: Some("/report_id"),
        },
        Naming {
            what: "B's submission tied to A's export",
            method: post.clone(),
            path: "/api/v1/bufdir-api/submit".into(),
            body: json!({"org_id": B, "report_id": a.export, "payload_version": "bufdir_2025_v2",
                         "payload": {}}),
            status: 422,
            field: Some("/report_id"),
        },
        Naming {
            what: "an export for A",
            method: post.clone(),
            path: "/api/v1/bufdir-exports".into(),
            body: json!({"org_id": A, "format": "csv", "period_from": "2025-01-01",
                         "period_to": "2025-12-31"}),
            status: 404,
            field: None,
        },
        Naming {
            what: "records into A",
            method: post.clone(),
            path: "/api/v1/source-records".into(),
            body: json!({"organization_id": A, "data_source": "x", "records": []}),
            status: 404,
            field: None,
        },
        Naming {
            what: "a snapshot of A",
            method: post.clone(),
            path: "/api/v1/aggregated-report-data".into(),
            body: json!({"organization_id": A, "period_id": "2025"}),
            status: 404,
            field: None,
        },
        Naming {
            what: "Bufdir credentials for A",
            method: post.clone(),
            path: "/api/v1/bufdir-api/authenticate".into(),
            body: json!({"org_id": A, "client_id": "c", "client_secret": "s"}),
            status: 404,
            field: None,
        },
        Naming {
            what: "a report of A",
            method: post.clone(),
            path: "/api/v1/report-history".into(),
            body: json!({"org_id": A, "report_type": "annual_summary",
                         "period_from": "2023-01-01", "period_to": "2023-12-31"}),
            status: 404,
            field: None,
        },
    ];
    // Every role B's caller could have, so only the organisation stands in the way.
    let caller_b = app.keys.mint(
        "user-b",
        vec![B.into()],
        vec![Role::Reporter, Role::Service],
        3600,
    );
    let head = app.state.db.events.head().await.unwrap();
    for c in &cases {
        let r = app
            .client
            .request(c.method.clone(), app.url(&c.path))
            .bearer_auth(&caller_b)
            .json(&c.body)
            .send()
            .await
            .unwrap();
        let (status, problem) = read(r).await;
        assert_eq!(status, c.status, "{}: {problem}", c.what);
        if let Some(field) = c.field {
            assert_eq!(
                problem["errors"][0]["field"], field,
                "{}: {problem}",
                c.what
            );
        }
        let text = problem.to_string();
        for secret in secrets(&a) {
            if secret != A {
                assert!(
                    !text.contains(secret.as_str()) || c.body.to_string().contains(&secret),
                    "{}: showed {secret}: {text}",
                    c.what
                );
            }
        }
    }
    assert_eq!(
        app.state.db.events.head().await.unwrap(),
        head,
        "no refused request wrote anything"
    );

    // An idempotency key is the caller's own: the same subject, key and body from another
    // organisation never replays A's stored answer.
    let key = "shared-key-1";
    let body = json!({"org_id": A, "report_type": "annual_summary",
                      "period_from": "2022-01-01", "period_to": "2022-12-31"});
    let same_sub = |org: &str| {
        app.keys
            .mint("kari", vec![org.into()], vec![Role::Reporter], 3600)
    };
    let send = |token: String| {
        app.client
            .post(app.url("/api/v1/report-history"))
            .bearer_auth(token)
            .header("Idempotency-Key", key)
            .json(&body)
            .send()
    };
    let first = send(same_sub(A)).await.unwrap();
    assert_eq!(first.status(), 201);
    let head = app.state.db.events.head().await.unwrap();
    let replay = send(same_sub(B)).await.unwrap();
    assert!(replay.headers().get("Idempotent-Replayed").is_none());
    let (status, problem) = read(replay).await;
    assert_eq!(
        status, 404,
        "B's caller is refused, not replayed A's answer: {problem}"
    );
    assert_eq!(app.state.db.events.head().await.unwrap(), head);
}
