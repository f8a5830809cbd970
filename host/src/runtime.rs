//! The process's WebAssembly runtime: one wasmtime [`Engine`] and one epoch
//! ticker, shared by every module the process loads (so a new module, e.g.
//! a hot-swapped one, is loaded beside the old without a second engine).

use std::sync::OnceLock;
use std::time::Duration;

use wasmtime::{Config, Engine};

use crate::module::ModuleError;

/// How often the engine's epoch advances; deadlines are counted in ticks.
pub const EPOCH_TICK: Duration = Duration::from_millis(2);

/// `TOLLGATE_WASM_PROFILER=perfmap` makes the process's engine write a
/// perf map of the module's compiled functions (`/tmp/perf-PID.map`), so
/// `perf record` / `perf report` name the guest's functions.
pub const PROFILER_VARIABLE: &str = "TOLLGATE_WASM_PROFILER";

/// The wasmtime version this host is built with (the `wasmtime` package in
/// the workspace's `Cargo.lock`; a test keeps them equal). Part of
/// [`crate::module::engine_fingerprint`].
pub const WASMTIME_VERSION: &str = "48.0.8";

/// A stable description of [`wasmtime_config`]'s settings, one per `;`, in
/// the order the function makes them, written as the calls read without
/// `config.`. Its SHA-256 is the `cfg-` part of
/// [`crate::module::engine_fingerprint`], so a precompiled artifact made
/// under other settings is not picked for this engine. A test compares it
/// with the function's source: change both together.
///
/// The Cranelift setting is listed although a lean build (no compiler)
/// does not make it: it describes how the artifacts this host loads were
/// compiled, which is the same for both builds.
pub const WASMTIME_CONFIG_DESCRIPTION: &str = "epoch_interruption(true);wasm_component_model(true);cranelift_opt_level(wasmtime::OptLevel::Speed)";

/// The wasmtime configuration shared by compilation, precompilation and
/// loading: a `.cwasm` only loads under the very same settings. Described
/// by [`WASMTIME_CONFIG_DESCRIPTION`]: change both together.
pub fn wasmtime_config() -> Config {
    let mut config = Config::new();
    config.epoch_interruption(true);
    config.wasm_component_model(true);
    #[cfg(feature = "compiler")]
    config.cranelift_opt_level(wasmtime::OptLevel::Speed);
    config
}

/// The process's engine, with its epoch ticker running. Cheap to clone.
#[derive(Clone)]
pub struct Runtime {
    engine: Engine,
}

impl std::fmt::Debug for Runtime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runtime").finish_non_exhaustive()
    }
}

static SHARED: OnceLock<Result<Runtime, String>> = OnceLock::new();

impl Runtime {
    /// The process's runtime, created (and its ticker started) on first use.
    pub fn shared() -> Result<Runtime, ModuleError> {
        SHARED
            .get_or_init(|| {
                let mut config = wasmtime_config();
                // Profiling the guest (docs/benchmarks.md, "Profiling"):
                // names for the module's compiled functions in
                // /tmp/perf-PID.map, read by `perf report`. It changes no
                // compiled code, so artifacts load under it unchanged.
                if std::env::var_os(PROFILER_VARIABLE).is_some_and(|v| v == "perfmap") {
                    config.profiler(wasmtime::ProfilingStrategy::PerfMap);
                }
                let engine = Engine::new(&config).map_err(|e| format!("{e:#}"))?;
                start_epoch_ticker(&engine);
                Ok(Runtime { engine })
            })
            .clone()
            .map_err(ModuleError::Runtime)
    }

    /// The wasmtime engine.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }
}

/// Advance the engine's epoch every [`EPOCH_TICK`] on a background thread
/// for the life of the process.
fn start_epoch_ticker(engine: &Engine) {
    let weak = engine.weak();
    let spawned = std::thread::Builder::new()
        .name("tollgate-epoch".into())
        .spawn(move || {
            while let Some(engine) = weak.upgrade() {
                engine.increment_epoch();
                drop(engine);
                std::thread::sleep(EPOCH_TICK);
            }
        });
    if let Err(e) = spawned {
        // Without a ticker no deadline fires; calls still work but are unbounded.
        tracing::error!(error = %e, "cannot start the epoch thread: module calls have no deadline");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The settings [`wasmtime_config`] makes, read from its source: every
    /// `config.` call of its body, in order, without the `config.` prefix.
    fn settings_in_source() -> Vec<String> {
        let source = include_str!("runtime.rs");
        let start = source.find("pub fn wasmtime_config() -> Config {").unwrap();
        let body = &source[start..];
        let end = body.find("\n}").unwrap();
        body[..end]
            .lines()
            .filter_map(|line| line.trim().strip_prefix("config."))
            .map(|call| call.trim_end_matches(';').to_string())
            .collect()
    }

    #[test]
    fn the_config_description_lists_the_config_settings() {
        let described: Vec<&str> = WASMTIME_CONFIG_DESCRIPTION.split(';').collect();
        assert_eq!(
            settings_in_source(),
            described,
            "wasmtime_config() changed: update WASMTIME_CONFIG_DESCRIPTION (it names precompiled artifacts' engine)"
        );
    }

    #[test]
    fn the_wasmtime_version_is_the_one_in_cargo_lock() {
        let lock = std::fs::read_to_string(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../Cargo.lock"),
        )
        .unwrap();
        let mut versions = lock.split("[[package]]").filter_map(|package| {
            let mut lines = package.lines().map(str::trim);
            lines.find(|line| *line == "name = \"wasmtime\"")?;
            lines.find_map(|line| line.strip_prefix("version = \""))
        });
        let locked = versions.next().unwrap().trim_end_matches('"');
        assert!(versions.next().is_none(), "one wasmtime in Cargo.lock");
        assert_eq!(locked, WASMTIME_VERSION, "update WASMTIME_VERSION");
    }
}
