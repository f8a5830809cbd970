//! An `[[issuer]]` section: who is trusted, with which keys and algorithms,
//! and what its tokens must show.

use std::collections::BTreeSet;

use serde::Deserialize;

use super::document::{as_table, deserialize_table, err, quoted_prefix};
use super::key_url::check_key_url;
use super::secret::parse_secret;
use super::{IssuerPolicy, SecretPolicy, TokenUse};
use crate::model::{Algorithm, ConfigError};

/// Default for [`IssuerPolicy::leeway_seconds`].
pub const DEFAULT_LEEWAY_SECONDS: i64 = 60;
/// Largest accepted `leeway_seconds`.
pub const MAX_LEEWAY_SECONDS: i64 = 600;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawIssuer {
    issuer: Option<String>,
    jwks_file: Option<String>,
    jwks_uri: Option<String>,
    discovery: Option<bool>,
    audiences: Option<Vec<String>>,
    client_ids: Option<Vec<String>>,
    any_audience: Option<bool>,
    algorithms: Option<Vec<String>>,
    leeway_seconds: Option<i64>,
    require_exp: Option<bool>,
    typ: Option<String>,
    token_use: Option<String>,
    required_claims: Option<Vec<String>>,
    required_scopes: Option<Vec<String>>,
    max_lifetime_seconds: Option<i64>,
    principal_claims: Option<Vec<String>>,
    context_claims: Option<Vec<String>>,
    /// Each secret is deserialized separately, so its errors carry its index.
    secrets: Option<Vec<toml::Value>>,
}

/// Non-empty strings, no duplicates.
fn string_list(
    list: Option<Vec<String>>,
    field: &str,
    what: &str,
) -> Result<Vec<String>, ConfigError> {
    let list = list.unwrap_or_default();
    let mut seen = BTreeSet::new();
    for (i, item) in list.iter().enumerate() {
        if item.trim().is_empty() {
            return Err(err(
                format!("{field}[{i}]"),
                format!("empty {what}; remove it or write a real value"),
            ));
        }
        if !seen.insert(item.as_str()) {
            return Err(err(
                format!("{field}[{i}]"),
                format!("{what} `{item}` is listed twice; remove the duplicate"),
            ));
        }
    }
    Ok(list)
}

fn parse_algorithms(
    names: Option<Vec<String>>,
    field: &str,
) -> Result<Vec<Algorithm>, ConfigError> {
    let known = Algorithm::ALL.map(Algorithm::name).join(", ");
    let Some(names) = names else {
        return Err(err(
            field,
            format!(
                "missing; list the algorithms this issuer signs with, e.g. algorithms = [\"RS256\"] (known: {known})"
            ),
        ));
    };
    if names.is_empty() {
        return Err(err(
            field,
            format!(
                "empty; list at least one algorithm, e.g. algorithms = [\"RS256\"] (known: {known})"
            ),
        ));
    }
    let mut algorithms = Vec::with_capacity(names.len());
    for (i, name) in names.iter().enumerate() {
        let item = format!("{field}[{i}]");
        if name.eq_ignore_ascii_case("none") {
            return Err(err(
                item,
                "`none` is never allowed: it would accept unsigned tokens; list real algorithms such as \"RS256\"",
            ));
        }
        let Some(alg) = Algorithm::from_name(name) else {
            let hint = Algorithm::ALL
                .into_iter()
                .find(|a| a.name().eq_ignore_ascii_case(name))
                .map(|a| {
                    format!(
                        "; did you mean \"{}\"? (names are case-sensitive)",
                        a.name()
                    )
                })
                .unwrap_or_else(|| format!("; expected one of: {known}"));
            return Err(err(item, format!("unknown algorithm `{name}`{hint}")));
        };
        if algorithms.contains(&alg) {
            return Err(err(
                item,
                format!("`{name}` is listed twice; remove the duplicate"),
            ));
        }
        algorithms.push(alg);
    }
    Ok(algorithms)
}

pub(super) fn parse_issuer(table: &toml::Table, path: &str) -> Result<IssuerPolicy, ConfigError> {
    let raw: RawIssuer = deserialize_table(table, path)?;
    let field = |name: &str| format!("{path}.{name}");

    let issuer = issuer_name(raw.issuer, &field("issuer"))?;
    let sources = KeySources::parse(&issuer, raw.jwks_file, raw.jwks_uri, raw.discovery, path)?;
    let algorithms = parse_algorithms(raw.algorithms, &field("algorithms"))?;
    let audiences = string_list(raw.audiences, &field("audiences"), "audience")?;
    let client_ids = string_list(raw.client_ids, &field("client_ids"), "client id")?;
    let any_audience = raw.any_audience.unwrap_or(false);
    check_audience_choice(&audiences, &client_ids, any_audience, path)?;
    let leeway_seconds = leeway(raw.leeway_seconds, &field("leeway_seconds"))?;
    let typ = pinned_typ(raw.typ, &field("typ"))?;
    let token_use = token_use(raw.token_use.as_deref(), &field("token_use"))?;
    let required_claims =
        string_list(raw.required_claims, &field("required_claims"), "claim name")?;
    let required_scopes = required_scopes(raw.required_scopes, &field("required_scopes"))?;
    let max_lifetime_seconds =
        max_lifetime(raw.max_lifetime_seconds, &field("max_lifetime_seconds"))?;
    let principal_claims = principal_claims(raw.principal_claims, &field("principal_claims"))?;
    let context_claims = string_list(raw.context_claims, &field("context_claims"), "claim name")?;
    let secrets = parse_secrets(raw.secrets.unwrap_or_default(), path, &algorithms)?;
    check_every_algorithm_has_keys(&algorithms, &secrets, &sources, path)?;

    Ok(IssuerPolicy {
        issuer,
        jwks_file: sources.jwks_file,
        jwks_uri: sources.jwks_uri,
        discovery: sources.discovery,
        audiences,
        client_ids,
        any_audience,
        algorithms,
        leeway_seconds,
        require_exp: raw.require_exp.unwrap_or(true),
        typ,
        token_use,
        required_claims,
        required_scopes,
        max_lifetime_seconds,
        principal_claims,
        context_claims,
        secrets,
    })
}

/// `issuer`: the exact `iss` value, present, non-empty, unpadded.
fn issuer_name(value: Option<String>, field: &str) -> Result<String, ConfigError> {
    match value {
        None => Err(err(
            field,
            "missing; write the exact `iss` value, e.g. issuer = \"https://issuer.example\"",
        )),
        Some(s) if s.is_empty() => Err(err(
            field,
            "empty; write the exact `iss` value, e.g. issuer = \"https://issuer.example\"",
        )),
        Some(s) if s.trim() != s => Err(err(
            field,
            "has leading or trailing whitespace; `iss` is compared exactly, remove it",
        )),
        Some(s) => Ok(s),
    }
}

/// An issuer's public-key source: at most one of `jwks_file`, `jwks_uri`
/// and `discovery = true` (HMAC secrets are listed apart).
struct KeySources {
    jwks_file: Option<String>,
    jwks_uri: Option<String>,
    discovery: bool,
}

impl KeySources {
    fn parse(
        issuer: &str,
        jwks_file: Option<String>,
        jwks_uri: Option<String>,
        discovery: Option<bool>,
        path: &str,
    ) -> Result<Self, ConfigError> {
        let jwks_file = match jwks_file {
            Some(f) if f.trim().is_empty() => {
                return Err(err(
                    format!("{path}.jwks_file"),
                    "empty; write the path of a JWK Set file or remove the field",
                ));
            }
            other => other,
        };
        if let Some(url) = &jwks_uri {
            check_key_url(url).map_err(|reason| {
                err(
                    format!("{path}.jwks_uri"),
                    format!(
                        "`{}` is not a usable JWK Set URL: {reason}",
                        quoted_prefix(url)
                    ),
                )
            })?;
        }
        let sources = KeySources {
            jwks_file,
            jwks_uri,
            discovery: discovery.unwrap_or(false),
        };
        if let [first, second, ..] = sources.named().as_slice() {
            return Err(err(
                format!("{path}.{second}"),
                format!(
                    "`{first}` and `{second}` are both set; an issuer has exactly one key source: \
                     keep one of jwks_file, jwks_uri and discovery = true"
                ),
            ));
        }
        if sources.discovery {
            let reason = check_key_url(issuer).err().or_else(|| {
                issuer
                    .contains('?')
                    .then(|| String::from("it has a query, which an OIDC issuer URL never has"))
            });
            if let Some(reason) = reason {
                return Err(err(
                    format!("{path}.discovery"),
                    format!(
                        "discovery = true reads <issuer>/.well-known/openid-configuration, so `issuer` must be \
                         an https URL, but `{}` is not: {reason}; write jwks_uri = \"https://...\" instead",
                        quoted_prefix(issuer)
                    ),
                ));
            }
        }
        Ok(sources)
    }

    /// The fields set, in document order.
    fn named(&self) -> Vec<&'static str> {
        [
            ("jwks_file", self.jwks_file.is_some()),
            ("jwks_uri", self.jwks_uri.is_some()),
            ("discovery", self.discovery),
        ]
        .into_iter()
        .filter_map(|(name, set)| set.then_some(name))
        .collect()
    }
}

/// `audiences`, `client_ids` and `any_audience`: some audience check, or an
/// explicit opt-out, never both.
fn check_audience_choice(
    audiences: &[String],
    client_ids: &[String],
    any_audience: bool,
    path: &str,
) -> Result<(), ConfigError> {
    if any_audience && !(audiences.is_empty() && client_ids.is_empty()) {
        return Err(err(
            format!("{path}.any_audience"),
            "`any_audience = true` contradicts the configured `audiences`/`client_ids`; remove one of them",
        ));
    }
    if audiences.is_empty() && client_ids.is_empty() && !any_audience {
        return Err(err(
            format!("{path}.audiences"),
            "neither `audiences` nor `client_ids` is set, so any token of this issuer would be accepted \
             for any API; write audiences = [\"your-api\"] (or client_ids = [\"...\"] for Cognito access \
             tokens), or any_audience = true if this issuer's tokens really are for every API",
        ));
    }
    Ok(())
}

/// `leeway_seconds`, within `0..=MAX_LEEWAY_SECONDS`.
fn leeway(value: Option<i64>, field: &str) -> Result<i64, ConfigError> {
    let leeway_seconds = value.unwrap_or(DEFAULT_LEEWAY_SECONDS);
    if !(0..=MAX_LEEWAY_SECONDS).contains(&leeway_seconds) {
        return Err(err(
            field,
            format!(
                "{leeway_seconds} is out of range; write a number of seconds from 0 to {MAX_LEEWAY_SECONDS} (default {DEFAULT_LEEWAY_SECONDS})"
            ),
        ));
    }
    Ok(leeway_seconds)
}

/// `typ`: a media type, unpadded.
fn pinned_typ(value: Option<String>, field: &str) -> Result<Option<String>, ConfigError> {
    match value {
        Some(t) if t.trim().is_empty() || t.trim() != t => Err(err(
            field,
            "empty or padded with whitespace; write a media type such as typ = \"at+jwt\", or remove the field",
        )),
        other => Ok(other),
    }
}

/// `token_use`: Cognito's `access` or `id`.
fn token_use(value: Option<&str>, field: &str) -> Result<Option<TokenUse>, ConfigError> {
    match value {
        None => Ok(None),
        Some("access") => Ok(Some(TokenUse::Access)),
        Some("id") => Ok(Some(TokenUse::Id)),
        Some(other) => Err(err(
            field,
            format!("unknown token use `{other}`; write \"access\" or \"id\""),
        )),
    }
}

/// `required_scopes`: scope tokens, each without whitespace.
fn required_scopes(value: Option<Vec<String>>, field: &str) -> Result<Vec<String>, ConfigError> {
    let scopes = string_list(value, field, "scope")?;
    for (i, scope) in scopes.iter().enumerate() {
        if scope.chars().any(char::is_whitespace) {
            return Err(err(
                format!("{field}[{i}]"),
                format!("scope `{scope}` contains whitespace; list each scope as its own string"),
            ));
        }
    }
    Ok(scopes)
}

/// `max_lifetime_seconds`: positive when set.
fn max_lifetime(value: Option<i64>, field: &str) -> Result<Option<i64>, ConfigError> {
    match value {
        Some(v) if v <= 0 => Err(err(
            field,
            format!(
                "{v} is not positive; write a number of seconds such as 86400, or remove the field"
            ),
        )),
        other => Ok(other),
    }
}

/// `principal_claims`: default `["sub", "client_id"]`; never empty.
fn principal_claims(value: Option<Vec<String>>, field: &str) -> Result<Vec<String>, ConfigError> {
    let list = match value {
        None => vec![String::from("sub"), String::from("client_id")],
        Some(list) if list.is_empty() => {
            return Err(err(
                field,
                "empty, so no token could name a principal; write e.g. principal_claims = [\"sub\"] or remove the field (default [\"sub\", \"client_id\"])",
            ));
        }
        Some(list) => list,
    };
    string_list(Some(list), field, "claim name")
}

/// Every `[[issuer.secrets]]` section, in order.
fn parse_secrets(
    values: Vec<toml::Value>,
    path: &str,
    algorithms: &[Algorithm],
) -> Result<Vec<SecretPolicy>, ConfigError> {
    let mut secrets = Vec::with_capacity(values.len());
    for (j, value) in values.iter().enumerate() {
        let spath = format!("{path}.secrets[{j}]");
        let table = as_table(
            value,
            &spath,
            "write each secret as an `[[issuer.secrets]]` section",
        )?;
        secrets.push(parse_secret(table, &spath, algorithms)?);
    }
    Ok(secrets)
}

/// Each listed algorithm has keys: an HMAC one a secret for it, any other
/// a public-key source.
fn check_every_algorithm_has_keys(
    algorithms: &[Algorithm],
    secrets: &[SecretPolicy],
    sources: &KeySources,
    path: &str,
) -> Result<(), ConfigError> {
    if let Some(alg) = algorithms
        .iter()
        .find(|a| a.is_symmetric() && !secrets.iter().any(|s| s.algorithm == **a))
    {
        return Err(err(
            format!("{path}.secrets"),
            format!(
                "`algorithms` lists {alg} but no `[[issuer.secrets]]` with algorithm = \"{alg}\" is configured; \
                 add one (HMAC keys only come from local secrets) or remove {alg}"
            ),
        ));
    }
    if let Some(alg) = algorithms.iter().find(|a| !a.is_symmetric())
        && sources.named().is_empty()
    {
        return Err(err(
            format!("{path}.jwks_file"),
            format!(
                "`algorithms` lists {alg} but no key source for it is configured; \
                 write jwks_file = \"path/to/jwks.json\", jwks_uri = \"https://issuer.example/jwks.json\" \
                 or discovery = true, or remove {alg}"
            ),
        ));
    }
    Ok(())
}
