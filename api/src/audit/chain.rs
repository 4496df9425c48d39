//! The log's own integrity, for auditors: `audit verify` (the database or an export), `audit
//! seal` and `audit export`. The hashing and the checks are the store's (`store::chain`); this
//! is where they meet files, the database and the terminal.

use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::Path;

use anyhow::Context;
use commands::log_seals::{self, Cursor, Sealed};
use store::chain::{Break, ChainedEvent, Export, ExportHeader, Summary, Verifier};
use store::{Database, ReadPool, on_pool};

const PAGE: usize = 1000;

/// What verification found.
pub enum Verdict {
    Intact(Summary),
    Tampered(String),
}

/// `POSITION:DIGEST`, as `audit seal` prints it.
pub fn parse_anchor(text: &str) -> anyhow::Result<(i64, String)> {
    let (position, digest) = text
        .split_once(':')
        .context("--expect takes POSITION:DIGEST")?;
    let position = position
        .trim()
        .parse()
        .with_context(|| format!("{position:?} is not a position"))?;
    let digest = digest.trim().to_lowercase();
    anyhow::ensure!(
        digest.len() == 64 && digest.bytes().all(|b| b.is_ascii_hexdigit()),
        "{digest:?} is not a SHA-256 digest (64 hex digits)"
    );
    Ok((position, digest))
}

fn with_anchors(anchors: &[(i64, String)]) -> Verifier {
    anchors
        .iter()
        .fold(Verifier::new(), |v, (p, d)| v.expect(*p, d.clone()))
}

fn sql_log(db: &Database) -> anyhow::Result<&ReadPool> {
    anyhow::ensure!(
        db.events.backend_name() != "eventstoredb",
        "the log is in EventStoreDB: this command reads the SQL backends' log"
    );
    Ok(&db.read)
}

/// Recomputes every chain and seal of the database's log, then checks that each stream ends
/// where the store says it does.
pub async fn verify_database(db: &Database, anchors: &[(i64, String)]) -> anyhow::Result<Verdict> {
    let pool = sql_log(db)?;
    let mut verifier = with_anchors(anchors);
    let mut after = 0;
    loop {
        let page = store::chain::read_page(pool, after, None, PAGE).await?;
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
    finish(verifier)
}

fn finish(verifier: Verifier) -> anyhow::Result<Verdict> {
    Ok(match verifier.finish() {
        Ok(summary) => Verdict::Intact(summary),
        Err(what) => Verdict::Tampered(what),
    })
}

/// Checks an export without a database: the same checks, and that the file holds as many
/// events as its header says.
pub fn verify_file(path: &Path, anchors: &[(i64, String)]) -> anyhow::Result<Verdict> {
    let file = File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let mut lines = BufReader::new(file).lines();
    let header = match lines.next() {
        Some(line) => match serde_json::from_str::<Export>(&line?) {
            Ok(Export { header }) if header.format == ExportHeader::FORMAT => header,
            _ => anyhow::bail!(
                "{} is not an audit export (its first line is not a `{}` header)",
                path.display(),
                ExportHeader::FORMAT
            ),
        },
        None => anyhow::bail!("{} is empty", path.display()),
    };
    let mut verifier = with_anchors(anchors);
    let mut events = 0u64;
    for (n, line) in lines.enumerate() {
        let line = line?;
        let event: ChainedEvent = match serde_json::from_str(&line) {
            Ok(event) => event,
            _ => {
                return Ok(Verdict::Tampered(format!(
                    "line {} of the export is not an event",
                    n + 2
                )));
            }
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
    finish(verifier)
}

/// Writes the log up to `as_of` (default: its head now) to `to`; answers how many events.
pub async fn export(db: &Database, to: &Path, as_of: Option<i64>) -> anyhow::Result<u64> {
    let pool = sql_log(db)?;
    let head = match db.events.head().await? {
        Some(p) => p.to_string().parse::<i64>()?,
        None => 0,
    };
    let as_of = as_of.map_or(head, |p| p.min(head));
    let events: i64 = on_pool!(pool, c => sqlx::query_scalar(
        "SELECT count(*) FROM events WHERE position <= $1",
    )
    .bind(as_of)
    .fetch_one(c)
    .await)?;
    let mut out =
        BufWriter::new(File::create(to).with_context(|| format!("creating {}", to.display()))?);
    let header = Export {
        header: ExportHeader {
            format: ExportHeader::FORMAT.into(),
            as_of: Some(as_of),
            exported_at: store::chain::recorded_time(chrono::Utc::now()),
            events: events as u64,
        },
    };
    serde_json::to_writer(&mut out, &header)?;
    out.write_all(b"\n")?;
    let mut after = 0;
    let mut written = 0u64;
    loop {
        let page = store::chain::read_page(pool, after, Some(as_of), PAGE).await?;
        for event in page.iter() {
            serde_json::to_writer(&mut out, event)?;
            out.write_all(b"\n")?;
            after = event.position;
            written += 1;
        }
        if page.len() < PAGE {
            break;
        }
    }
    out.flush()?;
    anyhow::ensure!(
        written == events as u64,
        "the log changed below position {as_of} while it was exported ({events} events \
         counted, {written} written)"
    );
    Ok(written)
}

/// `audit seal`: seals the log now; `print_only` prints the newest seal instead.
pub async fn seal(db: &Database, print_only: bool) -> anyhow::Result<Option<Sealed>> {
    if print_only {
        return Ok(log_seals::list(db.events.as_ref()).await?.pop());
    }
    let mut cursor = Cursor::default();
    let metadata = workers::acting("audit-cli");
    let made = log_seals::seal(db.events.as_ref(), &mut cursor, None, &metadata).await?;
    Ok(made.or_else(|| cursor.last_seal().cloned()))
}

pub fn describe_seal(sealed: &Sealed) -> String {
    format!(
        "seal at position {} (version {} of log-seals, hash {}): the log up to position {} \
         ({} events) has digest {}\n\
         keep it outside the system; check the log against it later with: \
         audit verify --expect {}:{}\n",
        sealed.position,
        sealed.version,
        sealed.hash,
        sealed.seal.up_to,
        sealed.seal.events,
        sealed.seal.digest,
        sealed.seal.up_to,
        sealed.seal.digest,
    )
}

pub fn describe_intact(summary: &Summary) -> String {
    let mut text = format!(
        "INTACT: {} events in {} streams, every chain and all {} seals recomputed",
        summary.events, summary.streams, summary.seals
    );
    if summary.anchors_checked > 0 {
        text.push_str(&format!(
            "; {} digests kept outside match",
            summary.anchors_checked
        ));
    }
    text.push('\n');
    if let Some((position, digest)) = &summary.head {
        text.push_str(&format!(
            "the log up to position {position} has digest {digest}\n"
        ));
    }
    text
}
