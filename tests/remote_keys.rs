//! Remote keys end to end: the real policy component in the real host,
//! through `tollgate_host::Gate`, with keys served by a real HTTP server on
//! 127.0.0.1 that rotates keys, fails, hangs and counts its requests.
//!
//! Every wait is bounded by `tokio::time::timeout`; windows are a few hundred
//! milliseconds.

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
use tollgate_host::jwks::testing::{Behaviour, TestServer};
use tollgate_host::jwks::{KeyFetchSettings, RefreshMode};
use tollgate_host::model::{Decision, DenyReason, Outcome, Request};
use tollgate_host::{Authorizer, AuthorizerError, ConfigBase, Gate};
use tollgate_keys::mint::SigningKey;
use tollgate_tests::{bearer_request, default_module};

const ISSUER: &str = "https://issuer.test";
const AUDIENCE: &str = "orders-api";
const WINDOW: Duration = Duration::from_millis(200);

fn fast() -> KeyFetchSettings {
    tollgate_jwks::testing::fast_settings(WINDOW)
}

use tollgate_jwks::testing::{es256_key as key, jwks_of as jwks};

fn now() -> i64 {
    tollgate_host::clock::unix_now()
}

fn token_for(key: &SigningKey, issuer: &str) -> String {
    let now = now();
    key.sign_jwt(
        &json!({"iss": issuer, "sub": "alice", "aud": AUDIENCE, "iat": now, "exp": now + 600}),
        None,
    )
    .expect("sign")
}

fn request(key: &SigningKey) -> Request {
    bearer_request(&token_for(key, ISSUER), now())
}

fn policy_with(issuer: &str, key_source: &str) -> String {
    format!(
        "[[issuer]]\nissuer = \"{issuer}\"\n{key_source}\naudiences = [\"{AUDIENCE}\"]\nalgorithms = [\"ES256\"]\n"
    )
}

async fn within<T>(limit: Duration, future: impl Future<Output = T>) -> T {
    tokio::time::timeout(limit, future)
        .await
        .expect("the test's own time bound was exceeded")
}

async fn gate(policy: &str, settings: KeyFetchSettings) -> Gate {
    try_gate(policy, settings).await.expect("gate starts")
}

async fn try_gate(policy: &str, settings: KeyFetchSettings) -> Result<Gate, AuthorizerError> {
    within(
        Duration::from_secs(5),
        Gate::new(
            default_module(),
            policy,
            &ConfigBase::Embedded(Vec::new()),
            "test policy",
            settings,
        ),
    )
    .await
}

#[track_caller]
fn assert_allow(decision: &Decision) {
    assert!(matches!(decision, Decision::Allow(_)), "{decision:?}");
}

#[track_caller]
fn assert_deny(decision: &Decision, reason: DenyReason) {
    match decision {
        Decision::Deny(deny) => assert_eq!(deny.reason, reason, "{deny:?}"),
        other => panic!("expected a {reason:?} deny, got {other:?}"),
    }
}

/// Rotation through the module: a token signed with a new key is allowed
/// after one refetch; once the server drops a key, the next refresh makes
/// its tokens `unknown-key`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotation_is_picked_up_and_removed_keys_stop_verifying() {
    let server = TestServer::start();
    let (a, b, c) = (key("a"), key("b"), key("c"));
    server.set("/jwks", Behaviour::json(&jwks(&[&a])));
    let gate = gate(
        &policy_with(ISSUER, &format!("jwks_uri = \"{}\"", server.url("/jwks"))),
        fast(),
    )
    .await;
    assert_allow(&gate.decide(&request(&a)).await);
    assert_eq!(server.hits("/jwks"), 1, "a cached key needs no fetch");

    // b is published; its first token refetches and is allowed.
    server.set("/jwks", Behaviour::json(&jwks(&[&a, &b])));
    tokio::time::sleep(WINDOW + Duration::from_millis(20)).await;
    assert_allow(&within(Duration::from_secs(2), gate.decide(&request(&b))).await);
    assert_eq!(server.hits("/jwks"), 2);

    // a is withdrawn; after the next refresh (here triggered by an unknown
    // kid) a's tokens are unknown-key.
    server.set("/jwks", Behaviour::json(&jwks(&[&b])));
    tokio::time::sleep(WINDOW + Duration::from_millis(20)).await;
    assert_deny(
        &within(Duration::from_secs(2), gate.decide(&request(&c))).await,
        DenyReason::UnknownKey,
    );
    assert_eq!(server.hits("/jwks"), 3);
    assert_deny(&gate.decide(&request(&a)).await, DenyReason::UnknownKey);
    assert_allow(&gate.decide(&request(&b)).await);
}

/// 1,000 decisions with random unknown kids: all `unknown-key`, and at most
/// one fetch per penalty window.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_random_kids_fetch_at_most_once_per_window() {
    let server = TestServer::start();
    let a = key("a");
    server.set("/jwks", Behaviour::json(&jwks(&[&a])));
    default_module(); // compiled once per test binary: not part of the count window
    let started = Instant::now();
    let gate = Arc::new(
        gate(
            &policy_with(ISSUER, &format!("jwks_uri = \"{}\"", server.url("/jwks"))),
            fast(),
        )
        .await,
    );
    // Forged tokens: random kids, signed by a key nobody published.
    let forger = key("forger");
    let now = now();
    let claims = json!({"iss": ISSUER, "sub": "mallory", "aud": AUDIENCE, "exp": now + 600});
    let mut seed = 0x2545_f491_4f6c_dd1d_u64;
    let mut requests = Vec::new();
    for _ in 0..1000 {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let mut header = serde_json::Map::new();
        header.insert("kid".into(), json!(format!("{seed:016x}")));
        let token = forger.sign_jwt(&claims, Some(&header)).expect("sign");
        requests.push(bearer_request(&token, now));
    }
    within(Duration::from_secs(30), async {
        // 10 waves of 100 concurrent requests, 50 ms apart.
        for wave in requests.chunks(100) {
            let tasks: Vec<_> = wave
                .iter()
                .cloned()
                .map(|request| {
                    let gate = Arc::clone(&gate);
                    tokio::spawn(async move { gate.decide(&request).await })
                })
                .collect();
            for task in tasks {
                assert_deny(&task.await.expect("task"), DenyReason::UnknownKey);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
    let elapsed = started.elapsed();
    let windows = (elapsed.as_millis() / WINDOW.as_millis()) as usize + 1;
    let fetches = server.hits("/jwks");
    assert!(
        fetches <= windows,
        "{fetches} fetches in {elapsed:?}: at most {windows} (one per window) allowed"
    );
    // And never two in one window (a little slack for the requests' own latency).
    server.assert_one_per_window("/jwks", WINDOW, Duration::from_millis(50));
    // The real key still works, without a fetch.
    let before = server.hits("/jwks");
    assert_allow(&gate.decide(&request(&a)).await);
    assert_eq!(server.hits("/jwks"), before);
}

/// Cold cache and a down key server: `keys-unavailable` (HTTP 503), never an
/// allow; once the server is back, the next request after the window fetches
/// and is allowed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cold_cache_and_down_server_deny_keys_unavailable_until_recovery() {
    let server = TestServer::start();
    let a = key("a");
    server.set("/jwks", Behaviour::Status(500));
    let gate = gate(
        &policy_with(ISSUER, &format!("jwks_uri = \"{}\"", server.url("/jwks"))),
        fast(),
    )
    .await;
    for _ in 0..20 {
        let decision = gate.decide(&request(&a)).await;
        assert_deny(&decision, DenyReason::KeysUnavailable);
        if let Decision::Deny(deny) = &decision {
            assert_eq!(Outcome::of_deny(deny).http_status(), 503);
        }
    }
    assert_eq!(server.hits("/jwks"), 1, "gated: no fetch within the window");

    server.set("/jwks", Behaviour::json(&jwks(&[&a])));
    tokio::time::sleep(WINDOW + Duration::from_millis(20)).await;
    assert_allow(&within(Duration::from_secs(2), gate.decide(&request(&a))).await);
    assert_eq!(server.hits("/jwks"), 2);
}

/// An outage with keys cached: decisions keep allowing on the stale keys
/// while background retries fail.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outage_keeps_serving_cached_keys() {
    let server = TestServer::start();
    let a = key("a");
    server.set("/jwks", Behaviour::json(&jwks(&[&a])));
    let settings = KeyFetchSettings {
        min_ttl: Duration::from_millis(200),
        max_ttl: Duration::from_millis(200),
        penalty_window: Duration::from_millis(100),
        max_backoff: Duration::from_millis(200),
        ..fast()
    };
    let gate = gate(
        &policy_with(ISSUER, &format!("jwks_uri = \"{}\"", server.url("/jwks"))),
        settings,
    )
    .await;
    server.set("/jwks", Behaviour::Status(503));
    let outage = Instant::now();
    within(Duration::from_secs(5), async {
        while outage.elapsed() < Duration::from_secs(1) {
            assert_allow(&gate.decide(&request(&a)).await);
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    let status = &gate.key_manager().status()[0];
    assert!(
        status.stale && status.consecutive_failures >= 2,
        "{status:?}"
    );
    assert!(server.hits("/jwks") >= 3, "retries happened");
}

/// A token signed with a key the cache does not hold while the key server is
/// down: the key may have been rotated in at the issuer, so the answer is the
/// host's trouble (`keys-unavailable`, 503), not the client's (`unknown-key`,
/// 401); the cached keys keep allowing, and once the server is back the new
/// key verifies.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_key_during_an_outage_is_keys_unavailable_not_unauthenticated() {
    let server = TestServer::start();
    let (a, b) = (key("a"), key("b"));
    server.set("/jwks", Behaviour::json(&jwks(&[&a])));
    let gate = gate(
        &policy_with(ISSUER, &format!("jwks_uri = \"{}\"", server.url("/jwks"))),
        fast(),
    )
    .await;
    // Healthy source: an unknown kid is the client's problem.
    tokio::time::sleep(WINDOW + Duration::from_millis(20)).await;
    assert_deny(
        &within(Duration::from_secs(2), gate.decide(&request(&b))).await,
        DenyReason::UnknownKey,
    );
    assert_eq!(server.hits("/jwks"), 2);

    // Outage: the refetch for b fails.
    server.set("/jwks", Behaviour::Status(500));
    tokio::time::sleep(WINDOW + Duration::from_millis(20)).await;
    let decision = within(Duration::from_secs(2), gate.decide(&request(&b))).await;
    assert_deny(&decision, DenyReason::KeysUnavailable);
    if let Decision::Deny(deny) = &decision {
        assert_eq!(Outcome::of_deny(deny).http_status(), 503);
    }
    assert_eq!(server.hits("/jwks"), 3);
    // Within the backoff: no fetch, still the host's trouble; a still cached.
    assert_deny(
        &gate.decide(&request(&b)).await,
        DenyReason::KeysUnavailable,
    );
    assert_allow(&gate.decide(&request(&a)).await);
    assert_eq!(server.hits("/jwks"), 3);

    // Recovery, with b now published: b verifies after the backoff.
    server.set("/jwks", Behaviour::json(&jwks(&[&a, &b])));
    tokio::time::sleep(2 * WINDOW + Duration::from_millis(40)).await;
    assert_allow(&within(Duration::from_secs(2), gate.decide(&request(&b))).await);
}

/// During an outage a flood of unknown kids follows the backoff, not just
/// the penalty window: retries of a failing source space out.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_kids_during_an_outage_follow_the_backoff() {
    let server = TestServer::start();
    let (a, b) = (key("a"), key("b"));
    server.set("/jwks", Behaviour::json(&jwks(&[&a])));
    let settings = KeyFetchSettings {
        max_backoff: Duration::from_secs(60),
        ..fast()
    };
    let gate = gate(
        &policy_with(ISSUER, &format!("jwks_uri = \"{}\"", server.url("/jwks"))),
        settings,
    )
    .await;
    server.set("/jwks", Behaviour::Status(500));
    tokio::time::sleep(WINDOW + Duration::from_millis(20)).await;
    let started = Instant::now();
    // 2.5 s of unknown kids, every 10 ms: with a fixed 200 ms window that
    // would be ~13 fetches; with backoff 200, 400, 800, 1600 ms it is at most 5.
    within(Duration::from_secs(20), async {
        while started.elapsed() < Duration::from_millis(2500) {
            assert_deny(
                &gate.decide(&request(&b)).await,
                DenyReason::KeysUnavailable,
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    let fetches = server.hits("/jwks") - 1;
    assert!(
        (2..=5).contains(&fetches),
        "{fetches} fetches of a failing source in 2.5 s: expected 2 to 5 with backoff"
    );
    assert_allow(&gate.decide(&request(&a)).await);
}

/// A key server that hangs: setup and decisions return within the bound
/// (`request_timeout`), answering from what is cached.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hanging_key_server_never_hangs_a_decision() {
    let server = TestServer::start();
    let a = key("a");
    server.set("/jwks", Behaviour::Hang);
    let settings = KeyFetchSettings {
        request_timeout: Duration::from_millis(300),
        ..fast()
    };
    let policy = policy_with(ISSUER, &format!("jwks_uri = \"{}\"", server.url("/jwks")));
    default_module(); // compiled once per test binary: not part of the bound
    let t = Instant::now();
    let gate = gate(&policy, settings).await;
    assert!(
        t.elapsed() < Duration::from_millis(900),
        "setup: {:?}",
        t.elapsed()
    );
    tokio::time::sleep(WINDOW).await;
    let t = Instant::now();
    let decision = within(Duration::from_secs(3), gate.decide(&request(&a))).await;
    assert_deny(&decision, DenyReason::KeysUnavailable);
    assert!(
        t.elapsed() < Duration::from_millis(900),
        "decision: {:?}",
        t.elapsed()
    );
    assert_eq!(server.hits("/jwks"), 2);
}

/// OIDC discovery through the module: `discovery = true` reads the issuer's
/// discovery document; a document naming another issuer is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn discovery_is_used_and_an_issuer_mismatch_refused() {
    let server = TestServer::start();
    let a = key("a");
    let issuer = format!("{}/tenant", server.origin());
    server.set(
        "/tenant/.well-known/openid-configuration",
        Behaviour::json(&json!({"issuer": issuer, "jwks_uri": server.url("/tenant/keys")})),
    );
    server.set("/tenant/keys", Behaviour::json(&jwks(&[&a])));
    let gate = gate(&policy_with(&issuer, "discovery = true"), fast()).await;
    let decision = gate
        .decide(&bearer_request(&token_for(&a, &issuer), now()))
        .await;
    assert_allow(&decision);
    assert_eq!(server.hits("/tenant/.well-known/openid-configuration"), 1);
    assert_eq!(server.hits("/tenant/keys"), 1);

    let other = format!("{}/other", server.origin());
    server.set(
        "/other/.well-known/openid-configuration",
        Behaviour::json(&json!({"issuer": issuer, "jwks_uri": server.url("/tenant/keys")})),
    );
    let gate = gate_for_other(&other).await;
    let decision = gate
        .decide(&bearer_request(&token_for(&a, &other), now()))
        .await;
    assert_deny(&decision, DenyReason::KeysUnavailable);
    assert_eq!(
        server.hits("/tenant/keys"),
        1,
        "the foreign jwks_uri was not fetched"
    );
}

async fn gate_for_other(issuer: &str) -> Gate {
    gate(&policy_with(issuer, "discovery = true"), fast()).await
}

/// Lambda mode: once the TTL has passed, the refresh at the start of a
/// decision waits at most the budget; then the cached keys answer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lambda_mode_inline_refresh_is_bounded_by_its_budget() {
    let server = TestServer::start();
    let a = key("a");
    server.set("/jwks", Behaviour::json(&jwks(&[&a])));
    let budget = Duration::from_millis(150);
    let settings = KeyFetchSettings {
        min_ttl: Duration::from_millis(200),
        max_ttl: Duration::from_millis(200),
        mode: RefreshMode::Inline { budget },
        ..fast()
    };
    let gate = gate(
        &policy_with(ISSUER, &format!("jwks_uri = \"{}\"", server.url("/jwks"))),
        settings,
    )
    .await;
    let t = Instant::now();
    assert_allow(&gate.decide(&request(&a)).await);
    assert!(
        t.elapsed() < Duration::from_millis(100),
        "{:?}",
        t.elapsed()
    );

    server.set(
        "/jwks",
        Behaviour::Delay(
            Duration::from_secs(5),
            Box::new(Behaviour::json(&jwks(&[&a]))),
        ),
    );
    tokio::time::sleep(Duration::from_millis(250)).await;
    let t = Instant::now();
    assert_allow(&within(Duration::from_secs(3), gate.decide(&request(&a))).await);
    let took = t.elapsed();
    assert!(
        took >= budget - Duration::from_millis(10) && took < budget + Duration::from_millis(200),
        "bounded by the budget: {took:?}"
    );
    assert_eq!(server.hits("/jwks"), 2);
    // Not retried on every request: the next ones are immediate.
    let t = Instant::now();
    assert_allow(&gate.decide(&request(&a)).await);
    assert!(
        t.elapsed() < Duration::from_millis(100),
        "{:?}",
        t.elapsed()
    );
}

/// The synchronous `Authorizer` refuses remote sources (they need the gate);
/// the module refuses non-loopback plain http with a field path; the host
/// refuses it too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn remote_sources_are_checked_at_setup() {
    let policy = policy_with(ISSUER, "jwks_uri = \"https://keys.example/jwks.json\"");
    let e = Authorizer::new(
        default_module(),
        &policy,
        &ConfigBase::Embedded(Vec::new()),
        "test policy",
    )
    .unwrap_err();
    assert!(
        matches!(e, AuthorizerError::RemoteKeysUnsupported { .. }),
        "{e}"
    );

    let policy = policy_with(ISSUER, "jwks_uri = \"http://keys.example/jwks.json\"");
    let e = try_gate(&policy, fast()).await.unwrap_err();
    let text = e.to_string();
    assert!(text.contains("issuer[0].jwks_uri"), "{text}");
    assert!(text.contains("loopback"), "{text}");

    let policy = policy_with("urn:example:batch", "discovery = true");
    let e = try_gate(&policy, fast()).await.unwrap_err();
    assert!(e.to_string().contains("issuer[0].discovery"), "{e}");

    // A local-only policy works through the gate too.
    let a = key("a");
    let gate = Gate::new(
        default_module(),
        &policy_with(ISSUER, "jwks_file = \"jwks.json\""),
        &ConfigBase::Embedded(vec![("jwks.json".into(), jwks(&[&a]).to_string())]),
        "test policy",
        fast(),
    )
    .await
    .expect("local gate");
    assert_allow(&gate.decide(&request(&a)).await);
    assert_deny(
        &gate.decide(&request(&key("b"))).await,
        DenyReason::UnknownKey,
    );
    assert!(gate.key_manager().status().is_empty());
}
