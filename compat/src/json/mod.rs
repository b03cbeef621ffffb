//! Json: parse, canonical text, normalisation and reader/writer compatibility.
//! (Being written; see the crate docs for the contract.)
use crate::{Incompatibility, Reference, SchemaError};

#[derive(Debug, Clone)]
pub struct JsonSchema {
    canonical: String,
}

pub fn parse(text: &str, _references: &[Reference]) -> Result<JsonSchema, SchemaError> {
    let v: serde_json::Value = serde_json::from_str(text)
        .map_err(|e| SchemaError::new(format!("Invalid Json schema: {e}")))?;
    Ok(JsonSchema {
        canonical: v.to_string(),
    })
}

impl JsonSchema {
    pub fn canonical(&self) -> String {
        self.canonical.clone()
    }
    pub fn normalized(&self) -> String {
        self.canonical.clone()
    }
}

pub fn backward(_old: &JsonSchema, _new: &JsonSchema) -> Vec<Incompatibility> {
    Vec::new()
}
