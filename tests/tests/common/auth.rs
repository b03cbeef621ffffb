//! Helpers for tests with authentication on: restart a `dual!` server with auth, with
//! an admin key bootstrapped offline, and send requests with credentials.

use super::{config, Resp, Srv};
use base64::Engine;
use reqwest::Method;
use serde_json::Value;

/// An API key as issued (the secret is only ever seen here and in the issuing response).
#[derive(Debug, Clone)]
pub struct Key {
    pub id: String,
    pub secret: String,
}

impl Key {
    pub fn from_issued(v: &Value) -> Key {
        Key {
            id: v["keyId"].as_str().expect("keyId").to_string(),
            secret: v["secret"].as_str().expect("secret").to_string(),
        }
    }

    /// `Authorization` value for HTTP Basic `key_id:secret`.
    pub fn basic(&self) -> String {
        let raw = format!("{}:{}", self.id, self.secret);
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(raw)
        )
    }

    /// `Authorization` value `Bearer key_id.secret`.
    pub fn bearer(&self) -> String {
        format!("Bearer {}.{}", self.id, self.secret)
    }
}

/// The database URL of a running test server.
pub fn db_url(srv: &Srv) -> String {
    srv.server
        .as_ref()
        .expect("running")
        .state
        .registry
        .store
        .url()
        .to_string()
}

/// Stops `srv`, bootstraps an admin key on its database, and restarts it with auth on.
pub async fn restart_with_auth(srv: &mut Srv) -> Key {
    let url = db_url(srv);
    srv.stop().await;
    let store = accord_server::storage::Store::connect(&url)
        .await
        .expect("store");
    let key = accord_server::auth::bootstrap_admin(&store, "admin", false)
        .await
        .expect("bootstrap")
        .expect("no admin yet");
    store.close().await;
    let key = Key {
        id: key.key_id.clone(),
        secret: key.secret.to_string(),
    };
    let mut cfg = config(&url);
    cfg.auth = true;
    *srv = Srv::start(cfg).await;
    key
}

/// A request with an optional `Authorization` header and an optional JSON body.
pub async fn call(
    srv: &Srv,
    method: Method,
    path: &str,
    authorization: Option<&str>,
    body: Option<Value>,
) -> Resp {
    let mut req = srv.http.request(method, format!("{}{}", srv.base, path));
    if let Some(a) = authorization {
        req = req.header("Authorization", a);
    }
    if let Some(b) = body {
        req = req
            .header("Content-Type", "application/vnd.schemaregistry.v1+json")
            .body(b.to_string());
    }
    let resp = req.send().await.expect("request sent");
    let status = resp.status();
    let content_type = resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let text = resp.text().await.expect("body");
    Resp {
        status,
        content_type,
        text,
    }
}

/// Creates a principal and a key for it (as `admin`), returning the key.
pub async fn principal_with_key(srv: &Srv, admin: &Key, body: Value) -> Key {
    let name = body["name"].as_str().expect("name").to_string();
    call(
        srv,
        Method::POST,
        "/v1/principals",
        Some(&admin.basic()),
        Some(body),
    )
    .await
    .ok();
    let issued = call(
        srv,
        Method::POST,
        &format!("/v1/principals/{name}/keys"),
        Some(&admin.bearer()),
        None,
    )
    .await
    .ok();
    Key::from_issued(&issued)
}
