//! The policy document: parsing, validation and the manifest.
//!
//! The document is TOML. Every table rejects unknown fields, and every error
//! names the offending field as a path (`issuer[0].algorithms`) and says what
//! to write instead.

use std::collections::BTreeSet;

use serde::Deserialize;
use serde::de::DeserializeOwned;

use crate::model::{Algorithm, ConfigError, IssuerNeeds, KeySource, Manifest, SecretSource};

/// Default for [`Limits::max_token_bytes`]: 16 KiB.
pub const DEFAULT_MAX_TOKEN_BYTES: usize = 16 * 1024;
/// Default for [`Limits::max_header_bytes`]: 2 KiB.
pub const DEFAULT_MAX_HEADER_BYTES: usize = 2 * 1024;
/// Largest accepted `limits.max_token_bytes`: 1 MiB.
pub const MAX_MAX_TOKEN_BYTES: usize = 1024 * 1024;
/// Largest accepted `limits.max_header_bytes`: 64 KiB.
pub const MAX_MAX_HEADER_BYTES: usize = 64 * 1024;
/// Default for [`IssuerPolicy::leeway_seconds`].
pub const DEFAULT_LEEWAY_SECONDS: i64 = 60;
/// Largest accepted `leeway_seconds`.
pub const MAX_LEEWAY_SECONDS: i64 = 600;

/// A validated policy: what the module trusts and checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    limits: Limits,
    issuers: Vec<IssuerPolicy>,
}

/// Size limits applied before any decoding work.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Longest accepted token, in bytes.
    pub max_token_bytes: usize,
    /// Largest accepted decoded header (JSON), in bytes.
    pub max_header_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_token_bytes: DEFAULT_MAX_TOKEN_BYTES,
            max_header_bytes: DEFAULT_MAX_HEADER_BYTES,
        }
    }
}

/// Cognito's `token_use` claim.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenUse {
    /// `access`.
    Access,
    /// `id`.
    Id,
}

impl TokenUse {
    /// The claim value.
    pub fn as_str(self) -> &'static str {
        match self {
            TokenUse::Access => "access",
            TokenUse::Id => "id",
        }
    }
}

/// One trusted issuer and the checks its tokens must pass.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuerPolicy {
    /// Exact `iss` value.
    pub issuer: String,
    /// Local JWK Set file, as written in the config.
    pub jwks_file: Option<String>,
    /// Remote JWK Set URL (`https://`, or `http://` on a loopback host).
    pub jwks_uri: Option<String>,
    /// OIDC discovery from the issuer URL (`discovery = true`).
    pub discovery: bool,
    /// Accepted `aud` values (any of); empty: `aud` not checked.
    pub audiences: Vec<String>,
    /// Accepted `client_id` (or `aud`) values (any of); empty: not checked.
    pub client_ids: Vec<String>,
    /// Explicit opt-out of audience checks (`any_audience = true`), for
    /// issuers whose tokens carry no `aud` and no `client_id`.
    pub any_audience: bool,
    /// Allowed signature algorithms.
    pub algorithms: Vec<Algorithm>,
    /// Clock skew tolerance for `exp`, `nbf` and `iat`, in seconds.
    pub leeway_seconds: i64,
    /// Whether `exp` must be present.
    pub require_exp: bool,
    /// Pinned header `typ`, as configured.
    pub typ: Option<String>,
    /// Required Cognito `token_use`.
    pub token_use: Option<TokenUse>,
    /// Claims that must be present (and not null).
    pub required_claims: Vec<String>,
    /// Scopes that must all be granted.
    pub required_scopes: Vec<String>,
    /// Longest accepted `exp - iat`, in seconds.
    pub max_lifetime_seconds: Option<i64>,
    /// Claims tried in order for the principal.
    pub principal_claims: Vec<String>,
    /// Claims copied (JSON-encoded) to the allow's context.
    pub context_claims: Vec<String>,
    /// Local HMAC secrets.
    pub secrets: Vec<SecretPolicy>,
}

/// A local HMAC secret of an issuer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretPolicy {
    /// The `kid` tokens signed with it carry.
    pub kid: Option<String>,
    /// A file path (as written) or `env:NAME`.
    pub location: String,
    /// `raw`, `base64` or `base64url`.
    pub encoding: String,
    /// The HMAC algorithm.
    pub algorithm: Algorithm,
}

// ---------------------------------------------------------------------------
// Raw documents, as serde sees them. Every field is optional so that a table
// holding a single key can be deserialized on its own: that is how an error is
// pinned to its field (see `deserialize_table`).

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLimits {
    max_token_bytes: Option<i64>,
    max_header_bytes: Option<i64>,
}

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

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSecret {
    kid: Option<String>,
    file: Option<String>,
    env: Option<String>,
    encoding: Option<String>,
    algorithm: Option<String>,
}

fn err(field: impl Into<String>, message: impl Into<String>) -> ConfigError {
    ConfigError {
        field: field.into(),
        message: message.into(),
    }
}

/// Deserialize a table whose fields are all optional. On failure, find the
/// first key that fails on its own, so the error names `path.key`.
fn deserialize_table<T: DeserializeOwned>(
    table: &toml::Table,
    path: &str,
) -> Result<T, ConfigError> {
    match table.clone().try_into::<T>() {
        Ok(value) => Ok(value),
        Err(whole) => {
            for (key, value) in table {
                let mut single = toml::Table::new();
                single.insert(key.clone(), value.clone());
                if let Err(e) = single.try_into::<T>() {
                    return Err(err(format!("{path}.{key}"), serde_message(&e)));
                }
            }
            Err(err(path, serde_message(&whole)))
        }
    }
}

/// Serde's message, with Rust type names replaced by TOML ones.
fn serde_message(error: &toml::de::Error) -> String {
    error
        .message()
        .trim()
        .replace("expected i64", "expected an integer")
        .replace("expected a sequence", "expected an array")
}

fn as_table<'a>(
    value: &'a toml::Value,
    path: &str,
    hint: &str,
) -> Result<&'a toml::Table, ConfigError> {
    value.as_table().ok_or_else(|| {
        err(
            path,
            format!("expected a table, found {}; {hint}", value.type_str()),
        )
    })
}

/// Line and column (1-based) of a byte offset.
fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = text.as_bytes().get(..offset).unwrap_or_default();
    let line = before.iter().filter(|&&b| b == b'\n').count() + 1;
    let line_start = before
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(0, |i| i + 1);
    let column = String::from_utf8_lossy(before.get(line_start..).unwrap_or_default())
        .chars()
        .count()
        + 1;
    (line, column)
}

/// The best field path for a syntax error at `offset`: the last table header
/// before it (`issuer[1]`, `issuer[1].secrets[0]`, `limits`), else `document`.
fn syntax_error_path(text: &str, offset: usize) -> String {
    let before = text.get(..offset.min(text.len())).unwrap_or(text);
    let mut issuers = 0usize;
    let mut secrets = 0usize;
    let mut path = String::from("document");
    for line in before.lines() {
        let header: String = line
            .split('#')
            .next()
            .unwrap_or_default()
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect();
        match header.as_str() {
            "[[issuer]]" => {
                issuers += 1;
                secrets = 0;
                path = format!("issuer[{}]", issuers - 1);
            }
            "[[issuer.secrets]]" if issuers > 0 => {
                secrets += 1;
                path = format!("issuer[{}].secrets[{}]", issuers - 1, secrets - 1);
            }
            "[limits]" => path = String::from("limits"),
            h if h.starts_with('[') => path = String::from("document"),
            _ => {}
        }
    }
    path
}

impl Policy {
    /// Parse and validate a TOML policy document.
    pub fn from_toml(text: &str) -> Result<Policy, ConfigError> {
        let document: toml::Table = toml::from_str(text).map_err(|e| {
            let offset = e.span().map_or(0, |s| s.start);
            let (line, column) = line_column(text, offset);
            err(
                syntax_error_path(text, offset),
                format!(
                    "invalid TOML at line {line}, column {column}: {}",
                    e.message().trim()
                ),
            )
        })?;

        for key in document.keys() {
            if key != "limits" && key != "issuer" {
                return Err(err(
                    key.as_str(),
                    format!("unknown field `{key}`; expected `limits` or `issuer`"),
                ));
            }
        }

        let limits = match document.get("limits") {
            None => Limits::default(),
            Some(value) => parse_limits(as_table(
                value,
                "limits",
                "write it as a `[limits]` section",
            )?)?,
        };

        let entries = match document.get("issuer") {
            None => {
                return Err(err(
                    "issuer",
                    "no issuer configured; add an `[[issuer]]` section with at least `issuer` and `algorithms`",
                ));
            }
            Some(toml::Value::Array(entries)) => entries,
            Some(other) => {
                return Err(err(
                    "issuer",
                    format!(
                        "expected an array of tables, found {}; write each issuer as an `[[issuer]]` section",
                        other.type_str()
                    ),
                ));
            }
        };
        if entries.is_empty() {
            return Err(err(
                "issuer",
                "no issuer configured; add an `[[issuer]]` section with at least `issuer` and `algorithms`",
            ));
        }

        let mut issuers: Vec<IssuerPolicy> = Vec::with_capacity(entries.len());
        for (index, entry) in entries.iter().enumerate() {
            let path = format!("issuer[{index}]");
            let table = as_table(entry, &path, "write each issuer as an `[[issuer]]` section")?;
            let issuer = parse_issuer(table, &path)?;
            if let Some(first) = issuers.iter().position(|i| i.issuer == issuer.issuer) {
                return Err(err(
                    format!("{path}.issuer"),
                    format!(
                        "issuer `{}` is already configured as issuer[{first}]; merge the two sections",
                        issuer.issuer
                    ),
                ));
            }
            issuers.push(issuer);
        }

        Ok(Policy { limits, issuers })
    }

    /// What the host must provide: per issuer, its key sources and algorithms.
    pub fn manifest(&self) -> Manifest {
        Manifest {
            issuers: self
                .issuers
                .iter()
                .map(|issuer| {
                    let mut key_sources = Vec::new();
                    if let Some(path) = &issuer.jwks_file {
                        key_sources.push(KeySource::JwksFile(path.clone()));
                    }
                    if let Some(url) = &issuer.jwks_uri {
                        key_sources.push(KeySource::JwksUri(url.clone()));
                    }
                    if issuer.discovery {
                        key_sources.push(KeySource::Discovery(issuer.issuer.clone()));
                    }
                    key_sources.extend(issuer.secrets.iter().map(|s| {
                        KeySource::Secret(SecretSource {
                            kid: s.kid.clone(),
                            location: s.location.clone(),
                            encoding: s.encoding.clone(),
                            algorithm: s.algorithm,
                        })
                    }));
                    IssuerNeeds {
                        issuer: issuer.issuer.clone(),
                        key_sources,
                        algorithms: issuer.algorithms.clone(),
                    }
                })
                .collect(),
        }
    }

    /// The size limits.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// The trusted issuers, in document order.
    pub fn issuers(&self) -> &[IssuerPolicy] {
        &self.issuers
    }
}

fn parse_limits(table: &toml::Table) -> Result<Limits, ConfigError> {
    let raw: RawLimits = deserialize_table(table, "limits")?;
    let defaults = Limits::default();
    Ok(Limits {
        max_token_bytes: size_in_range(
            raw.max_token_bytes,
            "limits.max_token_bytes",
            defaults.max_token_bytes,
            MAX_MAX_TOKEN_BYTES,
        )?,
        max_header_bytes: size_in_range(
            raw.max_header_bytes,
            "limits.max_header_bytes",
            defaults.max_header_bytes,
            MAX_MAX_HEADER_BYTES,
        )?,
    })
}

fn size_in_range(
    value: Option<i64>,
    field: &str,
    default: usize,
    max: usize,
) -> Result<usize, ConfigError> {
    let Some(value) = value else {
        return Ok(default);
    };
    match usize::try_from(value) {
        Ok(v) if (1..=max).contains(&v) => Ok(v),
        _ => Err(err(
            field,
            format!(
                "{value} is out of range; write a byte count from 1 to {max} (default {default})"
            ),
        )),
    }
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

fn parse_issuer(table: &toml::Table, path: &str) -> Result<IssuerPolicy, ConfigError> {
    let raw: RawIssuer = deserialize_table(table, path)?;

    let issuer = match raw.issuer {
        None => {
            return Err(err(
                format!("{path}.issuer"),
                "missing; write the exact `iss` value, e.g. issuer = \"https://issuer.example\"",
            ));
        }
        Some(s) if s.is_empty() => {
            return Err(err(
                format!("{path}.issuer"),
                "empty; write the exact `iss` value, e.g. issuer = \"https://issuer.example\"",
            ));
        }
        Some(s) if s.trim() != s => {
            return Err(err(
                format!("{path}.issuer"),
                "has leading or trailing whitespace; `iss` is compared exactly, remove it",
            ));
        }
        Some(s) => s,
    };

    let jwks_file = match raw.jwks_file {
        Some(f) if f.trim().is_empty() => {
            return Err(err(
                format!("{path}.jwks_file"),
                "empty; write the path of a JWK Set file or remove the field",
            ));
        }
        other => other,
    };
    let jwks_uri = match raw.jwks_uri {
        Some(url) => {
            check_key_url(&url).map_err(|reason| {
                err(
                    format!("{path}.jwks_uri"),
                    format!(
                        "`{}` is not a usable JWK Set URL: {reason}",
                        quoted_prefix(&url)
                    ),
                )
            })?;
            Some(url)
        }
        None => None,
    };
    let discovery = raw.discovery.unwrap_or(false);
    let sources: Vec<&str> = [
        ("jwks_file", jwks_file.is_some()),
        ("jwks_uri", jwks_uri.is_some()),
        ("discovery", discovery),
    ]
    .into_iter()
    .filter_map(|(name, set)| set.then_some(name))
    .collect();
    if let [first, second, ..] = sources.as_slice() {
        return Err(err(
            format!("{path}.{second}"),
            format!(
                "`{first}` and `{second}` are both set; an issuer has exactly one key source: \
                 keep one of jwks_file, jwks_uri and discovery = true"
            ),
        ));
    }
    if discovery {
        let reason = check_key_url(&issuer).err().or_else(|| {
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
                    quoted_prefix(&issuer)
                ),
            ));
        }
    }

    let algorithms = parse_algorithms(raw.algorithms, &format!("{path}.algorithms"))?;
    let audiences = string_list(raw.audiences, &format!("{path}.audiences"), "audience")?;
    let client_ids = string_list(raw.client_ids, &format!("{path}.client_ids"), "client id")?;
    let any_audience = raw.any_audience.unwrap_or(false);
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

    let leeway_seconds = raw.leeway_seconds.unwrap_or(DEFAULT_LEEWAY_SECONDS);
    if !(0..=MAX_LEEWAY_SECONDS).contains(&leeway_seconds) {
        return Err(err(
            format!("{path}.leeway_seconds"),
            format!(
                "{leeway_seconds} is out of range; write a number of seconds from 0 to {MAX_LEEWAY_SECONDS} (default {DEFAULT_LEEWAY_SECONDS})"
            ),
        ));
    }

    let typ = match raw.typ {
        Some(t) if t.trim().is_empty() || t.trim() != t => {
            return Err(err(
                format!("{path}.typ"),
                "empty or padded with whitespace; write a media type such as typ = \"at+jwt\", or remove the field",
            ));
        }
        other => other,
    };

    let token_use = match raw.token_use.as_deref() {
        None => None,
        Some("access") => Some(TokenUse::Access),
        Some("id") => Some(TokenUse::Id),
        Some(other) => {
            return Err(err(
                format!("{path}.token_use"),
                format!("unknown token use `{other}`; write \"access\" or \"id\""),
            ));
        }
    };

    let required_claims = string_list(
        raw.required_claims,
        &format!("{path}.required_claims"),
        "claim name",
    )?;
    let required_scopes = string_list(
        raw.required_scopes,
        &format!("{path}.required_scopes"),
        "scope",
    )?;
    for (i, scope) in required_scopes.iter().enumerate() {
        if scope.chars().any(char::is_whitespace) {
            return Err(err(
                format!("{path}.required_scopes[{i}]"),
                format!("scope `{scope}` contains whitespace; list each scope as its own string"),
            ));
        }
    }

    let max_lifetime_seconds = match raw.max_lifetime_seconds {
        Some(v) if v <= 0 => {
            return Err(err(
                format!("{path}.max_lifetime_seconds"),
                format!(
                    "{v} is not positive; write a number of seconds such as 86400, or remove the field"
                ),
            ));
        }
        other => other,
    };

    let principal_claims = match raw.principal_claims {
        None => vec![String::from("sub"), String::from("client_id")],
        Some(list) if list.is_empty() => {
            return Err(err(
                format!("{path}.principal_claims"),
                "empty, so no token could name a principal; write e.g. principal_claims = [\"sub\"] or remove the field (default [\"sub\", \"client_id\"])",
            ));
        }
        Some(list) => list,
    };
    let principal_claims = string_list(
        Some(principal_claims),
        &format!("{path}.principal_claims"),
        "claim name",
    )?;
    let context_claims = string_list(
        raw.context_claims,
        &format!("{path}.context_claims"),
        "claim name",
    )?;

    let mut secrets = Vec::new();
    for (j, value) in raw.secrets.unwrap_or_default().iter().enumerate() {
        let spath = format!("{path}.secrets[{j}]");
        let table = as_table(
            value,
            &spath,
            "write each secret as an `[[issuer.secrets]]` section",
        )?;
        secrets.push(parse_secret(table, &spath, &algorithms)?);
    }

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
        && sources.is_empty()
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

    Ok(IssuerPolicy {
        issuer,
        jwks_file,
        jwks_uri,
        discovery,
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

/// At most 64 characters of an untrusted string, for error messages.
fn quoted_prefix(text: &str) -> String {
    let mut cut: String = text.chars().take(64).collect();
    if cut.len() < text.len() {
        cut.push('…');
    }
    cut
}

/// The shape of a URL keys may be fetched from: `https://host[:port][/path][?query]`,
/// or `http://` when the host is loopback (`127.0.0.0/8`, `localhost`, `[::1]`).
/// No user name or password, no fragment. (The host checks it again when it
/// fetches.)
pub fn check_key_url(url: &str) -> Result<(), String> {
    if url.is_empty() {
        return Err(String::from("it is empty"));
    }
    if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(String::from(
            "it contains white space or control characters",
        ));
    }
    let Some((scheme, rest)) = url.split_once("://") else {
        return Err(String::from(
            "it is not an absolute URL; write https://host/path",
        ));
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    if tail.contains('#') {
        return Err(String::from("it has a #fragment; remove it"));
    }
    if authority.contains('@') {
        return Err(String::from(
            "it carries a user name or password; credentials do not belong in a key URL",
        ));
    }
    let (host, port) = match authority.strip_prefix('[') {
        Some(bracketed) => {
            let Some((inside, after)) = bracketed.split_once(']') else {
                return Err(String::from("its IPv6 host has no closing `]`"));
            };
            if inside.is_empty()
                || !inside
                    .chars()
                    .all(|c| c.is_ascii_hexdigit() || c == ':' || c == '.')
            {
                return Err(String::from("its IPv6 host is not an address"));
            }
            let port = match after {
                "" => None,
                p => Some(p.strip_prefix(':').ok_or_else(|| {
                    String::from("unexpected text after its IPv6 host; write [addr]:port")
                })?),
            };
            (&authority[..inside.len() + 2], port)
        }
        None => match authority.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        },
    };
    if host.is_empty() {
        return Err(String::from("it has no host; write https://host/path"));
    }
    if !host.starts_with('[')
        && !host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
    {
        return Err(format!(
            "its host `{}` is not a host name or address",
            quoted_prefix(host)
        ));
    }
    if let Some(port) = port
        && !(port.chars().all(|c| c.is_ascii_digit()) && port.parse::<u16>().is_ok_and(|p| p > 0))
    {
        return Err(format!(
            "its port `{}` is not a number from 1 to 65535",
            quoted_prefix(port)
        ));
    }
    match scheme.to_ascii_lowercase().as_str() {
        "https" => Ok(()),
        "http" if is_loopback_host(host) => Ok(()),
        "http" => Err(String::from(
            "plain http is only allowed for a loopback host (127.0.0.0/8, localhost, [::1]); use https",
        )),
        _ => Err(format!(
            "the scheme `{}` is not allowed; use https",
            quoted_prefix(scheme)
        )),
    }
}

fn is_loopback_host(host: &str) -> bool {
    if host.eq_ignore_ascii_case("localhost") || host == "[::1]" {
        return true;
    }
    let octets: Vec<&str> = host.split('.').collect();
    octets.len() == 4
        && octets[0] == "127"
        && octets.iter().all(|o| {
            !o.is_empty()
                && o.len() <= 3
                && o.chars().all(|c| c.is_ascii_digit())
                && o.parse::<u8>().is_ok()
        })
}

fn parse_secret(
    table: &toml::Table,
    path: &str,
    algorithms: &[Algorithm],
) -> Result<SecretPolicy, ConfigError> {
    let raw: RawSecret = deserialize_table(table, path)?;

    let kid = match raw.kid {
        Some(k) if k.is_empty() => {
            return Err(err(
                format!("{path}.kid"),
                "empty; write the `kid` tokens carry, or remove the field for tokens without `kid`",
            ));
        }
        other => other,
    };

    let location = match (raw.file, raw.env) {
        (Some(_), Some(_)) => {
            return Err(err(
                format!("{path}.env"),
                "both `file` and `env` are set; keep exactly one of them",
            ));
        }
        (None, None) => {
            return Err(err(
                format!("{path}.file"),
                "no secret location; write file = \"secret.txt\" or env = \"VARIABLE_NAME\"",
            ));
        }
        (Some(file), None) => {
            if file.trim().is_empty() {
                return Err(err(
                    format!("{path}.file"),
                    "empty; write the path of the file holding the secret",
                ));
            }
            if file != file.trim() {
                return Err(err(
                    format!("{path}.file"),
                    "starts or ends with white space; write the path exactly",
                ));
            }
            if file.starts_with("env:") {
                return Err(err(
                    format!("{path}.file"),
                    "looks like an environment variable; write env = \"NAME\" instead of file = \"env:NAME\"",
                ));
            }
            file
        }
        (None, Some(env)) => {
            if env.is_empty() || env.contains('=') || env.chars().any(char::is_whitespace) {
                return Err(err(
                    format!("{path}.env"),
                    "not a valid environment variable name; write e.g. env = \"TOLLGATE_SECRET\"",
                ));
            }
            format!("env:{env}")
        }
    };

    let encoding = match raw.encoding.as_deref() {
        None => String::from("raw"),
        Some(e @ ("raw" | "base64" | "base64url")) => String::from(e),
        Some(other) => {
            return Err(err(
                format!("{path}.encoding"),
                format!("unknown encoding `{other}`; write \"raw\", \"base64\" or \"base64url\""),
            ));
        }
    };

    let algorithm = match raw.algorithm.as_deref() {
        None => {
            return Err(err(
                format!("{path}.algorithm"),
                "missing; write the HMAC algorithm of this secret, e.g. algorithm = \"HS256\"",
            ));
        }
        Some(name) => match Algorithm::from_name(name) {
            Some(alg) if alg.is_symmetric() => alg,
            _ => {
                return Err(err(
                    format!("{path}.algorithm"),
                    format!(
                        "`{name}` is not an HMAC algorithm; write \"HS256\", \"HS384\" or \"HS512\""
                    ),
                ));
            }
        },
    };
    if !algorithms.contains(&algorithm) {
        return Err(err(
            format!("{path}.algorithm"),
            format!(
                "this secret is for {algorithm} but the issuer's `algorithms` does not list it; add \"{algorithm}\" to `algorithms`"
            ),
        ));
    }

    Ok(SecretPolicy {
        kid,
        location,
        encoding,
        algorithm,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::policy_text;

    const MINIMAL: &str = r#"
[[issuer]]
issuer = "https://issuer.example"
jwks_file = "keys/jwks.json"
audiences = ["orders-api"]
algorithms = ["RS256"]
"#;

    #[track_caller]
    fn error(text: &str) -> ConfigError {
        match Policy::from_toml(text) {
            Err(e) => e,
            Ok(p) => panic!("expected a config error, got {p:?}"),
        }
    }

    #[track_caller]
    fn error_at(text: &str, field: &str) -> ConfigError {
        let e = error(text);
        assert_eq!(e.field, field, "message: {}", e.message);
        assert!(!e.message.is_empty());
        e
    }

    /// MINIMAL with `extra` lines added to the issuer table.
    fn minimal(extra: &str) -> String {
        format!("{MINIMAL}{extra}\n")
    }

    #[test]
    fn minimal_defaults() {
        let p = Policy::from_toml(MINIMAL).unwrap();
        assert_eq!(p.limits(), &Limits::default());
        assert_eq!(p.limits().max_token_bytes, 16384);
        assert_eq!(p.limits().max_header_bytes, 2048);
        let i = &p.issuers()[0];
        assert_eq!(i.issuer, "https://issuer.example");
        assert_eq!(i.jwks_file.as_deref(), Some("keys/jwks.json"));
        assert_eq!(i.algorithms, vec![Algorithm::Rs256]);
        assert_eq!(i.leeway_seconds, 60);
        assert!(i.require_exp);
        assert_eq!(i.principal_claims, vec!["sub", "client_id"]);
        assert!(i.context_claims.is_empty());
        assert!(i.secrets.is_empty());
        assert_eq!(i.typ, None);
        assert_eq!(i.token_use, None);
        assert_eq!(i.max_lifetime_seconds, None);
    }

    #[test]
    fn full_document() {
        let text = r#"
[limits]
max_token_bytes = 8192
max_header_bytes = 1024

[[issuer]]
issuer = "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_abc"
jwks_file = "keys/jwks.json"
client_ids = ["abc"]
algorithms = ["RS256", "ES256", "HS256"]
leeway_seconds = 0
require_exp = false
typ = "at+jwt"
token_use = "access"
required_claims = ["email"]
required_scopes = ["orders.read"]
max_lifetime_seconds = 86400
principal_claims = ["client_id"]
context_claims = ["email", "scope"]

[[issuer.secrets]]
kid = "k1"
file = "secret.txt"
encoding = "base64"
algorithm = "HS256"

[[issuer.secrets]]
env = "TOLLGATE_SECRET"
algorithm = "HS256"

[[issuer]]
issuer = "https://other.example"
audiences = ["x"]
algorithms = ["HS512"]
[[issuer.secrets]]
env = "OTHER"
encoding = "base64url"
algorithm = "HS512"
"#;
        let p = Policy::from_toml(text).unwrap();
        assert_eq!(p.limits().max_token_bytes, 8192);
        assert_eq!(p.limits().max_header_bytes, 1024);
        let i = &p.issuers()[0];
        assert_eq!(i.client_ids, vec!["abc"]);
        assert!(i.audiences.is_empty());
        assert_eq!(i.leeway_seconds, 0);
        assert!(!i.require_exp);
        assert_eq!(i.typ.as_deref(), Some("at+jwt"));
        assert_eq!(i.token_use, Some(TokenUse::Access));
        assert_eq!(i.required_claims, vec!["email"]);
        assert_eq!(i.required_scopes, vec!["orders.read"]);
        assert_eq!(i.max_lifetime_seconds, Some(86400));
        assert_eq!(i.principal_claims, vec!["client_id"]);
        assert_eq!(i.context_claims, vec!["email", "scope"]);

        let m = p.manifest();
        assert_eq!(
            m,
            Manifest {
                issuers: vec![
                    IssuerNeeds {
                        issuer: String::from(
                            "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_abc"
                        ),
                        key_sources: vec![
                            KeySource::JwksFile(String::from("keys/jwks.json")),
                            KeySource::Secret(SecretSource {
                                kid: Some(String::from("k1")),
                                location: String::from("secret.txt"),
                                encoding: String::from("base64"),
                                algorithm: Algorithm::Hs256,
                            }),
                            KeySource::Secret(SecretSource {
                                kid: None,
                                location: String::from("env:TOLLGATE_SECRET"),
                                encoding: String::from("raw"),
                                algorithm: Algorithm::Hs256,
                            }),
                        ],
                        algorithms: vec![Algorithm::Rs256, Algorithm::Es256, Algorithm::Hs256],
                    },
                    IssuerNeeds {
                        issuer: String::from("https://other.example"),
                        key_sources: vec![KeySource::Secret(SecretSource {
                            kid: None,
                            location: String::from("env:OTHER"),
                            encoding: String::from("base64url"),
                            algorithm: Algorithm::Hs512,
                        })],
                        algorithms: vec![Algorithm::Hs512],
                    },
                ],
            }
        );
    }

    #[test]
    fn test_policy_is_valid() {
        let p = Policy::from_toml(&policy_text("")).unwrap();
        assert_eq!(p.issuers()[0].algorithms, Algorithm::ALL.to_vec());
    }

    #[test]
    fn syntax_errors() {
        let e = error_at("[[issuer]\nissuer = 1", "document");
        assert!(e.message.contains("line 1"), "{}", e.message);
        let e = error_at(&format!("{MINIMAL}leeway_seconds = = 3\n"), "issuer[0]");
        assert!(e.message.contains("line 7"), "{}", e.message);
        error_at(
            &format!("{MINIMAL}\n[[issuer.secrets]]\nkid = \"a\nenv = \"X\"\n"),
            "issuer[0].secrets[0]",
        );
        error_at("[limits]\nmax_token_bytes = 1 2\n", "limits");
        // Duplicate keys are a TOML error.
        error_at(&format!("{MINIMAL}issuer = \"again\"\n"), "issuer[0]");
        error_at("", "issuer");
    }

    #[test]
    fn unknown_fields_name_their_path() {
        let e = error_at(&minimal("audience = [\"x\"]"), "issuer[0].audience");
        assert!(e.message.contains("unknown field"), "{}", e.message);
        assert!(e.message.contains("audiences"), "{}", e.message);
        error_at(
            &format!("{MINIMAL}\n[[issuer]]\nissuer = \"b\"\nalgorithms = [\"HS256\"]\nfoo = 1\n"),
            "issuer[1].foo",
        );
        error_at(
            &minimal(
                "algorithms_extra = 1\n[[issuer.secrets]]\nenv = \"X\"\nalgorithm = \"HS256\"",
            ),
            "issuer[0].algorithms_extra",
        );
        error_at(
            &policy_text("").replace("kid = \"hs\"\nenv", "kid = \"hs\"\nsecret = \"x\"\nenv"),
            "issuer[0].secrets[0].secret",
        );
        error_at(
            &format!("[limits]\nmax_bytes = 1\n{MINIMAL}"),
            "limits.max_bytes",
        );
        let e = error_at(&format!("routes = []\n{MINIMAL}"), "routes");
        assert!(e.message.contains("issuer"), "{}", e.message);
    }

    #[test]
    fn wrong_types_name_their_path() {
        let e = error_at(
            &minimal("leeway_seconds = \"60\""),
            "issuer[0].leeway_seconds",
        );
        assert!(e.message.contains("invalid type"), "{}", e.message);
        error_at(&minimal("require_exp = \"yes\""), "issuer[0].require_exp");
        error_at(
            &MINIMAL.replace("audiences = [\"orders-api\"]", "audiences = \"orders-api\""),
            "issuer[0].audiences",
        );
        error_at(
            &MINIMAL.replace("algorithms = [\"RS256\"]", "algorithms = [1]"),
            "issuer[0].algorithms",
        );
        error_at(&minimal("secrets = 1"), "issuer[0].secrets");
        error_at(&minimal("secrets = [1]"), "issuer[0].secrets[0]");
        error_at(&format!("limits = 1\n{MINIMAL}"), "limits");
        error_at("issuer = \"x\"", "issuer");
        error_at("issuer = [1]", "issuer[0]");
        error_at(
            &format!("[limits]\nmax_token_bytes = \"big\"\n{MINIMAL}"),
            "limits.max_token_bytes",
        );
    }

    #[test]
    fn algorithms_rules() {
        let no_algs = MINIMAL.replace("algorithms = [\"RS256\"]\n", "");
        let e = error_at(&no_algs, "issuer[0].algorithms");
        assert!(e.message.contains("missing"), "{}", e.message);
        error_at(
            &MINIMAL.replace("[\"RS256\"]", "[]"),
            "issuer[0].algorithms",
        );
        let e = error_at(
            &MINIMAL.replace("[\"RS256\"]", "[\"RS256\", \"none\"]"),
            "issuer[0].algorithms[1]",
        );
        assert!(e.message.contains("none"), "{}", e.message);
        error_at(
            &MINIMAL.replace("[\"RS256\"]", "[\"None\"]"),
            "issuer[0].algorithms[0]",
        );
        let e = error_at(
            &MINIMAL.replace("[\"RS256\"]", "[\"rs256\"]"),
            "issuer[0].algorithms[0]",
        );
        assert!(e.message.contains("RS256"), "{}", e.message);
        let e = error_at(
            &MINIMAL.replace("[\"RS256\"]", "[\"XS256\"]"),
            "issuer[0].algorithms[0]",
        );
        assert!(e.message.contains("EdDSA"), "{}", e.message);
        error_at(
            &MINIMAL.replace("[\"RS256\"]", "[\"RS256\", \"RS256\"]"),
            "issuer[0].algorithms[1]",
        );
    }

    #[test]
    fn key_source_rules() {
        // HS without a secret.
        let e = error_at(
            &MINIMAL.replace("[\"RS256\"]", "[\"RS256\", \"HS256\"]"),
            "issuer[0].secrets",
        );
        assert!(e.message.contains("HS256"), "{}", e.message);
        // Asymmetric without jwks_file.
        let e = error_at(
            &MINIMAL.replace("jwks_file = \"keys/jwks.json\"\n", ""),
            "issuer[0].jwks_file",
        );
        assert!(e.message.contains("RS256"), "{}", e.message);
        // Secret whose algorithm is not listed.
        error_at(
            &minimal("[[issuer.secrets]]\nenv = \"X\"\nalgorithm = \"HS256\""),
            "issuer[0].secrets[0].algorithm",
        );
        // Secret with an asymmetric algorithm.
        error_at(
            &minimal("[[issuer.secrets]]\nenv = \"X\"\nalgorithm = \"RS256\""),
            "issuer[0].secrets[0].algorithm",
        );
        let hs = MINIMAL.replace("[\"RS256\"]", "[\"RS256\", \"HS256\"]");
        let secret = |body: &str| {
            format!(
                "{hs}[[issuer.secrets]]\nenv = \"OK\"\nalgorithm = \"HS256\"\n[[issuer.secrets]]\n{body}\n"
            )
        };
        error_at(
            &secret("file = \"s\"\nenv = \"X\"\nalgorithm = \"HS256\""),
            "issuer[0].secrets[1].env",
        );
        error_at(
            &secret("algorithm = \"HS256\""),
            "issuer[0].secrets[1].file",
        );
        error_at(&secret("env = \"X\""), "issuer[0].secrets[1].algorithm");
        let e = error_at(
            &secret("env = \"X\"\nalgorithm = \"HS256\"\nencoding = \"hex\""),
            "issuer[0].secrets[1].encoding",
        );
        assert!(e.message.contains("base64url"), "{}", e.message);
        error_at(
            &secret("env = \"\"\nalgorithm = \"HS256\""),
            "issuer[0].secrets[1].env",
        );
        error_at(
            &secret("file = \" \"\nalgorithm = \"HS256\""),
            "issuer[0].secrets[1].file",
        );
        error_at(
            &secret("kid = \"\"\nenv = \"X\"\nalgorithm = \"HS256\""),
            "issuer[0].secrets[1].kid",
        );
        error_at(
            &secret("env = 5\nalgorithm = \"HS256\""),
            "issuer[0].secrets[1].env",
        );
        assert!(
            Policy::from_toml(&secret(
                "file = \"s\"\nalgorithm = \"HS256\"\nencoding = \"base64\""
            ))
            .is_ok()
        );
        // HMAC-only issuer needs no jwks_file.
        let hmac_only = "[[issuer]]\nissuer = \"i\"\naudiences = [\"a\"]\nalgorithms = [\"HS256\"]\n[[issuer.secrets]]\nfile = \"s\"\nalgorithm = \"HS256\"\n";
        let p = Policy::from_toml(hmac_only).unwrap();
        assert_eq!(p.manifest().issuers[0].key_sources.len(), 1);
        // Each listed HMAC algorithm needs its own secret.
        error_at(
            &hmac_only.replace("[\"HS256\"]", "[\"HS256\", \"HS384\"]"),
            "issuer[0].secrets",
        );
        error_at(
            &MINIMAL.replace("keys/jwks.json", ""),
            "issuer[0].jwks_file",
        );
    }

    #[test]
    fn remote_key_sources() {
        let without_file = MINIMAL.replace("jwks_file = \"keys/jwks.json\"\n", "");
        let with = |extra: &str| format!("{without_file}{extra}\n");

        // jwks_uri: emitted as JwksUri, secrets after it.
        let text = with(
            "jwks_uri = \"https://issuer.example/.well-known/jwks.json\"\n\
             [[issuer.secrets]]\nenv = \"S\"\nalgorithm = \"HS256\"",
        )
        .replace("[\"RS256\"]", "[\"RS256\", \"HS256\"]");
        let p = Policy::from_toml(&text).unwrap();
        assert_eq!(
            p.issuers()[0].jwks_uri.as_deref(),
            Some("https://issuer.example/.well-known/jwks.json")
        );
        assert!(!p.issuers()[0].discovery);
        let sources = &p.manifest().issuers[0].key_sources;
        assert_eq!(
            sources[0],
            KeySource::JwksUri(String::from("https://issuer.example/.well-known/jwks.json"))
        );
        assert!(matches!(sources[1], KeySource::Secret(_)));
        assert_eq!(sources.len(), 2);

        // discovery = true: emitted as Discovery(issuer).
        let p = Policy::from_toml(&with("discovery = true")).unwrap();
        assert!(p.issuers()[0].discovery);
        assert_eq!(
            p.manifest().issuers[0].key_sources,
            vec![KeySource::Discovery(String::from("https://issuer.example"))]
        );
        // discovery = false is no key source.
        let e = error_at(&with("discovery = false"), "issuer[0].jwks_file");
        assert!(e.message.contains("jwks_uri"), "{}", e.message);
        assert!(e.message.contains("discovery = true"), "{}", e.message);

        // Loopback http is fine (tests, sidecars); other http is not.
        for ok in [
            "http://127.0.0.1:8080/jwks.json",
            "http://127.1.2.3/jwks.json",
            "http://localhost/jwks.json",
            "http://[::1]:9000/jwks.json",
            "HTTPS://issuer.example:8443/keys?tenant=a",
        ] {
            let p = Policy::from_toml(&with(&format!("jwks_uri = \"{ok}\"")))
                .unwrap_or_else(|e| panic!("{ok}: {e}"));
            assert_eq!(p.issuers()[0].jwks_uri.as_deref(), Some(ok));
        }
        for (bad, why) in [
            ("http://issuer.example/jwks.json", "loopback"),
            ("http://10.0.0.1/jwks.json", "loopback"),
            ("http://128.0.0.1/jwks.json", "loopback"),
            ("http://127.0.0.256/jwks.json", "loopback"),
            ("http://localhost.evil.example/jwks.json", "loopback"),
            ("ftp://issuer.example/jwks.json", "scheme"),
            ("file:///etc/jwks.json", "no host"),
            ("issuer.example/jwks.json", "absolute"),
            ("", "empty"),
            ("https://issuer.example/jwks.json ", "white space"),
            ("https://user:pw@issuer.example/jwks.json", "password"),
            ("https://issuer.example/jwks.json#k", "fragment"),
            ("https://issuer.example:0/jwks.json", "port"),
            ("https://issuer.example:99999/jwks.json", "port"),
            ("https://issuer.example:x/jwks.json", "port"),
            ("https://[::1/jwks.json", "]"),
            ("https://iss%uer.example/", "host"),
        ] {
            let e = error_at(
                &with(&format!("jwks_uri = \"{bad}\"")),
                "issuer[0].jwks_uri",
            );
            assert!(e.message.contains(why), "{bad}: {}", e.message);
        }
        error_at(&with("jwks_uri = 5"), "issuer[0].jwks_uri");
        error_at(&with("discovery = \"yes\""), "issuer[0].discovery");

        // Exactly one key source kind.
        let e = error_at(
            &minimal("jwks_uri = \"https://issuer.example/jwks.json\""),
            "issuer[0].jwks_uri",
        );
        assert!(e.message.contains("jwks_file"), "{}", e.message);
        error_at(&minimal("discovery = true"), "issuer[0].discovery");
        error_at(
            &with("jwks_uri = \"https://issuer.example/jwks.json\"\ndiscovery = true"),
            "issuer[0].discovery",
        );

        // Discovery needs an https (or loopback http) issuer URL.
        for issuer in [
            "urn:example:batch",
            "http://issuer.example",
            "https://issuer.example/?x=1",
            "https://issuer.example/#x",
        ] {
            let e = error_at(
                &with("discovery = true").replace("https://issuer.example", issuer),
                "issuer[0].discovery",
            );
            assert!(e.message.contains("jwks_uri"), "{}", e.message);
        }
        assert!(
            Policy::from_toml(
                &with("discovery = true")
                    .replace("https://issuer.example", "http://127.0.0.1:8080/realms/x")
            )
            .is_ok()
        );
    }

    #[test]
    fn issuer_rules() {
        error_at(
            &MINIMAL.replace("issuer = \"https://issuer.example\"\n", ""),
            "issuer[0].issuer",
        );
        error_at(
            &MINIMAL.replace("https://issuer.example", ""),
            "issuer[0].issuer",
        );
        error_at(
            &MINIMAL.replace("https://issuer.example", " https://issuer.example"),
            "issuer[0].issuer",
        );
        let e = error_at(&format!("{MINIMAL}{MINIMAL}"), "issuer[1].issuer");
        assert!(e.message.contains("issuer[0]"), "{}", e.message);
        error_at("issuer = []", "issuer");
        error_at("[limits]\n", "issuer");
        // Neither audiences nor client_ids.
        error_at(
            &MINIMAL.replace("audiences = [\"orders-api\"]\n", ""),
            "issuer[0].audiences",
        );
        error_at(
            &MINIMAL.replace("[\"orders-api\"]", "[]"),
            "issuer[0].audiences",
        );
        assert!(
            Policy::from_toml(
                &MINIMAL.replace("audiences = [\"orders-api\"]", "client_ids = [\"c\"]")
            )
            .is_ok()
        );
        // Secret file locations that would be misread.
        let hmac = "[[issuer]]\nissuer = \"i\"\naudiences = [\"a\"]\nalgorithms = [\"HS256\"]\n[[issuer.secrets]]\nalgorithm = \"HS256\"\n";
        error_at(
            &format!("{hmac}file = \"env:SECRET\"\n"),
            "issuer[0].secrets[0].file",
        );
        error_at(
            &format!("{hmac}file = \" secret.txt\"\n"),
            "issuer[0].secrets[0].file",
        );
        assert!(Policy::from_toml(&format!("{hmac}file = \"secret.txt\"\n")).is_ok());
        // The explicit opt-out, and its contradiction with audiences.
        let open = Policy::from_toml(
            &MINIMAL.replace("audiences = [\"orders-api\"]", "any_audience = true"),
        )
        .expect("any_audience alone is valid");
        assert!(open.issuers()[0].any_audience);
        assert!(open.issuers()[0].audiences.is_empty());
        error_at(
            &MINIMAL.replace(
                "audiences = [\"orders-api\"]",
                "audiences = [\"a\"]\nany_audience = true",
            ),
            "issuer[0].any_audience",
        );
        error_at(
            &MINIMAL.replace("[\"orders-api\"]", "[\"a\", \"\"]"),
            "issuer[0].audiences[1]",
        );
        error_at(
            &MINIMAL.replace("[\"orders-api\"]", "[\"a\", \"a\"]"),
            "issuer[0].audiences[1]",
        );
    }

    #[test]
    fn value_ranges() {
        assert_eq!(
            Policy::from_toml(&minimal("leeway_seconds = 0"))
                .unwrap()
                .issuers()[0]
                .leeway_seconds,
            0
        );
        assert_eq!(
            Policy::from_toml(&minimal("leeway_seconds = 600"))
                .unwrap()
                .issuers()[0]
                .leeway_seconds,
            600
        );
        let e = error_at(&minimal("leeway_seconds = 601"), "issuer[0].leeway_seconds");
        assert!(e.message.contains("600"), "{}", e.message);
        error_at(&minimal("leeway_seconds = -1"), "issuer[0].leeway_seconds");
        error_at(
            &minimal("max_lifetime_seconds = 0"),
            "issuer[0].max_lifetime_seconds",
        );
        error_at(&minimal("token_use = \"refresh\""), "issuer[0].token_use");
        error_at(&minimal("typ = \"\""), "issuer[0].typ");
        error_at(
            &minimal("principal_claims = []"),
            "issuer[0].principal_claims",
        );
        error_at(
            &minimal("principal_claims = [\"sub\", \"\"]"),
            "issuer[0].principal_claims[1]",
        );
        error_at(
            &minimal("required_scopes = [\"a b\"]"),
            "issuer[0].required_scopes[0]",
        );
        error_at(
            &minimal("required_claims = [\"\"]"),
            "issuer[0].required_claims[0]",
        );
        error_at(
            &minimal("context_claims = [\"x\", \"x\"]"),
            "issuer[0].context_claims[1]",
        );
        let limits = |body: &str| format!("[limits]\n{body}\n{MINIMAL}");
        error_at(&limits("max_token_bytes = 0"), "limits.max_token_bytes");
        error_at(&limits("max_token_bytes = -5"), "limits.max_token_bytes");
        error_at(
            &limits("max_token_bytes = 1048577"),
            "limits.max_token_bytes",
        );
        error_at(
            &limits("max_header_bytes = 65537"),
            "limits.max_header_bytes",
        );
        let p =
            Policy::from_toml(&limits("max_token_bytes = 1048576\nmax_header_bytes = 1")).unwrap();
        assert_eq!(p.limits().max_token_bytes, 1048576);
        assert_eq!(p.limits().max_header_bytes, 1);
    }

    #[test]
    fn error_display() {
        let e = error(&minimal("bogus = 1"));
        assert!(
            e.to_string()
                .starts_with("config error at `issuer[0].bogus`: "),
            "{e}"
        );
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_crash() {
        for n in [1000usize, 100_000] {
            let arrays = format!("x = {}{}", "[".repeat(n), "]".repeat(n));
            let tables = format!("x = {}1{}", "{a=".repeat(n), "}".repeat(n));
            let dotted = format!("{} = 1", vec!["a"; n].join("."));
            for text in [arrays, tables, dotted] {
                assert!(Policy::from_toml(&text).is_err());
            }
        }
    }

    #[test]
    fn line_columns() {
        assert_eq!(line_column("ab\ncd", 0), (1, 1));
        assert_eq!(line_column("ab\ncd", 4), (2, 2));
        assert_eq!(line_column("é\nx", 99), (2, 2));
    }
}
