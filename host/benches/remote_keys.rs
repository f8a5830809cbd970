//! `cargo bench`: decisions per second through `Gate::decide` with remote
//! keys cached, and while a refresh of those keys is in flight (a slow key
//! server holding the fetch open), side by side. The in-flight refresh must
//! not slow decisions down: they read the key store, never the refresh path.
//!
//! The key server is a real HTTP server on 127.0.0.1 (`tollgate_jwks::testing`).
//! Figures are medians of batches; compare within one run.

// Tests: a failed expectation is a panic, and fixtures are indexed directly.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;
use tollgate_host::jwks::testing::{Behaviour, TestServer};
use tollgate_host::jwks::{KeyFetchSettings, RefreshMode};
use tollgate_host::model::{Decision, Request, TokenSource};
use tollgate_host::{ConfigBase, Gate, PolicyModule, SandboxLimits};
use tollgate_keys::Algorithm;
use tollgate_keys::mint::SigningKey;

const ISSUER: &str = "https://bench.tollgate.invalid";

fn request(token: &str, now: i64) -> Request {
    Request {
        token_sources: vec![TokenSource::AuthorizationHeader(format!("Bearer {token}"))],
        method: "GET".into(),
        path: "/".into(),
        now,
        ..Request::default()
    }
}

/// Median decisions per second over `batches` batches of `per_batch` decisions
/// by `workers` concurrent tasks.
async fn rate(
    gate: &Arc<Gate>,
    request: &Request,
    batches: usize,
    per_batch: usize,
    workers: usize,
) -> f64 {
    let mut samples = Vec::with_capacity(batches);
    for _ in 0..batches {
        let start = Instant::now();
        let tasks: Vec<_> = (0..workers)
            .map(|_| {
                let gate = Arc::clone(gate);
                let request = request.clone();
                tokio::spawn(async move {
                    for _ in 0..per_batch {
                        let decision = gate.decide(&request).await;
                        assert!(matches!(decision, Decision::Allow(_)), "{decision:?}");
                    }
                })
            })
            .collect();
        for task in tasks {
            task.await.expect("bench task");
        }
        samples.push((per_batch * workers) as f64 / start.elapsed().as_secs_f64());
    }
    samples.sort_by(f64::total_cmp);
    samples[samples.len() / 2]
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` passes nothing: run quickly then.
    let full = std::env::args().any(|a| a == "--bench");
    let (batches, per_batch) = if full { (9, 2000) } else { (3, 50) };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(run(full, batches, per_batch));
}

async fn run(full: bool, batches: usize, per_batch: usize) {
    let server = TestServer::start();
    let key = SigningKey::generate(Algorithm::Es256, "k1").expect("key");
    let jwks = key.jwks();
    server.set("/jwks", Behaviour::json(&jwks));
    let policy = format!(
        "[[issuer]]\nissuer = \"{ISSUER}\"\njwks_uri = \"{}\"\naudiences = [\"bench\"]\nalgorithms = [\"ES256\"]\n",
        server.url("/jwks")
    );
    let settings = KeyFetchSettings {
        penalty_window: Duration::from_millis(50),
        // Long enough that the slow server keeps the refresh open all along.
        request_timeout: Duration::from_secs(120),
        mode: RefreshMode::Background,
        ..KeyFetchSettings::default()
    };
    let engine = PolicyModule::default_module(SandboxLimits::default()).expect("module compiles");
    let gate = Arc::new(
        Gate::new(
            engine,
            &policy,
            &ConfigBase::Embedded(Vec::new()),
            "bench policy",
            settings,
        )
        .await
        .expect("gate"),
    );
    let now = tollgate_host::clock::unix_now();
    let claims =
        json!({"iss": ISSUER, "sub": "bench", "aud": "bench", "iat": now, "exp": now + 3600});
    let token = key.sign_jwt(&claims, None).expect("token");
    let good = request(&token, now);
    let unknown = SigningKey::generate(Algorithm::Es256, "rotated-in")
        .expect("key")
        .sign_jwt(&claims, None)
        .expect("token");

    println!(
        "tollgate remote-keys benchmark ({} mode): ES256 decisions through Gate::decide, keys from {}",
        if full { "full" } else { "quick" },
        server.url("/jwks")
    );
    // Warm up (pooled instances for both workers).
    rate(&gate, &good, 1, per_batch.min(200), 2).await;

    let mut rows = Vec::new();
    for workers in [1usize, 2] {
        let cached = rate(&gate, &good, batches, per_batch, workers).await;
        rows.push((workers, cached));
    }

    // Hold a refresh open: the server now answers after 10 minutes; an
    // unknown kid triggers the refetch, which waits on it.
    server.set(
        "/jwks",
        Behaviour::Delay(Duration::from_secs(600), Box::new(Behaviour::json(&jwks))),
    );
    tokio::time::sleep(Duration::from_millis(60)).await;
    let fetches_before = server.hits("/jwks");
    let holder = {
        let gate = Arc::clone(&gate);
        let request = request(&unknown, now);
        tokio::spawn(async move { gate.decide(&request).await })
    };
    let open = Instant::now();
    while server.hits("/jwks") == fetches_before {
        assert!(
            open.elapsed() < Duration::from_secs(10),
            "the refresh never started"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }

    println!();
    println!("workers   cached dec/s   refresh-in-flight dec/s   ratio");
    for (workers, cached) in rows {
        let in_flight = rate(&gate, &good, batches, per_batch, workers).await;
        assert!(
            !holder.is_finished(),
            "the refresh must stay in flight while measuring"
        );
        println!(
            "{workers:>7} {cached:>14.0} {in_flight:>25.0} {:>7.2}",
            in_flight / cached
        );
    }
    println!(
        "\nthe in-flight refresh stayed open throughout (server fetches: {}); decisions read the key store only",
        server.hits("/jwks")
    );
    holder.abort();
}
