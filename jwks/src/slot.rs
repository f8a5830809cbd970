//! One fetched document (a JWK Set or a discovery document) per URL: the last
//! good value, its lifetime, the penalty box and single flight.
//!
//! Locking: `state` is a std mutex held only for a few field updates, never
//! across I/O; `flight` is an async mutex held by the one caller fetching the
//! URL, so concurrent callers wait for (and share) that fetch instead of
//! starting their own. Neither is touched by a decision that finds its keys.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::settings::{KeyFetchSettings, RefreshMode};
use crate::url::RemoteUrl;
use crate::{FetchError, fetch::Fetcher};

/// What every slot shares: settings, the HTTP client, the clock origin.
pub(crate) struct Shared {
    pub(crate) settings: KeyFetchSettings,
    pub(crate) fetcher: Fetcher,
    /// Origin of the millisecond clock used for lock-free due times.
    pub(crate) epoch: Instant,
}

impl Shared {
    pub(crate) fn ms(&self, at: Instant) -> u64 {
        u64::try_from(at.saturating_duration_since(self.epoch).as_millis()).unwrap_or(u64::MAX)
    }

    pub(crate) fn instant(&self, ms: u64) -> Instant {
        self.epoch + Duration::from_millis(ms)
    }
}

/// Turns a response body into the slot's value (or says why it cannot).
pub(crate) type Parser<T> = Box<dyn Fn(&RemoteUrl, &[u8]) -> Result<T, FetchError> + Send + Sync>;

/// The outcome of [`Slot::attempt`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Attempt {
    /// This call fetched the URL.
    Fetched(Result<(), FetchError>),
    /// Another caller's fetch of the URL finished while this one waited: its
    /// result is in the slot.
    Joined,
    /// The URL was fetched less than `penalty_window` ago: nothing was done.
    Gated,
}

struct State<T> {
    /// The last good value (`None`: never fetched, or evicted past `max_stale`).
    value: Option<T>,
    /// When `value` arrived.
    fetched_at: Option<Instant>,
    /// `value`'s lifetime (from `Cache-Control`, clamped).
    ttl: Duration,
    /// When the last fetch started: the penalty box counts from here.
    last_attempt: Option<Instant>,
    /// Fetches started / finished (a cancelled fetch never finishes).
    started: u64,
    finished: u64,
    /// Failed fetches since the last success. Raised when a fetch starts and
    /// reset when it succeeds, so a cancelled fetch counts as a failure.
    failures: u32,
    last_error: Option<FetchError>,
}

/// A point-in-time view of a slot, for status reports.
#[derive(Debug, Clone)]
pub(crate) struct SlotView {
    pub(crate) url: String,
    pub(crate) age: Option<Duration>,
    pub(crate) ttl: Duration,
    pub(crate) last_error: Option<FetchError>,
    pub(crate) fetches: u64,
}

/// One URL's cached document.
pub(crate) struct Slot<T> {
    pub(crate) url: RemoteUrl,
    what: &'static str,
    parse: Parser<T>,
    flight: Arc<tokio::sync::Mutex<()>>,
    state: Mutex<State<T>>,
    /// When the slot next wants attention (refresh, retry or eviction), in
    /// [`Shared::ms`]; read without locking on the decision path.
    next_due_ms: AtomicU64,
}

impl<T: Clone + Send + Sync + 'static> Slot<T> {
    pub(crate) fn new(url: RemoteUrl, what: &'static str, parse: Parser<T>) -> Self {
        Slot {
            url,
            what,
            parse,
            flight: Arc::new(tokio::sync::Mutex::new(())),
            state: Mutex::new(State {
                value: None,
                fetched_at: None,
                ttl: Duration::ZERO,
                last_attempt: None,
                started: 0,
                finished: 0,
                failures: 0,
                last_error: None,
            }),
            next_due_ms: AtomicU64::new(0),
        }
    }

    // Every critical section is a handful of field updates with no panics
    // in between, so a poisoned lock still holds consistent state.
    fn lock(&self) -> MutexGuard<'_, State<T>> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The last good value, if any (stale or not).
    pub(crate) fn value(&self) -> Option<T> {
        self.lock().value.clone()
    }

    /// Whether the slot wants a refresh, retry or eviction now (lock-free).
    pub(crate) fn is_due(&self, shared: &Shared, now: Instant) -> bool {
        shared.ms(now) >= self.next_due_ms.load(Ordering::Acquire)
    }

    /// When the slot next wants attention.
    pub(crate) fn due(&self, shared: &Shared) -> Instant {
        shared.instant(self.next_due_ms.load(Ordering::Acquire))
    }

    /// Whether the slot holds a value that may still be served at `now`
    /// (fresh, or expired by at most `max_stale`).
    pub(crate) fn servable(&self, shared: &Shared, now: Instant) -> bool {
        let state = self.lock();
        match (&state.value, state.fetched_at) {
            (Some(_), Some(at)) => now <= at + state.ttl + shared.settings.max_stale,
            _ => false,
        }
    }

    /// Drop the value if it expired more than `max_stale` ago. Returns whether
    /// it did.
    pub(crate) fn evict_if_past(&self, shared: &Shared, now: Instant) -> bool {
        let mut state = self.lock();
        let Some(at) = state.fetched_at else {
            return false;
        };
        let deadline = at + state.ttl + shared.settings.max_stale;
        if state.value.is_none() || now <= deadline {
            return false;
        }
        state.value = None;
        state.fetched_at = None;
        tracing::error!(
            what = self.what,
            url = %self.url,
            max_stale_s = shared.settings.max_stale.as_secs_f64(),
            last_error = state.last_error.as_ref().map(ToString::to_string).unwrap_or_default(),
            "cached keys expired more than max_stale ago and could not be refreshed; dropping them"
        );
        self.reschedule(&state, shared);
        true
    }

    /// Fetch the URL unless another caller is already doing it (then wait for
    /// and share that fetch) or it was fetched less than `penalty_window` ago.
    ///
    /// In background mode the fetch runs in its own task, so it completes and
    /// updates the slot even if this caller is dropped; the task holds the
    /// single-flight lock until it ends, so a dropped caller never lets a
    /// second fetch of the same URL start. In inline mode it runs in this
    /// future, and dropping it cancels the fetch (and releases the lock).
    pub(crate) async fn attempt(self: &Arc<Self>, shared: &Arc<Shared>) -> Attempt {
        let seen = self.lock().finished;
        let flight = Arc::clone(&self.flight).lock_owned().await;
        let started = {
            let mut state = self.lock();
            if state.finished != seen {
                return Attempt::Joined;
            }
            let now = Instant::now();
            // Never more than one fetch per penalty window; while the source
            // is failing, not before its backoff either, whoever asks (a
            // flood of unknown `kid`s during an outage included).
            let gate = shared.settings.backoff(state.failures);
            if let Some(last) = state.last_attempt
                && now < last + gate
            {
                tracing::debug!(what = self.what, url = %self.url, "fetch skipped: penalty window or backoff");
                return Attempt::Gated;
            }
            state.last_attempt = Some(now);
            state.started += 1;
            state.failures = state.failures.saturating_add(1);
            self.reschedule(&state, shared);
            now
        };
        let background = matches!(shared.settings.mode, RefreshMode::Background);
        let result = match tokio::runtime::Handle::try_current() {
            Ok(runtime) if background => {
                let slot = Arc::clone(self);
                let shared_for_task = Arc::clone(shared);
                let task = runtime.spawn(async move {
                    let _flight = flight;
                    slot.fetch_and_store(&shared_for_task, started).await
                });
                task.await.unwrap_or_else(|e| {
                    Err(FetchError::Transport {
                        url: self.url.to_string(),
                        reason: format!("refresh task failed: {e}"),
                    })
                })
            }
            _ => {
                let _flight = flight;
                self.fetch_and_store(shared, started).await
            }
        };
        Attempt::Fetched(result)
    }

    async fn fetch_and_store(&self, shared: &Shared, started: Instant) -> Result<(), FetchError> {
        let result = shared.fetcher.get(&self.url).await.and_then(|fetched| {
            (self.parse)(&self.url, &fetched.body).map(|value| (value, fetched.max_age))
        });
        let mut state = self.lock();
        state.finished += 1;
        let now = Instant::now();
        let outcome = match result {
            Ok((value, max_age)) => {
                let ttl = shared.settings.ttl(max_age);
                tracing::info!(
                    what = self.what,
                    url = %self.url,
                    ttl_s = ttl.as_secs_f64(),
                    took_ms = now.duration_since(started).as_millis() as u64,
                    "fetched"
                );
                state.value = Some(value);
                state.fetched_at = Some(now);
                state.ttl = ttl;
                state.failures = 0;
                state.last_error = None;
                Ok(())
            }
            Err(error) => {
                let retry_in = shared.settings.backoff(state.failures);
                match state.fetched_at {
                    Some(at) if state.value.is_some() => tracing::warn!(
                        what = self.what,
                        url = %self.url,
                        error = %error,
                        age_s = now.duration_since(at).as_secs_f64(),
                        expires_in_s = (at + state.ttl).saturating_duration_since(now).as_secs_f64(),
                        serve_stale_for_s = (at + state.ttl + shared.settings.max_stale)
                            .saturating_duration_since(now)
                            .as_secs_f64(),
                        retry_in_s = retry_in.as_secs_f64(),
                        failures = state.failures,
                        "refresh failed; serving the cached copy"
                    ),
                    _ => tracing::error!(
                        what = self.what,
                        url = %self.url,
                        error = %error,
                        retry_in_s = retry_in.as_secs_f64(),
                        failures = state.failures,
                        "fetch failed and nothing is cached"
                    ),
                }
                state.last_error = Some(error.clone());
                Err(error)
            }
        };
        self.reschedule(&state, shared);
        outcome
    }

    /// Recompute `next_due_ms` from `state`.
    fn reschedule(&self, state: &State<T>, shared: &Shared) {
        let settings = &shared.settings;
        let due = if state.failures == 0 {
            match (state.fetched_at, state.value.is_some()) {
                (Some(at), true) => {
                    let refresh_after = match settings.mode {
                        // Refresh ahead, at 80 % of the lifetime.
                        RefreshMode::Background => state.ttl - state.ttl / 5,
                        // Refresh once the lifetime has passed.
                        RefreshMode::Inline { .. } => state.ttl,
                    };
                    Some(at + refresh_after)
                }
                _ => None,
            }
        } else {
            let retry = state
                .last_attempt
                .map(|at| at + settings.backoff(state.failures));
            let evict = match (state.fetched_at, state.value.is_some()) {
                (Some(at), true) => Some(at + state.ttl + settings.max_stale),
                _ => None,
            };
            match (retry, evict) {
                (Some(r), Some(e)) => Some(r.min(e)),
                (r, e) => r.or(e),
            }
        };
        // Never due again before the penalty window reopens.
        let gate = state.last_attempt.map(|at| at + settings.penalty_window);
        let due_ms = match (due, gate) {
            (Some(d), Some(g)) => shared.ms(d.max(g)),
            (Some(d), None) => shared.ms(d),
            (None, Some(g)) => shared.ms(g),
            (None, None) => 0,
        };
        self.next_due_ms.store(due_ms, Ordering::Release);
    }

    /// Failed fetches since the last success (one counts from its start).
    pub(crate) fn failures(&self) -> u32 {
        self.lock().failures
    }

    /// A status view.
    pub(crate) fn view(&self) -> SlotView {
        let state = self.lock();
        SlotView {
            url: self.url.to_string(),
            age: state
                .fetched_at
                .filter(|_| state.value.is_some())
                .map(|at| at.elapsed()),
            ttl: state.ttl,
            last_error: state.last_error.clone(),
            fetches: state.started,
        }
    }
}
