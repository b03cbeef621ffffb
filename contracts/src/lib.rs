//! `accord-contracts`: the data-contract side of Accord (Confluent's `metadata` and
//! `ruleSet` model today; contracts, rule evaluation and the encryption envelope in the
//! issues that follow). No HTTP, no SQL.
#![forbid(unsafe_code)]
