//! `accord demo`: fills a running registry with a small, realistic organisation through
//! its HTTP API, so a newcomer sees a living catalog at `/ui` in one command.
//!
//! Four teams (checkout, payments, logistics, growth) own twelve streams in Avro,
//! Protobuf and JSON Schema, each with two or three compatible versions, a contract
//! (owner, contact, SLOs, tags including PII, one encryption policy), a producer and
//! consumers (those of PII streams approved by the owner, one left pending), one
//! deprecated stream pointing at its successor with a sunset date, and one open
//! breaking-change proposal.
//!
//! Idempotent: contracts are applied by digest, registering a registered schema returns
//! its version, consumers and producers are upserts, and the deprecated stream and the
//! proposal are only created when they are not there yet; a second run changes nothing.

use crate::exit::{CliError, CliResult, Outcome};
use crate::online::{encode, run, Registry};
use crate::Global;
use serde_json::{json, Value};

#[derive(clap::Args, Debug)]
pub struct DemoArgs {}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Format {
    Avro,
    Protobuf,
    Json,
}

impl Format {
    fn as_str(self) -> &'static str {
        match self {
            Format::Avro => "AVRO",
            Format::Protobuf => "PROTOBUF",
            Format::Json => "JSON",
        }
    }
}

/// A field: name, type (Avro/JSON Schema/Protobuf spelling per format), doc, PII.
type Field = (&'static str, &'static str, &'static str, bool);

/// One demo stream.
struct DemoStream {
    name: &'static str,
    record: &'static str,
    team: &'static str,
    domain: &'static str,
    format: Format,
    purpose: &'static str,
    tags: &'static [&'static str],
    /// Fields of version 1; each later version adds the next group (optional fields).
    base: &'static [Field],
    added: &'static [&'static [Field]],
    producer: (&'static str, &'static str),
    consumers: &'static [(&'static str, &'static str)],
    /// Consumers left pending (not approved by the owner).
    pending: &'static [&'static str],
    freshness_minutes: u32,
    encrypted: bool,
    /// (sunset date, successor).
    deprecated: Option<(&'static str, &'static str)>,
}

const TEAMS: &[(&str, &str)] = &[
    ("checkout", "checkout-data@acme.example"),
    ("payments", "payments-oncall@acme.example"),
    ("logistics", "logistics@acme.example"),
    ("growth", "growth-analytics@acme.example"),
];

fn streams() -> Vec<DemoStream> {
    use Format::*;
    vec![
        DemoStream {
            name: "checkout.orders",
            record: "Order",
            team: "checkout",
            domain: "commerce",
            format: Avro,
            purpose: "Every order placed in the web shop and the mobile apps, once payment is authorised.",
            tags: &["PII", "core"],
            base: &[
                ("order_id", "string", "Unique order id (UUID).", false),
                ("customer_id", "string", "The customer who placed the order.", false),
                ("customer_email", "string", "Where the confirmation was sent.", true),
                ("total_cents", "long", "Order total in the smallest currency unit.", false),
                ("currency", "string", "ISO 4217 currency code.", false),
            ],
            added: &[
                &[("coupon_code", "string", "Coupon applied at checkout, if any.", false)],
                &[("channel", "string", "web, ios or android.", false)],
            ],
            producer: ("order-service", "checkout"),
            consumers: &[
                ("payment-service", "payments"),
                ("shipping-planner", "logistics"),
                ("revenue-dashboard", "growth"),
            ],
            pending: &["revenue-dashboard"],
            freshness_minutes: 1,
            encrypted: false,
            deprecated: None,
        },
        DemoStream {
            name: "checkout.carts",
            record: "Cart",
            team: "checkout",
            domain: "commerce",
            format: Json,
            purpose: "Shopping-cart snapshots, emitted whenever a cart changes.",
            tags: &["behavioural"],
            base: &[
                ("cart_id", "string", "Cart id.", false),
                ("customer_id", "string", "Owner of the cart.", false),
                ("item_count", "integer", "Number of items.", false),
            ],
            added: &[&[("abandoned", "boolean", "Set when the cart expired unpaid.", false)]],
            producer: ("cart-service", "checkout"),
            consumers: &[("recommendation-engine", "growth")],
            pending: &[],
            freshness_minutes: 5,
            encrypted: false,
            deprecated: None,
        },
        DemoStream {
            name: "checkout.order-status",
            record: "OrderStatus",
            team: "checkout",
            domain: "commerce",
            format: Avro,
            purpose: "Order status changes (legacy: statuses as free text).",
            tags: &["legacy"],
            base: &[
                ("order_id", "string", "The order.", false),
                ("status", "string", "Free-text status.", false),
            ],
            added: &[&[("changed_at", "long", "Epoch milliseconds of the change.", false)]],
            producer: ("order-service", "checkout"),
            consumers: &[("notification-service", "growth")],
            pending: &[],
            freshness_minutes: 5,
            encrypted: false,
            deprecated: Some(("2027-06-30", "checkout.order-status-v2")),
        },
        DemoStream {
            name: "checkout.order-status-v2",
            record: "OrderStatusV2",
            team: "checkout",
            domain: "commerce",
            format: Avro,
            purpose: "Order status changes with a typed status and the reason for it.",
            tags: &["core"],
            base: &[
                ("order_id", "string", "The order.", false),
                ("status_code", "int", "1 placed, 2 paid, 3 shipped, 4 delivered, 9 cancelled.", false),
                ("changed_at", "long", "Epoch milliseconds of the change.", false),
            ],
            added: &[&[("reason", "string", "Why the status changed (cancellations).", false)]],
            producer: ("order-service", "checkout"),
            consumers: &[("shipping-planner", "logistics")],
            pending: &[],
            freshness_minutes: 1,
            encrypted: false,
            deprecated: None,
        },
        DemoStream {
            name: "payments.payments",
            record: "Payment",
            team: "payments",
            domain: "finance",
            format: Protobuf,
            purpose: "Card and wallet payments with their authorisation outcome.",
            tags: &["PII", "financial"],
            base: &[
                ("payment_id", "string", "Payment id.", false),
                ("order_id", "string", "The order paid.", false),
                ("amount_cents", "int64", "Amount in the smallest currency unit.", false),
                ("card_holder", "string", "Name on the card.", true),
            ],
            added: &[
                &[("authorised", "bool", "Whether the issuer authorised it.", false)],
                &[("wallet", "string", "apple_pay, google_pay or empty for cards.", false)],
            ],
            producer: ("payment-service", "payments"),
            consumers: &[("ledger-service", "payments"), ("fraud-detector", "growth")],
            pending: &[],
            freshness_minutes: 1,
            encrypted: true,
            deprecated: None,
        },
        DemoStream {
            name: "payments.refunds",
            record: "Refund",
            team: "payments",
            domain: "finance",
            format: Protobuf,
            purpose: "Refunds issued by customer service or automatically on cancellation.",
            tags: &["financial"],
            base: &[
                ("refund_id", "string", "Refund id.", false),
                ("payment_id", "string", "The payment refunded.", false),
                ("amount_cents", "int64", "Refunded amount.", false),
            ],
            added: &[&[("reason", "string", "Why it was refunded.", false)]],
            producer: ("refund-service", "payments"),
            consumers: &[("ledger-service", "payments")],
            pending: &[],
            freshness_minutes: 15,
            encrypted: false,
            deprecated: None,
        },
        DemoStream {
            name: "payments.ledger-entries",
            record: "LedgerEntry",
            team: "payments",
            domain: "finance",
            format: Avro,
            purpose: "Double-entry ledger postings derived from payments and refunds.",
            tags: &["financial"],
            base: &[
                ("entry_id", "string", "Posting id.", false),
                ("account", "string", "Ledger account.", false),
                ("amount_cents", "long", "Signed amount.", false),
            ],
            added: &[&[("source_id", "string", "Payment or refund that caused it.", false)]],
            producer: ("ledger-service", "payments"),
            consumers: &[("finance-reporting", "growth")],
            pending: &[],
            freshness_minutes: 60,
            encrypted: false,
            deprecated: None,
        },
        DemoStream {
            name: "logistics.shipments",
            record: "Shipment",
            team: "logistics",
            domain: "fulfilment",
            format: Json,
            purpose: "Shipments planned for paid orders, with carrier and promised date.",
            tags: &["operational"],
            base: &[
                ("shipment_id", "string", "Shipment id.", false),
                ("order_id", "string", "The order shipped.", false),
                ("carrier", "string", "Carrier code.", false),
            ],
            added: &[
                &[("promised_date", "string", "Promised delivery date (YYYY-MM-DD).", false)],
                &[("parcel_count", "integer", "Number of parcels.", false)],
            ],
            producer: ("shipping-planner", "logistics"),
            consumers: &[
                ("notification-service", "growth"),
                ("order-service", "checkout"),
            ],
            pending: &[],
            freshness_minutes: 10,
            encrypted: false,
            deprecated: None,
        },
        DemoStream {
            name: "logistics.inventory",
            record: "StockLevel",
            team: "logistics",
            domain: "fulfilment",
            format: Protobuf,
            purpose: "Stock levels per warehouse and SKU, after every movement.",
            tags: &["operational"],
            base: &[
                ("sku", "string", "Stock-keeping unit.", false),
                ("warehouse", "string", "Warehouse code.", false),
                ("quantity", "int32", "Units on hand.", false),
            ],
            added: &[&[("reserved", "int32", "Units reserved by open orders.", false)]],
            producer: ("warehouse-service", "logistics"),
            consumers: &[("cart-service", "checkout")],
            pending: &[],
            freshness_minutes: 5,
            encrypted: false,
            deprecated: None,
        },
        DemoStream {
            name: "logistics.delivery-tracking",
            record: "TrackingEvent",
            team: "logistics",
            domain: "fulfilment",
            format: Json,
            purpose: "Carrier scan events for shipments in transit.",
            tags: &["operational"],
            base: &[
                ("shipment_id", "string", "The shipment scanned.", false),
                ("event", "string", "picked_up, in_transit, delivered, ...", false),
            ],
            added: &[&[("location", "string", "Where the scan happened.", false)]],
            producer: ("courier-gateway", "logistics"),
            consumers: &[("notification-service", "growth")],
            pending: &[],
            freshness_minutes: 15,
            encrypted: false,
            deprecated: None,
        },
        DemoStream {
            name: "growth.customer-profiles",
            record: "CustomerProfile",
            team: "growth",
            domain: "customers",
            format: Avro,
            purpose: "Customer profiles with marketing consent, updated on every change.",
            tags: &["PII"],
            base: &[
                ("customer_id", "string", "Customer id.", false),
                ("email", "string", "Contact e-mail.", true),
                ("marketing_consent", "boolean", "Whether the customer accepts marketing e-mail.", false),
            ],
            added: &[&[("country", "string", "ISO 3166 country code.", false)]],
            producer: ("profile-service", "growth"),
            consumers: &[
                ("recommendation-engine", "growth"),
                ("notification-service", "growth"),
            ],
            pending: &[],
            freshness_minutes: 30,
            encrypted: false,
            deprecated: None,
        },
        DemoStream {
            name: "growth.page-views",
            record: "PageView",
            team: "growth",
            domain: "customers",
            format: Json,
            purpose: "Page views from the web shop, for recommendations and funnels.",
            tags: &["behavioural"],
            base: &[
                ("session_id", "string", "Browser session.", false),
                ("url", "string", "Page viewed.", false),
            ],
            added: &[&[("referrer", "string", "Where the visitor came from.", false)]],
            producer: ("web-tracker", "growth"),
            consumers: &[("recommendation-engine", "growth")],
            pending: &[],
            freshness_minutes: 5,
            encrypted: false,
            deprecated: None,
        },
    ]
}

fn namespace(s: &DemoStream) -> String {
    format!(
        "com.acme.{}",
        s.name.split('.').next().unwrap_or("demo").replace('-', "_")
    )
}

/// The schema text of version `v` (1-based): the base fields plus `v - 1` added groups.
fn schema_text(s: &DemoStream, v: usize) -> String {
    let groups = std::iter::once(s.base).chain(s.added.iter().copied().take(v - 1));
    let fields: Vec<(Field, bool)> = groups
        .enumerate()
        .flat_map(|(g, fs)| fs.iter().map(move |f| (*f, g > 0)))
        .collect();
    match s.format {
        Format::Avro => {
            let fields: Vec<Value> = fields
                .iter()
                .map(|((name, ty, doc, pii), optional)| {
                    let mut f = if *optional {
                        json!({"name": name, "type": ["null", ty], "default": null, "doc": doc})
                    } else {
                        json!({"name": name, "type": ty, "doc": doc})
                    };
                    if *pii {
                        f["confluent:tags"] = json!(["PII"]);
                    }
                    f
                })
                .collect();
            json!({"type": "record", "name": s.record, "namespace": namespace(s),
                   "doc": s.purpose, "fields": fields})
            .to_string()
        }
        Format::Json => {
            let mut props = serde_json::Map::new();
            let mut required = Vec::new();
            for ((name, ty, doc, pii), optional) in &fields {
                let mut p = json!({"type": ty, "description": doc});
                if *pii {
                    p["confluent:tags"] = json!(["PII"]);
                }
                props.insert(name.to_string(), p);
                if !optional {
                    required.push(*name);
                }
            }
            json!({"$schema": "http://json-schema.org/draft-07/schema#", "title": s.record,
                   "description": s.purpose, "type": "object", "properties": props,
                   "required": required, "additionalProperties": false})
            .to_string()
        }
        Format::Protobuf => {
            let mut out = format!(
                "syntax = \"proto3\";\npackage {};\n\n// {}\nmessage {} {{\n",
                namespace(s),
                s.purpose,
                s.record
            );
            for (i, ((name, ty, doc, _), _)) in fields.iter().enumerate() {
                out.push_str(&format!("  // {doc}\n  {ty} {name} = {};\n", i + 1));
            }
            out.push_str("}\n");
            out
        }
    }
}

/// The stream's contract (as JSON); `deprecated` sets the lifecycle.
fn contract(s: &DemoStream, deprecated: bool) -> Value {
    let contact = TEAMS
        .iter()
        .find(|(t, _)| *t == s.team)
        .map_or("data@acme.example", |(_, c)| c);
    let all_fields = std::iter::once(s.base)
        .chain(s.added.iter().copied())
        .flatten();
    let properties: Vec<Value> = all_fields
        .map(|(name, _, doc, pii)| {
            let mut p = json!({"name": name, "description": doc});
            if *pii {
                p["tags"] = json!(["PII"]);
                p["classification"] = json!("restricted");
            }
            p
        })
        .collect();
    let mut custom = vec![json!({"property": "accord.stream", "value": {"name": s.name}})];
    if s.format == Format::Json {
        // Closed content models evolve by adding optional properties: BACKWARD.
        custom
            .push(json!({"property": "accord.evolution", "value": {"compatibility": "BACKWARD"}}));
    }
    if s.encrypted {
        custom.push(json!({"property": "accord.encryption", "value": {"tags": ["PII"], "keyScope": "stream"}}));
    }
    let mut doc = json!({
        "apiVersion": "v3.1.0",
        "kind": "DataContract",
        "id": format!("{}-contract", s.name),
        "name": s.name,
        "version": if deprecated { "1.1.0" } else { "1.0.0" },
        "status": if deprecated { "deprecated" } else { "active" },
        "domain": s.domain,
        "description": {"purpose": s.purpose},
        "tags": s.tags,
        "team": {"name": s.team},
        "support": [{"channel": format!("{}-team", s.team), "tool": "email", "url": format!("mailto:{contact}")}],
        "slaProperties": [
            {"property": "freshness", "value": s.freshness_minutes, "unit": "m"},
            {"property": "availability", "value": 99.9, "unit": "%"}
        ],
        "schema": [{"name": s.record, "properties": properties}],
        "customProperties": custom,
    });
    if deprecated {
        if let Some((sunset, successor)) = s.deprecated {
            if let Some(cps) = doc["customProperties"].as_array_mut() {
                cps.push(json!({"property": "accord.lifecycle", "value": {
                    "sunsetDate": sunset, "successor": successor,
                    "reason": "Statuses became typed codes; move to the successor before the sunset."}}));
            }
        }
    }
    doc
}

/// What one stream ended up with, for the summary.
struct Outcome1 {
    name: String,
    format: &'static str,
    versions: usize,
    new_versions: usize,
    contract_changed: bool,
    consumers: usize,
    status: &'static str,
}

async fn send_json(
    reg: &Registry,
    method: reqwest::Method,
    path: &str,
    body: &Value,
) -> Result<Value, CliError> {
    let bytes = reg
        .send(
            method,
            path,
            "application/json",
            Some(("application/json", body.to_string().into_bytes())),
        )
        .await
        .map_err(|e| reg.error(e, None))?;
    Ok(serde_json::from_slice(&bytes).unwrap_or(Value::Null))
}

async fn get_opt(reg: &Registry, path: &str) -> Result<Option<Value>, CliError> {
    match reg.get_json::<Value>(path).await {
        Ok(v) => Ok(Some(v)),
        Err(accord_client::error::ClientError::Registry { status: 404, .. }) => Ok(None),
        Err(e) => Err(reg.error(e, None)),
    }
}

async fn fill_stream(reg: &Registry, s: &DemoStream) -> Result<Outcome1, CliError> {
    let name = encode(s.name);
    let existing = get_opt(reg, &format!("/v1/streams/{name}")).await?;
    let already_deprecated = existing
        .as_ref()
        .is_some_and(|e| e["status"] == "deprecated");
    let mut contract_changed = false;
    if !already_deprecated {
        let r = send_json(
            reg,
            reqwest::Method::PUT,
            &format!("/v1/streams/{name}/contract"),
            &contract(s, false),
        )
        .await?;
        contract_changed |= r["changed"].as_bool().unwrap_or(false);
    }
    let subject = format!("{}-value", s.name);
    let before = get_opt(reg, &format!("/subjects/{}/versions", encode(&subject)))
        .await?
        .and_then(|v| v.as_array().map(Vec::len))
        .unwrap_or(0);
    let total = 1 + s.added.len();
    for v in 1..=total {
        let mut body = json!({"schema": schema_text(s, v)});
        if s.format != Format::Avro {
            body["schemaType"] = json!(s.format.as_str());
        }
        send_json(
            reg,
            reqwest::Method::POST,
            &format!("/subjects/{}/versions", encode(&subject)),
            &body,
        )
        .await
        .map_err(|e| CliError::Refused(format!("{subject} version {v}: {e}")))?;
    }
    let producer = json!({"service": s.producer.0, "team": s.producer.1});
    send_json(
        reg,
        reqwest::Method::PUT,
        &format!("/v1/streams/{name}/producer"),
        &producer,
    )
    .await?;
    if !already_deprecated {
        for (service, team) in s.consumers {
            let c = send_json(
                reg,
                reqwest::Method::POST,
                &format!("/v1/streams/{name}/consumers"),
                &json!({"service": service, "team": team}),
            )
            .await?;
            if c["status"] == "pending" && !s.pending.contains(service) {
                send_json(
                    reg,
                    reqwest::Method::POST,
                    &format!("/v1/streams/{name}/consumers/{}/approve", encode(service)),
                    &json!({}),
                )
                .await?;
            }
        }
    }
    if s.deprecated.is_some() && !already_deprecated {
        let r = send_json(
            reg,
            reqwest::Method::PUT,
            &format!("/v1/streams/{name}/contract"),
            &contract(s, true),
        )
        .await?;
        contract_changed |= r["changed"].as_bool().unwrap_or(false);
    }
    Ok(Outcome1 {
        name: s.name.to_string(),
        format: s.format.as_str(),
        versions: total,
        new_versions: total.saturating_sub(before),
        contract_changed,
        consumers: s.consumers.len(),
        status: if s.deprecated.is_some() {
            "deprecated"
        } else {
            "active"
        },
    })
}

/// The open proposal: `logistics.inventory` wants `quantity` as a decimal string
/// (a type change, incompatible at FULL_TRANSITIVE). Opened only when none is open.
async fn proposal(reg: &Registry, all: &[DemoStream]) -> Result<String, CliError> {
    let Some(s) = all.iter().find(|s| s.name == "logistics.inventory") else {
        return Ok(String::new());
    };
    let path = format!("/v1/streams/{}/proposals", encode(s.name));
    let open = reg
        .get_json::<Value>(&path)
        .await
        .map_err(|e| reg.error(e, None))?;
    if let Some(p) = open
        .as_array()
        .and_then(|a| a.iter().find(|p| p["status"] == "open"))
    {
        return Ok(format!("proposal #{} on {} already open", p["id"], s.name));
    }
    let candidate = schema_text(s, 1 + s.added.len()).replace("int32 quantity", "string quantity");
    let p = send_json(
        reg,
        reqwest::Method::POST,
        &path,
        &json!({"schema": candidate, "schemaType": "PROTOBUF"}),
    )
    .await?;
    Ok(format!(
        "opened proposal #{} on {}: quantity becomes a decimal string",
        p["id"], s.name
    ))
}

pub fn demo(global: &Global, _args: DemoArgs) -> CliResult {
    let reg = Registry::connect(global)?;
    let all = streams();
    let (outcomes, proposal_line) = run(async {
        let mut out = Vec::new();
        for s in &all {
            out.push(fill_stream(&reg, s).await?);
        }
        let p = proposal(&reg, &all).await?;
        Ok((out, p))
    })?;
    println!(
        "accord demo: {} teams, {} streams at {}",
        TEAMS.len(),
        outcomes.len(),
        global.url
    );
    for o in &outcomes {
        println!(
            "  {:<28} {:<8} v{} ({} new) {:<10} {} consumer(s){}",
            o.name,
            o.format,
            o.versions,
            o.new_versions,
            o.status,
            o.consumers,
            if o.contract_changed {
                ", contract applied"
            } else {
                ", contract unchanged"
            }
        );
    }
    if !proposal_line.is_empty() {
        println!("  {proposal_line}");
    }
    let base = global
        .url
        .split(',')
        .next()
        .unwrap_or("")
        .trim_end_matches('/');
    println!("Browse the catalog at {base}/ui");
    Ok(Outcome::Ok)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_stream_has_valid_schemas_and_contract() {
        let all = streams();
        assert_eq!(all.len(), 12);
        for s in &all {
            for v in 1..=1 + s.added.len() {
                let text = schema_text(s, v);
                let format = match s.format {
                    Format::Avro => accord_compat::SchemaFormat::Avro,
                    Format::Protobuf => accord_compat::SchemaFormat::Protobuf,
                    Format::Json => accord_compat::SchemaFormat::Json,
                };
                accord_compat::parse(format, &text, &[])
                    .unwrap_or_else(|e| panic!("{} v{v}: {e}\n{text}", s.name));
            }
            for deprecated in [false, true] {
                let c = accord_contracts::Contract::from_value(contract(s, deprecated))
                    .unwrap_or_else(|e| panic!("{}: {e}", s.name));
                if deprecated && s.deprecated.is_none() {
                    continue;
                }
                c.validate().unwrap_or_else(|e| panic!("{}: {e}", s.name));
            }
        }
    }
}
