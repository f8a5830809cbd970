//! Grants: the routes an allow covers, and whether one covers a request.
//!
//! A grant is a method and a path pattern:
//!
//! - method: a name (`GET`, compared without regard to case), or `*` for any method;
//! - path: `/`-separated segments; a `*` or `{name}` segment matches exactly
//!   one non-empty segment; a final `/*` or `/{name+}` matches any rest
//!   (`/orders/*` matches `/orders/`, `/orders/1`, `/orders/1/items`, not
//!   `/orders`); `/*` matches every path; anything else matches itself.
//!
//! Every door needs "does this grant cover this request" (API Gateway's
//! simple responses, the edge's answers), so it is answered here, once.

use crate::Grant;

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
        let raw: Vec<&str> = body.split('/').collect();
        let last = raw.len() - 1;
        let segments = raw
            .iter()
            .enumerate()
            .map(|(i, s)| {
                let is_param = s.len() > 2 && s.starts_with('{') && s.ends_with('}');
                let greedy = is_param && s.ends_with("+}");
                match (*s, i == last) {
                    ("*", true) => Segment::Rest,
                    ("*", false) => Segment::One,
                    _ if greedy && i == last => Segment::Rest,
                    _ if is_param && !greedy => Segment::One,
                    _ => Segment::Literal(s.to_string()),
                }
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
        let Some(mut rest) = path.strip_prefix('/') else {
            return false;
        };
        for (i, segment) in self.segments.iter().enumerate() {
            let is_last = i + 1 == self.segments.len();
            let head = match segment {
                // Only ever last: whatever is left, even nothing.
                Segment::Rest => return true,
                Segment::Literal(_) | Segment::One => rest.split_once('/'),
            };
            let (head, tail) = match head {
                Some((head, tail)) => (head, Some(tail)),
                None => (rest, None),
            };
            let ok = match segment {
                Segment::Literal(s) => s == head,
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
}

/// Whether `grant` covers `method` `path`: every front door asks this of
/// an allow (the module decided the grants; a door only reads them).
pub fn grant_matches(grant: &Grant, method: &str, path: &str) -> bool {
    let method_ok = grant.method == "*" || grant.method.eq_ignore_ascii_case(method);
    method_ok && PathPattern::parse(&grant.path).is_some_and(|p| p.matches(path))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grant(method: &str, path: &str) -> Grant {
        Grant {
            method: method.into(),
            path: path.into(),
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
