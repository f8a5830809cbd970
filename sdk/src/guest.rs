//! The module side of the contract: the host's keys as a [`KeyRing`], and
//! the calls [`export!`](crate::export) forwards to a [`Module`].

use crate::Module;
use crate::bindings::{wit, wit_keys};
use crate::model::{self, Algorithm, Decision, KeyRing, VerificationKey};

crate::wit_conversions!(
    types = crate::bindings::wit,
    keys = crate::bindings::wit_keys
);

/// The host's key cache, reached through the `keys` import.
pub struct HostKeys;

/// A key resource owned by the host.
pub struct HostKey(wit_keys::Key);

impl KeyRing for HostKeys {
    type Key = HostKey;

    fn lookup(&self, issuer: &str, kid: Option<&str>) -> Result<Vec<HostKey>, model::LookupError> {
        wit_keys::lookup(issuer, kid)
            .map(|keys| keys.into_iter().map(HostKey).collect())
            .map_err(Into::into)
    }
}

impl VerificationKey for HostKey {
    fn info(&self) -> model::KeyInfo {
        self.0.info().into()
    }

    fn verify(
        &self,
        alg: Algorithm,
        message: &[u8],
        signature: &[u8],
    ) -> Result<(), model::VerifyError> {
        self.0
            .verify(alg.into(), message, signature)
            .map_err(Into::into)
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
