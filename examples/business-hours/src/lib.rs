//! Example tollgate module: writes only during business hours.
//!
//! A rule too dynamic for the policy document's route rules: the same token
//! may `POST /orders/1` on Monday at 10:00 but not on Saturday. The route
//! rules decide first (scopes, groups, claims: see `policy.toml`); this
//! module then refuses writes (`POST`, `PUT`, `PATCH`, `DELETE`) outside
//! the hours its `[module]` settings name, in UTC:
//!
//! ```toml
//! [module]
//! open_hour = 8                                 # writes from 08:00 UTC (0..=23)
//! close_hour = 18                               # until 18:00 UTC (1..=24, after open_hour)
//! days = ["mon", "tue", "wed", "thu", "fri"]    # optional; the default
//! ```
//!
//! A module has no clock: the time is the request's `now`, which the front
//! door sets (and `tollgate test` fixes per case). Because the time decides
//! what a token may write, every allow whose grants include a write is
//! marked `request_dependent`, so no front door caches it for later; out of
//! hours its grants start with a deny for each write method, so they say
//! exactly what the token may call at that moment.

use tollgate_sdk::Rules;
use tollgate_sdk::model::{ConfigError, Decision, Deny, DenyReason, Effect, Grant, Request};
use tollgate_sdk::policy::toml::{Table, Value};
use tollgate_sdk::policy::{Policy, VerifiedToken};

/// The methods that change something: allowed only during business hours.
pub const WRITE_METHODS: [&str; 4] = ["POST", "PUT", "PATCH", "DELETE"];

/// The rule a deny of this module names (`rule` in a decision).
pub const RULE: &str = "business-hours";

/// Day names, Monday first (`days` in the settings).
const DAY_NAMES: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

/// The `[module]` fields this module reads.
const FIELDS: [&str; 3] = ["open_hour", "close_hour", "days"];

/// What to write when `[module]` is missing or wrong.
const EXAMPLE: &str = "[module] with open_hour = 8 and close_hour = 18 (UTC)";

/// When writes are allowed: from `open_hour` until `close_hour` (UTC) on
/// the listed days.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BusinessHours {
    open_hour: i64,
    close_hour: i64,
    /// Monday first.
    days: [bool; 7],
}

impl BusinessHours {
    /// Whether writes are allowed at `now` (unix seconds).
    pub fn is_open(&self, now: i64) -> bool {
        let time = Utc::at(now);
        self.days.get(time.weekday).copied().unwrap_or(false)
            && (self.open_hour..self.close_hour).contains(&time.hour)
    }

    /// `from 08:00 to 18:00 UTC on mon, tue, wed, thu, fri`.
    fn describe(&self) -> String {
        let days: Vec<&str> = DAY_NAMES
            .iter()
            .zip(self.days)
            .filter_map(|(name, open)| open.then_some(*name))
            .collect();
        format!(
            "from {:02}:00 to {:02}:00 UTC on {}",
            self.open_hour,
            self.close_hour,
            days.join(", ")
        )
    }
}

impl Rules for BusinessHours {
    const RULES: &'static [&'static str] = &[RULE];

    fn configure(settings: Option<&Table>, _policy: &Policy) -> Result<Self, ConfigError> {
        let Some(settings) = settings else {
            return Err(error(
                "module",
                format!("missing; this module needs its business hours: add {EXAMPLE}"),
            ));
        };
        if let Some(key) = settings.keys().find(|k| !FIELDS.contains(&k.as_str())) {
            return Err(error(
                format!("module.{key}"),
                format!(
                    "unknown field `{key}`; expected one of {}",
                    FIELDS.join(", ")
                ),
            ));
        }
        let open_hour = hour(settings, "open_hour", 0, 23)?;
        let close_hour = hour(settings, "close_hour", 1, 24)?;
        if close_hour <= open_hour {
            return Err(error(
                "module.close_hour",
                format!(
                    "{close_hour} is not after open_hour ({open_hour}); business hours end later the same day (no overnight windows)"
                ),
            ));
        }
        let days = match settings.get("days") {
            None => [true, true, true, true, true, false, false],
            Some(value) => days(value)?,
        };
        Ok(BusinessHours {
            open_hour,
            close_hour,
            days,
        })
    }

    fn decide(&self, request: &Request, _token: &VerifiedToken, routes: Decision) -> Decision {
        // The route rules refused: nothing to add.
        let Decision::Allow(mut allow) = routes else {
            return routes;
        };
        // A token the route rules let write nowhere is not the hours' business.
        if !allow.grants.iter().any(grants_a_write) {
            return Decision::Allow(allow);
        }
        let open = self.is_open(request.now);
        if !open && is_write(&request.method) {
            let detail = format!(
                "writes are allowed {}; it is {}",
                self.describe(),
                Utc::at(request.now)
            );
            return Decision::Deny(
                Deny::new(DenyReason::Forbidden, detail)
                    .with_principal(allow.principal)
                    .with_rule(RULE),
            );
        }
        if !open {
            // Grants list every route the token may call: right now, no writes.
            let closed = WRITE_METHODS
                .iter()
                .map(|method| Grant::deny(*method, "/*"));
            allow.grants.splice(0..0, closed);
        }
        // The time decided this allow: no front door may reuse it later.
        allow.request_dependent = true;
        Decision::Allow(allow)
    }
}

/// Whether `method` changes something.
fn is_write(method: &str) -> bool {
    WRITE_METHODS.iter().any(|w| w.eq_ignore_ascii_case(method))
}

/// Whether `grant` lets a write through (a write method, or any method).
fn grants_a_write(grant: &Grant) -> bool {
    grant.effect == Effect::Allow && (grant.method == "*" || is_write(&grant.method))
}

/// A weekday and time of day in UTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Utc {
    /// Monday = 0.
    weekday: usize,
    hour: i64,
    minute: i64,
}

impl Utc {
    /// The UTC weekday and time of unix time `now`.
    fn at(now: i64) -> Utc {
        let days = now.div_euclid(86_400);
        let seconds = now.rem_euclid(86_400);
        // 1970-01-01 was a Thursday (3, counting from Monday = 0).
        let weekday = usize::try_from((days + 3).rem_euclid(7)).unwrap_or(0);
        Utc {
            weekday,
            hour: seconds / 3600,
            minute: seconds % 3600 / 60,
        }
    }
}

impl std::fmt::Display for Utc {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let day = DAY_NAMES.get(self.weekday).copied().unwrap_or("?");
        write!(f, "{day} {:02}:{:02} UTC", self.hour, self.minute)
    }
}

/// `module.<key>`: an hour from `low` to `high`.
fn hour(settings: &Table, key: &str, low: i64, high: i64) -> Result<i64, ConfigError> {
    let field = format!("module.{key}");
    match settings.get(key) {
        None => Err(error(
            field,
            format!("missing; write {key} = an hour from {low} to {high} (UTC), as in {EXAMPLE}"),
        )),
        Some(Value::Integer(hour)) if (low..=high).contains(hour) => Ok(*hour),
        Some(Value::Integer(hour)) => Err(error(
            field,
            format!("{hour} is out of range; write an hour from {low} to {high} (UTC)"),
        )),
        Some(other) => Err(error(
            field,
            format!(
                "expected an integer, found {}; write an hour from {low} to {high} (UTC)",
                other.type_str()
            ),
        )),
    }
}

/// `module.days`: day names, Monday first in the result.
fn days(value: &Value) -> Result<[bool; 7], ConfigError> {
    let write = "write e.g. days = [\"mon\", \"tue\", \"wed\", \"thu\", \"fri\"]";
    let Value::Array(items) = value else {
        return Err(error(
            "module.days",
            format!("expected an array, found {}; {write}", value.type_str()),
        ));
    };
    if items.is_empty() {
        return Err(error(
            "module.days",
            format!("empty, so writes would never be allowed; {write}"),
        ));
    }
    let mut days = [false; 7];
    for (index, item) in items.iter().enumerate() {
        let field = format!("module.days[{index}]");
        let slot = item
            .as_str()
            .and_then(|name| DAY_NAMES.iter().position(|d| *d == name))
            .and_then(|position| days.get_mut(position))
            .ok_or_else(|| {
                error(
                    field.clone(),
                    format!(
                        "{} is not a day; write one of {}",
                        shown(item),
                        DAY_NAMES.join(", ")
                    ),
                )
            })?;
        if *slot {
            return Err(error(
                field,
                format!("{} is listed twice; list it once", shown(item)),
            ));
        }
        *slot = true;
    }
    Ok(days)
}

/// A settings value in a message: a string quoted, anything else by its type.
fn shown(value: &Value) -> String {
    match value.as_str() {
        Some(text) => format!("{text:?}"),
        None => format!("a {}", value.type_str()),
    }
}

fn error(field: impl Into<String>, message: impl Into<String>) -> ConfigError {
    ConfigError {
        field: field.into(),
        message: message.into(),
    }
}

// The component's `configure` and `authorize`: tollgate's verification
// core, then the route rules, then `BusinessHours::decide`.
#[cfg(target_arch = "wasm32")]
tollgate_sdk::export!(tollgate_sdk::WithCore<BusinessHours>);

#[cfg(test)]
mod tests;
