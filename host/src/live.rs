//! The live bundle, swapped atomically: front doors hold an
//! `Arc<LiveGate>` and every decision comes from exactly one bundle.
//!
//! A [`LiveGate`] holds the [`Active`] bundle (its configured [`Gate`] and
//! its [`BundleInfo`]) behind an atomic pointer (`arc-swap`). A decision
//! loads it once and uses that one [`Active`] for every step (canonical
//! path and decision: [`LiveGate::decide_request`]), so a swap in the
//! middle cannot mix two bundles; decisions already running finish with the
//! bundle they started with, which stays alive until they do. A swap never
//! waits for decisions and decisions never wait for a swap.
//!
//! Each [`Active`] comes with its own [`Gate`], hence its own key store and
//! its own verified-token cache ([`Gate::with_token_cache`]): a new bundle
//! starts with an empty cache (a new cache generation), and answers cached
//! by the old one are never served by the new one.
//!
//! The previous bundle is kept for [`LiveGate::rollback`]; failed
//! activations are recorded ([`LiveGate::record_failure`]); a candidate can
//! run in shadow first ([`LiveGate::start_shadow`], see [`crate::shadow`]).
//! [`LiveGate::status`] tells all of it (serializable).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::SystemTime;

use arc_swap::{ArcSwap, ArcSwapOption};
use serde::{Serialize, Serializer};

use crate::authorizer::invalid_path;
use crate::gate::Gate;
use crate::model::{Decision, PathRefusal, Request};
use crate::shadow::{DeclaredWidening, ShadowHandle, ShadowRun, ShadowSettings, ShadowStatus};

/// Serialize a time as whole seconds since the Unix epoch (0 before it).
pub(crate) fn unix_seconds<S: Serializer>(time: &SystemTime, s: S) -> Result<S::Ok, S::Error> {
    let secs = time
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    s.serialize_u64(secs)
}

/// What names a bundle in logs and status.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BundleInfo {
    /// The bundle's name (its manifest's).
    pub name: String,
    /// Its revision.
    pub revision: u64,
    /// The whole bundle file's SHA-256 (hex).
    pub digest: String,
    /// The digest of the module it runs ([`crate::ModuleDigest`], hex).
    pub module_digest: String,
    /// When it became active (unix seconds in JSON). [`LiveGate`] sets it
    /// at each activation, a rollback or promotion included.
    #[serde(serialize_with = "unix_seconds")]
    pub activated_at: SystemTime,
    /// Where it came from (a file path, a URL, `s3://…`, `embedded`).
    pub source: String,
}

/// The name of the policy deployed with the host (a policy file or the
/// embedded demo), which answers until a bundle is swapped in.
pub const DEPLOYED: &str = "(deployed)";

impl BundleInfo {
    /// The policy deployed with the host (not from a bundle): named
    /// [`DEPLOYED`], revision 0, no bundle digest (`deployed`), running the
    /// module with `module_digest`. Any bundle may replace it.
    pub fn deployed(module_digest: String) -> BundleInfo {
        BundleInfo {
            name: DEPLOYED.to_string(),
            revision: 0,
            digest: "deployed".to_string(),
            module_digest,
            activated_at: SystemTime::now(),
            source: "deployed policy".to_string(),
        }
    }

    /// Whether this is the policy deployed with the host, not a bundle.
    pub fn is_deployed(&self) -> bool {
        self.name == DEPLOYED
    }
}

/// A bundle ready to decide: its configured gate and what names it.
#[derive(Debug)]
pub struct Active {
    /// The configured policy module with its keys (and its own token cache).
    pub gate: Gate,
    /// What names the bundle.
    pub info: BundleInfo,
}

/// The step of the activation pipeline at which a bundle failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum SwapStep {
    /// Downloading or reading it from its source.
    Fetch,
    /// Reading the bundle format.
    Read,
    /// Its signature.
    Signature,
    /// Its name or revision (another bundle's name, an older revision).
    Identity,
    /// The WIT version its module targets.
    WitVersion,
    /// Compiling or loading its module.
    Compile,
    /// Configuring the module with its policy document (keys included).
    Configure,
    /// Its own test cases.
    Tests,
    /// Its shadow run.
    Shadow,
}

impl SwapStep {
    /// The kebab-case name used in status and metrics (`wit-version`).
    pub fn as_str(self) -> &'static str {
        match self {
            SwapStep::Fetch => "fetch",
            SwapStep::Read => "read",
            SwapStep::Signature => "signature",
            SwapStep::Identity => "identity",
            SwapStep::WitVersion => "wit-version",
            SwapStep::Compile => "compile",
            SwapStep::Configure => "configure",
            SwapStep::Tests => "tests",
            SwapStep::Shadow => "shadow",
        }
    }
}

/// A bundle that did not become active.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SwapFailure {
    /// The failed bundle's digest (empty when it could not be read whole).
    pub digest: String,
    /// The digest of the bundle that stayed active.
    pub previous_digest: String,
    /// Where it failed.
    pub step: SwapStep,
    /// Why (an error message, never a credential).
    pub reason: String,
    /// When (unix seconds in JSON).
    #[serde(serialize_with = "unix_seconds")]
    pub at: SystemTime,
}

impl SwapFailure {
    /// A failure of the bundle `digest` at `step`, now, while
    /// `previous_digest` stays active.
    pub fn new(
        digest: impl Into<String>,
        previous_digest: impl Into<String>,
        step: SwapStep,
        reason: impl Into<String>,
    ) -> Self {
        SwapFailure {
            digest: digest.into(),
            previous_digest: previous_digest.into(),
            step,
            reason: reason.into(),
            at: SystemTime::now(),
        }
    }
}

/// Everything [`LiveGate`] knows about its bundles (JSON for the admin
/// endpoint and the CLI).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SwapStatus {
    /// The bundle that answers.
    pub active: BundleInfo,
    /// The one before it, for [`LiveGate::rollback`].
    pub previous: Option<BundleInfo>,
    /// The last failed activation.
    pub last_failure: Option<SwapFailure>,
    /// The shadow run: the running one, else the last one (see its `ended`).
    pub shadow: Option<ShadowStatus>,
    /// Activations since start (promotions and rollbacks included).
    pub activations: u64,
    /// Rollbacks since start.
    pub rollbacks: u64,
    /// Shadow candidates promoted since start (automatically or not).
    pub promotions: u64,
    /// Failed activations since start, by [`SwapStep::as_str`].
    pub failures: BTreeMap<String, u64>,
}

/// Refusals of [`LiveGate`]'s operations.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LiveError {
    /// Rollback without a previous bundle.
    #[error(
        "there is no previous bundle to roll back to: this process has activated only one bundle"
    )]
    NoPrevious,
    /// Promotion or stop without a running shadow run.
    #[error("no shadow run is going on; start one with a candidate bundle first")]
    NoShadow,
    /// A shadow run started outside a tokio runtime.
    #[error(
        "a shadow run needs a tokio runtime to run on; start it from within one (a door's async code)"
    )]
    NoRuntime,
    /// A declared change whose path is not a grant pattern.
    #[error(
        "declared change path {path:?} is not a path pattern; write one starting with '/' (e.g. \"/reports/*\")"
    )]
    InvalidDeclaredChange {
        /// The path as declared.
        path: String,
    },
    /// Shadow settings out of range.
    #[error("{0}")]
    InvalidSettings(String),
}

#[derive(Default)]
struct State {
    /// The previous bundle and when it had become active.
    previous: Option<(Arc<Active>, SystemTime)>,
    /// When the active bundle became active.
    active_since: Option<SystemTime>,
    last_failure: Option<SwapFailure>,
    activations: u64,
    rollbacks: u64,
    promotions: u64,
    failures: BTreeMap<String, u64>,
    /// The last shadow run that ended, with how.
    last_shadow: Option<ShadowStatus>,
}

/// The live bundle, swapped atomically; what front doors decide with
/// (see the [module docs](self)).
pub struct LiveGate {
    active: ArcSwap<Active>,
    /// Changes (activate, rollback, shadow start/stop/promotion) are
    /// serialized by this lock; decisions never take it.
    state: Mutex<State>,
    shadow: ArcSwapOption<ShadowHandle>,
}

impl std::fmt::Debug for LiveGate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LiveGate")
            .field("active", &self.active.load().info)
            .finish_non_exhaustive()
    }
}

fn with_time(info: &BundleInfo, at: Option<SystemTime>) -> BundleInfo {
    let mut info = info.clone();
    if let Some(at) = at {
        info.activated_at = at;
    }
    info
}

impl LiveGate {
    /// Start with `gate` as the active bundle (activated now).
    pub fn new(gate: Gate, info: BundleInfo) -> Self {
        let now = SystemTime::now();
        let info = BundleInfo {
            activated_at: now,
            ..info
        };
        tracing::info!(
            name = %info.name,
            revision = info.revision,
            digest = %info.digest,
            source = %info.source,
            "bundle active"
        );
        LiveGate {
            active: ArcSwap::from_pointee(Active { gate, info }),
            state: Mutex::new(State {
                active_since: Some(now),
                ..State::default()
            }),
            shadow: ArcSwapOption::empty(),
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The active bundle now. Load it once per decision and use it for
    /// every step of that decision.
    pub fn current(&self) -> Arc<Active> {
        self.active.load_full()
    }

    /// Canonicalize `request`'s path with the current bundle's options.
    /// A door that decides afterwards should rather call
    /// [`LiveGate::decide_request`] (or `current()` once, then
    /// [`LiveGate::decide_on`]): two calls to [`LiveGate::current`] may see
    /// two bundles.
    pub fn canonicalize(&self, request: &mut Request) -> Result<(), PathRefusal> {
        self.current().gate.canonicalize(request)
    }

    /// Decide an already canonical `request` with the current bundle
    /// ([`Gate::decide_with_door_text`]); returns the bundle that decided.
    pub async fn decide(&self, request: &Request, door_bytes: usize) -> (Decision, Arc<Active>) {
        let active = self.current();
        let decision = self.decide_on(&active, request, door_bytes).await;
        (decision, active)
    }

    /// A door's whole decision with one bundle: canonicalize `request`'s
    /// path with the current bundle (a refused path is denied
    /// `invalid-path` without asking the module), then decide with the
    /// same bundle; returns it with the decision. The request is left in
    /// canonical form (the path as received in `raw_path`), so a door
    /// checks an allow's grants against the path the module matched.
    pub async fn decide_request(
        &self,
        request: &mut Request,
        door_bytes: usize,
    ) -> (Decision, Arc<Active>) {
        let active = self.current();
        let decision = match active.gate.canonicalize(request) {
            Ok(()) => active.gate.decide_with_door_text(request, door_bytes).await,
            Err(refusal) => Decision::Deny(invalid_path(refusal)),
        };
        self.offer_to_shadow(request, &decision, &active, door_bytes);
        (decision, active)
    }

    /// Decide `request` (canonicalized by `active`'s gate) with `active`,
    /// a bundle from [`LiveGate::current`], and offer the decision to a
    /// shadow run: for doors that canonicalize themselves to answer a
    /// refused path in their own protocol.
    pub async fn decide_on(
        &self,
        active: &Arc<Active>,
        request: &Request,
        door_bytes: usize,
    ) -> Decision {
        let decision = active.gate.decide_with_door_text(request, door_bytes).await;
        self.offer_to_shadow(request, &decision, active, door_bytes);
        decision
    }

    /// Hand a decided request to the shadow run, if one runs (off the
    /// decision path: a clone into a bounded queue, never waited for).
    fn offer_to_shadow(
        &self,
        request: &Request,
        decision: &Decision,
        active: &Arc<Active>,
        door_bytes: usize,
    ) {
        if let Some(shadow) = self.shadow.load().as_ref() {
            shadow.offer(request, decision, active, door_bytes);
        }
    }

    /// Make `active` the bundle that answers (decisions already running
    /// finish with the old one); the old one becomes the previous. A
    /// shadow run going on ends (`superseded by an activation`). Logs one
    /// line with both digests.
    pub fn activate(&self, active: Active) {
        let mut state = self.state();
        self.install(&mut state, Arc::new(active), "activated");
        self.end_shadow(&mut state, "superseded by an activation");
    }

    /// Swap in `next` (state locked), logging `how`; returns its info as
    /// of now.
    fn install(&self, state: &mut State, next: Arc<Active>, how: &'static str) -> BundleInfo {
        let now = SystemTime::now();
        let old = self.active.swap(next.clone());
        tracing::info!(
            name = %next.info.name,
            revision = next.info.revision,
            digest = %next.info.digest,
            previous_digest = %old.info.digest,
            previous_revision = old.info.revision,
            how,
            "bundle activated"
        );
        let old_since = state.active_since.unwrap_or(old.info.activated_at);
        state.previous = Some((old, old_since));
        state.active_since = Some(now);
        state.activations += 1;
        with_time(&next.info, Some(now))
    }

    /// Swap the active and the previous bundle back: the previous answers
    /// again (and the one it replaces becomes the previous, so a second
    /// rollback undoes the first). A shadow run going on ends.
    pub fn rollback(&self) -> Result<BundleInfo, LiveError> {
        let mut state = self.state();
        let (previous, _) = state.previous.take().ok_or(LiveError::NoPrevious)?;
        let info = self.install(&mut state, previous, "rolled back");
        state.rollbacks += 1;
        self.end_shadow(&mut state, "superseded by a rollback");
        Ok(info)
    }

    /// Record a bundle that failed to activate (the current one stays):
    /// kept as the last failure, counted by step, and logged at `warn`
    /// with both digests.
    pub fn record_failure(&self, failure: SwapFailure) {
        tracing::warn!(
            digest = %failure.digest,
            active_digest = %failure.previous_digest,
            step = failure.step.as_str(),
            reason = %failure.reason,
            "bundle not activated; the active bundle keeps answering"
        );
        let mut state = self.state();
        *state
            .failures
            .entry(failure.step.as_str().to_string())
            .or_insert(0) += 1;
        state.last_failure = Some(failure);
    }

    /// Run `candidate` in shadow beside the active bundle (see
    /// [`crate::shadow`]) on the current tokio runtime, with the widenings
    /// its manifest declares. A shadow run already going on ends
    /// (`replaced by another shadow run`). Needs `Arc<LiveGate>`: the run
    /// promotes through it.
    pub fn start_shadow(
        self: &Arc<Self>,
        candidate: Active,
        declared: Vec<DeclaredWidening>,
        settings: ShadowSettings,
    ) -> Result<(), LiveError> {
        let mut state = self.state();
        let info = candidate.info.clone();
        let handle = ShadowHandle::start(
            Arc::downgrade(self),
            Arc::new(candidate),
            declared,
            settings.clone(),
        )?;
        self.end_shadow(&mut state, "replaced by another shadow run");
        tracing::info!(
            candidate = %info.name,
            revision = info.revision,
            digest = %info.digest,
            live_digest = %self.active.load().info.digest,
            sample = settings.sample,
            min_duration_secs = settings.min_duration.as_secs(),
            min_callers = settings.min_callers,
            max_disagreement = settings.max_disagreement,
            auto_promote = settings.auto_promote,
            "shadow run started"
        );
        self.shadow.store(Some(Arc::new(handle)));
        Ok(())
    }

    /// Promote the shadow candidate now, whatever its counts (the manual
    /// path, e.g. after an undeclared widening was reviewed).
    pub fn promote_shadow(&self) -> Result<BundleInfo, LiveError> {
        let mut state = self.state();
        let handle = self.shadow.load_full().ok_or(LiveError::NoShadow)?;
        Ok(self.promote(&mut state, &handle.run, "promoted manually"))
    }

    /// The automatic promotion from `run`'s task: only if `run` is still
    /// the shadow run (not stopped or replaced meanwhile).
    pub(crate) fn promote_run(&self, run: &Arc<ShadowRun>) {
        let mut state = self.state();
        let current = self.shadow.load();
        if current
            .as_ref()
            .is_some_and(|handle| Arc::ptr_eq(&handle.run, run))
        {
            self.promote(&mut state, run, "promoted automatically");
        }
    }

    fn promote(&self, state: &mut State, run: &Arc<ShadowRun>, how: &'static str) -> BundleInfo {
        let info = self.install(state, run.candidate.clone(), how);
        state.promotions += 1;
        self.end_shadow(state, how);
        info
    }

    /// Stop the shadow run without promoting; returns its final counts.
    pub fn stop_shadow(&self) -> Result<ShadowStatus, LiveError> {
        let mut state = self.state();
        self.end_shadow(&mut state, "stopped")
            .ok_or(LiveError::NoShadow)
    }

    /// End the shadow run, if one runs, keeping its final status.
    fn end_shadow(&self, state: &mut State, how: &str) -> Option<ShadowStatus> {
        let handle = self.shadow.swap(None)?;
        let status = handle.run.status(Some(how.to_string()));
        tracing::info!(
            candidate_digest = %status.candidate.digest,
            compared = status.compared,
            disagreements = status.disagreements,
            undeclared_widenings = status.undeclared_widenings,
            ended = how,
            "shadow run ended"
        );
        state.last_shadow = Some(status.clone());
        Some(status)
    }

    /// The running shadow run's status, if one runs.
    pub fn shadow_status(&self) -> Option<ShadowStatus> {
        self.shadow
            .load()
            .as_ref()
            .map(|handle| handle.run.status(None))
    }

    /// The active and previous bundles, the last failure, the shadow run
    /// (running, else the last one) and the counters.
    pub fn status(&self) -> SwapStatus {
        let state = self.state();
        let active = self.current();
        SwapStatus {
            active: with_time(&active.info, state.active_since),
            previous: state
                .previous
                .as_ref()
                .map(|(previous, since)| with_time(&previous.info, Some(*since))),
            last_failure: state.last_failure.clone(),
            shadow: self.shadow_status().or_else(|| state.last_shadow.clone()),
            activations: state.activations,
            rollbacks: state.rollbacks,
            promotions: state.promotions,
            failures: state.failures.clone(),
        }
    }
}
