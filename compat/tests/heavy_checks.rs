//! Contrived schemas whose comparison is expensive: the checks finish in bounded time
//! and memory, and a [`Budget`] that runs out stops them with the distinct
//! [`TooComplex`] error instead of letting them run on.

use accord_compat::{
    check, check_within, parse, Budget, CompatibilityLevel, Existing, ParsedSchema, SchemaFormat,
    TooComplex,
};
use std::time::{Duration, Instant};

/// Issue 12's schema: `records` records, each holding a union of null and the
/// `window` records before it. `evolve` adds a field with a default to every record
/// (compatible); `break_ids` turns every record's `int` id into a `string` (not).
fn union_web(records: usize, window: usize, evolve: bool, break_ids: bool) -> String {
    let mut fields = Vec::with_capacity(records);
    for i in 0..records {
        let mut branches = vec!["\"null\"".to_string()];
        branches.extend((i.saturating_sub(window)..i).map(|j| format!("\"R{j}\"")));
        let added = if evolve {
            r#",{"name":"added","type":"string","default":""}"#
        } else {
            ""
        };
        let id = if break_ids { "string" } else { "int" };
        fields.push(format!(
            r#"{{"name":"f{i}","type":{{"type":"record","name":"R{i}","fields":[{{"name":"id","type":"{id}"}},{{"name":"u","type":[{}],"default":null}}{added}]}}}}"#,
            branches.join(",")
        ));
    }
    format!(
        r#"{{"type":"record","name":"Root","fields":[{}]}}"#,
        fields.join(",")
    )
}

fn avro(text: &str) -> ParsedSchema {
    match parse(SchemaFormat::Avro, text, &[]) {
        Ok(s) => s,
        Err(e) => panic!("does not parse: {e}"),
    }
}

fn one(version: i32, schema: &ParsedSchema) -> [Existing<'_>; 1] {
    [Existing { version, schema }]
}

#[test]
fn a_web_of_unions_checks_in_bounded_time_and_memory() {
    let base = avro(&union_web(300, 50, false, false));
    let evolved = avro(&union_web(300, 50, true, false));
    for (label, new, old) in [("itself", &base, &base), ("evolved", &evolved, &base)] {
        let mut budget = Budget::default();
        let started = Instant::now();
        let report = check_within(
            CompatibilityLevel::FullTransitive,
            new,
            &one(1, old),
            &mut budget,
        );
        let elapsed = started.elapsed();
        eprintln!(
            "300 records x unions of 50, against {label}: {elapsed:?}, {} steps",
            budget.spent()
        );
        match report {
            Ok(r) => assert!(r.is_compatible(), "{label}: {:?}", r.messages()),
            Err(e) => panic!("{label}: {e} (after {elapsed:?})"),
        }
    }
}

#[test]
fn a_web_of_unions_with_a_breaking_change_lists_its_incompatibilities() {
    let base = avro(&union_web(300, 50, false, false));
    let broken = avro(&union_web(300, 50, false, true));
    let mut budget = Budget::default();
    let started = Instant::now();
    let report = check_within(
        CompatibilityLevel::Backward,
        &broken,
        &one(1, &base),
        &mut budget,
    );
    eprintln!(
        "300 records x unions of 50, every id narrowed: {:?}, {} steps",
        started.elapsed(),
        budget.spent()
    );
    let report = match report {
        Ok(r) => r,
        Err(e) => panic!("{e}"),
    };
    assert!(!report.is_compatible());
    // Reported at the first record reached through the root's fields, as Java does.
    assert!(
        report
            .incompatibilities
            .iter()
            .any(|i| i.kind == "TYPE_MISMATCH" && i.path == "/fields/0/type/fields/0/type"),
        "{:?}",
        report.messages().first()
    );
}

#[test]
fn a_spent_budget_stops_the_check_with_a_distinct_error() {
    let base = avro(&union_web(300, 50, false, false));
    let evolved = avro(&union_web(300, 50, true, false));

    let mut budget = Budget::new(100_000, None);
    let started = Instant::now();
    let result = check_within(
        CompatibilityLevel::Full,
        &evolved,
        &one(1, &base),
        &mut budget,
    );
    assert_eq!(result, Err(TooComplex::Steps(100_000)));
    assert!(started.elapsed() < Duration::from_secs(30));

    let mut budget = Budget::new(u64::MAX, Some(Duration::ZERO));
    let result = check_within(
        CompatibilityLevel::Full,
        &evolved,
        &one(1, &base),
        &mut budget,
    );
    assert_eq!(result, Err(TooComplex::Time(Duration::ZERO)));

    // The budget-less entry point fails closed, with one incompatibility saying why.
    let too_complex = TooComplex::Steps(7).incompatibility();
    assert_eq!(too_complex.kind, "SCHEMA_TOO_COMPLEX");
    assert!(too_complex.message.contains("more than 7 steps"));
    assert!(check(CompatibilityLevel::Full, &evolved, &one(1, &base)).is_compatible());
}

/// JSON Schema's analogue: definitions that each allow any of the ones before them.
fn json_web(defs: usize, window: usize, extra: bool) -> String {
    let mut out = Vec::with_capacity(defs);
    for i in 0..defs {
        let refs: Vec<String> = (i.saturating_sub(window)..i)
            .map(|j| format!(r##"{{"$ref":"#/definitions/d{j}"}}"##))
            .collect();
        let more = if extra {
            r#","more":{"type":"string"}"#
        } else {
            ""
        };
        out.push(format!(
            r#""d{i}":{{"type":"object","properties":{{"id":{{"type":"integer"}},"u":{{"anyOf":[{{"type":"null"}}{}{}]}}{more}}}}}"#,
            if refs.is_empty() { "" } else { "," },
            refs.join(",")
        ));
    }
    let props: Vec<String> = (0..defs)
        .map(|i| format!(r##""p{i}":{{"$ref":"#/definitions/d{i}"}}"##))
        .collect();
    format!(
        r#"{{"type":"object","definitions":{{{}}},"properties":{{{}}}}}"#,
        out.join(","),
        props.join(",")
    )
}

#[test]
fn json_and_protobuf_checks_charge_the_budget_too() {
    let parse_json = |text: &str| match parse(SchemaFormat::Json, text, &[]) {
        Ok(s) => s,
        Err(e) => panic!("does not parse: {e}"),
    };
    let old = parse_json(&json_web(100, 20, false));
    let new = parse_json(&json_web(100, 20, true));
    let mut budget = Budget::default();
    let started = Instant::now();
    let result = check_within(CompatibilityLevel::Full, &new, &one(1, &old), &mut budget);
    eprintln!(
        "JSON Schema, 100 definitions x anyOf of 20: {:?}, {} steps, {:?}",
        started.elapsed(),
        budget.spent(),
        result.as_ref().map(|r| r.incompatibilities.len())
    );
    let mut budget = Budget::new(50, None);
    assert_eq!(
        check_within(CompatibilityLevel::Full, &new, &one(1, &old), &mut budget),
        Err(TooComplex::Steps(50))
    );

    let proto = |extra: &str| {
        let messages: String = (0..50)
            .map(|i| format!("message M{i} {{ int32 a = 1; string b = 2; {extra} }}\n"))
            .collect();
        match parse(
            SchemaFormat::Protobuf,
            &format!("syntax = \"proto3\";\npackage p;\n{messages}"),
            &[],
        ) {
            Ok(s) => s,
            Err(e) => panic!("does not parse: {e}"),
        }
    };
    let (old, new) = (proto(""), proto("int64 c = 3;"));
    let mut budget = Budget::new(20, None);
    assert_eq!(
        check_within(CompatibilityLevel::Full, &new, &one(1, &old), &mut budget),
        Err(TooComplex::Steps(20))
    );
    let mut budget = Budget::default();
    assert!(
        check_within(CompatibilityLevel::Full, &new, &one(1, &old), &mut budget)
            .is_ok_and(|r| r.is_compatible())
    );
}
