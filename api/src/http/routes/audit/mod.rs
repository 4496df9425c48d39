//! The audit trail: the event log itself, in log order, for admins. Every read model is rebuilt
//! from it, so paging through it shows everything the service has recorded, who caused it and
//! when.

mod types;

use poem::web::Data;
use poem_openapi::OpenApi;
use poem_openapi::param::Query;
use poem_openapi::payload::Json;
use store::Position;

use crate::http::auth::{BearerAuth, Role};
use crate::http::problem::{ApiError, ProblemResponse};
use crate::http::routes::ApiTags;
use crate::http::state::AppState;
use crate::http::text::PositionText;
use projections::stream_owners::StreamOwners;
use types::*;

pub struct AuditApi;

const DEFAULT_LIMIT: u32 = 100;

#[OpenApi(tag = "ApiTags::Audit")]
impl AuditApi {
    /// Read the event log
    ///
    /// Needs the `admin` role. Events in log order, each with its envelope (position, stream,
    /// version, type, schema version, id, payload, and who caused it). Page through the whole
    /// log by passing each page's `next_after` as `after` until it is `null`. `limit` is how
    /// many events of the log a page scans: with `stream` or `org` a page may hold fewer events,
    /// or none, and still move on, so keep following `next_after`. To follow the log later,
    /// continue after the last position you received.
    ///
    /// An event belongs to the organisation that owns its stream. Streams of organisations,
    /// source data, Bufdir access, snapshots and submissions are named
    /// `{category}-{org_id}` or `{category}-{org_id}:{...}`, and the id in the name is matched
    /// exactly (`org-demo` is not `org-demo-ungdom`). Any other stream (exports, reports) belongs
    /// to the organisation named by the `org_id` of its first event, the one that created it,
    /// so all its later events count too, even those that do not name the organisation.
    #[oai(
        path = "/api/v1/audit/events",
        method = "get",
        operation_id = "listAuditEvents"
    )]
    #[allow(clippy::too_many_arguments)]
    async fn events(
        &self,
        auth: BearerAuth,
        state: Data<&AppState>,
        /// Only this stream, by its exact name (`organization-org-demo`).
        stream: Query<Option<String>>,
        /// Only streams of this category, the part of a stream name before its first `-`
        /// (`organization`, `sourcedata`, `snapshot`, `submission`, `export`, `report`, ...).
        category: Query<Option<String>>,
        /// Only events of this organisation (see above how an event's organisation is found).
        org: Query<Option<String>>,
        /// Continue after this position: a page's `next_after`, or an event's `position`.
        after: Query<Option<PositionText>>,
        /// How many events of the log this page scans (default 100, at most 1000).
        #[oai(validator(minimum(value = "1"), maximum(value = "1000")))]
        limit: Query<Option<u32>>,
    ) -> Result<Json<AuditEventPage>, ProblemResponse> {
        auth.0.require_any(&[Role::Admin])?;
        let after = after
            .0
            .as_deref()
            .map(|a| {
                a.parse::<Position>().map_err(|_| {
                    ApiError::BadRequest(format!(
                        "after {a:?} is not a log position: pass a next_after or an event's position"
                    ))
                })
            })
            .transpose()?;
        let limit = limit.0.unwrap_or(DEFAULT_LIMIT) as usize;
        let wanted = Wanted {
            stream: stream.0,
            category: category.0,
            org: org.0,
        };
        let Some(filter) = wanted.store_filter() else {
            return Ok(Json(AuditEventPage {
                data: vec![],
                next_after: None,
            }));
        };
        let scanned = state
            .db
            .events
            .read_all(after.as_ref(), &filter, limit)
            .await?;
        // The store answers fewer than asked only when nothing more is readable yet.
        let next_after = (scanned.len() == limit)
            .then(|| scanned.last().map(|e| e.position.to_string()))
            .flatten();
        let mut owners = StreamOwners::new(state.db.events.as_ref());
        let mut opener = commands::privacy::Opener::new(&state.db.read);
        let mut data = Vec::new();
        for mut event in scanned {
            if wanted.matches(&event, &mut owners).await? {
                // Personal data shown opened, or as erased once its key is gone; the hash
                // stays the one of the stored (encrypted) event.
                opener
                    .reveal(&mut event.payload)
                    .await
                    .map_err(ApiError::from)?;
                if let Some(person) = event.metadata.person.as_mut() {
                    opener.reveal_actor(person).await.map_err(ApiError::from)?;
                }
                data.push(event.into());
            }
        }
        Ok(Json(AuditEventPage { data, next_after }))
    }

    /// List the seals of the event log
    ///
    /// Needs the `admin` role. A seal (made every `SEAL_EVERY_EVENTS` events or
    /// `SEAL_EVERY_SECONDS`, whichever comes first, and by `audit seal`) holds the running
    /// digest of the whole log up to a position and the hash of the seal before it. A digest
    /// kept outside the system proves later that the log up to it is unchanged
    /// (`bufdir-reporting audit verify --expect POSITION:DIGEST`). Oldest first; pass
    /// `next_after` as `after` for the next page.
    #[oai(
        path = "/api/v1/audit/seals",
        method = "get",
        operation_id = "listAuditSeals"
    )]
    async fn seals(
        &self,
        auth: BearerAuth,
        state: Data<&AppState>,
        /// Continue after this seal (a page's `next_after`, or a seal's `version`).
        #[oai(validator(minimum(value = "0"), maximum(value = "9007199254740991")))]
        after: Query<Option<u64>>,
        /// How many seals a page holds (default 100, at most 1000).
        #[oai(validator(minimum(value = "1"), maximum(value = "1000")))]
        limit: Query<Option<u32>>,
    ) -> Result<Json<AuditSealPage>, ProblemResponse> {
        auth.0.require_any(&[Role::Admin])?;
        let limit = limit.0.unwrap_or(DEFAULT_LIMIT) as usize;
        let from = after.0.map_or(0, |a| a.saturating_add(1));
        let mut seals = commands::log_seals::list_from(state.db.events.as_ref(), from).await?;
        let more = seals.len() > limit;
        seals.truncate(limit);
        let next_after = more.then(|| seals.last().map(|s| s.version)).flatten();
        Ok(Json(AuditSealPage {
            data: seals.into_iter().map(Into::into).collect(),
            next_after,
        }))
    }
}
