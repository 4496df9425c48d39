//! `privacy erase`: exit 0 erased, 1 refused (a retained report needs the data, or no such
//! subject), 2 could not run.

use commands::Error;

use super::Verdict;
use super::compose::Root;
use super::config::PrivacyCommand;

pub async fn run(root: &Root<'_>, command: &PrivacyCommand) -> anyhow::Result<Verdict> {
    let PrivacyCommand::Erase {
        subject,
        force,
        reason,
    } = command;
    let db = root.database().await?;
    let ctx = root.commands(&db);
    let metadata = workers::acting("privacy-cli");
    let force_reason = if *force {
        reason.as_deref().or(Some(""))
    } else {
        None
    };
    match commands::privacy::erase(&ctx, &metadata, subject, force_reason).await {
        Ok(erased) => {
            println!(
                "erased {}: its key is destroyed; reads and replays show its data as erased",
                erased.subject_id
            );
            Ok(Verdict::Clean)
        }
        Err(e @ (Error::Rejected(_) | Error::NotFound(_))) => {
            println!("REFUSED: {e}");
            Ok(Verdict::Finding)
        }
        Err(e) => Err(e.into()),
    }
}
