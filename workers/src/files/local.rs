//! Files in a local directory. A file is copied beside its final name and renamed into place,
//! so a download never reads half a file.

use std::path::{Path, PathBuf};

use futures::StreamExt;
use tokio_util::io::ReaderStream;

use super::{Download, FileStore, check_key};

#[derive(Debug, Clone)]
pub struct LocalFileStore {
    root: PathBuf,
}

impl LocalFileStore {
    pub fn new(root: PathBuf) -> std::io::Result<Self> {
        std::fs::create_dir_all(&root)?;
        Ok(LocalFileStore { root })
    }

    fn path(&self, key: &str) -> anyhow::Result<PathBuf> {
        check_key(key)?;
        Ok(self.root.join(key))
    }
}

#[async_trait::async_trait]
impl FileStore for LocalFileStore {
    async fn put_file(&self, key: &str, source: &Path) -> anyhow::Result<u64> {
        let target = self.path(key)?;
        let dir = target
            .parent()
            .ok_or_else(|| anyhow::anyhow!("file key {key:?} has no directory"))?;
        tokio::fs::create_dir_all(dir).await?;
        let partial = dir.join(format!(".{}.partial", ulid::Ulid::new()));
        let copied = tokio::fs::copy(source, &partial).await;
        let size = match copied {
            Ok(size) => size,
            Err(e) => {
                let _ = tokio::fs::remove_file(&partial).await;
                return Err(e.into());
            }
        };
        tokio::fs::rename(&partial, &target).await?;
        Ok(size)
    }

    async fn get(&self, key: &str) -> anyhow::Result<Option<Download>> {
        let path = self.path(key)?;
        let file = match tokio::fs::File::open(&path).await {
            Ok(file) => file,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        let size = file.metadata().await?.len();
        Ok(Some((size, ReaderStream::new(file).boxed())))
    }

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
