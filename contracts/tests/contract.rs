//! The contract document: reading, writing, the accessors the server relies on, digests.

use accord_contracts::{
    Admission, CompatibilityLevel, Contract, ContractStatus, DurationUnit, KeyScope, LintLevel,
    LintRule, RateUnit, SloKind, SloUnit,
};
use std::time::Duration;

const ORDERS: &str = include_str!("data/orders.odcs.yaml");
const ODCS_EXAMPLE: &str = include_str!("data/odcs-full-example.yaml");

fn orders() -> Contract {
    Contract::from_yaml(ORDERS).expect("the fixture parses")
}

#[test]
fn full_contract_parses_and_validates() {
    let c = orders();
    c.validate().expect("the fixture is valid");
    assert_eq!(c.id, "5a3d6f1e-orders");
    assert_eq!(c.name.as_deref(), Some("Orders"));
    assert_eq!(c.domain.as_deref(), Some("commerce"));
    assert_eq!(c.owner_team(), Some("checkout"));
    assert_eq!(c.tags, ["PII", "financial"]);
    assert!(c.has_pii());
    assert_eq!(c.status(), Some(ContractStatus::Active));
    assert!(!c.is_deprecated());
    assert_eq!(c.support.len(), 2);
    assert_eq!(
        c.custom_properties.len(),
        1,
        "only costCenter stays untyped"
    );
}

#[test]
fn accord_properties_are_typed() {
    let c = orders();
    let stream = c.stream().expect("accord.stream");
    assert_eq!(stream.name, "orders");
    assert_eq!(stream.key_subject(), "orders-key");
    assert_eq!(stream.value_subject(), "orders-value");

    assert_eq!(c.compatibility(), CompatibilityLevel::FullTransitive);
    let lint = &c.evolution().lint;
    assert_eq!(lint[&LintRule::DocRequired].level, LintLevel::Error);
    assert_eq!(lint[&LintRule::UnionWidth].max, Some(3));
    assert_eq!(lint[&LintRule::PiiNames].patterns, ["nickname"]);

    let rules = c.rule_set().expect("accord.ruleSet");
    // The contract's three rules, then the ENCRYPT rule of `accord.encryption`.
    assert_eq!(rules.domain_rules.len(), 4);
    assert_eq!(c.accord_rule_set().map(|r| r.domain_rules.len()), Some(3));
    assert_eq!(rules.domain_rules[3].rule_type.as_deref(), Some("ENCRYPT"));
    assert_eq!(rules.domain_rules[1].on_failure.as_deref(), Some("DLQ"));

    let enc = c.encryption().expect("accord.encryption");
    assert_eq!(enc.key_scope, KeyScope::Entity);
    assert_eq!(enc.entity_key_field.as_deref(), Some("user_id"));
    let encrypted: Vec<String> = c.encrypted_fields().into_iter().map(|f| f.path).collect();
    assert_eq!(encrypted, ["email", "shipping.street"]);

    assert_eq!(
        c.access().admission("fraud", c.has_pii()),
        Admission::NeedsOwnerApproval
    );
    let lifecycle = c.lifecycle().expect("accord.lifecycle");
    assert_eq!(lifecycle.successor.as_deref(), Some("orders-v3"));
}

#[test]
fn defaults_without_accord_properties() {
    let c = Contract::from_yaml(ODCS_EXAMPLE).unwrap();
    assert_eq!(c.compatibility(), CompatibilityLevel::FullTransitive);
    assert!(c.evolution().lint.is_empty());
    assert!(c.stream().is_none() && c.rule_set().is_none() && c.encryption().is_none());
    // Open registration, but PII still needs the owner.
    assert_eq!(c.access().admission("any", false), Admission::Allowed);
    assert_eq!(
        c.access().admission("any", true),
        Admission::NeedsOwnerApproval
    );
}

#[test]
fn slos_are_read_with_units() {
    let c = orders();
    let slos = c.slos();
    let get = |k: SloKind| slos.iter().find(|s| s.kind == k).unwrap().clone();
    assert_eq!(
        get(SloKind::Freshness).as_duration(),
        Some(Duration::from_secs(5))
    );
    assert_eq!(
        get(SloKind::Latency).as_duration(),
        Some(Duration::from_millis(500))
    );
    assert_eq!(
        get(SloKind::Latency).element.as_deref(),
        Some("Order.order_id")
    );
    assert_eq!(get(SloKind::Availability).unit, SloUnit::Percent);
    assert_eq!(get(SloKind::Availability).value, 99.9);
    assert_eq!(
        get(SloKind::Retention).unit,
        SloUnit::Duration(DurationUnit::Days)
    );
    assert_eq!(
        get(SloKind::Retention).as_duration(),
        Some(Duration::from_secs(7 * 86_400))
    );
    let rate = get(SloKind::Throughput);
    assert_eq!(rate.unit, SloUnit::Rate(RateUnit::MessagesPerSecond));
    assert_eq!(rate.per_second(), Some(200.0));
    // timeOfAvailability is ODCS vocabulary Accord does not interpret: kept, not typed.
    assert_eq!(slos.len(), 5);
    assert_eq!(c.sla_properties.len(), 6);
}

#[test]
fn fields_are_flattened_with_tags() {
    let c = orders();
    let paths: Vec<String> = c.fields().into_iter().map(|f| f.path).collect();
    assert_eq!(
        paths,
        [
            "order_id",
            "user_id",
            "email",
            "amount",
            "shipping",
            "shipping.street",
            "shipping.country",
            "lines",
            "lines.sku"
        ]
    );
    let email = c.fields().into_iter().find(|f| f.path == "email").unwrap();
    assert_eq!(email.object, "Order");
    assert!(email.tags.contains("PII"));
    assert_eq!(email.classification.as_deref(), Some("restricted"));
}

#[test]
fn yaml_round_trip_is_lossless() {
    let c = orders();
    let yaml = c.to_yaml();
    let again = Contract::from_yaml(&yaml).unwrap();
    assert_eq!(c, again);
    assert_eq!(again.to_yaml(), yaml, "writing is stable");
    again.validate().unwrap();
    // Keys Accord does not model survive.
    assert!(yaml.contains("primaryKeyPosition: 1"), "{yaml}");
    // The accord.* entries go back where they were, with their description.
    let doc: serde_json::Value = serde_yaml::from_str(&yaml).unwrap();
    let props: Vec<&str> = doc["customProperties"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["property"].as_str().unwrap())
        .collect();
    assert_eq!(
        props,
        [
            "costCenter",
            "accord.stream",
            "accord.evolution",
            "accord.ruleSet",
            "accord.encryption",
            "accord.access",
            "accord.lifecycle"
        ]
    );
    assert_eq!(
        doc["customProperties"][3]["description"],
        "Data-quality rules, checked by the serializers."
    );
}

#[test]
fn json_round_trip_is_lossless() {
    let c = orders();
    let json = c.to_json();
    let again = Contract::from_json(&json).unwrap();
    assert_eq!(c, again);
    assert_eq!(c.digest(), again.digest());
    // serde goes the same way (an HTTP body).
    let via_serde: Contract = serde_json::from_str(&json).unwrap();
    assert_eq!(via_serde, c);
    assert_eq!(serde_json::to_value(&c).unwrap(), c.to_value());
}

#[test]
fn digest_ignores_format_and_key_order_but_not_content() {
    let c = orders();
    let d = c.digest();
    assert_eq!(d.len(), 64);
    assert!(d
        .chars()
        .all(|ch| ch.is_ascii_hexdigit() && !ch.is_ascii_uppercase()));
    assert_eq!(Contract::from_json(&c.to_json()).unwrap().digest(), d);

    let reordered = "kind: DataContract\nstatus: active\nid: x\nversion: 1.0.0\napiVersion: v3.1.0\nteam: {members: [{username: a}], name: t}\n";
    let ordered = "apiVersion: v3.1.0\nkind: DataContract\nid: x\nversion: 1.0.0\nstatus: active\nteam: {name: t, members: [{username: a}]}\n";
    assert_eq!(
        Contract::from_yaml(reordered).unwrap().digest(),
        Contract::from_yaml(ordered).unwrap().digest()
    );

    let mut changed = c.clone();
    changed.version = "2.1.1".into();
    assert_ne!(changed.digest(), d);
    let mut changed = c.clone();
    changed.accord.evolution.as_mut().unwrap().compatibility = CompatibilityLevel::Backward;
    assert_ne!(changed.digest(), d);
}

#[test]
fn odcs_standard_example_parses_validates_and_round_trips() {
    let c = Contract::from_yaml(ODCS_EXAMPLE).unwrap();
    c.validate()
        .expect("a plain ODCS v3.1 contract is valid for Accord");
    assert_eq!(c.owner_team(), Some("seller-analytics"));
    assert_eq!(c.data_product.as_deref(), Some("payments"));
    assert_eq!(c.team.as_ref().unwrap().members.len(), 3);
    assert_eq!(c.custom_properties.len(), 3);
    // Sections Accord does not model are kept.
    for key in [
        "servers",
        "price",
        "authoritativeDefinitions",
        "slaDefaultElement",
    ] {
        assert!(c.other.contains_key(key), "{key}");
    }
    let again = Contract::from_yaml(&c.to_yaml()).unwrap();
    assert_eq!(c, again);
    let original: serde_json::Value = serde_yaml::from_str(ODCS_EXAMPLE).unwrap();
    let written = c.to_value();
    assert_eq!(written["servers"], original["servers"]);
    assert_eq!(written["price"], original["price"]);
    let prop = |v: &serde_json::Value, i: usize| v["schema"][0]["properties"][i].clone();
    assert_eq!(
        prop(&written, 1)["relationships"],
        prop(&original, 1)["relationships"]
    );
    assert_eq!(
        prop(&written, 0)["transformLogic"],
        prop(&original, 0)["transformLogic"]
    );
    assert_eq!(prop(&written, 2)["quality"], prop(&original, 2)["quality"]);
}

#[test]
fn legacy_team_list_is_read_and_written_as_v31_object() {
    let yaml = "apiVersion: v3.0.2\nkind: DataContract\nid: x\nversion: 1.0.0\nstatus: active\nteam:\n  - username: a\n    role: owner\n";
    let c = Contract::from_yaml(yaml).unwrap();
    assert_eq!(c.team.as_ref().unwrap().members[0].username, "a");
    let written = c.to_value();
    assert_eq!(written["team"]["members"][0]["username"], "a");
    // No team name: Accord cannot tell the owner.
    let problems = c.validate().unwrap_err().0;
    assert!(
        problems.iter().any(|p| p.path == "team.name"),
        "{problems:?}"
    );
}

#[test]
fn a_contract_built_in_code_writes_accord_properties_at_the_end() {
    let mut c = Contract::new("payments", "1.0.0");
    c.team = Some(accord_contracts::odcs::Team {
        name: Some("payments".into()),
        members: vec![accord_contracts::odcs::TeamMember {
            username: "p@acme.example".into(),
            ..Default::default()
        }],
        ..Default::default()
    });
    c.accord.stream = Some(accord_contracts::StreamBinding {
        name: "payments".into(),
        key_subject: None,
        value_subject: Some("payments-v1-value".into()),
    });
    c.validate().unwrap();
    let again = Contract::from_json(&c.to_json()).unwrap();
    assert_eq!(again, c);
    assert_eq!(again.stream().unwrap().value_subject(), "payments-v1-value");
    assert_eq!(
        again.to_value()["customProperties"][0]["property"],
        "accord.stream"
    );
}

#[test]
fn deprecated_stream_names_its_successor() {
    let yaml = ORDERS.replace("status: active", "status: deprecated");
    let c = Contract::from_yaml(&yaml).unwrap();
    c.validate().unwrap();
    assert!(c.is_deprecated());
    assert_eq!(
        c.lifecycle().unwrap().sunset_date.as_deref(),
        Some("2027-06-30")
    );
}
