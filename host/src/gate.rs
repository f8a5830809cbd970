//! The front-door-facing authorizer: the policy module plus keys that are
//! fetched, cached and refreshed (local files and secrets, `jwks_uri`, OIDC
//! discovery). Front doors call [`Gate::decide`].

use std::path::Path;
use std::sync::Arc;

use tollgate_jwks::{KeyFetchSettings, KeyManager};

use crate::authorizer::{Authorizer, AuthorizerError};
use crate::key_sources::{ConfigBase, issuer_keys, read_config};
use crate::model::{Decision, Deny, DenyReason, Request};
use crate::module::PolicyModule;
use crate::token_cache::{TokenCacheSettings, TokenCacheStats};

/// A configured policy module with its keys kept fresh.
///
/// The module never waits on I/O: it reads the key store. Around each
/// decision the gate does the waiting:
///
/// 1. in [`tollgate_jwks::RefreshMode::Inline`] (Lambda), keys whose TTL has
///    passed are refreshed first, within the inline budget;
/// 2. the module decides;
/// 3. if it denied `unknown-key` or `keys-unavailable` for an issuer with a
///    remote source, that issuer's JWK Set is refetched — at most once per
///    penalty window per URL, concurrent requests sharing one fetch — and, if
///    the missing key (or any key, for an unavailable issuer) is now there,
///    the module decides once more.
///
/// In [`tollgate_jwks::RefreshMode::Background`] (servers) refresh tasks run
/// on the tokio runtime the gate was created on, and stop when it is dropped.
#[derive(Debug)]
pub struct Gate {
    authorizer: Authorizer,
    keys: KeyManager,
}

impl Gate {
    /// Read the policy document at `path` (relative key paths resolve against
    /// its folder) and set up as [`Gate::new`] does.
    pub async fn from_config_file(
        module: Arc<PolicyModule>,
        path: &Path,
        settings: KeyFetchSettings,
    ) -> Result<Gate, AuthorizerError> {
        let (text, base, origin) = read_config(path)?;
        Gate::new(module, &text, &base, &origin, settings).await
    }

    /// Configure `module` with the policy document `config` (key
    /// files resolved against `base`, `origin` naming it in errors), load the
    /// local keys, prefetch the remote ones and, in background mode, start
    /// their refresh tasks.
    ///
    /// A local key that cannot be loaded, an invalid config or URL is an
    /// error. A failed prefetch is not: it is logged, and the issuer answers
    /// `keys-unavailable` (503) until a fetch succeeds.
    pub async fn new(
        module: Arc<PolicyModule>,
        config: &str,
        base: &ConfigBase,
        origin: &str,
        settings: KeyFetchSettings,
    ) -> Result<Gate, AuthorizerError> {
        let authorizer = Authorizer::configure(module, config, origin)?;
        let issuers = authorizer
            .manifest()
            .issuers
            .iter()
            .map(|needs| issuer_keys(needs, base))
            .collect::<Result<Vec<_>, _>>()?;
        let keys = KeyManager::start(authorizer.keys().clone(), issuers, settings).await?;
        Ok(Gate { authorizer, keys })
    }

    /// Decide one request (see [`Gate`] for the steps). Like
    /// [`Authorizer::authorize`], never panics and never allows by accident.
    /// A decision waits for keys at most the inline budget (a due refresh in
    /// Lambda mode) plus `request_timeout` (twice that for discovery) for a
    /// refetch after a miss.
    pub async fn decide(&self, request: &Request) -> Decision {
        self.decide_with_door_text(request, 0).await
    }

    /// [`Gate::decide`], counting `door_bytes` of text the front door keeps
    /// beside the request (API Gateway's method ARN) towards the request
    /// limits, as if it were part of the request.
    pub async fn decide_with_door_text(&self, request: &Request, door_bytes: usize) -> Decision {
        self.keys.before_decision().await;
        let (decision, misses) = self
            .authorizer
            .authorize_observed_with_door_text(request, door_bytes);
        let wants_keys = matches!(
            &decision,
            Decision::Deny(deny)
                if matches!(deny.reason, DenyReason::UnknownKey | DenyReason::KeysUnavailable)
        );
        if !wants_keys {
            return decision;
        }
        let mut refreshed: Vec<&str> = Vec::new();
        let mut ask_again = false;
        for miss in &misses {
            if refreshed.contains(&miss.issuer.as_str()) || !self.keys.is_remote(&miss.issuer) {
                continue;
            }
            refreshed.push(&miss.issuer);
            if self
                .keys
                .refresh_for_miss(&miss.issuer, miss.kid.as_deref(), miss.error)
                .await
            {
                ask_again = true;
            }
        }
        if !ask_again {
            return self.outage_instead_of_unknown_key(decision, &refreshed);
        }
        tracing::info!("keys refreshed after a miss; deciding once more");
        self.authorizer
            .authorize_observed_with_door_text(request, door_bytes)
            .0
    }

    /// An `unknown-key` deny while the issuer's key source is failing (its
    /// last fetch, the refetch for this very miss included, did not succeed)
    /// is the host's trouble, not the client's: the key may well have been
    /// rotated in at the issuer. It becomes `keys-unavailable` (503 in server
    /// modes, a 500 in Lambda: never cached, never an allow), so a client
    /// with a freshly rotated key is not turned away as unauthenticated.
    fn outage_instead_of_unknown_key(&self, decision: Decision, issuers: &[&str]) -> Decision {
        let Decision::Deny(deny) = &decision else {
            return decision;
        };
        if deny.reason != DenyReason::UnknownKey {
            return decision;
        }
        let Some((issuer, failures)) = issuers
            .iter()
            .map(|issuer| (*issuer, self.keys.consecutive_failures(issuer)))
            .find(|(_, failures)| *failures > 0)
        else {
            return decision;
        };
        tracing::warn!(
            issuer,
            failures,
            "unknown key while the issuer's key source is failing; answering keys-unavailable"
        );
        Decision::Deny(Deny::new(
            DenyReason::KeysUnavailable,
            format!(
                "the token's key is not among the cached keys of issuer {issuer:?} and its key source cannot be fetched right now ({failures} failed fetch(es)); retry later"
            ),
        ))
    }

    /// Answer repeated tokens from a verified-token cache bounded by
    /// `settings` ([`Authorizer::with_token_cache`]; off by default). The
    /// order of [`Gate::decide`] stays: a due key refresh first (which may
    /// move the key-set generation, so entries of replaced keys miss), then
    /// the request limits, the cache, the module.
    pub fn with_token_cache(mut self, settings: TokenCacheSettings) -> Self {
        self.authorizer = self.authorizer.with_token_cache(settings);
        self
    }

    /// The token cache's counters and size; `None` without a cache.
    pub fn token_cache_stats(&self) -> Option<TokenCacheStats> {
        self.authorizer.token_cache_stats()
    }

    /// Put `request`'s path in this policy's canonical form, or say why it
    /// cannot be decided safely ([`Authorizer::canonicalize`]): a front
    /// door's first step.
    pub fn canonicalize(&self, request: &mut Request) -> Result<(), crate::model::PathRefusal> {
        self.authorizer.canonicalize(request)
    }

    /// The authorizer (module, manifest, key store).
    pub fn authorizer(&self) -> &Authorizer {
        &self.authorizer
    }

    /// The key manager (status, manual refresh).
    pub fn key_manager(&self) -> &KeyManager {
        &self.keys
    }
}
