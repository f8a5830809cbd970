//! A case's `expect` table: what the decision must be, read from TOML and
//! compared with the decision field by field.

use serde_json::{Map, Value};
use tollgate_host::model::{Decision, DenyReason, Effect, Grant};

use crate::error::FieldError;
use crate::fields::{Fields, child, type_error};

/// The fields an `expect` table may hold.
const EXPECT_FIELDS: [&str; 9] = [
    "decision",
    "reason",
    "status",
    "principal",
    "rule",
    "context",
    "grants",
    "request_dependent",
    "required_scopes",
];

/// Every deny reason, by its kebab-case name (`wit/types.wit`).
pub(crate) const DENY_REASONS: [DenyReason; 23] = DenyReason::ALL;

/// The HTTP statuses a decision can have (`Outcome::http_status`).
const STATUSES: [u16; 6] = [200, 400, 401, 403, 500, 503];

/// Allow, deny or error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DecisionKind {
    /// `decision = "allow"`.
    Allow,
    /// `decision = "deny"`.
    Deny,
    /// `decision = "error"`: the module failed.
    Error,
}

impl DecisionKind {
    /// `allow`, `deny` or `error`.
    pub fn as_str(self) -> &'static str {
        match self {
            DecisionKind::Allow => "allow",
            DecisionKind::Deny => "deny",
            DecisionKind::Error => "error",
        }
    }

    /// `an allow`, `a deny`, `an error`.
    fn with_article(self) -> &'static str {
        match self {
            DecisionKind::Allow => "an allow",
            DecisionKind::Deny => "a deny",
            DecisionKind::Error => "an error",
        }
    }

    fn of(decision: &Decision) -> DecisionKind {
        match decision {
            Decision::Allow(_) => DecisionKind::Allow,
            Decision::Deny(_) => DecisionKind::Deny,
            Decision::Error { .. } => DecisionKind::Error,
        }
    }
}

/// What a case expects. `None` fields are not checked.
#[derive(Debug, Clone, PartialEq)]
pub struct Expect {
    /// Allow, deny or error.
    pub decision: DecisionKind,
    /// The deny reason (`forbidden`) or the error's reason (`internal-error`).
    pub reason: Option<String>,
    /// The HTTP status a server door answers (200, 400, 401, 403, 500, 503).
    pub status: Option<u16>,
    /// The principal of an allow, or of a deny that names one (a 403).
    pub principal: Option<String>,
    /// The rule that decided (`route[2]` or its name).
    pub rule: Option<String>,
    /// The allow's context, exactly: name -> the JSON value the module wrote.
    pub context: Option<Map<String, Value>>,
    /// The grants, exactly and in order: an allow's, or a 403's (every
    /// route the refused token may still call).
    pub grants: Option<Vec<Grant>>,
    /// Whether the allow depended on more than the token.
    pub request_dependent: Option<bool>,
    /// The scopes a deny names as needed, exactly and in order.
    pub required_scopes: Option<Vec<String>>,
}

impl Expect {
    /// Read an `expect` table at `path` (`case[0].expect`).
    pub(crate) fn parse(table: &toml::Table, path: &str) -> Result<Expect, FieldError> {
        let fields = Fields::new(table, path, &EXPECT_FIELDS)?;
        let decision = match fields
            .string(
                "decision",
                "write decision = \"allow\", \"deny\" or \"error\"",
            )?
            .as_deref()
        {
            Some("allow") => DecisionKind::Allow,
            Some("deny") => DecisionKind::Deny,
            Some("error") => DecisionKind::Error,
            Some(other) => {
                return Err(FieldError::new(
                    fields.field("decision"),
                    format!("unknown decision `{other}`; write \"allow\", \"deny\" or \"error\""),
                ));
            }
            None => {
                return Err(FieldError::new(
                    fields.field("decision"),
                    "missing; write decision = \"allow\", \"deny\" or \"error\"",
                ));
            }
        };
        // A field the decision cannot carry can never match: refuse it here.
        let only_for = |key: &str, kinds: &[DecisionKind]| -> Result<(), FieldError> {
            if fields.value(key).is_some() && !kinds.contains(&decision) {
                let names: Vec<&str> = kinds.iter().map(|k| k.as_str()).collect();
                return Err(FieldError::new(
                    fields.field(key),
                    format!(
                        "{} has no `{key}`; remove it, or expect {}",
                        decision.with_article(),
                        names.join(" or ")
                    ),
                ));
            }
            Ok(())
        };
        only_for("reason", &[DecisionKind::Deny, DecisionKind::Error])?;
        only_for("principal", &[DecisionKind::Allow, DecisionKind::Deny])?;
        only_for("rule", &[DecisionKind::Allow, DecisionKind::Deny])?;
        only_for("context", &[DecisionKind::Allow])?;
        only_for("grants", &[DecisionKind::Allow, DecisionKind::Deny])?;
        only_for("request_dependent", &[DecisionKind::Allow])?;
        only_for("required_scopes", &[DecisionKind::Deny])?;

        let reason = fields.string("reason", "write e.g. reason = \"forbidden\"")?;
        if let (DecisionKind::Deny, Some(name)) = (decision, &reason)
            && !DENY_REASONS.iter().any(|r| r.as_str() == name)
        {
            let known: Vec<&str> = DENY_REASONS.iter().map(|r| r.as_str()).collect();
            return Err(FieldError::new(
                fields.field("reason"),
                format!(
                    "unknown deny reason `{name}`; write one of {}",
                    known.join(", ")
                ),
            ));
        }
        let status = match fields.integer("status", "write e.g. status = 403")? {
            None => None,
            Some(code) => Some(
                u16::try_from(code)
                    .ok()
                    .filter(|code| STATUSES.contains(code))
                    .ok_or_else(|| {
                        FieldError::new(
                            fields.field("status"),
                            format!(
                                "{code} is not a status a decision has; write 200, 400, 401, 403, 500 or 503"
                            ),
                        )
                    })?,
            ),
        };
        let grants = match fields.array(
            "grants",
            "write grants = [{ method = \"GET\", path = \"/orders/*\" }]",
        )? {
            None => None,
            Some(items) => Some(
                items
                    .iter()
                    .enumerate()
                    .map(|(index, item)| {
                        parse_grant(item, &format!("{}[{index}]", fields.field("grants")))
                    })
                    .collect::<Result<Vec<_>, _>>()?,
            ),
        };
        Ok(Expect {
            decision,
            reason,
            status,
            principal: fields.string("principal", "write e.g. principal = \"alice\"")?,
            rule: fields.string("rule", "write e.g. rule = \"route[0]\" or the rule's name")?,
            context: fields.json_object(
                "context",
                "write e.g. context = { email = \"a@example.com\" }",
            )?,
            grants,
            request_dependent: fields.boolean(
                "request_dependent",
                "write request_dependent = true or false",
            )?,
            required_scopes: fields.string_array(
                "required_scopes",
                "write e.g. required_scopes = [\"orders.write\"]",
            )?,
        })
    }

    /// Every way `decision` differs from this expectation, one message each;
    /// empty when it matches. When the kind or reason differs, that is the
    /// only message (`expected allow, got deny forbidden (route[2]): …`);
    /// otherwise the last message shows what was decided.
    pub fn check(&self, decision: &Decision) -> Vec<String> {
        let got_reason = reason_of(decision);
        let reason_differs =
            matches!(&self.reason, Some(want) if Some(want.as_str()) != got_reason);
        if DecisionKind::of(decision) != self.decision || reason_differs {
            return vec![format!(
                "expected {}, got {}",
                self.describe(),
                describe(decision)
            )];
        }
        let mut failures = Vec::new();
        let status = decision.outcome().http_status();
        if let Some(want) = self.status
            && want != status
        {
            failures.push(format!("status: expected {want}, got {status}"));
        }
        let (principal, rule) = match decision {
            Decision::Allow(allow) => (Some(allow.principal.as_str()), allow.rule.as_deref()),
            Decision::Deny(deny) => (deny.principal.as_deref(), deny.rule.as_deref()),
            Decision::Error { .. } => (None, None),
        };
        compare_text(
            "principal",
            self.principal.as_deref(),
            principal,
            &mut failures,
        );
        compare_text("rule", self.rule.as_deref(), rule, &mut failures);
        if let Decision::Allow(allow) = decision {
            if let Some(want) = &self.context {
                compare_context(want, &allow.context, &mut failures);
            }
            if let Some(want) = &self.grants
                && !same_grants(want, &allow.grants)
            {
                failures.push(format!(
                    "grants: expected {}, got {}",
                    grant_list(want),
                    grant_list(&allow.grants)
                ));
            }
            if let Some(want) = self.request_dependent
                && want != allow.request_dependent
            {
                failures.push(format!(
                    "request_dependent: expected {want}, got {}",
                    allow.request_dependent
                ));
            }
        }
        if let (Decision::Deny(deny), Some(want)) = (decision, &self.grants)
            && !same_grants(want, &deny.grants)
        {
            failures.push(format!(
                "grants: expected {}, got {}",
                grant_list(want),
                grant_list(&deny.grants)
            ));
        }
        if let (Decision::Deny(deny), Some(want)) = (decision, &self.required_scopes)
            && want != &deny.required_scopes
        {
            failures.push(format!(
                "required_scopes: expected {want:?}, got {:?}",
                deny.required_scopes
            ));
        }
        if !failures.is_empty() {
            failures.push(format!("got {}", describe(decision)));
        }
        failures
    }

    /// `allow`, `deny`, `deny forbidden`, `error internal-error`.
    fn describe(&self) -> String {
        match &self.reason {
            Some(reason) => format!("{} {reason}", self.decision.as_str()),
            None => self.decision.as_str().to_string(),
        }
    }
}

/// The reason of a deny or an error.
fn reason_of(decision: &Decision) -> Option<&str> {
    match decision {
        Decision::Allow(_) => None,
        Decision::Deny(deny) => Some(deny.reason.as_str()),
        Decision::Error { reason, .. } => Some(reason),
    }
}

/// One line for a decision: `allow alice (route[1])`,
/// `deny forbidden (route[2]): <detail>`, `error internal-error: <message>`.
pub(crate) fn describe(decision: &Decision) -> String {
    let rule = |rule: &Option<String>| match rule {
        Some(rule) => format!(" ({rule})"),
        None => String::new(),
    };
    match decision {
        // A public route's allow has no principal.
        Decision::Allow(allow) if allow.principal.is_empty() => {
            format!("allow{}", rule(&allow.rule))
        }
        Decision::Allow(allow) => format!("allow {}{}", allow.principal, rule(&allow.rule)),
        Decision::Deny(deny) => format!(
            "deny {}{}: {}",
            deny.reason.as_str(),
            rule(&deny.rule),
            deny.detail
        ),
        Decision::Error { reason, message } => format!("error {reason}: {message}"),
    }
}

fn compare_text(name: &str, want: Option<&str>, got: Option<&str>, failures: &mut Vec<String>) {
    if let Some(want) = want
        && Some(want) != got
    {
        match got {
            Some(got) => failures.push(format!("{name}: expected {want:?}, got {got:?}")),
            None => failures.push(format!("{name}: expected {want:?}, got none")),
        }
    }
}

/// The context must hold exactly the expected names, each with an equal
/// JSON value; a value that is not JSON is compared as a string.
fn compare_context(
    want: &Map<String, Value>,
    got: &[(String, String)],
    failures: &mut Vec<String>,
) {
    let got: Map<String, Value> = got
        .iter()
        .map(|(name, text)| {
            let value = serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.clone()));
            (name.clone(), value)
        })
        .collect();
    for (name, value) in want {
        let field = child("context", name);
        match got.get(name) {
            None => failures.push(format!("{field}: expected {value}, got none")),
            Some(other) if other != value => {
                failures.push(format!("{field}: expected {value}, got {other}"));
            }
            Some(_) => {}
        }
    }
    for (name, value) in &got {
        if !want.contains_key(name) {
            failures.push(format!(
                "{}: not expected, got {value}",
                child("context", name)
            ));
        }
    }
}

fn same_grants(want: &[Grant], got: &[Grant]) -> bool {
    want.len() == got.len()
        && want.iter().zip(got).all(|(w, g)| {
            w.effect == g.effect && w.method.eq_ignore_ascii_case(&g.method) && w.path == g.path
        })
}

/// `[allow GET /orders/*, deny GET /orders/admin]`.
fn grant_list(grants: &[Grant]) -> String {
    let items: Vec<String> = grants
        .iter()
        .map(|g| {
            let effect = match g.effect {
                Effect::Allow => "allow",
                Effect::Deny => "deny",
            };
            format!("{effect} {} {}", g.method, g.path)
        })
        .collect();
    format!("[{}]", items.join(", "))
}

/// `{ effect = "allow", method = "GET", path = "/orders/*" }` (effect
/// defaults to allow).
fn parse_grant(value: &toml::Value, path: &str) -> Result<Grant, FieldError> {
    let example = "write { effect = \"allow\", method = \"GET\", path = \"/orders/*\" }";
    let table = value
        .as_table()
        .ok_or_else(|| type_error(path, "a table", value, example))?;
    let fields = Fields::new(table, path, &["effect", "method", "path"])?;
    let effect = match fields.string("effect", example)?.as_deref() {
        None | Some("allow") => Effect::Allow,
        Some("deny") => Effect::Deny,
        Some(other) => {
            return Err(FieldError::new(
                fields.field("effect"),
                format!("unknown effect `{other}`; write \"allow\" or \"deny\""),
            ));
        }
    };
    let required = |key: &str| -> Result<String, FieldError> {
        fields
            .string(key, example)?
            .ok_or_else(|| FieldError::new(fields.field(key), format!("missing; {example}")))
    };
    Ok(Grant {
        effect,
        method: required("method")?,
        path: required("path")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use tollgate_host::model::{Allow, Deny};

    fn expect(text: &str) -> Result<Expect, FieldError> {
        let table: toml::Table = toml::from_str(text).unwrap();
        Expect::parse(&table, "case[1].expect")
    }

    fn allow() -> Allow {
        Allow {
            principal: "alice".into(),
            issuer: "https://issuer.example".into(),
            context: vec![("email".into(), "\"a@example.com\"".into())],
            grants: vec![Grant::allow("*", "/*")],
            request_dependent: false,
            expires_at: Some(1),
            rule: Some("route[1]".into()),
        }
    }

    fn forbidden() -> Decision {
        Decision::Deny(
            Deny::new(DenyReason::Forbidden, "no route allows GET /admin")
                .with_principal("alice")
                .with_rule("route[2]"),
        )
    }

    #[test]
    fn every_deny_reason_is_listed_once() {
        // An exhaustive match: a new reason in the model breaks the build here.
        fn listed(reason: DenyReason) -> bool {
            match reason {
                DenyReason::MissingToken
                | DenyReason::MultipleTokens
                | DenyReason::Malformed
                | DenyReason::DisallowedAlgorithm
                | DenyReason::UntrustedHeader
                | DenyReason::WrongType
                | DenyReason::UnknownKey
                | DenyReason::KeyMismatch
                | DenyReason::BadSignature
                | DenyReason::InvalidClaims
                | DenyReason::MissingClaim
                | DenyReason::Expired
                | DenyReason::NotYetValid
                | DenyReason::IssuedInFuture
                | DenyReason::LifetimeTooLong
                | DenyReason::WrongIssuer
                | DenyReason::WrongAudience
                | DenyReason::WrongClient
                | DenyReason::WrongTokenUse
                | DenyReason::InsufficientScope
                | DenyReason::Forbidden
                | DenyReason::KeysUnavailable
                | DenyReason::InvalidPath => DENY_REASONS.contains(&reason),
            }
        }
        assert!(DENY_REASONS.iter().all(|r| listed(*r)));
        let mut names: Vec<&str> = DENY_REASONS.iter().map(|r| r.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), DENY_REASONS.len());
    }

    #[test]
    fn decision_is_required_and_spelled_out() {
        let e = expect("reason = \"forbidden\"").unwrap_err();
        assert_eq!(e.field, "case[1].expect.decision");
        assert!(e.message.starts_with("missing;"), "{}", e.message);
        let e = expect("decision = \"permit\"").unwrap_err();
        assert_eq!(
            e.message,
            "unknown decision `permit`; write \"allow\", \"deny\" or \"error\""
        );
    }

    #[test]
    fn unknown_fields_and_reasons_are_refused_with_their_path() {
        let e = expect("decision = \"deny\"\nreasons = \"expired\"").unwrap_err();
        assert_eq!(e.field, "case[1].expect.reasons");
        assert!(
            e.message.contains("expected one of decision, reason"),
            "{}",
            e.message
        );
        let e = expect("decision = \"deny\"\nreason = \"Expired\"").unwrap_err();
        assert_eq!(e.field, "case[1].expect.reason");
        assert!(
            e.message
                .starts_with("unknown deny reason `Expired`; write one of missing-token,"),
            "{}",
            e.message
        );
        let e = expect("decision = \"deny\"\nstatus = 404").unwrap_err();
        assert_eq!(e.field, "case[1].expect.status");
        assert_eq!(
            e.message,
            "404 is not a status a decision has; write 200, 400, 401, 403, 500 or 503"
        );
    }

    #[test]
    fn fields_the_decision_cannot_carry_are_refused() {
        let e = expect("decision = \"allow\"\nreason = \"forbidden\"").unwrap_err();
        assert_eq!(e.field, "case[1].expect.reason");
        assert_eq!(
            e.message,
            "an allow has no `reason`; remove it, or expect deny or error"
        );
        let e = expect("decision = \"error\"\ngrants = []").unwrap_err();
        assert_eq!(e.field, "case[1].expect.grants");
        let e = expect("decision = \"allow\"\nrequired_scopes = [\"a\"]").unwrap_err();
        assert_eq!(e.field, "case[1].expect.required_scopes");
    }

    #[test]
    fn grants_parse_with_allow_as_the_default_effect() {
        let e = expect(
            "decision = \"allow\"\ngrants = [{ method = \"GET\", path = \"/a/*\" }, { effect = \"deny\", method = \"GET\", path = \"/a/b\" }]",
        )
        .unwrap();
        assert_eq!(
            e.grants.unwrap(),
            vec![Grant::allow("GET", "/a/*"), Grant::deny("GET", "/a/b")]
        );
        let err = expect("decision = \"allow\"\ngrants = [{ method = \"GET\" }]").unwrap_err();
        assert_eq!(err.field, "case[1].expect.grants[0].path");
        let err = expect("decision = \"allow\"\ngrants = [{ effect = \"permit\", method = \"GET\", path = \"/\" }]").unwrap_err();
        assert_eq!(err.field, "case[1].expect.grants[0].effect");
    }

    #[test]
    fn a_matching_decision_has_no_failures() {
        let e = expect(
            "decision = \"allow\"\nstatus = 200\nprincipal = \"alice\"\nrule = \"route[1]\"\ncontext = { email = \"a@example.com\" }\ngrants = [{ method = \"*\", path = \"/*\" }]\nrequest_dependent = false",
        )
        .unwrap();
        assert_eq!(e.check(&Decision::Allow(allow())), Vec::<String>::new());
        let e = expect("decision = \"deny\"\nreason = \"forbidden\"\nstatus = 403\nprincipal = \"alice\"\nrule = \"route[2]\"\nrequired_scopes = []").unwrap();
        assert_eq!(e.check(&forbidden()), Vec::<String>::new());
    }

    #[test]
    fn a_different_decision_is_one_message_with_the_detail() {
        let e = expect("decision = \"allow\"").unwrap();
        assert_eq!(
            e.check(&forbidden()),
            vec!["expected allow, got deny forbidden (route[2]): no route allows GET /admin"]
        );
        let e = expect("decision = \"deny\"\nreason = \"expired\"").unwrap();
        assert_eq!(
            e.check(&forbidden()),
            vec![
                "expected deny expired, got deny forbidden (route[2]): no route allows GET /admin"
            ]
        );
        let e = expect("decision = \"deny\"").unwrap();
        assert_eq!(
            e.check(&Decision::Allow(allow())),
            vec!["expected deny, got allow alice (route[1])"]
        );
        let error = Decision::Error {
            reason: "internal-error".into(),
            message: "trap".into(),
        };
        assert_eq!(
            e.check(&error),
            vec!["expected deny, got error internal-error: trap"]
        );
    }

    #[test]
    fn field_mismatches_are_listed_then_what_was_decided() {
        let e = expect(
            "decision = \"allow\"\nstatus = 200\nprincipal = \"bob\"\nrule = \"admin\"\ncontext = { email = \"b@example.com\", tier = \"gold\" }\ngrants = [{ method = \"GET\", path = \"/orders/*\" }]\nrequest_dependent = true",
        )
        .unwrap();
        assert_eq!(
            e.check(&Decision::Allow(allow())),
            vec![
                "principal: expected \"bob\", got \"alice\"",
                "rule: expected \"admin\", got \"route[1]\"",
                "context.email: expected \"b@example.com\", got \"a@example.com\"",
                "context.tier: expected \"gold\", got none",
                "grants: expected [allow GET /orders/*], got [allow * /*]",
                "request_dependent: expected true, got false",
                "got allow alice (route[1])",
            ]
        );
        let mut extra = allow();
        extra
            .context
            .push(("scope".into(), "\"orders.read\"".into()));
        extra.rule = None;
        let e = expect(
            "decision = \"allow\"\ncontext = { email = \"a@example.com\" }\nrule = \"route[1]\"",
        )
        .unwrap();
        assert_eq!(
            e.check(&Decision::Allow(extra)),
            vec![
                "rule: expected \"route[1]\", got none",
                "context.scope: not expected, got \"orders.read\"",
                "got allow alice",
            ]
        );
        let e = expect("decision = \"deny\"\nstatus = 401\nrequired_scopes = [\"admin\"]").unwrap();
        assert_eq!(
            e.check(&forbidden()),
            vec![
                "status: expected 401, got 403",
                "required_scopes: expected [\"admin\"], got []",
                "got deny forbidden (route[2]): no route allows GET /admin",
            ]
        );
    }
}
