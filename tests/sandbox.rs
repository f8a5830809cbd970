//! The sandbox fails closed: a trap, a runaway loop or unbounded memory in a
//! module is an `internal-error` outcome (never an allow or a deny), the
//! failed instance is replaced, and the next request still works.

// Tests: a failed expectation is a panic, and fixtures are indexed directly.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use tollgate_host::model::{Decision, DenyReason, Request};
use tollgate_host::{Authorizer, ConfigBase, PolicyModule, SandboxLimits};
use tollgate_tests::MISBEHAVING_MODULE;

/// The misbehaving module, compiled once per test binary; each test takes
/// it under its own limits.
fn misbehaving(limits: SandboxLimits) -> Authorizer {
    static ENGINE: OnceLock<Arc<PolicyModule>> = OnceLock::new();
    let engine = ENGINE
        .get_or_init(|| {
            PolicyModule::from_bytes(MISBEHAVING_MODULE, SandboxLimits::default())
                .expect("misbehaving module compiles")
        })
        .with_limits(limits);
    Authorizer::new(engine, "", &ConfigBase::Embedded(vec![]), "empty").expect("it configures")
}

fn ask(authorizer: &Authorizer, path: &str) -> Decision {
    authorizer.authorize(&Request {
        path: path.into(),
        method: "GET".into(),
        now: 1,
        ..Request::default()
    })
}

fn assert_internal_error(decision: &Decision) {
    match decision {
        Decision::Error { reason, .. } => assert_eq!(reason, "internal-error"),
        other => panic!("expected an internal-error outcome, got {other:?}"),
    }
}

fn assert_still_serves(authorizer: &Authorizer) {
    match ask(authorizer, "/") {
        Decision::Deny(deny) => assert_eq!(deny.reason, DenyReason::Forbidden),
        other => panic!("the next request should get the module's normal deny, got {other:?}"),
    }
}

#[test]
fn a_trap_is_an_internal_error_and_the_next_request_works() {
    let authorizer = misbehaving(SandboxLimits::default());
    assert_still_serves(&authorizer);
    assert_internal_error(&ask(&authorizer, "/trap"));
    assert_still_serves(&authorizer);
    assert_internal_error(&ask(&authorizer, "/trap"));
    assert_still_serves(&authorizer);
}

/// `verify-found` with an index no `find-keys` of the call gave is the
/// module's bug: the call traps (an internal error naming it, never an
/// allow), and the next request still works.
#[test]
fn a_key_index_no_find_gave_is_an_internal_error() {
    let authorizer = misbehaving(SandboxLimits::default());
    match ask(&authorizer, "/verify-unfound") {
        Decision::Error { reason, message } => {
            assert_eq!(reason, "internal-error");
            assert!(
                message.contains("verify-found: no key has index 0"),
                "{message}"
            );
        }
        other => panic!("expected an internal error, got {other:?}"),
    }
    assert_still_serves(&authorizer);
}

/// A module built for 0.5.0 (key resources: `lookup`, `info`, `verify`,
/// dropping the handle) runs in this 0.5.x host unchanged: its imports
/// resolve to this host's later 0.5 interface, and it verifies.
#[test]
fn a_module_built_for_0_5_0_runs_and_verifies_through_key_resources() {
    use tollgate_keys::Algorithm;
    use tollgate_keys::mint::SigningKey;

    let module = tollgate_tests::CONTRACT_050_MODULE;
    let imports = tollgate_tests::component_imports(module);
    assert!(
        imports
            .iter()
            .any(|i| i == "tollgate:authorizer/keys@0.5.0"),
        "{imports:?}"
    );
    assert_ne!(tollgate_host::module::WIT_VERSION, "0.5.0");
    let key = SigningKey::generate(Algorithm::Es256, "k1").unwrap();
    let other = SigningKey::generate(Algorithm::Es256, "k1").unwrap();
    let authorizer = Authorizer::new(
        PolicyModule::from_bytes(module, SandboxLimits::default()).expect("a 0.5.0 module loads"),
        "https://issuer.example jwks.json",
        &ConfigBase::Embedded(vec![("jwks.json".into(), key.jwks().to_string())]),
        "0.5.0 module",
    )
    .expect("it configures");
    let hex = |bytes: Vec<u8>| -> String { bytes.iter().map(|b| format!("{b:02x}")).collect() };
    let ask = |kid: &str, signer: &SigningKey| {
        authorizer.authorize(&Request {
            path: "/".into(),
            method: "GET".into(),
            headers: vec![
                ("x-kid".into(), kid.into()),
                ("x-message".into(), "message".into()),
                ("x-signature".into(), hex(signer.sign(b"message").unwrap())),
            ],
            now: 1,
            ..Request::default()
        })
    };
    match ask("k1", &key) {
        Decision::Allow(allow) => assert_eq!(allow.principal, "k1"),
        other => panic!("a 0.5.0 module verifies a good signature: {other:?}"),
    }
    match ask("k1", &other) {
        Decision::Deny(deny) => assert_eq!(deny.reason, DenyReason::BadSignature),
        other => panic!("another key's signature: {other:?}"),
    }
    match ask("k2", &key) {
        Decision::Deny(deny) => assert_eq!(deny.reason, DenyReason::UnknownKey),
        other => panic!("an unknown kid: {other:?}"),
    }
}

/// std's stdio plumbing (`wasi:cli`, `wasi:io`) is all a module may import
/// besides the contract: it loads, linked as traps, so a `println!` fails
/// the call with an error naming `wasi:cli/stdout`, and the next request
/// still works.
#[test]
fn a_print_traps_at_call_time_and_the_error_names_the_import() {
    let imports = tollgate_tests::assert_sandboxed_imports(MISBEHAVING_MODULE);
    assert!(
        imports.iter().any(|i| i.starts_with("wasi:cli/stdout@")),
        "{imports:?}"
    );
    let authorizer = misbehaving(SandboxLimits::default());
    match ask(&authorizer, "/print") {
        Decision::Error { reason, message } => {
            assert_eq!(reason, "internal-error");
            assert!(
                message.contains("unknown import: `wasi:cli/stdout@")
                    && message.contains("#get-stdout` has not been defined"),
                "{message}"
            );
        }
        other => panic!("expected an internal-error outcome, got {other:?}"),
    }
    assert_still_serves(&authorizer);
}

#[test]
fn a_runaway_loop_hits_the_deadline() {
    let deadline = Duration::from_millis(50);
    let authorizer = misbehaving(SandboxLimits {
        deadline,
        ..SandboxLimits::default()
    });
    let started = Instant::now();
    assert_internal_error(&ask(&authorizer, "/loop"));
    let took = started.elapsed();
    assert!(took >= deadline, "stopped before the deadline: {took:?}");
    assert!(
        took < Duration::from_secs(5),
        "the deadline did not stop the loop in time: {took:?}"
    );
    assert_still_serves(&authorizer);
}

#[test]
fn unbounded_memory_hits_the_cap() {
    let authorizer = misbehaving(SandboxLimits {
        memory_bytes: 16 << 20,
        deadline: Duration::from_secs(5),
    });
    assert_internal_error(&ask(&authorizer, "/grow"));
    assert_still_serves(&authorizer);
}

#[test]
fn a_memory_cap_below_the_module_size_fails_at_setup_not_later() {
    let engine = tollgate_tests::default_module().with_limits(SandboxLimits {
        memory_bytes: 64 << 10,
        ..SandboxLimits::default()
    });
    let result = Authorizer::new(engine, "", &ConfigBase::Embedded(vec![]), "empty");
    let error = result.expect_err("a 64 KiB cap cannot hold the module");
    assert!(
        error.to_string().contains("policy module failed"),
        "{error}"
    );
}

#[test]
fn garbage_is_not_a_module() {
    let error = PolicyModule::from_bytes(b"not wasm at all", SandboxLimits::default())
        .expect_err("garbage");
    assert!(
        error.to_string().contains("invalid policy module"),
        "{error}"
    );
}

/// A module names the contract version it targets in its imports; one
/// built for 0.2.0 (whose request still had `method-arn`) is refused at
/// load, naming both versions, never linked and never run.
#[test]
fn a_module_built_for_another_contract_version_is_refused_at_load() {
    let imports = tollgate_tests::component_imports(tollgate_tests::OLD_CONTRACT_MODULE);
    assert!(
        imports
            .iter()
            .any(|i| i == "tollgate:authorizer/types@0.2.0"),
        "{imports:?}"
    );
    match PolicyModule::from_bytes(
        tollgate_tests::OLD_CONTRACT_MODULE,
        SandboxLimits::default(),
    ) {
        Err(e @ tollgate_host::ModuleError::WitVersion { .. }) => {
            let message = e.to_string();
            assert!(
                message.contains("tollgate:authorizer@0.2.0") && message.contains("0.5.0 to 0.5.x"),
                "{message}"
            );
        }
        other => panic!("a 0.2.0 module must be refused by version: {other:?}"),
    }
    // Precompiled, it is refused the same way.
    let cwasm = tollgate_host::module::precompile_for(tollgate_tests::OLD_CONTRACT_MODULE, None)
        .expect("precompile");
    assert!(matches!(
        PolicyModule::from_bytes(&cwasm, SandboxLimits::default()),
        Err(tollgate_host::ModuleError::WitVersion { .. })
    ));
}

#[test]
fn the_default_module_reaches_nothing_outside_the_sandbox() {
    // Rust's std for wasm32-wasip2 links its stdio/environment plumbing; the
    // host defines those as traps (it provides no WASI).
    tollgate_tests::assert_sandboxed_verifier(tollgate_host::module::DEFAULT_MODULE);
}

#[test]
fn precompiled_modules_load_and_decide_like_the_component() {
    let cwasm = tollgate_host::module::precompile_for(tollgate_host::module::DEFAULT_MODULE, None)
        .expect("precompile");
    let engine = PolicyModule::from_bytes(&cwasm, SandboxLimits::default()).expect("cwasm loads");
    let authorizer = Authorizer::new(engine.clone(), "", &ConfigBase::Embedded(vec![]), "empty");
    // The default module refuses an empty policy with a config error naming the field.
    match authorizer {
        Err(tollgate_host::AuthorizerError::Config { field, .. }) => assert_eq!(field, "issuer"),
        other => panic!("expected a config error, got {other:?}"),
    }
    // And decides like the component: allow, and a deny with its reason.
    let key = tollgate_tests::test_key("ec-1");
    let policy = "[[issuer]]\nissuer = \"https://i.example\"\njwks_file = \"jwks.json\"\naudiences = [\"a\"]\nalgorithms = [\"ES256\"]\n";
    let files = ConfigBase::Embedded(vec![("jwks.json".into(), key.jwks().to_string())]);
    let from_cwasm = Authorizer::new(engine, policy, &files, "test").expect("configures");
    let from_wasm = Authorizer::new(tollgate_tests::default_module(), policy, &files, "test")
        .expect("configures");
    let claims = serde_json::json!({"iss": "https://i.example", "sub": "s", "aud": "a", "exp": 2_000_000_000});
    let good = key.sign_jwt(&claims, None).expect("sign");
    let wrong_aud = key
        .sign_jwt(&serde_json::json!({"iss": "https://i.example", "sub": "s", "aud": "b", "exp": 2_000_000_000}), None)
        .expect("sign");
    for token in [&good, &wrong_aud] {
        let request = tollgate_tests::bearer_request(token, 1_700_000_000);
        assert_eq!(
            from_cwasm.authorize(&request),
            from_wasm.authorize(&request)
        );
    }
    let decision = from_cwasm.authorize(&tollgate_tests::bearer_request(&good, 1_700_000_000));
    assert!(matches!(decision, Decision::Allow(_)), "{decision:?}");
}

#[test]
fn the_host_observes_the_modules_key_lookup_misses() {
    let key = tollgate_tests::test_key("ec-1");
    let policy = "[[issuer]]\nissuer = \"https://i.example\"\njwks_file = \"jwks.json\"\naudiences = [\"a\"]\nalgorithms = [\"ES256\"]\n";
    let authorizer = tollgate_tests::authorizer(policy, &[("jwks.json", key.jwks().to_string())]);
    let claims = serde_json::json!({"iss": "https://i.example", "sub": "s", "aud": "a", "exp": 2_000_000_000});
    let mut header = serde_json::Map::new();
    header.insert("kid".into(), serde_json::json!("rotated-in"));
    let token = key.sign_jwt(&claims, Some(&header)).expect("sign");
    let (decision, misses) =
        authorizer.authorize_observed(&tollgate_tests::bearer_request(&token, 1_700_000_000));
    match decision {
        Decision::Deny(deny) => assert_eq!(deny.reason, DenyReason::UnknownKey),
        other => panic!("expected unknown-key, got {other:?}"),
    }
    assert_eq!(
        misses,
        vec![tollgate_host::KeyMiss {
            issuer: "https://i.example".into(),
            kid: Some("rotated-in".into()),
            error: tollgate_host::model::LookupError::UnknownKey,
        }]
    );
    // A hit records nothing.
    let good = key.sign_jwt(&claims, None).expect("sign");
    let (decision, misses) =
        authorizer.authorize_observed(&tollgate_tests::bearer_request(&good, 1_700_000_000));
    assert!(matches!(decision, Decision::Allow(_)), "{decision:?}");
    assert!(misses.is_empty());
}

#[test]
fn a_built_in_policy_reads_no_files_from_the_working_directory() {
    // Cargo runs tests in the package folder, where `Cargo.toml` exists: an
    // embedded policy naming it must still be refused, not read from disk.
    for (policy, what) in [
        (
            "[[issuer]]\nissuer = \"https://i\"\njwks_file = \"Cargo.toml\"\naudiences = [\"a\"]\nalgorithms = [\"ES256\"]\n",
            "JWK Set",
        ),
        (
            "[[issuer]]\nissuer = \"https://i\"\naudiences = [\"a\"]\nalgorithms = [\"HS256\"]\n[[issuer.secrets]]\nfile = \"Cargo.toml\"\nalgorithm = \"HS256\"\n",
            "secret",
        ),
    ] {
        assert!(std::path::Path::new("Cargo.toml").is_file(), "test premise");
        let error =
            tollgate_tests::try_authorizer(policy, &[]).expect_err("must not read Cargo.toml");
        let message = error.to_string();
        assert!(
            message.contains("not among the files built into this policy"),
            "{what}: {message}"
        );
    }
}
