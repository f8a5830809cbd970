//! The policy document: parsing, validation and the manifest.
//!
//! The document is TOML. Every table rejects unknown fields, and every error
//! names the offending field as a path (`issuer[0].algorithms`) and says what
//! to write instead.
//!
//! One file per section: [`limits`] (`[limits]`), [`issuer`] (`[[issuer]]`),
//! [`secret`] (`[[issuer.secrets]]`), [`key_url`] (the URLs keys may come
//! from), and `document` (TOML errors pinned to their field).

mod context;
mod document;
mod issuer;
pub mod key_url;
mod limits;
mod paths;
mod routes;
mod secret;
#[cfg(test)]
mod tests;

use crate::model::{
    Algorithm, ConfigError, IssuerNeeds, KeySource, Manifest, PathOptions, SecretSource,
};
use crate::routes::Routes;
use document::{as_table, err, line_column, syntax_error_path};
use issuer::parse_issuer;
use limits::parse_limits;

pub use context::{
    ArrayForm, ContextEntry, DEFAULT_MAX_CONTEXT_BYTES, has_control, render as render_context,
};
pub use issuer::{DEFAULT_LEEWAY_SECONDS, MAX_LEEWAY_SECONDS};
pub use key_url::check_key_url;
pub use limits::{
    DEFAULT_MAX_HEADER_BYTES, DEFAULT_MAX_TOKEN_BYTES, MAX_MAX_HEADER_BYTES, MAX_MAX_TOKEN_BYTES,
};
pub use routes::DEFAULT_GROUPS_CLAIM;

/// A validated policy: what the module trusts and checks.
#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    limits: TokenLimits,
    issuers: Vec<IssuerPolicy>,
    paths: PathOptions,
    routes: Routes,
    context: Vec<ContextEntry>,
    module: Option<toml::Table>,
}

/// Size limits applied before any decoding work.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TokenLimits {
    /// Longest accepted token, in bytes.
    pub max_token_bytes: usize,
    /// Largest accepted decoded header (JSON), in bytes.
    pub max_header_bytes: usize,
    /// Most bytes of names and values the `[[context]]` mappings forward.
    pub max_context_bytes: usize,
}

impl Default for TokenLimits {
    fn default() -> Self {
        TokenLimits {
            max_token_bytes: DEFAULT_MAX_TOKEN_BYTES,
            max_header_bytes: DEFAULT_MAX_HEADER_BYTES,
            max_context_bytes: DEFAULT_MAX_CONTEXT_BYTES,
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

        const SECTIONS: [&str; 7] = [
            "limits", "issuer", "paths", "routes", "route", "context", "module",
        ];
        for key in document.keys() {
            if !SECTIONS.contains(&key.as_str()) {
                return Err(err(
                    key.as_str(),
                    format!(
                        "unknown field `{key}`; expected one of {}",
                        SECTIONS.join(", ")
                    ),
                ));
            }
        }

        let limits = match document.get("limits") {
            None => TokenLimits::default(),
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

        let issuer_names: Vec<&str> = issuers.iter().map(|i| i.issuer.as_str()).collect();
        let paths = paths::parse_paths(document.get("paths"))?;
        let routes = routes::parse_routes(
            document.get("routes"),
            document.get("route"),
            &issuer_names,
            &paths,
        )?;
        let context = match document.get("context") {
            None => Vec::new(),
            Some(value) => context::parse_context(value)?,
        };
        for (index, entry) in context.iter().enumerate() {
            if let Some(issuer) = issuers
                .iter()
                .position(|i| i.context_claims.contains(&entry.name))
            {
                return Err(err(
                    format!("context[{index}].name"),
                    format!(
                        "`{}` is already forwarded by issuer[{issuer}].context_claims; give this mapping another name",
                        entry.name
                    ),
                ));
            }
        }
        let module = match document.get("module") {
            None => None,
            Some(value) => Some(
                as_table(
                    value,
                    "module",
                    "write a custom module's settings as a `[module]` section",
                )?
                .clone(),
            ),
        };

        Ok(Policy {
            limits,
            issuers,
            paths,
            routes,
            context,
            module,
        })
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
            rules: self
                .routes
                .rules()
                .iter()
                .map(|rule| rule.label.clone())
                .collect(),
            warnings: self.routes.warnings().to_vec(),
            paths: self.paths,
        }
    }

    /// The compiled route rules.
    pub fn routes(&self) -> &Routes {
        &self.routes
    }

    /// The `[[context]]` mappings.
    pub fn context(&self) -> &[ContextEntry] {
        &self.context
    }

    /// The `[module]` section: settings for a custom module, which the
    /// default module ignores.
    pub fn module_settings(&self) -> Option<&toml::Table> {
        self.module.as_ref()
    }

    /// The size limits.
    pub fn limits(&self) -> &TokenLimits {
        &self.limits
    }

    /// The trusted issuers, in document order.
    pub fn issuers(&self) -> &[IssuerPolicy] {
        &self.issuers
    }
}
