//! A small catalog for the web catalog's tests (tests/tests/ui_pages.rs over HTTP,
//! tests/tests/ui_browser.rs in Chromium): registered through the JSON API.
#![allow(dead_code)]

use super::Srv;
use serde_json::{json, Value};

pub const ORDERS_V1: &str = r#"{"type":"record","name":"Order","namespace":"com.shop","fields":[{"name":"order_id","type":"string","doc":"Unique order id"},{"name":"email","type":"string","confluent:tags":["PII"]},{"name":"amount","type":"int"}]}"#;
/// `amount` changes type: incompatible under BACKWARD.
pub const ORDERS_V2: &str = r#"{"type":"record","name":"Order","namespace":"com.shop","fields":[{"name":"order_id","type":"string","doc":"Unique order id"},{"name":"email","type":"string","confluent:tags":["PII"]},{"name":"amount","type":"string"}]}"#;

/// The `shop.orders` contract at `level`, with a description that tries to inject markup.
pub fn orders_contract(level: &str) -> Value {
    json!({
        "apiVersion": "v3.1.0", "kind": "DataContract", "id": "shop-orders", "version": "1.0.0",
        "status": "active", "domain": "shop",
        "description": {"purpose": "Orders <script>alert(1)</script> placed in the shop"},
        "tags": ["PII"],
        "team": {"name": "checkout"},
        "support": [{"channel": "checkout-oncall", "tool": "email", "url": "mailto:checkout@shop.example"}],
        "slaProperties": [{"property": "freshness", "value": 5, "unit": "m"}],
        "schema": [{"name": "Order", "properties": [{"name": "email", "tags": ["PII"]}]}],
        "customProperties": [
            {"property": "accord.stream", "value": {"name": "shop.orders"}},
            {"property": "accord.evolution", "value": {"compatibility": level}},
            {"property": "accord.encryption", "value": {"tags": ["PII"], "keyScope": "stream"}}
        ]
    })
}

pub fn legacy_contract(status: &str) -> Value {
    let mut c = json!({
        "apiVersion": "v3.1.0", "kind": "DataContract", "id": "shop-legacy", "version": "1.0.0",
        "status": status, "domain": "shop", "team": {"name": "checkout"},
        "support": [{"channel": "checkout-oncall", "tool": "email", "url": "mailto:checkout@shop.example"}],
        "customProperties": [{"property": "accord.stream", "value": {"name": "shop.legacy-orders"}}]
    });
    if status == "deprecated" {
        c["customProperties"].as_array_mut().unwrap().push(json!({
            "property": "accord.lifecycle",
            "value": {"sunsetDate": "2027-01-31", "successor": "shop.orders"}
        }));
    }
    c
}

/// Two streams, two versions, a producer, an approved and a pending consumer, a
/// deprecated stream; the contract goes from NONE (so v2 registers) to BACKWARD (so the
/// diff shows what BACKWARD thinks of it).
pub async fn fill(srv: &Srv) {
    srv.put("/v1/streams/shop.orders/contract", orders_contract("NONE"))
        .await
        .ok();
    srv.register("shop.orders-value", ORDERS_V1, json!({}))
        .await;
    srv.register("shop.orders-value", ORDERS_V2, json!({}))
        .await;
    srv.put(
        "/v1/streams/shop.orders/contract",
        orders_contract("BACKWARD"),
    )
    .await
    .ok();
    srv.put(
        "/v1/streams/shop.orders/producer",
        json!({"service": "order-svc", "team": "checkout"}),
    )
    .await
    .ok();
    for (service, team) in [("billing-svc", "finance"), ("stats-svc", "data")] {
        srv.post(
            "/v1/streams/shop.orders/consumers",
            json!({"service": service, "team": team}),
        )
        .await
        .ok();
    }
    srv.post(
        "/v1/streams/shop.orders/consumers/billing-svc/approve",
        json!({}),
    )
    .await
    .ok();
    srv.put(
        "/v1/streams/shop.legacy-orders/contract",
        legacy_contract("active"),
    )
    .await
    .ok();
    srv.put(
        "/v1/streams/shop.legacy-orders/contract",
        legacy_contract("deprecated"),
    )
    .await
    .ok();
}
