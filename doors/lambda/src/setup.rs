//! Init: where the policy module and the policy document come from, the
//! Lambda front door's settings, and the [`State`] built from them once.
//!
//! | variable | default | meaning |
//! |---|---|---|
//! | `TOLLGATE_CONFIG` | `policy.toml` beside `bootstrap`, else `/opt/tollgate/policy.toml` (a layer) | the policy document; key files resolve against its folder |
//! | `TOLLGATE_MODULE` | `tollgate.cwasm` beside `bootstrap`, else `/opt/tollgate/tollgate.cwasm`, else the embedded module | a `.cwasm` (precompiled with `tollgate compile --target …`) or a `.wasm` component |
//! | `TOLLGATE_IDENTITY_SOURCES` | `$request.header.Authorization` | the authorizer's identity sources, as configured in API Gateway (comma-separated; see [`crate::identity`]): the token is read only from them |
//! | `TOLLGATE_SIMPLE_RESPONSE` | `false` | HTTP API payload 2.0: answer the simple response (`isAuthorized`) instead of an IAM policy |
//! | `TOLLGATE_USAGE_IDENTIFIER_CLAIM` | none | REST APIs: the context claim whose string value is returned as `usageIdentifierKey` |
//! | `TOLLGATE_CONTEXT_MAX_BYTES` | `8192` | the largest `context` (as JSON) returned; entries beyond it are dropped with a warning (256..=65536) |
//! | `TOLLGATE_DEADLINE_MS` | `100` | per-call deadline of the module (1..=10000) |
//! | `TOLLGATE_MEMORY_MIB` | `64` | memory cap of one module instance (1..=4096) |
//! | `TOLLGATE_LOG` | `info` | log filter (JSON lines on stderr, which Lambda sends to CloudWatch) |
//! | `TOLLGATE_JWKS_*` | see [`tollgate_host::jwks::ENV_VARS`] | remote key settings: timeouts, size cap, TTL bounds, penalty window, stale serving, backoff, inline budget |
//! | `TOLLGATE_TOKEN_CACHE_ENTRIES` | `10000` | the most tokens the warm container's verified-token cache remembers (0..=1000000; `0` turns it off; see [`tollgate_host::token_cache`]) |
//! | `TOLLGATE_TOKEN_CACHE_MAX_BYTES` | `16777216` (16 MiB) | the most bytes its entries take, as estimated (1048576..=1073741824) |
//!
//! A `.cwasm` that does not load here (made by another wasmtime version or
//! for a CPU this one lacks) is not fatal: the `.wasm` beside it (same name)
//! or else the embedded module is compiled instead, with a warning.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tollgate_host::module::ModuleError;
use tollgate_host::token_cache::{MAX_BYTES_RANGE, MAX_ENTRIES_RANGE};
use tollgate_host::{Gate, PolicyModule, SandboxLimits, TokenCacheSettings};

use crate::State;
use crate::identity::{IDENTITY_SOURCES_ENV, IdentitySources};

/// The policy document's file name in the default locations.
pub const CONFIG_FILE_NAME: &str = "policy.toml";
/// The precompiled module's file name in the default locations.
pub const MODULE_FILE_NAME: &str = "tollgate.cwasm";
/// Where a Lambda layer's `tollgate/` folder is mounted.
pub const LAYER_DIR: &str = "/opt/tollgate";
/// Default `TOLLGATE_CONTEXT_MAX_BYTES`: conservative next to API Gateway's
/// limits (the context also becomes integration headers, whose total is bounded).
pub const DEFAULT_CONTEXT_MAX_BYTES: usize = 8192;
/// Allowed range of `TOLLGATE_CONTEXT_MAX_BYTES`.
pub const CONTEXT_MAX_BYTES_RANGE: std::ops::RangeInclusive<usize> = 256..=65536;
/// The most tokens the verified-token cache remembers (`0`: no cache).
pub const TOKEN_CACHE_ENTRIES_ENV: &str = "TOLLGATE_TOKEN_CACHE_ENTRIES";
/// The most bytes the verified-token cache's entries take.
pub const TOKEN_CACHE_MAX_BYTES_ENV: &str = "TOLLGATE_TOKEN_CACHE_MAX_BYTES";

/// The Lambda front door's own settings (the policy document is the module's).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LambdaSettings {
    /// The authorizer's identity sources (what API Gateway caches answers
    /// under): REQUEST events' credentials are read only from them.
    pub identity_sources: IdentitySources,
    /// HTTP API 2.0: simple responses instead of IAM policies.
    pub simple_response: bool,
    /// REST: the context claim returned as `usageIdentifierKey`.
    pub usage_identifier_claim: Option<String>,
    /// Largest `context`, as JSON bytes.
    pub context_max_bytes: usize,
    /// How remote keys are fetched and cached: Lambda mode (inline refresh,
    /// nothing runs between invocations) with the `TOLLGATE_JWKS_*`
    /// variables put in.
    pub keys: tollgate_host::jwks::KeyFetchSettings,
    /// The verified-token cache: on by default (a warm container sees the
    /// same tokens many times), bounded by `TOLLGATE_TOKEN_CACHE_ENTRIES`
    /// and `TOLLGATE_TOKEN_CACHE_MAX_BYTES`.
    pub token_cache: TokenCacheSettings,
}

impl Default for LambdaSettings {
    fn default() -> Self {
        LambdaSettings {
            identity_sources: IdentitySources::default(),
            simple_response: false,
            usage_identifier_claim: None,
            context_max_bytes: DEFAULT_CONTEXT_MAX_BYTES,
            keys: tollgate_host::jwks::KeyFetchSettings::lambda(),
            token_cache: TokenCacheSettings::default(),
        }
    }
}

/// Where the policy module comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ModuleSource {
    /// The module built into `bootstrap` (compiled at init: slower cold start).
    Embedded,
    /// A `.cwasm` or `.wasm` file.
    File(PathBuf),
}

/// Where the module and the policy document come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sources {
    /// The policy document.
    pub config: PathBuf,
    /// The module.
    pub module: ModuleSource,
    /// Sandbox limits.
    pub limits: SandboxLimits,
}

/// Init failures: the function does not start.
#[derive(Debug, thiserror::Error)]
pub enum InitError {
    /// A variable has a value this function cannot use.
    #[error("{name}={value:?}: {message}")]
    Env {
        /// The variable.
        name: &'static str,
        /// Its value.
        value: String,
        /// What to write instead.
        message: String,
    },
    /// No policy document.
    #[error(
        "no policy document: set TOLLGATE_CONFIG, or ship {CONFIG_FILE_NAME} beside bootstrap or in a layer at {LAYER_DIR}/{CONFIG_FILE_NAME} (looked in: {searched})"
    )]
    NoConfig {
        /// The places looked at.
        searched: String,
    },
    /// A lean build found no precompiled module to load.
    #[error(
        "this lean bootstrap (built without the compiler) embeds no policy module and found none: ship {MODULE_FILE_NAME} (from `tollgate compile --target <arch>` of the same tollgate version) beside bootstrap or in a layer at {LAYER_DIR}/{MODULE_FILE_NAME}, or set TOLLGATE_MODULE"
    )]
    NoPrecompiledModule,
    /// The module could not be loaded.
    #[error(transparent)]
    Module(#[from] ModuleError),
    /// The policy document, keys or module setup failed.
    #[error(transparent)]
    Authorizer(#[from] tollgate_host::AuthorizerError),
    /// Hot swap could not start (no usable bundle, a remote source
    /// without a trusted key, the state folder).
    #[error(transparent)]
    HotSwap(#[from] tollgate_hot_swap::controller::StartError),
}

pub(crate) fn env_error(name: &'static str, value: &str, message: impl Into<String>) -> InitError {
    InitError::Env {
        name,
        value: value.to_string(),
        message: message.into(),
    }
}

impl LambdaSettings {
    /// Read the settings through `get` (an environment lookup).
    pub fn from_lookup(get: &dyn Fn(&str) -> Option<String>) -> Result<Self, InitError> {
        let mut settings = LambdaSettings::default();
        if let Some(value) = get(IDENTITY_SOURCES_ENV) {
            settings.identity_sources = IdentitySources::parse(&value)
                .map_err(|message| env_error(IDENTITY_SOURCES_ENV, &value, message))?;
        }
        if let Some(value) = get("TOLLGATE_SIMPLE_RESPONSE") {
            settings.simple_response = match value.trim().to_ascii_lowercase().as_str() {
                "" | "false" | "0" | "no" => false,
                "true" | "1" | "yes" => true,
                _ => {
                    return Err(env_error(
                        "TOLLGATE_SIMPLE_RESPONSE",
                        &value,
                        "write true or false",
                    ));
                }
            };
        }
        if let Some(value) = get("TOLLGATE_USAGE_IDENTIFIER_CLAIM") {
            let claim = value.trim();
            if !claim.is_empty() {
                settings.usage_identifier_claim = Some(claim.to_string());
            }
        }
        if let Some(value) = get("TOLLGATE_CONTEXT_MAX_BYTES") {
            settings.context_max_bytes = parse_in_range(
                "TOLLGATE_CONTEXT_MAX_BYTES",
                &value,
                CONTEXT_MAX_BYTES_RANGE,
                "a byte count",
            )?;
        }
        if let Some(value) = get(TOKEN_CACHE_ENTRIES_ENV) {
            settings.token_cache.max_entries = parse_in_range(
                TOKEN_CACHE_ENTRIES_ENV,
                &value,
                MAX_ENTRIES_RANGE,
                "a count (0 turns the cache off)",
            )?;
        }
        if let Some(value) = get(TOKEN_CACHE_MAX_BYTES_ENV) {
            settings.token_cache.max_bytes = parse_in_range(
                TOKEN_CACHE_MAX_BYTES_ENV,
                &value,
                MAX_BYTES_RANGE,
                "a byte count",
            )?;
        }
        settings.keys = tollgate_host::jwks::KeyFetchSettings::lambda()
            .with_env(get)
            .map_err(tollgate_host::AuthorizerError::from)?;
        Ok(settings)
    }
}

pub(crate) fn parse_in_range(
    name: &'static str,
    value: &str,
    range: std::ops::RangeInclusive<usize>,
    what: &str,
) -> Result<usize, InitError> {
    match value.trim().parse::<usize>() {
        Ok(n) if range.contains(&n) => Ok(n),
        _ => Err(env_error(
            name,
            value,
            format!("write {what} from {} to {}", range.start(), range.end()),
        )),
    }
}

impl Sources {
    /// Read the sources through `get`; default files are looked for in
    /// `exe_dir` (the folder of `bootstrap`), then in [`LAYER_DIR`].
    pub fn from_lookup(
        get: &dyn Fn(&str) -> Option<String>,
        exe_dir: Option<&Path>,
    ) -> Result<Self, InitError> {
        let candidates = |name: &str| -> Vec<PathBuf> {
            exe_dir
                .map(|dir| dir.join(name))
                .into_iter()
                .chain(std::iter::once(Path::new(LAYER_DIR).join(name)))
                .collect()
        };
        let set = |name: &str| get(name).filter(|v| !v.trim().is_empty());
        let config = match set("TOLLGATE_CONFIG") {
            Some(path) => PathBuf::from(path),
            None => {
                let searched = candidates(CONFIG_FILE_NAME);
                searched
                    .iter()
                    .find(|p| p.is_file())
                    .cloned()
                    .ok_or_else(|| InitError::NoConfig {
                        searched: searched
                            .iter()
                            .map(|p| p.display().to_string())
                            .collect::<Vec<_>>()
                            .join(", "),
                    })?
            }
        };
        let module = match set("TOLLGATE_MODULE") {
            Some(path) => ModuleSource::File(PathBuf::from(path)),
            None => candidates(MODULE_FILE_NAME)
                .into_iter()
                .find(|p| p.is_file())
                .map_or(ModuleSource::Embedded, ModuleSource::File),
        };
        let limits = sandbox_from_lookup(get)?;
        Ok(Sources {
            config,
            module,
            limits,
        })
    }
}

/// The sandbox limits: `TOLLGATE_DEADLINE_MS` and `TOLLGATE_MEMORY_MIB`.
pub fn sandbox_from_lookup(
    get: &dyn Fn(&str) -> Option<String>,
) -> Result<SandboxLimits, InitError> {
    let mut limits = SandboxLimits::default();
    if let Some(value) = get("TOLLGATE_DEADLINE_MS") {
        let ms = parse_in_range("TOLLGATE_DEADLINE_MS", &value, 1..=10_000, "milliseconds")?;
        limits.deadline = Duration::from_millis(ms as u64);
    }
    if let Some(value) = get("TOLLGATE_MEMORY_MIB") {
        let mib = parse_in_range("TOLLGATE_MEMORY_MIB", &value, 1..=4096, "MiB")?;
        limits.memory_bytes = mib << 20;
    }
    Ok(limits)
}

/// Load the module: a file, or the embedded one. A precompiled module that
/// does not load here falls back to the `.wasm` beside it, else to the
/// embedded module, with a warning; any other failure is fatal.
pub fn load_module(
    module: &ModuleSource,
    limits: SandboxLimits,
) -> Result<Arc<PolicyModule>, InitError> {
    let path = match module {
        ModuleSource::Embedded => return embedded_module(limits),
        ModuleSource::File(path) => path,
    };
    match PolicyModule::from_file(path, limits) {
        Ok(module) => Ok(module),
        // A lean build cannot compile a fallback: the artifact's own error.
        Err(ModuleError::Precompiled(e)) if !cfg!(feature = "compiler") => {
            Err(ModuleError::Precompiled(e).into())
        }
        Err(ModuleError::Precompiled(e)) => {
            let sibling = path.with_extension("wasm");
            if sibling != *path && sibling.is_file() {
                tracing::warn!(
                    module = %path.display(), fallback = %sibling.display(), error = %format!("{e:#}"),
                    "the precompiled module does not load here (another wasmtime version or CPU); compiling the .wasm beside it instead"
                );
                Ok(PolicyModule::from_file(&sibling, limits)?)
            } else {
                tracing::warn!(
                    module = %path.display(), error = %format!("{e:#}"),
                    "the precompiled module does not load here (another wasmtime version or CPU); compiling the embedded module instead"
                );
                embedded_module(limits)
            }
        }
        Err(e) => Err(e.into()),
    }
}

/// The module built into `bootstrap`, compiled at init.
#[cfg(feature = "compiler")]
fn embedded_module(limits: SandboxLimits) -> Result<Arc<PolicyModule>, InitError> {
    tracing::info!(
        "compiling the embedded policy module (precompile it with `tollgate compile --target` for a faster cold start)"
    );
    Ok(PolicyModule::default_module(limits)?)
}

/// A lean `bootstrap` embeds no module (it could not compile one).
#[cfg(not(feature = "compiler"))]
fn embedded_module(_limits: SandboxLimits) -> Result<Arc<PolicyModule>, InitError> {
    Err(InitError::NoPrecompiledModule)
}

/// Build the state from `sources` and `settings`: the module, the policy
/// and its keys, remote ones prefetched now (during init, so the first
/// invocation pays nothing) and refreshed inline later (Lambda mode: no task
/// outlives an invocation).
pub async fn state(sources: &Sources, settings: LambdaSettings) -> Result<State, InitError> {
    let module = load_module(&sources.module, sources.limits)?;
    let gate = Gate::from_config_file(module, &sources.config, settings.keys.clone()).await?;
    Ok(State::new(gate, settings))
}

/// Build the state from the process environment (see the module docs and
/// [`crate::bundles`]).
pub async fn state_from_env() -> Result<State, InitError> {
    let get = |name: &str| std::env::var(name).ok();
    let exe_dir = std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(Path::to_path_buf));
    state_from_lookup(&get, exe_dir.as_deref()).await
}

/// Build the state from the variables `get` reads, with default files
/// looked for in `exe_dir`.
///
/// With `TOLLGATE_BUNDLE_SOURCE` the policy is hot-swapped: a policy
/// deployed beside `bootstrap` (or named by `TOLLGATE_CONFIG`) answers
/// from the start and the first invocation starts the first check of the
/// source; without one, init activates the source's bundle (or the last
/// good one kept in the state folder) and fails when neither passes.
pub async fn state_from_lookup(
    get: &dyn Fn(&str) -> Option<String>,
    exe_dir: Option<&Path>,
) -> Result<State, InitError> {
    let settings = LambdaSettings::from_lookup(get)?;
    let sandbox = sandbox_from_lookup(get)?;
    let bundles =
        crate::bundles::from_lookup(get, sandbox, settings.keys.clone(), settings.token_cache)?;
    let Some(bundles) = bundles else {
        let sources = Sources::from_lookup(get, exe_dir)?;
        tracing::info!(config = %sources.config.display(), module = ?sources.module, "loading the policy");
        return state(&sources, settings).await;
    };
    let deployed = match Sources::from_lookup(get, exe_dir) {
        Ok(sources) => {
            tracing::info!(config = %sources.config.display(), module = ?sources.module, "loading the deployed policy (hot swap replaces it)");
            let module = load_module(&sources.module, sources.limits)?;
            let gate = Gate::from_config_file(module, &sources.config, settings.keys.clone())
                .await?
                .with_token_cache(settings.token_cache);
            let info = tollgate_host::live::BundleInfo::deployed(
                gate.authorizer().module_digest().to_string(),
            );
            Some(tollgate_host::live::Active { gate, info })
        }
        Err(InitError::NoConfig { .. }) => None,
        Err(e) => return Err(e),
    };
    tracing::info!(source = %bundles.hot_swap.source, "policy bundles are hot-swapped");
    let swap = tollgate_hot_swap::HotSwap::start(bundles.hot_swap, deployed, false).await?;
    Ok(State::with_hot_swap(swap, bundles.budget, settings))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn lookup(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |name| map.get(name).cloned()
    }

    #[test]
    fn settings_defaults_and_values() {
        assert_eq!(
            LambdaSettings::from_lookup(&lookup(&[])).unwrap(),
            LambdaSettings::default()
        );
        let s = LambdaSettings::from_lookup(&lookup(&[
            ("TOLLGATE_SIMPLE_RESPONSE", "TRUE"),
            ("TOLLGATE_USAGE_IDENTIFIER_CLAIM", " api_key "),
            ("TOLLGATE_CONTEXT_MAX_BYTES", "256"),
        ]))
        .unwrap();
        assert!(s.simple_response);
        assert_eq!(s.usage_identifier_claim.as_deref(), Some("api_key"));
        assert_eq!(s.context_max_bytes, 256);
        let s = LambdaSettings::from_lookup(&lookup(&[("TOLLGATE_CONTEXT_MAX_BYTES", "65536")]))
            .unwrap();
        assert_eq!(s.context_max_bytes, 65536);
        let s = LambdaSettings::from_lookup(&lookup(&[(
            "TOLLGATE_IDENTITY_SOURCES",
            "$request.querystring.token, $context.routeKey",
        )]))
        .unwrap();
        assert!(!s.identity_sources.has_header("authorization"));
        assert_eq!(s.identity_sources.sources().len(), 2);
        assert_eq!(
            LambdaSettings::from_lookup(&lookup(&[]))
                .unwrap()
                .identity_sources,
            crate::identity::IdentitySources::default()
        );
        for (name, value) in [
            ("TOLLGATE_IDENTITY_SOURCES", "Authorization"),
            ("TOLLGATE_SIMPLE_RESPONSE", "maybe"),
            ("TOLLGATE_CONTEXT_MAX_BYTES", "255"),
            ("TOLLGATE_CONTEXT_MAX_BYTES", "65537"),
            ("TOLLGATE_CONTEXT_MAX_BYTES", "-1"),
        ] {
            let err = LambdaSettings::from_lookup(&lookup(&[(name, value)])).unwrap_err();
            assert!(err.to_string().starts_with(name), "{err}");
        }
        // Remote key settings: Lambda mode, with the variables put in.
        let s = LambdaSettings::from_lookup(&lookup(&[
            ("TOLLGATE_JWKS_MIN_TTL_S", "900"),
            ("TOLLGATE_JWKS_INLINE_BUDGET_MS", "200"),
        ]))
        .unwrap();
        assert_eq!(s.keys.min_ttl, Duration::from_secs(900));
        assert_eq!(
            s.keys.mode,
            tollgate_host::jwks::RefreshMode::Inline {
                budget: Duration::from_millis(200)
            }
        );
        let err = LambdaSettings::from_lookup(&lookup(&[("TOLLGATE_JWKS_MAX_STALE_S", "1h")]))
            .unwrap_err();
        assert!(
            err.to_string().contains("TOLLGATE_JWKS_MAX_STALE_S"),
            "{err}"
        );
    }

    #[test]
    fn token_cache_on_by_default_bounded_by_its_variables() {
        let s = LambdaSettings::from_lookup(&lookup(&[])).unwrap();
        assert_eq!(s.token_cache, TokenCacheSettings::default());
        assert_eq!(s.token_cache.max_entries, 10_000);
        assert_eq!(s.token_cache.max_bytes, 16 << 20);
        assert!(!s.token_cache.is_off());
        let s = LambdaSettings::from_lookup(&lookup(&[
            (TOKEN_CACHE_ENTRIES_ENV, " 500 "),
            (TOKEN_CACHE_MAX_BYTES_ENV, "1048576"),
        ]))
        .unwrap();
        assert_eq!(
            s.token_cache,
            TokenCacheSettings {
                max_entries: 500,
                max_bytes: 1 << 20
            }
        );
        let s = LambdaSettings::from_lookup(&lookup(&[
            (TOKEN_CACHE_ENTRIES_ENV, "1000000"),
            (TOKEN_CACHE_MAX_BYTES_ENV, "1073741824"),
        ]))
        .unwrap();
        assert_eq!(s.token_cache.validate(), Ok(()));
        let off = LambdaSettings::from_lookup(&lookup(&[(TOKEN_CACHE_ENTRIES_ENV, "0")])).unwrap();
        assert!(off.token_cache.is_off());
        for (name, value) in [
            (TOKEN_CACHE_ENTRIES_ENV, "1000001"),
            (TOKEN_CACHE_ENTRIES_ENV, "-1"),
            (TOKEN_CACHE_ENTRIES_ENV, "many"),
            (TOKEN_CACHE_MAX_BYTES_ENV, "1048575"),
            (TOKEN_CACHE_MAX_BYTES_ENV, "1073741825"),
            (TOKEN_CACHE_MAX_BYTES_ENV, "16MiB"),
        ] {
            let err = LambdaSettings::from_lookup(&lookup(&[(name, value)])).unwrap_err();
            assert!(err.to_string().starts_with(name), "{err}");
        }
    }

    #[test]
    fn sources_from_variables_and_defaults() {
        let dir =
            std::env::temp_dir().join(format!("tollgate-lambda-setup-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let s = Sources::from_lookup(
            &lookup(&[
                ("TOLLGATE_CONFIG", "/x/policy.toml"),
                ("TOLLGATE_MODULE", "/x/m.cwasm"),
                ("TOLLGATE_DEADLINE_MS", "250"),
                ("TOLLGATE_MEMORY_MIB", "32"),
            ]),
            Some(&dir),
        )
        .unwrap();
        assert_eq!(s.config, PathBuf::from("/x/policy.toml"));
        assert_eq!(s.module, ModuleSource::File("/x/m.cwasm".into()));
        assert_eq!(s.limits.deadline, Duration::from_millis(250));
        assert_eq!(s.limits.memory_bytes, 32 << 20);

        // Nothing beside bootstrap (and no layer here): no config is fatal.
        if !Path::new(LAYER_DIR).exists() {
            let err = Sources::from_lookup(&lookup(&[]), Some(&dir)).unwrap_err();
            assert!(matches!(err, InitError::NoConfig { .. }), "{err}");
        }
        std::fs::write(dir.join(CONFIG_FILE_NAME), "").unwrap();
        let s = Sources::from_lookup(&lookup(&[]), Some(&dir)).unwrap();
        assert_eq!(s.config, dir.join(CONFIG_FILE_NAME));
        assert_eq!(s.limits, SandboxLimits::default());
        if !Path::new(LAYER_DIR).exists() {
            assert_eq!(s.module, ModuleSource::Embedded);
        }
        std::fs::write(dir.join(MODULE_FILE_NAME), "").unwrap();
        let s = Sources::from_lookup(&lookup(&[]), Some(&dir)).unwrap();
        assert_eq!(s.module, ModuleSource::File(dir.join(MODULE_FILE_NAME)));
        for (name, value) in [
            ("TOLLGATE_DEADLINE_MS", "0"),
            ("TOLLGATE_MEMORY_MIB", "4097"),
        ] {
            let err = Sources::from_lookup(&lookup(&[(name, value)]), Some(&dir)).unwrap_err();
            assert!(err.to_string().starts_with(name), "{err}");
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
