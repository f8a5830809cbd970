//! Hot swap in Lambda, end to end through a real Runtime API (`cargo lambda
//! watch`, see `common/runtime.rs`) and the built `bootstrap`, with real
//! bundle sources on 127.0.0.1 (`hot-swap/tests/support`): a moto
//! S3-compatible server and an HTTP server whose bundle route never
//! answers.
//!
//! - a warm function picks up a bundle published to S3 within one check
//!   interval plus the budget, and logs its activation;
//! - a hanging source never delays an invocation beyond the budget: the
//!   deployed policy answers meanwhile;
//! - without a deployed policy, init activates the source's bundle (or the
//!   one kept in the state folder), and fails with an empty bucket.
//!
//! The deployed policy is the shared test policy (`orders.read` required);
//! the bundle requires `orders.admin` instead, so alice's reader token is
//! allowed by the one and denied (403) by the other.
//!
//! The tests run one at a time (a lock): they measure latencies on a
//! machine with few cores.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;
#[path = "../../../hot-swap/tests/support/mod.rs"]
mod support;

use std::path::Path;
use std::process::ExitStatus;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tollgate_bundle::{Artifact, BundleBuilder, SigningKey};
use tollgate_host::module::{DEFAULT_MODULE, Target, engine_fingerprint, precompile_for};

use common::runtime::Lambda;
use common::*;
use support::{HttpServer, Moto, Route};

/// The bundle name the functions run.
const NAME: &str = "orders";
/// The bucket and key bundles are published at.
const BUCKET: &str = "bundles";
const KEY: &str = "orders.bundle";
/// `TOLLGATE_BUNDLE_INTERVAL_S`.
const INTERVAL: Duration = Duration::from_secs(1);
/// `TOLLGATE_BUNDLE_BUDGET_MS`.
const BUDGET: Duration = Duration::from_millis(100);
/// Beyond one interval plus the budget, what a pickup may take: the check's
/// own work (download, signature, the artifact loaded, `configure`, the
/// bundle's test cases) and an invocation round trip, on a busy machine.
const PICKUP_MARGIN: Duration = Duration::from_millis(1500);
/// The longest an invocation may take while the source hangs: the budget
/// plus a generous margin for the decision itself (a decision takes a few
/// milliseconds; the source never answers, and the function gives up on it
/// after its request timeout, 5 s).
const HANG_LIMIT: Duration = Duration::from_secs(1);
/// The module deadline: generous, so that CPU starvation never fails a test.
const DEADLINE_MS: &str = "10000";

/// One test at a time.
fn serial() -> std::sync::MutexGuard<'static, ()> {
    static SERIAL: Mutex<()> = Mutex::new(());
    SERIAL
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// A runtime for the servers (their tasks run on its worker while the test
/// drives the function synchronously).
fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap()
}

/// The bundle signing key and the public key line a function trusts.
struct BundleKey {
    signing: SigningKey,
    public_line: String,
}

fn bundle_key() -> BundleKey {
    let pair = tollgate_bundle::generate_keypair(None).unwrap();
    let public_line = pair
        .public_key
        .lines()
        .map(str::trim)
        .rfind(|line| line.starts_with("RW"))
        .expect("a minisign public key line")
        .to_string();
    BundleKey {
        signing: SigningKey::from_text(&pair.secret_key, None).unwrap(),
        public_line,
    }
}

/// The bundle's policy: the test policy's issuer and keys, `orders.admin`
/// required instead of `orders.read`.
const BUNDLE_POLICY: &str = r#"
[[issuer]]
issuer = "https://issuer.example"
jwks_file = "files/jwks.json"
algorithms = ["ES256"]
audiences = ["orders-api"]
required_scopes = ["orders.admin"]
"#;

/// Its own test cases (run by the pipeline before the swap).
const BUNDLE_TESTS: &str = r#"
now = 1767225600

[token]
claims = { sub = "alice", aud = "orders-api", scope = "orders.read orders.write" }

[[case]]
name = "administrators are let in"
path = "/orders/1"
token = { claims = { sub = "root", scope = "orders.admin" } }
expect = { decision = "allow", principal = "root" }

[[case]]
name = "readers are not"
path = "/orders/1"
expect = { decision = "deny", status = 403 }
"#;

/// A signed bundle of revision `revision` carrying [`BUNDLE_POLICY`], with
/// the default module precompiled for this machine (as a Lambda bundle
/// is built: `tollgate bundle build --target`), so the pickup measures no
/// compile.
fn admin_only_bundle(key: &BundleKey, revision: u64) -> Vec<u8> {
    let target = Target::native();
    let wit = module()
        .wit_version()
        .expect("the default module's WIT version")
        .to_string();
    let bundle = BundleBuilder::new(
        NAME,
        revision,
        wit,
        "2026-12-01T00:00:00Z",
        DEFAULT_MODULE.to_vec(),
        BUNDLE_POLICY,
    )
    .test("tests/orders.test.toml", BUNDLE_TESTS)
    .file("files/jwks.json", jwks().to_string().into_bytes())
    .artifact(Artifact {
        target: target.triple().to_string(),
        engine: engine_fingerprint(target),
        bytes: precompile_for(DEFAULT_MODULE, Some(target)).unwrap(),
    })
    .to_bytes()
    .unwrap();
    tollgate_bundle::sign(&bundle, &key.signing, "lambda hot-swap test").unwrap()
}

/// A REST REQUEST event (its ARN names one route, so a 403 is an explicit
/// `Deny` of it) for a valid ES256 token with `scope`.
fn event_with_scope(scope: &str) -> Value {
    let mut claims = good_claims(now());
    claims["scope"] = json!(scope);
    rest_request_event(&format!("Bearer {}", mint("ec-1", &claims)))
}

/// Alice the reader: allowed by the deployed policy, denied by the bundle.
fn reader_event() -> Value {
    event_with_scope("orders.read orders.write")
}

/// An administrator without `orders.read`: denied by the deployed policy,
/// allowed by the bundle.
fn admin_event() -> Value {
    event_with_scope("orders.admin")
}

/// One invocation through the HTTP invoke endpoint: the answer's IAM
/// effect (`Allow` or `Deny`) and how long it took.
fn effect(lambda: &mut Lambda, event: &Value) -> (String, Duration) {
    let started = Instant::now();
    let (status, answer) = lambda.invoke_http(event.to_string().as_bytes());
    let took = started.elapsed();
    assert_eq!(status, 200, "{answer}\n{}", lambda.logs());
    let effect = answer["policyDocument"]["Statement"][0]["Effect"]
        .as_str()
        .unwrap_or_else(|| panic!("no IAM policy in {answer}\n{}", lambda.logs()))
        .to_string();
    (effect, took)
}

/// The function's whole stderr.
fn function_log(lambda: &Lambda) -> String {
    std::fs::read_to_string(lambda.scratch.path("function.err")).unwrap_or_default()
}

/// The log lines (JSON) whose message is `message`.
fn log_lines(log: &str, message: &str) -> Vec<Value> {
    log.lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|line| line["fields"]["message"] == message)
        .collect()
}

/// Wait (at most 60 s) until the function logs `message`.
fn wait_for_log(lambda: &mut Lambda, message: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while log_lines(&function_log(lambda), message).is_empty() {
        lambda.function.assert_running();
        assert!(
            Instant::now() < deadline,
            "bootstrap did not log {message:?} within 60 s\n{}",
            lambda.logs()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Wait (at most `timeout`) for the function to exit.
fn wait_for_exit(lambda: &mut Lambda, timeout: Duration) -> ExitStatus {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(status) = lambda.function.child.try_wait().unwrap() {
            return status;
        }
        assert!(
            Instant::now() < deadline,
            "bootstrap still runs after {timeout:?}\n{}",
            lambda.logs()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Invoke (with `event`) until the function answers, bounded: init may
/// take a while (a bundle to fetch and check first).
fn first_effect(lambda: &mut Lambda, event: &Value) -> String {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        lambda.function.assert_running();
        let (status, answer) = lambda.invoke_http(event.to_string().as_bytes());
        if status == 200 {
            return answer["policyDocument"]["Statement"][0]["Effect"]
                .as_str()
                .unwrap_or_else(|| panic!("no IAM policy in {answer}\n{}", lambda.logs()))
                .to_string();
        }
        assert!(
            Instant::now() < deadline,
            "no answer within 60 s: {status} {answer}\n{}",
            lambda.logs()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The variables of a function checking `source` every [`INTERVAL`] with
/// [`BUDGET`], trusting `key`, keeping state in `state_dir`, with S3 on
/// `moto` when given.
fn hot_swap_env(
    source: &str,
    key: &BundleKey,
    state_dir: &Path,
    moto: Option<&Moto>,
) -> Vec<(&'static str, Option<String>)> {
    let mut env = vec![
        ("TOLLGATE_LOG", Some("info".to_string())),
        ("TOLLGATE_DEADLINE_MS", Some(DEADLINE_MS.to_string())),
        ("TOLLGATE_BUNDLE_SOURCE", Some(source.to_string())),
        ("TOLLGATE_BUNDLE_NAME", Some(NAME.to_string())),
        ("TOLLGATE_BUNDLE_KEYS", Some(key.public_line.clone())),
        (
            "TOLLGATE_BUNDLE_INTERVAL_S",
            Some(INTERVAL.as_secs().to_string()),
        ),
        (
            "TOLLGATE_BUNDLE_BUDGET_MS",
            Some(BUDGET.as_millis().to_string()),
        ),
        (
            "TOLLGATE_BUNDLE_STATE_DIR",
            Some(state_dir.display().to_string()),
        ),
    ];
    if let Some(moto) = moto {
        // What the S3 source reads (object_store's names: AWS_ENDPOINT_URL
        // or AWS_ENDPOINT for the endpoint).
        env.extend([
            ("AWS_ENDPOINT_URL", Some(moto.endpoint())),
            ("AWS_ACCESS_KEY_ID", Some("test".to_string())),
            ("AWS_SECRET_ACCESS_KEY", Some("test".to_string())),
            ("AWS_REGION", Some("us-east-1".to_string())),
            ("AWS_ALLOW_HTTP", Some("true".to_string())),
        ]);
    }
    env
}

/// Start `bootstrap` with the test policy deployed beside it and `env`.
fn start(env: &[(&'static str, Option<String>)]) -> Lambda {
    let env: Vec<(&str, Option<&str>)> = env
        .iter()
        .map(|(name, value)| (*name, value.as_deref()))
        .collect();
    Lambda::start_with(&write_policy, &env)
}

/// Start `bootstrap` with no deployed policy (neither `TOLLGATE_CONFIG`
/// nor `TOLLGATE_MODULE`, and no default files) and `env`.
fn start_without_policy(env: &[(&'static str, Option<String>)]) -> Lambda {
    let beside = Path::new(env!("CARGO_BIN_EXE_bootstrap"))
        .parent()
        .unwrap()
        .join(tollgate_lambda::setup::CONFIG_FILE_NAME);
    let layer =
        Path::new(tollgate_lambda::setup::LAYER_DIR).join(tollgate_lambda::setup::CONFIG_FILE_NAME);
    for default in [&beside, &layer] {
        assert!(
            !default.exists(),
            "{} exists, so bootstrap would deploy it: this test needs no default policy",
            default.display()
        );
    }
    let mut env: Vec<(&str, Option<&str>)> = env
        .iter()
        .map(|(name, value)| (*name, value.as_deref()))
        .collect();
    env.extend([("TOLLGATE_CONFIG", None), ("TOLLGATE_MODULE", None)]);
    Lambda::start_with(&write_policy, &env)
}

#[test]
fn a_warm_function_picks_up_a_bundle_published_to_s3_within_one_interval() {
    let _serial = serial();
    let started = Instant::now();
    let rt = runtime();
    let moto = Moto::start();
    rt.block_on(moto.create_bucket(BUCKET));
    let key = bundle_key();
    let bundle = admin_only_bundle(&key, 2);
    let digest = tollgate_hot_swap::controller::digest_of(&bundle);
    let state = Scratch::new("hot-swap-state");
    let source = format!("s3://{BUCKET}/{KEY}");
    let mut lambda = start(&hot_swap_env(
        &source,
        &key,
        &state.path("state"),
        Some(&moto),
    ));

    // Warm, for more than an interval: the deployed policy answers (the
    // bucket is empty, so each due check finds nothing).
    assert_eq!(first_effect(&mut lambda, &reader_event()), "Allow");
    let warm_until = Instant::now() + INTERVAL + INTERVAL / 2;
    while Instant::now() < warm_until {
        assert_eq!(effect(&mut lambda, &reader_event()).0, "Allow");
        assert_eq!(effect(&mut lambda, &admin_event()).0, "Deny");
        std::thread::sleep(Duration::from_millis(100));
    }

    // Publish; invoke every 50 ms until the bundle answers.
    let put_started = Instant::now();
    rt.block_on(moto.put(BUCKET, KEY, &bundle));
    let published = Instant::now();
    let mut old_answers = 0;
    let pickup = loop {
        let (effect, _) = effect(&mut lambda, &reader_event());
        if effect == "Deny" {
            break published.elapsed();
        }
        assert_eq!(effect, "Allow");
        old_answers += 1;
        assert!(
            published.elapsed() < Duration::from_secs(30),
            "the bundle does not answer 30 s after its publication\n{}",
            lambda.logs()
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    eprintln!(
        "pickup: the bundle answered {pickup:.0?} after its publication (the put took {:.0?}; {old_answers} invocations answered by the deployed policy meanwhile; interval {INTERVAL:?}, budget {BUDGET:?})",
        published - put_started
    );
    assert!(
        pickup <= INTERVAL + BUDGET + PICKUP_MARGIN,
        "pickup took {pickup:?}, over one interval ({INTERVAL:?}) plus the budget ({BUDGET:?}) plus {PICKUP_MARGIN:?}\n{}",
        lambda.logs()
    );

    // From then on the bundle answers, through later (unchanged) checks.
    let until = Instant::now() + INTERVAL + INTERVAL / 2;
    while Instant::now() < until {
        assert_eq!(effect(&mut lambda, &reader_event()).0, "Deny");
        assert_eq!(effect(&mut lambda, &admin_event()).0, "Allow");
        std::thread::sleep(Duration::from_millis(100));
    }
    lambda.function.assert_running();

    // The log: started on the deployed policy, one activation of the
    // bundle naming both digests.
    let log = function_log(&lambda);
    assert!(
        log.contains("loading the deployed policy (hot swap replaces it)"),
        "{log}"
    );
    assert_eq!(
        log_lines(&log, "policy bundles are hot-swapped").len(),
        1,
        "{log}"
    );
    let activated = log_lines(&log, "bundle activated");
    assert_eq!(activated.len(), 1, "{log}");
    let line = &activated[0]["fields"];
    assert_eq!(line["name"], NAME, "{line}");
    assert_eq!(line["revision"], 2, "{line}");
    assert_eq!(line["digest"], digest.as_str(), "{line}");
    assert_eq!(line["how"], "activated", "{line}");
    assert!(
        line["previous_digest"]
            .as_str()
            .is_some_and(|d| !d.is_empty()),
        "{line}"
    );
    // Kept as the last good bundle.
    assert_eq!(
        std::fs::read(state.path("state/active.bundle")).unwrap(),
        bundle
    );
    eprintln!("scenario took {:.1?}", started.elapsed());
}

#[test]
fn a_hanging_source_never_delays_an_invocation_beyond_the_budget() {
    let _serial = serial();
    let started = Instant::now();
    let rt = runtime();
    let server = rt.block_on(HttpServer::start());
    server.set("/orders.bundle", Route::Hang);
    let key = bundle_key();
    const INVOCATIONS: usize = 8;
    const PAUSE: Duration = Duration::from_millis(300);

    // The same invocations without a bundle source, for comparison.
    let mut baseline = Vec::new();
    {
        let mut lambda = start(&[
            ("TOLLGATE_LOG", Some("info".to_string())),
            ("TOLLGATE_DEADLINE_MS", Some(DEADLINE_MS.to_string())),
        ]);
        assert_eq!(first_effect(&mut lambda, &reader_event()), "Allow");
        for _ in 0..INVOCATIONS {
            let (effect, took) = effect(&mut lambda, &reader_event());
            assert_eq!(effect, "Allow");
            baseline.push(took);
            std::thread::sleep(PAUSE);
        }
    }

    let state = Scratch::new("hot-swap-state");
    let env = hot_swap_env(
        &server.url("/orders.bundle"),
        &key,
        &state.path("state"),
        None,
    );
    // How long the function's source waits for an answer.
    let request_timeout = {
        let get = |name: &str| {
            env.iter()
                .find(|(n, _)| *n == name)
                .and_then(|(_, value)| value.clone())
        };
        tollgate_lambda::bundles::from_lookup(
            &get,
            tollgate_host::SandboxLimits::default(),
            tollgate_host::jwks::KeyFetchSettings::lambda(),
            tollgate_host::TokenCacheSettings::default(),
        )
        .unwrap()
        .unwrap()
        .hot_swap
        .source_settings
        .request_timeout
    };
    let mut lambda = start(&env);
    // Init done (so the first time below is no init's): the deployed
    // policy is active. The first invocation starts the first check, which
    // hangs.
    wait_for_log(&mut lambda, "bundle active");
    std::thread::sleep(Duration::from_millis(200));
    let mut hanging = Vec::new();
    let first = Instant::now();
    for _ in 0..INVOCATIONS {
        let (effect, took) = effect(&mut lambda, &reader_event());
        assert_eq!(effect, "Allow", "the deployed policy answers");
        hanging.push(took);
        std::thread::sleep(PAUSE);
    }
    let span = first.elapsed();
    let summary = |times: &[Duration]| {
        let max = times.iter().max().copied().unwrap_or_default();
        let mean = times.iter().sum::<Duration>() / u32::try_from(times.len()).unwrap();
        format!("mean {mean:.1?}, max {max:.1?}")
    };
    eprintln!(
        "{INVOCATIONS} invocations over {span:.1?}: without a source {}; while the source hangs {} (budget {BUDGET:?}); each: {hanging:.0?}",
        summary(&baseline),
        summary(&hanging),
    );
    for (n, took) in hanging.iter().enumerate() {
        assert!(
            *took < HANG_LIMIT,
            "invocation {n} took {took:?} while the source hangs (budget {BUDGET:?})\n{}",
            lambda.logs()
        );
    }
    // The invocations spanned several intervals, yet the source was asked
    // once per request timeout at most: a check that hangs is waited for,
    // never started twice (a new one only after it gave up).
    assert!(span > 2 * INTERVAL, "{span:?}");
    let asked = server
        .seen()
        .iter()
        .filter(|seen| seen.path == "/orders.bundle")
        .count();
    let most = 1 + usize::try_from(span.as_millis() / request_timeout.as_millis()).unwrap();
    eprintln!(
        "the hanging source was asked {asked} times in {span:.1?} (its request timeout: {request_timeout:?})"
    );
    assert!(
        (1..=most).contains(&asked),
        "{asked} requests to the hanging source in {span:?}"
    );
    lambda.function.assert_running();
    let log = function_log(&lambda);
    assert!(log_lines(&log, "bundle activated").is_empty(), "{log}");
    eprintln!("scenario took {:.1?}", started.elapsed());
}

#[test]
fn without_a_deployed_policy_init_activates_the_bundle_or_fails() {
    let _serial = serial();
    let started = Instant::now();
    let rt = runtime();
    let moto = Moto::start();
    rt.block_on(moto.create_bucket(BUCKET));
    let key = bundle_key();
    let bundle = admin_only_bundle(&key, 3);
    let digest = tollgate_hot_swap::controller::digest_of(&bundle);
    let state = Scratch::new("hot-swap-state");
    let source = format!("s3://{BUCKET}/{KEY}");

    // An empty bucket and nothing kept: init fails with the reason.
    {
        let mut lambda = start_without_policy(&hot_swap_env(
            &source,
            &key,
            &state.path("empty"),
            Some(&moto),
        ));
        let status = wait_for_exit(&mut lambda, Duration::from_secs(60));
        assert!(!status.success(), "{status}");
        let log = function_log(&lambda);
        let failed = log_lines(&log, "init failed");
        assert_eq!(failed.len(), 1, "{log}");
        let error = failed[0]["fields"]["error"].as_str().unwrap_or_default();
        assert!(
            error.contains("no policy bundle to start with"),
            "{error}\n{log}"
        );
        assert!(error.contains(&source), "{error}");
        assert!(
            log.contains("tollgate-lambda: no policy bundle to start with"),
            "{log}"
        );
        eprintln!("init failed: {error}");
    }

    // The bundle published: init activates it, and it answers the first
    // invocation.
    rt.block_on(moto.put(BUCKET, KEY, &bundle));
    let kept = state.path("kept");
    {
        let init = Instant::now();
        let mut lambda = start_without_policy(&hot_swap_env(&source, &key, &kept, Some(&moto)));
        assert_eq!(first_effect(&mut lambda, &reader_event()), "Deny");
        eprintln!(
            "init with the bundle, then the first answer: {:.1?}",
            init.elapsed()
        );
        assert_eq!(effect(&mut lambda, &admin_event()).0, "Allow");
        let log = function_log(&lambda);
        assert!(!log.contains("loading the deployed policy"), "{log}");
        let active = log_lines(&log, "bundle active");
        assert_eq!(active.len(), 1, "{log}");
        let line = &active[0]["fields"];
        assert_eq!(line["revision"], 3, "{line}");
        assert_eq!(line["digest"], digest.as_str(), "{line}");
        assert_eq!(line["source"], source.as_str(), "{line}");
        assert_eq!(std::fs::read(kept.join("active.bundle")).unwrap(), bundle);
    }

    // The source gone: a restart with the same state folder starts with the
    // kept last good bundle.
    rt.block_on(moto.delete(BUCKET, KEY));
    {
        let mut lambda = start_without_policy(&hot_swap_env(&source, &key, &kept, Some(&moto)));
        assert_eq!(first_effect(&mut lambda, &reader_event()), "Deny");
        assert_eq!(effect(&mut lambda, &admin_event()).0, "Allow");
        let log = function_log(&lambda);
        let active = log_lines(&log, "bundle active");
        assert_eq!(active.len(), 1, "{log}");
        assert_eq!(active[0]["fields"]["digest"], digest.as_str(), "{log}");
    }
    eprintln!("scenario took {:.1?}", started.elapsed());
}
