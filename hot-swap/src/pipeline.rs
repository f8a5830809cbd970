//! The activation pipeline: a bundle's bytes in, a configured and tested
//! [`Active`] out, or the step that refused it.
//!
//! size cap → format and digests → signature → name → revision → WIT
//! version → module (a verified precompiled artifact, the private artifact
//! cache, or a compile) → `configure` with its keys → the bundle's own test
//! cases with throwaway keys → (the caller) shadow or swap.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use tollgate_bundle::{Bundle, BundleDigest, ReadLimits, TrustedKeys, VerifiedBy};
use tollgate_host::artifact_cache::ArtifactCache;
use tollgate_host::jwks::KeyFetchSettings;
use tollgate_host::live::{Active, BundleInfo, SwapStep};
use tollgate_host::module::{Target, WIT_VERSIONS, WitVersion, engine_fingerprint};
use tollgate_host::shadow::DeclaredWidening;
use tollgate_host::{
    ConfigBase, Gate, ModuleDigest, PolicyModule, SandboxLimits, TokenCacheSettings,
};
use tollgate_policy_test::{RunOptions, TestFile};

/// Why a bundle was refused: the step and what it said.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("bundle refused at step `{}`: {reason}", step.as_str())]
pub struct Refusal {
    /// The step.
    pub step: SwapStep,
    /// What was wrong (never a secret).
    pub reason: String,
    /// Whether the same bytes may pass later (a download, a disk or task
    /// failure, an identity provider that did not answer): such a bundle
    /// is tried again at the next check; any other refusal stands until
    /// the source's bytes change.
    pub transient: bool,
}

impl Refusal {
    /// A refusal of these bytes, whenever they are tried.
    pub fn new(step: SwapStep, reason: impl std::fmt::Display) -> Refusal {
        Refusal {
            step,
            reason: reason.to_string(),
            transient: false,
        }
    }

    /// A refusal the same bytes may not meet next time.
    pub fn transient(step: SwapStep, reason: impl std::fmt::Display) -> Refusal {
        Refusal {
            transient: true,
            ..Refusal::new(step, reason)
        }
    }
}

/// What the pipeline trusts and checks: the host's side of a bundle.
#[derive(Debug, Clone)]
pub struct PipelineSettings {
    /// The bundle name this host runs; any other name is refused.
    pub name: String,
    /// Public keys a bundle must be signed by (minisign, Ed25519).
    pub trusted_keys: TrustedKeys,
    /// Accept unsigned bundles (only ever for a local file source, and only
    /// when the host's config says so).
    pub allow_unsigned: bool,
    /// An explicit rollback: accept this revision even when it is lower
    /// than the active one (a config switch, never a bundle's say).
    pub allow_revision: Option<u64>,
    /// Refuse every revision below this one, whatever is active: the floor
    /// when nothing is kept yet (a Lambda cold start, a new container),
    /// against a replay of an old signed bundle.
    pub min_revision: Option<u64>,
    /// Size cap and format limits.
    pub read_limits: ReadLimits,
    /// Where bundles are extracted (policy, tests, key files) and compiled
    /// artifacts cached: private (0700).
    pub state_dir: PathBuf,
    /// The module's sandbox.
    pub sandbox: SandboxLimits,
    /// How the policy's remote keys are fetched.
    pub keys: KeyFetchSettings,
    /// The new gate's verified-token cache.
    pub token_cache: TokenCacheSettings,
}

/// A bundle that passed every step up to the swap.
#[derive(Debug)]
pub struct Prepared {
    /// The configured gate with its module, policy and keys, and what it is.
    pub active: Active,
    /// The changes its manifest declares (allows the live bundle denied),
    /// for the shadow run.
    pub declared: Vec<DeclaredWidening>,
    /// How the module was obtained (`artifact`, `cache` or `compiled`).
    pub module_from: &'static str,
    /// How many of its own test cases passed.
    pub tests_passed: usize,
}

/// The pipeline's state across bundles: settings and the artifact cache.
#[derive(Debug)]
pub struct Pipeline {
    settings: PipelineSettings,
    cache: Option<ArtifactCache>,
}

impl Pipeline {
    /// A pipeline under `settings`; the artifact cache lives in
    /// `<state_dir>/artifacts`. A cache that cannot be opened safely (an
    /// existing folder others can write) is not used: every module is then
    /// compiled, with a warning.
    pub fn new(settings: PipelineSettings) -> Pipeline {
        let cache = match ArtifactCache::open(&settings.state_dir.join("artifacts")) {
            Ok(cache) => Some(cache),
            Err(error) => {
                tracing::warn!(error = %error, "the compiled-artifact cache is off");
                None
            }
        };
        Pipeline { settings, cache }
    }

    /// The settings.
    pub fn settings(&self) -> &PipelineSettings {
        &self.settings
    }

    /// The compiled-artifact cache, when it could be opened.
    pub fn artifact_cache(&self) -> Option<&ArtifactCache> {
        self.cache.as_ref()
    }

    /// Run every step on `bytes` (from `source`, as its log name) against
    /// the `active` bundle (none at start, or for the host's own kept last
    /// good bundle).
    ///
    /// `rolled_back_from`: after a rollback from that revision, it and every
    /// lower one are refused until a higher revision is published (the
    /// source still holds the bundle rolled back from, maybe signed anew).
    pub async fn prepare(
        &self,
        bytes: Arc<[u8]>,
        source: &str,
        active: Option<&BundleInfo>,
        rolled_back_from: Option<u64>,
    ) -> Result<Prepared, Refusal> {
        // Hashing, parsing and writing files block: off the async thread
        // (in Lambda the only one, which the invocation is waiting on).
        let settings = self.settings.clone();
        let active_info = active.cloned();
        let (bundle, signed, dir) = tokio::task::spawn_blocking(move || {
            let (bundle, verified) = read_and_check(&settings, &bytes, active_info.as_ref())?;
            let revision = bundle.manifest().revision;
            if let Some(floor) = rolled_back_from
                && revision <= floor
                && settings.allow_revision != Some(revision)
            {
                return Err(Refusal::new(
                    SwapStep::Identity,
                    format!(
                        "revision {revision} is not newer than revision {floor}, which was rolled back: publish a higher revision to go forward"
                    ),
                ));
            }
            let dir = extraction_dir(&settings.state_dir, bundle.digest())?;
            bundle
                .extract_to(&dir)
                .map_err(|e| Refusal::transient(SwapStep::Read, e))?;
            Ok((bundle, verified.is_some(), dir))
        })
        .await
        .map_err(|e| Refusal::transient(SwapStep::Read, format!("the read task failed: {e}")))??;
        let digest = *bundle.digest();
        // Native code only from a bundle whose signature verified.
        let (module, module_from) = self.module(&bundle, signed).await?;
        let manifest = bundle.manifest();
        let built_for = module.wit_version().map(|v| v.to_string());
        if built_for.as_deref() != Some(manifest.wit.as_str()) {
            return Err(Refusal::new(
                SwapStep::WitVersion,
                format!(
                    "the manifest says WIT {} but the module imports {}: rebuild the bundle with `tollgate bundle build`",
                    manifest.wit,
                    built_for
                        .as_deref()
                        .unwrap_or("no tollgate:authorizer interface")
                ),
            ));
        }
        let info = BundleInfo {
            name: manifest.name.clone(),
            revision: manifest.revision,
            digest: digest.to_string(),
            // The component's digest, however it was loaded (compiled, from
            // the cache or from the bundle's artifact): one module, one name.
            module_digest: bundle.module_sha256().to_string(),
            activated_at: SystemTime::now(),
            source: source.to_string(),
        };
        let policy_path = dir.join("policy.toml");
        // Key files from the verified bytes in memory (never re-read from
        // disk, never a path outside the bundle).
        let files = bundle
            .files()
            .map(|(path, bytes)| (path.to_string(), bytes.to_vec()))
            .collect();
        let gate = Gate::new(
            module.clone(),
            bundle.policy(),
            &ConfigBase::Bundle(files),
            &format!("bundle {} revision {}", info.name, info.revision),
            self.settings.keys.clone(),
        )
        .await
        .map_err(|e| Refusal::new(SwapStep::Configure, e))?
        .with_token_cache(self.settings.token_cache);
        // An issuer whose remote keys could not be fetched would answer
        // 503 for all its tokens: not swapped in (tried again next check).
        if let Some(issuer) = gate
            .key_manager()
            .status()
            .into_iter()
            .find(|issuer| issuer.remote_keys.is_none_or(|keys| keys == 0))
        {
            return Err(Refusal::transient(
                SwapStep::Configure,
                format!(
                    "issuer {}: no remote keys could be fetched ({}); the bundle would answer 503 for its tokens",
                    issuer.issuer,
                    issuer
                        .last_error
                        .map_or_else(|| "no key in the JWK Set".to_string(), |e| e.to_string())
                ),
            ));
        }
        let tests_passed = run_own_tests(&module, &dir, &policy_path).await?;
        let declared = manifest
            .declared_changes
            .iter()
            .map(|change| DeclaredWidening {
                methods: change.methods.clone(),
                path: change.path.clone(),
                from: change.from.clone(),
            })
            .collect();
        Ok(Prepared {
            active: Active { gate, info },
            declared,
            module_from,
            tests_passed,
        })
    }

    /// The module: the bundle's own precompiled artifact for this engine
    /// when its signature verified; else the private cache (by the
    /// component's digest and the engine); else a compile (cached).
    async fn module(
        &self,
        bundle: &Bundle,
        signed: bool,
    ) -> Result<(Arc<PolicyModule>, &'static str), Refusal> {
        let target = Target::native();
        let engine = engine_fingerprint(target);
        let sandbox = self.settings.sandbox;
        if signed && let Some(artifact) = bundle.artifact_for(target.triple(), &engine) {
            match PolicyModule::load_verified_artifact(artifact, sandbox) {
                Ok(module) => return Ok((module, "artifact")),
                Err(e) => tracing::warn!(
                    error = %e,
                    "the bundle's precompiled artifact does not load here; compiling its module"
                ),
            }
        }
        let wasm = bundle.module().to_vec();
        let key = ArtifactCache::key(&ModuleDigest::of(&wasm), &engine);
        if let Some(cache) = &self.cache
            && let Some(artifact) = cache.get(&key)
        {
            match PolicyModule::load_verified_artifact(&artifact, sandbox) {
                Ok(module) => return Ok((module, "cache")),
                Err(e) => tracing::warn!(error = %e, "a cached artifact does not load; compiling"),
            }
        }
        compile(wasm, target, sandbox, self.cache.as_ref(), &key).await
    }
}

#[cfg(feature = "compiler")]
async fn compile(
    wasm: Vec<u8>,
    _target: Target,
    sandbox: SandboxLimits,
    cache: Option<&ArtifactCache>,
    key: &str,
) -> Result<(Arc<PolicyModule>, &'static str), Refusal> {
    // Compiling takes a CPU for a while: off the async workers. Precompiled
    // bytes are refused here: native code is only taken from a signed
    // bundle's artifacts/.
    let module = tokio::task::spawn_blocking(move || {
        PolicyModule::compile_component(&wasm, sandbox)
            .map_err(|e| Refusal::new(SwapStep::Compile, e))
    })
    .await
    .map_err(|e| {
        Refusal::transient(SwapStep::Compile, format!("the compile task failed: {e}"))
    })??;
    if let Some(cache) = cache {
        match module.serialize_artifact() {
            Ok(artifact) => {
                if let Err(e) = cache.put(key, &artifact) {
                    tracing::warn!(error = %e, "cannot cache the compiled artifact");
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot serialize the compiled module for the cache")
            }
        }
    }
    Ok((module, "compiled"))
}

/// A lean host (no compiler) runs only bundles carrying an artifact for
/// its engine, or one it compiled and cached before.
#[cfg(not(feature = "compiler"))]
async fn compile(
    _wasm: Vec<u8>,
    target: Target,
    _sandbox: SandboxLimits,
    _cache: Option<&ArtifactCache>,
    _key: &str,
) -> Result<(Arc<PolicyModule>, &'static str), Refusal> {
    Err(Refusal::new(
        SwapStep::Compile,
        format!(
            "this lean host cannot compile modules: the bundle must be signed and carry an artifact for {} with engine {} (`tollgate bundle build --target {}` with this tollgate version)",
            target.triple(),
            engine_fingerprint(target),
            target.arch_name(),
        ),
    ))
}

/// The checks that need no module: size, format, signature, name,
/// revision, WIT version. Returns the bundle and, when its signature
/// verified with a trusted key, who signed it (`None`: an unsigned bundle
/// a local source may carry when allowed; its artifacts are never loaded).
pub fn read_and_check(
    settings: &PipelineSettings,
    bytes: &[u8],
    active: Option<&BundleInfo>,
) -> Result<(Bundle, Option<VerifiedBy>), Refusal> {
    let bundle =
        Bundle::read(bytes, &settings.read_limits).map_err(|e| Refusal::new(SwapStep::Read, e))?;
    let verified = if settings.trusted_keys.is_empty() {
        if !settings.allow_unsigned {
            return Err(Refusal::new(
                SwapStep::Signature,
                "no trusted bundle key is configured and unsigned bundles are not allowed",
            ));
        }
        None
    } else {
        Some(
            bundle
                .verify(&settings.trusted_keys)
                .map_err(|e| Refusal::new(SwapStep::Signature, e))?,
        )
    };
    let manifest = bundle.manifest();
    if let Some(min) = settings.min_revision
        && manifest.revision < min
    {
        return Err(Refusal::new(
            SwapStep::Identity,
            format!(
                "revision {} is below the host's minimum revision {min}",
                manifest.revision
            ),
        ));
    }
    if manifest.name != settings.name {
        return Err(Refusal::new(
            SwapStep::Identity,
            format!(
                "the bundle is named {:?} but this host runs {:?}",
                manifest.name, settings.name
            ),
        ));
    }
    if let Some(active) = active.filter(|active| !active.is_deployed()) {
        let explicit = settings.allow_revision == Some(manifest.revision);
        if manifest.revision < active.revision && !explicit {
            return Err(Refusal::new(
                SwapStep::Identity,
                format!(
                    "revision {} is lower than the active revision {}: going back is an explicit rollback (`tollgate bundle rollback`, or allow that revision in the host's config)",
                    manifest.revision, active.revision
                ),
            ));
        }
        if manifest.revision == active.revision && bundle.digest().to_string() != active.digest {
            return Err(Refusal::new(
                SwapStep::Identity,
                format!(
                    "revision {} is the active revision but the bytes differ: publish a new bundle under a higher revision",
                    manifest.revision
                ),
            ));
        }
    }
    let wit = WitVersion::parse(&manifest.wit).ok_or_else(|| {
        Refusal::new(
            SwapStep::WitVersion,
            format!("{:?} is not a WIT version", manifest.wit),
        )
    })?;
    let (min, max) = WIT_VERSIONS;
    if wit < min || wit > max {
        return Err(Refusal::new(
            SwapStep::WitVersion,
            format!("the bundle targets WIT {wit}; this host runs {min} to {max}"),
        ));
    }
    Ok((bundle, verified))
}

/// `<state_dir>/bundles/<digest>`, made afresh and private: the bundle's
/// policy and tests are written there for its test run (its keys are read
/// from memory). The state folder and `bundles/` must be private (no
/// access for group or others, not a link): files another user could
/// change between writing and reading are never used.
fn extraction_dir(state_dir: &Path, digest: &BundleDigest) -> Result<PathBuf, Refusal> {
    let bundles = state_dir.join("bundles");
    for folder in [state_dir, bundles.as_path()] {
        private_dir(folder).map_err(|e| Refusal::transient(SwapStep::Read, e))?;
    }
    let dir = bundles.join(digest.to_string());
    if std::fs::symlink_metadata(&dir).is_ok() {
        std::fs::remove_dir_all(&dir).map_err(|e| {
            Refusal::transient(
                SwapStep::Read,
                format!("cannot clear {}: {e}", dir.display()),
            )
        })?;
    }
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .mode(0o700)
        .create(&dir)
        .map_err(|e| {
            Refusal::transient(
                SwapStep::Read,
                format!("cannot create {}: {e}", dir.display()),
            )
        })?;
    Ok(dir)
}

/// The bundle's own test cases (`tollgate test` semantics: throwaway keys
/// in a key store of their own, the bundle's policy for every case). A
/// bundle without any case is refused: the cases are its evidence.
async fn run_own_tests(
    module: &Arc<PolicyModule>,
    dir: &Path,
    policy: &Path,
) -> Result<usize, Refusal> {
    let module = module.clone();
    let dir = dir.to_path_buf();
    let policy = policy.to_path_buf();
    tokio::task::spawn_blocking(move || {
        let tests = dir.join("tests");
        let paths = tollgate_policy_test::discover(&[tests]).map_err(|_| {
            Refusal::new(
                SwapStep::Tests,
                "the bundle carries no test case: add tests/*.test.toml",
            )
        })?;
        let files = paths
            .iter()
            .map(|path| TestFile::load(path))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| Refusal::new(SwapStep::Tests, e))?;
        let options = RunOptions {
            config: Some(policy),
        };
        let report = tollgate_policy_test::run(&module, &files, &options)
            .map_err(|e| Refusal::new(SwapStep::Tests, e))?;
        if report.passed + report.failed == 0 {
            return Err(Refusal::new(
                SwapStep::Tests,
                "the bundle carries no test case: add cases to its tests/",
            ));
        }
        if report.failed > 0 {
            let failing: Vec<String> = report
                .cases
                .iter()
                .filter(|case| !case.passed)
                .take(5)
                .map(|case| {
                    format!(
                        "{} `{}`: {}",
                        case.file,
                        case.name,
                        case.failures.join("; ")
                    )
                })
                .collect();
            return Err(Refusal::new(
                SwapStep::Tests,
                format!(
                    "{} of {} test cases failed: {}",
                    report.failed,
                    report.passed + report.failed,
                    failing.join(" | ")
                ),
            ));
        }
        Ok(report.passed)
    })
    .await
    .map_err(|e| Refusal::transient(SwapStep::Tests, format!("the test task failed: {e}")))?
}

/// Create `dir` (and parents) with mode 0700 for the leaf, and check that
/// it is private: a folder (not a link) that gives group and others no
/// access. An existing folder that does not is refused, with what to do.
pub fn private_dir(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)?;
    let metadata = std::fs::symlink_metadata(dir)?;
    let mode = metadata.permissions().mode();
    if !metadata.is_dir() || mode & 0o077 != 0 {
        return Err(std::io::Error::new(
            std::io::ErrorKind::PermissionDenied,
            format!(
                "{} is not a private folder (mode {:o}; a link or a folder others can use): it holds bundles and native code; run `chmod 700` on it or choose another state folder",
                dir.display(),
                mode & 0o7777
            ),
        ));
    }
    Ok(())
}
