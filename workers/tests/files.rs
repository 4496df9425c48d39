//! File stores and signed links.

use chrono::{Duration, Utc};
use futures::TryStreamExt;
use workers::files::{FileStore, LinkError, LinkSigner, LocalFileStore, check_key, from_setting};

async fn read(store: &dyn FileStore, key: &str) -> Option<Vec<u8>> {
    let (size, stream) = store.get(key).await.unwrap()?;
    let chunks: Vec<bytes::Bytes> = stream.try_collect().await.unwrap();
    let bytes = chunks.concat();
    assert_eq!(bytes.len() as u64, size);
    Some(bytes)
}

#[tokio::test]
async fn the_local_store_puts_replaces_streams_and_deletes() {
    let dir = tempfile::tempdir().unwrap();
    let store = LocalFileStore::new(dir.path().join("files")).unwrap();
    let source = dir.path().join("source");
    std::fs::write(&source, b"first").unwrap();
    assert_eq!(
        store
            .put_file("exports/exp_1/1/a.csv", &source)
            .await
            .unwrap(),
        5
    );
    assert_eq!(
        read(&store, "exports/exp_1/1/a.csv").await.unwrap(),
        b"first"
    );
    std::fs::write(&source, b"second version").unwrap();
    store
        .put_file("exports/exp_1/1/a.csv", &source)
        .await
        .unwrap();
    assert_eq!(
        read(&store, "exports/exp_1/1/a.csv").await.unwrap(),
        b"second version"
    );
    store.delete("exports/exp_1/1/a.csv").await.unwrap();
    assert!(read(&store, "exports/exp_1/1/a.csv").await.is_none());
    store.delete("exports/exp_1/1/a.csv").await.unwrap();
    for bad in ["../x", "/etc/passwd", "a//b", "", "a/./b", "a b"] {
        assert!(check_key(bad).is_err(), "{bad:?}");
        assert!(store.put_file(bad, &source).await.is_err());
    }
}

#[test]
fn links_are_bound_to_path_and_expiry() {
    let signer = LinkSigner::new(b"server secret");
    let now = Utc::now();
    let expires = now + Duration::hours(1);
    let query = signer.sign("/files/a", expires);
    let (e, s) = query.split_once('&').unwrap();
    let expires_at: i64 = e.trim_start_matches("expires=").parse().unwrap();
    let signature = s.trim_start_matches("signature=");
    assert_eq!(
        signer.verify("/files/a", expires_at, signature, now),
        Ok(())
    );
    assert_eq!(
        signer.verify("/files/b", expires_at, signature, now),
        Err(LinkError::BadSignature)
    );
    assert_eq!(
        signer.verify("/files/a", expires_at + 3600, signature, now),
        Err(LinkError::BadSignature)
    );
    assert_eq!(
        signer.verify("/files/a", expires_at, "00", now),
        Err(LinkError::BadSignature)
    );
    assert_eq!(
        signer.verify("/files/a", expires_at, "zz", now),
        Err(LinkError::BadSignature)
    );
    assert_eq!(
        signer.verify("/files/a", expires_at, signature, now + Duration::hours(2)),
        Err(LinkError::Expired)
    );
    let other = LinkSigner::new(b"another secret");
    assert_eq!(
        other.verify("/files/a", expires_at, signature, now),
        Err(LinkError::BadSignature)
    );
}

#[test]
fn the_setting_chooses_the_store() {
    let dir = tempfile::tempdir().unwrap();
    assert_eq!(from_setting(None, dir.path()).unwrap().backend(), "local");
    let url = format!("file://{}", dir.path().join("elsewhere").display());
    assert_eq!(
        from_setting(Some(&url), dir.path()).unwrap().backend(),
        "local"
    );
    let s3 = from_setting(
        Some("s3://reports/bufdir?endpoint=http://127.0.0.1:9000&region=eu-north-1"),
        dir.path(),
    );
    assert_eq!(s3.unwrap().backend(), "s3");
    assert!(from_setting(Some("s3://"), dir.path()).is_err());
    assert!(from_setting(Some("ftp://x"), dir.path()).is_err());
    assert!(from_setting(Some("s3://b?colour=blue"), dir.path()).is_err());
}
