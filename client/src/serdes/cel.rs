//! [`CelExecutor`]: Confluent's `CEL` rules (`"type": "CEL"`, `"kind": "CONDITION"`), the
//! data-quality conditions of a schema's or a contract's ruleSet, evaluated with
//! accord-contracts' CEL. The record is bound as `message`, as in Confluent's clients:
//! `message.age >= 18`, `size(message.email) > 0`.
//!
//! The record is seen as JSON: Avro records as objects of their fields (unions by their
//! value), Protobuf messages with their proto field names (64-bit integers as numbers,
//! unset fields at their defaults), JSON values as they are. An expression compiles once
//! and is cached by its text.
//!
//! Register it with the serializers' rules: `SerdeConfig::value().rules(
//! RuleRegistry::new().with_executor(CelExecutor::new()))`.
//!
//! [`CelExecutor::field`] runs `CEL_FIELD` CONDITION rules instead: the expression
//! (`[guard ;] expr`) is evaluated on each primitive field the rule's tags select (every
//! primitive field for a rule without tags), with `name`, `value`, `typeName` (`STRING`,
//! `INT`, ...), `tags` and `message` bound, as in Confluent's clients; a false guard skips
//! the field, a false expression fails the rule naming the field. The fields are found
//! along the schema's field plan, so a rule tagged for 3 fields of 20 evaluates 3. Two
//! differences from Confluent: `message` is the whole record (Confluent binds the record
//! that contains the field, the same for top-level fields), and `fullName` is not bound;
//! bytes values are lists of byte values. `TRANSFORM` `CEL_FIELD` rules (which replace a
//! field's value with the expression's) are refused, as `CEL` TRANSFORM rules are.

use super::cache::BoundedMap;
use super::rules::{
    shadowed_by_same_tag_transform, walk_fields, FieldContext, FieldTransform, FieldType,
    FieldValue, RuleContext, RuleExecutor, RuleMessage,
};
use crate::error::{ClientError, Result};
use accord_contracts::cel::{self, FieldProgram, Program};
use futures::future::BoxFuture;
use prost_reflect::SerializeOptions;
use std::sync::Arc;

/// Compiled expressions kept per executor.
const PROGRAMS: usize = 1024;

/// Runs `CEL` CONDITION rules ([`CelExecutor::new`]) or `CEL_FIELD` CONDITION rules
/// ([`CelExecutor::field`]).
pub struct CelExecutor {
    programs: BoundedMap<String, Arc<Program>>,
    field_programs: BoundedMap<String, Arc<FieldProgram>>,
    per_field: bool,
}

impl CelExecutor {
    /// The `CEL` executor.
    pub fn new() -> Self {
        CelExecutor {
            programs: BoundedMap::new(PROGRAMS),
            field_programs: BoundedMap::new(0),
            per_field: false,
        }
    }

    /// The `CEL_FIELD` executor (register it beside the `CEL` one).
    pub fn field() -> Self {
        CelExecutor {
            programs: BoundedMap::new(0),
            field_programs: BoundedMap::new(PROGRAMS),
            per_field: true,
        }
    }

    fn field_program(&self, expr: &str) -> std::result::Result<Arc<FieldProgram>, String> {
        if let Some(p) = self.field_programs.get(expr) {
            return Ok(p);
        }
        let p = Arc::new(cel::compile_field(expr).map_err(|e| e.to_string())?);
        self.field_programs.insert(expr.to_owned(), p.clone());
        Ok(p)
    }

    /// Evaluates a `CEL_FIELD` rule on every field its tags select.
    fn check_fields(&self, ctx: &RuleContext<'_>, message: &mut RuleMessage<'_>) -> Result<bool> {
        if shadowed_by_same_tag_transform(ctx) {
            return Ok(true);
        }
        let rule = ctx.rule;
        let fail = |message: String| ClientError::Rule {
            rule: rule.name.clone().unwrap_or_default(),
            message,
        };
        if !ctx.is_condition() {
            return Err(fail(format!(
                "CEL_FIELD rules of kind {} are not supported (only CONDITION)",
                rule.kind
            )));
        }
        let expr = rule
            .expr
            .as_deref()
            .ok_or_else(|| fail("the CEL_FIELD rule has no expr".into()))?;
        let program = self.field_program(expr).map_err(fail)?;
        // The record as JSON is made once per record, and only for expressions that can
        // name it.
        let uses_message = program
            .guard
            .iter()
            .chain([&program.expr])
            .any(|p| p.source().contains("message"));
        let record = if uses_message {
            as_json(message).map_err(fail)?
        } else {
            serde_json::Value::Null
        };
        let check = FieldCheck {
            program: &program,
            record,
        };
        walk_fields(ctx, message, &check)?;
        Ok(true)
    }

    fn program(&self, expr: &str) -> std::result::Result<Arc<Program>, String> {
        if let Some(p) = self.programs.get(expr) {
            return Ok(p);
        }
        let p = Arc::new(cel::compile(expr).map_err(|e| e.to_string())?);
        self.programs.insert(expr.to_owned(), p.clone());
        Ok(p)
    }

    fn check(&self, ctx: &RuleContext<'_>, message: &RuleMessage<'_>) -> Result<bool> {
        let rule = ctx.rule;
        let fail = |message: String| ClientError::Rule {
            rule: rule.name.clone().unwrap_or_default(),
            message,
        };
        if !rule.kind.eq_ignore_ascii_case("CONDITION") {
            return Err(fail(format!(
                "CEL rules of kind {} are not supported (only CONDITION)",
                rule.kind
            )));
        }
        let expr = rule
            .expr
            .as_deref()
            .ok_or_else(|| fail("the CEL rule has no expr".into()))?;
        let program = self.program(expr).map_err(fail)?;
        let record = as_json(message).map_err(fail)?;
        cel::evaluate(&program, &record).map_err(|e| fail(e.to_string()))
    }
}

impl Default for CelExecutor {
    fn default() -> Self {
        Self::new()
    }
}

impl RuleExecutor for CelExecutor {
    fn rule_type(&self) -> &str {
        if self.per_field {
            "CEL_FIELD"
        } else {
            "CEL"
        }
    }

    fn transform<'a>(
        &'a self,
        ctx: &'a RuleContext<'a>,
        message: &'a mut RuleMessage<'_>,
    ) -> BoxFuture<'a, Result<bool>> {
        let outcome = if self.per_field {
            self.check_fields(ctx, message)
        } else {
            self.check(ctx, message)
        };
        Box::pin(async move { outcome })
    }
}

/// One record's `CEL_FIELD` condition, called by the walk on each selected field.
struct FieldCheck<'p> {
    program: &'p FieldProgram,
    record: serde_json::Value,
}

impl FieldTransform for FieldCheck<'_> {
    fn rule_type(&self) -> &str {
        "CEL_FIELD"
    }

    fn transform_field(
        &self,
        ctx: &RuleContext<'_>,
        field: &FieldContext<'_>,
        value: FieldValue,
    ) -> Result<FieldValue> {
        let value = match value {
            FieldValue::Null => serde_json::Value::Null,
            FieldValue::Bool(b) => b.into(),
            FieldValue::Int(i) => i.into(),
            FieldValue::UInt(u) => u.into(),
            FieldValue::Float(x) => x.into(),
            FieldValue::String(s) => s.into(),
            FieldValue::Bytes(b) => b.into(),
        };
        let tags: Vec<String> = field.tags.iter().cloned().collect();
        let seen = cel::FieldContext {
            name: field.name,
            value: &value,
            type_name: type_name(field.field_type),
            tags: &tags,
            message: &self.record,
        };
        match cel::evaluate_field(self.program, seen) {
            // A false guard: the rule does not apply to this field.
            Ok(None) => Ok(FieldValue::Bool(true)),
            Ok(Some(holds)) => Ok(FieldValue::Bool(holds)),
            Err(e) => Err(ClientError::Rule {
                rule: ctx.rule.name.clone().unwrap_or_default(),
                message: format!("{e} (field {})", field.full_name),
            }),
        }
    }
}

/// Confluent's `FieldType` names.
fn type_name(t: FieldType) -> &'static str {
    match t {
        FieldType::Record => "RECORD",
        FieldType::Enum => "ENUM",
        FieldType::Array => "ARRAY",
        FieldType::Map => "MAP",
        FieldType::Combined => "COMBINED",
        FieldType::Fixed => "FIXED",
        FieldType::String => "STRING",
        FieldType::Bytes => "BYTES",
        FieldType::Int => "INT",
        FieldType::Long => "LONG",
        FieldType::Float => "FLOAT",
        FieldType::Double => "DOUBLE",
        FieldType::Boolean => "BOOLEAN",
        FieldType::Null => "NULL",
    }
}

/// The record as the JSON the expression sees.
fn as_json(message: &RuleMessage<'_>) -> std::result::Result<serde_json::Value, String> {
    match message {
        RuleMessage::Avro { value, .. } => serde_json::Value::try_from((**value).clone())
            .map_err(|e| format!("the Avro value has no JSON form: {e}")),
        RuleMessage::Protobuf { message } => {
            let options = SerializeOptions::new()
                .use_proto_field_name(true)
                .stringify_64_bit_integers(false)
                .skip_default_fields(false);
            message
                .serialize_with_options(serde_json::value::Serializer, &options)
                .map_err(|e| format!("the Protobuf message has no JSON form: {e}"))
        }
        RuleMessage::Json { value, .. } => Ok((**value).clone()),
    }
}
