//! Path confusion at the edge (issue 11): through each real proxy (nginx,
//! Traefik, Envoy HTTP and gRPC, run from `examples/proxies/` as in
//! `tests/proxies.rs`), a request without a token must never reach the
//! upstream on a path the upstream may read as a protected one.
//!
//! Every target of the path corpus (`tollgate_canonical_path::corpus`,
//! default options) and a list of known attack spellings is sent as a raw
//! request line (no client library normalises it), without a token. For
//! each one the upstream saw, the test checks the invariant: **every
//! plausible upstream reading of the path it received is governed by the
//! public rule** (`/public` or below). The readings ([`Reading`]) combine:
//! the path as received, percent-decoded once or twice (`%2F` a `/`, `%5C`
//! a `\`), `%uXXXX` and overlong UTF-8 read as ASCII (legacy decoders); a
//! `?` or `#` left in the (decoded) path ending it; `\` read as `/`;
//! `;parameters` stripped from each segment (Tomcat, Spring) before or after
//! decoding; dot segments resolved (RFC 3986) or kept as data (a router
//! matching prefixes on the path as received); slashes merged before or
//! after dot segments are resolved; case folded or kept.
//!
//! The invariant holds whatever the proxy does (refuse, normalise, or
//! forward as received): it checks what reached the upstream, not
//! statuses. Failures are collected over the whole sweep and
//! reported together (proxy, target, status, the upstream's path and the
//! readings that are not public), with the proxy's log.
//!
//! So that refusing everything cannot pass, clean public targets must
//! reach the upstream (200), public ones with dot segments too where the
//! proxy resolves them before it asks (Envoy, Traefik; nginx forwards them
//! raw and tollgate refuses them by default: `dot_segments`), and `/admin/x`
//! without a token must get tollgate's 401.

#![allow(
    missing_docs,
    clippy::expect_used,
    clippy::unwrap_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;
mod proxy_support;

use std::collections::BTreeMap;
use std::fmt;
use std::time::{Duration, Instant};

use proxy_support::{Kind, Proxy, Upstream, raw_get};
use tollgate_canonical_path::corpus;

/// A whole scenario's bound (each request and the proxy's start have their
/// own, shorter ones).
const SCENARIO_TIMEOUT: Duration = Duration::from_secs(240);

/// `/public` and everything below it public; `/admin` and below it need
/// the `admin` scope; anything else denied.
const POLICY: &str = concat!(
    issuer_section!(),
    r#"
[routes]
default = "deny"
groups_claim = "groups"

[[route]]
name = "public"
path = "/public"
public = true

[[route]]
name = "public tree"
path = "/public/{rest+}"
public = true

[[route]]
name = "admin"
path = "/admin"
scopes = ["admin"]

[[route]]
name = "admin tree"
path = "/admin/{rest+}"
scopes = ["admin"]
"#
);

/// Attack spellings beside the corpus: a protected path dressed as a public
/// one (or the other way round) for an upstream that reads it differently
/// from the proxy or tollgate.
const ATTACKS: &[&str] = &[
    "/public/..%2Fadmin/x",
    "/public/..%2fadmin/x",
    "/public/%2e%2e/admin/x",
    "/public/%2E%2E/admin/x",
    "/public/.%2e/admin/x",
    "/public/..;/admin/x",
    "/public/..;x=y/admin/x",
    "/public;x/../../admin/x",
    "/public/..%3B/admin/x",
    "/public/../admin/x",
    "/admin/../public/x",
    "/admin/x/../../public/x",
    "/admin//../public/x",
    "/admin/.//../public/x",
    "/admin/..;/public/x",
    "/admin/%2e%2e/public/x",
    "/public/x/../../admin/x",
    "/PUBLIC/../ADMIN/x",
    "/public%2F..%2Fadmin",
    "/public%2f..%2fadmin/x",
    "//admin/x",
    "/public//../admin/x",
    "/public/..\\admin",
    "/public/x/..\\..\\admin",
    "/public/x/..%5c..%5cadmin",
    "/public/..%5Cadmin",
    "/admin%00.json",
    "/public/x%00/../../admin",
    "/public/%252e%252e/admin",
    "/public/..%252Fadmin",
    "/public/%25%32%65%25%32%65/admin",
    "/public/%c0%ae%c0%ae/admin/x",
    "/public/%c0%af..%c0%afadmin",
    "/public/%e0%80%ae%e0%80%ae/admin",
    "/public/%u002e%u002e/admin",
    "/admin;/x",
    "/admin;jsessionid=x",
    "/admin%3F/../public/x",
    "/admin%23/../public/x",
    "/public/x#/../../admin",
    "/public/x?y=/../admin",
    "/public?/../admin",
    "/%70ublic/../admin",
    "/public/%2e%2e%2fadmin",
    "/public/.../admin",
    "/public/x/..",
    "/public/..",
    "/./admin",
    "/admin/.",
    "/admin/",
    "/Admin/x",
    "/admin%2fx",
    "http://127.0.0.1/admin/x",
    "*",
];

/// Public targets that must reach the upstream (200) through every proxy,
/// whatever tollgate does with an ambiguous path.
const CLEAN_PUBLIC: &[&str] = &[
    "/public",
    "/public/x",
    "/public/docs/index.html",
    "/public/x?y=/../admin",
    "/public/a%2Db",
];

/// Public targets with dot segments: 200 through a proxy that resolves them
/// before it asks (Envoy, Traefik), tollgate's 400 through nginx (which
/// forwards them raw: tollgate refuses raw dot segments by default); never
/// the upstream seeing a path outside `/public`.
const RESOLVABLE_PUBLIC: &[&str] = &["/public/a/../b", "/public/./x", "/public/a/b/../../c"];

/// Protected targets that tollgate itself must answer 401 without a token
/// (through every proxy: the proxy passes tollgate's status on).
const PROTECTED: &[&str] = &["/admin/x", "/admin"];

// ---------------------------------------------------------------------------
// The upstream's readings of a path

/// How a percent-encoded path is decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Decode {
    /// As received.
    None,
    /// Every `%XX` decoded once (`%2F` a `/`, `%5C` a `\`, `%25` a `%`).
    Once,
    /// Decoded twice (a double-decoding stack: a proxy and a framework).
    Twice,
}

/// When `;parameters` are stripped from each segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Params {
    /// `;` is data.
    Kept,
    /// From the path as received (Tomcat, Spring), then decoded.
    BeforeDecoding,
    /// From the decoded path.
    AfterDecoding,
}

/// When runs of `/` are merged into one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Merge {
    /// Never (`//` is an empty segment).
    Never,
    /// Before dot segments are resolved.
    Before,
    /// After.
    After,
}

/// One plausible way an upstream reads the path of a request target.
#[derive(Debug, Clone, Copy)]
struct Reading {
    /// Dot segments resolved (RFC 3986); off, they are data (Express
    /// `app.use('/admin')`, Starlette mounts, gin: a prefix router reads
    /// `/admin/../public` as under `/admin`).
    resolve: bool,
    decode: Decode,
    /// Legacy decoding: `%uXXXX` (IIS) decoded too, and after each
    /// decoding an overlong UTF-8 form of an ASCII character (`%C0%AE`,
    /// `%E0%80%AE`) read as that character (old IIS, lenient Java decoders).
    legacy: bool,
    /// A `?` or `#` still in the path after decoding ends it (an upstream
    /// that decodes, then parses the result as a URI again).
    cut: bool,
    /// `\` read as `/` (Windows servers, some frameworks).
    backslash: bool,
    params: Params,
    merge: Merge,
    /// ASCII letters folded to lower case (a case-insensitive upstream).
    lower: bool,
}

impl fmt::Display for Reading {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts: Vec<&str> = vec![match self.decode {
            Decode::None => "as received",
            Decode::Once => "decoded once",
            Decode::Twice => "decoded twice",
        }];
        if self.legacy {
            parts.push("%uXXXX and overlong UTF-8 read as ASCII");
        }
        if self.cut {
            parts.push("`?`/`#` ends the path");
        }
        if self.backslash {
            parts.push("`\\` read as `/`");
        }
        parts.push(match self.params {
            Params::Kept => "`;` is data",
            Params::BeforeDecoding => "`;params` stripped before decoding",
            Params::AfterDecoding => "`;params` stripped after decoding",
        });
        if !self.resolve {
            parts.push("dot segments kept");
        }
        parts.push(match self.merge {
            Merge::Never => "`//` kept",
            Merge::Before => "slashes merged, then dot segments resolved",
            Merge::After => "dot segments resolved, then slashes merged",
        });
        if self.lower {
            parts.push("lower-cased");
        }
        write!(f, "{}", parts.join(", "))
    }
}

/// Every combination of the ways an upstream may read a path.
fn readings() -> Vec<Reading> {
    let mut all = Vec::new();
    for decode in [Decode::None, Decode::Once, Decode::Twice] {
        for legacy in [false, true] {
            if legacy && decode == Decode::None {
                continue;
            }
            for cut in [false, true] {
                for backslash in [false, true] {
                    for params in [Params::Kept, Params::BeforeDecoding, Params::AfterDecoding] {
                        for merge in [Merge::Never, Merge::Before, Merge::After] {
                            for (lower, resolve) in
                                [(false, true), (true, true), (false, false), (true, false)]
                            {
                                if !resolve && merge == Merge::After {
                                    // Without resolving, merging before or
                                    // after is the same.
                                    continue;
                                }
                                all.push(Reading {
                                    resolve,
                                    decode,
                                    legacy,
                                    cut,
                                    backslash,
                                    params,
                                    merge,
                                    lower,
                                });
                            }
                        }
                    }
                }
            }
        }
    }
    all
}

fn hex(byte: u8) -> Option<u8> {
    (byte as char).to_digit(16).map(|d| d as u8)
}

/// Every `%XX` (two hex digits) as its byte, and with `legacy` every
/// `%uXXXX` of an ASCII character as that character; anything else as is.
fn percent_decode(path: &[u8], legacy: bool) -> Vec<u8> {
    let mut out = Vec::with_capacity(path.len());
    let mut i = 0;
    while let Some(&byte) = path.get(i) {
        let digit = |at: usize| path.get(at).and_then(|&b| hex(b));
        let escaped = (byte == b'%')
            .then(|| Some(((digit(i + 1)? << 4) | digit(i + 2)?, 3)))
            .flatten();
        let wide = (legacy && byte == b'%' && path.get(i + 1) == Some(&b'u'))
            .then(|| {
                let [a, b, c, d] = [digit(i + 2)?, digit(i + 3)?, digit(i + 4)?, digit(i + 5)?];
                (a == 0 && b == 0 && c < 8).then_some(((c << 4) | d, 6))
            })
            .flatten();
        match escaped.or(wide) {
            Some((decoded, len)) => {
                out.push(decoded);
                i += len;
            }
            None => {
                out.push(byte);
                i += 1;
            }
        }
    }
    out
}

/// Overlong UTF-8 forms of ASCII (`C0 AE`, `E0 80 AE`) as the ASCII byte.
fn overlong_as_ascii(path: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(path.len());
    let mut i = 0;
    while let Some(&byte) = path.get(i) {
        match (byte, path.get(i + 1), path.get(i + 2)) {
            (0xC0 | 0xC1, Some(&b1), _) if b1 & 0xC0 == 0x80 => {
                out.push(((byte & 0x1F) << 6) | (b1 & 0x3F));
                i += 2;
            }
            (0xE0, Some(&b1), Some(&b2))
                if b1 & 0xE0 == 0x80 && b2 & 0xC0 == 0x80 && b1 & 0x1F <= 1 =>
            {
                out.push(((b1 & 0x1F) << 6) | (b2 & 0x3F));
                i += 3;
            }
            _ => {
                out.push(byte);
                i += 1;
            }
        }
    }
    out
}

/// Each segment's `;parameters` removed (`/a;x/b;y` is `/a/b`).
fn strip_params(path: &[u8]) -> Vec<u8> {
    let segments: Vec<&[u8]> = path
        .split(|&b| b == b'/')
        .map(|segment| segment.split(|&b| b == b';').next().unwrap_or(segment))
        .collect();
    segments.join(&b'/')
}

fn merge_slashes(path: &[u8]) -> Vec<u8> {
    let mut out: Vec<u8> = Vec::with_capacity(path.len());
    for &byte in path {
        if !(byte == b'/' && out.last() == Some(&b'/')) {
            out.push(byte);
        }
    }
    out
}

/// RFC 3986 section 5.2.4 on an absolute path; a path that does not start
/// with `/` stays as it is (it is no path below `/public` either).
fn resolve_dot_segments(path: &[u8]) -> Vec<u8> {
    let Some(rest) = path.strip_prefix(b"/") else {
        return path.to_vec();
    };
    let segments: Vec<&[u8]> = rest.split(|&b| b == b'/').collect();
    let last = segments.len() - 1;
    let mut out: Vec<&[u8]> = Vec::new();
    for (i, segment) in segments.into_iter().enumerate() {
        match segment {
            b"." => {}
            b".." => {
                out.pop();
            }
            other => out.push(other),
        }
        if i == last && (segment == b"." || segment == b"..") {
            // `/a/b/..` is `/a/`: the directory, with its slash.
            out.push(b"");
        }
    }
    let mut resolved = b"/".to_vec();
    resolved.extend(out.join(&b'/'));
    resolved
}

/// The path an upstream reads in `target` (what it received: path and
/// query) under `reading`.
fn read_path(target: &str, reading: &Reading) -> Vec<u8> {
    // The query is split off first, on the target as received.
    let raw = target.as_bytes();
    let mut path = raw
        .split(|&b| b == b'?')
        .next()
        .unwrap_or_default()
        .to_vec();
    if reading.params == Params::BeforeDecoding {
        path = strip_params(&path);
    }
    let times = match reading.decode {
        Decode::None => 0,
        Decode::Once => 1,
        Decode::Twice => 2,
    };
    for _ in 0..times {
        path = percent_decode(&path, reading.legacy);
        if reading.legacy {
            path = overlong_as_ascii(&path);
        }
    }
    if reading.cut
        && let Some(at) = path.iter().position(|&b| b == b'?' || b == b'#')
    {
        path.truncate(at);
    }
    if reading.backslash {
        for byte in &mut path {
            if *byte == b'\\' {
                *byte = b'/';
            }
        }
    }
    if reading.params == Params::AfterDecoding {
        path = strip_params(&path);
    }
    if reading.merge == Merge::Before {
        path = merge_slashes(&path);
    }
    if reading.resolve {
        path = resolve_dot_segments(&path);
    }
    if reading.merge == Merge::After {
        path = merge_slashes(&path);
    }
    if reading.lower {
        path.make_ascii_lowercase();
    }
    path
}

/// Governed by the public rule: `/public` or below it.
fn is_public(path: &[u8]) -> bool {
    path == b"/public" || path.starts_with(b"/public/")
}

/// The non-public paths an upstream may read in `target`, each with one
/// reading that gives it; empty when every reading is public.
fn non_public_readings(target: &str) -> BTreeMap<String, Reading> {
    let mut found = BTreeMap::new();
    for reading in readings() {
        let path = read_path(target, &reading);
        if !is_public(&path) {
            found
                .entry(String::from_utf8_lossy(&path).into_owned())
                .or_insert(reading);
        }
    }
    found
}

// ---------------------------------------------------------------------------
// The scenario

/// tollgate itself refuses raw dot segments by default (docs/paths.md,
/// `dot_segments`), and decides a canonical public path: asked on its nginx
/// listener directly, the one dialect whose proxy forwards the raw target.
async fn assert_tollgate_refuses_dot_segments(tollgate: &common::TestTollgate) {
    let nginx = tollgate.addrs().nginx.expect("nginx listener");
    for (uri, expected) in [("/public/a/../b", 400), ("/public/b", 200)] {
        let response = proxy_support::client()
            .get(format!("http://{nginx}/auth"))
            .header("x-original-method", "GET")
            .header("x-original-uri", uri)
            .send()
            .await
            .expect("tollgate answers its nginx listener");
        let status = response.status().as_u16();
        assert_eq!(status, expected, "tollgate answered {status} for {uri}");
    }
}

/// Every target of the sweep: the corpus's (default options), the attacks
/// and the public and protected targets, each once, in that order.
fn targets() -> Vec<String> {
    let cases = corpus::bundled().expect("the path corpus loads");
    let mut all: Vec<String> = Vec::new();
    let from_corpus = cases
        .iter()
        .filter(|case| case.default_options())
        .map(|case| case.target.clone());
    let listed = ATTACKS
        .iter()
        .chain(CLEAN_PUBLIC)
        .chain(RESOLVABLE_PUBLIC)
        .chain(PROTECTED)
        .map(|target| (*target).to_owned());
    for target in from_corpus.chain(listed) {
        if !all.contains(&target) {
            all.push(target);
        }
    }
    assert!(
        all.len() > ATTACKS.len() + 50,
        "the corpus gave too few cases: {}",
        all.len()
    );
    all
}

async fn exercise(kind: Kind) {
    let name = kind.name();
    // Install first (blocking, once per binary), before any server runs.
    proxy_support::tools();
    let tollgate = common::start_tollgate_with_policy(POLICY, |_| {}).await;
    assert_tollgate_refuses_dot_segments(&tollgate).await;
    let upstream = Upstream::start_raw().await;
    let proxy = Proxy::start(kind, tollgate.addrs(), &upstream).await;
    let started = Instant::now();

    let mut failures: Vec<String> = Vec::new();
    let mut statuses: BTreeMap<String, usize> = BTreeMap::new();
    let mut reached = 0;
    for target in targets() {
        upstream.take();
        let answer = raw_get(proxy.addr, target.as_bytes()).await;
        let seen = upstream.take();
        *statuses.entry(answer.to_string()).or_insert(0) += 1;
        let paths: Vec<&str> = seen.iter().map(|s| s.path.as_str()).collect();
        eprintln!("{name}: {target:?} -> {answer}, upstream saw {paths:?}");

        // The invariant: what got through without a token is public under
        // every reading.
        for request in &seen {
            reached += 1;
            let bad = non_public_readings(&request.path);
            if !bad.is_empty() {
                let shown: Vec<String> = bad
                    .iter()
                    .map(|(path, reading)| format!("      {path:?} ({reading})"))
                    .collect();
                failures.push(format!(
                    "{name}: {target:?} answered {answer} and the upstream saw {} {:?}, which it may read as:\n{}",
                    request.method,
                    request.path,
                    shown.join("\n")
                ));
            }
        }

        // Not everything refused: public targets get through. Envoy and
        // Traefik resolve dot segments before they ask; nginx asks with the
        // raw target, which tollgate refuses (400) by default.
        let resolvable = RESOLVABLE_PUBLIC.contains(&target.as_str());
        // (nginx answers an auth_request's 400 as a 500.)
        if resolvable && kind == Kind::Nginx && (answer.status != Some(500) || !seen.is_empty()) {
            failures.push(format!(
                "{name}: {target:?} has dot segments that nginx forwards raw: tollgate must refuse it (400, a 500 from nginx); answered {answer} ({}), the upstream saw {paths:?}",
                answer.line
            ));
        }
        let must_pass =
            CLEAN_PUBLIC.contains(&target.as_str()) || (resolvable && kind != Kind::Nginx);
        if must_pass && (answer.status != Some(200) || seen.len() != 1) {
            failures.push(format!(
                "{name}: {target:?} is public and must reach the upstream once with 200; answered {answer} ({}), the upstream saw {paths:?}",
                answer.line
            ));
        }
        // And tollgate denies a protected one itself.
        if PROTECTED.contains(&target.as_str()) && (answer.status != Some(401) || !seen.is_empty())
        {
            failures.push(format!(
                "{name}: {target:?} without a token must get tollgate's 401; answered {answer} ({}), the upstream saw {paths:?}",
                answer.line
            ));
        }
    }
    eprintln!(
        "{name}: swept in {:.1?}: {reached} requests reached the upstream; answers {statuses:?}",
        started.elapsed(),
    );
    assert!(
        failures.is_empty(),
        "{name}: {} failure(s) (the proxy's log follows):\n{}",
        failures.len(),
        failures.join("\n")
    );
    proxy.stop();
    tollgate.stop().await;
}

// One test per proxy, each `exercise(kind)` within SCENARIO_TIMEOUT.
proxy_tests!(exercise, SCENARIO_TIMEOUT);

// ---------------------------------------------------------------------------
// The readings themselves

#[test]
fn readings_find_the_protected_path_behind_each_spelling() {
    for (target, hidden) in [
        ("/public/../admin/x", "/admin/x"),
        ("/public/%2e%2e/admin/x", "/admin/x"),
        ("/public/..%2Fadmin/x", "/admin/x"),
        ("/public/..;/admin/x", "/admin/x"),
        ("/public/..%3B/admin/x", "/admin/x"),
        ("/public/..\\admin", "/admin"),
        ("/public/%252e%252e/admin", "/admin"),
        ("/public/%c0%ae%c0%ae/admin/x", "/admin/x"),
        ("/public/%e0%80%ae%e0%80%ae/admin", "/admin"),
        ("/public/%u002e%u002e/admin", "/admin"),
        ("/public//../admin", "/admin"),
        ("/public/x#/../../admin", "/admin"),
        ("/admin%3F/../public/x", "/admin"),
        ("/admin#/../public/x", "/admin"),
        ("/PUBLIC/x", "/PUBLIC/x"),
        ("/admin/../public/x", "/admin/../public/x"),
        ("/admin//../public/x", "/admin/public/x"),
    ] {
        let bad = non_public_readings(target);
        assert!(
            bad.contains_key(hidden),
            "{target}: {hidden} expected among {bad:?}"
        );
    }
    for public in [
        "/public",
        "/public/x",
        "/public/x?y=/../admin",
        "/public?/../admin",
        "/public/a/../b",
        "/public/./x",
        "/public//x",
        "/public/a%2Db",
        "/public/caf%C3%A9",
    ] {
        let bad = non_public_readings(public);
        assert!(bad.is_empty(), "{public}: all readings public, got {bad:?}");
    }
    // Dot segments that climb out of `/public`, raw or encoded.
    assert!(non_public_readings("/public/..").contains_key("/"));
    assert!(non_public_readings("/public/%2e%2e").contains_key("/"));
}
