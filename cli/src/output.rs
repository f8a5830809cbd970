//! What the commands share: the decision as JSON, and new files written
//! without replacing anything.

use std::path::Path;

use serde_json::{Value, json};
use tollgate_host::model::{Decision, Effect, Grant};

/// The decision as the JSON the CLI prints: `allow`, `reason`, `principal`,
/// `status` (200/401/403/503/500 as an HTTP front door would answer:
/// [`Decision::outcome`]), the deciding `rule`, and details (an allow's
/// ordered grants with their effect; a scope deny's `required_scopes`).
pub fn decision_json(decision: &Decision) -> Value {
    let status = decision.outcome().http_status();
    match decision {
        Decision::Allow(allow) => json!({
            "allow": true,
            "status": status,
            "reason": Value::Null,
            "principal": allow.principal,
            "issuer": allow.issuer,
            "context": allow.context.iter().map(|(name, value)| {
                (name.clone(), serde_json::from_str::<Value>(value).unwrap_or_else(|_| Value::String(value.clone())))
            }).collect::<serde_json::Map<_, _>>(),
            "grants": grants_json(&allow.grants),
            "request_dependent": allow.request_dependent,
            "expires_at": allow.expires_at,
            "rule": allow.rule,
        }),
        Decision::Deny(deny) => json!({
            "allow": false,
            "status": status,
            "reason": deny.reason.as_str(),
            "principal": deny.principal,
            "detail": deny.detail,
            "rule": deny.rule,
            "required_scopes": deny.required_scopes,
            "grants": grants_json(&deny.grants),
        }),
        Decision::Error { reason, message } => json!({
            "allow": false,
            "status": status,
            "reason": reason,
            "principal": Value::Null,
            "detail": message,
        }),
    }
}

/// Grants as JSON: `{ "effect", "method", "path" }`, in order.
fn grants_json(grants: &[Grant]) -> Vec<Value> {
    grants
        .iter()
        .map(|g| {
            json!({
                "effect": match g.effect { Effect::Allow => "allow", Effect::Deny => "deny" },
                "method": g.method,
                "path": g.path,
            })
        })
        .collect()
}

/// Who may read a file `write_new` creates.
#[derive(Clone, Copy)]
pub enum Readers {
    /// Its owner only (mode 0600 on Unix): private keys and secrets.
    Owner,
    /// As the umask says: public files.
    Anyone,
}

/// Write a new file, refusing to replace an existing one.
pub fn write_new(path: &Path, contents: &str, readers: Readers) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    if let Readers::Owner = readers {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(contents.as_bytes())?;
    file.sync_all()
}
