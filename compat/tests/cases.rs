//! The table-driven compatibility suite. Every case lives in a YAML file under
//! `tests/cases/<format>/` so a reviewer can check the rules without reading Rust:
//!
//! ```yaml
//! cases:
//!   - name: add a field with a default
//!     old: '{"type":"record","name":"R","fields":[]}'
//!     new: '{"type":"record","name":"R","fields":[{"name":"a","type":"int","default":0}]}'
//!     references: []          # optional: [{name, schema}] used to parse both sides
//!     backward: ok            # new reads old: `ok`, or the expected list below
//!     forward:                # old reads new
//!       - {kind: READER_FIELD_MISSING_DEFAULT_VALUE, path: /fields/0}
//!         # optional: Confluent's verbose message for this finding, byte for byte
//!         confluent: "{errorType:'READER_FIELD_MISSING_DEFAULT_VALUE', ...}"
//! invalid:                    # optional: texts that must be rejected
//!   - {name: not json, schema: '{', error: "contains this text"}
//! warned:                     # optional: texts Confluent accepts and Accord's stricter
//!                             # checks warn about: they parse, with this warning kind
//!   - {name: bad default, schema: '...', warning: DEFAULT_TYPE_MISMATCH}
//! ```
//!
//! Backward runs `check(BACKWARD, new, [old])`, forward `check(FORWARD, new, [old])`;
//! the reported `(kind, path)` pairs must equal the expected ones exactly (order aside).

use accord_compat::{check, parse, CompatibilityLevel, Existing, Reference, SchemaFormat};
use serde::Deserialize;
use std::path::Path;

#[derive(Deserialize)]
struct CaseFile {
    #[serde(default)]
    cases: Vec<Case>,
    #[serde(default)]
    invalid: Vec<Invalid>,
    #[serde(default)]
    warned: Vec<Warned>,
}

#[derive(Deserialize)]
struct Warned {
    name: String,
    schema: String,
    #[serde(default)]
    references: Vec<Ref>,
    warning: String,
}

#[derive(Deserialize)]
struct Case {
    name: String,
    old: String,
    new: String,
    #[serde(default)]
    references: Vec<Ref>,
    backward: Verdict,
    forward: Verdict,
}

#[derive(Deserialize)]
struct Ref {
    name: String,
    schema: String,
}

#[derive(Deserialize)]
struct Invalid {
    name: String,
    schema: String,
    #[serde(default)]
    references: Vec<Ref>,
    error: String,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Verdict {
    Ok(String),
    Incompatible(Vec<Expected>),
}

#[derive(Deserialize, Clone, PartialEq, Eq, PartialOrd, Ord, Debug)]
struct Expected {
    kind: String,
    path: String,
    /// When given, the finding's [`accord_compat::Incompatibility::confluent_message`]
    /// must equal it exactly.
    #[serde(default)]
    confluent: Option<String>,
}

struct Outcome {
    cases: usize,
    failures: Vec<String>,
}

fn run_dir(format: SchemaFormat, dir: &str) -> Outcome {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/cases")
        .join(dir);
    let mut files: Vec<_> = std::fs::read_dir(&root)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", root.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    files.sort();
    let mut outcome = Outcome {
        cases: 0,
        failures: Vec::new(),
    };
    for file in files {
        let text = std::fs::read_to_string(&file).expect("read case file");
        let parsed: CaseFile = serde_yaml::from_str(&text)
            .unwrap_or_else(|e| panic!("{}: not a case file: {e}", file.display()));
        let fname = file.file_name().unwrap().to_string_lossy().to_string();
        for case in &parsed.cases {
            outcome.cases += 1;
            if let Err(e) = run_case(format, case) {
                outcome
                    .failures
                    .push(format!("{fname} / {}: {e}", case.name));
            }
        }
        for inv in &parsed.invalid {
            let refs = to_refs(&inv.references);
            match parse(format, &inv.schema, &refs) {
                Ok(_) => outcome
                    .failures
                    .push(format!("{fname} / invalid {}: was accepted", inv.name)),
                Err(e) if !e.message.contains(&inv.error) => outcome.failures.push(format!(
                    "{fname} / invalid {}: error {:?} does not contain {:?}",
                    inv.name, e.message, inv.error
                )),
                Err(_) => {}
            }
        }
        for w in &parsed.warned {
            outcome.cases += 1;
            let refs = to_refs(&w.references);
            match parse(format, &w.schema, &refs) {
                Err(e) => outcome.failures.push(format!(
                    "{fname} / warned {}: was rejected ({}), Confluent accepts it",
                    w.name, e.message
                )),
                Ok(p) if !p.warnings().iter().any(|x| x.kind == w.warning) => {
                    outcome.failures.push(format!(
                        "{fname} / warned {}: no {} warning among {:?}",
                        w.name,
                        w.warning,
                        p.warnings()
                    ))
                }
                Ok(_) => {}
            }
        }
    }
    outcome
}

fn to_refs(refs: &[Ref]) -> Vec<Reference> {
    refs.iter()
        .map(|r| Reference::new(&r.name, &r.schema))
        .collect()
}

fn run_case(format: SchemaFormat, case: &Case) -> Result<(), String> {
    let refs = to_refs(&case.references);
    let old = parse(format, &case.old, &refs).map_err(|e| format!("old does not parse: {e}"))?;
    let new = parse(format, &case.new, &refs).map_err(|e| format!("new does not parse: {e}"))?;
    let existing = [Existing {
        version: 1,
        schema: &old,
    }];
    for (level, expected, label) in [
        (CompatibilityLevel::Backward, &case.backward, "backward"),
        (CompatibilityLevel::Forward, &case.forward, "forward"),
    ] {
        let report = check(level, &new, &existing);
        let mut got: Vec<Expected> = report
            .incompatibilities
            .iter()
            .map(|i| Expected {
                kind: i.kind.clone(),
                path: i.path.clone(),
                confluent: None,
            })
            .collect();
        got.sort();
        let mut want = match expected {
            Verdict::Ok(s) if s == "ok" => Vec::new(),
            Verdict::Ok(s) => {
                return Err(format!(
                    "{label}: verdict must be `ok` or a list, got {s:?}"
                ))
            }
            Verdict::Incompatible(list) => list.clone(),
        };
        // Confluent's message is checked where the table gives it, then set aside so
        // (kind, path) decide the rest.
        for w in &mut want {
            if let Some(text) = w.confluent.take() {
                let found = report
                    .incompatibilities
                    .iter()
                    .any(|i| i.kind == w.kind && i.path == w.path && i.confluent_message() == text);
                if !found {
                    let msgs: Vec<String> = report
                        .incompatibilities
                        .iter()
                        .map(|i| i.confluent_message())
                        .collect();
                    return Err(format!(
                        "{label}: no {} at {} with Confluent's message {text:?}; messages: {msgs:?}",
                        w.kind, w.path
                    ));
                }
            }
        }
        want.sort();
        if want.is_empty() && got.is_empty() {
            continue;
        }
        if want.is_empty() != got.is_empty() || want != got {
            let msgs: Vec<String> = report
                .incompatibilities
                .iter()
                .map(|i| i.to_string())
                .collect();
            return Err(format!(
                "{label}: expected {want:?}, got {got:?} ({msgs:?})"
            ));
        }
    }
    Ok(())
}

fn assert_suite(format: SchemaFormat, dir: &str, minimum: usize) {
    let outcome = run_dir(format, dir);
    assert!(
        outcome.failures.is_empty(),
        "{} of {} {dir} cases failed:\n{}",
        outcome.failures.len(),
        outcome.cases,
        outcome.failures.join("\n")
    );
    assert!(
        outcome.cases >= minimum,
        "{dir}: only {} cases, the suite promises at least {minimum}",
        outcome.cases
    );
}

#[test]
fn avro_cases() {
    assert_suite(SchemaFormat::Avro, "avro", 60);
}

#[test]
fn protobuf_cases() {
    assert_suite(SchemaFormat::Protobuf, "protobuf", 60);
}

#[test]
fn json_cases() {
    assert_suite(SchemaFormat::Json, "json", 60);
}
