//! The `[limits]` section: sizes checked before any decoding work.

use serde::Deserialize;

use super::TokenLimits;
use super::document::{deserialize_table, err};
use crate::model::ConfigError;

/// Default for [`TokenLimits::max_token_bytes`]: 16 KiB.
pub const DEFAULT_MAX_TOKEN_BYTES: usize = 16 * 1024;
/// Default for [`TokenLimits::max_header_bytes`]: 2 KiB.
pub const DEFAULT_MAX_HEADER_BYTES: usize = 2 * 1024;
/// Largest accepted `limits.max_token_bytes`: 1 MiB.
pub const MAX_MAX_TOKEN_BYTES: usize = 1024 * 1024;
/// Largest accepted `limits.max_context_bytes`: 64 KiB.
pub const MAX_MAX_CONTEXT_BYTES: usize = 64 * 1024;
/// Largest accepted `limits.max_header_bytes`: 64 KiB.
pub const MAX_MAX_HEADER_BYTES: usize = 64 * 1024;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLimits {
    max_token_bytes: Option<i64>,
    max_header_bytes: Option<i64>,
    max_context_bytes: Option<i64>,
}

pub(super) fn parse_limits(table: &toml::Table) -> Result<TokenLimits, ConfigError> {
    let raw: RawLimits = deserialize_table(table, "limits")?;
    let defaults = TokenLimits::default();
    Ok(TokenLimits {
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
        max_context_bytes: size_in_range(
            raw.max_context_bytes,
            "limits.max_context_bytes",
            defaults.max_context_bytes,
            MAX_MAX_CONTEXT_BYTES,
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
