//! What a command's failure means in HTTP, in one place: each aggregate's refusal (the domain
//! said no: 404, 409 or 422), and what is the same for every command: an invalid request is a
//! 422 pointing into it, losing the race for a stream again and again is a 409 with
//! `Retry-After` (the client may simply try again), a write the read model has not shown yet
//! and a store that cannot be reached are 503s, anything else is our failure (500, logged).
//! Routes do not map a command's failure themselves: `?` does it, here.

use commands::Error;
use domain::Issue;
use domain::bufdir_access::BufdirAccessError;
use domain::export::ExportError;
use domain::organization::OrganizationError;
use domain::report::ReportError;
use domain::report_data::ReportDataError;
use domain::submission::SubmissionError;
use store::StoreError;

use crate::http::problem::{ApiError, FieldError};

impl<E> From<Error<E>> for ApiError
where
    E: std::error::Error + Into<ApiError>,
{
    fn from(e: Error<E>) -> Self {
        match e {
            Error::Rejected(e) => e.into(),
            Error::Invalid(issues) => invalid(&issues),
            Error::NotFound(what) => ApiError::NotFound(what),
            Error::Contended => ApiError::Contended(
                "other changes to this resource kept arriving at the same moment; try again".into(),
            ),
            e @ Error::NotVisibleYet(_) => ApiError::Unavailable(e.to_string()),
            Error::Store(e) => store_failed(e),
            Error::ReadModel(e) => e.into(),
            Error::Privacy(e) => e.into(),
            Error::Decode(e) => ApiError::internal(e),
        }
    }
}

/// The request's issues, each pointing into it, in both languages.
fn invalid(issues: &[Issue]) -> ApiError {
    ApiError::Unprocessable {
        detail: "The request is well-formed but not valid; nothing was recorded or sent.".into(),
        errors: issues
            .iter()
            .map(|i| {
                let field = FieldError::new(&i.pointer, i.code, i.message_en.clone());
                if i.message_nb == i.message_en {
                    field
                } else {
                    field.with_nb(&i.message_nb).with_nn(&i.message_nn)
                }
            })
            .collect(),
    }
}

/// A store failure outside a command: the database gone is a 503, the rest is ours.
pub(crate) fn store_failed(e: StoreError) -> ApiError {
    match e {
        StoreError::Closed => {
            ApiError::Unavailable("the service is shutting down; try again shortly".into())
        }
        StoreError::Database(db) => database_failed(db),
        other => ApiError::internal(other),
    }
}

/// A database failure, of the store, the read models or the idempotency keys: gone is a 503,
/// anything else is ours.
pub(crate) fn database_failed(e: sqlx::Error) -> ApiError {
    if unreachable(&e) {
        tracing::warn!(error = %store::causes(&e), "the database is unreachable");
        ApiError::Unavailable("the database is unreachable; try again shortly".into())
    } else {
        ApiError::internal(e)
    }
}

/// The database cannot be reached, or went away mid-statement: a connection that broke or could
/// not be had, a reply cut short, or PostgreSQL shutting down or starting up (SQLSTATE class 08,
/// 57P01-57P03). A retry later may succeed, so these are 503s, not our failure.
fn unreachable(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Io(_)
        | sqlx::Error::Protocol(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed => true,
        sqlx::Error::Database(db) => db
            .code()
            .is_some_and(|code| code.starts_with("08") || code.starts_with("57P")),
        _ => false,
    }
}

impl From<projections::ProjectionError> for ApiError {
    fn from(e: projections::ProjectionError) -> Self {
        match e {
            projections::ProjectionError::Store(e) => store_failed(e),
            projections::ProjectionError::Database(db) => database_failed(db),
            other => ApiError::internal(other),
        }
    }
}

impl From<commands::privacy::PrivacyError> for ApiError {
    fn from(e: commands::privacy::PrivacyError) -> Self {
        match e {
            commands::privacy::PrivacyError::Keys(db) => database_failed(db),
            other => ApiError::internal(other),
        }
    }
}

impl From<store::tables::webhook_endpoints::EndpointsError> for ApiError {
    fn from(e: store::tables::webhook_endpoints::EndpointsError) -> Self {
        match e {
            store::tables::webhook_endpoints::EndpointsError::Database(db) => database_failed(db),
            other => ApiError::internal(other),
        }
    }
}

impl From<domain::reexport::ReexportRefusal> for ApiError {
    fn from(e: domain::reexport::ReexportRefusal) -> Self {
        use domain::reexport::ReexportRefusal as R;
        let field = |pointer: &str, code: &str| {
            ApiError::invalid(vec![FieldError::new(pointer, code, e.to_string())])
        };
        match &e {
            R::UnknownFormat(_) => field("export_params/format", "unknown_format"),
            R::UnknownLocale(_) => field("export_params/locale", "unknown_locale"),
            R::Unknown => ApiError::NotFound(e.to_string()),
            R::Job(e) => e.clone().into(),
            R::NotCompleted { .. }
            | R::NotCancellable(_)
            | R::NotFinished(_)
            | R::NotRunnable(_)
            | R::NotFinishable(_)
            | R::NotPending(_)
            | R::HeldElsewhere => ApiError::Conflict(e.to_string()),
        }
    }
}

/// Where a webhook may go: a public http(s) address.
impl From<workers::webhooks::TargetError> for ApiError {
    fn from(e: workers::webhooks::TargetError) -> Self {
        use workers::webhooks::TargetError as T;
        let code = match e {
            T::NotHttp => "invalid_url",
            T::Unresolvable(..) => "unresolvable_url",
            T::Internal(_) | T::ResolvesInternal(..) => "internal_url",
        };
        ApiError::invalid(vec![FieldError::new("url", code, e.to_string())])
    }
}

impl From<commands::log_seals::SealError> for ApiError {
    fn from(e: commands::log_seals::SealError) -> Self {
        match e {
            commands::log_seals::SealError::Store(e) => store_failed(e),
            other => ApiError::internal(other),
        }
    }
}

/// Bufdir's answer to a call made for the caller: credentials it refused are the caller's to
/// fix (401), a Bufdir that is down or busy is a 503, anything else is ours.
impl From<workers::bufdir::GatewayError> for ApiError {
    fn from(e: workers::bufdir::GatewayError) -> Self {
        use workers::bufdir::{BufdirError, GatewayError};
        match e {
            GatewayError::Bufdir(BufdirError::Unauthorized(_)) => {
                ApiError::Unauthorized("Bufdir did not accept these client credentials".into())
            }
            GatewayError::Bufdir(e) if e.is_transient() => {
                ApiError::Unavailable(format!("{e}; try again shortly"))
            }
            other => ApiError::internal(other),
        }
    }
}

/// What cannot fail, mapped for a command that refuses nothing.
impl From<std::convert::Infallible> for ApiError {
    fn from(never: std::convert::Infallible) -> Self {
        match never {}
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        store_failed(e)
    }
}

impl From<ExportError> for ApiError {
    fn from(e: ExportError) -> Self {
        match e {
            ExportError::Unknown => ApiError::NotFound("export not found".into()),
            ExportError::ForeignFile(_) => ApiError::invalid(vec![FieldError::new(
                "output_file_ref",
                "foreign_file_ref",
                "a file reference must lie under the organisation's own prefix",
            )]),
            e @ (ExportError::AlreadyExists
            | ExportError::NotCancellable(_)
            | ExportError::NotRetryable(_)
            | ExportError::NotClaimable
            | ExportError::LostClaim(_)
            | ExportError::NoFile
            | ExportError::NotFinished(_)
            | ExportError::AlreadyNotified
            | ExportError::HeldByAnother
            | ExportError::NotRunnable(_)
            | ExportError::NotFinishable(_)
            | ExportError::NotPending(_)) => ApiError::Conflict(e.to_string()),
        }
    }
}

impl From<ReportError> for ApiError {
    fn from(e: ReportError) -> Self {
        match e {
            ReportError::Unknown => ApiError::NotFound("report not found".into()),
            ReportError::ForeignFile(_) => ApiError::invalid(vec![FieldError::new(
                "file_ref",
                "foreign_file_ref",
                "a file reference must lie under the organisation's own prefix",
            )]),
            ReportError::CompletedWithoutFile => ApiError::invalid(vec![FieldError::new(
                "file_ref",
                "file_required",
                "a completed report needs file_ref and file_size_bytes",
            )]),
            e @ (ReportError::Transition { .. }
            | ReportError::Retained(_)
            | ReportError::AlreadyExists
            | ReportError::NoFileToRemove) => ApiError::Conflict(e.to_string()),
        }
    }
}

impl From<ReportDataError> for ApiError {
    fn from(e: ReportDataError) -> Self {
        match e {
            ReportDataError::UnknownSnapshot(id) => {
                ApiError::NotFound(format!("snapshot {id} not found"))
            }
            e @ (ReportDataError::Historical(_) | ReportDataError::NotProcessing(_)) => {
                ApiError::Conflict(e.to_string())
            }
        }
    }
}

impl From<OrganizationError> for ApiError {
    fn from(e: OrganizationError) -> Self {
        match e {
            OrganizationError::AlreadyRegistered(_) => ApiError::Conflict(e.to_string()),
            OrganizationError::Unregistered(_) | OrganizationError::NoSuchFeedLink(_) => {
                ApiError::NotFound(e.to_string())
            }
            OrganizationError::FeedLinkExists(_) => ApiError::Conflict(e.to_string()),
        }
    }
}

impl From<domain::signoff::SignOffError> for ApiError {
    fn from(e: domain::signoff::SignOffError) -> Self {
        use domain::signoff::SignOffError as S;
        match e {
            S::RoleNotHeld(_) => ApiError::Forbidden(e.to_string()),
            S::NotYours(_) => ApiError::NotFound(e.to_string()),
            S::Stale { .. } | S::OwnChange => ApiError::Conflict(e.to_string()),
        }
    }
}

impl From<SubmissionError> for ApiError {
    fn from(e: SubmissionError) -> Self {
        // Every refusal of a submission is about the state it is in.
        ApiError::Conflict(e.to_string())
    }
}

impl From<BufdirAccessError> for ApiError {
    fn from(e: BufdirAccessError) -> Self {
        match e {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_database_gone_away_is_a_503_and_anything_else_ours() {
        let gone = [
            sqlx::Error::Io(std::io::Error::from(std::io::ErrorKind::ConnectionReset)),
            sqlx::Error::Protocol("expected to read 5 bytes, got 0 bytes at EOF".into()),
            sqlx::Error::PoolTimedOut,
            sqlx::Error::PoolClosed,
        ];
        for e in gone {
            assert_eq!(
                database_failed(e).status(),
                poem::http::StatusCode::SERVICE_UNAVAILABLE
            );
        }
        assert_eq!(
            database_failed(sqlx::Error::RowNotFound).status(),
            poem::http::StatusCode::INTERNAL_SERVER_ERROR
        );
    }
}
