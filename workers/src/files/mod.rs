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

/// A stored file as a stream of chunks, with its size (known up front, for `Content-Length`).
pub type Download = (u64, BoxStream<'static, std::io::Result<Bytes>>);

#[async_trait::async_trait]
pub trait FileStore: Send + Sync + 'static {
    /// Stores the finished local file `source` under `key` (e.g.
    /// `exports/exp_01j.../report.xlsx`), atomically: a reader never sees a partial file.
    /// Returns the stored size in bytes.
    async fn put_file(&self, key: &str, source: &Path) -> anyhow::Result<u64>;
    /// Opens a stored file for streaming download; `None` if there is none.
    async fn get(&self, key: &str) -> anyhow::Result<Option<Download>>;
    /// The size of a stored file; `None` if there is none. A reference a client hands us is
    /// checked with it: the file must be there, as large as they say.
    async fn size(&self, key: &str) -> anyhow::Result<Option<u64>>;
    /// Removes a file; removing a missing file is fine, so expiry can be retried.
    async fn delete(&self, key: &str) -> anyhow::Result<()>;
    /// For logs: `local` or `s3`.
    fn backend(&self) -> &'static str;
}

/// Keys are relative paths of `[A-Za-z0-9._-]` segments ([`domain::FileKey`]), so nothing a
/// key holds can reach outside the store's root or mean different things to the two backends.
pub fn check_key(key: &str) -> anyhow::Result<()> {
    domain::FileKey::parse(key).map_err(|_| anyhow::anyhow!("invalid file key {key:?}"))?;
    Ok(())
}

/// The store a `FILE_STORE_URL` names: unset keeps files under `default_dir`, `file:///PATH`
/// under PATH, and `s3://BUCKET/PREFIX?endpoint=URL&region=REGION` in S3-compatible storage.
pub fn from_setting(
    setting: Option<&str>,
    default_dir: &Path,
) -> anyhow::Result<Arc<dyn FileStore>> {
    // A variable set to nothing (`FILE_STORE_URL=` in a compose file) means "unset".
    let setting = setting.map(str::trim).filter(|s| !s.is_empty());
    let Some(setting) = setting else {
        return Ok(Arc::new(LocalFileStore::new(default_dir.to_path_buf())?));
    };
    let url = url::Url::parse(setting)
        .map_err(|e| anyhow::anyhow!("FILE_STORE_URL {setting:?} is not a URL: {e}"))?;
    match url.scheme() {
        "file" => {
            // Parsed rather than stripped, so `%20` and `file://localhost/...` mean what they
            // say and `file://relative` is refused instead of silently becoming relative.
            let path = url.to_file_path().map_err(|()| {
                anyhow::anyhow!("FILE_STORE_URL {setting:?} must be file:///ABSOLUTE/PATH")
            })?;
            Ok(Arc::new(LocalFileStore::new(path)?))
        }
        "s3" => Ok(Arc::new(S3FileStore::from_url(setting)?)),
        _ => anyhow::bail!(
            "FILE_STORE_URL must be file:///PATH or s3://BUCKET/PREFIX, not {setting:?}"
        ),
    }
}
