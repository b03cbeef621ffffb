//! `accord-contracts`: the data-contract side of Accord. Today it holds Confluent's
//! schema `metadata` and `ruleSet` model (validation, merging, and the canonical bytes
//! that go into a schema's GUID); the contract document, CEL evaluation and the
//! encryption envelope follow in later issues. No HTTP, no SQL.
#![forbid(unsafe_code)]

pub mod schema_meta;

pub use schema_meta::{MetaError, Metadata, Rule, RuleSet};
