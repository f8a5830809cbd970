//! Each proxy's forward-auth request as a door-independent
//! [`Request`]: where the original method, URI and host are, and which
//! headers carry the credential. Forwarding headers are trusted only as the
//! listener's dialect defines them; one that is missing or repeated is a
//! 400, never a guess.

use http::HeaderMap;
use http::request::Parts;
use tollgate_host::model::{Request, TokenSource};

use crate::settings::Dialect;

/// Why a decision request cannot be read: the proxy is misconfigured (or
/// something other than the proxy is calling). Names headers, never values.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct BadForwarding(pub String);

/// The forwarding headers of a dialect (lower case).
struct Forwarding {
    method: &'static str,
    uri: &'static str,
    host: &'static str,
    host_required: bool,
}

const NGINX: Forwarding = Forwarding {
    method: "x-original-method",
    uri: "x-original-uri",
    host: "x-original-host",
    host_required: false,
};

const TRAEFIK: Forwarding = Forwarding {
    method: "x-forwarded-method",
    uri: "x-forwarded-uri",
    host: "x-forwarded-host",
    host_required: true,
};

/// Read an HTTP decision request of `dialect` (not [`Dialect::EnvoyGrpc`],
/// see [`crate::grpc`]): the original route from the dialect's forwarding
/// headers (nginx, Traefik) or from the request itself behind
/// `envoy_prefix` (Envoy HTTP); every header as the module's request
/// headers; each `Authorization` header as a credential.
pub fn read_http(
    dialect: Dialect,
    head: &Parts,
    envoy_prefix: &str,
    now: i64,
) -> Result<Request, BadForwarding> {
    let (method, uri, source_ip) = match dialect {
        Dialect::Nginx => {
            let (method, uri) = forwarded_route(&head.headers, &NGINX)?;
            (method, uri, single(&head.headers, "x-real-ip")?)
        }
        Dialect::Traefik => {
            let (method, uri) = forwarded_route(&head.headers, &TRAEFIK)?;
            at_most_once(&head.headers, "x-forwarded-proto")?;
            (method, uri, last_forwarded_for(&head.headers))
        }
        Dialect::EnvoyHttp | Dialect::EnvoyGrpc => {
            let path_and_query = head.uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
            let original = path_and_query.strip_prefix(envoy_prefix).ok_or_else(|| {
                BadForwarding(format!(
                    "the path does not start with the Envoy path prefix {envoy_prefix:?} (http_service.path_prefix)"
                ))
            })?;
            if !original.starts_with('/') {
                return Err(BadForwarding(format!(
                    "the path after the Envoy path prefix {envoy_prefix:?} must start with `/`"
                )));
            }
            at_most_once(&head.headers, "host")?;
            (
                head.method.as_str().to_string(),
                original.to_string(),
                last_forwarded_for(&head.headers),
            )
        }
    };
    let (path, query) = split_uri(&uri)?;
    Ok(Request {
        token_sources: credentials(head.headers.get_all(http::header::AUTHORIZATION).iter()),
        method: checked_method(&method)?,
        path,
        raw_path: String::new(),
        headers: head
            .headers
            .iter()
            .map(|(name, value)| {
                (
                    name.as_str().to_string(),
                    String::from_utf8_lossy(value.as_bytes()).into_owned(),
                )
            })
            .collect(),
        query,
        source_ip,
        now,
    })
}

/// Each `Authorization` value as a credential (the module refuses more than one).
pub fn credentials<'a>(values: impl Iterator<Item = &'a http::HeaderValue>) -> Vec<TokenSource> {
    values
        .map(|value| {
            TokenSource::AuthorizationHeader(String::from_utf8_lossy(value.as_bytes()).into_owned())
        })
        .collect()
}

fn forwarded_route(
    headers: &HeaderMap,
    names: &Forwarding,
) -> Result<(String, String), BadForwarding> {
    let method = required(headers, names.method)?;
    let uri = required(headers, names.uri)?;
    if names.host_required {
        required(headers, names.host)?;
    } else {
        at_most_once(headers, names.host)?;
    }
    Ok((method, uri))
}

fn required(headers: &HeaderMap, name: &str) -> Result<String, BadForwarding> {
    single(headers, name)?.ok_or_else(|| {
        BadForwarding(format!(
            "the forwarding header {name} is missing: configure the proxy to set it"
        ))
    })
}

fn at_most_once(headers: &HeaderMap, name: &str) -> Result<(), BadForwarding> {
    single(headers, name).map(|_| ())
}

/// The header's one value; `None` when absent; an error when repeated or
/// not text.
fn single(headers: &HeaderMap, name: &str) -> Result<Option<String>, BadForwarding> {
    let mut values = headers.get_all(name).iter();
    let Some(first) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(BadForwarding(format!(
            "the forwarding header {name} is repeated: the proxy must overwrite any client copy"
        )));
    }
    first
        .to_str()
        .map(|value| Some(value.to_string()))
        .map_err(|_| BadForwarding(format!("the forwarding header {name} is not ASCII text")))
}

/// The address the nearest proxy saw: the last `X-Forwarded-For` entry.
fn last_forwarded_for(headers: &HeaderMap) -> Option<String> {
    let value = headers.get_all("x-forwarded-for").iter().next_back()?;
    let last = value.to_str().ok()?.rsplit(',').next()?.trim();
    (!last.is_empty()).then(|| last.to_string())
}

/// An HTTP method token, as sent: methods are case-sensitive (RFC 9110),
/// so `get` stays `get` and matches no `GET` rule.
pub fn checked_method(method: &str) -> Result<String, BadForwarding> {
    let token = !method.is_empty()
        && method.len() <= 32
        && method
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
    if token {
        Ok(method.to_string())
    } else {
        Err(BadForwarding(
            "the original method is not an HTTP method token".into(),
        ))
    }
}

/// An origin-form URI (`/path?query`) as the path, as sent (the host
/// canonicalizes it, `docs/paths.md`), and its query pairs (as sent: not
/// decoded). A `#` is left in the path, where the host refuses it: a
/// request target never holds a fragment.
pub fn split_uri(uri: &str) -> Result<(String, Vec<(String, String)>), BadForwarding> {
    if !uri.starts_with('/') {
        return Err(BadForwarding(
            "the original URI must be a path starting with `/`".into(),
        ));
    }
    if uri.bytes().any(|b| b <= 0x20 || b == 0x7f) {
        return Err(BadForwarding(
            "the original URI holds spaces or control characters".into(),
        ));
    }
    let (path, query) = uri.split_once('?').unwrap_or((uri, ""));
    let query = query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            (name.to_string(), value.to_string())
        })
        .collect();
    Ok((path.to_string(), query))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(method: &str, path: &str, headers: &[(&str, &str)]) -> Parts {
        let mut builder = http::Request::builder().method(method).uri(path);
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        builder.body(()).expect("request").into_parts().0
    }

    #[test]
    fn nginx_reads_the_original_route_from_its_headers() {
        let parts = head(
            "GET",
            "/auth",
            &[
                ("x-original-method", "POST"),
                ("x-original-uri", "/orders/1?a=b&c"),
                ("authorization", "Bearer t"),
                ("x-real-ip", "203.0.113.9"),
            ],
        );
        let request = read_http(Dialect::Nginx, &parts, "", 7).expect("readable");
        assert_eq!(request.method, "POST");
        assert_eq!(request.path, "/orders/1");
        assert_eq!(
            request.query,
            vec![("a".into(), "b".into()), ("c".into(), String::new())]
        );
        assert_eq!(
            request.token_sources,
            vec![TokenSource::AuthorizationHeader("Bearer t".into())]
        );
        assert_eq!(request.source_ip.as_deref(), Some("203.0.113.9"));
        assert_eq!(request.now, 7);
    }

    #[test]
    fn a_missing_or_repeated_forwarding_header_is_refused() {
        let missing = head("GET", "/auth", &[("x-original-method", "GET")]);
        assert!(read_http(Dialect::Nginx, &missing, "", 0).is_err());
        let repeated = head(
            "GET",
            "/auth",
            &[
                ("x-original-method", "GET"),
                ("x-original-uri", "/a"),
                ("x-original-uri", "/public"),
            ],
        );
        let error = read_http(Dialect::Nginx, &repeated, "", 0).expect_err("repeated");
        assert!(error.0.contains("x-original-uri is repeated"), "{error}");
        // Traefik needs its host header too.
        let no_host = head(
            "GET",
            "/auth",
            &[("x-forwarded-method", "GET"), ("x-forwarded-uri", "/a")],
        );
        assert!(read_http(Dialect::Traefik, &no_host, "", 0).is_err());
        // A header of another dialect never decides.
        let other = head(
            "GET",
            "/auth",
            &[("x-forwarded-method", "GET"), ("x-forwarded-uri", "/a")],
        );
        assert!(read_http(Dialect::Nginx, &other, "", 0).is_err());
    }

    #[test]
    fn envoy_http_strips_its_prefix_and_ignores_forwarding_headers() {
        let parts = head(
            "DELETE",
            "/ext-authz/admin/x?y=1",
            &[
                ("x-original-uri", "/public/x"),
                ("x-forwarded-uri", "/public/x"),
            ],
        );
        let request = read_http(Dialect::EnvoyHttp, &parts, "/ext-authz", 0).expect("readable");
        assert_eq!(
            (request.method.as_str(), request.path.as_str()),
            ("DELETE", "/admin/x")
        );
        let outside = head("GET", "/admin/x", &[]);
        assert!(read_http(Dialect::EnvoyHttp, &outside, "/ext-authz", 0).is_err());
        let glued = head("GET", "/ext-authzadmin", &[]);
        assert!(read_http(Dialect::EnvoyHttp, &glued, "/ext-authz", 0).is_err());
    }

    #[test]
    fn uris_and_methods_are_checked() {
        assert!(split_uri("https://evil.example/a").is_err());
        assert!(split_uri("/a b").is_err());
        assert!(split_uri("/a\r\nb").is_err());
        // The path goes on as sent: the host canonicalizes or refuses it.
        assert_eq!(split_uri("/a#frag").expect("ok").0, "/a#frag");
        assert_eq!(
            split_uri("/public/../admin?x=1").expect("ok").0,
            "/public/../admin"
        );
        assert!(checked_method("GET / HTTP/1.1").is_err());
        assert!(checked_method("").is_err());
        // Methods are case-sensitive tokens: never folded.
        assert_eq!(checked_method("patch").expect("ok"), "patch");
        assert_eq!(checked_method("M-SEARCH").expect("ok"), "M-SEARCH");
    }
}
