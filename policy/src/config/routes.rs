//! The `[routes]` section and the `[[route]]` rules: read into
//! [`Routes`], every error naming its field (`route[3].path`) and what to
//! write.

use std::collections::BTreeSet;

use super::document::{as_table, err, quoted_prefix};
use crate::model::canonical_path::canonicalize;
use crate::model::grants::{PathPattern, Segment};
use crate::model::{ConfigError, PathCase, PathOptions};
use crate::routes::requirement::{ClaimPath, ClaimTest, Requirement, Scalar};
use crate::routes::{Bind, DefaultAccess, Routes, Rule};

/// The groups claim when `[routes] groups_claim` is not set.
pub const DEFAULT_GROUPS_CLAIM: &str = "cognito:groups";

/// What a `[[route]]` has besides the requirement fields.
const ROUTE_ONLY_FIELDS: &[&str] = &["name", "methods", "path", "public", "bind"];

const REQUIREMENT_FIELDS: &[&str] = &[
    "scopes",
    "any_scopes",
    "groups",
    "any_groups",
    "claims",
    "issuers",
    "audiences",
    "requires_any",
    "requires_all",
];

/// A literal segment must be in the canonical form requests are matched
/// in (`docs/paths.md`), or the rule could never match: `%41` is matched
/// as `A`, `Admin` never reaches a `case = "lower"` policy, and a refused
/// spelling (`%2F`, `;x`) never reaches the module at all.
fn check_canonical_segment(
    segment: &str,
    field: &str,
    paths: &PathOptions,
) -> Result<(), ConfigError> {
    let written = format!("/{segment}");
    match canonicalize(&written, paths) {
        Ok(canonical) if canonical == written => Ok(()),
        Ok(canonical) => {
            let why = if paths.case == PathCase::Lower
                && segment.bytes().any(|b| b.is_ascii_uppercase())
            {
                "with [paths] case = \"lower\" every request path is lower case"
            } else {
                "requests are matched in canonical form (docs/paths.md)"
            };
            Err(err(
                field,
                format!(
                    "segment `{segment}` can never match: {why}; write `{}`",
                    canonical.trim_start_matches('/')
                ),
            ))
        }
        Err(refusal) => Err(err(
            field,
            format!(
                "segment `{segment}` can never match: the host refuses such paths before the policy sees them ({refusal})"
            ),
        )),
    }
}

/// Read `[routes]` (optional) and the `[[route]]` array (optional).
pub(super) fn parse_routes(
    settings: Option<&toml::Value>,
    rules: Option<&toml::Value>,
    issuers: &[&str],
    paths: &PathOptions,
) -> Result<Routes, ConfigError> {
    let (default, groups_claim, head_as_get) = match settings {
        // HEAD is served by the GET route unless the policy says the
        // upstream does not do so (Go, Express, Flask, Django, Spring and
        // axum all do): otherwise a HEAD would fall through a protected GET
        // rule to a broader one and run the GET handler.
        None => (None, None, true),
        Some(value) => {
            let table = as_table(value, "routes", "write it as a `[routes]` section")?;
            unknown_fields(table, "routes", &["default", "groups_claim", "head_as_get"])?;
            let head_as_get = match table.get("head_as_get") {
                None => true,
                Some(toml::Value::Boolean(b)) => *b,
                Some(other) => {
                    return Err(err(
                        "routes.head_as_get",
                        format!(
                            "expected true (the upstream answers HEAD with its GET route) or false, found {}",
                            shown(other)
                        ),
                    ));
                }
            };
            let default = match table.get("default") {
                None => None,
                Some(toml::Value::String(s)) if s == "deny" => Some(DefaultAccess::Deny),
                Some(toml::Value::String(s)) if s == "authenticated" => {
                    Some(DefaultAccess::Authenticated)
                }
                Some(other) => {
                    return Err(err(
                        "routes.default",
                        format!(
                            "unknown default {}; write \"deny\" (refuse routes no rule matches) or \"authenticated\" (any valid token may call them)",
                            shown(other)
                        ),
                    ));
                }
            };
            let groups_claim = table
                .get("groups_claim")
                .map(|v| claim_path(v, "routes.groups_claim"))
                .transpose()?;
            (default, groups_claim, head_as_get)
        }
    };
    let groups_claim =
        groups_claim.unwrap_or_else(|| ClaimPath::new(vec![String::from(DEFAULT_GROUPS_CLAIM)]));

    let entries = match rules {
        None => {
            return match default {
                Some(DefaultAccess::Deny) => Err(err(
                    "routes.default",
                    "default = \"deny\" without any `[[route]]` refuses every request; add `[[route]]` rules, or remove `[routes]`",
                )),
                _ => Ok(Routes::everything()),
            };
        }
        Some(toml::Value::Array(entries)) if entries.is_empty() => {
            return Err(err(
                "route",
                "an empty list of rules would refuse every request; write `[[route]]` sections, or remove `route`",
            ));
        }
        Some(toml::Value::Array(entries)) => entries,
        Some(other) => {
            return Err(err(
                "route",
                format!(
                    "expected an array of tables, found {}; write each rule as a `[[route]]` section",
                    other.type_str()
                ),
            ));
        }
    };

    let mut names = BTreeSet::new();
    let mut compiled = Vec::with_capacity(entries.len());
    for (index, entry) in entries.iter().enumerate() {
        let path = format!("route[{index}]");
        let table = as_table(entry, &path, "write each rule as a `[[route]]` section")?;
        let mut rule = parse_rule(table, &path, &groups_claim, paths)?;
        if head_as_get
            && let Some(methods) = &mut rule.methods
            && methods.iter().any(|m| m == "GET")
            && !methods.iter().any(|m| m == "HEAD")
        {
            // The upstream serves HEAD with the GET route: the GET rule
            // governs it (and grants it).
            methods.push(String::from("HEAD"));
        }
        if rule.label != path && is_automatic_label(&rule.label) {
            return Err(err(
                format!("{path}.name"),
                format!(
                    "`{}` looks like another rule's automatic label; choose a name that does not read route[N]",
                    rule.label
                ),
            ));
        }
        if let Some(unknown) = unknown_issuer(&rule.requirement, issuers) {
            return Err(err(
                format!("{path}.issuers"),
                format!(
                    "issuer `{unknown}` is not configured, so no token could satisfy this; write one of the `[[issuer]]` issuers ({})",
                    issuers.join(", ")
                ),
            ));
        }
        if !names.insert(rule.label.clone()) {
            return Err(err(
                format!("{path}.name"),
                format!(
                    "another rule is already named `{}`; rule names must be unique",
                    rule.label
                ),
            ));
        }
        compiled.push(rule);
    }
    let mut routes = Routes::compile(compiled, default.unwrap_or(DefaultAccess::Deny))
        .map_err(|(index, message)| err(format!("route[{index}].path"), message))?;
    if !head_as_get {
        routes.warn(String::from(
            "routes.head_as_get = false: GET rules do not govern HEAD, so a HEAD request falls through to broader rules; keep it only if the upstream answers HEAD on its own (most serve it with the GET route)",
        ));
    }
    Ok(routes)
}

fn parse_rule(
    table: &toml::Table,
    path: &str,
    groups_claim: &ClaimPath,
    paths: &PathOptions,
) -> Result<Rule, ConfigError> {
    unknown_fields(
        table,
        path,
        &[ROUTE_ONLY_FIELDS, REQUIREMENT_FIELDS].concat(),
    )?;
    let label = match table.get("name") {
        None => path.to_string(),
        Some(toml::Value::String(s)) if !s.trim().is_empty() => s.clone(),
        Some(other) => {
            return Err(err(
                format!("{path}.name"),
                format!("expected a non-empty string, found {}", shown(other)),
            ));
        }
    };
    let methods = parse_methods(table.get("methods"), &format!("{path}.methods"))?;
    let route_path = match table.get("path") {
        Some(toml::Value::String(s)) => s.clone(),
        Some(other) => {
            return Err(err(
                format!("{path}.path"),
                format!(
                    "expected a string like \"/orders/{{id}}\", found {}",
                    shown(other)
                ),
            ));
        }
        None => {
            return Err(err(
                format!("{path}.path"),
                "missing; write the path pattern this rule covers, e.g. path = \"/orders/{id}\"",
            ));
        }
    };
    let (pattern, captures) = parse_pattern(&route_path, &format!("{path}.path"), paths)?;
    let public = match table.get("public") {
        None => false,
        Some(toml::Value::Boolean(b)) => *b,
        Some(other) => {
            return Err(err(
                format!("{path}.public"),
                format!("expected true or false, found {}", shown(other)),
            ));
        }
    };
    let requirement = parse_requirement(table, path, groups_claim)?;
    let binds = match table.get("bind") {
        None => Vec::new(),
        Some(value) => parse_binds(value, &format!("{path}.bind"), &captures)?,
    };
    check_bind_segments(&binds, &pattern, &format!("{path}.bind"))?;
    if public && (!requirement.is_empty() || !binds.is_empty()) {
        return Err(err(
            format!("{path}.public"),
            "a public rule needs no token, so it cannot also require scopes, groups, claims or bindings; remove `public` or the requirements",
        ));
    }
    Ok(Rule {
        label,
        methods,
        path: route_path,
        pattern,
        public,
        requirement,
        binds,
    })
}

fn parse_methods(
    value: Option<&toml::Value>,
    field: &str,
) -> Result<Option<Vec<String>>, ConfigError> {
    let Some(value) = value else {
        return Ok(None);
    };
    let hint =
        "write a list of HTTP methods, e.g. methods = [\"GET\", \"HEAD\"], or [\"*\"] for any";
    let toml::Value::Array(items) = value else {
        return Err(err(
            field,
            format!("expected an array, found {}; {hint}", value.type_str()),
        ));
    };
    if items.is_empty() {
        return Err(err(field, format!("empty; {hint}")));
    }
    let mut methods = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let Some(method) = item.as_str() else {
            return Err(err(
                format!("{field}[{i}]"),
                format!("expected a string; {hint}"),
            ));
        };
        if method == "*" {
            if items.len() > 1 {
                return Err(err(
                    format!("{field}[{i}]"),
                    "`*` means any method; write it alone",
                ));
            }
            return Ok(None);
        }
        if method.eq_ignore_ascii_case("any") {
            return Err(err(
                format!("{field}[{i}]"),
                "for any method write methods = [\"*\"], or leave `methods` out",
            ));
        }
        if method.is_empty() || !method.bytes().all(|b| b.is_ascii_alphabetic()) {
            return Err(err(
                format!("{field}[{i}]"),
                format!("{} is not an HTTP method; {hint}", shown(item)),
            ));
        }
        let upper = method.to_ascii_uppercase();
        if upper != method {
            // Methods are case-sensitive tokens (RFC 9110): a rule for
            // `get` would match no client's GET.
            return Err(err(
                format!("{field}[{i}]"),
                format!(
                    "{} is not upper case; HTTP methods are case-sensitive and clients send \"{upper}\": write \"{upper}\"",
                    shown(item)
                ),
            ));
        }
        if methods.contains(&upper) {
            return Err(err(
                format!("{field}[{i}]"),
                format!("{upper} is listed twice"),
            ));
        }
        methods.push(upper);
    }
    Ok(Some(methods))
}

/// A path pattern and, per segment, the name of its `{capture}`.
fn parse_pattern(
    text: &str,
    field: &str,
    paths: &PathOptions,
) -> Result<(PathPattern, Vec<Option<String>>), ConfigError> {
    let hint = "write a pattern like \"/orders/{id}\", \"/orders/*\" or \"/files/{path+}\"";
    let Some(body) = text.strip_prefix('/') else {
        return Err(err(
            field,
            format!(
                "\"{}\" does not start with `/`; {hint}",
                quoted_prefix(text)
            ),
        ));
    };
    let raw: Vec<&str> = body.split('/').collect();
    let last = raw.len().saturating_sub(1);
    let mut captures = Vec::with_capacity(raw.len());
    let mut names = BTreeSet::new();
    for (i, segment) in raw.iter().enumerate() {
        if segment.is_empty() && text != "/" {
            return Err(err(
                field,
                format!(
                    "\"{}\" has an empty segment (`//` or a trailing `/`); {hint}",
                    quoted_prefix(text)
                ),
            ));
        }
        let capture = if let Some(inner) =
            segment.strip_prefix('{').and_then(|s| s.strip_suffix('}'))
        {
            let (name, greedy) = match inner.strip_suffix('+') {
                Some(name) => (name, true),
                None => (inner, false),
            };
            if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
                return Err(err(
                    field,
                    format!(
                        "`{segment}` is not a capture; name it with letters, digits and `_`, e.g. {{id}}"
                    ),
                ));
            }
            if greedy && i != last {
                return Err(err(
                    field,
                    format!(
                        "`{segment}` takes the rest of the path, so it must be the last segment"
                    ),
                ));
            }
            if !names.insert(name.to_string()) {
                return Err(err(field, format!("capture {{{name}}} appears twice")));
            }
            Some(name.to_string())
        } else {
            if *segment != "*" && segment.contains(['{', '}', '*', '?', '\\', '#']) {
                return Err(err(
                    field,
                    format!(
                        "segment `{segment}` mixes text with `{{`, `}}`, `*`, `?`, `\\` or `#`; a segment is exact text, `*`, `{{name}}` or a final `{{name+}}`"
                    ),
                ));
            }
            if *segment == "." || *segment == ".." {
                return Err(err(
                    field,
                    format!("segment `{segment}` is a dot segment; write the path it stands for"),
                ));
            }
            if *segment != "*" {
                check_canonical_segment(segment, field, paths)?;
            }
            None
        };
        captures.push(capture);
    }
    let pattern = PathPattern::parse(text).ok_or_else(|| err(field, hint))?;
    Ok((pattern, captures))
}

fn parse_binds(
    value: &toml::Value,
    field: &str,
    captures: &[Option<String>],
) -> Result<Vec<Bind>, ConfigError> {
    let table = as_table(
        value,
        field,
        "write bind = { capture = \"claim\" }, e.g. bind = { tenant = \"tenant_id\" }",
    )?;
    let mut binds = Vec::new();
    for (capture, claim) in table {
        let here = format!("{field}.{capture}");
        let segment = captures
            .iter()
            .position(|c| c.as_deref() == Some(capture.as_str()))
            .ok_or_else(|| {
                err(
                    here.as_str(),
                    format!(
                        "the path has no capture {{{capture}}}; bind a `{{name}}` segment of `path`"
                    ),
                )
            })?;
        binds.push(Bind {
            segment,
            capture: capture.clone(),
            claim: claim_path(claim, &here)?,
        });
    }
    Ok(binds)
}

/// Reject a bind on a rest capture, once the pattern is known.
fn check_bind_segments(
    binds: &[Bind],
    pattern: &PathPattern,
    field: &str,
) -> Result<(), ConfigError> {
    for bind in binds {
        if !matches!(pattern.segments().get(bind.segment), Some(Segment::One)) {
            return Err(err(
                format!("{field}.{}", bind.capture),
                format!(
                    "{{{}+}} captures the rest of the path; only a one-segment {{name}} can be bound to a claim",
                    bind.capture
                ),
            ));
        }
    }
    Ok(())
}

/// The requirement fields of a rule or of a `requires_any` / `requires_all` item.
fn parse_requirement(
    table: &toml::Table,
    path: &str,
    groups_claim: &ClaimPath,
) -> Result<Requirement, ConfigError> {
    let mut all = Vec::new();
    if let Some(v) = table.get("scopes") {
        all.push(Requirement::Scopes(scope_list(
            v,
            &format!("{path}.scopes"),
        )?));
    }
    if let Some(v) = table.get("any_scopes") {
        all.push(Requirement::AnyScope(scope_list(
            v,
            &format!("{path}.any_scopes"),
        )?));
    }
    if let Some(v) = table.get("groups") {
        all.push(Requirement::Groups(
            groups_claim.clone(),
            text_list(v, &format!("{path}.groups"), "group")?,
        ));
    }
    if let Some(v) = table.get("any_groups") {
        all.push(Requirement::AnyGroup(
            groups_claim.clone(),
            text_list(v, &format!("{path}.any_groups"), "group")?,
        ));
    }
    if let Some(v) = table.get("issuers") {
        all.push(Requirement::Issuer(text_list(
            v,
            &format!("{path}.issuers"),
            "issuer",
        )?));
    }
    if let Some(v) = table.get("audiences") {
        all.push(Requirement::Audience(text_list(
            v,
            &format!("{path}.audiences"),
            "audience",
        )?));
    }
    if let Some(v) = table.get("claims") {
        let field = format!("{path}.claims");
        let toml::Value::Array(items) = v else {
            return Err(err(
                field,
                "expected an array of matchers, e.g. claims = [{ claim = \"tier\", equals = \"gold\" }]",
            ));
        };
        for (i, item) in items.iter().enumerate() {
            all.push(parse_matcher(item, &format!("{field}[{i}]"))?);
        }
    }
    for (key, any) in [("requires_any", true), ("requires_all", false)] {
        let Some(v) = table.get(key) else { continue };
        let field = format!("{path}.{key}");
        let toml::Value::Array(items) = v else {
            return Err(err(
                field,
                format!(
                    "expected an array of requirement tables, e.g. {key} = [{{ scopes = [\"a\"] }}, {{ groups = [\"admins\"] }}]"
                ),
            ));
        };
        if items.is_empty() {
            return Err(err(
                field,
                "empty; list at least one requirement table, or remove it",
            ));
        }
        let mut parts = Vec::new();
        for (i, item) in items.iter().enumerate() {
            let here = format!("{field}[{i}]");
            let inner = as_table(
                item,
                &here,
                "write a requirement table, e.g. { scopes = [\"a\"] }",
            )?;
            unknown_fields(inner, &here, REQUIREMENT_FIELDS)?;
            let requirement = parse_requirement(inner, &here, groups_claim)?;
            if requirement.is_empty() {
                return Err(err(
                    here,
                    "empty requirement; it would always hold. Remove it, or write what it asks",
                ));
            }
            parts.push(requirement);
        }
        all.push(if any {
            Requirement::Any(parts)
        } else {
            Requirement::All(parts)
        });
    }
    Ok(match all.len() {
        1 => all.pop().unwrap_or(Requirement::All(Vec::new())),
        _ => Requirement::All(all),
    })
}

fn parse_matcher(value: &toml::Value, field: &str) -> Result<Requirement, ConfigError> {
    let table = as_table(
        value,
        field,
        "write a matcher, e.g. { claim = \"tier\", equals = \"gold\" }",
    )?;
    unknown_fields(
        table,
        field,
        &["claim", "equals", "one_of", "contains", "prefix", "exists"],
    )?;
    let claim = match table.get("claim") {
        Some(v) => claim_path(v, &format!("{field}.claim"))?,
        None => {
            return Err(err(
                format!("{field}.claim"),
                "missing; name the claim, e.g. claim = \"tier\" or claim = \"realm_access.roles\"",
            ));
        }
    };
    let tests: Vec<&str> = ["equals", "one_of", "contains", "prefix", "exists"]
        .into_iter()
        .filter(|k| table.contains_key(*k))
        .collect();
    let [test] = tests.as_slice() else {
        return Err(err(
            field,
            "write exactly one of `equals`, `one_of`, `contains`, `prefix` or `exists`",
        ));
    };
    let here = format!("{field}.{test}");
    let value = table
        .get(*test)
        .ok_or_else(|| err(here.as_str(), "missing"))?;
    let test = match *test {
        "equals" => ClaimTest::Equals(scalar(value, &here)?),
        "contains" => ClaimTest::Contains(scalar(value, &here)?),
        "one_of" => {
            let toml::Value::Array(items) = value else {
                return Err(err(here, "expected an array of values"));
            };
            if items.is_empty() {
                return Err(err(here, "empty; list the accepted values"));
            }
            ClaimTest::OneOf(
                items
                    .iter()
                    .enumerate()
                    .map(|(i, v)| scalar(v, &format!("{here}[{i}]")))
                    .collect::<Result<_, _>>()?,
            )
        }
        "prefix" => match value {
            toml::Value::String(s) if !s.is_empty() => ClaimTest::Prefix(s.clone()),
            other => {
                return Err(err(
                    here,
                    format!("expected a non-empty string, found {}", shown(other)),
                ));
            }
        },
        _ => match value {
            toml::Value::Boolean(b) => ClaimTest::Exists(*b),
            other => {
                return Err(err(
                    here,
                    format!("expected true or false, found {}", shown(other)),
                ));
            }
        },
    };
    Ok(Requirement::Claim(claim, test))
}

/// A string, integer or boolean, as the JSON value a claim would hold.
fn scalar(value: &toml::Value, field: &str) -> Result<Scalar, ConfigError> {
    match value {
        toml::Value::String(s) => Ok(Scalar::Text(s.clone())),
        toml::Value::Integer(i) => Ok(Scalar::Integer(*i)),
        toml::Value::Boolean(b) => Ok(Scalar::Bool(*b)),
        other => Err(err(
            field,
            format!(
                "expected a string, integer or boolean, found {}",
                other.type_str()
            ),
        )),
    }
}

/// `"a.b"` (nested objects) or `["https://example.com/roles"]` (keys as written).
pub(super) fn claim_path(value: &toml::Value, field: &str) -> Result<ClaimPath, ConfigError> {
    let hint = "write a claim name (\"tenant_id\"), a dotted path into objects (\"realm_access.roles\"), or an array of keys for names containing dots ([\"https://example.com/roles\"])";
    let segments: Vec<String> = match value {
        toml::Value::String(s) => s.split('.').map(String::from).collect(),
        toml::Value::Array(items) => items
            .iter()
            .map(|v| v.as_str().map(String::from))
            .collect::<Option<_>>()
            .ok_or_else(|| err(field, hint))?,
        _ => return Err(err(field, hint)),
    };
    if segments.is_empty() || segments.iter().any(String::is_empty) {
        return Err(err(field, format!("empty claim name; {hint}")));
    }
    Ok(ClaimPath::new(segments))
}

fn scope_list(value: &toml::Value, field: &str) -> Result<Vec<String>, ConfigError> {
    let list = text_list(value, field, "scope")?;
    if let Some((i, s)) = list.iter().enumerate().find(|(_, s)| s.contains(' ')) {
        return Err(err(
            format!("{field}[{i}]"),
            format!(
                "scope \"{}\" contains a space; list each scope separately",
                quoted_prefix(s)
            ),
        ));
    }
    Ok(list)
}

fn text_list(value: &toml::Value, field: &str, what: &str) -> Result<Vec<String>, ConfigError> {
    let toml::Value::Array(items) = value else {
        return Err(err(
            field,
            format!(
                "expected an array of {what} names, found {}",
                value.type_str()
            ),
        ));
    };
    if items.is_empty() {
        return Err(err(
            field,
            format!("empty; list at least one {what}, or remove the field"),
        ));
    }
    let mut out: Vec<String> = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        match item.as_str() {
            Some(s) if !s.trim().is_empty() && !out.iter().any(|o| o == s) => {
                out.push(s.to_string())
            }
            Some(s) if !s.trim().is_empty() => {
                return Err(err(
                    format!("{field}[{i}]"),
                    format!("{what} \"{}\" is listed twice", quoted_prefix(s)),
                ));
            }
            _ => {
                return Err(err(
                    format!("{field}[{i}]"),
                    format!("expected a non-empty {what} name"),
                ));
            }
        }
    }
    Ok(out)
}

fn unknown_fields(table: &toml::Table, path: &str, known: &[&str]) -> Result<(), ConfigError> {
    for key in table.keys() {
        if !known.contains(&key.as_str()) {
            return Err(err(
                format!("{path}.{key}"),
                format!(
                    "unknown field `{key}`; expected one of {}",
                    known.join(", ")
                ),
            ));
        }
    }
    Ok(())
}

fn shown(value: &toml::Value) -> String {
    match value {
        toml::Value::String(s) => format!("\"{}\"", quoted_prefix(s)),
        other => format!("a {}", other.type_str()),
    }
}

/// `route[N]`: the label a rule without a `name` gets.
fn is_automatic_label(label: &str) -> bool {
    label
        .strip_prefix("route[")
        .and_then(|rest| rest.strip_suffix(']'))
        .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

/// The first issuer a requirement names that the policy does not configure.
fn unknown_issuer<'a>(requirement: &'a Requirement, issuers: &[&str]) -> Option<&'a str> {
    match requirement {
        Requirement::Issuer(named) => named
            .iter()
            .map(String::as_str)
            .find(|n| !issuers.contains(n)),
        Requirement::All(items) | Requirement::Any(items) => {
            items.iter().find_map(|r| unknown_issuer(r, issuers))
        }
        _ => None,
    }
}
