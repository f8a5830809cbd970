//! `cargo bench -p tollgate-hot-swap --bench swap`: how long a published
//! policy bundle takes to answer, and what the compiled-artifact cache
//! saves (docs/benchmarks.md#hot-swap).
//!
//! 1. **Publication → first decision by the new bundle**, through the real
//!    controller: `HotSwap::start`, then `HotSwap::run` in the background,
//!    while this bench decides an anonymous `GET /r<revision>` through
//!    `live().decide_request` every millisecond until the new bundle (the
//!    only one that makes that route public) answers it. The clock starts
//!    when the publication is complete (the rename returned, the HTTP
//!    server serves the new bytes, the S3 `PUT` was answered). Every run
//!    publishes a distinct signed bundle (a new revision and policy):
//!    - a. a file source with its watch (interval: the default 30 s),
//!      bundles carrying a precompiled artifact for this host;
//!    - b. the same without an artifact, each run a new module (the default
//!      module with a distinct custom section appended), so each run
//!      compiles and the cache cannot help;
//!    - c. a URL on the test HTTP server on 127.0.0.1, polled every 1 s;
//!    - d. an S3 object on moto (127.0.0.1), polled every 1 s
//!      (`TOLLGATE_BENCH_S3=0` leaves it out).
//!
//!    For c and d the publications fall at evenly spread points of the
//!    poll interval (run i waits i/runs of it after the previous
//!    activation), so the median includes about half an interval and the
//!    max nearly a whole one.
//! 2. **Activation of a bundle seen before**: `Pipeline::prepare` of new
//!    revisions (no artifact in them) of a module this pipeline compiled
//!    once, so its module comes from the artifact cache; beside it, from
//!    the same run, its steps that can be timed apart, the same prepare of
//!    a never seen module (compiled), and `compile_component` alone.

#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

#[path = "../tests/support/mod.rs"]
mod support;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use support::{HttpServer, Moto, temp_dir};
use tollgate_bundle::{Artifact, BundleBuilder, SigningKey, TrustedKeys};
use tollgate_host::artifact_cache::ArtifactCache;
use tollgate_host::jwks::KeyFetchSettings;
use tollgate_host::live::BundleInfo;
use tollgate_host::model::{Decision, Request};
use tollgate_host::module::{DEFAULT_MODULE, Target, engine_fingerprint, precompile_for};
use tollgate_host::{
    ConfigBase, Gate, ModuleDigest, PolicyModule, SandboxLimits, TokenCacheSettings,
};
use tollgate_hot_swap::controller::{DEFAULT_INTERVAL, HotSwap, HotSwapSettings};
use tollgate_hot_swap::pipeline::{Pipeline, PipelineSettings, read_and_check};
use tollgate_hot_swap::source::{BundleSource, SourceSettings};
use tollgate_keys::Algorithm;
use tollgate_keys::mint::SigningKey as TokenKey;
use tollgate_policy_test::{RunOptions, TestFile};

const NAME: &str = "orders";
const ISSUER: &str = "https://issuer.hot-swap-bench.invalid";
/// The file-watch goal (bundles with an artifact).
const WATCH_GOAL: Duration = Duration::from_millis(200);
/// The poll goal: under 1 s plus the interval.
const POLL_GOAL_BASE: Duration = Duration::from_secs(1);
/// The poll interval of the URL and S3 scenarios.
const POLL_INTERVAL: Duration = Duration::from_secs(1);
/// The goal for activating a bundle seen before.
const CACHE_GOAL: Duration = Duration::from_millis(5);
/// How often the bench asks for a decision while it waits.
const DECIDE_EVERY: Duration = Duration::from_millis(1);
/// A run that takes longer failed.
const RUN_LIMIT: Duration = Duration::from_secs(60);

fn policy(public: &str) -> String {
    format!(
        r#"[[issuer]]
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
"#
    )
}

fn tests(public: &str) -> String {
    format!(
        r#"now = 1767225600

[token]
claims = {{ sub = "alice", aud = "orders-api", scope = "orders.read" }}

[[case]]
name = "a reader reads orders"
path = "/orders/1"
expect = {{ decision = "allow" }}

[[case]]
name = "its public route needs no token"
path = "{public}"
token = false
expect = {{ decision = "allow" }}
"#
    )
}

/// The module with a custom section `tollgate-bench` holding `tag`
/// appended: a distinct module (another digest, so another artifact cache
/// key) that runs the same. Binary format: section id 0, the content's
/// size (unsigned LEB128), then the content: the name (LEB128 length and
/// UTF-8 bytes) and the payload. A component may hold custom sections
/// anywhere among its sections, the end included.
fn with_custom_section(wasm: &[u8], tag: &str) -> Vec<u8> {
    let name = b"tollgate-bench";
    let mut content = Vec::new();
    leb128(name.len(), &mut content);
    content.extend_from_slice(name);
    content.extend_from_slice(tag.as_bytes());
    let mut out = wasm.to_vec();
    out.push(0);
    leb128(content.len(), &mut out);
    out.extend_from_slice(&content);
    out
}

fn leb128(mut value: usize, out: &mut Vec<u8>) {
    loop {
        let byte = (value & 0x7f) as u8;
        value >>= 7;
        if value == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

/// The bundle signing key, the JWK Set the policies name, the WIT version
/// of the default module.
struct Publisher {
    key: SigningKey,
    trusted: TrustedKeys,
    jwks: Vec<u8>,
    wit: String,
}

impl Publisher {
    fn new(wit: String) -> Publisher {
        let pair = tollgate_bundle::generate_keypair(None).unwrap();
        let token = TokenKey::generate(Algorithm::Es256, "bench-1").unwrap();
        Publisher {
            key: SigningKey::from_text(&pair.secret_key, None).unwrap(),
            trusted: TrustedKeys::parse(&pair.public_key).unwrap(),
            jwks: token.jwks().to_string().into_bytes(),
            wit,
        }
    }

    /// Revision `revision`, signed, whose public route is `/r<revision>`.
    fn bundle(&self, revision: u64, module: &[u8], artifact: Option<&Artifact>) -> Vec<u8> {
        let public = format!("/r{revision}");
        let mut builder = BundleBuilder::new(
            NAME,
            revision,
            self.wit.clone(),
            "2026-12-01T00:00:00Z",
            module.to_vec(),
            policy(&public),
        )
        .test("tests/smoke.test.toml", tests(&public))
        .file("files/jwks.json", self.jwks.clone());
        if let Some(artifact) = artifact {
            builder = builder.artifact(artifact.clone());
        }
        tollgate_bundle::sign(&builder.to_bytes().unwrap(), &self.key, "hot-swap bench").unwrap()
    }

    fn pipeline(&self, state_dir: PathBuf) -> PipelineSettings {
        PipelineSettings {
            name: NAME.into(),
            trusted_keys: self.trusted.clone(),
            allow_unsigned: false,
            allow_revision: None,
            min_revision: None,
            read_limits: tollgate_bundle::ReadLimits::default(),
            state_dir,
            sandbox: SandboxLimits::default(),
            keys: KeyFetchSettings::default(),
            token_cache: TokenCacheSettings::default(),
        }
    }
}

/// The artifact of `module` for this host, as `tollgate bundle build
/// --target` makes it.
fn artifact_for(module: &[u8]) -> Artifact {
    let target = Target::native();
    Artifact {
        target: target.triple().to_string(),
        engine: engine_fingerprint(target),
        bytes: precompile_for(module, Some(target)).unwrap(),
    }
}

/// Where a scenario publishes.
enum Place {
    File(PathBuf),
    Http(HttpServer),
    S3(Moto),
}

impl Place {
    async fn publish(&self, bytes: &[u8], n: u64) {
        match self {
            Place::File(path) => {
                // As publishers do: a new file renamed over the old one.
                let tmp = path.with_extension("tmp");
                std::fs::write(&tmp, bytes).unwrap();
                std::fs::rename(&tmp, path).unwrap();
            }
            Place::Http(server) => server.publish("/orders.bundle", bytes, &format!("\"{n}\"")),
            Place::S3(moto) => moto.put("bundles", "orders.bundle", bytes).await,
        }
    }

    fn source(&self) -> BundleSource {
        match self {
            Place::File(path) => BundleSource::File(path.clone()),
            Place::Http(server) => server.source("/orders.bundle"),
            Place::S3(moto) => moto.source("bundles", "orders.bundle"),
        }
    }
}

/// When the live bundle is revision `revision` and lets an anonymous
/// `GET /r<revision>` through (only that revision makes it public): the
/// digest of the module it runs (of the `.cwasm` when it was loaded from an
/// artifact, of the `.wasm` when it was compiled).
async fn answers_as(swap: &HotSwap, revision: u64) -> Option<String> {
    let mut request = Request {
        method: "GET".into(),
        path: format!("/r{revision}"),
        now: tollgate_host::clock::unix_now(),
        ..Request::default()
    };
    let (decision, active) = swap.live().decide_request(&mut request, 0).await;
    (matches!(decision, Decision::Allow(_)) && active.info.revision == revision)
        .then(|| active.info.module_digest.clone())
}

/// One scenario's samples, and what it published.
struct Samples {
    times: Vec<Duration>,
    publish: Vec<Duration>,
    bundle_bytes: usize,
    /// The module (component) digest each new revision answered with.
    modules: Vec<String>,
    /// Compiled artifacts in the state folder's cache at the end (none
    /// when every module came from a bundle's own artifact).
    cached_artifacts: usize,
}

/// Start the controller on `bundles[0]` (revision 1), run it in the
/// background, then publish each following bundle (revisions 2, 3, …) and
/// time publication → first decision by it. `spread`: wait i/runs of it
/// after the previous activation before run i; else `settle`.
async fn publication_to_decision(
    publisher: &Publisher,
    place: &Place,
    state_dir: PathBuf,
    interval: Duration,
    bundles: Vec<Vec<u8>>,
    spread: Option<Duration>,
) -> Samples {
    let settle = Duration::from_millis(250);
    place.publish(&bundles[0], 1).await;
    let settings = HotSwapSettings {
        source: place.source(),
        source_settings: SourceSettings::default(),
        pipeline: publisher.pipeline(state_dir.clone()),
        interval,
        shadow: None,
    };
    let swap = HotSwap::start(settings, None, true).await.unwrap();
    assert!(
        answers_as(&swap, 1).await.is_some(),
        "revision 1 answers at start"
    );
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let runner = tokio::spawn(Arc::clone(&swap).run(stopped));
    let runs = bundles.len() - 1;
    let mut times = Vec::with_capacity(runs);
    let mut publish = Vec::with_capacity(runs);
    let mut modules = Vec::with_capacity(runs);
    for (i, bytes) in bundles.iter().enumerate().skip(1) {
        let revision = i as u64 + 1;
        let wait = match spread {
            Some(interval) => interval.mul_f64((i - 1) as f64 / runs as f64),
            None => settle,
        };
        tokio::time::sleep(wait).await;
        let started = Instant::now();
        place.publish(bytes, revision).await;
        let published = Instant::now();
        publish.push(published - started);
        loop {
            if let Some(module) = answers_as(&swap, revision).await {
                times.push(published.elapsed());
                modules.push(module);
                break;
            }
            if published.elapsed() > RUN_LIMIT {
                panic!(
                    "revision {revision} did not answer within {RUN_LIMIT:?}: {:?}",
                    swap.live().status().last_failure
                );
            }
            tokio::time::sleep(DECIDE_EVERY).await;
        }
    }
    stop.send(true).unwrap();
    runner.await.unwrap();
    let cached_artifacts = std::fs::read_dir(state_dir.join("artifacts"))
        .map(|entries| {
            entries
                .flatten()
                .filter(|e| e.file_name().to_string_lossy().ends_with(".cwasm"))
                .count()
        })
        .unwrap_or(0);
    if let Some(scratch) = state_dir.parent() {
        remove(scratch);
    }
    Samples {
        times,
        publish,
        bundle_bytes: bundles.iter().map(Vec::len).sum::<usize>() / bundles.len(),
        modules,
        cached_artifacts,
    }
}

fn sorted(mut samples: Vec<Duration>) -> Vec<Duration> {
    samples.sort();
    samples
}

fn median(samples: &[Duration]) -> Duration {
    let s = sorted(samples.to_vec());
    if s.len() % 2 == 1 {
        s[s.len() / 2]
    } else {
        (s[s.len() / 2 - 1] + s[s.len() / 2]) / 2
    }
}

fn max(samples: &[Duration]) -> Duration {
    samples.iter().copied().max().unwrap_or_default()
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn kib(bytes: usize) -> f64 {
    bytes as f64 / 1024.0
}

fn met(value: Duration, goal: Duration) -> &'static str {
    if value < goal { "yes" } else { "NO" }
}

/// One row of the first table.
fn print_row(label: &str, samples: &Samples, goal: Option<(Duration, &str)>, compiles: &str) {
    let (goal_text, met_text) = match goal {
        Some((goal, text)) => (text.to_string(), met(max(&samples.times), goal)),
        None => ("-".to_string(), ""),
    };
    println!(
        "{:<40} {:>4} {:>10.1} {:>9.1}  {:<24} {:>4}  {}",
        label,
        samples.times.len(),
        ms(median(&samples.times)),
        ms(max(&samples.times)),
        goal_text,
        met_text,
        compiles
    );
}

/// One row of the second table.
fn print_step(label: &str, samples: &[Duration], goal: Option<Duration>, compiles: &str) {
    let (goal_text, met_text) = match goal {
        Some(goal) => (format!("< {:.0} ms", ms(goal)), met(max(samples), goal)),
        None => (String::new(), ""),
    };
    println!(
        "{:<40} {:>4} {:>10.2} {:>9.2}  {:<24} {:>4}  {}",
        label,
        samples.len(),
        ms(median(samples)),
        ms(max(samples)),
        goal_text,
        met_text,
        compiles
    );
}

fn file_place(name: &str) -> (Place, PathBuf) {
    let dir = temp_dir(name);
    let published = dir.join("published");
    std::fs::create_dir_all(&published).unwrap();
    (
        Place::File(published.join("orders.bundle")),
        dir.join("state"),
    )
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` passes nothing: run quickly then.
    let full = std::env::args().any(|a| a == "--bench");
    let runs = if full { 10 } else { 2 };
    let cache_runs = if full { 20 } else { 2 };
    let compile_runs = if full { 5 } else { 1 };
    let with_s3 = std::env::var("TOLLGATE_BENCH_S3").map_or(true, |v| v != "0");
    let bench_started = Instant::now();
    let load_before = load_average();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();

    // Untimed set-up: the process's runtime, the WIT version, the artifact.
    let default = PolicyModule::compile_component(DEFAULT_MODULE, SandboxLimits::default())
        .expect("the default module compiles");
    let wit = default
        .wit_version()
        .expect("the default module names its contract")
        .to_string();
    let publisher = Publisher::new(wit);
    let artifact = artifact_for(DEFAULT_MODULE);
    // Started now so its lines (on stderr) come before the table.
    let moto = with_s3.then(Moto::start);

    println!(
        "tollgate hot swap benchmark ({} mode, {} CPUs; a distinct signed bundle per run: a new revision and policy)",
        if full { "full" } else { "quick" },
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    println!();
    println!(
        "publication -> first decision by the new bundle (HotSwap::run in the background; a decision every 1 ms until the new bundle answers)"
    );
    println!(
        "{:<40} {:>4} {:>10} {:>9}  {:<24} {:>4}  compiling",
        "scenario", "runs", "median ms", "max ms", "goal (max)", "met"
    );

    // a. A file with its watch, bundles with an artifact.
    let (place, state) = file_place("bench-file-artifact");
    let bundles: Vec<Vec<u8>> = (1..=runs as u64 + 1)
        .map(|revision| publisher.bundle(revision, DEFAULT_MODULE, Some(&artifact)))
        .collect();
    let file_artifact = runtime.block_on(publication_to_decision(
        &publisher,
        &place,
        state,
        DEFAULT_INTERVAL,
        bundles,
        None,
    ));
    let default_digest = ModuleDigest::of(DEFAULT_MODULE).to_string();
    assert!(
        file_artifact.modules.iter().all(|m| *m == default_digest),
        "every revision runs the default module"
    );
    assert_eq!(
        file_artifact.cached_artifacts, 0,
        "nothing was compiled: every module came from the bundle's artifact"
    );
    print_row(
        "a. file, watch, with artifact",
        &file_artifact,
        Some((WATCH_GOAL, "< 200 ms (file watch)")),
        "no (the bundle's artifact)",
    );

    // b. A file with its watch, no artifact, a new module each run.
    let (place, state) = file_place("bench-file-compile");
    let modules: Vec<Vec<u8>> = (1..=runs as u64 + 1)
        .map(|revision| with_custom_section(DEFAULT_MODULE, &format!("file-{revision}")))
        .collect();
    let compiled: Vec<String> = modules[1..]
        .iter()
        .map(|module| ModuleDigest::of(module).to_string())
        .collect();
    let bundles: Vec<Vec<u8>> = modules
        .iter()
        .zip(1..)
        .map(|(module, revision)| publisher.bundle(revision, module, None))
        .collect();
    let file_compile = runtime.block_on(publication_to_decision(
        &publisher,
        &place,
        state,
        DEFAULT_INTERVAL,
        bundles,
        None,
    ));
    assert_eq!(
        file_compile.modules, compiled,
        "every revision runs its own module (never seen before, no artifact: compiled)"
    );
    assert!(
        file_compile.cached_artifacts > 0,
        "compiled modules are cached"
    );
    print_row(
        "b. file, watch, no artifact, new module",
        &file_compile,
        Some((POLL_GOAL_BASE + DEFAULT_INTERVAL, "< 1 s + interval (30 s)")),
        "yes: each run compiles",
    );

    // c. A URL polled every second.
    let http = runtime.block_on(async {
        let server = HttpServer::start().await;
        let place = Place::Http(server);
        let bundles: Vec<Vec<u8>> = (1..=runs as u64 + 1)
            .map(|revision| publisher.bundle(revision, DEFAULT_MODULE, Some(&artifact)))
            .collect();
        publication_to_decision(
            &publisher,
            &place,
            temp_dir("bench-http").join("state"),
            POLL_INTERVAL,
            bundles,
            Some(POLL_INTERVAL),
        )
        .await
    });
    print_row(
        "c. http://127.0.0.1, poll 1 s, artifact",
        &http,
        Some((POLL_GOAL_BASE + POLL_INTERVAL, "< 2 s (1 s + interval)")),
        "no (the bundle's artifact)",
    );

    // d. S3 (moto) polled every second.
    let s3 = if let Some(moto) = moto {
        let samples = runtime.block_on(async {
            moto.create_bucket("bundles").await;
            let place = Place::S3(moto);
            let bundles: Vec<Vec<u8>> = (1..=runs as u64 + 1)
                .map(|revision| publisher.bundle(revision, DEFAULT_MODULE, Some(&artifact)))
                .collect();
            publication_to_decision(
                &publisher,
                &place,
                temp_dir("bench-s3").join("state"),
                POLL_INTERVAL,
                bundles,
                Some(POLL_INTERVAL),
            )
            .await
        });
        print_row(
            "d. s3 (moto), poll 1 s, artifact",
            &samples,
            Some((POLL_GOAL_BASE + POLL_INTERVAL, "< 2 s (1 s + interval)")),
            "no (the bundle's artifact)",
        );
        Some(samples)
    } else {
        println!("d. s3 (moto): left out (TOLLGATE_BENCH_S3=0)");
        None
    };
    println!(
        "b misses the 200 ms file-watch goal by design: that goal is for bundles carrying an artifact; b compiles a new module each run."
    );
    println!(
        "bundle size: {:.1} KiB with the artifact (a, c, d), {:.1} KiB without (b); the clock starts when the publication is complete{}",
        kib(file_artifact.bundle_bytes),
        kib(file_compile.bundle_bytes),
        match &s3 {
            Some(s3) => format!(
                " (the S3 PUT itself took {:.1} ms median, not counted)",
                ms(median(&s3.publish))
            ),
            None => String::new(),
        }
    );
    let in_order = |samples: &Samples| {
        samples
            .times
            .iter()
            .map(|t| format!("{:.0}", ms(*t)))
            .collect::<Vec<_>>()
            .join(" ")
    };
    println!("runs in order, ms:");
    println!("  a: {}", in_order(&file_artifact));
    println!("  b: {}", in_order(&file_compile));
    println!("  c: {}", in_order(&http));
    if let Some(s3) = &s3 {
        println!("  d: {}", in_order(s3));
    }
    println!(
        "c and d: publication i of {runs} waits i/{runs} of the 1 s interval after the previous activation, so the phase against the poll is spread evenly."
    );

    // 2. Activation of a bundle seen before.
    println!();
    println!(
        "activation of a bundle seen before (Pipeline::prepare; no artifact in the bundle, its module compiled once before, so from the artifact cache)"
    );
    println!(
        "{:<40} {:>4} {:>10} {:>9}  {:<24} {:>4}  compiling",
        "step", "runs", "median ms", "max ms", "goal (max)", "met"
    );
    let cache = runtime.block_on(cache_activation(
        &publisher,
        cache_runs,
        compile_runs,
        temp_dir("bench-pipeline").join("state"),
    ));
    print_step(
        "prepare, module from the cache",
        &cache.prepare_cached,
        Some(CACHE_GOAL),
        "no",
    );
    let steps = &cache.steps;
    print_step(
        "  read, digests, signature, identity",
        &steps.read,
        None,
        "",
    );
    print_step("  extract (policy, tests, files)", &steps.extract, None, "");
    print_step(
        "  cache get (read, SHA-256 check)",
        &steps.cache_get,
        None,
        "",
    );
    print_step("  load_verified_artifact", &steps.load, None, "");
    print_step("  configure (Gate::new)", &steps.configure, None, "");
    print_step("  the bundle's own tests (2 cases)", &steps.tests, None, "");
    print_step(
        "prepare, new module (compiled, cached)",
        &cache.prepare_compiled,
        None,
        "yes",
    );
    print_step(
        "compile_component alone (from scratch)",
        &cache.compile,
        None,
        "yes",
    );
    println!(
        "sizes: bundle {:.1} KiB (module.wasm {:.1} KiB, no artifact); cached artifact {:.1} KiB",
        kib(cache.bundle_bytes),
        kib(cache.module_bytes),
        kib(cache.artifact_bytes)
    );
    println!(
        "the indented steps are timed one by one (as the pipeline runs them) on {} more new revisions of the same module; prepare also hands work to blocking threads.",
        steps.read.len()
    );
    println!();
    println!(
        "bench run time: {:.1} s (set-up included); load average before: {load_before}, after: {}",
        bench_started.elapsed().as_secs_f64(),
        load_average()
    );
}

/// The steps of a prepare from the cache, timed one by one.
#[derive(Default)]
struct Steps {
    read: Vec<Duration>,
    extract: Vec<Duration>,
    cache_get: Vec<Duration>,
    load: Vec<Duration>,
    configure: Vec<Duration>,
    tests: Vec<Duration>,
}

/// The second table's samples.
struct CacheSamples {
    prepare_cached: Vec<Duration>,
    steps: Steps,
    prepare_compiled: Vec<Duration>,
    compile: Vec<Duration>,
    bundle_bytes: usize,
    module_bytes: usize,
    artifact_bytes: usize,
}

async fn cache_activation(
    publisher: &Publisher,
    runs: usize,
    compile_runs: usize,
    state_dir: PathBuf,
) -> CacheSamples {
    let settings = publisher.pipeline(state_dir.clone());
    let pipeline = Pipeline::new(settings.clone());
    let mut revision = 0u64;
    let mut active: Option<BundleInfo> = None;

    // The baseline, what the cache saves: never seen modules, compiled
    // (and cached) by prepare, taking turns with compile_component alone.
    let mut prepare_compiled = Vec::new();
    let mut compile = Vec::new();
    let mut module = Vec::new();
    for i in 0..compile_runs {
        revision += 1;
        module = with_custom_section(DEFAULT_MODULE, &format!("pipeline-{i}"));
        let bytes = publisher.bundle(revision, &module, None);
        let started = Instant::now();
        let prepared = pipeline
            .prepare(bytes.into(), "bench", active.as_ref(), None)
            .await
            .unwrap();
        prepare_compiled.push(started.elapsed());
        assert_eq!(prepared.module_from, "compiled");
        active = Some(prepared.active.info.clone());

        let fresh = with_custom_section(DEFAULT_MODULE, &format!("scratch-{i}"));
        let started = Instant::now();
        let compiled = PolicyModule::compile_component(&fresh, SandboxLimits::default());
        compile.push(started.elapsed());
        drop(compiled.unwrap());
    }

    // New revisions of the last module compiled: from the cache.
    let mut prepare_cached = Vec::new();
    let mut bundle_bytes = 0;
    for _ in 0..runs {
        revision += 1;
        let bytes = publisher.bundle(revision, &module, None);
        bundle_bytes = bytes.len();
        let started = Instant::now();
        let prepared = pipeline
            .prepare(bytes.into(), "bench", active.as_ref(), None)
            .await
            .unwrap();
        prepare_cached.push(started.elapsed());
        assert_eq!(prepared.module_from, "cache");
        assert_eq!(prepared.tests_passed, 2);
        active = Some(prepared.active.info.clone());
    }

    // Its steps one by one, as the pipeline runs them, on more new
    // revisions of the same module.
    let cache = ArtifactCache::open(&state_dir.join("artifacts")).unwrap();
    let key = ArtifactCache::key(
        &ModuleDigest::of(&module),
        &engine_fingerprint(Target::native()),
    );
    let steps_dir = state_dir.join("steps");
    let mut steps = Steps::default();
    let mut artifact_bytes = 0;
    for i in 0..runs {
        revision += 1;
        let bytes = publisher.bundle(revision, &module, None);

        let started = Instant::now();
        let (bundle, _) = read_and_check(&settings, &bytes, active.as_ref()).unwrap();
        steps.read.push(started.elapsed());

        let dir = steps_dir.join(i.to_string());
        let started = Instant::now();
        tollgate_hot_swap::pipeline::private_dir(&dir).unwrap();
        bundle.extract_to(&dir).unwrap();
        steps.extract.push(started.elapsed());

        let started = Instant::now();
        let cached = cache.get(&key).expect("the module is cached");
        steps.cache_get.push(started.elapsed());
        artifact_bytes = cached.len();

        let started = Instant::now();
        let loaded =
            PolicyModule::load_verified_artifact(&cached, SandboxLimits::default()).unwrap();
        steps.load.push(started.elapsed());

        let files = bundle
            .files()
            .map(|(path, bytes)| (path.to_string(), bytes.to_vec()))
            .collect();
        let started = Instant::now();
        let gate = Gate::new(
            Arc::clone(&loaded),
            bundle.policy(),
            &ConfigBase::Bundle(files),
            "bench",
            KeyFetchSettings::default(),
        )
        .await
        .unwrap();
        steps.configure.push(started.elapsed());
        drop(gate);

        let started = Instant::now();
        let paths = tollgate_policy_test::discover(&[dir.join("tests")]).unwrap();
        let files = paths
            .iter()
            .map(|path| TestFile::load(path))
            .collect::<Result<Vec<_>, _>>()
            .unwrap();
        let options = RunOptions {
            config: Some(dir.join("policy.toml")),
        };
        let report = tollgate_policy_test::run(&loaded, &files, &options).unwrap();
        steps.tests.push(started.elapsed());
        assert_eq!((report.passed, report.failed), (2, 0));
    }

    if let Some(scratch) = state_dir.parent() {
        remove(scratch);
    }
    CacheSamples {
        prepare_cached,
        steps,
        prepare_compiled,
        compile,
        bundle_bytes,
        module_bytes: module.len(),
        artifact_bytes,
    }
}

/// The load averages (1, 5, 15 minutes) from `/proc/loadavg`: other work on
/// the machine shows in these figures.
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|text| {
            text.split_whitespace()
                .take(3)
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_else(|_| "unknown".to_string())
}

fn remove(dir: &Path) {
    let _ = std::fs::remove_dir_all(dir);
}
