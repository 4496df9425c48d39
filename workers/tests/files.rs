//! File stores and signed links. S3 is covered up to building the client: there is no S3
//! server here, and the S3 store is a thin layer over object_store.

use chrono::{Duration, TimeZone, Utc};
use futures::TryStreamExt;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use workers::files::{
    FileStore, LinkError, LinkSigner, LocalFileStore, S3FileStore, check_key, from_setting,
};

async fn read(store: &dyn FileStore, key: &str) -> Option<Vec<u8>> {
    let (size, stream) = store.get(key).await.unwrap()?;
    let chunks: Vec<bytes::Bytes> = stream.try_collect().await.unwrap();
    let bytes = chunks.concat();
    assert_eq!(bytes.len() as u64, size);
    Some(bytes)
}

/// Names in `dir` and below, to see that nothing is left behind.
fn names(dir: &std::path::Path) -> Vec<String> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name().to_string_lossy().into_owned();
        if entry.file_type().unwrap().is_dir() {
            found.extend(
                names(&entry.path())
                    .into_iter()
                    .map(|n| format!("{name}/{n}")),
            );
        } else {
            found.push(name);
        }
    }
    found
}

#[tokio::test]
async fn the_local_store_puts_replaces_streams_and_deletes() {
    let dir = tempfile::tempdir().unwrap();
    let store = LocalFileStore::new(dir.path().join("files")).unwrap();
    assert_eq!(store.backend(), "local");
    let key = "exports/exp_1/1/a.csv";
    let source = dir.path().join("source");
    std::fs::write(&source, b"first").unwrap();
    assert_eq!(store.put_file(key, &source).await.unwrap(), 5);
    assert_eq!(read(&store, key).await.unwrap(), b"first");

    std::fs::write(&source, b"second version").unwrap();
    assert_eq!(store.put_file(key, &source).await.unwrap(), 14);
    assert_eq!(read(&store, key).await.unwrap(), b"second version");
    assert_eq!(names(&dir.path().join("files")), ["exports/exp_1/1/a.csv"]);

    store.delete(key).await.unwrap();
    assert!(read(&store, key).await.is_none());
    store.delete(key).await.unwrap();
    store.delete("never/stored.csv").await.unwrap();
    // A prefix of other keys is a directory, not a file.
    assert!(read(&store, "exports/exp_1").await.is_none());
}

#[tokio::test]
async fn the_local_store_streams_large_files_in_chunks() {
    let dir = tempfile::tempdir().unwrap();
    let store = LocalFileStore::new(dir.path().join("files")).unwrap();
    let content: Vec<u8> = (0..3_000_000u32).map(|i| (i * 7 % 251) as u8).collect();
    let source = dir.path().join("big");
    std::fs::write(&source, &content).unwrap();
    store.put_file("big.bin", &source).await.unwrap();

    let (size, stream) = store.get("big.bin").await.unwrap().unwrap();
    let chunks: Vec<bytes::Bytes> = stream.try_collect().await.unwrap();
    assert_eq!(size, content.len() as u64);
    assert!(chunks.len() > 1, "streamed, not read whole");
    assert_eq!(chunks.concat(), content);
}

#[tokio::test]
async fn a_failed_local_put_leaves_nothing_behind() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("files");
    let store = LocalFileStore::new(root.clone()).unwrap();
    let missing = dir.path().join("no such file");
    assert!(store.put_file("exports/a.csv", &missing).await.is_err());
    assert!(names(&root).is_empty(), "{:?}", names(&root));
    assert!(read(&store, "exports/a.csv").await.is_none());
}

#[tokio::test]
async fn keys_that_could_leave_the_root_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let store = LocalFileStore::new(dir.path().join("files")).unwrap();
    let source = dir.path().join("source");
    std::fs::write(&source, b"x").unwrap();
    let long = "a".repeat(513);
    for bad in [
        "../x",
        "a/../../x",
        "..",
        "/etc/passwd",
        "a//b",
        "a/",
        "",
        "a/./b",
        "a b",
        "a\\b",
        "ä",
        &long,
    ] {
        assert!(check_key(bad).is_err(), "{bad:?}");
        assert!(store.put_file(bad, &source).await.is_err(), "{bad:?}");
        assert!(store.get(bad).await.is_err(), "{bad:?}");
        assert!(store.delete(bad).await.is_err(), "{bad:?}");
    }
    for good in [
        "a",
        "exports/exp_01J/3/report.xlsx",
        "x-y_z.1",
        &"a".repeat(512),
    ] {
        assert!(check_key(good).is_ok(), "{good:?}");
    }
    assert!(names(dir.path()).iter().all(|n| n == "source"));
}

fn split(query: &str) -> (i64, String) {
    let (e, s) = query.split_once('&').unwrap();
    let expires = e.strip_prefix("expires=").unwrap().parse().unwrap();
    (expires, s.strip_prefix("signature=").unwrap().to_string())
}

#[test]
fn links_are_bound_to_path_and_expiry() {
    let signer = LinkSigner::new(b"server secret");
    let now = Utc::now();
    let (expires, signature) = split(&signer.sign("/files/a", now + Duration::hours(1)));
    assert_eq!(expires, (now + Duration::hours(1)).timestamp());
    assert_eq!(signer.verify("/files/a", expires, &signature, now), Ok(()));

    let bad = Err(LinkError::BadSignature);
    assert_eq!(signer.verify("/files/b", expires, &signature, now), bad);
    assert_eq!(
        signer.verify("/files/a", expires + 3600, &signature, now),
        bad
    );
    let mut flipped = signature.clone().into_bytes();
    flipped[0] = if flipped[0] == b'0' { b'1' } else { b'0' };
    let flipped = String::from_utf8(flipped).unwrap();
    assert_eq!(signer.verify("/files/a", expires, &flipped, now), bad);
    assert_eq!(
        signer.verify("/files/a", expires, &signature[..62], now),
        bad
    );
    assert_eq!(signer.verify("/files/a", expires, "00", now), bad);
    assert_eq!(signer.verify("/files/a", expires, "zz", now), bad);
    assert_eq!(signer.verify("/files/a", expires, "", now), bad);
    let other = LinkSigner::new(b"another secret");
    assert_eq!(other.verify("/files/a", expires, &signature, now), bad);

    let later = now + Duration::hours(2);
    assert_eq!(
        signer.verify("/files/a", expires, &signature, later),
        Err(LinkError::Expired)
    );
    // A forged link past its expiry is reported as forged, not as expired.
    assert_eq!(signer.verify("/files/b", expires, &signature, later), bad);
}

#[test]
fn a_link_expires_at_its_second() {
    let signer = LinkSigner::new(b"s");
    let at = Utc.timestamp_opt(1_700_000_000, 0).unwrap();
    let (expires, signature) = split(&signer.sign("/p", at));
    let just_before = at - Duration::milliseconds(1);
    assert_eq!(
        signer.verify("/p", expires, &signature, just_before),
        Ok(())
    );
    assert_eq!(
        signer.verify("/p", expires, &signature, at),
        Err(LinkError::Expired)
    );
}

/// Pins the link format, so links handed out stay valid across releases.
#[test]
fn the_signature_is_hmac_sha256_under_a_derived_key() {
    let key = Sha256::new_with_prefix(b"bufdir-reporting file links v1\n")
        .chain_update(b"server secret")
        .finalize();
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).unwrap();
    mac.update(b"/files/a\n1700000000");
    let expected = hex::encode(mac.finalize().into_bytes());
    let signer = LinkSigner::new(b"server secret");
    let at = Utc.timestamp_opt(1_700_000_000, 0).unwrap();
    assert_eq!(
        signer.sign("/files/a", at),
        format!("expires=1700000000&signature={expected}")
    );
}

#[test]
fn the_setting_chooses_the_store() {
    let dir = tempfile::tempdir().unwrap();
    assert_eq!(from_setting(None, dir.path()).unwrap().backend(), "local");
    assert_eq!(
        from_setting(Some(" "), dir.path()).unwrap().backend(),
        "local"
    );
    let elsewhere = dir.path().join("else where");
    let url = url::Url::from_file_path(&elsewhere).unwrap();
    assert_eq!(
        from_setting(Some(url.as_str()), dir.path())
            .unwrap()
            .backend(),
        "local"
    );
    assert!(elsewhere.is_dir(), "{url} names {elsewhere:?}");
    assert!(from_setting(Some("file://relative/dir"), dir.path()).is_err());
    assert!(from_setting(Some("ftp://x"), dir.path()).is_err());
    assert!(from_setting(Some("/just/a/path"), dir.path()).is_err());
}

#[test]
fn s3_urls_build_a_client_without_contacting_it() {
    let dir = tempfile::tempdir().unwrap();
    for url in [
        "s3://reports/bufdir?endpoint=http://127.0.0.1:9000&region=eu-north-1",
        "s3://reports?endpoint=https://minio.example:9000",
        "s3://reports/a/b/",
        "s3://reports.with.dots?region=us-east-1",
    ] {
        let store = from_setting(Some(url), dir.path()).unwrap_or_else(|e| panic!("{url}: {e}"));
        assert_eq!(store.backend(), "s3", "{url}");
        assert_eq!(S3FileStore::from_url(url).unwrap().backend(), "s3");
    }
    for url in [
        "s3://",
        "s3:///prefix",
        "s3://b?colour=blue",
        "s3://b/a//b",
        "s3://b/a%20b",
        "http://b/prefix",
    ] {
        assert!(S3FileStore::from_url(url).is_err(), "{url}");
    }
}
