//! The OpenAPI document, generated from the handlers' `utoipa` annotations and then
//! completed with what every route shares ([`shared_behaviour`]: media types, the
//! statuses the extractors, the auth layer and the cross-site check answer, parameters as
//! the server reads them). It is served at `/openapi.json` and committed at
//! `openapi/accord.json`; a test fails when the committed copy is stale (regenerate with
//! `cargo run -- openapi > openapi/accord.json`), and `tests/schemathesis/run.sh` checks
//! it against a running server with every schemathesis check (in CI).

use crate::api::catalog;
use crate::api::{
    audit, compatibility, config, contexts, mode, ops, principals, proposals, schemas, streams,
    subjects, webhooks,
};
use crate::api::{dek_registry, entities, exporters, lineage, usage};
use crate::api::{jackson, VND, VND_V1};
use serde_json::{json, Map, Value};
use utoipa::OpenApi;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Accord schema registry",
        description = "Confluent-compatible schema registry API, plus Accord's operations, identity and audit endpoints. With auth on, send an API key as HTTP Basic keyId:secret or as Authorization: Bearer keyId.secret."
    ),
    paths(
        subjects::list_subjects,
        subjects::lookup,
        subjects::delete_subject,
        subjects::by_metadata,
        subjects::list_versions,
        subjects::register,
        subjects::get_version,
        subjects::raw_version,
        subjects::referenced_by,
        subjects::delete_version,
        subjects::modify_tags,
        schemas::list_schemas,
        schemas::types,
        schemas::by_id,
        schemas::raw_by_id,
        schemas::subjects_of_id,
        schemas::versions_of_id,
        schemas::by_guid,
        schemas::ids_of_guid,
        config::get_global,
        config::put_global,
        config::delete_global,
        config::get_subject,
        config::put_subject,
        config::delete_subject,
        mode::get_global,
        mode::put_global,
        mode::delete_global,
        mode::get_subject,
        mode::put_subject,
        mode::delete_subject,
        compatibility::check_all,
        compatibility::check_version,
        contexts::list,
        contexts::remove,
        ops::root,
        ops::root_post,
        ops::live,
        ops::ready,
        ops::metrics,
        ops::openapi,
        ops::metadata_id,
        ops::metadata_version,
        principals::create,
        principals::list,
        principals::show,
        principals::update,
        principals::remove,
        principals::disable,
        principals::enable,
        principals::create_key,
        principals::delete_key,
        principals::rotate,
        audit::list,
        audit::verify,
        audit::checkpoint,
        streams::list,
        streams::all_consumers,
        streams::all_producers,
        streams::get_stream,
        streams::apply,
        streams::get_contract,
        streams::versions,
        streams::list_consumers,
        streams::add_consumer,
        streams::remove_consumer,
        streams::approve_consumer,
        streams::reject_consumer,
        streams::put_producer,
        streams::get_producer,
        proposals::list,
        proposals::open,
        proposals::get_one,
        proposals::review,
        proposals::release,
        proposals::withdraw,
        webhooks::create,
        webhooks::list,
        webhooks::get_one,
        webhooks::remove,
        webhooks::deliveries,
        webhooks::resend,
        dek_registry::list_keks,
        dek_registry::create_kek,
        dek_registry::get_kek,
        dek_registry::update_kek,
        dek_registry::delete_kek,
        dek_registry::undelete_kek,
        dek_registry::test_kek,
        dek_registry::list_deks,
        dek_registry::create_dek_in_body,
        dek_registry::create_dek,
        dek_registry::get_dek,
        dek_registry::dek_versions,
        dek_registry::get_dek_version,
        dek_registry::delete_dek,
        dek_registry::delete_dek_version,
        dek_registry::undelete_dek,
        dek_registry::undelete_dek_version,
        entities::entity_keys,
        entities::shred_entity_in_body,
        entities::shred_entity,
        entities::shred_stream,
        catalog::search,
        exporters::list,
        exporters::create,
        exporters::get_one,
        exporters::update,
        exporters::remove,
        exporters::status,
        exporters::config,
        exporters::update_config,
        exporters::pause,
        exporters::resume,
        exporters::reset,
        usage::stream_usage,
        usage::schema_usage,
        usage::invite,
        lineage::stream_lineage,
        lineage::openlineage,
    ),
    components(schemas(crate::error::ErrorBody))
)]
pub struct ApiDoc;

/// The document as pretty JSON with a trailing newline (the committed form): utoipa's
/// output from the handlers' annotations, then [`shared_behaviour`] added once for all.
pub fn document() -> String {
    static DOC: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DOC.get_or_init(|| {
        let mut doc = match serde_json::to_value(ApiDoc::openapi()) {
            Ok(doc) => doc,
            Err(e) => return format!("{{\"error\":\"{e}\"}}\n"),
        };
        shared_behaviour(&mut doc);
        let mut s =
            serde_json::to_string_pretty(&doc).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"));
        s.push('\n');
        s
    })
    .clone()
}

/// The media types a JSON response may carry: the server answers with the one `Accept`
/// picks (`crate::api::outer`), Confluent's v1 type when `Accept` names none of them.
const JSON_RESPONSE_TYPES: [&str; 3] = [VND_V1, VND, "application/json"];

/// The JSON media types a request body may be sent with (`crate::api::Body`); a missing
/// Content-Type or `application/octet-stream` is read as JSON too, as Confluent does.
const JSON_REQUEST_TYPES: [&str; 3] = [VND_V1, VND, "application/json"];

/// Responses the server sends in a media type of their own, not renegotiated from
/// `Accept`: this document itself, and a contract (JSON, or YAML when asked).
const OWN_MEDIA_TYPES: [&str; 2] = ["/openapi.json", "/v1/streams/{name}/contract"];

/// A version in a path as `crate::registry::parse_version` reads it (trimmed):
/// `latest` in any case, `-1`, or an int32 of at least 1 (an optional `+`, leading
/// zeros). Ten-digit numbers above 2^31-1 match and are refused (42202).
const VERSION_PATTERN: &str = r"^\s*(?:[Ll][Aa][Tt][Ee][Ss][Tt]|-1|\+?0*[1-9][0-9]{0,9})\s*$";

/// A KEK name as `crate::dek::check_kek_name` accepts it (otherwise 42271).
const KEK_PATTERN: &str = "^[A-Za-z_][A-Za-z0-9_-]{0,255}$";

/// A context name as `crate::context::normalize` accepts it (otherwise 400): no colon
/// but an optional leading and trailing one, no control character.
const CONTEXT_PATTERN: &str = "^:?[^:\\u0000-\\u001f\\u007f-\\u009f]*:?$";

/// The DEK algorithms (`crate::dek::parse_algorithm`, otherwise 42271).
const DEK_ALGORITHMS: [&str; 3] = ["AES128_GCM", "AES256_GCM", "AES256_SIV"];

/// Request fields whose values the server checks beyond their type (a 422 otherwise),
/// as the checks read them: keywords in any case, surrounding blanks trimmed.
type Rule = fn() -> Value;
const CHECKED_FIELDS: &[(&str, &str, Rule)] = &[
    // `Registry::put_mode` (`registry::MODES`; FORWARD only globally).
    (
        "Mode",
        "mode",
        || json!({"pattern": any_case(&["READWRITE", "READONLY", "READONLY_OVERRIDE", "IMPORT", "FORWARD"])}),
    ),
    // `proposals::review`.
    (
        "ReviewInput",
        "decision",
        || json!({"pattern": any_case(&["approve", "approved", "reject", "rejected"])}),
    ),
    // `proposals::release`.
    (
        "ReleaseInput",
        "mode",
        || json!({"pattern": any_case(&["new_version", "successor"])}),
    ),
];

/// A pattern matching one of `words` in any case, with blanks around (ECMA-262 regular
/// expressions, which JSON Schema uses, have no case-insensitive flag inline).
fn any_case(words: &[&str]) -> String {
    let alternatives: Vec<String> = words
        .iter()
        .map(|w| {
            w.chars()
                .map(|c| {
                    if c.is_ascii_alphabetic() {
                        format!("[{}{}]", c.to_ascii_uppercase(), c.to_ascii_lowercase())
                    } else {
                        c.to_string()
                    }
                })
                .collect()
        })
        .collect();
    format!("^\\s*(?:{})\\s*$", alternatives.join("|"))
}

/// Routes that answer without an API key even with `--auth` (`crate::auth::is_open`).
fn is_open(path: &str) -> bool {
    path.starts_with("/health/") || path == "/metrics"
}

/// What the server does on every route, from the layers every request passes through
/// rather than from one handler, written into each operation so that the document
/// describes exactly what a client can receive:
///
/// * JSON bodies go out in the media type `Accept` picks and come in in any of
///   Confluent's JSON types;
/// * a request body that is not JSON or not of the expected shape is 400, one that is
///   too large 413, one of another media type 415, a missing or `null` one 422
///   (`crate::api::Body`, `JBody`); a path parameter that does not decode is 400
///   (`crate::api::PathParams`); an `offset` or `limit` that is not an int32 is 404
///   (`Params::page`, as Jersey answers);
/// * with `--auth`, a request without a valid key is 401 and one its role may not make
///   403 (`crate::auth`); a state change from another site is 403 (auth on or off);
/// * a boolean query flag is true for `true` in any case and false for anything else
///   (`Params::flag`, as Confluent reads it), so any text is accepted;
/// * an int32 field or parameter holds what a Java `int` holds.
fn shared_behaviour(doc: &mut Value) {
    let Some(paths) = doc.get_mut("paths").and_then(Value::as_object_mut) else {
        return;
    };
    for (path, item) in paths.iter_mut() {
        let Some(item) = item.as_object_mut() else {
            continue;
        };
        for (method, op) in item.iter_mut() {
            if !matches!(method.as_str(), "get" | "post" | "put" | "patch" | "delete") {
                continue;
            }
            shared_operation(path, method, op);
        }
    }
    if let Some(schemas) = doc
        .pointer_mut("/components/schemas")
        .and_then(Value::as_object_mut)
    {
        for (component, property, rule) in CHECKED_FIELDS {
            if let Some(p) = schemas
                .get_mut(*component)
                .and_then(|s| s.get_mut("properties"))
                .and_then(|p| p.get_mut(*property))
                .and_then(Value::as_object_mut)
            {
                if let Value::Object(rule) = rule() {
                    p.extend(rule);
                }
            }
        }
        if let Some(schema) = schemas.get_mut("RegisterSchemaRequest") {
            jackson_ints(schema, &jackson::REGISTER_SCHEMA);
        }
        if let Some(schema) = schemas.get_mut("ReferenceInput") {
            jackson_ints(schema, &jackson::REFERENCE);
        }
        for schema in schemas.values_mut() {
            bound_int32(schema);
        }
    }
}

/// Marks the properties that Confluent's Jackson reads as a Java `Integer` (the shapes
/// `crate::api::JBody` coerces to) as int32: a larger number is refused (400).
fn jackson_ints(schema: &mut Value, shape: &jackson::Shape) {
    let jackson::Shape::Obj(fields) = shape else {
        return;
    };
    let Some(props) = schema.get_mut("properties").and_then(Value::as_object_mut) else {
        return;
    };
    for (name, field) in fields.iter() {
        if let (jackson::Shape::Int, Some(p)) = (field, props.get_mut(*name)) {
            p["format"] = json!("int32");
        }
    }
}

fn shared_operation(path: &str, method: &str, op: &mut Value) {
    let write = method != "get";
    let has_body = op.get("requestBody").is_some();
    let mut path_params = false;
    let mut paged = false;
    let mut refusals: Vec<&str> = Vec::new();
    let mut refusals_400: Vec<&str> = Vec::new();
    let registry_version = path.starts_with("/subjects/")
        || path.starts_with("/compatibility/")
        || path.starts_with("/dek-registry/");
    if let Some(params) = op.get_mut("parameters").and_then(Value::as_array_mut) {
        for p in params.iter_mut() {
            let place = p["in"].as_str().unwrap_or("").to_string();
            let name = p["name"].as_str().unwrap_or("").to_string();
            path_params |= place == "path";
            let page_param =
                place == "query" && (name == "offset" || name == "limit") && path != "/v1/audit";
            if page_param {
                // `Params::page` (and the catalog's parameters): an int32, blanks
                // trimmed; given empty, absent.
                let page = path != "/v1/catalog/search";
                paged |= page;
                let mut int = p["schema"].take();
                if page && int["format"] == "int64" {
                    int["format"] = json!("int32");
                }
                p["schema"] = json!({"anyOf": [int, {"type": "string", "maxLength": 0}]});
            }
            if place == "query" && p["schema"]["type"] == "boolean" {
                p["schema"] = json!({"type": "string"});
                let text = p["description"].as_str().unwrap_or("").to_string();
                p["description"] = json!(format!(
                    "{text} (true when `true` in any case; any other value is false)"
                ));
            }
            if place == "path" && name == "version" && registry_version {
                p["schema"]["pattern"] = json!(VERSION_PATTERN);
                refusals.push("42202 not a valid version");
            }
            if place == "path" && name == "kek" {
                p["schema"]["pattern"] = json!(KEK_PATTERN);
                refusals.push("42271 not a valid KEK name");
            }
            if place == "path" && name == "context" {
                p["schema"]["pattern"] = json!(CONTEXT_PATTERN);
                refusals_400.push("a context name with a colon inside or a control character");
            }
            if place == "query" && name == "algorithm" {
                p["schema"]["enum"] = json!(DEK_ALGORITHMS);
                refusals.push("42271 not a DEK algorithm");
            }
            if let Some(schema) = p.get_mut("schema") {
                bound_int32(schema);
            }
        }
    }
    if let Some(body) = op.get_mut("requestBody") {
        if path == "/" && method == "post" {
            // Jackson's `Map<String, String>` (`jackson::ROOT`): a scalar value is read
            // as its text, an object or array value refused (400).
            body["content"]["application/json"]["schema"] = json!({
                "type": "object",
                "additionalProperties": {"type": ["string", "number", "boolean", "null"]}
            });
        }
        json_types(body, &JSON_REQUEST_TYPES);
    }
    let Some(responses) = op.get_mut("responses").and_then(Value::as_object_mut) else {
        return;
    };
    let own = method == "get" && OWN_MEDIA_TYPES.contains(&path);
    for (status, r) in responses.iter_mut() {
        if !(own && status.starts_with('2')) {
            if path.ends_with("/schema") {
                raw_schema_types(r);
            } else if path != "/metrics" {
                plain_is_json(r);
            }
            json_types(r, &JSON_RESPONSE_TYPES);
        }
    }
    let mut add = |status: &str, why: &str| {
        let entry = responses
            .entry(status.to_string())
            .or_insert_with(|| json!({"description": "", "content": error_content()}));
        if let Some(d) = entry.get_mut("description") {
            let text = d.as_str().unwrap_or("");
            if !text.contains(why) {
                *d = json!(if text.is_empty() {
                    why.to_string()
                } else {
                    format!("{text}; {why}")
                });
            }
        }
        if entry.get("content").is_none() {
            entry["content"] = error_content();
        }
    };
    for why in refusals {
        add("422", why);
    }
    for why in refusals_400 {
        add("400", why);
    }
    if has_body {
        add("400", "the body is not JSON or not of this shape");
        add("413", "the body is larger than --max-body-bytes");
        add("415", "the body's Content-Type is not a JSON type");
        add("422", "the body is missing or null");
    } else if write {
        add(
            "415",
            "a body was sent with a Content-Type that is not a JSON type",
        );
    }
    if path_params {
        add("400", "a path parameter does not decode");
    }
    if write
        && ["/subjects/", "/config", "/contexts/"]
            .iter()
            .any(|p| path.starts_with(p))
    {
        add("422", "42205 the subject's mode is READONLY");
    }
    if paged {
        add("404", "offset or limit is not an int32");
    }
    if !is_open(path) {
        add(
            "401",
            "with --auth: no API key, or one that is unknown, revoked or expired",
        );
        add("403", "with --auth: the key's principal may not do this");
    }
    if write {
        add("403", "a cross-site request (Sec-Fetch-Site or Origin)");
    }
    sort_statuses(responses);
}

/// The content of an error response: Confluent's error body in every JSON media type.
fn error_content() -> Value {
    let mut content = Map::new();
    for t in JSON_RESPONSE_TYPES {
        content.insert(
            t.to_string(),
            json!({"schema": {"$ref": "#/components/schemas/ErrorBody"}}),
        );
    }
    Value::Object(content)
}

/// A raw schema (`.../schema`) is sent as it was registered with the JSON media type
/// (`crate::api::RawSchema`): JSON for Avro and JSON Schema, `.proto` text for Protobuf,
/// so the document gives it no schema.
fn raw_schema_types(response: &mut Value) {
    let Some(content) = response.get_mut("content").and_then(Value::as_object_mut) else {
        return;
    };
    if content.remove("text/plain").is_some() {
        content.insert("application/json".to_string(), json!({}));
    }
}

/// utoipa gives a bare number or string body `text/plain`; the server sends every
/// body but `/metrics` as JSON (`crate::api::Vnd`).
fn plain_is_json(response: &mut Value) {
    let Some(content) = response.get_mut("content").and_then(Value::as_object_mut) else {
        return;
    };
    if let Some(plain) = content.remove("text/plain") {
        content.insert("application/json".to_string(), plain);
    }
}

/// Replaces a body's `application/json` content by the same schema under each of
/// `types`.
fn json_types(body: &mut Value, types: &[&str]) {
    let Some(content) = body.get_mut("content").and_then(Value::as_object_mut) else {
        return;
    };
    let schema = match content.get("application/json") {
        Some(c) => c.clone(),
        None => return,
    };
    let mut out = Map::new();
    for (t, c) in std::mem::take(content) {
        if t == "application/json" {
            for t in types {
                out.insert(t.to_string(), schema.clone());
            }
        } else {
            out.insert(t, c);
        }
    }
    *content = out;
}

/// Gives an int32 integer without bounds the bounds of a Java `int`, recursively.
fn bound_int32(schema: &mut Value) {
    match schema {
        Value::Object(o) => {
            if o.get("format").and_then(Value::as_str) == Some("int32") {
                o.entry("minimum").or_insert(json!(i32::MIN));
                o.entry("maximum").or_insert(json!(i32::MAX));
            }
            for v in o.values_mut() {
                bound_int32(v);
            }
        }
        Value::Array(a) => a.iter_mut().for_each(bound_int32),
        _ => {}
    }
}

/// Orders an operation's responses by status code.
fn sort_statuses(responses: &mut Map<String, Value>) {
    let mut all: Vec<(String, Value)> = std::mem::take(responses).into_iter().collect();
    all.sort_by(|a, b| a.0.cmp(&b.0));
    responses.extend(all);
}
