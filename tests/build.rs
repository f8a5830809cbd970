//! Builds the test-only policy modules as components: the misbehaving one,
//! one built for an older contract (`tollgate:authorizer@0.2.0`), one
//! built for the 0.5 line's first release (`0.5.0`), and the
//! custom-module examples under `examples/`.

use std::error::Error;
use std::path::PathBuf;

fn main() -> Result<(), Box<dyn Error>> {
    let manifest_dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR")?);
    let root = manifest_dir.parent().ok_or("tests/ has no parent folder")?;
    tollgate_build_support::build_component(
        root,
        "tollgate-misbehaving-guest",
        &["tests/misbehaving-guest"],
        "misbehaving_guest.wasm",
    )?;
    tollgate_build_support::build_component(
        root,
        "tollgate-old-contract-guest",
        &["tests/old-contract-guest"],
        "old_contract_guest.wasm",
    )?;
    tollgate_build_support::build_component(
        root,
        "tollgate-contract-050-guest",
        &["tests/contract-0.5.0-guest"],
        "contract_050_guest.wasm",
    )?;
    // The examples are built on the SDK and the verification core: a change
    // there rebuilds them too.
    for (package, dir, out_name) in [
        (
            "business-hours",
            "examples/business-hours",
            "business_hours.wasm",
        ),
        (
            "client-allowlist",
            "examples/client-allowlist",
            "client_allowlist.wasm",
        ),
    ] {
        tollgate_build_support::build_component(
            root,
            package,
            &[dir, "sdk", "policy", "model"],
            out_name,
        )?;
    }
    Ok(())
}
