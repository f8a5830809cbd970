//! The authorizer: a configured policy module, its keys, and a pool of warm
//! instances. Front doors translate their requests into [`Request`]s and the
//! [`Decision`]s back; the authorizer itself never decides.

use std::borrow::Cow;
use std::path::Path;
use std::sync::{Arc, Mutex};

use tollgate_keys::{KeySet, KeyStore};

use crate::bindings::KeyMiss;
use crate::key_sources::{ConfigBase, issuer_keys, read_config};
use crate::model::canonical_path::{canonicalize as canonicalize_path, check_method};
use crate::model::{
    Decision, Deny, DenyReason, IssuerNeeds, Manifest, PathOptions, PathRefusal, Request,
};
use crate::module::{Instance, ModuleDigest, ModuleError, PolicyModule};
use crate::request_limits::RequestLimits;
use crate::token_cache::{TokenCache, TokenCacheSettings, TokenCacheStats};

/// Failures to set up an authorizer (all before serving any request).
#[derive(Debug, thiserror::Error)]
pub enum AuthorizerError {
    /// The policy document could not be read.
    #[error("cannot read policy config {path}: {source}")]
    ReadConfig {
        /// The file.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The module refused the policy document.
    #[error("invalid policy config {origin}: `{field}`: {message}")]
    Config {
        /// Where the document came from.
        origin: String,
        /// Offending field path.
        field: String,
        /// What is wrong.
        message: String,
    },
    /// The module could not be loaded or run.
    #[error(transparent)]
    Module(#[from] ModuleError),
    /// The module asked for remote keys, which the synchronous
    /// [`Authorizer::new`] does not fetch: use [`crate::Gate`].
    #[error(
        "issuer {issuer}: remote key sources (jwks_uri, discovery) need the async host (tollgate_host::Gate), not Authorizer::new"
    )]
    RemoteKeysUnsupported {
        /// The issuer.
        issuer: String,
    },
    /// The module asked for more than one remote key source for one issuer.
    #[error(
        "issuer {issuer}: more than one remote key source (jwks_uri, discovery); configure exactly one"
    )]
    MultipleRemoteSources {
        /// The issuer.
        issuer: String,
    },
    /// The remote key manager could not be set up (a refused URL, settings,
    /// the HTTP client).
    #[error(transparent)]
    RemoteKeys(#[from] tollgate_jwks::KeyManagerError),
    /// An issuer's keys could not be loaded.
    #[error("issuer {issuer}: {source}")]
    Keys {
        /// The issuer.
        issuer: String,
        /// Why.
        source: tollgate_keys::KeyError,
    },
}

/// A policy module configured with one policy document, with its keys loaded.
pub struct Authorizer {
    module: Arc<PolicyModule>,
    config: String,
    manifest: Manifest,
    keys: Arc<KeyStore>,
    request_limits: RequestLimits,
    token_cache: Option<TokenCache>,
    idle: Mutex<Vec<Instance>>,
}

impl std::fmt::Debug for Authorizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authorizer")
            .field("manifest", &self.manifest)
            .finish_non_exhaustive()
    }
}

impl Authorizer {
    /// Read the policy document at `path` (relative key paths resolve against
    /// its folder), configure `module` with it and load the keys.
    /// Local keys only: for `jwks_uri` / `discovery` use [`crate::Gate`].
    pub fn from_config_file(
        module: Arc<PolicyModule>,
        path: &Path,
    ) -> Result<Self, AuthorizerError> {
        let (text, base, origin) = read_config(path)?;
        Self::new(module, &text, &base, &origin)
    }

    /// Configure `module` with the policy document `config`; key
    /// files are resolved against `base`; `origin` names the document in errors.
    /// Local keys only: a remote key source is
    /// [`AuthorizerError::RemoteKeysUnsupported`] (use [`crate::Gate`]).
    pub fn new(
        module: Arc<PolicyModule>,
        config: &str,
        base: &ConfigBase,
        origin: &str,
    ) -> Result<Self, AuthorizerError> {
        let authorizer = Self::configure(module, config, origin)?;
        for needs in &authorizer.manifest.issuers {
            let keys = issuer_keys(needs, base)?;
            if keys.remote.is_some() {
                return Err(AuthorizerError::RemoteKeysUnsupported {
                    issuer: needs.issuer.clone(),
                });
            }
            tracing::info!(issuer = %needs.issuer, keys = keys.local.len(), "loaded issuer keys");
            authorizer.keys.set_keys(&needs.issuer, keys.local);
        }
        Ok(authorizer)
    }

    /// Keys from the caller, key sources in the manifest ignored (policy
    /// tests): configure `module` with the policy document `config` and bind
    /// to each issuer of its manifest, in order, the key set `keys` returns
    /// for it. No JWK Set file, secret, `jwks_uri` or discovery document is
    /// read or fetched, so a policy whose real keys live elsewhere runs with
    /// throwaway keys (`tollgate test`). `origin` names the document in errors.
    pub fn with_keys(
        module: Arc<PolicyModule>,
        config: &str,
        origin: &str,
        mut keys: impl FnMut(&IssuerNeeds) -> KeySet,
    ) -> Result<Self, AuthorizerError> {
        let authorizer = Self::configure(module, config, origin)?;
        for needs in &authorizer.manifest.issuers {
            authorizer.keys.set_keys(&needs.issuer, keys(needs));
        }
        Ok(authorizer)
    }

    /// Configure the module with `config`, with an empty key store (the
    /// caller fills it).
    pub(crate) fn configure(
        module: Arc<PolicyModule>,
        config: &str,
        origin: &str,
    ) -> Result<Self, AuthorizerError> {
        let keys = Arc::new(KeyStore::new());
        let mut instance = module.instantiate(keys.clone())?;
        let manifest: Manifest = match instance.configure(config)? {
            Ok(manifest) => manifest.into(),
            Err(e) => {
                return Err(AuthorizerError::Config {
                    origin: origin.to_string(),
                    field: e.field,
                    message: e.message,
                });
            }
        };
        for warning in &manifest.warnings {
            tracing::warn!(origin = %origin, warning = %warning, "policy warning");
        }
        if manifest.paths != PathOptions::default() {
            // Each option loosens what the default refuses: say so loudly.
            tracing::warn!(
                origin = %origin,
                paths = %manifest.paths.describe(),
                "request paths are canonicalized with the policy's [paths] options"
            );
        }
        Ok(Authorizer {
            module,
            config: config.to_string(),
            manifest,
            keys,
            request_limits: RequestLimits::default(),
            token_cache: None,
            idle: Mutex::new(vec![instance]),
        })
    }

    /// How this policy's request paths are canonicalized (its `[paths]`).
    pub fn path_options(&self) -> &PathOptions {
        &self.manifest.paths
    }

    /// Put `request`'s path in canonical form for this policy
    /// (`docs/paths.md`), keeping the path as the door received it in
    /// `raw_path`: what the module will decide on. A front door calls this
    /// first, to answer a refused path in its own protocol (400 at the
    /// edge) and to check grants against the path the module matched;
    /// [`Authorizer::authorize`] does it anyway (a canonical path is its
    /// own canonical form), so a caller that skips it is still safe.
    /// The method is checked too ([`check_method`]: an upper-case token).
    pub fn canonicalize(&self, request: &mut Request) -> Result<(), PathRefusal> {
        check_method(&request.method)?;
        let canonical = match canonicalize_path(&request.path, &self.manifest.paths)? {
            Cow::Borrowed(_) => None,
            Cow::Owned(canonical) => Some(canonical),
        };
        if request.raw_path.is_empty() {
            request.raw_path = request.path.clone();
        }
        if let Some(canonical) = canonical {
            request.path = canonical;
        }
        Ok(())
    }

    /// What the module asked for.
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// The key cache the module reads.
    pub fn keys(&self) -> &Arc<KeyStore> {
        &self.keys
    }

    /// Check requests against `limits` instead of [`RequestLimits::default`].
    pub fn with_request_limits(mut self, limits: RequestLimits) -> Self {
        self.request_limits = limits;
        self
    }

    /// Answer repeated tokens from a verified-token cache bounded by
    /// `settings` (see [`crate::token_cache`]): a fresh, empty cache, or
    /// none for [`TokenCacheSettings::OFF`]. Off by default, so `tollgate
    /// check` and `tollgate test` decide every request in the module.
    /// Out-of-range settings are clamped (validate them first to refuse them).
    pub fn with_token_cache(mut self, settings: TokenCacheSettings) -> Self {
        self.token_cache = (!settings.is_off())
            .then(|| TokenCache::new(settings, self.module.digest(), &self.config));
        self
    }

    /// The token cache's counters and size; `None` without a cache.
    pub fn token_cache_stats(&self) -> Option<TokenCacheStats> {
        self.token_cache.as_ref().map(TokenCache::stats)
    }

    /// The token cache, when there is one.
    pub fn token_cache(&self) -> Option<&TokenCache> {
        self.token_cache.as_ref()
    }

    /// The digest of the module this authorizer runs.
    pub fn module_digest(&self) -> &ModuleDigest {
        self.module.digest()
    }

    /// Decide one request. A request over the [`RequestLimits`] is denied
    /// `malformed` without reaching the module; with a token cache
    /// ([`Authorizer::with_token_cache`]) a repeated token on a route its
    /// cached grants let through is answered from the cache, and the
    /// module's allows are remembered. Never panics and never allows by accident: a trap,
    /// a deadline or a memory limit in the module yields
    /// [`Decision::Error`] with reason `internal-error`, the failed instance
    /// is dropped, and the next call gets a freshly configured one.
    pub fn authorize(&self, request: &Request) -> Decision {
        self.authorize_observed(request).0
    }

    /// Like [`Authorizer::authorize`], and also returns the key lookups that
    /// missed while deciding (an unknown `kid`, or an issuer whose keys are
    /// unavailable), so a caller that can fetch keys knows which issuer to
    /// refresh before asking once more.
    pub fn authorize_observed(&self, request: &Request) -> (Decision, Vec<KeyMiss>) {
        self.authorize_observed_with_door_text(request, 0)
    }

    /// [`Authorizer::authorize_observed`], counting `door_bytes` of text a
    /// front door keeps beside the request towards the request limits (see
    /// [`RequestLimits::check_with_door_text`]).
    pub fn authorize_observed_with_door_text(
        &self,
        request: &Request,
        door_bytes: usize,
    ) -> (Decision, Vec<KeyMiss>) {
        // Oversized input never reaches the module (where it could only
        // trap or hit the memory cap): a malformed request, 401.
        if let Err(deny) = self
            .request_limits
            .check_with_door_text(request, door_bytes)
        {
            let decision = Decision::Deny(deny);
            log_decision(&decision, false);
            return (decision, Vec::new());
        }
        // What the module decides on is the canonical path; a path (or
        // method) that cannot be decided safely never reaches it.
        let canonical;
        let checked = check_method(&request.method)
            .and_then(|()| canonicalize_path(&request.path, &self.manifest.paths));
        let request = match checked {
            Ok(Cow::Borrowed(_)) => request,
            Ok(Cow::Owned(path)) => {
                canonical = Request {
                    path,
                    raw_path: if request.raw_path.is_empty() {
                        request.path.clone()
                    } else {
                        request.raw_path.clone()
                    },
                    ..request.clone()
                };
                &canonical
            }
            Err(refusal) => {
                let decision = Decision::Deny(invalid_path(refusal));
                log_decision(&decision, false);
                return (decision, Vec::new());
            }
        };
        // The generation is read before the module reads any key: an allow
        // decided with keys that change meanwhile is stored under the old
        // generation, which no later lookup uses.
        let cached = self.token_cache.as_ref().and_then(|cache| {
            let key = cache.key(self.keys.generation(), &request.token_sources)?;
            Some((cache, key))
        });
        if let Some((cache, key)) = &cached
            && let Some(allow) = cache.lookup(key, request)
        {
            let decision = Decision::Allow(allow);
            log_decision(&decision, true);
            return (decision, Vec::new());
        }
        let mut instance = match self.checkout() {
            Ok(instance) => instance,
            Err(e) => return (internal_error(&e), Vec::new()),
        };
        match instance.authorize(request) {
            Ok((decision, misses)) => {
                self.checkin(instance);
                let decision = Decision::from(decision);
                if let (Some((cache, key)), Decision::Allow(allow)) = (cached, &decision) {
                    cache.store(key, request, allow);
                }
                log_decision(&decision, false);
                (decision, misses)
            }
            Err(e) => {
                // The instance may be in any state after a trap: drop it.
                (internal_error(&e), Vec::new())
            }
        }
    }

    fn checkout(&self) -> Result<Instance, ModuleError> {
        let pooled = self.idle.lock().ok().and_then(|mut idle| idle.pop());
        if let Some(instance) = pooled {
            return Ok(instance);
        }
        let mut instance = self.module.instantiate(self.keys.clone())?;
        match instance.configure(&self.config)? {
            Ok(_) => Ok(instance),
            // It accepted the same document before: a changed answer is a module fault.
            Err(e) => Err(ModuleError::Trap(wasmtime::Error::msg(format!(
                "module refused a config it accepted before: `{}`: {}",
                e.field, e.message
            )))),
        }
    }

    fn checkin(&self, instance: Instance) {
        if let Ok(mut idle) = self.idle.lock() {
            idle.push(instance);
        }
    }
}

/// One log line per decision: outcome, reason, principal and issuer, and
/// `cached = true` for an answer from the token cache; never the token
/// (deny details are written by the module never to contain it).
fn log_decision(decision: &Decision, cached: bool) {
    match decision {
        Decision::Allow(allow) if cached => {
            tracing::info!(outcome = "allow", principal = %allow.principal, issuer = %allow.issuer, cached = true, "decision")
        }
        Decision::Allow(allow) => {
            tracing::info!(outcome = "allow", principal = %allow.principal, issuer = %allow.issuer, "decision")
        }
        Decision::Deny(deny) => {
            tracing::info!(outcome = "deny", reason = deny.reason.as_str(), detail = %deny.detail, "decision")
        }
        Decision::Error { reason, message } => {
            tracing::error!(outcome = "error", reason = %reason, message = %message, "decision")
        }
    }
}

/// The deny for a path (or method) the host refuses (`invalid-path`).
pub fn invalid_path(refusal: PathRefusal) -> Deny {
    Deny::new(
        DenyReason::InvalidPath,
        format!("the request cannot be decided safely: {refusal}"),
    )
}

fn internal_error(error: &ModuleError) -> Decision {
    tracing::error!(error = %error, "policy module failed; answering internal-error");
    Decision::Error {
        reason: "internal-error".into(),
        message: error.to_string(),
    }
}
