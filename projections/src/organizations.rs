//! The organisations registry read model, and the queries the API asks of it.

use chrono::{DateTime, SecondsFormat, Utc};
use domain::decode_event;
use domain::organization::{Organization, OrganizationEvent};
use sqlx::{AnyConnection, AnyPool, Row};
use store::{Filter, RecordedEvent};

use crate::{Projection, ProjectionError};

pub struct OrganizationsProjection;

pub const NAME: &str = "organizations";

#[async_trait::async_trait]
impl Projection for OrganizationsProjection {
    fn name(&self) -> &'static str {
        NAME
    }

    fn filter(&self) -> Filter {
        Filter::categories([<Organization as domain::Aggregate>::CATEGORY])
    }

    fn tables(&self) -> &'static [&'static str] {
        &["organizations"]
    }

    async fn apply(
        &self,
        tx: &mut AnyConnection,
        event: &RecordedEvent,
    ) -> Result<(), ProjectionError> {
        let decoded: OrganizationEvent = decode_event(&event.event_type, &event.payload)
            .map_err(|e| ProjectionError::Corrupt(e.to_string()))?;
        match decoded {
            OrganizationEvent::OrganizationRegistered {
                org_id,
                name,
                organisasjonsnummer,
                registered_at,
            } => {
                sqlx::query(
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
                .bind(registered_at.to_rfc3339_opts(SecondsFormat::Micros, true))
                .bind(event.metadata.actor.clone())
                .bind(event.position.to_string())
                .execute(tx)
                .await?;
            }
        }
        Ok(())
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct OrganizationRow {
    pub org_id: String,
    pub name: String,
    pub organisasjonsnummer: String,
    pub created_at: DateTime<Utc>,
}

fn row(r: &sqlx::any::AnyRow) -> Result<OrganizationRow, ProjectionError> {
    let created_at: String = r.try_get("created_at")?;
    Ok(OrganizationRow {
        org_id: r.try_get("org_id")?,
        name: r.try_get("name")?,
        organisasjonsnummer: r.try_get("organisasjonsnummer")?,
        created_at: DateTime::parse_from_rfc3339(&created_at)
            .map_err(|e| ProjectionError::Corrupt(e.to_string()))?
            .with_timezone(&Utc),
    })
}

/// Which organisations a caller may see: all of them (admins), or the listed ones.
pub enum Visible<'a> {
    All,
    Only(&'a [String]),
}

pub async fn get(pool: &AnyPool, org_id: &str) -> Result<Option<OrganizationRow>, ProjectionError> {
    let found = sqlx::query(
        "SELECT org_id, name, organisasjonsnummer, created_at FROM organizations WHERE org_id = $1",
    )
    .bind(org_id)
    .fetch_optional(pool)
    .await?;
    found.as_ref().map(row).transpose()
}

/// One page, newest first with the id as tie-break, and the total.
pub async fn list(
    pool: &AnyPool,
    visible: Visible<'_>,
    offset: u64,
    limit: u64,
) -> Result<(Vec<OrganizationRow>, u64), ProjectionError> {
    // The visible ids become numbered placeholders: only the count varies, never the text.
    let (condition, ids): (String, &[String]) = match visible {
        Visible::All => ("1 = 1".into(), &[]),
        Visible::Only([]) => return Ok((vec![], 0)),
        Visible::Only(ids) => {
            let marks: Vec<String> = (0..ids.len()).map(|i| format!("${}", i + 3)).collect();
            (format!("org_id IN ({})", marks.join(", ")), ids)
        }
    };
    let page_sql = format!(
        "SELECT org_id, name, organisasjonsnummer, created_at FROM organizations \
         WHERE {condition} ORDER BY created_at DESC, org_id DESC LIMIT $1 OFFSET $2"
    );
    let mut page = sqlx::query(sqlx::AssertSqlSafe(page_sql))
        .bind(limit as i64)
        .bind(offset as i64);
    for id in ids {
        page = page.bind(id.clone());
    }
    let rows = page.fetch_all(pool).await?;
    // Same placeholders as the page query ($3...), so bind two unused leading values.
    let count_sql = format!("SELECT count(*) FROM organizations WHERE {condition} AND $1 = $2");
    let mut count = sqlx::query_scalar(sqlx::AssertSqlSafe(count_sql))
        .bind(0i64)
        .bind(0i64);
    for id in ids {
        count = count.bind(id.clone());
    }
    let total: i64 = count.fetch_one(pool).await?;
    Ok((
        rows.iter().map(row).collect::<Result<_, _>>()?,
        total as u64,
    ))
}
