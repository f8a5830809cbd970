//! `cargo bench`: per algorithm, the native verification primitive alone and
//! the whole decision through the component (warm), side by side, against the
//! goal "decision <= 1.3 x primitive + 5 µs". Also the guest's size and the
//! `.cwasm` load time against compiling the `.wasm`.
//!
//! Figures are medians of batches; compare ratios within one run (the
//! machines are noisy), not absolute times across runs.

// Tests: a failed expectation is a panic, and fixtures are indexed directly.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::hint::black_box;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde_json::json;
use tollgate_host::model::{Decision, Request, TokenSource};
use tollgate_host::{Authorizer, ConfigBase, PolicyModule, SandboxLimits, module};
use tollgate_keys::mint::SigningKey;
use tollgate_keys::{Algorithm, KeySet};

const ISSUER: &str = "https://bench.tollgate.invalid";
const NOW: i64 = 1_800_000_000;

/// Median time per call over `batches` batches of `per_batch` calls.
fn median_per_call(batches: usize, per_batch: u32, mut f: impl FnMut()) -> Duration {
    for _ in 0..per_batch {
        f(); // warm up
    }
    let mut samples: Vec<Duration> = (0..batches)
        .map(|_| {
            let t = Instant::now();
            for _ in 0..per_batch {
                f();
            }
            t.elapsed() / per_batch
        })
        .collect();
    samples.sort();
    samples[samples.len() / 2]
}

fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

fn scratch() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("tollgate-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` passes nothing: run quickly then.
    let full = std::env::args().any(|a| a == "--bench");
    let (batches, per_batch) = if full { (15, 400) } else { (3, 20) };
    let dir = scratch();
    let engine = PolicyModule::default_module(SandboxLimits::default()).expect("module compiles");

    println!(
        "tollgate decision benchmark ({} mode)",
        if full { "full" } else { "quick" }
    );
    println!(
        "{:<7} {:>13} {:>13} {:>11} {:>7} {:>13} {:>5}",
        "alg", "primitive µs", "decision µs", "overhead µs", "ratio", "goal ≤ µs", "met"
    );
    for alg in [
        Algorithm::Rs256,
        Algorithm::Es256,
        Algorithm::EdDsa,
        Algorithm::Hs256,
    ] {
        let key = SigningKey::generate(alg, "bench-1").expect("keygen");
        let jwks_or_secret = if alg.is_symmetric() {
            let secret = key.public_jwk()["k"].as_str().expect("oct k").to_string();
            std::fs::write(dir.join("secret.txt"), secret).expect("write secret");
            format!(
                "[[issuer.secrets]]\nkid = \"bench-1\"\nfile = \"secret.txt\"\nencoding = \"base64url\"\nalgorithm = \"{}\"\n",
                alg.name()
            )
        } else {
            std::fs::write(dir.join("jwks.json"), key.jwks().to_string()).expect("write jwks");
            "jwks_file = \"jwks.json\"\n".to_string()
        };
        let policy = format!(
            "[[issuer]]\nissuer = \"{ISSUER}\"\naudiences = [\"bench-api\"]\nalgorithms = [\"{}\"]\n{jwks_or_secret}",
            alg.name()
        );
        let authorizer = Authorizer::new(
            engine.clone(),
            &policy,
            &ConfigBase::Dir(dir.clone()),
            "bench policy",
        )
        .expect("bench policy is valid");
        let token = key
            .sign_jwt(
                &json!({"iss": ISSUER, "sub": "bench-user", "aud": "bench-api", "iat": NOW, "exp": NOW + 3600, "scope": "a b c"}),
                None,
            )
            .expect("sign");

        // The primitive: the same verification the host runs for the module.
        let (signing_input, signature) = token.rsplit_once('.').expect("compact");
        let signature = base64_url(signature);
        let verifier = if alg.is_symmetric() {
            let secret = base64_url(key.public_jwk()["k"].as_str().expect("k"));
            std::sync::Arc::new(
                tollgate_keys::NativeKey::from_secret(&secret, Some("bench-1".into()), alg)
                    .expect("secret"),
            )
        } else {
            let (set, _) = KeySet::from_jwks_json(&key.jwks().to_string()).expect("jwks");
            set.iter().next().expect("one key").clone()
        };
        verifier
            .verify(alg, signing_input.as_bytes(), &signature)
            .expect("primitive verifies");
        let primitive = median_per_call(batches, per_batch, || {
            black_box(verifier.verify(
                alg,
                black_box(signing_input.as_bytes()),
                black_box(&signature),
            ))
            .ok();
        });

        let request = Request {
            token_sources: vec![TokenSource::AuthorizationHeader(format!("Bearer {token}"))],
            method: "GET".into(),
            path: "/orders/1".into(),
            now: NOW,
            ..Request::default()
        };
        match authorizer.authorize(&request) {
            Decision::Allow(_) => {}
            other => panic!("{alg}: the bench token must be allowed, got {other:?}"),
        }
        let decision = median_per_call(batches, per_batch, || {
            black_box(authorizer.authorize(black_box(&request)));
        });
        let goal = 1.3 * micros(primitive) + 5.0;
        println!(
            "{:<7} {:>13.2} {:>13.2} {:>11.2} {:>7.2} {:>13.2} {:>5}",
            alg.name(),
            micros(primitive),
            micros(decision),
            micros(decision) - micros(primitive),
            micros(decision) / micros(primitive),
            goal,
            if micros(decision) <= goal {
                "yes"
            } else {
                "NO"
            }
        );
    }

    let wasm = module::DEFAULT_MODULE;
    let compile = median_per_call(3, 1, || {
        black_box(PolicyModule::from_bytes(wasm, SandboxLimits::default()).expect("compile"));
    });
    let cwasm = module::precompile_for(wasm, None).expect("precompile");
    let load = median_per_call(if full { 15 } else { 3 }, 1, || {
        black_box(PolicyModule::from_bytes(&cwasm, SandboxLimits::default()).expect("load"));
    });
    println!();
    println!(
        "guest component (.wasm): {:>8.1} KiB",
        wasm.len() as f64 / 1024.0
    );
    println!(
        "precompiled (.cwasm):    {:>8.1} KiB",
        cwasm.len() as f64 / 1024.0
    );
    println!(
        "compile .wasm at start:  {:>8.2} ms",
        compile.as_secs_f64() * 1e3
    );
    println!(
        "load .cwasm at start:    {:>8.2} ms  ({:.0}x faster)",
        load.as_secs_f64() * 1e3,
        compile.as_secs_f64() / load.as_secs_f64()
    );
    let _ = std::fs::remove_dir_all(&dir);
}

fn base64_url(text: &str) -> Vec<u8> {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(text)
        .expect("base64url")
}
