//! What a route rule asks of a verified token: scopes, groups, claim
//! matchers, issuer and audience, composed with `requires_any` /
//! `requires_all`.

use serde_json::{Map, Value};

use crate::token::echo;

/// A claim's place in the payload: `email`, `realm_access.roles`
/// (nested objects), or a name containing dots written as one segment.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct ClaimPath(Vec<String>);

impl ClaimPath {
    /// A path of object keys.
    pub fn new(segments: Vec<String>) -> Self {
        ClaimPath(segments)
    }

    /// The claim's value, when every step is an object holding the next key.
    pub fn get<'a>(&self, claims: &'a Map<String, Value>) -> Option<&'a Value> {
        let (first, rest) = self.0.split_first()?;
        let mut value = claims.get(first)?;
        for key in rest {
            value = value.as_object()?.get(key)?;
        }
        Some(value)
    }
}

impl std::fmt::Display for ClaimPath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0.join("."))
    }
}

/// How a claim matcher compares.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum ClaimTest {
    /// The claim equals this JSON value.
    Equals(Scalar),
    /// The claim equals one of these.
    OneOf(Vec<Scalar>),
    /// The claim (an array, or one value) holds this value.
    Contains(Scalar),
    /// The claim is a string starting with this.
    Prefix(String),
    /// The claim is present and not null (`true`), or absent or null (`false`).
    Exists(bool),
}

/// A value a claim matcher compares with: what TOML can write and a JSON
/// claim can hold alike. Compared with the claim's JSON type (`"4"` is not
/// `4`, and `4.0` is not `4`), without allocating.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Scalar {
    /// A string.
    Text(String),
    /// An integer.
    Integer(i64),
    /// A boolean.
    Bool(bool),
}

impl Scalar {
    fn is(&self, value: &Value) -> bool {
        match (self, value) {
            (Scalar::Text(want), Value::String(got)) => want == got,
            (Scalar::Integer(want), Value::Number(got)) => got.as_i64() == Some(*want),
            (Scalar::Bool(want), Value::Bool(got)) => want == got,
            _ => false,
        }
    }
}

impl std::fmt::Display for Scalar {
    /// As JSON: `"gold"`, `4`, `true`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Scalar::Text(text) => write!(f, "{}", Value::String(text.clone())),
            Scalar::Integer(i) => write!(f, "{i}"),
            Scalar::Bool(b) => write!(f, "{b}"),
        }
    }
}

/// One condition, or a composition.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Requirement {
    /// Every one holds (an empty list always holds).
    All(Vec<Requirement>),
    /// At least one holds.
    Any(Vec<Requirement>),
    /// The token grants every scope (`scope` or `scp`).
    Scopes(Vec<String>),
    /// The token grants at least one scope.
    AnyScope(Vec<String>),
    /// The groups claim holds every group.
    Groups(ClaimPath, Vec<String>),
    /// The groups claim holds at least one group.
    AnyGroup(ClaimPath, Vec<String>),
    /// A claim matcher.
    Claim(ClaimPath, ClaimTest),
    /// `iss` is one of these.
    Issuer(Vec<String>),
    /// `aud` holds one of these.
    Audience(Vec<String>),
}

/// Why a requirement did not hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unmet {
    /// Human-readable, never a whole token.
    pub detail: String,
    /// When only scopes were missing: scopes that would have satisfied it.
    pub scopes: Option<Vec<String>>,
    /// The token's scope claim has the wrong type (`invalid-claims`, 401,
    /// as when the issuer's own `required_scopes` read it).
    pub invalid_claims: bool,
}

impl Unmet {
    fn other(detail: String) -> Self {
        Unmet {
            detail,
            scopes: None,
            invalid_claims: false,
        }
    }

    fn invalid(detail: String) -> Self {
        Unmet {
            detail,
            scopes: None,
            invalid_claims: true,
        }
    }
}

/// The token's claims, with its scopes read once.
pub struct Evidence<'a> {
    claims: &'a Map<String, Value>,
    issuer: &'a str,
    scopes: Result<Vec<&'a str>, String>,
}

impl<'a> Evidence<'a> {
    /// Read the scopes of `claims` once (`scope`, else `scp`: see
    /// [`crate::claims`]' `granted_scopes`, which the issuer's checks use too).
    pub fn new(claims: &'a Map<String, Value>, issuer: &'a str) -> Self {
        let scopes = match crate::claims::granted_scopes(claims.get("scope"), claims.get("scp")) {
            Ok(granted) => Ok(granted.unwrap_or_default()),
            Err(deny) => Err(deny.detail),
        };
        Evidence {
            claims,
            issuer,
            scopes,
        }
    }

    /// The scopes the token grants (none when its scope claim is malformed).
    pub fn scopes(&self) -> &[&'a str] {
        self.scopes.as_deref().unwrap_or_default()
    }

    /// The verified claims.
    pub fn claims(&self) -> &'a Map<String, Value> {
        self.claims
    }

    fn groups(&self, path: &ClaimPath) -> Result<Vec<&'a str>, String> {
        match path.get(self.claims) {
            None | Some(Value::Null) => Ok(Vec::new()),
            Some(Value::String(s)) => Ok(vec![s.as_str()]),
            Some(Value::Array(items)) => items
                .iter()
                .map(|v| {
                    v.as_str()
                        .ok_or_else(|| format!("claim `{path}` is not an array of strings"))
                })
                .collect(),
            Some(_) => Err(format!(
                "claim `{path}` is not a string or an array of strings"
            )),
        }
    }
}

impl Requirement {
    /// Whether it holds, and if not, why.
    pub fn check(&self, evidence: &Evidence<'_>) -> Result<(), Unmet> {
        match self {
            Requirement::All(items) => items.iter().try_for_each(|r| r.check(evidence)),
            Requirement::Any(items) => {
                let mut unmet = Vec::new();
                for item in items {
                    match item.check(evidence) {
                        Ok(()) => return Ok(()),
                        Err(why) => unmet.push(why),
                    }
                }
                let scopes = unmet
                    .iter()
                    .map(|u| u.scopes.clone())
                    .collect::<Option<Vec<_>>>()
                    .map(|lists| lists.concat());
                let invalid_claims = unmet.iter().any(|u| u.invalid_claims);
                let details: Vec<String> = unmet.into_iter().map(|u| u.detail).collect();
                Err(Unmet {
                    detail: format!("none of: {}", details.join("; ")),
                    scopes,
                    invalid_claims,
                })
            }
            Requirement::Scopes(wanted) => {
                let granted = evidence
                    .scopes
                    .as_ref()
                    .map_err(|e| Unmet::invalid(e.clone()))?;
                let lacking: Vec<String> = wanted
                    .iter()
                    .filter(|w| !granted.contains(&w.as_str()))
                    .cloned()
                    .collect();
                if lacking.is_empty() {
                    Ok(())
                } else {
                    Err(Unmet {
                        detail: format!("missing scope(s): {}", lacking.join(" ")),
                        scopes: Some(wanted.clone()),
                        invalid_claims: false,
                    })
                }
            }
            Requirement::AnyScope(wanted) => {
                let granted = evidence
                    .scopes
                    .as_ref()
                    .map_err(|e| Unmet::invalid(e.clone()))?;
                if wanted.iter().any(|w| granted.contains(&w.as_str())) {
                    Ok(())
                } else {
                    Err(Unmet {
                        detail: format!("needs one of the scopes: {}", wanted.join(" ")),
                        scopes: Some(wanted.clone()),
                        invalid_claims: false,
                    })
                }
            }
            Requirement::Groups(path, wanted) => {
                let groups = evidence.groups(path).map_err(Unmet::other)?;
                let lacking: Vec<&str> = wanted
                    .iter()
                    .map(String::as_str)
                    .filter(|w| !groups.contains(w))
                    .collect();
                if lacking.is_empty() {
                    Ok(())
                } else {
                    Err(Unmet::other(format!(
                        "not in group(s) {} (claim `{path}`)",
                        lacking.join(", ")
                    )))
                }
            }
            Requirement::AnyGroup(path, wanted) => {
                let groups = evidence.groups(path).map_err(Unmet::other)?;
                if wanted.iter().any(|w| groups.contains(&w.as_str())) {
                    Ok(())
                } else {
                    Err(Unmet::other(format!(
                        "in none of the groups {} (claim `{path}`)",
                        wanted.join(", ")
                    )))
                }
            }
            Requirement::Claim(path, test) => check_claim(path, test, evidence.claims),
            Requirement::Issuer(issuers) => {
                if issuers.iter().any(|i| i == evidence.issuer) {
                    Ok(())
                } else {
                    Err(Unmet::other(format!(
                        "issuer {} is not one this route accepts",
                        echo(evidence.issuer)
                    )))
                }
            }
            Requirement::Audience(audiences) => {
                let held: Vec<&str> = match evidence.claims.get("aud") {
                    Some(Value::String(a)) => vec![a.as_str()],
                    Some(Value::Array(items)) => items.iter().filter_map(Value::as_str).collect(),
                    _ => Vec::new(),
                };
                if held.iter().any(|a| audiences.iter().any(|w| w == a)) {
                    Ok(())
                } else {
                    Err(Unmet::other(String::from(
                        "no `aud` value is one this route accepts",
                    )))
                }
            }
        }
    }

    /// Whether it holds: [`Requirement::check`] without building the
    /// explanation (the grants ask this of every rule).
    pub fn holds(&self, evidence: &Evidence<'_>) -> bool {
        match self {
            Requirement::All(items) => items.iter().all(|r| r.holds(evidence)),
            Requirement::Any(items) => items.iter().any(|r| r.holds(evidence)),
            Requirement::Scopes(wanted) => evidence
                .scopes
                .as_ref()
                .is_ok_and(|granted| wanted.iter().all(|w| granted.contains(&w.as_str()))),
            Requirement::AnyScope(wanted) => evidence
                .scopes
                .as_ref()
                .is_ok_and(|granted| wanted.iter().any(|w| granted.contains(&w.as_str()))),
            Requirement::Issuer(issuers) => issuers.iter().any(|i| i == evidence.issuer),
            // Rarer, and their explanation is cheap to skip here too.
            other => other.check(evidence).is_ok(),
        }
    }

    /// Scopes of which a token must grant at least one for this to hold,
    /// when there are such (an index key: requirements a token's scopes
    /// cannot satisfy are never evaluated for it); `None` when it may hold
    /// without any scope.
    pub fn necessary_scopes(&self) -> Option<Vec<String>> {
        match self {
            Requirement::Scopes(wanted) => wanted.first().map(|s| vec![s.clone()]),
            Requirement::AnyScope(wanted) => Some(wanted.clone()),
            Requirement::All(items) => items
                .iter()
                .filter_map(Requirement::necessary_scopes)
                .min_by_key(Vec::len),
            Requirement::Any(items) => items
                .iter()
                .map(Requirement::necessary_scopes)
                .collect::<Option<Vec<_>>>()
                .map(|lists| lists.concat()),
            _ => None,
        }
    }

    /// True when this is the empty conjunction (no requirement at all).
    pub fn is_empty(&self) -> bool {
        matches!(self, Requirement::All(items) if items.is_empty())
    }
}

fn check_claim(
    path: &ClaimPath,
    test: &ClaimTest,
    claims: &Map<String, Value>,
) -> Result<(), Unmet> {
    let value = path.get(claims).filter(|v| !v.is_null());
    let holds = match (test, value) {
        (ClaimTest::Exists(want), value) => value.is_some() == *want,
        (_, None) => false,
        (ClaimTest::Equals(expected), Some(v)) => expected.is(v),
        (ClaimTest::OneOf(options), Some(v)) => options.iter().any(|o| o.is(v)),
        (ClaimTest::Contains(expected), Some(Value::Array(items))) => {
            items.iter().any(|item| expected.is(item))
        }
        (ClaimTest::Contains(expected), Some(v)) => expected.is(v),
        (ClaimTest::Prefix(prefix), Some(Value::String(s))) => s.starts_with(prefix.as_str()),
        (ClaimTest::Prefix(_), Some(_)) => false,
    };
    if holds {
        return Ok(());
    }
    let what = match test {
        ClaimTest::Equals(v) => format!("equal {v}"),
        ClaimTest::OneOf(vs) => format!(
            "be one of {}",
            vs.iter()
                .map(Scalar::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        ),
        ClaimTest::Contains(v) => format!("contain {v}"),
        ClaimTest::Prefix(p) => format!("start with {}", echo(p)),
        ClaimTest::Exists(true) => String::from("be present"),
        ClaimTest::Exists(false) => String::from("be absent"),
    };
    Err(Unmet::other(format!("claim `{path}` must {what}")))
}
