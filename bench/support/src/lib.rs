//! What tollgate's benchmarks share (`cargo bench -p tollgate-host --bench
//! decision`, `cargo bench -p tollgate-lambda`):
//!
//! - [`Peers`]: the Node peers of `bench/peers` (copied into the repo with
//!   their provenance), installed once with `npm ci` under the target dir;
//!   their fixture generator `gen.mjs` (distinct Cognito-like tokens, three
//!   keys per algorithm, `kid` round-robin) and their steady-state
//!   benchmark `bench.mjs` on the same tokens;
//! - [`mint_own_data`]: the same shape of fixtures minted in Rust, for a
//!   machine without Node (the benchmark then says so);
//! - [`read_tokens`], [`write_policy`]: the fixtures read back, and a
//!   tollgate policy that accepts them;
//! - [`median`], [`run_with_timeout`].
//!
//! Benchmarks only: a failed expectation here is a panic.

// Benchmark support: a failed expectation is a panic.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

/// The fixtures' algorithms, as `gen.mjs` names their files.
pub const ALGS: [&str; 4] = ["rs256", "es256", "eddsa", "hs256"];

/// The JOSE name of a fixture algorithm (`rs256` → `RS256`).
pub fn jose_name(alg: &str) -> &'static str {
    match alg {
        "rs256" => "RS256",
        "es256" => "ES256",
        "eddsa" => "EdDSA",
        "hs256" => "HS256",
        other => panic!("unknown fixture algorithm {other}"),
    }
}

/// The Node peers, set up in a folder of their own.
pub struct Peers {
    dir: PathBuf,
}

impl Peers {
    /// Copy `bench/peers` into `work/peers` and run `npm ci` there once.
    /// An error says what is missing (Node, npm, the registry).
    pub fn setup(work: &Path) -> Result<Self, String> {
        let source = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../peers");
        let dir = work.join("peers");
        std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
        for name in [
            "bench.mjs",
            "cold.mjs",
            "gen.mjs",
            "verifiers.mjs",
            "package.json",
            "package-lock.json",
        ] {
            std::fs::copy(source.join(name), dir.join(name))
                .map_err(|e| format!("copy bench/peers/{name}: {e}"))?;
        }
        let version = Command::new("node")
            .arg("--version")
            .output()
            .map_err(|e| format!("node: {e}"))?;
        if !version.status.success() {
            return Err("node --version failed".into());
        }
        if !dir.join("node_modules/aws-jwt-verify").is_dir() {
            let status = run_with_timeout(
                Command::new("npm")
                    .args(["ci", "--silent", "--no-audit", "--no-fund"])
                    .current_dir(&dir),
                Duration::from_secs(600),
            )?;
            if !status {
                return Err("npm ci failed (is the npm registry reachable?)".into());
            }
        }
        Ok(Peers { dir })
    }

    /// A peer script's path (`cold.mjs`, `bench.mjs`, …).
    pub fn script(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// `n` tokens per algorithm in `data` from `gen.mjs` (kept while `n`
    /// is unchanged); returns `meta.json` (`iss`, `aud`, `n`).
    pub fn generate(&self, data: &Path, n: usize) -> Value {
        let meta_path = data.join("meta.json");
        let existing: Option<Value> = std::fs::read_to_string(&meta_path)
            .ok()
            .and_then(|t| serde_json::from_str(&t).ok());
        if existing.as_ref().and_then(|m| m["n"].as_u64()) != Some(n as u64) {
            let ok = run_with_timeout(
                Command::new("node")
                    .arg(self.dir.join("gen.mjs"))
                    .arg(n.to_string())
                    .arg(data)
                    .stdout(Stdio::null()),
                Duration::from_secs(600),
            )
            .unwrap_or(false);
            assert!(ok, "node gen.mjs failed");
        }
        serde_json::from_str(&std::fs::read_to_string(&meta_path).unwrap()).unwrap()
    }

    /// µs per verification from `node bench.mjs LIB ALG DATA` on one core
    /// (`None`: the library does not support the algorithm).
    pub fn warm(&self, lib: &str, alg: &str, data: &Path) -> Option<f64> {
        let output = Command::new("node")
            .arg(self.dir.join("bench.mjs"))
            .arg(lib)
            .arg(alg)
            .arg(data)
            .output()
            .ok()?;
        let line: Value = serde_json::from_slice(&output.stdout).ok()?;
        line["us"].as_f64()
    }
}

/// Run `command`; whether it exited successfully within `timeout` (killed
/// and an error after it).
pub fn run_with_timeout(command: &mut Command, timeout: Duration) -> Result<bool, String> {
    let mut child = command.spawn().map_err(|e| e.to_string())?;
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(status) = child.try_wait().map_err(|e| e.to_string())? {
            return Ok(status.success());
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!("timed out after {timeout:?}"));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The median of `values` (sorted in place).
pub fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// The tokens of one algorithm's fixtures, one per line.
pub fn read_tokens(data: &Path, alg: &str) -> Vec<String> {
    std::fs::read_to_string(data.join(format!("tokens-{alg}.txt")))
        .unwrap()
        .lines()
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect()
}

/// Write `policy-ALG.toml` into `data`: a tollgate policy for the
/// fixtures' issuer and one algorithm's keys (HMAC keys as secret files,
/// never a JWK Set).
pub fn write_policy(data: &Path, alg: &str, iss: &str, aud: &str) {
    let name = jose_name(alg);
    let mut policy =
        format!("[[issuer]]\nissuer = {iss:?}\nalgorithms = [{name:?}]\naudiences = [{aud:?}]\n");
    let jwks: Value = serde_json::from_str(
        &std::fs::read_to_string(data.join(format!("jwks-{alg}.json"))).unwrap(),
    )
    .unwrap();
    if alg == "hs256" {
        for key in jwks["keys"].as_array().unwrap() {
            let kid = key["kid"].as_str().unwrap();
            let file = format!("secret-{kid}.b64u");
            std::fs::write(data.join(&file), key["k"].as_str().unwrap()).unwrap();
            policy.push_str(&format!(
                "\n[[issuer.secrets]]\nkid = {kid:?}\nfile = {file:?}\nencoding = \"base64url\"\nalgorithm = \"HS256\"\n"
            ));
        }
    } else {
        policy.push_str(&format!("jwks_file = \"jwks-{alg}.json\"\n"));
    }
    std::fs::write(data.join(format!("policy-{alg}.toml")), policy).unwrap();
}

/// Without Node: three keys per algorithm and `n` tokens like the peers'
/// (Cognito-like access tokens, `kid` round-robin, distinct `sub`), in the
/// files `gen.mjs` writes except `meta.json`, whose content it returns.
pub fn mint_own_data(data: &Path, n: usize) -> Value {
    use tollgate_keys::Algorithm;
    use tollgate_keys::mint::SigningKey;
    std::fs::create_dir_all(data).unwrap();
    let iss = "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_BenchPool1";
    let aud = "bench-api-client-id";
    for (alg, algorithm) in [
        ("rs256", Algorithm::Rs256),
        ("es256", Algorithm::Es256),
        ("eddsa", Algorithm::EdDsa),
        ("hs256", Algorithm::Hs256),
    ] {
        let keys: Vec<SigningKey> = (0..3)
            .map(|i| SigningKey::generate(algorithm, &format!("k{i}")).unwrap())
            .collect();
        let jwks = json!({"keys": keys.iter().map(SigningKey::public_jwk).collect::<Vec<_>>()});
        std::fs::write(data.join(format!("jwks-{alg}.json")), jwks.to_string()).unwrap();
        let lines: Vec<String> = (0..n)
            .map(|i| {
                let claims = json!({
                    "sub": format!("user-{i}"), "iss": iss, "aud": aud, "client_id": aud,
                    "token_use": "access", "scope": "openid profile email orders/read orders/write",
                    "auth_time": 1767225600, "iat": 1767225600, "nbf": 1767225600, "exp": 2082758400,
                    "jti": format!("jti-{i:08}"),
                    "username": format!("user-{i}"), "cognito:groups": ["readers", "writers"],
                });
                keys[i % 3].sign_jwt(&claims, None).unwrap()
            })
            .collect();
        std::fs::write(
            data.join(format!("tokens-{alg}.txt")),
            lines.join("\n") + "\n",
        )
        .unwrap();
        std::fs::write(data.join(format!("token1-{alg}.txt")), &lines[0]).unwrap();
    }
    // No meta.json: that file marks gen.mjs's fixtures, which a later run
    // with Node must not mistake these for.
    json!({"iss": iss, "aud": aud, "n": n})
}
