//! One error type for the HTTP layer and its one mapping to RFC 9457 problem+json.
//! 5xx causes are logged with their chain and never sent to the client.

use poem::Response;
use poem::http::StatusCode;
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object};

/// An RFC 9457 problem document.
#[derive(Debug, Clone, Object)]
pub struct Problem {
    /// A URI naming the kind of problem; stable, so clients can branch on it.
    #[oai(rename = "type")]
    pub kind: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    /// For validation problems: each field that was wrong.
    #[oai(skip_serializing_if_is_none)]
    pub errors: Option<Vec<FieldError>>,
    /// The request's id, as in the `X-Request-Id` response header; quote it when reporting a
    /// problem. A replayed idempotent answer keeps the id of the request that made it.
    #[oai(skip_serializing_if_is_none)]
    pub request_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Object)]
pub struct FieldError {
    /// The field, as a JSON pointer-like path (`organisasjonsnummer`, `records/3/value`).
    pub field: String,
    /// A stable machine-readable code.
    pub code: String,
    pub message: String,
    /// The message in Norwegian (bokmål), where there is one.
    #[oai(skip_serializing_if_is_none)]
    pub message_nb: Option<String>,
    /// The message in Norwegian (nynorsk), where there is one.
    #[oai(skip_serializing_if_is_none)]
    pub message_nn: Option<String>,
}

impl FieldError {
    pub fn new(field: &str, code: &str, message: impl Into<String>) -> Self {
        FieldError {
            field: field.into(),
            code: code.into(),
            message: message.into(),
            message_nb: None,
            message_nn: None,
        }
    }

    pub fn with_nb(mut self, message_nb: &str) -> Self {
        self.message_nb = Some(message_nb.into());
        self
    }

    pub fn with_nn(mut self, message_nn: &str) -> Self {
        self.message_nn = Some(message_nn.into());
        self
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    Unauthorized(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    /// A command lost the race for its stream every time it tried: a 409 the client may
    /// simply retry (`Retry-After`).
    #[error("{0}")]
    Contended(String),
    #[error("{0}")]
    PayloadTooLarge(String),
    #[error("{0}")]
    HeadersTooLarge(String),
    #[error("{detail}")]
    Unprocessable {
        detail: String,
        errors: Vec<FieldError>,
    },
    #[error("{0}")]
    Unavailable(String),
    #[error("internal error")]
    Internal(#[from] anyhow::Error),
}

impl ApiError {
    pub fn invalid(errors: Vec<FieldError>) -> Self {
        ApiError::Unprocessable {
            detail: "The request is well-formed but not valid.".into(),
            errors,
        }
    }

    pub fn internal(e: impl Into<anyhow::Error>) -> Self {
        ApiError::Internal(e.into())
    }

    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Conflict(_) | ApiError::Contended(_) => StatusCode::CONFLICT,
            ApiError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::HeadersTooLarge(_) => StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            ApiError::Unprocessable { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    pub fn problem(&self) -> Problem {
        let status = self.status();
        let detail = match self {
            ApiError::Internal(e) => {
                tracing::error!(error.cause_chain = ?e, "request failed");
                "The server failed to handle this request; it has been logged.".to_string()
            }
            other => other.to_string(),
        };
        let errors = match self {
            ApiError::Unprocessable { errors, .. } => Some(errors.clone()),
            _ => None,
        };
        problem(status, detail, errors)
    }
}

pub fn problem(status: StatusCode, detail: String, errors: Option<Vec<FieldError>>) -> Problem {
    let title = status.canonical_reason().unwrap_or("Error").to_string();
    let slug = title.to_lowercase().replace(' ', "-");
    Problem {
        kind: format!("https://bufdir-reporting.no/problems/{slug}"),
        title,
        status: status.as_u16(),
        detail,
        errors,
        request_id: crate::http::request_id::request_id(),
    }
}

/// What a 503 asks the client to wait before trying again.
pub(crate) const RETRY_AFTER_SECONDS: u64 = 5;

/// What a 409 of a contended command asks the client to wait: the race is over in moments.
pub(crate) const CONTENDED_RETRY_AFTER_SECONDS: u64 = 1;

/// The error responses every operation declares, so generated clients know their shape.
#[derive(ApiResponse, Debug)]
pub(crate) enum ProblemResponse {
    /// Malformed request (unparseable JSON, wrong types, bad query parameters).
    #[oai(status = 400, content_type = "application/problem+json")]
    BadRequest(Json<Problem>),
    /// Missing, expired or invalid bearer token.
    #[oai(status = 401, content_type = "application/problem+json")]
    Unauthorized(Json<Problem>),
    /// The token's roles do not allow this.
    #[oai(status = 403, content_type = "application/problem+json")]
    Forbidden(Json<Problem>),
    /// Unknown, or belonging to an organisation the caller is not in.
    #[oai(status = 404, content_type = "application/problem+json")]
    NotFound(Json<Problem>),
    /// The resource's state does not allow this; or, with `Retry-After`, other changes to it
    /// arrived at the same moment: try again.
    #[oai(status = 409, content_type = "application/problem+json")]
    Conflict(Json<Problem>, #[oai(header = "Retry-After")] Option<u64>),
    /// The request body is too large.
    #[oai(status = 413, content_type = "application/problem+json")]
    PayloadTooLarge(Json<Problem>),
    /// The body's `Content-Type` is missing or not one the operation takes.
    #[oai(status = 415, content_type = "application/problem+json")]
    #[expect(
        dead_code,
        reason = "it puts the 415 into the spec; poem answers it before any handler runs, and \
                  `catch_all` makes that answer a problem document"
    )]
    UnsupportedMediaType(Json<Problem>),
    /// The request's headers together are too large.
    #[oai(status = 431, content_type = "application/problem+json")]
    HeadersTooLarge(Json<Problem>),
    /// Well-formed but invalid; `errors` names each field.
    #[oai(status = 422, content_type = "application/problem+json")]
    Unprocessable(Json<Problem>),
    /// The server failed.
    #[oai(status = 500, content_type = "application/problem+json")]
    Internal(Json<Problem>),
    /// Temporarily unable; retry later.
    #[oai(status = 503, content_type = "application/problem+json")]
    Unavailable(Json<Problem>, #[oai(header = "Retry-After")] u64),
}

/// Anything that maps to an [`ApiError`] (a command's failure, a read model's) answers as one,
/// so handlers can use `?` on it.
impl<E: Into<ApiError>> From<E> for ProblemResponse {
    fn from(e: E) -> Self {
        let e: ApiError = e.into();
        let p = Json(e.problem());
        match e {
            ApiError::BadRequest(_) => ProblemResponse::BadRequest(p),
            ApiError::Unauthorized(_) => ProblemResponse::Unauthorized(p),
            ApiError::Forbidden(_) => ProblemResponse::Forbidden(p),
            ApiError::NotFound(_) => ProblemResponse::NotFound(p),
            ApiError::Conflict(_) => ProblemResponse::Conflict(p, None),
            ApiError::Contended(_) => {
                ProblemResponse::Conflict(p, Some(CONTENDED_RETRY_AFTER_SECONDS))
            }
            ApiError::PayloadTooLarge(_) => ProblemResponse::PayloadTooLarge(p),
            ApiError::HeadersTooLarge(_) => ProblemResponse::HeadersTooLarge(p),
            ApiError::Unprocessable { .. } => ProblemResponse::Unprocessable(p),
            ApiError::Unavailable(_) => ProblemResponse::Unavailable(p, RETRY_AFTER_SECONDS),
            ApiError::Internal(_) => ProblemResponse::Internal(p),
        }
    }
}

impl poem::error::ResponseError for ApiError {
    fn status(&self) -> StatusCode {
        ApiError::status(self)
    }

    fn as_response(&self) -> Response {
        let mut response = problem_response(&self.problem());
        if let ApiError::Contended(_) = self {
            response.headers_mut().insert(
                "Retry-After",
                poem::http::HeaderValue::from(CONTENDED_RETRY_AFTER_SECONDS),
            );
        }
        response
    }
}

pub fn problem_response(p: &Problem) -> Response {
    let mut body = serde_json::json!({
        "type": p.kind, "title": p.title, "status": p.status, "detail": p.detail,
    });
    if let Some(errors) = &p.errors {
        body["errors"] = errors
            .iter()
            .map(|e| {
                let mut error =
                    serde_json::json!({"field": e.field, "code": e.code, "message": e.message});
                if let Some(nb) = &e.message_nb {
                    error["message_nb"] = nb.clone().into();
                }
                error
            })
            .collect();
    }
    if let Some(id) = &p.request_id {
        body["request_id"] = id.clone().into();
    }
    let status = StatusCode::from_u16(p.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = Response::builder()
        .status(status)
        .content_type("application/problem+json");
    if status == StatusCode::SERVICE_UNAVAILABLE {
        response = response.header("Retry-After", RETRY_AFTER_SECONDS);
    }

    response.body(body.to_string())
}

/// Route-wide: errors that never reached a handler (unknown route, unparseable body or
/// parameter, missing token, body too large) come out as problem+json too.
pub(crate) async fn catch_all(err: poem::Error) -> Response {
    // Metrics label a request by the route it matched, which the router left on the error.
    let route = err.data::<poem::PathPattern>().cloned();
    let mut response = error_response(err);
    if let Some(route) = route {
        response.set_data(route);
    }
    response
}

fn error_response(err: poem::Error) -> Response {
    if let Some(api) = err.downcast_ref::<ApiError>() {
        return poem::error::ResponseError::as_response(api);
    }
    if err.is_from_response() {
        return err.into_response();
    }
    let status = err.status();
    let detail = if status.is_server_error() {
        tracing::error!(error = %store::causes(&err), "request failed outside a handler");
        "The server failed to handle this request; it has been logged.".to_string()
    } else {
        err.to_string()
    };
    problem_response(&problem(status, detail, None))
}
