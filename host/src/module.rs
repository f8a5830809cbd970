//! Policy modules: loaded (compiled, or precompiled `.cwasm`) into the
//! process's [`Runtime`], linked once into an `InstancePre`, and run as
//! sandboxed instances with a per-call deadline and a memory cap. Also
//! precompiling (`tollgate compile`) and the WIT versions this host runs.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use tollgate_keys::KeyStore;
use wasmtime::Engine;
use wasmtime::component::{Component, Linker};
use wasmtime::{Precompiled, Store};

use crate::bindings::{AuthorizerWorld, AuthorizerWorldPre, HostState};
#[cfg(feature = "compiler")]
use crate::runtime::wasmtime_config;
use crate::runtime::{EPOCH_TICK, Runtime};

/// The default policy module, built from `guest/` by `host/build.rs`
/// (absent from a lean build, which cannot compile it).
#[cfg(feature = "compiler")]
pub static DEFAULT_MODULE: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/tollgate_guest.wasm"));

/// The WIT package modules implement.
pub const WIT_PACKAGE: &str = "tollgate:authorizer";
/// The version of [`WIT_PACKAGE`] this host's bindings and its default
/// module are built from (the SDK's, `wit/`'s package line).
pub const WIT_VERSION: &str = tollgate_sdk::WIT_VERSION;
/// The versions of [`WIT_PACKAGE`] this host runs, inclusive: a module
/// names the version it targets in its imports
/// (`tollgate:authorizer/types@0.5.1`), and one outside this range is
/// refused at load with [`ModuleError::WitVersion`]. A 0.5.x host runs
/// every 0.5 module: later 0.5 releases only add items.
pub const WIT_VERSIONS: (WitVersion, WitVersion) =
    (WitVersion(0, 5, 0), WitVersion(0, 5, u32::MAX));

/// What a module may import besides [`WIT_PACKAGE`]: the WASI packages
/// Rust's std for `wasm32-wasip2` links for its stdio, environment and exit
/// plumbing even when the module never prints. The host provides none of
/// them: each is linked as a trap, so a `println!` fails the call, naming
/// `wasi:cli/stdout`. Every other import is refused at load with
/// [`ModuleError::UnsupportedImports`].
pub const STD_PLUMBING: [&str; 2] = ["wasi:cli", "wasi:io"];

/// A `major.minor.patch` version of the WIT package.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct WitVersion(pub u32, pub u32, pub u32);

impl WitVersion {
    /// Parse `major.minor.patch`.
    pub fn parse(text: &str) -> Option<Self> {
        let mut parts = text.split('.').map(|p| p.parse::<u32>().ok());
        let version = WitVersion(parts.next()??, parts.next()??, parts.next()??);
        parts.next().is_none().then_some(version)
    }
}

impl std::fmt::Display for WitVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.2 == u32::MAX {
            write!(f, "{}.{}.x", self.0, self.1)
        } else {
            write!(f, "{}.{}.{}", self.0, self.1, self.2)
        }
    }
}

/// Sandbox limits for each module instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SandboxLimits {
    /// Wall-clock budget for one call into the module (`configure` or `authorize`).
    pub deadline: Duration,
    /// Maximum linear memory of one instance, in bytes.
    pub memory_bytes: usize,
}

impl Default for SandboxLimits {
    fn default() -> Self {
        SandboxLimits {
            deadline: Duration::from_millis(100),
            memory_bytes: 64 << 20,
        }
    }
}

/// Failures to load or run a policy module.
#[derive(Debug, thiserror::Error)]
pub enum ModuleError {
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
    /// The module does not implement `tollgate:authorizer/authorizer` as this host expects.
    #[error(
        "the policy module does not fit this host's WIT world {WIT_PACKAGE}/authorizer@{version}: {0:#}",
        version = tollgate_sdk::WIT_VERSION
    )]
    Incompatible(wasmtime::Error),
    /// A precompiled module made by another wasmtime version, configuration or CPU.
    #[error(
        "precompiled module does not load here ({0:#}); recompile it with `tollgate compile` for this host, or pass the .wasm"
    )]
    Precompiled(wasmtime::Error),
    /// The module targets a version of the WIT package this host does not run.
    #[error(
        "the policy module targets {package}@{found}, but this host runs {package}@{min} to {max}; rebuild the module against a WIT version in that range (tollgate-sdk names it)"
    )]
    WitVersion {
        /// The package.
        package: &'static str,
        /// The version the module imports.
        found: String,
        /// Oldest version this host runs.
        min: WitVersion,
        /// Newest version this host runs.
        max: WitVersion,
    },
    /// The module imports interfaces the host does not provide (a clock,
    /// randomness, files, the network or another package): it could only
    /// trap when it calls them, so it is refused before it is linked.
    #[error(
        "the policy module imports {list}, which this host does not provide: a module may import only {WIT_PACKAGE} (and std's wasi:cli and wasi:io plumbing, linked as traps). Rebuild it without them: {advice}. See docs/custom-modules.md, \"What a module cannot do\"",
        list = .imports.join(", "),
        advice = import_advice(.imports)
    )]
    UnsupportedImports {
        /// Every refused import, as the component names it
        /// (`wasi:clocks/wall-clock@0.2.6`).
        imports: Vec<String>,
    },
    /// A lean build (no compiler) was given a module that needs compiling.
    #[error(
        "this tollgate is a lean build without the Cranelift compiler: it loads only modules precompiled for it (.cwasm). Precompile the module with `tollgate compile --target <arch> -o tollgate.cwasm module.wasm` (the same tollgate version), or use the default build"
    )]
    NeedsCompiler,
    /// [`PolicyModule::compile_component`] was given precompiled bytes
    /// (`.cwasm`): native code, which loads only through
    /// [`PolicyModule::load_verified_artifact`] once its origin is verified.
    #[error(
        "these bytes are a precompiled wasmtime artifact (.cwasm), not a WebAssembly component: precompiled artifacts are native code and load only from a signature-verified bundle or the private artifact cache. Pass the module's .wasm"
    )]
    PrecompiledNotAccepted,
    /// The process's wasmtime engine could not be created.
    #[error("cannot start the WebAssembly runtime: {0}")]
    Runtime(String),
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

/// The SHA-256 digest of the bytes a policy module was loaded from (the
/// component or the `.cwasm`, as given): what names a module in metrics and
/// in the token cache's keys. Two loads of the same bytes have the same
/// digest; a `.wasm` and the `.cwasm` precompiled from it do not.
/// `Display` writes it as 64 lowercase hex digits.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct ModuleDigest([u8; 32]);

impl ModuleDigest {
    /// The digest of `bytes`.
    pub fn of(bytes: &[u8]) -> Self {
        let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, bytes);
        let mut out = [0u8; 32];
        for (to, from) in out.iter_mut().zip(digest.as_ref()) {
            *to = *from;
        }
        ModuleDigest(out)
    }

    /// The 32 bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl std::fmt::Display for ModuleDigest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.iter().try_for_each(|byte| write!(f, "{byte:02x}"))
    }
}

impl std::fmt::Debug for ModuleDigest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ModuleDigest({self})")
    }
}

/// A compiled policy module, ready to instantiate. Cheap to share (`Arc`).
pub struct PolicyModule {
    runtime: Runtime,
    pre: AuthorizerWorldPre<HostState>,
    limits: SandboxLimits,
    digest: ModuleDigest,
}

impl std::fmt::Debug for PolicyModule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PolicyModule")
            .field("limits", &self.limits)
            .field("digest", &self.digest)
            .finish_non_exhaustive()
    }
}

impl PolicyModule {
    /// The embedded default policy module (compiled at load).
    #[cfg(feature = "compiler")]
    pub fn default_module(limits: SandboxLimits) -> Result<Arc<Self>, ModuleError> {
        Self::from_bytes(DEFAULT_MODULE, limits)
    }

    /// A module file: a component (`.wasm`) or a precompiled `.cwasm`.
    pub fn from_file(path: &Path, limits: SandboxLimits) -> Result<Arc<Self>, ModuleError> {
        let bytes = std::fs::read(path).map_err(|source| ModuleError::Read {
            path: path.display().to_string(),
            source,
        })?;
        Self::from_bytes(&bytes, limits)
    }

    /// Component bytes or precompiled `.cwasm` bytes (detected), loaded
    /// into the process's [`Runtime`].
    ///
    /// A `.cwasm` is trusted: only load precompiled modules you produced.
    /// A lean build (without the `compiler` feature) loads only `.cwasm`.
    pub fn from_bytes(bytes: &[u8], limits: SandboxLimits) -> Result<Arc<Self>, ModuleError> {
        let runtime = Runtime::shared()?;
        let component = match Engine::detect_precompiled(bytes) {
            Some(Precompiled::Component) => {
                // SAFETY: `.cwasm` files are produced by `tollgate compile`
                // (this crate's `precompile_for`) and are trusted like the binary.
                #[allow(unsafe_code)]
                let loaded = unsafe { Component::deserialize(runtime.engine(), bytes) };
                loaded.map_err(ModuleError::Precompiled)?
            }
            Some(Precompiled::Module) => {
                return Err(ModuleError::Invalid(wasmtime::Error::msg(
                    "this is a precompiled core module, not a component",
                )));
            }
            None => compile(&runtime, bytes)?,
        };
        check_imports(&runtime, &component)?;
        Self::from_component(runtime, component, limits, ModuleDigest::of(bytes))
    }

    /// Compile component bytes (`.wasm`), refusing precompiled bytes
    /// ([`ModuleError::PrecompiledNotAccepted`]): the entry point for
    /// modules from a source that is not trusted to hold native code (a
    /// bundle's `module.wasm`). Its imports are checked as
    /// [`PolicyModule::from_bytes`] checks them.
    #[cfg(feature = "compiler")]
    pub fn compile_component(wasm: &[u8], limits: SandboxLimits) -> Result<Arc<Self>, ModuleError> {
        if Engine::detect_precompiled(wasm).is_some() {
            return Err(ModuleError::PrecompiledNotAccepted);
        }
        let runtime = Runtime::shared()?;
        let component = compile(&runtime, wasm)?;
        check_imports(&runtime, &component)?;
        Self::from_component(runtime, component, limits, ModuleDigest::of(wasm))
    }

    /// Load a precompiled component (`.cwasm`) whose origin has been
    /// verified: the one deserializing path besides
    /// [`PolicyModule::from_bytes`] (which loads the operator's own files).
    ///
    /// **Trust precondition**: wasmtime runs a precompiled artifact's native
    /// code as it is, without validating it, so `cwasm` must come either
    /// from a bundle whose signature verified with a trusted key (and whose
    /// manifest digest of the artifact matched), or from the private
    /// [`crate::artifact_cache::ArtifactCache`] right after its digest
    /// check. Never pass bytes from anywhere else.
    ///
    /// Bytes that are not a precompiled component are refused
    /// ([`ModuleError::Invalid`]); an artifact made by another wasmtime,
    /// configuration or CPU with [`ModuleError::Precompiled`] (treat it as
    /// a cache miss and compile). Works in lean builds (no compiler).
    /// The digest is that of `cwasm`, as for [`PolicyModule::from_bytes`].
    pub fn load_verified_artifact(
        cwasm: &[u8],
        limits: SandboxLimits,
    ) -> Result<Arc<Self>, ModuleError> {
        if Engine::detect_precompiled(cwasm) != Some(Precompiled::Component) {
            return Err(ModuleError::Invalid(wasmtime::Error::msg(
                "not a precompiled component (.cwasm) made by wasmtime",
            )));
        }
        let runtime = Runtime::shared()?;
        // SAFETY: the caller verified where `cwasm` comes from (the trust
        // precondition above): a signature-verified bundle or the private
        // artifact cache after its digest check, i.e. bytes produced by a
        // tollgate compiler, trusted like the binary.
        #[allow(unsafe_code)]
        let loaded = unsafe { Component::deserialize(runtime.engine(), cwasm) };
        let component = loaded.map_err(ModuleError::Precompiled)?;
        check_imports(&runtime, &component)?;
        Self::from_component(runtime, component, limits, ModuleDigest::of(cwasm))
    }

    /// The version of [`WIT_PACKAGE`] this module's imports name (the
    /// contract it was built for); `None` for a module importing none of
    /// its interfaces.
    pub fn wit_version(&self) -> Option<WitVersion> {
        let prefix = format!("{WIT_PACKAGE}/");
        let component = self.pre.instance_pre().component();
        component
            .component_type()
            .imports(self.runtime.engine())
            .filter_map(|(name, _)| {
                name.strip_prefix(&prefix)
                    .and_then(|rest| rest.split_once('@'))
                    .and_then(|(_, version)| WitVersion::parse(version))
            })
            .max()
    }

    /// This module compiled, as a precompiled artifact for this process's
    /// engine and CPU (what [`crate::artifact_cache::ArtifactCache`]
    /// stores after compiling a bundle's module, so the next activation of
    /// the same module skips compiling).
    pub fn serialize_artifact(&self) -> Result<Vec<u8>, ModuleError> {
        self.pre
            .instance_pre()
            .component()
            .serialize()
            .map_err(ModuleError::Invalid)
    }

    fn from_component(
        runtime: Runtime,
        component: Component,
        limits: SandboxLimits,
        digest: ModuleDigest,
    ) -> Result<Arc<Self>, ModuleError> {
        let mut linker = Linker::<HostState>::new(runtime.engine());
        AuthorizerWorld::add_to_linker::<_, wasmtime::component::HasSelf<_>>(&mut linker, |s| s)
            .map_err(ModuleError::Incompatible)?;
        crate::bindings::verify_found_in_place(&mut linker).map_err(ModuleError::Incompatible)?;
        // The module gets no WASI: `check_imports` refused every import but
        // std's wasi:cli and wasi:io plumbing, which traps when called (a
        // `println!` fails the call, naming the import): that fails closed.
        define_plumbing_as_traps(&mut linker, &component, runtime.engine())
            .map_err(ModuleError::Incompatible)?;
        let instance_pre = linker
            .instantiate_pre(&component)
            .map_err(ModuleError::Incompatible)?;
        let pre = AuthorizerWorldPre::new(instance_pre).map_err(ModuleError::Incompatible)?;
        Ok(Arc::new(PolicyModule {
            runtime,
            pre,
            limits,
            digest,
        }))
    }

    /// The SHA-256 of the bytes this module was loaded from (the embedded
    /// default module's too), computed once at load.
    pub fn digest(&self) -> &ModuleDigest {
        &self.digest
    }

    /// The same compiled module under other sandbox limits: nothing is
    /// compiled or linked again (the engine and the pre-instantiated
    /// component are shared; limits apply per instance). The digest stays:
    /// the same bytes were loaded.
    pub fn with_limits(&self, limits: SandboxLimits) -> Arc<Self> {
        Arc::new(PolicyModule {
            runtime: self.runtime.clone(),
            pre: self.pre.clone(),
            limits,
            digest: self.digest,
        })
    }

    /// A fresh, unconfigured instance with its own store.
    pub(crate) fn instantiate(&self, keys: Arc<KeyStore>) -> Result<Instance, ModuleError> {
        let mut store = Store::new(
            self.runtime.engine(),
            HostState::new(keys, self.limits.memory_bytes),
        );
        store.limiter(|state| &mut state.limits);
        store.set_epoch_deadline(self.deadline_ticks());
        let bindings = self
            .pre
            .instantiate(&mut store)
            .map_err(ModuleError::Trap)?;
        Ok(Instance {
            store,
            bindings,
            deadline_ticks: self.deadline_ticks(),
            request: crate::bindings::empty_request(),
        })
    }

    fn deadline_ticks(&self) -> u64 {
        let ticks = self.limits.deadline.as_nanos() / EPOCH_TICK.as_nanos();
        u64::try_from(ticks).unwrap_or(u64::MAX).max(1)
    }
}

/// Compile component bytes in `runtime` (the default build).
#[cfg(feature = "compiler")]
fn compile(runtime: &Runtime, bytes: &[u8]) -> Result<Component, ModuleError> {
    Component::new(runtime.engine(), bytes).map_err(ModuleError::Invalid)
}

/// Define every import outside [`WIT_PACKAGE`] (after [`check_imports`]:
/// std's [`STD_PLUMBING`]) as functions that trap when called, naming the
/// import, and resources nothing can make.
///
/// The contract's own imports are left to the linker, which matches them
/// by semver: a 0.5.0 module's `keys@0.5.0` is this host's later 0.5
/// `keys`, which only adds to it. (wasmtime's
/// `define_unknown_imports_as_traps` would define an instance of that
/// exact name, full of traps, which the linker prefers to the match.)
fn define_plumbing_as_traps(
    linker: &mut Linker<HostState>,
    component: &Component,
    engine: &wasmtime::Engine,
) -> wasmtime::Result<()> {
    use wasmtime::component::ResourceType;
    use wasmtime::component::types::ComponentItem;

    let contract = format!("{WIT_PACKAGE}/");
    let component_type = component.component_type();
    for (name, import) in component_type.imports(engine) {
        // `check_imports` let through only interfaces (`package/name`): a
        // bare function or resource import would have been refused there,
        // and anything else fails to link, at load.
        let ComponentItem::ComponentInstance(interface) = import.ty else {
            continue;
        };
        if name.starts_with(&contract) {
            continue;
        }
        let mut stubs = linker.instance(name)?;
        for (item, export) in interface.exports(engine) {
            match export.ty {
                ComponentItem::ComponentFunc(_) => {
                    let qualified = format!("{name}#{item}");
                    stubs.func_new(item, move |_, _, _, _| {
                        Err(wasmtime::format_err!(
                            "unknown import: `{qualified}` has not been defined"
                        ))
                    })?;
                }
                ComponentItem::Resource(_) => {
                    stubs.resource(item, ResourceType::host::<()>(), |_, _| Ok(()))?;
                }
                _ => {}
            }
        }
    }
    Ok(())
}

/// A lean build cannot compile: only `.cwasm` loads.
#[cfg(not(feature = "compiler"))]
fn compile(_runtime: &Runtime, _bytes: &[u8]) -> Result<Component, ModuleError> {
    Err(ModuleError::NeedsCompiler)
}

/// Refuse a module, before linking (whose error would only say an import is
/// missing, or whose traps would only show when called), whose
/// `tollgate:authorizer` imports name a version outside [`WIT_VERSIONS`]
/// or which imports anything this host does not provide (see
/// [`STD_PLUMBING`]). The version is judged first: a module built for
/// another contract needs rebuilding whatever else it imports.
fn check_imports(runtime: &Runtime, component: &Component) -> Result<(), ModuleError> {
    let imports: Vec<String> = component
        .component_type()
        .imports(runtime.engine())
        .map(|(name, _)| name.to_string())
        .collect();
    wit_versions_fit(imports.iter().map(String::as_str))?;
    imports_supported(imports.iter().map(String::as_str))
}

/// Whether every one of `imports` is an interface of [`WIT_PACKAGE`] or of
/// [`STD_PLUMBING`]; the error names all the others.
fn imports_supported<'a>(imports: impl IntoIterator<Item = &'a str>) -> Result<(), ModuleError> {
    let refused: Vec<String> = imports
        .into_iter()
        .filter(|name| {
            let package = name.split_once('/').map(|(package, _)| package);
            !package.is_some_and(|p| p == WIT_PACKAGE || STD_PLUMBING.contains(&p))
        })
        .map(String::from)
        .collect();
    if refused.is_empty() {
        Ok(())
    } else {
        Err(ModuleError::UnsupportedImports { imports: refused })
    }
}

/// What to use instead of the refused `imports`, one clause per kind found
/// (in a fixed order), for [`ModuleError::UnsupportedImports`].
fn import_advice(imports: &[String]) -> String {
    let kinds: [(&[&str], &str); 4] = [
        (
            &["wasi:clocks/"],
            "for the time (`SystemTime::now()`, `Instant::now()`) use `request.now`, the request's unix time",
        ),
        (
            &["wasi:random/"],
            "for maps and sets no `HashMap::new()` or `HashSet::new()` (their random seed) and no `rand`: use `BTreeMap`/`BTreeSet` or a fixed hasher (`BuildHasherDefault<DefaultHasher>`)",
        ),
        (
            &["wasi:filesystem/"],
            "for files (`std::fs`) compile the data in with `include_str!`, or read settings from the policy's `[module]` table",
        ),
        (
            &["wasi:sockets/", "wasi:http/"],
            "there is no network: the host fetches and caches the issuers' keys",
        ),
    ];
    let mut clauses: Vec<&str> = kinds
        .iter()
        .filter(|(prefixes, _)| {
            imports
                .iter()
                .any(|i| prefixes.iter().any(|p| i.starts_with(p)))
        })
        .map(|(_, clause)| *clause)
        .collect();
    let known = |import: &String| {
        kinds
            .iter()
            .any(|(prefixes, _)| prefixes.iter().any(|p| import.starts_with(p)))
    };
    if imports.iter().any(|i| !known(i)) {
        clauses.push("anything else has no replacement in the sandbox: remove the code or dependency that imports it");
    }
    clauses.join("; ")
}

/// Whether every `tollgate:authorizer/…@version` among `imports` names a
/// version in [`WIT_VERSIONS`] (other packages' imports are not judged here).
fn wit_versions_fit<'a>(imports: impl IntoIterator<Item = &'a str>) -> Result<(), ModuleError> {
    let (min, max) = WIT_VERSIONS;
    let prefix = format!("{WIT_PACKAGE}/");
    for name in imports {
        let Some(rest) = name.strip_prefix(&prefix) else {
            continue;
        };
        let found = rest.split_once('@').map(|(_, version)| version);
        let fits = found
            .and_then(WitVersion::parse)
            .is_some_and(|v| (min..=max).contains(&v));
        if !fits {
            return Err(ModuleError::WitVersion {
                package: WIT_PACKAGE,
                found: found.unwrap_or("(no version)").to_string(),
                min,
                max,
            });
        }
    }
    Ok(())
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
    /// The architecture this binary runs on (x86_64 everywhere else).
    pub fn native() -> Target {
        if cfg!(target_arch = "aarch64") {
            Target::Aarch64
        } else {
            Target::X86_64
        }
    }

    /// The target triple handed to wasmtime.
    pub fn triple(self) -> &'static str {
        match self {
            Target::X86_64 => "x86_64-unknown-linux-gnu",
            Target::Aarch64 => "aarch64-unknown-linux-gnu",
        }
    }

    /// The architecture's short name (`x86_64`, `aarch64`), as
    /// `tollgate compile --target` and bundle.toml's `targets` write it.
    pub fn arch_name(self) -> &'static str {
        match self {
            Target::X86_64 => "x86_64",
            Target::Aarch64 => "aarch64",
        }
    }

    /// The target an architecture name (`x86_64`, `aarch64`, or `arm64` as
    /// Lambda writes it) or a triple means.
    pub fn from_arch_name(name: &str) -> Option<Target> {
        match name {
            "x86_64" | "x86_64-unknown-linux-gnu" => Some(Target::X86_64),
            "aarch64" | "arm64" | "aarch64-unknown-linux-gnu" => Some(Target::Aarch64),
            _ => None,
        }
    }
}

/// The engine a precompiled artifact for `target` must be made by, e.g.
/// `tollgate-wasmtime-48.0.8/x86_64-unknown-linux-gnu/baseline/cfg-1a2b3c4d`:
/// the wasmtime version ([`crate::runtime::WASMTIME_VERSION`]), the target
/// triple, its baseline CPU features (what [`precompile_for`] compiles for)
/// and the first 8 hex digits of the SHA-256 of
/// [`crate::runtime::WASMTIME_CONFIG_DESCRIPTION`]. The same in every
/// process and build of the same wasmtime and configuration, lean builds
/// included. A bundle names each artifact's engine with it, and a host
/// picks the artifact whose engine is its own; wasmtime still checks the
/// artifact when it is loaded.
pub fn engine_fingerprint(target: Target) -> String {
    let config = ModuleDigest::of(crate::runtime::WASMTIME_CONFIG_DESCRIPTION.as_bytes());
    let short: String = config
        .as_bytes()
        .iter()
        .take(4)
        .map(|byte| format!("{byte:02x}"))
        .collect();
    format!(
        "tollgate-wasmtime-{}/{}/baseline/cfg-{short}",
        crate::runtime::WASMTIME_VERSION,
        target.triple()
    )
}

/// Compile a component to a `.cwasm` with the runtime's exact
/// [`wasmtime_config`], for `target` (baseline CPU features of that
/// architecture) or, with `None`, for this host and its CPU.
///
/// Cross-compiling to another architecture needs a wasmtime built with its
/// `all-arch` feature; without it the error says so.
#[cfg(feature = "compiler")]
pub fn precompile_for(wasm: &[u8], target: Option<Target>) -> Result<Vec<u8>, ModuleError> {
    let mut config = wasmtime_config();
    if let Some(target) = target {
        config
            .target(target.triple())
            .map_err(ModuleError::Invalid)?;
    }
    let engine = Engine::new(&config).map_err(|error| match target {
        Some(target) => ModuleError::UnsupportedTarget {
            triple: target.triple(),
            error,
        },
        None => ModuleError::Invalid(error),
    })?;
    engine
        .precompile_component(wasm)
        .map_err(ModuleError::Invalid)
}

/// One instance of the module with its store.
pub(crate) struct Instance {
    store: Store<HostState>,
    bindings: AuthorizerWorld,
    deadline_ticks: u64,
    /// The request as the bindings lower it, refilled for each call: its
    /// strings keep their capacity, so a warm instance allocates nothing
    /// on the host to pass a request.
    request: crate::bindings::wit::Request,
}

impl Instance {
    /// Call `configure`.
    pub(crate) fn configure(
        &mut self,
        config: &str,
    ) -> Result<
        Result<crate::bindings::wit::Manifest, crate::bindings::wit::ConfigError>,
        ModuleError,
    > {
        self.store.set_epoch_deadline(self.deadline_ticks);
        self.bindings
            .call_configure(&mut self.store, config)
            .map_err(ModuleError::Trap)
    }

    /// Call `authorize` (with `raw_path` defaulting to `path`); also
    /// returns the key lookups that missed during the call.
    pub(crate) fn authorize(
        &mut self,
        request: &crate::model::Request,
    ) -> Result<
        (
            crate::bindings::wit::Decision,
            Vec<crate::bindings::KeyMiss>,
        ),
        ModuleError,
    > {
        self.store.set_epoch_deadline(self.deadline_ticks);
        self.store.data_mut().start_call();
        crate::bindings::refill_request(&mut self.request, request);
        let decision = self
            .bindings
            .call_authorize(&mut self.store, &self.request)
            .map_err(ModuleError::Trap)?;
        let state = self.store.data_mut();
        // The keys found are the call's own: none outlives it.
        state.found.clear();
        Ok((decision, std::mem::take(&mut state.misses)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The package line of `wit/` is the version the SDK names, and it lies
    /// in the host's range, which starts at the 0.5 line's first release (a
    /// 0.5.x host runs every 0.5 module): a bump of one without the others
    /// fails here.
    #[test]
    fn the_wit_files_the_sdk_and_the_range_agree() {
        for text in [
            include_str!("../../wit/world.wit"),
            include_str!("../../wit/types.wit"),
            include_str!("../../wit/keys.wit"),
        ] {
            let package = text
                .lines()
                .find_map(|line| line.strip_prefix("package "))
                .and_then(|rest| rest.strip_suffix(';'))
                .unwrap();
            assert_eq!(
                package,
                format!("{WIT_PACKAGE}@{}", tollgate_sdk::WIT_VERSION)
            );
        }
        let sdk = WitVersion::parse(tollgate_sdk::WIT_VERSION).unwrap();
        assert_eq!(WIT_VERSIONS.0, WitVersion(sdk.0, sdk.1, 0));
        assert!((WIT_VERSIONS.0..=WIT_VERSIONS.1).contains(&sdk));
    }

    #[test]
    fn the_sdk_targets_a_version_this_host_runs() {
        let (min, max) = WIT_VERSIONS;
        let sdk = WitVersion::parse(tollgate_sdk::WIT_VERSION).unwrap();
        assert!((min..=max).contains(&sdk), "{sdk} not in {min}..={max}");
    }

    #[test]
    fn modules_name_the_version_they_target_and_must_fit_the_range() {
        assert!(
            wit_versions_fit([
                "tollgate:authorizer/types@0.5.0",
                "tollgate:authorizer/keys@0.5.0",
                "wasi:io/streams@0.2.0",
            ])
            .is_ok()
        );
        // A later 0.5.x only adds `@since(version = 0.5.x)` items.
        assert!(wit_versions_fit(["tollgate:authorizer/types@0.5.7"]).is_ok());
        for (import, found) in [
            // 0.2.0's request had `method-arn`: its modules do not fit.
            ("tollgate:authorizer/types@0.2.0", "0.2.0"),
            ("tollgate:authorizer/types@0.1.0", "0.1.0"),
            // 0.3.0's grants had no effect and its allow no rule.
            ("tollgate:authorizer/keys@0.3.0", "0.3.0"),
            // 0.4.0's request had no raw path, its manifest no path options.
            ("tollgate:authorizer/keys@0.4.0", "0.4.0"),
            ("tollgate:authorizer/keys@0.6.0", "0.6.0"),
            ("tollgate:authorizer/types@1.0.0", "1.0.0"),
            ("tollgate:authorizer/types", "(no version)"),
            ("tollgate:authorizer/types@0.5", "0.5"),
        ] {
            match wit_versions_fit(["tollgate:authorizer/keys@0.5.0", import]) {
                Err(e @ ModuleError::WitVersion { .. }) => {
                    let message = e.to_string();
                    assert!(
                        message.contains(&format!("tollgate:authorizer@{found}"))
                            && message.contains("0.5.0 to 0.5.x"),
                        "{message}"
                    );
                }
                other => panic!("{import}: {other:?}"),
            }
        }
    }

    /// What std for wasm32-wasip2 links in a module that never prints,
    /// besides the contract (the default module's imports).
    const PLUMBING: [&str; 9] = [
        "wasi:cli/environment@0.2.6",
        "wasi:cli/exit@0.2.6",
        "wasi:io/error@0.2.6",
        "wasi:io/streams@0.2.6",
        "wasi:cli/stdin@0.2.6",
        "wasi:cli/stdout@0.2.6",
        "wasi:cli/stderr@0.2.6",
        "wasi:cli/terminal-stdout@0.2.6",
        "wasi:cli/terminal-output@0.2.6",
    ];

    #[test]
    fn the_contract_and_std_plumbing_are_the_only_imports_that_load() {
        let contract = [
            "tollgate:authorizer/types@0.5.0",
            "tollgate:authorizer/keys@0.5.0",
        ];
        assert!(imports_supported(contract.into_iter().chain(PLUMBING)).is_ok());
        assert!(imports_supported([]).is_ok());
        for refused in [
            "wasi:clocks/wall-clock@0.2.6",
            "wasi:clocks/monotonic-clock@0.2.6",
            "wasi:random/random@0.2.6",
            "wasi:random/insecure-seed@0.2.6",
            "wasi:filesystem/types@0.2.6",
            "wasi:filesystem/preopens@0.2.6",
            "wasi:sockets/tcp@0.2.6",
            "wasi:http/outgoing-handler@0.2.6",
            "acme:telemetry/emit@1.0.0",
            // Only whole package names match: no look-alikes.
            "wasi:cli-extra/stdout@0.2.6",
            "wasi:iox/streams@0.2.6",
            "tollgate:authorizer-extra/types@0.5.0",
            "tollgate:other/types@0.5.0",
            // A plain function import, outside any package.
            "now",
        ] {
            match imports_supported(contract.into_iter().chain(PLUMBING).chain([refused])) {
                Err(ModuleError::UnsupportedImports { imports }) => {
                    assert_eq!(imports, [refused]);
                }
                other => panic!("{refused}: {other:?}"),
            }
        }
    }

    #[test]
    fn the_refusal_names_every_import_and_what_to_use_instead() {
        let refused = [
            "wasi:clocks/wall-clock@0.2.6",
            "wasi:random/insecure-seed@0.2.6",
            "wasi:filesystem/types@0.2.6",
            "wasi:sockets/tcp@0.2.6",
            "acme:telemetry/emit@1.0.0",
        ];
        let error = imports_supported(PLUMBING.into_iter().chain(refused)).unwrap_err();
        let message = error.to_string();
        for import in refused {
            assert!(message.contains(import), "{import}: {message}");
        }
        for plumbing in PLUMBING {
            assert!(!message.contains(plumbing), "{plumbing}: {message}");
        }
        for advice in [
            "`request.now`",
            "no `HashMap::new()`",
            "`BTreeMap`",
            "fixed hasher",
            "`include_str!`",
            "`[module]`",
            "there is no network",
            "remove the code or dependency",
            "docs/custom-modules.md",
        ] {
            assert!(message.contains(advice), "{advice}: {message}");
        }
        // One kind, one piece of advice.
        let clock = imports_supported(["wasi:clocks/monotonic-clock@0.2.6"])
            .unwrap_err()
            .to_string();
        assert!(
            clock.starts_with(
                "the policy module imports wasi:clocks/monotonic-clock@0.2.6, which this host does not provide"
            ) && clock.contains("`request.now`"),
            "{clock}"
        );
        for other in ["HashMap", "include_str!", "network", "remove the code"] {
            assert!(!clock.contains(other), "{other}: {clock}");
        }
    }

    #[test]
    fn digests_are_sha256_in_lowercase_hex() {
        // FIPS 180-2's "abc" vector.
        let digest = ModuleDigest::of(b"abc");
        assert_eq!(
            digest.to_string(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(digest.as_bytes()[0], 0xba);
        assert_eq!(format!("{digest:?}"), format!("ModuleDigest({digest})"));
        assert_ne!(ModuleDigest::of(b"abd"), digest);
    }

    #[test]
    fn engine_fingerprints_name_version_target_and_config() {
        let x86 = engine_fingerprint(Target::X86_64);
        let arm = engine_fingerprint(Target::Aarch64);
        let prefix = format!("tollgate-wasmtime-{}/", crate::runtime::WASMTIME_VERSION);
        assert!(x86.starts_with(&prefix), "{x86}");
        assert!(
            x86.contains("/x86_64-unknown-linux-gnu/baseline/cfg-"),
            "{x86}"
        );
        assert!(
            arm.contains("/aarch64-unknown-linux-gnu/baseline/cfg-"),
            "{arm}"
        );
        let cfg = x86.rsplit_once("cfg-").unwrap().1;
        assert_eq!(cfg.len(), 8);
        assert!(
            cfg.bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
        );
        assert_eq!(x86, engine_fingerprint(Target::X86_64), "stable");
    }

    #[cfg(feature = "compiler")]
    #[test]
    fn compiling_refuses_precompiled_bytes_and_artifacts_load_only_as_artifacts() {
        let limits = SandboxLimits::default();
        let module = PolicyModule::compile_component(DEFAULT_MODULE, limits).unwrap();
        assert_eq!(module.digest(), &ModuleDigest::of(DEFAULT_MODULE));
        let artifact = module.serialize_artifact().unwrap();
        match PolicyModule::compile_component(&artifact, limits) {
            Err(e @ ModuleError::PrecompiledNotAccepted) => {
                assert!(e.to_string().contains("Pass the module's .wasm"), "{e}");
            }
            other => panic!("{other:?}"),
        }
        let loaded = PolicyModule::load_verified_artifact(&artifact, limits).unwrap();
        assert_eq!(loaded.digest(), &ModuleDigest::of(&artifact));
        assert!(matches!(
            PolicyModule::load_verified_artifact(DEFAULT_MODULE, limits),
            Err(ModuleError::Invalid(_))
        ));
    }

    #[test]
    fn versions_parse_exactly() {
        assert_eq!(WitVersion::parse("0.2.0"), Some(WitVersion(0, 2, 0)));
        assert_eq!(WitVersion::parse("10.20.30"), Some(WitVersion(10, 20, 30)));
        for bad in ["", "0.2", "0.2.0.1", "0.2.x", "v0.2.0", "0.2.0-rc1"] {
            assert_eq!(WitVersion::parse(bad), None, "{bad}");
        }
    }
}
