//! The key manager against a real HTTP server on 127.0.0.1: fetch counts
//! under abuse, single flight, stale serving, rotation, discovery, timeouts,
//! size caps, redirects, cold caches and the inline (Lambda) budget.
//!
//! Every wait is bounded by `tokio::time::timeout`; windows are a few hundred
//! milliseconds so the whole file runs in seconds.

// Tests: a failed expectation is a panic, and fixtures are indexed directly.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;
use tollgate_jwks::testing::{Behaviour, TestServer};
use tollgate_jwks::{
    FetchError, IssuerKeys, KeyFetchSettings, KeyManager, KeyManagerError, RefreshMode,
    RemoteSource,
};
use tollgate_keys::{Algorithm, KeySet, KeyStore, LookupError, NativeKey};

const ISSUER: &str = "https://issuer.test";
const WINDOW: Duration = Duration::from_millis(200);

fn fast() -> KeyFetchSettings {
    tollgate_jwks::testing::fast_settings(WINDOW)
}

use tollgate_jwks::testing::{es256_key as key, jwks_of as jwks};

/// Fail the test if `future` takes longer than `limit`.
async fn within<T>(limit: Duration, future: impl Future<Output = T>) -> T {
    tokio::time::timeout(limit, future)
        .await
        .expect("the test's own time bound was exceeded")
}

/// Poll `check` every 20 ms until it holds, at most `limit`.
async fn eventually(limit: Duration, mut check: impl FnMut() -> bool) {
    within(limit, async {
        while !check() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
}

fn remote(url: String) -> Vec<IssuerKeys> {
    vec![IssuerKeys {
        issuer: ISSUER.into(),
        local: KeySet::default(),
        remote: Some(RemoteSource::JwksUri(url)),
    }]
}

async fn start(
    issuers: Vec<IssuerKeys>,
    settings: KeyFetchSettings,
) -> (Arc<KeyStore>, KeyManager) {
    let store = Arc::new(KeyStore::new());
    let manager = within(
        Duration::from_secs(5),
        KeyManager::start(store.clone(), issuers, settings),
    )
    .await
    .expect("manager starts");
    (store, manager)
}

fn has(store: &KeyStore, kid: &str) -> bool {
    store.lookup(ISSUER, Some(kid)).is_ok()
}

/// A cheap pseudo-random kid (no rand crate needed).
fn random_kid(state: &mut u64) -> String {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    format!("kid-{:016x}", *state)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prefetch_fills_the_store() {
    let server = TestServer::start();
    let a = key("a");
    server.set("/jwks", Behaviour::json(&jwks(&[&a])));
    let (store, manager) = start(remote(server.url("/jwks")), fast()).await;
    assert!(has(&store, "a"));
    assert_eq!(server.hits("/jwks"), 1);
    let status = &manager.status()[0];
    assert_eq!(status.remote_keys, Some(1));
    assert_eq!(
        status.jwks_uri.as_deref(),
        Some(server.url("/jwks").as_str())
    );
    assert!(!status.stale);
    assert_eq!(status.consecutive_failures, 0);
}

/// 1,000 requests with random unknown kids: at most one fetch per penalty
/// window, whatever the traffic.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_unknown_kids_fetch_at_most_once_per_window() {
    let server = TestServer::start();
    let a = key("a");
    server.set("/jwks", Behaviour::json(&jwks(&[&a])));
    let started = Instant::now();
    let (store, manager) = start(remote(server.url("/jwks")), fast()).await;
    let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
    within(Duration::from_secs(20), async {
        // 10 waves of 100 concurrent misses, 60 ms apart: ~4 windows.
        for _ in 0..10 {
            let mut wave = Vec::new();
            for _ in 0..100 {
                let manager = manager.clone();
                let kid = random_kid(&mut seed);
                wave.push(tokio::spawn(async move {
                    manager
                        .refresh_for_miss(ISSUER, Some(&kid), LookupError::UnknownKey)
                        .await
                }));
            }
            for task in wave {
                assert!(!task.await.expect("task"), "an unknown kid cannot appear");
            }
            tokio::time::sleep(Duration::from_millis(60)).await;
        }
    })
    .await;
    let elapsed = started.elapsed();
    let windows = (elapsed.as_millis() / WINDOW.as_millis()) as usize + 1;
    let fetches = server.hits("/jwks");
    assert!(
        fetches <= windows,
        "{fetches} fetches in {elapsed:?} (at most {windows} allowed)"
    );
    // And never two in one window (a little slack for the requests' own latency).
    server.assert_one_per_window("/jwks", WINDOW, Duration::from_millis(50));
    assert!(fetches >= 2, "the first unknown kid refetches once");
    assert!(has(&store, "a"), "the good key stays");
}

/// Concurrent misses share one in-flight fetch.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_misses_share_one_fetch() {
    let server = TestServer::start();
    let (a, b) = (key("a"), key("b"));
    server.set("/jwks", Behaviour::json(&jwks(&[&a])));
    let (store, manager) = start(remote(server.url("/jwks")), fast()).await;
    tokio::time::sleep(WINDOW + Duration::from_millis(20)).await;
    // The new key appears, served slowly: 200 requests ask for it meanwhile.
    server.set(
        "/jwks",
        Behaviour::Delay(
            Duration::from_millis(150),
            Box::new(Behaviour::json(&jwks(&[&a, &b]))),
        ),
    );
    let tasks: Vec<_> = (0..200)
        .map(|_| {
            let manager = manager.clone();
            tokio::spawn(async move {
                manager
                    .refresh_for_miss(ISSUER, Some("b"), LookupError::UnknownKey)
                    .await
            })
        })
        .collect();
    let mut found = 0;
    within(Duration::from_secs(5), async {
        for task in tasks {
            if task.await.expect("task") {
                found += 1;
            }
        }
    })
    .await;
    assert_eq!(server.hits("/jwks"), 2, "prefetch + one shared refetch");
    assert_eq!(found, 200, "every waiter sees the shared result");
    assert!(has(&store, "b"));
}

/// A caller that goes away while its fetch is in flight (a client hung up)
/// does not end the single flight: the fetch, still running in its own task,
/// holds it, so a miss after the penalty window has passed joins that fetch
/// instead of starting a second one of the same URL.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_caller_does_not_end_the_single_flight() {
    let server = TestServer::start();
    let (a, b) = (key("a"), key("b"));
    server.set("/jwks", Behaviour::json(&jwks(&[&a])));
    let settings = KeyFetchSettings {
        request_timeout: Duration::from_secs(3),
        ..fast()
    };
    let (store, manager) = start(remote(server.url("/jwks")), settings).await;
    tokio::time::sleep(WINDOW + Duration::from_millis(20)).await;
    // Slower than the penalty window.
    server.set(
        "/jwks",
        Behaviour::Delay(WINDOW * 3, Box::new(Behaviour::json(&jwks(&[&a, &b])))),
    );
    let first = {
        let manager = manager.clone();
        tokio::spawn(async move {
            manager
                .refresh_for_miss(ISSUER, Some("b"), LookupError::UnknownKey)
                .await
        })
    };
    tokio::time::sleep(Duration::from_millis(50)).await;
    first.abort();
    // Past the window, the fetch still in flight.
    tokio::time::sleep(WINDOW + Duration::from_millis(20)).await;
    let found = within(
        Duration::from_secs(5),
        manager.refresh_for_miss(ISSUER, Some("b"), LookupError::UnknownKey),
    )
    .await;
    assert!(found, "the second miss saw the shared fetch's result");
    assert_eq!(server.hits("/jwks"), 2, "prefetch + one refetch, not two");
    assert!(has(&store, "b"));
}

/// Rotation: a new kid is picked up on first use; a removed key stops after
/// the next successful refresh.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotation_new_key_on_first_use_removed_key_after_refresh() {
    let server = TestServer::start();
    let (a, b) = (key("a"), key("b"));
    server.set("/jwks", Behaviour::json(&jwks(&[&a])));
    let (store, manager) = start(remote(server.url("/jwks")), fast()).await;
    assert!(has(&store, "a") && !has(&store, "b"));

    server.set("/jwks", Behaviour::json(&jwks(&[&a, &b])));
    tokio::time::sleep(WINDOW + Duration::from_millis(20)).await;
    let found = within(
        Duration::from_secs(2),
        manager.refresh_for_miss(ISSUER, Some("b"), LookupError::UnknownKey),
    )
    .await;
    assert!(found, "the new kid is there after one refetch");
    assert!(has(&store, "a") && has(&store, "b"));

    server.set("/jwks", Behaviour::json(&jwks(&[&b])));
    tokio::time::sleep(WINDOW + Duration::from_millis(20)).await;
    let refreshed = within(Duration::from_secs(2), manager.refresh_issuer(ISSUER)).await;
    assert!(refreshed);
    assert!(!has(&store, "a"), "the removed key no longer verifies");
    assert_eq!(
        store.lookup(ISSUER, Some("a")).unwrap_err(),
        LookupError::UnknownKey
    );
    assert!(has(&store, "b"));
    assert_eq!(server.hits("/jwks"), 3);
}

/// During an outage the cached keys keep answering (stale), retries back
/// off but never run faster than the penalty window, and the background
/// task picks the keys up again once the server is back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outage_serves_stale_keys_and_recovers() {
    let server = TestServer::start();
    let (a, b) = (key("a"), key("b"));
    server.set("/jwks", Behaviour::json(&jwks(&[&a])));
    let settings = KeyFetchSettings {
        min_ttl: Duration::from_millis(300),
        max_ttl: Duration::from_millis(300),
        penalty_window: Duration::from_millis(100),
        max_backoff: Duration::from_millis(200),
        max_stale: Duration::from_secs(30),
        ..fast()
    };
    let (store, manager) = start(remote(server.url("/jwks")), settings).await;
    server.set("/jwks", Behaviour::Status(500));
    let outage = Instant::now();
    // For 1.2 s the server fails; the key must answer all along.
    within(Duration::from_secs(5), async {
        while outage.elapsed() < Duration::from_millis(1200) {
            assert!(has(&store, "a"), "stale keys must keep serving");
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    })
    .await;
    let failed_fetches = server.hits("/jwks") - 1;
    // Refresh at 80 % of 300 ms, then retries 100, 200, 200, ... ms apart.
    assert!(failed_fetches >= 3, "retries happen: {failed_fetches}");
    assert!(
        failed_fetches <= 1200 / 100 + 1,
        "never faster than the penalty window: {failed_fetches}"
    );
    let status = &manager.status()[0];
    assert!(status.stale, "{status:?}");
    assert!(status.consecutive_failures >= 3, "{status:?}");
    assert!(
        matches!(
            status.last_error,
            Some(FetchError::Status { status: 500, .. })
        ),
        "{status:?}"
    );
    assert_eq!(status.remote_keys, Some(1));

    // The server recovers with a rotated set: picked up without any request.
    server.set("/jwks", Behaviour::json(&jwks(&[&a, &b])));
    eventually(Duration::from_secs(3), || has(&store, "b")).await;
    let status = &manager.status()[0];
    assert!(
        !status.stale && status.consecutive_failures == 0,
        "{status:?}"
    );
}

/// Past `max_stale` the cached keys are dropped: keys-unavailable, not a
/// forever-stale cache.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stale_keys_are_dropped_after_max_stale() {
    let server = TestServer::start();
    let a = key("a");
    server.set("/jwks", Behaviour::json(&jwks(&[&a])));
    let settings = KeyFetchSettings {
        min_ttl: Duration::from_millis(200),
        max_ttl: Duration::from_millis(200),
        penalty_window: Duration::from_millis(100),
        max_backoff: Duration::from_millis(100),
        max_stale: Duration::from_millis(300),
        ..fast()
    };
    let started = Instant::now();
    let (store, _manager) = start(remote(server.url("/jwks")), settings).await;
    server.set("/jwks", Behaviour::Status(503));
    eventually(Duration::from_secs(3), || {
        store.lookup(ISSUER, Some("a")).err() == Some(LookupError::KeysUnavailable)
    })
    .await;
    assert!(
        started.elapsed() >= Duration::from_millis(500),
        "kept for ttl + max_stale first: {:?}",
        started.elapsed()
    );
}

/// Garbage, oversize bodies (declared or streamed), errors and unusable
/// sets are refresh failures: the cached keys stay.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_responses_keep_the_cached_keys() {
    let server = TestServer::start();
    let a = key("a");
    server.set("/jwks", Behaviour::json(&jwks(&[&a])));
    let (store, manager) = start(remote(server.url("/jwks")), fast()).await;
    let ten_mib = 10 << 20;
    let only_oct = json!({"keys": [{"kty": "oct", "kid": "s", "k": "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LXNlY3JldA"}]});
    type Expect = fn(&FetchError) -> bool;
    let cases: Vec<(Behaviour, Expect)> = vec![
        (Behaviour::Garbage, |e| {
            matches!(e, FetchError::Invalid { .. })
        }),
        (
            Behaviour::Huge {
                bytes: ten_mib,
                declare_length: true,
            },
            |e| matches!(e, FetchError::TooLarge { limit, .. } if *limit == 1 << 20),
        ),
        (
            Behaviour::Huge {
                bytes: ten_mib,
                declare_length: false,
            },
            |e| matches!(e, FetchError::TooLarge { .. }),
        ),
        (Behaviour::Status(503), |e| {
            matches!(e, FetchError::Status { status: 503, .. })
        }),
        (Behaviour::Status(404), |e| {
            matches!(e, FetchError::Status { status: 404, .. })
        }),
        (Behaviour::json(&json!({"keys": []})), |e| {
            matches!(e, FetchError::NoUsableKeys { skipped: 0, .. })
        }),
        (Behaviour::json(&only_oct), |e| {
            matches!(e, FetchError::NoUsableKeys { skipped: 1, .. })
        }),
        (Behaviour::json(&json!({"no": "keys"})), |e| {
            matches!(e, FetchError::Invalid { .. })
        }),
    ];
    for (index, (behaviour, expected)) in cases.into_iter().enumerate() {
        server.set("/jwks", behaviour.clone());
        // Failures in a row: the next fetch waits out the backoff (up to
        // `max_backoff`), not only the penalty window.
        tokio::time::sleep(fast().max_backoff + Duration::from_millis(20)).await;
        let before = server.hits("/jwks");
        let t = Instant::now();
        let has_keys = within(Duration::from_secs(2), manager.refresh_issuer(ISSUER)).await;
        assert!(
            t.elapsed() < Duration::from_millis(600),
            "case {index}: {:?}",
            t.elapsed()
        );
        assert_eq!(server.hits("/jwks"), before + 1, "case {index} fetched");
        assert!(has_keys, "case {index}: cached keys kept");
        assert!(has(&store, "a"), "case {index}: cached keys kept");
        let error = manager.status()[0].last_error.clone();
        assert!(
            error.as_ref().is_some_and(expected),
            "case {index} ({behaviour:?}): {error:?}"
        );
        let text = error.map(|e| e.to_string()).unwrap_or_default();
        assert!(
            text.contains(&server.url("/jwks")),
            "errors name the URL: {text}"
        );
        assert!(
            !text.contains("<html>"),
            "errors never echo the body: {text}"
        );
    }
}

/// Symmetric keys never come from a URL; invalid keys are skipped, valid ones kept.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oct_and_invalid_keys_in_a_remote_set_are_skipped() {
    let server = TestServer::start();
    let a = key("a");
    let mut bad = key("bad").public_jwk();
    bad["use"] = json!("enc");
    let doc = json!({"keys": [
        {"kty": "oct", "kid": "s", "k": "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LXNlY3JldA"},
        bad,
        a.public_jwk(),
    ]});
    server.set("/jwks", Behaviour::json(&doc));
    let (store, _manager) = start(remote(server.url("/jwks")), fast()).await;
    assert!(has(&store, "a"));
    assert!(!has(&store, "s"), "an oct key from a URL is refused");
    assert!(!has(&store, "bad"));
    assert_eq!(store.key_set(ISSUER).map(|s| s.len()), Some(1));
}

/// A listener on 127.0.0.1 whose accept queue is full (backlog 0, never
/// accepting, already holding connections): the kernel drops further SYNs,
/// so a new connection neither succeeds nor fails until `connect_timeout`.
fn unresponsive_listener() -> (
    socket2::Socket,
    Vec<std::net::TcpStream>,
    std::net::SocketAddr,
) {
    use socket2::{Domain, Protocol, Socket, Type};
    let socket = Socket::new(Domain::IPV4, Type::STREAM, Some(Protocol::TCP)).expect("socket");
    socket
        .bind(&std::net::SocketAddr::from(([127, 0, 0, 1], 0)).into())
        .expect("bind");
    socket.listen(0).expect("listen");
    let addr = socket
        .local_addr()
        .expect("addr")
        .as_socket()
        .expect("inet");
    // Fill the queue; connects that no longer complete end by their own timeout.
    let mut held = Vec::new();
    for _ in 0..8 {
        match std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(100)) {
            Ok(stream) => held.push(stream),
            Err(_) => break,
        }
    }
    (socket, held, addr)
}

/// A key server that never completes the TCP handshake: the fetch ends at
/// `connect_timeout` (here 200 ms, with a 5 s `request_timeout`), as a
/// connect error that says so.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connect_timeout_bounds_a_handshake_that_never_completes() {
    let (_listener, _held, addr) = unresponsive_listener();
    let settings = KeyFetchSettings {
        connect_timeout: Duration::from_millis(200),
        request_timeout: Duration::from_secs(5),
        ..fast()
    };
    let t = Instant::now();
    let (store, manager) = start(remote(format!("http://{addr}/jwks")), settings).await;
    let prefetch = t.elapsed();
    assert!(
        prefetch >= Duration::from_millis(180) && prefetch < Duration::from_millis(2000),
        "prefetch bounded by the connect timeout: {prefetch:?}"
    );
    assert_eq!(
        store.lookup(ISSUER, Some("a")).unwrap_err(),
        LookupError::KeysUnavailable
    );
    match manager.status()[0].last_error.clone() {
        Some(FetchError::Connect { reason, .. }) => {
            assert!(reason.contains("no connection within 200ms"), "{reason}")
        }
        other => panic!("expected a connect timeout, got {other:?}"),
    }
}

/// A server that accepts and never answers: every wait ends at `request_timeout`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hanging_server_is_bounded_by_the_request_timeout() {
    let server = TestServer::start();
    server.set("/jwks", Behaviour::Hang);
    let settings = KeyFetchSettings {
        request_timeout: Duration::from_millis(300),
        ..fast()
    };
    let t = Instant::now();
    let (store, manager) = start(remote(server.url("/jwks")), settings).await;
    let prefetch = t.elapsed();
    assert!(
        prefetch >= Duration::from_millis(280) && prefetch < Duration::from_millis(900),
        "prefetch bounded: {prefetch:?}"
    );
    assert_eq!(
        store.lookup(ISSUER, Some("a")).unwrap_err(),
        LookupError::KeysUnavailable
    );
    eventually(Duration::from_secs(1), || {
        matches!(
            manager.status()[0].last_error,
            Some(FetchError::Timeout { .. })
        )
    })
    .await;
    tokio::time::sleep(WINDOW).await;
    let t = Instant::now();
    let found = within(
        Duration::from_secs(3),
        manager.refresh_for_miss(ISSUER, Some("a"), LookupError::KeysUnavailable),
    )
    .await;
    assert!(!found);
    assert!(
        t.elapsed() < Duration::from_millis(900),
        "miss refresh bounded: {:?}",
        t.elapsed()
    );
    assert_eq!(server.hits("/jwks"), 2);
}

/// Cold cache and a down server: unavailable (never a key), a refetch is
/// gated by the window, and the first fetch after it that succeeds fills it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cold_cache_with_a_down_server_is_unavailable_until_a_fetch_succeeds() {
    let server = TestServer::start();
    let a = key("a");
    server.set("/jwks", Behaviour::Status(500));
    let (store, manager) = start(remote(server.url("/jwks")), fast()).await;
    assert_eq!(
        store.lookup(ISSUER, None).unwrap_err(),
        LookupError::KeysUnavailable
    );
    assert_eq!(manager.status()[0].remote_keys, None);

    server.set("/jwks", Behaviour::json(&jwks(&[&a])));
    // Within the window: no fetch, still unavailable.
    let found = manager
        .refresh_for_miss(ISSUER, Some("a"), LookupError::KeysUnavailable)
        .await;
    assert!(!found);
    assert_eq!(server.hits("/jwks"), 1);
    tokio::time::sleep(WINDOW + Duration::from_millis(20)).await;
    let found = within(
        Duration::from_secs(2),
        manager.refresh_for_miss(ISSUER, Some("a"), LookupError::KeysUnavailable),
    )
    .await;
    assert!(found);
    assert!(has(&store, "a"));
    assert_eq!(server.hits("/jwks"), 2);
}

/// Local keys (HMAC secrets) keep serving when the remote source is down;
/// the issuer is then not unavailable.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_keys_stay_when_the_remote_source_is_down() {
    let server = TestServer::start();
    server.set("/jwks", Behaviour::Status(500));
    let secret =
        NativeKey::from_secret(&[7u8; 32], Some("hs".into()), Algorithm::Hs256).expect("secret");
    let issuers = vec![IssuerKeys {
        issuer: ISSUER.into(),
        local: KeySet::new(vec![Arc::new(secret)]),
        remote: Some(RemoteSource::JwksUri(server.url("/jwks"))),
    }];
    let (store, _manager) = start(issuers, fast()).await;
    assert!(has(&store, "hs"));
    assert_eq!(
        store.lookup(ISSUER, Some("rs")).unwrap_err(),
        LookupError::UnknownKey
    );
}

/// OIDC discovery: the document's `jwks_uri` is used; only the JWK Set is
/// refetched for an unknown kid.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn discovery_document_names_the_jwks_uri() {
    let server = TestServer::start();
    let (a, b) = (key("a"), key("b"));
    let issuer = format!("{}/realms/test", server.origin());
    server.set(
        "/realms/test/.well-known/openid-configuration",
        Behaviour::json(&json!({
            "issuer": issuer,
            "jwks_uri": server.url("/realms/test/certs"),
            "authorization_endpoint": server.url("/auth"),
        })),
    );
    server.set("/realms/test/certs", Behaviour::json(&jwks(&[&a])));
    let issuers = vec![IssuerKeys {
        issuer: issuer.clone(),
        local: KeySet::default(),
        remote: Some(RemoteSource::Discovery(issuer.clone())),
    }];
    let (store, manager) = start(issuers, fast()).await;
    assert!(store.lookup(&issuer, Some("a")).is_ok());
    assert_eq!(
        manager.status()[0].jwks_uri.as_deref(),
        Some(server.url("/realms/test/certs").as_str())
    );
    server.set("/realms/test/certs", Behaviour::json(&jwks(&[&a, &b])));
    tokio::time::sleep(WINDOW + Duration::from_millis(20)).await;
    let found = within(
        Duration::from_secs(2),
        manager.refresh_for_miss(&issuer, Some("b"), LookupError::UnknownKey),
    )
    .await;
    assert!(found);
    assert_eq!(
        server.hits("/realms/test/.well-known/openid-configuration"),
        1
    );
    assert_eq!(server.hits("/realms/test/certs"), 2);
}

/// A discovery document naming another issuer is refused, and its
/// `jwks_uri` is never fetched; so is a non-https `jwks_uri`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn discovery_issuer_mismatch_is_refused() {
    let server = TestServer::start();
    let a = key("a");
    let issuer = server.origin();
    server.set(
        "/.well-known/openid-configuration",
        Behaviour::json(&json!({
            "issuer": "https://evil.example",
            "jwks_uri": server.url("/certs"),
        })),
    );
    server.set("/certs", Behaviour::json(&jwks(&[&a])));
    let issuers = vec![IssuerKeys {
        issuer: issuer.clone(),
        local: KeySet::default(),
        remote: Some(RemoteSource::Discovery(issuer.clone())),
    }];
    let (store, manager) = start(issuers, fast()).await;
    assert_eq!(
        store.lookup(&issuer, Some("a")).unwrap_err(),
        LookupError::KeysUnavailable
    );
    let error = manager.status()[0].last_error.clone();
    assert!(
        matches!(&error, Some(FetchError::IssuerMismatch { found, .. }) if found == "https://evil.example"),
        "{error:?}"
    );
    assert_eq!(server.hits("/certs"), 0);

    // A plain-http jwks_uri on a non-loopback host is refused too.
    server.set(
        "/.well-known/openid-configuration",
        Behaviour::json(&json!({
            "issuer": issuer,
            "jwks_uri": "http://keys.example/certs",
        })),
    );
    tokio::time::sleep(WINDOW + Duration::from_millis(20)).await;
    assert!(!within(Duration::from_secs(2), manager.refresh_issuer(&issuer)).await);
    let error = manager.status()[0].last_error.clone();
    assert!(
        matches!(&error, Some(FetchError::JwksUri { .. })),
        "{error:?}"
    );
    assert_eq!(server.hits("/certs"), 0);
}

/// Redirects are followed on the same origin only.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redirects_stay_on_the_same_origin() {
    let server = TestServer::start();
    let a = key("a");
    server.set("/jwks", Behaviour::json(&jwks(&[&a])));
    server.set("/moved", Behaviour::Redirect(server.url("/jwks")));
    // Same machine, but another host name: another origin.
    let elsewhere = format!("http://localhost:{}/jwks", server.addr().port());
    server.set("/away", Behaviour::Redirect(elsewhere));

    let (store, _manager) = start(remote(server.url("/moved")), fast()).await;
    assert!(has(&store, "a"), "same-origin redirect followed");
    assert_eq!(server.hits("/jwks"), 1);

    let (store, manager) = start(remote(server.url("/away")), fast()).await;
    assert_eq!(
        store.lookup(ISSUER, Some("a")).unwrap_err(),
        LookupError::KeysUnavailable
    );
    let error = manager.status()[0].last_error.clone();
    assert!(
        matches!(&error, Some(FetchError::Redirect { .. })),
        "{error:?}"
    );
    assert_eq!(server.hits("/jwks"), 1, "the other origin was never asked");
}

/// `Cache-Control: max-age` sets the lifetime, clamped to the bounds; the
/// background task refreshes before expiry.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cache_control_sets_the_lifetime_within_bounds() {
    let server = TestServer::start();
    let a = key("a");
    server.set(
        "/short",
        Behaviour::json_cached(&jwks(&[&a]), "public, max-age=2"),
    );
    server.set(
        "/long",
        Behaviour::json_cached(&jwks(&[&a]), "max-age=31536000"),
    );
    server.set("/nocache", Behaviour::json_cached(&jwks(&[&a]), "no-store"));
    let settings = KeyFetchSettings {
        min_ttl: Duration::from_millis(500),
        max_ttl: Duration::from_secs(10),
        ..fast()
    };
    let issuers = ["/short", "/long", "/nocache"]
        .iter()
        .map(|path| IssuerKeys {
            issuer: format!("https://issuer.test{path}"),
            local: KeySet::default(),
            remote: Some(RemoteSource::JwksUri(server.url(path))),
        })
        .collect();
    let started = Instant::now();
    let (_store, manager) = start(issuers, settings).await;
    let ttls: Vec<Duration> = manager.status().iter().map(|s| s.ttl).collect();
    assert_eq!(
        ttls,
        [
            Duration::from_secs(2),
            Duration::from_secs(10),
            Duration::from_millis(500)
        ]
    );
    // Background refresh at 80 % of the lifetime: /short at ~1.6 s, which
    // is before it expires (2 s), and not much earlier.
    eventually(Duration::from_secs(5), || server.hits("/short") >= 2).await;
    let at = started.elapsed();
    assert!(
        at >= Duration::from_millis(1500),
        "refreshed before 80 % of its lifetime: {at:?}"
    );
    assert!(
        at < Duration::from_secs(2),
        "not refreshed ahead of expiry (2 s): {at:?}"
    );
    assert!(!manager.status()[0].stale, "never served stale");
    assert_eq!(server.hits("/long"), 1);
    assert!(server.hits("/nocache") >= 2, "min_ttl applies to no-store");
}

/// Two issuers on one JWK Set URL share one fetch.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issuers_sharing_a_jwks_uri_share_its_fetches() {
    let server = TestServer::start();
    let (a, b) = (key("a"), key("b"));
    server.set("/common/keys", Behaviour::json(&jwks(&[&a])));
    let issuers: Vec<IssuerKeys> = ["https://tenant-1.test", "https://tenant-2.test"]
        .iter()
        .map(|issuer| IssuerKeys {
            issuer: (*issuer).into(),
            local: KeySet::default(),
            remote: Some(RemoteSource::JwksUri(server.url("/common/keys"))),
        })
        .collect();
    let (store, manager) = start(issuers, fast()).await;
    assert_eq!(server.hits("/common/keys"), 1);
    server.set("/common/keys", Behaviour::json(&jwks(&[&a, &b])));
    tokio::time::sleep(WINDOW + Duration::from_millis(20)).await;
    assert!(
        manager
            .refresh_for_miss("https://tenant-1.test", Some("b"), LookupError::UnknownKey)
            .await
    );
    // The other tenant got the new key from the same fetch.
    assert!(store.lookup("https://tenant-2.test", Some("b")).is_ok());
    assert!(
        !manager
            .refresh_for_miss("https://tenant-2.test", Some("c"), LookupError::UnknownKey)
            .await
    );
    assert_eq!(server.hits("/common/keys"), 2);
}

/// Inline (Lambda) mode: a refresh due at the start of a decision waits at
/// most the budget, then is dropped — no task is left running — and the
/// cached keys answer.
#[tokio::test(flavor = "current_thread")]
async fn inline_refresh_is_bounded_by_its_budget_and_leaves_no_task() {
    let server = TestServer::start();
    let (a, b) = (key("a"), key("b"));
    server.set("/jwks", Behaviour::json(&jwks(&[&a])));
    let budget = Duration::from_millis(150);
    let settings = KeyFetchSettings {
        min_ttl: Duration::from_millis(200),
        max_ttl: Duration::from_millis(200),
        mode: RefreshMode::Inline { budget },
        ..fast()
    };
    let (store, manager) = start(remote(server.url("/jwks")), settings).await;
    let runtime = tokio::runtime::Handle::current();
    // Nothing runs between decisions.
    eventually(Duration::from_secs(1), || {
        runtime.metrics().num_alive_tasks() == 0
    })
    .await;

    // Not due yet: no fetch, no wait.
    let t = Instant::now();
    manager.before_decision().await;
    assert!(t.elapsed() < Duration::from_millis(50));
    assert_eq!(server.hits("/jwks"), 1);

    // TTL passes; the server is slow.
    server.set(
        "/jwks",
        Behaviour::Delay(
            Duration::from_secs(3),
            Box::new(Behaviour::json(&jwks(&[&a, &b]))),
        ),
    );
    tokio::time::sleep(Duration::from_millis(250)).await;
    let t = Instant::now();
    within(Duration::from_secs(2), manager.before_decision()).await;
    let took = t.elapsed();
    assert!(
        took >= budget - Duration::from_millis(10) && took < budget + Duration::from_millis(150),
        "bounded by the budget: {took:?}"
    );
    assert_eq!(server.hits("/jwks"), 2);
    assert!(has(&store, "a"), "the cached keys answer");
    assert!(!has(&store, "b"));
    eventually(Duration::from_secs(1), || {
        runtime.metrics().num_alive_tasks() == 0
    })
    .await;

    // The cancelled refresh counts as a failure: no new attempt before the window.
    let t = Instant::now();
    manager.before_decision().await;
    assert!(t.elapsed() < Duration::from_millis(50));
    assert_eq!(server.hits("/jwks"), 2);

    // The server is fast again: the next due refresh succeeds inline.
    server.set("/jwks", Behaviour::json(&jwks(&[&a, &b])));
    tokio::time::sleep(WINDOW + Duration::from_millis(20)).await;
    within(Duration::from_secs(2), manager.before_decision()).await;
    assert!(has(&store, "b"));
    assert_eq!(server.hits("/jwks"), 3);
}

/// Background tasks stop when the manager is dropped.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn background_tasks_stop_with_the_manager() {
    let server = TestServer::start();
    let a = key("a");
    server.set("/jwks", Behaviour::json(&jwks(&[&a])));
    let settings = KeyFetchSettings {
        min_ttl: Duration::from_millis(100),
        max_ttl: Duration::from_millis(100),
        penalty_window: Duration::from_millis(50),
        ..fast()
    };
    let (_store, manager) = start(remote(server.url("/jwks")), settings).await;
    eventually(Duration::from_secs(2), || server.hits("/jwks") >= 3).await;
    drop(manager);
    tokio::time::sleep(Duration::from_millis(100)).await;
    let hits = server.hits("/jwks");
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(server.hits("/jwks"), hits);
}

#[test]
fn setup_errors_name_the_problem() {
    let store = Arc::new(KeyStore::new());
    let plain = |url: &str| {
        KeyManager::new(
            store.clone(),
            remote(url.to_string()),
            KeyFetchSettings::lambda(),
        )
        .unwrap_err()
    };
    let e = plain("http://keys.example/jwks.json");
    assert!(matches!(e, KeyManagerError::Url { .. }), "{e}");
    assert!(
        e.to_string().contains("http://keys.example/jwks.json"),
        "{e}"
    );
    assert!(e.to_string().contains(ISSUER), "{e}");
    let e = plain("not a url");
    assert!(e.to_string().contains("not a url"), "{e}");

    let e = KeyManager::new(
        store.clone(),
        vec![IssuerKeys {
            issuer: "urn:example:batch".into(),
            local: KeySet::default(),
            remote: Some(RemoteSource::Discovery("urn:example:batch".into())),
        }],
        KeyFetchSettings::lambda(),
    )
    .unwrap_err();
    assert!(e.to_string().contains("urn:example:batch"), "{e}");

    let mut twice = remote("https://keys.example/jwks.json".into());
    twice.extend(remote("https://keys.example/other.json".into()));
    let e = KeyManager::new(store.clone(), twice, KeyFetchSettings::lambda()).unwrap_err();
    assert!(matches!(e, KeyManagerError::DuplicateIssuer(_)), "{e}");

    // Background mode outside a runtime.
    let manager = KeyManager::new(
        store.clone(),
        remote("https://keys.example/jwks.json".into()),
        KeyFetchSettings::default(),
    )
    .expect("no I/O yet");
    assert!(matches!(
        manager.spawn_background(),
        Err(KeyManagerError::NoRuntime)
    ));
    // Cold until fetched.
    assert_eq!(
        store.lookup(ISSUER, None).unwrap_err(),
        LookupError::KeysUnavailable
    );
}
