//! Fuzz the framing: any bytes, read as a prefixed record (with and without Protobuf
//! message indexes) or split into a schema-id header and a payload, are a frame or an
//! error, never a panic; whatever reads writes back to the same bytes.
#![no_main]
use accord_client::framing::{self, SchemaId};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    for with_indexes in [false, true] {
        if let Ok(frame) = framing::read_frame(data, with_indexes) {
            let mut out = Vec::new();
            frame.schema_id.write(&mut out);
            if let Some(ix) = frame.indexes {
                // Written again in canonical form; the raw bytes are what was read.
                let again = framing::encode_message_indexes(&ix.to_vec());
                let (back, _) = framing::read_message_indexes(&again).expect("own indexes read");
                assert_eq!(back.to_vec(), ix.to_vec());
                assert!(ix.len() >= 1 && !ix.is_empty());
                out.extend_from_slice(ix.as_bytes());
            }
            out.extend_from_slice(frame.payload);
            assert_eq!(out, data, "a frame writes back to its bytes");
        }
    }
    // First byte: where the header ends.
    if let Some((&split, rest)) = data.split_first() {
        let split = usize::from(split).min(rest.len());
        let (header, payload) = rest.split_at(split);
        for with_indexes in [false, true] {
            if let Ok(frame) = framing::read_frame_with_header(payload, Some(header), with_indexes)
            {
                assert_eq!(frame.payload, payload);
                assert!(frame.from_header);
                if let SchemaId::Guid(g) = frame.schema_id {
                    let ix = frame.indexes.map(|i| i.to_vec());
                    let h = framing::schema_id_header_value(&g, ix.as_deref());
                    let back = framing::read_frame_with_header(payload, Some(&h), with_indexes)
                        .expect("own header reads");
                    assert_eq!(back.schema_id, frame.schema_id);
                }
            }
        }
    }
    let _ = framing::read_varint(data);
});
