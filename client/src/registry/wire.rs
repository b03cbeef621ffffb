//! The registry's JSON shapes as the client sends and reads them (confluent-compat.md
//! §1.2), and their conversion to the crate's [`RegisteredSchema`].
//!
//! Reading is lenient where Confluent's servers differ by version: a missing
//! `schemaType` is AVRO (7.x omitted it), a register answer may be just `{"id": N}`
//! (before 7.5), unknown keys are ignored. Anything the client cannot do without (an
//! id, the schema text) missing is a [`ClientError::BadResponse`].

use super::model::{CompatibilityCheck, CompatibilityConfig};
use crate::error::{ClientError, Result};
use crate::types::{RegisteredSchema, SchemaReference, SchemaSpec};
use accord_compat::SchemaFormat;
use bytes::Bytes;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The body of register, lookup and compatibility requests. `schemaType` is omitted
/// when the spec leaves the format open (the registry then assumes AVRO, as Java's
/// client relies on), and empty or absent parts are omitted as Jackson's NON_EMPTY does.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SchemaRequest<'a> {
    schema: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    schema_type: Option<&'static str>,
    #[serde(skip_serializing_if = "<[SchemaReference]>::is_empty")]
    references: &'a [SchemaReference],
    #[serde(skip_serializing_if = "Option::is_none")]
    metadata: Option<&'a Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    rule_set: Option<&'a Value>,
}

/// The JSON body for `spec`.
pub(crate) fn schema_body(spec: &SchemaSpec) -> Result<Bytes> {
    let request = SchemaRequest {
        schema: &spec.schema,
        schema_type: spec.format.map(SchemaFormat::as_str),
        references: &spec.references,
        metadata: spec.metadata.as_ref(),
        rule_set: spec.rule_set.as_ref(),
    };
    serde_json::to_vec(&request)
        .map(Bytes::from)
        .map_err(|e| ClientError::Schema(format!("cannot encode the schema request: {e}")))
}

/// Confluent's Schema / SchemaString / RegisterSchemaResponse, all optional.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct SchemaResponse {
    subject: Option<String>,
    version: Option<i64>,
    id: Option<i64>,
    guid: Option<String>,
    schema_type: Option<String>,
    references: Option<Vec<SchemaReference>>,
    metadata: Option<Value>,
    rule_set: Option<Value>,
    schema: Option<String>,
}

impl SchemaResponse {
    /// The schema; `id` is used when the body has none (by-id answers carry no id).
    /// `what` names the request for error messages.
    pub fn into_registered(self, id: Option<i32>, what: &str) -> Result<RegisteredSchema> {
        let id = match self.id {
            Some(n) => to_i32(n, "id", what)?,
            None => id.ok_or_else(|| {
                ClientError::BadResponse(format!("{what}: the answer has no schema id"))
            })?,
        };
        let schema = self.schema.ok_or_else(|| {
            ClientError::BadResponse(format!("{what}: the answer has no schema text"))
        })?;
        let format = match self.schema_type.as_deref() {
            None | Some("") => SchemaFormat::Avro,
            Some(t) => t.parse().map_err(|_| {
                ClientError::BadResponse(format!("{what}: unknown schemaType '{t}'"))
            })?,
        };
        let version = self
            .version
            .map(|v| to_i32(v, "version", what))
            .transpose()?;
        Ok(RegisteredSchema {
            id,
            guid: self.guid.filter(|g| !g.is_empty()),
            format,
            schema,
            references: self.references.unwrap_or_default(),
            metadata: self.metadata,
            rule_set: self.rule_set,
            subject: self.subject,
            version,
        })
    }

    /// A register answer, completed from the request when the registry sent only the id
    /// (servers before Confluent 7.5 answer `{"id": N}`).
    pub fn into_registered_from(
        mut self,
        subject: &str,
        spec: &SchemaSpec,
        what: &str,
    ) -> Result<RegisteredSchema> {
        if self.schema.is_none() {
            self.schema = Some(spec.schema.clone());
            self.schema_type = spec.format.map(|f| f.as_str().to_string());
            self.references = Some(spec.references.clone());
            self.metadata = spec.metadata.clone();
            self.rule_set = spec.rule_set.clone();
        }
        if self.subject.is_none() {
            self.subject = Some(subject.to_string());
        }
        self.into_registered(None, what)
    }
}

fn to_i32(n: i64, field: &str, what: &str) -> Result<i32> {
    i32::try_from(n)
        .map_err(|_| ClientError::BadResponse(format!("{what}: {field} {n} is out of range")))
}

/// An entry of `GET /schemas/guids/{guid}/ids`.
#[derive(Debug, Deserialize)]
pub(crate) struct ContextId {
    #[serde(default)]
    pub context: Option<String>,
    pub id: i64,
}

/// The id of a GUID in the default context (or the first one listed).
pub(crate) fn id_of_guid(ids: &[ContextId], what: &str) -> Result<Option<i32>> {
    let chosen = ids
        .iter()
        .find(|c| matches!(c.context.as_deref(), None | Some(".") | Some("")))
        .or_else(|| ids.first());
    chosen.map(|c| to_i32(c.id, "id", what)).transpose()
}

/// `{"is_compatible": bool, "messages": [...]}`; messages that are not strings are kept
/// as their JSON text.
#[derive(Debug, Deserialize)]
pub(crate) struct CompatibilityResponse {
    is_compatible: bool,
    #[serde(default)]
    messages: Option<Vec<Value>>,
    #[serde(default)]
    incompatibilities: Option<Vec<accord_compat::Incompatibility>>,
    #[serde(default)]
    warnings: Option<Vec<accord_compat::Warning>>,
}

impl From<CompatibilityResponse> for CompatibilityCheck {
    fn from(r: CompatibilityResponse) -> Self {
        CompatibilityCheck {
            is_compatible: r.is_compatible,
            incompatibilities: r.incompatibilities.unwrap_or_default(),
            warnings: r.warnings.unwrap_or_default(),
            messages: r
                .messages
                .unwrap_or_default()
                .into_iter()
                .map(|m| match m {
                    Value::String(s) => s,
                    other => other.to_string(),
                })
                .collect(),
        }
    }
}

/// The `PUT /config` body: the config with `compatibility` as the level's key.
pub(crate) fn config_body(config: &CompatibilityConfig) -> Result<Bytes> {
    let mut value = serde_json::to_value(config)
        .map_err(|e| ClientError::Config(format!("cannot encode the config update: {e}")))?;
    if let Value::Object(map) = &mut value {
        if let Some(level) = map.remove("compatibilityLevel") {
            map.insert("compatibility".to_string(), level);
        }
    }
    serde_json::to_vec(&value)
        .map(Bytes::from)
        .map_err(|e| ClientError::Config(format!("cannot encode the config update: {e}")))
}

/// `{"mode": "..."}`.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct ModeBody {
    pub mode: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use accord_compat::CompatibilityLevel;

    #[test]
    fn request_omits_what_is_empty() {
        let spec = SchemaSpec {
            schema: "\"string\"".into(),
            ..Default::default()
        };
        assert_eq!(
            schema_body(&spec).unwrap(),
            Bytes::from_static(br#"{"schema":"\"string\""}"#)
        );
        let spec = SchemaSpec {
            format: Some(SchemaFormat::Protobuf),
            schema: "syntax = \"proto3\";".into(),
            references: vec![SchemaReference {
                name: "a.proto".into(),
                subject: "a".into(),
                version: 1,
            }],
            metadata: Some(serde_json::json!({"properties": {"owner": "x"}})),
            rule_set: None,
        };
        let v: Value = serde_json::from_slice(&schema_body(&spec).unwrap()).unwrap();
        assert_eq!(v["schemaType"], "PROTOBUF");
        assert_eq!(v["references"][0]["name"], "a.proto");
        assert_eq!(v["metadata"]["properties"]["owner"], "x");
        assert!(v.get("ruleSet").is_none());
    }

    #[test]
    fn responses_of_older_servers_are_read() {
        // 7.x: no schemaType for AVRO, no guid.
        let r: SchemaResponse =
            serde_json::from_str(r#"{"subject":"s","version":2,"id":7,"schema":"\"int\""}"#)
                .unwrap();
        let s = r.into_registered(None, "t").unwrap();
        assert_eq!(
            (s.id, s.version, s.format),
            (7, Some(2), SchemaFormat::Avro)
        );
        assert_eq!(s.guid, None);
        // Before 7.5, register answers only the id.
        let r: SchemaResponse = serde_json::from_str(r#"{"id":9}"#).unwrap();
        let spec = SchemaSpec {
            format: Some(SchemaFormat::Json),
            schema: "{}".into(),
            ..Default::default()
        };
        let s = r.into_registered_from("subj", &spec, "t").unwrap();
        assert_eq!(
            (s.id, s.format, s.schema.as_str()),
            (9, SchemaFormat::Json, "{}")
        );
        assert_eq!(s.subject.as_deref(), Some("subj"));
    }

    #[test]
    fn unusable_responses_are_errors() {
        for body in [
            r#"{"schema":"\"int\""}"#,
            r#"{"id":1}"#,
            r#"{"id":1,"schema":"x","schemaType":"XML"}"#,
            r#"{"id":99999999999,"schema":"x"}"#,
        ] {
            let r: SchemaResponse = serde_json::from_str(body).unwrap();
            assert!(
                matches!(
                    r.into_registered(None, "t"),
                    Err(ClientError::BadResponse(_))
                ),
                "{body}"
            );
        }
    }

    #[test]
    fn config_reads_both_key_spellings_and_writes_compatibility() {
        let c: CompatibilityConfig = serde_json::from_str(
            r#"{"compatibilityLevel":"FULL","normalize":true,"validateRules":true}"#,
        )
        .unwrap();
        assert_eq!(c.compatibility_level, Some(CompatibilityLevel::Full));
        assert_eq!(c.normalize, Some(true));
        assert_eq!(c.other.get("validateRules"), Some(&Value::Bool(true)));
        let c: CompatibilityConfig = serde_json::from_str(r#"{"compatibility":"NONE"}"#).unwrap();
        assert_eq!(c.compatibility_level, Some(CompatibilityLevel::None));
        let body: Value = serde_json::from_slice(
            &config_body(&CompatibilityConfig {
                compatibility_level: Some(CompatibilityLevel::BackwardTransitive),
                ..Default::default()
            })
            .unwrap(),
        )
        .unwrap();
        assert_eq!(
            body,
            serde_json::json!({"compatibility": "BACKWARD_TRANSITIVE"})
        );
    }

    #[test]
    fn guid_ids_prefer_the_default_context() {
        let ids: Vec<ContextId> =
            serde_json::from_str(r#"[{"context":".ctx","id":4},{"context":".","id":3}]"#).unwrap();
        assert_eq!(id_of_guid(&ids, "t").unwrap(), Some(3));
        assert_eq!(id_of_guid(&[], "t").unwrap(), None);
    }
}
