//! `accord encode` and `accord decode` against a real Accord registry: the bytes are
//! accord-client's golden vectors (confluent-compat.md §6.4, `client/tests/vectors`),
//! whose schemas are imported here at the vectors' ids; every format round-trips; bad
//! input is exit 2 with one line, never a panic.

#[path = "online/support.rs"]
mod support;

use support::{accord_in, vector, vector_table, Registry};

const USER_SCHEMA: &str = r#"{"type":"record","name":"User","fields":[{"name":"name","type":"string"},{"name":"age","type":"int"}]}"#;
const EX_PROTO: &str = "syntax = \"proto3\";\npackage ex;\n\nmessage A {\n  int32 x = 1;\n}\nmessage B {\n  message C {\n    string s = 1;\n  }\n}\n";
const JSON_SCHEMA: &str =
    r#"{"type":"object","properties":{"a":{"type":"integer"}},"required":["a"]}"#;

/// A registry holding the vectors' schemas at the vectors' ids.
fn vectors_registry() -> Registry {
    let reg = Registry::start();
    reg.import("users-value", 1, "AVRO", USER_SCHEMA);
    reg.import("j-value", 3, "JSON", JSON_SCHEMA);
    reg.import("blobs-value", 5, "AVRO", "\"bytes\"");
    reg.import("ex-value", 7, "PROTOBUF", EX_PROTO);
    reg.import("s-value", 10, "AVRO", "\"string\"");
    reg
}

fn encode_hex(url: &str, args: &[&str], json: &str) -> String {
    let mut all = vec!["encode", "--hex"];
    all.extend_from_slice(args);
    let r = accord_in(None, url, &all, Some(json.as_bytes()));
    r.expect(0);
    r.stdout.trim().to_string()
}

fn decode(url: &str, bytes: &[u8]) -> serde_json::Value {
    let r = accord_in(None, url, &["--output", "json", "decode"], Some(bytes));
    r.expect(0);
    r.json()
}

#[test]
fn encode_writes_the_golden_vectors_and_decode_reads_them() {
    let reg = vectors_registry();
    let url = reg.url.as_str();
    let cases: [(&str, &[&str], &str, serde_json::Value); 6] = [
        (
            "avro_user_id1.hex",
            &["--subject", "users-value"],
            r#"{"name":"Ann","age":30}"#,
            serde_json::json!({"name": "Ann", "age": 30}),
        ),
        (
            "avro_bytes_id5.hex",
            &["--subject", "blobs-value"],
            r#""\u00de\u00ad""#,
            serde_json::json!("\u{de}\u{ad}"),
        ),
        (
            "json_id3.hex",
            &["--subject", "j-value"],
            r#"{"a":1}"#,
            serde_json::json!({"a": 1}),
        ),
        (
            "protobuf_first_a_id7.hex",
            &["--subject", "ex-value"],
            r#"{"x":1}"#,
            serde_json::json!({"x": 1}),
        ),
        (
            "protobuf_nested_c_id7.hex",
            &["--subject", "ex-value", "--message", "ex.B.C"],
            r#"{"s":"hi"}"#,
            serde_json::json!({"s": "hi"}),
        ),
        (
            "protobuf_later_b_id7.hex",
            &["--subject", "ex-value", "--message", "B"],
            "{}",
            serde_json::json!({}),
        ),
    ];
    for (file, args, input, value) in cases {
        let expected = vector(file);
        assert_eq!(
            encode_hex(url, args, input),
            hex::encode(&expected),
            "{file}"
        );
        let d = decode(url, &expected);
        assert_eq!(d["value"], value, "{file}: {d}");
        assert_eq!(d["subject"], args[1], "{file}");
        assert_eq!(d["version"], 1, "{file}");
        assert_eq!(
            d["schemaId"].as_i64(),
            Some(i64::from(expected[4])),
            "{file}"
        );
    }
    // --id and --version pin the writer schema too.
    assert_eq!(
        encode_hex(
            url,
            &["--subject", "users-value", "--id", "1"],
            r#"{"name":"Ann","age":30}"#
        ),
        hex::encode(vector("avro_user_id1.hex"))
    );
    assert_eq!(
        encode_hex(
            url,
            &["--subject", "users-value", "--version", "1"],
            r#"{"name":"Ann","age":30}"#
        ),
        hex::encode(vector("avro_user_id1.hex"))
    );

    // The GUID prefix (magic byte 1) is read too.
    let d = decode(url, &vector("avro_guid_string.hex"));
    assert_eq!(d["value"], "hi");
    assert_eq!(d["guid"], "095d71cf-1255-6b9d-5e33-0ad575b3df5d");
    assert_eq!(d["schemaId"], 10);
    assert_eq!(d["subject"], "s-value");
    assert_eq!(d["schemaType"], "AVRO");

    // Text mode: a header line, then the value; hex and base64 input.
    let hex_in = hex::encode(vector("avro_user_id1.hex"));
    let r = accord_in(None, url, &["decode", "--hex"], Some(hex_in.as_bytes()));
    r.expect(0);
    assert!(r.stdout.starts_with("# schema id 1, guid "), "{}", r.stdout);
    assert!(
        r.stdout.contains(", subject users-value version 1, AVRO\n"),
        "{}",
        r.stdout
    );
    let value: serde_json::Value =
        serde_json::from_str(r.stdout.split_once('\n').unwrap().1).unwrap();
    assert_eq!(value, serde_json::json!({"name": "Ann", "age": 30}));
    let b64 = "AAAAAAEGQW5uPA==";
    let r = accord_in(
        None,
        url,
        &["--output", "json", "decode", "--base64"],
        Some(b64.as_bytes()),
    );
    assert_eq!(r.expect(0).json()["value"]["name"], "Ann");
}

#[test]
fn every_format_round_trips_through_encode_and_decode() {
    let reg = Registry::start();
    let url = reg.url.as_str();
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, text: &str| {
        let p = dir.path().join(name);
        std::fs::write(&p, text).unwrap();
        p.display().to_string()
    };
    let avro = write(
        "event.avsc",
        r#"{"type":"record","name":"Event","namespace":"com.acme","fields":[
            {"name":"id","type":"long"},
            {"name":"kind","type":{"type":"enum","name":"Kind","symbols":["A","B"]}},
            {"name":"note","type":["null","string"],"default":null},
            {"name":"tags","type":{"type":"array","items":"string"}},
            {"name":"attrs","type":{"type":"map","values":"double"}},
            {"name":"raw","type":"bytes"},
            {"name":"when","type":{"type":"long","logicalType":"timestamp-millis"}},
            {"name":"payload","type":["null","com.acme.Kind",{"type":"record","name":"Inner","fields":[{"name":"x","type":"int"}]}]}
        ]}"#,
    );
    let proto = write(
        "order.proto",
        "syntax = \"proto3\";\npackage shop;\n\nmessage Order {\n  string id = 1;\n  int64 total = 2;\n  repeated Line lines = 3;\n  map<string, int32> counts = 4;\n  Status status = 5;\n}\nmessage Line {\n  string sku = 1;\n}\nenum Status {\n  NEW = 0;\n  PAID = 1;\n}\n",
    );
    let json_schema = write(
        "thing.json",
        r#"{"type":"object","properties":{"name":{"type":"string"},"n":{"type":"number"}},"required":["name"]}"#,
    );
    accord_in(
        None,
        url,
        &["register", "--subject", "events-value", &avro],
        None,
    )
    .expect(0);
    accord_in(
        None,
        url,
        &["register", "--subject", "orders-value", &proto],
        None,
    )
    .expect(0);
    accord_in(
        None,
        url,
        &["register", "--subject", "things-value", &json_schema],
        None,
    )
    .expect(0);

    let cases = [
        (
            "events-value",
            serde_json::json!({
                "id": 42, "kind": "B", "note": {"string": "hi"}, "tags": ["a", "b"],
                "attrs": {"k": 1.5}, "raw": "\u{0}\u{ff}", "when": 1_700_000_000_000_i64,
                "payload": {"com.acme.Inner": {"x": 7}}
            }),
        ),
        (
            "orders-value",
            serde_json::json!({"id": "o1", "total": "1000", "lines": [{"sku": "x"}], "counts": {"a": 2}, "status": "PAID"}),
        ),
        ("things-value", serde_json::json!({"name": "n", "n": 1.25})),
    ];
    for (subject, value) in cases {
        let r = accord_in(
            None,
            url,
            &["encode", "--subject", subject],
            Some(value.to_string().as_bytes()),
        );
        r.expect(0);
        assert_eq!(r.stdout_bytes[0], 0, "{subject}: magic byte");
        let d = decode(url, &r.stdout_bytes);
        assert_eq!(d["value"], value, "{subject}");
        assert_eq!(d["subject"], subject);
    }
    // Defaults fill missing Avro fields; a union's null is bare.
    let partial = serde_json::json!({
        "id": 1, "kind": "A", "tags": [], "attrs": {}, "raw": "", "when": 0, "payload": null
    });
    let r = accord_in(
        None,
        url,
        &["encode", "--subject", "events-value", "--base64"],
        Some(partial.to_string().as_bytes()),
    );
    r.expect(0);
    let r = accord_in(
        None,
        url,
        &["--output", "json", "decode", "--base64"],
        Some(r.stdout.as_bytes()),
    );
    let d = r.expect(0).json();
    assert_eq!(d["value"]["note"], serde_json::Value::Null);
    assert_eq!(d["value"]["payload"], serde_json::Value::Null);
}

#[test]
fn bad_input_exits_2_with_one_line() {
    let reg = vectors_registry();
    let url = reg.url.as_str();
    // Frames every reader must refuse.
    for (name, bytes) in vector_table("malformed_frames.hex") {
        let r = accord_in(None, url, &["decode"], Some(&bytes));
        r.expect(2);
        assert!(
            r.stderr.starts_with("accord: malformed record"),
            "{name}: {}",
            r.stderr
        );
    }
    // Bad Protobuf message indexes after a valid id.
    for (name, tail) in vector_table("malformed_indexes.hex") {
        let mut bytes = vec![0, 0, 0, 0, 7];
        bytes.extend_from_slice(&tail);
        let r = accord_in(None, url, &["decode"], Some(&bytes));
        r.expect(2);
        assert!(!r.stderr.contains("panicked"), "{name}: {}", r.stderr);
    }
    // Unknown id; bytes that do not decode with the schema.
    let r = accord_in(None, url, &["decode", "--hex"], Some(b"00000003e7 00"));
    r.expect(2);
    assert!(r.stderr.contains("not found"), "{}", r.stderr);
    accord_in(None, url, &["decode", "--hex"], Some(b"0000000001 7e41")).expect(2);
    // Not hex, not base64.
    accord_in(None, url, &["decode", "--hex"], Some(b"zz")).expect(2);
    accord_in(None, url, &["decode", "--base64"], Some(b"***")).expect(2);
    // Values that do not fit the schema, and input that is not JSON.
    for (subject, input) in [
        ("users-value", r#"{"name":1,"age":30}"#),
        ("users-value", r#"{"name":"Ann"}"#),
        ("users-value", r#"{"name":"Ann","age":30,"extra":true}"#),
        ("blobs-value", r#""\u0100""#),
        ("j-value", r#"{"a":"x"}"#),
        ("ex-value", r#"{"nope":1}"#),
        ("users-value", "not json"),
    ] {
        let r = accord_in(
            None,
            url,
            &["encode", "--subject", subject],
            Some(input.as_bytes()),
        );
        r.expect(2);
        assert!(
            !r.stderr.contains("panicked"),
            "{subject} {input}: {}",
            r.stderr
        );
    }
    let r = accord_in(
        None,
        url,
        &["encode", "--subject", "users-value"],
        Some(br#"{"name":1,"age":30}"#),
    );
    assert_eq!(
        r.stderr,
        "accord: the value does not fit the schema: /name: expected a string, found a number\n"
    );
    accord_in(
        None,
        url,
        &["encode", "--subject", "nobody-value"],
        Some(b"{}"),
    )
    .expect(2);
    accord_in(
        None,
        url,
        &["encode", "--subject", "ex-value", "--message", "ex.Z"],
        Some(b"{}"),
    )
    .expect(2);
    accord_in(None, url, &["decode", "/no/such/record.bin"], None).expect(2);
}
