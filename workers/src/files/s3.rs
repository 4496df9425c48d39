//! Files in S3-compatible object storage (AWS S3, MinIO, Ceph), for deployments where workers
//! and API replicas run on different machines. Uploads are multipart and stream from disk, so a
//! large export never sits in memory.

use std::path::Path;

use futures::{StreamExt, TryStreamExt};
use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, WriteMultipart};
use tokio_util::io::ReaderStream;

use super::{Download, FileStore, check_key};

/// Bytes per uploaded part: above S3's 5 MiB minimum for all but the last part.
const PART: usize = 8 * 1024 * 1024;
/// Bytes read from disk at a time; the writer gathers them into parts without copying.
const READ: usize = 1024 * 1024;
/// Parts in flight at once: bounds memory to about this many parts per upload.
const IN_FLIGHT: usize = 4;

#[derive(Debug)]
pub struct S3FileStore {
    store: AmazonS3,
    prefix: String,
}

impl S3FileStore {
    /// `s3://BUCKET/PREFIX?endpoint=URL&region=REGION`; credentials come from the usual
    /// `AWS_*` variables. Builds the client only: nothing is contacted until first use.
    pub fn from_url(url: &str) -> anyhow::Result<Self> {
        let parsed = url::Url::parse(url)?;
        anyhow::ensure!(parsed.scheme() == "s3", "an S3 store URL starts with s3://");
        let bucket = parsed
            .host_str()
            .filter(|b| !b.is_empty())
            .ok_or_else(|| anyhow::anyhow!("{url:?} names no bucket"))?;
        let mut builder = AmazonS3Builder::from_env().with_bucket_name(bucket);
        for (name, value) in parsed.query_pairs() {
            builder = match name.as_ref() {
                // S3-compatible servers (MinIO) are usually reached by address, often over
                // plain HTTP inside a cluster, and serve buckets as paths, not subdomains.
                "endpoint" => builder
                    .with_endpoint(value.as_ref())
                    .with_allow_http(value.starts_with("http://"))
                    .with_virtual_hosted_style_request(false),
                "region" => builder.with_region(value.as_ref()),
                // Refused rather than ignored: a misspelt setting should not silently go to AWS.
                other => anyhow::bail!("unknown S3 store setting {other:?} in {url:?}"),
            };
        }
        let prefix = parsed.path().trim_matches('/').to_string();
        if !prefix.is_empty() {
            check_key(&prefix).map_err(|_| anyhow::anyhow!("invalid S3 prefix in {url:?}"))?;
        }
        Ok(S3FileStore {
            store: builder.build()?,
            prefix,
        })
    }

    fn path(&self, key: &str) -> anyhow::Result<ObjectPath> {
        check_key(key)?;
        Ok(if self.prefix.is_empty() {
            ObjectPath::from(key)
        } else {
            ObjectPath::from(format!("{}/{key}", self.prefix))
        })
    }

    /// Streams `source` into `writer`; returns the bytes written.
    async fn upload(writer: &mut WriteMultipart, source: &Path) -> anyhow::Result<u64> {
        let file = tokio::fs::File::open(source).await?;
        let mut chunks = ReaderStream::with_capacity(file, READ);
        let mut size = 0u64;
        while let Some(chunk) = chunks.next().await {
            let chunk = chunk?;
            size += chunk.len() as u64;
            writer.wait_for_capacity(IN_FLIGHT).await?;
            writer.put(chunk);
        }
        Ok(size)
    }
}

#[async_trait::async_trait]
impl FileStore for S3FileStore {
    #[tracing::instrument(skip(self, source), err(Debug))]
    async fn put_file(&self, key: &str, source: &Path) -> anyhow::Result<u64> {
        let path = self.path(key)?;
        let upload = self.store.put_multipart(&path).await?;
        let mut writer = WriteMultipart::new_with_chunk_size(upload, PART);
        match Self::upload(&mut writer, source).await {
            // The object appears only when the upload completes, whole.
            Ok(size) => {
                writer.finish().await?;
                Ok(size)
            }
            Err(e) => {
                // Unfinished uploads keep their parts (and cost) until aborted.
                if let Err(abort) = writer.abort().await {
                    tracing::warn!(%key, error = %store::causes(&abort), "could not abort a failed S3 upload");
                }
                Err(e)
            }
        }
    }

    #[tracing::instrument(skip(self), err(Debug))]
    async fn get(&self, key: &str) -> anyhow::Result<Option<Download>> {
        match self.store.get(&self.path(key)?).await {
            Ok(result) => {
                let size = result.meta.size;
                let stream = result.into_stream().map_err(std::io::Error::other).boxed();
                Ok(Some((size, stream)))
            }
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    #[tracing::instrument(skip(self), err(Debug))]
    async fn size(&self, key: &str) -> anyhow::Result<Option<u64>> {
        match self.store.head(&self.path(key)?).await {
            Ok(meta) => Ok(Some(meta.size)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    #[tracing::instrument(skip(self), err(Debug))]
    async fn delete(&self, key: &str) -> anyhow::Result<()> {
        match self.store.delete(&self.path(key)?).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    fn backend(&self) -> &'static str {
        "s3"
    }
}
