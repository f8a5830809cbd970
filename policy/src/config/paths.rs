//! The `[paths]` section: how the host canonicalizes request paths for
//! this policy ([`PathOptions`], `docs/paths.md`). The options describe the
//! upstream the rules are written for, so they travel with the policy (in
//! its manifest) and every door and `tollgate test` apply the same ones.

use super::document::{as_table, err};
use crate::model::{ConfigError, PathOptions};

/// Read `[paths]` (optional: the safe default).
pub(super) fn parse_paths(value: Option<&toml::Value>) -> Result<PathOptions, ConfigError> {
    let mut options = PathOptions::default();
    let Some(value) = value else {
        return Ok(options);
    };
    let table = as_table(value, "paths", "write it as a `[paths]` section")?;
    for (name, value) in table {
        let field = format!("paths.{name}");
        let text = match (name.as_str(), value) {
            ("merge_slashes", toml::Value::Boolean(b)) => b.to_string(),
            ("merge_slashes", other) => {
                return Err(err(
                    field,
                    format!("expected true or false, found a {}", other.type_str()),
                ));
            }
            (_, toml::Value::String(s)) => s.clone(),
            (_, other) if PathOptions::NAMES.contains(&name.as_str()) => {
                return Err(err(
                    field,
                    format!("expected a string, found a {}", other.type_str()),
                ));
            }
            _ => String::new(),
        };
        options.set(name, &text).map_err(|e| err(field, e.0))?;
    }
    Ok(options)
}
