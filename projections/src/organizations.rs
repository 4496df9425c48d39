//! The organisations registry read model, and the queries the API asks of it.

use chrono::{DateTime, Utc};
use domain::calendar::Calendar;
use domain::organization::{Organization, OrganizationEvent};
use domain::signoff::ApprovalPolicy;
use domain::{OrgId, decode_event};
use sqlx::types::Json;
use store::{Filter, IdList, ReadPool, ReadTransaction, RecordedEvent, Stamp, on_pool, on_tx};

use crate::{Projection, ProjectionError};

pub struct OrganizationsProjection;

pub const NAME: crate::ProjectionName = crate::ProjectionName::Organizations;

#[async_trait::async_trait]
impl Projection for OrganizationsProjection {
    fn name(&self) -> crate::ProjectionName {
        NAME
    }

    fn filter(&self) -> Filter {
        Filter::categories([<Organization as domain::Aggregate>::CATEGORY])
    }

    fn tables(&self) -> &'static [&'static str] {
        &["organizations", "calendar_feeds"]
    }

    async fn apply(
        &self,
        tx: &mut ReadTransaction,
        event: &RecordedEvent,
    ) -> Result<(), ProjectionError> {
        let decoded: OrganizationEvent = decode_event(&event.event_type, &event.payload)?;
        match decoded {
            OrganizationEvent::OrganizationRegistered {
                org_id,
                name,
                organisasjonsnummer,
                registered_at,
            } => {
                on_tx!(tx, c => sqlx::query(
                    "INSERT INTO organizations \
                         (org_id, name, organisasjonsnummer, created_at, created_by, position) \
                     VALUES ($1, $2, $3, $4, $5, $6) \
                     ON CONFLICT (org_id) DO UPDATE SET name = excluded.name, \
                         organisasjonsnummer = excluded.organisasjonsnummer, \
                         created_at = excluded.created_at, created_by = excluded.created_by, \
                         position = excluded.position",
                )
                .bind(org_id.as_str().to_string())
                .bind(name)
                .bind(organisasjonsnummer.as_str().to_string())
                .bind(Stamp(registered_at))
                .bind(event.metadata.actor.clone())
                .bind(event.position.to_string())
                .execute(c)
                .await
                .map(|done| done.rows_affected()))?;
            }
            OrganizationEvent::ApprovalPolicySet { org_id, policy, .. } => {
                let policy = (!policy.is_empty()).then_some(Json(policy));
                on_tx!(tx, c => sqlx::query(
                    "UPDATE organizations SET approval_policy = $1, position = $2 WHERE org_id = $3",
                )
                .bind(policy)
                .bind(event.position.to_string())
                .bind(org_id.as_str().to_string())
                .execute(c)
                .await
                .map(|done| done.rows_affected()))?;
            }
            OrganizationEvent::CalendarSet {
                org_id, calendar, ..
            } => {
                on_tx!(tx, c => sqlx::query(
                    "UPDATE organizations SET calendar = $1, position = $2 WHERE org_id = $3",
                )
                .bind(calendar.clone().map(Json))
                .bind(event.position.to_string())
                .bind(org_id.as_str().to_string())
                .execute(c)
                .await
                .map(|done| done.rows_affected()))?;
            }
            OrganizationEvent::FeedLinkIssued {
                org_id,
                feed_id,
                issued_at,
            } => {
                on_tx!(tx, c => sqlx::query(
                    "INSERT INTO calendar_feeds (feed_id, org_id, issued_at, issued_by, position) \
                     VALUES ($1, $2, $3, $4, $5) ON CONFLICT (feed_id) DO NOTHING",
                )
                .bind(feed_id.clone())
                .bind(org_id.as_str().to_string())
                .bind(Stamp(issued_at))
                .bind(event.metadata.actor.clone())
                .bind(event.position.to_string())
                .execute(c)
                .await
                .map(|done| done.rows_affected()))?;
            }
            OrganizationEvent::FeedLinkRevoked {
                org_id,
                feed_id,
                revoked_at,
            } => {
                on_tx!(tx, c => sqlx::query(
                    "UPDATE calendar_feeds SET revoked_at = $1, position = $2 \
                     WHERE feed_id = $3 AND org_id = $4",
                )
                .bind(Stamp(revoked_at))
                .bind(event.position.to_string())
                .bind(feed_id.clone())
                .bind(org_id.as_str().to_string())
                .execute(c)
                .await
                .map(|done| done.rows_affected()))?;
            }
        }
        Ok(())
    }
}

#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct OrganizationRow {
    #[sqlx(try_from = "String")]
    pub org_id: OrgId,
    pub name: String,
    pub organisasjonsnummer: String,
    pub created_at: DateTime<Utc>,
    /// Who must approve a report before it is submitted; `None` while nobody must.
    #[sqlx(json(nullable))]
    pub approval_policy: Option<ApprovalPolicy>,
    /// Its own reporting calendar; `None` while it follows the service's.
    #[sqlx(json(nullable))]
    pub calendar: Option<Calendar>,
}

/// Which organisations a caller may see: all of them (admins), or the listed ones.
pub enum Visible<'a> {
    All,
    Only(&'a [String]),
}

const COLUMNS: &str = "org_id, name, organisasjonsnummer, created_at, approval_policy, calendar";
const BY_ID: &str = "SELECT org_id, name, organisasjonsnummer, created_at, approval_policy, \
     calendar FROM organizations WHERE org_id = $1";

pub async fn get(
    pool: &ReadPool,
    org_id: &str,
) -> Result<Option<OrganizationRow>, ProjectionError> {
    Ok(on_pool!(pool, c => sqlx::query_as(BY_ID).bind(org_id).fetch_optional(c).await)?)
}

/// The organisation as seen inside `tx` (an export's consistent read).
pub async fn get_in(
    tx: &mut ReadTransaction,
    org_id: &str,
) -> Result<Option<OrganizationRow>, ProjectionError> {
    Ok(on_tx!(tx, c => sqlx::query_as(BY_ID).bind(org_id).fetch_optional(c).await)?)
}

/// One page, newest first with the id as tie-break, and the total.
pub async fn list(
    pool: &ReadPool,
    visible: Visible<'_>,
    page: crate::Page,
) -> Result<(Vec<OrganizationRow>, u64), ProjectionError> {
    // `$1` is the list of visible ids, bound as one value: the statement's text is the same for
    // every caller.
    let (condition, ids) = match visible {
        Visible::All => ("$1 IS NULL".to_string(), None),
        Visible::Only([]) => return Ok((vec![], 0)),
        Visible::Only(ids) => (pool.any_of("org_id", 1), Some(IdList(ids.to_vec()))),
    };
    let (clause, bound) = page.clause(pool, 2);
    let page_sql = format!(
        "SELECT {COLUMNS} FROM organizations \
         WHERE {condition} ORDER BY created_at DESC, org_id DESC {clause}"
    );
    let rows: Vec<OrganizationRow> = on_pool!(pool, c => {
        let mut query = sqlx::query_as(sqlx::AssertSqlSafe(page_sql)).bind(ids.clone());
        for value in bound.iter().flatten() {
            query = query.bind(*value);
        }
        query.fetch_all(c).await
    })?;
    let count_sql = format!("SELECT count(*) FROM organizations WHERE {condition}");
    let total: i64 = on_pool!(pool, c => sqlx::query_scalar(sqlx::AssertSqlSafe(count_sql))
        .bind(ids)
        .fetch_one(c)
        .await)?;
    Ok((rows, total as u64))
}

/// Every organisation's id, in order: what the deadline reminders look through.
pub async fn all_ids(pool: &ReadPool) -> Result<Vec<OrgId>, ProjectionError> {
    let ids: Vec<String> = on_pool!(pool, c => sqlx::query_scalar(
        "SELECT org_id FROM organizations ORDER BY org_id",
    )
    .fetch_all(c)
    .await)?;
    Ok(ids
        .into_iter()
        .filter_map(|id| OrgId::parse(&id).ok())
        .collect())
}

/// A calendar-feed link an admin handed out.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct FeedRow {
    pub feed_id: String,
    #[sqlx(try_from = "String")]
    pub org_id: OrgId,
    pub issued_at: DateTime<Utc>,
    pub issued_by: Option<String>,
    pub revoked_at: Option<DateTime<Utc>>,
}

const FEED_COLUMNS: &str = "feed_id, org_id, issued_at, issued_by, revoked_at";

pub async fn feed(pool: &ReadPool, feed_id: &str) -> Result<Option<FeedRow>, ProjectionError> {
    let sql = format!("SELECT {FEED_COLUMNS} FROM calendar_feeds WHERE feed_id = $1");
    Ok(
        on_pool!(pool, c => sqlx::query_as(sqlx::AssertSqlSafe(sql.clone()))
        .bind(feed_id)
        .fetch_optional(c)
        .await)?,
    )
}

/// The organisation's feed links, oldest first.
pub async fn feeds_of(pool: &ReadPool, org_id: &str) -> Result<Vec<FeedRow>, ProjectionError> {
    let sql = format!(
        "SELECT {FEED_COLUMNS} FROM calendar_feeds WHERE org_id = $1 ORDER BY issued_at, feed_id"
    );
    Ok(
        on_pool!(pool, c => sqlx::query_as(sqlx::AssertSqlSafe(sql.clone()))
        .bind(org_id)
        .fetch_all(c)
        .await)?,
    )
}
