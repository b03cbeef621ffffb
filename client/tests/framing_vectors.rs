//! The framing functions against the golden vectors of confluent-compat.md §6 (hex files
//! under `tests/vectors/`): every prefix reads back to its id, GUID, indexes and payload,
//! and writing them again gives the same bytes; malformed frames are errors.

#[path = "serdes_support.rs"]
mod support;

use accord_client::framing::{self, SchemaId};
use accord_client::ClientError;
use support::{vector, vector_parts, vector_table, GUID};
use uuid::Uuid;

fn guid() -> Uuid {
    Uuid::parse_str(GUID).expect("guid")
}

#[test]
fn message_index_table() {
    let rows = vector_table("message_indexes.hex");
    assert_eq!(rows.len(), 6, "every row of the §6.3 table");
    for (path, bytes) in rows {
        let path: Vec<i32> = serde_json::from_str(&path).expect("path");
        assert_eq!(
            framing::encode_message_indexes(&path),
            bytes,
            "write {path:?}"
        );
        let (ix, rest) = framing::read_message_indexes(&bytes).expect("read");
        assert!(rest.is_empty());
        assert_eq!(ix.to_vec(), path, "read {bytes:02x?}");
    }
}

/// (file, schema id, indexes, payload)
#[allow(clippy::type_complexity)]
fn prefixed() -> Vec<(&'static str, SchemaId, Option<Vec<i32>>, Vec<u8>)> {
    vec![
        (
            "avro_user_id1.hex",
            SchemaId::Id(1),
            None,
            vec![0x06, 0x41, 0x6e, 0x6e, 0x3c],
        ),
        (
            "avro_user_id256.hex",
            SchemaId::Id(256),
            None,
            vec![0x06, 0x41, 0x6e, 0x6e, 0x3c],
        ),
        (
            "avro_bytes_id5.hex",
            SchemaId::Id(5),
            None,
            vec![0xde, 0xad],
        ),
        (
            "protobuf_nested_c_id7.hex",
            SchemaId::Id(7),
            Some(vec![1, 0]),
            vec![0x0a, 0x02, 0x68, 0x69],
        ),
        (
            "protobuf_first_a_id7.hex",
            SchemaId::Id(7),
            Some(vec![0]),
            vec![0x08, 0x01],
        ),
        (
            "protobuf_later_b_id7.hex",
            SchemaId::Id(7),
            Some(vec![1]),
            vec![],
        ),
        (
            "json_id3.hex",
            SchemaId::Id(3),
            None,
            br#"{"a":1}"#.to_vec(),
        ),
        (
            "avro_guid_string.hex",
            SchemaId::Guid(guid()),
            None,
            vec![0x04, 0x68, 0x69],
        ),
    ]
}

#[test]
fn prefixed_vectors_read_and_write() {
    for (file, id, indexes, payload) in prefixed() {
        let bytes = vector(file);
        let frame = framing::read_frame(&bytes, indexes.is_some())
            .unwrap_or_else(|e| panic!("{file}: {e}"));
        assert_eq!(frame.schema_id, id, "{file}");
        assert_eq!(frame.indexes.map(|i| i.to_vec()), indexes, "{file}");
        assert_eq!(frame.payload, payload.as_slice(), "{file}");
        assert!(!frame.from_header);

        let mut out = Vec::new();
        id.write(&mut out);
        assert_eq!(out.len(), id.encoded_len());
        if let Some(ix) = &indexes {
            framing::write_message_indexes(&mut out, ix);
        }
        out.extend_from_slice(&payload);
        assert_eq!(out, bytes, "{file}: written again");
    }
}

#[test]
fn header_mode_vectors() {
    let cases = [
        ("header_protobuf_nested_c.hex", Some(vec![1, 0])),
        ("header_avro_guid_string.hex", None),
    ];
    for (file, indexes) in cases {
        let parts = vector_parts(file);
        let header = &parts["header"];
        let payload = &parts["payload"];
        let frame = framing::read_frame_with_header(payload, Some(header), indexes.is_some())
            .unwrap_or_else(|e| panic!("{file}: {e}"));
        assert_eq!(frame.schema_id, SchemaId::Guid(guid()), "{file}");
        assert_eq!(frame.indexes.map(|i| i.to_vec()), indexes, "{file}");
        assert_eq!(
            frame.payload,
            payload.as_slice(),
            "{file}: the whole payload"
        );
        assert!(frame.from_header);
        assert_eq!(
            &framing::schema_id_header_value(&guid(), indexes.as_deref()),
            header,
            "{file}: header written again"
        );
        // Without the header the same payload is not a frame of its own.
        assert!(framing::read_frame(payload, indexes.is_some()).is_err());
    }
    assert_eq!(framing::header_name(true), "__key_schema_id");
    assert_eq!(framing::header_name(false), "__value_schema_id");
}

#[test]
fn a_header_may_also_carry_a_plain_id() {
    let header = [0u8, 0, 0, 0, 7];
    let frame =
        framing::read_frame_with_header(&[0x08, 0x01], Some(&header), false).expect("frame");
    assert_eq!(frame.schema_id, SchemaId::Id(7));
    assert_eq!(frame.payload, [0x08, 0x01]);
}

#[test]
fn malformed_frames_are_errors() {
    let rows = vector_table("malformed_frames.hex");
    assert!(rows.len() >= 6);
    for (name, bytes) in rows {
        for with_indexes in [false, true] {
            match framing::read_frame(&bytes, with_indexes) {
                Err(ClientError::Frame(msg)) => {
                    if name.starts_with("unknown_magic") {
                        assert!(msg.contains("Unknown magic byte"), "{name}: {msg}");
                    }
                }
                other => panic!("{name}: expected a frame error, got {other:?}"),
            }
        }
    }
}

#[test]
fn malformed_indexes_are_errors() {
    for (name, ix) in vector_table("malformed_indexes.hex") {
        let mut bytes = vec![0, 0, 0, 0, 7];
        bytes.extend_from_slice(&ix);
        assert!(
            matches!(
                framing::read_frame(&bytes, true),
                Err(ClientError::Frame(_))
            ),
            "{name}"
        );
        // The same array in a header is refused too.
        let mut header = vec![1];
        header.extend_from_slice(guid().as_bytes());
        header.extend_from_slice(&ix);
        assert!(
            framing::read_frame_with_header(&[], Some(&header), true).is_err(),
            "{name} in a header"
        );
    }
}
