//! `accord encode` and `accord decode`: make and inspect framed records, what
//! `kafka-avro-console-producer`/`-consumer` (and their Protobuf and JSON Schema
//! siblings) give Java users.
//!
//! Both are built on accord-client's serializers, so the bytes are exactly what
//! Confluent's serializers write and read: `0x00` + schema id (or `0x01` + GUID on
//! read), Protobuf message indexes, then the payload. What this module adds is the
//! JSON side: Avro's JSON encoding ([`crate::avro_json`]), Protobuf's canonical proto3
//! JSON mapping (prost-reflect's serde support), JSON Schema values as they are.
//!
//! `encode` pins the writer schema (`--id`, `--version`, or the subject's latest) by
//! giving the serializer a [`SchemaSource`] whose "latest version" is that schema, with
//! auto-registration off: nothing is registered.
//!
//! `decode` prints, with `--output json`, one line
//! `{"schemaId": 1, "guid": "...", "subject": "s", "version": 1, "schemaType": "AVRO", "value": ...}`
//! (`subject`/`version` are null when no subject holds the schema); in text, a header
//! line (`# schema id 1, guid ..., subject s version 1, AVRO`) and the value, indented.
//!
//! Bad input (not hex/base64, wrong magic byte, truncated, unknown id, a value that
//! does not fit the schema) is exit 2 with a one-line message.

use crate::avro_json::AvroJson;
use crate::exit::{CliError, CliResult, Outcome};
use crate::online::{parse_version, run, Registry};
use crate::report::OutputFormat;
use crate::Global;
use accord_client::framing::{self, SchemaId};
use accord_client::registry::RegistryClient;
use accord_client::serdes::{
    AvroDeserializer, AvroSerializer, JsonDeserializer, JsonSerializer, ProtobufDeserializer,
    ProtobufSerializer, SerdeConfig, SubjectNameStrategy,
};
use accord_client::{ClientError, RegisteredSchema, SchemaReference, SchemaSource, SchemaSpec};
use accord_compat::{Reference, SchemaFormat};
use base64::Engine as _;
use prost_reflect::{DynamicMessage, MessageDescriptor};
use std::collections::HashSet;
use std::io::{Read, Write};
use std::path::PathBuf;
use std::sync::Arc;

/// The topic name handed to the serializers (subjects come from `--subject`, not from it).
const TOPIC: &str = "accord-cli";

/// Print a framed record value as JSON, with its schema id, subject/version and format.
#[derive(clap::Args, Debug)]
pub struct DecodeArgs {
    /// The input is hex (whitespace ignored), not raw bytes.
    #[arg(long, conflicts_with = "base64")]
    pub hex: bool,
    /// The input is base64, not raw bytes.
    #[arg(long)]
    pub base64: bool,
    /// The record file (default: stdin).
    pub file: Option<PathBuf>,
}

/// Make a framed record from JSON (Avro's JSON encoding, Protobuf's canonical JSON, or a
/// JSON Schema document), written with the subject's latest schema, a given version, or
/// a given id. Nothing is registered.
#[derive(clap::Args, Debug)]
pub struct EncodeArgs {
    #[arg(long)]
    pub subject: String,
    /// Write with this version of the subject (a number or latest; default latest).
    #[arg(long, conflicts_with = "id")]
    pub version: Option<String>,
    /// Write with the schema of this global id.
    #[arg(long)]
    pub id: Option<i32>,
    /// Protobuf: the message to write (full name, or relative to the file's package);
    /// default the file's first message.
    #[arg(long)]
    pub message: Option<String>,
    /// Print hex instead of raw bytes.
    #[arg(long, conflicts_with = "base64")]
    pub hex: bool,
    /// Print base64 instead of raw bytes.
    #[arg(long)]
    pub base64: bool,
    /// The JSON file (default: stdin).
    pub file: Option<PathBuf>,
}

fn read_input(file: Option<&PathBuf>) -> Result<Vec<u8>, CliError> {
    match file {
        Some(path) => std::fs::read(path)
            .map_err(|e| CliError::usage(format!("cannot read {}: {e}", path.display()))),
        None => {
            let mut buf = Vec::new();
            std::io::stdin()
                .read_to_end(&mut buf)
                .map_err(|e| CliError::usage(format!("cannot read stdin: {e}")))?;
            Ok(buf)
        }
    }
}

pub fn decode(global: &Global, args: DecodeArgs) -> CliResult {
    let input = read_input(args.file.as_ref())?;
    let bytes = if args.hex {
        let text: String = String::from_utf8_lossy(&input)
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect();
        hex::decode(&text).map_err(|e| CliError::usage(format!("the input is not hex: {e}")))?
    } else if args.base64 {
        let text: String = String::from_utf8_lossy(&input)
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect();
        base64::engine::general_purpose::STANDARD
            .decode(text.as_bytes())
            .map_err(|e| CliError::usage(format!("the input is not base64: {e}")))?
    } else {
        input
    };
    // The frame first: a record that is not one fails without asking the registry.
    let (schema_id, _) = framing::read_schema_id(&bytes)
        .map_err(|e| CliError::usage(format!("malformed record: {}", frame_message(&e))))?;
    let reg = Registry::connect(global)?;
    let decoded = run(decode_record(&reg, schema_id, &bytes))?;
    if global.output == OutputFormat::Json {
        println!("{}", serde_json::to_string(&decoded).unwrap_or_default());
    } else {
        let d = &decoded;
        let mut header = format!("# schema id {}", d["schemaId"]);
        if let Some(g) = d["guid"].as_str() {
            header.push_str(&format!(", guid {g}"));
        }
        if let (Some(s), Some(v)) = (d["subject"].as_str(), d["version"].as_i64()) {
            header.push_str(&format!(", subject {s} version {v}"));
        }
        header.push_str(&format!(", {}", d["schemaType"].as_str().unwrap_or("")));
        println!("{header}");
        println!(
            "{}",
            serde_json::to_string_pretty(&d["value"]).unwrap_or_default()
        );
    }
    Ok(Outcome::Ok)
}

fn frame_message(e: &ClientError) -> String {
    match e {
        ClientError::Frame(m) => m.clone(),
        other => other.to_string(),
    }
}

async fn decode_record(
    reg: &Registry,
    schema_id: SchemaId,
    bytes: &[u8],
) -> Result<serde_json::Value, CliError> {
    let fail = |e| reg.error(e, None);
    let client = &reg.client;
    let writer = match schema_id {
        SchemaId::Id(id) => client.schema_by_id(id).await.map_err(fail)?,
        SchemaId::Guid(g) => client.schema_by_guid(&g.to_string()).await.map_err(fail)?,
    };
    let source = Arc::new(client.clone());
    let config = SerdeConfig::value();
    let value = match writer.format {
        SchemaFormat::Avro => {
            let de = AvroDeserializer::new(source, config);
            let value = de.deserialize(TOPIC, bytes).await.map_err(fail)?;
            let conv = avro_schema(reg, &writer).await?;
            conv.write_json(&value)
                .map_err(|e| CliError::usage(format!("cannot print the value: {e}")))?
        }
        SchemaFormat::Protobuf => {
            let de = ProtobufDeserializer::new(source, config);
            let message = de.deserialize(TOPIC, bytes).await.map_err(fail)?;
            serde_json::to_value(&message)
                .map_err(|e| CliError::usage(format!("cannot print the message: {e}")))?
        }
        SchemaFormat::Json => {
            let de = JsonDeserializer::new(source, config);
            de.deserialize::<serde_json::Value>(TOPIC, bytes)
                .await
                .map_err(fail)?
        }
    };
    // Where the schema is registered: best effort (a registry without the endpoint, or
    // a schema under no live subject, leaves them null).
    let id = writer.id;
    let holders: Vec<serde_json::Value> = if id > 0 {
        reg.get_json(&format!("/schemas/ids/{id}/versions"))
            .await
            .unwrap_or_default()
    } else {
        Vec::new()
    };
    let first = holders.first();
    let guid = match schema_id {
        SchemaId::Guid(g) => Some(g.to_string()),
        SchemaId::Id(_) => writer.guid.clone(),
    };
    Ok(serde_json::json!({
        "schemaId": id,
        "guid": guid,
        "subject": first.and_then(|h| h.get("subject")).cloned(),
        "version": first.and_then(|h| h.get("version")).cloned(),
        "schemaType": writer.format.as_str(),
        "value": value,
    }))
}

pub fn encode(global: &Global, args: EncodeArgs) -> CliResult {
    let version = args.version.as_deref().map(parse_version).transpose()?;
    let input = read_input(args.file.as_ref())?;
    let json: serde_json::Value = serde_json::from_slice(&input)
        .map_err(|e| CliError::usage(format!("the input is not JSON: {e}")))?;
    let reg = Registry::connect(global)?;
    let bytes = run(encode_record(&reg, &args, version, &json))?;
    let mut out = std::io::stdout().lock();
    let written = if args.hex {
        writeln!(out, "{}", hex::encode(&bytes))
    } else if args.base64 {
        writeln!(
            out,
            "{}",
            base64::engine::general_purpose::STANDARD.encode(&bytes)
        )
    } else {
        out.write_all(&bytes)
    };
    written
        .and_then(|()| out.flush())
        .map_err(|e| CliError::usage(format!("cannot write the record: {e}")))?;
    Ok(Outcome::Ok)
}

async fn encode_record(
    reg: &Registry,
    args: &EncodeArgs,
    version: Option<i32>,
    json: &serde_json::Value,
) -> Result<Vec<u8>, CliError> {
    let subject = args.subject.as_str();
    let fail = |e| reg.error(e, Some(subject));
    let client = &reg.client;
    let pinned = match (args.id, version) {
        (Some(id), _) => client.schema_by_id(id).await.map_err(fail)?,
        (None, v) => client
            .version(subject, v.unwrap_or(-1))
            .await
            .map_err(fail)?,
    };
    if args.message.is_some() && pinned.format != SchemaFormat::Protobuf {
        return Err(CliError::usage(format!(
            "--message is for Protobuf; the schema is {}",
            pinned.format
        )));
    }
    let source = Arc::new(Pinned {
        client: client.clone(),
        schema: pinned.clone(),
    });
    let name = subject.to_string();
    let config = SerdeConfig::value()
        .auto_register(false)
        .use_latest(true)
        .strategy(SubjectNameStrategy::custom(move |_, _, _| Ok(name.clone())));
    let bad_value = |e: String| CliError::usage(format!("the value does not fit the schema: {e}"));
    match pinned.format {
        SchemaFormat::Avro => {
            let conv = avro_schema(reg, &pinned).await?;
            let value = conv.read_json(json).map_err(bad_value)?;
            AvroSerializer::new(source, None, config)
                .serialize(TOPIC, &value)
                .await
                .map_err(fail)
        }
        SchemaFormat::Protobuf => {
            let desc = proto_message(reg, &pinned, args.message.as_deref()).await?;
            let message =
                DynamicMessage::deserialize(desc, json).map_err(|e| bad_value(e.to_string()))?;
            ProtobufSerializer::new(source, config)
                .serialize(TOPIC, &message)
                .await
                .map_err(fail)
        }
        SchemaFormat::Json => JsonSerializer::new(source, None, config)
            .serialize_value(TOPIC, json)
            .await
            .map_err(fail),
    }
}

/// A [`SchemaSource`] whose latest version is one fixed schema (what `encode` writes
/// with); everything else is the registry's.
struct Pinned {
    client: RegistryClient,
    schema: Arc<RegisteredSchema>,
}

impl SchemaSource for Pinned {
    async fn schema_by_id(&self, id: i32) -> accord_client::Result<Arc<RegisteredSchema>> {
        self.client.schema_by_id(id).await
    }

    async fn schema_by_guid(&self, guid: &str) -> accord_client::Result<Arc<RegisteredSchema>> {
        self.client.schema_by_guid(guid).await
    }

    async fn register(
        &self,
        subject: &str,
        spec: &SchemaSpec,
        normalize: bool,
    ) -> accord_client::Result<Arc<RegisteredSchema>> {
        // Never called (auto-registration is off); a lookup is the harmless answer.
        self.client.lookup(subject, spec, normalize).await
    }

    async fn lookup(
        &self,
        subject: &str,
        spec: &SchemaSpec,
        normalize: bool,
    ) -> accord_client::Result<Arc<RegisteredSchema>> {
        self.client.lookup(subject, spec, normalize).await
    }

    async fn latest(&self, _subject: &str) -> accord_client::Result<Arc<RegisteredSchema>> {
        Ok(self.schema.clone())
    }

    async fn latest_with_metadata(
        &self,
        _subject: &str,
        _pairs: &[(String, String)],
    ) -> accord_client::Result<Arc<RegisteredSchema>> {
        Ok(self.schema.clone())
    }

    async fn version(
        &self,
        subject: &str,
        version: i32,
    ) -> accord_client::Result<Arc<RegisteredSchema>> {
        self.client.version(subject, version).await
    }
}

/// The schemas `refs` reach, transitively, dependencies first, each once.
async fn resolve_references(
    reg: &Registry,
    refs: &[SchemaReference],
) -> Result<Vec<(SchemaReference, Arc<RegisteredSchema>)>, CliError> {
    const MAX_DEPTH: usize = 64;
    let mut out = Vec::new();
    let mut done: HashSet<(String, i32)> = HashSet::new();
    // (reference, its schema once fetched, next child to visit)
    let mut stack: Vec<(SchemaReference, Option<Arc<RegisteredSchema>>, usize)> = Vec::new();
    for root in refs {
        stack.push((root.clone(), None, 0));
        while let Some((r, fetched, next)) = stack.pop() {
            let key = (r.subject.clone(), r.version);
            if done.contains(&key) {
                continue;
            }
            let schema = match fetched {
                Some(s) => s,
                None => reg
                    .client
                    .version(&r.subject, r.version)
                    .await
                    .map_err(|e| {
                        CliError::usage(format!(
                            "reference {:?} (subject '{}' version {}): {}",
                            r.name,
                            r.subject,
                            r.version,
                            reg.error(e, Some(&r.subject))
                        ))
                    })?,
            };
            if let Some(child) = schema.references.get(next).cloned() {
                if stack.len() >= MAX_DEPTH {
                    return Err(CliError::usage(
                        "schema references nest too deeply (or form a cycle)",
                    ));
                }
                stack.push((r, Some(schema), next + 1));
                stack.push((child, None, 0));
                continue;
            }
            done.insert(key);
            out.push((r, schema));
        }
    }
    Ok(out)
}

/// The writer Avro schema, parsed with its references, for the JSON conversion.
async fn avro_schema(reg: &Registry, schema: &RegisteredSchema) -> Result<AvroJson, CliError> {
    let refs = resolve_references(reg, &schema.references).await?;
    let texts: Vec<&str> = refs.iter().map(|(_, s)| s.schema.as_str()).collect();
    let id = schema.id;
    let parsed = std::panic::catch_unwind(|| {
        apache_avro::Schema::parse_str_with_list(&schema.schema, texts.iter().copied())
    });
    match parsed {
        Ok(Ok((main, referenced))) => Ok(AvroJson::new(main, &referenced)),
        Ok(Err(e)) => Err(CliError::usage(format!(
            "Avro schema id {id} does not parse: {e}"
        ))),
        Err(_) => Err(CliError::usage(format!(
            "Avro schema id {id} does not parse"
        ))),
    }
}

/// The message `name` (or the first) of a registered Protobuf schema.
async fn proto_message(
    reg: &Registry,
    schema: &RegisteredSchema,
    name: Option<&str>,
) -> Result<MessageDescriptor, CliError> {
    let refs = resolve_references(reg, &schema.references).await?;
    let references: Vec<Reference> = refs
        .iter()
        .map(|(r, s)| Reference::new(r.name.clone(), s.schema.clone()))
        .collect();
    let parsed = accord_compat::protobuf::parse(&schema.schema, &references).map_err(|e| {
        CliError::usage(format!(
            "Protobuf schema id {} does not parse: {}",
            schema.id, e.message
        ))
    })?;
    let file = parsed.file_descriptor();
    match name {
        None => file.messages().next().ok_or_else(|| {
            CliError::usage(format!("Protobuf schema id {} has no messages", schema.id))
        }),
        Some(n) => {
            let pool = parsed.descriptor_pool();
            let qualified = if file.package_name().is_empty() {
                n.to_string()
            } else {
                format!("{}.{n}", file.package_name())
            };
            pool.get_message_by_name(n.trim_start_matches('.'))
                .or_else(|| pool.get_message_by_name(&qualified))
                .ok_or_else(|| {
                    let names: Vec<String> =
                        file.messages().map(|m| m.full_name().to_string()).collect();
                    CliError::usage(format!(
                        "no message {n} in Protobuf schema id {} (it has {})",
                        schema.id,
                        names.join(", ")
                    ))
                })
        }
    }
}
