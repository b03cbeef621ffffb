//! References between subjects in every format, reference resolution and its errors,
//! `format=resolved` (Avro) and `format=serialized` (Protobuf, also registered as a
//! base64 FileDescriptorProto), parse errors that say where, and normalisation
//! (confluent-compat.md §1.2, §1.4, §9.1).

mod common;
use base64::Engine as _;
use prost::Message as _;
use prost_types::field_descriptor_proto::{Label, Type};
use prost_types::{DescriptorProto, FieldDescriptorProto, FileDescriptorProto};
use serde_json::{json, Value};

const ADDRESS: &str = r#"{"type":"record","name":"Address","namespace":"com.acme","fields":[{"name":"street","type":"string"}]}"#;
const ADDRESS_V2: &str = r#"{"type":"record","name":"Address","namespace":"com.acme","fields":[{"name":"street","type":"string"},{"name":"zip","type":"string","default":""}]}"#;
const ORDER: &str = r#"{"type":"record","name":"Order","namespace":"com.acme","fields":[{"name":"id","type":"long"},{"name":"ship_to","type":"com.acme.Address"}]}"#;

const MONEY_PROTO: &str = "syntax = \"proto3\";\npackage common;\n\nmessage Money {\n  int64 units = 1;\n  string currency = 2;\n}\n";
const ORDER_PROTO: &str = "syntax = \"proto3\";\npackage shop;\n\nimport \"common/money.proto\";\nimport \"google/protobuf/timestamp.proto\";\n\nmessage Order {\n  string id = 1;\n  common.Money total = 2;\n  google.protobuf.Timestamp placed_at = 3;\n}\n";

fn id_of(v: &Value) -> i64 {
    v["id"].as_i64().unwrap_or_else(|| panic!("no id in {v}"))
}

fn address_ref(version: i64) -> Value {
    json!([{"name": "com.acme.Address", "subject": "address", "version": version}])
}

/// The schema text of a body, parsed as JSON (Avro and JSON Schema).
fn schema_json(body: &Value) -> Value {
    serde_json::from_str(body["schema"].as_str().expect("schema text")).expect("schema is JSON")
}

fn decode_descriptor(b64: &str) -> FileDescriptorProto {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(b64)
        .unwrap_or_else(|e| panic!("not standard base64 ({e}): {b64}"));
    FileDescriptorProto::decode(bytes.as_slice()).expect("a FileDescriptorProto")
}

dual!(avro_references_and_resolved_format, |srv| {
    srv.register("address", ADDRESS, json!({})).await;
    let order = srv
        .register("order", ORDER, json!({"references": address_ref(1)}))
        .await;
    let id = id_of(&order);
    assert_eq!(order["references"], address_ref(1));

    // Default: the reference stays a name.
    let got = srv.get("/subjects/order/versions/1").await.ok();
    assert_eq!(got["references"], address_ref(1));
    // (Written relative to the enclosing namespace, as Java's Schema.toString does.)
    let t = &schema_json(&got)["fields"][1]["type"];
    assert!(t == "Address" || t == "com.acme.Address", "{got}");
    let by_id = srv.get(&format!("/schemas/ids/{id}")).await.ok();
    assert_eq!(by_id["references"], address_ref(1));

    // format=resolved inlines the referenced type, on every route that takes format.
    for path in [
        "/subjects/order/versions/1?format=resolved".to_string(),
        format!("/schemas/ids/{id}?format=resolved"),
    ] {
        let r = srv.get(&path).await.ok();
        let t = &schema_json(&r)["fields"][1]["type"];
        assert_eq!(t["type"], "record", "{path}: {r}");
        assert_eq!(t["name"], "Address", "{path}: {r}");
        assert_eq!(t["fields"][0]["name"], "street", "{path}: {r}");
    }
    let raw = srv
        .get(&format!("/schemas/ids/{id}/schema?format=resolved"))
        .await;
    assert_eq!(raw.status, 200);
    let raw: Value = serde_json::from_str(&raw.text).unwrap();
    assert_eq!(raw["fields"][1]["type"]["name"], "Address");
    // A format of another schema type is ignored.
    let ignored = srv
        .get(&format!("/schemas/ids/{id}?format=serialized"))
        .await
        .ok();
    assert_eq!(ignored["schema"], by_id["schema"]);

    // Lookup needs the same references; the same text without them does not parse.
    let found = srv
        .post(
            "/subjects/order",
            json!({"schema": ORDER, "references": address_ref(1)}),
        )
        .await
        .ok();
    assert_eq!(id_of(&found), id);
    let msg = srv
        .post("/subjects/order2/versions", json!({"schema": ORDER}))
        .await
        .assert_error(422, 42201);
    assert!(msg.contains("com.acme.Address"), "{msg}");
});

dual!(reference_version_minus_one_is_stored_as_the_latest, |srv| {
    srv.register("address", ADDRESS, json!({})).await;
    srv.register("address", ADDRESS_V2, json!({})).await;
    let order = srv
        .register("order", ORDER, json!({"references": address_ref(-1)}))
        .await;
    assert_eq!(order["references"], address_ref(2));
    let got = srv.get("/subjects/order/versions/latest").await.ok();
    assert_eq!(got["references"], address_ref(2));
    assert_eq!(
        srv.get("/subjects/address/versions/2/referencedby")
            .await
            .ok(),
        json!([id_of(&order)])
    );
    assert_eq!(
        srv.get("/subjects/address/versions/1/referencedby")
            .await
            .ok(),
        json!([])
    );
    // Sent again with the concrete version it is the same schema.
    let again = srv
        .register("order", ORDER, json!({"references": address_ref(2)}))
        .await;
    assert_eq!(
        (id_of(&again), again["version"].as_i64()),
        (id_of(&order), Some(1))
    );
    // A reference to version 1 is a different schema (references are part of identity).
    srv.put("/config/order", json!({"compatibility": "NONE"}))
        .await
        .ok();
    let v1ref = srv
        .register("order", ORDER, json!({"references": address_ref(1)}))
        .await;
    assert_ne!(id_of(&v1ref), id_of(&order));
    assert_eq!(v1ref["version"], 2);
});

dual!(bad_references_are_42201, |srv| {
    srv.register("address", ADDRESS, json!({})).await;
    srv.register("address", ADDRESS_V2, json!({})).await;
    let cases = [
        json!([{"name": "com.acme.Address", "subject": "nosuch", "version": 1}]),
        json!([{"name": "com.acme.Address", "subject": "address", "version": 9}]),
        json!([{"name": "com.acme.Address", "subject": "nosuch", "version": -1}]),
        json!([{"name": "com.acme.Address", "subject": "address"}]),
        json!([{"name": "com.acme.Address", "version": 1}]),
        json!([{"subject": "address", "version": 1}]),
    ];
    for refs in cases {
        let msg = srv
            .post(
                "/subjects/order/versions",
                json!({"schema": ORDER, "references": refs}),
            )
            .await
            .assert_error(422, 42201);
        assert!(msg.to_lowercase().contains("reference"), "{refs}: {msg}");
    }
    // A soft-deleted version cannot back a new schema.
    srv.delete("/subjects/address/versions/2").await.ok();
    srv.post(
        "/subjects/order/versions",
        json!({"schema": ORDER, "references": address_ref(2)}),
    )
    .await
    .assert_error(422, 42201);
    // -1 now means version 1.
    let ok = srv
        .register("order", ORDER, json!({"references": address_ref(-1)}))
        .await;
    assert_eq!(ok["references"], address_ref(1));
    assert_eq!(srv.get("/subjects").await.ok(), json!(["address", "order"]));
});

dual!(json_schema_ref_to_another_subject, |srv| {
    let address =
        r#"{"type":"object","properties":{"street":{"type":"string"}},"required":["street"]}"#;
    let order = r##"{"type":"object","properties":{"id":{"type":"string"},"ship_to":{"$ref":"address.schema.json"}}}"##;
    srv.register("json-address", address, json!({"schemaType": "JSON"}))
        .await;
    let refs = json!([{"name": "address.schema.json", "subject": "json-address", "version": 1}]);
    let r = srv
        .register(
            "json-order",
            order,
            json!({"schemaType": "JSON", "references": refs}),
        )
        .await;
    assert_eq!(r["schemaType"], "JSON");
    assert_eq!(r["references"], refs);
    let got = srv.get(&format!("/schemas/ids/{}", id_of(&r))).await.ok();
    assert_eq!(got["references"], refs);
    assert_eq!(
        schema_json(&got)["properties"]["ship_to"]["$ref"],
        "address.schema.json"
    );
    assert_eq!(
        srv.get("/subjects/json-address/versions/1/referencedby")
            .await
            .ok(),
        json!([id_of(&r)])
    );
    // Without the reference the $ref cannot be resolved.
    srv.post(
        "/subjects/json-order2/versions",
        json!({"schema": order, "schemaType": "JSON"}),
    )
    .await
    .assert_error(422, 42201);
});

dual!(
    protobuf_imports_another_subject_and_well_known_types,
    |srv| {
        let money = srv
            .register("money", MONEY_PROTO, json!({"schemaType": "PROTOBUF"}))
            .await;
        assert_eq!(money["schemaType"], "PROTOBUF");
        // google/protobuf/timestamp.proto needs no reference.
        let refs = json!([{"name": "common/money.proto", "subject": "money", "version": 1}]);
        let order = srv
            .register(
                "order-proto",
                ORDER_PROTO,
                json!({"schemaType": "PROTOBUF", "references": refs}),
            )
            .await;
        assert_eq!(order["references"], refs);
        let text = order["schema"].as_str().unwrap();
        assert!(
            text.contains("import \"common/money.proto\";")
                && text.contains("import \"google/protobuf/timestamp.proto\";")
                && text.contains("message Order"),
            "{text}"
        );

        // format=serialized: base64 of a FileDescriptorProto, on both routes.
        let id = id_of(&order);
        for path in [
            format!("/schemas/ids/{id}?format=serialized"),
            "/subjects/order-proto/versions/1?format=serialized".to_string(),
            "/subjects/order-proto/versions/latest?format=SERIALIZED".to_string(),
        ] {
            let r = srv.get(&path).await.ok();
            assert_eq!(r["references"], refs, "{path}");
            let fd = decode_descriptor(r["schema"].as_str().unwrap());
            assert_eq!(fd.package(), "shop", "{path}");
            assert_eq!(
                fd.dependency,
                vec![
                    "common/money.proto".to_string(),
                    "google/protobuf/timestamp.proto".to_string()
                ],
                "{path}"
            );
            assert_eq!(fd.message_type.len(), 1, "{path}");
            let msg = &fd.message_type[0];
            assert_eq!(msg.name(), "Order");
            let fields: Vec<(&str, i32, &str)> = msg
                .field
                .iter()
                .map(|f| (f.name(), f.number(), f.type_name()))
                .collect();
            assert_eq!(
                fields,
                vec![
                    ("id", 1, ""),
                    // Confluent's descriptor keeps type names as written.
                    ("total", 2, "common.Money"),
                    ("placed_at", 3, "google.protobuf.Timestamp")
                ],
                "{path}"
            );
        }
        // The referenced schema serialised on its own, as the Python client fetches it.
        let m = srv
            .get("/subjects/money/versions/1?format=serialized")
            .await
            .ok();
        assert_eq!(
            decode_descriptor(m["schema"].as_str().unwrap()).message_type[0].name(),
            "Money"
        );

        // Importing another subject's file without a reference does not compile.
        let msg = srv
            .post(
                "/subjects/order-proto2/versions",
                json!({"schema": ORDER_PROTO, "schemaType": "PROTOBUF"}),
            )
            .await
            .assert_error(422, 42201);
        assert!(msg.contains("common/money.proto"), "{msg}");
    }
);

dual!(protobuf_registered_as_a_binary_descriptor, |srv| {
    let fd = FileDescriptorProto {
        name: Some("order.proto".to_string()),
        package: Some("shop".to_string()),
        syntax: Some("proto3".to_string()),
        message_type: vec![DescriptorProto {
            name: Some("Order".to_string()),
            field: vec![
                FieldDescriptorProto {
                    name: Some("id".to_string()),
                    number: Some(1),
                    label: Some(Label::Optional as i32),
                    r#type: Some(Type::String as i32),
                    json_name: Some("id".to_string()),
                    ..Default::default()
                },
                FieldDescriptorProto {
                    name: Some("quantity".to_string()),
                    number: Some(2),
                    label: Some(Label::Optional as i32),
                    r#type: Some(Type::Int32 as i32),
                    json_name: Some("quantity".to_string()),
                    ..Default::default()
                },
            ],
            ..Default::default()
        }],
        ..Default::default()
    };
    let b64 = base64::engine::general_purpose::STANDARD.encode(fd.encode_to_vec());
    let r = srv
        .register("bin", &b64, json!({"schemaType": "PROTOBUF"}))
        .await;
    let id = id_of(&r);
    // Stored and returned as .proto text.
    let text = r["schema"].as_str().unwrap();
    assert!(
        text.contains("package shop;")
            && text.contains("message Order {")
            && text.contains("int32 quantity = 2;"),
        "{text}"
    );
    assert_eq!(
        srv.get(&format!("/schemas/ids/{id}")).await.ok()["schema"],
        r["schema"]
    );

    // Fetched back as a descriptor with the same message.
    for path in [
        format!("/schemas/ids/{id}?format=serialized"),
        "/subjects/bin/versions/1?format=serialized".to_string(),
    ] {
        let got = srv.get(&path).await.ok();
        let back = decode_descriptor(got["schema"].as_str().unwrap());
        assert_eq!(back.package(), "shop", "{path}");
        assert_eq!(back.syntax(), "proto3", "{path}");
        let m = &back.message_type[0];
        assert_eq!(m.name(), "Order", "{path}");
        let fields: Vec<(&str, i32, Type)> = m
            .field
            .iter()
            .map(|f| (f.name(), f.number(), f.r#type()))
            .collect();
        assert_eq!(
            fields,
            vec![("id", 1, Type::String), ("quantity", 2, Type::Int32)],
            "{path}"
        );
    }

    // The same descriptor again, as base64 or as the text it was stored as: one schema.
    let again = srv
        .register("bin", &b64, json!({"schemaType": "PROTOBUF"}))
        .await;
    assert_eq!((id_of(&again), again["version"].as_i64()), (id, Some(1)));
    let as_text = srv
        .register("bin-text", text, json!({"schemaType": "PROTOBUF"}))
        .await;
    assert_eq!(id_of(&as_text), id);
    // Lookup with the descriptor finds it.
    let found = srv
        .post(
            "/subjects/bin",
            json!({"schema": b64, "schemaType": "PROTOBUF"}),
        )
        .await
        .ok();
    assert_eq!(id_of(&found), id);
});

dual!(invalid_schemas_say_where, |srv| {
    // Protobuf: line and column of the error.
    let bad_proto = "syntax = \"proto3\";\npackage p;\n\nmessage M {\n  strng name = 1;\n}\n";
    let msg = srv
        .post(
            "/subjects/p/versions",
            json!({"schema": bad_proto, "schemaType": "PROTOBUF"}),
        )
        .await
        .assert_error(422, 42201);
    assert!(msg.contains("5:"), "line of the error: {msg}");
    assert!(msg.contains("strng"), "what is wrong: {msg}");
    let syntax = "syntax = \"proto3\";\nmessage M {\n  string name = ;\n}\n";
    let msg = srv
        .post(
            "/subjects/p/versions",
            json!({"schema": syntax, "schemaType": "PROTOBUF"}),
        )
        .await
        .assert_error(422, 42201);
    assert!(msg.contains("3:"), "line of the error: {msg}");

    // JSON Schema: the JSON Pointer of a bad keyword value...
    let bad_keyword =
        r#"{"type":"object","properties":{"age":{"type":"integer","minimum":"zero"}}}"#;
    let msg = srv
        .post(
            "/subjects/j/versions",
            json!({"schema": bad_keyword, "schemaType": "JSON"}),
        )
        .await
        .assert_error(422, 42201);
    assert!(msg.contains("#/properties/age/minimum"), "{msg}");
    // ...and line and column of a syntax error.
    let bad_json = "{\"type\":\"object\",\n \"properties\": {\"a\": }\n}";
    let msg = srv
        .post(
            "/subjects/j/versions",
            json!({"schema": bad_json, "schemaType": "JSON"}),
        )
        .await
        .assert_error(422, 42201);
    assert!(msg.contains("line 2"), "{msg}");
    assert_eq!(srv.get("/subjects").await.ok(), json!([]));
});

dual!(normalize_makes_equivalent_schemas_one, |srv| {
    let pairs: [(&str, &str, &str); 3] = [
        (
            "AVRO",
            r#"{"type":"record","name":"N","fields":[{"name":"a","type":"string"}],"owner":"x","area":"y"}"#,
            r#"{"type":"record","name":"N","fields":[{"name":"a","type":"string"}],"area":"y","owner":"x"}"#,
        ),
        (
            "JSON",
            r#"{"type":"object","properties":{"a":{"type":"string"},"b":{"type":"integer"}}}"#,
            r#"{"properties":{"b":{"type":"integer"},"a":{"type":"string"}},"type":"object"}"#,
        ),
        (
            "PROTOBUF",
            "syntax = \"proto3\";\npackage n;\n\nmessage N {\n  string a = 1;\n  int64 b = 2;\n}\n",
            "syntax = \"proto3\";\npackage n;\n\nmessage N {\n  int64 b = 2;\n  string a = 1;\n}\n",
        ),
    ];
    for (ty, one, two) in pairs {
        let lower = ty.to_lowercase();
        let extra = json!({"schemaType": ty});
        // As sent: two schemas.
        let plain_one = srv
            .register(&format!("{lower}-plain"), one, extra.clone())
            .await;
        srv.put(
            &format!("/config/{lower}-plain"),
            json!({"compatibility": "NONE"}),
        )
        .await
        .ok();
        let plain_two = srv
            .register(&format!("{lower}-plain"), two, extra.clone())
            .await;
        assert_ne!(
            id_of(&plain_one),
            id_of(&plain_two),
            "{ty} without normalize"
        );

        // normalize=true on the request: one schema, one version.
        let path = format!("/subjects/{lower}-norm/versions?normalize=true");
        let n1 = srv
            .post(&path, json!({"schema": one, "schemaType": ty}))
            .await
            .ok();
        let n2 = srv
            .post(&path, json!({"schema": two, "schemaType": ty}))
            .await
            .ok();
        assert_eq!(id_of(&n1), id_of(&n2), "{ty} with normalize=true");
        assert_eq!(
            (n1["version"].as_i64(), n2["version"].as_i64()),
            (Some(1), Some(1))
        );
        assert_eq!(
            srv.get(&format!("/subjects/{lower}-norm/versions"))
                .await
                .ok(),
            json!([1])
        );
        // Lookup with normalize finds it from either form.
        let found = srv
            .post(
                &format!("/subjects/{lower}-norm?normalize=true"),
                json!({"schema": two, "schemaType": ty}),
            )
            .await
            .ok();
        assert_eq!(id_of(&found), id_of(&n1), "{ty} lookup");

        // The config flag does the same without the query parameter.
        srv.put(&format!("/config/{lower}-cfg"), json!({"normalize": true}))
            .await
            .ok();
        let c1 = srv
            .register(&format!("{lower}-cfg"), one, extra.clone())
            .await;
        let c2 = srv
            .register(&format!("{lower}-cfg"), two, extra.clone())
            .await;
        assert_eq!(id_of(&c1), id_of(&c2), "{ty} with config normalize");
        assert_eq!(id_of(&c1), id_of(&n1), "{ty}: one normalised schema");
        assert_eq!(c2["version"], 1);
    }
});
