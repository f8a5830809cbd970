//! Tollgate's hot swap: new policy bundles go live without redeploying the
//! host.
//!
//! - [`controller`]: [`HotSwap`], one source checked in the background
//!   (servers) or lazily at the start of invocations (Lambda), the
//!   refused digests, the last good bundle kept on disk;
//! - [`pipeline`]: the activation steps, from bytes to a configured and
//!   tested bundle ready to swap in (or the step that refused it);
//! - [`source`]: where bundles come from (a local file, an HTTPS URL or
//!   S3-compatible object storage) and how a change is noticed (file
//!   watch, `ETag` / `If-None-Match`, object `head`), with a size cap and
//!   timeouts.

pub mod controller;
pub mod pipeline;
pub mod source;

pub use controller::{CheckOutcome, HotSwap, HotSwapSettings, StartError};
pub use pipeline::{PipelineSettings, Prepared, Refusal};
