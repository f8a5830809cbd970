//! Example tollgate module: which OAuth clients may call which routes, from
//! an allow-list compiled into the module.
//!
//! The list (`allowlist.toml`, beside this crate's `Cargo.toml`) is part of
//! the component: `include_str!` puts its text in the binary and
//! [`Rules::configure`] parses and checks it once, so a request costs a
//! few prefix comparisons and no module reads a file (it could not: the
//! host gives modules no file system). Changing the list means building
//! and shipping a new module, which is the point: it is reviewed, tested
//! and versioned like code, not edited in place.
//!
//! The route rules decide first. A request they allow under a listed
//! prefix must then come from one of that prefix's clients (the token's
//! `client_id` claim, else `azp`), or it is refused as `forbidden`. The
//! client is part of the token, so the decision stays cacheable per token:
//! the allow's grants start with a deny for every prefix the client may not
//! call.

use tollgate_sdk::Rules;
use tollgate_sdk::model::{ConfigError, Decision, Deny, DenyReason, Grant, Request};
use tollgate_sdk::policy::toml::{self, Table, Value};
use tollgate_sdk::policy::{Policy, VerifiedToken};

/// The allow-list, compiled in.
pub const ALLOWLIST: &str = include_str!("../allowlist.toml");

/// The claims that name the client, in the order tried: `client_id`
/// (OAuth access tokens, RFC 9068, Cognito), then `azp` (OpenID Connect).
pub const CLIENT_CLAIMS: [&str; 2] = ["client_id", "azp"];

/// The rule a deny of this module names (`rule` in a decision).
pub const RULE: &str = "client-allowlist";

/// Where errors in the compiled-in list point.
const SOURCE: &str = "allowlist.toml";

/// One prefix and the clients that may call below it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Entry {
    /// `/orders`: the path itself and everything below it.
    path: String,
    clients: Vec<String>,
}

impl Entry {
    /// Whether `path` is this prefix or below it.
    fn covers(&self, path: &str) -> bool {
        path.strip_prefix(self.path.as_str())
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
    }

    fn admits(&self, client: Option<&str>) -> bool {
        client.is_some_and(|c| self.clients.iter().any(|listed| listed == c))
    }
}

/// The parsed allow-list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientAllowlist {
    /// Longest prefix first.
    entries: Vec<Entry>,
}

impl ClientAllowlist {
    /// Parse and check an allow-list: `[[prefix]]` sections, each with a
    /// `path` and its `clients`. Errors name the field
    /// (`allowlist.toml: prefix[1].clients`).
    pub fn parse(text: &str) -> Result<Self, ConfigError> {
        let document: Table = toml::from_str(text)
            .map_err(|e| error("", format!("not valid TOML: {}", e.message().trim())))?;
        if let Some(key) = document.keys().find(|k| *k != "prefix") {
            return Err(error(
                key,
                format!("unknown field `{key}`; expected prefix"),
            ));
        }
        let Some(Value::Array(items)) = document.get("prefix") else {
            return Err(error(
                "prefix",
                "missing; write each prefix as a [[prefix]] section with `path` and `clients`",
            ));
        };
        let mut entries: Vec<Entry> = Vec::with_capacity(items.len());
        for (index, item) in items.iter().enumerate() {
            let at = format!("prefix[{index}]");
            let entry = parse_entry(item, &at)?;
            if let Some(other) = entries.iter().position(|e| e.path == entry.path) {
                return Err(error(
                    format!("{at}.path"),
                    format!("{} is already prefix[{other}]; merge the two", entry.path),
                ));
            }
            entries.push(entry);
        }
        // A nested prefix only narrows: whoever it lets in, every prefix
        // above it lets in too. So the longest prefix covering a path
        // decides it, and a deny grant for a refused prefix never hides a
        // route the client may call.
        for (index, entry) in entries.iter().enumerate() {
            for parent in entries.iter().filter(|p| p.path != entry.path) {
                if !parent.covers(&entry.path) {
                    continue;
                }
                if let Some(client) = entry.clients.iter().find(|c| !parent.admits(Some(c))) {
                    return Err(error(
                        format!("prefix[{index}].clients"),
                        format!(
                            "{client:?} may not call {} (the prefix above it), so {} cannot let it in; a nested prefix only narrows its clients",
                            parent.path, entry.path
                        ),
                    ));
                }
            }
        }
        entries.sort_by_key(|e| std::cmp::Reverse(e.path.len()));
        Ok(ClientAllowlist { entries })
    }

    /// The longest prefix covering `path`, if any.
    fn entry_for(&self, path: &str) -> Option<&Entry> {
        self.entries.iter().find(|e| e.covers(path))
    }

    /// Grants keeping `client` out of every prefix it may not call (not
    /// repeating those inside another refused prefix).
    fn refusals(&self, client: Option<&str>) -> Vec<Grant> {
        let refused: Vec<&Entry> = self.entries.iter().filter(|e| !e.admits(client)).collect();
        refused
            .iter()
            .filter(|e| {
                !refused
                    .iter()
                    .any(|p| p.path != e.path && p.covers(&e.path))
            })
            .flat_map(|e| {
                [
                    Grant::deny("*", e.path.clone()),
                    Grant::deny("*", format!("{}/*", e.path)),
                ]
            })
            .collect()
    }
}

impl Rules for ClientAllowlist {
    const RULES: &'static [&'static str] = &[RULE];

    fn configure(settings: Option<&Table>, _policy: &Policy) -> Result<Self, ConfigError> {
        if settings.is_some() {
            return Err(ConfigError {
                field: "module".into(),
                message: format!(
                    "this module takes no settings (its allow-list is compiled in: {SOURCE}); remove the [module] section"
                ),
            });
        }
        ClientAllowlist::parse(ALLOWLIST)
    }

    fn decide(&self, request: &Request, token: &VerifiedToken, routes: Decision) -> Decision {
        // The route rules refused: nothing to add.
        let Decision::Allow(mut allow) = routes else {
            return routes;
        };
        let client = client_id(token);
        if let Some(entry) = self.entry_for(&request.path)
            && !entry.admits(client)
        {
            let who = match client {
                Some(client) => format!("client {}", echo(client)),
                None => format!(
                    "a token without a client ({} claim)",
                    CLIENT_CLAIMS.map(|c| format!("`{c}`")).join(" or ")
                ),
            };
            let detail = format!("{who} is not on the allow-list for {}", entry.path);
            return Decision::Deny(
                Deny::new(DenyReason::Forbidden, detail)
                    .with_principal(allow.principal)
                    .with_rule(RULE),
            );
        }
        // The grants say what this token may call on any route: keep the
        // refused prefixes out (the first matching grant decides).
        allow.grants.splice(0..0, self.refusals(client));
        Decision::Allow(allow)
    }
}

/// The client the token was issued to.
fn client_id(token: &VerifiedToken) -> Option<&str> {
    CLIENT_CLAIMS
        .iter()
        .find_map(|claim| token.claims.get(*claim).and_then(|v| v.as_str()))
        .filter(|c| !c.is_empty())
}

/// An untrusted value for a detail: quoted, escaped, at most 64 characters.
fn echo(value: &str) -> String {
    let cut: String = value.chars().take(64).collect();
    let more = if cut.len() < value.len() { "…" } else { "" };
    format!("{cut:?}{more}")
}

fn parse_entry(item: &Value, at: &str) -> Result<Entry, ConfigError> {
    let Value::Table(table) = item else {
        return Err(error(at, "write each prefix as a [[prefix]] section"));
    };
    if let Some(key) = table
        .keys()
        .find(|k| !["path", "clients"].contains(&k.as_str()))
    {
        return Err(error(
            format!("{at}.{key}"),
            format!("unknown field `{key}`; expected path, clients"),
        ));
    }
    let path = match table.get("path") {
        Some(Value::String(path)) => path.clone(),
        _ => {
            return Err(error(
                format!("{at}.path"),
                "missing or not a string; write e.g. path = \"/orders\"",
            ));
        }
    };
    let plain = path.len() > 1
        && path.starts_with('/')
        && !path.ends_with('/')
        && !path.contains("//")
        && !path.contains(['*', '{', '}', '?', '#', '%']);
    if !plain {
        return Err(error(
            format!("{at}.path"),
            format!(
                "{path:?} is not a plain path below /; write e.g. \"/orders\" (covers /orders and below; no trailing /, no wildcards)"
            ),
        ));
    }
    let Some(Value::Array(items)) = table.get("clients") else {
        return Err(error(
            format!("{at}.clients"),
            "missing or not an array; write e.g. clients = [\"web-shop\"]",
        ));
    };
    let mut clients: Vec<String> = Vec::with_capacity(items.len());
    for (index, client) in items.iter().enumerate() {
        let field = format!("{at}.clients[{index}]");
        match client.as_str() {
            Some(c) if !c.trim().is_empty() && !clients.iter().any(|known| known == c) => {
                clients.push(c.to_string());
            }
            Some(c) if !c.trim().is_empty() => {
                return Err(error(field, format!("{c:?} is listed twice")));
            }
            _ => return Err(error(field, "write a client id, e.g. \"web-shop\"")),
        }
    }
    if clients.is_empty() {
        return Err(error(
            format!("{at}.clients"),
            "empty; list the clients that may call it, e.g. clients = [\"web-shop\"]",
        ));
    }
    Ok(Entry { path, clients })
}

fn error(field: impl AsRef<str>, message: impl Into<String>) -> ConfigError {
    let field = field.as_ref();
    ConfigError {
        field: if field.is_empty() {
            SOURCE.to_string()
        } else {
            format!("{SOURCE}: {field}")
        },
        message: message.into(),
    }
}

// The component's `configure` and `authorize`: tollgate's verification
// core, then the route rules, then `ClientAllowlist::decide`.
#[cfg(target_arch = "wasm32")]
tollgate_sdk::export!(tollgate_sdk::WithCore<ClientAllowlist>);

#[cfg(test)]
mod tests;
