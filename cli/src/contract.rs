//! `accord contract apply FILE` and `accord contract get STREAM`: a stream's data
//! contract (ODCS v3.1, YAML or JSON) applied GitOps style through `/v1/streams`.
//!
//! The file is read and checked locally first (the same model and validation the server
//! runs), so a broken contract fails without a registry; the server validates again and
//! its 422 lists every problem, printed one per line (exit 1).

use crate::exit::{CliError, CliResult, Outcome};
use crate::online::{encode, run, Registry};
use crate::Global;
use accord_client::ClientError;
use accord_contracts::Contract;
use std::path::PathBuf;

#[derive(clap::Args, Debug)]
pub struct ContractArgs {
    #[command(subcommand)]
    pub command: ContractCommand,
}

#[derive(clap::Subcommand, Debug)]
pub enum ContractCommand {
    /// Create or update a stream's contract from an ODCS file (idempotent).
    Apply(ApplyArgs),
    /// Print a stream's contract (the latest, or --version N).
    Get(GetArgs),
}

#[derive(clap::Args, Debug)]
pub struct ApplyArgs {
    /// The ODCS contract, YAML (`.yaml`/`.yml`) or JSON (`.json`).
    pub file: PathBuf,
    /// The stream; by default the contract's `accord.stream` name.
    #[arg(long)]
    pub stream: Option<String>,
}

#[derive(clap::Args, Debug)]
pub struct GetArgs {
    pub stream: String,
    /// A contract version (default: the latest).
    #[arg(long)]
    pub version: Option<u32>,
    /// Output format of the document.
    #[arg(long, value_enum, default_value_t = DocFormat::Yaml)]
    pub format: DocFormat,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum DocFormat {
    Yaml,
    Json,
}

pub fn contract(global: &Global, args: ContractArgs) -> CliResult {
    match args.command {
        ContractCommand::Apply(a) => apply(global, a),
        ContractCommand::Get(a) => get(global, a),
    }
}

/// The problems of a 422 from the contract endpoint, one per line (the server puts one
/// per line under a header line).
fn refused(reg: &Registry, e: ClientError, stream: &str) -> CliError {
    match e {
        ClientError::Registry {
            status: 422,
            message,
            ..
        } => {
            let problems: Vec<&str> = message.lines().skip(1).collect();
            let list = if problems.is_empty() {
                message.clone()
            } else {
                problems.join("\n")
            };
            CliError::Refused(format!(
                "the registry refused the contract of stream '{stream}':\n{list}"
            ))
        }
        other => reg.error(other, None),
    }
}

fn apply(global: &Global, args: ApplyArgs) -> CliResult {
    let text = std::fs::read_to_string(&args.file)
        .map_err(|e| CliError::usage(format!("cannot read {}: {e}", args.file.display())))?;
    let is_json = args
        .file
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("json"));
    let parsed = if is_json {
        Contract::from_json(&text)
    } else {
        Contract::from_yaml(&text)
    };
    let problems = |e: accord_contracts::ContractErrors| {
        let lines: Vec<String> = e.problems().iter().map(ToString::to_string).collect();
        CliError::Refused(format!(
            "{} is not a valid contract:\n{}",
            args.file.display(),
            lines.join("\n")
        ))
    };
    let contract = parsed.map_err(problems)?;
    contract.validate().map_err(problems)?;
    let stream = match (&args.stream, contract.stream()) {
        (Some(s), _) => s.clone(),
        (None, Some(b)) => b.name.clone(),
        (None, None) => {
            return Err(CliError::usage(format!(
                "{} names no stream (customProperties accord.stream): give --stream",
                args.file.display()
            )))
        }
    };
    let reg = Registry::connect(global)?;
    let content_type = if is_json {
        "application/json"
    } else {
        "application/yaml"
    };
    let body = run(async {
        reg.send(
            reqwest::Method::PUT,
            &format!("/v1/streams/{}/contract", encode(&stream)),
            "application/json",
            Some((content_type, text.into_bytes())),
        )
        .await
        .map_err(|e| refused(&reg, e, &stream))
    })?;
    let answer: serde_json::Value = serde_json::from_slice(&body)
        .map_err(|e| CliError::Unreachable(format!("unexpected answer from the registry: {e}")))?;
    let version = answer["version"].as_i64().unwrap_or(0);
    let changed = answer["changed"].as_bool().unwrap_or(false);
    println!(
        "stream {stream}: contract version {version} ({})",
        if changed { "changed" } else { "unchanged" }
    );
    Ok(Outcome::Ok)
}

fn get(global: &Global, args: GetArgs) -> CliResult {
    let reg = Registry::connect(global)?;
    let mut path = format!("/v1/streams/{}/contract", encode(&args.stream));
    if let Some(v) = args.version {
        path.push_str(&format!("?version={v}"));
    }
    let accept = match args.format {
        DocFormat::Yaml => "application/yaml",
        DocFormat::Json => "application/json",
    };
    let body = run(async {
        reg.send(reqwest::Method::GET, &path, accept, None)
            .await
            .map_err(|e| reg.error(e, None))
    })?;
    let text = String::from_utf8_lossy(&body);
    if text.ends_with('\n') {
        print!("{text}");
    } else {
        println!("{text}");
    }
    Ok(Outcome::Ok)
}
