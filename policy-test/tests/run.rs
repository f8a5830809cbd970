//! The runner end to end: real test files (`tests/data/`) decided by the
//! embedded default module with throwaway keys.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use tollgate_host::{PolicyModule, SandboxLimits};
use tollgate_policy_test::{Report, RunOptions, TestError, TestFile, discover, run};

/// The embedded default module, compiled once for every test here.
fn module() -> &'static Arc<PolicyModule> {
    static MODULE: OnceLock<Arc<PolicyModule>> = OnceLock::new();
    MODULE.get_or_init(|| {
        PolicyModule::from_bytes(
            tollgate_host::module::DEFAULT_MODULE,
            SandboxLimits::default(),
        )
        .expect("the default module loads")
    })
}

fn data(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(path)
}

fn run_paths(paths: &[PathBuf], options: &RunOptions) -> Result<Report, TestError> {
    let files = discover(paths)?
        .iter()
        .map(|p| TestFile::load(p))
        .collect::<Result<Vec<_>, _>>()?;
    run(module(), &files, options)
}

/// (case name, decision, reason) of every case, from what was decided.
fn decided(report: &Report) -> Vec<(String, String, Option<String>)> {
    report
        .cases
        .iter()
        .map(|c| (c.name.clone(), c.got.decision.clone(), c.got.reason.clone()))
        .collect()
}

/// A scratch folder removed on drop.
struct Scratch(PathBuf);

impl Scratch {
    fn new(label: &str) -> Self {
        let dir = std::env::temp_dir().join(format!(
            "tollgate-policy-test-{label}-{}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }

    fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.0.join(name);
        std::fs::write(&path, text).unwrap();
        path
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn token_checks_decide_as_the_cases_expect() {
    // The key sources the policy names do not exist: only throwaway keys.
    assert!(!data("orders/jwks.json").exists());
    let report = run_paths(&[data("orders")], &RunOptions::default()).unwrap();
    assert!(report.all_passed(), "{}", report.to_text(false));
    assert_eq!((report.passed, report.failed), (15, 0));
    // What was decided, read apart from the comparison: a runner that
    // minted or compared wrongly cannot pass this.
    let expected = [
        ("a valid token is allowed", "allow", None),
        ("PS256 signs with the issuer's RSA key too", "allow", None),
        ("a case may decide at its own time", "allow", None),
        ("an expired token", "deny", Some("expired")),
        ("a token for another API", "deny", Some("wrong-audience")),
        ("a token without exp", "deny", Some("missing-claim")),
        ("a token not valid yet", "deny", Some("not-yet-valid")),
        ("garbage instead of a token", "deny", Some("malformed")),
        ("no credential at all", "deny", Some("missing-token")),
        (
            "Basic credentials are no bearer token",
            "deny",
            Some("missing-token"),
        ),
        (
            "a kid the issuer does not have",
            "deny",
            Some("unknown-key"),
        ),
        ("a token naming no key", "deny", Some("unknown-key")),
        (
            "an algorithm the issuer does not use",
            "deny",
            Some("disallowed-algorithm"),
        ),
        ("alg none", "deny", Some("disallowed-algorithm")),
        (
            "another key claiming the issuer",
            "deny",
            Some("bad-signature"),
        ),
    ];
    let expected: Vec<(String, String, Option<String>)> = expected
        .iter()
        .map(|(n, d, r)| (n.to_string(), d.to_string(), r.map(str::to_string)))
        .collect();
    assert_eq!(decided(&report), expected);
    let first = &report.cases[0];
    assert_eq!(first.got.principal.as_deref(), Some("alice"));
    assert_eq!(first.got.status, 200);
    assert_eq!(report.cases[1].got.principal.as_deref(), Some("bob"));
}

#[test]
fn several_issuers_each_get_their_own_throwaway_keys() {
    let report = run_paths(&[data("issuers")], &RunOptions::default()).unwrap();
    assert!(report.all_passed(), "{}", report.to_text(false));
    let got: Vec<(String, Option<String>, u16)> = report
        .cases
        .iter()
        .map(|c| (c.got.decision.clone(), c.got.reason.clone(), c.got.status))
        .collect();
    assert_eq!(
        got,
        vec![
            ("allow".into(), None, 200),
            ("deny".into(), Some("wrong-type".into()), 401),
            ("deny".into(), Some("insufficient-scope".into()), 403),
            ("allow".into(), None, 200),
            ("deny".into(), Some("wrong-issuer".into()), 401),
            ("deny".into(), Some("missing-claim".into()), 401),
            ("deny".into(), Some("disallowed-algorithm".into()), 401),
        ]
    );
    assert_eq!(report.cases[3].got.principal.as_deref(), Some("nightly"));
}

#[test]
fn a_failing_case_says_what_differs() {
    let report = run_paths(&[data("failing")], &RunOptions::default()).unwrap();
    assert!(!report.all_passed());
    assert_eq!((report.passed, report.failed), (1, 2));
    let failures: Vec<(&str, bool, Vec<String>)> = report
        .cases
        .iter()
        .map(|c| (c.name.as_str(), c.passed, c.failures.clone()))
        .collect();
    assert_eq!(
        failures,
        vec![
            ("passes", true, vec![]),
            (
                "expects allow but the audience is wrong",
                false,
                vec!["expected allow, got deny wrong-audience: no `aud` value is among the configured audiences".to_string()]
            ),
            (
                "expects another principal and status",
                false,
                vec![
                    "status: expected 401, got 200".to_string(),
                    "principal: expected \"bob\", got \"alice\"".to_string(),
                    "context.email: expected \"alice@example.com\", got none".to_string(),
                    "got allow alice".to_string(),
                ]
            ),
        ]
    );
    let file = data("failing/failing.test.toml").display().to_string();
    let text = report.to_text(false);
    assert!(text.contains(&format!("ok   {file}: passes\n")), "{text}");
    assert!(
        text.contains(&format!(
            "FAIL {file}: expects allow but the audience is wrong\n     expected allow, got deny wrong-audience: "
        )),
        "{text}"
    );
    assert!(text.ends_with("\n1 passed, 2 failed\n"), "{text}");
    let json: serde_json::Value = serde_json::from_str(&report.to_json()).unwrap();
    assert_eq!(json["failed"], 2);
    assert_eq!(json["cases"][1]["got"]["reason"], "wrong-audience");
}

#[test]
fn files_sharing_a_policy_configure_it_once_and_coverage_counts_them() {
    let report = run_paths(&[data("orders"), data("failing")], &RunOptions::default()).unwrap();
    assert_eq!(report.cases.len(), 18);
    // One policy document (two spellings of its path), one coverage entry.
    assert_eq!(report.coverage.len(), 1);
    let coverage = &report.coverage[0];
    // Issuer-only policies have no rules: every case is counted as no rule.
    assert!(coverage.rules.is_empty());
    assert!(coverage.not_reached.is_empty());
    assert_eq!(coverage.no_rule, 18);
}

#[test]
fn the_config_option_replaces_each_files_config() {
    let scratch = Scratch::new("override");
    let file = scratch.write(
        "a.test.toml",
        "config = \"missing.toml\"\nnow = 1767225600\n[token]\nclaims = { sub = \"alice\", aud = \"orders-api\" }\n[[case]]\nexpect = { decision = \"allow\" }\n",
    );
    let err = run_paths(std::slice::from_ref(&file), &RunOptions::default()).unwrap_err();
    assert!(matches!(err, TestError::ReadConfig { .. }), "{err}");
    assert!(err.to_string().contains("missing.toml"), "{err}");
    let options = RunOptions {
        config: Some(data("orders/policy.toml")),
    };
    let report = run_paths(&[file], &options).unwrap();
    assert!(report.all_passed(), "{}", report.to_text(false));
}

#[test]
fn setup_problems_stop_the_run_with_what_to_do() {
    let scratch = Scratch::new("errors");
    let no_config = scratch.write(
        "a.test.toml",
        "now = 1\n[[case]]\nexpect = { decision = \"allow\" }\n",
    );
    let err = run_paths(&[no_config], &RunOptions::default()).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "test file {} names no policy document; write `config = \"policy.toml\"` (relative to the test file) at its top, or pass --config",
            scratch.0.join("a.test.toml").display()
        )
    );

    scratch.write(
        "refused.toml",
        "[[issuer]]\nissuer = \"https://issuer.example\"\nalgorithms = [\"none\"]\n",
    );
    let refused = scratch.write(
        "b.test.toml",
        "config = \"refused.toml\"\nnow = 1\n[[case]]\nexpect = { decision = \"allow\" }\n",
    );
    let err = run_paths(&[refused], &RunOptions::default()).unwrap_err();
    let TestError::Policy { .. } = &err else {
        panic!("not a policy error: {err}")
    };
    assert!(err.to_string().contains("`issuer[0].algorithms"), "{err}");

    let several = scratch.write(
        "c.test.toml",
        &format!(
            "config = {:?}\nnow = 1\n[[case]]\nexpect = {{ decision = \"allow\" }}\n",
            data("issuers/policy.toml").display().to_string()
        ),
    );
    let err = run_paths(&[several], &RunOptions::default()).unwrap_err();
    let TestError::Invalid { field, message, .. } = &err else {
        panic!("not an invalid file: {err}")
    };
    assert_eq!(field, "case[0].token.issuer");
    assert_eq!(
        message,
        "the policy trusts 2 issuers (https://login.example.com/, urn:example:batch); name the one that signs, e.g. issuer = \"https://login.example.com/\" in [token] or in the case's token"
    );

    let unconfigured = scratch.write(
        "d.test.toml",
        &format!(
            "config = {:?}\nnow = 1\n[[case]]\ntoken = {{ issuer = \"urn:nobody\" }}\nexpect = {{ decision = \"deny\" }}\n",
            data("orders/policy.toml").display().to_string()
        ),
    );
    let err = run_paths(&[unconfigured], &RunOptions::default()).unwrap_err();
    let TestError::Invalid { field, .. } = &err else {
        panic!("not an invalid file: {err}")
    };
    assert_eq!(field, "case[0].token.alg");

    let bad = scratch.write(
        "e.test.toml",
        "now = 1\n[[case]]\nexpect = { decision = \"allow\", reson = \"x\" }\n",
    );
    let err = run_paths(&[bad], &RunOptions::default()).unwrap_err();
    assert!(
        err.to_string().ends_with("`case[0].expect.reson`: unknown field `reson`; expected one of decision, reason, status, principal, rule, context, grants, request_dependent, required_scopes"),
        "{err}"
    );
}

/// 1,000 cases (RS256, a token minted and decided each) finish in
/// seconds even in a debug build; the release goal (under 2 s) is the
/// benchmark's to measure.
#[test]
fn a_thousand_cases_all_run_and_pass() {
    let scratch = Scratch::new("thousand");
    let mut text = format!(
        "config = {:?}\nnow = 1767225600\n[token]\nclaims = {{ sub = \"alice\", aud = \"orders-api\" }}\n",
        data("orders/policy.toml").display().to_string()
    );
    for i in 0..1000 {
        let (aud, decision) = if i % 2 == 0 {
            ("orders-api", "allow")
        } else {
            ("other", "deny")
        };
        text.push_str(&format!(
            "[[case]]\nname = \"case {i}\"\npath = \"/orders/{i}\"\ntoken = {{ claims = {{ aud = \"{aud}\", n = {i} }} }}\nexpect = {{ decision = \"{decision}\" }}\n"
        ));
    }
    let file = scratch.write("many.test.toml", &text);
    let files = vec![TestFile::load(&file).unwrap()];
    // How fast: `cargo bench -p tollgate --bench test_command` (no timed tests).
    let report = run(module(), &files, &RunOptions::default()).unwrap();
    assert_eq!(
        (report.passed, report.failed),
        (1000, 0),
        "{}",
        report.to_text(false)
    );
}

#[test]
fn route_rules_decide_and_coverage_names_the_rules_not_reached() {
    let report = run_paths(&[data("routes")], &RunOptions::default()).unwrap();
    assert!(report.all_passed(), "{}", report.to_text(false));
    let rules: Vec<Option<&str>> = report.cases.iter().map(|c| c.got.rule.as_deref()).collect();
    assert_eq!(
        rules,
        vec![
            Some("health"),
            None,
            Some("route[1]"),
            Some("cancel"),
            Some("cancel"),
            Some("tenant"),
            Some("tenant"),
            None
        ]
    );
    assert_eq!(report.coverage.len(), 1);
    let coverage = &report.coverage[0];
    let counts: Vec<(&str, usize, bool)> = coverage
        .rules
        .iter()
        .map(|r| (r.rule.as_str(), r.cases, r.listed))
        .collect();
    assert_eq!(
        counts,
        vec![
            ("health", 1, true),
            ("route[1]", 1, true),
            ("cancel", 2, true),
            ("tenant", 2, true),
            ("admin", 0, true)
        ]
    );
    assert_eq!(coverage.not_reached, vec!["admin".to_string()]);
    assert_eq!(coverage.no_rule, 2);
    let text = report.to_text(true);
    assert!(
        text.ends_with("  admin         0\n  (no rule)     2\n  not reached: admin\n"),
        "{text}"
    );
    assert!(!report.to_text(false).contains("coverage of"));
}

#[test]
fn a_wrong_rule_or_grant_fails_the_case() {
    let mut file = TestFile::load(&data("routes/routes.test.toml")).unwrap();
    let case = &mut file.cases[2];
    case.expect.rule = Some("cancel".into());
    case.expect.grants = Some(vec![tollgate_host::model::Grant::allow("*", "/*")]);
    let report = run(module(), &[file], &RunOptions::default()).unwrap();
    assert_eq!(report.failed, 1);
    assert_eq!(
        report.cases[2].failures,
        vec![
            "rule: expected \"cancel\", got \"route[1]\"",
            "grants: expected [allow * /*], got [allow GET /health, allow HEAD /health, allow GET /orders/{id}, allow HEAD /orders/{id}, allow GET /tenants/acme/*, allow HEAD /tenants/acme/*]",
            "got allow alice (route[1])",
        ]
    );
}

#[test]
fn manifest_warnings_are_reported() {
    let scratch = Scratch::new("warnings");
    scratch.write(
        "policy.toml",
        r#"
[[issuer]]
issuer = "https://issuer.example"
jwks_file = "jwks.json"
algorithms = ["ES256"]
audiences = ["orders-api"]

[[route]]
methods = ["GET"]
path = "/orders/{id}"
scopes = ["orders.read"]

[[route]]
methods = ["GET"]
path = "/orders/{id}/items"
scopes = ["items.read"]
"#,
    );
    let file = scratch.write(
        "w.test.toml",
        "config = \"policy.toml\"\nnow = 1767225600\n[[case]]\ntoken = { claims = { aud = \"orders-api\", sub = \"a\", scope = \"orders.read\" } }\npath = \"/orders/1\"\nexpect = { decision = \"allow\", rule = \"route[0]\" }\n",
    );
    let report = run_paths(&[file], &RunOptions::default()).unwrap();
    assert!(report.all_passed(), "{}", report.to_text(false));
    assert_eq!(report.warnings.len(), 1, "{:?}", report.warnings);
    assert!(
        report.warnings[0]
            .message
            .starts_with("route[0] (`GET,HEAD /orders/{id}`) has a one-segment wildcard"),
        "{:?}",
        report.warnings
    );
    let text = report.to_text(false);
    assert!(
        text.starts_with(&format!(
            "warning: {}: route[0]",
            scratch.0.join("policy.toml").display()
        )),
        "{text}"
    );
    assert_eq!(report.coverage[0].not_reached, vec!["route[1]".to_string()]);
}

#[test]
fn paths_are_canonical_before_the_rules_see_them() {
    let report = run_paths(&[data("paths")], &RunOptions::default()).unwrap();
    assert!(report.all_passed(), "{}", report.to_text(false));
    let got: Vec<(u16, &str)> = report
        .cases
        .iter()
        .map(|c| (c.got.status, c.got.reason.as_deref().unwrap_or("")))
        .collect();
    assert_eq!(
        got,
        vec![
            // paths.test.toml: default options.
            (200, ""),
            (400, "invalid-path"),
            (403, "forbidden"),
            (200, ""),
            (400, "invalid-path"),
            (400, "invalid-path"),
            (400, "invalid-path"),
            (400, "invalid-path"),
            (200, ""),
            (400, "invalid-path"),
            (200, ""),
            // resolve.test.toml: dot_segments = "resolve".
            (403, "forbidden"),
            (200, ""),
            (400, "invalid-path"),
            (400, "invalid-path"),
            (200, ""),
        ]
    );
}
