//! `cargo bench -p tollgate-lambda`: the Lambda authorizer side by side
//! with the Node peers (`bench/peers`, copied into the repo with their provenance) on
//! the same tokens (made by the peers' `gen.mjs`).
//!
//! - **cold start**: process start to the first answered invocation
//!   through a Runtime API (a minimal one in this file, on 127.0.0.1), and
//!   the peak RSS; against `node cold.mjs` (start, verify one token, exit).
//! - **warm**: per algorithm, µs per token: the decision alone, a whole
//!   invocation in process (event JSON in, answer JSON out) and through the
//!   Runtime API over loopback HTTP; against `node bench.mjs`.
//!
//! - **builds**: the `bootstrap` of the default build, the lean build
//!   (`--no-default-features`: no Cranelift) and the old one (before the
//!   restructure, built from git at `TOLLGATE_BENCH_OLD_REF`, default
//!   [`OLD_REF`]) side by side: file size, cold start with the same `.cwasm`
//!   and peak RSS, beside the Node peer's cold start above (same run).
//!   The lean and old builds are built by the bench into `target/lean`
//!   (release) and `target/old-bootstrap` (minutes, the first time);
//!   `TOLLGATE_BENCH_BUILDS=0` leaves the table out.
//!
//! Node and npm are needed for the peers (`npm ci` runs once, into the
//! target dir); without them tollgate's own figures are still printed,
//! on tokens it mints itself. `TOLLGATE_BENCH_TOKENS` (default 2000) sets
//! tokens per algorithm, `TOLLGATE_BENCH_COLD_RUNS` (default 20) cold starts.

// Tests: a failed expectation is a panic, and fixtures are indexed directly.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tollgate_bench_support::{
    ALGS, Peers, median, mint_own_data, read_tokens, run_with_timeout, write_policy,
};
use tollgate_host::model::{Request, TokenSource};
use tollgate_host::module::{DEFAULT_MODULE, Target, precompile_for};
use tollgate_host::{PolicyModule, SandboxLimits};
use tollgate_lambda::{LambdaSettings, State};

const TIMEOUT: Duration = Duration::from_secs(60);
/// The last commit before the restructure of issue 8 (one crate held the
/// CLI and the host; `bootstrap` linked clap and key generation).
const OLD_REF: &str = "5e7f969";
const METHOD_ARN: &str = "arn:aws:execute-api:eu-west-1:123456789012:abcdef123/prod/GET/orders/42";

fn main() {
    let work = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("lambda-bench");
    std::fs::create_dir_all(&work).expect("create the bench dir");
    let tokens: usize = env_number("TOLLGATE_BENCH_TOKENS", 2000);
    let cold_runs: usize = env_number("TOLLGATE_BENCH_COLD_RUNS", 20);

    let peers = match Peers::setup(&work) {
        Ok(peers) => Some(peers),
        Err(e) => {
            println!("Node peers unavailable ({e}); tollgate figures only, on its own tokens.\n");
            None
        }
    };
    let data = work.join("data");
    let meta = match &peers {
        Some(peers) => peers.generate(&data, tokens),
        None => mint_own_data(&data, tokens),
    };
    let iss = meta["iss"].as_str().unwrap().to_string();
    let aud = meta["aud"].as_str().unwrap().to_string();
    for alg in ALGS {
        write_policy(&data, alg, &iss, &aud);
    }
    let cwasm = work.join("tollgate.cwasm");
    std::fs::write(
        &cwasm,
        precompile_for(DEFAULT_MODULE, Some(Target::native())).expect("precompile"),
    )
    .unwrap();

    println!(
        "tollgate Lambda authorizer vs Node peers — {tokens} tokens per algorithm, same tokens both sides\n"
    );

    // Cold start.
    println!("cold start: process start -> first answer (RS256 token), median of {cold_runs} runs");
    println!("{:<44} {:>9} {:>14}", "", "ms", "peak RSS MiB");
    let token1 = std::fs::read_to_string(data.join("token1-rs256.txt")).unwrap();
    let policy = data.join("policy-rs256.toml");
    let default_bootstrap = Path::new(env!("CARGO_BIN_EXE_bootstrap"));
    let cold_cwasm = median_pair(cold_runs, || {
        cold_start_tollgate(default_bootstrap, &policy, Some(&cwasm), token1.trim())
    });
    print_cold("tollgate bootstrap, .cwasm (Runtime API)", cold_cwasm);
    let cold_wasm = median_pair(cold_runs.clamp(1, 5), || {
        cold_start_tollgate(default_bootstrap, &policy, None, token1.trim())
    });
    print_cold("tollgate bootstrap, embedded .wasm", cold_wasm);
    let mut node_cold = Vec::new();
    if let Some(peers) = &peers {
        for lib in ["aws", "jsonwebtoken"] {
            let figures = median_pair(cold_runs, || {
                node_cold_start(
                    peers,
                    lib,
                    &data.join("jwks-rs256.json"),
                    &data.join("token1-rs256.txt"),
                )
            });
            print_cold(&format!("node cold.mjs {lib}"), figures);
            node_cold.push((lib, figures));
        }
    }
    let goal = cold_cwasm.0 <= 8.0 && cold_cwasm.1 <= 16.0;
    print!(
        "goal <= 8 ms and <= 16 MiB: {}",
        if goal { "met" } else { "NOT met" }
    );
    if let Some((_, (ms, mib))) = node_cold.first() {
        print!(
            "; vs aws-jwt-verify: {:.1}x faster, {:.1}x less memory",
            ms / cold_cwasm.0,
            mib / cold_cwasm.1
        );
    }
    println!("\n");

    if env_number("TOLLGATE_BENCH_BUILDS", 1) != 0 {
        builds_table(&work, &policy, &cwasm, token1.trim(), cold_runs, &node_cold);
    }

    // Warm.
    println!("warm: µs per token (median of 5 rounds over all tokens, after warm-up)");
    println!(
        "{:<7} {:>9} {:>11} {:>12} {:>15} {:>13} {:>24}",
        "alg",
        "decision",
        "invocation",
        "runtime API",
        "aws-jwt-verify",
        "jsonwebtoken",
        "invocation vs aws"
    );
    let engine =
        PolicyModule::from_file(&cwasm, SandboxLimits::default()).expect("load the .cwasm");
    for alg in ALGS {
        let tokens = read_tokens(&data, alg);
        let gate = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime")
            .block_on(tollgate_host::Gate::from_config_file(
                engine.clone(),
                &data.join(format!("policy-{alg}.toml")),
                tollgate_host::jwks::KeyFetchSettings::lambda(),
            ))
            .expect("the bench policy loads");
        // No token cache: every invocation is a full decision.
        let info = tollgate_host::live::BundleInfo::deployed(
            gate.authorizer().module_digest().to_string(),
        );
        let state = State {
            live: std::sync::Arc::new(tollgate_host::live::LiveGate::new(gate, info)),
            hot_swap: None,
            settings: LambdaSettings::default(),
        };
        let decision = warm_decision(&state, &tokens);
        let invocation = warm_invocation(&state, &tokens);
        let via_runtime =
            warm_runtime_api(&data.join(format!("policy-{alg}.toml")), &cwasm, &tokens);
        let (aws, jwt) = match &peers {
            Some(peers) => (
                peers.warm("aws", alg, &data),
                peers.warm("jsonwebtoken", alg, &data),
            ),
            None => (None, None),
        };
        let show = |v: Option<f64>| v.map_or("n/a".to_string(), |v| format!("{v:.2}"));
        let verdict = match aws {
            Some(aws) if invocation < aws => format!("ahead, {:.1}x", aws / invocation),
            Some(aws) => format!("BEHIND, {:.1}x", invocation / aws),
            None => "(aws-jwt-verify: none)".to_string(),
        };
        println!(
            "{:<7} {:>9.2} {:>11.2} {:>12.2} {:>15} {:>13} {:>24}",
            alg.to_uppercase(),
            decision,
            invocation,
            via_runtime,
            show(aws),
            show(jwt),
            verdict
        );
    }
    println!(
        "\ndecision: Authorizer::authorize; invocation: event JSON -> handler -> answer JSON in process;\n\
         runtime API: one invocation through a Runtime API on loopback (next + response round trip)."
    );
}

fn env_number(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn print_cold(name: &str, (ms, mib): (f64, f64)) {
    println!("{name:<44} {ms:>9.2} {mib:>14.1}");
}

/// Run `f` `runs` times (after one warm-up run) and return the medians.
fn median_pair(runs: usize, mut f: impl FnMut() -> (f64, f64)) -> (f64, f64) {
    let _ = f();
    let mut a = Vec::new();
    let mut b = Vec::new();
    for _ in 0..runs.max(1) {
        let (x, y) = f();
        a.push(x);
        b.push(y);
    }
    (median(&mut a), median(&mut b))
}

// ---------------------------------------------------------------- Node peers

/// (ms to exit, peak RSS MiB) of one `node cold.mjs` process.
// The child is reaped by `wait4` (for its rusage), which clippy cannot see.
#[allow(clippy::zombie_processes)]
fn node_cold_start(peers: &Peers, lib: &str, jwks: &Path, token: &Path) -> (f64, f64) {
    let start = Instant::now();
    let child = Command::new("node")
        .arg(peers.script("cold.mjs"))
        .arg(lib)
        .arg(jwks)
        .arg(token)
        .stdout(Stdio::null())
        .spawn()
        .expect("start node");
    let (ok, rss_kib) = wait_rusage(child.id());
    let ms = start.elapsed().as_secs_f64() * 1000.0;
    assert!(ok, "node cold.mjs {lib} failed");
    (ms, rss_kib as f64 / 1024.0)
}

/// Reap `pid`; (exited successfully, peak RSS in KiB). `wait4` is the one
/// way to read a child's peak RSS, and std has no safe wrapper for it.
#[allow(unsafe_code)]
fn wait_rusage(pid: u32) -> (bool, i64) {
    let mut status = 0;
    // SAFETY: `rusage` is plain data, fully written by wait4 on success.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: waits for our own child; the pointers are valid for the call.
    let r = unsafe { libc::wait4(pid as libc::pid_t, &mut status, 0, &mut usage) };
    assert_eq!(r, pid as libc::pid_t, "wait4");
    let ok = libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0;
    (ok, usage.ru_maxrss)
}

// ---------------------------------------------------------------- tollgate

fn token_event(token: &str) -> Value {
    json!({"type": "TOKEN", "authorizationToken": format!("Bearer {token}"), "methodArn": METHOD_ARN})
}

fn warm_decision(state: &State, tokens: &[String]) -> f64 {
    let now = tollgate_host::clock::unix_now();
    let requests: Vec<Request> = tokens
        .iter()
        .map(|t| Request {
            token_sources: vec![TokenSource::Raw(t.clone())],
            method: "GET".into(),
            path: "/orders/42".into(),
            now,
            ..Request::default()
        })
        .collect();
    let active = state.active();
    rounds(tokens.len(), || {
        for request in &requests {
            let decision = active.gate.authorizer().authorize(request);
            assert!(
                matches!(decision, tollgate_host::model::Decision::Allow(_)),
                "{decision:?}"
            );
        }
    })
}

fn warm_invocation(state: &State, tokens: &[String]) -> f64 {
    let events: Vec<Vec<u8>> = tokens
        .iter()
        .map(|t| serde_json::to_vec(&token_event(t)).unwrap())
        .collect();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rounds(tokens.len(), || {
        runtime.block_on(async {
            for event in &events {
                let payload: Value = serde_json::from_slice(event).unwrap();
                let answer = tollgate_lambda::handle(state, payload)
                    .await
                    .expect("allow");
                std::hint::black_box(serde_json::to_vec(&answer).unwrap());
            }
        })
    })
}

/// µs per token: a warm-up pass, then the median of 5 timed passes.
fn rounds(n: usize, mut pass: impl FnMut()) -> f64 {
    pass();
    let mut per = Vec::new();
    for _ in 0..5 {
        let start = Instant::now();
        pass();
        per.push(start.elapsed().as_secs_f64() * 1e6 / n as f64);
    }
    median(&mut per)
}

/// A `bootstrap` binary and the `.cwasm` of its default module.
type Build = (PathBuf, PathBuf);

/// The default, lean and old `bootstrap` side by side (see the module docs).
fn builds_table(
    work: &Path,
    policy: &Path,
    cwasm: &Path,
    token: &str,
    cold_runs: usize,
    node_cold: &[(&str, (f64, f64))],
) {
    let old_ref = std::env::var("TOLLGATE_BENCH_OLD_REF").unwrap_or_else(|_| OLD_REF.into());
    let tmp = Path::new(env!("CARGO_TARGET_TMPDIR"));
    let target = tmp
        .parent()
        .expect("the target tmp dir is in the target dir");
    // Each build runs its own default module, precompiled: the old one was
    // built for WIT 0.2.0, whose request the 0.4 host no longer takes.
    let old = old_bootstrap(target, &old_ref).and_then(|(binary, wasm)| {
        let cwasm = work.join("old.cwasm");
        let wasm = std::fs::read(&wasm).map_err(|e| format!("{}: {e}", wasm.display()))?;
        let bytes = precompile_for(&wasm, Some(Target::native())).map_err(|e| e.to_string())?;
        std::fs::write(&cwasm, bytes).map_err(|e| e.to_string())?;
        Ok((binary, cwasm))
    });
    let builds: Vec<(String, Result<Build, String>)> = vec![
        (format!("old ({old_ref})"), old),
        (
            "default".into(),
            Ok((
                PathBuf::from(env!("CARGO_BIN_EXE_bootstrap")),
                cwasm.to_path_buf(),
            )),
        ),
        (
            "lean (no Cranelift)".into(),
            lean_bootstrap(target).map(|binary| (binary, cwasm.to_path_buf())),
        ),
    ];
    println!(
        "bootstrap builds: file size, cold start with its default module's .cwasm through the Runtime API, peak RSS; median of {cold_runs} runs, the builds taking turns"
    );
    println!(
        "{:<28} {:>10} {:>9} {:>14}",
        "", "size MiB", "ms", "peak RSS MiB"
    );
    let mut ready: Vec<(String, Build, Vec<f64>, Vec<f64>)> = Vec::new();
    for (name, build) in builds {
        match build {
            Ok(build) => {
                // One start to warm the page cache.
                let _ = cold_start_tollgate(&build.0, policy, Some(&build.1), token);
                ready.push((name, build, Vec::new(), Vec::new()));
            }
            Err(e) => println!("{name:<28} not built: {e}"),
        }
    }
    // Round-robin, each round starting at another build, so that drift in
    // the machine's load falls on every build alike.
    let count = ready.len();
    for round in 0..cold_runs.max(1) {
        for i in 0..count {
            let (_, (binary, module), ms, mib) = &mut ready[(round + i) % count];
            let (a, b) = cold_start_tollgate(binary, policy, Some(module), token);
            ms.push(a);
            mib.push(b);
        }
    }
    for (name, (binary, _), ms, mib) in &mut ready {
        let size = std::fs::metadata(&*binary).map_or(0, |m| m.len()) as f64 / 1048576.0;
        println!(
            "{name:<28} {size:>10.1} {:>9.2} {:>14.1}",
            median(ms),
            median(mib)
        );
    }
    for (lib, (ms, mib)) in node_cold {
        println!(
            "{:<28} {:>10} {ms:>9.2} {mib:>14.1}",
            format!("node cold.mjs {lib}"),
            ""
        );
    }
    println!();
}

/// `cargo build` with `args` into `target_dir`, bounded in time.
fn cargo_build(dir: &Path, target_dir: &Path, args: &[&str]) -> Result<(), String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut command = Command::new(cargo);
    command
        .current_dir(dir)
        .arg("build")
        .args(args)
        .arg("--target-dir")
        .arg(target_dir)
        .env_remove("CARGO_TARGET_DIR")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    match run_with_timeout(&mut command, Duration::from_secs(3600))? {
        true => Ok(()),
        false => Err(format!("cargo build {} failed", args.join(" "))),
    }
}

/// The lean `bootstrap` (release), built into `<target>/lean`.
fn lean_bootstrap(target: &Path) -> Result<PathBuf, String> {
    let target_dir = target.join("lean");
    cargo_build(
        Path::new(env!("CARGO_MANIFEST_DIR")),
        &target_dir,
        &[
            "--release",
            "--locked",
            "-p",
            "tollgate-lambda",
            "--no-default-features",
            "--bin",
            "bootstrap",
        ],
    )?;
    Ok(target_dir.join("release").join("bootstrap"))
}

/// The `bootstrap` of `git_ref` (release) and its default module (`.wasm`):
/// the whole tree of that commit exported with `git archive` into
/// `<target>/old-bootstrap/<ref>` (a workspace of its own), built there.
fn old_bootstrap(target: &Path, git_ref: &str) -> Result<(PathBuf, PathBuf), String> {
    let root = target.join("old-bootstrap");
    let tree = root.join(git_ref);
    if !tree.join("Cargo.toml").is_file() {
        std::fs::create_dir_all(&tree).map_err(|e| e.to_string())?;
        // From the repository's top: run in a subfolder, `git archive`
        // exports only that subfolder.
        let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let archive = Command::new("git")
            .current_dir(&repo)
            .args(["archive", "--format=tar", git_ref])
            .output()
            .map_err(|e| format!("git: {e}"))?;
        if !archive.status.success() {
            return Err(format!(
                "git archive {git_ref}: {}",
                String::from_utf8_lossy(&archive.stderr).trim()
            ));
        }
        let mut tar = Command::new("tar")
            .current_dir(&tree)
            .arg("-x")
            .stdin(Stdio::piped())
            .spawn()
            .map_err(|e| format!("tar: {e}"))?;
        tar.stdin
            .take()
            .expect("piped stdin")
            .write_all(&archive.stdout)
            .map_err(|e| e.to_string())?;
        if !tar.wait().map_err(|e| e.to_string())?.success() {
            return Err("tar -x failed".into());
        }
    }
    // Else cargo would walk up to this workspace and build today's code.
    let manifest = std::fs::read_to_string(tree.join("Cargo.toml")).unwrap_or_default();
    if !manifest.contains("[workspace]") {
        return Err(format!(
            "{} holds no workspace of {git_ref}",
            tree.display()
        ));
    }
    let target_dir = root.join("target");
    cargo_build(
        &tree,
        &target_dir,
        &[
            "--release",
            "--locked",
            "-p",
            "tollgate-lambda",
            "--bin",
            "bootstrap",
        ],
    )?;
    // Its build script built the default module into the tree's own target.
    let wasm = tree.join("target/wasm-guest/wasm32-wasip2/guest/tollgate_guest.wasm");
    if !wasm.is_file() {
        return Err(format!("{} was not built", wasm.display()));
    }
    Ok((target_dir.join("release").join("bootstrap"), wasm))
}

fn bootstrap(
    binary: &Path,
    runtime: &RuntimeApi,
    policy: &Path,
    module: Option<&Path>,
) -> std::process::Child {
    let mut command = Command::new(binary);
    command
        .env_clear()
        .env(
            "AWS_LAMBDA_RUNTIME_API",
            format!("127.0.0.1:{}", runtime.port),
        )
        .env("AWS_LAMBDA_FUNCTION_NAME", "tollgate")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("TOLLGATE_CONFIG", policy)
        .env("TOLLGATE_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(stderr_file()).expect("the bootstrap's stderr file"));
    match module {
        Some(module) => command.env("TOLLGATE_MODULE", module),
        None => command.env("TOLLGATE_MODULE", ""),
    };
    command.spawn().expect("start bootstrap")
}

/// (ms from spawn to the first answer, VmHWM MiB at that point).
fn cold_start_tollgate(
    binary: &Path,
    policy: &Path,
    module: Option<&Path>,
    token: &str,
) -> (f64, f64) {
    let runtime = RuntimeApi::start();
    runtime.queue(&token_event(token));
    let start = Instant::now();
    let mut child = bootstrap(binary, &runtime, policy, module);
    let done = runtime.wait();
    let ms = done.at.duration_since(start).as_secs_f64() * 1000.0;
    assert!(
        done.ok,
        "cold start answered an error: {}",
        String::from_utf8_lossy(&done.body)
    );
    let rss = vm_hwm_kib(child.id()) as f64 / 1024.0;
    let _ = child.kill();
    let _ = child.wait();
    // A .cwasm that did not load would fall back to compiling (with a
    // warning): then the figure would not be a .cwasm cold start.
    let log = std::fs::read_to_string(stderr_file()).unwrap_or_default();
    assert!(
        module.is_none() || !log.contains("does not load here"),
        "{} fell back to compiling: {log}",
        binary.display()
    );
    (ms, rss)
}

/// Where a benchmarked `bootstrap` writes its stderr (one at a time).
fn stderr_file() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("lambda-bench-bootstrap.err")
}

fn warm_runtime_api(policy: &Path, cwasm: &Path, tokens: &[String]) -> f64 {
    let runtime = RuntimeApi::start();
    let mut child = bootstrap(
        Path::new(env!("CARGO_BIN_EXE_bootstrap")),
        &runtime,
        policy,
        Some(cwasm),
    );
    let events: Vec<Value> = tokens.iter().map(|t| token_event(t)).collect();
    let one = |event: &Value| {
        runtime.queue(event);
        let done = runtime.wait();
        assert!(done.ok, "{}", String::from_utf8_lossy(&done.body));
    };
    for event in events.iter().take(200) {
        one(event);
    }
    let start = Instant::now();
    for event in &events {
        one(event);
    }
    let us = start.elapsed().as_secs_f64() * 1e6 / events.len() as f64;
    let _ = child.kill();
    let _ = child.wait();
    us
}

fn vm_hwm_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

// ---------------------------------------------------------------- a minimal Runtime API

/// The Lambda Runtime API, just enough for one function: `next` hands out
/// queued events, `response` / `error` report back with the time they arrived.
struct RuntimeApi {
    port: u16,
    shared: Arc<Shared>,
    done: Receiver<Done>,
}

struct Shared {
    queue: Mutex<VecDeque<(String, Vec<u8>)>>,
    ready: Condvar,
    done: Mutex<Sender<Done>>,
    counter: Mutex<u64>,
}

struct Done {
    ok: bool,
    body: Vec<u8>,
    at: Instant,
}

impl RuntimeApi {
    fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1");
        let port = listener.local_addr().unwrap().port();
        let (tx, rx) = channel();
        let shared = Arc::new(Shared {
            queue: Mutex::new(VecDeque::new()),
            ready: Condvar::new(),
            done: Mutex::new(tx),
            counter: Mutex::new(0),
        });
        let accept_shared = shared.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let shared = accept_shared.clone();
                std::thread::spawn(move || serve(stream, &shared));
            }
        });
        RuntimeApi {
            port,
            shared,
            done: rx,
        }
    }

    fn queue(&self, event: &Value) {
        let mut counter = self.shared.counter.lock().unwrap();
        *counter += 1;
        let id = format!("req-{counter}");
        self.shared
            .queue
            .lock()
            .unwrap()
            .push_back((id, serde_json::to_vec(event).unwrap()));
        self.shared.ready.notify_all();
    }

    fn wait(&self) -> Done {
        self.done
            .recv_timeout(TIMEOUT)
            .expect("the function answered in time")
    }
}

fn serve(stream: TcpStream, shared: &Shared) {
    let _ = stream.set_nodelay(true);
    let mut writer = match stream.try_clone() {
        Ok(w) => w,
        Err(_) => return,
    };
    let mut reader = BufReader::new(stream);
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let mut parts = line.split_whitespace();
        let method = parts.next().unwrap_or("").to_string();
        let path = parts.next().unwrap_or("").to_string();
        let mut length = 0usize;
        loop {
            let mut header = String::new();
            if reader.read_line(&mut header).unwrap_or(0) == 0 {
                return;
            }
            let header = header.trim_end();
            if header.is_empty() {
                break;
            }
            if let Some((name, value)) = header.split_once(':')
                && name.eq_ignore_ascii_case("content-length")
            {
                length = value.trim().parse().unwrap_or(0);
            }
        }
        let mut body = vec![0; length];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        let at = Instant::now();
        let reply = if method == "GET" && path.ends_with("/runtime/invocation/next") {
            let (id, event) = {
                let mut queue = shared.queue.lock().unwrap();
                loop {
                    if let Some(item) = queue.pop_front() {
                        break item;
                    }
                    queue = shared.ready.wait(queue).unwrap();
                }
            };
            let deadline = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_millis()
                + 30_000;
            let mut reply = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nLambda-Runtime-Aws-Request-Id: {id}\r\nLambda-Runtime-Deadline-Ms: {deadline}\r\nLambda-Runtime-Invoked-Function-Arn: arn:aws:lambda:eu-west-1:123456789012:function:tollgate\r\nLambda-Runtime-Trace-Id: Root=1-00000000-000000000000000000000000\r\nContent-Length: {}\r\n\r\n",
                event.len()
            )
            .into_bytes();
            reply.extend_from_slice(&event);
            reply
        } else {
            let ok = path.ends_with("/response");
            let _ = shared.done.lock().unwrap().send(Done { ok, body, at });
            b"HTTP/1.1 202 Accepted\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}".to_vec()
        };
        if writer.write_all(&reply).is_err() {
            return;
        }
    }
}
