//! Streams and data contracts over `/v1/streams`: apply (JSON or YAML, idempotent by
//! digest), get and history; validation errors with their paths; consumers and the
//! producer; and what a contract enforces when a schema is registered.

mod common;

use common::ORDERS_CONTRACT as ORDERS;

use common::{USER_V1, USER_V2_REQUIRED};
use reqwest::Method;
use serde_json::json;

const YAML: &str = "application/yaml";

async fn apply(srv: &common::Srv, stream: &str, yaml: &str) -> common::Resp {
    srv.raw(
        Method::PUT,
        &format!("/v1/streams/{stream}/contract"),
        Some((YAML, yaml.to_string())),
    )
    .await
}

dual!(contract_apply_get_history_idempotent, |srv| {
    let r = apply(&srv, "orders", ORDERS).await.ok();
    assert_eq!(r["version"], 1);
    assert_eq!(r["changed"], true);
    let digest = r["digest"].as_str().unwrap().to_string();

    // The same document again, as JSON this time: same digest, nothing written.
    let as_json: serde_json::Value = serde_yaml_like(ORDERS);
    let again = srv
        .raw(
            Method::PUT,
            "/v1/streams/orders/contract",
            Some(("application/json", as_json.to_string())),
        )
        .await
        .ok();
    assert_eq!(
        again,
        json!({"stream": "orders", "version": 1, "digest": digest, "changed": false})
    );

    let v2 = apply(
        &srv,
        "orders",
        &ORDERS.replace("version: 1.0.0", "version: 1.1.0"),
    )
    .await
    .ok();
    assert_eq!(
        (v2["version"].as_i64(), v2["changed"].as_bool()),
        (Some(2), Some(true))
    );

    let latest = srv.get("/v1/streams/orders/contract").await;
    assert_eq!(latest.status, 200);
    assert_eq!(latest.json()["version"], "1.1.0");
    let first = srv.get("/v1/streams/orders/contract?version=1").await.ok();
    assert_eq!(first["version"], "1.0.0");
    srv.get("/v1/streams/orders/contract?version=9")
        .await
        .assert_error(404, 40421);
    srv.get("/v1/streams/orders/contract?version=x")
        .await
        .assert_error(422, 42202);

    let resp = srv
        .http
        .get(format!("{}/v1/streams/orders/contract", srv.base))
        .header("Accept", "application/yaml")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.headers()["content-type"], "application/yaml");
    assert_eq!(resp.headers()["x-accord-contract-version"], "2");
    let text = resp.text().await.unwrap();
    assert!(
        text.contains("apiVersion: v3.1.0") && text.contains("version: 1.1.0"),
        "{text}"
    );

    let history = srv.get("/v1/streams/orders/contract/versions").await.ok();
    let versions: Vec<i64> = history
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["version"].as_i64().unwrap())
        .collect();
    assert_eq!(versions, [1, 2]);
    assert_eq!(history[0]["digest"], digest);
    assert_eq!(history[0]["createdBy"], "anonymous");

    // The stream row follows the contract; the latest value schema shows once there is one.
    let v = srv.register("orders-value", USER_V1, json!({})).await;
    let list = srv.get("/v1/streams").await.ok();
    assert_eq!(list[0]["name"], "orders");
    assert_eq!(list[0]["keySubject"], "orders-key");
    assert_eq!(list[0]["valueSubject"], "orders-value");
    assert_eq!(list[0]["ownerTeam"], "checkout");
    assert_eq!(list[0]["status"], "active");
    assert_eq!(
        list[0]["latestValueSchema"],
        json!({"id": v["id"], "version": 1})
    );
    let one = srv.get("/v1/streams/orders").await.ok();
    assert_eq!(one["contract"]["version"], 2);
    assert_eq!(one["contract"]["document"]["id"], "orders-contract");
    assert_eq!(one["consumers"], json!([]));

    // Each change is audited once.
    let audit = srv.get("/v1/audit").await.ok();
    let applies = audit
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "stream.contract.apply")
        .count();
    assert_eq!(applies, 2, "{audit}");
});

/// The YAML fixture as JSON (the few shapes it uses).
fn serde_yaml_like(_: &str) -> serde_json::Value {
    json!({
        "apiVersion": "v3.1.0", "kind": "DataContract", "id": "orders-contract",
        "version": "1.0.0", "status": "active", "team": {"name": "checkout"},
        "support": [{"channel": "checkout-oncall", "tool": "email", "url": "mailto:checkout@acme.example"}],
        "customProperties": [{"property": "accord.stream", "value": {"name": "orders"}}]
    })
}

dual!(contract_validation_errors_name_their_paths, |srv| {
    let bad = ORDERS
        .replace("kind: DataContract", "kind: Contract")
        .replace("status: active", "status: live");
    let msg = apply(&srv, "orders", &bad).await.assert_error(422, 42220);
    assert!(msg.contains("kind: ") && msg.contains("status: "), "{msg}");
    assert_eq!(
        msg.lines().count(),
        3,
        "a header and one line per problem: {msg}"
    );

    // Shape problems (an unknown enum value, a value of the wrong type) do not hide the
    // rest: one answer names them and the problems of meaning (issue 17, item 2).
    let bad = ORDERS
        .replace("status: active", "status: live")
        .replace("    value: { name: orders }\n", "    value: { name: orders }\n  - property: accord.encryption\n    value: { tags: [PII], keyScope: user, kekName: [1] }\n  - property: accord.evolution\n    value: { compatibility: SIDEWAYS }\n")
        .replace("team:\n  name: checkout\n", "team:\n  name: checkout\n  members:\n    - {username: ann, dateIn: 31-12-2025}\n");
    let msg = apply(&srv, "orders", &bad).await.assert_error(422, 42220);
    for part in [
        "customProperties[1].value.keyScope: unknown variant `user`",
        "customProperties[1].value.kekName: invalid type",
        "customProperties[2].value.compatibility: unknown variant `SIDEWAYS`",
        "status: unknown status 'live'",
        "team.members[0].dateIn: '31-12-2025' is not a date",
    ] {
        assert!(msg.contains(part), "{part} missing from {msg}");
    }
    assert_eq!(
        msg.lines().count(),
        6,
        "a header and one line per problem: {msg}"
    );

    let msg = apply(&srv, "payments", ORDERS)
        .await
        .assert_error(422, 42220);
    assert!(
        msg.contains("'orders'") && msg.contains("'payments'"),
        "{msg}"
    );

    apply(&srv, "orders", "a: [unclosed")
        .await
        .assert_error(422, 42220);
    apply(&srv, "orders", "- just\n- a list\n")
        .await
        .assert_error(422, 42220);
    srv.raw(
        Method::PUT,
        "/v1/streams/orders/contract",
        Some(("text/plain", ORDERS.to_string())),
    )
    .await
    .assert_error(415, 415);
    srv.get("/v1/streams/orders").await.assert_error(404, 40420);
    srv.get("/v1/streams/orders/contract")
        .await
        .assert_error(404, 40420);
    srv.get("/v1/streams/no%20such")
        .await
        .assert_error(404, 40420);
    assert_eq!(srv.get("/v1/streams").await.ok(), json!([]));
});

dual!(consumers_register_list_remove_and_deprecation, |srv| {
    apply(&srv, "orders", ORDERS).await.ok();
    let c = srv
        .post(
            "/v1/streams/orders/consumers",
            json!({"service": "billing", "team": "finance"}),
        )
        .await
        .ok();
    assert_eq!(
        (c["service"].as_str(), c["status"].as_str()),
        (Some("billing"), Some("active"))
    );
    // Registering again is idempotent.
    let again = srv
        .post(
            "/v1/streams/orders/consumers",
            json!({"service": "billing", "team": "finance"}),
        )
        .await
        .ok();
    assert_eq!(again, c);
    srv.post(
        "/v1/streams/orders/consumers",
        json!({"service": " ", "team": "finance"}),
    )
    .await
    .assert_error(422, 422);
    srv.post(
        "/v1/streams/nope/consumers",
        json!({"service": "a", "team": "b"}),
    )
    .await
    .assert_error(404, 40420);
    let list = srv.get("/v1/streams/orders/consumers").await.ok();
    assert_eq!(list.as_array().unwrap().len(), 1);

    // A PII stream records new consumers as pending the owner's approval.
    let pii = ORDERS
        .replace("orders", "users")
        .replace("status: active", "status: active\ntags: [PII]");
    apply(&srv, "users", &pii).await.ok();
    let p = srv
        .post(
            "/v1/streams/users/consumers",
            json!({"service": "crm", "team": "sales"}),
        )
        .await
        .ok();
    assert_eq!(p["status"], "pending");

    // The producer.
    srv.get("/v1/streams/orders/producer")
        .await
        .assert_error(404, 40423);
    let prod = srv
        .put(
            "/v1/streams/orders/producer",
            json!({"service": "shop", "team": "checkout"}),
        )
        .await
        .ok();
    assert_eq!(prod["service"], "shop");
    assert_eq!(
        srv.get("/v1/streams/orders/producer").await.ok()["team"],
        "checkout"
    );

    // Removal.
    let removed = srv
        .delete("/v1/streams/orders/consumers/billing")
        .await
        .ok();
    assert_eq!(removed["service"], "billing");
    srv.delete("/v1/streams/orders/consumers/billing")
        .await
        .assert_error(404, 40422);

    // Deprecated: new consumers are refused, naming the successor.
    let deprecated = ORDERS.replace("version: 1.0.0", "version: 2.0.0").replace(
        "status: active",
        "status: deprecated",
    ) + "  - property: accord.lifecycle\n    value: { sunsetDate: \"2027-01-31\", successor: orders-v2 }\n";
    let r = apply(&srv, "orders", &deprecated).await.ok();
    assert_eq!(r["version"], 2);
    let s = srv.get("/v1/streams/orders").await.ok();
    assert_eq!(
        (s["status"].as_str(), s["successor"].as_str()),
        (Some("deprecated"), Some("orders-v2"))
    );
    let msg = srv
        .post(
            "/v1/streams/orders/consumers",
            json!({"service": "late", "team": "x"}),
        )
        .await
        .assert_error(409, 40920);
    assert!(
        msg.contains("orders-v2") && msg.contains("2027-01-31"),
        "{msg}"
    );
});

dual!(contract_compatibility_overrides_subject_config, |srv| {
    for subject in ["orders-value", "free-value"] {
        srv.put(
            &format!("/config/{subject}"),
            json!({"compatibility": "NONE"}),
        )
        .await
        .ok();
        srv.register(subject, USER_V1, json!({})).await;
    }
    // Without a contract, NONE lets anything through.
    srv.register("free-value", USER_V2_REQUIRED, json!({}))
        .await;
    // With one, its FULL_TRANSITIVE default applies whatever the subject says.
    apply(&srv, "orders", ORDERS).await.ok();
    let msg = srv
        .post(
            "/subjects/orders-value/versions",
            json!({"schema": USER_V2_REQUIRED}),
        )
        .await
        .assert_error(409, 40901);
    assert!(msg.contains("orders-value"), "{msg}");
    // The contract's level, when it names one.
    let backward = ORDERS.replace("version: 1.0.0", "version: 1.0.1")
        + "  - property: accord.evolution\n    value: { compatibility: NONE }\n";
    apply(&srv, "orders", &backward).await.ok();
    srv.register("orders-value", USER_V2_REQUIRED, json!({}))
        .await;
});

dual!(contract_lint_errors_refuse_registration, |srv| {
    let linted = ORDERS.to_string()
        + "  - property: accord.evolution\n    value:\n      compatibility: NONE\n      lint: { doc-required: error, field-naming: warning }\n";
    apply(&srv, "orders", &linted).await.ok();
    let undocumented =
        r#"{"type":"record","name":"Order","fields":[{"name":"id","type":"string"}]}"#;
    let msg = srv
        .post(
            "/subjects/orders-value/versions",
            json!({"schema": undocumented}),
        )
        .await
        .assert_error(422, 42221);
    assert!(
        msg.contains("doc-required") && msg.contains("/fields/0"),
        "{msg}"
    );
    let documented = r#"{"type":"record","name":"Order","doc":"An order.","fields":[{"name":"id","type":"string","doc":"Its id."}]}"#;
    srv.register("orders-value", documented, json!({})).await;
    // Other subjects are not governed by the contract.
    srv.register("other-value", undocumented, json!({})).await;
});

dual!(invalid_cel_rule_refused_at_registration, |srv| {
    let msg = srv
        .post(
            "/subjects/any-value/versions",
            json!({"schema": USER_V1, "ruleSet": {"domainRules": [
                {"name": "adult", "kind": "CONDITION", "type": "CEL", "expr": "message.age >="}]}}),
        )
        .await
        .assert_error(422, 42210);
    assert!(
        msg.contains("adult") && msg.contains("domainRules[0].expr"),
        "{msg}"
    );
    srv.get("/subjects/any-value/versions")
        .await
        .assert_error(404, 40401);
    srv.register(
        "any-value",
        USER_V1,
        json!({"ruleSet": {"domainRules": [
            {"name": "adult", "kind": "CONDITION", "type": "CEL", "expr": "message.age >= 18"}]}}),
    )
    .await;
});

dual!(
    only_the_owning_team_registers_on_a_streams_subjects,
    |srv| {
        use common::auth::{call, principal_with_key, restart_with_auth};
        let admin = restart_with_auth(&mut srv).await;
        let put = |who: String| {
            let srv = &srv;
            async move {
                call(
                    srv,
                    Method::PUT,
                    "/v1/streams/orders/contract",
                    Some(&who),
                    Some(serde_yaml_like(ORDERS)),
                )
                .await
            }
        };
        assert_eq!(put(admin.basic()).await.ok()["version"], 1);
        let owner = principal_with_key(
        &srv,
        &admin,
        json!({"name": "checkout-svc", "role": "member", "kind": "service", "team": "checkout"}),
    )
    .await;
        let other = principal_with_key(
        &srv,
        &admin,
        json!({"name": "payments-svc", "role": "member", "kind": "service", "team": "payments"}),
    )
    .await;
        let register = |who: String, subject: &'static str| {
            let srv = &srv;
            async move {
                call(
                    srv,
                    Method::POST,
                    &format!("/subjects/{subject}/versions"),
                    Some(&who),
                    Some(json!({"schema": USER_V1})),
                )
                .await
            }
        };
        let msg = register(other.basic(), "orders-value")
            .await
            .assert_error(403, 40301);
        assert!(
            msg.contains("stream 'orders'") && msg.contains("checkout"),
            "{msg}"
        );
        assert_eq!(register(owner.basic(), "orders-value").await.ok()["id"], 1);
        // Subjects outside any stream: members of any team.
        register(other.basic(), "free-value").await.ok();
        // Another team may not change the contract; the owning team may.
        put(other.basic()).await.assert_error(403, 40301);
        assert_eq!(put(owner.basic()).await.ok()["changed"], false);
        // Any member may register its team's service as a consumer.
        call(
            &srv,
            Method::POST,
            "/v1/streams/orders/consumers",
            Some(&other.basic()),
            Some(json!({"service": "payments-svc", "team": "payments"})),
        )
        .await
        .ok();
    }
);

// Keys follow a stream through its subjects: a subject with keys cannot leave it.
dual!(subjects_with_keys_stay_in_their_stream, |srv| {
    apply(&srv, "orders", ORDERS).await.ok();
    // Without keys, the value subject may move.
    let moved = ORDERS
        .replace(
            "value: { name: orders }",
            "value: { name: orders, valueSubject: orders-v2 }",
        )
        .replace("version: 1.0.0", "version: 1.1.0");
    apply(&srv, "orders", &moved).await.ok();
    srv.post(
        "/dek-registry/v1/keks",
        json!({"name": "k1", "kmsType": "local-kms", "kmsKeyId": "k1", "shared": false}),
    )
    .await
    .ok();
    srv.post(
        "/dek-registry/v1/keks/k1/deks/orders-v2",
        json!({"subject": "orders-v2", "encryptedKeyMaterial": "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}),
    )
    .await
    .ok();
    let back = ORDERS.replace("version: 1.0.0", "version: 1.2.0");
    let r = apply(&srv, "orders", &back).await;
    assert_eq!(r.status, 422, "{}", r.text);
    assert!(
        r.text.contains("orders-v2") && r.text.contains("encryption key"),
        "{}",
        r.text
    );
    // Unchanged: the stream still has orders-v2.
    let s = srv.get("/v1/streams/orders").await.ok();
    assert_eq!(s["valueSubject"], "orders-v2", "{s}");
});
