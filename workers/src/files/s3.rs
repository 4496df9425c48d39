//! Files in S3-compatible object storage (AWS S3, MinIO, Ceph), for deployments where workers
//! and API replicas run on different machines. Uploads are multipart and stream from disk, so a
//! large export never sits in memory.

use std::path::Path;

use futures::{StreamExt, TryStreamExt};
use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, WriteMultipart};
use tokio::io::AsyncReadExt;

use super::{Download, FileStore, check_key};

/// Bytes read from disk per multipart chunk.
const CHUNK: usize = 8 * 1024 * 1024;

#[derive(Debug)]
pub struct S3FileStore {
    store: AmazonS3,
    prefix: String,
}

impl S3FileStore {
    /// `s3://BUCKET/PREFIX?endpoint=URL&region=REGION`; credentials come from the usual
    /// `AWS_*` variables.
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
                "endpoint" => builder
                    .with_endpoint(value.as_ref())
                    .with_allow_http(value.starts_with("http://"))
                    .with_virtual_hosted_style_request(false),
                "region" => builder.with_region(value.as_ref()),
                other => anyhow::bail!("unknown S3 store setting {other:?}"),
            };
        }
        let prefix = parsed.path().trim_matches('/').to_string();
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
}

#[async_trait::async_trait]
impl FileStore for S3FileStore {
    async fn put_file(&self, key: &str, source: &Path) -> anyhow::Result<u64> {
        let path = self.path(key)?;
        let upload = self.store.put_multipart(&path).await?;
        let mut writer = WriteMultipart::new_with_chunk_size(upload, CHUNK);
        let mut file = tokio::fs::File::open(source).await?;
        let mut buffer = vec![0u8; CHUNK];
        let mut size = 0u64;
        loop {
            let read = file.read(&mut buffer).await?;
            if read == 0 {
                break;
            }
            size += read as u64;
            writer.wait_for_capacity(4).await?;
            writer.write(&buffer[..read]);
        }
        // An upload that is not finished is never visible; object stores commit on finish.
        writer.finish().await?;
        Ok(size)
    }

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
