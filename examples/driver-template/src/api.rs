//! The pretend cloud's REST API. REPLACE THIS MODULE with your cloud's API (or its SDK): keep
//! the shape — one method per thing the driver does, every failure a `DriverError` of the right
//! kind with a message that says what to do.
//!
//! All requests carry `Authorization: Bearer TOKEN`; bodies are JSON.
//!
//! | request | answer |
//! | --- | --- |
//! | `POST /servers` `{name, size, image, user_data, tags: {"machine-creation-id": ID}}` | `{id}` |
//! | `GET /servers/{id}` | `{id, status, ip}`, status `starting`, `running`, `stopping` or `stopped`; 404 when gone |
//! | `GET /servers?tag=ID` | `[{id, ...}]`: the servers tagged with creation id ID |
//! | `POST /servers/{id}/actions/{start\|stop\|reboot\|poweroff}` | 2xx |
//! | `DELETE /servers/{id}` | 2xx; 404 when already gone |

use driver_protocol::{DriverError as Error, ErrorKind};
use reqwest::{RequestBuilder, Response, Url};
use serde::Deserialize;
use serde_json::Value;
use std::time::Duration;

/// The tag that carries the host's creation id, so `remove` finds what an interrupted create made.
pub const CREATION_TAG: &str = "machine-creation-id";

/// A server as the API describes it (your cloud's fields here).
#[derive(Debug, Deserialize)]
pub struct Server {
    pub id: String,
    #[serde(default)]
    pub status: String,
    #[serde(default)]
    pub ip: Option<String>,
}

/// A client of the API at one endpoint with one token.
pub struct Api {
    http: reqwest::Client,
    base: Url,
    token: String,
}

impl Api {
    /// A client of `url` (checked: https, or http to a local fake on loopback only).
    pub fn new(url: &str, token: &str) -> Result<Api, Error> {
        let base = check_url(url)?;
        let mut http = reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .redirect(reqwest::redirect::Policy::none()); // never send the token elsewhere
        if is_loopback(&base) {
            http = http.no_proxy(); // a local fake is never behind the user's proxy
        }
        let http = http
            .build()
            .map_err(|e| Error::internal(format!("cannot set up an HTTP client: {e}")))?;
        Ok(Api {
            http,
            base,
            token: token.to_string(),
        })
    }

    /// Creates a server from `spec`; answers its id.
    pub async fn create(&self, spec: &Value) -> Result<String, Error> {
        let req = self.http.post(self.url("servers")).json(spec);
        let s: Server = json(self.send(req, "creating a server").await?).await?;
        Ok(s.id)
    }

    /// Server `id`; `not-found` when it is gone.
    pub async fn get(&self, id: &str) -> Result<Server, Error> {
        let req = self.http.get(self.url(&format!("servers/{id}")));
        json(self.send(req, &format!("server {id}")).await?).await
    }

    /// The ids of the servers tagged with creation id `tag`.
    pub async fn tagged(&self, tag: &str) -> Result<Vec<String>, Error> {
        let req = self.http.get(self.url("servers")).query(&[("tag", tag)]);
        let servers: Vec<Server> = json(self.send(req, "listing servers").await?).await?;
        Ok(servers.into_iter().map(|s| s.id).collect())
    }

    /// Runs `action` (`start`, `stop`, `reboot`, `poweroff`) on server `id`.
    pub async fn action(&self, id: &str, action: &str) -> Result<(), Error> {
        let req = self
            .http
            .post(self.url(&format!("servers/{id}/actions/{action}")));
        self.send(req, &format!("server {id}")).await.map(drop)
    }

    /// Deletes server `id`; one already gone is done.
    pub async fn delete(&self, id: &str) -> Result<(), Error> {
        let req = self.http.delete(self.url(&format!("servers/{id}")));
        match self.send(req, &format!("server {id}")).await {
            Err(e) if e.kind == ErrorKind::NotFound => Ok(()),
            other => other.map(drop),
        }
    }

    fn url(&self, path: &str) -> Url {
        let mut url = self.base.clone();
        url.set_path(&format!(
            "{}/{path}",
            self.base.path().trim_end_matches('/')
        ));
        url
    }

    /// Sends `req` with the token; an HTTP error becomes the error kind the host acts on.
    async fn send(&self, req: RequestBuilder, what: &str) -> Result<Response, Error> {
        let resp = req.bearer_auth(&self.token).send().await.map_err(|e| {
            let kind = match e.is_timeout() {
                true => ErrorKind::Timeout,
                false => ErrorKind::Unreachable,
            };
            let (mut why, mut source) = (e.to_string(), std::error::Error::source(&e));
            while let Some(s) = source {
                why = format!("{why}: {s}"); // reqwest's own message leaves out the cause
                source = s.source();
            }
            let hint = "check --template-api-url and your network, then try again";
            Error::new(kind, format!("{what}: cannot reach the API: {why}; {hint}"))
        })?;
        let status = resp.status();
        if status.is_success() {
            return Ok(resp);
        }
        let body: String = resp
            .text()
            .await
            .unwrap_or_default()
            .chars()
            .take(300)
            .collect();
        Err(match status.as_u16() {
            401 | 403 => Error::auth_failed(format!(
                "{what}: the API refused the token ({status}): check --template-token \
                 (TEMPLATE_TOKEN) and that it may manage servers"
            )),
            404 => Error::not_found(format!(
                "{what}: not found ({status}); it was deleted outside machine, or \
                 --template-api-url points at another API"
            )),
            _ => Error::internal(format!(
                "{what}: the API answered {status}: {body}; try again later, or ask your cloud"
            )),
        })
    }
}

async fn json<T: serde::de::DeserializeOwned>(resp: Response) -> Result<T, Error> {
    let url = resp.url().clone();
    resp.json()
        .await
        .map_err(|e| Error::internal(format!("the API's answer to {url} is not understood: {e}")))
}

/// The API's address: https, or plain http only to a fake on this computer (tokens must not
/// cross a network in the clear).
pub fn check_url(url: &str) -> Result<Url, Error> {
    let bad = |why: &str| Error::invalid_option(format!("--template-api-url {url:?} {why}"));
    let parsed = Url::parse(url).map_err(|e| bad(&format!("is not a URL: {e}")))?;
    match parsed.scheme() {
        "https" => Ok(parsed),
        "http" if is_loopback(&parsed) => Ok(parsed),
        _ => Err(bad(
            "must be https:// (http:// only to a local fake on 127.0.0.1)",
        )),
    }
}

fn is_loopback(url: &Url) -> bool {
    let host = url.host_str().unwrap_or_default();
    let ip = host.trim_start_matches('[').trim_end_matches(']');
    host == "localhost"
        || ip
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}
