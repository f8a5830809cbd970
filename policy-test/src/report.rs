//! What a run found: each case's result, the totals, rule coverage and the
//! policies' warnings; as text (a test runner's output) or JSON.

use std::fmt::Write as _;

use serde::Serialize;
use tollgate_host::model::Decision;

/// The result of a run.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Report {
    /// How many cases passed.
    pub passed: usize,
    /// How many cases failed.
    pub failed: usize,
    /// Every case, in run order (files in the order given, cases in file order).
    pub cases: Vec<CaseResult>,
    /// Rule coverage, one entry per policy document.
    pub coverage: Vec<Coverage>,
    /// What the policies' manifests warn about.
    pub warnings: Vec<Warning>,
}

/// One case's result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CaseResult {
    /// The test file.
    pub file: String,
    /// The case's name (`case[N]` when it has none).
    pub name: String,
    /// Whether the decision matched every expectation.
    pub passed: bool,
    /// Each way it did not, one message each (empty when it passed).
    pub failures: Vec<String>,
    /// What was decided.
    pub got: Got,
}

/// A decision, as a report shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Got {
    /// `allow`, `deny` or `error`.
    pub decision: String,
    /// 200, 400, 401, 403, 500 or 503 (as a server door answers).
    pub status: u16,
    /// The deny or error reason.
    pub reason: Option<String>,
    /// The rule that decided.
    pub rule: Option<String>,
    /// The principal (an allow, or a 403 that names it).
    pub principal: Option<String>,
    /// The deny's detail or the error's message.
    pub detail: Option<String>,
}

impl From<&Decision> for Got {
    fn from(decision: &Decision) -> Self {
        let status = decision.outcome().http_status();
        match decision {
            Decision::Allow(allow) => Got {
                decision: "allow".into(),
                status,
                reason: None,
                rule: allow.rule.clone(),
                principal: Some(allow.principal.clone()),
                detail: None,
            },
            Decision::Deny(deny) => Got {
                decision: "deny".into(),
                status,
                reason: Some(deny.reason.as_str().into()),
                rule: deny.rule.clone(),
                principal: deny.principal.clone(),
                detail: Some(deny.detail.clone()),
            },
            Decision::Error { reason, message } => Got {
                decision: "error".into(),
                status,
                reason: Some(reason.clone()),
                rule: None,
                principal: None,
                detail: Some(message.clone()),
            },
        }
    }
}

/// Which rules of one policy document the cases reached.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Coverage {
    /// The policy document.
    pub config: String,
    /// Every rule of the manifest in its order, then any rule a decision
    /// named that the manifest does not list, with how many cases reached it.
    pub rules: Vec<RuleCount>,
    /// The manifest's rules no case reached, in manifest order.
    pub not_reached: Vec<String>,
    /// Cases whose decision named no rule (token checks, or a module
    /// without rules).
    pub no_rule: usize,
}

/// One rule and how many cases it decided.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RuleCount {
    /// The rule's label (`route[2]` or its name).
    pub rule: String,
    /// How many cases' decisions named it.
    pub cases: usize,
    /// Whether the manifest lists it.
    pub listed: bool,
}

impl Coverage {
    /// No case yet against a policy whose manifest lists `rules`.
    pub fn new(config: impl Into<String>, rules: &[String]) -> Self {
        Coverage {
            config: config.into(),
            rules: rules
                .iter()
                .map(|rule| RuleCount {
                    rule: rule.clone(),
                    cases: 0,
                    listed: true,
                })
                .collect(),
            not_reached: rules.to_vec(),
            no_rule: 0,
        }
    }

    /// Count one case whose decision named `rule`.
    pub fn record(&mut self, rule: Option<&str>) {
        let Some(rule) = rule else {
            self.no_rule += 1;
            return;
        };
        match self.rules.iter_mut().find(|r| r.rule == rule) {
            Some(count) => count.cases += 1,
            None => self.rules.push(RuleCount {
                rule: rule.to_string(),
                cases: 1,
                listed: false,
            }),
        }
        self.not_reached.retain(|r| r != rule);
    }
}

/// A warning of a policy's manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Warning {
    /// The policy document.
    pub config: String,
    /// What the module warns about.
    pub message: String,
}

impl Report {
    /// Whether every case passed.
    pub fn all_passed(&self) -> bool {
        self.failed == 0
    }

    /// The report as pretty-printed JSON (the fields of [`Report`]).
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
    }

    /// The report as a test runner prints it: the warnings, a line per case
    /// (`ok   file: name`, or `FAIL file: name` and each failure indented),
    /// then `N passed, M failed`; with `coverage`, then each policy's rules
    /// with how many cases reached them, and the rules not reached.
    pub fn to_text(&self, coverage: bool) -> String {
        let mut out = String::new();
        for warning in &self.warnings {
            let _ = writeln!(out, "warning: {}: {}", warning.config, warning.message);
        }
        for case in &self.cases {
            let mark = if case.passed { "ok  " } else { "FAIL" };
            let _ = writeln!(out, "{mark} {}: {}", case.file, case.name);
            for failure in &case.failures {
                let _ = writeln!(out, "     {failure}");
            }
        }
        let _ = writeln!(out, "\n{} passed, {} failed", self.passed, self.failed);
        if coverage {
            for policy in &self.coverage {
                out.push_str(&policy.to_text());
            }
        }
        out
    }
}

impl Coverage {
    /// `coverage of <config>:`, a `rule  count` line per rule (`*` marks a
    /// rule the manifest does not list), the cases no rule decided, and
    /// `not reached: a, b` (or `every rule reached`).
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "\ncoverage of {}:", self.config);
        let width = self
            .rules
            .iter()
            .map(|r| r.rule.chars().count())
            .max()
            .unwrap_or(0)
            .max("(no rule)".len());
        for rule in &self.rules {
            let unlisted = if rule.listed {
                ""
            } else {
                "  * not in the manifest"
            };
            let _ = writeln!(out, "  {:<width$}  {:>4}{unlisted}", rule.rule, rule.cases);
        }
        let _ = writeln!(out, "  {:<width$}  {:>4}", "(no rule)", self.no_rule);
        if self.rules.iter().all(|r| !r.listed) {
            let _ = writeln!(out, "  the policy lists no rules");
        } else if self.not_reached.is_empty() {
            let _ = writeln!(out, "  every rule reached");
        } else {
            let _ = writeln!(out, "  not reached: {}", self.not_reached.join(", "));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(names: &[&str]) -> Vec<String> {
        names.iter().map(|n| n.to_string()).collect()
    }

    #[test]
    fn coverage_counts_cases_per_rule_and_names_the_rules_not_reached() {
        let mut coverage = Coverage::new("policy.toml", &labels(&["public", "route[1]", "admin"]));
        coverage.record(Some("route[1]"));
        coverage.record(Some("route[1]"));
        coverage.record(None);
        coverage.record(Some("extra"));
        let counts: Vec<(&str, usize, bool)> = coverage
            .rules
            .iter()
            .map(|r| (r.rule.as_str(), r.cases, r.listed))
            .collect();
        assert_eq!(
            counts,
            vec![
                ("public", 0, true),
                ("route[1]", 2, true),
                ("admin", 0, true),
                ("extra", 1, false)
            ]
        );
        assert_eq!(coverage.not_reached, labels(&["public", "admin"]));
        assert_eq!(coverage.no_rule, 1);
        assert_eq!(
            coverage.to_text(),
            "\ncoverage of policy.toml:\n  public        0\n  route[1]      2\n  admin         0\n  extra         1  * not in the manifest\n  (no rule)     1\n  not reached: public, admin\n"
        );
        coverage.record(Some("public"));
        coverage.record(Some("admin"));
        assert!(coverage.not_reached.is_empty());
        assert!(coverage.to_text().ends_with("  every rule reached\n"));
        let empty = Coverage::new("p.toml", &[]);
        assert!(
            empty
                .to_text()
                .ends_with("  (no rule)     0\n  the policy lists no rules\n")
        );
    }

    fn case(name: &str, failures: &[&str]) -> CaseResult {
        CaseResult {
            file: "a.test.toml".into(),
            name: name.into(),
            passed: failures.is_empty(),
            failures: labels(failures),
            got: Got {
                decision: "allow".into(),
                status: 200,
                reason: None,
                rule: None,
                principal: Some("alice".into()),
                detail: None,
            },
        }
    }

    fn report() -> Report {
        let mut coverage = Coverage::new("policy.toml", &labels(&["route[0]"]));
        coverage.record(Some("route[0]"));
        Report {
            passed: 1,
            failed: 1,
            cases: vec![
                case("reads", &[]),
                case("writes", &["expected deny, got allow alice"]),
            ],
            coverage: vec![coverage],
            warnings: vec![Warning {
                config: "policy.toml".into(),
                message: "route[3] is shadowed".into(),
            }],
        }
    }

    #[test]
    fn text_is_a_line_per_case_then_the_totals() {
        let report = report();
        assert!(!report.all_passed());
        assert_eq!(
            report.to_text(false),
            "warning: policy.toml: route[3] is shadowed\nok   a.test.toml: reads\nFAIL a.test.toml: writes\n     expected deny, got allow alice\n\n1 passed, 1 failed\n"
        );
        assert!(report.to_text(true).ends_with(
            "1 passed, 1 failed\n\ncoverage of policy.toml:\n  route[0]      1\n  (no rule)     0\n  every rule reached\n"
        ));
    }

    #[test]
    fn json_has_totals_cases_coverage_and_warnings() {
        let json: serde_json::Value = serde_json::from_str(&report().to_json()).unwrap();
        assert_eq!(json["passed"], 1);
        assert_eq!(json["failed"], 1);
        assert_eq!(json["cases"][1]["name"], "writes");
        assert_eq!(json["cases"][1]["passed"], false);
        assert_eq!(
            json["cases"][1]["failures"][0],
            "expected deny, got allow alice"
        );
        assert_eq!(json["cases"][0]["got"]["decision"], "allow");
        assert_eq!(json["cases"][0]["got"]["status"], 200);
        assert_eq!(
            json["coverage"][0]["rules"][0],
            serde_json::json!({"rule": "route[0]", "cases": 1, "listed": true})
        );
        assert_eq!(json["coverage"][0]["not_reached"], serde_json::json!([]));
        assert_eq!(json["warnings"][0]["message"], "route[3] is shadowed");
    }
}
