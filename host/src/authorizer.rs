//! The authorizer: a configured policy module, its keys, and a pool of warm
//! instances. Front doors translate their requests into [`Request`]s and the
//! [`Decision`]s back; the authorizer itself never decides.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use tollgate_keys::{KeySet, KeyStore, VerificationKey};

use crate::bindings::{self, KeyMiss};
use crate::engine::{EngineError, Instance, PolicyEngine};
use crate::model::{Decision, KeySource, Manifest, Request, SecretSource};

/// Failures to set up an authorizer (all before serving any request).
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
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
    Engine(#[from] EngineError),
    /// The module asked for remote keys, which this host does not fetch yet.
    #[error(
        "issuer {issuer}: remote key sources (jwks_uri, discovery) are not supported by this host yet; use jwks_file"
    )]
    RemoteKeysUnsupported {
        /// The issuer.
        issuer: String,
    },
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
    engine: Arc<PolicyEngine>,
    config: String,
    manifest: Manifest,
    keys: Arc<KeyStore>,
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
    /// its folder), configure `engine`'s module with it and load the keys.
    pub fn from_config_file(engine: Arc<PolicyEngine>, path: &Path) -> Result<Self, SetupError> {
        let text = std::fs::read_to_string(path).map_err(|source| SetupError::ReadConfig {
            path: path.display().to_string(),
            source,
        })?;
        let base = path
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("."));
        Self::new(
            engine,
            &text,
            &ConfigBase::Dir(base),
            &path.display().to_string(),
        )
    }

    /// Configure `engine`'s module with the policy document `config`; key
    /// files are resolved against `base`; `origin` names the document in errors.
    pub fn new(
        engine: Arc<PolicyEngine>,
        config: &str,
        base: &ConfigBase,
        origin: &str,
    ) -> Result<Self, SetupError> {
        let keys = Arc::new(KeyStore::new());
        let mut instance = engine.instantiate(keys.clone())?;
        let manifest = match instance.configure(config)? {
            Ok(manifest) => bindings::manifest_from_wit(manifest),
            Err(e) => {
                return Err(SetupError::Config {
                    origin: origin.to_string(),
                    field: e.field,
                    message: e.message,
                });
            }
        };
        load_keys(&manifest, base, &keys)?;
        Ok(Authorizer {
            engine,
            config: config.to_string(),
            manifest,
            keys,
            idle: Mutex::new(vec![instance]),
        })
    }

    /// What the module asked for.
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// The key cache the module reads.
    pub fn keys(&self) -> &Arc<KeyStore> {
        &self.keys
    }

    /// Decide one request. Never panics and never allows by accident: a trap,
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
        let mut instance = match self.checkout() {
            Ok(instance) => instance,
            Err(e) => return (internal_error(&e), Vec::new()),
        };
        match instance.authorize(&bindings::request_to_wit(request)) {
            Ok((decision, misses)) => {
                self.checkin(instance);
                let decision = bindings::decision_from_wit(decision);
                log_decision(&decision);
                (decision, misses)
            }
            Err(e) => {
                // The instance may be in any state after a trap: drop it.
                (internal_error(&e), Vec::new())
            }
        }
    }

    fn checkout(&self) -> Result<Instance, EngineError> {
        let pooled = self.idle.lock().ok().and_then(|mut idle| idle.pop());
        if let Some(instance) = pooled {
            return Ok(instance);
        }
        let mut instance = self.engine.instantiate(self.keys.clone())?;
        match instance.configure(&self.config)? {
            Ok(_) => Ok(instance),
            // It accepted the same document before: a changed answer is a module fault.
            Err(e) => Err(EngineError::Trap(wasmtime::Error::msg(format!(
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

/// One log line per decision: outcome, reason, principal and issuer; never
/// the token (deny details are written by the module never to contain it).
fn log_decision(decision: &Decision) {
    match decision {
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

fn internal_error(error: &EngineError) -> Decision {
    tracing::error!(error = %error, "policy module failed; answering internal-error");
    Decision::Error {
        reason: "internal-error".into(),
        message: error.to_string(),
    }
}

/// Where the files a policy document names are found.
#[derive(Debug, Clone)]
pub enum ConfigBase {
    /// On disk, relative to this folder (the config file's folder).
    Dir(PathBuf),
    /// Built into the binary (the demo): (name, contents) pairs. Secrets
    /// can only come from `env:NAME` here.
    Embedded(Vec<(String, String)>),
}

impl ConfigBase {
    fn jwks(&self, path: &str) -> Result<KeySet, tollgate_keys::KeyError> {
        match self {
            ConfigBase::Dir(dir) => tollgate_keys::load_jwks_file(&dir.join(path)),
            ConfigBase::Embedded(files) => match files.iter().find(|(name, _)| name == path) {
                Some((_, text)) => KeySet::from_jwks_json(text).map(|(set, _skipped)| set),
                None => Err(tollgate_keys::KeyError::ReadFile {
                    what: "JWK Set",
                    path: PathBuf::from(path),
                    source: std::io::Error::new(
                        std::io::ErrorKind::NotFound,
                        "not among the files built into this policy",
                    ),
                }),
            },
        }
    }

    fn secret(&self, location: &str, encoding: &str) -> Result<Vec<u8>, tollgate_keys::KeyError> {
        match self {
            ConfigBase::Dir(dir) => tollgate_keys::load_secret(location, encoding, dir),
            ConfigBase::Embedded(_) => {
                tollgate_keys::load_secret(location, encoding, Path::new("."))
            }
        }
    }
}

/// Load every issuer's local key sources into `store`.
fn load_keys(manifest: &Manifest, base: &ConfigBase, store: &KeyStore) -> Result<(), SetupError> {
    for needs in &manifest.issuers {
        let mut set = KeySet::default();
        for source in &needs.key_sources {
            let loaded = match source {
                KeySource::JwksFile(path) => base.jwks(path),
                KeySource::JwksUri(_) | KeySource::Discovery(_) => {
                    return Err(SetupError::RemoteKeysUnsupported {
                        issuer: needs.issuer.clone(),
                    });
                }
                KeySource::Secret(SecretSource {
                    kid,
                    location,
                    encoding,
                    algorithm,
                }) => base.secret(location, encoding).and_then(|secret| {
                    VerificationKey::from_secret(&secret, kid.clone(), *algorithm)
                        .map(|key| KeySet::new(vec![Arc::new(key)]))
                }),
            };
            match loaded {
                Ok(keys) => set.merge(keys),
                Err(source) => {
                    return Err(SetupError::Keys {
                        issuer: needs.issuer.clone(),
                        source,
                    });
                }
            }
        }
        tracing::info!(issuer = %needs.issuer, keys = set.len(), "loaded issuer keys");
        store.set_keys(&needs.issuer, set);
    }
    Ok(())
}
