//! Hot swap in Lambda: where policy bundles come from, read from the
//! environment.
//!
//! | variable | default | meaning |
//! |---|---|---|
//! | `TOLLGATE_BUNDLE_SOURCE` | none (no hot swap) | a bundle file, an `https://` URL or `s3://bucket/key` (credentials, region and endpoint from the usual `AWS_*` variables) |
//! | `TOLLGATE_BUNDLE_NAME` | required with a source | the bundle name this function runs; any other is refused |
//! | `TOLLGATE_BUNDLE_KEYS` | none | trusted minisign public keys (`RW…`), comma- or newline-separated; required for a URL or S3 source |
//! | `TOLLGATE_BUNDLE_ALLOW_UNSIGNED` | `false` | a local file source only: accept unsigned bundles |
//! | `TOLLGATE_BUNDLE_INTERVAL_S` | `30` | at most one check per interval, at the start of an invocation (1..=86400) |
//! | `TOLLGATE_BUNDLE_BUDGET_MS` | `100` | the longest an invocation waits for a due check (0..=5000); the check goes on meanwhile and the live bundle answers |
//! | `TOLLGATE_BUNDLE_STATE_DIR` | `/tmp/tollgate-bundles` | private folder (0700): the last good bundle, extracted bundles, compiled artifacts |
//! | `TOLLGATE_BUNDLE_ALLOW_REVISION` | none | an explicit rollback: accept this lower revision |
//! | `TOLLGATE_BUNDLE_MIN_REVISION` | none | refuse every revision below this one (the floor at a cold start, when nothing is kept yet) |
//! | `TOLLGATE_BUNDLE_MAX_BYTES` | `16777216` | the largest bundle downloaded (1024..=1073741824) |
//!
//! With a policy deployed beside `bootstrap` (`TOLLGATE_CONFIG` or the
//! default files), the function starts on it at once and the first
//! invocation starts the first check: a cold start never waits for the
//! source. Without one, init fetches and activates the bundle.

use std::path::PathBuf;
use std::time::Duration;

use tollgate_bundle::{ReadLimits, TrustedKeys};
use tollgate_host::jwks::KeyFetchSettings;
use tollgate_host::{SandboxLimits, TokenCacheSettings};
use tollgate_hot_swap::controller::{DEFAULT_INTERVAL, DEFAULT_LAMBDA_BUDGET, HotSwapSettings};
use tollgate_hot_swap::pipeline::PipelineSettings;
use tollgate_hot_swap::source::{BundleSource, SourceSettings};

use crate::setup::{InitError, env_error, parse_in_range};

/// The bundle source variable; hot swap is off without it.
pub const SOURCE_ENV: &str = "TOLLGATE_BUNDLE_SOURCE";
/// Default download cap in Lambda (smaller than a server's: memory is
/// the function's whole allowance).
pub const DEFAULT_MAX_BYTES: u64 = 16 << 20;
/// Default state folder.
pub const DEFAULT_STATE_DIR: &str = "/tmp/tollgate-bundles";

/// Hot swap settings for Lambda.
#[derive(Debug, Clone)]
pub struct LambdaBundles {
    /// The controller's settings.
    pub hot_swap: HotSwapSettings,
    /// The longest an invocation waits for a due check.
    pub budget: Duration,
}

/// Read the hot swap settings through `get`; `None` without a source.
pub fn from_lookup(
    get: &dyn Fn(&str) -> Option<String>,
    sandbox: SandboxLimits,
    keys: KeyFetchSettings,
    token_cache: TokenCacheSettings,
) -> Result<Option<LambdaBundles>, InitError> {
    let set = |name: &str| {
        get(name)
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
    };
    let Some(source_text) = set(SOURCE_ENV) else {
        return Ok(None);
    };
    let source_settings = {
        // Shorter than a server's: init may wait on the source (when no
        // policy is deployed), and Lambda's init phase is bounded.
        let mut s = SourceSettings {
            connect_timeout: Duration::from_secs(2),
            request_timeout: Duration::from_secs(5),
            max_bytes: DEFAULT_MAX_BYTES,
            ..SourceSettings::default()
        };
        if let Some(value) = set("TOLLGATE_BUNDLE_MAX_BYTES") {
            s.max_bytes = parse_in_range(
                "TOLLGATE_BUNDLE_MAX_BYTES",
                &value,
                1024..=(1 << 30),
                "a byte count",
            )? as u64;
        }
        s
    };
    let source = BundleSource::parse(&source_text)
        .map_err(|e| env_error(SOURCE_ENV, &source_text, e.to_string()))?;
    let name = set("TOLLGATE_BUNDLE_NAME").ok_or_else(|| {
        env_error(
            "TOLLGATE_BUNDLE_NAME",
            "",
            "set it to the bundle name this function runs (bundle.toml's `name`)",
        )
    })?;
    let trusted_keys = match set("TOLLGATE_BUNDLE_KEYS") {
        Some(text) => TrustedKeys::parse(&text.replace(',', "\n"))
            .map_err(|e| env_error("TOLLGATE_BUNDLE_KEYS", &text, e.to_string()))?,
        None => TrustedKeys::default(),
    };
    let allow_unsigned = match set("TOLLGATE_BUNDLE_ALLOW_UNSIGNED").as_deref() {
        None | Some("false" | "0" | "no") => false,
        Some("true" | "1" | "yes") => true,
        Some(other) => {
            return Err(env_error(
                "TOLLGATE_BUNDLE_ALLOW_UNSIGNED",
                other,
                "write true or false",
            ));
        }
    };
    let interval = match set("TOLLGATE_BUNDLE_INTERVAL_S") {
        Some(value) => Duration::from_secs(parse_in_range(
            "TOLLGATE_BUNDLE_INTERVAL_S",
            &value,
            1..=86_400,
            "seconds",
        )? as u64),
        None => DEFAULT_INTERVAL,
    };
    let budget = match set("TOLLGATE_BUNDLE_BUDGET_MS") {
        Some(value) => Duration::from_millis(parse_in_range(
            "TOLLGATE_BUNDLE_BUDGET_MS",
            &value,
            0..=5000,
            "milliseconds",
        )? as u64),
        None => DEFAULT_LAMBDA_BUDGET,
    };
    let allow_revision = match set("TOLLGATE_BUNDLE_ALLOW_REVISION") {
        Some(value) => Some(value.parse::<u64>().map_err(|_| {
            env_error(
                "TOLLGATE_BUNDLE_ALLOW_REVISION",
                &value,
                "write the revision number to roll back to",
            )
        })?),
        None => None,
    };
    let min_revision = match set("TOLLGATE_BUNDLE_MIN_REVISION") {
        Some(value) => Some(value.parse::<u64>().map_err(|_| {
            env_error(
                "TOLLGATE_BUNDLE_MIN_REVISION",
                &value,
                "write the lowest revision this function may run",
            )
        })?),
        None => None,
    };
    let state_dir =
        PathBuf::from(set("TOLLGATE_BUNDLE_STATE_DIR").unwrap_or_else(|| DEFAULT_STATE_DIR.into()));
    let read_limits = ReadLimits {
        max_bytes: source_settings.max_bytes,
    };
    Ok(Some(LambdaBundles {
        hot_swap: HotSwapSettings {
            source,
            source_settings,
            pipeline: PipelineSettings {
                name,
                trusted_keys,
                allow_unsigned,
                allow_revision,
                min_revision,
                read_limits,
                state_dir,
                sandbox,
                keys,
                token_cache,
            },
            interval,
            // The shadow run needs work between requests: servers only.
            shadow: None,
        },
        budget,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    use crate::setup::InitError;

    fn lookup(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> + use<> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |name| map.get(name).cloned()
    }

    /// Sandbox, key and token-cache settings other than the defaults, to
    /// see them passed through.
    fn passed_in() -> (SandboxLimits, KeyFetchSettings, TokenCacheSettings) {
        let sandbox = SandboxLimits {
            deadline: Duration::from_millis(250),
            memory_bytes: 32 << 20,
        };
        let keys = KeyFetchSettings::lambda();
        let token_cache = TokenCacheSettings {
            max_entries: 7,
            max_bytes: 1 << 20,
        };
        (sandbox, keys, token_cache)
    }

    fn read(vars: &[(&str, &str)]) -> Result<Option<LambdaBundles>, InitError> {
        let (sandbox, keys, token_cache) = passed_in();
        from_lookup(&lookup(vars), sandbox, keys, token_cache)
    }

    /// Two minisign public keys (bare lines) and their ids.
    fn public_keys() -> [(String, String); 2] {
        [(); 2].map(|()| {
            let pair = tollgate_bundle::generate_keypair(None).expect("key pair");
            let line = pair
                .public_key
                .lines()
                .map(str::trim)
                .rfind(|line| line.starts_with("RW"))
                .expect("a public key line")
                .to_string();
            (line, pair.key_id)
        })
    }

    #[test]
    fn none_without_a_source() {
        assert!(read(&[]).expect("no source").is_none());
        // Empty or blank is unset, as for the other variables.
        assert!(read(&[(SOURCE_ENV, "")]).expect("empty").is_none());
        assert!(read(&[(SOURCE_ENV, "  \n")]).expect("blank").is_none());
        // The other variables mean nothing without a source.
        let (key, _) = &public_keys()[0];
        let others = [
            ("TOLLGATE_BUNDLE_NAME", "orders"),
            ("TOLLGATE_BUNDLE_KEYS", key.as_str()),
            ("TOLLGATE_BUNDLE_INTERVAL_S", "5"),
            ("TOLLGATE_BUNDLE_STATE_DIR", "/tmp/x"),
            ("TOLLGATE_BUNDLE_MIN_REVISION", "4"),
        ];
        assert!(read(&others).expect("no source").is_none());
    }

    #[test]
    fn defaults_with_a_source_and_a_name() {
        let (key, id) = &public_keys()[0];
        let bundles = read(&[
            (SOURCE_ENV, "s3://acme-policies/orders.bundle"),
            ("TOLLGATE_BUNDLE_NAME", "orders"),
            ("TOLLGATE_BUNDLE_KEYS", key),
        ])
        .expect("valid")
        .expect("a source");
        let (sandbox, keys, token_cache) = passed_in();
        assert_eq!(bundles.budget, DEFAULT_LAMBDA_BUDGET);
        assert_eq!(bundles.budget, Duration::from_millis(100));
        let s = &bundles.hot_swap;
        assert_eq!(
            s.source,
            BundleSource::ObjectStore {
                url: "s3://acme-policies/orders.bundle".into(),
                options: Vec::new(),
            }
        );
        assert_eq!(s.interval, DEFAULT_INTERVAL);
        assert_eq!(s.interval, Duration::from_secs(30));
        assert!(s.shadow.is_none(), "no shadow run in Lambda");
        // Lambda's own: a smaller cap, shorter timeouts (init may wait).
        assert_eq!(s.source_settings.max_bytes, DEFAULT_MAX_BYTES);
        assert_eq!(s.source_settings.max_bytes, 16 << 20);
        assert_eq!(s.source_settings.connect_timeout, Duration::from_secs(2));
        assert_eq!(s.source_settings.request_timeout, Duration::from_secs(5));
        assert!(!s.source_settings.allow_http);
        let p = &s.pipeline;
        assert_eq!(p.name, "orders");
        assert_eq!(p.trusted_keys.key_ids(), vec![id.clone()]);
        assert!(!p.allow_unsigned);
        assert_eq!(p.allow_revision, None);
        assert_eq!(p.min_revision, None);
        assert_eq!(p.read_limits.max_bytes, 16 << 20);
        assert_eq!(p.state_dir, PathBuf::from(DEFAULT_STATE_DIR));
        assert_eq!(p.state_dir, PathBuf::from("/tmp/tollgate-bundles"));
        assert_eq!(p.sandbox, sandbox);
        assert_eq!(p.keys, keys);
        assert_eq!(p.token_cache, token_cache);

        // Without a key: read as given (init then refuses a remote source
        // without one: see below).
        let bundles = read(&[
            (SOURCE_ENV, "s3://acme-policies/orders.bundle"),
            ("TOLLGATE_BUNDLE_NAME", "orders"),
        ])
        .expect("valid")
        .expect("a source");
        assert!(bundles.hot_swap.pipeline.trusted_keys.is_empty());
    }

    #[test]
    fn every_variable_is_read() {
        let [(first, first_id), (second, second_id)] = public_keys();
        let both = vec![first_id.clone(), second_id.clone()];
        for keys in [
            format!("{first},{second}"),
            format!(" {first} , {second} "),
            format!("{first}\n{second}\n"),
            format!("untrusted comment: minisign public key {first_id}\n{first}\n{second}"),
        ] {
            let bundles = read(&[
                (SOURCE_ENV, " https://bundles.example.com/orders.bundle "),
                ("TOLLGATE_BUNDLE_NAME", " orders "),
                ("TOLLGATE_BUNDLE_KEYS", &keys),
                ("TOLLGATE_BUNDLE_ALLOW_UNSIGNED", "false"),
                ("TOLLGATE_BUNDLE_INTERVAL_S", "1"),
                ("TOLLGATE_BUNDLE_BUDGET_MS", "0"),
                ("TOLLGATE_BUNDLE_STATE_DIR", "/var/tmp/tollgate-state"),
                ("TOLLGATE_BUNDLE_ALLOW_REVISION", "6"),
                ("TOLLGATE_BUNDLE_MIN_REVISION", " 4 "),
                ("TOLLGATE_BUNDLE_MAX_BYTES", "1024"),
            ])
            .unwrap_or_else(|e| panic!("{keys:?}: {e}"))
            .expect("a source");
            let s = &bundles.hot_swap;
            assert_eq!(
                s.source,
                BundleSource::parse("https://bundles.example.com/orders.bundle").expect("a URL")
            );
            assert_eq!(s.pipeline.name, "orders");
            assert_eq!(s.pipeline.trusted_keys.key_ids(), both, "{keys:?}");
            assert!(!s.pipeline.allow_unsigned);
            assert_eq!(s.interval, Duration::from_secs(1));
            assert_eq!(bundles.budget, Duration::ZERO);
            assert_eq!(
                s.pipeline.state_dir,
                PathBuf::from("/var/tmp/tollgate-state")
            );
            assert_eq!(s.pipeline.allow_revision, Some(6));
            assert_eq!(s.pipeline.min_revision, Some(4));
            assert_eq!(s.source_settings.max_bytes, 1024);
            assert_eq!(s.pipeline.read_limits.max_bytes, 1024);
        }

        // The upper bounds, a local file allowing unsigned bundles.
        for (yes, source, expected) in [
            (
                "true",
                "/var/task/orders.bundle",
                BundleSource::File("/var/task/orders.bundle".into()),
            ),
            (
                "1",
                "file:///opt/orders.bundle",
                BundleSource::File("/opt/orders.bundle".into()),
            ),
            (
                "yes",
                "orders.bundle",
                BundleSource::File("orders.bundle".into()),
            ),
        ] {
            let bundles = read(&[
                (SOURCE_ENV, source),
                ("TOLLGATE_BUNDLE_NAME", "orders"),
                ("TOLLGATE_BUNDLE_ALLOW_UNSIGNED", yes),
                ("TOLLGATE_BUNDLE_INTERVAL_S", "86400"),
                ("TOLLGATE_BUNDLE_BUDGET_MS", "5000"),
                ("TOLLGATE_BUNDLE_ALLOW_REVISION", "0"),
                ("TOLLGATE_BUNDLE_MIN_REVISION", "18446744073709551615"),
                ("TOLLGATE_BUNDLE_MAX_BYTES", "1073741824"),
            ])
            .unwrap_or_else(|e| panic!("{yes}: {e}"))
            .expect("a source");
            let s = &bundles.hot_swap;
            assert_eq!(s.source, expected);
            assert!(s.pipeline.allow_unsigned, "{yes}");
            assert!(s.pipeline.trusted_keys.is_empty());
            assert_eq!(s.interval, Duration::from_secs(86_400));
            assert_eq!(bundles.budget, Duration::from_secs(5));
            assert_eq!(s.pipeline.allow_revision, Some(0));
            assert_eq!(s.pipeline.min_revision, Some(u64::MAX));
            assert_eq!(s.source_settings.max_bytes, 1 << 30);
            assert_eq!(s.pipeline.read_limits.max_bytes, 1 << 30);
        }
        for no in ["false", "0", "no", ""] {
            let bundles = read(&[
                (SOURCE_ENV, "/var/task/orders.bundle"),
                ("TOLLGATE_BUNDLE_NAME", "orders"),
                ("TOLLGATE_BUNDLE_ALLOW_UNSIGNED", no),
            ])
            .unwrap_or_else(|e| panic!("{no:?}: {e}"))
            .expect("a source");
            assert!(!bundles.hot_swap.pipeline.allow_unsigned, "{no:?}");
        }
    }

    #[test]
    fn every_bad_value_is_refused_naming_its_variable() {
        let (key, _) = &public_keys()[0];
        let good = [
            (SOURCE_ENV, "s3://acme-policies/orders.bundle"),
            ("TOLLGATE_BUNDLE_NAME", "orders"),
            ("TOLLGATE_BUNDLE_KEYS", key.as_str()),
        ];
        let bad: &[(&str, &str)] = &[
            (SOURCE_ENV, "gs://acme-policies/orders.bundle"),
            (SOURCE_ENV, "ftp://bundles.example.com/orders.bundle"),
            (SOURCE_ENV, "s3://acme-policies"),
            (SOURCE_ENV, "s3://acme-policies/"),
            (SOURCE_ENV, "s3:///orders.bundle"),
            (SOURCE_ENV, "file://host/orders.bundle"),
            ("TOLLGATE_BUNDLE_NAME", ""),
            ("TOLLGATE_BUNDLE_NAME", "   "),
            ("TOLLGATE_BUNDLE_KEYS", "not a key"),
            ("TOLLGATE_BUNDLE_KEYS", "RWQ"),
            ("TOLLGATE_BUNDLE_ALLOW_UNSIGNED", "maybe"),
            ("TOLLGATE_BUNDLE_ALLOW_UNSIGNED", "on"),
            ("TOLLGATE_BUNDLE_INTERVAL_S", "0"),
            ("TOLLGATE_BUNDLE_INTERVAL_S", "86401"),
            ("TOLLGATE_BUNDLE_INTERVAL_S", "1.5"),
            ("TOLLGATE_BUNDLE_INTERVAL_S", "-1"),
            ("TOLLGATE_BUNDLE_INTERVAL_S", "30s"),
            ("TOLLGATE_BUNDLE_BUDGET_MS", "5001"),
            ("TOLLGATE_BUNDLE_BUDGET_MS", "-1"),
            ("TOLLGATE_BUNDLE_BUDGET_MS", "100ms"),
            ("TOLLGATE_BUNDLE_ALLOW_REVISION", "-1"),
            ("TOLLGATE_BUNDLE_ALLOW_REVISION", "seven"),
            ("TOLLGATE_BUNDLE_ALLOW_REVISION", "18446744073709551616"),
            ("TOLLGATE_BUNDLE_MIN_REVISION", "-1"),
            ("TOLLGATE_BUNDLE_MIN_REVISION", "v4"),
            ("TOLLGATE_BUNDLE_MIN_REVISION", "4.0"),
            ("TOLLGATE_BUNDLE_MAX_BYTES", "1023"),
            ("TOLLGATE_BUNDLE_MAX_BYTES", "1073741825"),
            ("TOLLGATE_BUNDLE_MAX_BYTES", "64MiB"),
            ("TOLLGATE_BUNDLE_MAX_BYTES", "0"),
        ];
        for (name, value) in bad {
            let mut vars: Vec<(&str, &str)> =
                good.iter().filter(|(n, _)| n != name).copied().collect();
            vars.push((name, value));
            let err = match read(&vars) {
                Ok(bundles) => panic!("{name}={value:?} was accepted: {bundles:?}"),
                Err(err) => err,
            };
            assert!(
                matches!(&err, InitError::Env { name: n, .. } if n == name),
                "{name}={value:?}: {err:?}"
            );
            let message = err.to_string();
            assert!(message.starts_with(name), "{name}={value:?}: {message}");
        }
        // A missing name is refused too, saying what to set.
        let err = read(&good[..1]).expect_err("no name");
        assert!(err.to_string().starts_with("TOLLGATE_BUNDLE_NAME"), "{err}");
        assert!(err.to_string().contains("bundle.toml"), "{err}");
    }

    /// Init refuses a source no bundle can be trusted from, before asking it.
    #[test]
    fn init_refuses_a_source_without_a_trusted_key() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let state_dir =
            std::env::temp_dir().join(format!("tollgate-lambda-bundles-{}", std::process::id()));
        let state_dir = state_dir.display().to_string();
        for (source, unsigned, expected) in [
            ("s3://acme-policies/orders.bundle", "false", "is remote"),
            ("s3://acme-policies/orders.bundle", "true", "is remote"),
            ("https://bundles.example.com/o.bundle", "true", "is remote"),
            ("/var/task/orders.bundle", "false", "allow unsigned"),
        ] {
            let get = lookup(&[
                (SOURCE_ENV, source),
                ("TOLLGATE_BUNDLE_NAME", "orders"),
                ("TOLLGATE_BUNDLE_ALLOW_UNSIGNED", unsigned),
                ("TOLLGATE_BUNDLE_STATE_DIR", &state_dir),
            ]);
            let err = runtime
                .block_on(crate::setup::state_from_lookup(&get, None))
                .expect_err(source);
            assert!(matches!(err, InitError::HotSwap(_)), "{source}: {err:?}");
            let message = err.to_string();
            assert!(message.contains(expected), "{source}: {message}");
            assert!(
                message.contains("TOLLGATE_BUNDLE_KEYS"),
                "{source}: {message}"
            );
        }
        let _ = std::fs::remove_dir_all(&state_dir);
    }
}
