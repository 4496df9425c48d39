//! Calendar-feed links. Calendar programs cannot send a bearer token, so an admin hands out a
//! link that is its own credential: `/api/v1/calendar-feeds/{feed_id}.ics?signature=…`, an
//! HMAC over the feed id with a key of its own. The link names no organisation and opens
//! nothing but that organisation's deadline calendar; revoking it (an event) refuses it from the
//! answer on, and a new one can be issued.

use poem::web::{Data, Path as RawPath, Query as RawQuery};
use poem::{Request, Response, handler};
use poem_openapi::param::Path;
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi};
use serde::Deserialize;

use crate::http::access::{ADMINS, org as visible_org};
use crate::http::auth::BearerAuth;
use crate::http::problem::{ApiError, ProblemResponse};
use crate::http::routes::{ApiTags, base_url, metadata};
use crate::http::state::AppState;
use crate::http::wire::Timestamp;

/// The path of a feed's calendar.
fn path(feed_id: &str) -> String {
    format!("/api/v1/calendar-feeds/{feed_id}.ics")
}

pub struct FeedsApi;

/// A calendar-feed link.
#[derive(Debug, Object)]
pub struct FeedLink {
    pub feed_id: String,
    /// The link to subscribe to; `null` once revoked.
    #[oai(nullable)]
    pub url: Option<String>,
    pub issued_at: Timestamp,
    #[oai(nullable)]
    pub issued_by: Option<String>,
    #[oai(nullable)]
    pub revoked_at: Option<Timestamp>,
}

#[derive(Debug, Object)]
pub struct FeedLinkList {
    pub data: Vec<FeedLink>,
}

#[derive(ApiResponse)]
pub enum Issued {
    /// Issued.
    #[oai(status = 201)]
    Created(Json<FeedLink>),
}

#[derive(ApiResponse)]
pub enum Revoked {
    /// Revoked: the link is refused from now on.
    #[oai(status = 204)]
    Done,
}

fn view(state: &AppState, req: &Request, row: projections::organizations::FeedRow) -> FeedLink {
    let url = row.revoked_at.is_none().then(|| {
        format!(
            "{}{}?signature={}",
            base_url(state, req),
            path(&row.feed_id),
            state.feeds.sign(&row.feed_id)
        )
    });
    FeedLink {
        url,
        feed_id: row.feed_id,
        issued_at: row.issued_at.into(),
        issued_by: row.issued_by,
        revoked_at: row.revoked_at.map(Into::into),
    }
}

#[OpenApi(tag = "ApiTags::Organizations")]
impl FeedsApi {
    /// Hand out a calendar-feed link
    ///
    /// Needs the `admin` role. A link calendar programs subscribe to without a token: it opens
    /// the organisation's deadline calendar (`deadlines.ics`) and nothing else, until revoked.
    /// Treat it as a password.
    #[oai(
        path = "/api/v1/organizations/:org_id/calendar-feeds",
        method = "post",
        operation_id = "issueCalendarFeed"
    )]
    async fn issue(
        &self,
        auth: BearerAuth,
        state: Data<&AppState>,
        req: &Request,
        org_id: Path<String>,
    ) -> Result<Issued, ProblemResponse> {
        let caller = auth.0;
        let org = visible_org(&state, &caller, &org_id.0).await?;
        caller.require_any(ADMINS)?;
        let feed_id = commands::organizations::issue_feed_link(
            &state.commands,
            &metadata(&caller, req),
            &org,
        )
        .await?;
        let row = projections::organizations::feed(&state.db.read, &feed_id)
            .await?
            .ok_or_else(|| ApiError::Unavailable("the link is being recorded".into()))?;
        Ok(Issued::Created(Json(view(&state, req, row))))
    }

    /// The organisation's calendar-feed links
    ///
    /// Needs the `admin` role. Every link handed out, revoked or not, oldest first.
    #[oai(
        path = "/api/v1/organizations/:org_id/calendar-feeds",
        method = "get",
        operation_id = "listCalendarFeeds"
    )]
    async fn list(
        &self,
        auth: BearerAuth,
        state: Data<&AppState>,
        req: &Request,
        org_id: Path<String>,
    ) -> Result<Json<FeedLinkList>, ProblemResponse> {
        let caller = auth.0;
        let org = visible_org(&state, &caller, &org_id.0).await?;
        caller.require_any(ADMINS)?;
        let rows = projections::organizations::feeds_of(&state.db.read, org.as_str()).await?;
        let data = rows.into_iter().map(|r| view(&state, req, r)).collect();
        Ok(Json(FeedLinkList { data }))
    }

    /// Revoke a calendar-feed link
    ///
    /// Needs the `admin` role. The link is refused from the answer on.
    #[oai(
        path = "/api/v1/organizations/:org_id/calendar-feeds/:feed_id",
        method = "delete",
        operation_id = "revokeCalendarFeed"
    )]
    async fn revoke(
        &self,
        auth: BearerAuth,
        state: Data<&AppState>,
        req: &Request,
        org_id: Path<String>,
        feed_id: Path<String>,
    ) -> Result<Revoked, ProblemResponse> {
        let caller = auth.0;
        let org = visible_org(&state, &caller, &org_id.0).await?;
        caller.require_any(ADMINS)?;
        commands::organizations::revoke_feed_link(
            &state.commands,
            &metadata(&caller, req),
            &org,
            &feed_id.0,
        )
        .await?;
        Ok(Revoked::Done)
    }
}

#[derive(Deserialize)]
pub struct Signed {
    signature: Option<String>,
    locale: Option<String>,
}

/// `GET /api/v1/calendar-feeds/{feed_id}.ics?signature=…`: the link is the credential.
#[handler]
pub async fn feed(
    RawPath(file): RawPath<String>,
    RawQuery(signed): RawQuery<Signed>,
    state: Data<&AppState>,
) -> Result<Response, ApiError> {
    let refused = || ApiError::Forbidden("this calendar link is not valid".into());
    let feed_id = file.strip_suffix(".ics").ok_or_else(refused)?;
    let signature = signed.signature.ok_or_else(refused)?;
    if !state.feeds.verify(feed_id, &signature) {
        return Err(refused());
    }
    let row = projections::organizations::feed(&state.db.read, feed_id)
        .await?
        .ok_or_else(refused)?;
    if row.revoked_at.is_some() {
        return Err(ApiError::Forbidden(
            "this calendar link was revoked; ask the organisation's admin for a new one".into(),
        ));
    }
    let locale = super::locale(signed.locale)?;
    let text = super::calendar_text(&state, &row.org_id, locale).await?;
    Ok(super::ics_response(text))
}
