//! Claim checks on a verified payload: what the issuer asks of its tokens.

use crate::config::{IssuerPolicy, has_control};
use crate::json::{JsonObject, JsonValue};
use crate::model::{Deny, DenyReason};
use crate::token::echo;

type Claims<'a> = JsonObject<'a>;

/// The scope tokens of a `scope` (or string `scp`) claim: RFC 6749
/// section 3.3 separates them by a space (%x20) only, so
/// `"x\u{a0}orders.read"` or a tab-joined value is one (unknown) scope,
/// never `orders.read`. Repeated spaces are tolerated.
fn scope_tokens(value: &str) -> Vec<&str> {
    value.split(' ').filter(|s| !s.is_empty()).collect()
}

/// What reading scopes needs of a JSON value, for both the token's own
/// tree ([`JsonValue`], the issuer's checks) and serde_json's `Value`
/// (route rules): a string, an array, or something else.
pub(crate) enum Shape<'v, V> {
    /// A string.
    Text(&'v str),
    /// An array.
    Items(&'v [V]),
    /// Anything else.
    Other,
}

/// A JSON value whose [`Shape`] can be read.
pub(crate) trait ScopeSource: Sized {
    /// This value's shape.
    fn shape(&self) -> Shape<'_, Self>;
}

impl ScopeSource for JsonValue<'_> {
    fn shape(&self) -> Shape<'_, Self> {
        match self {
            JsonValue::String(s) => Shape::Text(s),
            JsonValue::Array(items) => Shape::Items(items),
            _ => Shape::Other,
        }
    }
}

impl ScopeSource for serde_json::Value {
    fn shape(&self) -> Shape<'_, Self> {
        match self {
            serde_json::Value::String(s) => Shape::Text(s),
            serde_json::Value::Array(items) => Shape::Items(items),
            _ => Shape::Other,
        }
    }
}

/// The scopes a token grants: `scope` (space-separated), else `scp` (a
/// string read the same way, or an array of strings); `None` when it has
/// neither claim. A claim of another type is `invalid-claims`. The issuer's
/// `required_scopes` and the route rules read scopes here, alike; they
/// pass the values of the token's `scope` and `scp` claims.
pub(crate) fn granted_scopes<'v, V: ScopeSource>(
    scope: Option<&'v V>,
    scp: Option<&'v V>,
) -> Result<Option<Vec<&'v str>>, Deny> {
    Ok(Some(match (scope.map(V::shape), scp.map(V::shape)) {
        (Some(Shape::Text(s)), _) => scope_tokens(s),
        (Some(_), _) => return Err(invalid("scope", "a space-separated string")),
        (None, Some(Shape::Text(s))) => scope_tokens(s),
        (None, Some(Shape::Items(items))) => items
            .iter()
            .map(|v| match v.shape() {
                Shape::Text(s) => Ok(s),
                _ => Err(invalid("scp", "a string or an array of strings")),
            })
            .collect::<Result<_, _>>()?,
        (None, Some(_)) => return Err(invalid("scp", "a string or an array of strings")),
        (None, None) => return Ok(None),
    }))
}

fn missing(name: &str) -> Deny {
    Deny::new(
        DenyReason::MissingClaim,
        format!("claim `{name}` is missing"),
    )
}

fn invalid(name: &str, expected: &str) -> Deny {
    Deny::new(
        DenyReason::InvalidClaims,
        format!("claim `{name}` is not {expected}"),
    )
}

/// A NumericDate claim: a JSON number, floored, saturated into `i64`.
fn numeric_date(claims: &Claims<'_>, name: &str) -> Result<Option<i64>, Deny> {
    match claims.get(name) {
        None => Ok(None),
        Some(JsonValue::Number(n)) => {
            if let Some(i) = n.as_i64() {
                Ok(Some(i))
            } else if n.as_u64().is_some() {
                Ok(Some(i64::MAX))
            } else {
                // `as` saturates; JSON has no NaN.
                Ok(Some(n.as_f64().map_or(0, |f| f.floor() as i64)))
            }
        }
        Some(_) => Err(invalid(name, "a number (NumericDate)")),
    }
}

/// A claim that may be a string or an array of strings.
fn string_or_array<'a>(value: &'a JsonValue<'_>, name: &str) -> Result<Vec<&'a str>, Deny> {
    match value {
        JsonValue::String(s) => Ok(vec![s]),
        JsonValue::Array(items) => items
            .iter()
            .map(|v| {
                v.as_str()
                    .ok_or_else(|| invalid(name, "a string or an array of strings"))
            })
            .collect(),
        _ => Err(invalid(name, "a string or an array of strings")),
    }
}

/// Check `claims` against `issuer` at time `now`; build the allow.
pub(crate) fn check(issuer: &IssuerPolicy, claims: &Claims<'_>, now: i64) -> Result<Checked, Deny> {
    match claims.get("iss") {
        None => return Err(missing("iss")),
        Some(JsonValue::String(iss)) if *iss == issuer.issuer => {}
        Some(JsonValue::String(iss)) => {
            return Err(Deny::new(
                DenyReason::WrongIssuer,
                format!("issuer {} is not the configured issuer", echo(iss)),
            ));
        }
        Some(_) => return Err(invalid("iss", "a string")),
    }

    let exp = numeric_date(claims, "exp")?;
    let nbf = numeric_date(claims, "nbf")?;
    let iat = numeric_date(claims, "iat")?;
    let leeway = issuer.leeway_seconds;

    match exp {
        None if issuer.require_exp => return Err(missing("exp")),
        Some(exp) if now >= exp.saturating_add(leeway) => {
            return Err(Deny::new(
                DenyReason::Expired,
                format!("token expired at {exp} (now {now}, leeway {leeway}s)"),
            ));
        }
        _ => {}
    }
    if let Some(nbf) = nbf
        && now.saturating_add(leeway) < nbf
    {
        return Err(Deny::new(
            DenyReason::NotYetValid,
            format!("token is not valid before {nbf} (now {now}, leeway {leeway}s)"),
        ));
    }
    if let Some(iat) = iat
        && iat > now.saturating_add(leeway)
    {
        return Err(Deny::new(
            DenyReason::IssuedInFuture,
            format!("token was issued in the future at {iat} (now {now}, leeway {leeway}s)"),
        ));
    }
    if let Some(max) = issuer.max_lifetime_seconds {
        let Some(iat) = iat else {
            return Err(missing("iat"));
        };
        let Some(exp) = exp else {
            return Err(missing("exp"));
        };
        let lifetime = exp.saturating_sub(iat);
        if lifetime > max {
            return Err(Deny::new(
                DenyReason::LifetimeTooLong,
                format!("token lifetime is {lifetime}s, above the maximum of {max}s"),
            ));
        }
    }

    if !issuer.audiences.is_empty() {
        let aud = claims.get("aud").ok_or_else(|| missing("aud"))?;
        let values = string_or_array(aud, "aud")?;
        if !values
            .iter()
            .any(|a| issuer.audiences.iter().any(|c| c == a))
        {
            return Err(Deny::new(
                DenyReason::WrongAudience,
                "no `aud` value is among the configured audiences",
            ));
        }
    }

    if !issuer.client_ids.is_empty() {
        let values = match (claims.get("client_id"), claims.get("aud")) {
            (Some(JsonValue::String(id)), _) => vec![id.as_ref()],
            (Some(_), _) => return Err(invalid("client_id", "a string")),
            (None, Some(aud)) => string_or_array(aud, "aud")?,
            (None, None) => {
                return Err(Deny::new(
                    DenyReason::MissingClaim,
                    "claim `client_id` (or `aud`) is missing",
                ));
            }
        };
        if !values
            .iter()
            .any(|a| issuer.client_ids.iter().any(|c| c == a))
        {
            return Err(Deny::new(
                DenyReason::WrongClient,
                "`client_id` is not among the configured client ids",
            ));
        }
    }

    if let Some(expected) = issuer.token_use {
        match claims.get("token_use") {
            None => return Err(missing("token_use")),
            Some(JsonValue::String(t)) if t == expected.as_str() => {}
            Some(JsonValue::String(t)) => {
                return Err(Deny::new(
                    DenyReason::WrongTokenUse,
                    format!(
                        "token_use is {}, expected \"{}\"",
                        echo(t),
                        expected.as_str()
                    ),
                ));
            }
            Some(_) => return Err(invalid("token_use", "a string")),
        }
    }

    for name in &issuer.required_claims {
        if claims.get(name).is_none_or(JsonValue::is_null) {
            return Err(missing(name));
        }
    }

    // The caller is named before the scopes are checked, so that a 403
    // (valid token, request refused) names who was refused; a token
    // without a usable principal is not an authenticated caller (401).
    let principal = issuer
        .principal_claims
        .iter()
        .find_map(|name| match claims.get(name) {
            Some(JsonValue::String(s)) if !s.is_empty() => Some(s.to_string()),
            _ => None,
        })
        .ok_or_else(|| {
            Deny::new(
                DenyReason::MissingClaim,
                format!(
                    "no principal claim ({}) is a non-empty string",
                    issuer.principal_claims.join(", ")
                ),
            )
        })?;

    if !issuer.required_scopes.is_empty() {
        let granted = match granted_scopes(claims.get("scope"), claims.get("scp"))? {
            Some(granted) => granted,
            None => {
                let mut deny = Deny::new(
                    DenyReason::InsufficientScope,
                    "token grants no scopes (no `scope` or `scp` claim)",
                )
                .with_principal(principal);
                deny.required_scopes = issuer.required_scopes.clone();
                return Err(deny);
            }
        };
        let lacking: Vec<&str> = issuer
            .required_scopes
            .iter()
            .map(String::as_str)
            .filter(|r| !granted.contains(r))
            .collect();
        if !lacking.is_empty() {
            // The challenge names every scope the issuer requires
            // (RFC 6750 `scope`: what a new token must carry).
            let mut deny = Deny::new(
                DenyReason::InsufficientScope,
                format!("missing required scope(s): {}", lacking.join(" ")),
            )
            .with_principal(principal);
            deny.required_scopes = issuer.required_scopes.clone();
            return Err(deny);
        }
    }

    let context = issuer
        .context_claims
        .iter()
        .filter_map(|name| {
            let value = claims.get(name)?.to_value();
            // No CR/LF (or any control character) ever reaches a backend.
            if has_control(&value) {
                return None;
            }
            serde_json::to_string(&value)
                .ok()
                .map(|json| (name.clone(), json))
        })
        .collect();

    Ok(Checked {
        principal,
        issuer: issuer.issuer.clone(),
        context,
        expires_at: exp,
    })
}

/// What the issuer's checks establish about a token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Checked {
    /// The caller.
    pub principal: String,
    /// The configured issuer.
    pub issuer: String,
    /// The issuer's `context_claims`, as (name, JSON text).
    pub context: Vec<(String, String)>,
    /// `exp`, floored.
    pub expires_at: Option<i64>,
}

#[cfg(test)]
mod tests;
