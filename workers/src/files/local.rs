//! Files in a local directory. A file is copied beside its final name and renamed into place,
//! so a download never reads half a file.

use std::path::{Path, PathBuf};

use futures::StreamExt;
use tokio_util::io::ReaderStream;

use super::{Download, FileStore, check_key};

/// Bytes per streamed chunk: large enough to keep syscalls few, small enough per download.
const CHUNK: usize = 64 * 1024;

#[derive(Debug, Clone)]
pub struct LocalFileStore {
    root: PathBuf,
}

impl LocalFileStore {
    /// A store under `root`, which is created if missing.
    pub fn new(root: PathBuf) -> std::io::Result<Self> {
        std::fs::create_dir_all(&root)?;
        Ok(LocalFileStore { root })
    }

    fn path(&self, key: &str) -> anyhow::Result<PathBuf> {
        check_key(key)?;
        Ok(self.root.join(key))
    }
}

/// Copies `source` to `partial` and flushes it to disk, so that after the rename the name
/// never points at data a crash could still lose.
async fn copy_durably(source: &Path, partial: &Path) -> std::io::Result<u64> {
    let size = tokio::fs::copy(source, partial).await?;
    tokio::fs::File::open(partial).await?.sync_all().await?;
    Ok(size)
}

#[async_trait::async_trait]
impl FileStore for LocalFileStore {
    #[tracing::instrument(skip(self, source), err(Debug))]
    async fn put_file(&self, key: &str, source: &Path) -> anyhow::Result<u64> {
        let target = self.path(key)?;
        let dir = target
            .parent()
            .ok_or_else(|| anyhow::anyhow!("file key {key:?} has no directory"))?;
        tokio::fs::create_dir_all(dir).await?;
        // Same directory as the target, so the rename stays on one filesystem (and is atomic);
        // a fresh name per call, so concurrent puts of one key never write the same partial.
        let partial = dir.join(format!(".{}.partial", ulid::Ulid::new()));
        let stored = match copy_durably(source, &partial).await {
            Ok(size) => tokio::fs::rename(&partial, &target).await.map(|()| size),
            Err(e) => Err(e),
        };
        if stored.is_err() {
            // Best effort: a leftover partial file is only wasted space, the error matters more.
            let _ = tokio::fs::remove_file(&partial).await;
        }
        Ok(stored?)
    }

    #[tracing::instrument(skip(self), err(Debug))]
    async fn get(&self, key: &str) -> anyhow::Result<Option<Download>> {
        let path = self.path(key)?;
        let file = match tokio::fs::File::open(&path).await {
            Ok(file) => file,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        let meta = file.metadata().await?;
        // A key naming a directory (a prefix of other keys) opens fine on Unix but is no file.
        if !meta.is_file() {
            return Ok(None);
        }
        Ok(Some((
            meta.len(),
            ReaderStream::with_capacity(file, CHUNK).boxed(),
        )))
    }

    #[tracing::instrument(skip(self), err(Debug))]
    async fn size(&self, key: &str) -> anyhow::Result<Option<u64>> {
        match tokio::fs::metadata(self.path(key)?).await {
            Ok(meta) if meta.is_file() => Ok(Some(meta.len())),
            Ok(_) => Ok(None),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    #[tracing::instrument(skip(self), err(Debug))]
    async fn delete(&self, key: &str) -> anyhow::Result<()> {
        match tokio::fs::remove_file(self.path(key)?).await {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e.into()),
            _ => Ok(()),
        }
    }

    fn backend(&self) -> &'static str {
        "local"
    }
}
