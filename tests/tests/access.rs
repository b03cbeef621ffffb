//! Access control around streams with auth on: the owner's approval of consumers, who
//! may register a consumer, the stream-owner rule on the registry's other writes to a
//! stream's subjects, and `accord.access.read: restricted`.

mod common;

use common::auth::{call, principal_with_key, restart_with_auth, Key};
use common::{Srv, USER_V1};
use reqwest::Method;
use serde_json::{json, Value};

const CONTRACT: &str = "apiVersion: v3.1.0
kind: DataContract
id: STREAM-contract
version: 1.0.0
status: active
team:
  name: checkout
support:
  - channel: checkout-oncall
    tool: email
    url: mailto:checkout@acme.example
customProperties:
  - property: accord.stream
    value: { name: STREAM }
";

async fn apply(srv: &Srv, who: &Key, stream: &str, yaml: &str) {
    let resp = srv
        .http
        .put(format!("{}/v1/streams/{stream}/contract", srv.base))
        .header("Authorization", who.basic())
        .header("Content-Type", "application/yaml")
        .body(yaml.replace("STREAM", stream))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200, "{}", resp.text().await.unwrap());
}

/// An admin, a member of the owning team (checkout) and one of another (payments).
async fn setup(srv: &mut Srv) -> (Key, Key, Key) {
    let admin = restart_with_auth(srv).await;
    let owner = principal_with_key(
        srv,
        &admin,
        json!({"name": "checkout-svc", "role": "member", "kind": "service", "team": "checkout"}),
    )
    .await;
    let other = principal_with_key(
        srv,
        &admin,
        json!({"name": "payments-svc", "role": "member", "kind": "service", "team": "payments"}),
    )
    .await;
    (admin, owner, other)
}

async fn req(
    srv: &Srv,
    who: &Key,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> common::Resp {
    call(srv, method, path, Some(&who.basic()), body).await
}

async fn outbox_types(srv: &Srv) -> Vec<String> {
    let store = &srv.server.as_ref().unwrap().state.registry.store;
    sqlx::query_scalar::<_, String>("SELECT event_type FROM outbox ORDER BY seq")
        .fetch_all(store.reader())
        .await
        .unwrap()
}

dual!(owner_approves_and_rejects_consumers, |srv| {
    let (admin, owner, other) = setup(&mut srv).await;
    let pii = CONTRACT.replace("status: active", "status: active\ntags: [PII]");
    apply(&srv, &admin, "users", &pii).await;
    let consumers = "/v1/streams/users/consumers";

    // A member registers consumers for its own team only.
    let msg = req(
        &srv,
        &other,
        Method::POST,
        consumers,
        Some(json!({"service": "crm", "team": "checkout"})),
    )
    .await
    .assert_error(403, 40301);
    assert!(
        msg.contains("payments") && msg.contains("checkout"),
        "{msg}"
    );
    let c = req(
        &srv,
        &other,
        Method::POST,
        consumers,
        Some(json!({"service": "crm", "team": "payments"})),
    )
    .await
    .ok();
    assert_eq!(c["status"], "pending");
    // Admins for any team.
    let c2 = req(
        &srv,
        &admin,
        Method::POST,
        consumers,
        Some(json!({"service": "bi", "team": "analytics"})),
    )
    .await
    .ok();
    assert_eq!(c2["status"], "pending");

    // Only the owning team or an admin decides.
    let approve = "/v1/streams/users/consumers/crm/approve";
    let reject = "/v1/streams/users/consumers/crm/reject";
    let msg = req(&srv, &other, Method::POST, approve, None)
        .await
        .assert_error(403, 40301);
    assert!(msg.contains("users") && msg.contains("checkout"), "{msg}");
    let a = req(&srv, &owner, Method::POST, approve, None).await.ok();
    assert_eq!(
        (a["status"].as_str(), a["team"].as_str()),
        (Some("active"), Some("payments"))
    );
    // Approving again changes nothing.
    assert_eq!(
        req(&srv, &owner, Method::POST, approve, None).await.ok()["status"],
        "active"
    );
    let r = req(
        &srv,
        &admin,
        Method::POST,
        "/v1/streams/users/consumers/bi/reject",
        None,
    )
    .await
    .ok();
    assert_eq!(r["status"], "rejected");
    // Rejecting an active consumer revokes it; registering again does not reopen it.
    assert_eq!(
        req(&srv, &owner, Method::POST, reject, None).await.ok()["status"],
        "rejected"
    );
    let again = req(
        &srv,
        &other,
        Method::POST,
        consumers,
        Some(json!({"service": "crm", "team": "payments"})),
    )
    .await
    .ok();
    assert_eq!(again["status"], "rejected");
    req(
        &srv,
        &owner,
        Method::POST,
        "/v1/streams/users/consumers/nope/approve",
        None,
    )
    .await
    .assert_error(404, 40422);
    req(
        &srv,
        &owner,
        Method::POST,
        "/v1/streams/nope/consumers/crm/approve",
        None,
    )
    .await
    .assert_error(404, 40420);

    // Audited once per decision; events through the outbox.
    let audit = req(&srv, &admin, Method::GET, "/v1/audit", None).await.ok();
    let count = |action: &str| {
        audit
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["action"] == action)
            .count()
    };
    assert_eq!(
        (
            count("stream.consumer.approve"),
            count("stream.consumer.reject")
        ),
        (1, 2),
        "{audit}"
    );
    let types = outbox_types(&srv).await;
    let n = |t: &str| types.iter().filter(|x| x.as_str() == t).count();
    assert_eq!(
        (n("consumer.approved"), n("consumer.rejected")),
        (1, 2),
        "{types:?}"
    );

    // Removal: the consumer's own team (or the owner, or an admin); not a third team.
    let third = principal_with_key(
        &srv,
        &admin,
        json!({"name": "ads-svc", "role": "member", "kind": "service", "team": "ads"}),
    )
    .await;
    req(
        &srv,
        &third,
        Method::DELETE,
        "/v1/streams/users/consumers/crm",
        None,
    )
    .await
    .assert_error(403, 40301);
    req(
        &srv,
        &other,
        Method::DELETE,
        "/v1/streams/users/consumers/crm",
        None,
    )
    .await
    .ok();
    req(
        &srv,
        &owner,
        Method::DELETE,
        "/v1/streams/users/consumers/bi",
        None,
    )
    .await
    .ok();
});

dual!(only_the_owning_team_changes_a_streams_subjects, |srv| {
    let (admin, owner, other) = setup(&mut srv).await;
    apply(&srv, &admin, "orders", CONTRACT).await;
    let body = json!({"schema": USER_V1});
    req(
        &srv,
        &owner,
        Method::POST,
        "/subjects/orders-value/versions",
        Some(body.clone()),
    )
    .await
    .ok();
    req(
        &srv,
        &other,
        Method::POST,
        "/subjects/free-value/versions",
        Some(body),
    )
    .await
    .ok();

    let tags = json!({"tagsToAdd": [{"schemaEntity": {"entityPath": "com.acme.User", "entityType": "SR_RECORD"}, "tags": ["X"]}]});
    let writes: Vec<(Method, &str, Option<Value>)> = vec![
        (
            Method::PUT,
            "/config/SUBJ",
            Some(json!({"compatibility": "NONE"})),
        ),
        (Method::DELETE, "/config/SUBJ", None),
        (Method::PUT, "/mode/SUBJ", Some(json!({"mode": "READONLY"}))),
        (Method::DELETE, "/mode/SUBJ", None),
        (Method::POST, "/subjects/SUBJ/versions/1/tags", Some(tags)),
        (Method::DELETE, "/subjects/SUBJ/versions/1", None),
        (Method::DELETE, "/subjects/SUBJ", None),
    ];
    for (method, path, body) in &writes {
        let on_stream = path.replace("SUBJ", "orders-value");
        let msg = req(&srv, &other, method.clone(), &on_stream, body.clone())
            .await
            .assert_error(403, 40301);
        assert!(
            msg.contains("stream 'orders'") && msg.contains("checkout"),
            "{on_stream}: {msg}"
        );
        // Other subjects: any member.
        let free = path.replace("SUBJ", "free-value");
        req(&srv, &other, method.clone(), &free, body.clone())
            .await
            .ok();
    }
    // The owning team may (the mode back to READWRITE before the deletes).
    for (method, path, body) in &writes {
        let on_stream = path.replace("SUBJ", "orders-value");
        req(&srv, &owner, method.clone(), &on_stream, body.clone())
            .await
            .ok();
        if path.starts_with("/mode") && *method == Method::PUT {
            req(
                &srv,
                &owner,
                Method::PUT,
                "/mode/orders-value",
                Some(json!({"mode": "READWRITE"})),
            )
            .await
            .ok();
        }
    }
    // Refusals wrote nothing: each successful write audited once, by its author.
    let audit = req(&srv, &admin, Method::GET, "/v1/audit", None).await.ok();
    let by_other_on_stream = audit
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| {
            e["actor"] == "payments-svc"
                && e["target"].as_str().unwrap_or("").contains("orders-value")
        })
        .count();
    assert_eq!(by_other_on_stream, 0, "{audit}");
});

dual!(restricted_reads, |srv| {
    let (admin, owner, other) = setup(&mut srv).await;
    let restricted =
        format!("{CONTRACT}  - property: accord.access\n    value: {{ read: restricted }}\n");
    apply(&srv, &admin, "orders", &restricted).await;
    apply(&srv, &admin, "open", CONTRACT).await;
    let body = json!({"schema": USER_V1});
    let id = req(
        &srv,
        &owner,
        Method::POST,
        "/subjects/orders-value/versions",
        Some(body.clone()),
    )
    .await
    .ok()["id"]
        .clone();
    req(
        &srv,
        &owner,
        Method::POST,
        "/subjects/open-value/versions",
        Some(body.clone()),
    )
    .await
    .ok();
    let reader = principal_with_key(
        &srv,
        &admin,
        json!({"name": "viewer", "role": "reader", "team": "payments"}),
    )
    .await;

    let reads: Vec<(Method, String, Option<Value>)> = vec![
        (Method::GET, "/subjects/SUBJ/versions".into(), None),
        (Method::GET, "/subjects/SUBJ/versions/1".into(), None),
        (
            Method::GET,
            "/subjects/SUBJ/versions/latest/schema".into(),
            None,
        ),
        (
            Method::GET,
            "/subjects/SUBJ/versions/1/referencedby".into(),
            None,
        ),
        (Method::POST, "/subjects/SUBJ".into(), Some(body.clone())),
        (
            Method::POST,
            "/compatibility/subjects/SUBJ/versions/latest?verbose=true".into(),
            Some(body.clone()),
        ),
        (
            Method::POST,
            "/compatibility/subjects/SUBJ/versions".into(),
            Some(body.clone()),
        ),
    ];
    let check = |who: Key, ok: bool| {
        let (srv, reads) = (&srv, &reads);
        async move {
            for (method, path, body) in reads {
                let r = req(
                    srv,
                    &who,
                    method.clone(),
                    &path.replace("SUBJ", "orders-value"),
                    body.clone(),
                )
                .await;
                if ok {
                    r.ok();
                } else {
                    let msg = r.assert_error(403, 40301);
                    assert!(
                        msg.contains("stream 'orders'") && msg.contains("checkout"),
                        "{path}: {msg}"
                    );
                }
                // A stream without the restriction: everyone.
                req(
                    srv,
                    &who,
                    method.clone(),
                    &path.replace("SUBJ", "open-value"),
                    body.clone(),
                )
                .await
                .ok();
            }
        }
    };
    check(other.clone(), false).await;
    check(reader.clone(), false).await;
    check(owner.clone(), true).await;
    check(admin.clone(), true).await;
    // The id is also held by `open-value`, so it stays readable (an id held only by
    // restricted subjects is not: see read_restriction.rs).
    req(
        &srv,
        &other,
        Method::GET,
        &format!("/schemas/ids/{id}"),
        None,
    )
    .await
    .ok();

    // An active consumer's team reads; a pending or rejected one does not.
    let consumers = "/v1/streams/orders/consumers";
    let c = req(
        &srv,
        &other,
        Method::POST,
        consumers,
        Some(json!({"service": "pay", "team": "payments"})),
    )
    .await
    .ok();
    // A restricted stream's consumers wait for the owner's approval (issue 13).
    assert_eq!(c["status"], "pending");
    check(other.clone(), false).await;
    req(
        &srv,
        &owner,
        Method::POST,
        "/v1/streams/orders/consumers/pay/approve",
        None,
    )
    .await
    .ok();
    check(other.clone(), true).await;
    check(reader.clone(), true).await;
    req(
        &srv,
        &owner,
        Method::POST,
        "/v1/streams/orders/consumers/pay/reject",
        None,
    )
    .await
    .ok();
    check(other.clone(), false).await;
});
