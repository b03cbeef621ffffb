//! Breaking-change proposals over `/v1/streams/{name}/proposals` and `/v1/proposals`,
//! with auth on: the whole negotiation from an incompatible candidate to a successor
//! stream, a forced `new_version` release, who may open, review and release, and the
//! compatibility endpoint testing at the contract's level.

mod common;

use common::auth::{call, principal_with_key, restart_with_auth, Key};
use common::{Resp, Srv, USER_V1, USER_V2_REQUIRED};
use reqwest::Method;
use serde_json::{json, Value};

/// `name` as an int: incompatible with USER_V1 in every direction.
const USER_NAME_INT: &str = r#"{"type":"record","name":"User","namespace":"com.acme","fields":[{"name":"name","type":"int"}]}"#;

fn orders_contract() -> Value {
    json!({
        "apiVersion": "v3.1.0",
        "kind": "DataContract",
        "id": "orders-contract",
        "version": "1.0.0",
        "status": "active",
        "team": {"name": "checkout"},
        "support": [{"channel": "checkout-oncall", "tool": "email", "url": "mailto:checkout@acme.example"}],
        "customProperties": [{"property": "accord.stream", "value": {"name": "orders"}}]
    })
}

async fn req(srv: &Srv, method: Method, path: &str, who: &Key, body: Option<Value>) -> Resp {
    call(srv, method, path, Some(&who.basic()), body).await
}

async fn member(srv: &Srv, admin: &Key, name: &str, team: &str) -> Key {
    principal_with_key(
        srv,
        admin,
        json!({"name": name, "role": "member", "kind": "service", "team": team}),
    )
    .await
}

fn services(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap().to_string())
        .collect()
}

dual!(
    breaking_change_negotiation_to_successor_and_forced_release,
    |srv| {
        let admin = restart_with_auth(&mut srv).await;
        let owner = member(&srv, &admin, "checkout-svc", "checkout").await;
        let payments = member(&srv, &admin, "payments-svc", "payments").await;
        let analytics = member(&srv, &admin, "analytics-svc", "analytics").await;

        // The owner applies the contract and registers version 1; two teams consume.
        req(
            &srv,
            Method::PUT,
            "/v1/streams/orders/contract",
            &owner,
            Some(orders_contract()),
        )
        .await
        .ok();
        let v1 = req(
            &srv,
            Method::POST,
            "/subjects/orders-value/versions",
            &owner,
            Some(json!({"schema": USER_V1})),
        )
        .await
        .ok();
        for (who, service, team) in [
            (&payments, "payments-svc", "payments"),
            (&analytics, "analytics-svc", "analytics"),
        ] {
            req(
                &srv,
                Method::POST,
                "/v1/streams/orders/consumers",
                who,
                Some(json!({"service": service, "team": team})),
            )
            .await
            .ok();
        }

        // A compatible candidate is not a proposal; a non-owner may not open one.
        let compatible = r#"{"type":"record","name":"User","namespace":"com.acme","fields":[{"name":"name","type":"string","default":"x"}]}"#;
        let msg = req(
            &srv,
            Method::POST,
            "/v1/streams/orders/proposals",
            &owner,
            Some(json!({"schema": compatible})),
        )
        .await
        .assert_error(422, 422);
        assert!(msg.contains("register it directly"), "{msg}");
        req(
            &srv,
            Method::POST,
            "/v1/streams/orders/proposals",
            &payments,
            Some(json!({"schema": USER_V2_REQUIRED})),
        )
        .await
        .assert_error(403, 40301);

        // The owner opens one: report at the contract's level, impacted consumers stored.
        let opened = req(
            &srv,
            Method::POST,
            "/v1/streams/orders/proposals",
            &owner,
            Some(json!({"schema": USER_V2_REQUIRED})),
        )
        .await;
        assert_eq!(opened.status, 201, "{}", opened.text);
        let p = opened.json();
        let id = p["id"].as_i64().unwrap();
        assert_eq!(p["status"], "open");
        assert_eq!(p["subject"], "orders-value");
        assert_eq!(p["schema"]["schema"], USER_V2_REQUIRED);
        assert_eq!(p["report"]["isCompatible"], false);
        assert_eq!(p["report"]["compatibilityLevel"], "FULL_TRANSITIVE");
        assert!(!p["report"]["messages"].as_array().unwrap().is_empty());
        assert_eq!(
            p["impactedConsumers"],
            json!([{"service": "analytics-svc", "team": "analytics"}, {"service": "payments-svc", "team": "payments"}])
        );
        assert_eq!(services(&p["pending"]), ["analytics-svc", "payments-svc"]);
        let listed = req(
            &srv,
            Method::GET,
            "/v1/streams/orders/proposals",
            &payments,
            None,
        )
        .await
        .ok();
        assert_eq!(listed[0]["id"], id);

        let review = |who: Key, consumer: &'static str, decision: &'static str| {
            let srv = &srv;
            async move {
                req(
                srv,
                Method::POST,
                &format!("/v1/proposals/{id}/reviews"),
                &who,
                Some(json!({"consumer": consumer, "decision": decision, "comment": format!("{consumer} says {decision}")})),
            )
            .await
            }
        };
        let release_successor = json!({"mode": "successor", "successorStream": "orders-v2", "sunsetDate": "2027-06-30"});
        let release = |who: Key, body: Value, pid: i64| {
            let srv = &srv;
            async move {
                req(
                    srv,
                    Method::POST,
                    &format!("/v1/proposals/{pid}/release"),
                    &who,
                    Some(body),
                )
                .await
            }
        };

        // A non-member of a consumer's team may not review for it.
        review(payments.clone(), "analytics-svc", "approve")
            .await
            .assert_error(403, 40301);
        // Not all approved: release refused.
        let r = review(payments.clone(), "payments-svc", "reject")
            .await
            .ok();
        assert_eq!(r["reviews"][0]["decision"], "rejected");
        release(owner.clone(), release_successor.clone(), id)
            .await
            .assert_error(409, 40922);
        // A later decision replaces the earlier one.
        let r = review(payments.clone(), "payments-svc", "approve")
            .await
            .ok();
        assert_eq!(r["reviews"].as_array().unwrap().len(), 1);
        assert_eq!(r["reviews"][0]["decision"], "approved");
        assert_eq!(r["reviews"][0]["by"], "payments-svc");
        assert_eq!(services(&r["pending"]), ["analytics-svc"]);
        let msg = release(owner.clone(), release_successor.clone(), id)
            .await
            .assert_error(409, 40922);
        assert!(msg.contains("analytics-svc"), "{msg}");
        let r = review(analytics.clone(), "analytics-svc", "approve")
            .await
            .ok();
        assert!(r["pending"].as_array().unwrap().is_empty());

        // Only the owner releases.
        release(payments.clone(), release_successor.clone(), id)
            .await
            .assert_error(403, 40301);
        let done = release(owner.clone(), release_successor.clone(), id)
            .await
            .ok();
        assert_eq!(done["status"], "released");
        assert_eq!(done["releaseMode"], "successor");
        assert_eq!(done["successorStream"], "orders-v2");
        // Closed now.
        review(analytics.clone(), "analytics-svc", "reject")
            .await
            .assert_error(409, 40921);

        // The successor exists with the candidate as version 1 of its value subject.
        let succ = req(&srv, Method::GET, "/v1/streams/orders-v2", &payments, None)
            .await
            .ok();
        assert_eq!(succ["status"], "active");
        assert_eq!(succ["ownerTeam"], "checkout");
        assert_eq!(succ["valueSubject"], "orders-v2-value");
        let sv = req(
            &srv,
            Method::GET,
            "/subjects/orders-v2-value/versions/1",
            &payments,
            None,
        )
        .await
        .ok();
        assert_eq!(sv["schema"], USER_V2_REQUIRED);
        // The old stream is deprecated, naming the successor and the sunset.
        let old = req(&srv, Method::GET, "/v1/streams/orders", &payments, None)
            .await
            .ok();
        assert_eq!(old["status"], "deprecated");
        assert_eq!(old["successor"], "orders-v2");
        assert_eq!(old["sunset"], "2027-06-30");
        assert_eq!(old["latestValueSchema"]["version"], 1);
        let msg = req(
            &srv,
            Method::POST,
            "/v1/streams/orders/consumers",
            &payments,
            Some(json!({"service": "billing-svc", "team": "payments"})),
        )
        .await
        .assert_error(409, 40920);
        assert!(msg.contains("orders-v2"), "{msg}");

        // A second proposal, released as a new version: force needs a written reason.
        let p2 = req(
            &srv,
            Method::POST,
            "/v1/streams/orders/proposals",
            &owner,
            Some(json!({"schema": USER_NAME_INT, "schemaType": "AVRO"})),
        )
        .await;
        assert_eq!(p2.status, 201, "{}", p2.text);
        let id2 = p2.json()["id"].as_i64().unwrap();
        assert_ne!(id2, id);
        release(owner.clone(), json!({"mode": "new_version"}), id2)
            .await
            .assert_error(409, 40922);
        release(
            owner.clone(),
            json!({"mode": "new_version", "force": true}),
            id2,
        )
        .await
        .assert_error(422, 422);
        release(
            owner.clone(),
            json!({"mode": "new_version", "force": true, "reason": "  "}),
            id2,
        )
        .await
        .assert_error(422, 422);
        let forced = release(
            owner.clone(),
            json!({"mode": "new_version", "force": true, "reason": "consumers migrated off-band"}),
            id2,
        )
        .await
        .ok();
        assert_eq!(forced["status"], "forced");
        assert_eq!(forced["releaseMode"], "new_version");
        assert_eq!(forced["reason"], "consumers migrated off-band");
        let latest = req(
            &srv,
            Method::GET,
            "/subjects/orders-value/versions/latest",
            &payments,
            None,
        )
        .await
        .ok();
        assert_eq!(latest["version"], 2);
        assert_eq!(latest["schema"], USER_NAME_INT);
        assert_ne!(latest["id"], v1["id"]);
        // The override was once: registering another incompatible schema is still refused.
        req(
            &srv,
            Method::POST,
            "/subjects/orders-value/versions",
            &owner,
            Some(json!({"schema": USER_V2_REQUIRED})),
        )
        .await
        .assert_error(409, 40901);

        // Every mutation audited; the release as `proposal.release` with its reason digest.
        let audit = req(&srv, Method::GET, "/v1/audit?limit=1000", &admin, None)
            .await
            .ok();
        let actions: Vec<&str> = audit
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["action"].as_str().unwrap())
            .collect();
        assert_eq!(actions.iter().filter(|a| **a == "proposal.open").count(), 2);
        assert_eq!(
            actions.iter().filter(|a| **a == "proposal.review").count(),
            3
        );
        assert_eq!(
            actions.iter().filter(|a| **a == "proposal.release").count(),
            2
        );
        let verified = req(&srv, Method::GET, "/v1/audit/verify", &admin, None)
            .await
            .ok();
        assert_eq!(verified["ok"], true);

        // A third one, withdrawn by the owner (not by another team).
        let p3 = req(
            &srv,
            Method::POST,
            "/v1/streams/orders-v2/proposals",
            &owner,
            Some(json!({"schema": USER_V1})),
        )
        .await;
        assert_eq!(p3.status, 201, "{}", p3.text);
        let id3 = p3.json()["id"].as_i64().unwrap();
        assert!(p3.json()["impactedConsumers"]
            .as_array()
            .unwrap()
            .is_empty());
        req(
            &srv,
            Method::POST,
            &format!("/v1/proposals/{id3}/withdraw"),
            &payments,
            None,
        )
        .await
        .assert_error(403, 40301);
        let w = req(
            &srv,
            Method::POST,
            &format!("/v1/proposals/{id3}/withdraw"),
            &owner,
            None,
        )
        .await
        .ok();
        assert_eq!(w["status"], "withdrawn");
        req(&srv, Method::GET, "/v1/proposals/999", &payments, None)
            .await
            .assert_error(404, 40424);
        req(&srv, Method::GET, "/v1/proposals/abc", &payments, None)
            .await
            .assert_error(404, 40424);
    }
);

dual!(compatibility_endpoint_tests_at_the_contract_level, |srv| {
    let admin = restart_with_auth(&mut srv).await;
    req(
        &srv,
        Method::PUT,
        "/v1/streams/orders/contract",
        &admin,
        Some(orders_contract()),
    )
    .await
    .ok();
    for subject in ["orders-value", "free-value"] {
        req(
            &srv,
            Method::POST,
            &format!("/subjects/{subject}/versions"),
            &admin,
            Some(json!({"schema": USER_V1})),
        )
        .await
        .ok();
        // The subject's own config says NONE; only the contract says otherwise.
        req(
            &srv,
            Method::PUT,
            &format!("/config/{subject}"),
            &admin,
            Some(json!({"compatibility": "NONE"})),
        )
        .await
        .ok();
    }
    let check = |subject: &'static str, path: &'static str| {
        let srv = &srv;
        let admin = admin.clone();
        async move {
            req(
                srv,
                Method::POST,
                &format!("/compatibility/subjects/{subject}/versions{path}?verbose=true"),
                &admin,
                Some(json!({"schema": USER_V2_REQUIRED})),
            )
            .await
            .ok()
        }
    };
    let governed = check("orders-value", "").await;
    assert_eq!(governed["is_compatible"], false, "{governed}");
    let messages = governed["messages"].to_string();
    assert!(messages.contains("FULL_TRANSITIVE"), "{messages}");
    assert_eq!(
        check("orders-value", "/latest").await["is_compatible"],
        false
    );
    assert_eq!(check("free-value", "").await["is_compatible"], true);
});
