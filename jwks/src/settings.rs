//! How remote keys are fetched, cached and refreshed.

use std::time::Duration;

use crate::KeyManagerError;

/// Default for [`KeyFetchSettings::connect_timeout`]: 2 s.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// Default for [`KeyFetchSettings::request_timeout`]: 5 s.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
/// Default for [`KeyFetchSettings::max_response_bytes`]: 1 MiB.
pub const DEFAULT_MAX_RESPONSE_BYTES: usize = 1024 * 1024;
/// Default for [`KeyFetchSettings::min_ttl`]: 5 minutes.
pub const DEFAULT_MIN_TTL: Duration = Duration::from_secs(5 * 60);
/// Default for [`KeyFetchSettings::max_ttl`]: 24 hours.
pub const DEFAULT_MAX_TTL: Duration = Duration::from_secs(24 * 60 * 60);
/// Default for [`KeyFetchSettings::penalty_window`]: 10 s (as `aws-jwt-verify`).
pub const DEFAULT_PENALTY_WINDOW: Duration = Duration::from_secs(10);
/// Default for [`KeyFetchSettings::max_stale`]: 1 hour.
pub const DEFAULT_MAX_STALE: Duration = Duration::from_secs(60 * 60);
/// Default for [`KeyFetchSettings::max_backoff`]: 5 minutes.
pub const DEFAULT_MAX_BACKOFF: Duration = Duration::from_secs(5 * 60);
/// Default for [`KeyFetchSettings::max_redirects`]: 5.
pub const DEFAULT_MAX_REDIRECTS: usize = 5;
/// Default budget of [`RefreshMode::Inline`]: 300 ms.
pub const DEFAULT_INLINE_BUDGET: Duration = Duration::from_millis(300);

/// One `TOLLGATE_JWKS_*` environment variable read by [`KeyFetchSettings::with_env`].
#[derive(Debug, Clone, Copy)]
pub struct EnvVar {
    /// The variable's name.
    pub name: &'static str,
    /// The unit of its whole-number value (`milliseconds`, `seconds`, `bytes`).
    pub unit: &'static str,
    set: fn(&mut KeyFetchSettings, u64),
}

const fn millis(n: u64) -> Duration {
    Duration::from_millis(n)
}

const fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

/// The environment variables [`KeyFetchSettings::with_env`] reads, one per setting,
/// for front doors configured through their environment (AWS Lambda, the
/// CLI). `TOLLGATE_JWKS_INLINE_BUDGET_MS` only applies in
/// [`RefreshMode::Inline`].
pub const ENV_VARS: &[EnvVar] = &[
    EnvVar {
        name: "TOLLGATE_JWKS_CONNECT_TIMEOUT_MS",
        unit: "milliseconds",
        set: |s, n| s.connect_timeout = millis(n),
    },
    EnvVar {
        name: "TOLLGATE_JWKS_REQUEST_TIMEOUT_MS",
        unit: "milliseconds",
        set: |s, n| s.request_timeout = millis(n),
    },
    EnvVar {
        name: "TOLLGATE_JWKS_MAX_RESPONSE_BYTES",
        unit: "bytes",
        set: |s, n| s.max_response_bytes = usize::try_from(n).unwrap_or(usize::MAX),
    },
    EnvVar {
        name: "TOLLGATE_JWKS_MIN_TTL_S",
        unit: "seconds",
        set: |s, n| s.min_ttl = secs(n),
    },
    EnvVar {
        name: "TOLLGATE_JWKS_MAX_TTL_S",
        unit: "seconds",
        set: |s, n| s.max_ttl = secs(n),
    },
    EnvVar {
        name: "TOLLGATE_JWKS_PENALTY_WINDOW_MS",
        unit: "milliseconds",
        set: |s, n| s.penalty_window = millis(n),
    },
    EnvVar {
        name: "TOLLGATE_JWKS_MAX_STALE_S",
        unit: "seconds",
        set: |s, n| s.max_stale = secs(n),
    },
    EnvVar {
        name: "TOLLGATE_JWKS_MAX_BACKOFF_S",
        unit: "seconds",
        set: |s, n| s.max_backoff = secs(n),
    },
    EnvVar {
        name: "TOLLGATE_JWKS_INLINE_BUDGET_MS",
        unit: "milliseconds",
        set: |s, n| {
            if let RefreshMode::Inline { budget } = &mut s.mode {
                *budget = millis(n);
            }
        },
    },
];

/// When cached key sets are refreshed before they expire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefreshMode {
    /// A process that runs continuously (a server): one tokio task per remote
    /// issuer refreshes its keys in the background at 80 % of their TTL, and
    /// retries failures with backoff. Decisions only wait for a fetch on an
    /// unknown `kid` or a cold cache.
    Background,
    /// A process that may be frozen between requests (AWS Lambda): no task is
    /// ever spawned. At the start of a decision, keys whose TTL has passed are
    /// refreshed inline, for at most `budget`; after that the refresh is
    /// dropped (cancelled, nothing keeps running) and the cached keys answer.
    Inline {
        /// The longest a decision waits for a due refresh (default 300 ms).
        budget: Duration,
    },
}

impl RefreshMode {
    /// [`RefreshMode::Inline`] with the default 300 ms budget (AWS Lambda).
    pub fn lambda() -> Self {
        RefreshMode::Inline {
            budget: DEFAULT_INLINE_BUDGET,
        }
    }
}

/// How remote key sets are fetched, cached and refreshed.
///
/// `KeyFetchSettings::default()` gives the documented defaults (server mode);
/// [`KeyFetchSettings::lambda`] the same with [`RefreshMode::lambda`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyFetchSettings {
    /// Longest wait for a TCP (and TLS) connection (default 2 s).
    pub connect_timeout: Duration,
    /// Longest a whole fetch may take, headers and body included (default 5 s).
    /// A decision waiting for keys (unknown `kid`, cold cache) waits at most this long
    /// plus 50 ms grace (twice for discovery: two fetches in a row).
    pub request_timeout: Duration,
    /// Largest accepted response body, enforced while streaming (default 1 MiB).
    pub max_response_bytes: usize,
    /// Shortest cache lifetime: a smaller `Cache-Control: max-age`, `no-cache`,
    /// `no-store` or no `max-age` at all gives this (default 5 min).
    pub min_ttl: Duration,
    /// Longest cache lifetime: a larger `max-age` gives this (default 24 h).
    pub max_ttl: Duration,
    /// Penalty box per URL: never more than one fetch of one URL per window,
    /// whatever the traffic; the first unknown `kid` fetches, later ones within
    /// the window do not (default 10 s).
    pub penalty_window: Duration,
    /// How long after expiry cached keys keep being served while refreshes fail
    /// (default 1 h). Past it they are dropped and the issuer answers
    /// `keys-unavailable` until a fetch succeeds.
    pub max_stale: Duration,
    /// Longest pause between retries of a failing source (default 5 min).
    /// Retries back off exponentially from `penalty_window`, never faster.
    pub max_backoff: Duration,
    /// Most redirects followed per fetch, each to the same origin only (default 5).
    pub max_redirects: usize,
    /// Background tasks (servers) or bounded inline refresh (Lambda).
    pub mode: RefreshMode,
}

impl Default for KeyFetchSettings {
    fn default() -> Self {
        KeyFetchSettings {
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
            max_response_bytes: DEFAULT_MAX_RESPONSE_BYTES,
            min_ttl: DEFAULT_MIN_TTL,
            max_ttl: DEFAULT_MAX_TTL,
            penalty_window: DEFAULT_PENALTY_WINDOW,
            max_stale: DEFAULT_MAX_STALE,
            max_backoff: DEFAULT_MAX_BACKOFF,
            max_redirects: DEFAULT_MAX_REDIRECTS,
            mode: RefreshMode::Background,
        }
    }
}

impl KeyFetchSettings {
    /// The defaults with [`RefreshMode::lambda`] (inline refresh, 300 ms budget).
    pub fn lambda() -> Self {
        KeyFetchSettings {
            mode: RefreshMode::lambda(),
            ..KeyFetchSettings::default()
        }
    }

    /// These settings with the values of the `TOLLGATE_JWKS_*` variables
    /// (see [`ENV_VARS`]) read through `get` (an environment lookup) put in,
    /// then validated. An unset or empty variable keeps the current value; a
    /// value that is not a whole number in range is an error naming the
    /// variable and what to write.
    pub fn with_env(
        mut self,
        get: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Self, KeyManagerError> {
        for var in ENV_VARS {
            let Some(raw) = get(var.name) else { continue };
            let value = raw.trim();
            if value.is_empty() {
                continue;
            }
            let number: u64 = value.parse().map_err(|_| KeyManagerError::Settings {
                field: var.name,
                reason: format!("is {raw:?}; write a whole number of {}", var.unit),
            })?;
            (var.set)(&mut self, number);
        }
        self.validate()?;
        Ok(self)
    }

    /// Check that the values make sense together.
    pub fn validate(&self) -> Result<(), KeyManagerError> {
        let bad =
            |field: &'static str, reason: String| Err(KeyManagerError::Settings { field, reason });
        if self.connect_timeout.is_zero() {
            return bad("connect_timeout", "must be greater than zero".into());
        }
        if self.request_timeout.is_zero() {
            return bad("request_timeout", "must be greater than zero".into());
        }
        if self.max_response_bytes == 0 {
            return bad("max_response_bytes", "must be greater than zero".into());
        }
        if self.min_ttl.is_zero() {
            return bad("min_ttl", "must be greater than zero".into());
        }
        if self.min_ttl > self.max_ttl {
            return bad(
                "min_ttl",
                format!(
                    "{:?} is greater than max_ttl {:?}",
                    self.min_ttl, self.max_ttl
                ),
            );
        }
        if self.penalty_window.is_zero() {
            return bad(
                "penalty_window",
                "must be greater than zero (it bounds fetches per URL)".into(),
            );
        }
        if let RefreshMode::Inline { budget } = self.mode
            && budget.is_zero()
        {
            return bad(
                "mode",
                "the inline refresh budget must be greater than zero".into(),
            );
        }
        Ok(())
    }

    /// The cache lifetime for a response's `max-age` (`None`: absent,
    /// `no-cache` or `no-store`), clamped to `min_ttl..=max_ttl`.
    pub fn ttl(&self, max_age: Option<Duration>) -> Duration {
        max_age
            .unwrap_or(self.min_ttl)
            .clamp(self.min_ttl, self.max_ttl)
    }

    /// The pause before retry number `failures` (1-based) of a failing source:
    /// `penalty_window * 2^(failures-1)`, capped at `max_backoff` but never
    /// below `penalty_window`.
    pub fn backoff(&self, failures: u32) -> Duration {
        let exponent = failures.saturating_sub(1).min(20);
        let grown = self
            .penalty_window
            .checked_mul(1u32 << exponent)
            .unwrap_or(Duration::MAX);
        grown.min(self.max_backoff).max(self.penalty_window)
    }
}

/// `max-age` from a `Cache-Control` header value; `no-store` and `no-cache`
/// count as zero. `None` when there is no usable directive.
pub fn parse_max_age(cache_control: &str) -> Option<Duration> {
    let mut max_age = None;
    for directive in cache_control.split(',') {
        let directive = directive.trim();
        let (name, value) = match directive.split_once('=') {
            Some((name, value)) => (name.trim(), Some(value.trim().trim_matches('"'))),
            None => (directive, None),
        };
        if name.eq_ignore_ascii_case("no-store") || name.eq_ignore_ascii_case("no-cache") {
            return Some(Duration::ZERO);
        }
        if name.eq_ignore_ascii_case("max-age")
            && let Some(seconds) = value.and_then(|v| v.parse::<u64>().ok())
        {
            max_age = Some(Duration::from_secs(seconds));
        }
    }
    max_age
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_the_documented_ones() {
        let s = KeyFetchSettings::default();
        assert_eq!(s.connect_timeout, Duration::from_secs(2));
        assert_eq!(s.request_timeout, Duration::from_secs(5));
        assert_eq!(s.max_response_bytes, 1 << 20);
        assert_eq!(s.min_ttl, Duration::from_secs(300));
        assert_eq!(s.max_ttl, Duration::from_secs(86400));
        assert_eq!(s.penalty_window, Duration::from_secs(10));
        assert_eq!(s.max_stale, Duration::from_secs(3600));
        assert_eq!(s.mode, RefreshMode::Background);
        assert_eq!(
            KeyFetchSettings::lambda().mode,
            RefreshMode::Inline {
                budget: Duration::from_millis(300)
            }
        );
        s.validate().unwrap();
        KeyFetchSettings::lambda().validate().unwrap();
    }

    #[test]
    fn ttl_is_clamped() {
        let s = KeyFetchSettings::default();
        assert_eq!(s.ttl(None), s.min_ttl);
        assert_eq!(s.ttl(Some(Duration::ZERO)), s.min_ttl);
        assert_eq!(
            s.ttl(Some(Duration::from_secs(3600))),
            Duration::from_secs(3600)
        );
        assert_eq!(s.ttl(Some(Duration::from_secs(10_000_000))), s.max_ttl);
    }

    #[test]
    fn cache_control_parsing() {
        assert_eq!(
            parse_max_age("public, max-age=600"),
            Some(Duration::from_secs(600))
        );
        assert_eq!(
            parse_max_age("MAX-AGE = \"60\""),
            Some(Duration::from_secs(60))
        );
        assert_eq!(parse_max_age("max-age=60, no-cache"), Some(Duration::ZERO));
        assert_eq!(parse_max_age("no-store"), Some(Duration::ZERO));
        assert_eq!(parse_max_age("public"), None);
        assert_eq!(parse_max_age("max-age=abc"), None);
        assert_eq!(parse_max_age("s-maxage=5"), None);
        assert_eq!(parse_max_age(""), None);
    }

    #[test]
    fn environment_overrides_and_errors() {
        let vars = |pairs: &'static [(&'static str, &'static str)]| {
            move |name: &str| {
                pairs
                    .iter()
                    .find(|(n, _)| *n == name)
                    .map(|(_, v)| v.to_string())
            }
        };
        // Nothing set: unchanged.
        assert_eq!(
            KeyFetchSettings::lambda().with_env(&vars(&[])).unwrap(),
            KeyFetchSettings::lambda()
        );
        let s = KeyFetchSettings::lambda()
            .with_env(&vars(&[
                ("TOLLGATE_JWKS_CONNECT_TIMEOUT_MS", "750"),
                ("TOLLGATE_JWKS_REQUEST_TIMEOUT_MS", " 3000 "),
                ("TOLLGATE_JWKS_MAX_RESPONSE_BYTES", "65536"),
                ("TOLLGATE_JWKS_MIN_TTL_S", "60"),
                ("TOLLGATE_JWKS_MAX_TTL_S", "3600"),
                ("TOLLGATE_JWKS_PENALTY_WINDOW_MS", "30000"),
                ("TOLLGATE_JWKS_MAX_STALE_S", "7200"),
                ("TOLLGATE_JWKS_MAX_BACKOFF_S", "120"),
                ("TOLLGATE_JWKS_INLINE_BUDGET_MS", "150"),
                ("TOLLGATE_JWKS_UNRELATED", "x"),
            ]))
            .unwrap();
        assert_eq!(s.connect_timeout, Duration::from_millis(750));
        assert_eq!(s.request_timeout, Duration::from_secs(3));
        assert_eq!(s.max_response_bytes, 65536);
        assert_eq!(s.min_ttl, Duration::from_secs(60));
        assert_eq!(s.max_ttl, Duration::from_secs(3600));
        assert_eq!(s.penalty_window, Duration::from_secs(30));
        assert_eq!(s.max_stale, Duration::from_secs(7200));
        assert_eq!(s.max_backoff, Duration::from_secs(120));
        assert_eq!(
            s.mode,
            RefreshMode::Inline {
                budget: Duration::from_millis(150)
            }
        );
        // Empty keeps the default.
        assert_eq!(
            KeyFetchSettings::default()
                .with_env(&vars(&[("TOLLGATE_JWKS_MIN_TTL_S", " ")]))
                .unwrap(),
            KeyFetchSettings::default()
        );
        // Not a number, negative, a unit suffix: the variable is named.
        for bad in ["5m", "-1", "1.5", "ten"] {
            let pairs: &'static [(&'static str, &'static str)] =
                Box::leak(Box::new([("TOLLGATE_JWKS_MAX_STALE_S", bad)]));
            let err = KeyFetchSettings::default()
                .with_env(&vars(pairs))
                .unwrap_err();
            let text = err.to_string();
            assert!(
                text.contains("TOLLGATE_JWKS_MAX_STALE_S")
                    && text.contains("whole number of seconds"),
                "{text}"
            );
        }
        // Numbers that make no sense together fail validation.
        let err = KeyFetchSettings::default()
            .with_env(&vars(&[
                ("TOLLGATE_JWKS_MIN_TTL_S", "7200"),
                ("TOLLGATE_JWKS_MAX_TTL_S", "60"),
            ]))
            .unwrap_err();
        assert!(err.to_string().contains("min_ttl"), "{err}");
        let err = KeyFetchSettings::default()
            .with_env(&vars(&[("TOLLGATE_JWKS_PENALTY_WINDOW_MS", "0")]))
            .unwrap_err();
        assert!(err.to_string().contains("penalty_window"), "{err}");
    }

    #[test]
    fn backoff_grows_from_the_penalty_window() {
        let s = KeyFetchSettings::default();
        assert_eq!(s.backoff(0), Duration::from_secs(10));
        assert_eq!(s.backoff(1), Duration::from_secs(10));
        assert_eq!(s.backoff(2), Duration::from_secs(20));
        assert_eq!(s.backoff(3), Duration::from_secs(40));
        assert_eq!(s.backoff(10), Duration::from_secs(300));
        assert_eq!(s.backoff(u32::MAX), Duration::from_secs(300));
        let tiny_cap = KeyFetchSettings {
            max_backoff: Duration::from_secs(1),
            ..KeyFetchSettings::default()
        };
        assert_eq!(tiny_cap.backoff(5), Duration::from_secs(10));
    }

    #[test]
    fn invalid_settings_are_refused() {
        let e = KeyFetchSettings {
            min_ttl: Duration::from_secs(10),
            max_ttl: Duration::from_secs(5),
            ..KeyFetchSettings::default()
        }
        .validate()
        .unwrap_err();
        assert!(e.to_string().contains("min_ttl"), "{e}");
        assert!(
            KeyFetchSettings {
                penalty_window: Duration::ZERO,
                ..KeyFetchSettings::default()
            }
            .validate()
            .is_err()
        );
        assert!(
            KeyFetchSettings {
                mode: RefreshMode::Inline {
                    budget: Duration::ZERO
                },
                ..KeyFetchSettings::default()
            }
            .validate()
            .is_err()
        );
    }
}
