//! Bundle sources against real files, a real HTTP server on 127.0.0.1 and a
//! real S3-compatible server (moto) on 127.0.0.1. Each scenario is bounded
//! in time.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod support;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use support::{HttpServer, Moto, Route, temp_dir, within};
use tollgate_hot_swap::source::{
    BundleSource, Fetched, Poll, SourceClient, SourceError, SourceSettings,
};

const SCENARIO: Duration = Duration::from_secs(20);

fn client(source: BundleSource) -> SourceClient {
    SourceClient::new(source, SourceSettings::default()).unwrap()
}

fn capped(source: BundleSource, max_bytes: u64) -> SourceClient {
    SourceClient::new(
        source,
        SourceSettings {
            max_bytes,
            ..SourceSettings::default()
        },
    )
    .unwrap()
}

#[track_caller]
fn changed(poll: Result<Poll, SourceError>) -> Fetched {
    match poll {
        Ok(Poll::Changed(fetched)) => fetched,
        other => panic!("expected a changed bundle, got {other:?}"),
    }
}

#[track_caller]
fn unchanged(poll: Result<Poll, SourceError>) {
    match poll {
        Ok(Poll::Unchanged) => {}
        other => panic!("expected unchanged, got {other:?}"),
    }
}

// ---------------------------------------------------------------------------
// Parsing

#[test]
fn parse_accepts_paths_files_urls_and_s3() {
    assert_eq!(
        BundleSource::parse("bundles/orders.tgb").unwrap(),
        BundleSource::File(PathBuf::from("bundles/orders.tgb"))
    );
    assert_eq!(
        BundleSource::parse("file:///srv/bundles/orders.tgb").unwrap(),
        BundleSource::File(PathBuf::from("/srv/bundles/orders.tgb"))
    );
    assert!(matches!(
        BundleSource::parse("https://bundles.example/orders.tgb").unwrap(),
        BundleSource::Url(_)
    ));
    assert_eq!(
        BundleSource::parse("s3://bucket/path/orders.tgb").unwrap(),
        BundleSource::ObjectStore {
            url: "s3://bucket/path/orders.tgb".to_owned(),
            options: Vec::new()
        }
    );
    assert!(!BundleSource::parse("orders.tgb").unwrap().is_remote());
    assert!(BundleSource::parse("s3://b/k").unwrap().is_remote());
}

#[test]
fn parse_refuses_the_rest_with_a_reason() {
    for (text, says) in [
        ("", "empty"),
        (" orders.tgb", "white space"),
        ("ftp://host/orders.tgb", "ftp://"),
        ("gs://bucket/orders.tgb", "not supported yet"),
        ("s3://bucket", "no key"),
        ("s3://bucket/", "no object key"),
        ("s3:///key", "no bucket"),
        ("file://host/orders.tgb", "no host"),
    ] {
        let error = BundleSource::parse(text).unwrap_err();
        assert!(
            matches!(error, SourceError::InvalidSource { .. }) && error.to_string().contains(says),
            "{text:?}: {error}"
        );
    }
}

#[test]
fn plain_http_only_to_loopback_unless_allowed() {
    for text in [
        "http://127.0.0.1:1/b.tgb",
        "http://localhost:1/b.tgb",
        "http://[::1]:1/b.tgb",
    ] {
        SourceClient::new(
            BundleSource::parse(text).unwrap(),
            SourceSettings::default(),
        )
        .unwrap_or_else(|e| panic!("{text}: {e}"));
    }
    let remote = BundleSource::parse("http://bundles.example/b.tgb").unwrap();
    let error = SourceClient::new(remote.clone(), SourceSettings::default()).unwrap_err();
    assert!(
        matches!(error, SourceError::HttpNotAllowed { .. }),
        "{error}"
    );
    assert!(error.to_string().contains("allow_http"), "{error}");
    SourceClient::new(
        remote,
        SourceSettings {
            allow_http: true,
            ..SourceSettings::default()
        },
    )
    .unwrap();
}

#[test]
fn credentials_stay_out_of_messages() {
    let source =
        BundleSource::parse("https://user:hunter2@bundles.example/b.tgb?X-Amz-Signature=s3cr3t")
            .unwrap();
    let shown = format!("{source} {source:?}");
    assert!(
        !shown.contains("hunter2") && !shown.contains("s3cr3t"),
        "{shown}"
    );
    let object = BundleSource::ObjectStore {
        url: "s3://bucket/key".to_owned(),
        options: vec![("aws_secret_access_key".to_owned(), "s3cr3t".to_owned())],
    };
    let shown = format!("{object} {object:?}");
    assert!(!shown.contains("s3cr3t"), "{shown}");
    let error = BundleSource::parse("ftp://user:hunter2@host/b.tgb").unwrap_err();
    assert!(!error.to_string().contains("hunter2"), "{error}");
}

// ---------------------------------------------------------------------------
// Files

#[tokio::test]
async fn file_unchanged_until_it_changes() {
    within(SCENARIO, async {
        let dir = temp_dir("file-changes");
        let path = dir.join("orders.tgb");
        std::fs::write(&path, b"bundle A").unwrap();
        let mut source = client(BundleSource::File(path.clone()));
        let first = changed(source.poll().await);
        assert_eq!(first.bytes, b"bundle A");
        assert!(first.version.is_some());
        unchanged(source.poll().await);
        unchanged(source.poll().await);
        std::fs::write(&path, b"bundle B, longer").unwrap();
        assert_eq!(changed(source.poll().await).bytes, b"bundle B, longer");
        unchanged(source.poll().await);
    })
    .await;
}

#[tokio::test]
async fn file_replaced_by_rename_wakes_the_watch_within_200ms() {
    within(SCENARIO, async {
        let dir = temp_dir("file-rename");
        let path = dir.join("orders.tgb");
        std::fs::write(&path, b"bundle A").unwrap();
        let mut source = client(BundleSource::File(path.clone()));
        let mut wakeups = source.wakeups().expect("a file source can be watched");
        assert!(source.wakeups().is_none(), "the channel is handed out once");
        assert_eq!(changed(source.poll().await).bytes, b"bundle A");
        // Nothing was published: no wake-up (the poll's own reads do not count).
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(wakeups.try_recv().is_err(), "woken without a change");

        for (round, bytes) in [&b"bundle B"[..], b"bundle C!"].into_iter().enumerate() {
            let tmp = dir.join(format!(".orders.tgb.tmp{round}"));
            std::fs::write(&tmp, bytes).unwrap();
            let published = Instant::now();
            std::fs::rename(&tmp, &path).unwrap();
            tokio::time::timeout(Duration::from_millis(200), wakeups.recv())
                .await
                .unwrap_or_else(|_| panic!("round {round}: no wake-up within 200 ms"))
                .expect("the watch is alive");
            eprintln!(
                "round {round}: woken {:?} after the rename",
                published.elapsed()
            );
            assert_eq!(changed(source.poll().await).bytes, bytes);
        }

        // A file in the same folder with another name does not wake it.
        tokio::time::sleep(Duration::from_millis(100)).await;
        while wakeups.try_recv().is_ok() {}
        std::fs::write(dir.join("other.tgb"), b"not ours").unwrap();
        tokio::time::sleep(Duration::from_millis(150)).await;
        assert!(wakeups.try_recv().is_err(), "woken by another file");
    })
    .await;
}

#[tokio::test]
async fn file_written_in_place_wakes_the_watch() {
    within(SCENARIO, async {
        let dir = temp_dir("file-write");
        let path = dir.join("orders.tgb");
        let mut source = client(BundleSource::File(path.clone()));
        let mut wakeups = source.wakeups().unwrap();
        // Created after the watch started.
        std::fs::write(&path, b"bundle A").unwrap();
        tokio::time::timeout(Duration::from_millis(200), wakeups.recv())
            .await
            .expect("no wake-up within 200 ms of creating the file");
        assert_eq!(changed(source.poll().await).bytes, b"bundle A");
    })
    .await;
}

#[tokio::test]
async fn file_over_the_cap_is_refused() {
    within(SCENARIO, async {
        let dir = temp_dir("file-cap");
        let path = dir.join("orders.tgb");
        std::fs::write(&path, b"0123456789").unwrap();
        let mut source = capped(BundleSource::File(path.clone()), 10);
        assert_eq!(changed(source.poll().await).bytes, b"0123456789");
        std::fs::write(&path, b"0123456789A").unwrap();
        let error = source.poll().await.unwrap_err();
        assert!(
            matches!(
                error,
                SourceError::TooLarge {
                    size: 11,
                    max_bytes: 10,
                    ..
                }
            ),
            "{error}"
        );
        assert!(error.to_string().contains("max_bytes"), "{error}");
    })
    .await;
}

#[tokio::test]
async fn missing_file_and_folder_are_errors() {
    within(SCENARIO, async {
        let dir = temp_dir("file-missing");
        let path = dir.join("orders.tgb");
        let mut source = client(BundleSource::File(path.clone()));
        let error = source.poll().await.unwrap_err();
        assert!(matches!(error, SourceError::FileMissing { .. }), "{error}");

        std::fs::write(&path, b"bundle A").unwrap();
        changed(source.poll().await);
        std::fs::remove_file(&path).unwrap();
        // Gone after it was seen: an error, not "unchanged".
        let error = source.poll().await.unwrap_err();
        assert!(matches!(error, SourceError::FileMissing { .. }), "{error}");

        let error = client(BundleSource::File(dir.clone()))
            .poll()
            .await
            .unwrap_err();
        assert!(matches!(error, SourceError::NotAFile { .. }), "{error}");
    })
    .await;
}

// ---------------------------------------------------------------------------
// URLs

#[tokio::test]
async fn url_304_with_the_etag_then_new_bytes_for_a_new_etag() {
    within(SCENARIO, async {
        let server = HttpServer::start().await;
        server.publish("/orders.tgb", b"bundle A", "\"a\"");
        let mut source = client(server.source("/orders.tgb"));
        let first = changed(source.poll().await);
        assert_eq!(first.bytes, b"bundle A");
        assert_eq!(first.version.as_deref(), Some("\"a\""));
        unchanged(source.poll().await);
        let seen = server.seen();
        assert_eq!(seen.len(), 2);
        assert_eq!(seen[0].header("if-none-match"), None);
        assert_eq!(seen[1].header("if-none-match"), Some("\"a\""));

        server.publish("/orders.tgb", b"bundle B", "\"b\"");
        let second = changed(source.poll().await);
        assert_eq!(second.bytes, b"bundle B");
        assert_eq!(second.version.as_deref(), Some("\"b\""));
        unchanged(source.poll().await);
    })
    .await;
}

#[tokio::test]
async fn url_without_etag_uses_last_modified() {
    within(SCENARIO, async {
        let server = HttpServer::start().await;
        let modified = "Tue, 01 Dec 2026 06:00:00 GMT";
        server.set(
            "/orders.tgb",
            Route::Bundle {
                bytes: b"bundle A".to_vec(),
                etag: None,
                last_modified: Some(modified.to_owned()),
            },
        );
        let mut source = client(server.source("/orders.tgb"));
        assert_eq!(
            changed(source.poll().await).version.as_deref(),
            Some(modified)
        );
        unchanged(source.poll().await);
        assert_eq!(server.seen()[1].header("if-modified-since"), Some(modified));
    })
    .await;
}

#[tokio::test]
async fn url_over_the_cap_by_length_or_by_body() {
    within(SCENARIO, async {
        let server = HttpServer::start().await;
        server.publish("/announced.tgb", &[7u8; 11], "\"x\"");
        let error = capped(server.source("/announced.tgb"), 10)
            .poll()
            .await
            .unwrap_err();
        assert!(
            matches!(
                error,
                SourceError::TooLarge {
                    size: 11,
                    at_least: false,
                    ..
                }
            ),
            "{error}"
        );

        // No Content-Length: the cap is enforced while reading.
        server.set("/chunked.tgb", Route::Chunked(vec![7u8; 100 * 1024]));
        let error = capped(server.source("/chunked.tgb"), 50 * 1024)
            .poll()
            .await
            .unwrap_err();
        assert!(
            matches!(
                error,
                SourceError::TooLarge {
                    at_least: true,
                    max_bytes: 51_200,
                    ..
                }
            ),
            "{error}"
        );
        // Under the cap the chunked body is read whole.
        let fetched = changed(
            capped(server.source("/chunked.tgb"), 200 * 1024)
                .poll()
                .await,
        );
        assert_eq!(fetched.bytes.len(), 100 * 1024);
        assert_eq!(fetched.version, None);
    })
    .await;
}

#[tokio::test]
async fn url_error_statuses_are_named() {
    within(SCENARIO, async {
        let server = HttpServer::start().await;
        server.set("/broken.tgb", Route::Status(500));
        for (path, status) in [("/missing.tgb", 404), ("/broken.tgb", 500)] {
            let error = client(server.source(path)).poll().await.unwrap_err();
            assert!(
                matches!(error, SourceError::HttpStatus { status: s, .. } if s == status),
                "{path}: {error}"
            );
            assert!(error.to_string().contains(&status.to_string()), "{error}");
        }
    })
    .await;
}

#[tokio::test]
async fn url_that_hangs_times_out_within_the_bound() {
    within(SCENARIO, async {
        let server = HttpServer::start().await;
        server.set("/hang.tgb", Route::Hang);
        let limit = Duration::from_millis(500);
        let mut source = SourceClient::new(
            server.source("/hang.tgb"),
            SourceSettings {
                request_timeout: limit,
                ..SourceSettings::default()
            },
        )
        .unwrap();
        let started = Instant::now();
        let error = source.poll().await.unwrap_err();
        let took = started.elapsed();
        assert!(matches!(error, SourceError::Timeout { .. }), "{error}");
        assert!(
            took >= limit && took < limit * 2,
            "timed out after {took:?}"
        );
    })
    .await;
}

#[tokio::test]
async fn url_redirects_to_plain_http_elsewhere_are_refused() {
    within(SCENARIO, async {
        let server = HttpServer::start().await;
        server.publish("/final.tgb", b"bundle A", "\"a\"");
        server.set("/moved.tgb", Route::Redirect(server.url("/final.tgb")));
        assert_eq!(
            changed(client(server.source("/moved.tgb")).poll().await).bytes,
            b"bundle A"
        );
        // Refused before any connection is made to the other host.
        server.set(
            "/away.tgb",
            Route::Redirect("http://bundles.example.invalid/b.tgb".to_owned()),
        );
        let error = client(server.source("/away.tgb")).poll().await.unwrap_err();
        assert!(
            matches!(error, SourceError::Http { .. }) && error.to_string().contains("redirect"),
            "{error}"
        );
        server.set("/loop.tgb", Route::Redirect(server.url("/loop.tgb")));
        let error = client(server.source("/loop.tgb")).poll().await.unwrap_err();
        assert!(error.to_string().contains("redirects"), "{error}");
    })
    .await;
}

// ---------------------------------------------------------------------------
// S3 (moto)

#[tokio::test]
async fn s3_unchanged_by_etag_until_a_new_object() {
    let moto = Moto::start();
    within(SCENARIO, async {
        moto.create_bucket("bundles").await;
        moto.put("bundles", "prod/orders.tgb", b"bundle A").await;
        let mut source = client(moto.source("bundles", "prod/orders.tgb"));
        let first = changed(source.poll().await);
        assert_eq!(first.bytes, b"bundle A");
        assert!(first.version.is_some());
        unchanged(source.poll().await);
        moto.put("bundles", "prod/orders.tgb", b"bundle B").await;
        let second = changed(source.poll().await);
        assert_eq!(second.bytes, b"bundle B");
        assert_ne!(second.version, first.version);
        unchanged(source.poll().await);
    })
    .await;
}

#[tokio::test]
async fn s3_over_the_cap_is_refused() {
    let moto = Moto::start();
    within(SCENARIO, async {
        moto.create_bucket("bundles").await;
        moto.put("bundles", "orders.tgb", &[7u8; 11]).await;
        let error = capped(moto.source("bundles", "orders.tgb"), 10)
            .poll()
            .await
            .unwrap_err();
        assert!(
            matches!(
                error,
                SourceError::TooLarge {
                    size: 11,
                    max_bytes: 10,
                    ..
                }
            ),
            "{error}"
        );
    })
    .await;
}

#[tokio::test]
async fn s3_missing_key_or_bucket_is_an_error() {
    let moto = Moto::start();
    within(SCENARIO, async {
        moto.create_bucket("bundles").await;
        let error = client(moto.source("bundles", "missing.tgb"))
            .poll()
            .await
            .unwrap_err();
        assert!(
            matches!(error, SourceError::ObjectNotFound { .. }),
            "{error}"
        );
        assert!(
            error.to_string().contains("s3://bundles/missing.tgb"),
            "{error}"
        );

        // Published, seen, then deleted: an error, not "unchanged".
        moto.put("bundles", "gone.tgb", b"bundle A").await;
        let mut source = client(moto.source("bundles", "gone.tgb"));
        changed(source.poll().await);
        moto.delete("bundles", "gone.tgb").await;
        let error = source.poll().await.unwrap_err();
        assert!(
            matches!(error, SourceError::ObjectNotFound { .. }),
            "{error}"
        );

        let error = client(moto.source("no-such-bucket", "orders.tgb"))
            .poll()
            .await
            .unwrap_err();
        assert!(
            matches!(
                error,
                SourceError::ObjectNotFound { .. } | SourceError::ObjectStore { .. }
            ),
            "{error}"
        );
        assert!(
            error.to_string().contains("s3://no-such-bucket/orders.tgb"),
            "{error}"
        );
        eprintln!("missing bucket: {error}");
    })
    .await;
}

#[tokio::test]
async fn s3_endpoint_that_hangs_times_out_within_the_bound() {
    within(SCENARIO, async {
        // A path-style GET/HEAD of bucket `bundles`, key `orders.tgb`.
        let server = HttpServer::start().await;
        server.set("/bundles/orders.tgb", Route::Hang);
        let limit = Duration::from_millis(500);
        let mut source = SourceClient::new(
            BundleSource::ObjectStore {
                url: "s3://bundles/orders.tgb".to_owned(),
                options: vec![
                    ("aws_endpoint".to_owned(), server.url("")),
                    ("aws_region".to_owned(), "us-east-1".to_owned()),
                    ("aws_access_key_id".to_owned(), "test".to_owned()),
                    ("aws_secret_access_key".to_owned(), "test".to_owned()),
                ],
            },
            SourceSettings {
                request_timeout: limit,
                ..SourceSettings::default()
            },
        )
        .unwrap();
        let started = Instant::now();
        let error = source.poll().await.unwrap_err();
        let took = started.elapsed();
        assert!(matches!(error, SourceError::Timeout { .. }), "{error}");
        assert!(
            took >= limit && took < limit * 2,
            "timed out after {took:?}"
        );
        assert!(!server.seen().is_empty(), "the endpoint was not asked");
    })
    .await;
}

#[test]
fn s3_unknown_option_is_refused() {
    let error = SourceClient::new(
        BundleSource::ObjectStore {
            url: "s3://bundles/orders.tgb".to_owned(),
            options: vec![("aws_endpoint_typo".to_owned(), "x".to_owned())],
        },
        SourceSettings::default(),
    )
    .unwrap_err();
    assert!(
        matches!(error, SourceError::ObjectStoreConfig { .. })
            && error.to_string().contains("aws_endpoint_typo"),
        "{error}"
    );
}
