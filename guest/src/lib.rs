//! Tollgate's default policy module: [`tollgate_policy`] exported as a
//! WebAssembly component through [`tollgate_sdk`]. All logic lives in
//! `policy/`; this crate only names it.

use tollgate_policy::Policy;
use tollgate_policy::model::{ConfigError, Decision, KeyRing, Manifest, Request};

/// The default module: a parsed policy document.
pub struct DefaultModule(Policy);

impl tollgate_sdk::Module for DefaultModule {
    fn configure(config: &str) -> Result<(Self, Manifest), ConfigError> {
        let policy = Policy::from_toml(config)?;
        let manifest = policy.manifest();
        Ok((DefaultModule(policy), manifest))
    }

    fn authorize<K: KeyRing>(&self, request: &Request, keys: &K) -> Decision {
        self.0.authorize(request, keys)
    }
}

#[cfg(target_arch = "wasm32")]
tollgate_sdk::export!(DefaultModule);

/// A decision's blocks from a per-call arena (`tollgate_sdk::arena`).
#[cfg(target_arch = "wasm32")]
#[global_allocator]
static ALLOCATOR: tollgate_sdk::arena::CallArena = tollgate_sdk::arena::CallArena::new();
