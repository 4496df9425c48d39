//! Where export files live: a local directory by default, S3-compatible object storage for
//! deployments on several machines, behind one trait. Links to files are signed
//! ([`LinkSigner`]) and expire.

mod local;
mod s3;
mod signing;

use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;
use futures::stream::BoxStream;

pub use local::LocalFileStore;
pub use s3::S3FileStore;
pub use signing::{LinkError, LinkSigner};

/// A stored file as a stream of chunks, with its size.
pub type Download = (u64, BoxStream<'static, std::io::Result<Bytes>>);

#[async_trait::async_trait]
pub trait FileStore: Send + Sync + 'static {
    /// Stores the finished local file `source` under `key`, atomically: a reader never sees a
    /// partial file. Returns the stored size in bytes.
    async fn put_file(&self, key: &str, source: &Path) -> anyhow::Result<u64>;
    /// A stored file, streamed; `None` if there is none.
    async fn get(&self, key: &str) -> anyhow::Result<Option<Download>>;
    /// Removes a file; removing a missing file is fine.
    async fn delete(&self, key: &str) -> anyhow::Result<()>;
    /// For logs: `local` or `s3`.
    fn backend(&self) -> &'static str;
}

/// Keys are relative paths of `[A-Za-z0-9._-]` segments: nothing a key holds can reach outside
/// the store's root.
pub fn check_key(key: &str) -> anyhow::Result<()> {
    let ok = !key.is_empty()
        && key.len() <= 512
        && key.split('/').all(|segment| {
            !segment.is_empty()
                && segment != "."
                && segment != ".."
                && segment
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
        });
    anyhow::ensure!(ok, "invalid file key {key:?}");
    Ok(())
}

/// The store a `FILE_STORE_URL` names: unset keeps files under `default_dir`, `file:///PATH`
/// under PATH, and `s3://BUCKET/PREFIX?endpoint=URL&region=REGION` in S3-compatible storage.
pub fn from_setting(
    setting: Option<&str>,
    default_dir: &Path,
) -> anyhow::Result<Arc<dyn FileStore>> {
    match setting {
        None => Ok(Arc::new(LocalFileStore::new(default_dir.to_path_buf())?)),
        Some(url) if url.starts_with("file://") => {
            let path = url.trim_start_matches("file://");
            anyhow::ensure!(
                !path.is_empty(),
                "FILE_STORE_URL {url:?} names no directory"
            );
            Ok(Arc::new(LocalFileStore::new(path.into())?))
        }
        Some(url) if url.starts_with("s3://") => Ok(Arc::new(S3FileStore::from_url(url)?)),
        Some(other) => anyhow::bail!(
            "FILE_STORE_URL must be file:///PATH or s3://BUCKET/PREFIX, not {other:?}"
        ),
    }
}
