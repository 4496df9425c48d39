//! The live report preview in a real browser: Chromium, headless, driven through WebDriver
//! (chromedriver), against the real binary serving its demo data. `ci/test` runs these where
//! `chromedriver` is installed (`.ci/run` installs it) and always under CI=true.

mod common;
#[path = "../../tests/tests/support/mod.rs"]
mod support;

use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::{Value, json};

use common::{BIN, Listening};

/// What the page may take to follow a change: the issue's bound for a field to update live.
const LIVE: Duration = Duration::from_secs(3);
/// Loading, reconnecting and the like: generous, the machine is shared.
const SLOW: Duration = Duration::from_secs(20);

const FIELD: &str = "antall_bekymringsmeldinger";
const METRIC: &str = "reports_received";

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn serve(data_dir: &Path, bind: &str, env: &[(&str, &str)]) -> Listening {
    let mut cmd = Command::new(BIN);
    cmd.args(["serve", "--bind", bind, "--data-dir"])
        .arg(data_dir)
        .env_remove("DATABASE_URL")
        .env_remove("BUFDIR_API_URL")
        .envs(env.iter().copied());
    common::listening(cmd)
}

fn token(data_dir: &Path, args: &[&str]) -> String {
    let out = Command::new(BIN)
        .arg("token")
        .args(args)
        .arg("--data-dir")
        .arg(data_dir)
        .env_remove("DATABASE_URL")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// chromedriver on a port of its own, and a headless Chromium session through it.
struct Browser {
    driver: Child,
    client: Client,
}

impl Browser {
    async fn start() -> Browser {
        Browser::sized(1280, 2200).await
    }

    /// A browser whose window is `width` × `height` CSS pixels (a phone: 390 wide).
    async fn sized(width: u32, height: u32) -> Browser {
        let port = free_port();
        let driver = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver is installed (Debian: chromium-driver)");
        let url = format!("http://127.0.0.1:{port}");
        let http = reqwest::Client::new();
        for _ in 0..200 {
            if http.get(format!("{url}/status")).send().await.is_ok() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let mut caps = serde_json::Map::new();
        caps.insert(
            "goog:chromeOptions".into(),
            json!({"args": ["--headless=new", "--no-sandbox", "--disable-dev-shm-usage",
                            "--disable-gpu", format!("--window-size={width},{height}")]}),
        );
        let client = ClientBuilder::new(HttpConnector::new())
            .capabilities(caps)
            .connect(&url)
            .await
            .expect("a Chromium session");
        Browser { driver, client }
    }

    async fn wait_for(&self, css: &str, within: Duration) {
        if let Err(e) = self
            .client
            .wait()
            .at_most(within)
            .every(Duration::from_millis(50))
            .for_element(Locator::Css(css))
            .await
        {
            let shot = self.client.screenshot().await.unwrap_or_default();
            let _ = std::fs::write(target_dir().join("preview-failure.png"), shot);
            panic!("{css} did not appear within {within:?}: {e}");
        }
    }

    async fn stop(mut self) {
        let _ = self.client.close().await;
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

fn target_dir() -> std::path::PathBuf {
    // BIN is target/<profile>/bufdir-reporting.
    Path::new(BIN)
        .parent()
        .unwrap()
        .parent()
        .unwrap()
        .to_path_buf()
}

/// The current 2025 snapshot, once the demo's aggregation has made it (polled, as a client
/// of another process would).
async fn snapshot(http: &reqwest::Client, base: &str, token: &str, org: &str) -> Value {
    let url = format!(
        "{base}/api/v1/aggregated-report-data?organization_id={org}&period_id=2025&snapshot_status=current"
    );
    let deadline = std::time::Instant::now() + SLOW;
    let id = loop {
        let list: Value = http
            .get(&url)
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if let Some(id) = list["data"][0]["snapshot_id"].as_str() {
            break id.to_string();
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no current snapshot: {list}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    http.get(format!("{base}/api/v1/aggregated-report-data/{id}"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

fn fields(snapshot: &Value) -> Vec<(String, Value)> {
    snapshot["sections"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| s["fields"].as_array().unwrap().clone())
        .map(|f| {
            (
                f["field_key"].as_str().unwrap().to_string(),
                f["value"].clone(),
            )
        })
        .collect()
}

/// A figure as the page holds it in `data-value` (unformatted; empty when there is none).
fn figure(data_value: Option<String>) -> Option<f64> {
    data_value
        .filter(|v| !v.is_empty())
        .map(|v| v.parse().unwrap())
}

fn kill(server: &mut Listening) {
    server.child.kill().unwrap();
    server.child.wait().unwrap();
}

#[tokio::test]
#[ignore = "needs chromedriver and Chromium; ci/test runs it where they are (always in CI)"]
async fn browser_preview_shows_the_snapshot_and_follows_changes_live() {
    let dir = support::TempSqlite::new();
    let admin = token(&dir.dir, &["--role", "admin"]);
    let mut server = serve(&dir.dir, "127.0.0.1:0", &[]);
    let base = server.base.clone();
    let http = reqwest::Client::new();
    common::wait_ready(&http, &base).await;
    let before = snapshot(&http, &base, &admin, "org-demo").await;
    // The changes card compares with the figures as they stood now, before the page's import.
    let since = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);

    let browser = Browser::start().await;
    let page = &browser.client;
    page.goto(&format!(
        "{base}/preview?token={admin}&org=org-demo&period=2025&lang=nb&since={since}"
    ))
    .await
    .unwrap();
    browser
        .wait_for("#connection[data-state='live']", SLOW)
        .await;
    browser
        .wait_for(&format!("tr[data-field-key='{FIELD}']"), SLOW)
        .await;

    // The token left the address bar for sessionStorage; the view stayed in the URL.
    let url = page.current_url().await.unwrap();
    assert!(!url.as_str().contains("token"), "{url}");
    assert!(url.as_str().contains("org=org-demo") && url.as_str().contains("period=2025"));
    assert!(url.as_str().contains("since="), "{url}");
    browser.wait_for("#changes-state", SLOW).await;
    assert_eq!(
        text_of(page, "#changes-state").await,
        "Ingen tall er endret."
    );

    // The validation ran against Bufdir's rules and says so; every figure shown is the API's.
    browser.wait_for("#validity[data-valid]", SLOW).await;
    let on_page = page
        .execute(
            "return Object.fromEntries([...document.querySelectorAll('tr[data-field-key]')]
                .map(r => [r.dataset.fieldKey, r.querySelector('td.value').dataset.value]))",
            vec![],
        )
        .await
        .unwrap();
    let expected = fields(&before);
    assert_eq!(on_page.as_object().unwrap().len(), expected.len());
    for (key, value) in expected {
        let shown = on_page[&key].as_str().map(str::to_string);
        assert_eq!(figure(shown), value.as_f64(), "{key}");
    }

    // Data arrives through the API; the page follows without a reload, and marks the field.
    let old = before_value(&before);
    let imported = http
        .post(format!("{base}/api/v1/source-records"))
        .bearer_auth(&admin)
        .json(&json!({"organization_id": "org-demo", "data_source": "browser-test", "records": [
            {"record_id": "browser-1", "occurred_on": "2025-06-01", "metric": METRIC, "value": 7}
        ]}))
        .send()
        .await
        .unwrap();
    assert!(imported.status().is_success(), "{}", imported.status());
    let changed = format!(
        "tr[data-field-key='{FIELD}'][data-changed='true'] td.value[data-value='{}']",
        old + 7
    );
    browser.wait_for(&changed, LIVE).await;
    // "Changes since" names the field and, opened, the import that moved it.
    let card = format!("details.change[data-field-key='{FIELD}']");
    browser.wait_for(&card, SLOW).await;
    let summary = text_of(page, &format!("{card} summary")).await;
    assert!(summary.ends_with("(+7)"), "{summary}");
    assert!(
        text_of(page, "#changes-title")
            .await
            .starts_with("Endringer siden ")
    );
    page.find(Locator::Css(&format!("{card} summary")))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let lineage = text_of(page, &format!("{card} ul.lineage li")).await;
    assert!(
        lineage.starts_with("+7 · ") && lineage.contains("(browser-test) · 1 poster"),
        "{lineage}"
    );
    let open = page
        .execute(
            "return document.querySelector(arguments[0]).open",
            vec![json!(card)],
        )
        .await
        .unwrap();
    assert_eq!(open, json!(true));
    let after = snapshot(&http, &base, &admin, "org-demo").await;
    assert_eq!(
        before_value(&after),
        old + 7,
        "the API agrees with the page"
    );

    let shot = page.screenshot().await.unwrap();
    std::fs::write(target_dir().join("preview.png"), shot).unwrap();

    // The server goes away: the page says so, and comes back live when the server does.
    let port = base.rsplit(':').next().unwrap().to_string();
    kill(&mut server);
    browser
        .wait_for(
            "#connection[data-state='reconnecting'], #connection[data-state='offline']",
            SLOW,
        )
        .await;
    let mut server = serve(&dir.dir, &format!("127.0.0.1:{port}"), &[]);
    browser
        .wait_for("#connection[data-state='live']", SLOW)
        .await;
    kill(&mut server);
    browser.stop().await;
}

fn before_value(snapshot: &Value) -> i64 {
    fields(snapshot)
        .into_iter()
        .find(|(k, _)| k == FIELD)
        .and_then(|(_, v)| v.as_i64())
        .unwrap_or(0)
}

#[tokio::test]
#[ignore = "needs chromedriver and Chromium; ci/test runs it where they are (always in CI)"]
async fn browser_preview_offers_only_what_the_token_may_do() {
    let dir = support::TempSqlite::new();
    let viewer = token(&dir.dir, &["--role", "viewer", "--org", "org-demo"]);
    let other = token(
        &dir.dir,
        &["--role", "reporter", "--org", "org-demo-ungdom"],
    );
    let mut server = serve(&dir.dir, "127.0.0.1:0", &[]);
    let base = server.base.clone();
    common::wait_ready(&reqwest::Client::new(), &base).await;
    let browser = Browser::start().await;
    let page = &browser.client;

    // A viewer sees the report but no export or upload.
    page.goto(&format!(
        "{base}/preview?token={viewer}&org=org-demo&period=2025"
    ))
    .await
    .unwrap();
    browser
        .wait_for(&format!("tr[data-field-key='{FIELD}']"), SLOW)
        .await;
    let export = page.find(Locator::Id("export-button")).await.unwrap();
    assert!(
        !export.is_displayed().await.unwrap(),
        "a viewer has no export button"
    );
    let upload = page.find(Locator::Id("upload-button")).await.unwrap();
    assert!(!upload.is_displayed().await.unwrap());

    // Another organisation's token cannot pick org-demo, even when the link names it.
    page.execute("sessionStorage.clear()", vec![])
        .await
        .unwrap();
    page.goto(&format!(
        "{base}/preview?token={other}&org=org-demo&period=2025"
    ))
    .await
    .unwrap();
    browser
        .wait_for("#org option[value='org-demo-ungdom']", SLOW)
        .await;
    let options = page
        .execute(
            "return [...document.querySelectorAll('#org option')].map(o => o.value)",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(options, json!(["org-demo-ungdom"]));
    browser.wait_for("#report-title:not(:empty)", SLOW).await;
    let url = page.current_url().await.unwrap();
    assert!(url.as_str().contains("org=org-demo-ungdom"), "{url}");
    browser.stop().await;
    kill(&mut server);
}

async fn source_record_total(http: &reqwest::Client, base: &str, token: &str) -> u64 {
    let list: Value = http
        .get(format!(
            "{base}/api/v1/source-records?organization_id=org-demo&limit=1"
        ))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    list["pagination"]["total"].as_u64().unwrap()
}

#[tokio::test]
#[ignore = "needs chromedriver and Chromium; ci/test runs it where they are (always in CI)"]
async fn browser_preview_uploads_refuse_bad_rows_and_exports_end_in_a_download() {
    let dir = support::TempSqlite::new();
    let admin = token(&dir.dir, &["--role", "admin"]);
    let mut server = serve(&dir.dir, "127.0.0.1:0", &[]);
    let base = server.base.clone();
    let http = reqwest::Client::new();
    common::wait_ready(&http, &base).await;
    let stored = source_record_total(&http, &base, &admin).await;
    let browser = Browser::start().await;
    let page = &browser.client;
    page.goto(&format!(
        "{base}/preview?token={admin}&org=org-demo&period=2025"
    ))
    .await
    .unwrap();
    browser.wait_for("#validity[data-valid]", SLOW).await;

    // A file with one bad row among good ones: each error is listed, nothing is stored.
    let csv = dir.dir.join("upload.csv");
    std::fs::write(
        &csv,
        format!(
            "record_id;occurred_on;metric;value;hours\r\nu1;2025-02-01;{METRIC};2;\r\n\
             u2;2025-13-45;{METRIC};2;\r\nu3;2025-02-03;no_such_metric;1;\r\n"
        ),
    )
    .unwrap();
    page.find(Locator::Id("upload-file"))
        .await
        .unwrap()
        .send_keys(csv.to_str().unwrap())
        .await
        .unwrap();
    page.find(Locator::Id("upload-button"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    browser.wait_for("#upload-errors li", SLOW).await;
    let errors = page
        .execute(
            "return [...document.querySelectorAll('#upload-errors li code')].map(c => c.textContent)",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(errors.as_array().unwrap().len(), 2, "{errors}");
    assert_eq!(source_record_total(&http, &base, &admin).await, stored);

    // An export followed to its link, which downloads the file.
    page.find(Locator::Id("export-button"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    browser.wait_for("#export-link", SLOW).await;
    let link = page
        .find(Locator::Id("export-link"))
        .await
        .unwrap()
        .attr("href")
        .await
        .unwrap()
        .unwrap();
    let file = http.get(&link).send().await.unwrap();
    assert_eq!(file.status(), 200, "{link}");
    assert!(
        file.bytes().await.unwrap().starts_with(b"PK"),
        "an xlsx is a zip"
    );
    browser.stop().await;
    kill(&mut server);
}

/// A page of someone else's front end: served from its own port, it lists snapshots with
/// `fetch` and bearer auth and opens the watch, and writes what happened on `<body>`.
fn front_end_page(api: &str, token: &str) -> String {
    format!(
        r#"<!doctype html><html><body><script>
const api = "{api}", token = "{token}";
const mark = (k, v) => document.body.setAttribute("data-" + k, v);
fetch(api + "/api/v1/aggregated-report-data?organization_id=org-demo",
      {{headers: {{Authorization: "Bearer " + token}}}})
  .then(r => r.json()).then(j => mark("fetch", "ok:" + j.data.length))
  .catch(() => mark("fetch", "refused"));
const watch = new EventSource(api + "/api/v1/aggregated-report-data/watch?organization_id=org-demo&period_id=2025&access_token=" + token);
watch.onopen = () => mark("watch", "open");
watch.onerror = () => {{ if (watch.readyState === EventSource.CLOSED) mark("watch", "refused"); }};
</script></body></html>"#
    )
}

/// Serves `page` to every request on a port of its own, until the process ends.
fn serve_page(page: String) -> String {
    use std::io::{Read, Write};
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let origin = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut request = [0u8; 4096];
            let _ = stream.read(&mut request);
            let _ = write!(
                stream,
                "HTTP/1.1 200 OK\r\ncontent-type: text/html\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{page}",
                page.len()
            );
        }
    });
    origin
}

#[tokio::test]
#[ignore = "needs chromedriver and Chromium; ci/test runs it where they are (always in CI)"]
async fn browser_front_ends_on_allowed_origins_call_the_api_and_others_are_refused() {
    let dir = support::TempSqlite::new();
    let admin = token(&dir.dir, &["--role", "admin"]);
    // The API's port must be known before the pages that call it are written.
    let port = free_port();
    let api = format!("http://127.0.0.1:{port}");
    let allowed = serve_page(front_end_page(&api, &admin));
    let refused = serve_page(front_end_page(&api, &admin));
    let mut server = serve(
        &dir.dir,
        &format!("127.0.0.1:{port}"),
        &[("CORS_ALLOWED_ORIGINS", allowed.as_str())],
    );
    common::wait_ready(&reqwest::Client::new(), &server.base).await;
    let browser = Browser::start().await;
    let page = &browser.client;

    page.goto(&allowed).await.unwrap();
    browser.wait_for("body[data-fetch][data-watch]", SLOW).await;
    let body = page.find(Locator::Css("body")).await.unwrap();
    let fetched = body.attr("data-fetch").await.unwrap().unwrap();
    assert!(fetched.starts_with("ok:") && fetched != "ok:0", "{fetched}");
    assert_eq!(
        body.attr("data-watch").await.unwrap().as_deref(),
        Some("open")
    );

    page.goto(&refused).await.unwrap();
    browser.wait_for("body[data-fetch][data-watch]", SLOW).await;
    let body = page.find(Locator::Css("body")).await.unwrap();
    assert_eq!(
        body.attr("data-fetch").await.unwrap().as_deref(),
        Some("refused")
    );
    assert_eq!(
        body.attr("data-watch").await.unwrap().as_deref(),
        Some("refused")
    );
    browser.stop().await;
    kill(&mut server);
}

/// The text of the element `css`, read in one step (the page redraws as it follows changes).
async fn text_of(page: &Client, css: &str) -> String {
    let text = page
        .execute(
            "const e = document.querySelector(arguments[0]); return e ? e.textContent : null",
            vec![json!(css)],
        )
        .await
        .unwrap();
    text.as_str()
        .unwrap_or_else(|| panic!("no {css} on the page"))
        .to_string()
}

/// What the page's own formatting makes of a number and a moment.
async fn formats_on(page: &Client) -> Value {
    page.execute(
        "return [number(1234.5), time('2026-12-07T19:57:15Z')]",
        vec![],
    )
    .await
    .unwrap()
}

#[tokio::test]
#[ignore = "needs chromedriver and Chromium; ci/test runs it where they are (always in CI)"]
async fn browser_preview_speaks_nynorsk_and_english_and_an_approver_approves_from_it() {
    let dir = support::TempSqlite::new();
    let admin = token(&dir.dir, &["--role", "admin"]);
    let approver = token(
        &dir.dir,
        &["--role", "approver", "--org", "org-demo", "--sub", "kari"],
    );
    let mut server = serve(&dir.dir, "127.0.0.1:0", &[]);
    let base = server.base.clone();
    let http = reqwest::Client::new();
    common::wait_ready(&http, &base).await;
    let set = http
        .put(format!(
            "{base}/api/v1/organizations/org-demo/approval-policy"
        ))
        .bearer_auth(&admin)
        .json(&json!({"requirements": [{"role": "approver", "count": 1}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(set.status(), 200);

    // Nynorsk on a phone: texts, statuses, findings, numbers and dates, in Norwegian time.
    let browser = Browser::sized(390, 2400).await;
    let page = &browser.client;
    page.goto(&format!(
        "{base}/preview?token={approver}&org=org-demo&period=2025&lang=nn"
    ))
    .await
    .unwrap();
    browser.wait_for("#validity[data-valid]", SLOW).await;
    browser
        .wait_for("#signoff-state[data-ready='false']", SLOW)
        .await;
    assert_eq!(text_of(page, "#snapshot-status").await, "gjeldande");
    assert_eq!(
        text_of(page, "#signoff-state").await,
        "Manglar godkjenning frå 1 godkjennar."
    );
    let findings = text_of(page, "#validation-result").await;
    assert!(findings.contains("tilrådd, men manglar"), "{findings}");
    assert!(!findings.contains("anbefales"), "{findings}");
    assert_eq!(
        formats_on(page).await,
        json!(["1\u{a0}234,5", "7. des. 2026, 20:57:15"])
    );
    // The period's deadline beside the validation, in Nynorsk, with its countdown.
    browser.wait_for("#deadline-state[data-status]", SLOW).await;
    let deadline = text_of(page, "#deadline-state").await;
    assert!(deadline.starts_with("Frist 1. mars 2026 · "), "{deadline}");
    let status = page
        .execute(
            "return document.querySelector('#deadline-state').dataset.status",
            vec![],
        )
        .await
        .unwrap();
    let expected = match status.as_str().unwrap() {
        "missed" => "ikkje sendt, fristen er ute · for ",
        "submitted_late" => "sendt for seint",
        "submitted_on_time" => "sendt i tide",
        other => panic!("2025 is past due, not {other}"),
    };
    assert!(deadline.contains(expected), "{deadline}");
    if status == "missed" {
        assert!(deadline.ends_with(" dagar sidan"), "{deadline}");
    }
    let updated = text_of(page, "#last-updated").await;
    assert!(
        updated.starts_with("Sist oppdatert: ") && !updated.contains('M'),
        "{updated}"
    );

    // The approver approves what the page shows, and the page says the report may go.
    page.find(Locator::Id("approve-comment"))
        .await
        .unwrap()
        .send_keys("Sett over")
        .await
        .unwrap();
    page.find(Locator::Id("approve-button"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    browser
        .wait_for("#approvals li[data-status='standing']", SLOW)
        .await;
    browser
        .wait_for("#signoff-state[data-ready='true']", SLOW)
        .await;
    let approval = text_of(page, "#approvals li").await;
    assert!(
        approval.starts_with("Godkjend av kari (godkjennar)"),
        "{approval}"
    );
    let shown: Value = http
        .get(format!(
            "{base}/api/v1/organizations/org-demo/sign-offs/2025"
        ))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(shown["ready"], true, "the API agrees with the page");
    assert_eq!(shown["approvals"][0]["comment"], "Sett over");

    // The same page in English.
    page.goto(&format!("{base}/preview?org=org-demo&period=2025&lang=en"))
        .await
        .unwrap();
    browser
        .wait_for("#signoff-state[data-ready='true']", SLOW)
        .await;
    assert_eq!(text_of(page, "#snapshot-status").await, "current");
    assert_eq!(
        text_of(page, "#signoff-state").await,
        "Approved: the report may be submitted."
    );
    assert_eq!(
        formats_on(page).await,
        json!(["1,234.5", "7 Dec 2026, 20:57:15"])
    );
    browser.wait_for("#deadline-state[data-status]", SLOW).await;
    let deadline = text_of(page, "#deadline-state").await;
    assert!(deadline.starts_with("Due 1 Mar 2026 · "), "{deadline}");
    browser.stop().await;
    kill(&mut server);
}
