//! Credential extraction and compact JWS parsing: everything that can be
//! checked before a key is involved.

use crate::base64url::decode_run;
use crate::config::TokenLimits;
use crate::json::{JsonObject, JsonValue, parse_object};
use crate::model::{Algorithm, Deny, DenyReason, TokenSource};

/// Longest accepted `kid`, in bytes.
pub const MAX_KID_BYTES: usize = 1024;

/// Longest untrusted string echoed in a deny detail, in characters.
const ECHO_CHARS: usize = 64;

/// An untrusted string, quoted and escaped, cut to [`ECHO_CHARS`] characters.
pub(crate) fn echo(value: &str) -> String {
    let mut chars = value.chars();
    let cut: String = chars.by_ref().take(ECHO_CHARS).collect();
    if chars.next().is_some() {
        format!("{cut:?}…")
    } else {
        format!("{cut:?}")
    }
}

/// Strict base64url: URL-safe alphabet, no padding, canonical trailing bits.
pub(crate) fn decode_b64url(segment: &str) -> Result<Vec<u8>, crate::base64url::NotBase64Url> {
    crate::base64url::decode(segment)
}

/// Parse decoded bytes (header or payload) as a JSON object without
/// duplicate member names; the error says what is wrong without quoting it.
pub(crate) fn decode_object<'a>(bytes: &'a [u8], what: &str) -> Result<JsonObject<'a>, String> {
    parse_object(bytes).map_err(|e| format!("{what} is not a JSON object: {}", json_problem(&e)))
}

/// What is wrong with a JSON text, without quoting it: serde_json's own
/// message can echo a whole string value from the token (up to its size
/// limit), which must not reach logs. Only the kind of problem and where it
/// is are kept.
pub(crate) fn json_problem(error: &serde_json::Error) -> String {
    use serde_json::error::Category;
    let kind = match error.classify() {
        Category::Syntax => "invalid JSON",
        Category::Eof => "unexpected end of JSON",
        Category::Data if error.to_string().starts_with("duplicate member") => {
            return duplicate_member_message(error);
        }
        Category::Data => "not an object with valid members",
        Category::Io => "unreadable",
    };
    format!("{kind} at line {} column {}", error.line(), error.column())
}

/// The strict parser's duplicate-name message, cut to a bounded length.
fn duplicate_member_message(error: &serde_json::Error) -> String {
    let text = error.to_string();
    match text.char_indices().nth(120) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text,
    }
}

fn malformed(detail: impl Into<String>) -> Deny {
    Deny::new(DenyReason::Malformed, detail)
}

fn strip_bearer(value: &str) -> Option<&str> {
    let scheme = value.get(..6)?;
    let rest = value.get(6..)?;
    if scheme.eq_ignore_ascii_case("bearer") && rest.starts_with(|c: char| c.is_ascii_whitespace())
    {
        Some(rest.trim())
    } else {
        None
    }
}

/// The one token of the request, trimmed and without its `Bearer` scheme,
/// with the comma check first: the plain form of what [`read_token`]
/// does, which the tests compare it with.
#[cfg(test)]
pub(crate) fn extract_token(sources: &[TokenSource]) -> Result<&str, Deny> {
    let (token, source) = extract_unjoined(sources)?;
    match joined(source) {
        Some(deny) => Err(deny),
        None => Ok(token),
    }
}

/// The request's one token, parsed: the one credential, trimmed and
/// without its `Bearer` scheme, then [`parse_compact`]. A credential
/// joined with commas is refused as several tokens before any other
/// problem of it, but the scan for a comma runs only when something
/// failed: a token that parses is three base64url segments, which hold no
/// comma. (The tests compare it with `extract_token`, the plain form.)
pub(crate) fn read_token<'a>(
    sources: &'a [TokenSource],
    limits: &TokenLimits,
) -> Result<Compact<'a>, Deny> {
    let (token, source) = extract_unjoined(sources)?;
    parse_compact(token, limits).map_err(|deny| joined(source).unwrap_or(deny))
}

/// Several credentials joined with commas in one source: refused as
/// several tokens, before any other problem of that source.
fn joined(source: &TokenSource) -> Option<Deny> {
    match source {
        TokenSource::AuthorizationHeader(value) => value.trim().contains(',').then(|| {
            Deny::new(
                DenyReason::MultipleTokens,
                "the Authorization header holds several comma-separated values; send exactly one",
            )
        }),
        TokenSource::Raw(value) => {
            let value = value.trim_start();
            // A JWS never holds a comma: these are credentials joined
            // (HTTP API joins duplicate query parameters and headers so).
            // Anything else with a comma (a JSON serialization, say) is
            // left for the parser to call malformed.
            (value.contains(',')
                && value.split(',').all(|part| {
                    let part = part.trim();
                    let part = strip_bearer(part).unwrap_or(part);
                    !part.is_empty() && part.bytes().all(is_token_char)
                }))
            .then(|| {
                Deny::new(
                    DenyReason::MultipleTokens,
                    "the credential holds several comma-separated values; send exactly one",
                )
            })
        }
        TokenSource::OutsideCacheKey => None,
    }
}

/// [`extract_token`] without the check for joined credentials: the token
/// and the source it came from. Every refusal of a source checks
/// [`joined`] first, so that check keeps its precedence.
fn extract_unjoined(sources: &[TokenSource]) -> Result<(&str, &TokenSource), Deny> {
    // A credential the front door's cache would not see decides nothing:
    // an answer made on it would be reused for requests without it.
    if sources
        .iter()
        .any(|s| matches!(s, TokenSource::OutsideCacheKey))
    {
        return Err(Deny::new(
            DenyReason::MultipleTokens,
            "the request carries a credential outside the front door's cache key (e.g. an Authorization header that is not one of the authorizer's identity sources); send the token only where the authorizer is configured to read it",
        ));
    }
    let source = match sources {
        [] => {
            return Err(Deny::new(
                DenyReason::MissingToken,
                "no credential in the request",
            ));
        }
        [one] => one,
        many => {
            return Err(Deny::new(
                DenyReason::MultipleTokens,
                format!(
                    "{} credentials in the request; send exactly one",
                    many.len()
                ),
            ));
        }
    };
    let refused = |deny: Deny| Err(joined(source).unwrap_or(deny));
    let token = match source {
        TokenSource::AuthorizationHeader(value) => {
            let value = value.trim();
            if value.is_empty() {
                return refused(Deny::new(
                    DenyReason::MissingToken,
                    "the Authorization header is empty",
                ));
            }
            if value.eq_ignore_ascii_case("bearer") {
                return refused(Deny::new(
                    DenyReason::MissingToken,
                    "the Authorization header has the Bearer scheme but no token",
                ));
            }
            match strip_bearer(value) {
                Some(token) => token,
                None if !value.contains(|c: char| c.is_ascii_whitespace())
                    && value.contains('.') =>
                {
                    return refused(Deny::new(
                        DenyReason::MissingToken,
                        "the Authorization header has no scheme; expected `Bearer <token>`",
                    ));
                }
                None => {
                    return refused(Deny::new(
                        DenyReason::MissingToken,
                        "the Authorization header does not use the Bearer scheme",
                    ));
                }
            }
        }
        TokenSource::Raw(value) => {
            let value = value.trim_start();
            if value.trim_end().eq_ignore_ascii_case("bearer") {
                return refused(Deny::new(
                    DenyReason::MissingToken,
                    "the credential has the Bearer prefix but no token",
                ));
            }
            strip_bearer(value).unwrap_or(value.trim_end())
        }
        // Refused above.
        TokenSource::OutsideCacheKey => {
            return refused(Deny::new(
                DenyReason::MultipleTokens,
                "a credential outside the front door's cache key",
            ));
        }
    };
    if token.is_empty() {
        return refused(Deny::new(
            DenyReason::MissingToken,
            "the credential is empty",
        ));
    }
    Ok((token, source))
}

/// The header fields the pipeline needs, already checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Header {
    /// `alg`, a supported algorithm (not yet checked against the issuer).
    pub alg: Algorithm,
    /// `kid`.
    pub kid: Option<String>,
    /// `typ`.
    pub typ: Option<String>,
}

/// A compact JWS whose structure and header passed every key-less check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Compact<'a> {
    /// `header_b64 "." payload_b64`, the bytes the signature covers.
    pub signing_input: &'a str,
    /// The payload bytes, base64url-decoded but not yet parsed: JSON is
    /// read only after the signature verified (with one issuer).
    pub payload: Vec<u8>,
    /// The decoded signature.
    pub signature: Vec<u8>,
    /// The checked header.
    pub header: Header,
}

fn is_token_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.'
}

/// Check size, alphabet, segments and header; decode the signature.
pub(crate) fn parse_compact<'a>(token: &'a str, limits: &TokenLimits) -> Result<Compact<'a>, Deny> {
    if token.len() > limits.max_token_bytes {
        return Err(malformed(format!(
            "token is {} bytes, above the limit of {} bytes",
            token.len(),
            limits.max_token_bytes
        )));
    }
    // A token that parses has only base64url and `.` (three segments, each
    // decoded with the base64url alphabet), so the alphabet is checked
    // byte by byte only when something failed, to say so first.
    parse_segments(token, limits).map_err(|deny| {
        if token.bytes().all(is_token_char) {
            deny
        } else {
            malformed("token contains characters other than base64url and `.`")
        }
    })
}

/// [`parse_compact`] after the size check, for a token whose alphabet is
/// not checked yet: [`segments_in_one_pass`] for a token that parses,
/// [`parse_segments_apart`] (and its error) for any other.
fn parse_segments<'a>(token: &'a str, limits: &TokenLimits) -> Result<Compact<'a>, Deny> {
    match segments_in_one_pass(token, limits) {
        Some(compact) => Ok(compact),
        None => parse_segments_apart(token, limits),
    }
}

/// A token that parses, read in one pass: each segment decoded up to the
/// byte that ends it, which must be a `.` (then the end of the token), so
/// no separate scan finds the dots. `Some` exactly when
/// [`parse_segments_apart`] is `Ok`, with the same value (the tests
/// compare the two); `None` at any problem, which that function then
/// names.
fn segments_in_one_pass<'a>(token: &'a str, limits: &TokenLimits) -> Option<Compact<'a>> {
    let bytes = token.as_bytes();
    // The header's size is judged by `check_header`, on what it decoded
    // to (never less than the bound `parse_header` checks before decoding).
    let (header, header_len) = decode_run(bytes).ok()?;
    if bytes.get(header_len) != Some(&b'.') {
        return None;
    }
    let payload_at = header_len + 1;
    let (payload, payload_len) = decode_run(bytes.get(payload_at..)?).ok()?;
    let signature_at = payload_at + payload_len + 1;
    if bytes.get(signature_at - 1) != Some(&b'.') {
        return None;
    }
    let signature_b64 = bytes.get(signature_at..)?;
    let (signature, signature_len) = decode_run(signature_b64).ok()?;
    if signature_len == 0 || signature_len != signature_b64.len() {
        return None;
    }
    let header = check_header(&header, limits).ok()?;
    Some(Compact {
        signing_input: token.get(..signature_at - 1)?,
        payload,
        signature,
        header,
    })
}

/// [`parse_segments`] with the segments split apart first, then decoded
/// and checked in turn: what names the problem of a token that does not
/// parse.
fn parse_segments_apart<'a>(token: &'a str, limits: &TokenLimits) -> Result<Compact<'a>, Deny> {
    let mut segments = token.splitn(4, '.');
    let (Some(header_b64), Some(payload_b64), Some(signature_b64), None) = (
        segments.next(),
        segments.next(),
        segments.next(),
        segments.next(),
    ) else {
        let count = token.split('.').count();
        return Err(malformed(if count == 5 {
            String::from("token has 5 segments: encrypted JWTs (JWE) are not supported")
        } else {
            format!("token has {count} segment(s); a compact JWS has 3 (header.payload.signature)")
        }));
    };
    let header = parse_header(header_b64, limits)?;
    if signature_b64.is_empty() {
        return Err(malformed("signature segment is empty"));
    }
    let signature =
        decode_b64url(signature_b64).map_err(|_| malformed("signature is not valid base64url"))?;
    // A non-canonical encoding is a malformed token, whatever it signs.
    let payload =
        decode_b64url(payload_b64).map_err(|_| malformed("payload is not valid base64url"))?;
    let signing_len = header_b64.len() + 1 + payload_b64.len();
    let signing_input = token
        .get(..signing_len)
        .ok_or_else(|| malformed("token segments are inconsistent"))?;
    Ok(Compact {
        signing_input,
        payload,
        signature,
        header,
    })
}

fn parse_header(segment: &str, limits: &TokenLimits) -> Result<Header, Deny> {
    // Reject before decoding what would decode above the limit.
    if segment.len() / 4 * 3 > limits.max_header_bytes {
        return Err(malformed(format!(
            "header is above the limit of {} bytes",
            limits.max_header_bytes
        )));
    }
    let bytes = decode_b64url(segment).map_err(|_| malformed("header is not valid base64url"))?;
    check_header(&bytes, limits)
}

/// The decoded header's checks: its size, its JSON, `alg`, the members
/// that would name their own key, `crit`, `b64`, `kid` and `typ`.
fn check_header(bytes: &[u8], limits: &TokenLimits) -> Result<Header, Deny> {
    if bytes.len() > limits.max_header_bytes {
        return Err(malformed(format!(
            "header is {} bytes, above the limit of {} bytes",
            bytes.len(),
            limits.max_header_bytes
        )));
    }
    let header = parse_object(bytes)
        .map_err(|e| malformed(format!("header is not a JSON object: {}", json_problem(&e))))?;

    let alg = match header.get("alg") {
        None => return Err(malformed("header has no `alg`")),
        Some(JsonValue::String(alg)) => alg,
        Some(_) => return Err(malformed("header `alg` is not a string")),
    };
    if alg.eq_ignore_ascii_case("none") {
        return Err(Deny::new(
            DenyReason::DisallowedAlgorithm,
            "unsigned tokens (alg `none`) are never accepted",
        ));
    }
    let Some(alg) = Algorithm::from_name(alg) else {
        return Err(Deny::new(
            DenyReason::DisallowedAlgorithm,
            format!("unsupported algorithm {}", echo(alg)),
        ));
    };

    for name in ["jku", "x5u", "jwk", "x5c"] {
        if header.contains_key(name) {
            return Err(Deny::new(
                DenyReason::UntrustedHeader,
                format!("header `{name}` names its own key; keys only come from the configuration"),
            ));
        }
    }
    if header.contains_key("crit") {
        return Err(Deny::new(
            DenyReason::UntrustedHeader,
            "header `crit` requires extensions this module does not support",
        ));
    }
    if let Some(b64) = header.get("b64")
        && *b64 != JsonValue::Bool(true)
    {
        return Err(Deny::new(
            DenyReason::UntrustedHeader,
            "header `b64` (unencoded payload, RFC 7797) is not supported",
        ));
    }

    let kid = match header.get("kid") {
        None => None,
        Some(JsonValue::String(kid)) if kid.len() > MAX_KID_BYTES => {
            return Err(malformed(format!(
                "header `kid` is {} bytes, above the limit of {MAX_KID_BYTES} bytes",
                kid.len()
            )));
        }
        Some(JsonValue::String(kid)) => Some(kid.to_string()),
        Some(_) => return Err(malformed("header `kid` is not a string")),
    };
    let typ = match header.get("typ") {
        None => None,
        Some(JsonValue::String(typ)) => Some(typ.to_string()),
        Some(_) => return Err(malformed("header `typ` is not a string")),
    };
    Ok(Header { alg, kid, typ })
}

/// A media type as RFC 7515 4.1.9 compares it: case-insensitive, with
/// `application/` implied when there is no `/`.
pub(crate) fn normalize_media_type(value: &str) -> String {
    let lower = value.to_ascii_lowercase();
    if lower.contains('/') {
        lower
    } else {
        format!("application/{lower}")
    }
}

#[cfg(test)]
mod tests;
