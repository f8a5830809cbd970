//! The document as TOML: errors pinned to the field they are about.

use serde::de::DeserializeOwned;

use crate::model::ConfigError;

pub(super) fn err(field: impl Into<String>, message: impl Into<String>) -> ConfigError {
    ConfigError {
        field: field.into(),
        message: message.into(),
    }
}

/// Deserialize a table whose fields are all optional. On failure, find the
/// first key that fails on its own, so the error names `path.key`.
pub(super) fn deserialize_table<T: DeserializeOwned>(
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
pub(super) fn serde_message(error: &toml::de::Error) -> String {
    error
        .message()
        .trim()
        .replace("expected i64", "expected an integer")
        .replace("expected a sequence", "expected an array")
}

pub(super) fn as_table<'a>(
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
pub(super) fn line_column(text: &str, offset: usize) -> (usize, usize) {
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
pub(super) fn syntax_error_path(text: &str, offset: usize) -> String {
    let before = text.get(..offset.min(text.len())).unwrap_or(text);
    let mut issuers = 0usize;
    let mut secrets = 0usize;
    let mut routes = 0usize;
    let mut contexts = 0usize;
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
            "[routes]" => path = String::from("routes"),
            "[paths]" => path = String::from("paths"),
            "[[route]]" => {
                routes += 1;
                path = format!("route[{}]", routes - 1);
            }
            "[[context]]" => {
                contexts += 1;
                path = format!("context[{}]", contexts - 1);
            }
            h if h.starts_with('[') => path = String::from("document"),
            _ => {}
        }
    }
    path
}

/// At most 64 characters of an untrusted string, for error messages.
pub(super) fn quoted_prefix(text: &str) -> String {
    let mut cut: String = text.chars().take(64).collect();
    if cut.len() < text.len() {
        cut.push('…');
    }
    cut
}
