//! The key store as the policy core's [`KeyRing`]: what the component's
//! `keys` import serves, without the boundary. For running
//! `tollgate-policy` natively beside the component on the same keys (the
//! decision benchmark's native core, the differential test).

use std::sync::Arc;

use tollgate_model::{Algorithm, KeyInfo, KeyRing, LookupError, VerificationKey, VerifyError};

use crate::{KeyStore, NativeKey};

/// A [`KeyStore`] as a [`KeyRing`].
pub struct StoreRing<'a>(pub &'a KeyStore);

/// A key [`StoreRing`] found: a shared reference into the store.
pub struct StoreKey(Arc<NativeKey>);

impl KeyRing for StoreRing<'_> {
    type Key = StoreKey;

    fn lookup(&self, issuer: &str, kid: Option<&str>) -> Result<Vec<StoreKey>, LookupError> {
        self.0
            .lookup(issuer, kid)
            .map(|keys| keys.into_iter().map(StoreKey).collect())
    }
}

impl VerificationKey for StoreKey {
    fn info(&self) -> KeyInfo {
        self.0.info().clone()
    }

    fn verify(&self, alg: Algorithm, message: &[u8], signature: &[u8]) -> Result<(), VerifyError> {
        self.0.verify(alg, message, signature)
    }
}
