//! Precompiled modules travel: `tollgate compile --target x86_64` (the CLI's
//! own test is `cli/tests/compile.rs`) uses the
//! runtime's exact wasmtime configuration with the architecture's baseline
//! CPU features, so its `.cwasm` loads under the runtime's own (host-tuned)
//! engine; a `.cwasm` that does not load falls back to compiling a `.wasm`.

// Tests: a failed expectation is a panic, and fixtures are indexed directly.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use common::*;
use tollgate_host::module::{DEFAULT_MODULE, ModuleError, Target, precompile_for};
use tollgate_host::{Authorizer, PolicyModule, SandboxLimits};
use tollgate_lambda::setup::{InitError, ModuleSource, load_module};

/// This machine's architecture as a `--target` (the tests build x86_64;
/// this keeps them true on an arm64 machine too), with its ELF `e_machine`.
fn native() -> (Target, &'static str, u16) {
    described(Target::native())
}

/// The other architecture.
fn foreign() -> (Target, &'static str, u16) {
    described(match Target::native() {
        Target::X86_64 => Target::Aarch64,
        Target::Aarch64 => Target::X86_64,
    })
}

/// A target with its `--target` name and ELF `e_machine`.
fn described(target: Target) -> (Target, &'static str, u16) {
    match target {
        Target::X86_64 => (target, "x86_64", 62),
        Target::Aarch64 => (target, "aarch64", 183),
    }
}

fn allows_a_good_token(engine: std::sync::Arc<PolicyModule>) {
    let scratch = Scratch::new("precompile-policy");
    let policy = write_policy(&scratch.0);
    let authorizer = Authorizer::from_config_file(engine, &policy).unwrap();
    let request = tollgate_host::model::Request {
        token_sources: vec![tollgate_host::model::TokenSource::AuthorizationHeader(
            format!("Bearer {}", good_token()),
        )],
        now: now(),
        ..Default::default()
    };
    assert!(matches!(
        authorizer.authorize(&request),
        tollgate_host::model::Decision::Allow(_)
    ));
}

/// `--target` compiles for the architecture's baseline, not for this
/// machine: where this CPU has features beyond the x86-64 baseline (AVX2,
/// BMI2, …, which Cranelift uses when compiling for the host), the two
/// artifacts differ, and the baseline one still loads and decides here.
/// (Compiling is deterministic: the same settings give the same bytes.)
#[cfg(target_arch = "x86_64")]
#[test]
fn the_baseline_artifact_is_not_the_host_tuned_one() {
    let baseline = precompile_for(DEFAULT_MODULE, Some(Target::X86_64)).unwrap();
    let again = precompile_for(DEFAULT_MODULE, Some(Target::X86_64)).unwrap();
    assert!(baseline == again, "precompiling is deterministic");
    let host = precompile_for(DEFAULT_MODULE, None).unwrap();
    let beyond_baseline = std::arch::is_x86_feature_detected!("avx2")
        || std::arch::is_x86_feature_detected!("bmi2")
        || std::arch::is_x86_feature_detected!("popcnt")
        || std::arch::is_x86_feature_detected!("sse4.1");
    if beyond_baseline {
        assert!(
            baseline != host,
            "this CPU has features beyond the baseline, yet --target x86_64 produced the host-tuned artifact"
        );
    }
    allows_a_good_token(
        PolicyModule::from_bytes(&baseline, SandboxLimits::default()).expect("loads"),
    );
}

#[test]
fn compile_target_foreign_needs_all_arch_or_says_so() {
    let (target, _, machine) = foreign();
    match precompile_for(DEFAULT_MODULE, Some(target)) {
        // This wasmtime was built with `all-arch`: an ELF for the other
        // architecture, which this host refuses to load.
        Ok(bytes) => {
            assert_eq!(u16::from_le_bytes([bytes[18], bytes[19]]), machine);
            assert!(matches!(
                PolicyModule::from_bytes(&bytes, SandboxLimits::default()),
                Err(ModuleError::Precompiled(_))
            ));
        }
        Err(e) => {
            assert!(matches!(e, ModuleError::UnsupportedTarget { .. }), "{e:?}");
            let message = e.to_string();
            assert!(message.contains("all-arch"), "{message}");
            assert!(message.contains(target.triple()), "{message}");
        }
    }
}

/// A valid `.cwasm` whose engine section claims wasmtime major version 47:
/// what a `.cwasm` made by another tollgate release looks like.
fn cwasm_from_another_wasmtime() -> Vec<u8> {
    let good = precompile_for(DEFAULT_MODULE, Some(native().0)).unwrap();
    // The engine section starts `<format> <len=2> "48"`; patch the version.
    for i in 0..good.len().saturating_sub(3) {
        if good[i + 1] == 2 && &good[i + 2..i + 4] == b"48" {
            let mut patched = good.clone();
            patched[i + 3] = b'7';
            if let Err(ModuleError::Precompiled(e)) =
                PolicyModule::from_bytes(&patched, SandboxLimits::default())
                && format!("{e:#}").contains("version")
            {
                return patched;
            }
        }
    }
    panic!("no wasmtime version found in the .cwasm engine section");
}

#[test]
fn a_cwasm_that_does_not_load_falls_back_to_compiling_the_wasm() {
    let scratch = Scratch::new("fallback");
    let cwasm = scratch.path("tollgate.cwasm");
    std::fs::write(&cwasm, cwasm_from_another_wasmtime()).unwrap();

    // No .wasm beside it: the embedded module, which decides as usual.
    let engine = load_module(&ModuleSource::File(cwasm.clone()), SandboxLimits::default())
        .expect("falls back to the embedded module");
    allows_a_good_token(engine);

    // A .wasm beside it is preferred (it is the module the .cwasm was made
    // from); a broken one shows it was the one tried.
    std::fs::write(scratch.path("tollgate.wasm"), b"not wasm").unwrap();
    let err =
        load_module(&ModuleSource::File(cwasm.clone()), SandboxLimits::default()).unwrap_err();
    assert!(
        matches!(err, InitError::Module(ModuleError::Invalid(_))),
        "{err}"
    );
    std::fs::write(scratch.path("tollgate.wasm"), DEFAULT_MODULE).unwrap();
    allows_a_good_token(load_module(&ModuleSource::File(cwasm), SandboxLimits::default()).unwrap());

    // Anything else stays fatal: a missing file, or bytes that are no module.
    let missing = load_module(
        &ModuleSource::File(scratch.path("missing.cwasm")),
        SandboxLimits::default(),
    );
    assert!(matches!(
        missing,
        Err(InitError::Module(ModuleError::Read { .. }))
    ));
    std::fs::write(scratch.path("junk.cwasm"), b"junk").unwrap();
    let junk = load_module(
        &ModuleSource::File(scratch.path("junk.cwasm")),
        SandboxLimits::default(),
    );
    assert!(matches!(
        junk,
        Err(InitError::Module(ModuleError::Invalid(_)))
    ));
}

#[test]
fn the_function_builds_its_state_from_files_once() {
    let scratch = Scratch::new("sources");
    let policy = write_policy(&scratch.0);
    let cwasm = scratch.path("tollgate.cwasm");
    std::fs::write(
        &cwasm,
        precompile_for(DEFAULT_MODULE, Some(native().0)).unwrap(),
    )
    .unwrap();
    let sources = tollgate_lambda::setup::Sources {
        config: policy,
        module: ModuleSource::File(cwasm),
        limits: SandboxLimits::default(),
    };
    let state = block_on(tollgate_lambda::setup::state(
        &sources,
        tollgate_lambda::LambdaSettings::default(),
    ))
    .expect("state");
    let answer = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
        .block_on(tollgate_lambda::handle(&state, token_event(&good_token())))
        .unwrap();
    assert_eq!(answer["principalId"], "alice");

    // A policy the module refuses stops init with the module's message.
    std::fs::write(scratch.path("bad.toml"), "[[issuer]]\nissuer = \"x\"\n").unwrap();
    let bad = tollgate_lambda::setup::Sources {
        config: scratch.path("bad.toml"),
        module: ModuleSource::Embedded,
        limits: SandboxLimits::default(),
    };
    let err = block_on(tollgate_lambda::setup::state(
        &bad,
        tollgate_lambda::LambdaSettings::default(),
    ))
    .unwrap_err();
    assert!(err.to_string().contains("issuer[0]"), "{err}");
}
