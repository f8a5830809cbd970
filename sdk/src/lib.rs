//! What a tollgate policy module's author needs.
//!
//! A module implements [`Module`] in plain Rust, on the types of
//! [`model`] (requests, decisions, keys), and exports it with
//! [`export!`]: the generated WIT bindings and the conversions between them
//! and the model stay inside this crate.
//!
//! ```ignore
//! struct MyModule(/* the parsed policy */);
//!
//! impl tollgate_sdk::Module for MyModule {
//!     fn configure(config: &str) -> Result<(Self, Manifest), ConfigError> { /* … */ }
//!     fn authorize<K: KeyRing>(&self, request: &Request, keys: &K) -> Decision { /* … */ }
//! }
//!
//! tollgate_sdk::export!(MyModule);
//! ```
//!
//! Most modules only add rules: implement [`Rules`] and export
//! [`WithCore`]`<YourRules>`, which keeps tollgate's whole verification
//! core (credential, header, keys, signature, claims, route rules) and asks
//! your rules last (see `docs/custom-modules.md` and `examples/`).
//!
//! Build it with `cargo build --target wasm32-wasip2` (a `cdylib`); the host
//! runs it like the default module (`guest/`, which is written exactly so).
//! Natively, the crate offers the trait and the model, so a module's logic
//! is unit-tested without wasm.

pub mod arena;
mod convert;
mod rules;

pub use rules::{Rules, WithCore};
/// The request, decision, key and manifest types (`tollgate-model`).
pub use tollgate_model as model;
/// Tollgate's verification core and default rules (`tollgate-policy`):
/// [`policy::Policy`], [`policy::VerifiedToken`], and the TOML and JSON
/// crates it reads with.
pub use tollgate_policy as policy;

use model::{ConfigError, Decision, KeyRing, Manifest, Request};

/// The WIT version of `tollgate:authorizer` this SDK builds modules for.
pub const WIT_VERSION: &str = "0.5.1";

/// A policy module: it reads its policy document once, says what the host
/// must provide, then decides requests.
pub trait Module: Sized + 'static {
    /// Read the policy document (`configure` in the WIT world). Called once
    /// per instance, before any [`authorize`](Module::authorize).
    fn configure(config: &str) -> Result<(Self, Manifest), ConfigError>;

    /// Decide one request with the host's keys. Deterministic for a given
    /// request (including `now`) and key set; never panics (a panic is a
    /// trap, which the host answers as an error, never an allow).
    fn authorize<K: KeyRing>(&self, request: &Request, keys: &K) -> Decision;
}

/// The generated bindings of the `tollgate:authorizer/authorizer` world
/// (in a module only). Module authors do not need them: see [`export!`].
#[cfg(target_arch = "wasm32")]
#[doc(hidden)]
// Generated code: its `extern "C"` imports and exports are `unsafe`, and it
// is neither documented nor written to clippy's taste.
#[allow(missing_docs, unsafe_code, clippy::all)]
pub mod bindings {
    wit_bindgen::generate!({
        path: "../wit",
        world: "authorizer",
        pub_export_macro: true,
        export_macro_name: "export_world",
        default_bindings_module: "tollgate_sdk::bindings",
    });

    pub use tollgate::authorizer::keys as wit_keys;
    pub use tollgate::authorizer::types as wit;
}

#[cfg(target_arch = "wasm32")]
mod guest;

#[cfg(target_arch = "wasm32")]
#[doc(hidden)]
pub use guest::{authorize_with, configure_with};

/// Export `$module` (a type implementing [`Module`]) as the component's
/// `configure` and `authorize`. Use once, in the module's `cdylib` crate.
/// The export glue it generates (`extern "C"` entry points with
/// `#[unsafe(export_name)]`) is allowed `unsafe` code within the macro
/// only, so the module's own code stays under `deny(unsafe_code)`.
#[macro_export]
macro_rules! export {
    ($module:ty) => {
        #[allow(unsafe_code)]
        const _: () = {
            struct TollgateModule;

            ::std::thread_local! {
                /// The configured module; one per instance.
                static CONFIGURED: ::std::cell::RefCell<::std::option::Option<$module>> =
                    const { ::std::cell::RefCell::new(::std::option::Option::None) };
            }

            impl $crate::bindings::Guest for TollgateModule {
                fn configure(
                    config: ::std::string::String,
                ) -> ::std::result::Result<
                    $crate::bindings::wit::Manifest,
                    $crate::bindings::wit::ConfigError,
                > {
                    // What the module keeps comes from the system
                    // allocator, never from a per-call arena (`arena`).
                    $crate::arena::disarm();
                    let (module, manifest) = $crate::configure_with::<$module>(&config)?;
                    CONFIGURED
                        .with(|slot| *slot.borrow_mut() = ::std::option::Option::Some(module));
                    $crate::arena::arm();
                    ::std::result::Result::Ok(manifest)
                }

                fn authorize(
                    request: $crate::bindings::wit::Request,
                ) -> $crate::bindings::wit::Decision {
                    CONFIGURED.with(|slot| $crate::authorize_with(slot.borrow().as_ref(), request))
                }
            }

    $crate::bindings::export_world!(TollgateModule with_types_in $crate::bindings);
        };
    };
}
