//! Refuses request bodies over the limit with 413, whether or not they announce their length
//! (poem's own SizeLimit also refuses every request without a Content-Length, GETs included),
//! and requests whose headers together exceed [`MAX_HEADER_BYTES`] with 431: hyper alone would
//! take several hundred kilobytes of headers on every request.

use poem::{Endpoint, IntoResponse, Middleware, Request, Response};

use crate::http::problem::ApiError;

/// Largest request body accepted (413 beyond).
pub const MAX_BODY_BYTES: usize = 16 * 1024 * 1024;

/// Names and values of all request headers together; far above what browsers and clients send
/// (a bearer token is about 400 bytes), so only abuse is refused.
pub(crate) const MAX_HEADER_BYTES: usize = 32 * 1024;

/// `max` for every body but file uploads, which may be up to `uploads` and are counted by
/// their handler as they stream to disk, never held in memory.
pub(crate) struct BodyLimit {
    pub max: usize,
    pub uploads: u64,
}

impl<E: Endpoint> Middleware<E> for BodyLimit {
    type Output = BodyLimitEndpoint<E>;

    fn transform(&self, inner: E) -> Self::Output {
        BodyLimitEndpoint {
            inner,
            max: self.max,
            uploads: self.uploads,
        }
    }
}

pub struct BodyLimitEndpoint<E> {
    inner: E,
    max: usize,
    uploads: u64,
}

/// The file uploads (`PUT …/upload`), which take larger bodies than the JSON operations.
fn is_upload(req: &Request) -> bool {
    req.method() == poem::http::Method::PUT && req.uri().path().ends_with("/upload")
}

impl<E: Endpoint> Endpoint for BodyLimitEndpoint<E> {
    type Output = Response;

    async fn call(&self, mut req: Request) -> poem::Result<Response> {
        let header_bytes: usize = req
            .headers()
            .iter()
            .map(|(name, value)| name.as_str().len() + value.len())
            .sum();
        if header_bytes > MAX_HEADER_BYTES {
            return Err(ApiError::HeadersTooLarge(format!(
                "the request headers are larger than {MAX_HEADER_BYTES} bytes"
            ))
            .into());
        }
        let upload = is_upload(&req);
        let max = if upload {
            self.uploads
        } else {
            self.max as u64
        };
        let too_large =
            || ApiError::PayloadTooLarge(format!("the request body is larger than {max} bytes"));
        let announced = req
            .headers()
            .get("content-length")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        match announced {
            Some(n) if n > max => return Err(too_large().into()),
            _ if upload => {}
            Some(_) => {}
            None => {
                let body = req
                    .take_body()
                    .into_bytes_limit(self.max)
                    .await
                    .map_err(|_| too_large())?;
                req.set_body(body);
            }
        }
        self.inner.call(req).await.map(IntoResponse::into_response)
    }
}
