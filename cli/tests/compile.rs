//! `tollgate compile --target` (moved from the Lambda door's precompile
//! tests when the CLI became its own crate): it uses the runtime's exact
//! wasmtime configuration with the architecture's baseline CPU features,
//! so its `.cwasm` loads under the runtime's own (host-tuned) engine and
//! decides as the embedded module does.

// Tests: a failed expectation is a panic, and fixtures are indexed directly.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use clap::Parser;
use common::Scratch;
use serde_json::json;
use tollgate::commands::demo::{DEMO_ISSUER, DEMO_KEY, DEMO_POLICY};
use tollgate_host::model::{Decision, Request, TokenSource};
use tollgate_host::{Authorizer, ConfigBase, PolicyModule, SandboxLimits};
use tollgate_keys::mint::SigningKey;

/// This machine's architecture as a `--target` (the tests build x86_64;
/// this keeps them true on an arm64 machine too), with its ELF `e_machine`.
fn native() -> (&'static str, u16) {
    if cfg!(target_arch = "aarch64") {
        ("aarch64", 183)
    } else {
        ("x86_64", 62)
    }
}

fn allows_a_good_token(module: std::sync::Arc<PolicyModule>) {
    let key = SigningKey::from_json(DEMO_KEY).unwrap();
    let jwks = serde_json::to_string(&key.jwks()).unwrap();
    let base = ConfigBase::Embedded(vec![("demo-jwks.json".into(), jwks)]);
    let authorizer = Authorizer::new(module, DEMO_POLICY, &base, "the demo policy").unwrap();
    let now = tollgate_host::clock::unix_now();
    let claims = json!({
        "iss": DEMO_ISSUER, "sub": "alice", "aud": "orders-api",
        "scope": "orders.read orders.write", "iat": now, "exp": now + 300,
    });
    let token = key.sign_jwt(&claims, None).unwrap();
    let request = Request {
        token_sources: vec![TokenSource::AuthorizationHeader(format!("Bearer {token}"))],
        now,
        ..Default::default()
    };
    let decision = authorizer.authorize(&request);
    assert!(matches!(decision, Decision::Allow(_)), "{decision:?}");
}

#[test]
fn compile_target_native_loads_in_the_runtime_engine() {
    let (name, machine) = native();
    let scratch = Scratch::new("precompile");
    let out = scratch.path("policy.cwasm");
    let cli = tollgate::Cli::try_parse_from([
        "tollgate".as_ref(),
        "compile".as_ref(),
        "--target".as_ref(),
        name.as_ref(),
        "-o".as_ref(),
        out.as_os_str(),
    ])
    .unwrap();
    assert_eq!(
        tollgate::run(cli),
        std::process::ExitCode::from(tollgate::EXIT_ALLOW)
    );
    let bytes = std::fs::read(&out).unwrap();
    // An ELF for this architecture.
    assert_eq!(&bytes[..4], b"\x7fELF");
    assert_eq!(u16::from_le_bytes([bytes[18], bytes[19]]), machine);
    // Loads under the engine the Lambda function builds (host CPU features
    // enabled): the baseline is a subset of them.
    let module = PolicyModule::from_bytes(&bytes, SandboxLimits::default()).expect("loads");
    allows_a_good_token(module);

    assert!(
        tollgate::Cli::try_parse_from(["tollgate", "compile", "--target", "riscv", "-o", "x"])
            .is_err()
    );
}
