//! The wire format of Kafka record keys and values written by Confluent-compatible
//! serializers (confluent-compat.md §6), as plain functions over byte slices.
//!
//! Three framings exist, and a reader must accept all of them:
//!
//! * **ID prefix** (the classic one, and what every serializer writes by default):
//!   `0x00`, the schema id as a big-endian `i32`, then the payload.
//! * **GUID prefix**: `0x01`, the 16-byte schema GUID (most significant half first),
//!   then the payload.
//! * **Header mode**: the payload carries no prefix at all; the record header
//!   `__key_schema_id` / `__value_schema_id` holds `0x01 + GUID` (readers also accept
//!   `0x00 + id` there, as Confluent's do).
//!
//! Protobuf adds the *message-index array* after the schema id (in the payload, or in the
//! header in header mode): the path of the payload's message inside the schema file,
//! written with Kafka's zigzag varints, `[0]` as the single byte `0x00`.
//!
//! Why plain functions over slices: the serializers call them once per record, so the
//! write side appends to the caller's output buffer and allocates nothing else, and the
//! read side borrows from the input ([`Frame`] and [`MessageIndexes`] are views).
//! Anything short, unknown or out of range is a [`ClientError::Frame`] that says what
//! and at which byte; nothing here can panic on input.

use crate::error::{ClientError, Result};
use uuid::Uuid;

/// Magic byte of the schema-id prefix.
pub const MAGIC_BYTE_ID: u8 = 0x00;
/// Magic byte of the GUID prefix (and of the schema-id header value).
pub const MAGIC_BYTE_GUID: u8 = 0x01;
/// Record header carrying the key's schema GUID in header mode.
pub const KEY_SCHEMA_ID_HEADER: &str = "__key_schema_id";
/// Record header carrying the value's schema GUID in header mode.
pub const VALUE_SCHEMA_ID_HEADER: &str = "__value_schema_id";
/// Length of the `0x00 + id` prefix.
pub const ID_PREFIX_LEN: usize = 5;
/// Length of the `0x01 + GUID` prefix.
pub const GUID_PREFIX_LEN: usize = 17;

/// Confluent's readers refuse longer message-index arrays; so do we (a path through
/// nested messages is a handful of entries in practice).
const MAX_INDEXES: usize = 100_000;

/// How a record names its writer schema.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SchemaId {
    /// The registry's global id (magic byte 0).
    Id(i32),
    /// The schema's GUID (magic byte 1).
    Guid(Uuid),
}

impl SchemaId {
    /// Appends the magic byte and the id or GUID.
    pub fn write(&self, out: &mut Vec<u8>) {
        match self {
            SchemaId::Id(id) => write_id_prefix(out, *id),
            SchemaId::Guid(guid) => write_guid_prefix(out, guid),
        }
    }

    /// Bytes [`write`](Self::write) appends.
    pub fn encoded_len(&self) -> usize {
        match self {
            SchemaId::Id(_) => ID_PREFIX_LEN,
            SchemaId::Guid(_) => GUID_PREFIX_LEN,
        }
    }
}

impl std::fmt::Display for SchemaId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SchemaId::Id(id) => write!(f, "id {id}"),
            SchemaId::Guid(g) => write!(f, "guid {g}"),
        }
    }
}

/// The header that carries a schema GUID for keys (`true`) or values (`false`).
pub fn header_name(is_key: bool) -> &'static str {
    if is_key {
        KEY_SCHEMA_ID_HEADER
    } else {
        VALUE_SCHEMA_ID_HEADER
    }
}

/// Appends `0x00` and `id` as a big-endian `i32`.
pub fn write_id_prefix(out: &mut Vec<u8>, id: i32) {
    out.push(MAGIC_BYTE_ID);
    out.extend_from_slice(&id.to_be_bytes());
}

/// Appends `0x01` and the 16 GUID bytes (most significant half first).
pub fn write_guid_prefix(out: &mut Vec<u8>, guid: &Uuid) {
    out.push(MAGIC_BYTE_GUID);
    out.extend_from_slice(guid.as_bytes());
}

/// Appends `value` as a Kafka varint: zigzag, then little-endian base-128 groups
/// (`ByteUtils.writeVarint`).
pub fn write_varint(out: &mut Vec<u8>, value: i32) {
    let mut v = ((value << 1) ^ (value >> 31)) as u32;
    while v & !0x7f != 0 {
        out.push(((v & 0x7f) | 0x80) as u8);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Reads one Kafka varint from the front of `input`, returning the value and the rest.
/// At most five bytes, as Kafka's `ByteUtils.readVarint` (bits past 32 are dropped the
/// same way).
pub fn read_varint(input: &[u8]) -> Result<(i32, &[u8])> {
    let mut value: u32 = 0;
    let mut shift = 0u32;
    for (i, &b) in input.iter().enumerate() {
        if b & 0x80 == 0 {
            value |= u32::from(b).wrapping_shl(shift);
            let decoded = ((value >> 1) as i32) ^ -((value & 1) as i32);
            return Ok((decoded, input.get(i + 1..).unwrap_or(&[])));
        }
        value |= u32::from(b & 0x7f) << shift;
        shift += 7;
        if shift > 28 {
            return Err(ClientError::Frame(
                "varint is too long (more than 5 bytes)".into(),
            ));
        }
    }
    Err(ClientError::Frame("truncated varint".into()))
}

/// Appends a Protobuf message-index array: `[0]` (and the empty path, which means the
/// same) as the single byte `0x00`, otherwise the count and each index, all zigzag
/// varints (confluent-compat.md §6.3).
pub fn write_message_indexes(out: &mut Vec<u8>, indexes: &[i32]) {
    if indexes.is_empty() || indexes == [0] {
        out.push(0);
        return;
    }
    // A path longer than i32::MAX cannot exist; clamp instead of wrapping.
    write_varint(out, i32::try_from(indexes.len()).unwrap_or(i32::MAX));
    for &i in indexes {
        write_varint(out, i);
    }
}

/// The message-index array of `indexes` as bytes (see [`write_message_indexes`]).
pub fn encode_message_indexes(indexes: &[i32]) -> Vec<u8> {
    let mut out = Vec::with_capacity(1 + indexes.len() * 2);
    write_message_indexes(&mut out, indexes);
    out
}

/// A validated message-index array, borrowed from the record. Iterating decodes it; the
/// raw bytes (as written) serve as a cache key for the message they select.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MessageIndexes<'a> {
    raw: &'a [u8],
    len: usize,
}

impl<'a> MessageIndexes<'a> {
    /// The indexes exactly as they appeared on the wire (count included).
    pub fn as_bytes(&self) -> &'a [u8] {
        self.raw
    }

    /// How many indexes the path has (1 for the `0x00` shortcut).
    pub fn len(&self) -> usize {
        self.len
    }

    /// Never true: a path always selects a message; kept for API symmetry with `len`.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// `[0]`: the first top-level message, whether written with the shortcut or not.
    pub fn is_first_message(&self) -> bool {
        // The two minimal spellings are checked on the bytes (this is on every read);
        // anything else is decoded.
        matches!(self.raw, [0x00] | [0x02, 0x00])
            || (self.len == 1 && self.iter().next() == Some(0))
    }

    /// The indexes, outermost first.
    pub fn iter(&self) -> MessageIndexIter<'a> {
        // The array was validated on construction; a count of 0 (the shortcut) yields [0].
        match read_varint(self.raw) {
            Ok((0, _)) | Err(_) => MessageIndexIter {
                rest: &[],
                remaining: 0,
                shortcut: true,
            },
            Ok((_, rest)) => MessageIndexIter {
                rest,
                remaining: self.len,
                shortcut: false,
            },
        }
    }

    /// The indexes as a vector.
    pub fn to_vec(&self) -> Vec<i32> {
        self.iter().collect()
    }
}

/// Iterator over [`MessageIndexes`].
#[derive(Debug, Clone)]
pub struct MessageIndexIter<'a> {
    rest: &'a [u8],
    remaining: usize,
    shortcut: bool,
}

impl Iterator for MessageIndexIter<'_> {
    type Item = i32;

    fn next(&mut self) -> Option<i32> {
        if self.shortcut {
            self.shortcut = false;
            return Some(0);
        }
        if self.remaining == 0 {
            return None;
        }
        let (v, rest) = read_varint(self.rest).ok()?;
        self.rest = rest;
        self.remaining -= 1;
        Some(v)
    }
}

/// Reads a message-index array from the front of `input`; returns it and the rest.
/// Count 0 means `[0]`; a negative count or index, a count larger than the bytes left,
/// or a truncated varint is an error.
pub fn read_message_indexes(input: &[u8]) -> Result<(MessageIndexes<'_>, &[u8])> {
    // The first message of a file (the common case): the single byte 0x00.
    if let [0, rest @ ..] = input {
        return Ok((
            MessageIndexes {
                raw: &input[..1],
                len: 1,
            },
            rest,
        ));
    }
    let (count, mut rest) = read_varint(input)
        .map_err(|e| ClientError::Frame(format!("message indexes: count: {}", inner(&e))))?;
    if count == 0 {
        // Usually the single byte 0x00, but an over-long varint zero is legal too.
        let raw = input.get(..input.len() - rest.len()).unwrap_or(&[]);
        return Ok((MessageIndexes { raw, len: 1 }, rest));
    }
    let count = usize::try_from(count)
        .map_err(|_| ClientError::Frame(format!("message indexes: negative count {count}")))?;
    // Every index takes at least one byte, so a count beyond the bytes left is a lie.
    if count > MAX_INDEXES || count > rest.len() {
        return Err(ClientError::Frame(format!(
            "message indexes: count {count} exceeds the {} bytes left",
            rest.len()
        )));
    }
    for n in 0..count {
        let (index, r) = read_varint(rest).map_err(|e| {
            ClientError::Frame(format!("message indexes: index {n}: {}", inner(&e)))
        })?;
        if index < 0 {
            return Err(ClientError::Frame(format!(
                "message indexes: index {n} is negative ({index})"
            )));
        }
        rest = r;
    }
    let used = input.len() - rest.len();
    let raw = input.get(..used).unwrap_or(&[]);
    Ok((MessageIndexes { raw, len: count }, rest))
}

fn inner(e: &ClientError) -> String {
    match e {
        ClientError::Frame(m) => m.clone(),
        other => other.to_string(),
    }
}

/// Reads the magic byte and the schema id or GUID from the front of `input`.
/// Magic bytes other than 0 and 1 are "Unknown magic byte" errors, as in Confluent.
pub fn read_schema_id(input: &[u8]) -> Result<(SchemaId, &[u8])> {
    let Some((&magic, rest)) = input.split_first() else {
        return Err(ClientError::Frame(
            "empty record: no magic byte (expected 0x00 or 0x01)".into(),
        ));
    };
    match magic {
        MAGIC_BYTE_ID => {
            let Some((id, rest)) = rest.split_first_chunk::<4>() else {
                return Err(ClientError::Frame(format!(
                    "truncated schema id: {} of 4 bytes after magic byte 0x00",
                    rest.len()
                )));
            };
            Ok((SchemaId::Id(i32::from_be_bytes(*id)), rest))
        }
        MAGIC_BYTE_GUID => {
            let Some((guid, rest)) = rest.split_first_chunk::<16>() else {
                return Err(ClientError::Frame(format!(
                    "truncated schema GUID: {} of 16 bytes after magic byte 0x01",
                    rest.len()
                )));
            };
            Ok((SchemaId::Guid(Uuid::from_bytes(*guid)), rest))
        }
        other => Err(ClientError::Frame(format!(
            "Unknown magic byte 0x{other:02x} (expected 0x00 or 0x01)"
        ))),
    }
}

/// A framed record, borrowed from the input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Frame<'a> {
    /// The writer schema.
    pub schema_id: SchemaId,
    /// The Protobuf message path (only when read with indexes).
    pub indexes: Option<MessageIndexes<'a>>,
    /// The serialized value.
    pub payload: &'a [u8],
    /// Whether the schema id came from the record header rather than the payload.
    pub from_header: bool,
}

/// Reads a record framed with a prefix (magic 0 or 1); `with_indexes` for Protobuf.
pub fn read_frame(input: &[u8], with_indexes: bool) -> Result<Frame<'_>> {
    let (schema_id, rest) = read_schema_id(input)?;
    let (indexes, payload) = if with_indexes {
        let (ix, rest) = read_message_indexes(rest)?;
        (Some(ix), rest)
    } else {
        (None, rest)
    };
    Ok(Frame {
        schema_id,
        indexes,
        payload,
        from_header: false,
    })
}

/// Reads a record the way Confluent's default ("dual") deserializer does: when the
/// schema-id header is present (`header` is its value), the id and indexes come from
/// it and the whole `input` is the payload; otherwise from the payload prefix.
pub fn read_frame_with_header<'a>(
    input: &'a [u8],
    header: Option<&'a [u8]>,
    with_indexes: bool,
) -> Result<Frame<'a>> {
    let Some(header) = header else {
        return read_frame(input, with_indexes);
    };
    let (schema_id, rest) = read_schema_id(header)
        .map_err(|e| ClientError::Frame(format!("schema id header: {}", inner(&e))))?;
    let (indexes, rest) = if with_indexes {
        let (ix, rest) = read_message_indexes(rest)
            .map_err(|e| ClientError::Frame(format!("schema id header: {}", inner(&e))))?;
        (Some(ix), rest)
    } else {
        (None, rest)
    };
    if !rest.is_empty() {
        return Err(ClientError::Frame(format!(
            "schema id header: {} unexpected trailing bytes",
            rest.len()
        )));
    }
    Ok(Frame {
        schema_id,
        indexes,
        payload: input,
        from_header: true,
    })
}

/// The value of the schema-id header for header mode: `0x01 + GUID [+ indexes]`.
pub fn schema_id_header_value(guid: &Uuid, indexes: Option<&[i32]>) -> Vec<u8> {
    let mut out = Vec::with_capacity(GUID_PREFIX_LEN + 4);
    write_guid_prefix(&mut out, guid);
    if let Some(ix) = indexes {
        write_message_indexes(&mut out, ix);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn idx(v: &[i32]) -> Vec<u8> {
        encode_message_indexes(v)
    }

    #[test]
    fn index_table_of_the_spec() {
        assert_eq!(idx(&[0]), [0x00]);
        assert_eq!(idx(&[1]), [0x02, 0x02]);
        assert_eq!(idx(&[2, 3]), [0x04, 0x04, 0x06]);
        assert_eq!(idx(&[1, 0]), [0x04, 0x02, 0x00]);
        assert_eq!(idx(&[0, 1]), [0x04, 0x00, 0x02]);
        assert_eq!(idx(&[64]), [0x02, 0x80, 0x01]);
        assert_eq!(idx(&[]), [0x00]);
    }

    #[test]
    fn indexes_read_back() {
        for path in [
            vec![0],
            vec![1],
            vec![2, 3],
            vec![1, 0],
            vec![0, 1],
            vec![64],
        ] {
            let bytes = idx(&path);
            let (ix, rest) = read_message_indexes(&bytes).expect("reads");
            assert!(rest.is_empty());
            assert_eq!(ix.to_vec(), path);
            assert_eq!(ix.as_bytes(), bytes.as_slice());
        }
        // Count 1 with index 0 (the long form of [0]) reads as [0] too.
        let (ix, _) = read_message_indexes(&[0x02, 0x00]).expect("reads");
        assert!(ix.is_first_message());
        // So does an over-long varint zero count; its raw bytes are both bytes
        // (found by the frame_parse fuzz target).
        let (ix, rest) = read_message_indexes(&[0x80, 0x00, 0xAB]).expect("reads");
        assert!(ix.is_first_message());
        assert_eq!(ix.as_bytes(), [0x80, 0x00]);
        assert_eq!(rest, [0xAB]);
    }

    #[test]
    fn bad_indexes_are_errors() {
        assert!(read_message_indexes(&[]).is_err());
        assert!(read_message_indexes(&[0x01]).is_err(), "negative count");
        assert!(
            read_message_indexes(&[0x04, 0x02]).is_err(),
            "count beyond bytes"
        );
        assert!(
            read_message_indexes(&[0x02, 0x01]).is_err(),
            "negative index"
        );
        assert!(
            read_message_indexes(&[0x02, 0x80]).is_err(),
            "truncated varint"
        );
        assert!(read_varint(&[0xff, 0xff, 0xff, 0xff, 0xff, 0x01]).is_err());
    }

    #[test]
    fn varints_match_kafka() {
        for v in [0, 1, -1, 63, -64, 64, 300, i32::MAX, i32::MIN] {
            let mut out = Vec::new();
            write_varint(&mut out, v);
            assert!(out.len() <= 5);
            let (back, rest) = read_varint(&out).expect("reads");
            assert_eq!(back, v);
            assert!(rest.is_empty());
        }
    }

    #[test]
    fn magic_bytes() {
        let err = read_frame(&[0x02, 0, 0, 0, 1], false).unwrap_err();
        assert!(err.to_string().contains("Unknown magic byte"), "{err}");
        assert!(read_frame(&[], false).is_err());
        assert!(read_frame(&[0, 0, 0], false).is_err());
        assert!(read_frame(&[1; 10], false).is_err());
        let f = read_frame(&[0, 0, 0, 1, 0, 0xAB], false).expect("frame");
        assert_eq!(f.schema_id, SchemaId::Id(256));
        assert_eq!(f.payload, [0xAB]);
    }

    #[test]
    fn header_mode() {
        let guid = Uuid::from_bytes([7; 16]);
        let h = schema_id_header_value(&guid, Some(&[1, 0]));
        let payload = [0x0A, 0x00];
        let f = read_frame_with_header(&payload, Some(&h), true).expect("frame");
        assert_eq!(f.schema_id, SchemaId::Guid(guid));
        assert_eq!(f.indexes.map(|i| i.to_vec()), Some(vec![1, 0]));
        assert_eq!(f.payload, payload);
        assert!(f.from_header);
        let mut bad = h.clone();
        bad.push(9);
        assert!(read_frame_with_header(&payload, Some(&bad), true).is_err());
    }
}
