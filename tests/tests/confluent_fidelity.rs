//! Confluent fidelity, round two (issue 14), over HTTP on both databases: request
//! bodies read as Jackson reads them, what Confluent accepts registering here, verbose
//! messages byte for byte, answers that echo the request, edge answers, and Protobuf
//! `format=serialized`. (Contexts are in `contexts.rs`.) Every case asserts the status
//! and `error_code`, and success answers their exact body.

mod common;
use serde_json::{json, Value};

const A: &str = r#"{"type":"record","name":"A","fields":[{"name":"a","type":"string"}]}"#;
const B: &str = r#"{"type":"record","name":"B","fields":[{"name":"b","type":"string"}]}"#;
const A_PLUS_N: &str = r#"{"type":"record","name":"A","fields":[{"name":"a","type":"string"},{"name":"n","type":"int"}]}"#;
const A_PLUS_OPTIONAL: &str = r#"{"type":"record","name":"A","fields":[{"name":"a","type":"string"},{"name":"o","type":"int","default":0}]}"#;

fn id_of(v: &Value) -> i64 {
    v["id"].as_i64().unwrap_or_else(|| panic!("no id in {v}"))
}

async fn raw_post(srv: &common::Srv, path: &str, body: &str) -> common::Resp {
    srv.raw(
        reqwest::Method::POST,
        path,
        Some(("application/vnd.schemaregistry.v1+json", body.to_string())),
    )
    .await
}

dual!(bodies_are_read_as_jackson_reads_them, |srv| {
    // Integers from strings and from floats (truncated), as Jackson coerces them.
    let r = srv
        .post("/subjects/j/versions", json!({"schema": A, "version": "1"}))
        .await
        .ok();
    assert_eq!((id_of(&r), r["version"].clone()), (1, json!(1)));
    let r = srv
        .post(
            "/subjects/j/versions",
            json!({"schema": A_PLUS_OPTIONAL, "version": 2.9}),
        )
        .await
        .ok();
    assert_eq!(r["version"], 2);
    // Strings from numbers and booleans: metadata property values.
    let r = srv
        .post(
            "/subjects/m/versions",
            json!({"schema": A, "metadata": {"properties": {"owner": 7, "pii": true}}}),
        )
        .await
        .ok();
    assert_eq!(
        r["metadata"],
        json!({"properties": {"owner": "7", "pii": "true"}})
    );
    // Out of int32, or of a type Jackson cannot convert: 400 with code 400, saying where.
    let msg = srv
        .post(
            "/subjects/j/versions",
            json!({"schema": A, "version": 3000000000i64}),
        )
        .await
        .assert_error(400, 400);
    assert!(
        msg.contains("out of range of int") && msg.contains("version"),
        "{msg}"
    );
    srv.post(
        "/subjects/j/versions",
        json!({"schema": A, "version": true}),
    )
    .await
    .assert_error(400, 400);
    srv.post(
        "/subjects/j/versions",
        json!({"schema": {"type": "string"}}),
    )
    .await
    .assert_error(400, 400);
    let msg = srv
        .post(
            "/subjects/j/versions",
            json!({"schema": A, "references": [{"name": "x", "subject": "s", "version": "one"}]}),
        )
        .await
        .assert_error(400, 400);
    assert!(msg.contains("references[0].version"), "{msg}");
    // A null body is Confluent's missing entity: 422 with code 422; a null schema on a
    // subject without versions is an empty schema (42201).
    raw_post(&srv, "/subjects/j/versions", "null")
        .await
        .assert_error(422, 422);
    srv.post("/subjects/fresh/versions", json!({"schema": null}))
        .await
        .assert_error(422, 42201);
    // Config booleans from strings.
    assert_eq!(
        srv.put("/config/j", json!({"normalize": "true"}))
            .await
            .ok(),
        json!({"normalize": true})
    );
    // POST / takes a JSON map of strings and answers {}; anything else is 400.
    assert_eq!(
        srv.post("/", json!({"a": "b", "n": 1})).await.ok(),
        json!({})
    );
    raw_post(&srv, "/", "not json").await.assert_error(400, 400);
    srv.post("/", json!({"a": {"b": 1}}))
        .await
        .assert_error(400, 400);
});

dual!(answers_echo_the_request, |srv| {
    // PUT /config answers with the request, in the client's letter case; the stored
    // level is upper-case.
    assert_eq!(
        srv.put("/config", json!({"compatibility": "forward"}))
            .await
            .ok(),
        json!({"compatibility": "forward"})
    );
    assert_eq!(
        srv.get("/config").await.ok(),
        json!({"compatibilityLevel": "FORWARD"})
    );
    assert_eq!(srv.put("/config", json!({})).await.ok(), json!({}));
    assert_eq!(
        srv.get("/config").await.ok(),
        json!({"compatibilityLevel": "FORWARD"})
    );
    assert_eq!(
        srv.put(
            "/config/s",
            json!({"compatibility": "full", "normalize": true, "ignored": 1})
        )
        .await
        .ok(),
        json!({"normalize": true, "compatibility": "full"})
    );
    // GET without defaultToGlobal shows what is stored.
    assert_eq!(
        srv.get("/config/s").await.ok(),
        json!({"compatibilityLevel": "FULL", "normalize": true})
    );
    assert_eq!(
        srv.put("/mode", json!({"mode": "readwrite"})).await.ok(),
        json!({"mode": "readwrite"})
    );
    // DELETE /mode answers with the mode it removed.
    srv.put("/mode", json!({"mode": "READONLY"})).await.ok();
    assert_eq!(srv.delete("/mode").await.ok(), json!({"mode": "READONLY"}));

    // A registration under an alias is checked against, and lands in, the target.
    srv.put("/config", json!({"compatibility": "BACKWARD"}))
        .await
        .ok();
    srv.register("target", A, json!({})).await;
    srv.put("/config/nick", json!({"alias": "target"}))
        .await
        .ok();
    srv.post("/subjects/nick/versions", json!({"schema": A_PLUS_N}))
        .await
        .assert_error(409, 40901);
    let r = srv
        .post(
            "/subjects/nick/versions",
            json!({"schema": A_PLUS_OPTIONAL}),
        )
        .await
        .ok();
    assert_eq!(
        (r["subject"].clone(), r["version"].clone()),
        (json!("target"), json!(2))
    );
    assert_eq!(
        srv.get("/subjects/target/versions").await.ok(),
        json!([1, 2])
    );
});

dual!(verbose_messages_are_confluents, |srv| {
    srv.register("m", A, json!({})).await;
    let a_text = srv.get("/subjects/m/versions/1").await.ok()["schema"].clone();
    let a_text = a_text.as_str().unwrap();
    let missing_n = "{errorType:'READER_FIELD_MISSING_DEFAULT_VALUE', description:'The field 'n' at path '/fields/1' in the new schema has no default value and is missing in the old schema', additionalInfo:'n'}";
    let want = json!([
        missing_n,
        "{oldSchemaVersion: 1}",
        format!("{{oldSchema: '{a_text}'}}"),
        "{validateFields: 'false', compatibility: 'BACKWARD'}"
    ]);
    let r = srv
        .post(
            "/compatibility/subjects/m/versions?verbose=true",
            json!({"schema": A_PLUS_N}),
        )
        .await
        .ok();
    assert_eq!(r["is_compatible"], false);
    assert_eq!(r["messages"], want);
    // Accord's structure rides along in a field Confluent clients ignore.
    assert_eq!(
        r["incompatibilities"][0]["kind"],
        "READER_FIELD_MISSING_DEFAULT_VALUE"
    );
    assert_eq!(r["incompatibilities"][0]["path"], "/fields/1");
    assert_eq!(r["incompatibilities"][0]["version"], 1);
    assert_eq!(r["incompatibilities"][0]["direction"], "backward");
    // Without verbose: Confluent's shape only.
    assert_eq!(
        srv.post(
            "/compatibility/subjects/m/versions",
            json!({"schema": A_PLUS_N})
        )
        .await
        .ok(),
        json!({"is_compatible": false})
    );
    // The 409 of a registration carries the same details.
    let msg = srv
        .post("/subjects/m/versions", json!({"schema": A_PLUS_N}))
        .await
        .assert_error(409, 40901);
    let details: Vec<String> = want
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        msg,
        format!(
            "Schema being registered is incompatible with an earlier schema for subject \"m\", details: [{}]",
            details.join(", ")
        )
    );

    // FULL where only the forward half fails: the forward wording, and no quoted schema
    // (Confluent quotes after the backward half only).
    srv.put("/config/f", json!({"compatibility": "FULL"}))
        .await
        .ok();
    srv.register("f", A_PLUS_N, json!({})).await;
    let r = srv
        .post(
            "/compatibility/subjects/f/versions?verbose=true",
            json!({"schema": A}),
        )
        .await
        .ok();
    assert_eq!(
        r["messages"],
        json!([
            "{errorType:'READER_FIELD_MISSING_DEFAULT_VALUE', description:'The field 'n' at path '/fields/1' in the old schema has no default value and is missing in the new schema', additionalInfo:'n'}",
            "{validateFields: 'false', compatibility: 'FULL'}"
        ])
    );

    // Protobuf: Confluent's Difference string.
    srv.register(
        "p",
        r#"syntax = "proto3"; package ex; message M { int32 v = 1; }"#,
        json!({"schemaType": "PROTOBUF"}),
    )
    .await;
    let r = srv
        .post(
            "/compatibility/subjects/p/versions?verbose=true",
            json!({"schemaType": "PROTOBUF", "schema": r#"syntax = "proto3"; package ex; message M { sint32 v = 1; }"#}),
        )
        .await
        .ok();
    assert_eq!(
        r["messages"][0],
        "{errorType:\"FIELD_SCALAR_KIND_CHANGED\", description:\"The kind of a SCALAR field at path '#/M/1' in the new schema does not match its kind in the old schema\"}"
    );
    assert_eq!(r["messages"][1], "{oldSchemaVersion: 1}");
    // A change of schema type is Confluent's one line.
    let r = srv
        .post(
            "/compatibility/subjects/m/versions?verbose=true",
            json!({"schemaType": "JSON", "schema": "{\"type\":\"object\"}"}),
        )
        .await
        .ok();
    assert_eq!(
        r["messages"],
        json!(["Incompatible because of different schema type"])
    );
});

dual!(what_confluent_accepts_registers, |srv| {
    // An Avro default that does not match its type: Confluent registers it (it
    // validates defaults only under normalize); so does Accord, with a warning.
    let bad_default =
        r#"{"type":"record","name":"D","fields":[{"name":"n","type":"int","default":"x"}]}"#;
    let r = srv.register("d", bad_default, json!({})).await;
    assert_eq!(id_of(&r), 1);
    let c = srv
        .post(
            "/compatibility/subjects/d/versions?verbose=true",
            json!({"schema": bad_default}),
        )
        .await
        .ok();
    assert_eq!(c["is_compatible"], true);
    assert_eq!(c["warnings"][0]["kind"], "DEFAULT_TYPE_MISMATCH");
    assert_eq!(c["warnings"][0]["path"], "/fields/0");
    // Under normalize Confluent validates defaults: 42201.
    srv.post(
        "/subjects/d2/versions?normalize=true",
        json!({"schema": bad_default}),
    )
    .await
    .assert_error(422, 42201);
    // A subject (or context, or the registry) may opt in to Accord's stricter checks.
    assert_eq!(
        srv.put("/config/strict", json!({"accordStrictSchemas": true}))
            .await
            .ok(),
        json!({"accordStrictSchemas": true})
    );
    let msg = srv
        .post("/subjects/strict/versions", json!({"schema": bad_default}))
        .await
        .assert_error(422, 42201);
    assert!(msg.contains("DEFAULT_TYPE_MISMATCH"), "{msg}");
    // JSON Schema: a negative maxLength loads in Confluent's loaders.
    let r = srv
        .register(
            "js",
            r#"{"type":"object","properties":{"a":{"type":"string","maxLength":-1}}}"#,
            json!({"schemaType": "JSON"}),
        )
        .await;
    assert_eq!(id_of(&r), 2);
    // Protobuf: a well-known type used without its import.
    let r = srv
        .register(
            "pb",
            r#"syntax = "proto3"; package ex; message M { google.protobuf.Timestamp at = 1; }"#,
            json!({"schemaType": "PROTOBUF"}),
        )
        .await;
    assert_eq!(id_of(&r), 3);
});

dual!(edge_answers_match_confluent, |srv| {
    srv.register("e", A, json!({})).await;
    srv.register("other", B, json!({})).await;
    // Ids: not an int32 is Jersey's 404; 0 or less is a schema not found.
    srv.get("/schemas/ids/abc").await.assert_error(404, 404);
    srv.get("/schemas/ids/99999999999")
        .await
        .assert_error(404, 404);
    srv.get("/schemas/ids/0").await.assert_error(404, 40403);
    srv.get("/schemas/ids/-1").await.assert_error(404, 40403);
    // Versions: anything but a positive int32, latest or -1 is 42202.
    srv.get("/subjects/e/versions/abc")
        .await
        .assert_error(422, 42202);
    srv.get("/subjects/e/versions/0")
        .await
        .assert_error(422, 42202);
    srv.get("/subjects/e/versions/2147483648")
        .await
        .assert_error(422, 42202);
    // limit/offset that are not int32: Jersey's 404.
    srv.get("/subjects?limit=abc").await.assert_error(404, 404);
    srv.get("/subjects?offset=x").await.assert_error(404, 404);
    assert_eq!(
        srv.get("/subjects?offset=1&limit=1").await.ok(),
        json!(["other"])
    );
    // An id with a subject that does not hold it: 40403.
    srv.get("/schemas/ids/1?subject=other")
        .await
        .assert_error(404, 40403);
    assert_eq!(srv.get("/schemas/ids/1?subject=e").await.ok()["version"], 1);
    // referencedby of an unknown subject: 40401.
    srv.get("/subjects/nope/versions/1/referencedby")
        .await
        .assert_error(404, 40401);
    // Empty path segments are dropped, as Confluent's alias filter does.
    assert_eq!(srv.get("//subjects").await.ok(), json!(["e", "other"]));
    assert_eq!(srv.get("/subjects//e/versions").await.ok(), json!([1]));
    // latest with deleted=true sees a soft-deleted newest version.
    srv.register("e", A_PLUS_OPTIONAL, json!({})).await;
    srv.delete("/subjects/e/versions/2").await.ok();
    assert_eq!(
        srv.get("/subjects/e/versions/latest").await.ok()["version"],
        1
    );
    assert_eq!(
        srv.get("/subjects/e/versions/latest?deleted=true")
            .await
            .ok()["version"],
        2
    );
    // An explicit version that is not the next one: Confluent's 42201.
    let a_plus_p = r#"{"type":"record","name":"A","fields":[{"name":"a","type":"string"},{"name":"p","type":"int","default":1}]}"#;
    let msg = srv
        .post(
            "/subjects/e/versions",
            json!({"schema": a_plus_p, "version": 7}),
        )
        .await
        .assert_error(422, 42201);
    assert_eq!(msg, "Version is not one more than previous version");
    // An explicit id outside IMPORT mode: 42205.
    srv.post(
        "/subjects/e/versions",
        json!({"schema": a_plus_p, "id": 50}),
    )
    .await
    .assert_error(422, 42205);
    // Reserved subject names: 42208.
    srv.post("/subjects/__GLOBAL/versions", json!({"schema": A}))
        .await
        .assert_error(422, 42208);
    srv.post("/subjects/__EMPTY/versions", json!({"schema": A}))
        .await
        .assert_error(422, 42208);
});

dual!(protobuf_serialized_is_confluents_descriptor, |srv| {
    // The schema and bytes pinned in accord-compat's `serialized_bytes_are_confluents`
    // (derived there field by field from Confluent's converter), served over HTTP.
    let text = r#"syntax = "proto3";
package shop.v1;

import "google/protobuf/timestamp.proto";

message Order {
  string id = 1;
  google.protobuf.Timestamp created = 2;
  map<string, Line> by_sku = 3;
  repeated Status history = 4;
  oneof payment {
    string card = 5;
    Line voucher = 6;
  }
  message Line {
    int64 qty = 1 [json_name = "quantity"];
  }
  enum Status {
    STATUS_UNKNOWN = 0;
    PAID = 1;
  }
}
"#;
    let r = srv
        .register("order", text, json!({"schemaType": "PROTOBUF"}))
        .await;
    let id = id_of(&r);
    let s = srv
        .get(&format!("/schemas/ids/{id}?format=serialized"))
        .await
        .ok();
    assert_eq!(
        s["schema"],
        "CgdkZWZhdWx0EgdzaG9wLnYxGh9nb29nbGUvcHJvdG9idWYvdGltZXN0YW1wLnByb3RvIo8CCgVPcmRlchIOCgRjYXJkGAUgASgJSAASFQoHdm91Y2hlchgGIAEyBExpbmVIABIICgJpZBgBKAkSJgoHY3JlYXRlZBgCMhlnb29nbGUucHJvdG9idWYuVGltZXN0YW1wEhgKBmJ5X3NrdRgDIAMyCkJ5U2t1RW50cnkSFQoHaGlzdG9yeRgEIAMyBlN0YXR1cxobCgRMaW5lEhMKA3F0eRgBKANSCHF1YW50aXR5GiwKCkJ5U2t1RW50cnkSCQoDa2V5GAEoCRIPCgV2YWx1ZRgCMgRMaW5lOgI4ASImCgZTdGF0dXMSEgoOU1RBVFVTX1VOS05PV04QABIICgRQQUlEEAFCCQoHcGF5bWVudGIGcHJvdG8z"
    );
    assert_eq!(
        srv.get("/subjects/order/versions/1?format=serialized")
            .await
            .ok()["schema"],
        s["schema"]
    );
});
