//! The canonical form of a request path: the one path every tollgate door
//! hands the policy module, so a route rule decides the route the service
//! behind the proxy will serve, not another spelling of it.
//!
//! A proxy, tollgate and the upstream can read one request line three ways
//! (`/public/../admin`, `/public/%2e%2e/admin`, `/admin%2Fusers`,
//! `//admin`, `/admin;jsessionid=x`, `/ADMIN`, overlong UTF-8): a rule
//! for a public path must never authorize a request the upstream routes to
//! a protected one. [`canonicalize`] therefore either returns one spelling
//! per route, or refuses a path that cannot be decided safely
//! ([`PathRefusal`]): a 400 at the edge, a deny in Lambda.
//!
//! **Form [`FORM`]** (documented in `docs/paths.md`), in order:
//!
//! 1. The path must start with `/` (an empty path means "unknown" and stays
//!    empty). A raw `?` or `#` (a query or fragment left in the path), a
//!    control character or a backslash is refused.
//! 2. `;` path parameters (`/admin;jsessionid=x`, which Tomcat and Spring
//!    strip before routing) are refused by default, an encoded `;` (`%3B`)
//!    too; [`PathParameters::Strip`] removes each segment's parameters first
//!    (so `/public/..;/admin` is `/admin` with dot segments resolved, as
//!    Tomcat reads it; what is stripped is still checked as the rest of the
//!    path is, since a server that decodes first reads `;x%2F..` otherwise),
//!    [`PathParameters::Keep`] treats `;` as data.
//! 3. Percent-encoding is checked (two hex digits). Unreserved characters
//!    (`A-Z a-z 0-9 - . _ ~`) and the sub-delimiters a path holds raw
//!    (`! $ & ' ( ) * + , = : @`) are decoded, so `/admin%3Apurge` is
//!    `/admin:purge` as upstreams that decode before routing read it. Every
//!    other escape is kept, with upper-case hex. Encoded delimiters are refused by default
//!    ([`EncodedDelimiters::Keep`] keeps them as data): `%2F` and `%5C` (an
//!    encoded `/` or `\`), `%3F` and `%23` (an encoded `?` or `#`, which an
//!    upstream that decodes before parsing reads as the end of the path).
//!    So are encoded control characters (`%00`, `%0A`), and, once the
//!    unreserved escapes are decoded, any double-encoded character
//!    (`%252e`, also written `%25%32%65`; `%2561`; `%25c0%25ae`;
//!    `%25u002e`). The bytes the
//!    path stands for must be UTF-8: overlong forms (`%C0%AE`) are refused.
//!    Raw characters a URI may not hold (a space, `"`, `{`, non-ASCII) are
//!    percent-encoded.
//! 4. A segment that is `.` or `..` only once decoded (`%2e%2e`) is refused.
//!    Raw `.` and `..` segments are refused by default
//!    ([`DotSegments::Refuse`]): a proxy that forwards the request line as
//!    sent (nginx's `$request_uri`, Caddy) hands them to an upstream that may
//!    route `/admin/../public` under `/admin`, and clients resolve them
//!    before sending. [`DotSegments::Resolve`] removes them as RFC 3986
//!    section 5.2.4 says, for an upstream that does so too; a `..` above the
//!    root, or one that would remove an empty segment (`/admin//../public`:
//!    `/admin/public` to RFC 3986, `/public` to a server that merges slashes
//!    first), is then refused.
//! 5. Empty segments (`//`) are merged ([`PathOptions::merge_slashes`]).
//! 6. A trailing `/` is removed ([`TrailingSlash::Strip`]; `/` stays `/`).
//! 7. Case is kept; [`PathCase::Lower`] folds ASCII letters (not escapes)
//!    for a case-insensitive upstream, and refuses a non-ASCII character
//!    whose case folds to an ASCII letter (the Kelvin sign `K`).
//!
//! Canonicalizing a canonical path changes nothing ([`canonicalize`] is
//! idempotent), and a path already canonical costs one scan and no
//! allocation.

#![forbid(unsafe_code)]

pub mod corpus;

use std::borrow::Cow;

/// The version of the canonical form this crate computes. It changes
/// whenever a path's canonical form or a refusal does.
pub const FORM: u32 = 2;

/// What encoded delimiters mean to the upstream: `%2F` and `%5C` (an
/// encoded `/` or `\`), `%3F` and `%23` (an encoded `?` or `#`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum EncodedDelimiters {
    /// Refuse the path (default): an upstream that decodes before it parses
    /// reads `%2F` as a separator, and `%3F` or `%23` as the end of the path
    /// (`/admin%3F/../public` is `/public` to the rules, `/admin` to it).
    #[default]
    Refuse,
    /// Keep them encoded, as data within a segment, for an upstream that
    /// never decodes them before routing.
    Keep,
}

/// What `;` path parameters (`/admin;jsessionid=x`) mean to the upstream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PathParameters {
    /// Refuse the path (default).
    #[default]
    Refuse,
    /// Remove each segment's parameters (from its first `;`) before
    /// resolving dot segments, as Tomcat and Spring do before routing.
    Strip,
    /// Treat `;` as an ordinary character of the segment.
    Keep,
}

/// What raw `.` and `..` segments mean to the upstream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DotSegments {
    /// Refuse the path (default): a proxy that forwards the request line as
    /// sent hands the upstream `/admin/../public`, which a router matching
    /// prefixes serves under `/admin`. Clients resolve dot segments before
    /// sending, so only a crafted request carries them.
    #[default]
    Refuse,
    /// Resolve them as RFC 3986 section 5.2.4 says, for an upstream (or a
    /// proxy in front of it, such as Envoy or Traefik) that does so too.
    Resolve,
}

/// Whether the upstream routes paths with regard to case.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PathCase {
    /// Keep case (default): `/ADMIN` is not `/admin`.
    #[default]
    Sensitive,
    /// Fold ASCII letters to lower case, for a case-insensitive upstream
    /// (route rules are then written in lower case).
    Lower,
}

/// Whether the upstream routes `/admin/` as `/admin`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TrailingSlash {
    /// Remove a trailing `/` (default), so the rule for `/admin` also
    /// governs `/admin/`.
    #[default]
    Strip,
    /// Keep it: `/admin/` is its own route.
    Keep,
}

/// How paths are canonicalized for one deployment: the safe setting is the
/// default, and each option adapts the form to what the upstream does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PathOptions {
    /// Merge empty segments (`//admin` is `/admin`); default `true`. Off,
    /// an empty segment stays (`//admin` matches no rule for `/admin`).
    pub merge_slashes: bool,
    /// Encoded `/`, `\`, `?` and `#`.
    pub encoded_delimiters: EncodedDelimiters,
    /// `;` path parameters.
    pub path_parameters: PathParameters,
    /// Raw `.` and `..` segments.
    pub dot_segments: DotSegments,
    /// Letter case.
    pub case: PathCase,
    /// A trailing `/`.
    pub trailing_slash: TrailingSlash,
}

impl Default for PathOptions {
    fn default() -> Self {
        PathOptions {
            merge_slashes: true,
            encoded_delimiters: EncodedDelimiters::Refuse,
            path_parameters: PathParameters::Refuse,
            dot_segments: DotSegments::Refuse,
            case: PathCase::Sensitive,
            trailing_slash: TrailingSlash::Strip,
        }
    }
}

/// An option name or value that [`PathOptions::set`] does not know.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct UnknownPathOption(pub String);

impl PathOptions {
    /// The option names, as the policy document's `[paths]` section and the
    /// path corpus write them.
    pub const NAMES: [&'static str; 6] = [
        "merge_slashes",
        "encoded_delimiters",
        "path_parameters",
        "dot_segments",
        "case",
        "trailing_slash",
    ];

    /// Set option `name` from its text `value` (`merge_slashes` takes
    /// `true`/`false`; the others their lower-case variant names).
    pub fn set(&mut self, name: &str, value: &str) -> Result<(), UnknownPathOption> {
        let bad = |choices: &str| {
            UnknownPathOption(format!(
                "{name} cannot be {value:?}; write one of {choices}"
            ))
        };
        match name {
            "merge_slashes" => {
                self.merge_slashes = match value {
                    "true" => true,
                    "false" => false,
                    _ => return Err(bad("true, false")),
                }
            }
            "encoded_delimiters" => {
                self.encoded_delimiters = match value {
                    "refuse" => EncodedDelimiters::Refuse,
                    "keep" => EncodedDelimiters::Keep,
                    _ => return Err(bad("\"refuse\", \"keep\"")),
                }
            }
            "path_parameters" => {
                self.path_parameters = match value {
                    "refuse" => PathParameters::Refuse,
                    "strip" => PathParameters::Strip,
                    "keep" => PathParameters::Keep,
                    _ => return Err(bad("\"refuse\", \"strip\", \"keep\"")),
                }
            }
            "dot_segments" => {
                self.dot_segments = match value {
                    "refuse" => DotSegments::Refuse,
                    "resolve" => DotSegments::Resolve,
                    _ => return Err(bad("\"refuse\", \"resolve\"")),
                }
            }
            "case" => {
                self.case = match value {
                    "sensitive" => PathCase::Sensitive,
                    "lower" => PathCase::Lower,
                    _ => return Err(bad("\"sensitive\", \"lower\"")),
                }
            }
            "trailing_slash" => {
                self.trailing_slash = match value {
                    "strip" => TrailingSlash::Strip,
                    "keep" => TrailingSlash::Keep,
                    _ => return Err(bad("\"strip\", \"keep\"")),
                }
            }
            _ => {
                return Err(UnknownPathOption(format!(
                    "unknown path option {name:?}; the options are {}",
                    PathOptions::NAMES.join(", ")
                )));
            }
        }
        Ok(())
    }

    /// Option `name`'s value as [`PathOptions::set`] reads it (`None` for
    /// an unknown name): `set(name, get(name))` changes nothing.
    pub fn get(&self, name: &str) -> Option<&'static str> {
        Some(match name {
            "merge_slashes" if self.merge_slashes => "true",
            "merge_slashes" => "false",
            "encoded_delimiters" => match self.encoded_delimiters {
                EncodedDelimiters::Refuse => "refuse",
                EncodedDelimiters::Keep => "keep",
            },
            "path_parameters" => match self.path_parameters {
                PathParameters::Refuse => "refuse",
                PathParameters::Strip => "strip",
                PathParameters::Keep => "keep",
            },
            "dot_segments" => match self.dot_segments {
                DotSegments::Refuse => "refuse",
                DotSegments::Resolve => "resolve",
            },
            "case" => match self.case {
                PathCase::Sensitive => "sensitive",
                PathCase::Lower => "lower",
            },
            "trailing_slash" => match self.trailing_slash {
                TrailingSlash::Strip => "strip",
                TrailingSlash::Keep => "keep",
            },
            _ => return None,
        })
    }

    /// The options that differ from the default, as `name=value` words
    /// (empty for the default): for logs and startup lines.
    pub fn describe(&self) -> String {
        let default = PathOptions::default();
        let words: Vec<String> = PathOptions::NAMES
            .iter()
            .filter_map(|name| {
                let value = self.get(name)?;
                (default.get(name) != Some(value)).then(|| format!("{name}={value}"))
            })
            .collect();
        words.join(" ")
    }
}

/// Why a path cannot be decided safely. The messages say what is wrong and
/// never quote the path (the door logs it where it chooses to).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PathRefusal {
    /// Not starting with `/`.
    #[error("the path does not start with `/`: send an origin-form path")]
    NotAbsolute,
    /// A raw `?` or `#` inside what should be the path alone.
    #[error("the path holds a raw `?` or `#`: the query or fragment was not split off")]
    QueryInPath,
    /// A raw or encoded control character (NUL included).
    #[error("the path holds a control character (raw, or encoded such as %00 or %0A)")]
    ControlCharacter,
    /// A raw backslash, which some upstreams read as `/`.
    #[error("the path holds a backslash, which some servers read as `/`: send `/`")]
    Backslash,
    /// `%2F` or `%5C` with [`EncodedDelimiters::Refuse`].
    #[error(
        "the path holds an encoded `/` or `\\` (%2F, %5C), which upstreams may or may not read as a separator; send `/`, or set encoded_delimiters = \"keep\" for an upstream that treats them as data"
    )]
    EncodedSlash,
    /// `%3F` or `%23` with [`EncodedDelimiters::Refuse`].
    #[error(
        "the path holds an encoded `?` or `#` (%3F, %23), which an upstream that decodes before parsing reads as the end of the path; set encoded_delimiters = \"keep\" for an upstream that treats them as data"
    )]
    EncodedDelimiter,
    /// A segment that is `.` or `..` only once decoded.
    #[error("the path holds an encoded dot segment (%2e, %2e%2e): send the path it stands for")]
    EncodedDotSegment,
    /// A raw `.` or `..` segment with [`DotSegments::Refuse`].
    #[error(
        "the path holds a `.` or `..` segment, which a proxy that forwards the path as sent hands the upstream unresolved: send the path it stands for, or set dot_segments = \"resolve\" for an upstream that resolves them"
    )]
    DotSegment,
    /// A `..` that would remove an empty segment (`/admin//../public`),
    /// which servers that merge slashes first and RFC 3986 read differently.
    #[error(
        "the path holds a `..` after an empty segment (`//..`), which servers that merge slashes first read as another path than RFC 3986 does: send the path it stands for"
    )]
    AmbiguousDotSegment,
    /// A `..` that would climb above the root.
    #[error("the path's `..` segments climb above the root")]
    AboveRoot,
    /// `%` without two hex digits.
    #[error("the path holds an invalid percent-escape (`%` must be followed by two hex digits)")]
    InvalidPercentEncoding,
    /// A double-encoded character (`%252e`, `%2561`, `%25u002e`).
    #[error(
        "the path holds a double-encoded character (%252e, %252f, %2561, %25c0, %25u002e, ...), which an upstream that decodes twice would read as another path: send it encoded once"
    )]
    DoubleEncoding,
    /// The decoded bytes are not UTF-8 (overlong forms included).
    #[error("the path's percent-escapes are not UTF-8 (or an overlong form such as %C0%AE)")]
    InvalidUtf8,
    /// With [`PathCase::Lower`], a non-ASCII character whose case folds to
    /// an ASCII letter (`%E2%84%AA`, the Kelvin sign, is `k`).
    #[error(
        "the path holds a non-ASCII character that a case-insensitive upstream folds to an ASCII letter (the Kelvin sign K is k, ı is i, ſ is s): send the letter it stands for"
    )]
    AmbiguousCase,
    /// A method that is not an upper-case token ([`check_method`]).
    #[error(
        "the method is not an upper-case token (RFC 9110): a server that folds case would run `delete` as DELETE, which the rules for DELETE do not govern; send the method in upper case"
    )]
    InvalidMethod,
    /// A `;` (raw, or `%3B`) with [`PathParameters::Refuse`].
    #[error(
        "the path holds `;` parameters (or an encoded `;`, %3B), which some servers strip before routing; send the path without them, or set path_parameters = \"strip\" or \"keep\" for what the upstream does"
    )]
    PathParameter,
}

impl PathRefusal {
    /// Every refusal, for tests and docs.
    pub const ALL: [PathRefusal; 16] = [
        PathRefusal::NotAbsolute,
        PathRefusal::QueryInPath,
        PathRefusal::ControlCharacter,
        PathRefusal::Backslash,
        PathRefusal::EncodedSlash,
        PathRefusal::EncodedDelimiter,
        PathRefusal::EncodedDotSegment,
        PathRefusal::DotSegment,
        PathRefusal::AmbiguousDotSegment,
        PathRefusal::AboveRoot,
        PathRefusal::InvalidPercentEncoding,
        PathRefusal::DoubleEncoding,
        PathRefusal::InvalidUtf8,
        PathRefusal::PathParameter,
        PathRefusal::AmbiguousCase,
        PathRefusal::InvalidMethod,
    ];

    /// A stable kebab-case name (`encoded-slash`), as logs and the corpus
    /// write it.
    pub fn as_str(self) -> &'static str {
        match self {
            PathRefusal::NotAbsolute => "not-absolute",
            PathRefusal::QueryInPath => "query-in-path",
            PathRefusal::ControlCharacter => "control-character",
            PathRefusal::Backslash => "backslash",
            PathRefusal::EncodedSlash => "encoded-slash",
            PathRefusal::EncodedDelimiter => "encoded-delimiter",
            PathRefusal::EncodedDotSegment => "encoded-dot-segment",
            PathRefusal::DotSegment => "dot-segment",
            PathRefusal::AmbiguousDotSegment => "ambiguous-dot-segment",
            PathRefusal::AboveRoot => "above-root",
            PathRefusal::InvalidPercentEncoding => "invalid-percent-encoding",
            PathRefusal::DoubleEncoding => "double-encoding",
            PathRefusal::InvalidUtf8 => "invalid-utf8",
            PathRefusal::PathParameter => "path-parameter",
            PathRefusal::AmbiguousCase => "ambiguous-case",
            PathRefusal::InvalidMethod => "invalid-method",
        }
    }

    /// The refusal named `name` ([`PathRefusal::as_str`]).
    pub fn from_name(name: &str) -> Option<PathRefusal> {
        PathRefusal::ALL.into_iter().find(|r| r.as_str() == name)
    }
}

/// Check the request's method, which rules match exactly (methods are
/// case-sensitive tokens, RFC 9110): it must be a token without lower-case
/// letters. A rule for `DELETE` never governs `delete`, so `delete` would
/// fall through to a broader rule, while many servers (Django, Flask, and
/// any behind a proxy that folds case) run it as DELETE: such a method is
/// refused ([`PathRefusal::InvalidMethod`]) rather than decided. An empty
/// method means "unknown" and passes, as an empty path does.
pub fn check_method(method: &str) -> Result<(), PathRefusal> {
    let token = method.bytes().all(|byte| {
        byte.is_ascii_uppercase()
            || byte.is_ascii_digit()
            || matches!(
                byte,
                b'!' | b'#'
                    | b'$'
                    | b'%'
                    | b'&'
                    | b'\''
                    | b'*'
                    | b'+'
                    | b'-'
                    | b'.'
                    | b'^'
                    | b'_'
                    | b'`'
                    | b'|'
                    | b'~'
            )
    });
    if token {
        Ok(())
    } else {
        Err(PathRefusal::InvalidMethod)
    }
}

/// The canonical form of `raw` (a path without its query) under `options`,
/// or why it cannot be decided safely. See the [crate docs](crate) for the
/// steps. Borrowed when `raw` is already canonical.
pub fn canonicalize<'a>(raw: &'a str, options: &PathOptions) -> Result<Cow<'a, str>, PathRefusal> {
    if raw.is_empty() {
        return Ok(Cow::Borrowed(raw));
    }
    if !raw.starts_with('/') {
        return Err(PathRefusal::NotAbsolute);
    }
    if is_canonical(raw, options) {
        return Ok(Cow::Borrowed(raw));
    }
    let mut segments: Vec<String> = Vec::new();
    let mut pieces = raw.split('/').skip(1).peekable();
    // Whether the resolved path ends with a `/` (a final empty, `.` or `..`
    // segment).
    let mut ends_with_slash = false;
    while let Some(piece) = pieces.next() {
        let last = pieces.peek().is_none();
        let piece = match options.path_parameters {
            PathParameters::Keep => piece,
            PathParameters::Refuse if piece.contains(';') => {
                return Err(PathRefusal::PathParameter);
            }
            PathParameters::Refuse => piece,
            PathParameters::Strip => {
                // What is stripped is checked like the rest: a server that
                // decodes before it strips reads `/public;x%2F..%2Fadmin` as
                // `/admin`.
                decode_segment(piece, options)?;
                piece.split(';').next().unwrap_or(piece)
            }
        };
        let decoded = decode_segment(piece, options)?;
        ends_with_slash = false;
        match decoded.text.as_str() {
            "." | ".." if decoded.encoded_dot => return Err(PathRefusal::EncodedDotSegment),
            "." | ".." if options.dot_segments == DotSegments::Refuse => {
                return Err(PathRefusal::DotSegment);
            }
            "." => ends_with_slash = last,
            ".." => {
                match segments.pop() {
                    None => return Err(PathRefusal::AboveRoot),
                    // Empty segments are kept until dot segments are
                    // resolved: a `..` removing one reads differently to a
                    // server that merges slashes first.
                    Some(removed) if removed.is_empty() => {
                        return Err(PathRefusal::AmbiguousDotSegment);
                    }
                    Some(_) => {}
                }
                ends_with_slash = last;
            }
            "" if last => ends_with_slash = true,
            _ => segments.push(decoded.text),
        }
    }
    if options.merge_slashes {
        segments.retain(|segment| !segment.is_empty());
    }
    if options.trailing_slash == TrailingSlash::Strip {
        // Unmerged empty segments at the end are a trailing `/` too.
        while segments.last().is_some_and(String::is_empty) {
            segments.pop();
        }
    }
    let mut out = String::with_capacity(raw.len());
    for segment in &segments {
        out.push('/');
        out.push_str(segment);
    }
    if out.is_empty() || (ends_with_slash && options.trailing_slash == TrailingSlash::Keep) {
        out.push('/');
    }
    Ok(Cow::Owned(out))
}

/// Whether `raw` (starting with `/`) is already canonical: only plain
/// characters, no `%`, no `;` unless kept, no dot or empty segment, no
/// trailing `/` unless kept, no upper case when folding. One scan.
fn is_canonical(raw: &str, options: &PathOptions) -> bool {
    let mut previous = b'/';
    // Length of the current segment and whether it is all dots so far.
    let mut length = 0usize;
    let mut dots = true;
    for &byte in raw.as_bytes().iter().skip(1) {
        if byte == b'/' {
            if length == 0 || (dots && length <= 2) {
                return false;
            }
            length = 0;
            dots = true;
            previous = byte;
            continue;
        }
        let plain = is_plain(byte, options);
        if !plain || (options.case == PathCase::Lower && byte.is_ascii_uppercase()) {
            return false;
        }
        length += 1;
        dots &= byte == b'.';
        previous = byte;
    }
    if previous == b'/' {
        // `/` alone, or a trailing `/`.
        return raw.len() == 1 || options.trailing_slash == TrailingSlash::Keep;
    }
    !(dots && length <= 2)
}

fn is_unreserved(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~')
}

/// The sub-delimiters and `:` `@` a path segment holds raw (RFC 3986
/// `pchar`, without `;`): decoded from their escapes, since upstreams that
/// decode before routing read `%3A` as `:`.
fn is_sub_delimiter(byte: u8) -> bool {
    matches!(
        byte,
        b'!' | b'$' | b'&' | b'\'' | b'(' | b')' | b'*' | b'+' | b',' | b'=' | b':' | b'@'
    )
}

/// Characters a segment may hold raw in the canonical form besides the
/// unreserved ones (RFC 3986 `pchar`, without `;` unless kept).
fn is_plain(byte: u8, options: &PathOptions) -> bool {
    is_unreserved(byte)
        || is_sub_delimiter(byte)
        || (byte == b';' && options.path_parameters == PathParameters::Keep)
}

struct Decoded {
    /// The segment's canonical text.
    text: String,
    /// Whether a `.` in it came from `%2E`.
    encoded_dot: bool,
}

const HEX: &[u8; 16] = b"0123456789ABCDEF";

fn push_escaped(out: &mut String, byte: u8) {
    out.push('%');
    out.push(char::from(
        HEX.get(usize::from(byte >> 4)).copied().unwrap_or(b'0'),
    ));
    out.push(char::from(
        HEX.get(usize::from(byte & 15)).copied().unwrap_or(b'0'),
    ));
}

fn hex_value(byte: u8) -> Option<u8> {
    match byte {
        b'0'..=b'9' => Some(byte - b'0'),
        b'a'..=b'f' => Some(byte - b'a' + 10),
        b'A'..=b'F' => Some(byte - b'A' + 10),
        _ => None,
    }
}

/// Whether `text` holds `%25` followed by two hex digits (`%2561`, which a
/// second decoding makes `a`, so `/api/%2561dmin` is `/api/admin` to an
/// upstream that decodes twice) or by `u` (`%25u002e`, the legacy `%u`
/// escape).
fn double_encodes(text: &str) -> bool {
    text.as_bytes().windows(5).any(|w| match w {
        [b'%', b'2', b'5', b'u' | b'U', _] => true,
        [b'%', b'2', b'5', high, low] => hex_value(*high).is_some() && hex_value(*low).is_some(),
        _ => false,
    }) || text.ends_with("%25u")
        || text.ends_with("%25U")
}

/// One segment's canonical text (see the crate docs, steps 1 and 3).
fn decode_segment(piece: &str, options: &PathOptions) -> Result<Decoded, PathRefusal> {
    let mut text = String::with_capacity(piece.len());
    // The bytes the segment stands for, to check they are UTF-8.
    let mut meaning: Vec<u8> = Vec::with_capacity(piece.len());
    let mut encoded_dot = false;
    let bytes = piece.as_bytes();
    let mut i = 0;
    while let Some(&byte) = bytes.get(i) {
        i += 1;
        if byte == b'%' {
            let (Some(high), Some(low)) = (
                bytes.get(i).copied().and_then(hex_value),
                bytes.get(i + 1).copied().and_then(hex_value),
            ) else {
                return Err(PathRefusal::InvalidPercentEncoding);
            };
            i += 2;
            let value = high << 4 | low;
            match value {
                b'/' | b'\\' => match options.encoded_delimiters {
                    EncodedDelimiters::Refuse => return Err(PathRefusal::EncodedSlash),
                    EncodedDelimiters::Keep => push_escaped(&mut text, value),
                },
                b'?' | b'#' => match options.encoded_delimiters {
                    EncodedDelimiters::Refuse => return Err(PathRefusal::EncodedDelimiter),
                    EncodedDelimiters::Keep => push_escaped(&mut text, value),
                },
                // Refused under Strip too: parameters are stripped before
                // decoding, so `..%3B` would stay a segment here and become
                // `..;` (stripped to `..`) to a server that decodes first.
                b';' if options.path_parameters != PathParameters::Keep => {
                    return Err(PathRefusal::PathParameter);
                }
                // Kept as data: one spelling, as for the other sub-delimiters.
                b';' => text.push(';'),
                _ if value < 0x20 || value == 0x7f => return Err(PathRefusal::ControlCharacter),
                _ if is_unreserved(value) => {
                    encoded_dot |= value == b'.';
                    push_letter(&mut text, value, options);
                }
                _ if is_sub_delimiter(value) => text.push(char::from(value)),
                _ => push_escaped(&mut text, value),
            }
            meaning.push(value);
            continue;
        }
        if byte < 0x20 || byte == 0x7f {
            return Err(PathRefusal::ControlCharacter);
        }
        match byte {
            b'\\' => return Err(PathRefusal::Backslash),
            b'?' | b'#' => return Err(PathRefusal::QueryInPath),
            _ if is_plain(byte, options) => push_letter(&mut text, byte, options),
            _ => push_escaped(&mut text, byte),
        }
        meaning.push(byte);
    }
    let Ok(meaning) = std::str::from_utf8(&meaning) else {
        return Err(PathRefusal::InvalidUtf8);
    };
    if options.case == PathCase::Lower && meaning.chars().any(folds_to_ascii) {
        return Err(PathRefusal::AmbiguousCase);
    }
    // Checked on the result, where `%25%32%65` has become `%252e`: what a
    // second decoding would make of it.
    if double_encodes(&text) {
        return Err(PathRefusal::DoubleEncoding);
    }
    Ok(Decoded { text, encoded_dot })
}

/// Whether a non-ASCII character has an ASCII letter in its Unicode upper
/// or lower case (`K` the Kelvin sign is `k`, `ı` is `I`, `ſ` is `S`, `İ`
/// is `i̇`): a case-insensitive upstream that folds Unicode reads it as
/// that letter.
fn folds_to_ascii(c: char) -> bool {
    !c.is_ascii()
        && c.to_lowercase()
            .chain(c.to_uppercase())
            .any(|f| f.is_ascii())
}

fn push_letter(out: &mut String, byte: u8, options: &PathOptions) {
    let byte = match options.case {
        PathCase::Lower => byte.to_ascii_lowercase(),
        PathCase::Sensitive => byte,
    };
    out.push(char::from(byte));
}

#[cfg(test)]
mod tests;
