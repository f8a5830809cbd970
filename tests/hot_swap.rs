//! Hot swap end to end: bundles published to a real S3-compatible server
//! (moto), a real HTTP server and a file, checked by the real controller:
//! A, then B, then every kind of broken bundle (each refused at its step
//! while B keeps answering, and not retried until its bytes change), then
//! C; then a restart during a source outage starts with the last good one.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

#[path = "../hot-swap/tests/support/mod.rs"]
mod support;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tollgate_bundle::{BundleBuilder, DeclaredChange, SigningKey, TrustedKeys};
use tollgate_host::jwks::KeyFetchSettings;
use tollgate_host::live::SwapStep;
use tollgate_host::model::{Decision, Request};
use tollgate_host::module::{DEFAULT_MODULE, Target, engine_fingerprint, precompile_for};
use tollgate_host::{SandboxLimits, TokenCacheSettings};
use tollgate_hot_swap::controller::{CheckOutcome, HotSwap, HotSwapSettings};
use tollgate_hot_swap::pipeline::PipelineSettings;
use tollgate_hot_swap::source::{BundleSource, SourceSettings};
use tollgate_keys::Algorithm;
use tollgate_keys::mint::SigningKey as TokenKey;
use tollgate_tests::{MISBEHAVING_MODULE, OLD_CONTRACT_MODULE};

use support::{HttpServer, Moto, within};

const NAME: &str = "orders";
const ISSUER: &str = "https://issuer.hot-swap.test";
/// The size cap the tests' sources and readers use.
const MAX_BYTES: u64 = 4 << 20;

/// Signing material shared by a test: the trusted bundle key, an untrusted
/// one, and the token key the policies trust.
struct Keys {
    trusted: SigningKey,
    trusted_public: TrustedKeys,
    untrusted: SigningKey,
    token: TokenKey,
}

impl Keys {
    fn new() -> Keys {
        let pair = tollgate_bundle::generate_keypair(None).unwrap();
        let other = tollgate_bundle::generate_keypair(None).unwrap();
        Keys {
            trusted: SigningKey::from_text(&pair.secret_key, None).unwrap(),
            trusted_public: TrustedKeys::parse(&pair.public_key).unwrap(),
            untrusted: SigningKey::from_text(&other.secret_key, None).unwrap(),
            token: TokenKey::generate(Algorithm::Es256, "hot-swap-1").unwrap(),
        }
    }
}

/// How a test bundle differs from a good one.
#[derive(Clone, Default)]
struct Spec {
    revision: u64,
    /// The public route that tells which bundle answers.
    public: &'static str,
    name: Option<&'static str>,
    module: Option<&'static [u8]>,
    wit: Option<&'static str>,
    extra_policy: &'static str,
    failing_test: bool,
    padding: usize,
    precompiled: bool,
}

fn spec(revision: u64, public: &'static str) -> Spec {
    Spec {
        revision,
        public,
        ..Spec::default()
    }
}

fn policy(spec: &Spec) -> String {
    format!(
        r#"{extra}
[[issuer]]
issuer = "{ISSUER}"
jwks_file = "files/jwks.json"
algorithms = ["ES256"]
audiences = ["orders-api"]

[[route]]
methods = ["GET"]
path = "{public}"
public = true

[[route]]
methods = ["GET"]
path = "/orders/*"
scopes = ["orders.read"]
"#,
        extra = spec.extra_policy,
        public = spec.public,
    )
}

fn tests(spec: &Spec) -> String {
    let expected = if spec.failing_test { "deny" } else { "allow" };
    format!(
        r#"now = 1767225600

[token]
claims = {{ sub = "alice", aud = "orders-api", scope = "orders.read" }}

[[case]]
name = "a reader reads orders"
path = "/orders/1"
expect = {{ decision = "{expected}" }}

[[case]]
name = "its public route needs no token"
path = "{public}"
token = false
expect = {{ decision = "allow" }}
"#,
        public = spec.public
    )
}

/// The bundle's bytes, unsigned.
fn unsigned(keys: &Keys, spec: &Spec) -> Vec<u8> {
    let module = spec.module.unwrap_or(DEFAULT_MODULE).to_vec();
    let mut builder = BundleBuilder::new(
        spec.name.unwrap_or(NAME),
        spec.revision,
        spec.wit.unwrap_or(tollgate_sdk_wit()),
        "2026-12-01T00:00:00Z",
        module.clone(),
        policy(spec),
    )
    .test("tests/smoke.test.toml", tests(spec))
    .file(
        "files/jwks.json",
        keys.token.jwks().to_string().into_bytes(),
    );
    if spec.padding > 0 {
        builder = builder.file("files/padding.bin", vec![7u8; spec.padding]);
    }
    if spec.precompiled {
        let target = Target::native();
        builder = builder.artifact(tollgate_bundle::Artifact {
            target: target.triple().to_string(),
            engine: engine_fingerprint(target),
            bytes: precompile_for(&module, Some(target)).unwrap(),
        });
    }
    builder
        .declared_change(DeclaredChange {
            methods: vec!["GET".into()],
            path: spec.public.into(),
            from: "missing-token".into(),
            note: "its public route".into(),
        })
        .to_bytes()
        .unwrap()
}

fn tollgate_sdk_wit() -> &'static str {
    tollgate_host::module::WIT_VERSION
}

/// The bundle, signed by `key`.
fn signed_by(keys: &Keys, spec: &Spec, key: &SigningKey) -> Vec<u8> {
    tollgate_bundle::sign(&unsigned(keys, spec), key, "hot-swap test").unwrap()
}

fn signed(keys: &Keys, spec: &Spec) -> Vec<u8> {
    signed_by(keys, spec, &keys.trusted)
}

fn settings(keys: &Keys, source: BundleSource, state_dir: PathBuf) -> HotSwapSettings {
    HotSwapSettings {
        source,
        source_settings: SourceSettings {
            max_bytes: MAX_BYTES,
            connect_timeout: Duration::from_secs(2),
            request_timeout: Duration::from_secs(5),
            allow_http: false,
        },
        pipeline: PipelineSettings {
            name: NAME.into(),
            trusted_keys: keys.trusted_public.clone(),
            allow_unsigned: false,
            allow_revision: None,
            min_revision: None,
            read_limits: tollgate_bundle::ReadLimits {
                max_bytes: MAX_BYTES,
            },
            state_dir,
            sandbox: SandboxLimits::default(),
            keys: KeyFetchSettings::default(),
            token_cache: TokenCacheSettings::default(),
        },
        interval: Duration::from_secs(3600),
        shadow: None,
    }
}

/// Whether the active bundle lets an anonymous `GET path` through.
async fn anonymous_allowed(swap: &HotSwap, path: &str) -> bool {
    let mut request = Request {
        method: "GET".into(),
        path: path.into(),
        now: tollgate_host::clock::unix_now(),
        ..Request::default()
    };
    let (decision, _) = swap.live().decide_request(&mut request, 0).await;
    matches!(decision, Decision::Allow(_))
}

/// The active bundle answers as revision `revision` with public `public`
/// (and not as any of `others`).
async fn answers_as(swap: &HotSwap, revision: u64, public: &str, others: &[&str]) {
    let active = swap.live().current();
    assert_eq!(active.info.revision, revision, "{:?}", active.info);
    assert!(
        anonymous_allowed(swap, public).await,
        "{public} is public in revision {revision}"
    );
    for other in others {
        assert!(
            !anonymous_allowed(swap, other).await,
            "{other} is not public in revision {revision}"
        );
    }
}

/// Where a test publishes: one of the three kinds of source.
enum Where {
    S3(Moto),
    Http(HttpServer),
    File(PathBuf),
}

impl Where {
    async fn publish(&self, bytes: &[u8]) {
        match self {
            Where::S3(moto) => moto.put("bundles", "orders.bundle", bytes).await,
            Where::Http(server) => {
                // A new ETag at each publication, as a server whose
                // ETag is not a content hash gives: the same bytes again
                // still look changed.
                static PUBLISHED: std::sync::atomic::AtomicU64 =
                    std::sync::atomic::AtomicU64::new(0);
                let n = PUBLISHED.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                server.publish("/orders.bundle", bytes, &format!("\"{n}\""));
            }
            Where::File(path) => {
                // Publishers replace the file by rename.
                let tmp = path.with_extension("tmp");
                std::fs::write(&tmp, bytes).unwrap();
                std::fs::rename(&tmp, path).unwrap();
            }
        }
    }

    fn source(&self) -> BundleSource {
        match self {
            Where::S3(moto) => moto.source("bundles", "orders.bundle"),
            Where::Http(server) => server.source("/orders.bundle"),
            Where::File(path) => BundleSource::File(path.clone()),
        }
    }
}

fn refused_at(outcome: &CheckOutcome, step: SwapStep) {
    match outcome {
        CheckOutcome::Refused(refusal) => {
            assert_eq!(refusal.step, step, "{refusal}");
        }
        other => panic!("expected a refusal at {step:?}, got {other:?}"),
    }
}

async fn sequence(place: Where, state: PathBuf) {
    let keys = Keys::new();
    place.publish(&signed(&keys, &spec(1, "/a"))).await;
    let swap = HotSwap::start(settings(&keys, place.source(), state.clone()), None, true)
        .await
        .unwrap();
    answers_as(&swap, 1, "/a", &["/b"]).await;
    assert_eq!(swap.check_once().await, CheckOutcome::Unchanged);

    place.publish(&signed(&keys, &spec(2, "/b"))).await;
    assert!(matches!(swap.check_once().await, CheckOutcome::Activated(info) if info.revision == 2));
    answers_as(&swap, 2, "/b", &["/a"]).await;
    let b_digest = swap.live().current().info.digest.clone();

    // Every broken bundle is refused at its step; B keeps answering.
    let broken: Vec<(&str, Vec<u8>, SwapStep)> = vec![
        (
            "not a component",
            signed(
                &keys,
                &Spec {
                    module: Some(b"\0asm not really"),
                    ..spec(3, "/x")
                },
            ),
            SwapStep::Compile,
        ),
        (
            "a WIT version this host does not run",
            signed(
                &keys,
                &Spec {
                    wit: Some("0.4.0"),
                    ..spec(3, "/x")
                },
            ),
            SwapStep::WitVersion,
        ),
        (
            "a module built for an older contract",
            signed(
                &keys,
                &Spec {
                    module: Some(OLD_CONTRACT_MODULE),
                    ..spec(3, "/x")
                },
            ),
            SwapStep::Compile,
        ),
        (
            "a failing test case",
            signed(
                &keys,
                &Spec {
                    failing_test: true,
                    ..spec(3, "/x")
                },
            ),
            SwapStep::Tests,
        ),
        (
            "signed by an untrusted key",
            signed_by(&keys, &spec(3, "/x"), &keys.untrusted),
            SwapStep::Signature,
        ),
        (
            "a signature of other bytes",
            {
                let other = signed(&keys, &spec(4, "/y"));
                let other = tollgate_bundle::Bundle::read(&other, &Default::default()).unwrap();
                tollgate_bundle::attach_signature(
                    &unsigned(&keys, &spec(3, "/x")),
                    other.signature().unwrap(),
                )
                .unwrap()
            },
            SwapStep::Signature,
        ),
        (
            "unsigned",
            unsigned(&keys, &spec(3, "/x")),
            SwapStep::Signature,
        ),
        (
            "over the size cap",
            signed(
                &keys,
                &Spec {
                    padding: MAX_BYTES as usize,
                    ..spec(3, "/x")
                },
            ),
            SwapStep::Fetch,
        ),
        (
            "a module that traps in configure",
            signed(
                &keys,
                &Spec {
                    module: Some(MISBEHAVING_MODULE),
                    extra_policy: "# trap in configure",
                    ..spec(3, "/x")
                },
            ),
            SwapStep::Configure,
        ),
        (
            "another bundle's name",
            signed(
                &keys,
                &Spec {
                    name: Some("billing"),
                    ..spec(3, "/x")
                },
            ),
            SwapStep::Identity,
        ),
        (
            "a replay of revision 1",
            signed(&keys, &spec(1, "/a")),
            SwapStep::Identity,
        ),
    ];
    for (what, bytes, step) in broken {
        place.publish(&bytes).await;
        let outcome = swap.check_once().await;
        refused_at(&outcome, step);
        let status = swap.live().status();
        let failure = status.last_failure.expect("the failure is kept");
        assert_eq!(failure.step, step, "{what}");
        assert_eq!(failure.previous_digest, b_digest, "{what}");
        answers_as(&swap, 2, "/b", &["/a", "/x"]).await;
        if step != SwapStep::Fetch {
            // Not retried until its bytes change: the source says it is
            // unchanged, and the same bytes published again (a new ETag, a
            // new file; S3's ETag is the content's MD5) are not tried again.
            assert_eq!(swap.check_once().await, CheckOutcome::Unchanged, "{what}");
            place.publish(&bytes).await;
            let again = swap.check_once().await;
            match &place {
                Where::S3(_) => assert_eq!(again, CheckOutcome::Unchanged, "{what}"),
                _ => assert_eq!(again, CheckOutcome::KnownRefused, "{what}"),
            }
        }
    }
    let failures = swap.live().status().failures;
    assert!(failures.values().sum::<u64>() >= 11, "{failures:?}");

    place
        .publish(&signed(
            &keys,
            &Spec {
                precompiled: true,
                ..spec(5, "/c")
            },
        ))
        .await;
    assert!(matches!(swap.check_once().await, CheckOutcome::Activated(info) if info.revision == 5));
    answers_as(&swap, 5, "/c", &["/a", "/b", "/x"]).await;
    let status = swap.live().status();
    assert_eq!(status.previous.as_ref().map(|p| p.revision), Some(2));

    // A restart while the source is down starts with the last good bundle.
    drop(swap);
    let down = BundleSource::parse("http://127.0.0.1:9/orders.bundle").unwrap();
    let restarted = HotSwap::start(settings(&keys, down, state), None, true)
        .await
        .unwrap();
    answers_as(&restarted, 5, "/c", &["/b"]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_bundles_swap_in_and_broken_ones_are_refused() {
    let moto = Moto::start();
    moto.create_bucket("bundles").await;
    let state = support::temp_dir("hot-swap-s3").join("state");
    within(Duration::from_secs(240), sequence(Where::S3(moto), state)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn url_bundles_swap_in_and_broken_ones_are_refused() {
    let server = HttpServer::start().await;
    let state = support::temp_dir("hot-swap-url").join("state");
    within(
        Duration::from_secs(240),
        sequence(Where::Http(server), state),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn file_bundles_swap_in_and_broken_ones_are_refused() {
    let dir = support::temp_dir("hot-swap-file");
    let state = dir.join("state");
    within(
        Duration::from_secs(240),
        sequence(Where::File(dir.join("orders.bundle")), state),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_remote_source_without_a_trusted_key_refuses_to_start() {
    let keys = Keys::new();
    let mut settings = settings(
        &keys,
        BundleSource::parse("https://bundles.example/orders.bundle").unwrap(),
        support::temp_dir("hot-swap-nokey"),
    );
    settings.pipeline.trusted_keys = TrustedKeys::default();
    let error = HotSwap::start(settings.clone(), None, true)
        .await
        .unwrap_err();
    assert!(
        error.to_string().contains("no trusted bundle key"),
        "{error}"
    );
    // Even when unsigned bundles are allowed: that is for local files only.
    settings.pipeline.allow_unsigned = true;
    let error = HotSwap::start(settings, None, true).await.unwrap_err();
    assert!(error.to_string().contains("remote"), "{error}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_local_file_may_be_unsigned_only_when_allowed() {
    let keys = Keys::new();
    let dir = support::temp_dir("hot-swap-unsigned");
    let path = dir.join("orders.bundle");
    std::fs::write(&path, unsigned(&keys, &spec(1, "/a"))).unwrap();
    let mut settings = settings(&keys, BundleSource::File(path.clone()), dir.join("state"));
    settings.pipeline.trusted_keys = TrustedKeys::default();
    let error = HotSwap::start(settings.clone(), None, true)
        .await
        .unwrap_err();
    assert!(error.to_string().contains("allow unsigned"), "{error}");
    settings.pipeline.allow_unsigned = true;
    let swap = HotSwap::start(settings, None, true).await.unwrap();
    answers_as(&swap, 1, "/a", &["/b"]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rollback_goes_back_and_the_source_does_not_undo_it() {
    let keys = Keys::new();
    let dir = support::temp_dir("hot-swap-rollback");
    let path = dir.join("orders.bundle");
    let place = Where::File(path);
    place.publish(&signed(&keys, &spec(1, "/a"))).await;
    let swap = HotSwap::start(
        settings(&keys, place.source(), dir.join("state")),
        None,
        true,
    )
    .await
    .unwrap();
    place.publish(&signed(&keys, &spec(2, "/b"))).await;
    assert!(matches!(
        swap.check_once().await,
        CheckOutcome::Activated(_)
    ));
    let back = swap.rollback().unwrap();
    assert_eq!(back.revision, 1);
    answers_as(&swap, 1, "/a", &["/b"]).await;
    // The source still holds revision 2, even signed anew (other bytes):
    // it is not taken again.
    place.publish(&signed(&keys, &spec(2, "/b"))).await;
    let outcome = swap.check_once().await;
    assert!(
        matches!(&outcome, CheckOutcome::Refused(r) if r.step == SwapStep::Identity && r.reason.contains("rolled back")),
        "{outcome:?}"
    );
    answers_as(&swap, 1, "/a", &["/b"]).await;
    // A newer revision is.
    place.publish(&signed(&keys, &spec(3, "/c"))).await;
    assert!(matches!(swap.check_once().await, CheckOutcome::Activated(info) if info.revision == 3));
    answers_as(&swap, 3, "/c", &["/a", "/b"]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_watched_file_swaps_in_without_waiting_for_the_interval() {
    let keys = Keys::new();
    let dir = support::temp_dir("hot-swap-watch");
    let place = Where::File(dir.join("orders.bundle"));
    place
        .publish(&signed(
            &keys,
            &Spec {
                precompiled: true,
                ..spec(1, "/a")
            },
        ))
        .await;
    let swap = HotSwap::start(
        settings(&keys, place.source(), dir.join("state")),
        None,
        true,
    )
    .await
    .unwrap();
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let running = tokio::spawn(Arc::clone(&swap).run(stopped));
    place
        .publish(&signed(
            &keys,
            &Spec {
                precompiled: true,
                ..spec(2, "/b")
            },
        ))
        .await;
    within(Duration::from_secs(10), async {
        while swap.live().current().info.revision != 2 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    answers_as(&swap, 2, "/b", &["/a"]).await;
    let _ = stop.send(true);
    running.await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn precompiled_code_is_loaded_only_from_a_verified_signature() {
    use tollgate_hot_swap::pipeline::Pipeline;
    let keys = Keys::new();
    let dir = support::temp_dir("hot-swap-artifacts");
    let with_artifact = Spec {
        precompiled: true,
        ..spec(1, "/a")
    };
    // Unsigned, allowed from a local file: its artifact is never loaded.
    let mut unsigned_settings = settings(&keys, BundleSource::File(dir.join("x")), dir.join("u"));
    unsigned_settings.pipeline.trusted_keys = TrustedKeys::default();
    unsigned_settings.pipeline.allow_unsigned = true;
    let pipeline = Pipeline::new(unsigned_settings.pipeline);
    let prepared = pipeline
        .prepare(unsigned(&keys, &with_artifact).into(), "test", None, None)
        .await
        .unwrap();
    assert_eq!(prepared.module_from, "compiled");
    // Signed with a trusted key: its artifact is the module.
    let signed_settings = settings(&keys, BundleSource::File(dir.join("x")), dir.join("s"));
    let pipeline = Pipeline::new(signed_settings.pipeline);
    let prepared = pipeline
        .prepare(signed(&keys, &with_artifact).into(), "test", None, None)
        .await
        .unwrap();
    assert_eq!(prepared.module_from, "artifact");
    // The same module again, without an artifact: from the private cache.
    let prepared = pipeline
        .prepare(signed(&keys, &spec(2, "/b")).into(), "test", None, None)
        .await
        .unwrap();
    assert_eq!(prepared.module_from, "compiled");
    let prepared = pipeline
        .prepare(signed(&keys, &spec(3, "/c")).into(), "test", None, None)
        .await
        .unwrap();
    assert_eq!(prepared.module_from, "cache");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bundles_policy_reads_keys_only_from_its_own_files() {
    use tollgate_hot_swap::pipeline::Pipeline;
    let keys = Keys::new();
    let dir = support::temp_dir("hot-swap-confined");
    let pipeline = Pipeline::new(
        settings(&keys, BundleSource::File(dir.join("x")), dir.join("state")).pipeline,
    );
    // A key file outside the bundle (an absolute path, or out of files/).
    std::fs::write(dir.join("host-jwks.json"), keys.token.jwks().to_string()).unwrap();
    for outside in [
        dir.join("host-jwks.json").display().to_string(),
        "../host-jwks.json".to_string(),
    ] {
        let bytes = tollgate_bundle::sign(
            &BundleBuilder::new(
                NAME,
                1,
                tollgate_sdk_wit(),
                "2026-12-01T00:00:00Z",
                DEFAULT_MODULE.to_vec(),
                policy(&spec(1, "/a")).replace("files/jwks.json", &outside),
            )
            .test("tests/smoke.test.toml", tests(&spec(1, "/a")))
            .to_bytes()
            .unwrap(),
            &keys.trusted,
            "test",
        )
        .unwrap();
        let refusal = pipeline
            .prepare(bytes.into(), "test", None, None)
            .await
            .unwrap_err();
        assert_eq!(refusal.step, SwapStep::Configure, "{refusal}");
        assert!(
            refusal.reason.contains("not among the bundle's files"),
            "{refusal}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rollback_outlives_a_restart() {
    let keys = Keys::new();
    let dir = support::temp_dir("hot-swap-rollback-restart");
    let place = Where::File(dir.join("orders.bundle"));
    let state = dir.join("state");
    place.publish(&signed(&keys, &spec(1, "/a"))).await;
    let swap = HotSwap::start(settings(&keys, place.source(), state.clone()), None, true)
        .await
        .unwrap();
    place.publish(&signed(&keys, &spec(2, "/b"))).await;
    assert!(matches!(
        swap.check_once().await,
        CheckOutcome::Activated(_)
    ));
    swap.rollback().unwrap();
    drop(swap);
    // The source still holds revision 2; the restarted host stays on 1.
    let restarted = HotSwap::start(settings(&keys, place.source(), state), None, true)
        .await
        .unwrap();
    answers_as(&restarted, 1, "/a", &["/b"]).await;
    place.publish(&signed(&keys, &spec(3, "/c"))).await;
    assert!(
        matches!(restarted.check_once().await, CheckOutcome::Activated(info) if info.revision == 3)
    );
}
