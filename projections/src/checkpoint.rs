//! Where each projection has read to in the log, kept in the same transaction as its rows so a
//! crash can neither skip nor repeat an event.

use crate::ProjectionName;
use store::{Position, ReadPool, ReadTransaction, Stamp, on_pool, on_tx};

use crate::ProjectionError;

const POSITION: &str = "SELECT position FROM projection_checkpoints WHERE name = $1";

pub(crate) fn encode(position: Option<&Position>) -> String {
    position.map(Position::to_string).unwrap_or_default()
}

pub(crate) fn decode(text: &str) -> Result<Option<Position>, ProjectionError> {
    if text.is_empty() {
        return Ok(None);
    }
    text.parse()
        .map(Some)
        .map_err(|_| ProjectionError::Corrupt(format!("checkpoint {text:?}")))
}

pub(crate) async fn ensure(
    tx: &mut ReadTransaction,
    name: ProjectionName,
) -> Result<(), ProjectionError> {
    on_tx!(tx, c => sqlx::query(
        "INSERT INTO projection_checkpoints (name, position, updated_at) VALUES ($1, '', $2) \
         ON CONFLICT (name) DO NOTHING",
    )
    .bind(name.as_str())
    .bind(Stamp::now())
    .execute(c)
    .await
    .map(|done| done.rows_affected()))?;
    Ok(())
}

/// The committed checkpoint of `name`, outside any batch.
pub(crate) async fn stored(
    pool: &ReadPool,
    name: ProjectionName,
) -> Result<Option<Position>, ProjectionError> {
    let text: Option<String> = on_pool!(pool, c => sqlx::query_scalar(POSITION).bind(name.as_str()).fetch_optional(c).await)?;
    decode(text.as_deref().unwrap_or(""))
}

pub(crate) async fn load(
    tx: &mut ReadTransaction,
    name: ProjectionName,
) -> Result<Option<Position>, ProjectionError> {
    let text: Option<String> =
        on_tx!(tx, c => sqlx::query_scalar(POSITION).bind(name.as_str()).fetch_optional(c).await)?;
    decode(text.as_deref().unwrap_or(""))
}

/// Moves the checkpoint from `from` to `to`, only if it still is at `from`. Taking this row first
/// in the batch's transaction also serialises two runners of one projection: the one that finds
/// the checkpoint moved rolls back and resumes from where the other left it.
pub(crate) async fn advance(
    tx: &mut ReadTransaction,
    name: ProjectionName,
    from: Option<&Position>,
    to: Option<&Position>,
) -> Result<bool, ProjectionError> {
    let done = on_tx!(tx, c => sqlx::query(
        "UPDATE projection_checkpoints SET position = $1, updated_at = $2 \
         WHERE name = $3 AND position = $4",
    )
    .bind(encode(to))
    .bind(Stamp::now())
    .bind(name.as_str())
    .bind(encode(from))
    .execute(c)
    .await
    .map(|done| done.rows_affected()))?;
    Ok(done == 1)
}
