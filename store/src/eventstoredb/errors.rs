//! What a client error means for us. Pure, so tested without a server.

use eventstore::{CurrentRevision, Error};

use crate::StoreError;

#[derive(Debug)]
pub(super) enum Failure {
    /// The stream was not where the append expected it; `current` is its version, `None` when
    /// it does not exist.
    WrongExpectedVersion {
        current: Option<u64>,
    },
    /// The stream does not exist (a read of a missing stream).
    NotFound,
    /// The connection or the server failed on the way: the operation may or may not have been
    /// carried out, and trying again may succeed. `client_gone` when the client's connection
    /// task has ended, after which that client never works again.
    Transient {
        error: StoreError,
        client_gone: bool,
    },
    Other(StoreError),
}

impl Failure {
    pub(super) fn into_error(self) -> StoreError {
        match self {
            Failure::WrongExpectedVersion { current } => StoreError::EventStoreDb(format!(
                "unexpected wrong expected version (current {current:?})"
            )),
            Failure::NotFound => StoreError::EventStoreDb("stream not found".into()),
            Failure::Transient { error, .. } | Failure::Other(error) => error,
        }
    }
}

pub(super) fn classify(e: Error) -> Failure {
    match e {
        Error::WrongExpectedVersion { current, .. } => Failure::WrongExpectedVersion {
            current: match current {
                CurrentRevision::Current(v) => Some(v),
                CurrentRevision::NoStream => None,
            },
        },
        Error::ResourceNotFound => Failure::NotFound,
        e if is_transient(&e) => Failure::Transient {
            client_gone: matches!(e, Error::ConnectionClosed | Error::GrpcConnectionError(_)),
            error: StoreError::EventStoreDb(e.to_string()),
        },
        e => Failure::Other(StoreError::EventStoreDb(e.to_string())),
    }
}

/// gRPC status codes (the numbers are fixed by the gRPC specification).
const CANCELLED: i32 = 1;
const UNKNOWN: i32 = 2;
const DEADLINE_EXCEEDED: i32 = 4;
const RESOURCE_EXHAUSTED: i32 = 8;
/// What the server answers when a write timed out inside it, or when it dropped a duplicate of a
/// write that is not yet replicated: in both cases the same append sent again gets the answer.
const ABORTED: i32 = 10;
const INTERNAL: i32 = 13;
const UNAVAILABLE: i32 = 14;

fn is_transient(e: &Error) -> bool {
    match e {
        Error::ServerError(_)
        | Error::ConnectionClosed
        | Error::GrpcConnectionError(_)
        | Error::DeadlineExceeded
        | Error::NotLeaderException(_) => true,
        Error::Grpc { code, .. } => matches!(
            *code as i32,
            CANCELLED
                | UNKNOWN
                | DEADLINE_EXCEEDED
                | RESOURCE_EXHAUSTED
                | ABORTED
                | INTERNAL
                | UNAVAILABLE
        ),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use eventstore::{ExpectedRevision, GrpcConnectionError};

    use super::*;

    fn grpc(code: tonic::Code) -> Error {
        Error::Grpc {
            code,
            message: "m".into(),
        }
    }

    #[test]
    fn a_wrong_expected_version_carries_the_streams_current_version() {
        let current = |current| match classify(Error::WrongExpectedVersion {
            expected: ExpectedRevision::Exact(0),
            current,
        }) {
            Failure::WrongExpectedVersion { current } => current,
            other => panic!("{other:?}"),
        };
        assert_eq!(current(CurrentRevision::Current(4)), Some(4));
        assert_eq!(current(CurrentRevision::NoStream), None);
    }

    #[test]
    fn a_missing_stream_is_its_own_case() {
        assert!(matches!(
            classify(Error::ResourceNotFound),
            Failure::NotFound
        ));
    }

    #[test]
    fn transport_failures_may_be_tried_again() {
        for (e, gone) in [
            (
                Error::ServerError("Status { code: Unavailable }".into()),
                false,
            ),
            (Error::DeadlineExceeded, false),
            (grpc(tonic::Code::Aborted), false),
            (grpc(tonic::Code::Unavailable), false),
            (grpc(tonic::Code::Cancelled), false),
            (Error::ConnectionClosed, true),
            (
                Error::GrpcConnectionError(GrpcConnectionError::MaxDiscoveryAttemptReached(3)),
                true,
            ),
        ] {
            match classify(e.clone()) {
                Failure::Transient {
                    error: StoreError::EventStoreDb(_),
                    client_gone,
                } => assert_eq!(client_gone, gone, "{e:?}"),
                other => panic!("{e:?} -> {other:?}"),
            }
        }
    }

    #[test]
    fn other_failures_are_final_eventstoredb_errors() {
        for e in [
            Error::AccessDenied,
            Error::ResourceDeleted,
            Error::UnsupportedFeature,
            Error::InternalParsingError("x".into()),
            grpc(tonic::Code::InvalidArgument),
            grpc(tonic::Code::FailedPrecondition),
        ] {
            match classify(e.clone()) {
                Failure::Other(StoreError::EventStoreDb(text)) => assert_eq!(text, e.to_string()),
                other => panic!("{e:?} -> {other:?}"),
            }
        }
    }

    #[test]
    fn the_grpc_codes_are_the_specifications() {
        assert_eq!(tonic::Code::Cancelled as i32, CANCELLED);
        assert_eq!(tonic::Code::Unknown as i32, UNKNOWN);
        assert_eq!(tonic::Code::DeadlineExceeded as i32, DEADLINE_EXCEEDED);
        assert_eq!(tonic::Code::ResourceExhausted as i32, RESOURCE_EXHAUSTED);
        assert_eq!(tonic::Code::Aborted as i32, ABORTED);
        assert_eq!(tonic::Code::Internal as i32, INTERNAL);
        assert_eq!(tonic::Code::Unavailable as i32, UNAVAILABLE);
    }
}
