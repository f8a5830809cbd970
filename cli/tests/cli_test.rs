//! `tollgate test` end to end: the binary runs the policy test files of
//! `policy-test/tests/data/` on the embedded module; exit 0 when every case
//! passes, 1 when one fails, 2 for a usage, test file or policy error; text
//! and JSON reports, coverage.

// Tests: a failed expectation is a panic, and fixtures are indexed directly.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use common::{Scratch, output_within};
use serde_json::Value;

/// The policy test runner's own test data.
fn data(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../policy-test/tests/data")
        .join(path)
}

/// Run `tollgate test` with `args` in `dir`, killed after 120 s.
fn test_in(dir: &Path, args: &[&str]) -> Output {
    output_within(
        Command::new(env!("CARGO_BIN_EXE_tollgate"))
            .arg("test")
            .args(args)
            .current_dir(dir)
            .env_remove("TOLLGATE_LOG"),
        b"",
        Duration::from_secs(120),
    )
}

fn test(args: &[&str]) -> Output {
    test_in(Path::new(env!("CARGO_MANIFEST_DIR")), args)
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn passing_cases_exit_0_with_a_line_each() {
    let out = test(&[
        path(&data("orders")),
        path(&data("issuers")),
        path(&data("routes")),
    ]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}{}", text(&out.stderr));
    assert_eq!(
        stdout.lines().filter(|l| l.starts_with("ok   ")).count(),
        30,
        "{stdout}"
    );
    assert!(!stdout.contains("FAIL"), "{stdout}");
    assert!(
        stdout.contains(&format!(
            "ok   {}: an expired token\n",
            data("orders/orders.test.toml").display()
        )),
        "{stdout}"
    );
    assert!(stdout.ends_with("\n30 passed, 0 failed\n"), "{stdout}");
    assert!(!stdout.contains("coverage of"), "{stdout}");
}

#[test]
fn the_current_folder_is_searched_by_default() {
    let out = test_in(&data("orders"), &[]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}{}", text(&out.stderr));
    assert!(
        stdout.starts_with("ok   ./orders.test.toml: a valid token is allowed\n"),
        "{stdout}"
    );
    assert!(stdout.ends_with("\n15 passed, 0 failed\n"), "{stdout}");
}

#[test]
fn a_failing_case_exits_1_and_says_what_differs() {
    let out = test(&[path(&data("failing"))]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}{}", text(&out.stderr));
    let file = data("failing/failing.test.toml").display().to_string();
    assert!(
        stdout.contains(&format!(
            "FAIL {file}: expects allow but the audience is wrong\n     expected allow, got deny wrong-audience: no `aud` value is among the configured audiences\n"
        )),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!(
            "FAIL {file}: expects another principal and status\n     status: expected 401, got 200\n     principal: expected \"bob\", got \"alice\"\n"
        )),
        "{stdout}"
    );
    assert!(stdout.ends_with("\n1 passed, 2 failed\n"), "{stdout}");
}

#[test]
fn json_is_the_whole_report() {
    let out = test(&[
        "--format",
        "json",
        path(&data("failing")),
        path(&data("routes")),
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let report: Value = serde_json::from_slice(&out.stdout).expect("stdout is one JSON document");
    assert_eq!(report["passed"], 9);
    assert_eq!(report["failed"], 2);
    assert_eq!(report["cases"].as_array().unwrap().len(), 11);
    let failed = &report["cases"][1];
    assert_eq!(failed["name"], "expects allow but the audience is wrong");
    assert_eq!(failed["passed"], false);
    assert_eq!(failed["got"]["decision"], "deny");
    assert_eq!(failed["got"]["reason"], "wrong-audience");
    assert_eq!(failed["got"]["status"], 401);
    // Coverage is always in the JSON: one entry per policy document.
    assert_eq!(report["coverage"].as_array().unwrap().len(), 2);
    assert_eq!(
        report["coverage"][1]["not_reached"],
        serde_json::json!(["admin"])
    );
    assert_eq!(report["warnings"], serde_json::json!([]));
}

#[test]
fn coverage_lists_each_rule_and_the_rules_not_reached() {
    let out = test(&["--coverage", path(&data("routes"))]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}{}", text(&out.stderr));
    let table = format!(
        "\n8 passed, 0 failed\n\ncoverage of {}:\n  health        1\n  route[1]      1\n  cancel        2\n  tenant        2\n  admin         0\n  (no rule)     2\n  not reached: admin\n",
        data("routes/policy.toml").display()
    );
    assert!(stdout.ends_with(&table), "{stdout}");
}

#[test]
fn config_overrides_each_files_policy() {
    // The orders cases against the routes policy: no rule matches `/`.
    let out = test(&[
        "--config",
        path(&data("routes/policy.toml")),
        path(&data("orders")),
    ]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}{}", text(&out.stderr));
    assert!(
        stdout.contains(
            "     expected allow, got deny forbidden: no route rule matches \"GET\" \"/\""
        ),
        "{stdout}"
    );
}

#[test]
fn usage_test_file_and_policy_errors_exit_2() {
    let scratch = Scratch::new("cli-test-errors");
    let out = test(&[path(&scratch.path("missing"))]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).starts_with("tollgate: cannot read "),
        "{}",
        text(&out.stderr)
    );
    assert!(out.stdout.is_empty());

    let out = test(&[path(&scratch.0)]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("no test files under"),
        "{}",
        text(&out.stderr)
    );

    let bad = scratch.path("bad.test.toml");
    std::fs::write(
        &bad,
        "now = 1\n[[case]]\nexpect = { decision = \"allowed\" }\n",
    )
    .unwrap();
    let out = test(&[path(&bad)]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        text(&out.stderr),
        format!(
            "tollgate: invalid test file {}: `case[0].expect.decision`: unknown decision `allowed`; write \"allow\", \"deny\" or \"error\"\n",
            bad.display()
        )
    );

    std::fs::write(
        scratch.path("policy.toml"),
        "[[issuer]]\nissuer = \"https://issuer.example\"\n",
    )
    .unwrap();
    let refused = scratch.path("refused.test.toml");
    std::fs::write(
        &refused,
        "config = \"policy.toml\"\nnow = 1\n[[case]]\nexpect = { decision = \"allow\" }\n",
    )
    .unwrap();
    let out = test(&[path(&refused)]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("`issuer[0].algorithms`"),
        "{}",
        text(&out.stderr)
    );

    let out = test(&["--format", "yaml", path(&data("orders"))]);
    assert_eq!(out.status.code(), Some(2));
    let out = test(&[
        "--module",
        path(&scratch.path("none.wasm")),
        path(&data("orders")),
    ]);
    assert_eq!(out.status.code(), Some(2));
}
