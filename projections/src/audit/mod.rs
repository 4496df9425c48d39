//! `audit replay`: rebuilds every read model from the log into a scratch database and compares
//! it, table by table and row by row, with the live read models.
//!
//! The live database is only read. Each projection is replayed up to the live projection's own
//! checkpoint, and that checkpoint and the live rows are read in one snapshot (a read
//! transaction; REPEATABLE READ on PostgreSQL). An event that a running service applies during
//! the audit is then on neither side, instead of showing as a false difference, and a stopped
//! service whose projections lag the log is audited for what it has applied.

use std::fmt;
use std::sync::Arc;

use store::{Database, EventStore, Position, ReadPool};

use crate::Projection;

use scratch::Scratch;
use table_diff::{Difference, TableDiff, Value};

mod scratch;
mod table_diff;

/// Told how far the replay of each projection has come (the command line draws a bar).
pub trait Progress {
    /// The replay of `task` starts; it goes through the log up to `until`.
    fn start(&mut self, task: String, until: Option<&Position>);
    fn advance(&mut self, at: &Position, events: usize);
    fn finish(&mut self);
}

/// Events per transaction of the replay.
const BATCH: usize = 500;
/// Longer cell values are cut in the report.
const SHOWN_CHARS: usize = 200;

pub struct Options {
    /// Differences shown per table (all are counted).
    pub max_differences: usize,
}

/// One projection: where the live one stood and how its tables compare.
pub struct ProjectionAudit {
    pub name: crate::ProjectionName,
    pub checkpoint: Option<Position>,
    pub replayed: usize,
    pub tables: Vec<TableDiff>,
}

pub struct Report {
    pub head: Option<Position>,
    /// Where the replay was written.
    pub target: String,
    pub projections: Vec<ProjectionAudit>,
}

impl Report {
    pub fn identical(&self) -> bool {
        self.differing_tables().next().is_none()
    }

    fn differing_tables(&self) -> impl Iterator<Item = &TableDiff> {
        self.projections
            .iter()
            .flat_map(|p| &p.tables)
            .filter(|t| t.difference_count > 0)
    }
}

/// Replays every projection of the service into a scratch database beside `live` (reached at
/// `live_url`), compares, and removes the scratch database again.
pub async fn run(
    live: &Database,
    live_url: &str,
    options: &Options,
    progress: &mut dyn Progress,
) -> anyhow::Result<Report> {
    let head = live.events.head().await?;
    let scratch = Scratch::create(live, live_url).await?;
    let target = scratch.describe();
    let mut audits = Vec::new();
    let mut failed = None;
    for p in crate::all() {
        match audit(live, &scratch.db.read, &p, options, progress).await {
            Ok(audit) => audits.push(audit),
            Err(e) => {
                failed = Some(e.context(format!("auditing projection {}", p.name())));
                break;
            }
        }
    }
    if let Err(e) = scratch.remove().await {
        // The audit's answer stands; what is left behind is only the scratch copy.
        tracing::warn!(error = %store::causes(e.as_ref()), "could not remove {target}: remove it by hand");
    }
    if let Some(e) = failed {
        return Err(e);
    }
    Ok(Report {
        head,
        target,
        projections: audits,
    })
}

async fn audit(
    live: &Database,
    scratch: &ReadPool,
    p: &Arc<dyn Projection>,
    options: &Options,
    progress: &mut dyn Progress,
) -> anyhow::Result<ProjectionAudit> {
    // Most of the log is replayed before the snapshot is taken, so that the snapshot is held
    // only for what the live projection applies meanwhile, and for the comparison.
    let mut look = live.read.begin().await?;
    let first_look = crate::read_checkpoint(&mut look, p.name()).await?;
    look.rollback().await?;
    progress.start(format!("audit replay {}", p.name()), first_look.as_ref());
    let (reached, mut replayed) =
        replay(live.events.as_ref(), scratch, p, None, first_look, progress).await?;

    let mut snapshot = live.read.begin_consistent().await?;
    let checkpoint = crate::read_checkpoint(&mut snapshot, p.name()).await?;
    anyhow::ensure!(
        checkpoint >= reached,
        "the live checkpoint moved back from {} to {} during the audit (a `projections rebuild`?); \
         run the audit again",
        shown_position(reached.as_ref()),
        shown_position(checkpoint.as_ref())
    );
    let (_, more) = replay(
        live.events.as_ref(),
        scratch,
        p,
        reached,
        checkpoint,
        progress,
    )
    .await?;
    replayed += more;
    progress.finish();

    let mut replay_side = scratch.begin().await?;
    let mut tables = Vec::new();
    for table in p.tables() {
        tables.push(
            table_diff::compare(
                table,
                &mut snapshot,
                &mut replay_side,
                options.max_differences,
            )
            .await?,
        );
    }
    snapshot.rollback().await?;
    replay_side.rollback().await?;
    Ok(ProjectionAudit {
        name: p.name(),
        checkpoint,
        replayed,
        tables,
    })
}

/// Applies `p`'s events after `from` up to and including `to` to the tables in `into`, a batch
/// per transaction. Answers the position the tables now reflect and how many events it applied.
async fn replay(
    events: &dyn EventStore,
    into: &ReadPool,
    p: &Arc<dyn Projection>,
    from: Option<Position>,
    to: Option<Position>,
    progress: &mut dyn Progress,
) -> anyhow::Result<(Option<Position>, usize)> {
    let Some(to) = to else {
        return Ok((from, 0));
    };
    let mut at = from;
    let mut applied = 0;
    while at.is_none_or(|at| at < to) {
        let batch: Vec<_> = events
            .read_all(at.as_ref(), &p.filter(), BATCH)
            .await?
            .into_iter()
            .take_while(|e| e.position <= to)
            .collect();
        let Some(last) = batch.last().map(|e| e.position) else {
            break;
        };
        let mut tx = into.begin().await?;
        for event in &batch {
            p.apply(&mut tx, event).await?;
        }
        tx.commit().await?;
        at = Some(last);
        applied += batch.len();
        progress.advance(&last, batch.len());
    }
    // No event of the projection lies between the last one applied and `to`.
    Ok((Some(to), applied))
}

fn shown_position(p: Option<&Position>) -> String {
    p.map_or_else(|| "none".to_string(), Position::to_string)
}

fn shown_value(v: &Value) -> String {
    match v {
        None => "NULL".into(),
        Some(s) if s.chars().count() > SHOWN_CHARS => {
            let cut: String = s.chars().take(SHOWN_CHARS).collect();
            format!("{cut:?}... ({} characters)", s.chars().count())
        }
        Some(s) => format!("{s:?}"),
    }
}

fn shown_key(key: &[(String, Value)]) -> String {
    key.iter()
        .map(|(column, value)| format!("{column}={}", shown_value(value)))
        .collect::<Vec<_>>()
        .join(", ")
}

impl fmt::Display for Difference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Difference::MissingFromLive(key) => write!(
                f,
                "row {}: in the replay, missing from the live read model",
                shown_key(key)
            ),
            Difference::OnlyInLive(key) => write!(
                f,
                "row {}: in the live read model, not in the replay",
                shown_key(key)
            ),
            Difference::Differs { key, columns } => {
                write!(f, "row {}:", shown_key(key))?;
                for (i, (column, live, replayed)) in columns.iter().enumerate() {
                    let sep = if i == 0 { "" } else { ";" };
                    write!(
                        f,
                        "{sep} column {column} is {} live, {} replayed",
                        shown_value(live),
                        shown_value(replayed)
                    )?;
                }
                Ok(())
            }
        }
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "Replayed the event log (head {}) into {}.",
            shown_position(self.head.as_ref()),
            self.target
        )?;
        for p in &self.projections {
            writeln!(
                f,
                "projection {}: live checkpoint {}, {} events replayed up to it",
                p.name,
                shown_position(p.checkpoint.as_ref()),
                p.replayed
            )?;
            for t in &p.tables {
                let verdict = match t.difference_count {
                    0 => "identical".to_string(),
                    1 => "1 difference".to_string(),
                    n => format!("{n} differences"),
                };
                writeln!(
                    f,
                    "  table {}: {} rows live, {} rows replayed: {verdict}",
                    t.table, t.live_rows, t.replay_rows
                )?;
                for d in &t.differences {
                    writeln!(f, "    {d}")?;
                }
                let hidden = t.difference_count - t.differences.len() as u64;
                if hidden > 0 {
                    writeln!(f, "    ... and {hidden} more")?;
                }
            }
        }
        let differing: Vec<&str> = self.differing_tables().map(|t| t.table.as_str()).collect();
        if differing.is_empty() {
            writeln!(
                f,
                "IDENTICAL: every read model equals the replay of the log up to its checkpoint."
            )
        } else {
            writeln!(
                f,
                "DIFFERENT: {} of the read model tables differ from the replay: {}.",
                differing.len(),
                differing.join(", ")
            )
        }
    }
}
