//! Sizes the host checks before a request reaches the policy module, for
//! every front door: a request over them is denied `malformed` (401)
//! without the module seeing it, so an oversized input can never turn into
//! a module failure (a trap or the memory cap, answered 500) or cost the
//! module its memory.
//!
//! The module applies its own, usually much smaller, limits on top (the
//! policy's `max_token_bytes`, 16 KiB by default): these only bound what
//! may cross into it at all.

use crate::model::{Deny, DenyReason, Request, TokenSource};

/// Default [`RequestLimits::max_credential_bytes`]: 1 MiB (the largest
/// `max_token_bytes` a policy may set) plus 1 KiB for a scheme and spaces.
pub const DEFAULT_MAX_CREDENTIAL_BYTES: usize = 1024 * 1024 + 1024;
/// Default [`RequestLimits::max_fields`]: headers and query parameters together.
pub const DEFAULT_MAX_FIELDS: usize = 1024;
/// Default [`RequestLimits::max_request_bytes`]: 4 MiB of text in all.
pub const DEFAULT_MAX_REQUEST_BYTES: usize = 4 * 1024 * 1024;

/// What the host lets through to the module.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestLimits {
    /// Longest credential (one token source's value), in bytes.
    pub max_credential_bytes: usize,
    /// Most headers and query parameters, counted together.
    pub max_fields: usize,
    /// Most bytes of text in the whole request: credentials, method, path,
    /// header and query names and values, source IP.
    pub max_request_bytes: usize,
}

impl Default for RequestLimits {
    fn default() -> Self {
        RequestLimits {
            max_credential_bytes: DEFAULT_MAX_CREDENTIAL_BYTES,
            max_fields: DEFAULT_MAX_FIELDS,
            max_request_bytes: DEFAULT_MAX_REQUEST_BYTES,
        }
    }
}

impl RequestLimits {
    /// `Err` with a `malformed` deny naming the limit when `request` is over
    /// one; never quotes the request.
    pub fn check(&self, request: &Request) -> Result<(), Deny> {
        self.check_with_door_text(request, 0)
    }

    /// [`RequestLimits::check`], counting `door_bytes` more of text that a
    /// front door keeps beside the request (API Gateway's method ARN, which
    /// repeats the path) towards `max_request_bytes`.
    pub fn check_with_door_text(&self, request: &Request, door_bytes: usize) -> Result<(), Deny> {
        let over = |what: String| Err(Deny::new(DenyReason::Malformed, what));
        let mut total: usize = door_bytes;
        for source in &request.token_sources {
            let value = match source {
                TokenSource::AuthorizationHeader(v) | TokenSource::Raw(v) => v,
                TokenSource::OutsideCacheKey => continue,
            };
            if value.len() > self.max_credential_bytes {
                return over(format!(
                    "the credential is {} bytes, above the host's limit of {} bytes",
                    value.len(),
                    self.max_credential_bytes
                ));
            }
            total = total.saturating_add(value.len());
        }
        let fields = request.headers.len().saturating_add(request.query.len());
        if fields > self.max_fields {
            return over(format!(
                "the request has {fields} headers and query parameters, above the host's limit of {}",
                self.max_fields
            ));
        }
        for (name, value) in request.headers.iter().chain(&request.query) {
            total = total.saturating_add(name.len()).saturating_add(value.len());
        }
        for text in [&request.method, &request.path]
            .into_iter()
            .chain(request.source_ip.as_ref())
        {
            total = total.saturating_add(text.len());
        }
        // The module is sent the path as received too (`raw-path`): set by
        // the door's canonicalization, or a copy of `path` made when the
        // host canonicalizes it.
        total = total.saturating_add(request.raw_path.len().max(request.path.len()));
        if total > self.max_request_bytes {
            return over(format!(
                "the request holds {total} bytes of text, above the host's limit of {} bytes",
                self.max_request_bytes
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(token: &str) -> Request {
        Request {
            token_sources: vec![TokenSource::AuthorizationHeader(format!("Bearer {token}"))],
            method: "GET".into(),
            path: "/".into(),
            ..Request::default()
        }
    }

    #[test]
    fn each_limit_holds_at_its_edge() {
        let limits = RequestLimits::default();
        // "Bearer " is 7 bytes.
        let at = "a".repeat(DEFAULT_MAX_CREDENTIAL_BYTES - 7);
        assert!(limits.check(&request(&at)).is_ok());
        let over = "a".repeat(DEFAULT_MAX_CREDENTIAL_BYTES - 6);
        let deny = limits.check(&request(&over)).unwrap_err();
        assert_eq!(deny.reason, DenyReason::Malformed);
        assert!(deny.detail.contains("host's limit"), "{}", deny.detail);
        assert!(!deny.detail.contains("aaaa"), "{}", deny.detail);

        let mut many = request("t");
        many.headers = (0..DEFAULT_MAX_FIELDS - 1)
            .map(|i| (format!("h{i}"), String::new()))
            .collect();
        many.query = vec![("q".into(), String::new())];
        assert!(limits.check(&many).is_ok());
        many.query.push(("r".into(), String::new()));
        assert_eq!(
            limits.check(&many).unwrap_err().reason,
            DenyReason::Malformed
        );

        let small = RequestLimits {
            max_request_bytes: 20,
            ..RequestLimits::default()
        };
        // "Bearer t" (8) + "GET" (3) + "/" (1) + the raw path the host
        // copies from it (1) = 13; a header of 7 more is 20.
        let mut req = request("t");
        req.headers = vec![("nam".into(), "valu".into())];
        assert!(small.check(&req).is_ok());
        req.headers = vec![("name".into(), "valu".into())];
        assert_eq!(small.check(&req).unwrap_err().reason, DenyReason::Malformed);
        // A raw path longer than the canonical one counts at its length.
        req.headers = vec![("nam".into(), "valu".into())];
        req.raw_path = "/.".into();
        assert_eq!(small.check(&req).unwrap_err().reason, DenyReason::Malformed);
    }
}
