use chrono::Duration;

use super::*;
use crate::testing::{given, state_after};

fn t(s: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(1_800_000_000 + s, 0).unwrap()
}

fn requested() -> Vec<ExportEvent> {
    let request = ExportRequest {
        org_id: OrgId::parse("org_1").unwrap(),
        format: ExportFormat::Excel,
        period_from: NaiveDate::from_ymd_opt(2025, 1, 1).unwrap(),
        period_to: NaiveDate::from_ymd_opt(2025, 12, 31).unwrap(),
        activity_types: vec![],
        include_attachments: false,
        submit_to_bufdir_api: false,
        locale: Locale::default(),
        reexport: None,
    };
    given::<Export>(&[])
        .when(ExportCommand::Request {
            export_id: "exp_1".into(),
            request,
            now: t(0),
        })
        .events()
}

fn claim(at: i64) -> ExportCommand {
    ExportCommand::Claim {
        worker: "w".into(),
        lease_until: t(at) + Duration::seconds(30),
        now: t(at),
    }
}

#[test]
fn a_claimed_job_is_not_claimed_again_until_its_lease_runs_out() {
    let mut events = requested();
    events.extend(given::<Export>(&events).when(claim(1)).events());
    given::<Export>(&events)
        .when(claim(10))
        .then_error(ExportError::NotClaimable);
    let takeover = given::<Export>(&events).when(claim(40)).events();
    assert!(matches!(
        takeover[0],
        ExportEvent::ExportClaimed {
            attempt: 2,
            taken_over: true,
            ..
        }
    ));
    events.extend(takeover);
    // The first worker's result no longer counts.
    let late = ExportCommand::Fail {
        attempt: 1,
        error: "x".into(),
        now: t(41),
    };
    given::<Export>(&events)
        .when(late)
        .then_error(ExportError::LostClaim(1));
}

#[test]
fn cancel_retry_and_delete_follow_the_state_machine() {
    let mut events = requested();
    let cancel = || ExportCommand::Cancel {
        reason: "wrong range".into(),
        now: t(2),
    };
    events.extend(given::<Export>(&events).when(cancel()).events());
    given::<Export>(&events)
        .when(cancel())
        .then_error(ExportError::NotCancellable("cancelled"));
    events.extend(
        given::<Export>(&events)
            .when(ExportCommand::Retry { now: t(3) })
            .events(),
    );
    assert_eq!(state_after::<Export>(&events).retry_count, 1);
    assert_eq!(state_after::<Export>(&events).status, ExportStatus::Queued);
    let deleted = given::<Export>(&events)
        .when(ExportCommand::Delete { now: t(4) })
        .events();
    assert_eq!(
        deleted.len(),
        2,
        "a queued export is cancelled, then deleted"
    );
    events.extend(deleted);
    given::<Export>(&events)
        .when(ExportCommand::Retry { now: t(5) })
        .then_error(ExportError::Unknown);
}

#[test]
fn a_notification_follows_a_result_and_is_recorded_once() {
    let mut events = requested();
    let notified = |at| ExportCommand::MarkNotified {
        attempts: 1,
        now: t(at),
    };
    given::<Export>(&events)
        .when(notified(1))
        .then_error(ExportError::NotFinished("queued"));
    events.extend(given::<Export>(&events).when(claim(1)).events());
    let fail = ExportCommand::Fail {
        attempt: 1,
        error: "disk full".into(),
        now: t(2),
    };
    events.extend(given::<Export>(&events).when(fail).events());
    let refused = ExportCommand::NotificationFailed {
        attempt: 1,
        error: "503".into(),
        retry_at: t(10),
        now: t(3),
    };
    events.extend(given::<Export>(&events).when(refused).events());
    assert!(
        !state_after::<Export>(&events).notified,
        "a failed attempt notifies nobody"
    );
    events.extend(given::<Export>(&events).when(notified(11)).events());
    assert!(state_after::<Export>(&events).notified);
    given::<Export>(&events)
        .when(notified(12))
        .then_error(ExportError::AlreadyNotified);
}

#[test]
fn requests_written_before_locales_and_reexports_still_read() {
    let old = serde_json::json!({"export_id": "exp_1", "org_id": "org_1", "format": "csv",
        "period_from": "2025-01-01", "period_to": "2025-12-31", "activity_types": [],
        "include_attachments": false, "submit_to_bufdir_api": false,
        "requested_at": "2026-01-01T00:00:00Z"});
    let event: ExportEvent = crate::decode_event("ExportRequested", &old).unwrap();
    let ExportEvent::ExportRequested { request, .. } = event else {
        panic!("{event:?}")
    };
    assert_eq!(request.locale, Locale::NbNo);
    assert_eq!(request.reexport, None);
}

#[test]
fn formats_accept_xlsx_as_excel() {
    assert_eq!(ExportFormat::parse("xlsx"), Some(ExportFormat::Excel));
    assert_eq!(ExportFormat::parse("EXCEL"), Some(ExportFormat::Excel));
    assert_eq!(ExportFormat::parse("docx"), None);
}

#[test]
fn an_export_completes_only_with_its_own_or_its_organisations_file() {
    let mut events = requested();
    events.extend(given::<Export>(&events).when(claim(1)).events());
    let complete = |key: &str| ExportCommand::Complete {
        attempt: 1,
        file: ExportFile {
            key: key.into(),
            name: "report.xlsx".into(),
            content_type: "application/octet-stream".into(),
            size_bytes: 10,
            expires_at: t(100),
        },
        source_position: "1".into(),
        submission: None,
        duration_ms: 1,
        steps: 1,
        now: t(2),
    };
    for foreign in [
        "exports/exp_2/1/report.xlsx",
        "reports/org_2/rpt_1/report.xlsx",
        "reports/org_1",
        "elsewhere/report.xlsx",
    ] {
        assert_eq!(
            given::<Export>(&events).when(complete(foreign)).result(),
            Err(ExportError::ForeignFile(foreign.into())),
            "{foreign}"
        );
    }
    for own in [
        "exports/exp_1/1/report.xlsx",
        "reports/org_1/reexports/exp_1/report.xlsx",
    ] {
        assert!(
            given::<Export>(&events)
                .when(complete(own))
                .result()
                .is_ok(),
            "{own}"
        );
    }
}
