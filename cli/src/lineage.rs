//! `accord lineage export STREAM`: the lineage graph around a stream (issue 19), from the
//! registry's `GET /v1/lineage` (`--format json`) or as OpenLineage events from
//! `GET /v1/lineage/openlineage` (`--format openlineage`, one event per line, ready to be
//! posted one by one to Marquez's or DataHub's OpenLineage endpoint).

use crate::exit::{CliError, CliResult, Outcome};
use crate::online::{encode, run, Registry};
use crate::Global;
use serde_json::Value;

#[derive(clap::Args, Debug)]
pub struct LineageArgs {
    #[command(subcommand)]
    pub command: LineageCommand,
}

#[derive(clap::Subcommand, Debug)]
pub enum LineageCommand {
    /// Print the graph around STREAM: services that consume a stream and produce another
    /// link the two.
    Export(ExportArgs),
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum LineageFormat {
    /// Accord's graph: nodes (streams, services) and edges, as one JSON document.
    Json,
    /// OpenLineage 2-0-2 events, one JSON object per line: a DatasetEvent per stream, a
    /// JobEvent per service.
    Openlineage,
}

#[derive(clap::Args, Debug)]
pub struct ExportArgs {
    /// The stream to start from.
    pub stream: String,
    /// Hops each way, 1 to 6.
    #[arg(long, default_value_t = 2)]
    pub depth: u32,
    /// up, down or both.
    #[arg(long, default_value = "both")]
    pub direction: String,
    #[arg(long, value_enum, default_value = "openlineage")]
    pub format: LineageFormat,
    /// The OpenLineage namespace of datasets and jobs (e.g. kafka://broker:9092).
    #[arg(long, default_value = "accord")]
    pub namespace: String,
}

pub fn lineage(global: &Global, args: LineageArgs) -> CliResult {
    let LineageCommand::Export(args) = args.command;
    let reg = Registry::connect(global)?;
    let query = format!(
        "stream={}&depth={}&direction={}",
        encode(&args.stream),
        args.depth,
        encode(&args.direction)
    );
    let path = match args.format {
        LineageFormat::Json => format!("/v1/lineage?{query}"),
        LineageFormat::Openlineage => format!(
            "/v1/lineage/openlineage?{query}&namespace={}",
            encode(&args.namespace)
        ),
    };
    let doc: Value = run(async { reg.get_json(&path).await.map_err(|e| reg.error(e, None)) })?;
    print!("{}", render(args.format, &doc)?);
    Ok(Outcome::Ok)
}

fn render(format: LineageFormat, doc: &Value) -> Result<String, CliError> {
    match format {
        LineageFormat::Json => Ok(format!(
            "{}\n",
            serde_json::to_string_pretty(doc).unwrap_or_else(|_| doc.to_string())
        )),
        LineageFormat::Openlineage => {
            let events = doc.as_array().ok_or_else(|| {
                CliError::Usage(format!("the registry answered no list of events: {doc}"))
            })?;
            Ok(events.iter().map(|e| format!("{e}\n")).collect())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn openlineage_is_one_event_per_line() {
        let doc = json!([{"eventTime": "t", "job": {"name": "a"}}, {"eventTime": "t"}]);
        let out = render(LineageFormat::Openlineage, &doc).unwrap();
        assert_eq!(out.lines().count(), 2);
        for line in out.lines() {
            serde_json::from_str::<Value>(line).unwrap();
        }
        assert!(render(LineageFormat::Openlineage, &json!({})).is_err());
    }
}
