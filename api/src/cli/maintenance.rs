//! The short subcommands that look after a deployment: `projections rebuild`, `openapi`,
//! `token` and `migrate`.

use crate::http::auth::Role;

use super::compose::Root;
use super::config::{ProjectionsCommand, TokenArgs};
use super::progress::Progress;

pub async fn projections(root: &Root<'_>, command: &ProjectionsCommand) -> anyhow::Result<()> {
    let db = root.database().await?;
    let projections = root.projections(&db);
    match command {
        ProjectionsCommand::Rebuild { name } => {
            let names = match name {
                Some(n) => vec![n.clone()],
                None => projections
                    .names()
                    .iter()
                    .map(ToString::to_string)
                    .collect(),
            };
            for name in names {
                // Read per projection: a service writing meanwhile moves the head on.
                let head = db.events.head().await?;
                let mut progress = Progress::start(format!("rebuild {name}"), head.as_ref());
                let applied = projections
                    .rebuild_observed(&name, &mut |at, events| progress.advance(at, events))
                    .await?;
                progress.finish();
                println!("rebuilt {name}: {applied} events applied");
            }
        }
    }
    Ok(())
}

pub fn openapi(output: &std::path::Path) -> anyhow::Result<()> {
    if let Some(dir) = output.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(output, crate::http::spec::yaml())?;
    println!("wrote {}", output.display());
    Ok(())
}

pub fn token(root: &Root<'_>, args: &TokenArgs) -> anyhow::Result<()> {
    anyhow::ensure!(
        root.common().local_tokens,
        "LOCAL_TOKENS=false: the service accepts only its identity providers' tokens, so a \
         local one would be refused; get a token from the provider (OIDC_ISSUER), or from \
         `local-issuer` when trying it out"
    );
    anyhow::ensure!(args.ttl > 0, "--ttl must be positive");
    anyhow::ensure!(
        !args.orgs.is_empty() || args.roles.contains(&Role::Admin),
        "give --org ORG (only admin tokens reach every organisation)"
    );
    let keys = root.keys()?;
    println!(
        "{}",
        keys.mint(&args.sub, args.orgs.clone(), args.roles.clone(), args.ttl)
    );
    Ok(())
}

pub async fn migrate(root: &Root<'_>) -> anyhow::Result<()> {
    root.database().await?;
    println!("database is up to date");
    Ok(())
}
