//! The HTTP client of `eval` and `smoke`: chat requests and admin calls to
//! one hello-ship server.

use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use reqwest::Url;
use serde::Deserialize;
use serde_json::Value;

use super::cases::Response;

/// Header that carries the admin key; the server's `routes::admin` reads it.
const ADMIN_KEY_HEADER: &str = "x-hello-ship-admin-key";
/// Header that forces a chat request onto one route.
const ROUTE_HEADER: &str = "x-hello-ship-route";

/// A hello-ship server and the keys to call it with.
#[derive(Debug)]
pub(crate) struct Target {
    client: reqwest::Client,
    base_url: Url,
    api_key: Option<String>,
    admin_key: Option<String>,
}

/// One route as `GET /admin/routes` lists it.
#[derive(Debug, Deserialize)]
pub(crate) struct RouteInfo {
    pub(crate) name: String,
    pub(crate) enabled: bool,
}

/// The routes of a model alias, in chain order.
#[derive(Debug, Deserialize)]
pub(crate) struct ModelChain {
    pub(crate) alias: String,
    pub(crate) chain: Vec<String>,
}

/// The body of `GET /admin/routes`.
#[derive(Debug, Deserialize)]
pub(crate) struct RouteList {
    pub(crate) routes: Vec<RouteInfo>,
    pub(crate) models: Vec<ModelChain>,
}

impl Target {
    /// Builds a client for `base_url`. The client ignores proxy settings, so
    /// requests go straight to the given address.
    ///
    /// # Errors
    ///
    /// Returns an error when `base_url` is not an http or https URL.
    pub(crate) fn new(
        base_url: &str,
        api_key: Option<String>,
        admin_key: Option<String>,
        timeout: Duration,
    ) -> anyhow::Result<Self> {
        let mut base_url = Url::parse(base_url).with_context(|| {
            format!("invalid --base-url {base_url:?}: expected a URL such as http://127.0.0.1:8080")
        })?;
        if !matches!(base_url.scheme(), "http" | "https") {
            bail!("invalid --base-url {base_url}: the scheme must be http or https");
        }
        if !base_url.path().ends_with('/') {
            let path = format!("{}/", base_url.path());
            base_url.set_path(&path);
        }
        let client = reqwest::Client::builder()
            .no_proxy()
            .timeout(timeout)
            .user_agent(concat!("hello-ship-eval/", env!("CARGO_PKG_VERSION")))
            .build()
            .context("cannot build the HTTP client")?;
        Ok(Self {
            client,
            base_url,
            api_key: api_key.filter(|key| !key.is_empty()),
            admin_key: admin_key.filter(|key| !key.is_empty()),
        })
    }

    pub(crate) fn base_url(&self) -> &str {
        self.base_url.as_str()
    }

    pub(crate) fn has_admin_key(&self) -> bool {
        self.admin_key.is_some()
    }

    fn url(&self, path: &str) -> anyhow::Result<Url> {
        self.base_url
            .join(path.trim_start_matches('/'))
            .with_context(|| format!("cannot join {path:?} to the base URL"))
    }

    /// Sends `body` to `POST /chat`, forced onto `route` when given, and
    /// measures the time until the whole response body arrived.
    ///
    /// # Errors
    ///
    /// Returns the transport error when no HTTP response arrived.
    pub(crate) async fn chat(&self, body: &Value, route: Option<&str>) -> anyhow::Result<Response> {
        let mut request = self.client.post(self.url("/chat")?).json(body);
        if let Some(key) = &self.api_key {
            request = request.bearer_auth(key);
        }
        if let Some(route) = route {
            request = request.header(ROUTE_HEADER, route);
            if let Some(key) = &self.admin_key {
                request = request.header(ADMIN_KEY_HEADER, key);
            }
        }
        let started = Instant::now();
        let response = request.send().await.map_err(describe)?;
        let status = response.status().as_u16();
        let bytes = response.bytes().await.map_err(describe)?;
        let latency_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Ok(Response {
            status,
            latency_ms,
            body,
        })
    }

    /// Sends `GET path` and returns the status and the body as JSON, or
    /// `Value::Null` when it is not JSON.
    ///
    /// # Errors
    ///
    /// Returns the transport error when no HTTP response arrived.
    pub(crate) async fn get(&self, path: &str) -> anyhow::Result<(u16, Value)> {
        let response = self
            .client
            .get(self.url(path)?)
            .send()
            .await
            .map_err(describe)?;
        let status = response.status().as_u16();
        let body = response.json().await.unwrap_or(Value::Null);
        Ok((status, body))
    }

    /// Fetches `GET /admin/routes`.
    ///
    /// # Errors
    ///
    /// Returns an error without an admin key, on a transport error, or when
    /// the server rejects the call.
    pub(crate) async fn admin_routes(&self) -> anyhow::Result<RouteList> {
        let response = self
            .admin_request(reqwest::Method::GET, "/admin/routes")?
            .send()
            .await
            .map_err(describe)?;
        let body = admin_body(response, "GET /admin/routes").await?;
        serde_json::from_value(body).context("GET /admin/routes returned an unexpected body")
    }

    /// Enables or disables `route` through the admin API.
    ///
    /// # Errors
    ///
    /// Returns an error without an admin key, on a transport error, or when
    /// the server rejects the call.
    pub(crate) async fn set_route_enabled(&self, route: &str, enabled: bool) -> anyhow::Result<()> {
        let action = if enabled { "enable" } else { "disable" };
        let path = format!("/admin/routes/{route}/{action}");
        let response = self
            .admin_request(reqwest::Method::POST, &path)?
            .send()
            .await
            .map_err(describe)?;
        admin_body(response, &format!("POST {path}")).await?;
        Ok(())
    }

    fn admin_request(
        &self,
        method: reqwest::Method,
        path: &str,
    ) -> anyhow::Result<reqwest::RequestBuilder> {
        let Some(key) = &self.admin_key else {
            bail!("this needs the admin key: pass --admin-key or set HELLO_SHIP_ADMIN_KEY");
        };
        Ok(self
            .client
            .request(method, self.url(path)?)
            .header(ADMIN_KEY_HEADER, key))
    }
}

async fn admin_body(response: reqwest::Response, call: &str) -> anyhow::Result<Value> {
    let status = response.status();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    if !status.is_success() {
        let message = body["error"]["message"]
            .as_str()
            .unwrap_or("no error message");
        bail!("{call} failed with status {}: {message}", status.as_u16());
    }
    Ok(body)
}

/// Turns a reqwest error into a message with its causes, e.g. "error sending
/// request: connection refused".
fn describe(error: reqwest::Error) -> anyhow::Error {
    let mut message = error.to_string();
    let mut source = std::error::Error::source(&error);
    while let Some(cause) = source {
        message.push_str(": ");
        message.push_str(&cause.to_string());
        source = cause.source();
    }
    anyhow::anyhow!(message)
}
