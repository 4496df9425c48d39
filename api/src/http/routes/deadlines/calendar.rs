//! An organisation's reporting calendar (`/api/v1/organizations/{org_id}/calendar`): the
//! service's, or its own as an admin set it. Setting it is an event; its deadlines follow.

use domain::calendar::{Cadence, Calendar, Due, Milestone, Rule};
use poem::Request;
use poem::web::Data;
use poem_openapi::param::Path;
use poem_openapi::payload::Json;
use poem_openapi::{Enum, Object, OpenApi};

use super::DeadlineCadence;
use crate::http::access::{ADMINS, org as visible_org};
use crate::http::auth::BearerAuth;
use crate::http::problem::{ApiError, FieldError, ProblemResponse};
use crate::http::routes::{ApiTags, metadata};
use crate::http::state::AppState;

pub struct CalendarApi;

/// Whose calendar an organisation follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub enum CalendarSource {
    /// The service's (`CALENDAR_FILE`, or the shipped one).
    Service,
    /// Its own, set by an admin.
    Organization,
}

/// When a period's report is due: a fixed day of the following year (`month` and `day`), or a
/// number of days after the period's last day (`days_after_end`).
#[derive(Debug, Clone, Object)]
pub struct DueRule {
    #[oai(skip_serializing_if_is_none)]
    pub month: Option<i64>,
    #[oai(skip_serializing_if_is_none)]
    pub day: Option<i64>,
    #[oai(skip_serializing_if_is_none)]
    pub days_after_end: Option<i64>,
}

/// A step before the due day.
#[derive(Debug, Clone, Object)]
pub struct MilestoneRule {
    /// `a-z`, `0-9` and `_` (`draft_ready`, `approvals_done`).
    pub name: String,
    pub days_before: i64,
}

fn default_at_risk_days() -> i64 {
    14
}

fn default_reminders() -> Vec<i64> {
    vec![14, 3]
}

/// One kind of report and when it is due.
#[derive(Debug, Clone, Object)]
pub struct CalendarRule {
    pub cadence: DeadlineCadence,
    pub due: DueRule,
    #[oai(default)]
    pub milestones: Vec<MilestoneRule>,
    /// How many days before the due day an unready report is at risk (default 14).
    #[oai(default = "default_at_risk_days")]
    pub at_risk_days: i64,
    /// How many days before the due day `deadline.approaching` goes out, at 08:00 Norwegian
    /// time (default 14 and 3).
    #[oai(default = "default_reminders")]
    pub reminders_days_before: Vec<i64>,
}

#[derive(Debug, Object)]
pub struct CalendarBody {
    /// At most one rule per cadence.
    pub rules: Vec<CalendarRule>,
}

#[derive(Debug, Object)]
pub struct CalendarDoc {
    pub source: CalendarSource,
    pub rules: Vec<CalendarRule>,
}

fn doc(source: CalendarSource, calendar: &Calendar) -> CalendarDoc {
    let rules = calendar
        .rules
        .iter()
        .map(|r| CalendarRule {
            cadence: match r.cadence {
                Cadence::Annual => DeadlineCadence::Annual,
                Cadence::Quarterly => DeadlineCadence::Quarterly,
            },
            due: match r.due {
                Due::FollowingYear { month, day } => DueRule {
                    month: Some(month.into()),
                    day: Some(day.into()),
                    days_after_end: None,
                },
                Due::DaysAfterEnd(days) => DueRule {
                    month: None,
                    day: None,
                    days_after_end: Some(days.into()),
                },
            },
            milestones: r
                .milestones
                .iter()
                .map(|m| MilestoneRule {
                    name: m.name.clone(),
                    days_before: m.days_before.into(),
                })
                .collect(),
            at_risk_days: r.at_risk_days.into(),
            reminders_days_before: r
                .reminders_days_before
                .iter()
                .map(|d| (*d).into())
                .collect(),
        })
        .collect();
    CalendarDoc { source, rules }
}

fn invalid(index: usize, message: String) -> ApiError {
    ApiError::invalid(vec![FieldError::new(
        &format!("rules[{index}]"),
        "invalid_calendar",
        message,
    )])
}

/// A day count of the body, if it can be one (0 to a year and a day).
fn days(index: usize, name: &str, n: i64) -> Result<u32, ApiError> {
    u32::try_from(n)
        .ok()
        .filter(|d| *d <= domain::calendar::MAX_DAYS)
        .ok_or_else(|| {
            invalid(
                index,
                format!("{name} is 0 to {} days", domain::calendar::MAX_DAYS),
            )
        })
}

fn parse(body: CalendarBody) -> Result<Calendar, ApiError> {
    let mut rules = Vec::new();
    for (i, r) in body.rules.into_iter().enumerate() {
        let due = match (r.due.month, r.due.day, r.due.days_after_end) {
            (Some(month), Some(day), None) => Due::FollowingYear {
                month: u32::try_from(month).unwrap_or(0),
                day: u32::try_from(day).unwrap_or(0),
            },
            (None, None, Some(n)) => Due::DaysAfterEnd(days(i, "days_after_end", n)?),
            _ => {
                return Err(invalid(
                    i,
                    "due is either month and day (of the following year) or days_after_end".into(),
                ));
            }
        };
        let mut milestones = Vec::new();
        for m in r.milestones {
            milestones.push(Milestone {
                days_before: days(i, "days_before", m.days_before)?,
                name: m.name,
            });
        }
        let mut reminders = Vec::new();
        for d in r.reminders_days_before {
            reminders.push(days(i, "reminders_days_before", d)?);
        }
        rules.push(Rule {
            cadence: match r.cadence {
                DeadlineCadence::Annual => Cadence::Annual,
                DeadlineCadence::Quarterly => Cadence::Quarterly,
            },
            due,
            milestones,
            at_risk_days: days(i, "at_risk_days", r.at_risk_days)?,
            reminders_days_before: reminders,
        });
    }
    Calendar::new(rules).map_err(|e| invalid(0, e.to_string()))
}

#[OpenApi(tag = "ApiTags::Organizations")]
impl CalendarApi {
    /// The organisation's reporting calendar
    ///
    /// Any role of the organisation. The rules its deadlines follow: its own, or the
    /// service's (`source`).
    #[oai(
        path = "/api/v1/organizations/:org_id/calendar",
        method = "get",
        operation_id = "getCalendar"
    )]
    async fn get(
        &self,
        auth: BearerAuth,
        state: Data<&AppState>,
        org_id: Path<String>,
    ) -> Result<Json<CalendarDoc>, ProblemResponse> {
        let org = visible_org(&state, &auth.0, &org_id.0).await?;
        Ok(Json(current(&state, &org).await?))
    }

    /// Give the organisation its own reporting calendar
    ///
    /// Needs the `admin` role. Replaces the rules its deadlines, statuses, reminders and
    /// calendar feed follow, from the answer on. At most one rule per cadence.
    #[oai(
        path = "/api/v1/organizations/:org_id/calendar",
        method = "put",
        operation_id = "setCalendar"
    )]
    async fn set(
        &self,
        auth: BearerAuth,
        state: Data<&AppState>,
        req: &Request,
        org_id: Path<String>,
        body: Json<CalendarBody>,
    ) -> Result<Json<CalendarDoc>, ProblemResponse> {
        let caller = auth.0;
        let org = visible_org(&state, &caller, &org_id.0).await?;
        caller.require_any(ADMINS)?;
        let calendar = parse(body.0)?;
        commands::organizations::set_calendar(
            &state.commands,
            &metadata(&caller, req),
            &org,
            Some(calendar),
        )
        .await?;
        Ok(Json(current(&state, &org).await?))
    }

    /// Return the organisation to the service's calendar
    ///
    /// Needs the `admin` role. Answers the calendar it follows now.
    #[oai(
        path = "/api/v1/organizations/:org_id/calendar",
        method = "delete",
        operation_id = "resetCalendar"
    )]
    async fn reset(
        &self,
        auth: BearerAuth,
        state: Data<&AppState>,
        req: &Request,
        org_id: Path<String>,
    ) -> Result<Json<CalendarDoc>, ProblemResponse> {
        let caller = auth.0;
        let org = visible_org(&state, &caller, &org_id.0).await?;
        caller.require_any(ADMINS)?;
        commands::organizations::set_calendar(&state.commands, &metadata(&caller, req), &org, None)
            .await?;
        Ok(Json(current(&state, &org).await?))
    }
}

async fn current(state: &AppState, org: &domain::OrgId) -> Result<CalendarDoc, ApiError> {
    let row = projections::organizations::get(&state.db.read, org.as_str())
        .await?
        .ok_or_else(|| ApiError::NotFound("organisation not found".into()))?;
    Ok(match &row.calendar {
        Some(own) => doc(CalendarSource::Organization, own),
        None => doc(CalendarSource::Service, &state.commands.calendar),
    })
}
