//! Builds the default policy module (`guest/`) as a WebAssembly component;
//! the host embeds it with `include_bytes!`, so the `tollgate` binary works
//! with no module file. `TOLLGATE_GUEST_WASM=path` embeds a prebuilt module
//! instead.

use std::error::Error;
use std::path::PathBuf;

fn main() -> Result<(), Box<dyn Error>> {
    println!("cargo:rerun-if-env-changed=TOLLGATE_GUEST_WASM");
    // A lean build (no `compiler` feature) cannot compile a component, so
    // it embeds none.
    if std::env::var_os("CARGO_FEATURE_COMPILER").is_none() {
        return Ok(());
    }
    let manifest_dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR")?);
    let root = manifest_dir.parent().ok_or("host/ has no parent folder")?;
    if let Ok(prebuilt) = std::env::var("TOLLGATE_GUEST_WASM") {
        let out = PathBuf::from(std::env::var("OUT_DIR")?).join("tollgate_guest.wasm");
        std::fs::copy(&prebuilt, &out)
            .map_err(|e| format!("cannot copy TOLLGATE_GUEST_WASM={prebuilt}: {e}"))?;
        return Ok(());
    }
    tollgate_build_support::build_component(
        root,
        "tollgate-guest",
        &["guest", "policy", "sdk", "model"],
        "tollgate_guest.wasm",
    )?;
    Ok(())
}
