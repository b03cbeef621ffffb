//! Every problem `from_yaml` and `validate` report, with its path, as a table: a change to
//! the valid fixture, then the path and a part of the message expected.

use accord_contracts::Contract;

const ORDERS: &str = include_str!("data/orders.odcs.yaml");

/// The fixture with `from` replaced by `to` (which must occur exactly once).
fn edit(from: &str, to: &str) -> String {
    assert_eq!(
        ORDERS.matches(from).count(),
        1,
        "'{from}' must occur once in the fixture"
    );
    ORDERS.replace(from, to)
}

/// (case, from, to, path, message part) for problems `validate` finds.
const VALIDATE: &[(&str, &str, &str, &str, &str)] = &[
    (
        "api version",
        "apiVersion: v3.1.0",
        "apiVersion: v2.2.2",
        "apiVersion",
        "unsupported apiVersion 'v2.2.2'",
    ),
    (
        "missing api version",
        "apiVersion: v3.1.0\n",
        "",
        "apiVersion",
        "required by ODCS",
    ),
    (
        "kind",
        "kind: DataContract",
        "kind: Contract",
        "kind",
        "expected 'DataContract'",
    ),
    (
        "missing id",
        "id: 5a3d6f1e-orders\n",
        "",
        "id",
        "required by ODCS",
    ),
    (
        "missing version",
        "version: 2.1.0\n",
        "",
        "version",
        "required by ODCS",
    ),
    (
        "unknown status",
        "status: active",
        "status: live",
        "status",
        "unknown status 'live'",
    ),
    (
        "created ts",
        "contractCreatedTs: \"2025-03-14T09:30:00Z\"",
        "contractCreatedTs: \"14/03/2025\"",
        "contractCreatedTs",
        "not an RFC 3339 date-time",
    ),
    (
        "unknown root key",
        "tenant: acme",
        "tenant: acme\nslaProperty: 1",
        "slaProperty",
        "unknown field 'slaProperty': not an ODCS v3.1.0 field of a data contract",
    ),
    (
        "unknown description key",
        "  usage: Fulfilment",
        "  usages: x\n  usage: Fulfilment",
        "description.usages",
        "unknown field 'usages'",
    ),
    (
        "empty tag",
        "tags: [PII, financial]",
        "tags: [PII, \"\"]",
        "tags[1]",
        "empty tag",
    ),
    (
        "object without name",
        "  - name: Order\n",
        "  - physicalName: x\n",
        "schema[0].name",
        "needs a name",
    ),
    (
        "object logical type",
        "  - name: Order\n    logicalType: object",
        "  - name: Order\n    logicalType: record",
        "schema[0].logicalType",
        "'object', found 'record'",
    ),
    (
        "unknown object key",
        "    physicalType: topic",
        "    physicalType: topic\n    format: avro",
        "schema[0].format",
        "not an ODCS v3.1.0 field of a schema object",
    ),
    (
        "duplicate property",
        "      - name: email\n",
        "      - name: amount\n",
        "schema[0].properties[3].name",
        "duplicate property 'amount' (also schema[0].properties[2])",
    ),
    (
        "logical type",
        "      - name: amount\n        logicalType: number",
        "      - name: amount\n        logicalType: decimal",
        "schema[0].properties[3].logicalType",
        "unknown logicalType 'decimal'",
    ),
    (
        "nested property key",
        "            description: Street and number.",
        "            description: Street and number.\n            pii: true",
        "schema[0].properties[4].properties[0].pii",
        "unknown field 'pii'",
    ),
    (
        "items key",
        "            - name: sku\n",
        "            - nam: sku\n",
        "schema[0].properties[5].items.properties[0].name",
        "needs a name",
    ),
    (
        "no team",
        "team:\n  name: checkout\n",
        "owners:\n  name: checkout\n",
        "team",
        "owning team is required",
    ),
    (
        "no team name",
        "  name: checkout\n",
        "",
        "team.name",
        "owning team's name is required",
    ),
    (
        "member date",
        "dateIn: \"2023-04-01\"",
        "dateIn: \"2023-02-30\"",
        "team.members[0].dateIn",
        "not a date",
    ),
    (
        "sla unit",
        "    value: 500\n    unit: ms",
        "    value: 500\n    unit: parsecs",
        "slaProperties[1].unit",
        "unknown unit 'parsecs' for latency (expected ms, s, m, h, d)",
    ),
    (
        "sla missing unit",
        "    value: 5\n    unit: s\n",
        "    value: 5\n",
        "slaProperties[0].unit",
        "freshness needs a unit (expected ms, s, m, h, d)",
    ),
    (
        "sla percent",
        "    value: 99.9",
        "    value: 140",
        "slaProperties[2].value",
        "at most 100",
    ),
    (
        "sla availability unit",
        "    unit: \"%\"",
        "    unit: ms",
        "slaProperties[2].unit",
        "unknown unit 'ms' for availability (expected %)",
    ),
    (
        "sla years only for retention",
        "    value: 5\n    unit: s",
        "    value: 5\n    unit: y",
        "slaProperties[0].unit",
        "unknown unit 'y' for freshness",
    ),
    (
        "sla not a number",
        "    value: 200\n",
        "    value: lots\n",
        "slaProperties[4].value",
        "throughput needs a number",
    ),
    (
        "sla negative",
        "    value: 7\n",
        "    value: -7\n",
        "slaProperties[3].value",
        "must be a positive number",
    ),
    (
        "sla duplicate",
        "  - property: retention",
        "  - property: freshness",
        "slaProperties[3].property",
        "freshness is set twice",
    ),
    (
        "sla unknown key",
        "    driver: operational",
        "    driver: operational\n    owner: x",
        "slaProperties[2].owner",
        "not an ODCS v3.1.0 field of an SLA property",
    ),
    (
        "duplicate custom property",
        "  - property: accord.stream",
        "  - property: costCenter\n    value: 1\n  - property: accord.stream",
        "customProperties[1].property",
        "'costCenter' is set twice (first at customProperties[0])",
    ),
    (
        "stream name",
        "      name: orders\n",
        "      name: \"orders/eu\"\n",
        "customProperties[1].value.name",
        "has '/'",
    ),
    (
        "lint option",
        "doc-required: error",
        "doc-required: { level: error, max: 2 }",
        "customProperties[2].value.lint.doc-required.max",
        "doc-required takes only level, not 'max'",
    ),
    (
        "lint max",
        "max: 3",
        "max: 0",
        "customProperties[2].value.lint.union-width.max",
        "positive integer",
    ),
    (
        "rule set",
        "          mode: WRITE\n          expr: message.amount > 0",
        "          mode: UPGRADE\n          expr: message.amount > 0",
        "customProperties[3].value",
        "has mode 'UPGRADE'",
    ),
    (
        "cel syntax",
        "expr: message.amount > 0",
        "expr: message.amount >",
        "customProperties[3].value.domainRules[0].expr",
        "rule 'positiveAmount' (CEL): invalid CEL expression at line 1, column",
    ),
    (
        "cel field guard",
        "\"name == 'email' ; value.matches",
        "\"name == ; value.matches",
        "customProperties[3].value.domainRules[2].expr",
        "rule 'emailShape' (CEL_FIELD)",
    ),
    (
        "entity key missing",
        "      entityKeyField: user_id\n",
        "",
        "customProperties[4].value.entityKeyField",
        "keyScope entity needs entityKeyField",
    ),
    (
        "entity key unknown",
        "entityKeyField: user_id",
        "entityKeyField: customer_id",
        "customProperties[4].value.entityKeyField",
        "'customer_id' is not a property",
    ),
    (
        "entity key encrypted",
        "entityKeyField: user_id",
        "entityKeyField: email",
        "customProperties[4].value.entityKeyField",
        "tagged PII, so it would be encrypted",
    ),
    (
        "stream scope with entity key",
        "keyScope: entity",
        "keyScope: stream",
        "customProperties[4].value.entityKeyField",
        "only applies to keyScope: entity",
    ),
    (
        "no encrypted tags",
        "      tags: [PII]\n      keyScope",
        "      tags: []\n      keyScope",
        "customProperties[4].value.tags",
        "at least one tag",
    ),
    (
        "allow list empty",
        "consumers: approval",
        "consumers: allowList",
        "customProperties[5].value.allowedTeams",
        "needs at least one team",
    ),
    (
        "allowed teams without allow list",
        "      piiRequiresOwnerApproval: true",
        "      piiRequiresOwnerApproval: true\n      allowedTeams: [x]",
        "customProperties[5].value.allowedTeams",
        "only applies to consumers: allowList",
    ),
    (
        "sunset date",
        "sunsetDate: \"2027-06-30\"",
        "sunsetDate: \"June 2027\"",
        "customProperties[6].value.sunsetDate",
        "not a date",
    ),
    (
        "successor is self",
        "successor: orders-v3",
        "successor: orders",
        "customProperties[6].value.successor",
        "cannot succeed itself",
    ),
    (
        "deprecated without sunset",
        "      sunsetDate: \"2027-06-30\"\n",
        "",
        "customProperties[6].value.sunsetDate",
        "a deprecated stream needs a sunset date",
    ),
];

#[test]
fn each_validation_problem_has_its_path() {
    for (case, from, to, path, message) in VALIDATE {
        let mut text = edit(from, to);
        if *case == "deprecated without sunset" {
            text = text.replace("status: active", "status: deprecated");
        }
        let contract = Contract::from_yaml(&text).unwrap_or_else(|e| panic!("{case}: {e}"));
        let problems = contract.validate().expect_err(case).0;
        assert!(
            problems
                .iter()
                .any(|p| p.path == *path && p.message.contains(message)),
            "{case}: expected {path}: ...{message}...; got {problems:#?}"
        );
        // Only what the edit broke is reported.
        let unrelated: Vec<_> = problems.iter().filter(|p| p.path != *path).collect();
        assert!(
            unrelated.is_empty() || ["no team", "missing api version", "items key"].contains(case),
            "{case}: unexpected {unrelated:#?}"
        );
    }
}

/// (case, from, to, path, message part) for problems reading the document finds.
const READ: &[(&str, &str, &str, &str, &str)] = &[
    (
        "type error",
        "        required: true\n        primaryKey",
        "        required: yes please\n        primaryKey",
        "schema[0].properties[0].required",
        "expected a boolean",
    ),
    (
        "unknown accord property",
        "property: accord.access",
        "property: accord.acess",
        "customProperties[5].property",
        "unknown Accord property 'accord.acess'",
    ),
    (
        "accord property twice",
        "property: accord.access",
        "property: accord.stream",
        "customProperties[5].property",
        "'accord.stream' is set twice (first at customProperties[1])",
    ),
    (
        "key scope",
        "keyScope: entity",
        "keyScope: user",
        "customProperties[4].value.keyScope",
        "unknown variant `user`",
    ),
    (
        "compatibility",
        "compatibility: FULL_TRANSITIVE",
        "compatibility: SIDEWAYS",
        "customProperties[2].value.compatibility",
        "unknown variant `SIDEWAYS`",
    ),
    (
        "lint rule",
        "doc-required: error",
        "docs-required: error",
        "customProperties[2].value.lint.docs-required",
        "unknown lint rule 'docs-required' (expected one of doc-required, field-naming",
    ),
    (
        "lint level",
        "doc-required: error",
        "doc-required: fatal",
        "customProperties[2].value.lint.doc-required",
        "unknown variant `fatal`",
    ),
    (
        "lint style",
        "style: snake_case",
        "style: kebab",
        "customProperties[2].value.lint.field-naming.style",
        "unknown variant `kebab`",
    ),
    (
        "unknown key in accord value",
        "      consumers: approval",
        "      consumer: approval",
        "customProperties[5].value.consumer",
        "unknown field `consumer`",
    ),
    (
        "rule set shape",
        "      domainRules:",
        "      domainRule:",
        "customProperties[3].value.domainRule",
        "unknown field `domainRule`",
    ),
    (
        "team shape",
        "team:\n  name: checkout\n",
        "team: checkout\nx:\n  name: checkout\n",
        "team",
        "expected a team",
    ),
];

#[test]
fn each_shape_problem_has_its_path() {
    for (case, from, to, path, message) in READ {
        let problems = Contract::from_yaml(&edit(from, to)).expect_err(case).0;
        assert!(
            problems
                .iter()
                .any(|p| p.path == *path && p.message.contains(message)),
            "{case}: expected {path}: ...{message}...; got {problems:#?}"
        );
    }
}

#[test]
fn all_problems_are_reported_together() {
    let bad = "apiVersion: v9\nkind: Thing\nid: ''\nversion: ''\nstatus: gone\nslaProperties:\n  - {property: latency, value: 3, unit: parsecs}\n  - {property: availability, value: 101, unit: '%'}\n";
    let problems = Contract::from_yaml(bad).unwrap().validate().unwrap_err().0;
    let paths: Vec<&str> = problems.iter().map(|p| p.path.as_str()).collect();
    for p in [
        "apiVersion",
        "kind",
        "id",
        "version",
        "status",
        "team",
        "slaProperties[0].unit",
        "slaProperties[1].value",
    ] {
        assert!(paths.contains(&p), "{p} missing from {paths:?}");
    }
    let unit = problems
        .iter()
        .find(|p| p.path == "slaProperties[0].unit")
        .unwrap();
    assert_eq!(
        unit.message,
        "unknown unit 'parsecs' for latency (expected ms, s, m, h, d)"
    );
    assert!(problems.len() >= 8);
}

/// A document with bad enum values, a value of the wrong type, a list element that cannot
/// be read and problems of meaning: one answer names every one, at its path in the
/// document as written, and nothing twice (issue 17, item 2).
#[test]
fn shape_problems_do_not_hide_the_others() {
    let bad = "apiVersion: v3.1.0
kind: DataContract
id: c
version: 1.0.0
status: active
team:
  name: checkout
support:
  - channel: oncall
schema:
  - name: orders
    properties:
      - name: id
        required: yes please
      - name: email
        logicalType: strng
slaProperties:
  - {value: 1}
  - {property: latency, value: 3, unit: parsecs}
customProperties:
  - property: accord.stream
    value: { name: orders }
  - property: accord.evolution
    value: { compatibility: SIDEWAYS, lint: { doc-required: fatal } }
  - property: accord.encryption
    value: { tags: [PII], keyScope: user }
  - property: accord.access
    value: { consumers: allowList }
";
    let problems = Contract::from_yaml(bad).expect_err("invalid").0;
    let found: Vec<(&str, &str)> = problems
        .iter()
        .map(|p| (p.path.as_str(), p.message.as_str()))
        .collect();
    let expected = [
        ("schema[0].properties[0].required", "expected a boolean"),
        (
            "schema[0].properties[1].logicalType",
            "unknown logicalType 'strng'",
        ),
        ("slaProperties[0]", "missing field `property`"),
        // The second entry, though the first could not be read.
        ("slaProperties[1].unit", "unknown unit 'parsecs'"),
        (
            "customProperties[1].value.compatibility",
            "unknown variant `SIDEWAYS`",
        ),
        (
            "customProperties[1].value.lint.doc-required",
            "unknown variant `fatal`",
        ),
        (
            "customProperties[2].value.keyScope",
            "unknown variant `user`",
        ),
        (
            "customProperties[3].value.allowedTeams",
            "allowList needs at least one team",
        ),
    ];
    for (path, message) in expected {
        assert!(
            found.iter().any(|(p, m)| *p == path && m.contains(message)),
            "expected {path}: ...{message}...; got {found:#?}"
        );
    }
    // Nothing else: in particular no "missing field keyScope" after the bad one was left
    // out, and no problem of an entry that was not read.
    assert_eq!(found.len(), expected.len(), "{found:#?}");
}

#[test]
fn unreadable_documents_say_where() {
    let e = Contract::from_yaml("apiVersion: v3.1.0\nkind: [unclosed\n").unwrap_err();
    assert_eq!(e.0.len(), 1);
    assert_eq!(e.0[0].path, "");
    assert!(e.0[0].message.starts_with("invalid YAML at line"), "{e}");

    let e = Contract::from_json("{\"apiVersion\": }").unwrap_err();
    assert!(
        e.0[0].message.starts_with("invalid JSON at line 1, column"),
        "{e}"
    );

    for (text, found) in [
        ("just text", "a string"),
        ("", "nothing"),
        ("- a\n- b", "a list"),
        ("42", "a number"),
    ] {
        let e = Contract::from_yaml(text).unwrap_err();
        assert!(
            e.0[0].message.contains(&format!("found {found}")),
            "{text:?}: {e}"
        );
    }
}

#[test]
fn errors_display_path_and_message() {
    let e = Contract::from_yaml(&edit("keyScope: entity", "keyScope: user")).unwrap_err();
    let shown = e.to_string();
    assert!(
        shown.starts_with("customProperties[4].value.keyScope: unknown variant `user`"),
        "{shown}"
    );
    let json = serde_json::to_value(&e).unwrap();
    assert_eq!(json[0]["path"], "customProperties[4].value.keyScope");
}
