//! `tollgate check` with remote keys: a `jwks_uri` served by a real HTTP
//! server on 127.0.0.1 (allow, exit 0), and the same server down
//! (`keys-unavailable`, status 503, exit 1).

// Tests: a failed expectation is a panic, and fixtures are indexed directly.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::path::PathBuf;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use common::{Scratch, output_within};
use serde_json::{Value, json};
use tollgate_jwks::testing::{Behaviour, TestServer};
use tollgate_keys::Algorithm;
use tollgate_keys::mint::SigningKey;

const ISSUER: &str = "https://issuer.example";

fn check(config: &std::path::Path, token: &str) -> (Output, Value) {
    check_with_env(config, token, &[])
}

fn check_with_env(config: &std::path::Path, token: &str, env: &[(&str, &str)]) -> (Output, Value) {
    let out = output_within(
        Command::new(env!("CARGO_BIN_EXE_tollgate"))
            .envs(env.iter().copied())
            .args(["check", "--config"])
            .arg(config)
            .args(["--token", token]),
        b"",
        Duration::from_secs(30),
    );
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let decision =
        serde_json::from_str(text.trim()).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"));
    (out, decision)
}

/// A scratch folder holding a policy whose issuer's keys are `server`'s
/// `/jwks` (set to a fresh ES256 key's JWK Set), and a token signed with it.
fn remote_policy(server: &TestServer, label: &str) -> (Scratch, PathBuf, String) {
    let key = SigningKey::generate(Algorithm::Es256, "k1").expect("key");
    server.set("/jwks", Behaviour::json(&key.jwks()));
    let dir = Scratch::new(&format!("cli-remote-{label}"));
    let config = dir.0.join("policy.toml");
    std::fs::write(
        &config,
        format!(
            "[[issuer]]\nissuer = \"{ISSUER}\"\njwks_uri = \"{}\"\naudiences = [\"orders-api\"]\nalgorithms = [\"ES256\"]\n",
            server.url("/jwks")
        ),
    )
    .expect("write policy");
    let now = tollgate_host::clock::unix_now();
    let token = key
        .sign_jwt(
            &json!({"iss": ISSUER, "sub": "alice", "aud": "orders-api", "exp": now + 300}),
            None,
        )
        .expect("token");
    (dir, config, token)
}

#[test]
fn check_fetches_a_jwks_uri_and_answers_503_when_it_is_down() {
    let server = TestServer::start();
    let (_dir, config, token) = remote_policy(&server, "check");

    let (out, decision) = check(&config, &token);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(decision["allow"], true);
    assert_eq!(decision["principal"], "alice");
    assert_eq!(server.hits("/jwks"), 1);

    server.set("/jwks", Behaviour::Status(500));
    let (out, decision) = check(&config, &token);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(decision["allow"], false);
    assert_eq!(decision["reason"], "keys-unavailable");
    assert_eq!(decision["status"], 503);
}

/// The remote key settings come from `TOLLGATE_JWKS_*`: a hanging key server
/// is given up on after the configured request timeout (not the 5 s
/// default), and a value that is not a number is a usage error naming the
/// variable.
#[test]
fn check_takes_remote_key_settings_from_the_environment() {
    let server = TestServer::start();
    let (_dir, config, token) = remote_policy(&server, "env");
    server.set("/jwks", Behaviour::Hang);

    let started = Instant::now();
    let (out, decision) = check_with_env(
        &config,
        &token,
        &[("TOLLGATE_JWKS_REQUEST_TIMEOUT_MS", "300")],
    );
    let took = started.elapsed();
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(decision["reason"], "keys-unavailable");
    assert!(
        took < Duration::from_secs(3),
        "gave up after {took:?}: the 300 ms request timeout was not applied"
    );

    let out = output_within(
        Command::new(env!("CARGO_BIN_EXE_tollgate"))
            .env("TOLLGATE_JWKS_MAX_STALE_S", "1h")
            .args(["check", "--config"])
            .arg(&config)
            .args(["--token", &token]),
        b"",
        Duration::from_secs(30),
    );
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("TOLLGATE_JWKS_MAX_STALE_S") && stderr.contains("whole number of seconds"),
        "{stderr}"
    );
}
