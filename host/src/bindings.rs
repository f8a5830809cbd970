//! Generated bindings for `tollgate:authorizer/authorizer` (private), the
//! host side of the `keys` import, and conversions to the plain-Rust model
//! (`tollgate_sdk::wit_conversions!`, the same ones modules use).

use std::sync::Arc;

use tollgate_keys::{KeyStore, NativeKey};
use wasmtime::component::{Resource, ResourceTable};
use wasmtime::{StoreLimits, StoreLimitsBuilder};

use crate::model;

mod generated {
    wasmtime::component::bindgen!({
        path: "../wit",
        world: "authorizer",
        with: {
            "tollgate:authorizer/keys.key": super::KeyHandle,
        },
        imports: { default: trappable },
    });
}

pub(crate) use generated::tollgate::authorizer::keys as wit_keys;
pub(crate) use generated::tollgate::authorizer::types as wit;
/// The generated world (`AuthorizerWorld`), named apart from the domain
/// type [`crate::Authorizer`].
pub(crate) use generated::{Authorizer as AuthorizerWorld, AuthorizerPre as AuthorizerWorldPre};

tollgate_sdk::wit_conversions!(types = self::wit, keys = self::wit_keys);

/// A key the guest holds a handle to: a shared reference into the key cache.
pub struct KeyHandle(Arc<NativeKey>);

/// A key lookup the module made that found nothing usable: the host may
/// refresh that issuer's keys (rate-limited) and ask the module once more.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyMiss {
    /// The issuer whose keys were asked for.
    pub issuer: String,
    /// The `kid` asked for (`None`: the token had none).
    pub kid: Option<String>,
    /// Why the lookup failed.
    pub error: model::LookupError,
}

/// Per-store state: the resource table for key handles, the memory limiter,
/// the shared key cache and the lookups that missed during the current call.
pub(crate) struct HostState {
    pub(crate) table: ResourceTable,
    pub(crate) limits: StoreLimits,
    pub(crate) keys: Arc<KeyStore>,
    pub(crate) misses: Vec<KeyMiss>,
}

impl HostState {
    pub(crate) fn new(keys: Arc<KeyStore>, memory_limit: usize) -> Self {
        HostState {
            table: ResourceTable::new(),
            limits: StoreLimitsBuilder::new()
                .memory_size(memory_limit)
                .instances(4)
                .tables(8)
                .memories(2)
                .trap_on_grow_failure(true)
                .build(),
            keys,
            misses: Vec::new(),
        }
    }
}

/// A module can look up many times per call; the host needs only the first few.
const MAX_RECORDED_MISSES: usize = 4;

impl wit_keys::Host for HostState {
    fn lookup(
        &mut self,
        issuer: String,
        kid: Option<String>,
    ) -> wasmtime::Result<Result<Vec<Resource<KeyHandle>>, wit_keys::LookupError>> {
        let found = match self.keys.lookup(&issuer, kid.as_deref()) {
            Ok(found) => found,
            Err(e) => {
                if self.misses.len() < MAX_RECORDED_MISSES {
                    self.misses.push(KeyMiss {
                        issuer,
                        kid,
                        error: e,
                    });
                }
                return Ok(Err(e.into()));
            }
        };
        let mut handles = Vec::with_capacity(found.len());
        for key in found {
            handles.push(self.table.push(KeyHandle(key))?);
        }
        Ok(Ok(handles))
    }
}

impl wit_keys::HostKey for HostState {
    fn info(&mut self, key: Resource<KeyHandle>) -> wasmtime::Result<wit_keys::KeyInfo> {
        Ok(self.table.get(&key)?.0.info().clone().into())
    }

    fn verify(
        &mut self,
        key: Resource<KeyHandle>,
        algorithm: wit::Algorithm,
        message: Vec<u8>,
        signature: Vec<u8>,
    ) -> wasmtime::Result<Result<(), wit_keys::VerifyError>> {
        let key = &self.table.get(&key)?.0;
        Ok(key
            .verify(algorithm.into(), &message, &signature)
            .map_err(Into::into))
    }

    fn drop(&mut self, key: Resource<KeyHandle>) -> wasmtime::Result<()> {
        self.table.delete(key)?;
        Ok(())
    }
}

impl wit::Host for HostState {}
