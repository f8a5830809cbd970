//! The key manager: per issuer, local keys plus an optional remote source,
//! kept in a [`KeyStore`].

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, Weak};
use std::task::Poll;
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::task::AbortHandle;
use tollgate_keys::{KeySet, KeyStore, LookupError};

use crate::fetch::Fetcher;
use crate::settings::{KeyFetchSettings, RefreshMode};
use crate::slot::{Attempt, Shared, Slot, SlotView};
use crate::url::RemoteUrl;
use crate::{FetchError, KeyManagerError};

/// Where an issuer's remote keys come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RemoteSource {
    /// A JWK Set URL (`jwks_uri` in the policy).
    JwksUri(String),
    /// OIDC discovery from this issuer URL (`discovery = true`): the document
    /// at `<issuer>/.well-known/openid-configuration`, whose `issuer` must
    /// equal it exactly, names the `jwks_uri`.
    Discovery(String),
}

/// One issuer's keys: those loaded locally (JWK Set files, HMAC secrets),
/// and optionally a remote source whose keys are added to them.
#[derive(Debug, Clone)]
pub struct IssuerKeys {
    /// The exact issuer (`iss`), as the key store is keyed.
    pub issuer: String,
    /// Keys loaded by the caller from local files or the environment.
    pub local: KeySet,
    /// The remote source, if any.
    pub remote: Option<RemoteSource>,
}

/// An issuer's remote keys, as of now.
#[derive(Debug, Clone)]
pub struct IssuerStatus {
    /// The issuer.
    pub issuer: String,
    /// The JWK Set URL in use (configured, or found by discovery).
    pub jwks_uri: Option<String>,
    /// Remote keys served, or `None` when there are none (cold, or dropped
    /// after `max_stale`).
    pub remote_keys: Option<usize>,
    /// How long ago the served remote keys were fetched.
    pub age: Option<Duration>,
    /// Their lifetime.
    pub ttl: Duration,
    /// Whether they are past their lifetime (served stale).
    pub stale: bool,
    /// Failed fetches since the last success (JWK Set, or discovery document).
    pub consecutive_failures: u32,
    /// Why the last fetch failed, if it did.
    pub last_error: Option<FetchError>,
    /// Fetches started (JWK Set and discovery document together).
    pub fetches: u64,
}

type JwksSlot = Slot<Arc<KeySet>>;

enum Remote {
    Jwks(Arc<JwksSlot>),
    Discovery {
        document: Arc<Slot<RemoteUrl>>,
        /// The JWK Set slot the last good discovery document pointed to.
        bound: Mutex<Option<Arc<JwksSlot>>>,
    },
}

struct Issuer {
    name: String,
    local: KeySet,
    remote: Option<Remote>,
    /// What was last put in the store: `None` never; `Some(None)` local keys
    /// only (or unavailable); `Some(Some(set))` local plus this remote set.
    /// Identical installs are skipped, so a cold issuer under heavy traffic
    /// does not take the store's write lock on every miss.
    installed: Mutex<Option<Option<Arc<KeySet>>>>,
}

struct Inner {
    store: Arc<KeyStore>,
    shared: Arc<Shared>,
    issuers: Vec<Issuer>,
    /// JWK Set slots by URL, shared by every issuer using that URL.
    jwks_slots: Mutex<HashMap<String, Arc<JwksSlot>>>,
}

/// Aborts the background tasks when the last [`KeyManager`] clone is dropped.
struct Tasks(Mutex<Vec<AbortHandle>>);

impl Drop for Tasks {
    fn drop(&mut self) {
        for task in self.0.lock().unwrap_or_else(|e| e.into_inner()).drain(..) {
            task.abort();
        }
    }
}

/// Fetches, caches and refreshes remote key sets into a [`KeyStore`].
///
/// - Per issuer: local keys (always served) plus at most one remote source,
///   a `jwks_uri` or OIDC discovery. HTTPS only (plain `http://` on loopback
///   hosts), bounded in time and size, redirects to the same origin only.
/// - Cached with a TTL from `Cache-Control: max-age` clamped to
///   `min_ttl..=max_ttl`; refreshed by background tasks ([`RefreshMode::Background`])
///   or inline at the start of a decision ([`KeyManager::before_decision`],
///   [`RefreshMode::Inline`]).
/// - An unknown `kid` triggers one refetch ([`KeyManager::refresh_for_miss`]);
///   every fetch of a URL goes through a penalty box (one per
///   `penalty_window`) and concurrent callers share one in-flight fetch.
/// - A failed refresh keeps the cached keys for up to `max_stale`; only an
///   issuer with no keys at all is marked unavailable (`keys-unavailable`).
///
/// Decisions read the store, never this manager's locks. Clones share state;
/// dropping the last clone stops the background tasks.
#[derive(Clone)]
pub struct KeyManager {
    inner: Arc<Inner>,
    _tasks: Arc<Tasks>,
}

impl std::fmt::Debug for KeyManager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyManager")
            .field("settings", &self.inner.shared.settings)
            .field(
                "issuers",
                &self
                    .inner
                    .issuers
                    .iter()
                    .map(|i| i.name.as_str())
                    .collect::<Vec<_>>(),
            )
            .finish_non_exhaustive()
    }
}

impl KeyManager {
    /// Set up the issuers' keys in `store` and start serving:
    ///
    /// 1. local-only issuers get their keys; remote issuers get their local
    ///    keys, or are marked unavailable if they have none;
    /// 2. every remote source is fetched (prefetch, concurrently, each bounded
    ///    by `request_timeout`). A failure is logged, not fatal: the issuer
    ///    answers `keys-unavailable` until a fetch succeeds;
    /// 3. in [`RefreshMode::Background`], one task per remote issuer is spawned
    ///    on the current tokio runtime.
    ///
    /// Errors: invalid settings, an unacceptable URL (naming it), a duplicate
    /// issuer, no HTTP client, or background mode outside a tokio runtime.
    pub async fn start(
        store: Arc<KeyStore>,
        issuers: Vec<IssuerKeys>,
        settings: KeyFetchSettings,
    ) -> Result<KeyManager, KeyManagerError> {
        let manager = KeyManager::new(store, issuers, settings)?;
        manager.prefetch().await;
        manager.spawn_background()?;
        Ok(manager)
    }

    /// Like [`KeyManager::start`] without steps 2 and 3: no I/O, no task.
    /// Call [`KeyManager::prefetch`] and [`KeyManager::spawn_background`]
    /// (background mode) yourself.
    pub fn new(
        store: Arc<KeyStore>,
        issuers: Vec<IssuerKeys>,
        settings: KeyFetchSettings,
    ) -> Result<KeyManager, KeyManagerError> {
        settings.validate()?;
        let fetcher = Fetcher::new(&settings)?;
        let shared = Arc::new(Shared {
            settings,
            fetcher,
            epoch: Instant::now(),
        });
        let mut jwks_slots: HashMap<String, Arc<JwksSlot>> = HashMap::new();
        let mut built: Vec<Issuer> = Vec::with_capacity(issuers.len());
        for spec in issuers {
            if built.iter().any(|i| i.name == spec.issuer) {
                return Err(KeyManagerError::DuplicateIssuer(spec.issuer));
            }
            let url_error = |source| KeyManagerError::Url {
                issuer: spec.issuer.clone(),
                source,
            };
            let remote = match &spec.remote {
                None => None,
                Some(RemoteSource::JwksUri(text)) => {
                    let url = RemoteUrl::parse(text).map_err(url_error)?;
                    Some(Remote::Jwks(jwks_slot(&mut jwks_slots, url)))
                }
                Some(RemoteSource::Discovery(issuer_url)) => {
                    let url = RemoteUrl::discovery(issuer_url).map_err(url_error)?;
                    Some(Remote::Discovery {
                        document: Arc::new(Slot::new(
                            url,
                            "discovery document",
                            discovery_parser(issuer_url.clone()),
                        )),
                        bound: Mutex::new(None),
                    })
                }
            };
            built.push(Issuer {
                name: spec.issuer,
                local: spec.local,
                remote,
                installed: Mutex::new(None),
            });
        }
        let inner = Arc::new(Inner {
            store,
            shared,
            issuers: built,
            jwks_slots: Mutex::new(jwks_slots),
        });
        for issuer in &inner.issuers {
            if issuer.remote.is_none() {
                tracing::info!(issuer = %issuer.name, keys = issuer.local.len(), "loaded issuer keys");
            }
            inner.install(issuer);
        }
        Ok(KeyManager {
            inner,
            _tasks: Arc::new(Tasks(Mutex::new(Vec::new()))),
        })
    }

    /// Fetch every remote source now (concurrently, each issuer bounded by
    /// its wait limit). Failures are logged; the affected issuers keep their
    /// local keys or stay unavailable.
    pub async fn prefetch(&self) {
        let inner = &self.inner;
        let work = inner
            .issuers
            .iter()
            .filter(|issuer| issuer.remote.is_some())
            .map(|issuer| async move {
                let limit = inner.wait_limit(issuer);
                let _ = tokio::time::timeout(limit, inner.refresh(issuer, true)).await;
                if inner.remote_keys(issuer).is_none() {
                    tracing::warn!(
                        issuer = %issuer.name,
                        "prefetch failed: this issuer answers keys-unavailable until a fetch succeeds"
                    );
                }
            });
        join_all(work.collect()).await;
    }

    /// In [`RefreshMode::Background`], spawn one refresh task per remote
    /// issuer on the current tokio runtime (a second call does nothing). In
    /// inline mode, do nothing.
    pub fn spawn_background(&self) -> Result<(), KeyManagerError> {
        if self.inner.shared.settings.mode != RefreshMode::Background {
            return Ok(());
        }
        let mut tasks = self._tasks.0.lock().unwrap_or_else(|e| e.into_inner());
        if !tasks.is_empty() {
            return Ok(());
        }
        let runtime =
            tokio::runtime::Handle::try_current().map_err(|_| KeyManagerError::NoRuntime)?;
        for (index, issuer) in self.inner.issuers.iter().enumerate() {
            if issuer.remote.is_some() {
                let weak = Arc::downgrade(&self.inner);
                tasks.push(runtime.spawn(background(weak, index)).abort_handle());
            }
        }
        Ok(())
    }

    /// Call at the start of every decision. In [`RefreshMode::Inline`], when
    /// an issuer's keys are due (TTL passed, retry or eviction time reached),
    /// refresh them now, waiting at most the inline budget while the cached
    /// keys are still servable (then the refresh is dropped and they answer),
    /// or the wait limit when nothing servable is cached. The check is a few
    /// atomic loads when nothing is due. In background mode: nothing.
    pub async fn before_decision(&self) {
        let RefreshMode::Inline { budget } = self.inner.shared.settings.mode else {
            return;
        };
        let inner = &self.inner;
        let now = Instant::now();
        let due: Vec<&Issuer> = inner
            .issuers
            .iter()
            .filter(|issuer| issuer.remote.is_some() && inner.issuer_due(issuer) <= now)
            .collect();
        if due.is_empty() {
            return;
        }
        let work = due.into_iter().map(|issuer| async move {
            let limit = if inner.servable(issuer, now) {
                budget
            } else {
                inner.wait_limit(issuer)
            };
            if tokio::time::timeout(limit, inner.refresh(issuer, false))
                .await
                .is_err()
            {
                tracing::warn!(
                    issuer = %issuer.name,
                    budget_ms = limit.as_millis() as u64,
                    "inline key refresh did not finish within its budget; cancelled, cached keys answer"
                );
            }
        });
        join_all(work.collect()).await;
    }

    /// A decision missed `issuer`'s keys (`error`: an unknown `kid`, or keys
    /// unavailable): refetch them — once per penalty window per URL, sharing
    /// an in-flight fetch — waiting at most the wait limit
    /// (`request_timeout` plus 50 ms grace, twice that when the discovery
    /// document must be fetched too). Returns whether asking the module again can now give
    /// another answer: the `kid` (or, for a token without `kid`, any key) is
    /// now there, or the issuer went from unavailable to having keys.
    /// `false` at once for an issuer without a remote source.
    pub async fn refresh_for_miss(
        &self,
        issuer: &str,
        kid: Option<&str>,
        error: LookupError,
    ) -> bool {
        let inner = &self.inner;
        let Some(entry) = inner
            .issuers
            .iter()
            .find(|i| i.name == issuer && i.remote.is_some())
        else {
            return false;
        };
        let limit = inner.wait_limit(entry);
        if tokio::time::timeout(limit, inner.refresh(entry, true))
            .await
            .is_err()
        {
            tracing::warn!(issuer, "key refresh for an unknown key timed out");
        }
        match error {
            LookupError::UnknownKey => inner.store.lookup(issuer, kid).is_ok(),
            LookupError::KeysUnavailable | LookupError::UnknownIssuer => {
                inner.store.key_set(issuer).is_some()
            }
        }
    }

    /// Refresh one issuer's remote keys now (gated and shared like every
    /// fetch), bounded by its wait limit. Returns whether it has remote keys
    /// afterwards.
    pub async fn refresh_issuer(&self, issuer: &str) -> bool {
        let inner = &self.inner;
        let Some(entry) = inner
            .issuers
            .iter()
            .find(|i| i.name == issuer && i.remote.is_some())
        else {
            return false;
        };
        let _ = tokio::time::timeout(inner.wait_limit(entry), inner.refresh(entry, true)).await;
        inner.remote_keys(entry).is_some()
    }

    /// Whether `issuer` has a remote key source.
    pub fn is_remote(&self, issuer: &str) -> bool {
        self.inner
            .issuers
            .iter()
            .any(|i| i.name == issuer && i.remote.is_some())
    }

    /// Failed fetches in a row of `issuer`'s key source (its JWK Set, else
    /// its discovery document): 0 when its last fetch succeeded or it has no
    /// remote source. Cheap: for the decision path after a miss.
    pub fn consecutive_failures(&self, issuer: &str) -> u32 {
        self.inner
            .issuers
            .iter()
            .find(|i| i.name == issuer)
            .map_or(0, |i| self.inner.failures(i))
    }

    /// The status of every issuer with a remote source, in configuration order.
    pub fn status(&self) -> Vec<IssuerStatus> {
        let inner = &self.inner;
        inner
            .issuers
            .iter()
            .filter_map(|issuer| {
                let remote = issuer.remote.as_ref()?;
                let (jwks, document) = match remote {
                    Remote::Jwks(slot) => (Some(slot.clone()), None),
                    Remote::Discovery { document, bound } => {
                        (lock(bound).clone(), Some(document.view()))
                    }
                };
                let view = jwks.as_ref().map(|slot| slot.view());
                let keys = inner.remote_keys(issuer);
                let (age, ttl) = match &view {
                    Some(v) => (v.age, v.ttl),
                    None => (None, Duration::ZERO),
                };
                let fetches = view.as_ref().map_or(0, |v| v.fetches)
                    + document.as_ref().map_or(0, |d| d.fetches);
                let last_error = [view.as_ref(), document.as_ref()]
                    .into_iter()
                    .flatten()
                    .find_map(|v: &SlotView| v.last_error.clone());
                Some(IssuerStatus {
                    issuer: issuer.name.clone(),
                    jwks_uri: view.as_ref().map(|v| v.url.clone()),
                    remote_keys: keys.map(|set| set.len()),
                    age,
                    ttl,
                    stale: age.is_some_and(|age| age > ttl),
                    consecutive_failures: inner.failures(issuer),
                    last_error,
                    fetches,
                })
            })
            .collect()
    }
}

impl Inner {
    /// The JWK Set slot `issuer` currently uses.
    fn jwks_of(&self, issuer: &Issuer) -> Option<Arc<JwksSlot>> {
        match issuer.remote.as_ref()? {
            Remote::Jwks(slot) => Some(slot.clone()),
            Remote::Discovery { bound, .. } => lock(bound).clone(),
        }
    }

    /// Failed fetches in a row: the JWK Set's when it is failing, else the
    /// discovery document's.
    fn failures(&self, issuer: &Issuer) -> u32 {
        let document = match issuer.remote.as_ref() {
            Some(Remote::Discovery { document, .. }) => document.failures(),
            _ => 0,
        };
        match self.jwks_of(issuer).map(|slot| slot.failures()) {
            Some(jwks) if jwks > 0 => jwks,
            _ => document,
        }
    }

    fn remote_keys(&self, issuer: &Issuer) -> Option<Arc<KeySet>> {
        self.jwks_of(issuer).and_then(|slot| slot.value())
    }

    /// Whether `issuer` has remote keys that may be served at `now`.
    fn servable(&self, issuer: &Issuer, now: Instant) -> bool {
        self.jwks_of(issuer)
            .is_some_and(|slot| slot.servable(&self.shared, now))
    }

    /// When `issuer` next wants a refresh, retry or eviction.
    fn issuer_due(&self, issuer: &Issuer) -> Instant {
        match &issuer.remote {
            None => self.shared.instant(u64::MAX / 4),
            Some(Remote::Jwks(slot)) => slot.due(&self.shared),
            Some(Remote::Discovery { document, bound }) => {
                let document_due = document.due(&self.shared);
                match lock(bound).as_ref() {
                    Some(slot) => document_due.min(slot.due(&self.shared)),
                    None => document_due,
                }
            }
        }
    }

    /// The longest a decision waits for `issuer`'s keys: `request_timeout`,
    /// twice that for discovery (two fetches in a row), plus a small grace so
    /// that a fetch ending at its own timeout reports its outcome first.
    fn wait_limit(&self, issuer: &Issuer) -> Duration {
        const GRACE: Duration = Duration::from_millis(50);
        let one = self.shared.settings.request_timeout;
        let fetches = match issuer.remote {
            Some(Remote::Discovery { .. }) => one.saturating_mul(2),
            _ => one,
        };
        fetches.saturating_add(GRACE)
    }

    /// Refresh `issuer`'s remote keys: fetch what is due (`force`: the JWK
    /// Set in any case, as for an unknown `kid`), evict what is past
    /// `max_stale`, and put the result in the store.
    async fn refresh(&self, issuer: &Issuer, force: bool) {
        let shared = &self.shared;
        let target = match &issuer.remote {
            None => return,
            Some(Remote::Jwks(slot)) => slot.clone(),
            Some(Remote::Discovery { document, bound }) => {
                let current = lock(bound).clone();
                let mut target = current.clone();
                if current.is_none() || document.is_due(shared, Instant::now()) {
                    if let Attempt::Fetched(Err(_)) = document.attempt(shared).await
                        && current.is_none()
                    {
                        tracing::warn!(issuer = %issuer.name, "OIDC discovery failed");
                    }
                    document.evict_if_past(shared, Instant::now());
                    if let Some(url) = document.value() {
                        target = Some(self.jwks_slot_for(url));
                    }
                }
                let Some(target) = target else {
                    self.install(issuer);
                    return;
                };
                target
            }
        };
        if force || target.value().is_none() || target.is_due(shared, Instant::now()) {
            target.attempt(shared).await;
        }
        target.evict_if_past(shared, Instant::now());
        if let Some(Remote::Discovery { bound, .. }) = &issuer.remote {
            let mut bound = lock(bound);
            let rebind = match bound.as_ref() {
                None => true,
                Some(current) => !Arc::ptr_eq(current, &target) && target.value().is_some(),
            };
            if rebind {
                if let Some(old) = bound.as_ref() {
                    tracing::info!(issuer = %issuer.name, from = %old.url, to = %target.url, "discovery moved the JWK Set");
                }
                *bound = Some(target.clone());
            }
        }
        // Every issuer using this JWK Set sees the new keys.
        for other in &self.issuers {
            if self
                .jwks_of(other)
                .is_some_and(|slot| Arc::ptr_eq(&slot, &target))
            {
                self.install(other);
            }
        }
        self.install(issuer);
    }

    /// The shared slot for a JWK Set URL (created on first use).
    fn jwks_slot_for(&self, url: RemoteUrl) -> Arc<JwksSlot> {
        jwks_slot(&mut lock(&self.jwks_slots), url)
    }

    /// Put `issuer`'s keys in the store: local + remote; local only when
    /// there are no remote keys; unavailable when there are no keys at all.
    fn install(&self, issuer: &Issuer) {
        let remote = self.remote_keys(issuer);
        let mut installed = lock(&issuer.installed);
        let unchanged = match (&remote, installed.as_ref()) {
            (Some(new), Some(Some(old))) => Arc::ptr_eq(new, old),
            (None, Some(None)) => true,
            _ => false,
        };
        if unchanged {
            return;
        }
        match &remote {
            Some(set) => {
                let mut keys = issuer.local.clone();
                keys.merge(KeySet::clone(set));
                tracing::info!(
                    issuer = %issuer.name,
                    remote_keys = set.len(),
                    local_keys = issuer.local.len(),
                    "issuer keys updated"
                );
                self.store.set_keys(&issuer.name, keys);
            }
            None if issuer.remote.is_none() || !issuer.local.is_empty() => {
                self.store.set_keys(&issuer.name, issuer.local.clone());
            }
            None => {
                if matches!(*installed, Some(Some(_))) {
                    tracing::error!(issuer = %issuer.name, "issuer has no keys left: answering keys-unavailable");
                }
                self.store.mark_unavailable(&issuer.name);
            }
        }
        *installed = Some(remote);
    }
}

/// The background refresh loop of one issuer: sleep until it is due, refresh.
async fn background(inner: Weak<Inner>, index: usize) {
    /// Floor between iterations, against any scheduling surprise.
    const MIN_PAUSE: Duration = Duration::from_millis(10);
    loop {
        let due = {
            let Some(inner) = inner.upgrade() else { return };
            let Some(issuer) = inner.issuers.get(index) else {
                return;
            };
            inner.issuer_due(issuer)
        };
        let wake = due.max(Instant::now() + MIN_PAUSE);
        tokio::time::sleep_until(tokio::time::Instant::from_std(wake)).await;
        let Some(inner) = inner.upgrade() else { return };
        let Some(issuer) = inner.issuers.get(index) else {
            return;
        };
        inner.refresh(issuer, false).await;
    }
}

fn jwks_slot(slots: &mut HashMap<String, Arc<JwksSlot>>, url: RemoteUrl) -> Arc<JwksSlot> {
    slots
        .entry(url.as_str().to_string())
        .or_insert_with(|| Arc::new(Slot::new(url, "JWK Set", Box::new(parse_jwks))))
        .clone()
}

/// A JWK Set document: invalid keys skipped (each logged), none left is an error.
fn parse_jwks(url: &RemoteUrl, body: &[u8]) -> Result<Arc<KeySet>, FetchError> {
    let invalid = |reason: String| FetchError::Invalid {
        url: url.to_string(),
        reason,
    };
    let text = std::str::from_utf8(body).map_err(|_| invalid("JWK Set is not UTF-8".into()))?;
    let (set, skipped) = KeySet::from_jwks_json(text).map_err(|e| invalid(e.to_string()))?;
    if !skipped.is_empty() {
        tracing::warn!(url = %url, skipped = skipped.len(), kept = set.len(), "JWK Set had invalid keys; skipped them");
    }
    if set.is_empty() {
        return Err(FetchError::NoUsableKeys {
            url: url.to_string(),
            skipped: skipped.len(),
        });
    }
    Ok(Arc::new(set))
}

/// A discovery document: its `issuer` must equal `expected`; its `jwks_uri`
/// must be an acceptable URL.
fn discovery_parser(expected: String) -> crate::slot::Parser<RemoteUrl> {
    Box::new(move |url, body| {
        let invalid = |reason: &str| FetchError::Invalid {
            url: url.to_string(),
            reason: format!("discovery document {reason}"),
        };
        let document: Value =
            serde_json::from_slice(body).map_err(|e| invalid(&format!("is not JSON ({e})")))?;
        let object = document
            .as_object()
            .ok_or_else(|| invalid("is not a JSON object"))?;
        let found = object
            .get("issuer")
            .and_then(Value::as_str)
            .ok_or_else(|| invalid("has no \"issuer\" string"))?;
        if found != expected {
            return Err(FetchError::IssuerMismatch {
                url: url.to_string(),
                expected: expected.clone(),
                found: found.to_string(),
            });
        }
        let jwks_uri = object
            .get("jwks_uri")
            .and_then(Value::as_str)
            .ok_or_else(|| invalid("has no \"jwks_uri\" string"))?;
        RemoteUrl::parse(jwks_uri).map_err(|source| FetchError::JwksUri {
            url: url.to_string(),
            source,
        })
    })
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

/// Run `futures` concurrently in this task (no spawning) until all finish.
async fn join_all<F: Future>(futures: Vec<F>) -> Vec<F::Output> {
    let mut futures: Vec<Pin<Box<F>>> = futures.into_iter().map(Box::pin).collect();
    let mut outputs: Vec<Option<F::Output>> = futures.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (future, output) in futures.iter_mut().zip(outputs.iter_mut()) {
            if output.is_none() {
                match future.as_mut().poll(cx) {
                    Poll::Ready(value) => *output = Some(value),
                    Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            Poll::Pending
        } else {
            Poll::Ready(())
        }
    })
    .await;
    outputs.into_iter().flatten().collect()
}
