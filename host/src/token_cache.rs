//! The verified-token cache: a repeated token is decided without the
//! module, the JWS parsing or the signature math.
//!
//! An [`Authorizer`](crate::Authorizer) with a cache
//! ([`Authorizer::with_token_cache`](crate::Authorizer::with_token_cache);
//! off by default) looks each request up after the request limits and
//! before the module, and remembers the module's allows:
//!
//! - **Key**: SHA-256 over a domain-separation tag, the module's
//!   [`ModuleDigest`], the SHA-256 of the policy document, the key store's
//!   [generation](tollgate_keys::KeyStore::generation) (read before the
//!   module decides) and every [`TokenSource`] of the request, each tagged by
//!   its variant and length-prefixed (so `AuthorizationHeader("x")`,
//!   `Raw("x")` and `[Raw("x"), OutsideCacheKey]` are three keys). A request
//!   without any token source (a public route's anonymous caller) has no key:
//!   it always goes to the module.
//! - **Value**: the allow (principal, issuer, context, grants with their
//!   effects, `expires_at`, and the rule that decided) and `decided_at`, the
//!   request's `now` when the module decided.
//! - **Never stored**: a deny or an error; an allow marked
//!   `request_dependent`; an allow without `expires_at`, or one already
//!   expired at `decided_at`; an allow whose own grants do not let its own
//!   route through (a module's inconsistency: nothing a later request could
//!   reuse); an entry estimated over [`MAX_ENTRY_BYTES`].
//! - **A hit** needs `decided_at <= now < expires_at` (claim validity only
//!   ends with time, through `exp`: a request dated before the decision, as
//!   `tollgate test` can date them, never hits) and the first of the cached
//!   grants that matches the request's method and path
//!   ([`grants::deciding_grant`], the one grant matcher of the model) to be
//!   an allow. Anything else — no grant matches, a deny grant matches — is a
//!   miss: the module decides as if there were no cache (a 403 for a route
//!   the token may not call comes from the module, with its reason).
//! - **The answer** of a hit is the cached allow. Its `rule` is kept only for
//!   the method and path it was decided for (the method compared without
//!   case), and is `None` for any other route: a hit cannot know which rule
//!   would have decided that one.
//! - **Entries never outlive** the token's `exp` (checked on every hit, and
//!   an expired entry is dropped when met), a key-set change (any write to
//!   the key store moves its generation: every entry misses from then on and
//!   ages out), or the module or the policy document (both in the key; a new
//!   [`Authorizer`](crate::Authorizer) also starts with an empty cache).
//! - **Bounded memory**: a [`quick_cache`] cache whose weight is each
//!   entry's estimated bytes, at least `max_bytes / max_entries`, against a
//!   capacity of `max_bytes`: at most about `max_entries` entries and
//!   `max_bytes` bytes (see [`TokenCacheSettings`]).
//!
//! A hit costs a SHA-256 over the credentials, one hash-map lookup and the
//! grant match: see `host/benches/token_cache.rs` and docs/benchmarks.md.

use std::ops::RangeInclusive;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use aws_lc_rs::digest;
use quick_cache::Weighter;
use quick_cache::sync::Cache;

use crate::model::{Allow, Effect, Grant, Request, TokenSource, grants};
use crate::module::ModuleDigest;

/// Default [`TokenCacheSettings::max_entries`].
pub const DEFAULT_MAX_ENTRIES: usize = 10_000;
/// Default [`TokenCacheSettings::max_bytes`]: 16 MiB.
pub const DEFAULT_MAX_BYTES: usize = 16 << 20;
/// Allowed [`TokenCacheSettings::max_entries`]; 0 turns the cache off.
pub const MAX_ENTRIES_RANGE: RangeInclusive<usize> = 0..=1_000_000;
/// Allowed [`TokenCacheSettings::max_bytes`]: 1 MiB to 1 GiB.
pub const MAX_BYTES_RANGE: RangeInclusive<usize> = (1 << 20)..=(1 << 30);
/// The largest entry stored, as estimated (principal, context, grants …):
/// an allow above it is answered but not remembered.
pub const MAX_ENTRY_BYTES: usize = 64 << 10;

/// The first bytes hashed into every key: keys of this cache can never
/// equal a digest computed for anything else.
const KEY_DOMAIN: &[u8] = b"tollgate/token-cache/v1\0";

/// What every entry costs besides its strings: the entry itself, its key,
/// the `Arc` and the cache's own bookkeeping (an estimate).
const ENTRY_OVERHEAD_BYTES: usize =
    std::mem::size_of::<Entry>() + std::mem::size_of::<[u8; 32]>() + 16 + 64;

/// How big the token cache may grow.
///
/// `max_entries` = 0 turns it off ([`TokenCacheSettings::OFF`]). Otherwise
/// both bounds hold, approximately: each entry weighs its estimated bytes
/// but at least `max_bytes / max_entries` (rounded up), against a capacity
/// of `max_bytes`, so the cache holds at most `max_entries` entries and
/// `max_bytes` estimated bytes. The cache is split into shards, each
/// bounded on its own: it may evict before it is full, never hold more.
/// Out-of-range values are clamped into [`MAX_ENTRIES_RANGE`] and
/// [`MAX_BYTES_RANGE`] by the cache; call [`TokenCacheSettings::validate`]
/// to refuse them instead.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TokenCacheSettings {
    /// The most entries (0: no cache).
    pub max_entries: usize,
    /// The most estimated bytes of all entries together.
    pub max_bytes: usize,
}

impl Default for TokenCacheSettings {
    fn default() -> Self {
        TokenCacheSettings {
            max_entries: DEFAULT_MAX_ENTRIES,
            max_bytes: DEFAULT_MAX_BYTES,
        }
    }
}

/// Token cache settings out of range.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenCacheSettingsError {
    /// `max_entries` above [`MAX_ENTRIES_RANGE`].
    #[error("token cache max_entries {value} is out of range: write 0 (off) to {max}")]
    MaxEntries {
        /// The value given.
        value: usize,
        /// The largest allowed.
        max: usize,
    },
    /// `max_bytes` outside [`MAX_BYTES_RANGE`].
    #[error("token cache max_bytes {value} is out of range: write {min} to {max}")]
    MaxBytes {
        /// The value given.
        value: usize,
        /// The smallest allowed.
        min: usize,
        /// The largest allowed.
        max: usize,
    },
}

impl TokenCacheSettings {
    /// No cache.
    pub const OFF: TokenCacheSettings = TokenCacheSettings {
        max_entries: 0,
        max_bytes: DEFAULT_MAX_BYTES,
    };

    /// Whether these settings turn the cache off (`max_entries` 0).
    pub fn is_off(&self) -> bool {
        self.max_entries == 0
    }

    /// Whether both values are in range ([`MAX_ENTRIES_RANGE`],
    /// [`MAX_BYTES_RANGE`]); `max_bytes` is checked even when the cache is off.
    pub fn validate(&self) -> Result<(), TokenCacheSettingsError> {
        if !MAX_ENTRIES_RANGE.contains(&self.max_entries) {
            return Err(TokenCacheSettingsError::MaxEntries {
                value: self.max_entries,
                max: *MAX_ENTRIES_RANGE.end(),
            });
        }
        if !MAX_BYTES_RANGE.contains(&self.max_bytes) {
            return Err(TokenCacheSettingsError::MaxBytes {
                value: self.max_bytes,
                min: *MAX_BYTES_RANGE.start(),
                max: *MAX_BYTES_RANGE.end(),
            });
        }
        Ok(())
    }

    /// These settings with each value clamped into its range.
    fn clamped(self) -> Self {
        TokenCacheSettings {
            max_entries: self
                .max_entries
                .clamp(*MAX_ENTRIES_RANGE.start(), *MAX_ENTRIES_RANGE.end()),
            max_bytes: self
                .max_bytes
                .clamp(*MAX_BYTES_RANGE.start(), *MAX_BYTES_RANGE.end()),
        }
    }
}

/// What the token cache did so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TokenCacheStats {
    /// Requests answered from the cache.
    pub hits: u64,
    /// Requests with a credential that the cache did not answer (no entry,
    /// an expired entry, a request dated before the entry, or a route the
    /// cached grants do not let through).
    pub misses: u64,
    /// Allows remembered.
    pub stores: u64,
    /// Entries held now.
    pub entries: u64,
    /// Their weight: estimated bytes, each entry counted as at least
    /// `max_bytes / max_entries`; never above `max_bytes`.
    pub weight_bytes: u64,
}

/// A cache key: the SHA-256 described in the [module docs](self).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct TokenCacheKey([u8; 32]);

/// One remembered allow.
#[derive(Debug)]
struct Entry {
    allow: Allow,
    /// The request's `now` when the module decided.
    decided_at: i64,
    /// `allow.expires_at`, which every entry has.
    expires_at: i64,
    /// The route it was decided for (its `rule` is kept only there).
    method: Box<str>,
    path: Box<str>,
    /// Estimated bytes.
    bytes: usize,
}

impl Entry {
    /// The answer for `request`, if this entry may give it.
    fn answer(&self, request: &Request) -> Option<Allow> {
        if request.now < self.decided_at || request.now >= self.expires_at {
            return None;
        }
        let grant = grants::deciding_grant(&self.allow.grants, &request.method, &request.path)?;
        if grant.effect != Effect::Allow {
            return None;
        }
        let same_route = *self.method == *request.method && *self.path == *request.path;
        let mut allow = self.allow.clone();
        if !same_route {
            allow.rule = None;
        }
        Some(allow)
    }
}

/// Estimated bytes of an entry for `allow` decided on `method` `path`.
fn estimate(allow: &Allow, method: &str, path: &str) -> usize {
    let string = std::mem::size_of::<String>();
    let context: usize = allow
        .context
        .iter()
        .map(|(name, value)| 2 * string + name.len() + value.len())
        .sum();
    let grants: usize = allow
        .grants
        .iter()
        .map(|g| std::mem::size_of::<Grant>() + g.method.len() + g.path.len())
        .sum();
    ENTRY_OVERHEAD_BYTES
        .saturating_add(allow.principal.len())
        .saturating_add(allow.issuer.len())
        .saturating_add(context)
        .saturating_add(grants)
        .saturating_add(allow.rule.as_ref().map_or(0, String::len))
        .saturating_add(method.len())
        .saturating_add(path.len())
}

/// Each entry weighs its estimated bytes, at least `floor`.
#[derive(Debug, Clone, Copy)]
struct EntryWeighter {
    floor: u64,
}

impl Weighter<TokenCacheKey, Arc<Entry>> for EntryWeighter {
    fn weight(&self, _key: &TokenCacheKey, entry: &Arc<Entry>) -> u64 {
        (entry.bytes as u64).max(self.floor)
    }
}

/// The verified-token cache of one authorizer (see the [module docs](self)).
pub struct TokenCache {
    entries: Cache<TokenCacheKey, Arc<Entry>, EntryWeighter>,
    /// SHA-256 context that has absorbed the tag, the module digest and the
    /// policy document's digest: cloned for each key.
    scope: digest::Context,
    settings: TokenCacheSettings,
    hits: AtomicU64,
    misses: AtomicU64,
    stores: AtomicU64,
}

impl std::fmt::Debug for TokenCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenCache")
            .field("settings", &self.settings)
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

impl TokenCache {
    /// An empty cache for decisions of `module` configured with the policy
    /// document `config`, bounded by `settings` (clamped into range; a
    /// `max_entries` of 0 is taken as 1: callers leave the cache out for 0).
    pub(crate) fn new(settings: TokenCacheSettings, module: &ModuleDigest, config: &str) -> Self {
        let settings = settings.clamped();
        let max_entries = settings.max_entries.max(1);
        let floor = settings.max_bytes.div_ceil(max_entries).max(1) as u64;
        let entries = Cache::with_weighter(
            max_entries,
            settings.max_bytes as u64,
            EntryWeighter { floor },
        );
        let config_digest = digest::digest(&digest::SHA256, config.as_bytes());
        let mut scope = digest::Context::new(&digest::SHA256);
        scope.update(KEY_DOMAIN);
        scope.update(module.as_bytes());
        scope.update(config_digest.as_ref());
        TokenCache {
            entries,
            scope,
            settings: TokenCacheSettings {
                max_entries,
                ..settings
            },
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
            stores: AtomicU64::new(0),
        }
    }

    /// The bounds in force (after clamping).
    pub fn settings(&self) -> TokenCacheSettings {
        self.settings
    }

    /// Counters and the current size.
    pub fn stats(&self) -> TokenCacheStats {
        TokenCacheStats {
            hits: self.hits.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
            stores: self.stores.load(Ordering::Relaxed),
            entries: self.entries.len() as u64,
            weight_bytes: self.entries.weight(),
        }
    }

    /// The key of a request's credentials under key-set `generation`;
    /// `None` for a request without any.
    pub(crate) fn key(&self, generation: u64, sources: &[TokenSource]) -> Option<TokenCacheKey> {
        if sources.is_empty() {
            return None;
        }
        let mut context = self.scope.clone();
        context.update(&generation.to_le_bytes());
        context.update(&(sources.len() as u64).to_le_bytes());
        for source in sources {
            let (tag, text): (u8, &str) = match source {
                TokenSource::AuthorizationHeader(text) => (1, text),
                TokenSource::Raw(text) => (2, text),
                TokenSource::OutsideCacheKey => (3, ""),
            };
            context.update(&[tag]);
            context.update(&(text.len() as u64).to_le_bytes());
            context.update(text.as_bytes());
        }
        let digest = context.finish();
        <[u8; 32]>::try_from(digest.as_ref())
            .ok()
            .map(TokenCacheKey)
    }

    /// The cached answer for `request` under `key`, counted as a hit or a
    /// miss. An entry met after its `exp` is dropped.
    pub(crate) fn lookup(&self, key: &TokenCacheKey, request: &Request) -> Option<Allow> {
        let entry = self.entries.get(key);
        let answer = entry.as_ref().and_then(|entry| entry.answer(request));
        if answer.is_some() {
            self.hits.fetch_add(1, Ordering::Relaxed);
        } else {
            self.misses.fetch_add(1, Ordering::Relaxed);
            if entry.is_some_and(|entry| request.now >= entry.expires_at) {
                self.entries.remove(key);
            }
        }
        answer
    }

    /// Remember the module's `allow` for `request` under `key`, unless it
    /// is one never stored (see the [module docs](self)). Returns whether
    /// it was stored.
    pub(crate) fn store(&self, key: TokenCacheKey, request: &Request, allow: &Allow) -> bool {
        if allow.request_dependent {
            return false;
        }
        let Some(expires_at) = allow.expires_at else {
            return false;
        };
        if request.now >= expires_at
            || !grants::route_granted(&allow.grants, &request.method, &request.path)
        {
            return false;
        }
        let bytes = estimate(allow, &request.method, &request.path);
        if bytes > MAX_ENTRY_BYTES {
            return false;
        }
        let entry = Entry {
            allow: allow.clone(),
            decided_at: request.now,
            expires_at,
            method: request.method.as_str().into(),
            path: request.path.as_str().into(),
            bytes,
        };
        self.entries.insert(key, Arc::new(entry));
        self.stores.fetch_add(1, Ordering::Relaxed);
        true
    }
}

#[cfg(test)]
mod tests;
