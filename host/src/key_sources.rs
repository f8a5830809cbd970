//! Where an issuer's keys come from, as the module's manifest names them:
//! local JWK Set files and secrets are loaded here (relative to the policy
//! document's folder, or from files built into the binary); remote sources
//! (`jwks_uri`, discovery) are handed to `tollgate-jwks` unfetched.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use tollgate_jwks::{IssuerKeys, RemoteSource};
use tollgate_keys::{KeySet, NativeKey};

use crate::authorizer::AuthorizerError;
use crate::model::{IssuerNeeds, KeySource, SecretSource};

/// Where the files a policy document names are found.
#[derive(Debug, Clone)]
pub enum ConfigBase {
    /// On disk, relative to this folder (the config file's folder).
    Dir(PathBuf),
    /// Built into the binary (the demo): (name, contents) pairs. Secrets
    /// can only come from `env:NAME` here.
    Embedded(Vec<(String, String)>),
    /// A policy bundle's files (`files/…`), from its verified bytes in
    /// memory: a key file the policy names must be one of them (never a
    /// path on the host), and secrets come only from environment variables
    /// whose name starts with [`BUNDLE_SECRET_ENV_PREFIX`] (the host's
    /// config chooses which), never from the bundle.
    Bundle(Vec<(String, Vec<u8>)>),
}

/// The prefix of the environment variables a bundle's policy may read
/// secrets from (`env:TOLLGATE_SECRET_…`).
pub const BUNDLE_SECRET_ENV_PREFIX: &str = "TOLLGATE_SECRET_";

impl ConfigBase {
    fn jwks(&self, path: &str) -> Result<KeySet, tollgate_keys::KeyError> {
        match self {
            ConfigBase::Dir(dir) => tollgate_keys::load_jwks_file(&dir.join(path)),
            ConfigBase::Bundle(files) => {
                let wanted = path.strip_prefix("./").unwrap_or(path);
                match files.iter().find(|(name, _)| name == wanted) {
                    Some((_, bytes)) => std::str::from_utf8(bytes)
                        .map_err(|_| not_in_bundle("JWK Set", path, "it is not UTF-8 text"))
                        .and_then(|text| KeySet::from_jwks_json(text).map(|(set, _skipped)| set)),
                    None => Err(not_in_bundle(
                        "JWK Set",
                        path,
                        "not among the bundle's files: put it under files/ and name it files/… in the policy",
                    )),
                }
            }
            ConfigBase::Embedded(files) => match files.iter().find(|(name, _)| name == path) {
                Some((_, text)) => KeySet::from_jwks_json(text).map(|(set, _skipped)| set),
                None => Err(not_embedded("JWK Set", path)),
            },
        }
    }

    fn secret(&self, location: &str, encoding: &str) -> Result<Vec<u8>, tollgate_keys::KeyError> {
        match self {
            ConfigBase::Dir(dir) => tollgate_keys::load_secret(location, encoding, dir),
            // Only `env:NAME`: a built-in policy reads no files.
            ConfigBase::Embedded(_) if location.starts_with("env:") => {
                tollgate_keys::load_secret(location, encoding, Path::new("."))
            }
            ConfigBase::Embedded(_) => Err(not_embedded("secret", location)),
            ConfigBase::Bundle(_)
                if location
                    .strip_prefix("env:")
                    .is_some_and(|name| name.starts_with(BUNDLE_SECRET_ENV_PREFIX)) =>
            {
                tollgate_keys::load_secret(location, encoding, Path::new("."))
            }
            ConfigBase::Bundle(_) => Err(not_in_bundle(
                "secret",
                location,
                "a bundle's policy reads secrets only from environment variables named TOLLGATE_SECRET_… (env:TOLLGATE_SECRET_NAME): secrets never travel in a bundle",
            )),
        }
    }
}

/// A file or secret a bundle's policy names that the bundle cannot give.
fn not_in_bundle(what: &'static str, path: &str, why: &'static str) -> tollgate_keys::KeyError {
    tollgate_keys::KeyError::ReadFile {
        what,
        path: PathBuf::from(path),
        source: std::io::Error::new(std::io::ErrorKind::NotFound, why),
    }
}

/// A file a built-in policy names but does not carry.
fn not_embedded(what: &'static str, path: &str) -> tollgate_keys::KeyError {
    tollgate_keys::KeyError::ReadFile {
        what,
        path: PathBuf::from(path),
        source: std::io::Error::new(
            std::io::ErrorKind::NotFound,
            "not among the files built into this policy (use env:NAME for secrets)",
        ),
    }
}

/// Read a policy document: its text, the folder its key paths resolve
/// against, and its name for errors.
pub(crate) fn read_config(path: &Path) -> Result<(String, ConfigBase, String), AuthorizerError> {
    let text = std::fs::read_to_string(path).map_err(|source| AuthorizerError::ReadConfig {
        path: path.display().to_string(),
        source,
    })?;
    let base = path
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."));
    Ok((text, ConfigBase::Dir(base), path.display().to_string()))
}

/// One issuer's keys as the manifest asks: local key sources (JWK Set files,
/// secrets) loaded now, and its remote source (at most one), not fetched.
pub(crate) fn issuer_keys(
    needs: &IssuerNeeds,
    base: &ConfigBase,
) -> Result<IssuerKeys, AuthorizerError> {
    let mut local = KeySet::default();
    let mut remote = None;
    for source in &needs.key_sources {
        let loaded = match source {
            KeySource::JwksFile(path) => base.jwks(path),
            KeySource::JwksUri(url) | KeySource::Discovery(url) => {
                if remote.is_some() {
                    return Err(AuthorizerError::MultipleRemoteSources {
                        issuer: needs.issuer.clone(),
                    });
                }
                remote = Some(match source {
                    KeySource::Discovery(_) => RemoteSource::Discovery(url.clone()),
                    _ => RemoteSource::JwksUri(url.clone()),
                });
                continue;
            }
            KeySource::Secret(SecretSource {
                kid,
                location,
                encoding,
                algorithm,
            }) => base.secret(location, encoding).and_then(|secret| {
                NativeKey::from_secret(&secret, kid.clone(), *algorithm)
                    .map(|key| KeySet::new(vec![Arc::new(key)]))
            }),
        };
        match loaded {
            Ok(keys) => local.merge(keys),
            Err(source) => {
                return Err(AuthorizerError::Keys {
                    issuer: needs.issuer.clone(),
                    source,
                });
            }
        }
    }
    Ok(IssuerKeys {
        issuer: needs.issuer.clone(),
        local,
        remote,
    })
}
