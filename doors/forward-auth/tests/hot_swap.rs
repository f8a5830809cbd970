//! Hot swap seen from the forward-auth server (issue 12, docs/bundles.md):
//! bundles swapped under load through a real nginx listener on 127.0.0.1,
//! the admin port's `/bundle` endpoints, `/healthz` and `/metrics`, and the
//! shadow run (answers stay the live bundle's; an undeclared widening waits
//! for a manual promotion, a declared one promotes by itself).
//!
//! Module deadlines are generous (20 s) and the scheduling-lag limit is
//! 10 s: the machine running these may be starved of CPU, and a 503 from
//! starvation would read as a failed request.

#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    clippy::indexing_slicing,
    missing_docs
)]

mod common;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use common::{ISSUER, TestTollgate};
use reqwest::{Client, StatusCode};
use serde_json::{Value, json};
use tollgate_forward_auth::{IdentityHeaders, Listen, ServeLimits, ServeSettings, Server};
use tollgate_host::jwks::KeyFetchSettings;
use tollgate_host::{
    Active, BundleInfo, ConfigBase, DeclaredWidening, Gate, LiveGate, PolicyModule, SandboxLimits,
    ShadowSettings, SwapFailure, SwapStep, TokenCacheSettings,
};
use tollgate_keys::Algorithm;
use tollgate_keys::mint::SigningKey;

/// Bundle A: the principal is `sub`, `email` is forwarded; paths are folded
/// to lower case; unmatched routes are denied; `/orders/*` and `/reports/*`
/// are open to any valid token.
const POLICY_A: &str = r#"
[[issuer]]
issuer = "https://issuer.test.tollgate.invalid"
jwks_file = "jwks.json"
audiences = ["orders-api"]
algorithms = ["ES256"]
principal_claims = ["sub"]
context_claims = ["email"]

[paths]
case = "lower"

[routes]
default = "deny"

[[route]]
path = "/orders/*"

[[route]]
path = "/reports/*"
"#;

/// Bundle B answers every request of the load test otherwise than A: the
/// principal is `email`, `groups` is forwarded (not `email`); paths keep
/// their case; unmatched routes are open to any valid token; `/reports/*`
/// needs scope `reports.read`, which the test tokens lack.
///
/// So `GET /Reports/1` is a 200 under A (folded to `/reports/1`) and under
/// B (unmatched), but a mix of the two bundles is a 403 either way: folded
/// by A and decided by B, `insufficient_scope`; kept by B and decided by
/// A, `forbidden`.
const POLICY_B: &str = r#"
[[issuer]]
issuer = "https://issuer.test.tollgate.invalid"
jwks_file = "jwks.json"
audiences = ["orders-api"]
algorithms = ["ES256"]
principal_claims = ["email"]
context_claims = ["groups"]

[routes]
default = "authenticated"

[[route]]
path = "/orders/*"

[[route]]
path = "/reports/*"
scopes = ["reports.read"]
"#;

/// The live bundle of the shadow tests: like A without the path folding,
/// and `/reports/*` needs group `auditors` (a 403 `forbidden` for the test
/// tokens, whose groups are `staff` and `ops`).
const POLICY_LIVE: &str = r#"
[[issuer]]
issuer = "https://issuer.test.tollgate.invalid"
jwks_file = "jwks.json"
audiences = ["orders-api"]
algorithms = ["ES256"]
principal_claims = ["sub"]
context_claims = ["email"]

[routes]
default = "deny"
groups_claim = "groups"

[[route]]
path = "/orders/*"

[[route]]
path = "/reports/*"
groups = ["auditors"]
"#;

/// A shadow candidate: `/reports/*` open to any valid token (a widening of
/// [`POLICY_LIVE`]); the principal is `email` and `groups` is forwarded,
/// so its allows name another identity than the live bundle's (a
/// disagreement too: the upstream would see other headers).
const POLICY_CANDIDATE: &str = r#"
[[issuer]]
issuer = "https://issuer.test.tollgate.invalid"
jwks_file = "jwks.json"
audiences = ["orders-api"]
algorithms = ["ES256"]
principal_claims = ["email"]
context_claims = ["groups"]

[routes]
default = "deny"
groups_claim = "groups"

[[route]]
path = "/orders/*"

[[route]]
path = "/reports/*"
"#;

/// [`POLICY_LIVE`] with `/reports/*` open to any valid token: the same
/// identity, one widening.
fn widened_policy() -> String {
    let widened = POLICY_LIVE.replace(
        "path = \"/reports/*\"\ngroups = [\"auditors\"]\n",
        "path = \"/reports/*\"\n",
    );
    assert_ne!(widened, POLICY_LIVE);
    widened
}

/// A candidate that reads paths more loosely than [`POLICY_LIVE`] (dot
/// segments resolved instead of refused) and is otherwise the same policy.
fn dot_segments_policy() -> String {
    POLICY_LIVE.replace(
        "[routes]",
        "[paths]\ndot_segments = \"resolve\"\n\n[routes]",
    )
}

const NAME: &str = "orders";

/// Builds bundles (configured gates, each with its own token cache) from
/// the embedded module, compiled once, and the test issuer's keys.
struct Bundles {
    module: Arc<PolicyModule>,
    jwks: String,
}

impl Bundles {
    fn new(key: &SigningKey) -> Self {
        let limits = SandboxLimits {
            deadline: Duration::from_secs(20),
            ..SandboxLimits::default()
        };
        Bundles {
            module: PolicyModule::default_module(limits).expect("module"),
            jwks: key.jwks().to_string(),
        }
    }

    /// A bundle of `policy` at `revision`; its digest starts with `tag`.
    async fn active(&self, policy: &str, revision: u64, tag: char) -> Active {
        let base = ConfigBase::Embedded(vec![("jwks.json".into(), self.jwks.clone())]);
        let gate = Gate::new(
            self.module.clone(),
            policy,
            &base,
            &format!("bundle {tag} r{revision}"),
            KeyFetchSettings::default(),
        )
        .await
        .expect("the policy configures")
        .with_token_cache(TokenCacheSettings::default());
        let info = BundleInfo {
            name: NAME.into(),
            revision,
            digest: digest(tag, revision),
            module_digest: gate.authorizer().module_digest().to_string(),
            activated_at: SystemTime::now(),
            source: format!("test:{tag}"),
        };
        Active { gate, info }
    }
}

/// A made-up bundle digest: 64 hex digits, `tag` then the revision.
fn digest(tag: char, revision: u64) -> String {
    format!("{tag}{revision:063}")
}

/// A server with nginx and admin listeners on 127.0.0.1:0 answering with
/// `first`, identity headers `x-auth-email` and `x-auth-groups`, the admin
/// port's bundle actions on.
async fn start(key: SigningKey, first: Active) -> TestTollgate {
    start_with(key, first, |settings| settings.admin_bundle_actions = true).await
}

/// [`start`] with settings adjusted by `adjust` (bundle actions off unless
/// it turns them on).
async fn start_with(
    key: SigningKey,
    first: Active,
    adjust: impl FnOnce(&mut ServeSettings),
) -> TestTollgate {
    let live = Arc::new(LiveGate::new(first.gate, first.info));
    let any = "127.0.0.1:0".parse().ok();
    let mut settings = ServeSettings {
        listen: Listen {
            nginx: any,
            admin: any,
            ..Listen::default()
        },
        identity: IdentityHeaders::new("x-auth-", &["email".into(), "groups".into()])
            .expect("headers"),
        limits: ServeLimits {
            queue_timeout: Duration::from_secs(10),
            deadline: Duration::from_secs(20),
            ..ServeLimits::default()
        },
        ..ServeSettings::default()
    };
    adjust(&mut settings);
    let server = Server::start_live(live.clone(), settings)
        .await
        .expect("server starts");
    TestTollgate { server, key, live }
}

fn new_key() -> SigningKey {
    SigningKey::generate(Algorithm::Es256, "test-1").expect("key")
}

fn client() -> Client {
    Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(60))
        .build()
        .expect("client")
}

/// The parts of an answer the tests compare.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Seen {
    status: u16,
    principal: Option<String>,
    issuer: Option<String>,
    email: Option<String>,
    groups: Option<String>,
    challenge: Option<String>,
    /// The body's `error` member, when the body is JSON.
    error: Option<String>,
}

async fn seen(response: reqwest::Response) -> Result<Seen, reqwest::Error> {
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
    };
    let (principal, issuer, email, groups, challenge) = (
        header("x-auth-principal"),
        header("x-auth-issuer"),
        header("x-auth-email"),
        header("x-auth-groups"),
        header("www-authenticate"),
    );
    let status = response.status().as_u16();
    let body = response.text().await?;
    let error = serde_json::from_str::<Value>(&body)
        .ok()
        .and_then(|v| v["error"].as_str().map(str::to_string));
    Ok(Seen {
        status,
        principal,
        issuer,
        email,
        groups,
        challenge,
        error,
    })
}

async fn nginx(
    client: &Client,
    tollgate: &TestTollgate,
    path: &str,
    token: &str,
) -> Result<Seen, reqwest::Error> {
    let response = client
        .get(format!("http://{}/auth", tollgate.addrs().nginx.unwrap()))
        .header("x-original-method", "GET")
        .header("x-original-uri", path)
        .header("authorization", format!("Bearer {token}"))
        .send()
        .await?;
    seen(response).await
}

/// An allow whose principal is `principal` and which forwards `email` or
/// `groups` (the other header empty).
fn allowed(principal: &str, email: &str, groups: &str) -> Seen {
    Seen {
        status: 200,
        principal: Some(principal.into()),
        issuer: Some(ISSUER.into()),
        email: Some(email.into()),
        groups: Some(groups.into()),
        challenge: None,
        error: None,
    }
}

/// A 403 from the rules (no challenge, no identity headers).
fn forbidden() -> Seen {
    Seen {
        status: 403,
        principal: None,
        issuer: None,
        email: None,
        groups: None,
        challenge: None,
        error: Some("forbidden".into()),
    }
}

/// A 400 refusing the path.
fn invalid_request() -> Seen {
    Seen {
        status: 400,
        principal: None,
        issuer: None,
        email: None,
        groups: None,
        challenge: None,
        error: Some("invalid_request".into()),
    }
}

/// How bundles that take `sub` or `email` as principal and forward
/// `email` or `groups` answer an allow for `sub`'s token.
fn sub_shaped(sub: &str) -> Seen {
    allowed(sub, &format!("{sub}@example.com"), "")
}

fn email_shaped(sub: &str) -> Seen {
    allowed(&format!("{sub}@example.com"), "", "staff,ops")
}

// ---------------------------------------------------------------------------
// 1. Swaps under load.

/// The routes of the load test.
const KINDS: [&str; 3] = ["/orders/1", "/reports/1", "/Reports/1"];

/// What bundle A (`b = false`) or B (`b = true`) answers to `sub`'s token on
/// `KINDS[kind]`.
fn expected(b: bool, kind: usize, sub: &str) -> Seen {
    match (b, kind) {
        (false, _) => sub_shaped(sub),
        (true, 1) => Seen {
            status: 403,
            principal: None,
            issuer: None,
            email: None,
            groups: None,
            challenge: Some(
                r#"Bearer error="insufficient_scope", error_description="the token lacks a scope this request needs", scope="reports.read""#
                    .into(),
            ),
            error: Some("insufficient_scope".into()),
        },
        (true, _) => email_shaped(sub),
    }
}

/// Whether `seen` is entirely the answer `expected(b, kind, sub)`.
fn matches(b: bool, kind: usize, sub: &str, seen: &Seen) -> bool {
    *seen == expected(b, kind, sub)
}

/// The load test's shared counters.
#[derive(Default)]
struct Tally {
    answers: AtomicU64,
    a: AtomicU64,
    b: AtomicU64,
    /// Answers to requests during which no swap began or ended (checked
    /// against the bundle active for their whole flight).
    settled: AtomicU64,
    surprises: Mutex<Vec<String>>,
}

impl Tally {
    fn surprise(&self, what: String) {
        let mut surprises = self.surprises.lock().unwrap();
        if surprises.len() < 20 {
            surprises.push(what);
        } else if surprises.len() == 20 {
            surprises.push("(more left out)".into());
        }
    }
}

/// The swap phase: `2k` while the `k`-th bundle answers (0: A, 1: B, …),
/// odd while a swap is under way.
fn bundle_of_phase(phase: u64) -> bool {
    (phase / 2) % 2 == 1
}

/// One client: keep-alive requests on the routes in turn until `stop`.
async fn load(
    tollgate: Arc<TestTollgate>,
    sub: String,
    tally: Arc<Tally>,
    phase: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
) {
    let client = client();
    let token = tollgate.token(&sub, "orders.read");
    let mut n = 0usize;
    while !stop.load(Ordering::SeqCst) {
        let kind = n % KINDS.len();
        n += 1;
        let before = phase.load(Ordering::SeqCst);
        let result = nginx(&client, &tollgate, KINDS[kind], &token).await;
        let after = phase.load(Ordering::SeqCst);
        let seen = match result {
            Ok(seen) => seen,
            Err(e) => {
                tally.surprise(format!("{sub} {}: transport error {e}", KINDS[kind]));
                tally.answers.fetch_add(1, Ordering::SeqCst);
                continue;
            }
        };
        let (is_a, is_b) = (
            matches(false, kind, &sub, &seen),
            matches(true, kind, &sub, &seen),
        );
        match (is_a, is_b) {
            (true, false) => tally.a.fetch_add(1, Ordering::SeqCst),
            (false, true) => tally.b.fetch_add(1, Ordering::SeqCst),
            _ => {
                tally.surprise(format!(
                    "{sub} {}: neither A's nor B's answer (or both): {seen:?}",
                    KINDS[kind]
                ));
                0
            }
        };
        if before == after && before.is_multiple_of(2) {
            // No swap began or ended while this request was in flight: the
            // bundle of this phase answered it, none other.
            tally.settled.fetch_add(1, Ordering::SeqCst);
            let b = bundle_of_phase(before);
            if !matches(b, kind, &sub, &seen) {
                tally.surprise(format!(
                    "{sub} {} in phase {before} (bundle {}): answered by the other bundle: {seen:?}",
                    KINDS[kind],
                    if b { 'B' } else { 'A' }
                ));
            }
        }
        tally.answers.fetch_add(1, Ordering::SeqCst);
    }
}

/// Wait until `tally` has at least `count` answers, within `deadline`.
async fn wait_for_answers(tally: &Tally, count: u64, deadline: Instant) {
    while tally.answers.load(Ordering::SeqCst) < count {
        assert!(
            Instant::now() < deadline,
            "only {} answers before the deadline (wanted {count}); surprises: {:?}",
            tally.answers.load(Ordering::SeqCst),
            tally.surprises.lock().unwrap()
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

/// The issue's requirement: 10 swaps while decisions flow continuously
/// (thousands per swap): zero failed requests, and each decision came from
/// exactly one bundle (old or new), never a mix.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_swaps_under_load_drop_nothing_and_never_mix_two_bundles() {
    const SWAPS: u64 = 10;
    const PER_SWAP: u64 = 1000;
    const CLIENTS: usize = 4;
    let key = new_key();
    let bundles = Bundles::new(&key);
    let first = bundles.active(POLICY_A, 1, 'a').await;
    // Every bundle is built before the first swap (configured, keys loaded).
    let mut next = Vec::new();
    for i in 1..=SWAPS {
        let b = i % 2 == 1;
        let (policy, tag) = if b { (POLICY_B, 'b') } else { (POLICY_A, 'a') };
        next.push(bundles.active(policy, 1 + i, tag).await);
    }
    let tollgate = Arc::new(start(key, first).await);

    // Each route answers as the bundles say, one at a time.
    let probe = client();
    let token = tollgate.token("probe", "orders.read");
    for (kind, path) in KINDS.iter().enumerate() {
        let a = nginx(&probe, &tollgate, path, &token).await.unwrap();
        assert!(matches(false, kind, "probe", &a), "A {path}: {a:?}");
        assert!(!matches(true, kind, "probe", &a), "A {path}: {a:?}");
    }

    let tally = Arc::new(Tally::default());
    let phase = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let clients: Vec<_> = (0..CLIENTS)
        .map(|i| {
            tokio::spawn(load(
                tollgate.clone(),
                format!("caller{i}"),
                tally.clone(),
                phase.clone(),
                stop.clone(),
            ))
        })
        .collect();

    let started = Instant::now();
    let deadline = started + Duration::from_secs(300);
    let mut per_swap = Vec::new();
    let mut since = 0;
    for bundle in next {
        wait_for_answers(&tally, since + PER_SWAP, deadline).await;
        phase.fetch_add(1, Ordering::SeqCst);
        tollgate.live.activate(bundle);
        phase.fetch_add(1, Ordering::SeqCst);
        let now = tally.answers.load(Ordering::SeqCst);
        per_swap.push(now - since);
        since = now;
    }
    wait_for_answers(&tally, since + PER_SWAP, deadline).await;
    stop.store(true, Ordering::SeqCst);
    for client in clients {
        tokio::time::timeout(Duration::from_secs(60), client)
            .await
            .expect("the clients stop")
            .expect("a client panicked");
    }
    let elapsed = started.elapsed();
    let total = tally.answers.load(Ordering::SeqCst);
    per_swap.push(total - since);
    let (a, b) = (
        tally.a.load(Ordering::SeqCst),
        tally.b.load(Ordering::SeqCst),
    );
    let settled = tally.settled.load(Ordering::SeqCst);
    println!(
        "{SWAPS} swaps, {CLIENTS} clients: {total} answers in {:.1} s ({:.0}/s), {a} from A, {b} from B, \
         {settled} checked against the bundle active for their whole flight; answers between swaps: {per_swap:?}",
        elapsed.as_secs_f64(),
        total as f64 / elapsed.as_secs_f64()
    );
    let surprises = tally.surprises.lock().unwrap().clone();
    assert!(surprises.is_empty(), "{surprises:#?}");
    assert_eq!(a + b, total);
    assert!(total >= 10_000, "{total}");
    assert!(a >= PER_SWAP && b >= PER_SWAP, "A {a}, B {b}");
    assert!(per_swap.iter().all(|n| *n >= PER_SWAP), "{per_swap:?}");

    let status = tollgate.live.status();
    assert_eq!(status.activations, SWAPS);
    assert_eq!(status.active.revision, 1 + SWAPS);
    assert_eq!(status.active.digest, digest('a', 1 + SWAPS));
    // The server counted no error, overload or bad request.
    let metrics = admin_text(&tollgate, "/metrics").await;
    for outcome in ["error", "overloaded", "bad-request"] {
        assert!(
            !metrics.contains(&format!("outcome=\"{outcome}\"")),
            "{outcome}: {metrics}"
        );
    }
    assert!(
        metrics
            .lines()
            .any(|l| l == format!("tollgate_bundle_activations_total {SWAPS}")),
        "{metrics}"
    );
    Arc::into_inner(tollgate)
        .expect("the clients are done")
        .stop()
        .await;
}

/// Swaps far faster than the issue asks (a rollback, which swaps the
/// active and previous bundle, every few microseconds from a thread of its
/// own) while decisions flow: a door that read the bundle twice in one
/// decision (canonicalized with one and decided with the other) would
/// answer some `/Reports/1` with a 403 neither bundle gives.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_swap_storm_under_load_never_mixes_two_bundles() {
    const CLIENTS: usize = 4;
    const ANSWERS: u64 = 10_000;
    const MIN_SWAPS: u64 = 1000;
    let key = new_key();
    let bundles = Bundles::new(&key);
    let a = bundles.active(POLICY_A, 1, 'a').await;
    let b = bundles.active(POLICY_B, 2, 'b').await;
    let tollgate = Arc::new(start(key, a).await);
    tollgate.live.activate(b);
    let tally = Arc::new(Tally::default());
    // Phase 2: the second bundle (B) answers.
    let phase = Arc::new(AtomicU64::new(2));
    let stop = Arc::new(AtomicBool::new(false));
    let clients: Vec<_> = (0..CLIENTS)
        .map(|i| {
            tokio::spawn(load(
                tollgate.clone(),
                format!("caller{i}"),
                tally.clone(),
                phase.clone(),
                stop.clone(),
            ))
        })
        .collect();
    let stop_storm = Arc::new(AtomicBool::new(false));
    let swaps = Arc::new(AtomicU64::new(0));
    let storm = std::thread::spawn({
        let live = tollgate.live.clone();
        let (phase, stop_storm, swaps) = (phase.clone(), stop_storm.clone(), swaps.clone());
        move || {
            while !stop_storm.load(Ordering::SeqCst) {
                phase.fetch_add(1, Ordering::SeqCst);
                live.rollback().expect("a previous bundle");
                phase.fetch_add(1, Ordering::SeqCst);
                swaps.fetch_add(1, Ordering::SeqCst);
                std::thread::sleep(Duration::from_micros(20));
            }
        }
    });
    let started = Instant::now();
    let deadline = started + Duration::from_secs(300);
    wait_for_answers(&tally, ANSWERS, deadline).await;
    while swaps.load(Ordering::SeqCst) < MIN_SWAPS {
        assert!(Instant::now() < deadline, "only {swaps:?} swaps");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    stop_storm.store(true, Ordering::SeqCst);
    storm.join().expect("the storm thread");
    let swaps = swaps.load(Ordering::SeqCst);
    stop.store(true, Ordering::SeqCst);
    for client in clients {
        tokio::time::timeout(Duration::from_secs(60), client)
            .await
            .expect("the clients stop")
            .expect("a client panicked");
    }
    let elapsed = started.elapsed();
    let total = tally.answers.load(Ordering::SeqCst);
    let (a, b) = (
        tally.a.load(Ordering::SeqCst),
        tally.b.load(Ordering::SeqCst),
    );
    println!(
        "swap storm: {swaps} swaps, {total} answers in {:.1} s, {a} from A, {b} from B, {} checked against the bundle active for their whole flight",
        elapsed.as_secs_f64(),
        tally.settled.load(Ordering::SeqCst)
    );
    let surprises = tally.surprises.lock().unwrap().clone();
    assert!(surprises.is_empty(), "{surprises:#?}");
    assert_eq!(a + b, total);
    assert!(a > 0 && b > 0, "A {a}, B {b}");
    assert_eq!(tollgate.live.status().rollbacks, swaps);
    Arc::into_inner(tollgate)
        .expect("the clients are done")
        .stop()
        .await;
}

// ---------------------------------------------------------------------------
// 2. The admin port.

fn admin_url(tollgate: &TestTollgate, path: &str) -> String {
    format!("http://{}{path}", tollgate.addrs().admin.unwrap())
}

async fn admin_text(tollgate: &TestTollgate, path: &str) -> String {
    client()
        .get(admin_url(tollgate, path))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

/// `method path` on the admin port, a POST naming its action in
/// `X-Tollgate-Action` (as `tollgate bundle rollback` does); a JSON answer.
async fn admin_json(tollgate: &TestTollgate, method: &str, path: &str) -> (StatusCode, Value) {
    let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
    let mut request = client().request(method.clone(), admin_url(tollgate, path));
    if method == reqwest::Method::POST {
        let action = path.rsplit('/').next().unwrap();
        request = request.header("x-tollgate-action", action);
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    assert_eq!(
        response
            .headers()
            .get("content-type")
            .map(|v| v.to_str().unwrap()),
        Some("application/json"),
        "{path}"
    );
    let body = response.text().await.unwrap();
    let value = serde_json::from_str(&body)
        .map_err(|e| format!("{path}: {e}: {body}"))
        .unwrap();
    (status, value)
}

/// The value of the metric line `name` (with its labels), if there is one.
fn metric(metrics: &str, name: &str) -> Option<f64> {
    metrics.lines().find_map(|line| {
        let rest = line.strip_prefix(name)?;
        rest.strip_prefix(' ')?.trim().parse().ok()
    })
}

fn assert_bundle(value: &Value, tag: char, revision: u64) {
    assert_eq!(value["name"], NAME, "{value}");
    assert_eq!(value["revision"], revision, "{value}");
    assert_eq!(value["digest"], digest(tag, revision), "{value}");
    assert_eq!(
        value["module_digest"].as_str().map(str::len),
        Some(64),
        "{value}"
    );
    assert_eq!(value["source"], format!("test:{tag}"), "{value}");
    let at = value["activated_at"].as_i64().expect("activated_at");
    let now = tollgate_host::clock::unix_now();
    assert!(at <= now && at + 600 > now, "activated_at {at}, now {now}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_admin_port_tells_and_changes_the_active_bundle() {
    let key = new_key();
    let bundles = Bundles::new(&key);
    let a = bundles.active(POLICY_A, 1, 'a').await;
    let b = bundles.active(POLICY_B, 2, 'b').await;
    let tollgate = start(key, a).await;
    let http = client();
    let token = tollgate.token("alice", "orders.read");
    let answer = |path: &'static str| {
        let (http, tollgate, token) = (&http, &tollgate, &token);
        async move { nginx(http, tollgate, path, token).await.unwrap() }
    };
    assert_eq!(answer("/orders/1").await, sub_shaped("alice"));

    // One bundle so far: nothing to roll back to, nothing to promote.
    let (status, body) = admin_json(&tollgate, "GET", "/bundle").await;
    assert_eq!(status, StatusCode::OK);
    assert_bundle(&body["active"], 'a', 1);
    assert!(body["previous"].is_null(), "{body}");
    assert!(body["last_failure"].is_null(), "{body}");
    assert!(body["shadow"].is_null(), "{body}");
    assert_eq!(body["activations"], 0, "{body}");
    let (status, body) = admin_json(&tollgate, "POST", "/bundle/rollback").await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    let error = body["error"].as_str().expect("an error message");
    assert!(error.contains("no previous bundle"), "{error}");
    let (status, body) = admin_json(&tollgate, "POST", "/bundle/promote").await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    let error = body["error"].as_str().expect("an error message");
    assert!(error.contains("no shadow run"), "{error}");
    assert_eq!(answer("/orders/1").await, sub_shaped("alice"));

    // Methods, unknown actions, and actions not named in X-Tollgate-Action.
    for (method, path, action, expected) in [
        (
            "GET",
            "/bundle/rollback",
            None,
            StatusCode::METHOD_NOT_ALLOWED,
        ),
        (
            "GET",
            "/bundle/promote",
            None,
            StatusCode::METHOD_NOT_ALLOWED,
        ),
        ("POST", "/bundle", None, StatusCode::METHOD_NOT_ALLOWED),
        (
            "POST",
            "/bundle/activate",
            Some("activate"),
            StatusCode::NOT_FOUND,
        ),
        ("POST", "/bundle/rollback", None, StatusCode::BAD_REQUEST),
        (
            "POST",
            "/bundle/rollback",
            Some("promote"),
            StatusCode::BAD_REQUEST,
        ),
        (
            "POST",
            "/bundle/promote",
            Some("rollback"),
            StatusCode::BAD_REQUEST,
        ),
    ] {
        let mut request = http.request(
            reqwest::Method::from_bytes(method.as_bytes()).unwrap(),
            admin_url(&tollgate, path),
        );
        if let Some(action) = action {
            request = request.header("x-tollgate-action", action);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), expected, "{method} {path} {action:?}");
    }
    assert_eq!(
        tollgate.live.status().activations,
        0,
        "a refused admin request changed nothing"
    );

    // A swap: B answers, A is the previous.
    tollgate.live.activate(b);
    assert_eq!(answer("/orders/1").await, email_shaped("alice"));
    let (_, body) = admin_json(&tollgate, "GET", "/bundle").await;
    assert_bundle(&body["active"], 'b', 2);
    assert_bundle(&body["previous"], 'a', 1);
    assert_eq!(body["activations"], 1, "{body}");
    assert_eq!(body["rollbacks"], 0, "{body}");
    // A rollback that does not name itself changes nothing, though there is
    // a previous bundle now.
    for action in [None, Some("promote")] {
        let mut request = http.post(admin_url(&tollgate, "/bundle/rollback"));
        if let Some(action) = action {
            request = request.header("x-tollgate-action", action);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{action:?}");
        let text = response.text().await.unwrap();
        assert!(text.contains("X-Tollgate-Action"), "{text}");
    }
    assert_eq!(tollgate.live.status().rollbacks, 0);
    assert_eq!(answer("/orders/1").await, email_shaped("alice"));
    let (_, health) = admin_json(&tollgate, "GET", "/healthz").await;
    assert_eq!(health["status"], "ok", "{health}");
    assert_eq!(
        health["bundle"],
        json!({ "name": NAME, "revision": 2, "digest": digest('b', 2) }),
        "{health}"
    );

    // Rollback: A answers again, B is the previous; answered with the status.
    let (status, body) = admin_json(&tollgate, "POST", "/bundle/rollback").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_bundle(&body["active"], 'a', 1);
    assert_bundle(&body["previous"], 'b', 2);
    assert_eq!(body["rollbacks"], 1, "{body}");
    assert_eq!(body["activations"], 2, "{body}");
    assert_eq!(answer("/orders/1").await, sub_shaped("alice"));
    assert_eq!(answer("/reports/1").await, sub_shaped("alice"));
    let (_, health) = admin_json(&tollgate, "GET", "/healthz").await;
    assert_eq!(health["bundle"]["digest"], digest('a', 1), "{health}");

    // A second rollback undoes the first.
    let (status, body) = admin_json(&tollgate, "POST", "/bundle/rollback").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_bundle(&body["active"], 'b', 2);
    assert_bundle(&body["previous"], 'a', 1);
    assert_eq!(body["rollbacks"], 2, "{body}");
    assert_eq!(answer("/orders/1").await, email_shaped("alice"));
    assert_eq!(answer("/reports/1").await.status, 403);

    // A refused bundle: recorded, counted by step; B keeps answering.
    tollgate.live.record_failure(SwapFailure::new(
        digest('c', 3),
        digest('b', 2),
        SwapStep::Tests,
        "tests/orders.test.toml: case 2 expected allow, got deny",
    ));
    assert_eq!(answer("/orders/1").await, email_shaped("alice"));
    let (_, body) = admin_json(&tollgate, "GET", "/bundle").await;
    assert_bundle(&body["active"], 'b', 2);
    let failure = &body["last_failure"];
    assert_eq!(failure["digest"], digest('c', 3), "{body}");
    assert_eq!(failure["previous_digest"], digest('b', 2), "{body}");
    assert_eq!(failure["step"], "tests", "{body}");
    assert!(
        failure["reason"].as_str().unwrap().contains("case 2"),
        "{body}"
    );
    assert_eq!(body["failures"], json!({ "tests": 1 }), "{body}");

    let metrics = admin_text(&tollgate, "/metrics").await;
    let info = format!(
        "tollgate_bundle_info{{name=\"{NAME}\",revision=\"2\",digest=\"{}\"}}",
        digest('b', 2)
    );
    assert_eq!(metric(&metrics, &info), Some(1.0), "{metrics}");
    assert_eq!(
        metric(&metrics, "tollgate_bundle_revision"),
        Some(2.0),
        "{metrics}"
    );
    assert_eq!(
        metric(&metrics, "tollgate_bundle_activations_total"),
        Some(3.0),
        "{metrics}"
    );
    assert_eq!(
        metric(&metrics, "tollgate_bundle_rollbacks_total"),
        Some(2.0),
        "{metrics}"
    );
    assert_eq!(
        metric(&metrics, "tollgate_bundle_promotions_total"),
        Some(0.0),
        "{metrics}"
    );
    assert_eq!(
        metric(&metrics, "tollgate_bundle_failures_total{step=\"tests\"}"),
        Some(1.0),
        "{metrics}"
    );
    assert!(!metrics.contains("tollgate_shadow_"), "{metrics}");
    assert_eq!(
        metrics.matches("tollgate_bundle_info{").count(),
        1,
        "one active bundle: {metrics}"
    );
    tollgate.stop().await;
}

/// The admin port's bundle actions change what answers: off unless the
/// server is started with them (`--admin-bundle-actions`); reading the
/// status stays open.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bundle_actions_are_refused_unless_turned_on() {
    let key = new_key();
    let bundles = Bundles::new(&key);
    let a = bundles.active(POLICY_A, 1, 'a').await;
    let b = bundles.active(POLICY_B, 2, 'b').await;
    let tollgate = start_with(key, a, |_| {}).await;
    tollgate.live.activate(b);
    for action in ["rollback", "promote"] {
        let response = client()
            .post(admin_url(&tollgate, &format!("/bundle/{action}")))
            .header("x-tollgate-action", action)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::FORBIDDEN, "{action}");
        let text = response.text().await.unwrap();
        assert!(text.contains("--admin-bundle-actions"), "{text}");
    }
    let (status, body) = admin_json(&tollgate, "GET", "/bundle").await;
    assert_eq!(status, StatusCode::OK);
    assert_bundle(&body["active"], 'b', 2);
    assert_eq!(body["rollbacks"], 0, "{body}");
    let token = tollgate.token("alice", "orders.read");
    assert_eq!(
        nginx(&client(), &tollgate, "/orders/1", &token)
            .await
            .unwrap(),
        email_shaped("alice")
    );
    tollgate.stop().await;
}

// ---------------------------------------------------------------------------
// 3. The shadow run through the server.

/// Poll the status until `done` holds, within 30 s.
async fn wait_for_status(
    tollgate: &TestTollgate,
    what: &str,
    done: impl Fn(&tollgate_host::SwapStatus) -> bool,
) -> tollgate_host::SwapStatus {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let status = tollgate.live.status();
        if done(&status) {
            return status;
        }
        assert!(Instant::now() < deadline, "{what}: {status:#?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn shadow_settings(min_callers: u64, max_disagreement: f64) -> ShadowSettings {
    ShadowSettings {
        sample: 1.0,
        min_duration: Duration::ZERO,
        min_callers,
        max_disagreement,
        auto_promote: true,
    }
}

/// Longer than the shadow task's check interval (200 ms): a promotion that
/// was going to happen has happened.
const SETTLE: Duration = Duration::from_millis(700);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_undeclared_widening_in_shadow_never_answers_and_waits_for_a_manual_promotion() {
    let key = new_key();
    let bundles = Bundles::new(&key);
    let live = bundles.active(POLICY_LIVE, 1, 'a').await;
    let candidate = bundles.active(POLICY_CANDIDATE, 2, 'c').await;
    let tollgate = start(key, live).await;
    let http = client();
    // max_disagreement 1: only the undeclared widening holds the promotion
    // (the candidate's allows name another identity: disagreements too).
    tollgate
        .live
        .start_shadow(candidate, Vec::new(), shadow_settings(2, 1.0))
        .expect("shadow starts");

    let subs = ["ann", "ben", "cid"];
    for sub in subs {
        let token = tollgate.token(sub, "orders.read");
        // The widened route first: no comparison that agrees comes before it.
        assert_eq!(
            nginx(&http, &tollgate, "/reports/1", &token).await.unwrap(),
            forbidden(),
            "{sub}: the candidate's allow must not answer"
        );
        assert_eq!(
            nginx(&http, &tollgate, "/orders/1", &token).await.unwrap(),
            sub_shaped(sub),
            "{sub}: the live bundle answers"
        );
    }
    wait_for_status(&tollgate, "6 requests compared", |s| {
        s.shadow.as_ref().is_some_and(|shadow| shadow.compared >= 6)
    })
    .await;
    tokio::time::sleep(SETTLE).await;

    let (status, body) = admin_json(&tollgate, "GET", "/bundle").await;
    assert_eq!(status, StatusCode::OK);
    assert_bundle(&body["active"], 'a', 1);
    assert_eq!(body["promotions"], 0, "{body}");
    let shadow = &body["shadow"];
    assert_bundle(&shadow["candidate"], 'c', 2);
    assert!(shadow["ended"].is_null(), "still running: {body}");
    assert_eq!(shadow["compared"], 6, "{body}");
    assert_eq!(shadow["dropped"], 0, "{body}");
    assert_eq!(shadow["agreements"], 0, "{body}");
    assert_eq!(shadow["disagreements"], 6, "{body}");
    assert_eq!(
        shadow["disagreements_by_key"],
        json!({ "deny:forbidden->allow": 3, "allow->allow:other-identity": 3 }),
        "{body}"
    );
    assert_eq!(shadow["undeclared_widenings"], 3, "{body}");
    assert_eq!(shadow["declared_widenings"], 0, "{body}");
    assert_eq!(shadow["distinct_callers"], 3, "{body}");
    let waiting: Vec<&str> = shadow["waiting_for"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w.as_str().unwrap())
        .collect();
    assert_eq!(waiting.len(), 1, "{body}");
    assert!(waiting[0].starts_with("manual promotion"), "{body}");

    let metrics = admin_text(&tollgate, "/metrics").await;
    for (line, value) in [
        ("tollgate_shadow_decisions_total{result=\"agree\"}", 0.0),
        ("tollgate_shadow_decisions_total{result=\"disagree\"}", 6.0),
        ("tollgate_shadow_decisions_total{result=\"dropped\"}", 0.0),
        (
            "tollgate_shadow_disagreements_total{change=\"deny:forbidden->allow\"}",
            3.0,
        ),
        (
            "tollgate_shadow_disagreements_total{change=\"allow->allow:other-identity\"}",
            3.0,
        ),
        ("tollgate_shadow_widenings_total{declared=\"false\"}", 3.0),
        ("tollgate_shadow_widenings_total{declared=\"true\"}", 0.0),
        ("tollgate_bundle_promotions_total", 0.0),
    ] {
        assert_eq!(metric(&metrics, line), Some(value), "{line}: {metrics}");
    }

    // Still the live bundle's answers.
    let token = tollgate.token("ann", "orders.read");
    assert_eq!(
        nginx(&http, &tollgate, "/reports/1", &token).await.unwrap(),
        forbidden()
    );

    // The manual promotion: the candidate answers now.
    let (status, body) = admin_json(&tollgate, "POST", "/bundle/promote").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_bundle(&body["active"], 'c', 2);
    assert_bundle(&body["previous"], 'a', 1);
    assert_eq!(body["promotions"], 1, "{body}");
    assert_eq!(body["activations"], 1, "{body}");
    assert_eq!(body["shadow"]["ended"], "promoted manually", "{body}");
    assert_eq!(
        nginx(&http, &tollgate, "/reports/1", &token).await.unwrap(),
        email_shaped("ann")
    );
    assert_eq!(
        nginx(&http, &tollgate, "/orders/1", &token).await.unwrap(),
        email_shaped("ann")
    );
    let (status, _) = admin_json(&tollgate, "POST", "/bundle/promote").await;
    assert_eq!(status, StatusCode::CONFLICT, "the run is over");
    let metrics = admin_text(&tollgate, "/metrics").await;
    assert_eq!(
        metric(&metrics, "tollgate_bundle_promotions_total"),
        Some(1.0),
        "{metrics}"
    );
    tollgate.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_declared_widening_is_promoted_once_enough_callers_were_compared() {
    let key = new_key();
    let bundles = Bundles::new(&key);
    let live = bundles.active(POLICY_LIVE, 1, 'a').await;
    let candidate = bundles.active(&widened_policy(), 2, 'c').await;
    let tollgate = start(key, live).await;
    let http = client();
    let declared = vec![DeclaredWidening {
        methods: vec!["GET".into()],
        path: "/reports/*".into(),
        from: "forbidden".into(),
    }];
    tollgate
        .live
        .start_shadow(candidate, declared, shadow_settings(2, 0.0))
        .expect("shadow starts");

    // One caller: not enough. (Callers count once the live bundle has
    // identified them: an allow.)
    let ann = tollgate.token("ann", "orders.read");
    assert_eq!(
        nginx(&http, &tollgate, "/reports/1", &ann).await.unwrap(),
        forbidden()
    );
    assert_eq!(
        nginx(&http, &tollgate, "/orders/1", &ann).await.unwrap(),
        sub_shaped("ann")
    );
    wait_for_status(&tollgate, "2 requests compared", |s| {
        s.shadow.as_ref().is_some_and(|shadow| shadow.compared >= 2)
    })
    .await;
    tokio::time::sleep(SETTLE).await;
    let (_, body) = admin_json(&tollgate, "GET", "/bundle").await;
    assert_bundle(&body["active"], 'a', 1);
    let shadow = &body["shadow"];
    assert!(shadow["ended"].is_null(), "{body}");
    assert_eq!(shadow["agreements"], 1, "{body}");
    assert_eq!(shadow["disagreements"], 1, "{body}");
    assert_eq!(
        shadow["disagreements_by_key"],
        json!({ "deny:forbidden->allow": 1 }),
        "{body}"
    );
    assert_eq!(shadow["declared_widenings"], 1, "{body}");
    assert_eq!(shadow["undeclared_widenings"], 0, "{body}");
    assert_eq!(shadow["distinct_callers"], 1, "{body}");
    assert_eq!(
        shadow["waiting_for"],
        json!(["min_callers: 1 of 2"]),
        "{body}"
    );
    let metrics = admin_text(&tollgate, "/metrics").await;
    assert_eq!(
        metric(
            &metrics,
            "tollgate_shadow_widenings_total{declared=\"true\"}"
        ),
        Some(1.0),
        "{metrics}"
    );

    // A second caller: promoted by itself.
    let ben = tollgate.token("ben", "orders.read");
    assert_eq!(
        nginx(&http, &tollgate, "/reports/1", &ben).await.unwrap(),
        forbidden(),
        "compared after it is answered: the live bundle answers"
    );
    assert_eq!(
        nginx(&http, &tollgate, "/orders/1", &ben).await.unwrap(),
        sub_shaped("ben")
    );
    let status = wait_for_status(&tollgate, "the candidate promoted", |s| s.promotions == 1).await;
    assert_eq!(status.active.digest, digest('c', 2));
    assert_eq!(status.previous.as_ref().map(|p| p.revision), Some(1));
    let shadow = status.shadow.expect("the last run");
    assert_eq!(shadow.ended.as_deref(), Some("promoted automatically"));
    assert_eq!(shadow.distinct_callers, 2);
    assert_eq!(shadow.declared_widenings, 2);
    assert_eq!(shadow.undeclared_widenings, 0);
    // The candidate answers: the widened route is open.
    assert_eq!(
        nginx(&http, &tollgate, "/reports/1", &ann).await.unwrap(),
        sub_shaped("ann")
    );
    let (_, body) = admin_json(&tollgate, "GET", "/bundle").await;
    assert_bundle(&body["active"], 'c', 2);
    assert_eq!(body["shadow"]["ended"], "promoted automatically", "{body}");
    let metrics = admin_text(&tollgate, "/metrics").await;
    assert_eq!(
        metric(&metrics, "tollgate_bundle_promotions_total"),
        Some(1.0),
        "{metrics}"
    );
    tollgate.stop().await;
}

/// A candidate that reads paths more loosely, `dot_segments = "resolve"`,
/// allows requests the live bundle refuses with a 400 (`invalid-path`, a
/// deny): an undeclared widening like any other, which the shadow run must
/// see, so the candidate is not promoted by itself.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_candidate_that_accepts_paths_the_live_bundle_refuses_is_not_promoted_by_itself() {
    let key = new_key();
    let bundles = Bundles::new(&key);
    let live = bundles.active(POLICY_LIVE, 1, 'a').await;
    let candidate = bundles.active(&dot_segments_policy(), 2, 'c').await;
    let tollgate = start(key, live).await;
    let http = client();
    tollgate
        .live
        .start_shadow(candidate, Vec::new(), shadow_settings(2, 0.0))
        .expect("shadow starts");
    let subs = ["ann", "ben", "cid"];
    for sub in subs {
        let token = tollgate.token(sub, "orders.read");
        assert_eq!(
            nginx(&http, &tollgate, "/orders/./1", &token)
                .await
                .unwrap(),
            invalid_request(),
            "{sub}"
        );
    }
    for sub in subs {
        let token = tollgate.token(sub, "orders.read");
        assert_eq!(
            nginx(&http, &tollgate, "/orders/1", &token).await.unwrap(),
            sub_shaped(sub),
            "{sub}"
        );
    }
    wait_for_status(&tollgate, "3 agreeing requests compared", |s| {
        s.shadow
            .as_ref()
            .is_some_and(|shadow| shadow.agreements >= 3 || shadow.ended.is_some())
    })
    .await;
    tokio::time::sleep(SETTLE).await;
    let status = tollgate.live.status();
    let shadow = status.shadow.clone().expect("a shadow run");
    assert_eq!(
        status.promotions, 0,
        "promoted although it allowed paths the live bundle refused: {shadow:#?}"
    );
    assert!(shadow.ended.is_none(), "{shadow:#?}");
    assert_eq!(shadow.undeclared_widenings, 3, "{shadow:#?}");
    assert_eq!(
        shadow.disagreements_by_key,
        BTreeMap::from([("deny:invalid-path->allow".to_string(), 3)]),
        "{shadow:#?}"
    );
    // Still refused, and the 400 says why (the refusal's own text).
    let refused = http
        .get(format!("http://{}/auth", tollgate.addrs().nginx.unwrap()))
        .header("x-original-method", "GET")
        .header("x-original-uri", "/orders/./1")
        .header(
            "authorization",
            format!("Bearer {}", tollgate.token("ann", "orders.read")),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), StatusCode::BAD_REQUEST);
    let text = refused.text().await.unwrap();
    assert!(text.contains("`.` or `..` segment"), "{text}");
    tollgate.stop().await;
}
