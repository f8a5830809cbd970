//! The shadow run: a candidate bundle decides beside the live one, off the
//! decision path, before it is promoted.
//!
//! The live decision is answered first; then the request (an owned clone)
//! and the live decision go into a bounded channel (`try_send`: when it is
//! full the request is counted as `dropped`, never waited for). A task on
//! the tokio runtime that started the run decides each one with the
//! candidate and compares:
//!
//! - **agreement**: the same outcome (`allow`, `deny:<reason>` or
//!   `error:<reason>`), so two allows with other grants agree;
//! - **disagreement**: counted by `"<live>-><candidate>"`
//!   (`"deny:forbidden->allow"`) and logged at `warn` with the method, the
//!   canonical path, principal and issuer, both outcomes and both bundle
//!   digests, never the token;
//! - **widening**: the candidate allowed what the live bundle denied. It is
//!   *declared* when one of the candidate's [`DeclaredWidening`]s matches
//!   the method (or `*`; a declared `GET` covers `HEAD`, as GET rules do by
//!   default), the candidate's canonical path (the grant syntax of
//!   [`tollgate_model::grants`]) and the live deny reason (`from`). A live
//!   *error* turned allow is never declared.
//!
//! Promotion is automatic ([`ShadowSettings::auto_promote`]) once, all
//! together: [`ShadowSettings::min_duration`] has passed, at least
//! [`ShadowSettings::min_callers`] distinct callers were compared (callers
//! are the principals the live bundle identified, in an allow or a route
//! refusal, told apart by a keyed hash with a key random per process;
//! junk credentials do not count; at most [`MAX_TRACKED_CALLERS`] are
//! remembered), at least
//! one request was compared, the share of disagreements that are not
//! declared widenings is at most [`ShadowSettings::max_disagreement`], and
//! there was **no undeclared widening**. Otherwise (and always after an
//! undeclared widening) only [`crate::LiveGate::promote_shadow`] promotes.

use std::collections::{BTreeMap, HashSet};
use std::hash::{BuildHasher, RandomState};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::{Duration, Instant, SystemTime};

use serde::Serialize;
use tokio::sync::mpsc;
use tracing::Instrument;

use crate::authorizer::invalid_path;
use crate::live::{Active, BundleInfo, LiveGate, unix_seconds};
use crate::model::grants::PathPattern;
use crate::model::{Decision, Request};

/// Requests waiting for the candidate, at most; more are dropped (counted).
pub const SHADOW_QUEUE: usize = 1024;

/// The most distinct callers a shadow run remembers (then it stops counting).
pub const MAX_TRACKED_CALLERS: usize = 100_000;

/// How often the shadow task checks the promotion conditions when no
/// request comes.
const CHECK_EVERY: Duration = Duration::from_millis(200);

/// How a shadow run samples and when it promotes its candidate.
#[derive(Debug, Clone, PartialEq)]
pub struct ShadowSettings {
    /// Share of requests the candidate decides too, 0 to 1 (default 1:
    /// all). Sampling is deterministic: every `1/sample`-th request.
    pub sample: f64,
    /// Shortest shadow run before an automatic promotion (default 10 min).
    pub min_duration: Duration,
    /// Fewest distinct callers compared before an automatic promotion
    /// (default 10).
    pub min_callers: u64,
    /// Largest share (0 to 1) of compared requests on which the bundles
    /// may disagree, declared widenings aside, for an automatic promotion
    /// (default 0: none).
    pub max_disagreement: f64,
    /// Promote automatically when the conditions hold (default true);
    /// false: only [`crate::LiveGate::promote_shadow`] promotes.
    pub auto_promote: bool,
}

impl Default for ShadowSettings {
    fn default() -> Self {
        ShadowSettings {
            sample: 1.0,
            min_duration: Duration::from_secs(600),
            min_callers: 10,
            max_disagreement: 0.0,
            auto_promote: true,
        }
    }
}

impl ShadowSettings {
    /// Check the ranges; the error says which setting is wrong.
    pub fn validate(&self) -> Result<(), String> {
        if !(0.0..=1.0).contains(&self.sample) {
            return Err(format!(
                "shadow sample {} is out of range; write a share from 0 to 1 (1: every request)",
                self.sample
            ));
        }
        if !(0.0..=1.0).contains(&self.max_disagreement) {
            return Err(format!(
                "shadow max_disagreement {} is out of range; write a share from 0 to 1 (0: no disagreement)",
                self.max_disagreement
            ));
        }
        Ok(())
    }
}

/// A change a candidate bundle declares it makes on purpose: requests with
/// one of `methods` (or `*`) on a path matching `path` (grant syntax, e.g.
/// `/reports/*`) that the live bundle denied with reason `from`
/// (`forbidden`, `insufficient-scope`, …) may be allowed by the candidate
/// without blocking an automatic promotion. (The bundle manifest's
/// `declared_changes`, without its note.)
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DeclaredWidening {
    /// Methods (`GET`) or `*`.
    pub methods: Vec<String>,
    /// Path pattern in grant syntax.
    pub path: String,
    /// The live deny reason the change replaces (kebab-case).
    pub from: String,
}

/// A declared widening with its pattern parsed.
#[derive(Debug)]
struct Declared {
    methods: Vec<String>,
    pattern: PathPattern,
    from: String,
}

impl Declared {
    fn parse(change: DeclaredWidening) -> Option<Declared> {
        Some(Declared {
            pattern: PathPattern::parse(&change.path)?,
            methods: change.methods,
            from: change.from,
        })
    }

    fn covers(&self, method: &str, path: &str, from: &str) -> bool {
        let method_ok = self
            .methods
            .iter()
            .any(|m| m == "*" || m == method || (method == "HEAD" && m == "GET"));
        method_ok && self.from == from && self.pattern.matches(path)
    }
}

/// A shadow run's counts and where its promotion stands (in
/// [`crate::SwapStatus`]).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ShadowStatus {
    /// The candidate bundle.
    pub candidate: BundleInfo,
    /// When the run started (unix seconds).
    #[serde(serialize_with = "unix_seconds")]
    pub started_at: SystemTime,
    /// Seconds the run has lasted (until it ended).
    pub elapsed_secs: u64,
    /// The sampled share.
    pub sample: f64,
    /// Live decisions offered to the run.
    pub offered: u64,
    /// Offered decisions sampled and queued for the candidate.
    pub sampled: u64,
    /// Sampled decisions dropped because the queue was full.
    pub dropped: u64,
    /// Requests the candidate decided and compared.
    pub compared: u64,
    /// Compared requests with the same outcome.
    pub agreements: u64,
    /// Compared requests with another outcome.
    pub disagreements: u64,
    /// Disagreements by `"<live>-><candidate>"` outcome.
    pub disagreements_by_key: BTreeMap<String, u64>,
    /// Widenings (candidate allow, live deny) a declared change covers.
    pub declared_widenings: u64,
    /// Widenings no declared change covers: automatic promotion is off.
    pub undeclared_widenings: u64,
    /// Distinct callers compared (capped at [`MAX_TRACKED_CALLERS`]).
    pub distinct_callers: u64,
    /// Whether the run promotes by itself.
    pub auto_promote: bool,
    /// The promotion conditions not met yet (empty: met).
    pub waiting_for: Vec<String>,
    /// How the run ended (`promoted automatically`, `promoted manually`,
    /// `stopped`, `superseded by an activation`, …); `None` while it runs.
    pub ended: Option<String>,
}

/// What one compared request is.
struct Job {
    request: Request,
    live: Decision,
    live_active: Arc<Active>,
    door_bytes: usize,
}

#[derive(Debug, Default)]
struct Tally {
    compared: u64,
    agreements: u64,
    disagreements: u64,
    by_key: BTreeMap<String, u64>,
    declared_widenings: u64,
    undeclared_widenings: u64,
    callers: HashSet<u64>,
}

/// A running shadow run's shared state (the task and the status read it).
pub(crate) struct ShadowRun {
    pub(crate) candidate: Arc<Active>,
    settings: ShadowSettings,
    declared: Vec<Declared>,
    started: Instant,
    started_at: SystemTime,
    caller_key: RandomState,
    offered: AtomicU64,
    sampled: AtomicU64,
    dropped: AtomicU64,
    tally: Mutex<Tally>,
}

/// A started shadow run: its state, the sending end of its queue and its
/// task (aborted when the handle is dropped).
pub(crate) struct ShadowHandle {
    pub(crate) run: Arc<ShadowRun>,
    queue: mpsc::Sender<Job>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for ShadowHandle {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Whether request number `n` (from 0) is sampled at rate `sample`: the
/// integer part of `n × sample` steps up, so exactly that share is.
fn sampled(n: u64, sample: f64) -> bool {
    if sample >= 1.0 {
        return true;
    }
    #[allow(clippy::cast_precision_loss)]
    let (now, next) = (n as f64 * sample, (n + 1) as f64 * sample);
    next.floor() > now.floor()
}

/// `allow`, `deny:<reason>` or `error:<reason>`.
fn outcome_key(decision: &Decision) -> String {
    match decision {
        Decision::Allow(_) => "allow".to_string(),
        Decision::Deny(deny) => format!("deny:{}", deny.reason.as_str()),
        Decision::Error { reason, .. } => format!("error:{reason}"),
    }
}

fn principal_and_issuer(decisions: [&Decision; 2]) -> (&str, &str) {
    let mut principal = "";
    let mut issuer = "";
    for decision in decisions {
        match decision {
            Decision::Allow(allow) => {
                if principal.is_empty() {
                    principal = &allow.principal;
                }
                if issuer.is_empty() {
                    issuer = &allow.issuer;
                }
            }
            Decision::Deny(deny) => {
                if let (true, Some(p)) = (principal.is_empty(), &deny.principal) {
                    principal = p;
                }
            }
            Decision::Error { .. } => {}
        }
    }
    (principal, issuer)
}

impl ShadowHandle {
    /// Start a shadow run of `candidate` on the current tokio runtime; the
    /// task promotes through `live` when the conditions hold.
    pub(crate) fn start(
        live: Weak<LiveGate>,
        candidate: Arc<Active>,
        declared: Vec<DeclaredWidening>,
        settings: ShadowSettings,
    ) -> Result<ShadowHandle, crate::live::LiveError> {
        use crate::live::LiveError;
        settings.validate().map_err(LiveError::InvalidSettings)?;
        let declared = declared
            .into_iter()
            .map(|change| {
                let path = change.path.clone();
                Declared::parse(change).ok_or(LiveError::InvalidDeclaredChange { path })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| LiveError::NoRuntime)?;
        let run = Arc::new(ShadowRun {
            candidate,
            settings,
            declared,
            started: Instant::now(),
            started_at: SystemTime::now(),
            caller_key: RandomState::new(),
            offered: AtomicU64::new(0),
            sampled: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
            tally: Mutex::new(Tally::default()),
        });
        let (queue, receiver) = mpsc::channel(SHADOW_QUEUE);
        let task = runtime.spawn(run_shadow(run.clone(), receiver, live));
        Ok(ShadowHandle { run, queue, task })
    }

    /// Offer a live decision: sampled, cloned and queued, never waited for.
    pub(crate) fn offer(
        &self,
        request: &Request,
        live: &Decision,
        live_active: &Arc<Active>,
        door_bytes: usize,
    ) {
        let run = &self.run;
        let n = run.offered.fetch_add(1, Ordering::Relaxed);
        if !sampled(n, run.settings.sample) {
            return;
        }
        let job = Job {
            request: request.clone(),
            live: live.clone(),
            live_active: live_active.clone(),
            door_bytes,
        };
        match self.queue.try_send(job) {
            Ok(()) => {
                run.sampled.fetch_add(1, Ordering::Relaxed);
            }
            Err(mpsc::error::TrySendError::Full(_)) => {
                run.sampled.fetch_add(1, Ordering::Relaxed);
                run.dropped.fetch_add(1, Ordering::Relaxed);
            }
            Err(mpsc::error::TrySendError::Closed(_)) => {}
        }
    }
}

impl ShadowRun {
    fn tally(&self) -> std::sync::MutexGuard<'_, Tally> {
        self.tally.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The promotion conditions not met yet (empty: promote).
    fn waiting_for(&self) -> Vec<String> {
        let settings = &self.settings;
        let tally = self.tally();
        let mut waiting = Vec::new();
        let elapsed = self.started.elapsed();
        if elapsed < settings.min_duration {
            waiting.push(format!(
                "min_duration: {} s of {} s",
                elapsed.as_secs(),
                settings.min_duration.as_secs()
            ));
        }
        let callers = u64::try_from(tally.callers.len()).unwrap_or(u64::MAX);
        if callers < settings.min_callers {
            waiting.push(format!(
                "min_callers: {callers} of {}",
                settings.min_callers
            ));
        }
        if tally.compared == 0 {
            waiting.push("no request compared yet".to_string());
        } else {
            let unexpected = tally.disagreements.saturating_sub(tally.declared_widenings);
            #[allow(clippy::cast_precision_loss)]
            let ratio = unexpected as f64 / tally.compared as f64;
            if ratio > settings.max_disagreement {
                waiting.push(format!(
                    "max_disagreement: {unexpected} of {} compared requests disagree ({ratio:.4} > {})",
                    tally.compared, settings.max_disagreement
                ));
            }
        }
        if tally.undeclared_widenings > 0 {
            waiting.push(format!(
                "manual promotion: the candidate allowed {} request(s) the live bundle denied that its declared changes do not cover",
                tally.undeclared_widenings
            ));
        }
        waiting
    }

    /// The run's status; `ended` says how it ended, if it did.
    pub(crate) fn status(&self, ended: Option<String>) -> ShadowStatus {
        let waiting_for = self.waiting_for();
        let tally = self.tally();
        ShadowStatus {
            candidate: self.candidate.info.clone(),
            started_at: self.started_at,
            elapsed_secs: self.started.elapsed().as_secs(),
            sample: self.settings.sample,
            offered: self.offered.load(Ordering::Relaxed),
            sampled: self.sampled.load(Ordering::Relaxed),
            dropped: self.dropped.load(Ordering::Relaxed),
            compared: tally.compared,
            agreements: tally.agreements,
            disagreements: tally.disagreements,
            disagreements_by_key: tally.by_key.clone(),
            declared_widenings: tally.declared_widenings,
            undeclared_widenings: tally.undeclared_widenings,
            distinct_callers: u64::try_from(tally.callers.len()).unwrap_or(u64::MAX),
            auto_promote: self.settings.auto_promote,
            waiting_for,
            ended,
        }
    }

    /// A keyed hash of a caller the live bundle identified (its
    /// principal; a deny names no issuer, so the issuer is left out and
    /// two issuers' same principal count once: never more callers).
    fn caller(&self, principal: &str) -> Option<u64> {
        Some(self.caller_key.hash_one(principal))
    }

    /// Decide `job` with the candidate and count the comparison.
    async fn compare(&self, job: Job) {
        let mut request = job.request;
        // The candidate canonicalizes with its own path options, from the
        // path as the door received it.
        if !request.raw_path.is_empty() {
            request.path = std::mem::take(&mut request.raw_path);
        }
        let gate = &self.candidate.gate;
        let candidate = match gate.canonicalize(&mut request) {
            Ok(()) => {
                let span = tracing::info_span!("shadow", candidate = %self.candidate.info.digest);
                gate.decide_with_door_text(&request, job.door_bytes)
                    .instrument(span)
                    .await
            }
            Err(refusal) => Decision::Deny(invalid_path(refusal)),
        };
        let live_key = outcome_key(&job.live);
        let mut candidate_key = outcome_key(&candidate);
        // Two allows agree only when the upstream would see the same
        // identity: principal, issuer and context (the headers it reads).
        if let (Decision::Allow(live), Decision::Allow(other)) = (&job.live, &candidate)
            && (live.principal != other.principal
                || live.issuer != other.issuer
                || live.context != other.context)
        {
            candidate_key = "allow:other-identity".to_string();
        }
        // Callers are counted when the live bundle identified them (an
        // allow, or a route refusal naming the principal): junk
        // credentials are no evidence.
        let caller = match &job.live {
            Decision::Allow(allow) if !allow.principal.is_empty() => self.caller(&allow.principal),
            Decision::Deny(deny) => deny
                .principal
                .as_deref()
                .filter(|principal| !principal.is_empty())
                .and_then(|principal| self.caller(principal)),
            _ => None,
        };
        let mut tally = self.tally();
        tally.compared += 1;
        if let Some(caller) = caller
            && tally.callers.len() < MAX_TRACKED_CALLERS
        {
            tally.callers.insert(caller);
        }
        if live_key == candidate_key {
            tally.agreements += 1;
            return;
        }
        tally.disagreements += 1;
        *tally
            .by_key
            .entry(format!("{live_key}->{candidate_key}"))
            .or_insert(0) += 1;
        let widening = match (&job.live, &candidate) {
            (Decision::Allow(_), _) | (_, Decision::Deny(_) | Decision::Error { .. }) => "no",
            (Decision::Deny(deny), Decision::Allow(_))
                if self
                    .declared
                    .iter()
                    .any(|d| d.covers(&request.method, &request.path, deny.reason.as_str())) =>
            {
                tally.declared_widenings += 1;
                "declared"
            }
            _ => {
                tally.undeclared_widenings += 1;
                "undeclared"
            }
        };
        drop(tally);
        let (principal, issuer) = principal_and_issuer([&job.live, &candidate]);
        tracing::warn!(
            method = %request.method,
            path = %request.path,
            principal,
            issuer,
            live = %live_key,
            candidate = %candidate_key,
            widening,
            live_digest = %job.live_active.info.digest,
            candidate_digest = %self.candidate.info.digest,
            "shadow disagreement"
        );
    }
}

/// The shadow task: compare queued requests; check the promotion
/// conditions after each and every [`CHECK_EVERY`]; promote through `live`
/// when they hold (auto promotion on), then end.
async fn run_shadow(run: Arc<ShadowRun>, mut queue: mpsc::Receiver<Job>, live: Weak<LiveGate>) {
    loop {
        match tokio::time::timeout(CHECK_EVERY, queue.recv()).await {
            Ok(Some(job)) => run.compare(job).await,
            Ok(None) => return,
            Err(_) => {}
        }
        if run.settings.auto_promote && run.waiting_for().is_empty() {
            if let Some(live) = live.upgrade() {
                live.promote_run(&run);
            }
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sampling_takes_exactly_the_share() {
        for (sample, expected) in [(1.0, 1000), (0.0, 0), (0.5, 500), (0.1, 100), (0.25, 250)] {
            let count = (0..1000).filter(|n| sampled(*n, sample)).count();
            assert_eq!(count, expected, "{sample}");
        }
    }

    #[test]
    fn declared_widenings_match_method_path_and_reason() {
        let declared = Declared::parse(DeclaredWidening {
            methods: vec!["GET".into()],
            path: "/reports/*".into(),
            from: "forbidden".into(),
        })
        .unwrap();
        assert!(declared.covers("GET", "/reports/1", "forbidden"));
        assert!(declared.covers("HEAD", "/reports/1/2", "forbidden"));
        assert!(!declared.covers("POST", "/reports/1", "forbidden"));
        assert!(!declared.covers("GET", "/reports", "forbidden"));
        assert!(!declared.covers("GET", "/orders/1", "forbidden"));
        assert!(!declared.covers("GET", "/reports/1", "insufficient-scope"));
        let any = Declared::parse(DeclaredWidening {
            methods: vec!["*".into()],
            path: "/reports/{id}".into(),
            from: "forbidden".into(),
        })
        .unwrap();
        assert!(any.covers("DELETE", "/reports/7", "forbidden"));
        assert!(!any.covers("DELETE", "/reports/7/x", "forbidden"));
        assert!(
            Declared::parse(DeclaredWidening {
                methods: vec![],
                path: "reports".into(),
                from: "forbidden".into(),
            })
            .is_none()
        );
    }

    #[test]
    fn settings_ranges() {
        assert!(ShadowSettings::default().validate().is_ok());
        for bad in [
            ShadowSettings {
                sample: 1.5,
                ..ShadowSettings::default()
            },
            ShadowSettings {
                sample: f64::NAN,
                ..ShadowSettings::default()
            },
            ShadowSettings {
                max_disagreement: -0.1,
                ..ShadowSettings::default()
            },
        ] {
            assert!(bad.validate().is_err(), "{bad:?}");
        }
    }
}
