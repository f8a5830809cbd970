//! The custom-module examples under `examples/`, built as components
//! (`tests/build.rs`) and loaded in the real host: each example's
//! `*.test.toml` cases run as `tollgate test --module <example>.wasm
//! examples/<example>` runs them, every route rule reached, and the
//! modules reach nothing outside the sandbox.

// Tests: a failed expectation is a panic, and fixtures are indexed directly.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::sync::Arc;

use tollgate_host::{PolicyModule, SandboxLimits};
use tollgate_policy_test::{Report, RunOptions, TestFile, discover, run};
use tollgate_tests::{BUSINESS_HOURS_MODULE, CLIENT_ALLOWLIST_MODULE, workspace_root};

/// Run every test file under `examples/<example>` with `module`.
fn run_example(module: &[u8], example: &str) -> Report {
    let module: Arc<PolicyModule> =
        PolicyModule::from_bytes(module, SandboxLimits::default()).expect("the example loads");
    let dir = workspace_root().join("examples").join(example);
    let files: Vec<TestFile> = discover(&[dir])
        .unwrap()
        .iter()
        .map(|path| TestFile::load(path).unwrap())
        .collect();
    let report = run(&module, &files, &RunOptions::default()).unwrap();
    assert_eq!(report.failed, 0, "{}", report.to_text(true));
    assert!(report.warnings.is_empty(), "{:?}", report.warnings);
    for coverage in &report.coverage {
        assert!(
            coverage.not_reached.is_empty(),
            "{example}: no case reaches {:?}",
            coverage.not_reached
        );
    }
    report
}

/// The rules each case's decision named, in order.
fn rules(report: &Report) -> Vec<Option<&str>> {
    report.cases.iter().map(|c| c.got.rule.as_deref()).collect()
}

#[test]
fn business_hours_passes_its_test_file() {
    let report = run_example(BUSINESS_HOURS_MODULE, "business-hours");
    assert_eq!(report.passed, 9);
    // The module's own refusals name its rule; the rest are the route rules'.
    let own = rules(&report)
        .iter()
        .filter(|r| **r == Some("business-hours"))
        .count();
    assert_eq!(own, 2);
    let closed = report
        .cases
        .iter()
        .find(|c| c.name == "no writes on a Saturday")
        .unwrap();
    assert_eq!(
        closed.got.detail.as_deref(),
        Some(
            "writes are allowed from 08:00 to 18:00 UTC on mon, tue, wed, thu, fri; it is sat 10:00 UTC"
        )
    );
}

#[test]
fn client_allowlist_passes_its_test_file() {
    let report = run_example(CLIENT_ALLOWLIST_MODULE, "client-allowlist");
    assert_eq!(report.passed, 10);
    let refused = report
        .cases
        .iter()
        .find(|c| c.name == "refunds are for the ops console only")
        .unwrap();
    assert_eq!(
        refused.got.detail.as_deref(),
        Some("client \"web-shop\" is not on the allow-list for /orders/refunds")
    );
}

#[test]
fn the_examples_reach_nothing_outside_the_sandbox() {
    for module in [BUSINESS_HOURS_MODULE, CLIENT_ALLOWLIST_MODULE] {
        // As for the default module: std's stdio and environment plumbing
        // (which the host defines as traps), and nothing else.
        tollgate_tests::assert_sandboxed_verifier(module);
    }
}

#[test]
fn the_examples_refuse_a_policy_without_their_settings() {
    // business-hours needs [module]; client-allowlist takes none.
    let policy = "[[issuer]]\nissuer = \"https://issuer.example\"\nalgorithms = [\"ES256\"]\njwks_file = \"jwks.json\"\nany_audience = true\n";
    let with_module = format!("{policy}[module]\nopen_hour = 8\n");
    for (module, text, expected) in [
        (
            BUSINESS_HOURS_MODULE,
            policy.to_string(),
            "`module`: missing; this module needs its business hours",
        ),
        (
            BUSINESS_HOURS_MODULE,
            with_module.clone(),
            "`module.close_hour`: missing;",
        ),
        (
            CLIENT_ALLOWLIST_MODULE,
            with_module,
            "`module`: this module takes no settings",
        ),
    ] {
        let module = PolicyModule::from_bytes(module, SandboxLimits::default()).unwrap();
        let error = tollgate_host::Authorizer::with_keys(module, &text, "test policy", |_| {
            tollgate_keys::KeySet::default()
        })
        .unwrap_err()
        .to_string();
        assert!(error.contains(expected), "{error}");
    }
}
