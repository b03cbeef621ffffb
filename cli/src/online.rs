//! Subcommands that talk to a registry through accord-client: `check`, `register`,
//! `get`, `subjects`, `versions`, `config`, `mode`, `delete`, `push`.
//!
//! Each command builds one [`Registry`] (the client with CLI-friendly retries: one retry
//! after a short back-off, a 10 s timeout, so a dead registry fails in about a second),
//! runs on a current-thread Tokio runtime, and turns every client error into a
//! [`CliError`] in one place, [`Registry::error`], so the exit code and the one-line
//! cause are the same whichever command hit them.
//!
//! `check` prints a [`Report`] in any `--output` format. The admin commands print text
//! by default and, with `--output json`, these shapes (stable; keys camelCase):
//!
//! | command | JSON |
//! | --- | --- |
//! | `register` | `{"subject": "s", "id": 1, "version": 1, "guid": "..."}` |
//! | `get` | `{"subject", "version", "id", "guid", "schemaType", "references": [{"name","subject","version"}], "schema"}` (`subject`/`version` null with `--id`) |
//! | `subjects` | `["a-value", "b-value"]` |
//! | `versions` | `[1, 2, 3]` |
//! | `config get/set` | `{"subject": "s" or null, "compatibilityLevel": "BACKWARD", "inherited": false}` |
//! | `mode get/set` | `{"subject": "s" or null, "mode": "READWRITE", "inherited": false}` |
//! | `delete` | `{"subject": "s", "versions": [1, 2], "permanent": false}` |
//! | `push` | `[{"subject", "file", "version", "id", "status": "new" / "unchanged" / "would-register"}]` |
//!
//! `inherited` is true when the subject has no setting of its own and the global one is
//! shown. A few endpoints accord-client does not cover yet (`GET /subjects` with a prefix
//! or deleted subjects, `GET /subjects/{s}/versions?deleted=true`,
//! `GET /schemas/ids/{id}/versions`) are called through [`Registry::get_json`], a plain
//! GET with the same URLs, credentials and CA.

use crate::exit::{CliError, CliResult, Outcome};
use crate::manifest::{Entry, Manifest};
use crate::report::{Check, Finding, OutputFormat, Report, Severity};
use crate::Global;
use accord_client::registry::{
    CompatibilityConfig, CompatibilityTarget, RegistryClient, RegistryConfig,
};
use accord_client::{ClientError, RegisteredSchema, SchemaReference, SchemaSpec};
use accord_compat::{CompatibilityLevel, SchemaFormat};
use percent_encoding::{percent_decode_str, utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use serde::de::DeserializeOwned;
use serde_json::json;
use std::collections::HashMap;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::time::Duration;

// ---------------------------------------------------------------------------------------
// Connection and errors
// ---------------------------------------------------------------------------------------

/// Whole-request timeout of every registry call.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// A registry connection for one command: the accord-client for everything it offers,
/// plus a plain HTTP client for the few GETs it lacks.
pub struct Registry {
    pub client: RegistryClient,
    /// The `--url` value, for messages.
    url: String,
    /// Base URLs (credentials removed) and the Authorization header, for [`Self::get_json`].
    bases: Vec<String>,
    authorization: Option<String>,
    http: reqwest::Client,
}

impl Registry {
    /// Builds the clients from `--url`, `--token`, `--user`/`--password` and
    /// `--ca-cert`. Makes no request.
    pub fn connect(global: &Global) -> Result<Registry, CliError> {
        let url = global.url.trim().to_string();
        if url.is_empty() {
            return Err(CliError::usage("no registry URL: give --url or ACCORD_URL"));
        }
        let url = match &global.context {
            Some(context) => in_context(&url, context)?,
            None => url,
        };
        let mut config = RegistryConfig::new(url.clone())
            .with_max_retries(1)
            .with_retry_backoff(Duration::from_millis(200), Duration::from_millis(400))
            .with_request_timeout(REQUEST_TIMEOUT)
            .with_connect_timeout(Duration::from_secs(5))
            .with_latest_ttl(Duration::ZERO);
        let mut authorization = None;
        match (&global.user, &global.password, &global.token) {
            (Some(_), Some(_), Some(_)) => {
                return Err(CliError::usage(
                    "give either --token or --user/--password, not both",
                ))
            }
            (Some(user), Some(password), None) => {
                config = config.with_basic_auth(user, password);
                authorization = Some(basic(user, password));
            }
            (Some(_), None, _) => {
                return Err(CliError::usage(
                    "--user needs --password (or ACCORD_PASSWORD)",
                ))
            }
            (None, Some(_), _) => {
                return Err(CliError::usage("--password needs --user (or ACCORD_USER)"))
            }
            (None, None, Some(token)) => {
                config = config.with_bearer_token(token);
                authorization = Some(format!("Bearer {token}"));
            }
            (None, None, None) => {}
        }
        let mut http = reqwest::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .connect_timeout(Duration::from_secs(5));
        if let Some(path) = &global.ca_cert {
            let pem = std::fs::read(path).map_err(|e| {
                CliError::usage(format!(
                    "cannot read the CA certificate {}: {e}",
                    path.display()
                ))
            })?;
            let certs = reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| {
                CliError::usage(format!("{} is not a PEM certificate: {e}", path.display()))
            })?;
            if certs.is_empty() {
                return Err(CliError::usage(format!(
                    "{} holds no PEM certificate",
                    path.display()
                )));
            }
            for c in certs {
                http = http.add_root_certificate(c);
            }
            config = config.with_ca_pem(pem);
        }
        let client = RegistryClient::new(config).map_err(|e| {
            CliError::usage(format!(
                "registry URL '{url}': {}",
                one_line(&e.to_string())
            ))
        })?;
        let http = http
            .build()
            .map_err(|e| CliError::usage(format!("cannot set up HTTP: {e}")))?;
        let mut bases = Vec::new();
        for raw in url.split(',').map(str::trim).filter(|u| !u.is_empty()) {
            let Ok(mut parsed) = reqwest::Url::parse(raw) else {
                return Err(CliError::usage(format!(
                    "registry URL '{raw}' is not a URL"
                )));
            };
            if authorization.is_none() && !parsed.username().is_empty() {
                let user = parsed.username().to_string();
                let password = parsed.password().unwrap_or("").to_string();
                authorization = Some(basic(&percent_decode(&user), &percent_decode(&password)));
            }
            let _ = parsed.set_username("");
            let _ = parsed.set_password(None);
            bases.push(parsed.as_str().trim_end_matches('/').to_string());
        }
        Ok(Registry {
            client,
            url,
            bases,
            authorization,
            http,
        })
    }

    /// Every client error becomes a [`CliError`] here, and only here: the exit code
    /// (1 refused, 2 usage/not found/bad input, 3 unreachable/auth) and a one-line cause.
    pub fn error(&self, e: ClientError, subject: Option<&str>) -> CliError {
        let url = &self.url;
        match e {
            ClientError::Unreachable(m) => {
                CliError::Unreachable(format!("cannot reach the registry at {url}: {}", cause(&m)))
            }
            ClientError::Registry {
                status,
                error_code,
                message,
            } => {
                let message = one_line(&message);
                match (status, error_code) {
                    (401 | 403, _) => CliError::Auth(format!(
                        "the registry at {url} refused the credentials ({status} {}): {message}",
                        if status == 401 { "Unauthorized" } else { "Forbidden" }
                    )),
                    (_, 40401) => match subject {
                        Some(s) => CliError::usage(format!("subject '{s}' not found")),
                        None => CliError::usage(message),
                    },
                    (_, 40402..=40499) | (404, _) => match subject {
                        Some(s) if !message.contains(s) => {
                            CliError::usage(format!("subject '{s}': {message}"))
                        }
                        _ => CliError::usage(message),
                    },
                    // The deletion guard: the message names the recent readers.
                    (409, 40940) => CliError::Refused(format!(
                        "the registry refused the delete: {message} (accord delete --force)"
                    )),
                    (409, _) => CliError::Refused(format!("the registry refused the schema: {message}")),
                    (422, _) => CliError::Refused(format!("the registry refused the request: {message}")),
                    (500..=599, _) => CliError::Unreachable(format!(
                        "the registry at {url} failed ({status}, error_code {error_code}): {message}"
                    )),
                    _ => CliError::usage(format!(
                        "the registry at {url} answered {status} (error_code {error_code}): {message}"
                    )),
                }
            }
            ClientError::BadResponse(m) => CliError::Unreachable(format!(
                "unexpected answer from {url} (is it a schema registry?): {}",
                one_line(&m)
            )),
            ClientError::Config(m) => CliError::usage(one_line(&m)),
            ClientError::Frame(m) => CliError::usage(format!("malformed record: {}", one_line(&m))),
            ClientError::Serialization(m) => CliError::usage(one_line(&m)),
            ClientError::Schema(m) => CliError::usage(format!("schema: {}", one_line(&m))),
            ClientError::Rule { rule, message } => CliError::usage(format!(
                "data-contract rule '{rule}' refused the value: {}",
                one_line(&message)
            )),
            e @ ClientError::Shredded { .. } => CliError::usage(e.to_string()),
            ClientError::Encryption(m) => CliError::usage(format!("encryption: {}", one_line(&m))),
        }
    }

    /// A GET the accord-client does not offer: `path` (encoded, with its query) on each
    /// base URL in turn until one answers. Errors are `ClientError`s, so
    /// [`Self::error`] maps them like any other.
    pub async fn get_json<T: DeserializeOwned>(&self, path: &str) -> Result<T, ClientError> {
        let body = self
            .send(
                reqwest::Method::GET,
                path,
                "application/vnd.schemaregistry.v1+json, application/json",
                None,
            )
            .await?;
        serde_json::from_slice(&body).map_err(|e| {
            ClientError::BadResponse(format!(
                "GET {path}: the answer is not the expected JSON: {e}"
            ))
        })
    }

    /// Every page of a paged `/v1` list at `path` (no query of its own), walked by its
    /// `after` cursor: `key` gives an item's cursor (the list's sort key), and a short
    /// page is the last. The items of all pages, in order.
    pub async fn get_all(
        &self,
        path: &str,
        key: fn(&serde_json::Value) -> Option<String>,
    ) -> Result<Vec<serde_json::Value>, ClientError> {
        const PAGE: usize = 1000;
        let mut all: Vec<serde_json::Value> = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let query = match &after {
                Some(a) => format!("limit={PAGE}&after={}", encode(a)),
                None => format!("limit={PAGE}"),
            };
            let page: Vec<serde_json::Value> = self.get_json(&format!("{path}?{query}")).await?;
            let n = page.len();
            let next = page.last().and_then(key);
            all.extend(page);
            match next {
                Some(k) if n == PAGE => after = Some(k),
                _ => return Ok(all),
            }
        }
    }

    /// A request the accord-client does not offer (Accord's `/v1` API): `method` on
    /// `path` with `Accept: accept` and an optional `(content type, body)`, on each base
    /// URL in turn until one answers; the body of a 2xx answer. A non-2xx answer is a
    /// `ClientError::Registry` with the error body's code and message.
    pub async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        accept: &str,
        body: Option<(&str, Vec<u8>)>,
    ) -> Result<Vec<u8>, ClientError> {
        let mut last = ClientError::Config("no registry URL configured".into());
        for base in &self.bases {
            let url = format!("{base}{path}");
            let mut request = self
                .http
                .request(method.clone(), &url)
                .header("Accept", accept);
            if let Some(a) = &self.authorization {
                request = request.header("Authorization", a);
            }
            if let Some((content_type, bytes)) = &body {
                request = request
                    .header("Content-Type", *content_type)
                    .body(bytes.clone());
            }
            let response = match request.send().await {
                Ok(r) => r,
                Err(e) => {
                    last = ClientError::Unreachable(format!(
                        "{method} {url}: {}",
                        accord_client::error::describe(&e)
                    ));
                    continue;
                }
            };
            let status = response.status().as_u16();
            let body = response.bytes().await.map_err(|e| {
                ClientError::Unreachable(format!(
                    "{method} {url}: reading the answer: {}",
                    accord_client::error::describe(&e)
                ))
            })?;
            if !(200..300).contains(&status) {
                let parsed: Option<serde_json::Value> = serde_json::from_slice(&body).ok();
                let code = parsed
                    .as_ref()
                    .and_then(|v| v.get("error_code"))
                    .and_then(serde_json::Value::as_i64)
                    .unwrap_or(i64::from(status));
                let message = parsed
                    .as_ref()
                    .and_then(|v| v.get("message"))
                    .and_then(serde_json::Value::as_str)
                    .map(str::to_string)
                    .unwrap_or_else(|| format!("HTTP {status}"));
                let e = ClientError::Registry {
                    status,
                    error_code: code,
                    message,
                };
                if matches!(status, 502..=504) {
                    last = e;
                    continue;
                }
                return Err(e);
            }
            return Ok(body.to_vec());
        }
        Err(last)
    }

    /// On Accord, the compatibility level of the data contract of the stream `subject`
    /// belongs to, which registrations there are held to whatever the subject's config
    /// says. `None` when the subject belongs to no stream with a contract, or the registry
    /// has no streams (a Confluent registry answers 404).
    pub async fn contract_level(&self, subject: &str) -> Option<CompatibilityLevel> {
        let streams: Vec<serde_json::Value> = self
            .get_json(&format!("/v1/streams?subject={}", encode(subject)))
            .await
            .ok()?;
        let stream = streams
            .iter()
            .find(|s| s["keySubject"] == subject || s["valueSubject"] == subject)?;
        let name = stream["name"].as_str()?;
        let document: serde_json::Value = self
            .get_json(&format!("/v1/streams/{}/contract", encode(name)))
            .await
            .ok()?;
        let contract = accord_contracts::Contract::from_value(document).ok()?;
        Some(contract.compatibility())
    }

    /// The level the registry applies to `subject` (its own, else the global one; per
    /// field, as `defaultToGlobal=true`), and whether it is inherited.
    pub async fn effective_level(
        &self,
        subject: Option<&str>,
    ) -> Result<(CompatibilityLevel, bool), CliError> {
        if let Some(s) = subject {
            match self.client.config(Some(s)).await {
                Ok(CompatibilityConfig {
                    compatibility_level: Some(level),
                    ..
                }) => return Ok((level, false)),
                Ok(_) => {}
                Err(e) if matches!(e.error_code(), Some(40401 | 40408)) => {}
                Err(e) => return Err(self.error(e, Some(s))),
            }
        }
        let global = match self.client.config(None).await {
            Ok(global) => global,
            // Under `--context`, `/config` is the context's config, which may not be
            // set: the registry resolves context → global for `defaultToGlobal`.
            Err(e) if matches!(e.error_code(), Some(40401 | 40408)) => {
                let path = format!(
                    "/config/{}?defaultToGlobal=true",
                    encode(subject.unwrap_or("_"))
                );
                self.get_json::<CompatibilityConfig>(&path)
                    .await
                    .map_err(|e| self.error(e, subject))?
            }
            Err(e) => return Err(self.error(e, None)),
        };
        Ok((
            global
                .compatibility_level
                .unwrap_or(CompatibilityLevel::Backward),
            subject.is_some(),
        ))
    }
}

fn basic(user: &str, password: &str) -> String {
    use base64::Engine as _;
    let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    format!("Basic {token}")
}

/// The root cause of an unreachable-registry message from accord-client
/// ("GET http://..: error sending request ...: tcp connect error: Connection refused
/// (os error 111) (gave up after 2 attempt(s) over 1 URL(s))"): the last cause and the
/// attempt count.
fn cause(message: &str) -> String {
    let message = one_line(message);
    let (body, attempts) = match message.rfind(" (gave up after ") {
        Some(i) => (&message[..i], Some(&message[i + 1..])),
        None => (message.as_str(), None),
    };
    let last = body.rsplit(": ").next().unwrap_or(body).trim();
    let last = if last.is_empty() { body } else { last };
    match attempts {
        Some(a) => format!("{last} {a}"),
        None => last.to_string(),
    }
}

/// Collapses line breaks (registry messages may quote multi-line schemas).
pub fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// What Python's `quote(s, safe='')` leaves as it is: ASCII letters, digits and `_.-~`.
const UNRESERVED: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'_')
    .remove(b'.')
    .remove(b'-')
    .remove(b'~');

/// Percent-encodes a path segment or query value (everything but `A-Za-z0-9_.-~`).
pub fn encode(s: &str) -> String {
    utf8_percent_encode(s, UNRESERVED).to_string()
}

/// Decodes `%XX` escapes (malformed escapes are kept as they are).
fn percent_decode(s: &str) -> String {
    percent_decode_str(s).decode_utf8_lossy().into_owned()
}

/// Runs `f` on a current-thread runtime.
pub fn run<T>(f: impl Future<Output = Result<T, CliError>>) -> Result<T, CliError> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::usage(format!("cannot start the runtime: {e}")))?;
    rt.block_on(f)
}

fn json_output(global: &Global) -> bool {
    global.output == OutputFormat::Json
}

fn print_json(value: &serde_json::Value) {
    println!(
        "{}",
        serde_json::to_string_pretty(value).unwrap_or_else(|_| value.to_string())
    );
}

// ---------------------------------------------------------------------------------------
// Shared flag parsing
// ---------------------------------------------------------------------------------------

/// `--format`: `avro`, `protobuf` (or `proto`), `json`, any case.
pub fn parse_format(s: &str) -> Result<SchemaFormat, CliError> {
    match s.trim().to_ascii_lowercase().as_str() {
        "avro" | "avsc" => Ok(SchemaFormat::Avro),
        "protobuf" | "proto" => Ok(SchemaFormat::Protobuf),
        "json" | "jsonschema" | "json-schema" => Ok(SchemaFormat::Json),
        other => Err(CliError::usage(format!(
            "unknown format '{other}' (expected avro, protobuf or json)"
        ))),
    }
}

/// The format of `file`: `--format`, else its extension (`.avsc`, `.proto`, `.json`).
pub fn format_of(file: &Path, flag: Option<&str>) -> Result<SchemaFormat, CliError> {
    if let Some(f) = flag {
        return parse_format(f);
    }
    match file
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
        .as_deref()
    {
        Some("avsc" | "avro") => Ok(SchemaFormat::Avro),
        Some("proto") => Ok(SchemaFormat::Protobuf),
        Some("json") => Ok(SchemaFormat::Json),
        _ => Err(CliError::usage(format!(
            "cannot tell the format of {} from its extension: give --format avro|protobuf|json",
            file.display()
        ))),
    }
}

fn read_schema(file: &Path) -> Result<String, CliError> {
    std::fs::read_to_string(file)
        .map_err(|e| CliError::usage(format!("cannot read {}: {e}", file.display())))
}

/// `--version`: a positive number or `latest` (returned as -1).
pub fn parse_version(s: &str) -> Result<i32, CliError> {
    let t = s.trim();
    if t.eq_ignore_ascii_case("latest") || t == "-1" {
        return Ok(-1);
    }
    match t.parse::<i32>() {
        Ok(v) if v > 0 => Ok(v),
        _ => Err(CliError::usage(format!(
            "invalid version '{s}' (expected a positive number or 'latest')"
        ))),
    }
}

/// `--reference NAME=SUBJECT:VERSION` (VERSION a number or `latest`), resolved to
/// concrete versions.
async fn references(reg: &Registry, flags: &[String]) -> Result<Vec<SchemaReference>, CliError> {
    let mut out = Vec::with_capacity(flags.len());
    for flag in flags {
        let bad = || {
            CliError::usage(format!(
                "invalid --reference '{flag}' (expected NAME=SUBJECT:VERSION)"
            ))
        };
        let (name, rest) = flag.split_once('=').ok_or_else(bad)?;
        let (subject, version) = rest.rsplit_once(':').ok_or_else(bad)?;
        if name.is_empty() || subject.is_empty() {
            return Err(bad());
        }
        let mut version = parse_version(version)?;
        if version == -1 {
            let latest = reg
                .client
                .latest(subject)
                .await
                .map_err(|e| reg.error(e, Some(subject)))?;
            version = latest.version.unwrap_or(-1);
        }
        out.push(SchemaReference {
            name: name.to_string(),
            subject: subject.to_string(),
            version,
        });
    }
    Ok(out)
}

// ---------------------------------------------------------------------------------------
// check
// ---------------------------------------------------------------------------------------

/// Ask the registry whether FILE (or, without FILE, every schema in the manifest) is
/// compatible with the subject's versions at the level the registry enforces there (the
/// subject's configured level, or its stream contract's), which the report names.
///
/// Exit 1 when a schema is incompatible; a subject without versions accepts anything.
#[derive(clap::Args, Debug)]
pub struct CheckArgs {
    /// The subject to check against (required with FILE).
    #[arg(long)]
    pub subject: Option<String>,
    /// avro, protobuf or json (default: from the file extension).
    #[arg(long)]
    pub format: Option<String>,
    /// A schema reference NAME=SUBJECT:VERSION (VERSION a number or latest); repeatable.
    #[arg(long = "reference", value_name = "NAME=SUBJECT:VERSION")]
    pub references: Vec<String>,
    /// The schema file; without it, every schema mapped in the manifest.
    pub file: Option<PathBuf>,
    /// Also print, for each incompatible subject, the teams it would affect: its
    /// stream's declared consumers and the readers the registry saw in the last 30 days.
    #[arg(long)]
    pub impact: bool,
}

pub fn check(global: &Global, args: CheckArgs) -> CliResult {
    let reg = Registry::connect(global)?;
    let report = run(async {
        let checks = match &args.file {
            Some(file) => {
                let subject = args.subject.as_deref().ok_or_else(|| {
                    CliError::usage(
                        "check FILE needs --subject (or leave out FILE to check the manifest)",
                    )
                })?;
                let format = format_of(file, args.format.as_deref())?;
                let text = read_schema(file)?;
                let refs = references(&reg, &args.references).await?;
                let spec = SchemaSpec {
                    format: Some(format),
                    schema: text,
                    references: refs,
                    ..Default::default()
                };
                vec![check_one(&reg, subject, file, &spec).await?]
            }
            None => {
                if args.subject.is_some() || args.format.is_some() || !args.references.is_empty() {
                    return Err(CliError::usage(
                        "--subject, --format and --reference need a FILE",
                    ));
                }
                check_manifest(&reg, global).await?
            }
        };
        Ok(Report {
            command: "check".into(),
            checks,
        })
    })?;
    emit_report(global, &report);
    if args.impact {
        crate::usage::print_impact(global, &report.failed_subjects())?;
    }
    Ok(if report.failed() {
        Outcome::Failed
    } else {
        Outcome::Ok
    })
}

/// One compatibility check of `spec` against `subject`'s versions (verbose).
async fn check_one(
    reg: &Registry,
    subject: &str,
    file: &Path,
    spec: &SchemaSpec,
) -> Result<Check, CliError> {
    let verdict = reg
        .client
        .test_compatibility(subject, spec, CompatibilityTarget::AllVersions, false, true)
        .await
        .map_err(|e| reg.error(e, Some(subject)))?;
    // The level the registry checked at, which is not always the subject's configured
    // one (Accord holds a stream's subjects to its contract's level). A failed verbose
    // check names it; a passed one (or an older registry's) does not: then the level of
    // the subject's stream contract on Accord, else the configured level.
    let level = match level_checked(&verdict.messages) {
        Some(level) => level,
        None => match reg.contract_level(subject).await {
            Some(level) => level,
            None => reg.effective_level(Some(subject)).await?.0,
        },
    };
    // Accord answers with structured findings beside Confluent's strings; a Confluent
    // registry only with the strings, which are parsed.
    let mut findings = if verdict.incompatibilities.is_empty() {
        findings(&verdict.messages, verdict.is_compatible)
    } else {
        verdict.incompatibilities.iter().map(structured).collect()
    };
    findings.extend(verdict.warnings.iter().map(|w| Finding {
        severity: Severity::Warning,
        rule: w.kind.clone(),
        path: w.path.clone(),
        version: None,
        direction: None,
        message: one_line(&w.message),
        line: None,
    }));
    locate_lines(&mut findings, spec);
    Ok(Check {
        kind: "compatibility".into(),
        file: Some(file.to_path_buf()),
        subject: Some(subject.to_string()),
        format: spec.format.map(|f| f.as_str().to_string()),
        level: Some(level.to_string()),
        findings,
    })
}

/// The level a failed verbose check names in its last message, as Confluent (7+) and
/// Accord write it: `{validateFields: 'false', compatibility: 'FULL_TRANSITIVE'}` (older
/// Confluent versions: `{compatibility: 'BACKWARD'}`).
fn level_checked(messages: &[String]) -> Option<CompatibilityLevel> {
    messages.iter().rev().find_map(|m| {
        let inner = m.trim().strip_prefix('{')?.strip_suffix('}')?;
        if inner.contains("errorType") {
            return None;
        }
        let after = inner.split("compatibility: '").nth(1)?;
        after.split('\'').next()?.parse().ok()
    })
}

/// Points the findings about the new schema (backward ones) at their lines in its file,
/// as `accord compat` does; the registry's paths are accord-compat's. Forward findings
/// point into the registered schema, which has no file here. Best effort: Protobuf
/// schemas with references are not compiled here, and their findings keep no line.
fn locate_lines(findings: &mut [Finding], spec: &SchemaSpec) {
    let map = match spec.format {
        Some(accord_compat::SchemaFormat::Protobuf) => {
            match accord_compat::parse(accord_compat::SchemaFormat::Protobuf, &spec.schema, &[]) {
                Ok(accord_compat::ParsedSchema::Protobuf(p)) => crate::locate::SourceMap::proto(&p),
                _ => return,
            }
        }
        _ => crate::locate::SourceMap::json(&spec.schema),
    };
    for f in findings {
        if f.direction.as_deref() != Some("forward") && !f.path.is_empty() {
            f.line = map.locate(&f.path);
        }
    }
}

/// Every base URL of `url` (comma-separated) scoped to `context`: the registry serves
/// every subject, schema, config and mode route under `/contexts/{ctx}/`.
fn in_context(url: &str, context: &str) -> Result<String, CliError> {
    // The registry's own reading of a context name (`eu`, `.eu`, `:.eu:`).
    let name = accord_server::context::normalize(context.trim())
        .ok()
        .filter(|n| n.len() > 1 && !n.contains('/'))
        .ok_or_else(|| {
            CliError::usage(format!(
                "--context '{context}': a context name is like .orders or orders, without ':' or '/'"
            ))
        })?;
    let encoded: String = name
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect();
    Ok(url
        .split(',')
        .map(str::trim)
        .filter(|u| !u.is_empty())
        .map(|u| format!("{}/contexts/{encoded}", u.trim_end_matches('/')))
        .collect::<Vec<_>>()
        .join(","))
}

/// One of Accord's structured findings as a report finding.
fn structured(i: &accord_compat::Incompatibility) -> Finding {
    Finding {
        severity: Severity::Error,
        rule: i.kind.clone(),
        path: i.path.clone(),
        version: i.version,
        direction: Some(
            match i.direction {
                accord_compat::Direction::Backward => "backward",
                accord_compat::Direction::Forward => "forward",
            }
            .to_string(),
        ),
        message: one_line(&i.message),
        line: None,
    }
}

/// The registry's verbose messages as findings. Accord's are
/// `{errorType:'KIND', path:'/fields/1', version:1, direction:'...', description:'...'}`
/// (Confluent's `{errorType:'..', description:'..', additionalInfo:'..'}` is read too);
/// the trailers `{oldSchemaVersion: N}`, `{oldSchema: '..'}` and
/// `{validateFields: .., compatibility: ..}` are context, not findings. Anything else
/// (a parse error of an invalid schema) is one `INCOMPATIBLE` finding.
pub fn findings(messages: &[String], compatible: bool) -> Vec<Finding> {
    let mut out = Vec::new();
    let mut old_version = None;
    for m in messages {
        let t = m.trim();
        if let Some(rest) = t.strip_prefix("{oldSchemaVersion:") {
            old_version = rest.trim_end_matches('}').trim().parse::<i32>().ok();
            continue;
        }
        if t.starts_with("{oldSchema:")
            || t.starts_with("{validateFields:")
            || t.starts_with("{compatibility:")
        {
            continue;
        }
        let fields = message_fields(t);
        let get = |k: &str| {
            fields
                .iter()
                .find(|(key, _)| *key == k)
                .map(|(_, v)| v.clone())
        };
        match get("errorType") {
            Some(kind) => {
                let direction = get("direction").map(|d| {
                    if d.starts_with("old schema") || d.eq_ignore_ascii_case("forward") {
                        "forward".to_string()
                    } else {
                        "backward".to_string()
                    }
                });
                let mut message = get("description").unwrap_or_default();
                if let Some(info) = get("additionalInfo").filter(|i| !i.is_empty()) {
                    message = format!("{message} ({info})");
                }
                out.push(Finding {
                    severity: Severity::Error,
                    rule: kind,
                    path: get("path").unwrap_or_default(),
                    version: get("version").and_then(|v| v.parse().ok()),
                    direction,
                    message: one_line(&message),
                    line: None,
                });
            }
            None => out.push(Finding {
                severity: Severity::Error,
                rule: "INCOMPATIBLE".into(),
                path: String::new(),
                version: None,
                direction: None,
                message: one_line(t),
                line: None,
            }),
        }
    }
    if !compatible && out.is_empty() {
        out.push(Finding {
            severity: Severity::Error,
            rule: "INCOMPATIBLE".into(),
            path: String::new(),
            version: None,
            direction: None,
            message: "the registry found the schema incompatible (it gave no reasons)".into(),
            line: None,
        });
    }
    for f in &mut out {
        if f.version.is_none() {
            f.version = old_version;
        }
    }
    out
}

/// The `key:'value'` pairs of a verbose message, for the keys we know. Values may hold
/// quotes and commas, so a value ends only where the next known key starts.
fn message_fields(m: &str) -> Vec<(&'static str, String)> {
    const KEYS: [&str; 6] = [
        "errorType",
        "path",
        "version",
        "direction",
        "description",
        "additionalInfo",
    ];
    let Some(inner) = m.strip_prefix('{').and_then(|s| s.strip_suffix('}')) else {
        return Vec::new();
    };
    let mut starts: Vec<(usize, &'static str)> = Vec::new();
    for key in KEYS {
        let head = format!("{key}:");
        if inner.starts_with(&head) {
            starts.push((0, key));
        }
        let sep = format!(", {key}:");
        let mut from = 0;
        while let Some(i) = inner[from..].find(&sep) {
            starts.push((from + i, key));
            from += i + sep.len();
        }
    }
    starts.sort();
    // Keep the first occurrence of each key, in order (a description may quote ", path:").
    let mut seen = Vec::new();
    starts.retain(|(_, k)| {
        if seen.contains(k) {
            false
        } else {
            seen.push(*k);
            true
        }
    });
    let mut out = Vec::new();
    for (n, (start, key)) in starts.iter().enumerate() {
        let value_start = if *start == 0 {
            key.len() + 1
        } else {
            start + 2 + key.len() + 1
        };
        let end = starts.get(n + 1).map_or(inner.len(), |(s, _)| *s);
        if value_start > end {
            continue;
        }
        let raw = inner[value_start..end].trim();
        let value = raw
            .strip_prefix('\'')
            .and_then(|v| v.strip_suffix('\''))
            .unwrap_or(raw);
        out.push((*key, value.to_string()));
    }
    out
}

/// Prints a report in the `--output` format.
fn emit_report(global: &Global, report: &Report) {
    report.print(global);
}

// ---------------------------------------------------------------------------------------
// register, get, subjects, versions
// ---------------------------------------------------------------------------------------

/// Register a schema under a subject (or find the version that already holds it).
/// Prints the id and version; exit 1 when the registry refuses it (409 incompatible,
/// 422 invalid).
#[derive(clap::Args, Debug)]
pub struct RegisterArgs {
    #[arg(long)]
    pub subject: String,
    /// avro, protobuf or json (default: from the file extension).
    #[arg(long)]
    pub format: Option<String>,
    /// A schema reference NAME=SUBJECT:VERSION (VERSION a number or latest); repeatable.
    #[arg(long = "reference", value_name = "NAME=SUBJECT:VERSION")]
    pub references: Vec<String>,
    /// Ask the registry to normalize the schema first.
    #[arg(long)]
    pub normalize: bool,
    pub file: PathBuf,
}

pub fn register(global: &Global, args: RegisterArgs) -> CliResult {
    let reg = Registry::connect(global)?;
    let format = format_of(&args.file, args.format.as_deref())?;
    let text = read_schema(&args.file)?;
    let registered = run(async {
        let spec = SchemaSpec {
            format: Some(format),
            schema: text,
            references: references(&reg, &args.references).await?,
            ..Default::default()
        };
        reg.client
            .register(&args.subject, &spec, args.normalize)
            .await
            .map_err(|e| reg.error(e, Some(&args.subject)))
    })?;
    let version = registered.version;
    if json_output(global) {
        print_json(&json!({
            "subject": args.subject,
            "id": registered.id,
            "version": version,
            "guid": registered.guid,
        }));
    } else {
        match version {
            Some(v) => println!("{}: version {v} (id {})", args.subject, registered.id),
            None => println!("{}: id {}", args.subject, registered.id),
        }
    }
    Ok(Outcome::Ok)
}

/// Print a registered schema (by subject and version, or by id) to stdout or a file.
#[derive(clap::Args, Debug)]
#[command(group(clap::ArgGroup::new("which").required(true).args(["subject", "id"])))]
pub struct GetArgs {
    #[arg(long)]
    pub subject: Option<String>,
    /// A version number or latest (the default).
    #[arg(long, requires = "subject")]
    pub version: Option<String>,
    /// The schema's global id.
    #[arg(long, conflicts_with = "subject")]
    pub id: Option<i32>,
    /// Write the schema text to this file instead of stdout.
    #[arg(long)]
    pub out: Option<PathBuf>,
}

pub fn get(global: &Global, args: GetArgs) -> CliResult {
    let reg = Registry::connect(global)?;
    let version = args.version.as_deref().map(parse_version).transpose()?;
    let schema: std::sync::Arc<RegisteredSchema> = run(async {
        match (&args.subject, args.id) {
            (Some(s), _) => reg
                .client
                .version(s, version.unwrap_or(-1))
                .await
                .map_err(|e| reg.error(e, Some(s))),
            (None, Some(id)) => reg
                .client
                .schema_by_id(id)
                .await
                .map_err(|e| reg.error(e, None)),
            (None, None) => Err(CliError::usage("get needs --subject or --id")),
        }
    })?;
    if let Some(out) = &args.out {
        std::fs::write(out, &schema.schema)
            .map_err(|e| CliError::usage(format!("cannot write {}: {e}", out.display())))?;
    }
    if json_output(global) {
        print_json(&schema_json(&schema));
    } else if args.out.is_none() {
        if schema.schema.ends_with('\n') {
            print!("{}", schema.schema);
        } else {
            println!("{}", schema.schema);
        }
    }
    Ok(Outcome::Ok)
}

fn schema_json(s: &RegisteredSchema) -> serde_json::Value {
    json!({
        "subject": s.subject,
        "version": s.version,
        "id": s.id,
        "guid": s.guid,
        "schemaType": s.format.as_str(),
        "references": s.references,
        "schema": s.schema,
    })
}

/// List subjects.
#[derive(clap::Args, Debug)]
pub struct SubjectsArgs {
    /// Only subjects starting with this prefix.
    #[arg(long)]
    pub prefix: Option<String>,
    /// Include soft-deleted subjects.
    #[arg(long)]
    pub deleted: bool,
}

pub fn subjects(global: &Global, args: SubjectsArgs) -> CliResult {
    let reg = Registry::connect(global)?;
    let mut query = Vec::new();
    if let Some(p) = &args.prefix {
        query.push(format!("subjectPrefix={}", encode(p)));
    }
    if args.deleted {
        query.push("deleted=true".to_string());
    }
    let path = if query.is_empty() {
        "/subjects".to_string()
    } else {
        format!("/subjects?{}", query.join("&"))
    };
    let mut list: Vec<String> =
        run(async { reg.get_json(&path).await.map_err(|e| reg.error(e, None)) })?;
    // Registries that ignore subjectPrefix (Confluent's with an unqualified prefix) still
    // get the filter.
    if let Some(p) = &args.prefix {
        list.retain(|s| s.starts_with(p.as_str()));
    }
    if json_output(global) {
        print_json(&json!(list));
    } else {
        for s in list {
            println!("{s}");
        }
    }
    Ok(Outcome::Ok)
}

/// List a subject's versions.
#[derive(clap::Args, Debug)]
pub struct VersionsArgs {
    #[arg(long)]
    pub subject: String,
    /// Include soft-deleted versions.
    #[arg(long)]
    pub deleted: bool,
}

pub fn versions(global: &Global, args: VersionsArgs) -> CliResult {
    let reg = Registry::connect(global)?;
    let mut path = format!("/subjects/{}/versions", encode(&args.subject));
    if args.deleted {
        path.push_str("?deleted=true");
    }
    let list: Vec<i32> = run(async {
        reg.get_json(&path)
            .await
            .map_err(|e| reg.error(e, Some(&args.subject)))
    })?;
    if json_output(global) {
        print_json(&json!(list));
    } else {
        for v in list {
            println!("{v}");
        }
    }
    Ok(Outcome::Ok)
}

// ---------------------------------------------------------------------------------------
// config, mode, delete
// ---------------------------------------------------------------------------------------

/// Read or set the compatibility level (of a subject, or the global one).
#[derive(clap::Args, Debug)]
pub struct ConfigArgs {
    #[command(subcommand)]
    pub action: ConfigAction,
}

#[derive(clap::Subcommand, Debug)]
pub enum ConfigAction {
    /// Print the level (a subject without its own level shows the global one).
    Get {
        #[arg(long)]
        subject: Option<String>,
    },
    /// Set the level: NONE, BACKWARD, BACKWARD_TRANSITIVE, FORWARD, FORWARD_TRANSITIVE,
    /// FULL or FULL_TRANSITIVE.
    Set {
        level: String,
        #[arg(long)]
        subject: Option<String>,
    },
}

pub fn config(global: &Global, args: ConfigArgs) -> CliResult {
    let reg = Registry::connect(global)?;
    let (subject, level, inherited) = match args.action {
        ConfigAction::Get { subject } => {
            let (level, inherited) = run(reg.effective_level(subject.as_deref()))?;
            (subject, level, inherited)
        }
        ConfigAction::Set { level, subject } => {
            let level: CompatibilityLevel = level.parse().map_err(|_| {
                CliError::usage(format!(
                    "invalid level '{level}' (expected NONE, BACKWARD, BACKWARD_TRANSITIVE, FORWARD, FORWARD_TRANSITIVE, FULL or FULL_TRANSITIVE)"
                ))
            })?;
            let after = run(async {
                reg.client
                    .set_config(subject.as_deref(), &CompatibilityConfig::level(level))
                    .await
                    .map_err(|e| reg.error(e, subject.as_deref()))
            })?;
            (subject, after.compatibility_level.unwrap_or(level), false)
        }
    };
    if json_output(global) {
        print_json(&json!({
            "subject": subject,
            "compatibilityLevel": level.as_str(),
            "inherited": inherited,
        }));
    } else if inherited {
        println!("{level} (global)");
    } else {
        println!("{level}");
    }
    Ok(Outcome::Ok)
}

/// Read or set the mode (of a subject, or the global one).
#[derive(clap::Args, Debug)]
pub struct ModeArgs {
    #[command(subcommand)]
    pub action: ModeAction,
}

#[derive(clap::Subcommand, Debug)]
pub enum ModeAction {
    /// Print the mode (a subject without its own mode shows the global one).
    Get {
        #[arg(long)]
        subject: Option<String>,
    },
    /// Set the mode: READWRITE, READONLY, READONLY_OVERRIDE, IMPORT or FORWARD.
    Set {
        mode: String,
        #[arg(long)]
        subject: Option<String>,
        /// Allow IMPORT although subjects exist.
        #[arg(long)]
        force: bool,
    },
}

const MODES: [&str; 5] = [
    "READWRITE",
    "READONLY",
    "READONLY_OVERRIDE",
    "IMPORT",
    "FORWARD",
];

pub fn mode(global: &Global, args: ModeArgs) -> CliResult {
    let reg = Registry::connect(global)?;
    let (subject, mode, inherited) = match args.action {
        ModeAction::Get { subject } => run(async {
            if let Some(s) = subject.as_deref() {
                match reg.client.mode(Some(s)).await {
                    Ok(m) => return Ok((subject.clone(), m, false)),
                    Err(e) if matches!(e.error_code(), Some(40401 | 40409)) => {}
                    Err(e) => return Err(reg.error(e, Some(s))),
                }
            }
            let m = reg
                .client
                .mode(None)
                .await
                .map_err(|e| reg.error(e, None))?;
            Ok((subject.clone(), m, subject.is_some()))
        })?,
        ModeAction::Set {
            mode,
            subject,
            force,
        } => {
            let upper = mode.trim().to_ascii_uppercase();
            if !MODES.contains(&upper.as_str()) {
                return Err(CliError::usage(format!(
                    "invalid mode '{mode}' (expected {})",
                    MODES.join(", ")
                )));
            }
            let set = run(async {
                reg.client
                    .set_mode(subject.as_deref(), &upper, force)
                    .await
                    .map_err(|e| reg.error(e, subject.as_deref()))
            })?;
            (subject, set, false)
        }
    };
    if json_output(global) {
        print_json(&json!({"subject": subject, "mode": mode, "inherited": inherited}));
    } else if inherited {
        println!("{mode} (global)");
    } else {
        println!("{mode}");
    }
    Ok(Outcome::Ok)
}

/// Delete a subject or one version: soft by default. With --permanent, whatever is not
/// yet soft-deleted is soft-deleted first (the registry allows a permanent delete only
/// after a soft one), then removed for good.
#[derive(clap::Args, Debug)]
pub struct DeleteArgs {
    #[arg(long)]
    pub subject: String,
    /// One version (a number or latest); without it, the whole subject.
    #[arg(long)]
    pub version: Option<String>,
    /// Remove for good (soft-deleting first when needed).
    #[arg(long)]
    pub permanent: bool,
    /// Soft-delete even what others read recently (the registry refuses it otherwise,
    /// naming the readers; `--usage-protect-days`).
    #[arg(long)]
    pub force: bool,
}

/// A soft delete of one version (`-1`: the latest) or of the whole subject: the versions
/// deleted. With `force`, `force=true` goes past the registry's deletion guard (the
/// accord-client has no such parameter: Confluent has no guard).
async fn soft_delete(
    reg: &Registry,
    subject: &str,
    version: Option<i32>,
    force: bool,
) -> Result<Vec<i32>, ClientError> {
    if !force {
        return match version {
            Some(v) => reg
                .client
                .delete_version(subject, v, false)
                .await
                .map(|n| vec![n]),
            None => reg.client.delete_subject(subject, false).await,
        };
    }
    let path = match version {
        Some(v) => format!("/subjects/{}/versions/{v}?force=true", encode(subject)),
        None => format!("/subjects/{}?force=true", encode(subject)),
    };
    let body = reg
        .send(
            reqwest::Method::DELETE,
            &path,
            "application/vnd.schemaregistry.v1+json, application/json",
            None,
        )
        .await?;
    let bad = |e: serde_json::Error| {
        ClientError::BadResponse(format!(
            "DELETE {path}: the answer is not the expected JSON: {e}"
        ))
    };
    match version {
        Some(_) => serde_json::from_slice::<i32>(&body)
            .map(|v| vec![v])
            .map_err(bad),
        None => serde_json::from_slice::<Vec<i32>>(&body).map_err(bad),
    }
}

pub fn delete(global: &Global, args: DeleteArgs) -> CliResult {
    let reg = Registry::connect(global)?;
    let version = args.version.as_deref().map(parse_version).transpose()?;
    let subject = args.subject.as_str();
    let deleted: Vec<i32> = run(async {
        let fail = |e| reg.error(e, Some(subject));
        let force = args.force;
        match version {
            Some(v) => {
                let mut v = v;
                if args.permanent {
                    if v == -1 {
                        // "latest" of live versions: soft-delete it, then remove that number.
                        v = soft_delete(&reg, subject, Some(-1), force)
                            .await
                            .map_err(fail)?[0];
                    } else {
                        match soft_delete(&reg, subject, Some(v), force).await {
                            Ok(_) => {}
                            Err(e) if e.error_code() == Some(40406) => {}
                            Err(e) => return Err(fail(e)),
                        }
                    }
                    reg.client
                        .delete_version(subject, v, true)
                        .await
                        .map_err(fail)?;
                    Ok(vec![v])
                } else {
                    soft_delete(&reg, subject, Some(v), force)
                        .await
                        .map_err(fail)
                }
            }
            None => {
                if args.permanent {
                    match soft_delete(&reg, subject, None, force).await {
                        Ok(_) => {}
                        Err(e) if e.error_code() == Some(40404) => {}
                        Err(e) => return Err(fail(e)),
                    }
                    reg.client.delete_subject(subject, true).await.map_err(fail)
                } else {
                    soft_delete(&reg, subject, None, force).await.map_err(fail)
                }
            }
        }
    })?;
    if json_output(global) {
        print_json(&json!({"subject": subject, "versions": deleted, "permanent": args.permanent}));
    } else {
        let list: Vec<String> = deleted.iter().map(i32::to_string).collect();
        let how = if args.permanent {
            "permanently"
        } else {
            "soft"
        };
        println!("{subject}: deleted version(s) {} ({how})", list.join(", "));
    }
    Ok(Outcome::Ok)
}

// ---------------------------------------------------------------------------------------
// Repository mode: check without FILE, push
// ---------------------------------------------------------------------------------------

/// The manifest, or a usage error saying how to give one.
fn manifest(global: &Global) -> Result<Manifest, CliError> {
    Manifest::find(global)?.ok_or_else(|| {
        CliError::usage(format!(
            "no {} found here or above (give --manifest, or a FILE with --subject)",
            crate::manifest::FILE_NAME
        ))
    })
}

/// An entry's schema as registered: its text and its direct references, each pointing
/// at the referenced entry's subject and the version `version_of` gives.
fn entry_spec(
    m: &Manifest,
    entry: &Entry,
    version_of: &dyn Fn(&Entry) -> Option<i32>,
) -> Result<SchemaSpec, CliError> {
    let text = m.read_worktree(&entry.file)?;
    let mut references = Vec::new();
    for (name, dep) in m.references_of(entry) {
        let version = version_of(dep).ok_or_else(|| {
            CliError::usage(format!(
                "{}: its reference {name} ({}) is not registered under '{}' yet (run accord push)",
                entry.file.display(),
                dep.file.display(),
                dep.subject
            ))
        })?;
        references.push(SchemaReference {
            name: name.to_string(),
            subject: dep.subject.clone(),
            version,
        });
    }
    Ok(SchemaSpec {
        format: Some(entry.format),
        schema: text,
        references,
        ..Default::default()
    })
}

/// `check` without FILE: every manifest schema against its subject, references
/// resolved to the latest registered version of the referenced entry's subject.
async fn check_manifest(reg: &Registry, global: &Global) -> Result<Vec<Check>, CliError> {
    let m = manifest(global)?;
    // The latest registered version of each referenced subject.
    let mut latest: HashMap<String, Option<i32>> = HashMap::new();
    for entry in &m.schemas {
        for (_, dep) in m.references_of(entry) {
            if latest.contains_key(&dep.subject) {
                continue;
            }
            let v = match reg.client.latest(&dep.subject).await {
                Ok(s) => s.version,
                Err(e) if e.is_not_found() => None,
                Err(e) => return Err(reg.error(e, Some(&dep.subject))),
            };
            latest.insert(dep.subject.clone(), v);
        }
    }
    let mut checks = Vec::with_capacity(m.schemas.len());
    for entry in m.push_order() {
        let spec = entry_spec(&m, entry, &|dep| {
            latest.get(&dep.subject).copied().flatten()
        })?;
        checks.push(check_one(reg, &entry.subject, &entry.file, &spec).await?);
    }
    Ok(checks)
}

/// Register every schema of the manifest under its subject, references first; a schema
/// already registered is left as is. Stops at the first one the registry refuses.
#[derive(clap::Args, Debug)]
pub struct PushArgs {
    /// Show what would be registered without registering anything.
    #[arg(long)]
    pub dry_run: bool,
}

pub fn push(global: &Global, args: PushArgs) -> CliResult {
    let m = manifest(global)?;
    let reg = Registry::connect(global)?;
    let order = m.push_order();
    let mut rows: Vec<serde_json::Value> = Vec::new();
    let json = json_output(global);
    let outcome = run(async {
        // Versions of entries registered (or found) in this run, by file.
        let mut versions: HashMap<PathBuf, i32> = HashMap::new();
        // Dry run: entries that would be registered (their dependents would be too).
        let mut pending: Vec<&Path> = Vec::new();
        for (n, entry) in order.iter().enumerate() {
            let subject = entry.subject.as_str();
            if args.dry_run
                && m.references_of(entry)
                    .iter()
                    .any(|(_, d)| pending.contains(&d.file.as_path()))
            {
                pending.push(&entry.file);
                report_row(
                    &mut rows,
                    json,
                    subject,
                    entry,
                    None,
                    None,
                    "would-register",
                );
                continue;
            }
            let spec = entry_spec(&m, entry, &|dep| versions.get(&dep.file).copied())?;
            let found = match reg.client.lookup(subject, &spec, false).await {
                Ok(s) => Some(s),
                Err(e) if e.is_not_found() => None,
                Err(e) => return Err(reg.error(e, Some(subject))),
            };
            let (schema, status) = match found {
                Some(s) => (Some(s), "unchanged"),
                None if args.dry_run => (None, "would-register"),
                None => match reg.client.register(subject, &spec, false).await {
                    Ok(s) => (Some(s), "new"),
                    Err(e) => {
                        let e = reg.error(e, Some(subject));
                        if let CliError::Refused(why) = &e {
                            let rest: Vec<String> =
                                order[n + 1..].iter().map(|e| e.subject.clone()).collect();
                            eprintln!(
                                "accord: {}: {why}{}",
                                entry.file.display(),
                                if rest.is_empty() {
                                    String::new()
                                } else {
                                    format!(" (not pushed: {})", rest.join(", "))
                                }
                            );
                            return Ok(Outcome::Failed);
                        }
                        return Err(e);
                    }
                },
            };
            let version = schema.as_ref().and_then(|s| s.version);
            let id = schema.as_ref().map(|s| s.id);
            match version {
                Some(v) => {
                    versions.insert(entry.file.clone(), v);
                }
                None => pending.push(&entry.file),
            }
            report_row(&mut rows, json, subject, entry, version, id, status);
        }
        Ok(Outcome::Ok)
    })?;
    if json {
        print_json(&serde_json::Value::Array(rows));
    }
    Ok(outcome)
}

/// One `push` line: printed at once in text, collected for the JSON array.
fn report_row(
    rows: &mut Vec<serde_json::Value>,
    json: bool,
    subject: &str,
    entry: &Entry,
    version: Option<i32>,
    id: Option<i32>,
    status: &str,
) {
    if json {
        rows.push(json!({
            "subject": subject,
            "file": entry.file,
            "version": version,
            "id": id,
            "status": status,
        }));
    } else {
        match (version, id) {
            (Some(v), Some(i)) => println!("{subject}: version {v} (id {i}) [{status}]"),
            _ => println!("{subject}: {} [{status}]", entry.file.display()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_checked_level_is_read_from_the_verbose_messages() {
        let failed = vec![
            "{errorType:'READER_FIELD_MISSING_DEFAULT_VALUE', description:'The field 'age' at path '/fields/1' in the new schema has no default value and is missing in the old schema', additionalInfo:'age'}".to_string(),
            "{oldSchemaVersion: 1}".to_string(),
            "{oldSchema: '{\"type\":\"record\"}'}".to_string(),
            "{validateFields: 'false', compatibility: 'FULL_TRANSITIVE'}".to_string(),
        ];
        assert_eq!(
            level_checked(&failed),
            Some(CompatibilityLevel::FullTransitive)
        );
        let older = vec!["{compatibility: 'BACKWARD'}".to_string()];
        assert_eq!(level_checked(&older), Some(CompatibilityLevel::Backward));
        assert_eq!(level_checked(&[]), None);
        let unnamed = vec!["{oldSchemaVersion: 1}".to_string()];
        assert_eq!(level_checked(&unnamed), None);
    }

    #[test]
    fn segments_encode_and_credentials_decode() {
        assert_eq!(encode("orders-value"), "orders-value");
        assert_eq!(encode("a/b c:d"), "a%2Fb%20c%3Ad");
        assert_eq!(encode(":.ctx:sub_j.~"), "%3A.ctx%3Asub_j.~");
        assert_eq!(encode("é%"), "%C3%A9%25");
        assert_eq!(percent_decode("p%40ss%3Aword"), "p@ss:word");
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(percent_decode("%zz%4"), "%zz%4");
    }
}
