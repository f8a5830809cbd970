//! Grants: the routes an allow covers, and whether one covers a request.
//!
//! A grant is a method and a path pattern:
//!
//! - method: a name (`GET`, compared exactly: methods are case-sensitive
//!   tokens, RFC 9110, so `get` is another method), or `*` for any method;
//! - path: `/`-separated segments; a `*` or `{name}` segment matches exactly
//!   one non-empty segment; a final `/*` or `/{name+}` matches any rest
//!   (`/orders/*` matches `/orders/`, `/orders/1`, `/orders/1/items`, not
//!   `/orders`); `/*` matches every path; anything else matches itself.
//!
//! A grant also has an effect, allow or deny, and a list of grants is
//! ordered: the first grant that matches a route decides it, and a route
//! that no grant matches is refused ([`route_granted`]). The default module
//! orders its grants most specific first ([`PathPattern::specificity`]), so
//! a deny grant carves an exception out of a broader allow that follows it.
//!
//! Every door needs "does this list of grants cover this request" (API
//! Gateway's simple responses, the edge's answers, a token cache), so it is
//! answered here, once.

use std::cmp::Ordering;

use crate::{Effect, Grant};

/// The most grants an IAM policy is built from (the Lambda door): a token
/// with more is answered for the requested route only, and a policy with
/// more rules than this is warned about at load.
pub const MAX_IAM_GRANTS: usize = 256;

impl Grant {
    /// A grant letting `method` `path` through.
    pub fn allow(method: impl Into<String>, path: impl Into<String>) -> Self {
        Grant {
            effect: Effect::Allow,
            method: method.into(),
            path: path.into(),
        }
    }

    /// A grant keeping `method` `path` out.
    pub fn deny(method: impl Into<String>, path: impl Into<String>) -> Self {
        Grant {
            effect: Effect::Deny,
            method: method.into(),
            path: path.into(),
        }
    }
}

/// One parsed path segment of a grant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Segment {
    /// Matches itself.
    Literal(String),
    /// `*` or `{name}`: exactly one non-empty segment.
    One,
    /// A final `*` or `{name+}`: any rest.
    Rest,
}

/// A grant's path pattern, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathPattern {
    segments: Vec<Segment>,
}

impl PathPattern {
    /// Parse a pattern; `None` unless it starts with `/`.
    pub fn parse(pattern: &str) -> Option<Self> {
        let body = pattern.strip_prefix('/')?;
        let segments = pattern_segments(body)
            .map(|segment| match segment {
                SegmentRef::Literal(s) => Segment::Literal(s.to_string()),
                SegmentRef::One => Segment::One,
                SegmentRef::Rest => Segment::Rest,
            })
            .collect();
        Some(PathPattern { segments })
    }

    /// The segments, in order.
    pub fn segments(&self) -> &[Segment] {
        &self.segments
    }

    /// True for `/*`: every path.
    pub fn is_everything(&self) -> bool {
        self.segments == [Segment::Rest]
    }

    /// Whether `path` (absolute, without query) matches.
    pub fn matches(&self, path: &str) -> bool {
        segments_match(self.segments.iter().map(Segment::as_ref), path)
    }
}

/// A path segment of a pattern, borrowed from the pattern's text: what
/// [`grant_matches`] reads without parsing (allocating) a [`PathPattern`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SegmentRef<'a> {
    Literal(&'a str),
    One,
    Rest,
}

impl Segment {
    fn as_ref(&self) -> SegmentRef<'_> {
        match self {
            Segment::Literal(s) => SegmentRef::Literal(s),
            Segment::One => SegmentRef::One,
            Segment::Rest => SegmentRef::Rest,
        }
    }
}

/// The one reading of a pattern segment's text (`is_last`: the pattern's
/// final segment, where `*` and `{name+}` match any rest).
fn classify(text: &str, is_last: bool) -> SegmentRef<'_> {
    let is_param = text.len() > 2 && text.starts_with('{') && text.ends_with('}');
    let greedy = is_param && text.ends_with("+}");
    match (text, is_last) {
        ("*", true) => SegmentRef::Rest,
        ("*", false) => SegmentRef::One,
        _ if greedy && is_last => SegmentRef::Rest,
        _ if is_param && !greedy => SegmentRef::One,
        _ => SegmentRef::Literal(text),
    }
}

/// The segments of a pattern's text after its leading `/` (at least one),
/// read as they are iterated.
fn pattern_segments(body: &str) -> impl Iterator<Item = SegmentRef<'_>> {
    let mut rest = Some(body);
    std::iter::from_fn(move || {
        let text = rest?;
        Some(match text.split_once('/') {
            Some((head, tail)) => {
                rest = Some(tail);
                classify(head, false)
            }
            None => {
                rest = None;
                classify(text, true)
            }
        })
    })
}

/// The one path matcher: whether `path` (absolute, without query) matches
/// a pattern's `segments`.
fn segments_match<'a>(segments: impl Iterator<Item = SegmentRef<'a>>, path: &str) -> bool {
    let Some(mut rest) = path.strip_prefix('/') else {
        return false;
    };
    let mut segments = segments.peekable();
    while let Some(segment) = segments.next() {
        let is_last = segments.peek().is_none();
        let head = match segment {
            // Only ever last: whatever is left, even nothing.
            SegmentRef::Rest => return true,
            SegmentRef::Literal(_) | SegmentRef::One => rest.split_once('/'),
        };
        let (head, tail) = match head {
            Some((head, tail)) => (head, Some(tail)),
            None => (rest, None),
        };
        let ok = match segment {
            SegmentRef::Literal(s) => s == head,
            _ => !head.is_empty(),
        };
        match (ok, tail) {
            (false, _) => return false,
            // The path ended: a match only if the pattern did too.
            (true, None) => return is_last,
            (true, Some(_)) if is_last => return false,
            (true, Some(tail)) => rest = tail,
        }
    }
    false
}

/// Whether `grant`'s method and pattern match `method` `path`, whatever
/// its effect. Reads the pattern as it goes, allocating nothing (a token
/// cache matches every hit's grants this way), exactly as
/// [`PathPattern::matches`] would after [`PathPattern::parse`].
pub fn grant_matches(grant: &Grant, method: &str, path: &str) -> bool {
    let method_ok = grant.method == "*" || grant.method == method;
    method_ok
        && grant
            .path
            .strip_prefix('/')
            .is_some_and(|body| segments_match(pattern_segments(body), path))
}

/// The grant that decides `method` `path`: the first that matches.
pub fn deciding_grant<'a>(grants: &'a [Grant], method: &str, path: &str) -> Option<&'a Grant> {
    grants.iter().find(|g| grant_matches(g, method, path))
}

/// Whether an allow's grants let `method` `path` through: the first
/// matching grant decides, and no match is a refusal. Every front door asks
/// this of an allow (the module decided the grants; a door only reads them).
pub fn route_granted(grants: &[Grant], method: &str, path: &str) -> bool {
    deciding_grant(grants, method, path).is_some_and(|g| g.effect == Effect::Allow)
}

impl Segment {
    /// Literal before one segment before any rest.
    fn rank(&self) -> u8 {
        match self {
            Segment::Literal(_) => 0,
            Segment::One => 1,
            Segment::Rest => 2,
        }
    }

    /// Whether some path segment(s) match both.
    fn meets(&self, other: &Segment) -> bool {
        match (self, other) {
            (Segment::Literal(a), Segment::Literal(b)) => a == b,
            (Segment::Literal(s), Segment::One) | (Segment::One, Segment::Literal(s)) => {
                !s.is_empty()
            }
            _ => true,
        }
    }
}

impl PathPattern {
    /// Specificity order: [`Ordering::Less`] when `self` is more specific.
    /// Segments are compared left to right; at the first that differs in
    /// kind, a literal beats a one-segment wildcard, which beats a rest.
    /// For two patterns that match a common path this is a strict order
    /// unless they have the same shape (the same kinds, equal literals).
    pub fn specificity(&self, other: &PathPattern) -> Ordering {
        for (a, b) in self.segments.iter().zip(&other.segments) {
            match a.rank().cmp(&b.rank()) {
                Ordering::Equal => {}
                unequal => return unequal,
            }
            if let (Segment::Literal(x), Segment::Literal(y)) = (a, b)
                && x != y
            {
                // Disjoint: any stable order will do.
                return x.cmp(y);
            }
        }
        self.segments.len().cmp(&other.segments.len())
    }

    /// Whether some path matches both patterns.
    pub fn overlaps(&self, other: &PathPattern) -> bool {
        let (a, b) = (&self.segments, &other.segments);
        for i in 0.. {
            match (a.get(i), b.get(i)) {
                (None, None) => return true,
                // A rest needs its `/`: `/a/*` does not match `/a`.
                (Some(Segment::Rest), Some(_)) | (Some(_), Some(Segment::Rest)) => return true,
                (Some(x), Some(y)) if x.meets(y) => {}
                _ => return false,
            }
        }
        false
    }

    /// Whether every path `other` matches, `self` matches too.
    pub fn covers(&self, other: &PathPattern) -> bool {
        let (a, b) = (&self.segments, &other.segments);
        for i in 0.. {
            match (a.get(i), b.get(i)) {
                (None, None) => return true,
                (Some(Segment::Rest), Some(_)) => return true,
                (Some(Segment::One), Some(Segment::One)) => {}
                // `*` needs a non-empty segment.
                (Some(Segment::One), Some(Segment::Literal(l))) if !l.is_empty() => {}
                (Some(Segment::Literal(x)), Some(Segment::Literal(y))) if x == y => {}
                _ => return false,
            }
        }
        false
    }
}

/// Whether two grant methods (a name or `*`) share a method.
pub fn methods_overlap(a: &str, b: &str) -> bool {
    a == "*" || b == "*" || a == b
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grant(method: &str, path: &str) -> Grant {
        Grant::allow(method, path)
    }

    fn pattern(text: &str) -> PathPattern {
        PathPattern::parse(text).unwrap()
    }

    #[test]
    fn the_first_matching_grant_decides() {
        let grants = [
            Grant::deny("GET", "/orders/admin"),
            Grant::allow("GET", "/orders/*"),
            Grant::allow("*", "/public/*"),
        ];
        assert!(route_granted(&grants, "GET", "/orders/1"));
        assert!(!route_granted(&grants, "GET", "/orders/admin"));
        assert!(route_granted(&grants, "GET", "/orders/admin/x"));
        assert!(
            !route_granted(&grants, "POST", "/orders/1"),
            "no grant matches"
        );
        assert!(route_granted(&grants, "DELETE", "/public/a"));
        assert!(!route_granted(&[], "GET", "/"));
    }

    #[test]
    fn specificity_puts_literals_before_wildcards_before_rests() {
        let ordered = ["/orders/admin", "/orders/{id}", "/orders/*", "/*"];
        for (i, a) in ordered.iter().enumerate() {
            for b in ordered.iter().skip(i + 1) {
                assert_eq!(
                    pattern(a).specificity(&pattern(b)),
                    Ordering::Less,
                    "{a} {b}"
                );
                assert_eq!(
                    pattern(b).specificity(&pattern(a)),
                    Ordering::Greater,
                    "{b} {a}"
                );
            }
        }
        assert_eq!(
            pattern("/a/{x}").specificity(&pattern("/a/*/")),
            Ordering::Less,
            "same rank, shorter first"
        );
        assert_eq!(
            pattern("/t/{a}/x").specificity(&pattern("/t/{b}/x")),
            Ordering::Equal
        );
    }

    #[test]
    fn overlap_and_cover_agree_with_matching() {
        let patterns = [
            "/", "/*", "/a", "/a/*", "/a/{x}", "/a/b", "/a/{x}/c", "/a/b/*", "/{x}/b", "/b/*",
        ];
        let paths = [
            "/", "/a", "/a/", "/a/b", "/a/c", "/a/b/c", "/a/x/c", "/b", "/b/b", "/x/b", "/a/b/c/d",
        ];
        for a in patterns {
            for b in patterns {
                let (pa, pb) = (pattern(a), pattern(b));
                let common = paths.iter().any(|p| pa.matches(p) && pb.matches(p));
                if common {
                    assert!(pa.overlaps(&pb), "{a} and {b} share a path");
                }
                if pa.covers(&pb) {
                    for p in paths {
                        assert!(
                            !pb.matches(p) || pa.matches(p),
                            "{a} covers {b} but not {p}"
                        );
                    }
                }
            }
        }
        assert!(!pattern("/a").overlaps(&pattern("/a/*")));
        assert!(!pattern("/a/{x}").overlaps(&pattern("/b/{x}")));
        assert!(pattern("/a/*").covers(&pattern("/a/{x}/c")));
        assert!(!pattern("/a/{x}").covers(&pattern("/a/*")));
        assert!(!pattern("/{id}").covers(&pattern("/")));
    }

    #[test]
    fn reading_a_pattern_as_it_goes_matches_as_parsing_it_first() {
        let patterns = [
            "/",
            "/*",
            "//",
            "/a",
            "/a/",
            "/a/*",
            "/a/*/",
            "/a/{x}",
            "/a/{x+}",
            "/a/{x+}/b",
            "/a/{}",
            "/a/{+}",
            "/{x}/b/*",
            "/*/*",
            "/a/*/c",
            "/a//b",
            "a",
            "",
            "/a/{x}/{y+}",
        ];
        let paths = [
            "",
            "/",
            "//",
            "/a",
            "/a/",
            "/a//",
            "/a/b",
            "/a/b/",
            "/a/b/c",
            "/a/x/c",
            "/b/b",
            "/x/b/c",
            "/a//b",
            "/a/{x}",
            "/a/{x+}/b",
            "a",
            "/a/b/c/d",
        ];
        for pattern in patterns {
            for path in paths {
                let parsed = PathPattern::parse(pattern).is_some_and(|p| p.matches(path));
                assert_eq!(
                    grant_matches(&grant("GET", pattern), "GET", path),
                    parsed,
                    "{pattern:?} vs {path:?}"
                );
            }
        }
    }

    #[test]
    fn patterns_match_one_segment_and_rest() {
        let cases = [
            ("/*", "/", true),
            ("/*", "/a/b", true),
            ("/orders/*", "/orders/", true),
            ("/orders/*", "/orders/1", true),
            ("/orders/*", "/orders/1/items", true),
            ("/orders/*", "/orders", false),
            ("/orders/*", "/ordersx/1", false),
            ("/orders/*/items", "/orders/1/items", true),
            ("/orders/*/items", "/orders/1/2/items", false),
            ("/orders/*/items", "/orders//items", false),
            ("/orders/{id}", "/orders/1", true),
            ("/orders/{id}", "/orders/1/2", false),
            ("/orders/{id}", "/orders/", false),
            ("/files/{proxy+}", "/files/a/b", true),
            ("/orders", "/orders", true),
            ("/orders", "/orders/", false),
            ("/orders", "/Orders", false),
            ("/", "/", true),
            ("/", "/a", false),
            ("orders", "/orders", false),
        ];
        for (pattern, path, want) in cases {
            assert_eq!(
                grant_matches(&grant("GET", pattern), "GET", path),
                want,
                "{pattern} vs {path}"
            );
        }
        assert!(grant_matches(&grant("*", "/a"), "DELETE", "/a"));
        assert!(!grant_matches(&grant("POST", "/a"), "GET", "/a"));
    }
}
