//! `cargo bench -p tollgate --bench test_command`: the whole `tollgate test`
//! command on 1,000 cases (a policy with route rules; ES256 and HS256
//! tokens, each case its own claims), wall clock from process start to
//! exit, against the goal "under 2 s, so authors run it on every save".
//! The same files with 100 cases show the fixed cost (start, module load,
//! key generation) apart from the per-case cost.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

const POLICY: &str = r#"
[[issuer]]
issuer = "https://issuer.example"
jwks_file = "jwks.json"
algorithms = ["ES256"]
audiences = ["orders-api"]

[[issuer]]
issuer = "urn:example:batch"
algorithms = ["HS256"]
audiences = ["orders-api"]
[[issuer.secrets]]
env = "BATCH_SECRET"
algorithm = "HS256"

[[route]]
name = "health"
methods = ["GET"]
path = "/health"
public = true

[[route]]
name = "read"
methods = ["GET"]
path = "/orders/{id}"
scopes = ["orders.read"]

[[route]]
name = "cancel"
methods = ["DELETE"]
path = "/orders/{id}"
scopes = ["orders.write"]

[[route]]
name = "tenant"
path = "/tenants/{tenant}/*"
bind = { tenant = "tenant_id" }
"#;

fn cases(count: usize) -> String {
    let mut text = String::from(
        "config = \"policy.toml\"\nnow = 1767225600\n[token]\nissuer = \"https://issuer.example\"\nclaims = { sub = \"alice\", aud = \"orders-api\" }\n",
    );
    for i in 0..count {
        let case = match i % 5 {
            0 => format!(
                "[[case]]\nname = \"read {i}\"\npath = \"/orders/{i}\"\ntoken = {{ claims = {{ scope = \"orders.read\", n = {i} }} }}\nexpect = {{ decision = \"allow\", rule = \"read\" }}\n"
            ),
            1 => format!(
                "[[case]]\nname = \"cancel without scope {i}\"\nmethod = \"DELETE\"\npath = \"/orders/{i}\"\ntoken = {{ claims = {{ scope = \"orders.read\", n = {i} }} }}\nexpect = {{ decision = \"deny\", reason = \"insufficient-scope\", status = 403 }}\n"
            ),
            2 => format!(
                "[[case]]\nname = \"batch {i}\"\npath = \"/orders/{i}\"\ntoken = {{ issuer = \"urn:example:batch\", claims = {{ scope = \"orders.read\", n = {i} }} }}\nexpect = {{ decision = \"allow\" }}\n"
            ),
            3 => format!(
                "[[case]]\nname = \"tenant {i}\"\npath = \"/tenants/t{i}/reports\"\ntoken = {{ claims = {{ tenant_id = \"t{i}\" }} }}\nexpect = {{ decision = \"allow\", rule = \"tenant\" }}\n"
            ),
            _ => format!(
                "[[case]]\nname = \"expired {i}\"\npath = \"/health\"\ntoken = {{ claims = {{ exp = 1767225000, n = {i} }} }}\nexpect = {{ decision = \"deny\", reason = \"expired\" }}\n"
            ),
        };
        text.push_str(&case);
    }
    text
}

fn run_once(dir: &Path) -> Duration {
    let started = Instant::now();
    let output = Command::new(env!("CARGO_BIN_EXE_tollgate"))
        .arg("test")
        .arg(dir)
        .env("BATCH_SECRET", "a-batch-secret-of-at-least-32-bytes!!")
        .output()
        .expect("run tollgate test");
    let elapsed = started.elapsed();
    assert!(
        output.status.success(),
        "tollgate test failed:\n{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    elapsed
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let runs = if full { 7 } else { 1 };
    println!(
        "tollgate test benchmark ({} mode): the whole command, median of {runs} run(s)",
        if full { "full" } else { "quick" }
    );
    println!(
        "{:>6} {:>12} {:>14} {:>10} {:>5}",
        "cases", "command ms", "per case µs", "goal ≤ ms", "met"
    );
    let base = std::env::temp_dir().join(format!("tollgate-test-bench-{}", std::process::id()));
    for count in [100usize, 1000] {
        let dir = base.join(count.to_string());
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("policy.toml"), POLICY).unwrap();
        std::fs::write(dir.join("many.test.toml"), cases(count)).unwrap();
        let mut samples: Vec<Duration> = (0..runs).map(|_| run_once(&dir)).collect();
        samples.sort();
        let median = samples[samples.len() / 2];
        let ms = median.as_secs_f64() * 1e3;
        let goal = (count == 1000).then_some(2000.0);
        println!(
            "{:>6} {:>12.1} {:>14.1} {:>10} {:>5}",
            count,
            ms,
            ms * 1e3 / count as f64,
            goal.map_or(String::new(), |g| format!("{g:.0}")),
            match goal {
                Some(g) if ms <= g => "yes",
                Some(_) => "NO",
                None => "",
            }
        );
    }
    let _ = std::fs::remove_dir_all(&base);
}
