//! Subject name strategies: which subject a record's schema is registered and looked up
//! under (confluent-compat.md §6.5).
//!
//! The record name each format contributes is computed by the serializer: the Avro
//! record's full name, the Protobuf message's full name, the JSON Schema's top-level
//! `"title"`. A strategy is a plain value (an enum, with a closure for the custom case)
//! so a [`SerdeConfig`](super::SerdeConfig) stays `Clone` and cheap to pass around.

use super::SerdeType;
use crate::error::{ClientError, Result};
use std::fmt;
use std::sync::Arc;

/// A user-supplied strategy: `(topic, key or value, record name) -> subject`.
pub type SubjectNameFn = dyn Fn(&str, SerdeType, Option<&str>) -> Result<String> + Send + Sync;

/// How the subject is derived from the topic and the record.
#[derive(Clone, Default)]
pub enum SubjectNameStrategy {
    /// `<topic>-key` / `<topic>-value` (Confluent's default).
    #[default]
    Topic,
    /// The record's full name; an error for schemas without one.
    Record,
    /// `<topic>-<record full name>`.
    TopicRecord,
    /// A function of the topic, the serde type and the record name. It must be pure:
    /// serializers cache its result per (topic, record).
    Custom(Arc<SubjectNameFn>),
}

impl fmt::Debug for SubjectNameStrategy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SubjectNameStrategy::Topic => "Topic",
            SubjectNameStrategy::Record => "Record",
            SubjectNameStrategy::TopicRecord => "TopicRecord",
            SubjectNameStrategy::Custom(_) => "Custom(..)",
        })
    }
}

impl SubjectNameStrategy {
    /// A custom strategy from a closure.
    pub fn custom<F>(f: F) -> Self
    where
        F: Fn(&str, SerdeType, Option<&str>) -> Result<String> + Send + Sync + 'static,
    {
        SubjectNameStrategy::Custom(Arc::new(f))
    }

    /// The subject for `topic` and `record_name` (the format's record full name, if the
    /// schema has one).
    pub fn subject(
        &self,
        topic: &str,
        serde_type: SerdeType,
        record_name: Option<&str>,
    ) -> Result<String> {
        match self {
            SubjectNameStrategy::Topic => Ok(format!("{topic}-{}", serde_type.suffix())),
            SubjectNameStrategy::Record => Ok(required(record_name, "record")?.to_owned()),
            SubjectNameStrategy::TopicRecord => Ok(format!(
                "{topic}-{}",
                required(record_name, "topic-record")?
            )),
            SubjectNameStrategy::Custom(f) => f(topic, serde_type, record_name),
        }
    }
}

fn required<'a>(name: Option<&'a str>, strategy: &str) -> Result<&'a str> {
    match name {
        Some(n) if !n.is_empty() => Ok(n),
        _ => Err(ClientError::Schema(format!(
            "the {strategy} name strategy needs a record name, and the schema has none \
             (Avro: a top-level record; Protobuf: a message; JSON Schema: a top-level \"title\")"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strategies() {
        let k = SerdeType::Key;
        let v = SerdeType::Value;
        assert_eq!(
            SubjectNameStrategy::Topic.subject("t", k, None).ok(),
            Some("t-key".into())
        );
        assert_eq!(
            SubjectNameStrategy::Topic.subject("t", v, Some("a.B")).ok(),
            Some("t-value".into())
        );
        assert_eq!(
            SubjectNameStrategy::Record
                .subject("t", v, Some("a.B"))
                .ok(),
            Some("a.B".into())
        );
        assert_eq!(
            SubjectNameStrategy::TopicRecord
                .subject("t", v, Some("a.B"))
                .ok(),
            Some("t-a.B".into())
        );
        assert!(SubjectNameStrategy::Record.subject("t", v, None).is_err());
        let custom = SubjectNameStrategy::custom(|t, s, r| {
            Ok(format!("{t}.{}.{}", s.suffix(), r.unwrap_or("none")))
        });
        assert_eq!(custom.subject("t", k, None).ok(), Some("t.key.none".into()));
    }
}
