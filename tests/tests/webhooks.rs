//! Webhook notifications over `/v1/webhooks`, delivered from the transactional outbox to
//! real HTTP receivers (small axum servers in the test): signed events, retries with
//! backoff while a receiver is down (nothing lost), event-type and stream filters,
//! deletion, and no event for a refused registration. Then the promise over time: a
//! failing delivery backs off for the retry window and dies with its last error, its
//! owner (only) may re-send it, and finished rows are pruned after the retention.

mod common;

use common::ORDERS_CONTRACT as ORDERS;

use axum::extract::State as AxState;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use common::{Srv, USER_V1, USER_V2_OPTIONAL, USER_V2_REQUIRED};
use hmac::{Hmac, Mac};
use reqwest::Method;
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const SECRET: &str = "a-shared-signing-key-0123456789";

/// What a receiver got: (headers, body) per request.
#[derive(Default)]
struct Inbox {
    got: Mutex<Vec<(HeaderMap, Vec<u8>)>>,
    /// Requests answered 503 before the receiver starts accepting.
    fail_first: AtomicUsize,
    seen: AtomicUsize,
    /// When each request (accepted or not) arrived.
    times: Mutex<Vec<std::time::Instant>>,
}

impl Inbox {
    fn events(&self) -> Vec<Value> {
        self.got
            .lock()
            .unwrap()
            .iter()
            .map(|(_, b)| serde_json::from_slice(b).expect("event JSON"))
            .collect()
    }
}

async fn receive(
    AxState(inbox): AxState<Arc<Inbox>>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> StatusCode {
    inbox.times.lock().unwrap().push(std::time::Instant::now());
    let n = inbox.seen.fetch_add(1, Ordering::SeqCst);
    if n < inbox.fail_first.load(Ordering::SeqCst) {
        return StatusCode::SERVICE_UNAVAILABLE;
    }
    inbox.got.lock().unwrap().push((headers, body.to_vec()));
    StatusCode::NO_CONTENT
}

/// A receiver on `addr` (port 0: a random one); returns its address.
async fn receiver_on(addr: SocketAddr, inbox: Arc<Inbox>) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind(addr).await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let app = axum::Router::new()
        .route("/hook", post(receive))
        .with_state(inbox);
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    addr
}

async fn receiver(inbox: Arc<Inbox>) -> String {
    let addr = receiver_on(SocketAddr::from(([127, 0, 0, 1], 0)), inbox).await;
    format!("http://{addr}/hook")
}

fn sign(secret: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// Polls `f` until it holds (10 s at most).
async fn eventually<F: FnMut() -> bool>(what: &str, mut f: F) {
    for _ in 0..200 {
        if f() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("timed out waiting for: {what}");
}

async fn subscribe(srv: &Srv, body: Value) -> Value {
    srv.post("/v1/webhooks", body).await.ok()
}

async fn deliveries(srv: &Srv, id: &str) -> Vec<Value> {
    srv.get(&format!("/v1/webhooks/{id}/deliveries"))
        .await
        .ok()
        .as_array()
        .unwrap()
        .clone()
}

async fn apply(srv: &Srv, stream: &str, yaml: &str) -> Value {
    srv.raw(
        Method::PUT,
        &format!("/v1/streams/{stream}/contract"),
        Some(("application/yaml", yaml.to_string())),
    )
    .await
    .ok()
}

/// `dual!` with a fast delivery worker (100 ms backoff base, 50 ms poll).
macro_rules! dual_fast {
    ($name:ident, |$srv:ident| $body:block) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;
            async fn run(db: common::Db) {
                let Some(test_db) = common::TestDb::new(db).await else { return };
                let cfg = accord_server::ServerConfig {
                    webhook_backoff_base: Duration::from_millis(100),
                    webhook_poll: Duration::from_millis(50),
                    ..common::config(&test_db.url)
                };
                #[allow(unused_mut)]
                let mut $srv = Srv::start(cfg).await;
                $body
                $srv.stop().await;
                drop(test_db);
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                run(common::Db::Sqlite).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                run(common::Db::Postgres).await
            }
        }
    };
}

dual_fast!(
    signed_event_delivered_and_refused_change_emits_nothing,
    |srv| {
        let inbox = Arc::new(Inbox::default());
        let url = receiver(inbox.clone()).await;
        let created = subscribe(
            &srv,
            json!({"url": url, "secret": SECRET, "eventTypes": ["schema.registered"]}),
        )
        .await;
        assert_eq!(created["secret"], SECRET);
        let id = created["id"].as_str().unwrap().to_string();
        // The secret is shown once: never in the list.
        let list = srv.get("/v1/webhooks").await.ok();
        assert_eq!(list.as_array().unwrap().len(), 1);
        assert_eq!(list[0]["id"], id.as_str());
        assert!(list[0].get("secret").is_none(), "{list}");

        let reg = srv.register("users-value", USER_V1, json!({})).await;
        eventually("one delivery", || inbox.got.lock().unwrap().len() == 1).await;
        let (headers, body) = inbox.got.lock().unwrap()[0].clone();
        let sig = headers["x-accord-signature"].to_str().unwrap();
        assert_eq!(sig, sign(SECRET, &body), "valid HMAC-SHA256 of the body");
        assert_ne!(sig, sign("another-key-0123456789", &body));
        assert_eq!(headers["x-accord-event"], "schema.registered");
        let event: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(event["type"], "schema.registered");
        assert_eq!(event["subject"], "users-value");
        assert_eq!(event["data"]["version"], 1);
        assert_eq!(event["data"]["id"], reg["id"]);
        assert!(event["stream"].is_null());
        assert!(event["occurredAt"].as_str().unwrap().ends_with('Z'));
        let delivery_header = headers["x-accord-delivery"].to_str().unwrap();
        assert!(delivery_header.starts_with(event["id"].as_str().unwrap()));

        eventually_delivered(&srv, &id, 1).await;
        let d = deliveries(&srv, &id).await;
        assert_eq!(d[0]["attempts"], 1);
        assert_eq!(d[0]["lastStatusCode"], 204);
        assert_eq!(d[0]["eventId"], event["id"]);

        // Refused (incompatible, 409): its transaction rolls back, no event.
        srv.post(
            "/subjects/users-value/versions",
            json!({"schema": USER_V2_REQUIRED}),
        )
        .await
        .assert_error(409, 40901);
        // Re-registering the same schema creates no version: no event either.
        srv.register("users-value", USER_V1, json!({})).await;
        tokio::time::sleep(Duration::from_millis(400)).await;
        assert_eq!(deliveries(&srv, &id).await.len(), 1);
        assert_eq!(inbox.got.lock().unwrap().len(), 1);

        // A compatible one is delivered.
        srv.register("users-value", USER_V2_OPTIONAL, json!({}))
            .await;
        eventually("second delivery", || inbox.got.lock().unwrap().len() == 2).await;
        assert_eq!(inbox.events()[1]["data"]["version"], 2);

        // The mutations are audited.
        let audit = srv.get("/v1/audit").await.ok();
        let text = audit.to_string();
        assert!(text.contains("webhook.create"), "{text}");
    }
);

async fn eventually_delivered(srv: &Srv, id: &str, n: usize) {
    for _ in 0..200 {
        let d = deliveries(srv, id).await;
        if d.len() == n && d.iter().all(|d| d["status"] == "delivered") {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!(
        "deliveries not all delivered: {:?}",
        deliveries(srv, id).await
    );
}

dual_fast!(receiver_down_then_up_loses_nothing, |srv| {
    // A port with nothing listening: connections are refused.
    let probe = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = probe.local_addr().unwrap();
    drop(probe);
    let created = subscribe(
        &srv,
        json!({"url": format!("http://{addr}/hook"), "eventTypes": ["*"]}),
    )
    .await;
    let id = created["id"].as_str().unwrap().to_string();
    let secret = created["secret"].as_str().unwrap().to_string();
    assert_eq!(secret.len(), 64, "a generated secret is returned once");

    for (i, subject) in ["a-value", "b-value", "c-value"].iter().enumerate() {
        srv.register(subject, USER_V1, json!({})).await;
        let _ = i;
    }
    // Attempts fail and are retried with backoff; the status says so.
    let mut seen_retry = false;
    for _ in 0..200 {
        let d = deliveries(&srv, &id).await;
        if d.len() == 3
            && d.iter().all(|d| {
                d["status"] == "pending"
                    && d["attempts"].as_i64().unwrap() >= 2
                    && d["lastError"].is_string()
                    && d["nextAttemptAt"].is_i64()
            })
        {
            seen_retry = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(seen_retry, "{:?}", deliveries(&srv, &id).await);

    // The receiver comes up, answering 503 twice before it accepts.
    let inbox = Arc::new(Inbox::default());
    inbox.fail_first.store(2, Ordering::SeqCst);
    receiver_on(addr, inbox.clone()).await;
    eventually_delivered(&srv, &id, 3).await;
    let d = deliveries(&srv, &id).await;
    assert!(
        d.iter().all(|d| d["attempts"].as_i64().unwrap() > 1),
        "{d:?}"
    );
    let mut subjects: Vec<String> = inbox
        .events()
        .iter()
        .map(|e| e["subject"].as_str().unwrap().to_string())
        .collect();
    subjects.sort();
    subjects.dedup();
    assert_eq!(subjects, ["a-value", "b-value", "c-value"]);
    for (headers, body) in inbox.got.lock().unwrap().iter() {
        assert_eq!(
            headers["x-accord-signature"].to_str().unwrap(),
            sign(&secret, body)
        );
    }
});

dual_fast!(filters_and_delete_stop_deliveries, |srv| {
    let contracts = Arc::new(Inbox::default());
    let schemas = Arc::new(Inbox::default());
    let orders_only = Arc::new(Inbox::default());
    let c = subscribe(
        &srv,
        json!({"url": receiver(contracts.clone()).await,
               "eventTypes": ["contract.changed", "stream.deprecated", "consumer.added"]}),
    )
    .await;
    let s = subscribe(
        &srv,
        json!({"url": receiver(schemas.clone()).await, "eventTypes": ["schema.registered"]}),
    )
    .await;
    let o = subscribe(
        &srv,
        json!({"url": receiver(orders_only.clone()).await, "eventTypes": ["*"], "stream": "orders"}),
    )
    .await;

    srv.register("other-value", USER_V1, json!({})).await;
    apply(&srv, "orders", ORDERS).await;
    srv.register("orders-value", USER_V1, json!({})).await;
    srv.post(
        "/v1/streams/orders/consumers",
        json!({"service": "billing", "team": "finance"}),
    )
    .await
    .ok();
    let deprecated = ORDERS
        .replace("version: 1.0.0", "version: 2.0.0")
        .replace("status: active", "status: deprecated")
        + "  - property: accord.lifecycle\n    value: { sunsetDate: \"2027-01-31\", successor: orders-v2 }\n";
    apply(&srv, "orders", &deprecated).await;

    eventually_delivered(&srv, c["id"].as_str().unwrap(), 4).await;
    eventually_delivered(&srv, s["id"].as_str().unwrap(), 2).await;
    eventually_delivered(&srv, o["id"].as_str().unwrap(), 5).await;
    let types = |inbox: &Inbox| {
        let mut t: Vec<String> = inbox
            .events()
            .iter()
            .map(|e| e["type"].as_str().unwrap().to_string())
            .collect();
        t.sort();
        t
    };
    assert_eq!(
        types(&contracts),
        [
            "consumer.added",
            "contract.changed",
            "contract.changed",
            "stream.deprecated"
        ]
    );
    assert_eq!(types(&schemas), ["schema.registered", "schema.registered"]);
    // The stream filter: everything about orders, not other-value's registration.
    assert_eq!(
        types(&orders_only),
        [
            "consumer.added",
            "contract.changed",
            "contract.changed",
            "schema.registered",
            "stream.deprecated"
        ]
    );
    let dep = orders_only
        .events()
        .into_iter()
        .find(|e| e["type"] == "stream.deprecated")
        .unwrap();
    assert_eq!(dep["stream"], "orders");
    assert_eq!(dep["data"]["successor"], "orders-v2");

    // Deleted: no further deliveries.
    let sid = s["id"].as_str().unwrap();
    let removed = srv.delete(&format!("/v1/webhooks/{sid}")).await.ok();
    assert_eq!(removed["id"], sid);
    srv.register("other-value", USER_V2_OPTIONAL, json!({}))
        .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(schemas.got.lock().unwrap().len(), 2);
    srv.get(&format!("/v1/webhooks/{sid}/deliveries"))
        .await
        .assert_error(404, 40430);
    srv.delete(&format!("/v1/webhooks/{sid}"))
        .await
        .assert_error(404, 40430);
    assert_eq!(
        srv.get("/v1/webhooks").await.ok().as_array().unwrap().len(),
        2
    );
});

dual_fast!(invalid_subscriptions_are_422, |srv| {
    for (body, needle) in [
        (
            json!({"url": "ftp://example.com/x", "eventTypes": ["*"]}),
            "http or https",
        ),
        (
            json!({"url": "not a url", "eventTypes": ["*"]}),
            "not a valid absolute URL",
        ),
        (
            json!({"url": "http://example.com/x", "eventTypes": ["schema.exploded"]}),
            "unknown event type 'schema.exploded'",
        ),
        (
            json!({"url": "http://example.com/x", "eventTypes": []}),
            "eventTypes",
        ),
        (
            json!({"url": "http://example.com/x", "eventTypes": ["*"], "secret": "short"}),
            "secret",
        ),
    ] {
        let msg = srv
            .post("/v1/webhooks", body.clone())
            .await
            .assert_error(422, 42230);
        assert!(msg.contains(needle), "{body}: {msg}");
    }
    srv.post("/v1/webhooks", json!({"eventTypes": ["*"]}))
        .await
        .assert_error(400, 400);
    assert_eq!(
        srv.get("/v1/webhooks").await.ok(),
        json!([]),
        "nothing was created"
    );
});

dual!(readers_may_not_subscribe_members_may, |srv| {
    use common::auth::{call, principal_with_key, restart_with_auth};
    let admin = restart_with_auth(&mut srv).await;
    let reader = principal_with_key(
        &srv,
        &admin,
        json!({"name": "rita", "role": "reader", "kind": "user"}),
    )
    .await;
    let member = principal_with_key(
        &srv,
        &admin,
        json!({"name": "orders-svc", "role": "member", "kind": "service", "team": "orders"}),
    )
    .await;
    let body =
        json!({"url": "https://hooks.example/accord", "eventTypes": ["*"], "stream": "orders"});
    call(&srv, Method::POST, "/v1/webhooks", None, Some(body.clone()))
        .await
        .assert_error(401, 401);
    call(
        &srv,
        Method::POST,
        "/v1/webhooks",
        Some(&reader.basic()),
        Some(body.clone()),
    )
    .await
    .assert_error(403, 40301);
    let created = call(
        &srv,
        Method::POST,
        "/v1/webhooks",
        Some(&member.bearer()),
        Some(body),
    )
    .await
    .ok();
    assert_eq!(created["createdBy"], "orders-svc");
    let id = created["id"].as_str().unwrap();
    call(
        &srv,
        Method::DELETE,
        &format!("/v1/webhooks/{id}"),
        Some(&reader.basic()),
        None,
    )
    .await
    .assert_error(403, 40301);
    call(
        &srv,
        Method::DELETE,
        &format!("/v1/webhooks/{id}"),
        Some(&admin.basic()),
        None,
    )
    .await
    .ok();
    let audit = call(&srv, Method::GET, "/v1/audit", Some(&admin.basic()), None)
        .await
        .ok()
        .to_string();
    assert!(
        audit.contains("webhook.create") && audit.contains("webhook.delete"),
        "{audit}"
    );
    assert!(audit.contains("orders-svc"), "{audit}");
});

/// Two nodes on one PostgreSQL: both workers claim from the same outbox; every event
/// reaches the receiver, each delivery is recorded once as delivered.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_nodes_share_the_outbox() {
    let Some(db) = common::TestDb::new(common::Db::Postgres).await else {
        return;
    };
    let fast = |url: &str| accord_server::ServerConfig {
        webhook_backoff_base: Duration::from_millis(100),
        webhook_poll: Duration::from_millis(20),
        ..common::config(url)
    };
    let mut a = Srv::start(fast(&db.url)).await;
    let mut b = Srv::start(fast(&db.url)).await;
    let inbox = Arc::new(Inbox::default());
    let created = subscribe(
        &a,
        json!({"url": receiver(inbox.clone()).await, "eventTypes": ["schema.registered"]}),
    )
    .await;
    let id = created["id"].as_str().unwrap().to_string();
    for i in 0..20 {
        let node = if i % 2 == 0 { &a } else { &b };
        node.register(&format!("s{i}-value"), USER_V1, json!({}))
            .await;
    }
    eventually_delivered(&b, &id, 20).await;
    let mut subjects: Vec<String> = inbox
        .events()
        .iter()
        .map(|e| e["subject"].as_str().unwrap().to_string())
        .collect();
    subjects.sort();
    subjects.dedup();
    assert_eq!(subjects.len(), 20);
    assert!(deliveries(&a, &id).await.iter().all(|d| d["attempts"] == 1));
    a.stop().await;
    b.stop().await;
}

/// By default a subscription cannot make the server call into its own network: internal
/// addresses are refused when subscribing (422 naming the address), and a subscription
/// made while they were allowed is refused at delivery, recorded on the delivery. (Names
/// that resolve to internal addresses are refused by the delivery worker's resolver; its
/// unit test is in server/src/webhooks.rs.)
async fn internal_addresses(db: common::Db) {
    let Some(test_db) = common::TestDb::new(db).await else {
        return;
    };
    let strict = || accord_server::ServerConfig {
        webhook_allow_private: false,
        webhook_backoff_base: Duration::from_millis(100),
        webhook_poll: Duration::from_millis(50),
        ..common::config(&test_db.url)
    };
    let mut srv = Srv::start(strict()).await;
    for url in [
        "http://127.0.0.1:9/hook",
        "http://localhost:9/hook",
        "http://169.254.169.254/latest/meta-data",
        "http://10.1.2.3/hook",
        "http://192.168.0.10/hook",
        "http://[::1]:9/hook",
        "http://[::ffff:127.0.0.1]/hook",
        "http://[fd00::1]/hook",
    ] {
        let msg = srv
            .post("/v1/webhooks", json!({"url": url, "eventTypes": ["*"]}))
            .await
            .assert_error(422, 42230);
        assert!(
            msg.contains("internal address") && msg.contains("--webhook-allow-private"),
            "{url}: {msg}"
        );
    }
    subscribe(
        &srv,
        json!({"url": "https://hooks.example.com/accord", "eventTypes": ["contract.changed"]}),
    )
    .await;
    srv.stop().await;

    // Made while allowed, delivered while not: refused, and the delivery says why.
    let mut open = Srv::start(common::config(&test_db.url)).await;
    let created = subscribe(
        &open,
        json!({"url": "http://127.0.0.1:9/hook", "eventTypes": ["schema.registered"]}),
    )
    .await;
    open.stop().await;
    let id = created["id"].as_str().unwrap().to_string();
    let mut srv = Srv::start(strict()).await;
    srv.register("s-value", USER_V1, json!({})).await;
    let mut last = Vec::new();
    for _ in 0..100 {
        last = deliveries(&srv, &id).await;
        if last.iter().any(|d| d["lastError"].is_string()) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let err = last[0]["lastError"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(err.contains("127.0.0.1 is an internal address"), "{last:?}");
    srv.stop().await;
    drop(test_db);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn internal_addresses_are_refused_sqlite() {
    internal_addresses(common::Db::Sqlite).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn internal_addresses_are_refused_postgres() {
    internal_addresses(common::Db::Postgres).await
}

// ---- retry window, dead deliveries, re-send, pruning ----

/// `dual!` with the server configuration `$cfg` (a function of the database URL).
macro_rules! dual_cfg {
    ($name:ident, $cfg:expr, |$srv:ident| $body:block) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;
            async fn run(db: common::Db) {
                let Some(test_db) = common::TestDb::new(db).await else { return };
                let cfg: fn(&str) -> accord_server::ServerConfig = $cfg;
                #[allow(unused_mut)]
                let mut $srv = Srv::start(cfg(&test_db.url)).await;
                $body
                $srv.stop().await;
                drop(test_db);
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                run(common::Db::Sqlite).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                run(common::Db::Postgres).await
            }
        }
    };
}

/// Backoff from 50 ms, a 2 s retry window, a 50 ms poll (retention: the default week).
fn short_window(url: &str) -> accord_server::ServerConfig {
    accord_server::ServerConfig {
        webhook_backoff_base: Duration::from_millis(50),
        webhook_retry_window: Duration::from_secs(2),
        webhook_poll: Duration::from_millis(50),
        ..common::config(url)
    }
}

/// An inbox whose receiver answers 503 until `fail_first` is lowered.
fn failing_inbox() -> Arc<Inbox> {
    let inbox = Arc::new(Inbox::default());
    inbox.fail_first.store(usize::MAX, Ordering::SeqCst);
    inbox
}

/// Polls the deliveries of `id` (with `auth` credentials, if any) until `f` holds for
/// them (15 s at most); returns them.
async fn wait_deliveries<F: Fn(&[Value]) -> bool>(
    srv: &Srv,
    auth: Option<&str>,
    id: &str,
    what: &str,
    f: F,
) -> Vec<Value> {
    let mut last = Vec::new();
    for _ in 0..300 {
        last = common::auth::call(
            srv,
            Method::GET,
            &format!("/v1/webhooks/{id}/deliveries"),
            auth,
            None,
        )
        .await
        .ok()
        .as_array()
        .cloned()
        .unwrap_or_default();
        if f(&last) {
            return last;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("timed out waiting for {what}: {last:?}");
}

fn resend_path(id: &str, seq: &Value) -> String {
    format!("/v1/webhooks/{id}/deliveries/{seq}/resend")
}

dual_cfg!(
    failing_delivery_backs_off_then_dies_and_is_resent,
    short_window,
    |srv| {
        let inbox = failing_inbox();
        let created = subscribe(
            &srv,
            json!({"url": receiver(inbox.clone()).await, "eventTypes": ["schema.registered"]}),
        )
        .await;
        let id = created["id"].as_str().unwrap().to_string();
        srv.register("users-value", USER_V1, json!({})).await;

        let d = wait_deliveries(&srv, None, &id, "a dead delivery", |d| {
            d.len() == 1 && d[0]["status"] == "dead"
        })
        .await;
        let dead = &d[0];
        assert_eq!(dead["lastStatusCode"], 503, "{dead}");
        assert_eq!(dead["lastError"], "HTTP 503 Service Unavailable", "{dead}");
        assert!(dead["deadAt"].is_i64(), "{dead}");
        assert!(dead.get("nextAttemptAt").is_none(), "{dead}");
        assert!(dead.get("deliveredAt").is_none(), "{dead}");
        let attempts = dead["attempts"].as_u64().unwrap() as usize;
        assert_eq!(attempts, inbox.seen.load(Ordering::SeqCst), "{dead}");

        // Retried with growing gaps (each at least the doubled backoff: 50, 100, 200, ...
        // ms), the last one cut short by the window's end, where the last attempt is made.
        let times = inbox.times.lock().unwrap().clone();
        assert!(times.len() >= 4, "only {} attempts", times.len());
        let gaps: Vec<u128> = times
            .windows(2)
            .map(|w| (w[1] - w[0]).as_millis())
            .collect();
        for (i, gap) in gaps.iter().enumerate().take(gaps.len() - 1) {
            assert!(*gap + 15 >= 50 << i, "gap {i} is {gap} ms: {gaps:?}");
        }
        assert!(gaps[gaps.len() - 2] > gaps[0], "{gaps:?}");
        let span = (times[times.len() - 1] - times[0]).as_millis();
        assert!(
            (1_850..6_000).contains(&span),
            "attempts over {span} ms for a 2 s window: {gaps:?}"
        );

        // Dead: no attempts after that.
        tokio::time::sleep(Duration::from_millis(600)).await;
        assert_eq!(inbox.seen.load(Ordering::SeqCst), attempts);
        assert_eq!(deliveries(&srv, &id).await[0]["status"], "dead");

        // Re-sent: pending again with a fresh window; while pending, a second re-send is 409.
        let seq = dead["eventSeq"].clone();
        let again = srv.post(&resend_path(&id, &seq), json!({})).await.ok();
        assert_eq!(again["status"], "pending", "{again}");
        assert_eq!(again["attempts"], 0, "{again}");
        assert!(again["nextAttemptAt"].is_i64(), "{again}");
        srv.post(&resend_path(&id, &seq), json!({}))
            .await
            .assert_error(409, 40930);
        wait_deliveries(&srv, None, &id, "a retried delivery", |d| {
            d[0]["status"] == "pending" && d[0]["attempts"].as_u64() >= Some(1)
        })
        .await;

        // The receiver works again: delivered, once.
        inbox.fail_first.store(0, Ordering::SeqCst);
        let d = wait_deliveries(&srv, None, &id, "the re-sent delivery", |d| {
            d[0]["status"] == "delivered"
        })
        .await;
        assert_eq!(d[0]["lastStatusCode"], 204, "{d:?}");
        assert!(d[0].get("lastError").is_none(), "{d:?}");
        assert!(d[0].get("deadAt").is_none(), "{d:?}");
        assert_eq!(inbox.events().len(), 1);
        assert_eq!(inbox.events()[0]["id"], dead["eventId"]);

        // A delivered one may be re-sent too (the receiver lost it): same event, same
        // delivery id.
        srv.post(&resend_path(&id, &seq), json!({})).await.ok();
        eventually("the event again", || inbox.got.lock().unwrap().len() == 2).await;
        let got = inbox.got.lock().unwrap().clone();
        assert_eq!(got[0].1, got[1].1, "the same body");
        assert_eq!(got[0].0["x-accord-delivery"], got[1].0["x-accord-delivery"]);

        // Unknown deliveries and subscriptions.
        srv.post(&resend_path(&id, &json!(999)), json!({}))
            .await
            .assert_error(404, 40431);
        srv.post(&resend_path("no-such-hook", &seq), json!({}))
            .await
            .assert_error(404, 40430);
        let audit = srv.get("/v1/audit?limit=1000").await.ok().to_string();
        assert_eq!(audit.matches("\"webhook.resend\"").count(), 2, "{audit}");
    }
);

/// Stops `srv` and starts it again on its database with `cfg` and auth on, with an
/// admin key bootstrapped offline (as `common::auth::restart_with_auth`, with our config).
async fn restart_with_auth_and(
    srv: &mut Srv,
    cfg: fn(&str) -> accord_server::ServerConfig,
) -> common::auth::Key {
    let url = common::auth::db_url(srv);
    srv.stop().await;
    let store = accord_server::storage::Store::connect(&url)
        .await
        .expect("store");
    let key = accord_server::auth::bootstrap_admin(&store, "admin", false)
        .await
        .expect("bootstrap")
        .expect("no admin yet");
    store.close().await;
    let mut config = cfg(&url);
    config.auth = true;
    *srv = Srv::start(config).await;
    common::auth::Key {
        id: key.key_id.clone(),
        secret: key.secret.to_string(),
    }
}

dual!(only_the_owner_may_resend, |srv| {
    use common::auth::{call, principal_with_key};
    fn one_second(url: &str) -> accord_server::ServerConfig {
        accord_server::ServerConfig {
            webhook_retry_window: Duration::from_secs(1),
            ..short_window(url)
        }
    }
    let admin = restart_with_auth_and(&mut srv, one_second).await;
    let mut keys = Vec::new();
    for body in [
        json!({"name": "orders-svc", "role": "member", "kind": "service", "team": "orders"}),
        json!({"name": "olga", "role": "member", "kind": "user", "team": "orders"}),
        json!({"name": "payments-svc", "role": "member", "kind": "service", "team": "payments"}),
        json!({"name": "rita", "role": "reader", "kind": "user"}),
    ] {
        keys.push(principal_with_key(&srv, &admin, body).await);
    }
    let [creator, teammate, other, reader] = <[_; 4]>::try_from(keys).unwrap();

    let inbox = failing_inbox();
    let created = call(
        &srv,
        Method::POST,
        "/v1/webhooks",
        Some(&creator.bearer()),
        Some(json!({"url": receiver(inbox.clone()).await, "eventTypes": ["schema.registered"]})),
    )
    .await
    .ok();
    assert_eq!(created["createdBy"], "orders-svc");
    assert_eq!(created["ownerTeam"], "orders");
    let id = created["id"].as_str().unwrap().to_string();
    call(
        &srv,
        Method::POST,
        "/subjects/users-value/versions",
        Some(&admin.basic()),
        Some(json!({"schema": USER_V1})),
    )
    .await
    .ok();
    let auth = admin.basic();
    let d = wait_deliveries(&srv, Some(&auth), &id, "a dead delivery", |d| {
        d.len() == 1 && d[0]["status"] == "dead"
    })
    .await;
    let path = resend_path(&id, &d[0]["eventSeq"]);

    // Another team's member: 403, audited; a reader: 403 (readers write nothing).
    let msg = call(&srv, Method::POST, &path, Some(&other.basic()), None)
        .await
        .assert_error(403, 40301);
    assert!(
        msg.contains("payments-svc") && msg.contains("orders"),
        "{msg}"
    );
    call(&srv, Method::POST, &path, Some(&reader.basic()), None)
        .await
        .assert_error(403, 40301);
    let audit = call(&srv, Method::GET, "/v1/audit?limit=1000", Some(&auth), None)
        .await
        .ok();
    let denied: Vec<&Value> = audit
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "webhook.resend.denied")
        .collect();
    assert_eq!(denied.len(), 1, "{audit}");
    assert_eq!(denied[0]["principal"], "payments-svc");
    let still = wait_deliveries(&srv, Some(&auth), &id, "", |_| true).await;
    assert_eq!(still[0]["status"], "dead", "the refusal changed nothing");
    assert_eq!(still[0]["attempts"], d[0]["attempts"]);

    // A member of the creator's team may; it is delivered once the receiver works.
    let pending = call(&srv, Method::POST, &path, Some(&teammate.basic()), None)
        .await
        .ok();
    assert_eq!(pending["status"], "pending");
    inbox.fail_first.store(0, Ordering::SeqCst);
    wait_deliveries(&srv, Some(&auth), &id, "delivered", |d| {
        d[0]["status"] == "delivered"
    })
    .await;
    // So may the creator and an admin.
    for who in [&creator, &admin] {
        call(&srv, Method::POST, &path, Some(&who.bearer()), None)
            .await
            .ok();
        wait_deliveries(&srv, Some(&auth), &id, "delivered", |d| {
            d[0]["status"] == "delivered"
        })
        .await;
    }
    assert_eq!(inbox.got.lock().unwrap().len(), 3);
    let audit = call(&srv, Method::GET, "/v1/audit?limit=1000", Some(&auth), None)
        .await
        .ok();
    let resent: Vec<&str> = audit
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "webhook.resend")
        .map(|e| e["principal"].as_str().unwrap())
        .collect();
    assert_eq!(resent, ["olga", "orders-svc", "admin"], "{audit}");
});

/// Row counts straight from the database.
async fn rows(srv: &Srv, sql: &str) -> Vec<i64> {
    let store = &srv.server.as_ref().unwrap().state.registry.store;
    sqlx::query_scalar::<_, i64>(sql)
        .fetch_all(store.reader())
        .await
        .unwrap()
}

/// A 60 s retry window (failing deliveries stay pending) and a 1 s retention.
fn short_retention(url: &str) -> accord_server::ServerConfig {
    accord_server::ServerConfig {
        webhook_backoff_base: Duration::from_millis(50),
        webhook_retry_window: Duration::from_secs(60),
        webhook_retention: Duration::from_secs(1),
        webhook_poll: Duration::from_millis(50),
        ..common::config(url)
    }
}

dual_cfg!(
    finished_deliveries_and_their_events_are_pruned,
    short_retention,
    |srv| {
        let good = Arc::new(Inbox::default());
        let bad = failing_inbox();
        let g = subscribe(
            &srv,
            json!({"url": receiver(good.clone()).await, "eventTypes": ["*"]}),
        )
        .await;
        let b = subscribe(
            &srv,
            json!({"url": receiver(bad.clone()).await, "eventTypes": ["schema.registered"]}),
        )
        .await;
        let (gid, bid) = (g["id"].as_str().unwrap(), b["id"].as_str().unwrap());
        // A contract event (the good subscription only), then two registrations (both).
        apply(&srv, "orders", ORDERS).await;
        srv.register("a-value", USER_V1, json!({})).await;
        srv.register("b-value", USER_V1, json!({})).await;
        let events = rows(&srv, "SELECT seq FROM outbox ORDER BY seq").await;
        let registrations = rows(
            &srv,
            "SELECT seq FROM outbox WHERE event_type = 'schema.registered' ORDER BY seq",
        )
        .await;
        assert_eq!(registrations.len(), 2);
        assert!(events.len() > 2, "{events:?}");
        let all = events.len();
        wait_deliveries(&srv, None, gid, "all delivered", |d| {
            d.len() == all && d.iter().all(|d| d["status"] == "delivered")
        })
        .await;

        // After the retention: the delivered rows are gone, the events only they needed
        // too; the pending deliveries (older than the retention as well) and their events
        // are kept.
        let sub_rows = |id: &str| {
            format!("SELECT COUNT(*) FROM webhook_deliveries WHERE subscription_id = '{id}'")
        };
        for _ in 0..300 {
            if rows(&srv, &sub_rows(gid)).await == [0] {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert_eq!(
            rows(&srv, &sub_rows(gid)).await,
            [0],
            "delivered rows pruned"
        );
        assert_eq!(deliveries(&srv, gid).await, Vec::<Value>::new());
        eventually_rows(&srv, "SELECT seq FROM outbox ORDER BY seq", &registrations).await;
        assert_eq!(
            rows(
                &srv,
                "SELECT COUNT(*) FROM webhook_deliveries WHERE status = 'pending'"
            )
            .await,
            [2]
        );
        let pending = deliveries(&srv, bid).await;
        assert_eq!(pending.len(), 2, "{pending:?}");
        assert!(
            pending.iter().all(|d| d["status"] == "pending"),
            "{pending:?}"
        );
        assert!(bad.seen.load(Ordering::SeqCst) >= 2);

        // With no retry window the failing deliveries die and are pruned in turn, with
        // their events, but for the newest one: event numbers are never reused.
        let url = common::auth::db_url(&srv);
        srv.stop().await;
        srv = Srv::start(accord_server::ServerConfig {
            webhook_retry_window: Duration::ZERO,
            ..short_retention(&url)
        })
        .await;
        let newest = registrations[1];
        eventually_rows(&srv, "SELECT COUNT(*) FROM webhook_deliveries", &[0]).await;
        eventually_rows(&srv, "SELECT seq FROM outbox", &[newest]).await;
        srv.register("c-value", USER_V1, json!({})).await;
        assert_eq!(
            rows(&srv, "SELECT seq FROM outbox ORDER BY seq").await,
            [newest, newest + 1]
        );
    }
);

/// Polls `sql` until it answers `want` (15 s at most).
async fn eventually_rows(srv: &Srv, sql: &str, want: &[i64]) {
    let mut last = Vec::new();
    for _ in 0..300 {
        last = rows(srv, sql).await;
        if last == want {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{sql}: {last:?}, expected {want:?}");
}
