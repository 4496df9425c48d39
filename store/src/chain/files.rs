//! Where the chain meets the auditor's files and the SQL log: verifying the log in the database,
//! writing it out as an export (JSON Lines: a header, then one event per line in position order),
//! verifying an export without any database, and loading an export into a fresh database to
//! replay it.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::Path;

use crate::{Database, ReadPool, StoreError, on_pool};

use super::{Break, ChainedEvent, Export, ExportHeader, Summary, Verifier, read_page};

const PAGE: usize = 1000;

#[derive(Debug, thiserror::Error)]
pub enum ChainFileError {
    #[error("{0}")]
    Unusable(String),
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("an event of the export cannot be read: {0}")]
    Json(#[from] serde_json::Error),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> ChainFileError + '_ {
    move |source| ChainFileError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// What verification found.
pub enum Verdict {
    Intact(Summary),
    Tampered(String),
}

/// A seal's digest kept outside the system: the log up to `position` must still give `digest`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Anchor {
    pub position: i64,
    pub digest: String,
}

impl std::str::FromStr for Anchor {
    type Err = String;

    /// `POSITION:DIGEST`, as `audit seal` prints it.
    fn from_str(text: &str) -> Result<Self, String> {
        let (position, digest) = text
            .split_once(':')
            .ok_or("--expect takes POSITION:DIGEST")?;
        let position = position
            .trim()
            .parse()
            .map_err(|_| format!("{position:?} is not a position"))?;
        let digest = digest.trim().to_lowercase();
        if digest.len() != 64 || !digest.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(format!(
                "{digest:?} is not a SHA-256 digest (64 hex digits)"
            ));
        }
        Ok(Anchor { position, digest })
    }
}

fn with_anchors(anchors: &[Anchor]) -> Verifier {
    anchors.iter().fold(Verifier::new(), |v, a| {
        v.expect(a.position, a.digest.clone())
    })
}

fn finish(verifier: Verifier) -> Verdict {
    match verifier.finish() {
        Ok(summary) => Verdict::Intact(summary),
        Err(what) => Verdict::Tampered(what),
    }
}

fn sql_log(db: &Database) -> Result<&ReadPool, ChainFileError> {
    if db.events.backend_name() == "eventstoredb" {
        return Err(ChainFileError::Unusable(
            "the log is in EventStoreDB: this command reads the SQL backends' log".into(),
        ));
    }
    Ok(&db.read)
}

/// Recomputes every chain and seal of the database's log, then checks that each stream ends
/// where the store says it does.
pub async fn verify_log(db: &Database, anchors: &[Anchor]) -> Result<Verdict, ChainFileError> {
    let pool = sql_log(db)?;
    let mut verifier = with_anchors(anchors);
    let mut after = 0;
    loop {
        let page = read_page(pool, after, None, PAGE).await?;
        for event in &page {
            if let Err(broken) = verifier.push(event) {
                return Ok(Verdict::Tampered(broken.to_string()));
            }
            after = event.position;
        }
        if page.len() < PAGE {
            break;
        }
    }
    let recorded: Vec<(String, i64, Option<String>)> = on_pool!(pool, c => sqlx::query_as(
        "SELECT stream, version, hash FROM streams ORDER BY stream",
    )
    .fetch_all(c)
    .await)?;
    let heads = verifier.stream_heads();
    for (stream, version, hash) in recorded {
        let found = heads.get(&stream);
        let matches = found.is_some_and(|(v, h, _)| {
            *v == version as u64 && hash.as_deref().is_none_or(|hash| hash == h)
        });
        if !matches {
            let (last, position) = found.map_or((None, 0), |(v, _, p)| (Some(*v), *p));
            return Ok(Verdict::Tampered(
                Break {
                    stream,
                    version: version as u64,
                    position,
                    what: format!(
                        "the store records the stream up to version {version}, but its last \
                         event in the log is {} (its newest events were removed?)",
                        last.map_or("none".to_string(), |v| format!("version {v}"))
                    ),
                }
                .to_string(),
            ));
        }
    }
    Ok(finish(verifier))
}

/// Checks an export without a database: the same checks, and that the file holds as many
/// events as its header says.
pub fn verify_export(path: &Path, anchors: &[Anchor]) -> Result<Verdict, ChainFileError> {
    let file = File::open(path).map_err(io(path))?;
    let mut lines = BufReader::new(file).lines();
    let header = match lines.next() {
        Some(line) => match serde_json::from_str::<Export>(&line.map_err(io(path))?) {
            Ok(Export { header }) if header.format == ExportHeader::FORMAT => header,
            _ => {
                return Err(ChainFileError::Unusable(format!(
                    "{} is not an audit export (its first line is not a `{}` header)",
                    path.display(),
                    ExportHeader::FORMAT
                )));
            }
        },
        None => {
            return Err(ChainFileError::Unusable(format!(
                "{} is empty",
                path.display()
            )));
        }
    };
    let mut verifier = with_anchors(anchors);
    let mut events = 0u64;
    for (n, line) in lines.enumerate() {
        let line = line.map_err(io(path))?;
        let Ok(event) = serde_json::from_str::<ChainedEvent>(&line) else {
            return Ok(Verdict::Tampered(format!(
                "line {} of the export is not an event",
                n + 2
            )));
        };
        if let Err(broken) = verifier.push(&event) {
            return Ok(Verdict::Tampered(broken.to_string()));
        }
        events += 1;
    }
    if events != header.events {
        return Ok(Verdict::Tampered(format!(
            "the export's header counts {} events, the file holds {events}",
            header.events
        )));
    }
    Ok(finish(verifier))
}

/// Writes the log up to `as_of` (default: its head now) to `to`; answers how many events.
pub async fn export(db: &Database, to: &Path, as_of: Option<i64>) -> Result<u64, ChainFileError> {
    let pool = sql_log(db)?;
    let head = match db.events.head().await? {
        Some(p) => p.commit_prepare().0 as i64,
        None => 0,
    };
    let as_of = as_of.map_or(head, |p| p.min(head));
    let events: i64 = on_pool!(pool, c => sqlx::query_scalar(
        "SELECT count(*) FROM events WHERE position <= $1",
    )
    .bind(as_of)
    .fetch_one(c)
    .await)?;
    let mut out = BufWriter::new(File::create(to).map_err(io(to))?);
    let header = Export {
        header: ExportHeader {
            format: ExportHeader::FORMAT.into(),
            as_of: Some(as_of),
            exported_at: super::recorded_time(chrono::Utc::now()),
            events: events as u64,
        },
    };
    serde_json::to_writer(&mut out, &header)?;
    out.write_all(b"\n").map_err(io(to))?;
    let mut after = 0;
    let mut written = 0u64;
    loop {
        let page = read_page(pool, after, Some(as_of), PAGE).await?;
        for event in page.iter() {
            serde_json::to_writer(&mut out, event)?;
            out.write_all(b"\n").map_err(io(to))?;
            after = event.position;
            written += 1;
        }
        if page.len() < PAGE {
            break;
        }
    }
    out.flush().map_err(io(to))?;
    if written != events as u64 {
        return Err(ChainFileError::Unusable(format!(
            "the log changed below position {as_of} while it was exported ({events} events \
             counted, {written} written)"
        )));
    }
    Ok(written)
}

/// Copies an export's events up to `as_of` into `db`, a fresh SQLite database, as they are
/// (positions, versions, hashes): answers how many.
pub async fn load_export(db: &Database, file: &Path, as_of: i64) -> Result<u64, ChainFileError> {
    let ReadPool::Sqlite(pool) = &db.read else {
        return Err(ChainFileError::Unusable(
            "an export is replayed into SQLite".into(),
        ));
    };
    let mut tx = pool.begin().await?;
    let mut count = 0;
    let mut heads: HashMap<String, (u64, Option<String>)> = HashMap::new();
    let lines = BufReader::new(File::open(file).map_err(io(file))?).lines();
    for line in lines.skip(1) {
        let event: ChainedEvent = serde_json::from_str(&line.map_err(io(file))?)?;
        if event.position > as_of {
            break;
        }
        sqlx::query(
            "INSERT INTO events (position, stream, category, version, event_id, event_type, \
                 schema_version, payload, metadata, recorded_at, hash) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        )
        .bind(event.position)
        .bind(&event.stream)
        .bind(crate::category_of(&event.stream))
        .bind(event.version as i64)
        .bind(event.event_id.to_string())
        .bind(&event.event_type)
        .bind(event.schema_version as i64)
        .bind(event.payload.get())
        .bind(event.metadata.get())
        .bind(&event.recorded_at)
        .bind(&event.hash)
        .execute(&mut *tx)
        .await?;
        heads.insert(event.stream.clone(), (event.version, event.hash.clone()));
        count += 1;
    }
    for (stream, (version, hash)) in heads {
        sqlx::query("INSERT INTO streams (stream, version, hash) VALUES ($1, $2, $3)")
            .bind(stream)
            .bind(version as i64)
            .bind(hash)
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    Ok(count)
}
