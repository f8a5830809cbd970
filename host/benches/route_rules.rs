//! `cargo bench -p tollgate-host --bench route_rules`: the decision through
//! the component with 0, 10, 100 and 1,000 route rules, on HS256 tokens (so
//! rule matching and grants dominate, not signature math), against the goal
//! "1,000 rules add at most 2 µs over 0 rules". Every call decides a
//! distinct token (its own `sub` and `jti`) on a distinct route, and the
//! table shows how many grants each allow carries: the grants list every
//! route the token may call, so they grow with the rules the token
//! satisfies. Two token profiles: `narrow` holds one service's scopes,
//! whose nine rules are the same in every table, so its grants stay the
//! same and the column shows what the table's size costs; `broad` holds
//! ten services' scopes, so its grants grow with the table.
//!
//! "vs 0 rules" is the goal's measure (with no rules the allow carries one
//! grant, `* /*`); "vs 10 rules" compares tables of different sizes with
//! the same grants (for `narrow`), which isolates what the table costs.
//!
//! Figures are medians of batches; compare within one run.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::hint::black_box;
use std::time::{Duration, Instant};

use serde_json::json;
use tollgate_host::model::{Decision, Request, TokenSource};
use tollgate_host::{Authorizer, ConfigBase, PolicyModule, SandboxLimits};
use tollgate_keys::Algorithm;
use tollgate_keys::mint::SigningKey;

const ISSUER: &str = "https://bench.tollgate.invalid";
const NOW: i64 = 1_800_000_000;
const SECRET_B64URL: &str = "YmVuY2gtc2VjcmV0LW9mLWF0LWxlYXN0LTMyLWJ5dGVzISE";
const SERVICES: usize = 50;

/// The token's own service has the first nine rules (so a narrow token's
/// grants stay the same whatever the table's size); the others spread over
/// `SERVICES` services, three shapes in turn.
fn rules(count: usize) -> String {
    let mut text = String::new();
    for i in 0..count {
        let service = if i < 9 {
            1
        } else {
            2 + (i / 3) % (SERVICES - 2)
        };
        let rule = match i % 3 {
            0 => format!(
                "[[route]]\nmethods = [\"GET\"]\npath = \"/api/s{service}/r{i}/*\"\nscopes = [\"s{service}.read\"]\n"
            ),
            1 => format!(
                "[[route]]\nmethods = [\"POST\", \"PUT\"]\npath = \"/api/s{service}/r{i}/{{id}}\"\nscopes = [\"s{service}.write\"]\n"
            ),
            _ => format!(
                "[[route]]\nmethods = [\"DELETE\"]\npath = \"/api/s{service}/r{i}/{{id}}/items/*\"\nany_scopes = [\"s{service}.admin\", \"root\"]\n"
            ),
        };
        text.push_str(&rule);
    }
    text
}

fn median_per_call(batches: usize, per_batch: usize, mut f: impl FnMut(usize)) -> Duration {
    for i in 0..per_batch {
        f(i);
    }
    let mut samples: Vec<Duration> = (0..batches)
        .map(|b| {
            let t = Instant::now();
            for i in 0..per_batch {
                f(b * per_batch + i);
            }
            t.elapsed() / per_batch as u32
        })
        .collect();
    samples.sort();
    samples[samples.len() / 2]
}

fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

fn main() {
    // The secret, in a file the policy names (as the decision bench does).
    let dir = std::env::temp_dir().join(format!("tollgate-route-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("scratch dir");
    std::fs::write(dir.join("secret.txt"), SECRET_B64URL).expect("write secret");
    let full = std::env::args().any(|a| a == "--bench");
    let (batches, per_batch, tokens) = if full { (15, 400, 4000) } else { (3, 20, 60) };
    let module = PolicyModule::default_module(SandboxLimits::default()).expect("module compiles");
    let secret = {
        use base64::Engine as _;
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(SECRET_B64URL)
            .unwrap()
    };
    let key = SigningKey::from_secret(Algorithm::Hs256, "bench", &secret).expect("key");
    let issuer = format!(
        "[[issuer]]\nissuer = \"{ISSUER}\"\naudiences = [\"bench-api\"]\nalgorithms = [\"HS256\"]\n[[issuer.secrets]]\nkid = \"bench\"\nfile = \"secret.txt\"\nencoding = \"base64url\"\nalgorithm = \"HS256\"\n"
    );

    println!(
        "tollgate route-rules benchmark ({} mode, HS256, {tokens} distinct tokens)",
        if full { "full" } else { "quick" }
    );
    println!(
        "{:<7} {:>6} {:>7} {:>12} {:>13} {:>14} {:>11} {:>5}",
        "token", "rules", "grants", "decision µs", "vs 0 rules", "vs 10 rules", "goal ≤ µs", "met"
    );
    for (profile, scopes) in [
        ("narrow", "s1.read s1.write s1.admin"),
        (
            "broad",
            "s1.read s1.write s2.read s3.read s4.read s5.write s6.write s7.write s8.admin s9.admin",
        ),
    ] {
        let tokens: Vec<String> = (0..tokens)
            .map(|i| {
                key.sign_jwt(
                    &json!({"iss": ISSUER, "sub": format!("user-{i}"), "jti": format!("t-{i}"), "aud": "bench-api", "iat": NOW, "exp": NOW + 3600, "scope": scopes}),
                    None,
                )
                .expect("sign")
            })
            .collect();
        let mut baseline = None;
        let mut ten = None;
        for count in [0usize, 10, 100, 1000] {
            let policy = format!("{issuer}\n{}", rules(count));
            let authorizer = Authorizer::new(
                module.clone(),
                &policy,
                &ConfigBase::Dir(dir.clone()),
                "bench policy",
            )
            .expect("bench policy is valid");
            // Requests on the token's own service, so each is allowed, on
            // rules spread over the whole table.
            let allowed: Vec<usize> = (0..count)
                .filter(|i| (i / 3) % SERVICES == 1 && i % 3 == 0)
                .collect();
            let request = |i: usize| {
                let path = if count == 0 {
                    format!("/api/s1/r{i}/x")
                } else {
                    format!("/api/s1/r{}/x", allowed[i % allowed.len()])
                };
                Request {
                    token_sources: vec![TokenSource::AuthorizationHeader(format!(
                        "Bearer {}",
                        tokens[i % tokens.len()]
                    ))],
                    method: "GET".into(),
                    path,
                    now: NOW,
                    ..Request::default()
                }
            };
            let requests: Vec<Request> = (0..tokens.len()).map(request).collect();
            let grants = match authorizer.authorize(&requests[0]) {
                Decision::Allow(allow) => allow.grants.len(),
                other => panic!("{profile} {count}: must be allowed, got {other:?}"),
            };
            let decision = median_per_call(batches, per_batch, |i| {
                black_box(authorizer.authorize(black_box(&requests[i % requests.len()])));
            });
            let base = *baseline.get_or_insert(decision);
            let added = micros(decision) - micros(base);
            if count == 10 {
                ten = Some(decision);
            }
            let over_ten = ten.filter(|_| count >= 10).map_or(String::new(), |t| {
                format!("{:+.2}", micros(decision) - micros(t))
            });
            let goal = if count == 1000 { Some(2.0) } else { None };
            println!(
                "{:<7} {:>6} {:>7} {:>12.2} {:>+13.2} {:>14} {:>11} {:>5}",
                profile,
                count,
                grants,
                micros(decision),
                added,
                over_ten,
                goal.map_or("".to_string(), |g| format!("{g:.2}")),
                match goal {
                    Some(g) if added <= g => "yes",
                    Some(_) => "NO",
                    None => "",
                }
            );
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}
