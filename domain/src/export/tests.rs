//! One module per command; each test is a history of events, one command, and the events or the
//! error decided. Histories are written as events, as they would stand in the log.

use chrono::Duration;

use super::*;
use crate::testing::{given, state_after};

/// This service's worker.
const WORKER: &str = "w";
/// A renderer outside the service.
const RENDERER: &str = "external:svc";
/// Where the export's own worker writes its first attempt's file.
const OWN_FILE: &str = "exports/exp_1/1/report.xlsx";
/// An upload under the export's organisation (an external renderer's).
const ORG_FILE: &str = "reports/org_1/reexports/exp_1/report.xlsx";

fn t(s: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(1_800_000_000 + s, 0).unwrap()
}

/// A claim at `at` holds the job for 30 seconds.
fn lease(at: i64) -> DateTime<Utc> {
    t(at) + Duration::seconds(30)
}

fn excel_request() -> ExportRequest {
    ExportRequest {
        org_id: OrgId::parse("org_1").unwrap(),
        format: ExportFormat::Excel,
        period_from: NaiveDate::from_ymd_opt(2025, 1, 1).unwrap(),
        period_to: NaiveDate::from_ymd_opt(2025, 12, 31).unwrap(),
        activity_types: vec![],
        include_attachments: false,
        submit_to_bufdir_api: false,
        locale: Locale::default(),
        reexport: None,
    }
}

fn file(key: &str) -> ExportFile {
    ExportFile {
        key: key.into(),
        name: "report.xlsx".into(),
        content_type: "application/octet-stream".into(),
        size_bytes: 10,
        expires_at: t(100),
    }
}

// Events.

fn claimed_by(worker: &str, attempt: u32, at: i64, taken_over: bool) -> ExportEvent {
    ExportEvent::ExportClaimed {
        attempt,
        worker: worker.into(),
        lease_until: lease(at),
        taken_over,
        claimed_at: t(at),
    }
}

fn completed_with(attempt: u32, key: &str, at: i64) -> ExportEvent {
    ExportEvent::ExportCompleted {
        attempt,
        file: file(key),
        source_position: "1".into(),
        submission: None,
        duration_ms: 1,
        steps: 1,
        completed_at: t(at),
    }
}

fn failed_with(attempt: u32, at: i64) -> ExportEvent {
    ExportEvent::ExportFailed {
        attempt,
        error: "disk full".into(),
        failed_at: t(at),
    }
}

fn cancelled_at(reason: &str, at: i64) -> ExportEvent {
    ExportEvent::ExportCancelled {
        reason: reason.into(),
        cancelled_at: t(at),
    }
}

fn retried(retry_count: u32, at: i64) -> ExportEvent {
    ExportEvent::ExportRetried {
        retry_count,
        queued_at: t(at),
    }
}

fn deleted_at(at: i64) -> ExportEvent {
    ExportEvent::ExportDeleted { deleted_at: t(at) }
}

fn notified(attempts: u32, at: i64) -> ExportEvent {
    ExportEvent::ExportNotified {
        attempts,
        notified_at: t(at),
    }
}

fn notification_failed(attempt: u32, at: i64) -> ExportEvent {
    ExportEvent::ExportNotificationFailed {
        attempt,
        error: "503".into(),
        retry_at: t(at + 7),
        failed_at: t(at),
    }
}

// Histories.

fn and(history: Vec<ExportEvent>, more: impl IntoIterator<Item = ExportEvent>) -> Vec<ExportEvent> {
    history.into_iter().chain(more).collect()
}

/// `exp_1` of `org_1`, queued at 0.
fn requested() -> Vec<ExportEvent> {
    vec![ExportEvent::ExportRequested {
        export_id: "exp_1".into(),
        request: excel_request(),
        requested_at: t(0),
    }]
}

/// Running: attempt 1, the worker's, claimed at 1 (its lease runs out at 31).
fn claimed() -> Vec<ExportEvent> {
    and(requested(), [claimed_by(WORKER, 1, 1, false)])
}

/// Running: attempt 1, the external renderer's, claimed at 1 (its lease runs out at 31).
fn held() -> Vec<ExportEvent> {
    and(requested(), [claimed_by(RENDERER, 1, 1, false)])
}

/// Running: attempt 2, taken over at 40 from the worker whose lease ran out.
fn taken_over() -> Vec<ExportEvent> {
    and(claimed(), [claimed_by("w2", 2, 40, true)])
}

/// Completed at 2 by attempt 1, with its own file.
fn completed() -> Vec<ExportEvent> {
    and(claimed(), [completed_with(1, OWN_FILE, 2)])
}

/// Failed at 2 in attempt 1.
fn failed() -> Vec<ExportEvent> {
    and(claimed(), [failed_with(1, 2)])
}

/// Cancelled at 2 while queued.
fn cancelled() -> Vec<ExportEvent> {
    and(requested(), [cancelled_at("wrong range", 2)])
}

/// Deleted at 3 while queued (so cancelled first).
fn deleted() -> Vec<ExportEvent> {
    and(requested(), [cancelled_at("deleted", 3), deleted_at(3)])
}

// Commands.

fn claim(worker: &str, at: i64) -> ExportCommand {
    ExportCommand::Claim {
        worker: worker.into(),
        lease_until: lease(at),
        now: t(at),
    }
}

fn complete(attempt: u32, key: &str, at: i64) -> ExportCommand {
    ExportCommand::Complete {
        attempt,
        file: file(key),
        source_position: "1".into(),
        submission: None,
        duration_ms: 1,
        steps: 1,
        now: t(at),
    }
}

fn fail(attempt: u32, at: i64) -> ExportCommand {
    ExportCommand::Fail {
        attempt,
        error: "disk full".into(),
        now: t(at),
    }
}

fn mark_notified(attempts: u32, at: i64) -> ExportCommand {
    ExportCommand::MarkNotified {
        attempts,
        now: t(at),
    }
}

fn notification_failure(attempt: u32, at: i64) -> ExportCommand {
    ExportCommand::NotificationFailed {
        attempt,
        error: "503".into(),
        retry_at: t(at + 7),
        now: t(at),
    }
}

fn hold(renderer: &str, at: i64) -> ExportCommand {
    ExportCommand::ExternalHold {
        renderer: renderer.into(),
        lease_until: lease(at),
        now: t(at),
    }
}

fn finish(renderer: &str, result: ExternalResult, at: i64) -> ExportCommand {
    ExportCommand::ExternalFinish {
        renderer: renderer.into(),
        result,
        lease_until: lease(at),
        now: t(at),
    }
}

/// An external renderer's file, rendered at 9.
fn rendered(key: &str) -> ExternalResult {
    ExternalResult::Completed {
        file: file(key),
        source_position: "7".into(),
        duration_ms: 900,
        completed_at: t(9),
    }
}

fn broken() -> ExternalResult {
    ExternalResult::Failed {
        error: "font missing".into(),
    }
}

/// What an external renderer's `rendered(key)` records for `attempt`: no submission, no steps.
fn completed_externally(attempt: u32, key: &str) -> ExportEvent {
    ExportEvent::ExportCompleted {
        attempt,
        file: file(key),
        source_position: "7".into(),
        submission: None,
        duration_ms: 900,
        steps: 0,
        completed_at: t(9),
    }
}

mod request {
    use super::*;

    #[test]
    fn a_new_export_is_requested() {
        given::<Export>(&[])
            .when(ExportCommand::Request {
                export_id: "exp_1".into(),
                request: excel_request(),
                now: t(0),
            })
            .then(vec![ExportEvent::ExportRequested {
                export_id: "exp_1".into(),
                request: excel_request(),
                requested_at: t(0),
            }]);
    }

    #[test]
    fn an_export_is_requested_once() {
        given::<Export>(&requested())
            .when(ExportCommand::Request {
                export_id: "exp_1".into(),
                request: excel_request(),
                now: t(5),
            })
            .then_error(ExportError::AlreadyExists);
    }

    #[test]
    fn a_deleted_exports_stream_is_not_requested_again() {
        given::<Export>(&deleted())
            .when(ExportCommand::Request {
                export_id: "exp_1".into(),
                request: excel_request(),
                now: t(5),
            })
            .then_error(ExportError::AlreadyExists);
    }
}

mod claim {
    use super::*;

    #[test]
    fn a_queued_job_is_claimed_as_the_first_attempt() {
        given::<Export>(&requested())
            .when(claim(WORKER, 1))
            .then(vec![claimed_by(WORKER, 1, 1, false)]);
    }

    #[test]
    fn a_claimed_job_is_not_claimed_again_while_its_lease_runs() {
        given::<Export>(&claimed())
            .when(claim(WORKER, 10))
            .then_error(ExportError::NotClaimable);
    }

    #[test]
    fn a_job_whose_lease_ran_out_is_taken_over_as_the_next_attempt() {
        given::<Export>(&claimed())
            .when(claim("w2", 40))
            .then(vec![claimed_by("w2", 2, 40, true)]);
    }

    #[test]
    fn a_lease_has_run_out_at_its_end() {
        given::<Export>(&claimed())
            .when(claim("w2", 31))
            .then(vec![claimed_by("w2", 2, 31, true)]);
    }

    #[test]
    fn a_retried_job_is_claimed_as_the_next_attempt_without_a_takeover() {
        given::<Export>(&and(failed(), [retried(1, 3)]))
            .when(claim(WORKER, 4))
            .then(vec![claimed_by(WORKER, 2, 4, false)]);
    }

    #[test]
    fn a_completed_job_is_not_claimable() {
        given::<Export>(&completed())
            .when(claim(WORKER, 40))
            .then_error(ExportError::NotClaimable);
    }

    #[test]
    fn a_cancelled_job_is_not_claimable() {
        given::<Export>(&cancelled())
            .when(claim(WORKER, 3))
            .then_error(ExportError::NotClaimable);
    }

    #[test]
    fn an_export_never_requested_is_unknown() {
        given::<Export>(&[])
            .when(claim(WORKER, 1))
            .then_error(ExportError::Unknown);
    }

    #[test]
    fn a_deleted_export_is_unknown() {
        given::<Export>(&deleted())
            .when(claim(WORKER, 4))
            .then_error(ExportError::Unknown);
    }
}

mod progress {
    use super::*;

    #[test]
    fn the_holder_records_progress_and_renews_its_lease() {
        given::<Export>(&claimed())
            .when(ExportCommand::Progress {
                attempt: 1,
                done: 2,
                total: 5,
                lease_until: lease(20),
            })
            .then(vec![ExportEvent::ExportProgressed {
                attempt: 1,
                done: 2,
                total: 5,
                lease_until: lease(20),
            }]);
    }

    #[test]
    fn progress_from_an_attempt_taken_over_is_refused() {
        given::<Export>(&taken_over())
            .when(ExportCommand::Progress {
                attempt: 1,
                done: 3,
                total: 5,
                lease_until: lease(41),
            })
            .then_error(ExportError::LostClaim(1));
    }

    #[test]
    fn a_cancelled_job_takes_no_more_progress() {
        given::<Export>(&and(claimed(), [cancelled_at("wrong range", 2)]))
            .when(ExportCommand::Progress {
                attempt: 1,
                done: 3,
                total: 5,
                lease_until: lease(3),
            })
            .then_error(ExportError::LostClaim(1));
    }

    #[test]
    fn a_queued_job_takes_no_progress() {
        given::<Export>(&requested())
            .when(ExportCommand::Progress {
                attempt: 1,
                done: 1,
                total: 5,
                lease_until: lease(3),
            })
            .then_error(ExportError::LostClaim(1));
    }
}

mod complete {
    use super::*;

    #[test]
    fn the_holder_completes_with_the_file_its_worker_wrote() {
        given::<Export>(&claimed())
            .when(complete(1, OWN_FILE, 2))
            .then(vec![completed_with(1, OWN_FILE, 2)]);
    }

    #[test]
    fn the_holder_completes_with_a_file_under_its_organisation() {
        given::<Export>(&claimed())
            .when(complete(1, ORG_FILE, 2))
            .then(vec![completed_with(1, ORG_FILE, 2)]);
    }

    #[test]
    fn another_exports_file_is_refused() {
        given::<Export>(&claimed())
            .when(complete(1, "exports/exp_2/1/report.xlsx", 2))
            .then_error(ExportError::ForeignFile(
                "exports/exp_2/1/report.xlsx".into(),
            ));
    }

    #[test]
    fn another_organisations_file_is_refused() {
        given::<Export>(&claimed())
            .when(complete(1, "reports/org_2/rpt_1/report.xlsx", 2))
            .then_error(ExportError::ForeignFile(
                "reports/org_2/rpt_1/report.xlsx".into(),
            ));
    }

    #[test]
    fn the_organisations_prefix_alone_is_no_file() {
        given::<Export>(&claimed())
            .when(complete(1, "reports/org_1", 2))
            .then_error(ExportError::ForeignFile("reports/org_1".into()));
    }

    #[test]
    fn a_file_outside_exports_and_reports_is_refused() {
        given::<Export>(&claimed())
            .when(complete(1, "elsewhere/report.xlsx", 2))
            .then_error(ExportError::ForeignFile("elsewhere/report.xlsx".into()));
    }

    #[test]
    fn a_worker_that_lost_its_lease_records_no_result() {
        given::<Export>(&taken_over())
            .when(complete(1, OWN_FILE, 41))
            .then_error(ExportError::LostClaim(1));
    }

    #[test]
    fn the_claim_is_checked_before_the_file() {
        given::<Export>(&taken_over())
            .when(complete(1, "elsewhere/report.xlsx", 41))
            .then_error(ExportError::LostClaim(1));
    }

    #[test]
    fn a_cancelled_job_is_not_completed() {
        given::<Export>(&and(claimed(), [cancelled_at("wrong range", 2)]))
            .when(complete(1, OWN_FILE, 3))
            .then_error(ExportError::LostClaim(1));
    }

    #[test]
    fn a_completed_job_is_not_completed_again() {
        given::<Export>(&completed())
            .when(complete(1, OWN_FILE, 3))
            .then_error(ExportError::LostClaim(1));
    }

    #[test]
    fn a_deleted_export_is_unknown() {
        given::<Export>(&and(claimed(), [cancelled_at("deleted", 2), deleted_at(2)]))
            .when(complete(1, OWN_FILE, 3))
            .then_error(ExportError::Unknown);
    }
}

mod fail {
    use super::*;

    #[test]
    fn the_holder_records_its_failure() {
        given::<Export>(&claimed())
            .when(fail(1, 2))
            .then(vec![failed_with(1, 2)]);
    }

    #[test]
    fn a_worker_that_lost_its_lease_records_no_failure() {
        given::<Export>(&taken_over())
            .when(fail(1, 41))
            .then_error(ExportError::LostClaim(1));
    }

    #[test]
    fn a_completed_job_does_not_fail() {
        given::<Export>(&completed())
            .when(fail(1, 3))
            .then_error(ExportError::LostClaim(1));
    }

    #[test]
    fn an_export_never_requested_is_unknown() {
        given::<Export>(&[])
            .when(fail(1, 3))
            .then_error(ExportError::Unknown);
    }
}

mod cancel {
    use super::*;

    fn cancel(at: i64) -> ExportCommand {
        ExportCommand::Cancel {
            reason: "wrong range".into(),
            now: t(at),
        }
    }

    #[test]
    fn a_queued_job_is_cancelled() {
        given::<Export>(&requested())
            .when(cancel(2))
            .then(vec![cancelled_at("wrong range", 2)]);
    }

    #[test]
    fn a_running_job_is_cancelled() {
        given::<Export>(&claimed())
            .when(cancel(2))
            .then(vec![cancelled_at("wrong range", 2)]);
    }

    #[test]
    fn a_cancelled_job_is_not_cancelled_again() {
        given::<Export>(&cancelled())
            .when(cancel(3))
            .then_error(ExportError::NotCancellable("cancelled"));
    }

    #[test]
    fn a_completed_job_is_not_cancellable() {
        given::<Export>(&completed())
            .when(cancel(3))
            .then_error(ExportError::NotCancellable("completed"));
    }

    #[test]
    fn a_failed_job_is_not_cancellable() {
        given::<Export>(&failed())
            .when(cancel(3))
            .then_error(ExportError::NotCancellable("failed"));
    }

    #[test]
    fn a_deleted_export_is_unknown() {
        given::<Export>(&deleted())
            .when(cancel(4))
            .then_error(ExportError::Unknown);
    }
}

mod retry {
    use super::*;

    #[test]
    fn a_cancelled_job_is_retried() {
        given::<Export>(&cancelled())
            .when(ExportCommand::Retry { now: t(3) })
            .then(vec![retried(1, 3)]);
    }

    #[test]
    fn a_failed_job_is_retried() {
        given::<Export>(&failed())
            .when(ExportCommand::Retry { now: t(3) })
            .then(vec![retried(1, 3)]);
    }

    #[test]
    fn each_retry_is_counted() {
        let history = and(
            failed(),
            [
                retried(1, 3),
                claimed_by(WORKER, 2, 4, false),
                failed_with(2, 5),
            ],
        );
        given::<Export>(&history)
            .when(ExportCommand::Retry { now: t(6) })
            .then(vec![retried(2, 6)]);
    }

    #[test]
    fn a_retried_job_is_queued_again_with_its_count() {
        let state = state_after::<Export>(&and(cancelled(), [retried(1, 3)]));
        assert_eq!(state.status, ExportStatus::Queued);
        assert_eq!(state.retry_count, 1);
    }

    #[test]
    fn a_queued_job_is_not_retryable() {
        given::<Export>(&requested())
            .when(ExportCommand::Retry { now: t(3) })
            .then_error(ExportError::NotRetryable("queued"));
    }

    #[test]
    fn a_running_job_is_not_retryable() {
        given::<Export>(&claimed())
            .when(ExportCommand::Retry { now: t(3) })
            .then_error(ExportError::NotRetryable("running"));
    }

    #[test]
    fn a_completed_job_is_not_retryable() {
        given::<Export>(&completed())
            .when(ExportCommand::Retry { now: t(3) })
            .then_error(ExportError::NotRetryable("completed"));
    }

    #[test]
    fn a_deleted_export_is_unknown() {
        let history = and(
            cancelled(),
            [retried(1, 3), cancelled_at("deleted", 4), deleted_at(4)],
        );
        given::<Export>(&history)
            .when(ExportCommand::Retry { now: t(5) })
            .then_error(ExportError::Unknown);
    }
}

mod delete {
    use super::*;

    #[test]
    fn a_queued_export_is_cancelled_then_deleted() {
        given::<Export>(&and(cancelled(), [retried(1, 3)]))
            .when(ExportCommand::Delete { now: t(4) })
            .then(vec![cancelled_at("deleted", 4), deleted_at(4)]);
    }

    #[test]
    fn a_running_export_is_cancelled_then_deleted() {
        given::<Export>(&claimed())
            .when(ExportCommand::Delete { now: t(4) })
            .then(vec![cancelled_at("deleted", 4), deleted_at(4)]);
    }

    #[test]
    fn a_completed_export_is_deleted_without_a_cancel() {
        given::<Export>(&completed())
            .when(ExportCommand::Delete { now: t(4) })
            .then(vec![deleted_at(4)]);
    }

    #[test]
    fn a_cancelled_export_is_deleted_without_a_cancel() {
        given::<Export>(&cancelled())
            .when(ExportCommand::Delete { now: t(4) })
            .then(vec![deleted_at(4)]);
    }

    #[test]
    fn a_deleted_export_is_unknown() {
        given::<Export>(&deleted())
            .when(ExportCommand::Delete { now: t(4) })
            .then_error(ExportError::Unknown);
    }
}

mod expire_file {
    use super::*;

    #[test]
    fn a_completed_exports_file_expires() {
        given::<Export>(&completed())
            .when(ExportCommand::ExpireFile { now: t(100) })
            .then(vec![ExportEvent::ExportFileExpired {
                key: OWN_FILE.into(),
                expired_at: t(100),
            }]);
    }

    #[test]
    fn a_file_expires_once() {
        let expired = ExportEvent::ExportFileExpired {
            key: OWN_FILE.into(),
            expired_at: t(100),
        };
        given::<Export>(&and(completed(), [expired]))
            .when(ExportCommand::ExpireFile { now: t(101) })
            .then_error(ExportError::NoFile);
    }

    #[test]
    fn a_failed_export_has_no_file() {
        given::<Export>(&failed())
            .when(ExportCommand::ExpireFile { now: t(100) })
            .then_error(ExportError::NoFile);
    }

    #[test]
    fn a_deleted_exports_file_still_expires() {
        given::<Export>(&and(completed(), [deleted_at(3)]))
            .when(ExportCommand::ExpireFile { now: t(100) })
            .then(vec![ExportEvent::ExportFileExpired {
                key: OWN_FILE.into(),
                expired_at: t(100),
            }]);
    }
}

mod mark_notified {
    use super::*;

    #[test]
    fn a_completed_export_is_notified() {
        given::<Export>(&completed())
            .when(mark_notified(1, 3))
            .then(vec![notified(1, 3)]);
    }

    #[test]
    fn a_failed_export_is_notified_after_a_failed_attempt() {
        given::<Export>(&and(failed(), [notification_failed(1, 3)]))
            .when(mark_notified(2, 11))
            .then(vec![notified(2, 11)]);
    }

    #[test]
    fn a_failed_attempt_notifies_nobody_and_a_delivery_does() {
        let attempted = and(failed(), [notification_failed(1, 3)]);
        assert!(!state_after::<Export>(&attempted).notified);
        assert!(state_after::<Export>(&and(attempted, [notified(2, 11)])).notified);
    }

    #[test]
    fn a_queued_export_has_no_result_to_tell() {
        given::<Export>(&requested())
            .when(mark_notified(1, 1))
            .then_error(ExportError::NotFinished("queued"));
    }

    #[test]
    fn a_running_export_has_no_result_to_tell() {
        given::<Export>(&claimed())
            .when(mark_notified(1, 2))
            .then_error(ExportError::NotFinished("running"));
    }

    #[test]
    fn a_cancelled_export_has_no_result_to_tell() {
        given::<Export>(&cancelled())
            .when(mark_notified(1, 3))
            .then_error(ExportError::NotFinished("cancelled"));
    }

    #[test]
    fn a_notification_is_recorded_once() {
        given::<Export>(&and(completed(), [notified(1, 3)]))
            .when(mark_notified(1, 12))
            .then_error(ExportError::AlreadyNotified);
    }

    #[test]
    fn the_result_is_checked_before_an_earlier_notification() {
        let history = and(failed(), [notified(1, 3), retried(1, 4)]);
        given::<Export>(&history)
            .when(mark_notified(1, 5))
            .then_error(ExportError::NotFinished("queued"));
    }

    #[test]
    fn a_deleted_export_is_unknown() {
        given::<Export>(&and(completed(), [deleted_at(3)]))
            .when(mark_notified(1, 4))
            .then_error(ExportError::Unknown);
    }
}

mod notification_failed {
    use super::*;

    #[test]
    fn a_failed_attempt_is_recorded_with_when_the_next_is_due() {
        given::<Export>(&failed())
            .when(notification_failure(1, 3))
            .then(vec![ExportEvent::ExportNotificationFailed {
                attempt: 1,
                error: "503".into(),
                retry_at: t(10),
                failed_at: t(3),
            }]);
    }

    #[test]
    fn a_second_failed_attempt_is_recorded() {
        given::<Export>(&and(completed(), [notification_failed(1, 3)]))
            .when(notification_failure(2, 10))
            .then(vec![notification_failed(2, 10)]);
    }

    #[test]
    fn a_queued_export_has_no_result_to_tell() {
        given::<Export>(&requested())
            .when(notification_failure(1, 1))
            .then_error(ExportError::NotFinished("queued"));
    }

    #[test]
    fn no_attempt_fails_after_the_notification() {
        given::<Export>(&and(completed(), [notified(1, 3)]))
            .when(notification_failure(2, 4))
            .then_error(ExportError::AlreadyNotified);
    }

    #[test]
    fn a_deleted_export_is_unknown() {
        given::<Export>(&and(failed(), [deleted_at(3)]))
            .when(notification_failure(1, 4))
            .then_error(ExportError::Unknown);
    }
}

mod external_hold {
    use super::*;

    #[test]
    fn a_renderer_takes_a_queued_job() {
        given::<Export>(&requested())
            .when(hold(RENDERER, 1))
            .then(vec![claimed_by(RENDERER, 1, 1, false)]);
    }

    #[test]
    fn the_holder_renews_its_lease_and_keeps_its_progress() {
        let progressed = ExportEvent::ExportProgressed {
            attempt: 1,
            done: 2,
            total: 5,
            lease_until: lease(5),
        };
        given::<Export>(&and(held(), [progressed]))
            .when(hold(RENDERER, 20))
            .then(vec![ExportEvent::ExportProgressed {
                attempt: 1,
                done: 2,
                total: 5,
                lease_until: lease(20),
            }]);
    }

    #[test]
    fn a_job_another_renderer_holds_is_refused() {
        given::<Export>(&held())
            .when(hold("external:other", 10))
            .then_error(ExportError::HeldByAnother);
    }

    #[test]
    fn a_job_a_worker_holds_is_refused() {
        given::<Export>(&claimed())
            .when(hold(RENDERER, 10))
            .then_error(ExportError::HeldByAnother);
    }

    #[test]
    fn a_job_whose_lease_ran_out_is_taken_over() {
        given::<Export>(&claimed())
            .when(hold(RENDERER, 40))
            .then(vec![claimed_by(RENDERER, 2, 40, true)]);
    }

    #[test]
    fn the_former_holder_takes_a_retried_job_as_the_next_attempt() {
        given::<Export>(&and(held(), [failed_with(1, 2), retried(1, 3)]))
            .when(hold(RENDERER, 4))
            .then(vec![claimed_by(RENDERER, 2, 4, false)]);
    }

    #[test]
    fn a_completed_job_does_not_run_again() {
        given::<Export>(&completed())
            .when(hold(RENDERER, 3))
            .then_error(ExportError::NotRunnable("completed"));
    }

    #[test]
    fn a_cancelled_job_does_not_run_again() {
        given::<Export>(&cancelled())
            .when(hold(RENDERER, 3))
            .then_error(ExportError::NotRunnable("cancelled"));
    }

    #[test]
    fn a_deleted_export_is_unknown() {
        given::<Export>(&deleted())
            .when(hold(RENDERER, 4))
            .then_error(ExportError::Unknown);
    }
}

mod external_finish {
    use super::*;

    #[test]
    fn a_renderer_takes_a_queued_job_and_completes_it() {
        given::<Export>(&requested())
            .when(finish(RENDERER, rendered(ORG_FILE), 10))
            .then(vec![
                claimed_by(RENDERER, 1, 10, false),
                completed_externally(1, ORG_FILE),
            ]);
    }

    #[test]
    fn a_renderer_takes_a_queued_job_and_fails_it() {
        given::<Export>(&requested())
            .when(finish(RENDERER, broken(), 10))
            .then(vec![
                claimed_by(RENDERER, 1, 10, false),
                ExportEvent::ExportFailed {
                    attempt: 1,
                    error: "font missing".into(),
                    failed_at: t(10),
                },
            ]);
    }

    #[test]
    fn the_holder_completes_its_job() {
        given::<Export>(&held())
            .when(finish(RENDERER, rendered(ORG_FILE), 10))
            .then(vec![completed_externally(1, ORG_FILE)]);
    }

    #[test]
    fn the_holder_fails_its_job() {
        given::<Export>(&held())
            .when(finish(RENDERER, broken(), 10))
            .then(vec![ExportEvent::ExportFailed {
                attempt: 1,
                error: "font missing".into(),
                failed_at: t(10),
            }]);
    }

    #[test]
    fn the_holder_finishes_after_its_lease_ran_out() {
        given::<Export>(&held())
            .when(finish(RENDERER, rendered(ORG_FILE), 40))
            .then(vec![completed_externally(1, ORG_FILE)]);
    }

    #[test]
    fn a_job_whose_lease_ran_out_is_taken_over_and_completed() {
        given::<Export>(&claimed())
            .when(finish(RENDERER, rendered(ORG_FILE), 40))
            .then(vec![
                claimed_by(RENDERER, 2, 40, true),
                completed_externally(2, ORG_FILE),
            ]);
    }

    #[test]
    fn the_former_holder_takes_a_retried_job_before_completing_it() {
        given::<Export>(&and(held(), [failed_with(1, 2), retried(1, 3)]))
            .when(finish(RENDERER, rendered(ORG_FILE), 10))
            .then(vec![
                claimed_by(RENDERER, 2, 10, false),
                completed_externally(2, ORG_FILE),
            ]);
    }

    #[test]
    fn a_job_another_renderer_holds_is_refused() {
        given::<Export>(&held())
            .when(finish("external:other", rendered(ORG_FILE), 10))
            .then_error(ExportError::HeldByAnother);
    }

    #[test]
    fn a_job_a_worker_holds_is_refused() {
        given::<Export>(&claimed())
            .when(finish(RENDERER, broken(), 10))
            .then_error(ExportError::HeldByAnother);
    }

    #[test]
    fn another_organisations_file_refuses_the_whole_result() {
        given::<Export>(&requested())
            .when(finish(
                RENDERER,
                rendered("reports/org_2/rpt_1/report.xlsx"),
                10,
            ))
            .then_error(ExportError::ForeignFile(
                "reports/org_2/rpt_1/report.xlsx".into(),
            ));
    }

    #[test]
    fn a_completed_job_does_not_finish_again() {
        given::<Export>(&completed())
            .when(finish(RENDERER, rendered(ORG_FILE), 10))
            .then_error(ExportError::NotFinishable("completed"));
    }

    #[test]
    fn a_cancelled_job_does_not_finish() {
        given::<Export>(&cancelled())
            .when(finish(RENDERER, broken(), 10))
            .then_error(ExportError::NotFinishable("cancelled"));
    }

    #[test]
    fn a_deleted_export_is_unknown() {
        given::<Export>(&deleted())
            .when(finish(RENDERER, broken(), 10))
            .then_error(ExportError::Unknown);
    }
}

mod external_pending {
    use super::*;

    #[test]
    fn a_queued_job_is_still_pending() {
        given::<Export>(&requested())
            .when(ExportCommand::ExternalPending)
            .then(vec![]);
    }

    #[test]
    fn a_retried_job_is_pending_again() {
        given::<Export>(&and(failed(), [retried(1, 3)]))
            .when(ExportCommand::ExternalPending)
            .then(vec![]);
    }

    #[test]
    fn a_held_job_is_no_longer_pending() {
        given::<Export>(&held())
            .when(ExportCommand::ExternalPending)
            .then_error(ExportError::NotPending("running"));
    }

    #[test]
    fn a_completed_job_is_not_pending() {
        given::<Export>(&completed())
            .when(ExportCommand::ExternalPending)
            .then_error(ExportError::NotPending("completed"));
    }

    #[test]
    fn an_export_never_requested_is_unknown() {
        given::<Export>(&[])
            .when(ExportCommand::ExternalPending)
            .then_error(ExportError::Unknown);
    }
}

mod types {
    use super::*;

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
}
