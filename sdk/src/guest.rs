//! The module side of the contract: the host's keys as a [`KeyRing`], and
//! the calls [`export!`](crate::export) forwards to a [`Module`].

use crate::Module;
use crate::bindings::{wit, wit_keys};
use crate::model::{self, Algorithm, Decision, KeyRing, VerificationKey};

crate::wit_conversions!(
    types = crate::bindings::wit,
    keys = crate::bindings::wit_keys
);

/// The host's key cache, reached through the `keys` import: `find-keys`
/// gives every key found with its index and metadata in one call, and
/// `verify-found` verifies by that index, so a decision crosses into the
/// host twice, with no key resource to make or drop.
pub struct HostKeys;

/// A key `find-keys` found in this call: its index and its metadata.
pub struct HostKey {
    index: u32,
    info: model::KeyInfo,
}

impl KeyRing for HostKeys {
    type Key = HostKey;

    fn lookup(&self, issuer: &str, kid: Option<&str>) -> Result<Vec<HostKey>, model::LookupError> {
        let found = wit_keys::find_keys(issuer, kid).map_err(model::LookupError::from)?;
        Ok(found
            .into_iter()
            .map(|key| HostKey {
                index: key.index,
                info: key.info.into(),
            })
            .collect())
    }
}

impl VerificationKey for HostKey {
    fn info(&self) -> model::KeyInfo {
        self.info.clone()
    }

    fn verify(
        &self,
        alg: Algorithm,
        message: &[u8],
        signature: &[u8],
    ) -> Result<(), model::VerifyError> {
        wit_keys::verify_found(self.index, alg.into(), message, signature).map_err(Into::into)
    }
}

/// `configure` for `M`: the module and its manifest, converted for the host.
pub fn configure_with<M: Module>(config: &str) -> Result<(M, wit::Manifest), wit::ConfigError> {
    let (module, manifest) = M::configure(config)?;
    Ok((module, manifest.into()))
}

/// `authorize` for a configured `M` (an error decision before `configure`).
pub fn authorize_with<M: Module>(module: Option<&M>, request: wit::Request) -> wit::Decision {
    let request = model::Request::from(request);
    let decision = match module {
        Some(module) => module.authorize(&request, &HostKeys),
        None => Decision::Error {
            reason: "not-configured".into(),
            message: "authorize was called before configure".into(),
        },
    };
    decision.into()
}
