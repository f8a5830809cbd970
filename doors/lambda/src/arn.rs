//! execute-api ARNs and the routes of a decision's grants as ARNs.
//!
//! An event's method ARN (REST, HTTP 1.0) or route ARN (HTTP 2.0) reads
//! `arn:<partition>:execute-api:<region>:<account>:<api-id>/<stage>/<METHOD>/<path>`.
//! Policies are built from its own partition (`aws`, `aws-cn`,
//! `aws-us-gov`), region, account, API id and stage (`$default` included),
//! never from configuration, so one function serves any API.
//!
//! ## Grant patterns
//!
//! A grant is a method and a path pattern:
//!
//! - method: a name (`GET`), or `*` for any method;
//! - path: `/`-separated segments; a `*` or `{name}` segment matches exactly
//!   one non-empty segment; a final `/*` or `/{name+}` matches any rest
//!   (`/orders/*` matches `/orders/`, `/orders/1`, `/orders/1/items`, not
//!   `/orders`); `/*` matches every path; anything else matches itself.
//!
//! ## Why some grants cannot be ARNs
//!
//! In an IAM `Resource`, `*` matches any run of characters **including `/`**
//! and `?` any single character. So:
//!
//! - a method `*` followed by a path would also match across segments
//!   (`…/*/orders` matches `…/GET/internal/orders`): any-method grants are
//!   written out for each method API Gateway routes (GET, POST, PUT, PATCH,
//!   DELETE, HEAD, OPTIONS), except `* /*`, which is the whole stage;
//! - a final `/*` is exact: "this prefix, then anything";
//! - a one-segment `*` or `{name}` in the middle **cannot** be written: an
//!   ARN `orders/*/items` also matches `orders/a/b/items`. Such a grant
//!   (and a literal segment containing `*`, `?`, `{` or `}`) is never
//!   widened: it yields the event's own ARN when the requested route matches
//!   it, and nothing otherwise. The policy then depends on the route, so the
//!   authorizer must not be cached per token alone (TTL 0, or the route in
//!   the identity sources); a warning says so.

use tollgate_host::model::Grant;
use tollgate_host::model::grants::{PathPattern, Segment, grant_matches};

/// The methods API Gateway routes; an any-method grant is written out as these.
pub const METHODS: [&str; 7] = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"];

/// A parsed execute-api ARN.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecuteApiArn {
    /// `aws`, `aws-cn`, `aws-us-gov`, …
    pub partition: String,
    /// e.g. `eu-west-1`.
    pub region: String,
    /// The account id.
    pub account: String,
    /// The API id.
    pub api_id: String,
    /// The stage (`prod`, `$default`, or `*` in console test invocations).
    pub stage: String,
    /// The method as written in the ARN (`GET`; `$default` for an HTTP API's default route).
    pub method: String,
    /// The path with its leading `/` (`/` when the ARN ends after the method).
    pub path: String,
}

impl ExecuteApiArn {
    /// Parse `arn:<partition>:execute-api:<region>:<account>:<api>/<stage>/<method>[/<path>]`.
    /// The path may itself contain `:` and `/`.
    pub fn parse(arn: &str) -> Option<Self> {
        let mut parts = arn.splitn(6, ':');
        let (prefix, partition, service, region, account, resource) = (
            parts.next()?,
            parts.next()?,
            parts.next()?,
            parts.next()?,
            parts.next()?,
            parts.next()?,
        );
        if prefix != "arn" || service != "execute-api" || partition.is_empty() {
            return None;
        }
        let mut pieces = resource.splitn(4, '/');
        let api_id = pieces.next()?;
        let stage = pieces.next()?;
        let method = pieces.next()?;
        let rest = pieces.next().unwrap_or("");
        if api_id.is_empty() || stage.is_empty() || method.is_empty() {
            return None;
        }
        Some(ExecuteApiArn {
            partition: partition.to_string(),
            region: region.to_string(),
            account: account.to_string(),
            api_id: api_id.to_string(),
            stage: stage.to_string(),
            method: method.to_string(),
            path: format!("/{rest}"),
        })
    }

    /// `arn:<partition>:execute-api:<region>:<account>:<api>/<stage>`.
    pub fn stage_arn(&self) -> String {
        format!(
            "arn:{}:execute-api:{}:{}:{}/{}",
            self.partition, self.region, self.account, self.api_id, self.stage
        )
    }
}

/// A grant's path as an ARN path, when it can be written exactly (see the
/// module docs): literal segments and a final `*`.
fn arn_path(pattern: &PathPattern) -> Option<String> {
    let mut out = Vec::with_capacity(pattern.segments().len());
    for segment in pattern.segments() {
        match segment {
            Segment::Literal(s) if s.contains(['*', '?', '{', '}']) => return None,
            Segment::Literal(s) => out.push(s.as_str()),
            Segment::One => return None,
            Segment::Rest => out.push("*"),
        }
    }
    Some(out.join("/"))
}

/// The `Allow` resources for a set of grants.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GrantResources {
    /// execute-api ARNs, sorted and without duplicates.
    pub resources: Vec<String>,
    /// Grants that could not be written as ARNs (see the module docs).
    pub inexpressible: Vec<Grant>,
    /// The event's route is an HTTP API's `$default` route, whose ARN
    /// (`…/<stage>/$default`) is the same for every path, and it was allowed
    /// for grants that do not cover every path: a cached answer then covers
    /// all of that route's paths.
    pub default_route_per_path: bool,
}

/// The ARNs allowing exactly `grants` in the event's stage. `requested` is
/// the event's own ARN, used only for inexpressible grants that match the
/// requested `method` `path`, and for an HTTP API's `$default` route (whose
/// ARN no method/path ARN matches) when a grant covers the request. Never
/// when it holds an IAM wildcard (`*`, `?`): it carries the client's own
/// path, and a wildcard would widen the cached Allow beyond the route asked.
pub fn grant_resources(
    event_arn: &ExecuteApiArn,
    requested: &str,
    method: &str,
    path: &str,
    grants: &[Grant],
) -> GrantResources {
    let base = event_arn.stage_arn();
    let mut out = GrantResources::default();
    let requested_is_exact = !requested.contains(['*', '?']);
    for grant in grants {
        let exact = valid_method(&grant.method)
            .then(|| PathPattern::parse(&grant.path))
            .flatten()
            .and_then(|pattern| {
                let arn_path = arn_path(&pattern)?;
                Some(if grant.method == "*" && pattern.is_everything() {
                    vec![format!("{base}/*/*")]
                } else if grant.method == "*" {
                    METHODS
                        .iter()
                        .map(|m| format!("{base}/{m}/{arn_path}"))
                        .collect()
                } else {
                    vec![format!(
                        "{base}/{}/{arn_path}",
                        grant.method.to_ascii_uppercase()
                    )]
                })
            });
        match exact {
            Some(arns) => out.resources.extend(arns),
            None => {
                if valid_method(&grant.method)
                    && requested_is_exact
                    && grant_matches(grant, method, path)
                {
                    out.resources.push(requested.to_string());
                }
                out.inexpressible.push(grant.clone());
            }
        }
    }
    if event_arn.method == "$default"
        && requested_is_exact
        && grants.iter().any(|g| grant_matches(g, method, path))
    {
        out.resources.push(requested.to_string());
        out.default_route_per_path = !grants.iter().any(|g| {
            g.method == "*" && PathPattern::parse(&g.path).is_some_and(|p| p.is_everything())
        });
    }
    out.resources.sort();
    out.resources.dedup();
    out
}

/// `*`, or an HTTP method token without ARN wildcard characters.
fn valid_method(method: &str) -> bool {
    method == "*"
        || (!method.is_empty()
            && method
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grant(method: &str, path: &str) -> Grant {
        Grant::allow(method, path)
    }

    const ARN: &str = "arn:aws:execute-api:eu-west-1:123456789012:abc123/prod/GET/orders/42";

    #[test]
    fn parses_partitions_stages_and_paths() {
        let arn = ExecuteApiArn::parse(ARN).unwrap();
        assert_eq!(arn.partition, "aws");
        assert_eq!(arn.region, "eu-west-1");
        assert_eq!(arn.account, "123456789012");
        assert_eq!(arn.api_id, "abc123");
        assert_eq!(arn.stage, "prod");
        assert_eq!(arn.method, "GET");
        assert_eq!(arn.path, "/orders/42");

        let cn = ExecuteApiArn::parse(
            "arn:aws-cn:execute-api:cn-north-1:111122223333:xyz/$default/POST/a:b/c",
        )
        .unwrap();
        assert_eq!(cn.partition, "aws-cn");
        assert_eq!(cn.stage, "$default");
        assert_eq!(cn.path, "/a:b/c");
        assert_eq!(
            cn.stage_arn(),
            "arn:aws-cn:execute-api:cn-north-1:111122223333:xyz/$default"
        );

        let root =
            ExecuteApiArn::parse("arn:aws:execute-api:us-west-2:123456789012:ymy8tbxw7b/*/GET/")
                .unwrap();
        assert_eq!((root.stage.as_str(), root.path.as_str()), ("*", "/"));
        let bare = ExecuteApiArn::parse("arn:aws:execute-api:us-west-2:1:api/stage/GET").unwrap();
        assert_eq!(bare.path, "/");

        for bad in [
            "",
            "arn:aws:lambda:us-east-1:1:function:f",
            "arn:aws:execute-api:us-east-1:1:api",
            "arn:aws:execute-api:us-east-1:1:api/stage",
            "nope:aws:execute-api:r:a:api/s/GET/x",
            "arn::execute-api:r:a:api/s/GET/x",
        ] {
            assert_eq!(ExecuteApiArn::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn everything_is_one_stage_wildcard() {
        let arn = ExecuteApiArn::parse(ARN).unwrap();
        let got = grant_resources(&arn, ARN, "GET", "/orders/42", &[grant("*", "/*")]);
        assert_eq!(
            got.resources,
            ["arn:aws:execute-api:eu-west-1:123456789012:abc123/prod/*/*"]
        );
        assert!(got.inexpressible.is_empty());
    }

    #[test]
    fn any_method_is_written_out_so_star_cannot_cross_segments() {
        let arn = ExecuteApiArn::parse(ARN).unwrap();
        let got = grant_resources(&arn, ARN, "GET", "/orders/42", &[grant("*", "/orders/*")]);
        let base = "arn:aws:execute-api:eu-west-1:123456789012:abc123/prod";
        let mut want: Vec<String> = METHODS
            .iter()
            .map(|m| format!("{base}/{m}/orders/*"))
            .collect();
        want.sort();
        assert_eq!(got.resources, want);
        assert!(got.resources.iter().all(|r| !r.contains("/*/orders")));
    }

    #[test]
    fn exact_and_prefix_grants() {
        let arn = ExecuteApiArn::parse(ARN).unwrap();
        let got = grant_resources(
            &arn,
            ARN,
            "GET",
            "/orders/42",
            &[
                grant("get", "/orders"),
                grant("POST", "/orders/*"),
                grant("GET", "/"),
                grant("GET", "/orders"),
                grant("GET", "/files/{proxy+}"),
            ],
        );
        let base = "arn:aws:execute-api:eu-west-1:123456789012:abc123/prod";
        assert_eq!(
            got.resources,
            [
                format!("{base}/GET/"),
                format!("{base}/GET/files/*"),
                format!("{base}/GET/orders"),
                format!("{base}/POST/orders/*"),
            ]
        );
    }

    #[test]
    fn one_segment_wildcards_are_never_widened() {
        let arn = ExecuteApiArn::parse(ARN).unwrap();
        // Matches the requested route: exactly that route, nothing wider.
        let got = grant_resources(
            &arn,
            ARN,
            "GET",
            "/orders/42",
            &[grant("GET", "/orders/{id}")],
        );
        assert_eq!(got.resources, [ARN]);
        assert_eq!(got.inexpressible, [grant("GET", "/orders/{id}")]);
        // Does not match it: nothing.
        let got = grant_resources(
            &arn,
            ARN,
            "GET",
            "/orders/42",
            &[grant("GET", "/users/*/x")],
        );
        assert!(got.resources.is_empty());
        assert_eq!(got.inexpressible.len(), 1);
        // Literal wildcard characters and odd methods are not passed into ARNs.
        for g in [
            grant("GET", "/a?b"),
            grant("GET", "/a*"),
            grant("G*T", "/orders/42"),
        ] {
            let got = grant_resources(&arn, ARN, "GET", "/orders/42", std::slice::from_ref(&g));
            assert!(
                got.resources.iter().all(|r| r == ARN) && !got.inexpressible.is_empty(),
                "{g:?}: {got:?}"
            );
        }
        let got = grant_resources(
            &arn,
            ARN,
            "GET",
            "/orders/42",
            &[grant("G*T", "/orders/42")],
        );
        assert!(got.resources.is_empty());
    }

    #[test]
    fn a_requested_path_with_iam_wildcards_is_never_copied_into_an_allow() {
        // A client asks for `/orders/*`: `*` is a valid `{id}` segment for
        // the grant, but copied into the Allow it would match every path
        // under `/orders/` for as long as the answer is cached.
        let requested = ARN.replace("/orders/42", "/orders/*");
        let arn = ExecuteApiArn::parse(&requested).unwrap();
        for path in ["/orders/*", "/orders/?"] {
            let requested = ARN.replace("/orders/42", path);
            let got = grant_resources(
                &arn,
                &requested,
                "GET",
                path,
                &[grant("GET", "/orders/{id}")],
            );
            assert!(got.resources.is_empty(), "{path}: {got:?}");
            assert_eq!(got.inexpressible.len(), 1);
        }
        // An expressible grant is written from the grant, not the request.
        let got = grant_resources(
            &arn,
            &requested,
            "GET",
            "/orders/*",
            &[grant("GET", "/orders/*")],
        );
        assert_eq!(got.resources, [ARN.replace("/orders/42", "/orders/*")]);
    }

    #[test]
    fn the_default_route_arn_is_allowed_when_a_grant_covers_the_request() {
        let event = "arn:aws:execute-api:eu-west-1:123456789012:abc123/prod/$default";
        let arn = ExecuteApiArn::parse(event).unwrap();
        let stage = "arn:aws:execute-api:eu-west-1:123456789012:abc123/prod";
        // Every path granted: cache-safe.
        let got = grant_resources(&arn, event, "GET", "/x/y", &[grant("*", "/*")]);
        assert_eq!(got.resources, [event.to_string(), format!("{stage}/*/*")]);
        assert!(!got.default_route_per_path);
        // Some paths granted, this one among them: allowed, flagged.
        let got = grant_resources(&arn, event, "GET", "/orders", &[grant("GET", "/orders")]);
        assert_eq!(
            got.resources,
            [event.to_string(), format!("{stage}/GET/orders")]
        );
        assert!(got.default_route_per_path);
        // Not covered: only the grants' own ARNs.
        let got = grant_resources(&arn, event, "GET", "/admin", &[grant("GET", "/orders")]);
        assert_eq!(got.resources, [format!("{stage}/GET/orders")]);
        assert!(!got.default_route_per_path);
        // A wildcard in the event's ARN is never copied.
        let wild = "arn:aws:execute-api:eu-west-1:123456789012:abc123/*/$default";
        let arn = ExecuteApiArn::parse(wild).unwrap();
        let got = grant_resources(&arn, wild, "GET", "/x", &[grant("*", "/*")]);
        assert!(!got.resources.iter().any(|r| r == wild), "{got:?}");
    }

    #[test]
    fn stage_and_partition_come_from_the_event() {
        let event = "arn:aws-cn:execute-api:cn-north-1:111122223333:xyz/$default/GET/a";
        let arn = ExecuteApiArn::parse(event).unwrap();
        let got = grant_resources(&arn, event, "GET", "/a", &[grant("GET", "/a")]);
        assert_eq!(
            got.resources,
            ["arn:aws-cn:execute-api:cn-north-1:111122223333:xyz/$default/GET/a"]
        );
    }
}
