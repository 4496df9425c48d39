//! The audit subcommands and their exit codes, so that a script can tell a finding from a
//! failure: 0 when all is well (the read models equal the replay; the log is intact), 1 for a
//! finding (they differ; the log was tampered with), 2 when the command could not run. The work
//! is the owners': the chain's files are `store::chain`'s, the replay and comparison
//! `projections::audit`'s, a report as it stood `workers::audit_replay`'s; this is the wording.

use commands::log_seals::{self, Cursor, Sealed};
use store::Database;
use store::chain::{Anchor, Summary, Verdict as Chain};
use workers::audit_replay::{Replayed, Subject};

use super::Verdict;
use super::compose::Root;
use super::config::AuditCommand;
use super::progress::Bars;

pub async fn run(root: &Root<'_>, command: &AuditCommand) -> anyhow::Result<Verdict> {
    match command {
        AuditCommand::Replay {
            from: Some(file),
            as_of,
            report,
            snapshot,
            ..
        } => {
            let subject = match (report, snapshot) {
                (Some(id), _) => Subject::Report(id.clone()),
                (_, Some(id)) => Subject::Snapshot(id.clone()),
                _ => anyhow::bail!("--from needs --report ID or --snapshot ID"),
            };
            let as_of = anyhow::Context::context(*as_of, "--from needs --as-of POSITION")?;
            Ok(
                match workers::audit_replay::replay(file, as_of, &subject).await? {
                    Replayed::Shown(shown) => {
                        println!("{}", serde_json::to_string_pretty(&shown)?);
                        Verdict::Clean
                    }
                    Replayed::Tampered(broken) => tampered(&broken),
                },
            )
        }
        AuditCommand::Replay {
            max_differences, ..
        } => {
            let options = projections::audit::Options {
                max_differences: *max_differences,
            };
            let db = root.database().await?;
            let url = root.common().database_url();
            let report = projections::audit::run(&db, &url, &options, &mut Bars::default()).await?;
            print!("{report}");
            Ok(if report.identical() {
                Verdict::Clean
            } else {
                Verdict::Finding
            })
        }
        AuditCommand::Verify { from, expect } => {
            let anchors = expect
                .iter()
                .map(|a| a.parse::<Anchor>().map_err(anyhow::Error::msg))
                .collect::<anyhow::Result<Vec<_>>>()?;
            let verdict = match from {
                Some(file) => store::chain::verify_export(file, &anchors)?,
                None => store::chain::verify_log(&root.database().await?, &anchors).await?,
            };
            Ok(match verdict {
                Chain::Intact(summary) => {
                    print!("{}", describe_intact(&summary));
                    Verdict::Clean
                }
                Chain::Tampered(broken) => tampered(&broken),
            })
        }
        AuditCommand::Seal { print } => {
            let db = root.database().await?;
            match seal(&db, *print).await? {
                Some(sealed) => print!("{}", describe_seal(&sealed)),
                None => println!("the log has no seal yet (and nothing to seal)"),
            }
            Ok(Verdict::Clean)
        }
        AuditCommand::Export { to, as_of } => {
            let db = root.database().await?;
            let written = store::chain::export(&db, to, *as_of).await?;
            println!("wrote {written} events to {}", to.display());
            Ok(Verdict::Clean)
        }
    }
}

fn tampered(broken: &str) -> Verdict {
    println!("TAMPERED: {broken}");
    Verdict::Finding
}

/// Seals the log now; `print_only` answers the newest seal instead.
async fn seal(db: &Database, print_only: bool) -> anyhow::Result<Option<Sealed>> {
    if print_only {
        return Ok(log_seals::list(db.events.as_ref()).await?.pop());
    }
    let mut cursor = Cursor::default();
    let metadata = workers::acting("audit-cli");
    let made = log_seals::seal(db.events.as_ref(), &mut cursor, None, &metadata).await?;
    Ok(made.or_else(|| cursor.last_seal().cloned()))
}

fn describe_seal(sealed: &Sealed) -> String {
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

fn describe_intact(summary: &Summary) -> String {
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
