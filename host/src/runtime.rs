//! The process's WebAssembly runtime: one wasmtime [`Engine`] and one epoch
//! ticker, shared by every module the process loads (so a new module, e.g.
//! a hot-swapped one, is loaded beside the old without a second engine).

use std::sync::OnceLock;
use std::time::Duration;

use wasmtime::{Config, Engine};

use crate::module::ModuleError;

/// How often the engine's epoch advances; deadlines are counted in ticks.
pub const EPOCH_TICK: Duration = Duration::from_millis(2);

/// The wasmtime configuration shared by compilation, precompilation and
/// loading: a `.cwasm` only loads under the very same settings.
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
                let engine = Engine::new(&wasmtime_config()).map_err(|e| format!("{e:#}"))?;
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
