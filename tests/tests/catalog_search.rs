//! The catalog search (`GET /v1/catalog/search`): finding streams and free subjects by
//! name, subject, field name (whole or prefix), field doc, tag and owner; filters and
//! facets; ranking; highlight markers; freshness right after a registration; the read
//! restriction; bad parameters; and the index built at start for data already stored.

mod common;

use common::auth::{call, principal_with_key, restart_with_auth, Key};
use common::Srv;
use reqwest::Method;
use serde_json::{json, Value};

const MARK: (char, char) = ('\u{1}', '\u{2}');

/// A contract for `stream` owned by `team`; `extra` is YAML spliced in at the top level
/// (domain, description, tags, schema, status) and `props` more custom properties.
fn contract(stream: &str, team: &str, extra: &str, props: &str) -> String {
    format!(
        "apiVersion: v3.1.0
kind: DataContract
id: {stream}-contract
version: 1.0.0
status: active
{extra}team:
  name: {team}
support:
  - channel: {team}-oncall
    tool: email
    url: mailto:{team}@acme.example
customProperties:
  - property: accord.stream
    value: {{ name: {stream} }}
{props}"
    )
}

async fn apply(srv: &Srv, who: Option<&Key>, stream: &str, yaml: &str) {
    let mut req = srv
        .http
        .put(format!("{}/v1/streams/{stream}/contract", srv.base))
        .header("Content-Type", "application/yaml")
        .body(yaml.to_string());
    if let Some(k) = who {
        req = req.header("Authorization", k.basic());
    }
    let resp = req.send().await.unwrap();
    assert_eq!(resp.status(), 200, "{}", resp.text().await.unwrap());
}

async fn search(srv: &Srv, query: &str) -> Value {
    srv.get(&format!("/v1/catalog/search?{query}")).await.ok()
}

fn titles(r: &Value) -> Vec<String> {
    r["hits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["title"].as_str().unwrap().to_string())
        .collect()
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

fn hit<'a>(r: &'a Value, title: &str) -> &'a Value {
    r["hits"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["title"] == title)
        .unwrap_or_else(|| panic!("no hit {title} in {r}"))
}

/// The matches of a hit as (field, text with markers shown as [..]).
fn matches(h: &Value) -> Vec<(String, String)> {
    h["matches"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["field"].as_str().unwrap().to_string(),
                m["text"]
                    .as_str()
                    .unwrap()
                    .replace(MARK.0, "[")
                    .replace(MARK.1, "]"),
            )
        })
        .collect()
}

fn has_match(h: &Value, field: &str, text: &str) -> bool {
    matches(h).iter().any(|(f, t)| f == field && t == text)
}

const ORDERS_V1: &str = r#"{"type":"record","name":"Order","namespace":"com.acme","doc":"An order placed in the web shop.","fields":[
  {"name":"order_id","type":"string","doc":"Unique identifier of the purchase"},
  {"name":"customer_email","type":"string","confluent:tags":["PII"]},
  {"name":"total","type":"double"}]}"#;

const ORDERS_V2: &str = r#"{"type":"record","name":"Order","namespace":"com.acme","doc":"An order placed in the web shop.","fields":[
  {"name":"order_id","type":"string","doc":"Unique identifier of the purchase"},
  {"name":"customer_email","type":"string","confluent:tags":["PII"]},
  {"name":"total","type":"double"},
  {"name":"couponCode","type":["null","string"],"default":null}]}"#;

const PAYMENT_PROTO: &str = "syntax = \"proto3\";
package acme.payments;
// A settled payment.
message Payment {
  string payment_id = 1;
  // Amount in cents.
  int64 amount_cents = 2;
}
";

const INVENTORY_JSON: &str = r#"{"type":"object","title":"Inventory","properties":{
  "sku_code":{"type":"string","description":"Stock keeping unit"},
  "quantity":{"type":"integer"}}}"#;

const SHIPMENT: &str =
    r#"{"type":"record","name":"Shipment","fields":[{"name":"orders_ref","type":"string"}]}"#;

/// orders (Avro, checkout, sales, tags financial + PII), orders-archive (deprecated,
/// checkout), payments (Protobuf, billing, finance), shipments (a field `orders_ref`),
/// and the free subject inventory-value (JSON).
async fn catalog(srv: &Srv) {
    let orders_extra = "domain: sales
description:
  purpose: Orders placed by customers in the web shop.
tags: [financial]
schema:
  - name: Order
    properties:
      - name: order_id
        logicalType: string
        description: The order number shown to customers.
        tags: [key]
";
    apply(
        srv,
        None,
        "orders",
        &contract("orders", "checkout", orders_extra, ""),
    )
    .await;
    srv.register("orders-value", ORDERS_V1, json!({})).await;

    let deprecated = contract(
        "orders-archive",
        "checkout",
        "domain: sales\n",
        "  - property: accord.lifecycle\n    value: { sunsetDate: \"2027-01-31\", successor: orders }\n",
    )
    .replace("status: active", "status: deprecated");
    apply(srv, None, "orders-archive", &deprecated).await;
    srv.register("orders-archive-value", ORDERS_V1, json!({}))
        .await;

    apply(
        srv,
        None,
        "payments",
        &contract("payments", "billing", "domain: finance\n", ""),
    )
    .await;
    srv.register(
        "payments-value",
        PAYMENT_PROTO,
        json!({"schemaType": "PROTOBUF"}),
    )
    .await;

    apply(
        srv,
        None,
        "shipments",
        &contract("shipments", "logistics", "", ""),
    )
    .await;
    srv.register("shipments-value", SHIPMENT, json!({})).await;

    srv.register(
        "inventory-value",
        INVENTORY_JSON,
        json!({"schemaType": "JSON"}),
    )
    .await;
}

dual!(finds_by_name_subject_field_doc_tag_owner, |srv| {
    catalog(&srv).await;

    // By name: the exact name first, then names starting with it, then the rest.
    let r = search(&srv, "q=orders").await;
    let t = titles(&r);
    assert_eq!(&t[..2], ["orders", "orders-archive"], "{r}");
    assert!(
        t.contains(&"shipments".to_string()),
        "field orders_ref: {r}"
    );
    assert_eq!(r["total"], t.len() as u64);
    let orders = hit(&r, "orders");
    assert!(has_match(orders, "name", "[orders]"), "{orders}");
    assert_eq!(orders["stream"], "orders");
    assert_eq!(orders["subject"], "orders-value");
    assert_eq!(orders["format"], "AVRO");
    assert_eq!(orders["owner"], "checkout");
    assert_eq!(orders["domain"], "sales");
    assert_eq!(orders["lifecycle"], "active");
    assert_eq!(
        orders["description"],
        "Orders placed by customers in the web shop."
    );
    let tags: Vec<&str> = orders["tags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap())
        .collect();
    for t in ["financial", "key", "PII"] {
        assert!(tags.contains(&t), "{tags:?}");
    }
    assert!(has_match(hit(&r, "shipments"), "field", "[orders]_ref"));
    assert!(orders["score"].as_f64().unwrap() >= hit(&r, "shipments")["score"].as_f64().unwrap());

    // By subject.
    let r = search(&srv, "q=payments-value").await;
    assert_eq!(titles(&r), ["payments"]);
    assert!(
        has_match(&r["hits"][0], "subject", "[payments-value]"),
        "{r}"
    );

    // By field name, whole and by prefix.
    let r = search(&srv, "q=order_id").await;
    let t = titles(&r);
    assert!(
        t.contains(&"orders".to_string()) && !t.contains(&"payments".to_string()),
        "{r}"
    );
    assert!(has_match(hit(&r, "orders"), "field", "[order_id]"), "{r}");
    let r = search(&srv, "q=ord").await;
    assert!(titles(&r).contains(&"orders".to_string()));
    assert!(has_match(hit(&r, "orders"), "field", "[ord]er_id"), "{r}");
    let r = search(&srv, "q=amount_cents").await;
    assert_eq!(titles(&r), ["payments"]);
    assert_eq!(r["hits"][0]["format"], "PROTOBUF");

    // By a word of a field doc (Avro doc, Protobuf comment, JSON Schema description).
    let r = search(&srv, "q=purchase").await;
    assert_eq!(sorted(titles(&r)), ["orders", "orders-archive"]);
    assert!(has_match(
        hit(&r, "orders"),
        "doc",
        "Unique identifier of the [purchase]"
    ));
    assert_eq!(titles(&search(&srv, "q=cents").await), ["payments"]);
    let r = search(&srv, "q=stock%20keeping").await;
    assert_eq!(titles(&r), ["inventory-value"]);
    let inv = &r["hits"][0];
    assert_eq!(inv["stream"], Value::Null);
    assert_eq!(inv["subject"], "inventory-value");
    assert_eq!(inv["format"], "JSON");
    assert!(has_match(inv, "doc", "[Stock] [keeping] unit"), "{inv}");
    assert_eq!(
        titles(&search(&srv, "q=sku_code").await),
        ["inventory-value"]
    );

    // By contract description, tag and owner.
    assert!(titles(&search(&srv, "q=customers%20shop").await).contains(&"orders".to_string()));
    let r = search(&srv, "q=financial").await;
    assert_eq!(titles(&r), ["orders"]);
    assert!(has_match(&r["hits"][0], "tag", "[financial]"));
    let r = search(&srv, "q=billing").await;
    assert_eq!(titles(&r), ["payments"]);
    assert!(has_match(&r["hits"][0], "owner", "[billing]"));

    // Nothing matches.
    let r = search(&srv, "q=zzzzqx").await;
    assert_eq!((r["total"].as_u64(), titles(&r).len()), (Some(0), 0));

    // A new version's new field is found right after its registration.
    assert_eq!(search(&srv, "q=coupon").await["total"], 0);
    srv.register("orders-value", ORDERS_V2, json!({})).await;
    let r = search(&srv, "q=coupon").await;
    assert_eq!(titles(&r), ["orders"]);
    assert!(has_match(&r["hits"][0], "field", "[coupon]Code"), "{r}");
    assert_eq!(titles(&search(&srv, "q=coupon_code").await), ["orders"]);
    // Deleting that version takes its field out of the index at once.
    let r = srv.delete("/subjects/orders-value/versions/latest").await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(search(&srv, "q=coupon").await["total"], 0);
    assert!(titles(&search(&srv, "q=order_id").await).contains(&"orders".to_string()));
});

dual!(filters_facets_paging, |srv| {
    catalog(&srv).await;

    let all = search(&srv, "").await;
    assert_eq!(all["total"], 5);
    assert_eq!(
        titles(&all),
        [
            "inventory-value",
            "orders",
            "orders-archive",
            "payments",
            "shipments"
        ]
    );
    let f = &all["facets"];
    assert_eq!(
        f["formats"],
        json!([{"value": "AVRO", "count": 3}, {"value": "JSON", "count": 1}, {"value": "PROTOBUF", "count": 1}])
    );
    assert_eq!(
        f["owners"],
        json!([{"value": "checkout", "count": 2}, {"value": "billing", "count": 1}, {"value": "logistics", "count": 1}])
    );
    assert_eq!(
        f["domains"],
        json!([{"value": "sales", "count": 2}, {"value": "finance", "count": 1}])
    );
    assert!(f["tags"]
        .as_array()
        .unwrap()
        .contains(&json!({"value": "PII", "count": 2})));

    // Paged: the total stays, the hits move on.
    let p1 = search(&srv, "limit=2").await;
    let p2 = search(&srv, "limit=2&offset=2").await;
    let p3 = search(&srv, "limit=2&offset=4").await;
    assert_eq!(
        (p1["total"].as_u64(), p3["total"].as_u64()),
        (Some(5), Some(5))
    );
    assert_eq!(titles(&p1), ["inventory-value", "orders"]);
    assert_eq!(titles(&p2), ["orders-archive", "payments"]);
    assert_eq!(titles(&p3), ["shipments"]);

    // Filters, alone and combined with AND (and with words); facets follow them.
    assert_eq!(titles(&search(&srv, "format=protobuf").await), ["payments"]);
    assert_eq!(
        titles(&search(&srv, "format=JSON").await),
        ["inventory-value"]
    );
    assert_eq!(
        titles(&search(&srv, "tag=pii").await),
        ["orders", "orders-archive"]
    );
    assert_eq!(
        titles(&search(&srv, "owner=Checkout").await),
        ["orders", "orders-archive"]
    );
    assert_eq!(titles(&search(&srv, "domain=finance").await), ["payments"]);
    assert_eq!(
        titles(&search(&srv, "lifecycle=deprecated").await),
        ["orders-archive"]
    );
    let r = search(&srv, "owner=checkout&lifecycle=active").await;
    assert_eq!(titles(&r), ["orders"]);
    assert_eq!(
        r["facets"]["owners"],
        json!([{"value": "checkout", "count": 1}])
    );
    assert_eq!(
        titles(&search(&srv, "q=orders&domain=sales&format=AVRO").await),
        ["orders", "orders-archive"]
    );
    assert_eq!(search(&srv, "q=orders&format=PROTOBUF").await["total"], 0);
    assert_eq!(
        titles(&search(&srv, "tag=financial&owner=billing").await).len(),
        0
    );
    // Empty parameters are absent.
    assert_eq!(search(&srv, "q=&format=&tag=").await["total"], 5);

    // Bad parameters: 422 in Confluent's shape.
    for bad in [
        "limit=0",
        "limit=101",
        "limit=x",
        "offset=-1",
        "format=XML",
        "lifecycle=retired",
    ] {
        let msg = srv
            .get(&format!("/v1/catalog/search?{bad}"))
            .await
            .assert_error(422, 422);
        let name = bad.split('=').next().unwrap();
        assert!(msg.starts_with(name), "{bad}: {msg}");
    }
    let long = "a".repeat(201);
    srv.get(&format!("/v1/catalog/search?q={long}"))
        .await
        .assert_error(422, 422);
});

dual!(index_built_at_start_for_existing_data, |srv| {
    catalog(&srv).await;
    // Forget the index, as a database migrated from before the catalog has none.
    let url = common::auth::db_url(&srv);
    srv.stop().await;
    let store = accord_server::storage::Store::connect(&url).await.unwrap();
    let mut w = store.begin_write().await.unwrap();
    sqlx::query("UPDATE catalog_state SET built = 0")
        .execute(&mut *w.tx)
        .await
        .unwrap();
    sqlx::query("DELETE FROM catalog_docs")
        .execute(&mut *w.tx)
        .await
        .unwrap();
    w.commit().await.unwrap();
    store.close().await;
    srv = Srv::start(common::config(&url)).await;
    let r = search(&srv, "q=order_id").await;
    assert_eq!(sorted(titles(&r)), ["orders", "orders-archive"]);
    assert_eq!(search(&srv, "").await["total"], 5);
});

async fn search_as(srv: &Srv, who: &Key, query: &str) -> Vec<String> {
    let r = call(
        srv,
        Method::GET,
        &format!("/v1/catalog/search?{query}"),
        Some(&who.basic()),
        None,
    )
    .await
    .ok();
    titles(&r)
}

dual!(restricted_streams_are_hidden_from_other_teams, |srv| {
    let admin = restart_with_auth(&mut srv).await;
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
    let reader = principal_with_key(
        &srv,
        &admin,
        json!({"name": "viewer", "role": "reader", "team": "payments"}),
    )
    .await;
    let restricted = contract(
        "orders-secret",
        "checkout",
        "",
        "  - property: accord.access\n    value: { read: restricted }\n",
    );
    apply(&srv, Some(&admin), "orders-secret", &restricted).await;
    apply(
        &srv,
        Some(&admin),
        "orders-open",
        &contract("orders-open", "checkout", "", ""),
    )
    .await;

    assert_eq!(
        search_as(&srv, &admin, "q=orders").await,
        ["orders-open", "orders-secret"]
    );
    assert_eq!(
        search_as(&srv, &owner, "q=orders").await,
        ["orders-open", "orders-secret"]
    );
    assert_eq!(search_as(&srv, &reader, "q=orders").await, ["orders-open"]);
    assert_eq!(search_as(&srv, &other, "").await, ["orders-open"]);
    let r = call(
        &srv,
        Method::GET,
        "/v1/catalog/search?q=orders",
        Some(&reader.basic()),
        None,
    )
    .await
    .ok();
    assert_eq!(r["total"], 1);
    assert_eq!(
        r["facets"]["owners"],
        json!([{"value": "checkout", "count": 1}])
    );

    // An active consumer's team sees it.
    call(
        &srv,
        Method::POST,
        "/v1/streams/orders-secret/consumers",
        Some(&other.basic()),
        Some(json!({"service": "ledger", "team": "payments"})),
    )
    .await
    .ok();
    // A restricted stream's consumers wait for the owner's approval (issue 13).
    assert_eq!(search_as(&srv, &reader, "q=orders").await, ["orders-open"]);
    call(
        &srv,
        Method::POST,
        "/v1/streams/orders-secret/consumers/ledger/approve",
        Some(&owner.basic()),
        None,
    )
    .await
    .ok();
    assert_eq!(
        search_as(&srv, &reader, "q=orders").await,
        ["orders-open", "orders-secret"]
    );

    // Without credentials: 401, as every other endpoint.
    assert_eq!(
        srv.get("/v1/catalog/search?q=orders").await.status.as_u16(),
        401
    );
});

dual!(a_large_schema_is_indexed_within_limits, |srv| {
    // 3,000 fields with long docs: the index keeps the first 2,000 names and caps the
    // text per column, so PostgreSQL's tsvector limit (1 MB) is never reached.
    let fields: Vec<Value> = (0..3000)
        .map(|i| {
            json!({"name": format!("field_{i}"), "type": "string",
                "doc": format!("{} number {i}", "lorem ipsum dolor sit amet ".repeat(20))})
        })
        .collect();
    let schema = json!({"type": "record", "name": "Wide", "fields": fields}).to_string();
    srv.register("wide-value", &schema, json!({})).await;
    let r = search(&srv, "q=field_10").await;
    assert_eq!(titles(&r), ["wide-value"]);
    assert!(has_match(&r["hits"][0], "field", "[field_10]"), "{r}");
    assert_eq!(search(&srv, "q=lorem").await["total"], 1);
});

/// Referenced by [`BASKET_PROTO`] as `common.proto`.
const COMMON_PROTO: &str = "syntax = \"proto3\";
package acme.common;
// An amount of money.
message Money { int64 units = 1; string currency_code = 2; }
";

/// What the catalog's former token scanner got wrong in a schema as the registry stores
/// it (Confluent's printout, which keeps options and drops comments): fields inside a
/// proto2 group, a message-level `confluent.message_meta` (tags and doc), `confluent.field_meta` docs
/// over several lines, and a type from a reference. The text is written awkwardly too
/// (a nested message before the fields, several fields on one line, comments and
/// options anywhere); the registry reprints it before the catalog reads it.
const BASKET_PROTO: &str = r#"// Copyright Acme Corp. Licensed under the frobnicator licence.

syntax = "proto2";
package acme.shop;
import "common.proto";
import "confluent/meta.proto";

/*
 * A basket checked out
 * in the shop.
 */
message Basket {
  option (confluent.message_meta) = {
    doc: "Baskets as paid for"
    tags: ["SALES"]
  };
  message Item {
    optional string sku_code = 1; /* the article number */
    optional acme.common.Money unit_price = 2;
  }
  optional string basket_id = 1; optional string shopper_email = 2 [
    (confluent.field_meta) = {
      tags: ["PII"],
      doc: "where receipts go"
    }
  ]; optional int32 item_count = 3; // counted at checkout
  repeated Item items = 4;
  map<string, string> labels = 5;
  oneof payment {
    // A comment: not stored (Confluent's printout drops comments).
    string card_token = 6 [(confluent.field_meta).doc = "Token from the payment provider"];
    string voucher_code = 7;
  }
  optional group Delivery = 8 {
    optional string courier_name = 9;
  }
}
"#;

dual!(protobuf_fields_and_docs_in_every_layout, |srv| {
    srv.register(
        "shop-common",
        COMMON_PROTO,
        json!({"schemaType": "PROTOBUF"}),
    )
    .await;
    srv.register(
        "shop-basket-value",
        BASKET_PROTO,
        json!({"schemaType": "PROTOBUF", "references": [
            {"name": "common.proto", "subject": "shop-common", "version": 1}]}),
    )
    .await;
    const BASKET: &str = "shop-basket-value";

    // Every field, wherever it is declared; nested messages' fields by their own name,
    // as Avro's nested records' fields are.
    for field in [
        "Basket",
        "Item",
        "sku_code",
        "unit_price",
        "basket_id",
        "shopper_email",
        "item_count",
        "items",
        "labels",
        "card_token",
        "voucher_code",
        "Delivery",
        "courier_name",
    ] {
        let r = search(&srv, &format!("q={field}")).await;
        assert_eq!(titles(&r), [BASKET], "{field}: {r}");
        assert!(
            has_match(&r["hits"][0], "field", &format!("[{field}]")),
            "{field}: {r}"
        );
        assert_eq!(r["hits"][0]["format"], "PROTOBUF");
    }
    // The referenced file's fields belong to its own subject.
    assert_eq!(
        titles(&search(&srv, "q=currency_code").await),
        ["shop-common"]
    );

    // The docs of meta options, however they were written.
    for (q, doc) in [
        ("receipts", "where [receipts] go"),
        ("paid", "Baskets as [paid] for"),
        ("provider", "Token from the payment [provider]"),
    ] {
        let r = search(&srv, &format!("q={q}")).await;
        assert_eq!(titles(&r), [BASKET], "{q}: {r}");
        assert!(has_match(&r["hits"][0], "doc", doc), "{q}: {r}");
    }

    // Tags of field and message meta options.
    assert_eq!(titles(&search(&srv, "tag=pii").await), [BASKET]);
    assert_eq!(titles(&search(&srv, "tag=SALES").await), [BASKET]);
});

dual!(another_node_searches_what_this_one_wrote, |srv| {
    // Two nodes on one database: each searches its own copy of the documents, which
    // catches up by revision inside each search (no message passes between nodes).
    catalog(&srv).await;
    let url = common::auth::db_url(&srv);
    let mut other = Srv::start(common::config(&url)).await;
    assert_eq!(search(&other, "").await["total"], 5);
    let owners = |r: &Value| r["facets"]["owners"].clone();
    assert_eq!(
        owners(&search(&other, "").await),
        json!([{"value": "checkout", "count": 2}, {"value": "billing", "count": 1}, {"value": "logistics", "count": 1}])
    );

    // A new document, written through the first node.
    let zebra =
        r#"{"type":"record","name":"Zebra","fields":[{"name":"stripe_count","type":"int"}]}"#;
    srv.register("zebra-value", zebra, json!({})).await;
    assert_eq!(
        titles(&search(&other, "q=stripe_count").await),
        ["zebra-value"]
    );
    assert_eq!(search(&other, "").await["total"], 6);

    // A changed one: a new owner shows in the filters and facets at once.
    apply(
        &srv,
        None,
        "shipments",
        &contract("shipments", "checkout", "domain: sales\n", ""),
    )
    .await;
    let r = search(&other, "owner=checkout").await;
    assert_eq!(
        sorted(titles(&r)),
        ["orders", "orders-archive", "shipments"],
        "{r}"
    );
    assert_eq!(search(&other, "domain=sales").await["total"], 3);
    assert_eq!(search(&other, "owner=logistics").await["total"], 0);

    // A removed one (the free subject's versions deleted) is gone from the results and
    // the counts.
    assert_eq!(srv.delete("/subjects/zebra-value").await.status, 200);
    assert_eq!(search(&other, "q=stripe_count").await["total"], 0);
    assert_eq!(search(&other, "").await["total"], 5);
    // Back again, under a new document id.
    srv.register("zebra-value", zebra, json!({})).await;
    let r = search(&other, "q=stripe").await;
    assert_eq!(titles(&r), ["zebra-value"], "{r}");
    assert!(has_match(&r["hits"][0], "field", "[stripe]_count"), "{r}");

    // A rebuild of the whole index (as at a first start): the copy is reloaded.
    srv.stop().await;
    let store = accord_server::storage::Store::connect(&url).await.unwrap();
    let mut w = store.begin_write().await.unwrap();
    accord_server::catalog::reindex_all(&mut w.tx)
        .await
        .unwrap();
    w.commit().await.unwrap();
    store.close().await;
    assert_eq!(search(&other, "").await["total"], 6);
    assert_eq!(
        titles(&search(&other, "q=stripe_count").await),
        ["zebra-value"]
    );
    srv = Srv::start(common::config(&url)).await;
    other.stop().await;
});
