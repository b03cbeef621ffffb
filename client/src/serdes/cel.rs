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

use super::cache::BoundedMap;
use super::rules::{RuleContext, RuleExecutor, RuleMessage};
use crate::error::{ClientError, Result};
use accord_contracts::cel::{self, Program};
use futures::future::BoxFuture;
use prost_reflect::SerializeOptions;
use std::sync::Arc;

/// Compiled expressions kept per executor.
const PROGRAMS: usize = 1024;

/// Runs `CEL` CONDITION rules.
pub struct CelExecutor {
    programs: BoundedMap<String, Arc<Program>>,
}

impl CelExecutor {
    pub fn new() -> Self {
        CelExecutor {
            programs: BoundedMap::new(PROGRAMS),
        }
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
        "CEL"
    }

    fn transform<'a>(
        &'a self,
        ctx: &'a RuleContext<'a>,
        message: &'a mut RuleMessage<'_>,
    ) -> BoxFuture<'a, Result<bool>> {
        let outcome = self.check(ctx, message);
        Box::pin(async move { outcome })
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
