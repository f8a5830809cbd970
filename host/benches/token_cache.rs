//! `cargo bench -p tollgate-host --bench token_cache`: a repeated token
//! answered from the verified-token cache, against the whole decision
//! through the component (cache off), in the same run, on 1,000 distinct
//! tokens per algorithm (each its own `sub` and `jti`, each on its own
//! route). The goal: a repeated token decided in at most 2 µs.
//!
//! Per algorithm: the full decision is timed on an authorizer without a
//! cache; on one with a cache, a first pass over the tokens fills it (a
//! miss: the full decision, plus storing the allow), then repeated passes
//! over all of them are hits. The `rules` row decides on a policy with
//! route rules, whose allows carry ten grants (the hit matches them).
//!
//! Figures are medians of passes; compare within one run.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::hint::black_box;
use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::json;
use tollgate_host::model::{Decision, Request, TokenSource};
use tollgate_host::{Authorizer, ConfigBase, PolicyModule, SandboxLimits, TokenCacheSettings};
use tollgate_keys::Algorithm;
use tollgate_keys::mint::SigningKey;

const ISSUER: &str = "https://bench.tollgate.invalid";
const NOW: i64 = 1_800_000_000;
const GOAL_MICROS: f64 = 2.0;

/// Ten services, each with a read rule; the token holds every scope, so
/// its allow carries ten grants and a request for the last service matches
/// the last of them.
fn rules() -> String {
    (0..10)
        .map(|i| {
            format!(
                "[[route]]\nmethods = [\"GET\"]\npath = \"/api/s{i}/*\"\nscopes = [\"s{i}.read\"]\n"
            )
        })
        .collect()
}

/// Median time per request over `passes` passes over all of `requests`.
fn median_per_request(passes: usize, requests: &[Request], authorizer: &Authorizer) -> Duration {
    let mut samples: Vec<Duration> = (0..passes)
        .map(|_| {
            let t = Instant::now();
            for request in requests {
                black_box(authorizer.authorize(black_box(request)));
            }
            t.elapsed() / requests.len() as u32
        })
        .collect();
    samples.sort();
    samples[samples.len() / 2]
}

fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

/// The policy for `key` (its JWK Set or secret written into `dir`), with `rules`.
fn policy(key: &SigningKey, dir: &Path, rules: &str) -> String {
    let alg = key.alg();
    let source = if alg.is_symmetric() {
        std::fs::write(
            dir.join("secret.txt"),
            key.secret_file_text().expect("secret"),
        )
        .expect("write secret");
        format!(
            "[[issuer.secrets]]\nkid = \"{}\"\nfile = \"secret.txt\"\nencoding = \"base64url\"\nalgorithm = \"{}\"\n",
            key.kid(),
            alg.name()
        )
    } else {
        std::fs::write(dir.join("jwks.json"), key.jwks().to_string()).expect("write jwks");
        "jwks_file = \"jwks.json\"\n".to_string()
    };
    format!(
        "[[issuer]]\nissuer = \"{ISSUER}\"\naudiences = [\"bench-api\"]\nalgorithms = [\"{}\"]\n{source}\n{rules}",
        alg.name()
    )
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` passes nothing: run quickly then.
    let full = std::env::args().any(|a| a == "--bench");
    let (tokens, passes) = if full { (1000, 15) } else { (20, 1) };
    let dir = std::env::temp_dir().join(format!("tollgate-cache-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("scratch dir");
    let module = PolicyModule::default_module(SandboxLimits::default()).expect("module compiles");

    println!(
        "tollgate token cache benchmark ({} mode, {tokens} distinct tokens, medians of {passes} passes)",
        if full { "full" } else { "quick" }
    );
    println!(
        "{:<13} {:>7} {:>12} {:>14} {:>9} {:>9} {:>10} {:>5}",
        "alg", "grants", "decision µs", "miss+store µs", "hit µs", "speedup", "goal ≤ µs", "met"
    );
    let cases = [
        (Algorithm::Rs256, false),
        (Algorithm::Es256, false),
        (Algorithm::EdDsa, false),
        (Algorithm::Hs256, false),
        (Algorithm::Es256, true),
    ];
    for (alg, with_rules) in cases {
        let key = if alg.is_symmetric() {
            SigningKey::from_secret(alg, "bench-1", b"bench-secret-of-at-least-32-bytes!!")
                .expect("secret")
        } else {
            SigningKey::generate(alg, "bench-1").expect("keygen")
        };
        let rules = if with_rules { rules() } else { String::new() };
        let text = policy(&key, &dir, &rules);
        let base = ConfigBase::Dir(dir.clone());
        let uncached = Authorizer::new(module.clone(), &text, &base, "bench policy")
            .expect("bench policy is valid");
        let cached = Authorizer::new(module.clone(), &text, &base, "bench policy")
            .expect("bench policy is valid")
            .with_token_cache(TokenCacheSettings::default());
        let scopes: Vec<String> = (0..10).map(|i| format!("s{i}.read")).collect();
        let requests: Vec<Request> = (0..tokens)
            .map(|i| {
                let token = key
                    .sign_jwt(
                        &json!({"iss": ISSUER, "sub": format!("user-{i}"), "jti": format!("t-{i}"), "aud": "bench-api", "iat": NOW, "exp": NOW + 3600, "scope": scopes.join(" ")}),
                        None,
                    )
                    .expect("sign");
                Request {
                    token_sources: vec![TokenSource::AuthorizationHeader(format!(
                        "Bearer {token}"
                    ))],
                    method: "GET".into(),
                    path: format!("/api/s9/items/{i}"),
                    now: NOW,
                    ..Request::default()
                }
            })
            .collect();
        let grants = match uncached.authorize(&requests[0]) {
            Decision::Allow(allow) => allow.grants.len(),
            other => panic!("{alg}: the bench tokens must be allowed, got {other:?}"),
        };

        // The whole decision, cache off (after a warm-up pass).
        median_per_request(1, &requests, &uncached);
        let decision = median_per_request(passes, &requests, &uncached);
        // The first pass fills the cache: each request a miss and a store.
        let fill = median_per_request(1, &requests, &cached);
        let stats = cached.token_cache_stats().expect("a cache");
        assert_eq!(stats.stores, tokens as u64, "{alg}: every allow stored");
        // Every later pass is hits only.
        let hit = median_per_request(passes, &requests, &cached);
        let stats = cached.token_cache_stats().expect("a cache");
        assert_eq!(
            stats.hits,
            (passes * tokens) as u64,
            "{alg}: every repeated token hits"
        );
        let label = if with_rules {
            format!("{} rules", alg.name())
        } else {
            alg.name().to_string()
        };
        println!(
            "{:<13} {:>7} {:>12.2} {:>14.2} {:>9.2} {:>8.0}x {:>10.2} {:>5}",
            label,
            grants,
            micros(decision),
            micros(fill),
            micros(hit),
            micros(decision) / micros(hit),
            GOAL_MICROS,
            if micros(hit) <= GOAL_MICROS {
                "yes"
            } else {
                "NO"
            }
        );
    }
    println!(
        "\ndecision: Authorizer::authorize without a cache; miss+store: the first pass over the tokens \
         with the cache on (the decision, plus storing the allow); hit: every later pass."
    );
    let _ = std::fs::remove_dir_all(&dir);
}
