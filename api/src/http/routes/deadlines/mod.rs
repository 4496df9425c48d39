//! An organisation's reporting deadlines (`/api/v1/organizations/{org_id}/deadlines`): each
//! period's due date and milestones from the reporting calendar, and where it stands now; the
//! same as a calendar file (`deadlines.ics`); the calendar they follow; and feed links.

pub mod calendar;
pub mod feeds;
mod ics;

use chrono::{Datelike, NaiveDate};
use domain::calendar::{Cadence, DeadlineStatus, in_norway};
use domain::{Locale, OrgId};
use poem::web::Data;
use poem::{IntoResponse, Response};
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::{Json, Payload};
use poem_openapi::registry::MetaSchemaRef;
use poem_openapi::types::Type;
use poem_openapi::{ApiResponse, Enum, Object, OpenApi};

use crate::http::access::org as visible_org;
use crate::http::auth::BearerAuth;
use crate::http::problem::{ApiError, FieldError, ProblemResponse};
use crate::http::routes::ApiTags;
use crate::http::routes::bufdir_api::ValidationIssue;
use crate::http::state::AppState;
use crate::http::wire::Timestamp;

pub struct DeadlinesApi;

/// Which reports a deadline is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub enum DeadlineCadence {
    Annual,
    Quarterly,
}

/// Where a deadline stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub enum DeadlineState {
    /// Not due yet, and not at risk.
    Upcoming,
    /// Due soon and not ready: `reasons` says why.
    AtRisk,
    /// Bufdir received the report by the end of its due day (Norwegian time).
    SubmittedOnTime,
    /// Bufdir received it after that.
    SubmittedLate,
    /// Due, and Bufdir has not received it.
    Missed,
}

impl From<&DeadlineStatus> for DeadlineState {
    fn from(s: &DeadlineStatus) -> Self {
        match s {
            DeadlineStatus::Upcoming => DeadlineState::Upcoming,
            DeadlineStatus::AtRisk(_) => DeadlineState::AtRisk,
            DeadlineStatus::SubmittedOnTime => DeadlineState::SubmittedOnTime,
            DeadlineStatus::SubmittedLate => DeadlineState::SubmittedLate,
            DeadlineStatus::Missed => DeadlineState::Missed,
        }
    }
}

/// A step before the due date.
#[derive(Debug, Object)]
pub(crate) struct MilestoneView {
    pub name: String,
    /// The end of its day in Norway.
    pub at: Timestamp,
}

#[derive(Debug, Object)]
pub(crate) struct DeadlineView {
    pub period_id: String,
    pub cadence: DeadlineCadence,
    /// The due day, in Norway (`YYYY-MM-DD`).
    pub due_on: String,
    /// The last moment that is on time: the end of the due day, Norwegian time.
    pub due_at: Timestamp,
    /// From when an unready report is at risk.
    pub at_risk_from: Timestamp,
    pub milestones: Vec<MilestoneView>,
    pub status: DeadlineState,
    /// Why it is at risk, in the validator's words and pointers (empty otherwise).
    pub reasons: Vec<ValidationIssue>,
    /// When Bufdir received the period's report.
    #[oai(nullable)]
    pub received_at: Option<Timestamp>,
}

#[derive(Debug, Object)]
pub(crate) struct DeadlineList {
    pub data: Vec<DeadlineView>,
}

fn date(name: &str, value: Option<String>) -> Result<Option<NaiveDate>, ApiError> {
    value
        .map(|v| {
            v.parse::<NaiveDate>().map_err(|_| {
                ApiError::invalid(vec![FieldError::new(
                    name,
                    "invalid_date",
                    format!("{name} is a date, YYYY-MM-DD"),
                )])
            })
        })
        .transpose()
}

/// A `text/calendar` body (RFC 5545).
pub struct Ics(pub String);

impl Payload for Ics {
    const CONTENT_TYPE: &'static str = "text/calendar";

    fn schema_ref() -> MetaSchemaRef {
        String::schema_ref()
    }
}

impl IntoResponse for Ics {
    fn into_response(self) -> Response {
        ics_response(self.0)
    }
}

fn ics_response(text: String) -> Response {
    Response::builder()
        .content_type("text/calendar; charset=utf-8")
        // The deadlines change with the log; a calendar program fetches them again.
        .header("Cache-Control", "no-store")
        .body(text)
}

#[derive(ApiResponse)]
pub(crate) enum CalendarFile {
    /// The calendar.
    #[oai(status = 200)]
    Ok(Ics),
}

/// `nb`, `nn` or `en` (or `nb-NO`, `nn-NO`, `en-GB`); bokmål when not given.
fn locale(tag: Option<String>) -> Result<Locale, ApiError> {
    let Some(tag) = tag else {
        return Ok(Locale::NbNo);
    };
    let full = match tag.to_ascii_lowercase().as_str() {
        "nb" => "nb-NO".to_string(),
        "nn" => "nn-NO".to_string(),
        "en" => "en-GB".to_string(),
        _ => tag.clone(),
    };
    Locale::parse(&full).ok_or_else(|| {
        ApiError::invalid(vec![FieldError::new(
            "locale",
            "invalid_locale",
            "locale is nb, nn or en",
        )])
    })
}

/// The organisation's deadlines as a calendar: last year's periods to next year's.
async fn calendar_text(state: &AppState, org: &OrgId, locale: Locale) -> Result<String, ApiError> {
    let row = projections::organizations::get(&state.db.read, org.as_str())
        .await?
        .ok_or_else(|| ApiError::NotFound("organisation not found".into()))?;
    let now = state.commands.clock.now();
    let year = in_norway(now).year();
    let from = NaiveDate::from_ymd_opt(year - 1, 1, 1).expect("a date");
    let to = NaiveDate::from_ymd_opt(year + 1, 12, 31).expect("a date");
    let views = commands::deadlines::list(&state.commands, org, from, to).await?;
    Ok(ics::render(org.as_str(), &row.name, &views, locale, now))
}

#[OpenApi(tag = "ApiTags::Organizations")]
impl DeadlinesApi {
    /// An organisation's deadlines as a calendar
    ///
    /// Any role of the organisation. An RFC 5545 calendar (`text/calendar`) with an all-day
    /// event on each due day and milestone from last year's periods to next year's, alarms at
    /// the reminders' moments, and UIDs that stay the same when the calendar is fetched again.
    /// Calendar programs that cannot send a token subscribe through a feed link
    /// (`issueCalendarFeed`) instead. `locale`: `nb` (default), `nn` or `en`.
    #[oai(
        path = "/api/v1/organizations/:org_id/deadlines.ics",
        method = "get",
        operation_id = "getDeadlineCalendar"
    )]
    async fn calendar(
        &self,
        auth: BearerAuth,
        state: Data<&AppState>,
        org_id: Path<String>,
        /// `nb`, `nn` or `en`.
        locale: Query<Option<String>>,
    ) -> Result<CalendarFile, ProblemResponse> {
        let org = visible_org(&state, &auth.0, &org_id.0).await?;
        let locale = self::locale(locale.0)?;
        Ok(CalendarFile::Ok(Ics(
            calendar_text(&state, &org, locale).await?
        )))
    }

    /// An organisation's reporting deadlines
    ///
    /// Any role of the organisation. The deadlines of the periods that end between
    /// `period_from` and `period_to` (default: from the start of last year to the end of this one, in Norway), by due
    /// date, each with its status now: `upcoming`, `at_risk` (inside its window and not ready:
    /// no data, the validator's errors, or approvals the policy still needs, in `reasons`),
    /// `submitted_on_time`, `submitted_late` (by when Bufdir received it) or `missed`.
    #[oai(
        path = "/api/v1/organizations/:org_id/deadlines",
        method = "get",
        operation_id = "listDeadlines"
    )]
    async fn list(
        &self,
        auth: BearerAuth,
        state: Data<&AppState>,
        org_id: Path<String>,
        /// Periods ending on or after this day (`YYYY-MM-DD`).
        period_from: Query<Option<String>>,
        /// Periods ending on or before this day (`YYYY-MM-DD`).
        period_to: Query<Option<String>>,
        /// Only deadlines in this state.
        status: Query<Option<DeadlineState>>,
    ) -> Result<Json<DeadlineList>, ProblemResponse> {
        let org = visible_org(&state, &auth.0, &org_id.0).await?;
        let today = in_norway(state.commands.clock.now()).date_naive();
        let from = date("period_from", period_from.0)?
            .unwrap_or_else(|| NaiveDate::from_ymd_opt(today.year() - 1, 1, 1).expect("a date"));
        let to = date("period_to", period_to.0)?
            .unwrap_or_else(|| NaiveDate::from_ymd_opt(today.year(), 12, 31).expect("a date"));
        let listed = commands::deadlines::list(&state.commands, &org, from, to).await?;
        let data = listed
            .into_iter()
            .map(|v| {
                let reasons = match &v.status {
                    DeadlineStatus::AtRisk(why) => why.iter().map(Into::into).collect(),
                    _ => vec![],
                };
                DeadlineView {
                    period_id: v.deadline.period.to_string(),
                    cadence: match v.deadline.cadence {
                        Cadence::Annual => DeadlineCadence::Annual,
                        Cadence::Quarterly => DeadlineCadence::Quarterly,
                    },
                    due_on: v.deadline.due_on.to_string(),
                    due_at: v.deadline.due_at.into(),
                    at_risk_from: v.deadline.at_risk_from.into(),
                    milestones: v
                        .deadline
                        .milestones
                        .into_iter()
                        .map(|(name, at)| MilestoneView {
                            name,
                            at: at.into(),
                        })
                        .collect(),
                    status: (&v.status).into(),
                    reasons,
                    received_at: v.received_at.map(Into::into),
                }
            })
            .filter(|d| status.0.is_none_or(|s| s == d.status))
            .collect();
        Ok(Json(DeadlineList { data }))
    }
}
