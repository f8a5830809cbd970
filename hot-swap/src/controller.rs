//! The hot-swap controller: one bundle source, the pipeline, the live gate,
//! what was refused, and the last good bundle kept on disk.
//!
//! Servers run [`HotSwap::run`] in the background (every interval, and at
//! once when a watched file changes). Lambda calls
//! [`HotSwap::before_invocation`] at the start of each invocation: at most
//! once per interval a check starts, and the invocation waits for it at
//! most a short budget; the live bundle answers meanwhile.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tollgate_host::live::{Active, BundleInfo, LiveGate, SwapFailure, SwapStep};
use tollgate_host::shadow::ShadowSettings;

use crate::pipeline::{Pipeline, PipelineSettings, Prepared, Refusal, private_dir};
use crate::source::{BundleSource, Poll, SourceClient, SourceSettings};

/// The default time between two checks of the source.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(30);
/// The default longest a Lambda invocation waits for a due check.
pub const DEFAULT_LAMBDA_BUDGET: Duration = Duration::from_millis(100);

/// Everything the controller needs.
#[derive(Debug, Clone)]
pub struct HotSwapSettings {
    /// Where bundles come from.
    pub source: BundleSource,
    /// Timeouts and size cap of the source.
    pub source_settings: SourceSettings,
    /// The pipeline's trust and limits.
    pub pipeline: PipelineSettings,
    /// Time between checks (servers: a background loop; Lambda: at most
    /// once per interval, at the start of an invocation).
    pub interval: Duration,
    /// Run a new bundle in shadow first (servers only); `None` swaps as
    /// soon as it passes its tests.
    pub shadow: Option<ShadowSettings>,
}

/// Start-up failures: the host does not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// A remote source (URL, object storage) without a trusted key.
    #[error(
        "the bundle source {source_name} is remote but no trusted bundle key is configured: add the minisign public key that signs your bundles (--bundle-key / TOLLGATE_BUNDLE_KEYS)"
    )]
    RemoteWithoutKey {
        /// The source.
        source_name: String,
    },
    /// A local source without a key, and unsigned bundles not allowed.
    #[error(
        "no trusted bundle key is configured for {source_name}: add one (--bundle-key / TOLLGATE_BUNDLE_KEYS), or, for a local file only, allow unsigned bundles explicitly (--bundle-allow-unsigned / TOLLGATE_BUNDLE_ALLOW_UNSIGNED=true)"
    )]
    LocalWithoutKey {
        /// The source.
        source_name: String,
    },
    /// The state folder cannot be made private.
    #[error("cannot create the bundle state folder {path}: {source}")]
    StateDir {
        /// The folder.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// The source cannot be used.
    #[error(transparent)]
    Source(#[from] crate::source::SourceError),
    /// No bundle could be activated at start and there is no other policy.
    #[error(
        "no policy bundle to start with: the source gave none that passed ({source_result}) and no last good bundle is kept in {state_dir} ({persisted})"
    )]
    NoBundle {
        /// What the source gave.
        source_result: String,
        /// The state folder.
        state_dir: String,
        /// What the kept bundle gave.
        persisted: String,
    },
}

/// The result of one check of the source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CheckOutcome {
    /// The source has nothing new.
    Unchanged,
    /// The source holds the bundle that is already active (or shadowing).
    AlreadyActive,
    /// The source holds a bundle refused before (its digest unchanged).
    KnownRefused,
    /// The bundle was refused now.
    Refused(Refusal),
    /// The bundle is now active.
    Activated(BundleInfo),
    /// The bundle runs in shadow beside the active one.
    Shadowing(BundleInfo),
}

/// The controller.
pub struct HotSwap {
    settings: HotSwapSettings,
    pipeline: Pipeline,
    live: Arc<LiveGate>,
    source: tokio::sync::Mutex<SourceClient>,
    wakeups: Mutex<Option<tokio::sync::mpsc::Receiver<()>>>,
    /// Digests refused (or rolled back), with why: not retried until the
    /// source's bytes change.
    refused: Mutex<HashMap<String, Refusal>>,
    /// The shadow candidate's bytes, persisted when it is promoted.
    candidate: Mutex<Option<(String, Arc<[u8]>)>>,
    /// The active bundle's bytes (persisted as the last good).
    active_bytes: Mutex<Option<(String, Arc<[u8]>)>>,
    last_check: Mutex<Option<Instant>>,
    seen_rollbacks: std::sync::atomic::AtomicU64,
    /// The revision the last rollback went back from.
    rolled_back: Mutex<Option<u64>>,
    in_flight: Mutex<Option<tokio::task::JoinHandle<CheckOutcome>>>,
}

impl std::fmt::Debug for HotSwap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HotSwap")
            .field("source", &self.settings.source)
            .finish_non_exhaustive()
    }
}

/// How many compiled artifacts the cache keeps (the most recent).
const KEEP_ARTIFACTS: usize = 8;
/// How many refused digests are remembered (beyond it the set starts over:
/// a refused bundle may then be tried once more, and refused again).
const MAX_REFUSED: usize = 1024;

/// The last good bundle's file in the state folder.
const ACTIVE_FILE: &str = "active.bundle";
/// The bundle before it (rollback across restarts).
const PREVIOUS_FILE: &str = "previous.bundle";

impl HotSwap {
    /// Check the settings, then activate the first bundle: the source's
    /// (waiting at most its timeouts), else the last good one kept in the
    /// state folder, else `fallback` (a policy deployed with the host), else
    /// refuse to start.
    ///
    /// With `check_now` false (Lambda: a cold start waits for nothing that
    /// can wait) and a bundle to start with (kept or `fallback`), the source
    /// is not asked now: the first check is due at once, so the first
    /// [`HotSwap::before_invocation`] starts it.
    pub async fn start(
        settings: HotSwapSettings,
        fallback: Option<Active>,
        check_now: bool,
    ) -> Result<Arc<HotSwap>, StartError> {
        let source_name = settings.source.to_string();
        if settings.pipeline.trusted_keys.is_empty() {
            if settings.source.is_remote() {
                return Err(StartError::RemoteWithoutKey { source_name });
            }
            if !settings.pipeline.allow_unsigned {
                return Err(StartError::LocalWithoutKey { source_name });
            }
            tracing::warn!(source = %source_name, "unsigned bundles are allowed from this local source");
        }
        private_dir(&settings.pipeline.state_dir).map_err(|source| StartError::StateDir {
            path: settings.pipeline.state_dir.display().to_string(),
            source,
        })?;
        let mut client =
            SourceClient::new(settings.source.clone(), settings.source_settings.clone())?;
        let wakeups = client.wakeups();
        let pipeline = Pipeline::new(settings.pipeline.clone());

        // A rollback outlives a restart: the revision rolled back from stays
        // refused until a higher one is published.
        let rolled_back = read_rollback(&settings.pipeline.state_dir);
        // The kept bundle first: it is the revision floor for the source's.
        let kept = read_kept(&settings.pipeline.state_dir, ACTIVE_FILE);
        let mut persisted_result = String::from("none kept");
        let mut start: Option<(Prepared, Arc<[u8]>)> = None;
        // With a shadow run configured, a new bundle found at start while a
        // kept one answers goes through the shadow run too, after start.
        let mut deferred: Option<Arc<[u8]>> = None;
        if let Some(bytes) = kept {
            match pipeline
                .prepare(bytes.clone(), "kept last good bundle", None, None)
                .await
            {
                Ok(prepared) => start = Some((prepared, bytes)),
                Err(refusal) => {
                    tracing::warn!(error = %refusal, "the kept last good bundle is refused");
                    persisted_result = refusal.to_string();
                }
            }
        }
        let ask_source = check_now || (start.is_none() && fallback.is_none());
        let polled = if ask_source {
            Some(client.poll().await)
        } else {
            None
        };
        let source_result = match polled {
            None => "not asked yet".to_string(),
            Some(polled) => match polled {
                Ok(Poll::Changed(fetched)) => {
                    let bytes: Arc<[u8]> = Arc::from(fetched.bytes);
                    let floor = start.as_ref().map(|(prepared, _)| &prepared.active.info);
                    let same = floor.is_some_and(|info| info.digest == digest_of(&bytes));
                    if same {
                        "the kept bundle".to_string()
                    } else if settings.shadow.is_some() && start.is_some() {
                        deferred = Some(bytes);
                        "to the shadow run after start".to_string()
                    } else {
                        match pipeline
                            .prepare(bytes.clone(), &source_name, floor, rolled_back)
                            .await
                        {
                            Ok(prepared) => {
                                start = Some((prepared, bytes));
                                "activated".to_string()
                            }
                            Err(refusal) => {
                                tracing::warn!(source = %source_name, error = %refusal, "the source's bundle is refused at start");
                                refusal.to_string()
                            }
                        }
                    }
                }
                Ok(Poll::Unchanged) => "unchanged".to_string(),
                Err(e) => {
                    tracing::warn!(source = %source_name, error = %e, "the bundle source is unavailable at start");
                    e.to_string()
                }
            },
        };
        let (active, bytes) = match (start, fallback) {
            (Some((prepared, bytes)), _) => (prepared.active, Some(bytes)),
            (None, Some(fallback)) => (fallback, None),
            (None, None) => {
                return Err(StartError::NoBundle {
                    source_result,
                    state_dir: settings.pipeline.state_dir.display().to_string(),
                    persisted: persisted_result,
                });
            }
        };
        tracing::info!(
            name = %active.info.name, revision = active.info.revision, digest = %active.info.digest,
            source = %active.info.source, "policy bundle active"
        );
        let swap = HotSwap {
            live: Arc::new(LiveGate::new(active.gate, active.info)),
            pipeline,
            source: tokio::sync::Mutex::new(client),
            wakeups: Mutex::new(wakeups),
            refused: Mutex::new(HashMap::new()),
            candidate: Mutex::new(None),
            active_bytes: Mutex::new(None),
            last_check: Mutex::new(ask_source.then(Instant::now)),
            seen_rollbacks: std::sync::atomic::AtomicU64::new(0),
            rolled_back: Mutex::new(rolled_back),
            in_flight: Mutex::new(None),
            settings,
        };
        if let Some(bytes) = bytes {
            swap.keep_active(bytes);
        }
        let swap = Arc::new(swap);
        if let Some(bytes) = deferred {
            let outcome = swap.offer(bytes).await;
            log_outcome(&outcome);
        }
        Ok(swap)
    }

    /// The live gate the doors decide with.
    pub fn live(&self) -> &Arc<LiveGate> {
        &self.live
    }

    /// The settings.
    pub fn settings(&self) -> &HotSwapSettings {
        &self.settings
    }

    /// Check the source once and act on what it holds.
    pub async fn check_once(&self) -> CheckOutcome {
        self.note_changes();
        let fetched = {
            let mut client = self.source.lock().await;
            match client.poll().await {
                Ok(Poll::Unchanged) => return CheckOutcome::Unchanged,
                Ok(Poll::Changed(fetched)) => fetched,
                Err(e) => {
                    let refusal = Refusal::transient(SwapStep::Fetch, e);
                    self.fail(&refusal, "(unknown: not downloaded)");
                    return CheckOutcome::Refused(refusal);
                }
            }
        };
        self.offer(Arc::from(fetched.bytes)).await
    }

    /// Run `bytes` through the pipeline and swap (or shadow) it in.
    pub async fn offer(&self, bytes: Arc<[u8]>) -> CheckOutcome {
        let digest = digest_of(&bytes);
        let active = self.live.current();
        if active.info.digest == digest {
            return CheckOutcome::AlreadyActive;
        }
        if self.candidate_digest().as_deref() == Some(digest.as_str()) {
            return CheckOutcome::AlreadyActive;
        }
        if self.is_refused(&digest) {
            return CheckOutcome::KnownRefused;
        }
        let source = self.settings.source.to_string();
        let prepared = match self
            .pipeline
            .prepare(
                bytes.clone(),
                &source,
                Some(&active.info),
                self.rolled_back_from(),
            )
            .await
        {
            Ok(prepared) => prepared,
            Err(refusal) => {
                self.fail(&refusal, &digest);
                if !refusal.transient
                    && let Ok(mut refused) = self.refused.lock()
                {
                    if refused.len() >= MAX_REFUSED {
                        refused.clear();
                    }
                    refused.insert(digest, refusal.clone());
                }
                self.prune();
                return CheckOutcome::Refused(refusal);
            }
        };
        tracing::info!(
            name = %prepared.active.info.name, revision = prepared.active.info.revision,
            digest = %digest, module = prepared.module_from, tests = prepared.tests_passed,
            "policy bundle passed every check"
        );
        let info = prepared.active.info.clone();
        match &self.settings.shadow {
            Some(shadow) => {
                if let Err(e) =
                    self.live
                        .start_shadow(prepared.active, prepared.declared, shadow.clone())
                {
                    let refusal = Refusal::new(SwapStep::Shadow, e);
                    self.fail(&refusal, &digest);
                    return CheckOutcome::Refused(refusal);
                }
                if let Ok(mut candidate) = self.candidate.lock() {
                    *candidate = Some((digest, bytes));
                }
                CheckOutcome::Shadowing(info)
            }
            None => {
                self.live.activate(prepared.active);
                self.keep_active(bytes);
                CheckOutcome::Activated(info)
            }
        }
    }

    /// Go back to the previous bundle (explicit rollback). The bundle
    /// rolled back from is not taken again from the source until its bytes
    /// change. (A rollback through [`LiveGate::rollback`] directly, as the
    /// admin endpoint does, is noticed at the next check the same way.)
    pub fn rollback(&self) -> Result<BundleInfo, tollgate_host::live::LiveError> {
        let to = self.live.rollback()?;
        self.note_changes();
        Ok(to)
    }

    /// Promote the shadow candidate now (manual promotion).
    pub fn promote(&self) -> Result<BundleInfo, tollgate_host::live::LiveError> {
        let info = self.live.promote_shadow()?;
        self.note_changes();
        Ok(info)
    }

    /// Check the source every interval, and at once when a watched file
    /// changes, until `stop` turns true. Servers spawn this.
    pub async fn run(self: Arc<Self>, mut stop: tokio::sync::watch::Receiver<bool>) {
        let mut wakeups = self.wakeups.lock().ok().and_then(|mut w| w.take());
        loop {
            let wake = async {
                match wakeups.as_mut() {
                    Some(rx) => {
                        if rx.recv().await.is_none() {
                            std::future::pending::<()>().await;
                        }
                    }
                    None => std::future::pending::<()>().await,
                }
            };
            tokio::select! {
                _ = tokio::time::sleep(self.settings.interval) => {}
                _ = wake => {}
                _ = stop.changed() => return,
            }
            if *stop.borrow() {
                return;
            }
            let outcome = self.check_once().await;
            log_outcome(&outcome);
        }
    }

    /// Lambda: at the start of an invocation, start a check when one is due
    /// (at most once per interval, never two at a time) and wait for it at
    /// most `budget`. A slow source never delays the decision beyond the
    /// budget: the check goes on in the background and the live bundle
    /// answers meanwhile.
    pub async fn before_invocation(self: &Arc<Self>, budget: Duration) {
        // Only the invocation that starts a check waits for it (at most the
        // budget); later ones never wait on a check already running.
        let started = match self.in_flight.lock() {
            Ok(mut in_flight) => {
                if in_flight.as_ref().is_some_and(|h| h.is_finished()) {
                    *in_flight = None;
                }
                if in_flight.is_none() && self.due() {
                    if let Ok(mut last) = self.last_check.lock() {
                        *last = Some(Instant::now());
                    }
                    let swap = self.clone();
                    let (done, finished) = tokio::sync::oneshot::channel();
                    *in_flight = Some(tokio::spawn(async move {
                        let outcome = swap.check_once().await;
                        log_outcome(&outcome);
                        let _ = done.send(());
                        outcome
                    }));
                    Some(finished)
                } else {
                    None
                }
            }
            Err(_) => None,
        };
        if let Some(finished) = started {
            // Past the budget the check goes on; the active bundle answers.
            let _ = tokio::time::timeout(budget, finished).await;
        }
    }

    /// The revision the last rollback went back from (while no higher
    /// revision has been activated since).
    fn rolled_back_from(&self) -> Option<u64> {
        let active = self.live.current().info.revision;
        let mut rolled_back = self.rolled_back.lock().ok()?;
        match *rolled_back {
            Some(from) if from >= active => Some(from),
            Some(_) => {
                // A higher revision went live since: the floor is done.
                *rolled_back = None;
                write_rollback(&self.settings.pipeline.state_dir, None);
                None
            }
            None => None,
        }
    }

    fn due(&self) -> bool {
        self.last_check
            .lock()
            .ok()
            .and_then(|last| *last)
            .is_none_or(|last| last.elapsed() >= self.settings.interval)
    }

    fn candidate_digest(&self) -> Option<String> {
        self.candidate
            .lock()
            .ok()
            .and_then(|c| c.as_ref().map(|(digest, _)| digest.clone()))
    }

    fn is_refused(&self, digest: &str) -> bool {
        self.refused
            .lock()
            .map(|refused| refused.contains_key(digest))
            .unwrap_or(false)
    }

    /// Follow what changed in the live gate since the last look: a
    /// rollback marks the bundle rolled back from as refused (the source
    /// still holds it), and the kept last good bundle follows the active
    /// one (a promoted shadow candidate, or the previous after a rollback).
    fn note_changes(&self) {
        let status = self.live.status();
        let seen = self
            .seen_rollbacks
            .swap(status.rollbacks, std::sync::atomic::Ordering::SeqCst);
        if status.rollbacks > seen
            && let Some(from) = &status.previous
            && let Ok(mut refused) = self.refused.lock()
        {
            // A second rollback undoes the first: its target is taken again.
            refused.remove(&status.active.digest);
            if let Ok(mut rolled_back) = self.rolled_back.lock() {
                *rolled_back = Some(from.revision);
            }
            write_rollback(&self.settings.pipeline.state_dir, Some(from.revision));
            refused.insert(
                from.digest.clone(),
                Refusal::new(
                    SwapStep::Identity,
                    format!(
                        "rolled back from revision {} to {}",
                        from.revision, status.active.revision
                    ),
                ),
            );
        }
        let active = status.active.digest;
        let kept = self
            .active_bytes
            .lock()
            .ok()
            .and_then(|kept| kept.as_ref().map(|(digest, _)| digest.clone()));
        if kept.as_deref() == Some(active.as_str()) {
            return;
        }
        let promoted = self.candidate.lock().ok().and_then(|mut candidate| {
            if candidate
                .as_ref()
                .is_some_and(|(digest, _)| *digest == active)
            {
                candidate.take()
            } else {
                None
            }
        });
        if let Some((_, bytes)) = promoted {
            self.keep_active(bytes);
            return;
        }
        let dir = &self.settings.pipeline.state_dir;
        if let Some(bytes) = read_kept(dir, PREVIOUS_FILE)
            && digest_of(&bytes) == active
        {
            self.keep_active(bytes);
        }
    }

    fn fail(&self, refusal: &Refusal, digest: &str) {
        // Logged (both digests) and counted by the live gate.
        let active = self.live.current();
        self.live.record_failure(SwapFailure::new(
            digest,
            active.info.digest.clone(),
            refusal.step,
            refusal.reason.clone(),
        ));
    }

    /// Keep `bytes` as the last good bundle (and the one before as previous).
    fn keep_active(&self, bytes: Arc<[u8]>) {
        let dir = &self.settings.pipeline.state_dir;
        let digest = digest_of(&bytes);
        if let Some(old) = read_kept(dir, ACTIVE_FILE)
            && digest_of(&old) != digest
        {
            write_kept(dir, PREVIOUS_FILE, &old);
        }
        write_kept(dir, ACTIVE_FILE, &bytes);
        if let Ok(mut active) = self.active_bytes.lock() {
            *active = Some((digest, bytes));
        }
        self.prune();
    }

    /// Remove what no bundle in use needs: extracted bundles other than
    /// the active, previous and shadow candidate's, and all but the most
    /// recent compiled artifacts.
    fn prune(&self) {
        let status = self.live.status();
        let mut keep: Vec<String> = vec![status.active.digest.clone()];
        keep.extend(status.previous.map(|previous| previous.digest));
        keep.extend(status.shadow.map(|shadow| shadow.candidate.digest));
        keep.extend(self.candidate_digest());
        let bundles = self.settings.pipeline.state_dir.join("bundles");
        let Ok(entries) = std::fs::read_dir(&bundles) else {
            return;
        };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if !keep.contains(&name)
                && let Err(e) = std::fs::remove_dir_all(entry.path())
            {
                tracing::warn!(path = %entry.path().display(), error = %e, "cannot remove an old extracted bundle");
            }
        }
        if let Some(cache) = self.pipeline.artifact_cache()
            && let Err(e) = cache.prune(KEEP_ARTIFACTS)
        {
            tracing::warn!(error = %e, "cannot prune the compiled-artifact cache");
        }
    }

    /// The refused digests with why (status).
    pub fn refused(&self) -> Vec<(String, Refusal)> {
        self.refused
            .lock()
            .map(|refused| {
                refused
                    .iter()
                    .map(|(d, r)| (d.clone(), r.clone()))
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// A bundle's digest as status and logs write it: the format's own
/// [`BundleDigest`](tollgate_bundle::BundleDigest) (SHA-256 of the whole
/// file, hex), the same value `Bundle::digest` gives.
pub fn digest_of(bytes: &[u8]) -> String {
    tollgate_bundle::BundleDigest::of(bytes).to_string()
}

fn read_kept(dir: &std::path::Path, name: &str) -> Option<Arc<[u8]>> {
    std::fs::read(dir.join(name)).ok().map(Arc::from)
}

/// Write `bytes` to `dir/name` whole or not at all: a temporary file of
/// this process, synced, then renamed over it.
fn write_kept(dir: &std::path::Path, name: &str, bytes: &[u8]) {
    use std::io::Write as _;
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let path: PathBuf = dir.join(name);
    let tmp = dir.join(format!(".{name}.{}.{n}.tmp", std::process::id()));
    let written = std::fs::File::create(&tmp)
        .and_then(|mut file| {
            file.write_all(bytes)?;
            file.sync_all()
        })
        .and_then(|()| std::fs::rename(&tmp, &path));
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        tracing::warn!(path = %path.display(), error = %e, "cannot keep the bundle on disk");
    }
}

/// The file that keeps the last rollback's floor across restarts.
const ROLLBACK_FILE: &str = "rolled-back-from";

/// The revision the last rollback went back from, as kept on disk.
fn read_rollback(dir: &std::path::Path) -> Option<u64> {
    std::fs::read_to_string(dir.join(ROLLBACK_FILE))
        .ok()
        .and_then(|text| text.trim().parse().ok())
}

/// Keep (or, with `None`, forget) the last rollback's floor.
fn write_rollback(dir: &std::path::Path, revision: Option<u64>) {
    match revision {
        Some(revision) => write_kept(dir, ROLLBACK_FILE, revision.to_string().as_bytes()),
        None => {
            let _ = std::fs::remove_file(dir.join(ROLLBACK_FILE));
        }
    }
}

fn log_outcome(outcome: &CheckOutcome) {
    match outcome {
        CheckOutcome::Unchanged | CheckOutcome::AlreadyActive | CheckOutcome::KnownRefused => {
            tracing::debug!(?outcome, "bundle source checked")
        }
        CheckOutcome::Refused(_) => {}
        CheckOutcome::Activated(info) => tracing::info!(
            name = %info.name, revision = info.revision, digest = %info.digest, "policy bundle swapped in"
        ),
        CheckOutcome::Shadowing(info) => tracing::info!(
            name = %info.name, revision = info.revision, digest = %info.digest, "policy bundle runs in shadow"
        ),
    }
}
