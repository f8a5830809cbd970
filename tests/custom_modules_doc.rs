//! `docs/custom-modules.md`, every step run: a fresh crate is created in a
//! temporary folder from the page's own code blocks, built with plain
//! `cargo build --release --target wasm32-wasip2`, tested and checked with
//! `tollgate test` and `tollgate check`, precompiled with `tollgate compile`
//! and served by the Lambda function from the layer folder it ships.
//!
//! The page's fenced blocks carry a `title`: a file name (`Cargo.toml`,
//! `src/lib.rs`, `policy.toml`, …) is written into the crate; a `sh` block
//! is a step, run by `sh` as written (`create` in the parent folder, the
//! others in one script in the crate's folder, in page order); the `text`
//! block `test output` must be exactly what the `test` step printed. The
//! doc's `../tollgate/sdk` dependency resolves to this workspace (a link
//! named `tollgate` beside the crate), `tollgate` on the `PATH` is this
//! test binary acting as the CLI (in process, `tollgate::run`), cargo runs
//! offline with the workspace's `Cargo.lock`, and the crate's `target/` is
//! a link to `target/custom-module-doc`, kept between runs: a first run
//! compiles the SDK's dependencies for wasm (about a minute on 2 cores),
//! later runs only the crate.
//!
//! It then checks what the page says beyond the commands: a `[module]`
//! error names its field at load, and a module calling the clock is refused
//! at load, naming the import, as a `.wasm` and as a `.cwasm`, and `tollgate
//! check` exits 2 with it (the host gives no WASI).
//!
//! A test binary of its own without libtest's harness (`harness = false`),
//! since it must also act as the `tollgate` command for the page's shell
//! blocks: it honours libtest's name filters and `--list`.

// Tests: a failed expectation is a panic, and fixtures are indexed directly.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::collections::BTreeMap;
use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use clap::Parser as _;
use serde_json::{Value, json};
use tollgate_host::{Authorizer, PolicyModule, SandboxLimits};
use tollgate_keys::mint::SigningKey;
use tollgate_tests::{ScratchDir, workspace_root};

/// This test's name, for libtest's filters.
const NAME: &str = "custom_modules_doc";
/// Set (to anything) when this binary runs as the `tollgate` command.
const AS_CLI: &str = "TOLLGATE_DOC_TEST_AS_CLI";
/// How long the page's commands may take: a cold build compiles the SDK's
/// dependencies for wasm32-wasip2 (about a minute here), a warm one only
/// the crate.
const SCRIPT_TIMEOUT: Duration = Duration::from_secs(900);
/// The crate the page creates.
const CRATE: &str = "change-ticket";
/// The module its build produces.
const WASM: &str = "target/wasm32-wasip2/release/change_ticket.wasm";

fn main() -> ExitCode {
    if std::env::var_os(AS_CLI).is_some() {
        let args = std::iter::once("tollgate".into()).chain(std::env::args_os().skip(1));
        return match tollgate::Cli::try_parse_from(args) {
            Ok(cli) => tollgate::run(cli),
            Err(e) => {
                let _ = e.print();
                ExitCode::from(tollgate::EXIT_USAGE)
            }
        };
    }
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--list") {
        println!("{NAME}: test");
        return ExitCode::SUCCESS;
    }
    // libtest's options that take a value (`--skip x`); the free arguments
    // are name filters.
    let with_value = [
        "--skip",
        "--test-threads",
        "--format",
        "--logfile",
        "--color",
        "-Z",
    ];
    let mut filters = Vec::new();
    let mut skips = Vec::new();
    let mut iter = args.iter();
    while let Some(arg) = iter.next() {
        if arg == "--skip" {
            skips.extend(iter.next());
        } else if with_value.contains(&arg.as_str()) {
            iter.next();
        } else if !arg.starts_with('-') {
            filters.push(arg);
        }
    }
    let exact = args.iter().any(|a| a == "--exact");
    let matches = |f: &String| {
        if exact {
            f == NAME
        } else {
            NAME.contains(f.as_str())
        }
    };
    let selected = (filters.is_empty() || filters.iter().any(|f| matches(f)))
        && !skips.iter().any(|s| NAME.contains(s.as_str()))
        && !args.iter().any(|a| a == "--ignored");
    if !selected {
        println!(
            "\nrunning 0 tests\n\ntest result: ok. 0 passed; 0 failed; 0 ignored; 0 measured; 1 filtered out\n"
        );
        return ExitCode::SUCCESS;
    }
    println!("\nrunning 1 test");
    let started = Instant::now();
    let outcome = std::panic::catch_unwind(run_the_page);
    let seconds = started.elapsed().as_secs_f64();
    match outcome {
        Ok(()) => {
            println!(
                "test {NAME} ... ok\n\ntest result: ok. 1 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out; finished in {seconds:.2}s\n"
            );
            ExitCode::SUCCESS
        }
        Err(_) => {
            println!(
                "test {NAME} ... FAILED\n\ntest result: FAILED. 0 passed; 1 failed; 0 ignored; 0 measured; 0 filtered out; finished in {seconds:.2}s\n"
            );
            ExitCode::FAILURE
        }
    }
}

/// One fenced block of the page: its info string's language and `title`.
#[derive(Debug)]
struct Block {
    lang: String,
    title: Option<String>,
    body: String,
}

/// The fenced blocks of a Markdown page, in order.
fn blocks(page: &str) -> Vec<Block> {
    let mut found = Vec::new();
    let mut open: Option<Block> = None;
    for line in page.lines() {
        match (&mut open, line.strip_prefix("```")) {
            (None, Some(info)) => {
                let (lang, rest) = info.split_once(' ').unwrap_or((info, ""));
                let title = rest
                    .trim()
                    .strip_prefix("title=\"")
                    .and_then(|t| t.strip_suffix('"'))
                    .map(String::from);
                open = Some(Block {
                    lang: lang.to_string(),
                    title,
                    body: String::new(),
                });
            }
            (Some(_), Some("")) => found.extend(open.take()),
            (Some(block), _) => {
                block.body.push_str(line);
                block.body.push('\n');
            }
            (None, None) => {}
        }
    }
    assert!(open.is_none(), "an unclosed code block");
    found
}

/// The page's titled blocks: files (title with a dot or a slash) and steps.
struct Page {
    files: Vec<(String, String)>,
    steps: Vec<(String, String)>,
    texts: BTreeMap<String, String>,
}

fn page() -> Page {
    let text = std::fs::read_to_string(workspace_root().join("docs/custom-modules.md")).unwrap();
    let mut page = Page {
        files: Vec::new(),
        steps: Vec::new(),
        texts: BTreeMap::new(),
    };
    for block in blocks(&text) {
        let Some(title) = block.title else { continue };
        match block.lang.as_str() {
            "sh" => page.steps.push((title, block.body)),
            "text" => {
                page.texts.insert(title, block.body);
            }
            _ => page.files.push((title, block.body)),
        }
    }
    let names: Vec<&str> = page.steps.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        ["create", "build", "test", "check", "compile", "ship"],
        "the page's five steps"
    );
    let files: Vec<&str> = page.files.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        files,
        [
            "Cargo.toml",
            "src/lib.rs",
            "policy.toml",
            "change-ticket.test.toml"
        ]
    );
    page
}

/// `sh -e -c script` in `dir` with the page's environment, within
/// [`SCRIPT_TIMEOUT`]; returns stdout, panics with both outputs on failure.
fn sh(script: &str, dir: &Path, bin: &Path) -> String {
    let mut command = Command::new("sh");
    command
        .args(["-e", "-c", script])
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    // The outer cargo's variables are meant for this test's own build.
    tollgate_build_support::scrub_outer_cargo_env(&mut command);
    let path = std::env::var_os("PATH").unwrap_or_default();
    let path = std::env::join_paths(
        std::iter::once(bin.to_path_buf()).chain(std::env::split_paths(&path)),
    )
    .unwrap();
    command.env("PATH", path).env("CARGO_NET_OFFLINE", "true");
    // The workspace's toolchain (rust-toolchain.toml), which the scratch
    // folder is outside of: the one whose wasm32-wasip2 target the
    // workspace build installed, and whose build output is shared.
    if std::env::var_os("RUSTUP_TOOLCHAIN").is_none() {
        command.env("RUSTUP_TOOLCHAIN", workspace_toolchain());
    }
    // Its own process group, so a timeout stops cargo and rustc too.
    std::os::unix::process::CommandExt::process_group(&mut command, 0);
    let mut child = command.spawn().expect("sh runs");
    let mut stdout = child.stdout.take().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let out = std::thread::spawn(move || {
        let mut text = String::new();
        stdout.read_to_string(&mut text).map(|_| text)
    });
    let err = std::thread::spawn(move || {
        let mut text = String::new();
        stderr.read_to_string(&mut text).map(|_| text)
    });
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break Some(status);
        }
        if started.elapsed() > SCRIPT_TIMEOUT {
            let _ = Command::new("kill")
                .args(["-KILL", "--", &format!("-{}", child.id())])
                .status();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let stdout = out.join().unwrap().unwrap_or_default();
    let stderr = err.join().unwrap().unwrap_or_default();
    match status {
        Some(status) if status.success() => stdout,
        Some(status) => {
            panic!("{status}:\n{script}\n--- stdout\n{stdout}\n--- stderr\n{stderr}")
        }
        None => panic!(
            "still running after {SCRIPT_TIMEOUT:?}, stopped:\n{script}\n--- stdout\n{stdout}\n--- stderr\n{stderr}"
        ),
    }
}

/// The `channel` of the workspace's `rust-toolchain.toml`.
fn workspace_toolchain() -> String {
    let text = std::fs::read_to_string(workspace_root().join("rust-toolchain.toml")).unwrap();
    let document: toml::Table = toml::from_str(&text).unwrap();
    document["toolchain"]["channel"]
        .as_str()
        .expect("a channel")
        .to_string()
}

/// The folders the page's commands run in.
struct Layout {
    _scratch: ScratchDir,
    /// The crate, `<scratch>/change-ticket`.
    krate: PathBuf,
    /// Holds the `tollgate` command.
    bin: PathBuf,
}

/// The scratch folder: `tollgate` (a link to this workspace, for the doc's
/// `../tollgate/sdk`) and `bin/tollgate` (this binary as the CLI).
fn layout() -> Layout {
    let scratch = ScratchDir::new("custom-module-doc");
    std::os::unix::fs::symlink(workspace_root(), scratch.0.join("tollgate")).unwrap();
    let bin = scratch.0.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let exe = std::env::current_exe().unwrap();
    let shim = bin.join("tollgate");
    std::fs::write(
        &shim,
        format!("#!/bin/sh\n{AS_CLI}=1 exec '{}' \"$@\"\n", exe.display()),
    )
    .unwrap();
    std::fs::set_permissions(&shim, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    Layout {
        krate: scratch.0.join(CRATE),
        _scratch: scratch,
        bin,
    }
}

/// The build output, kept between runs (the crate's `target/` links here).
fn shared_target_dir() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .expect("the target tmp dir has a parent")
        .join("custom-module-doc");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn run_the_page() {
    let page = page();
    let layout = layout();
    let step = |name: &str| -> &str {
        &page
            .steps
            .iter()
            .find(|(n, _)| n == name)
            .unwrap_or_else(|| panic!("no step {name}"))
            .1
    };

    // 1. Create the crate, then the page's files over cargo's.
    sh(step("create"), layout.krate.parent().unwrap(), &layout.bin);
    for (name, body) in &page.files {
        std::fs::write(layout.krate.join(name), body).unwrap();
    }
    std::fs::copy(
        workspace_root().join("Cargo.lock"),
        layout.krate.join("Cargo.lock"),
    )
    .unwrap();
    std::os::unix::fs::symlink(shared_target_dir(), layout.krate.join("target")).unwrap();

    // 3.–5. Every other step, in page order, in one shell (the token minted
    // in `check` is used again in `compile`); a marker before each step.
    let script: String = page
        .steps
        .iter()
        .filter(|(name, _)| name != "create")
        .map(|(name, body)| format!("echo '@@@ {name}'\n{body}"))
        .collect();
    let started = Instant::now();
    let stdout = sh(&script, &layout.krate, &layout.bin);
    eprintln!(
        "{NAME}: the page's commands took {:.1}s",
        started.elapsed().as_secs_f64()
    );
    let outputs: BTreeMap<&str, &str> = stdout
        .split("@@@ ")
        .filter_map(|part| part.split_once('\n'))
        .collect();

    // 4. The test run printed what the page shows; check allowed the write.
    assert_eq!(
        outputs.get("test").copied(),
        page.texts.get("test output").map(String::as_str),
        "`tollgate test` printed something else than the page's `test output`"
    );
    let check: Value = serde_json::from_str(outputs["check"]).unwrap();
    assert_eq!(check["allow"], true, "{check}");
    assert_eq!(check["request_dependent"], true, "{check}");
    let compiled: Value = serde_json::from_str(outputs["compile"]).unwrap();
    assert_eq!(compiled, check, "the .cwasm decides as the .wasm");

    // 4. Without the header, `check` exits 1 (deny); with a file that is no
    // module, 2. The key is the one the `check` step made.
    let key =
        SigningKey::from_json(&std::fs::read_to_string(layout.krate.join("key.json")).unwrap())
            .unwrap();
    let exit = |module: &str| {
        let krate = &layout.krate;
        let token = mint(&key, tollgate_host::clock::unix_now());
        let cli = tollgate::Cli::try_parse_from([
            "tollgate".as_ref(),
            "check".as_ref(),
            "--module".as_ref(),
            krate.join(module).as_os_str(),
            "--config".as_ref(),
            krate.join("policy.toml").as_os_str(),
            "--token".as_ref(),
            token.as_ref(),
            "--method".as_ref(),
            "POST".as_ref(),
            "--path".as_ref(),
            "/orders/1".as_ref(),
        ])
        .unwrap();
        tollgate::run(cli)
    };
    assert_eq!(exit(WASM), ExitCode::from(tollgate::EXIT_DENY));
    assert_eq!(exit("policy.toml"), ExitCode::from(tollgate::EXIT_USAGE));

    // 5. The Lambda function serves from the layer folder the page ships.
    lambda_serves_the_layer(&layout.krate.join("layer/tollgate"), &key);

    // 2. A `[module]` error names its field at load.
    let wasm = std::fs::read(layout.krate.join(WASM)).unwrap();
    let module = PolicyModule::from_bytes(&wasm, SandboxLimits::default()).unwrap();
    let policy = std::fs::read_to_string(layout.krate.join("policy.toml")).unwrap();
    let without = policy.replace("ticket_prefix = \"CHG-\"", "");
    let error = Authorizer::with_keys(module, &without, "policy.toml", |_| {
        tollgate_keys::KeySet::default()
    })
    .unwrap_err()
    .to_string();
    assert!(
        error.starts_with("invalid policy config policy.toml: `module.ticket_prefix`: missing or empty; write e.g. ticket_prefix = \"CHG-\" in [module]"),
        "{error}"
    );

    // 3. "What a module cannot do": the same module reading the clock
    // builds, then is refused at load, naming the import; `check` exits 2.
    the_clock_is_refused_at_load(&layout, step("build"));
    assert_eq!(exit(WASM), ExitCode::from(tollgate::EXIT_USAGE));
}

/// The layer's `tollgate.cwasm` and `policy.toml`, as the Lambda function
/// finds them (`TOLLGATE_MODULE`, `TOLLGATE_CONFIG`), decide a REST
/// REQUEST event: a write with a ticket is allowed, without one refused.
fn lambda_serves_the_layer(layer: &Path, key: &SigningKey) {
    use tollgate_lambda::setup::{LambdaSettings, Sources, state};
    let vars = [
        ("TOLLGATE_CONFIG", layer.join("policy.toml")),
        ("TOLLGATE_MODULE", layer.join("tollgate.cwasm")),
    ];
    let get = |name: &str| {
        vars.iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.display().to_string())
    };
    let sources = Sources::from_lookup(&get, None).unwrap();
    let settings = LambdaSettings::from_lookup(&get).unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let state = runtime.block_on(state(&sources, settings)).unwrap();
    let now = 1_767_225_600;
    let token = mint(key, now);
    let event = |ticket: Option<&str>| {
        let path = workspace_root().join(
            "doors/lambda/tests/fixtures/example-apigw-custom-auth-request-type-request.json",
        );
        let mut event: Value =
            serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        event["methodArn"] =
            json!("arn:aws:execute-api:us-east-1:123456789012:s4x3opwd6i/test/POST/orders/1");
        event["httpMethod"] = json!("POST");
        event["path"] = json!("/orders/1");
        event["resource"] = json!("/orders/{id}");
        let mut headers = json!({"Authorization": format!("Bearer {token}")});
        if let Some(ticket) = ticket {
            headers["x-change-ticket"] = json!(ticket);
        }
        event["multiValueHeaders"] = json!(
            headers
                .as_object()
                .unwrap()
                .iter()
                .map(|(k, v)| (k.clone(), json!([v])))
                .collect::<serde_json::Map<_, _>>()
        );
        event["headers"] = headers;
        event
    };
    let allowed = runtime
        .block_on(tollgate_lambda::handle_at(
            &state,
            event(Some("CHG-1234")),
            now,
        ))
        .unwrap();
    assert_eq!(allowed["principalId"], "alice", "{allowed}");
    assert_eq!(
        allowed["policyDocument"]["Statement"][0]["Effect"], "Allow",
        "{allowed}"
    );
    let refused = runtime
        .block_on(tollgate_lambda::handle_at(&state, event(None), now))
        .unwrap();
    assert_eq!(refused["context"]["reason"], "forbidden", "{refused}");
    assert_eq!(
        refused["policyDocument"]["Statement"][0]["Effect"], "Deny",
        "{refused}"
    );
}

/// A token for the page's policy, signed with the key `check` made.
fn mint(key: &SigningKey, now: i64) -> String {
    let claims = json!({
        "iss": "https://issuer.example", "sub": "alice", "aud": "orders-api",
        "scope": "orders", "iat": now, "exp": now + 300,
    });
    key.sign_jwt(&claims, None).unwrap()
}

/// The page's module with `SystemTime::now()` in `decide`: it builds (the
/// same build step), its component imports the clock, and the host refuses
/// it at load, naming the import and `request.now` instead; precompiled,
/// the same.
fn the_clock_is_refused_at_load(layout: &Layout, build: &str) {
    let lib = layout.krate.join("src/lib.rs");
    let source = std::fs::read_to_string(&lib).unwrap();
    let marker = "allow.request_dependent = true;";
    assert!(source.contains(marker));
    std::fs::write(
        &lib,
        source.replace(
            marker,
            "allow.request_dependent = std::hint::black_box(std::time::SystemTime::now())\n            > std::time::SystemTime::UNIX_EPOCH;",
        ),
    )
    .unwrap();
    sh(build, &layout.krate, &layout.bin);
    let wasm = std::fs::read(layout.krate.join(WASM)).unwrap();
    let imports = tollgate_tests::component_imports(&wasm);
    let clock = imports
        .iter()
        .find(|i| i.starts_with("wasi:clocks/wall-clock@"))
        .unwrap_or_else(|| panic!("no clock import in {imports:?}"));
    let cwasm = tollgate_host::module::precompile_for(&wasm, None).unwrap();
    for (what, bytes) in [(".wasm", &wasm), (".cwasm", &cwasm)] {
        match PolicyModule::from_bytes(bytes, SandboxLimits::default()) {
            Err(e @ tollgate_host::ModuleError::UnsupportedImports { .. }) => {
                let message = e.to_string();
                assert!(
                    message.starts_with("the policy module imports ")
                        && message.contains(clock.as_str())
                        && message.contains("`request.now`"),
                    "{what}: {message}"
                );
            }
            other => {
                panic!("{what}: a module importing the clock must be refused at load: {other:?}")
            }
        }
    }
}
