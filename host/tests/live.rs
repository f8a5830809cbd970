//! The live bundle: atomic swaps, rollback, decisions during swaps, and the
//! shadow run, with real gates (the embedded default module) configured
//! with two policy documents: bundle `a` lets every valid token call every
//! route; bundle `b` has one rule, `GET /orders/*`, so it forbids
//! `GET /reports/1` (`forbidden`) and agrees with `a` on `GET /orders/1`.

// Tests: a failed expectation is a panic, and fixtures are indexed directly.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant, SystemTime};

use serde_json::json;
use tollgate_host::jwks::KeyFetchSettings;
use tollgate_host::model::{Decision, DenyReason, Request, TokenSource};
use tollgate_host::{
    Active, BundleInfo, ConfigBase, DeclaredWidening, Gate, LiveError, LiveGate, PolicyModule,
    SandboxLimits, ShadowSettings, ShadowStatus, SwapFailure, SwapStep,
};
use tollgate_keys::Algorithm;
use tollgate_keys::mint::SigningKey;

const ISSUER: &str = "https://live.tollgate.invalid";

struct Fixture {
    dir: PathBuf,
    key: SigningKey,
    module: Arc<PolicyModule>,
}

/// One module and one key for the whole test binary; the key's JWKS in a
/// folder of its own.
fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("tollgate-live-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let key = SigningKey::generate(Algorithm::EdDsa, "live-1").unwrap();
        std::fs::write(dir.join("jwks.json"), key.jwks().to_string()).unwrap();
        // A generous deadline: the machines running these tests are shared,
        // and a starved decision must not trap (what is tested is the swap).
        let limits = SandboxLimits {
            deadline: Duration::from_secs(20),
            ..SandboxLimits::default()
        };
        let module = PolicyModule::default_module(limits).unwrap();
        Fixture { dir, key, module }
    })
}

/// Bundle `name` (`a`: every route; `b`: only `GET /orders/*`), as an
/// [`Active`] with a gate of its own.
async fn bundle(name: &str) -> Active {
    let fx = fixture();
    let routes = match name {
        "a" => "",
        "b" => "[[route]]\nmethods = [\"GET\"]\npath = \"/orders/*\"\n",
        other => panic!("no bundle {other}"),
    };
    let policy = format!(
        "[[issuer]]\nissuer = \"{ISSUER}\"\naudiences = [\"live-api\"]\nalgorithms = [\"EdDSA\"]\njwks_file = \"jwks.json\"\n{routes}"
    );
    let gate = Gate::new(
        fx.module.clone(),
        &policy,
        &ConfigBase::Dir(fx.dir.clone()),
        &format!("bundle {name}"),
        KeyFetchSettings::default(),
    )
    .await
    .unwrap();
    Active {
        gate,
        info: BundleInfo {
            name: name.to_string(),
            revision: if name == "a" { 1 } else { 2 },
            digest: format!("digest-{name}"),
            module_digest: fx.module.digest().to_string(),
            activated_at: SystemTime::UNIX_EPOCH,
            source: "test".to_string(),
        },
    }
}

/// `sub`'s token: one per caller for the whole test binary (callers are
/// told apart by their credentials).
fn token(sub: &str) -> String {
    static TOKENS: OnceLock<Mutex<HashMap<String, String>>> = OnceLock::new();
    let mut tokens = TOKENS.get_or_init(Default::default).lock().unwrap();
    tokens
        .entry(sub.to_string())
        .or_insert_with(|| {
            let now = tollgate_host::clock::unix_now();
            fixture()
                .key
                .sign_jwt(
                    &json!({"iss": ISSUER, "sub": sub, "aud": "live-api", "iat": now, "exp": now + 3600}),
                    None,
                )
                .unwrap()
        })
        .clone()
}

fn request(token: &str, method: &str, path: &str) -> Request {
    Request {
        token_sources: vec![TokenSource::AuthorizationHeader(format!("Bearer {token}"))],
        method: method.to_string(),
        path: path.to_string(),
        now: tollgate_host::clock::unix_now(),
        ..Request::default()
    }
}

/// What bundle `name` answers to `GET /reports/1`.
fn is_answer_of(name: &str, decision: &Decision) -> bool {
    match (name, decision) {
        ("a", Decision::Allow(allow)) => allow.issuer == ISSUER,
        ("b", Decision::Deny(deny)) => deny.reason == DenyReason::Forbidden,
        _ => false,
    }
}

/// A live gate with bundle `name` active.
async fn live_with(name: &str) -> Arc<LiveGate> {
    let active = bundle(name).await;
    Arc::new(LiveGate::new(active.gate, active.info))
}

async fn reports(live: &LiveGate, token: &str) -> (Decision, Arc<Active>) {
    let mut request = request(token, "GET", "/reports/1");
    live.decide_request(&mut request, 0).await
}

/// Wait (at most 60 s: shared machines) until `check` holds.
async fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn shadow(live: &LiveGate) -> ShadowStatus {
    live.status().shadow.expect("a shadow status")
}

#[tokio::test]
async fn activation_swaps_answers_and_rollback_restores() {
    let live = live_with("b").await;
    let token = token("alice");
    assert_eq!(live.rollback(), Err(LiveError::NoPrevious));
    let (decision, active) = reports(&live, &token).await;
    assert_eq!(active.info.name, "b");
    assert!(is_answer_of("b", &decision), "{decision:?}");

    live.activate(bundle("a").await);
    let (decision, active) = reports(&live, &token).await;
    assert_eq!(active.info.name, "a");
    assert!(is_answer_of("a", &decision), "{decision:?}");
    let status = live.status();
    assert_eq!(status.active.name, "a");
    assert_eq!(status.previous.as_ref().unwrap().name, "b");
    assert_eq!(status.activations, 1);
    assert!(status.active.activated_at > SystemTime::UNIX_EPOCH);

    let restored = live.rollback().unwrap();
    assert_eq!(restored.name, "b");
    let (decision, active) = reports(&live, &token).await;
    assert_eq!(active.info.name, "b");
    assert!(is_answer_of("b", &decision), "{decision:?}");
    let status = live.status();
    assert_eq!(status.previous.as_ref().unwrap().name, "a");
    assert_eq!((status.activations, status.rollbacks), (2, 1));

    // A second rollback undoes the first.
    assert_eq!(live.rollback().unwrap().name, "a");
    assert!(is_answer_of("a", &reports(&live, &token).await.0));

    // A refused path is denied `invalid-path` by the bundle that answers.
    let mut dotted = request(&token, "GET", "/orders/../reports/1");
    let (decision, active) = live.decide_request(&mut dotted, 0).await;
    assert_eq!(active.info.name, "a");
    match decision {
        Decision::Deny(deny) => assert_eq!(deny.reason, DenyReason::InvalidPath),
        other => panic!("{other:?}"),
    }

    // Failures are kept and counted by step; the active bundle stays.
    live.record_failure(SwapFailure::new(
        "digest-c",
        "digest-a",
        SwapStep::Tests,
        "2 of 5 test cases failed",
    ));
    live.record_failure(SwapFailure::new(
        "digest-d",
        "digest-a",
        SwapStep::WitVersion,
        "targets 0.6.0",
    ));
    live.record_failure(SwapFailure::new(
        "digest-e",
        "digest-a",
        SwapStep::Tests,
        "1 of 5 test cases failed",
    ));
    let status = live.status();
    assert_eq!(status.active.name, "a");
    assert_eq!(status.failures.get("tests"), Some(&2));
    assert_eq!(status.failures.get("wit-version"), Some(&1));
    assert_eq!(status.last_failure.as_ref().unwrap().digest, "digest-e");
    let json = serde_json::to_value(&status).unwrap();
    assert_eq!(json["active"]["name"], "a");
    assert_eq!(json["previous"]["name"], "b");
    assert_eq!(json["last_failure"]["step"], "tests");
    assert_eq!(json["last_failure"]["previous_digest"], "digest-a");
    assert!(json["active"]["activated_at"].as_u64().unwrap() > 1_700_000_000);
    assert_eq!(json["failures"]["tests"], 2);
    assert_eq!(json["rollbacks"], 2);
    assert!(json["shadow"].is_null());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn decisions_during_ten_activations_each_come_from_one_bundle() {
    let live = live_with("a").await;
    let stop = Arc::new(AtomicBool::new(false));
    let decided = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for t in 0..3 {
        let (live, stop, decided) = (live.clone(), stop.clone(), decided.clone());
        tasks.push(tokio::spawn(async move {
            let token = token(&format!("caller-{t}"));
            let mut seen = [0u64; 2];
            while !stop.load(Ordering::Relaxed) {
                let (decision, active) = reports(&live, &token).await;
                let name = active.info.name.as_str();
                assert!(
                    is_answer_of(name, &decision),
                    "bundle {name} answered {decision:?}"
                );
                seen[usize::from(name == "b")] += 1;
                decided.fetch_add(1, Ordering::Relaxed);
            }
            seen
        }));
    }
    for swap in 0..10 {
        let before = decided.load(Ordering::Relaxed);
        let name = if swap % 2 == 0 { "b" } else { "a" };
        live.activate(bundle(name).await);
        eventually("decisions after the swap", || {
            decided.load(Ordering::Relaxed) >= before + 100
        })
        .await;
        // Once swapped, new decisions come from the new bundle only.
        let (decision, active) = reports(&live, &token("checker")).await;
        assert_eq!(active.info.name, name);
        assert!(is_answer_of(name, &decision));
    }
    stop.store(true, Ordering::Relaxed);
    let mut totals = [0u64; 2];
    for task in tasks {
        let seen = task.await.expect("no decision failed");
        totals[0] += seen[0];
        totals[1] += seen[1];
    }
    assert!(totals[0] > 0 && totals[1] > 0, "{totals:?}");
    assert_eq!(live.status().activations, 10);
}

/// Bundle `b` live, `a` in shadow: `a` widens `GET /reports/*`.
async fn shadowed(declared: Vec<DeclaredWidening>, settings: ShadowSettings) -> Arc<LiveGate> {
    let live = live_with("b").await;
    live.start_shadow(bundle("a").await, declared, settings)
        .unwrap();
    live
}

fn reports_declared() -> Vec<DeclaredWidening> {
    vec![DeclaredWidening {
        methods: vec!["GET".into()],
        path: "/reports/*".into(),
        from: "forbidden".into(),
    }]
}

fn promptly(min_callers: u64) -> ShadowSettings {
    ShadowSettings {
        sample: 1.0,
        min_duration: Duration::ZERO,
        min_callers,
        max_disagreement: 0.0,
        auto_promote: true,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shadow_counts_and_an_undeclared_widening_keeps_promotion_manual() {
    // Four callers needed: three agreements and one widening do not promote.
    let live = shadowed(Vec::new(), promptly(4)).await;
    for caller in ["alice", "bob", "carol"] {
        let mut orders = request(&token(caller), "GET", "/orders/1");
        let (decision, active) = live.decide_request(&mut orders, 0).await;
        assert!(matches!(decision, Decision::Allow(_)));
        assert_eq!(active.info.name, "b", "the live bundle answers");
    }
    let (decision, active) = reports(&live, &token("alice")).await;
    assert_eq!(active.info.name, "b");
    assert!(
        is_answer_of("b", &decision),
        "the live answer is not changed"
    );
    eventually("four comparisons", || shadow(&live).compared == 4).await;
    let status = shadow(&live);
    assert_eq!(status.ended, None);
    assert_eq!(status.agreements, 3);
    assert_eq!(status.disagreements, 1);
    assert_eq!(
        status.disagreements_by_key.get("deny:forbidden->allow"),
        Some(&1)
    );
    assert_eq!(status.undeclared_widenings, 1);
    assert_eq!(status.declared_widenings, 0);
    assert_eq!(status.distinct_callers, 3);
    assert!(
        status
            .waiting_for
            .iter()
            .any(|w| w.starts_with("manual promotion")),
        "{:?}",
        status.waiting_for
    );
    // More callers and time change nothing.
    for caller in ["dave", "erin"] {
        let mut orders = request(&token(caller), "GET", "/orders/1");
        live.decide_request(&mut orders, 0).await;
    }
    eventually("six comparisons", || shadow(&live).compared == 6).await;
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(live.current().info.name, "b");
    let status = shadow(&live);
    assert_eq!(status.ended, None);
    assert_eq!(status.distinct_callers, 5);
    // The manual path promotes.
    assert_eq!(live.promote_shadow().unwrap().name, "a");
    assert!(is_answer_of("a", &reports(&live, &token("alice")).await.0));
    let status = live.status();
    assert_eq!(status.promotions, 1);
    let ended = status.shadow.unwrap();
    assert_eq!(ended.ended.as_deref(), Some("promoted manually"));
    assert_eq!(ended.undeclared_widenings, 1);
    assert_eq!(live.promote_shadow(), Err(LiveError::NoShadow));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_undeclared_widening_first_never_promotes() {
    let live = shadowed(Vec::new(), promptly(1)).await;
    reports(&live, &token("alice")).await;
    eventually("the widening compared", || shadow(&live).compared == 1).await;
    for caller in ["bob", "carol", "dave"] {
        let mut orders = request(&token(caller), "GET", "/orders/1");
        live.decide_request(&mut orders, 0).await;
    }
    eventually("all compared", || shadow(&live).compared == 4).await;
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(live.current().info.name, "b");
    let status = shadow(&live);
    assert_eq!(status.ended, None);
    assert_eq!(status.undeclared_widenings, 1);
    // Stopping ends it without promoting.
    let stopped = live.stop_shadow().unwrap();
    assert_eq!(stopped.ended.as_deref(), Some("stopped"));
    assert_eq!(live.current().info.name, "b");
    assert_eq!(live.stop_shadow(), Err(LiveError::NoShadow));
    // Decisions after the stop are not offered.
    reports(&live, &token("alice")).await;
    assert_eq!(live.status().shadow.unwrap().offered, 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_declared_widening_lets_the_candidate_be_promoted() {
    let live = shadowed(reports_declared(), promptly(3)).await;
    // Widenings first (declared), from three callers.
    for caller in ["alice", "bob", "carol"] {
        let (decision, active) = reports(&live, &token(caller)).await;
        assert_eq!(active.info.name, "b");
        assert!(is_answer_of("b", &decision));
    }
    eventually("the automatic promotion", || {
        live.current().info.name == "a"
    })
    .await;
    let status = live.status();
    assert_eq!(status.promotions, 1);
    assert_eq!(status.previous.unwrap().name, "b");
    let ended = status.shadow.unwrap();
    assert_eq!(ended.ended.as_deref(), Some("promoted automatically"));
    assert_eq!(ended.declared_widenings, 3);
    assert_eq!(ended.undeclared_widenings, 0);
    assert_eq!(ended.disagreements, 3);
    assert!(ended.waiting_for.is_empty(), "{:?}", ended.waiting_for);
    assert!(is_answer_of("a", &reports(&live, &token("alice")).await.0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn automatic_promotion_waits_for_callers_duration_and_agreement() {
    // Callers: two of three seen, nothing happens; the third promotes.
    let live = shadowed(reports_declared(), promptly(3)).await;
    for _ in 0..5 {
        for caller in ["alice", "bob"] {
            let mut orders = request(&token(caller), "GET", "/orders/1");
            live.decide_request(&mut orders, 0).await;
        }
    }
    eventually("ten comparisons", || shadow(&live).compared == 10).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(live.current().info.name, "b");
    let status = shadow(&live);
    assert_eq!(status.distinct_callers, 2);
    assert_eq!(status.agreements, 10);
    assert_eq!(status.waiting_for, ["min_callers: 2 of 3"]);
    let mut orders = request(&token("carol"), "GET", "/orders/1");
    live.decide_request(&mut orders, 0).await;
    eventually("the promotion", || live.current().info.name == "a").await;

    // Duration: an hour to go, so no promotion however many callers.
    let live = shadowed(
        reports_declared(),
        ShadowSettings {
            min_duration: Duration::from_secs(3600),
            ..promptly(1)
        },
    )
    .await;
    for caller in ["alice", "bob", "carol"] {
        let mut orders = request(&token(caller), "GET", "/orders/1");
        live.decide_request(&mut orders, 0).await;
    }
    eventually("three comparisons", || shadow(&live).compared == 3).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(live.current().info.name, "b");
    assert!(shadow(&live).waiting_for[0].starts_with("min_duration"));

    // A narrowing (live allow, candidate deny) is a disagreement beyond 0.
    let live = live_with("a").await;
    live.start_shadow(bundle("b").await, Vec::new(), promptly(1))
        .unwrap();
    reports(&live, &token("alice")).await;
    eventually("one comparison", || shadow(&live).compared == 1).await;
    for caller in ["bob", "carol"] {
        let mut orders = request(&token(caller), "GET", "/orders/1");
        live.decide_request(&mut orders, 0).await;
    }
    eventually("three comparisons", || shadow(&live).compared == 3).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(live.current().info.name, "a");
    let status = shadow(&live);
    assert_eq!(
        status.disagreements_by_key.get("allow->deny:forbidden"),
        Some(&1)
    );
    assert_eq!(status.undeclared_widenings, 0);
    assert!(status.waiting_for[0].starts_with("max_disagreement"));

    // auto_promote off: conditions met, still manual.
    let live = shadowed(
        Vec::new(),
        ShadowSettings {
            auto_promote: false,
            ..promptly(1)
        },
    )
    .await;
    let mut orders = request(&token("alice"), "GET", "/orders/1");
    live.decide_request(&mut orders, 0).await;
    eventually("one comparison", || shadow(&live).compared == 1).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(live.current().info.name, "b");
    assert!(shadow(&live).waiting_for.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sampling_and_supersession() {
    let live = shadowed(
        Vec::new(),
        ShadowSettings {
            sample: 0.25,
            auto_promote: false,
            ..promptly(1)
        },
    )
    .await;
    for _ in 0..8 {
        let mut orders = request(&token("alice"), "GET", "/orders/1");
        live.decide_request(&mut orders, 0).await;
    }
    eventually("two comparisons", || shadow(&live).compared == 2).await;
    let status = shadow(&live);
    assert_eq!((status.offered, status.sampled), (8, 2));
    // An activation ends the shadow run.
    live.activate(bundle("a").await);
    let status = live.status().shadow.unwrap();
    assert_eq!(status.ended.as_deref(), Some("superseded by an activation"));
    assert_eq!(live.promote_shadow(), Err(LiveError::NoShadow));
    // Invalid inputs are refused.
    assert!(matches!(
        live.start_shadow(
            bundle("b").await,
            vec![DeclaredWidening {
                methods: vec!["GET".into()],
                path: "reports".into(),
                from: "forbidden".into(),
            }],
            promptly(1),
        ),
        Err(LiveError::InvalidDeclaredChange { .. })
    ));
    assert!(matches!(
        live.start_shadow(
            bundle("b").await,
            Vec::new(),
            ShadowSettings {
                sample: 2.0,
                ..promptly(1)
            },
        ),
        Err(LiveError::InvalidSettings(_))
    ));
}

#[test]
fn a_shadow_run_needs_a_runtime() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (b, a) = runtime.block_on(async { (bundle("b").await, bundle("a").await) });
    let live = Arc::new(LiveGate::new(b.gate, b.info));
    assert_eq!(
        live.start_shadow(a, Vec::new(), promptly(1)),
        Err(LiveError::NoRuntime)
    );
}
