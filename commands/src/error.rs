//! The one way a command fails. "The aggregate said no" ([`Error::Rejected`]) stays apart from
//! "the request itself is wrong", "it is not there", and "we failed to record or read it", all
//! the way to HTTP, where one mapping turns each into problem+json.

use domain::{DecodeError, Issue};
use projections::ProjectionError;
use store::StoreError;

use crate::privacy::PrivacyError;

/// Why a command did not do what was asked. `E` is the refusal of the domain that decided.
#[derive(Debug, thiserror::Error)]
pub enum Error<E: std::error::Error> {
    /// The domain said no: the state (or a rule) does not allow it.
    #[error(transparent)]
    Rejected(E),
    /// The request is not valid; each issue points into it. Nothing was recorded.
    #[error("the request is not valid: {}", summary(.0))]
    Invalid(Vec<Issue>),
    /// What the request names does not exist (or is not the caller's to see).
    #[error("{0}")]
    NotFound(String),
    /// Other writers kept getting to the stream first.
    #[error("the stream kept changing under the command")]
    Contended,
    /// Recorded (or found unnecessary), but the read model has not shown it within the wait.
    #[error("{0}; retry shortly")]
    NotVisibleYet(&'static str),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Decode(#[from] DecodeError),
    #[error(transparent)]
    ReadModel(#[from] ProjectionError),
    /// A data subject's key could not be had.
    #[error(transparent)]
    Privacy(#[from] PrivacyError),
}

fn summary(issues: &[Issue]) -> String {
    let parts: Vec<String> = issues
        .iter()
        .map(|i| format!("{}: {}", i.pointer, i.message_en))
        .collect();
    parts.join("; ")
}

impl<E: std::error::Error> Error<E> {
    /// One issue with the request, at `pointer`.
    pub fn invalid(pointer: &str, code: &'static str, message: impl Into<String>) -> Self {
        let message = message.into();
        Error::Invalid(vec![Issue {
            pointer: pointer.to_string(),
            code,
            message_nb: message.clone(),
            message_nn: message.clone(),
            message_en: message,
        }])
    }

    /// The same failure, with the domain's refusal turned into `F` (a command built on another
    /// command's aggregate, which words its refusals its own way).
    pub fn map_rejected<F: std::error::Error>(self, f: impl FnOnce(E) -> F) -> Error<F> {
        match self {
            Error::Rejected(e) => Error::Rejected(f(e)),
            Error::Invalid(issues) => Error::Invalid(issues),
            Error::NotFound(what) => Error::NotFound(what),
            Error::Contended => Error::Contended,
            Error::NotVisibleYet(what) => Error::NotVisibleYet(what),
            Error::Store(e) => Error::Store(e),
            Error::Decode(e) => Error::Decode(e),
            Error::ReadModel(e) => Error::ReadModel(e),
            Error::Privacy(e) => Error::Privacy(e),
        }
    }
}
