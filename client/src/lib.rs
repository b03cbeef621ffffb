//! `accord-client`: a Rust client for any Confluent-compatible schema registry (Accord
//! first), and serializers that frame values exactly as Confluent's do.
//!
//! - [`registry`]: the async HTTP client with its caches (ids and schemas forever, latest
//!   versions for a TTL), auth, retries and fail-over.
//! - [`framing`]: the wire format: magic byte, schema id or GUID, Protobuf message
//!   indexes, and the schema-id record headers.
//! - [`serdes`]: serializers and deserializers for Avro, Protobuf and JSON Schema, subject
//!   name strategies, and the rule hook that data contracts plug into.
//!
//! A runnable tour of all three formats against a registry (default
//! `http://127.0.0.1:8081`, or `ACCORD_REGISTRY_URL`):
//! `cargo run -p accord-client --example produce_consume`.
#![forbid(unsafe_code)]

pub mod error;
pub mod framing;
pub mod registry;
pub mod serdes;
pub mod types;

pub use error::{ClientError, Result};
pub use types::{RegisteredSchema, SchemaReference, SchemaSource, SchemaSpec};
