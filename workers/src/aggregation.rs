//! Aggregates snapshots: any that was requested or invalidated, and any current one whose
//! organisation's records changed after it was aggregated. The work list is the report_data
//! read model, which is itself driven by `SnapshotRequested`, `SnapshotInvalidated` and
//! `SourceRecordsImported` events, so new source data re-aggregates a period by itself. A claim
//! (`crate::claims`) keeps two worker processes from aggregating the same change twice.

use std::sync::Arc;
use std::time::Instant;

use commands::Error;
use commands::snapshots::{self, Aggregated};
use domain::{OrgId, PeriodId, aggregation, schema};
use projections::{Projections, report_data, report_queries};
use store::Database;

use crate::{Outcome, Worker};
use store::tables::work_claims::{ClaimKind as Kind, WorkClaims};

/// How long a claim on a snapshot's aggregation holds; one takes milliseconds to a few seconds.
const LEASE: chrono::Duration = chrono::Duration::seconds(60);

pub struct AggregationWorker {
    db: Database,
    projections: Arc<Projections>,
    claims: WorkClaims,
}

impl AggregationWorker {
    pub fn new(db: Database, projections: Arc<Projections>) -> Self {
        AggregationWorker {
            claims: WorkClaims::new(db.read.clone(), crate::holder_id()),
            db,
            projections,
        }
    }

    /// The sums for the period and its prior period, and the log position they reflect, read in
    /// one consistent snapshot of the read model.
    async fn read_sums(
        &self,
        org: &OrgId,
        period: &PeriodId,
    ) -> anyhow::Result<(
        Vec<aggregation::MetricSum>,
        Vec<aggregation::MetricSum>,
        store::Position,
    )> {
        let mut tx = self.db.read.begin_consistent().await?;
        let position = projections::read_checkpoint(&mut tx, report_data::NAME)
            .await?
            .ok_or_else(|| anyhow::anyhow!("report_data has a snapshot but no checkpoint"))?;
        let sums = report_queries::metric_sums(&mut tx, org, period).await?;
        let prior = report_queries::metric_sums(&mut tx, org, &period.prior()).await?;
        tx.commit().await?;
        Ok((sums, prior, position))
    }

    async fn aggregate(
        &self,
        snapshot_id: &str,
        org: &OrgId,
        period: &PeriodId,
    ) -> anyhow::Result<Outcome> {
        let started = Instant::now();
        let (sums, prior_sums, source_position) = self.read_sums(org, period).await?;
        let schema = schema::bufdir_2025_v2();
        let sections = aggregation::figures(schema, &sums);
        let prior_values = aggregation::prior_values(schema, &prior_sums);
        let finite = sections
            .values()
            .flat_map(|f| f.values())
            .all(|v| v.value.is_finite());
        let duration_ms = started.elapsed().as_millis() as u64;
        let result = if finite {
            Aggregated::Figures {
                sections,
                prior_values,
                source_position: source_position.to_string(),
                duration_ms,
            }
        } else {
            Aggregated::Failed(
                "a figure overflowed: the source records sum to more than can be reported".into(),
            )
        };
        let ctx = crate::commands_of(&self.db, &self.projections);
        let recorded = snapshots::record_aggregation(
            &ctx,
            &crate::acting("aggregation"),
            org,
            period,
            snapshot_id,
            result,
        )
        .await;
        match recorded {
            Ok(()) => {}
            // Deleted or superseded since the read model was read: once it has caught up, the
            // snapshot is no longer on the work list.
            Err(Error::Rejected(e)) => {
                tracing::info!(error = %store::causes(&e), "snapshot no longer needs aggregating");
                ctx.settle_all(report_data::NAME).await?;
            }
            Err(e) => return Err(e.into()),
        }
        Ok(Outcome::Worked)
    }
}

#[async_trait::async_trait]
impl Worker for AggregationWorker {
    fn name(&self) -> &'static str {
        "aggregation"
    }

    async fn run_once(&self) -> anyhow::Result<Outcome> {
        let kind = Kind::Aggregation;
        let now = chrono::Utc::now();
        let Some((snapshot_id, org, period)) =
            report_queries::next_stale(&self.db.read, now, kind).await?
        else {
            return Ok(Outcome::Idle);
        };
        if !self
            .claims
            .take(kind, &snapshot_id, now + LEASE, now)
            .await?
        {
            // Another worker took it between the list and the claim.
            return Ok(Outcome::Worked);
        }
        let aggregated = self.aggregate(&snapshot_id, &org, &period).await;
        // Given back once the result is recorded (the command waits for the read model), so a
        // change that came in meanwhile is aggregated next, by whichever worker is first.
        self.claims.release(kind, &snapshot_id).await?;
        aggregated
    }
}
