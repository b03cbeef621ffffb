//! The lineage graph as OpenLineage (issue 19), the open standard that lineage tools
//! such as Marquez and DataHub read: static lineage, without runs.
//!
//! - Each stream is a `DatasetEvent`: its dataset carries the `schema` facet (the latest
//!   value schema's fields, nested as the schema nests them, with types and docs), the
//!   `tags` facet (the contract's tags and the fields' tags), the `ownership` facet (the
//!   owning team) and, when the contract says what the stream is for, `documentation`.
//! - Each service is a `JobEvent` whose inputs are the streams it consumes and whose
//!   outputs are the streams it produces, with the `jobType` facet (`STREAMING`,
//!   integration `ACCORD`, job type `SERVICE`) and `ownership` (its team).
//!
//! Names follow OpenLineage's naming: datasets and jobs live in one namespace, which the
//! caller chooses (for Kafka topics, `kafka://BOOTSTRAP_HOST:PORT`; default `accord`),
//! and are named by the stream or service name. The facet versions are those of
//! OpenLineage 2-0-2 as its Python client publishes them (`openlineage-python`); the test
//! in `tests/tests/lineage.rs` validates the output with that package.

use crate::error::ApiError;
use crate::lineage::Lineage;
use crate::storage::Store;
use crate::ui::schema_view;
use accord_compat::SchemaFormat;
use serde_json::{json, Map, Value};
use sqlx::Row;
use std::collections::{BTreeMap, BTreeSet};

type R<T> = Result<T, ApiError>;

const SPEC: &str = "https://openlineage.io/spec/2-0-2/OpenLineage.json";
const SCHEMA_FACET: &str =
    "https://openlineage.io/spec/facets/1-2-0/SchemaDatasetFacet.json#/$defs/SchemaDatasetFacet";
const TAGS_FACET: &str =
    "https://openlineage.io/spec/facets/1-0-0/TagsDatasetFacet.json#/$defs/TagsDatasetFacet";
const OWNERSHIP_FACET: &str =
    "https://openlineage.io/spec/facets/1-0-1/OwnershipDatasetFacet.json#/$defs/OwnershipDatasetFacet";
const DOCUMENTATION_FACET: &str = "https://openlineage.io/spec/facets/1-1-0/DocumentationDatasetFacet.json#/$defs/DocumentationDatasetFacet";
const JOB_TYPE_FACET: &str =
    "https://openlineage.io/spec/facets/2-0-4/JobTypeJobFacet.json#/$defs/JobTypeJobFacet";
const JOB_OWNERSHIP_FACET: &str =
    "https://openlineage.io/spec/facets/1-0-1/OwnershipJobFacet.json#/$defs/OwnershipJobFacet";

/// The namespace when none is asked for.
pub const DEFAULT_NAMESPACE: &str = "accord";

/// The URI naming this registry as the producer of the metadata.
pub fn producer() -> String {
    format!("urn:accord:registry:{}", env!("CARGO_PKG_VERSION"))
}

/// What one stream contributes to its dataset: its latest value schema and contract.
#[derive(Debug, Default)]
struct StreamFacts {
    schema: Option<(SchemaFormat, String)>,
    purpose: Option<String>,
    tags: Vec<String>,
}

/// The latest value schema and contract of each named stream.
async fn facts(store: &Store, names: &[String]) -> R<BTreeMap<String, StreamFacts>> {
    let mut out: BTreeMap<String, StreamFacts> = BTreeMap::new();
    for chunk in names.chunks(500) {
        let ph = crate::storage::q::placeholders(chunk.len());
        let schemas = format!(
            "SELECT st.name, s.schema_type, s.schema_text FROM streams st \
             JOIN subject_versions sv ON sv.subject = st.value_subject AND sv.deleted = 0 \
             JOIN schemas s ON s.id = sv.schema_id \
             WHERE st.name IN ({ph}) AND sv.version = \
             (SELECT MAX(x.version) FROM subject_versions x WHERE x.subject = sv.subject AND x.deleted = 0)"
        );
        let mut q = sqlx::query(&schemas);
        for n in chunk {
            q = q.bind(n);
        }
        for r in q.fetch_all(store.reader()).await? {
            let ty: String = r.try_get("schema_type")?;
            let format = ty.parse::<SchemaFormat>().unwrap_or(SchemaFormat::Avro);
            out.entry(r.try_get("name")?).or_default().schema =
                Some((format, r.try_get("schema_text")?));
        }
        let contracts = format!(
            "SELECT c.stream, c.body FROM stream_contracts c WHERE c.stream IN ({ph}) AND c.version = \
             (SELECT MAX(d.version) FROM stream_contracts d WHERE d.stream = c.stream)"
        );
        let mut q = sqlx::query(&contracts);
        for n in chunk {
            q = q.bind(n);
        }
        for r in q.fetch_all(store.reader()).await? {
            let body: String = r.try_get("body")?;
            // A stored contract that no longer parses is exported without its facts.
            if let Ok(c) = accord_contracts::Contract::from_json(&body) {
                let f = out.entry(r.try_get("stream")?).or_default();
                f.purpose = c.description.as_ref().and_then(|d| d.purpose.clone());
                f.tags = c.tags.clone();
            }
        }
    }
    Ok(out)
}

/// A facet: its own fields plus `_producer` and `_schemaURL`.
fn facet(producer: &str, schema_url: &str, body: Value) -> Value {
    let mut m = match body {
        Value::Object(m) => m,
        _ => Map::new(),
    };
    m.insert("_producer".into(), json!(producer));
    m.insert("_schemaURL".into(), json!(schema_url));
    Value::Object(m)
}

/// The schema facet's fields, nested by their dotted paths (a record's fields inside it).
fn schema_fields(rows: &[schema_view::FieldRow]) -> Vec<Value> {
    #[derive(Default)]
    struct Node {
        name: String,
        ty: String,
        doc: Option<String>,
        children: Vec<usize>,
    }
    let mut nodes: Vec<Node> = Vec::new();
    let mut top = Vec::new();
    let mut by_path: BTreeMap<&str, usize> = BTreeMap::new();
    for row in rows {
        let (parent, name) = match row.name.rsplit_once('.') {
            Some((p, n)) if by_path.contains_key(p) => (Some(by_path[p]), n),
            _ => (None, row.name.as_str()),
        };
        let i = nodes.len();
        nodes.push(Node {
            name: name.to_string(),
            ty: row.ty.clone(),
            doc: row.doc.clone(),
            children: Vec::new(),
        });
        by_path.insert(&row.name, i);
        match parent {
            Some(p) => nodes[p].children.push(i),
            None => top.push(i),
        }
    }
    fn render(nodes: &[Node], i: usize) -> Value {
        let n = &nodes[i];
        let mut v = json!({"name": n.name, "type": n.ty});
        if let Some(d) = &n.doc {
            v["description"] = json!(d);
        }
        if !n.children.is_empty() {
            v["fields"] = Value::Array(n.children.iter().map(|&c| render(nodes, c)).collect());
        }
        v
    }
    top.iter().map(|&i| render(&nodes, i)).collect()
}

/// The events of `graph`: a `DatasetEvent` per stream, a `JobEvent` per service.
/// `now` is the events' time (RFC 3339). Reading the schemas' fields is done in the
/// heavy-work lane its size calls for.
pub async fn export(
    store: &Store,
    work: &crate::work::HeavyWork,
    graph: Lineage,
    namespace: String,
    now: String,
) -> R<Vec<Value>> {
    let streams: Vec<String> = graph
        .nodes
        .iter()
        .filter(|n| n.kind == "stream")
        .map(|n| n.name.clone())
        .collect();
    let facts = facts(store, &streams).await?;
    let size = facts
        .values()
        .filter_map(|f| f.schema.as_ref())
        .map(|(_, text)| text.len())
        .sum();
    work.sized("building the OpenLineage export", size, move || {
        events(&graph, &facts, &namespace, &now)
    })
    .await
}

fn events(
    graph: &Lineage,
    facts: &BTreeMap<String, StreamFacts>,
    namespace: &str,
    now: &str,
) -> Vec<Value> {
    let producer = producer();
    let owners = |team: &Option<String>| -> Value {
        json!({"owners": team.iter().map(|t| json!({"name": format!("team:{t}"), "type": "OWNER"})).collect::<Vec<_>>()})
    };
    let mut out = Vec::new();
    for n in graph.nodes.iter().filter(|n| n.kind == "stream") {
        let f = facts.get(&n.name);
        let mut facets = Map::new();
        let rows = f
            .and_then(|f| f.schema.as_ref())
            .map(|(format, text)| schema_view::fields(*format, text))
            .unwrap_or_default();
        if f.is_some_and(|f| f.schema.is_some()) {
            facets.insert(
                "schema".into(),
                facet(
                    &producer,
                    SCHEMA_FACET,
                    json!({"fields": schema_fields(&rows)}),
                ),
            );
        }
        let mut tags: Vec<Value> = Vec::new();
        let contract_tags: BTreeSet<&String> =
            f.map(|f| f.tags.iter().collect()).unwrap_or_default();
        for t in contract_tags {
            tags.push(json!({"key": t, "value": "true", "source": "CONTRACT"}));
        }
        for row in &rows {
            for t in &row.tags {
                tags.push(
                    json!({"key": t, "value": "true", "source": "SCHEMA", "field": row.name}),
                );
            }
        }
        if !tags.is_empty() {
            facets.insert(
                "tags".into(),
                facet(&producer, TAGS_FACET, json!({"tags": tags})),
            );
        }
        if n.team.is_some() {
            facets.insert(
                "ownership".into(),
                facet(&producer, OWNERSHIP_FACET, owners(&n.team)),
            );
        }
        if let Some(p) = f.and_then(|f| f.purpose.as_ref()) {
            facets.insert(
                "documentation".into(),
                facet(&producer, DOCUMENTATION_FACET, json!({"description": p})),
            );
        }
        out.push(json!({
            "eventTime": now,
            "producer": producer,
            "schemaURL": format!("{SPEC}#/$defs/DatasetEvent"),
            "dataset": {"namespace": namespace, "name": n.name, "facets": facets},
        }));
    }
    let name_of = |id: &str| graph.node(id).map(|n| n.name.clone());
    for n in graph.nodes.iter().filter(|n| n.kind == "service") {
        let mut inputs = BTreeSet::new();
        let mut outputs = BTreeSet::new();
        for e in &graph.edges {
            if e.to == n.id && e.kind == "consumes" {
                inputs.extend(name_of(&e.from));
            }
            if e.from == n.id && e.kind == "produces" {
                outputs.extend(name_of(&e.to));
            }
        }
        let mut facets = Map::new();
        facets.insert(
            "jobType".into(),
            facet(
                &producer,
                JOB_TYPE_FACET,
                json!({"processingType": "STREAMING", "integration": "ACCORD", "jobType": "SERVICE"}),
            ),
        );
        if n.team.is_some() {
            facets.insert(
                "ownership".into(),
                facet(&producer, JOB_OWNERSHIP_FACET, owners(&n.team)),
            );
        }
        let ds = |names: BTreeSet<String>| -> Vec<Value> {
            names
                .into_iter()
                .map(|name| json!({"namespace": namespace, "name": name}))
                .collect()
        };
        out.push(json!({
            "eventTime": now,
            "producer": producer,
            "schemaURL": format!("{SPEC}#/$defs/JobEvent"),
            "job": {"namespace": namespace, "name": n.name, "facets": facets},
            "inputs": ds(inputs),
            "outputs": ds(outputs),
        }));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(name: &str, ty: &str) -> schema_view::FieldRow {
        schema_view::FieldRow {
            name: name.to_string(),
            ty: ty.to_string(),
            doc: None,
            default: None,
            tags: BTreeSet::new(),
        }
    }

    #[test]
    fn nested_fields_nest() {
        let rows = [
            row("id", "long"),
            row("address", "Address"),
            row("address.city", "string"),
            row("total", "double"),
        ];
        let v = schema_fields(&rows);
        assert_eq!(v.len(), 3);
        assert_eq!(v[1]["name"], "address");
        assert_eq!(v[1]["fields"][0]["name"], "city");
        assert_eq!(v[1]["fields"][0]["type"], "string");
    }
}
