//! `accord-contracts`: the data-contract side of Accord, usable without the server.
//!
//! * [`schema_meta`]: Confluent's schema `metadata` and `ruleSet` (validation, merging,
//!   and the canonical bytes that go into a schema's GUID).
//! * [`contract`]: a stream's data contract, an Open Data Contract Standard (ODCS) v3.1
//!   document ([`odcs`]) with Accord's fields under `customProperties` ([`extensions`]);
//!   reading, writing, validation ([`validate`]) with a path for every problem, and a
//!   digest for idempotent applies. SLOs are read by [`slo`].
//! * [`cel`]: compiling and evaluating CEL rule expressions.
//! * [`lint`]: schema style rules (`accord lint`, and a contract's `accord.evolution.lint`).
//! * [`limits`]: the size and nesting limits a contract's text is held to before parsing.
//!
//! * [`kms`]: the KMS trait and its providers, DEK material and the field cipher.
//!
//! No HTTP server, no SQL (the `aws-kms` provider is an HTTP client).
#![forbid(unsafe_code)]

pub mod cel;
mod collect;
pub mod contract;
pub mod extensions;
pub mod kms;
pub mod limits;
pub mod lint;
pub mod odcs;
pub mod schema_meta;
pub mod slo;
pub mod time;
pub mod validate;

pub use accord_compat::CompatibilityLevel;
pub use contract::{Contract, ContractErrors, ContractField, ContractStatus, Problem};
pub use extensions::{
    AccessPolicy, AccordProperties, Admission, ConsumerPolicy, EncryptionPolicy, EvolutionPolicy,
    FieldStyle, KeyScope, LifecyclePolicy, LintLevel, LintRule, LintSetting, ReadAccess,
    StreamBinding,
};
pub use schema_meta::{MetaError, Metadata, Rule, RuleSet};
pub use slo::{DurationUnit, RateUnit, Slo, SloKind, SloUnit};
