//! Protobuf: parse, canonical text, normalisation and reader/writer compatibility.
//! (Being written; see the crate docs for the contract.)
use crate::{Incompatibility, Reference, SchemaError};

#[derive(Debug, Clone)]
pub struct ProtobufSchema {
    canonical: String,
}

pub fn parse(text: &str, _references: &[Reference]) -> Result<ProtobufSchema, SchemaError> {
    let v: serde_json::Value = serde_json::from_str(text)
        .map_err(|e| SchemaError::new(format!("Invalid Protobuf schema: {e}")))?;
    Ok(ProtobufSchema {
        canonical: v.to_string(),
    })
}

impl ProtobufSchema {
    pub fn canonical(&self) -> String {
        self.canonical.clone()
    }
    pub fn normalized(&self) -> String {
        self.canonical.clone()
    }
}

pub fn backward(_old: &ProtobufSchema, _new: &ProtobufSchema) -> Vec<Incompatibility> {
    Vec::new()
}
