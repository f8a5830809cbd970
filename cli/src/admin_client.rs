//! A request to a running `tollgate serve`'s admin port (`tollgate bundle
//! status|rollback|promote`).

use std::time::Duration;

/// How long an admin request may take.
pub const ADMIN_TIMEOUT: Duration = Duration::from_secs(10);

/// Send `method path` to the admin listener `admin` (`host:port` or a URL)
/// and return the status and the body; the error says what to check.
pub async fn request(admin: &str, method: &str, path: &str) -> Result<(u16, String), String> {
    let base = if admin.starts_with("http://") || admin.starts_with("https://") {
        admin.trim_end_matches('/').to_string()
    } else {
        format!("http://{admin}")
    };
    let url = format!("{base}{path}");
    let client = reqwest::Client::builder()
        .timeout(ADMIN_TIMEOUT)
        .build()
        .map_err(|e| format!("cannot build an HTTP client: {e}"))?;
    let method =
        reqwest::Method::from_bytes(method.as_bytes()).map_err(|e| format!("{method}: {e}"))?;
    let mut request = client.request(method, &url);
    // The admin port takes an action only when it is named in this header.
    if let Some(action) = path.strip_prefix("/bundle/") {
        request = request.header("X-Tollgate-Action", action);
    }
    let response = request.send().await.map_err(|e| {
        format!("{url}: {e} (is `tollgate serve` running with its admin port there? --admin)")
    })?;
    let status = response.status().as_u16();
    let body = response
        .text()
        .await
        .map_err(|e| format!("{url}: cannot read the answer: {e}"))?;
    Ok((status, body))
}
