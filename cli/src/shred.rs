//! `accord shred --stream S (--entity E | --all-entities)`: crypto-shredding through
//! `/v1/streams/{stream}/entities/shred` with `{"entity": E}` (one entity's keys; the
//! entity goes in the body, never the URL, so proxy and access logs do not record it) or
//! `/v1/streams/{stream}/shred` (every key of the stream). Irrevocable, so the command
//! asks for `--yes`; it prints the server's receipt (as JSON with `--output json`).

use crate::exit::{CliError, CliResult, Outcome};
use crate::online::{encode, run, Registry};
use crate::report::OutputFormat;
use crate::Global;

#[derive(clap::Args, Debug)]
pub struct ShredArgs {
    /// The stream whose keys are destroyed.
    #[arg(long)]
    pub stream: String,
    /// The entity (the value of the contract's `entityKeyField`) whose keys are destroyed.
    #[arg(
        long,
        conflicts_with = "all_entities",
        required_unless_present = "all_entities"
    )]
    pub entity: Option<String>,
    /// Destroy every key of the stream (its stream DEKs and every entity's).
    #[arg(long)]
    pub all_entities: bool,
    /// Confirm: the data encrypted under these keys becomes unreadable for good.
    #[arg(long)]
    pub yes: bool,
}

pub fn shred(global: &Global, args: ShredArgs) -> CliResult {
    let what = match &args.entity {
        Some(e) => format!("entity '{e}' of stream '{}'", args.stream),
        None => format!("every key of stream '{}'", args.stream),
    };
    if !args.yes {
        return Err(CliError::usage(format!(
            "shredding {what} cannot be undone: add --yes to confirm"
        )));
    }
    let (path, body) = match &args.entity {
        Some(e) => (
            format!("/v1/streams/{}/entities/shred", encode(&args.stream)),
            serde_json::json!({ "entity": e }).to_string().into_bytes(),
        ),
        None => (
            format!("/v1/streams/{}/shred", encode(&args.stream)),
            b"{}".to_vec(),
        ),
    };
    let reg = Registry::connect(global)?;
    let body = run(async {
        reg.send(
            reqwest::Method::POST,
            &path,
            "application/json",
            Some(("application/json", body)),
        )
        .await
        .map_err(|e| reg.error(e, None))
    })?;
    let receipt: serde_json::Value = serde_json::from_slice(&body)
        .map_err(|e| CliError::Unreachable(format!("unexpected answer from the registry: {e}")))?;
    if global.output == OutputFormat::Json {
        println!("{receipt}");
    } else {
        let n = receipt["deksDestroyed"].as_i64().unwrap_or(0);
        let again = receipt["alreadyShredded"].as_bool().unwrap_or(false);
        println!(
            "shredded {what}: {n} key(s) destroyed{}",
            if again {
                " (already shredded before)"
            } else {
                ""
            }
        );
    }
    Ok(Outcome::Ok)
}
