//! `accord lint`: the rule engine is `accord_contracts::lint` (the server runs the same
//! rules from a stream's contract); this adapts its findings to the CLI's reports.
//! The rules, their options and the `lint:` section of `accord.yaml` are documented there.

use crate::report::{Finding, Severity};
use accord_compat::ParsedSchema;
use accord_contracts::lint::Level;
pub use accord_contracts::lint::LintConfig;

/// Lints one parsed schema whose source text is `text`; findings carry lines of `text`,
/// and the schema's warnings from Accord's stricter checks come along as warnings.
pub fn lint(config: &LintConfig, text: &str, parsed: &ParsedSchema) -> Vec<Finding> {
    accord_contracts::lint::lint(config, text, parsed)
        .into_iter()
        .map(|f| Finding {
            severity: if f.level == Level::Error {
                Severity::Error
            } else {
                Severity::Warning
            },
            rule: f.rule,
            path: f.path,
            version: None,
            direction: None,
            message: f.message,
            line: f.line,
        })
        // What Accord's stricter parse checks found: warnings (Confluent registers such
        // schemas; a registry with `accordStrictSchemas` refuses them).
        .chain(parsed.warnings().iter().map(|w| Finding {
            severity: Severity::Warning,
            rule: w.kind.clone(),
            path: w.path.clone(),
            version: None,
            direction: None,
            message: w.message.clone(),
            line: None,
        }))
        .collect()
}
