//! The admin listener: `/healthz` (alive, with the module's digest and each
//! issuer's remote key health as detail), `/readyz` (ready to take traffic:
//! a configured module with its local keys loaded, and not shutting down;
//! one identity provider's outage does not make a replica unready),
//! `/metrics` (Prometheus / OpenMetrics text), and the policy bundles:
//! `GET /bundle` (active, previous, last failure, shadow run),
//! `POST /bundle/rollback` and `POST /bundle/promote`.
//!
//! The admin port changes what answers: bind it to loopback or a private
//! network only (the default is 127.0.0.1).

use bytes::Bytes;
use http::{HeaderValue, Method, Response, StatusCode, header};
use http_body_util::Full;

use crate::door::Door;
use crate::http::plain;

/// Answer an admin request.
pub fn answer(
    door: &Door,
    method: &Method,
    path: &str,
    headers: &http::HeaderMap,
) -> Response<Full<Bytes>> {
    if let Some(action) = path.strip_prefix("/bundle/") {
        if method != Method::POST {
            return plain(StatusCode::METHOD_NOT_ALLOWED, "POST only\n");
        }
        if !door.admin_bundle_actions {
            return plain(
                StatusCode::FORBIDDEN,
                "bundle actions are off on this admin port: start tollgate serve with --admin-bundle-actions (and keep the port private)\n",
            );
        }
        let named = headers
            .get(crate::settings::ADMIN_ACTION_HEADER)
            .and_then(|value| value.to_str().ok());
        if named != Some(action) {
            return plain(
                StatusCode::BAD_REQUEST,
                "name the action in an X-Tollgate-Action header (X-Tollgate-Action: rollback), as `tollgate bundle rollback` does\n",
            );
        }
        let done = match action {
            "rollback" => door.live.rollback(),
            "promote" => door.live.promote_shadow(),
            _ => {
                return plain(
                    StatusCode::NOT_FOUND,
                    "not found: POST /bundle/rollback, /bundle/promote\n",
                );
            }
        };
        return match done {
            Ok(info) => {
                tracing::info!(action, name = %info.name, revision = info.revision, digest = %info.digest, "bundle changed through the admin port");
                json(StatusCode::OK, bundle_status(door))
            }
            Err(e) => json(
                StatusCode::CONFLICT,
                serde_json::json!({ "error": e.to_string() }),
            ),
        };
    }
    if method != Method::GET && method != Method::HEAD {
        return plain(StatusCode::METHOD_NOT_ALLOWED, "GET only\n");
    }
    match path {
        "/bundle" => json(StatusCode::OK, bundle_status(door)),
        "/healthz" => json(StatusCode::OK, health(door)),
        "/readyz" => {
            if door.draining() {
                plain(StatusCode::SERVICE_UNAVAILABLE, "shutting down\n")
            } else {
                plain(StatusCode::OK, "ready\n")
            }
        }
        "/metrics" => {
            let mut response = Response::new(Full::new(Bytes::from(door.metrics.encode())));
            response.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static(
                    "application/openmetrics-text; version=1.0.0; charset=utf-8",
                ),
            );
            response
        }
        _ => plain(
            StatusCode::NOT_FOUND,
            "not found: /healthz, /readyz, /metrics, /bundle\n",
        ),
    }
}

/// The bundle status: active, previous, last failure, shadow run, counts.
pub fn bundle_status(door: &Door) -> serde_json::Value {
    serde_json::to_value(door.live.status())
        .unwrap_or_else(|e| serde_json::json!({ "error": e.to_string() }))
}

/// The health detail: bundle, module, issuers (remote key state), token cache.
pub fn health(door: &Door) -> serde_json::Value {
    let active = door.live.current();
    let issuers: Vec<serde_json::Value> = active
        .gate
        .key_manager()
        .status()
        .into_iter()
        .map(|status| {
            serde_json::json!({
                "issuer": status.issuer,
                "jwks_uri": status.jwks_uri,
                "remote_keys": status.remote_keys,
                "age_seconds": status.age.map(|age| age.as_secs()),
                "stale": status.stale,
                "consecutive_failures": status.consecutive_failures,
                "last_error": status.last_error.map(|e| e.to_string()),
                "fetches": status.fetches,
            })
        })
        .collect();
    let cache = active.gate.token_cache_stats().map(|stats| {
        serde_json::json!({
            "hits": stats.hits,
            "misses": stats.misses,
            "entries": stats.entries,
        })
    });
    serde_json::json!({
        "status": "ok",
        "draining": door.draining(),
        "module_digest": active.info.module_digest,
        "bundle": {
            "name": active.info.name,
            "revision": active.info.revision,
            "digest": active.info.digest,
        },
        "remote_issuers": issuers,
        "token_cache": cache,
    })
}

fn json(status: StatusCode, value: serde_json::Value) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(value.to_string())));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}
