//! `cargo bench -p tollgate-host --bench decision`: the decision's fixed
//! cost on distinct tokens, per algorithm, against the native limit and the
//! Node peer, in one run.
//!
//! The tokens are the peers' fixtures (`bench/peers/gen.mjs`: 20,000 per
//! algorithm, Cognito-like access tokens of about 450 bytes, three keys,
//! `kid` round-robin, distinct `sub` and `jti`), so no figure comes from one
//! token repeated. Each figure is µs per token: one warm-up pass over every
//! token, then the median of nine rounds, each timing one pass of every
//! figure in turn (so a slow spell of a shared machine weighs on all of
//! them alike).
//!
//! - **primitive**: the native signature check alone (aws-lc-rs through
//!   `NativeKey::verify`), on signatures decoded beforehand: the limit.
//! - **native core**: the same `tollgate-policy` code the module runs,
//!   compiled natively, with the same checks, keys from the same store.
//! - **call**: the component's fixed cost: a request of the same shape
//!   without a credential (checkout, lowering, one call, a deny lifted).
//! - **decision**: `Authorizer::authorize`, the whole decision through the
//!   component, every token allowed (asserted).
//! - **overhead**: decision − primitive, the median over rounds of the two
//!   timed in the same round (goal ≤ 4 µs; HS256 also decides in under
//!   5 µs whole); **ratio**: decision / primitive.
//! - **aws-jwt-verify**: `node bench.mjs aws ALG`, the same tokens, one core.
//!
//! Then decisions per second with one and two threads on one authorizer
//! (its pool of instances grows to one per thread), the guest's size and
//! the `.cwasm` load time against compiling the `.wasm`.
//!
//! Node and npm are needed for the peer and the fixtures (`npm ci` runs
//! once, under the target dir); without them the run says so and uses
//! tokens of the same shape minted in Rust. `TOLLGATE_BENCH_TOKENS` sets
//! tokens per algorithm (default 20,000), `TOLLGATE_BENCH_ALGS` (e.g.
//! `hs256,rs256`) the algorithms, and `TOLLGATE_BENCH_PROFILE=SECONDS`
//! makes the run only decide tokens for that long (a profile of the
//! decision alone). `TOLLGATE_BENCH_TARGET=x86_64` decides with the module
//! precompiled for that deployment target's baseline CPU (what Lambda
//! runs) instead of this machine's. `cargo test --benches` runs a
//! quick pass on 300 tokens of its own.

// Benchmarks: a failed expectation is a panic, and fixtures are indexed directly.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tollgate_bench_support::{
    ALGS, Peers, jose_name, median, mint_own_data, read_tokens, write_policy,
};
use tollgate_host::model::{Algorithm, Decision, Request, TokenSource};
use tollgate_host::{Authorizer, PolicyModule, SandboxLimits, module};
use tollgate_keys::{NativeKey, StoreRing};

/// Timed rounds: in each, one pass over every token for each figure, in
/// turn, so a slow spell of a shared machine weighs on all of them alike.
const ROUNDS: usize = 9;

/// One timed pass over `n` tokens: µs per token.
fn pass_time(n: usize, pass: &mut dyn FnMut()) -> f64 {
    let start = Instant::now();
    pass();
    start.elapsed().as_secs_f64() * 1e6 / n as f64
}

/// One warm-up pass of each, then [`ROUNDS`] rounds of one timed pass of
/// each in turn: every pass's µs per token, per figure.
fn interleaved(n: usize, passes: &mut [&mut dyn FnMut()]) -> Vec<Vec<f64>> {
    for pass in passes.iter_mut() {
        pass();
    }
    let mut times = vec![Vec::with_capacity(ROUNDS); passes.len()];
    for _ in 0..ROUNDS {
        for (pass, samples) in passes.iter_mut().zip(&mut times) {
            samples.push(pass_time(n, *pass));
        }
    }
    times
}

fn request(token: Option<&str>, now: i64) -> Request {
    Request {
        token_sources: token
            .map(|t| vec![TokenSource::AuthorizationHeader(format!("Bearer {t}"))])
            .unwrap_or_default(),
        method: "GET".into(),
        path: "/orders/42".into(),
        now,
        ..Request::default()
    }
}

/// `TOLLGATE_BENCH_TARGET=x86_64` (or `aarch64`): decide with the default
/// module precompiled for that deployment target's baseline CPU, as
/// `tollgate compile --target` and the Lambda function's `.cwasm` are,
/// instead of compiled for this machine's CPU.
fn deployment_target() -> Option<module::Target> {
    let name = std::env::var("TOLLGATE_BENCH_TARGET").ok()?;
    Some(
        module::Target::from_arch_name(&name)
            .unwrap_or_else(|| panic!("TOLLGATE_BENCH_TARGET={name}: expected x86_64 or aarch64")),
    )
}

/// `TOLLGATE_BENCH_PROFILE=SECONDS`: only decide tokens, for that long per
/// algorithm, and print nothing else (a profile of the decision alone).
fn profile_seconds() -> Option<u64> {
    std::env::var("TOLLGATE_BENCH_PROFILE").ok()?.parse().ok()
}

/// One algorithm's figures, in µs per token.
struct Row {
    alg: &'static str,
    primitive: f64,
    native_core: f64,
    call: f64,
    decision: f64,
    /// The median over rounds of (decision − primitive) in the same round.
    overhead: f64,
    peer: Option<f64>,
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` passes nothing: run quickly then.
    let full = std::env::args().any(|a| a == "--bench");
    let work = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("decision-bench");
    std::fs::create_dir_all(&work).expect("create the bench dir");
    let n = if full {
        std::env::var("TOLLGATE_BENCH_TOKENS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(20_000)
    } else {
        300
    };

    let peers = if full {
        match Peers::setup(&work) {
            Ok(peers) => Some(peers),
            Err(e) => {
                println!(
                    "Node peers unavailable ({e}): no aws-jwt-verify column, and tokens of the same shape minted in Rust.\n"
                );
                None
            }
        }
    } else {
        None
    };
    let data = work.join(if peers.is_some() { "data" } else { "own-data" });
    let meta = match &peers {
        Some(peers) => peers.generate(&data, n),
        None => mint_own_data(&data, n),
    };
    let iss = meta["iss"].as_str().unwrap().to_string();
    let aud = meta["aud"].as_str().unwrap().to_string();
    let now = tollgate_host::clock::unix_now();

    let engine = match deployment_target() {
        Some(target) => {
            let cwasm = module::precompile_for(module::DEFAULT_MODULE, Some(target))
                .expect("precompile for the deployment target");
            PolicyModule::from_bytes(&cwasm, SandboxLimits::default()).expect("load the .cwasm")
        }
        None => PolicyModule::default_module(SandboxLimits::default()).expect("module compiles"),
    };
    println!(
        "tollgate decision benchmark ({} mode): {n} distinct tokens per algorithm ({}), µs per token",
        if full { "full" } else { "quick" },
        if peers.is_some() {
            "the peers' gen.mjs fixtures"
        } else {
            "minted in Rust"
        }
    );
    if let Some(target) = deployment_target() {
        println!(
            "module: precompiled for the {} baseline CPU (TOLLGATE_BENCH_TARGET), as deployed",
            target.arch_name()
        );
    }
    println!(
        "{:<6} {:>10} {:>12} {:>8} {:>10} {:>10} {:>7} {:>6} {:>15} {:>9}",
        "alg",
        "primitive",
        "native core",
        "call",
        "decision",
        "overhead",
        "ratio",
        "met",
        "aws-jwt-verify",
        "vs peer"
    );
    let mut rows = Vec::new();
    let mut authorizers = Vec::new();
    // `TOLLGATE_BENCH_ALGS=hs256,rs256` runs only those (for profiling).
    let only = std::env::var("TOLLGATE_BENCH_ALGS").unwrap_or_default();
    for alg in ALGS
        .into_iter()
        .filter(|alg| only.is_empty() || only.split(',').any(|o| o == *alg))
    {
        write_policy(&data, alg, &iss, &aud);
        let policy_path = data.join(format!("policy-{alg}.toml"));
        let authorizer = Authorizer::from_config_file(engine.clone(), &policy_path)
            .expect("bench policy is valid");
        let tokens = read_tokens(&data, alg);
        if let Some(seconds) = profile_seconds() {
            // Only whole decisions, for a profile (docs/benchmarks.md).
            let authorizer = Arc::new(authorizer);
            let rate = throughput(&authorizer, &tokens, now, 1, Duration::from_secs(seconds));
            println!(
                "{}: {rate:.0} decisions/s for {seconds} s (profile)",
                jose_name(alg)
            );
            continue;
        }
        let row = measure(alg, &authorizer, &policy_path, &tokens, now);
        let row = Row {
            peer: peers.as_ref().and_then(|p| p.warm("aws", alg, &data)),
            ..row
        };
        print_row(&row);
        rows.push(row);
        authorizers.push((alg, Arc::new(authorizer), tokens));
    }
    if profile_seconds().is_some() {
        return;
    }
    println!(
        "\nprimitive: the native signature check alone; native core: tollgate-policy compiled natively, same checks;\n\
         call: the component's fixed cost (a request without a credential); decision: Authorizer::authorize;\n\
         overhead: decision - primitive, median over rounds (goal <= 4 µs; HS256 decides in < 5 µs whole); ratio: decision / primitive;\n\
         vs peer: decision / aws-jwt-verify (Node, same tokens, one core; below 1 is faster)."
    );
    let guest_work: Vec<String> = rows
        .iter()
        .map(|r| {
            format!(
                "{} {:.2}",
                r.alg,
                r.decision - r.call - r.native_core.max(r.primitive)
            )
        })
        .collect();
    println!(
        "left for the boundary and sandbox beyond the fixed call (decision - call - native core), µs: {}",
        guest_work.join(", ")
    );

    println!(
        "\ndecisions per second on one authorizer (distinct tokens, each thread its own slice)"
    );
    println!(
        "{:<6} {:>12} {:>12} {:>8}",
        "alg", "1 thread", "2 threads", "scaling"
    );
    let window = if full {
        Duration::from_secs(2)
    } else {
        Duration::from_millis(100)
    };
    for (alg, authorizer, tokens) in &authorizers {
        let one = throughput(authorizer, tokens, now, 1, window);
        let two = throughput(authorizer, tokens, now, 2, window);
        println!(
            "{:<6} {:>12.0} {:>12.0} {:>7.2}x",
            jose_name(alg),
            one,
            two,
            two / one
        );
    }
    println!(
        "(this machine has {} cores; 2 threads scale by up to 2x when 2 are free)",
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );

    module_figures(full);
}

fn measure(
    alg: &'static str,
    authorizer: &Authorizer,
    policy_path: &Path,
    tokens: &[String],
    now: i64,
) -> Row {
    let name = jose_name(alg);
    let algorithm = Algorithm::from_name(name).expect("algorithm name");
    let issuer = &authorizer.manifest().issuers[0].issuer;
    let store = authorizer.keys();

    // The primitive, on inputs split and decoded beforehand.
    let inputs: Vec<(Arc<NativeKey>, &[u8], Vec<u8>)> = tokens
        .iter()
        .map(|token| {
            let (input, signature) = token.rsplit_once('.').expect("compact");
            let header: serde_json::Value =
                serde_json::from_slice(&base64_url(input.split('.').next().unwrap())).unwrap();
            let kid = header["kid"].as_str().expect("kid");
            let key = store.lookup(issuer, Some(kid)).expect("key")[0].clone();
            (key, input.as_bytes(), base64_url(signature))
        })
        .collect();
    for (key, input, signature) in &inputs {
        key.verify(algorithm, input, signature)
            .expect("primitive verifies");
    }
    let mut primitive = || {
        for (key, input, signature) in &inputs {
            black_box(key.verify(algorithm, black_box(input), black_box(signature))).ok();
        }
    };

    let requests: Vec<Request> = tokens.iter().map(|t| request(Some(t), now)).collect();

    // The native core: the module's own code, natively, on the same keys.
    let text = std::fs::read_to_string(policy_path).unwrap();
    let policy = tollgate_policy::Policy::from_toml(&text).expect("native policy");
    let ring = StoreRing(store);
    for request in &requests {
        let decision = policy.authorize(request, &ring);
        assert!(matches!(decision, Decision::Allow(_)), "{decision:?}");
    }
    let mut native_core = || {
        for request in &requests {
            black_box(policy.authorize(black_box(request), &ring));
        }
    };

    // The component's fixed cost: same shape, no credential.
    let bare = request(None, now);
    assert!(matches!(authorizer.authorize(&bare), Decision::Deny(_)));
    let mut call = || {
        for _ in 0..tokens.len() {
            black_box(authorizer.authorize(black_box(&bare)));
        }
    };

    // The whole decision.
    for request in &requests {
        let decision = authorizer.authorize(request);
        assert!(
            matches!(decision, Decision::Allow(_)),
            "{name}: every bench token must be allowed, got {decision:?}"
        );
    }
    let mut decision = || {
        for request in &requests {
            black_box(authorizer.authorize(black_box(request)));
        }
    };

    let mut times = interleaved(
        tokens.len(),
        &mut [&mut primitive, &mut native_core, &mut call, &mut decision],
    );
    let mut overheads: Vec<f64> = times[3]
        .iter()
        .zip(&times[0])
        .map(|(decision, primitive)| decision - primitive)
        .collect();
    let [primitive, native_core, call, decision] = [0, 1, 2, 3].map(|i| median(&mut times[i]));
    Row {
        alg,
        primitive,
        native_core,
        call,
        decision,
        overhead: median(&mut overheads),
        peer: None,
    }
}

fn print_row(row: &Row) {
    let overhead = row.overhead;
    let met = overhead <= 4.0 && (row.alg != "hs256" || row.decision < 5.0);
    println!(
        "{:<6} {:>10.2} {:>12.2} {:>8.2} {:>10.2} {:>10.2} {:>7.2} {:>6} {:>15} {:>9}",
        jose_name(row.alg),
        row.primitive,
        row.native_core,
        row.call,
        row.decision,
        overhead,
        row.decision / row.primitive,
        if met { "yes" } else { "NO" },
        row.peer.map_or("-".to_string(), |p| format!("{p:.2}")),
        row.peer
            .map_or("-".to_string(), |p| format!("{:.2}", row.decision / p)),
    );
}

/// Decisions per second with `threads` threads deciding distinct tokens on
/// one shared authorizer for `window`.
fn throughput(
    authorizer: &Arc<Authorizer>,
    tokens: &[String],
    now: i64,
    threads: usize,
    window: Duration,
) -> f64 {
    let requests: Arc<Vec<Request>> =
        Arc::new(tokens.iter().map(|t| request(Some(t), now)).collect());
    let start = Instant::now();
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            let authorizer = authorizer.clone();
            let requests = requests.clone();
            std::thread::spawn(move || {
                let mut done = 0u64;
                let mut i = t * requests.len() / threads;
                while start.elapsed() < window {
                    for _ in 0..64 {
                        let decision = authorizer.authorize(&requests[i % requests.len()]);
                        assert!(matches!(decision, Decision::Allow(_)), "{decision:?}");
                        i += 1;
                        done += 1;
                    }
                }
                done
            })
        })
        .collect();
    let done: u64 = handles.into_iter().map(|h| h.join().unwrap()).sum();
    done as f64 / start.elapsed().as_secs_f64()
}

/// The guest's size, and loading its `.cwasm` against compiling it.
fn module_figures(full: bool) {
    let wasm = module::DEFAULT_MODULE;
    let time = |runs: usize, f: &dyn Fn()| {
        f();
        let mut samples: Vec<f64> = (0..runs)
            .map(|_| {
                let start = Instant::now();
                f();
                start.elapsed().as_secs_f64() * 1e3
            })
            .collect();
        median(&mut samples)
    };
    let compile = time(3, &|| {
        black_box(PolicyModule::from_bytes(wasm, SandboxLimits::default()).expect("compile"));
    });
    let cwasm = module::precompile_for(wasm, None).expect("precompile");
    let load = time(if full { 15 } else { 3 }, &|| {
        black_box(PolicyModule::from_bytes(&cwasm, SandboxLimits::default()).expect("load"));
    });
    println!();
    println!(
        "guest component (.wasm): {:>8.1} KiB",
        wasm.len() as f64 / 1024.0
    );
    println!(
        "precompiled (.cwasm):    {:>8.1} KiB",
        cwasm.len() as f64 / 1024.0
    );
    println!("compile .wasm at start:  {compile:>8.2} ms");
    println!(
        "load .cwasm at start:    {load:>8.2} ms  ({:.0}x faster)",
        compile / load
    );
}

fn base64_url(text: &str) -> Vec<u8> {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(text)
        .expect("base64url")
}
