//! Tollgate's hot swap: new policy bundles go live without redeploying the
//! host.
//!
//! - [`source`]: where bundles come from (a local file, an HTTPS URL or
//!   S3-compatible object storage) and how a change is noticed (file
//!   watch, `ETag` / `If-None-Match`, object `head`), with a size cap and
//!   timeouts.

pub mod source;
