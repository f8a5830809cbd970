//! Builds a workspace crate as a WebAssembly component from a build script.
//!
//! A fresh machine has Rust but not the `wasm32-wasip2` target, and plain
//! `cargo` does not install the targets `rust-toolchain.toml` lists, so this
//! script runs `rustup target add wasm32-wasip2` when it is missing. The guest
//! is built by a nested `cargo build` into its own target directory, so it
//! never contends with the outer build's lock.

use std::env;
use std::error::Error;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The component target.
pub const TARGET: &str = "wasm32-wasip2";
/// The cargo profile guests are built with (see the workspace Cargo.toml).
pub const PROFILE: &str = "guest";

/// Build `package` (a cdylib crate of this workspace, found from `workspace_root`)
/// for `wasm32-wasip2` with the `guest` profile, copy the component to
/// `OUT_DIR/<out_name>` and return that path. Prints the `rerun-if-changed`
/// lines for `watched` (paths relative to the workspace root).
pub fn build_component(
    workspace_root: &Path,
    package: &str,
    watched: &[&str],
    out_name: &str,
) -> Result<PathBuf, Box<dyn Error>> {
    for path in watched
        .iter()
        .chain(["wit", "Cargo.toml", "Cargo.lock"].iter())
    {
        println!(
            "cargo:rerun-if-changed={}",
            workspace_root.join(path).display()
        );
    }
    let out_dir = PathBuf::from(env::var("OUT_DIR")?);
    let embedded = out_dir.join(out_name);

    let cargo = env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    // A relative CARGO_TARGET_DIR is relative to where cargo was started
    // (the workspace root here), not to this build script's folder.
    let target_dir = match env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => workspace_root.join(dir).join("wasm-guest"),
        None => workspace_root.join("target").join("wasm-guest"),
    };
    ensure_target(&target_dir)?;
    let mut build = Command::new(cargo);
    build
        .current_dir(workspace_root)
        .args(["build", "--package", package, "--lib"])
        .args(["--target", TARGET, "--profile", PROFILE])
        .arg("--target-dir")
        .arg(&target_dir);
    scrub_outer_cargo_env(&mut build);
    let status = build
        .status()
        .map_err(|e| format!("cannot run cargo to build {package}: {e}"))?;
    if !status.success() {
        return Err(format!(
            "building the {package} component failed ({status}); see the errors above"
        )
        .into());
    }

    let built = target_dir
        .join(TARGET)
        .join(PROFILE)
        .join(format!("{}.wasm", package.replace('-', "_")));
    std::fs::copy(&built, &embedded)
        .map_err(|e| format!("the {package} build produced no {}: {e}", built.display()))?;
    Ok(embedded)
}

/// Install the wasm32-wasip2 standard library for the active toolchain when
/// missing. Several build scripts may get here at once (the host's and the
/// tests'), so the install runs under a file lock and re-checks after it.
fn ensure_target(lock_dir: &Path) -> Result<(), Box<dyn Error>> {
    let rustc = env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let sysroot = Command::new(&rustc)
        .args(["--print", "sysroot"])
        .output()
        .map_err(|e| format!("cannot run {rustc} --print sysroot: {e}"))?;
    let sysroot = PathBuf::from(String::from_utf8(sysroot.stdout)?.trim());
    if has_target(&sysroot) {
        return Ok(());
    }
    std::fs::create_dir_all(lock_dir)?;
    let lock = std::fs::File::create(lock_dir.join(".rustup-target-add.lock"))?;
    lock.lock()?;
    if has_target(&sysroot) {
        return Ok(());
    }
    println!(
        "cargo:warning=installing the {TARGET} target with rustup (first build on this machine)"
    );
    let mut add = Command::new("rustup");
    add.args(["target", "add", TARGET]);
    if let Ok(toolchain) = env::var("RUSTUP_TOOLCHAIN") {
        add.args(["--toolchain", &toolchain]);
    }
    let status = add.status().map_err(|e| {
        format!("the {TARGET} target is missing and rustup could not be run ({e}); install it with `rustup target add {TARGET}`")
    })?;
    if !status.success() || !has_target(&sysroot) {
        return Err(
            format!("`rustup target add {TARGET}` failed; run it by hand and build again").into(),
        );
    }
    Ok(())
}

fn has_target(sysroot: &Path) -> bool {
    sysroot
        .join("lib/rustlib")
        .join(TARGET)
        .join("lib")
        .is_dir()
}

/// The outer cargo sets variables (wrappers, flags, target dir, features)
/// meant for its own build; a nested cargo (the guest build here, a test's
/// scratch crate elsewhere) must not inherit them. Removes them from `cmd`.
pub fn scrub_outer_cargo_env(cmd: &mut Command) {
    for (key, _) in env::vars_os() {
        let Some(key) = key.to_str() else { continue };
        let keep = matches!(key, "CARGO_HOME" | "CARGO_MAKEFLAGS" | "CARGO_TERM_COLOR")
            || key.starts_with("CARGO_NET_")
            || key.starts_with("CARGO_HTTP_")
            || key.starts_with("CARGO_REGISTRIES_");
        let drop = (key.starts_with("CARGO_") && !keep)
            || matches!(
                key,
                "RUSTC"
                    | "RUSTC_WRAPPER"
                    | "RUSTC_WORKSPACE_WRAPPER"
                    | "RUSTFLAGS"
                    | "RUSTDOCFLAGS"
                    | "TARGET"
                    | "HOST"
                    | "OUT_DIR"
                    | "OPT_LEVEL"
                    | "PROFILE"
                    | "DEBUG"
                    | "NUM_JOBS"
            );
        if drop {
            cmd.env_remove(key);
        }
    }
}
