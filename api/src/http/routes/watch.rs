//! The live preview: a Server-Sent Events stream of an organisation's snapshot changes, resumable
//! with `Last-Event-ID`, for the staff who watch a report change before it goes out.

use bytes::Bytes;
use futures::StreamExt;
use futures::stream::BoxStream;
use poem::web::Data;
use poem::{Body, IntoResponse, Request, Response};
use poem_openapi::auth::ApiKey;
use poem_openapi::param::{Header, Query};
use poem_openapi::payload::{EventStream, Payload};
use poem_openapi::registry::{MetaMediaType, MetaResponse, MetaResponses, Registry};
use poem_openapi::{ApiResponse, OpenApi, SecurityScheme};

use crate::http::access::org as visible_org;
use crate::http::auth::{BearerAuth, Caller, Keys};
use crate::http::problem::{ApiError, FieldError, ProblemResponse};
use crate::http::routes::ApiTags;
use crate::http::state::AppState;
use crate::http::text::PeriodIdText;
use crate::http::watch::{Frame, WatchEvent};

pub struct WatchApi;

/// Browsers' `EventSource` cannot set headers, so the token may come as `?access_token=`.
#[derive(SecurityScheme)]
#[oai(
    ty = "api_key",
    key_name = "access_token",
    key_in = "query",
    checker = "check_query_token"
)]
pub(crate) struct QueryToken(Caller);

async fn check_query_token(req: &Request, key: ApiKey) -> poem::Result<Caller> {
    let keys = req.data::<Keys>().expect("Keys are in the app data");
    keys.verify_request(&key.key).await.map_err(Into::into)
}

#[derive(SecurityScheme)]
pub(crate) enum WatchAuth {
    Bearer(BearerAuth),
    Query(QueryToken),
}

impl WatchAuth {
    fn caller(self) -> Caller {
        match self {
            WatchAuth::Bearer(b) => b.0,
            WatchAuth::Query(q) => q.0,
        }
    }
}

/// How long a client waits before reconnecting, sent once at the start of the stream.
const RETRY: &[u8] = b"retry: 3000\n\n";

/// `text/event-stream` of [`WatchEvent`]s: `id:` is the store position (send it back as
/// `Last-Event-ID` to resume), `event:` is `data_updated` or `snapshot_status_changed`, `data:`
/// the JSON object.
pub(crate) struct WatchStream(BoxStream<'static, Frame>);

type Described = EventStream<BoxStream<'static, WatchEvent>>;

impl ApiResponse for WatchStream {
    fn meta() -> MetaResponses {
        MetaResponses {
            responses: vec![MetaResponse {
                description: "Server-Sent Events: each message's `id` is a store position, `event` its kind, `data` a WatchEvent.",
                status: Some(200),
                status_range: None,
                content: vec![MetaMediaType {
                    content_type: Described::CONTENT_TYPE,
                    schema: Described::schema_ref(),
                }],
                headers: vec![],
            }],
        }
    }

    fn register(registry: &mut Registry) {
        <Described as ApiResponse>::register(registry);
    }
}

impl IntoResponse for WatchStream {
    fn into_response(self) -> Response {
        // The frames are already SSE text (see `crate::http::watch`): written as they are.
        let frames = futures::stream::once(async { Bytes::from_static(RETRY) })
            .chain(self.0.map(|frame| frame.bytes()))
            .map(Ok::<_, std::io::Error>);
        Response::builder()
            .content_type(Described::CONTENT_TYPE)
            .header(poem::http::header::CACHE_CONTROL, "no-cache")
            .body(Body::from_bytes_stream(frames))
    }
}

#[OpenApi(tag = "ApiTags::AggregatedReportData")]
impl WatchApi {
    /// Follow changes of an organisation's period live (Server-Sent Events)
    ///
    /// Events: `data_updated` (changed sections and field keys) and `snapshot_status_changed`.
    /// Reconnect with `Last-Event-ID` to receive exactly what was missed. A comment heartbeat
    /// comes every 15 s. Generated clients do not read event streams: use an EventSource or an
    /// SSE library, with `?access_token=` where headers cannot be set.
    #[oai(
        path = "/api/v1/aggregated-report-data/watch",
        method = "get",
        operation_id = "watchReportData"
    )]
    async fn watch(
        &self,
        auth: WatchAuth,
        state: Data<&AppState>,
        organization_id: Query<String>,
        period_id: Query<PeriodIdText>,
        /// The `id` of the last event received; the stream resumes right after it.
        #[oai(name = "Last-Event-ID")]
        last_event_id: Header<Option<String>>,
    ) -> Result<WatchStream, ProblemResponse> {
        let caller = auth.caller();
        let org_id = visible_org(&state, &caller, &organization_id.0).await?;
        let period = domain::PeriodId::parse(&period_id.0).map_err(|e| {
            ApiError::invalid(vec![FieldError::new(
                "period_id",
                "invalid_period",
                e.to_string(),
            )])
        })?;
        let after = last_event_id
            .0
            .as_deref()
            .map(|id| {
                id.trim().parse::<store::Position>().map_err(|_| {
                    ApiError::BadRequest(format!(
                        "Last-Event-ID {id:?} is not an event id of this stream"
                    ))
                })
            })
            .transpose()?;
        let items = state
            .watch
            .watch(org_id.to_string(), period.to_string(), after)
            .await?;
        Ok(WatchStream(items.boxed()))
    }
}
