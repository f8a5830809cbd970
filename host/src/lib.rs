//! Tollgate's host: a thin wasmtime runner for policy modules.
//!
//! - [`engine`]: compile, precompile and sandbox the module (deadline, memory cap);
//! - [`Authorizer`]: one configured module with its keys and warm instances;
//! - [`cli`]: the `tollgate` command line, including the demo.
//!
//! The host holds I/O and signature math; the module decides.

pub mod authorizer;
mod bindings;
pub mod cli;
pub mod demo;
pub mod engine;
pub mod logging;

pub use authorizer::{Authorizer, ConfigBase, SetupError};
pub use bindings::KeyMiss;
pub use engine::{Limits, PolicyEngine};
/// The request, decision and manifest types shared with the policy module.
pub use tollgate_model as model;
