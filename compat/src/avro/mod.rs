//! Avro: parse, canonical text, normalisation and reader/writer compatibility.
//! (Being written; see the crate docs for the contract.)
use crate::{Incompatibility, Reference, SchemaError};

#[derive(Debug, Clone)]
pub struct AvroSchema {
    canonical: String,
}

pub fn parse(text: &str, _references: &[Reference]) -> Result<AvroSchema, SchemaError> {
    let v: serde_json::Value = serde_json::from_str(text)
        .map_err(|e| SchemaError::new(format!("Invalid Avro schema: {e}")))?;
    Ok(AvroSchema {
        canonical: v.to_string(),
    })
}

impl AvroSchema {
    pub fn canonical(&self) -> String {
        self.canonical.clone()
    }
    pub fn normalized(&self) -> String {
        self.canonical.clone()
    }
}

pub fn backward(_old: &AvroSchema, _new: &AvroSchema) -> Vec<Incompatibility> {
    Vec::new()
}
