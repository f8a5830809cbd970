//! The `[[context]]` mappings: which claims go to the backend, under which
//! names, and in what form.

use super::document::{as_table, err};
use super::routes::claim_path;
use crate::model::ConfigError;
use crate::routes::requirement::ClaimPath;

/// Default for `[limits] max_context_bytes`.
pub const DEFAULT_MAX_CONTEXT_BYTES: usize = 4096;

/// How an array claim is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArrayForm {
    /// As JSON text: `["a","b"]`.
    Json,
    /// Its elements (strings, numbers, booleans) joined with `,`: `a,b`.
    Comma,
}

/// One claim forwarded to the backend.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContextEntry {
    /// The claim.
    pub claim: ClaimPath,
    /// The name the backend sees.
    pub name: String,
    /// How arrays are written.
    pub arrays: ArrayForm,
}

pub(super) fn parse_context(value: &toml::Value) -> Result<Vec<ContextEntry>, ConfigError> {
    let toml::Value::Array(items) = value else {
        return Err(err(
            "context",
            format!(
                "expected an array of tables, found {}; write each mapping as a `[[context]]` section",
                value.type_str()
            ),
        ));
    };
    let mut entries: Vec<ContextEntry> = Vec::with_capacity(items.len());
    for (index, item) in items.iter().enumerate() {
        let path = format!("context[{index}]");
        let table = as_table(item, &path, "write each mapping as a `[[context]]` section")?;
        for key in table.keys() {
            if !["claim", "name", "arrays"].contains(&key.as_str()) {
                return Err(err(
                    format!("{path}.{key}"),
                    format!("unknown field `{key}`; expected claim, name or arrays"),
                ));
            }
        }
        let claim = match table.get("claim") {
            Some(v) => claim_path(v, &format!("{path}.claim"))?,
            None => {
                return Err(err(
                    format!("{path}.claim"),
                    "missing; name the claim to forward, e.g. claim = \"email\"",
                ));
            }
        };
        let name = match table.get("name") {
            None => claim.to_string(),
            Some(toml::Value::String(s)) => s.clone(),
            Some(other) => {
                return Err(err(
                    format!("{path}.name"),
                    format!("expected a string, found {}", other.type_str()),
                ));
            }
        };
        if name.is_empty()
            || !name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b':'))
        {
            return Err(err(
                format!("{path}.name"),
                format!(
                    "`{name}` cannot be a context key or header name; use letters, digits, `_`, `-`, `.` or `:`"
                ),
            ));
        }
        if entries.iter().any(|e| e.name == name) {
            return Err(err(
                format!("{path}.name"),
                format!("another mapping already forwards `{name}`; names must be unique"),
            ));
        }
        let arrays = match table.get("arrays") {
            None => ArrayForm::Json,
            Some(toml::Value::String(s)) if s == "json" => ArrayForm::Json,
            Some(toml::Value::String(s)) if s == "comma" => ArrayForm::Comma,
            Some(_) => {
                return Err(err(
                    format!("{path}.arrays"),
                    "write \"json\" (an array as JSON text) or \"comma\" (its elements joined with `,`)",
                ));
            }
        };
        entries.push(ContextEntry {
            claim,
            name,
            arrays,
        });
    }
    Ok(entries)
}

/// The context values `entries` take from `claims`, as (name, JSON text)
/// pairs, within `max_bytes` of names and values. A claim that is absent
/// or null, holds an object, or holds a control character anywhere (CR,
/// LF: a header could be split) is left out; so is an entry that does not
/// fit in what is left of `max_bytes` (later, smaller ones still may).
pub fn render(
    entries: &[ContextEntry],
    claims: &serde_json::Map<String, serde_json::Value>,
    max_bytes: usize,
) -> Vec<(String, String)> {
    use serde_json::Value;
    let mut out = Vec::new();
    let mut used = 0usize;
    for entry in entries {
        let Some(value) = entry.claim.get(claims) else {
            continue;
        };
        if has_control(value) {
            continue;
        }
        let text = match (value, entry.arrays) {
            (Value::Null | Value::Object(_), _) => continue,
            (Value::Array(items), ArrayForm::Comma) => {
                let parts: Option<Vec<String>> = items
                    .iter()
                    .map(|item| match item {
                        Value::String(s) => Some(s.clone()),
                        Value::Number(n) => Some(n.to_string()),
                        Value::Bool(b) => Some(b.to_string()),
                        _ => None,
                    })
                    .collect();
                let Some(parts) = parts else { continue };
                Value::String(parts.join(",")).to_string()
            }
            (other, _) => other.to_string(),
        };
        let size = entry.name.len() + text.len();
        if used + size > max_bytes {
            continue;
        }
        used += size;
        out.push((entry.name.clone(), text));
    }
    out
}

/// Whether a JSON value holds a control character anywhere (keys included).
pub fn has_control(value: &serde_json::Value) -> bool {
    use serde_json::Value;
    match value {
        Value::String(s) => s.chars().any(char::is_control),
        Value::Array(items) => items.iter().any(has_control),
        Value::Object(map) => map
            .iter()
            .any(|(k, v)| k.chars().any(char::is_control) || has_control(v)),
        _ => false,
    }
}
