//! Builds the test-only misbehaving policy module as a component.

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
    Ok(())
}
