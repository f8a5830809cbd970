//! Remote keys through the Lambda front door: the function's state built as
//! `bootstrap` builds it at init (`setup::state` with the `TOLLGATE_JWKS_*`
//! variables), a `jwks_uri` served by a real HTTP server on 127.0.0.1, and
//! the handler called with real events.
//!
//! Shows: keys are prefetched during init (the first invocation fetches
//! nothing); once their TTL has passed, the next invocation refreshes them
//! inline; an outage keeps the cached keys answering, bounded by the inline
//! budget even when the server hangs; and a key the cache lacks during an
//! outage is a 500 (`KeysUnavailable`), never `Unauthorized`.

// Tests: a failed expectation is a panic, and fixtures are indexed directly.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::time::{Duration, Instant};

use common::*;
use serde_json::json;
use tollgate_host::SandboxLimits;
use tollgate_host::model::DenyReason;
use tollgate_jwks::testing::{Behaviour, TestServer};
use tollgate_keys::Algorithm;
use tollgate_keys::mint::SigningKey;
use tollgate_lambda::setup::{ModuleSource, Sources, state};
use tollgate_lambda::{HandlerError, LambdaSettings, handle};

async fn within<T>(limit: Duration, future: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(limit, future)
        .await
        .expect("the test's own time bound was exceeded")
}

#[tokio::test(flavor = "current_thread")]
async fn remote_keys_are_prefetched_at_init_refreshed_inline_and_survive_an_outage() {
    let server = TestServer::start();
    server.set(
        "/jwks",
        Behaviour::json(&json!({"keys": [key("ec-1").public_jwk()]})),
    );
    let scratch = Scratch::new("remote-keys");
    let config = scratch.path("policy.toml");
    std::fs::write(
        &config,
        format!(
            "[[issuer]]\nissuer = \"{ISSUER}\"\njwks_uri = \"{}\"\naudiences = [\"{AUDIENCE}\"]\nalgorithms = [\"ES256\"]\n",
            server.url("/jwks")
        ),
    )
    .expect("write policy");
    let env = [
        ("TOLLGATE_JWKS_MIN_TTL_S", "1"),
        ("TOLLGATE_JWKS_MAX_TTL_S", "1"),
        ("TOLLGATE_JWKS_PENALTY_WINDOW_MS", "200"),
        ("TOLLGATE_JWKS_MAX_BACKOFF_S", "1"),
        ("TOLLGATE_JWKS_INLINE_BUDGET_MS", "150"),
    ];
    let settings = LambdaSettings::from_lookup(&|name| {
        env.iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.to_string())
    })
    .expect("settings");
    let sources = Sources {
        config,
        module: ModuleSource::Embedded,
        limits: SandboxLimits::default(),
    };
    let state = within(Duration::from_secs(30), state(&sources, settings))
        .await
        .expect("init");
    assert_eq!(server.hits("/jwks"), 1, "prefetched during init");

    let bearer = format!("Bearer {}", good_token());
    let allowed = |answer: &Result<serde_json::Value, HandlerError>| {
        let answer = answer.as_ref().expect("an answer, not an error");
        assert_eq!(
            answer["policyDocument"]["Statement"][0]["Effect"],
            json!("Allow"),
            "{answer}"
        );
    };
    // The first invocation pays nothing.
    allowed(&handle(&state, token_event(&bearer)).await);
    assert_eq!(server.hits("/jwks"), 1);

    // TTL passed: the next invocation refreshes inline, then answers.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    allowed(&within(Duration::from_secs(3), handle(&state, token_event(&bearer))).await);
    assert_eq!(
        server.hits("/jwks"),
        2,
        "refreshed inline once the TTL passed"
    );

    // Outage: the refresh fails, the cached keys answer.
    server.set("/jwks", Behaviour::Status(500));
    tokio::time::sleep(Duration::from_millis(1100)).await;
    allowed(
        &within(
            Duration::from_secs(3),
            handle(&state, http_v2_event(&bearer)),
        )
        .await,
    );
    assert_eq!(server.hits("/jwks"), 3);

    // A hanging server: the invocation waits at most the inline budget.
    server.set("/jwks", Behaviour::Hang);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let started = Instant::now();
    allowed(
        &within(
            Duration::from_secs(3),
            handle(&state, rest_request_event(&bearer)),
        )
        .await,
    );
    let took = started.elapsed();
    assert!(
        took < Duration::from_millis(900),
        "the inline budget (150 ms) bounds the invocation: {took:?}"
    );
    assert_eq!(server.hits("/jwks"), 4);

    // A key the cache lacks while the source is failing: the host's trouble.
    server.set("/jwks", Behaviour::Status(503));
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let rotated = SigningKey::generate(Algorithm::Es256, "rotated-in").expect("key");
    let token = rotated.sign_jwt(&good_claims(now()), None).expect("sign");
    let answer = within(
        Duration::from_secs(10),
        handle(&state, token_event(&format!("Bearer {token}"))),
    )
    .await;
    match answer {
        Err(HandlerError::KeysUnavailable(message)) => {
            assert!(message.contains("retry later"), "{message}")
        }
        other => panic!("expected KeysUnavailable (a 500), got {other:?}"),
    }

    // The source recovers: the rotated-in key verifies on its first use
    // once published, and a forged kid is Unauthorized again.
    server.set(
        "/jwks",
        Behaviour::json(&json!({"keys": [key("ec-1").public_jwk(), rotated.public_jwk()]})),
    );
    tokio::time::sleep(Duration::from_millis(1100)).await;
    allowed(
        &within(
            Duration::from_secs(10),
            handle(&state, token_event(&format!("Bearer {token}"))),
        )
        .await,
    );
    let forger = SigningKey::generate(Algorithm::Es256, "nobody").expect("key");
    let forged = forger.sign_jwt(&good_claims(now()), None).expect("sign");
    tokio::time::sleep(Duration::from_millis(250)).await;
    assert_eq!(
        within(
            Duration::from_secs(10),
            handle(&state, token_event(&format!("Bearer {forged}")))
        )
        .await,
        Err(HandlerError::Unauthorized {
            reason: DenyReason::UnknownKey
        })
    );
}
