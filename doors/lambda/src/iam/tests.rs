//! The translation checked against IAM itself: an evaluator of `Resource`
//! patterns (`*`, `?`, an explicit Deny wins) over every route up to depth
//! 4, for hand-written and generated grant sets.

use super::*;
use tollgate_host::model::grants::PathPattern;

const BASE: &str = "arn:aws:execute-api:eu-west-1:123456789012:abc123/prod";
const ARN: &str = "arn:aws:execute-api:eu-west-1:123456789012:abc123/prod/GET/orders/42";

fn allow(method: &str, path: &str) -> Grant {
    Grant::allow(method, path)
}

fn deny(method: &str, path: &str) -> Grant {
    Grant::deny(method, path)
}

fn arn_of(method: &str, path: &str) -> String {
    format!("{BASE}/{method}{path}")
}

fn res(tail: &str) -> String {
    format!("{BASE}/{tail}")
}

/// The statements for `grants` when `method` `path` is asked.
fn statements_at(method: &str, path: &str, grants: &[Grant]) -> GrantStatements {
    let requested = arn_of(method, path);
    let event = ExecuteApiArn::parse(&requested).unwrap();
    grant_statements(&event, &requested, method, path, grants)
}

/// IAM's `Resource` matching: `*` any run of characters (`/` too, or
/// none), `?` exactly one; everything else itself. (The classic matcher
/// that backs up to the last `*`.)
fn glob(pattern: &str, text: &str) -> bool {
    let (p, t) = (pattern.as_bytes(), text.as_bytes());
    let (mut i, mut j) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while j < t.len() {
        if i < p.len() && (p[i] == b'?' || (p[i] != b'*' && p[i] == t[j])) {
            i += 1;
            j += 1;
        } else if i < p.len() && p[i] == b'*' {
            star = Some((i, j));
            i += 1;
        } else if let Some((si, sj)) = star {
            star = Some((si, sj + 1));
            i = si + 1;
            j = sj + 1;
        } else {
            return false;
        }
    }
    p[i..].iter().all(|&c| c == b'*')
}

/// IAM's answer: some Allow matches and no Deny does.
fn iam_allows(statements: &GrantStatements, arn: &str) -> bool {
    let matches = |r: &String| glob(r, arn);
    statements.allow.iter().any(matches) && !statements.deny.iter().any(matches)
}

/// [`iam_allows`] for ARNs in `BASE`, matching only after the common
/// prefix (every resource here is in `BASE`; the tests assert it).
fn iam_allows_in_base(tails: &(Vec<String>, Vec<String>), arn: &str) -> bool {
    let arn = arn.strip_prefix(BASE).unwrap();
    let matches = |r: &String| glob(r, arn);
    tails.0.iter().any(matches) && !tails.1.iter().any(matches)
}

const ROUTE_METHODS: [&str; 3] = ["GET", "POST", "DELETE"];

/// Every path of 1 to 4 segments over `a`, `b`, `c` and the empty segment.
fn all_paths() -> Vec<String> {
    paths_over(&["a", "b", "c", ""], 4)
}

/// Every path of 1 to `depth` segments over `segments`.
fn paths_over(segments: &[&str], depth: usize) -> Vec<String> {
    let mut paths = Vec::new();
    let mut level: Vec<Vec<&str>> = vec![vec![]];
    for _ in 0..depth {
        level = level
            .iter()
            .flat_map(|p| {
                segments.iter().map(move |s| {
                    let mut p = p.clone();
                    p.push(s);
                    p
                })
            })
            .collect();
        paths.extend(level.iter().map(|p| format!("/{}", p.join("/"))));
    }
    paths
}

fn all_routes() -> Vec<(&'static str, String)> {
    routes_over(all_paths())
}

/// Every route over the literals of `grants`, the empty segment and one
/// other (`z`), up to depth 4 (3 when there are many literals).
fn routes_for(grants: &[Grant]) -> Vec<(&'static str, String)> {
    let mut segments: Vec<&str> = vec!["", "z"];
    for g in grants {
        for s in g.path.split('/').skip(1) {
            if !segments.contains(&s) && !s.contains(['*', '{']) {
                segments.push(s);
            }
        }
    }
    let depth = if segments.len() <= 6 { 4 } else { 3 };
    routes_over(paths_over(&segments, depth))
}

fn routes_over(paths: Vec<String>) -> Vec<(&'static str, String)> {
    ROUTE_METHODS
        .iter()
        .flat_map(|m| paths.iter().map(move |p| (*m, p.clone())))
        .collect()
}

/// Asserts what the statements promise, over every route: exact ones answer
/// every route as `route_granted` does; a fallback never allows a route the
/// grants refuse and answers the requested one as they do. Returns whether
/// they were exact.
fn check(grants: &[Grant], requested: (&str, &str), routes: &[(&str, String)]) -> bool {
    let (method, path) = requested;
    let got = statements_at(method, path, grants);
    for list in [&got.allow, &got.deny] {
        assert!(
            list.windows(2).all(|w| w[0] < w[1]),
            "sorted, no duplicates: {got:?}"
        );
    }
    assert!(
        got.allow.iter().chain(&got.deny).all(|r| !r.contains('?')),
        "{got:?}"
    );
    let tail = |r: &String| r.strip_prefix(BASE).map(str::to_string);
    let requested_arn = arn_of(method, path);
    let in_base = got.allow.iter().chain(&got.deny).all(|r| tail(r).is_some());
    assert!(in_base, "{got:?}");
    let tails = (
        got.allow.iter().filter_map(tail).collect::<Vec<_>>(),
        got.deny.iter().filter_map(tail).collect::<Vec<_>>(),
    );
    for (m, p) in routes {
        let want = route_granted(grants, m, p);
        let iam = iam_allows_in_base(&tails, &arn_of(m, p));
        if got.exact {
            assert_eq!(iam, want, "{m} {p} for {grants:?}: {got:#?}");
        } else {
            assert!(!iam || want, "{m} {p} widened for {grants:?}: {got:#?}");
        }
    }
    let asked = iam_allows(&got, &requested_arn);
    assert_eq!(
        asked,
        route_granted(grants, method, path),
        "{method} {path} for {grants:?}: {got:#?}"
    );
    if got.exact {
        // Independent of the route asked.
        let other = statements_at("DELETE", "/c", grants);
        assert_eq!((&other.allow, &other.deny), (&got.allow, &got.deny));
    } else {
        assert!(!got.blocking.is_empty(), "{grants:?}");
    }
    got.exact
}

/// xorshift64*: small, seeded, no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// 1 to 5 grants of 1 to 3 segments: literals `a`, `b` (now and then the
/// empty segment), one-segment `*` and `{id}`, final rests `*` and `{p+}`;
/// methods `GET`, `POST`, `*`; either effect. Half the sets are ordered
/// most specific first, as the default module orders them.
fn random_grants(rng: &mut Rng) -> Vec<Grant> {
    let count = 1 + rng.below(5);
    let mut grants: Vec<Grant> = (0..count)
        .map(|_| {
            let depth = 1 + rng.below(3);
            let segments: Vec<&str> = (0..depth)
                .map(|i| {
                    let last = i + 1 == depth;
                    match rng.below(if last { 11 } else { 9 }) {
                        0..=2 => "a",
                        3 | 4 => "b",
                        5 if rng.below(3) == 0 => "",
                        5 => "a",
                        6 if last => "{id}",
                        6 | 7 => "*",
                        8 => "{id}",
                        9 => "*",
                        _ => "{p+}",
                    }
                })
                .collect();
            let method = ["GET", "POST", "*"][rng.below(3)];
            let path = format!("/{}", segments.join("/"));
            if rng.below(2) == 0 {
                allow(method, &path)
            } else {
                deny(method, &path)
            }
        })
        .collect();
    if rng.below(2) == 0 {
        grants.sort_by(|a, b| {
            PathPattern::parse(&a.path)
                .unwrap()
                .specificity(&PathPattern::parse(&b.path).unwrap())
        });
    }
    grants
}

#[test]
fn every_generated_grant_set_is_answered_as_first_match_by_iam() {
    let routes = all_routes();
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let (mut exact, mut fallback) = (0, 0);
    for _ in 0..1000 {
        let grants = random_grants(&mut rng);
        for _ in 0..2 {
            let (m, p) = &routes[rng.below(routes.len())];
            if check(&grants, (m, p), &routes) {
                exact += 1;
            } else {
                fallback += 1;
            }
        }
    }
    // Both kinds of answer are exercised, and exact ones are the rule.
    assert!(exact > 1000, "exact {exact}, fallback {fallback}");
    assert!(fallback > 100, "exact {exact}, fallback {fallback}");
}

#[test]
fn a_deny_carves_an_exception_out_of_a_later_allow() {
    let grants = [deny("GET", "/orders/admin"), allow("GET", "/orders/*")];
    let got = statements_at("GET", "/orders/1", &grants);
    assert!(got.exact);
    assert_eq!(got.allow, [res("GET/orders/*")]);
    assert_eq!(got.deny, [res("GET/orders/admin")]);
    check(&grants, ("GET", "/orders/admin"), &routes_for(&grants));
}

#[test]
fn a_deny_under_an_earlier_allow_has_no_exact_form() {
    // The tenant's own routes come first; other tenants are refused; the
    // rest is open. IAM cannot deny `/tenants/{tenant}/*` except `acme`.
    let grants = [
        allow("GET", "/tenants/acme/*"),
        deny("GET", "/tenants/{tenant}/*"),
        allow("*", "/*"),
    ];
    let routes = routes_for(&grants);
    let got = statements_at("GET", "/tenants/acme/x", &grants);
    assert!(!got.exact);
    // `Allow * /*` is in the way too: the Deny `GET/tenants/*/*` would also
    // refuse `/tenants//x`, which it allows.
    assert_eq!(got.blocking, grants);
    assert_eq!(got.allow, [arn_of("GET", "/tenants/acme/x")]);
    assert!(got.deny.is_empty());
    let got = statements_at("GET", "/tenants/other/x", &grants);
    assert!(got.allow.is_empty() && got.deny.is_empty(), "{got:?}");
    for requested in [
        "/tenants/acme/z",
        "/tenants/z/z",
        "/z",
        "/tenants/z",
        "/tenants//z",
    ] {
        assert!(!check(&grants, ("GET", requested), &routes));
    }
}

#[test]
fn nested_allow_deny_allow() {
    // Allow inside a Deny inside an Allow: the Deny would beat the inner
    // Allow in IAM.
    let grants = [
        allow("GET", "/a/b/c"),
        deny("GET", "/a/b/*"),
        allow("GET", "/a/*"),
    ];
    for requested in ["/a/b/c", "/a/b/a", "/a/c"] {
        assert!(
            !check(&grants, ("GET", requested), &all_routes()),
            "{requested}"
        );
    }
    // Deny inside an Allow inside a Deny with nothing after it: the outer
    // Deny decides nothing and is left out.
    let grants = [
        deny("GET", "/a/b/c"),
        allow("GET", "/a/b/*"),
        deny("GET", "/a/*"),
        allow("POST", "/*"),
    ];
    assert!(check(&grants, ("GET", "/a/b/c"), &all_routes()));
    let got = statements_at("GET", "/a/b/c", &grants);
    assert_eq!(got.allow, [res("GET/a/b/*"), res("POST/*")]);
    assert_eq!(got.deny, [res("GET/a/b/c")]);
    // Deny, Allow, Deny, Allow where the second Deny meets the first Allow.
    let grants = [
        deny("GET", "/a/b/c"),
        allow("GET", "/a/b/*"),
        deny("GET", "/a/*"),
        allow("GET", "/*"),
    ];
    assert!(!check(&grants, ("GET", "/b"), &all_routes()));
}

#[test]
fn one_segment_wildcards_are_an_allow_less_two_denies() {
    let got = statements_at("GET", "/orders/42", &[allow("GET", "/orders/{id}")]);
    assert!(got.exact);
    assert_eq!(got.allow, [res("GET/orders/*")]);
    assert_eq!(got.deny, [res("GET/orders/"), res("GET/orders/*/*")]);

    let got = statements_at("GET", "/a/x/b", &[allow("GET", "/a/*/b")]);
    assert!(got.exact);
    assert_eq!(got.allow, [res("GET/a/*/b")]);
    assert_eq!(got.deny, [res("GET/a/*/*/b"), res("GET/a//b")]);

    // Before a final rest: only the empty segment needs a Deny.
    let got = statements_at("GET", "/t/x/y", &[allow("GET", "/t/{id}/*")]);
    assert!(got.exact);
    assert_eq!(got.allow, [res("GET/t/*/*")]);
    assert_eq!(got.deny, [res("GET/t//*")]);

    for grants in [
        vec![allow("GET", "/a/{x}/{y}")],
        vec![allow("GET", "/{x}/b/{y}")],
        vec![allow("*", "/a/{x}")],
        vec![allow("GET", "/{x}")],
        vec![allow("GET", "/t/{id}/*")],
    ] {
        assert!(
            check(&grants, ("GET", "/a/b/c"), &all_routes()),
            "{grants:?}"
        );
    }
}

#[test]
fn a_one_segment_deny_that_would_refuse_another_grant_falls_back() {
    // `GET/orders/*/*` would refuse `/orders/1/items`.
    let grants = [
        allow("GET", "/orders/{id}"),
        allow("GET", "/orders/{id}/items"),
    ];
    let got = statements_at("GET", "/orders/1/items", &grants);
    assert!(!got.exact);
    assert_eq!(got.blocking, grants);
    assert_eq!(got.allow, [arn_of("GET", "/orders/1/items")]);
    let routes = routes_for(&grants);
    for requested in ["/orders/z", "/orders/z/items", "/orders/z/z"] {
        assert!(!check(&grants, ("GET", requested), &routes));
    }
    // Unless a broader grant allows those routes anyway.
    let grants = [allow("GET", "/orders/{id}"), allow("GET", "/*")];
    let got = statements_at("GET", "/orders/1", &grants);
    assert!(got.exact);
    assert_eq!(got.allow, [res("GET/*")]);
    assert!(got.deny.is_empty());
    assert!(check(&grants, ("GET", "/orders/z"), &routes_for(&grants)));
}

#[test]
fn grants_without_an_iam_form_fall_back_to_the_requested_route() {
    for grant in [
        // A one-segment wildcard before a literal and a rest.
        allow("GET", "/a/{x}/b/*"),
        // Two before a rest.
        allow("GET", "/a/{x}/{y}/*"),
        // Literal IAM wildcards and odd methods are never passed into ARNs.
        allow("GET", "/a?b"),
        allow("GET", "/a*"),
        allow("GET", "/{p+}/a"),
        allow("G*T", "/a"),
    ] {
        let grants = [grant.clone()];
        let got = statements_at("GET", "/a/b/b/c", &grants);
        assert!(!got.exact, "{grant:?}");
        assert_eq!(got.blocking, grants);
        assert!(!check(&grants, ("GET", "/a/b/b/c"), &all_routes()));
    }
    let got = statements_at("GET", "/a/x/b/c", &[allow("GET", "/a/{x}/b/*")]);
    assert_eq!(got.allow, [arn_of("GET", "/a/x/b/c")]);
    let got = statements_at("GET", "/a/x/c/c", &[allow("GET", "/a/{x}/b/*")]);
    assert!(got.allow.is_empty());
    let got = statements_at("GET", "/a", &[allow("G*T", "/a")]);
    assert!(got.allow.is_empty());
}

#[test]
fn a_requested_path_with_iam_wildcards_is_never_copied_into_an_allow() {
    // A client asks for `/a/x/b/*`: `*` is a valid segment for the rest,
    // but copied into the Allow it would match every path under it.
    let grants = [allow("GET", "/a/{x}/b/*")];
    for path in ["/a/x/b/*", "/a/x/b/?", "/a/*/b/c"] {
        let got = statements_at("GET", path, &grants);
        assert!(!got.exact);
        assert!(got.allow.is_empty(), "{path}: {got:?}");
    }
    // Exact statements are written from the grants, not the request.
    let got = statements_at("GET", "/orders/*", &[allow("GET", "/orders/{id}")]);
    assert_eq!(got.allow, [res("GET/orders/*")]);
}

#[test]
fn everything_is_one_stage_wildcard() {
    let got = statements_at("GET", "/orders/42", &[allow("*", "/*")]);
    assert_eq!(got.allow, [res("*/*")]);
    assert!(got.deny.is_empty() && got.exact);
    let grants = [deny("GET", "/admin"), allow("*", "/*")];
    let got = statements_at("GET", "/orders/42", &grants);
    assert_eq!(got.allow, [res("*/*")]);
    assert_eq!(got.deny, [res("GET/admin")]);
    check(&grants, ("GET", "/admin"), &routes_for(&grants));
    // An any-method Deny is written per routed method, so the Allow is too:
    // a stage-wide `*/*` would let any other method through `/admin`.
    let grants = [deny("*", "/admin"), allow("*", "/*")];
    let got = statements_at("GET", "/orders/42", &grants);
    assert!(!got.allow.contains(&res("*/*")), "{:?}", got.allow);
    assert_eq!(got.allow.len(), METHODS.len());
    assert_eq!(got.deny.len(), METHODS.len());
    check(&grants, ("GET", "/admin"), &routes_for(&grants));
}

#[test]
fn any_method_is_written_out_so_star_cannot_cross_segments() {
    let got = statements_at("GET", "/orders/42", &[allow("*", "/orders/*")]);
    let mut want: Vec<String> = METHODS
        .iter()
        .map(|m| res(&format!("{m}/orders/*")))
        .collect();
    want.sort();
    assert_eq!(got.allow, want);
    assert!(got.allow.iter().all(|r| !r.contains("/*/orders")));
    let got = statements_at("GET", "/orders/42", &[allow("*", "/orders/{id}")]);
    assert_eq!(got.allow.len(), METHODS.len());
    assert_eq!(got.deny.len(), 2 * METHODS.len());
}

#[test]
fn exact_and_prefix_grants() {
    let got = statements_at(
        "GET",
        "/orders/42",
        &[
            allow("get", "/orders"),
            allow("POST", "/orders/*"),
            allow("GET", "/"),
            allow("GET", "/orders"),
            allow("GET", "/files/{proxy+}"),
        ],
    );
    assert_eq!(
        got.allow,
        [
            res("GET/"),
            res("GET/files/*"),
            res("GET/orders"),
            res("POST/orders/*"),
        ]
    );
    assert!(got.deny.is_empty() && got.exact);
}

#[test]
fn grants_that_never_decide_are_left_out() {
    // Behind a broader grant, a deny with no allow after it, a pattern that
    // does not parse: none of them changes an answer.
    let grants = [
        allow("GET", "/a/*"),
        deny("GET", "/a/b"),
        allow("*", "/c/*"),
        allow("GET", "/c/{x}"),
        deny("POST", "/*"),
        allow("GET", "no-slash"),
    ];
    let got = statements_at("GET", "/a/b", &grants);
    assert!(got.exact);
    let mut want = vec![res("GET/a/*")];
    want.extend(METHODS.iter().map(|m| res(&format!("{m}/c/*"))));
    want.sort();
    assert_eq!(got.allow, want);
    assert!(got.deny.is_empty());
    check(&grants, ("GET", "/a/b"), &routes_for(&grants));
    // A grant that denies everything first: nothing is allowed.
    let got = statements_at("GET", "/x", &[deny("*", "/*"), allow("GET", "/x")]);
    assert!(got.exact && got.allow.is_empty() && got.deny.is_empty());
}

#[test]
fn the_default_route_arn_is_allowed_when_the_grants_allow_the_request() {
    let event = "arn:aws:execute-api:eu-west-1:123456789012:abc123/prod/$default";
    let arn = ExecuteApiArn::parse(event).unwrap();
    let stage = "arn:aws:execute-api:eu-west-1:123456789012:abc123/prod";
    // Every path granted: cache-safe.
    let got = grant_statements(&arn, event, "GET", "/x/y", &[allow("*", "/*")]);
    assert_eq!(got.allow, [event.to_string(), format!("{stage}/*/*")]);
    assert!(!got.default_route_per_path);
    // Some paths granted, this one among them: allowed, flagged.
    let got = grant_statements(&arn, event, "GET", "/orders", &[allow("GET", "/orders")]);
    assert_eq!(
        got.allow,
        [event.to_string(), format!("{stage}/GET/orders")]
    );
    assert!(got.default_route_per_path);
    // Not allowed: only the grants' own ARNs, flagged too (a cached answer
    // refuses the route's other paths).
    let got = grant_statements(&arn, event, "GET", "/admin", &[allow("GET", "/orders")]);
    assert_eq!(got.allow, [format!("{stage}/GET/orders")]);
    assert!(got.default_route_per_path);
    // Refused by a deny grant.
    let grants = [deny("GET", "/admin"), allow("*", "/*")];
    let got = grant_statements(&arn, event, "GET", "/admin", &grants);
    assert_eq!(got.allow, [format!("{stage}/*/*")]);
    assert_eq!(got.deny, [format!("{stage}/GET/admin")]);
    assert!(got.default_route_per_path);
    // Nothing granted anywhere: the same answer for every path.
    let got = grant_statements(&arn, event, "GET", "/admin", &[]);
    assert!(got.allow.is_empty() && !got.default_route_per_path);
    // A wildcard in the event's ARN is never copied.
    let wild = "arn:aws:execute-api:eu-west-1:123456789012:abc123/*/$default";
    let arn = ExecuteApiArn::parse(wild).unwrap();
    let got = grant_statements(&arn, wild, "GET", "/x", &[allow("*", "/*")]);
    assert!(!got.allow.iter().any(|r| r == wild), "{got:?}");
}

#[test]
fn stage_and_partition_come_from_the_event() {
    let event = "arn:aws-cn:execute-api:cn-north-1:111122223333:xyz/$default/GET/a";
    let arn = ExecuteApiArn::parse(event).unwrap();
    let got = grant_statements(&arn, event, "GET", "/a", &[allow("GET", "/a")]);
    assert_eq!(
        got.allow,
        ["arn:aws-cn:execute-api:cn-north-1:111122223333:xyz/$default/GET/a"]
    );
    let got = grant_statements(&arn, ARN, "GET", "/a", &[allow("GET", "/{x}")]);
    assert!(
        got.deny.iter().all(|r| r.starts_with("arn:aws-cn:")),
        "{got:?}"
    );
}

#[test]
fn too_many_grants_fall_back() {
    let grants: Vec<Grant> = (0..=MAX_EXACT_GRANTS)
        .map(|i| allow("GET", &format!("/r{i}")))
        .collect();
    let got = statements_at("GET", "/r3", &grants);
    assert!(!got.exact);
    assert_eq!(got.allow, [arn_of("GET", "/r3")]);
}

#[test]
fn the_evaluator_is_iam() {
    assert!(glob("a/*", "a/"));
    assert!(glob("a/*", "a/b/c"));
    assert!(glob("a/*/c", "a/b/x/c"));
    assert!(glob("a/*/c", "a//c"));
    assert!(!glob("a/*/c", "a/c"));
    assert!(glob("a/?", "a/b"));
    assert!(!glob("a/?", "a/"));
    assert!(!glob("a/?", "a/bc"));
    assert!(glob("*", ""));
    assert!(!glob("a", "ab"));
}

#[test]
fn segment_patterns_meet_as_paths_do() {
    // `toks_meet` against brute force over the generated paths.
    let paths = all_paths();
    let pats: Vec<Vec<Tok>> = vec![
        vec![Tok::Plus],
        vec![Tok::Plus, Tok::Plus],
        vec![Tok::Lit("a".into()), Tok::Plus],
        vec![Tok::Lit("a".into()), Tok::Plus, Tok::Lit("b".into())],
        vec![Tok::Plus, Tok::Lit("b".into()), Tok::Plus],
        vec![Tok::One, Tok::Lit("b".into())],
        vec![Tok::Lit("a".into()), Tok::One],
        vec![Tok::Lit("a".into()), Tok::Lit(String::new())],
        vec![Tok::One, Tok::One, Tok::Plus],
        vec![Tok::Lit(String::new()), Tok::Plus],
        vec![Tok::Plus, Tok::Plus, Tok::Lit("c".into())],
    ];
    let matches = |toks: &[Tok], path: &str| -> bool {
        let segments: Vec<&str> = path[1..].split('/').collect();
        fn go(toks: &[Tok], segs: &[&str]) -> bool {
            match toks.split_first() {
                None => segs.is_empty(),
                Some((Tok::Lit(l), rest)) => {
                    segs.first() == Some(&l.as_str()) && go(rest, &segs[1..])
                }
                Some((Tok::One, rest)) => {
                    segs.first().is_some_and(|s| !s.is_empty()) && go(rest, &segs[1..])
                }
                Some((Tok::Plus, rest)) => (1..=segs.len()).any(|n| go(rest, &segs[n..])),
            }
        }
        go(toks, &segments)
    };
    for a in &pats {
        for b in &pats {
            let common = paths.iter().any(|p| matches(a, p) && matches(b, p));
            assert_eq!(toks_meet(a, b), common, "{a:?} {b:?}");
        }
    }
}
