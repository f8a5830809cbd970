//! Hot swap in Lambda: where policy bundles come from, read from the
//! environment.
//!
//! | variable | default | meaning |
//! |---|---|---|
//! | `TOLLGATE_BUNDLE_SOURCE` | none (no hot swap) | a bundle file, an `https://` URL or `s3://bucket/key` (credentials, region and endpoint from the usual `AWS_*` variables) |
//! | `TOLLGATE_BUNDLE_NAME` | required with a source | the bundle name this function runs; any other is refused |
//! | `TOLLGATE_BUNDLE_KEYS` | none | trusted minisign public keys (`RW…`), comma- or newline-separated; required for a URL or S3 source |
//! | `TOLLGATE_BUNDLE_ALLOW_UNSIGNED` | `false` | a local file source only: accept unsigned bundles |
//! | `TOLLGATE_BUNDLE_INTERVAL_S` | `30` | at most one check per interval, at the start of an invocation (1..=86400) |
//! | `TOLLGATE_BUNDLE_BUDGET_MS` | `100` | the longest an invocation waits for a due check (0..=5000); the check goes on meanwhile and the live bundle answers |
//! | `TOLLGATE_BUNDLE_STATE_DIR` | `/tmp/tollgate-bundles` | private folder (0700): the last good bundle, extracted bundles, compiled artifacts |
//! | `TOLLGATE_BUNDLE_ALLOW_REVISION` | none | an explicit rollback: accept this lower revision |
//! | `TOLLGATE_BUNDLE_MAX_BYTES` | `67108864` | the largest bundle downloaded (1024..=1073741824) |
//!
//! With a policy deployed beside `bootstrap` (`TOLLGATE_CONFIG` or the
//! default files), the function starts on it at once and the first
//! invocation starts the first check: a cold start never waits for the
//! source. Without one, init fetches and activates the bundle.

use std::path::PathBuf;
use std::time::Duration;

use tollgate_bundle::{ReadLimits, TrustedKeys};
use tollgate_host::jwks::KeyFetchSettings;
use tollgate_host::{SandboxLimits, TokenCacheSettings};
use tollgate_hot_swap::controller::{DEFAULT_INTERVAL, DEFAULT_LAMBDA_BUDGET, HotSwapSettings};
use tollgate_hot_swap::pipeline::PipelineSettings;
use tollgate_hot_swap::source::{BundleSource, SourceSettings};

use crate::setup::{InitError, env_error, parse_in_range};

/// The bundle source variable; hot swap is off without it.
pub const SOURCE_ENV: &str = "TOLLGATE_BUNDLE_SOURCE";
/// Default state folder.
pub const DEFAULT_STATE_DIR: &str = "/tmp/tollgate-bundles";

/// Hot swap settings for Lambda.
#[derive(Debug, Clone)]
pub struct LambdaBundles {
    /// The controller's settings.
    pub hot_swap: HotSwapSettings,
    /// The longest an invocation waits for a due check.
    pub budget: Duration,
}

/// Read the hot swap settings through `get`; `None` without a source.
pub fn from_lookup(
    get: &dyn Fn(&str) -> Option<String>,
    sandbox: SandboxLimits,
    keys: KeyFetchSettings,
    token_cache: TokenCacheSettings,
) -> Result<Option<LambdaBundles>, InitError> {
    let set = |name: &str| {
        get(name)
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
    };
    let Some(source_text) = set(SOURCE_ENV) else {
        return Ok(None);
    };
    let source_settings = {
        let mut s = SourceSettings::default();
        if let Some(value) = set("TOLLGATE_BUNDLE_MAX_BYTES") {
            s.max_bytes = parse_in_range(
                "TOLLGATE_BUNDLE_MAX_BYTES",
                &value,
                1024..=(1 << 30),
                "a byte count",
            )? as u64;
        }
        s
    };
    let source = BundleSource::parse(&source_text)
        .map_err(|e| env_error(SOURCE_ENV, &source_text, e.to_string()))?;
    let name = set("TOLLGATE_BUNDLE_NAME").ok_or_else(|| {
        env_error(
            "TOLLGATE_BUNDLE_NAME",
            "",
            "set it to the bundle name this function runs (bundle.toml's `name`)",
        )
    })?;
    let trusted_keys = match set("TOLLGATE_BUNDLE_KEYS") {
        Some(text) => TrustedKeys::parse(&text.replace(',', "\n"))
            .map_err(|e| env_error("TOLLGATE_BUNDLE_KEYS", &text, e.to_string()))?,
        None => TrustedKeys::default(),
    };
    let allow_unsigned = match set("TOLLGATE_BUNDLE_ALLOW_UNSIGNED").as_deref() {
        None | Some("false" | "0" | "no") => false,
        Some("true" | "1" | "yes") => true,
        Some(other) => {
            return Err(env_error(
                "TOLLGATE_BUNDLE_ALLOW_UNSIGNED",
                other,
                "write true or false",
            ));
        }
    };
    let interval = match set("TOLLGATE_BUNDLE_INTERVAL_S") {
        Some(value) => Duration::from_secs(parse_in_range(
            "TOLLGATE_BUNDLE_INTERVAL_S",
            &value,
            1..=86_400,
            "seconds",
        )? as u64),
        None => DEFAULT_INTERVAL,
    };
    let budget = match set("TOLLGATE_BUNDLE_BUDGET_MS") {
        Some(value) => Duration::from_millis(parse_in_range(
            "TOLLGATE_BUNDLE_BUDGET_MS",
            &value,
            0..=5000,
            "milliseconds",
        )? as u64),
        None => DEFAULT_LAMBDA_BUDGET,
    };
    let allow_revision = match set("TOLLGATE_BUNDLE_ALLOW_REVISION") {
        Some(value) => Some(value.parse::<u64>().map_err(|_| {
            env_error(
                "TOLLGATE_BUNDLE_ALLOW_REVISION",
                &value,
                "write the revision number to roll back to",
            )
        })?),
        None => None,
    };
    let state_dir =
        PathBuf::from(set("TOLLGATE_BUNDLE_STATE_DIR").unwrap_or_else(|| DEFAULT_STATE_DIR.into()));
    let read_limits = ReadLimits {
        max_bytes: source_settings.max_bytes,
    };
    Ok(Some(LambdaBundles {
        hot_swap: HotSwapSettings {
            source,
            source_settings,
            pipeline: PipelineSettings {
                name,
                trusted_keys,
                allow_unsigned,
                allow_revision,
                read_limits,
                state_dir,
                sandbox,
                keys,
                token_cache,
            },
            interval,
            // The shadow run needs work between requests: servers only.
            shadow: None,
        },
        budget,
    }))
}
