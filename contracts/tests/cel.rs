//! CEL: compile errors with positions, evaluation on nested records, errors not panics,
//! and the ruleSet check the server runs at registration.

use accord_contracts::cel::{
    self, check_rule_set, compile, compile_field, evaluate, evaluate_field, CelError, FieldContext,
    MAX_EXPR_LEN, MAX_NESTING, MAX_OPERATORS,
};
use accord_contracts::RuleSet;
use serde_json::json;

fn eval(expr: &str, message: serde_json::Value) -> Result<bool, CelError> {
    evaluate(&compile(expr).expect("compiles"), &message)
}

#[test]
fn conditions_on_nested_records() {
    let order = json!({
        "age": 30,
        "amount": 12.5,
        "user": {"name": "Ada", "address": {"country": "FR"}},
        "lines": [{"sku": "a", "qty": 2}, {"sku": "b", "qty": 1}],
        "note": null
    });
    let cases = [
        ("message.age >= 18", true),
        ("message.age + 1 == 31", true),
        ("message.amount > 10.0", true),
        ("message.user.address.country in ['FR', 'DE']", true),
        ("message.user.name.startsWith('B')", false),
        (
            "size(message.lines) == 2 && message.lines.all(l, l.qty > 0)",
            true,
        ),
        ("message.lines.exists(l, l.sku == 'z')", false),
        ("has(message.user.email)", false),
        ("message.note == null", true),
        ("message.user.name.matches('^[A-Z][a-z]+$')", true),
        ("message.user.name.lowerAscii() == 'ada'", true),
    ];
    for (expr, want) in cases {
        assert_eq!(eval(expr, order.clone()), Ok(want), "{expr}");
    }
}

#[test]
fn large_integers_and_floats() {
    assert_eq!(eval("message.n > 0", json!({"n": u64::MAX})), Ok(true));
    assert_eq!(eval("message.n == -5", json!({"n": -5})), Ok(true));
}

#[test]
fn syntax_errors_have_positions() {
    match compile("message.age >= ") {
        Err(CelError::Syntax {
            line,
            column,
            message,
        }) => {
            assert_eq!((line, column), (1, 16));
            assert!(message.contains("Syntax error"), "{message}");
        }
        other => panic!("{other:?}"),
    }
    let e = compile("message.a &&\n  (message.b ||").unwrap_err();
    assert!(matches!(e, CelError::Syntax { line: 2, .. }), "{e:?}");
    assert!(
        e.to_string()
            .starts_with("invalid CEL expression at line 2, column"),
        "{e}"
    );
    for bad in ["1 +* 2", "message.", "'unterminated", "a ? b", ")"] {
        assert!(compile(bad).is_err(), "{bad}");
    }
}

#[test]
fn runtime_errors_are_errors_not_panics() {
    let msg = json!({"age": 30, "name": "x", "list": [1]});
    let cases = [
        ("message.age >= 'eighteen'", "no matching overload"),
        ("message.missing == 1", "No such key"),
        ("message.age / 0 == 1", "Division by zero"),
        ("message.list[5] == 1", "Index out of bounds"),
        ("undefined_variable", "Undeclared reference"),
        ("message.name.size() + message.age", ""),
    ];
    for (expr, part) in cases {
        match eval(expr, msg.clone()) {
            Err(CelError::Evaluation(m)) => assert!(m.contains(part), "{expr}: {m}"),
            Err(CelError::NotBoolean(_)) if part.is_empty() => {}
            other => panic!("{expr}: {other:?}"),
        }
    }
    assert!(matches!(
        eval("message.age", msg.clone()),
        Err(CelError::NotBoolean(_))
    ));
    // A record that is not a map at all.
    assert!(eval("message.age > 1", json!(42)).is_err());
}

#[test]
fn oversized_expressions_are_refused_before_parsing() {
    let deep = format!(
        "{}true{}",
        "(".repeat(MAX_NESTING + 1),
        ")".repeat(MAX_NESTING + 1)
    );
    assert!(matches!(compile(&deep), Err(CelError::Refused(m)) if m.contains("nested")));
    let ok = format!("{}true{}", "(".repeat(MAX_NESTING), ")".repeat(MAX_NESTING));
    assert_eq!(evaluate(&compile(&ok).unwrap(), &json!({})), Ok(true));

    let chain = format!("1{}", "+1".repeat(MAX_OPERATORS + 1));
    assert!(matches!(compile(&chain), Err(CelError::Refused(m)) if m.contains("operator")));
    let chain = format!(
        "1{} == {}",
        "+1".repeat(MAX_OPERATORS - 2),
        MAX_OPERATORS - 1
    );
    assert_eq!(evaluate(&compile(&chain).unwrap(), &json!({})), Ok(true));

    let long = format!("'{}' == ''", "a".repeat(MAX_EXPR_LEN));
    assert!(matches!(compile(&long), Err(CelError::Refused(_))));
    assert!(matches!(compile("  "), Err(CelError::Refused(_))));
}

#[test]
fn field_rules_with_guard() {
    let p = compile_field("name == 'ssn' ; value.size() == 9").unwrap();
    assert!(p.guard.is_some());
    let message = json!({"ssn": "123456789", "email": "a@b"});
    let (ssn, email) = (json!("123456789"), json!("a@b"));
    let field = |name, value| FieldContext {
        name,
        value,
        type_name: "STRING",
        tags: &[],
        message: &message,
    };
    assert_eq!(evaluate_field(&p, field("ssn", &ssn)), Ok(Some(true)));
    assert_eq!(evaluate_field(&p, field("email", &email)), Ok(None));
    // A ';' inside a string does not split.
    let p = compile_field("value == 'a;b'").unwrap();
    assert!(p.guard.is_none());
    let tags = ["PII".to_string()];
    let v = json!("a;b");
    let ctx = FieldContext {
        name: "f",
        value: &v,
        type_name: "STRING",
        tags: &tags,
        message: &message,
    };
    assert_eq!(evaluate_field(&p, ctx), Ok(Some(true)));
    let p = compile_field("'PII' in tags ; typeName == 'STRING'").unwrap();
    assert_eq!(evaluate_field(&p, ctx), Ok(Some(true)));
    assert!(compile_field("name == ; true").is_err());
}

#[test]
fn rule_set_check_names_rule_and_path() {
    let rs: RuleSet = serde_json::from_value(json!({
        "domainRules": [
            {"name": "ok", "kind": "CONDITION", "type": "CEL", "mode": "WRITE", "expr": "message.a > 1"},
            {"name": "broken", "kind": "CONDITION", "type": "CEL", "mode": "WRITE", "expr": "message.a >"},
            {"name": "noExpr", "kind": "CONDITION", "type": "cel", "mode": "WRITE"},
            {"name": "encrypt", "kind": "TRANSFORM", "type": "ENCRYPT", "mode": "WRITEREAD", "tags": ["PII"]},
            {"name": "off", "kind": "CONDITION", "type": "CEL", "mode": "WRITE", "expr": "((", "disabled": true}
        ],
        "migrationRules": [
            {"name": "field", "kind": "TRANSFORM", "type": "CEL_FIELD", "mode": "UPGRADE", "expr": "name == 'x' ; "}
        ]
    }))
    .unwrap();
    let problems = check_rule_set(&rs);
    let paths: Vec<&str> = problems.iter().map(|p| p.path.as_str()).collect();
    assert_eq!(
        paths,
        [
            "migrationRules[0].expr",
            "domainRules[1].expr",
            "domainRules[2].expr",
            "domainRules[4].expr"
        ]
    );
    assert!(
        problems[1]
            .message
            .starts_with("rule 'broken' (CEL): invalid CEL expression at line 1, column"),
        "{}",
        problems[1].message
    );
    assert!(problems[2].message.contains("missing expr"));
    assert!(problems[0].message.contains("rule 'field' (CEL_FIELD)"));
    assert!(check_rule_set(&RuleSet::default()).is_empty());
}

#[test]
fn programs_are_shareable_across_threads() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<cel::Program>();
    send_sync::<cel::FieldProgram>();
    let p = std::sync::Arc::new(compile("message.n % 2 == 0").unwrap());
    let handles: Vec<_> = (0..4)
        .map(|i| {
            let p = p.clone();
            std::thread::spawn(move || evaluate(&p, &json!({"n": i})).unwrap())
        })
        .collect();
    let results: Vec<bool> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    assert_eq!(results, [true, false, true, false]);
    assert_eq!(p.source(), "message.n % 2 == 0");
}
