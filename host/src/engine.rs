//! The wasmtime side: one [`Engine`] configuration for compiling and
//! precompiling, a component compiled once into an `InstancePre`, and
//! sandboxed instances with a per-call deadline and a memory cap.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use tollgate_keys::KeyStore;
use wasmtime::component::{Component, Linker};
use wasmtime::{Config, Engine, Precompiled, Store};

use crate::bindings::{AuthorizerPre, HostState};

/// The default policy module, built from `guest/` by `host/build.rs`.
pub static DEFAULT_MODULE: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/tollgate_guest.wasm"));

/// Sandbox limits for each module instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Wall-clock budget for one call into the module (`configure` or `authorize`).
    pub deadline: Duration,
    /// Maximum linear memory of one instance, in bytes.
    pub memory_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            deadline: Duration::from_millis(100),
            memory_bytes: 64 << 20,
        }
    }
}

/// How often the engine's epoch advances; deadlines are counted in ticks.
pub const EPOCH_TICK: Duration = Duration::from_millis(2);

/// Failures to load or run a policy module.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// The module file could not be read.
    #[error("cannot read policy module {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The bytes are not a component this host can compile or load.
    #[error(
        "invalid policy module: {0:#}. Pass a wasm32-wasip2 component (.wasm) or a .cwasm precompiled by this same tollgate version with `tollgate compile`"
    )]
    Invalid(wasmtime::Error),
    /// The module does not implement `tollgate:authorizer/authorizer@0.2.0` as this host expects.
    #[error(
        "the policy module does not fit this host's WIT world tollgate:authorizer/authorizer@0.2.0: {0:#}"
    )]
    Incompatible(wasmtime::Error),
    /// A precompiled module made by another wasmtime version, configuration or CPU.
    #[error(
        "precompiled module does not load here ({0:#}); recompile it with `tollgate compile` for this host, or pass the .wasm"
    )]
    Precompiled(wasmtime::Error),
    /// Instantiation or a call failed (trap, deadline, memory limit).
    #[error("policy module failed: {0:#}")]
    Trap(wasmtime::Error),
    /// This build cannot compile for the requested target architecture.
    #[error(
        "cannot precompile for {triple}: {error:#}. Cross-compiling needs a tollgate whose wasmtime has the `all-arch` feature; or run `tollgate compile --target` on a machine of that architecture"
    )]
    UnsupportedTarget {
        /// The target triple.
        triple: &'static str,
        /// wasmtime's refusal.
        error: wasmtime::Error,
    },
}

/// The wasmtime configuration shared by compilation, precompilation and
/// loading: a `.cwasm` only loads under the very same settings.
pub fn wasmtime_config() -> Config {
    let mut config = Config::new();
    config.epoch_interruption(true);
    config.wasm_component_model(true);
    config.cranelift_opt_level(wasmtime::OptLevel::Speed);
    config
}

/// A compiled policy module, ready to instantiate. Cheap to share (`Arc`).
pub struct PolicyEngine {
    engine: Engine,
    pre: AuthorizerPre<HostState>,
    limits: Limits,
}

impl std::fmt::Debug for PolicyEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PolicyEngine")
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

impl PolicyEngine {
    /// The embedded default policy module.
    pub fn default_module(limits: Limits) -> Result<Arc<Self>, EngineError> {
        Self::from_bytes(DEFAULT_MODULE, limits)
    }

    /// A module file: a component (`.wasm`) or a precompiled `.cwasm`.
    pub fn from_file(path: &Path, limits: Limits) -> Result<Arc<Self>, EngineError> {
        let bytes = std::fs::read(path).map_err(|source| EngineError::Read {
            path: path.display().to_string(),
            source,
        })?;
        Self::from_bytes(&bytes, limits)
    }

    /// Component bytes or precompiled `.cwasm` bytes (detected).
    ///
    /// A `.cwasm` is trusted: only load precompiled modules you produced.
    pub fn from_bytes(bytes: &[u8], limits: Limits) -> Result<Arc<Self>, EngineError> {
        let engine = Engine::new(&wasmtime_config()).map_err(EngineError::Invalid)?;
        let component = match Engine::detect_precompiled(bytes) {
            Some(Precompiled::Component) => {
                // SAFETY: `.cwasm` files are produced by `tollgate compile`
                // (this crate's `precompile`) and are trusted like the binary.
                unsafe { Component::deserialize(&engine, bytes) }
                    .map_err(EngineError::Precompiled)?
            }
            Some(Precompiled::Module) => {
                return Err(EngineError::Invalid(wasmtime::Error::msg(
                    "this is a precompiled core module, not a component",
                )));
            }
            None => Component::new(&engine, bytes).map_err(EngineError::Invalid)?,
        };
        Self::from_component(engine, component, limits)
    }

    fn from_component(
        engine: Engine,
        component: Component,
        limits: Limits,
    ) -> Result<Arc<Self>, EngineError> {
        let mut linker = Linker::<HostState>::new(&engine);
        crate::bindings::Authorizer::add_to_linker::<_, wasmtime::component::HasSelf<_>>(
            &mut linker,
            |s| s,
        )
        .map_err(EngineError::Incompatible)?;
        // The module gets no WASI: no files, clocks, randomness or network.
        // Anything else it imports traps when called, which fails closed.
        linker
            .define_unknown_imports_as_traps(&component)
            .map_err(EngineError::Incompatible)?;
        let instance_pre = linker
            .instantiate_pre(&component)
            .map_err(EngineError::Incompatible)?;
        let pre = AuthorizerPre::new(instance_pre).map_err(EngineError::Incompatible)?;
        start_epoch_ticker(&engine);
        Ok(Arc::new(PolicyEngine {
            engine,
            pre,
            limits,
        }))
    }

    /// The same compiled module under other sandbox limits: nothing is
    /// compiled or linked again (the engine and the pre-instantiated
    /// component are shared; limits apply per instance).
    pub fn with_limits(&self, limits: Limits) -> Arc<Self> {
        Arc::new(PolicyEngine {
            engine: self.engine.clone(),
            pre: self.pre.clone(),
            limits,
        })
    }

    /// The sandbox limits.
    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// A fresh, unconfigured instance with its own store.
    pub(crate) fn instantiate(&self, keys: Arc<KeyStore>) -> Result<Instance, EngineError> {
        let mut store = Store::new(&self.engine, HostState::new(keys, self.limits.memory_bytes));
        store.limiter(|state| &mut state.limits);
        store.set_epoch_deadline(self.deadline_ticks());
        let bindings = self
            .pre
            .instantiate(&mut store)
            .map_err(EngineError::Trap)?;
        Ok(Instance {
            store,
            bindings,
            deadline_ticks: self.deadline_ticks(),
        })
    }

    fn deadline_ticks(&self) -> u64 {
        let ticks = self.limits.deadline.as_nanos() / EPOCH_TICK.as_nanos();
        u64::try_from(ticks).unwrap_or(u64::MAX).max(1)
    }
}

/// Compile a component to a `.cwasm` for this host (same wasmtime version,
/// configuration and CPU features).
pub fn precompile(wasm: &[u8]) -> Result<Vec<u8>, EngineError> {
    precompile_for(wasm, None)
}

/// A deployment target for precompiled modules: an architecture's Linux
/// triple with its **baseline** CPU features only, so the `.cwasm` loads on
/// every machine of that architecture (not just on one like the build
/// machine, whose extra features host-targeted precompiling would use).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Target {
    /// `x86_64-unknown-linux-gnu` (Lambda `x86_64`).
    X86_64,
    /// `aarch64-unknown-linux-gnu` (Lambda `arm64`, Graviton).
    Aarch64,
}

impl Target {
    /// The target triple handed to wasmtime.
    pub fn triple(self) -> &'static str {
        match self {
            Target::X86_64 => "x86_64-unknown-linux-gnu",
            Target::Aarch64 => "aarch64-unknown-linux-gnu",
        }
    }
}

/// Compile a component to a `.cwasm` with the runtime's exact
/// [`wasmtime_config`], for `target` (baseline CPU features of that
/// architecture) or, with `None`, for this host and its CPU.
///
/// Cross-compiling to another architecture needs a wasmtime built with its
/// `all-arch` feature; without it the error says so.
pub fn precompile_for(wasm: &[u8], target: Option<Target>) -> Result<Vec<u8>, EngineError> {
    let mut config = wasmtime_config();
    if let Some(target) = target {
        config
            .target(target.triple())
            .map_err(EngineError::Invalid)?;
    }
    let engine = Engine::new(&config).map_err(|error| match target {
        Some(target) => EngineError::UnsupportedTarget {
            triple: target.triple(),
            error,
        },
        None => EngineError::Invalid(error),
    })?;
    engine
        .precompile_component(wasm)
        .map_err(EngineError::Invalid)
}

/// One instance of the module with its store.
pub(crate) struct Instance {
    store: Store<HostState>,
    bindings: crate::bindings::Authorizer,
    deadline_ticks: u64,
}

impl Instance {
    /// Call `configure`.
    pub(crate) fn configure(
        &mut self,
        config: &str,
    ) -> Result<
        Result<crate::bindings::wit::Manifest, crate::bindings::wit::ConfigError>,
        EngineError,
    > {
        self.store.set_epoch_deadline(self.deadline_ticks);
        self.bindings
            .call_configure(&mut self.store, config)
            .map_err(EngineError::Trap)
    }

    /// Call `authorize`; also returns the key lookups that missed during the call.
    pub(crate) fn authorize(
        &mut self,
        request: &crate::bindings::wit::Request,
    ) -> Result<
        (
            crate::bindings::wit::Decision,
            Vec<crate::bindings::KeyMiss>,
        ),
        EngineError,
    > {
        self.store.set_epoch_deadline(self.deadline_ticks);
        self.store.data_mut().misses.clear();
        let decision = self
            .bindings
            .call_authorize(&mut self.store, request)
            .map_err(EngineError::Trap)?;
        Ok((decision, std::mem::take(&mut self.store.data_mut().misses)))
    }
}

/// Advance the engine's epoch every [`EPOCH_TICK`] on a background thread
/// that ends when the engine is dropped.
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

/// The names of the interfaces a component imports (e.g. to check that a
/// module asks for nothing but `tollgate:authorizer/keys`).
pub fn component_imports(bytes: &[u8]) -> Result<Vec<String>, EngineError> {
    let engine = Engine::new(&wasmtime_config()).map_err(EngineError::Invalid)?;
    let component = Component::new(&engine, bytes).map_err(EngineError::Invalid)?;
    let ty = component.component_type();
    Ok(ty
        .imports(&engine)
        .map(|(name, _)| name.to_string())
        .collect())
}
