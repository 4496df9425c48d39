//! The source records of a date range, streamed in date order inside a consistent read: the
//! annex of an export, which may hold far more rows than fit in memory at once.

use chrono::NaiveDate;
use domain::OrgId;
use futures::TryStreamExt;
use futures::stream::BoxStream;
use store::{ReadTransaction, on_tx};

use crate::ProjectionError;

/// One source record as the annex shows it.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct AnnexRow {
    pub record_id: String,
    pub occurred_on: NaiveDate,
    pub metric: String,
    pub value: f64,
    pub hours: Option<f64>,
    pub data_source: String,
}

/// `org`'s records dated `from` to `to` (both included), by date and id.
pub fn stream<'c>(
    tx: &'c mut ReadTransaction,
    org: &OrgId,
    from: NaiveDate,
    to: NaiveDate,
) -> BoxStream<'c, Result<AnnexRow, ProjectionError>> {
    let org = org.as_str().to_string();
    on_tx!(tx, c => {
        let rows: BoxStream<'c, Result<AnnexRow, ProjectionError>> = Box::pin(
            sqlx::query_as(
                "SELECT record_id, occurred_on, metric, value, hours, data_source \
                 FROM source_records \
                 WHERE org_id = $1 AND occurred_on >= $2 AND occurred_on <= $3 \
                 ORDER BY occurred_on, record_id",
            )
            .bind(org)
            .bind(from)
            .bind(to)
            .fetch(c)
            .map_err(ProjectionError::from),
        );
        rows
    })
}
