//! `accord usage STREAM`: who really reads and registers a stream's schemas (issue 18),
//! from the registry's `GET /v1/streams/{name}/usage`.

use crate::exit::{CliError, CliResult, Outcome};
use crate::online::{encode, run, Registry};
use crate::report::OutputFormat;
use crate::Global;
use serde_json::Value;

#[derive(clap::Args, Debug)]
pub struct UsageArgs {
    /// The stream.
    pub stream: String,
    /// The window: days (`30`, `30d`) or hours (`12h`).
    #[arg(long, default_value = "30")]
    pub days: String,
    /// Also list the versions registered before this window and read by nobody within
    /// it (`90d`): cleanup candidates.
    #[arg(long)]
    pub unused_for: Option<String>,
}

pub fn usage(global: &Global, args: UsageArgs) -> CliResult {
    let reg = Registry::connect(global)?;
    let mut path = format!(
        "/v1/streams/{}/usage?days={}",
        encode(&args.stream),
        encode(&args.days)
    );
    if let Some(u) = &args.unused_for {
        path.push_str(&format!("&unused-for={}", encode(u)));
    }
    let usage: Value = run(async { reg.get_json(&path).await.map_err(|e| reg.error(e, None)) })?;
    if global.output == OutputFormat::Json {
        println!(
            "{}",
            serde_json::to_string_pretty(&usage).unwrap_or_else(|_| usage.to_string())
        );
        return Ok(Outcome::Ok);
    }
    print!("{}", render(&usage));
    Ok(Outcome::Ok)
}

fn list(v: &Value) -> &[Value] {
    v.as_array().map(Vec::as_slice).unwrap_or(&[])
}

fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "-".to_string(),
        other => other.to_string(),
    }
}

/// The human form: readers (declared or not), writers, refused attempts, per version.
fn render(u: &Value) -> String {
    let mut out = format!(
        "stream {}: usage over the last {} day(s)\n",
        text(&u["stream"]),
        text(&u["days"])
    );
    let people = |title: &str, rows: &[Value], out: &mut String| {
        out.push_str(&format!("\n{title} ({}):\n", rows.len()));
        for r in rows {
            let flag = match (r["declared"].as_bool(), r["admin"].as_bool()) {
                (_, Some(true)) => "  admin",
                (Some(false), _) => "  UNDECLARED",
                (Some(true), _) => "  declared",
                _ => "",
            };
            out.push_str(&format!(
                "  {:<24} team {:<14} {:>8} request(s)  last {}{flag}\n",
                text(&r["principal"]),
                text(&r["team"]),
                text(&r["requests"]),
                text(&r["lastSeen"]),
            ));
        }
    };
    people("readers", list(&u["readers"]), &mut out);
    people("writers", list(&u["writers"]), &mut out);
    people("refused reads", list(&u["refused"]), &mut out);
    let undeclared = list(&u["undeclared"]);
    if !undeclared.is_empty() {
        let names: Vec<String> = undeclared.iter().map(text).collect();
        out.push_str(&format!(
            "\nundeclared consumers: {} (invite them to register as consumers)\n",
            names.join(", ")
        ));
    }
    out.push_str("\nversions:\n");
    for v in list(&u["versions"]) {
        let readers: Vec<String> = list(&v["readers"])
            .iter()
            .map(|r| text(&r["principal"]))
            .collect();
        out.push_str(&format!(
            "  {} v{} (id {}){}: {} read(s), last {}{}\n",
            text(&v["subject"]),
            text(&v["version"]),
            text(&v["id"]),
            if v["deleted"] == true { " deleted" } else { "" },
            text(&v["requests"]),
            text(&v["lastRead"]),
            if readers.is_empty() {
                String::new()
            } else {
                format!(" by {}", readers.join(", "))
            }
        ));
    }
    if let Some(unused) = u["unused"].as_array() {
        out.push_str(&format!(
            "\nunused (cleanup candidates, {}):\n",
            unused.len()
        ));
        for v in unused {
            out.push_str(&format!(
                "  {} v{} (id {}), registered {}\n",
                text(&v["subject"]),
                text(&v["version"]),
                text(&v["id"]),
                text(&v["registered"])
            ));
        }
    }
    out
}

/// `--impact` of `check` and `diff`: for each subject whose change is incompatible, the
/// teams it would affect: its stream's declared consumers and the readers the registry
/// saw in the last 30 days (declared or not). On stdout after a text report, on stderr
/// after a JSON one (which stays one document).
pub fn print_impact(global: &Global, failed: &[String]) -> Result<(), CliError> {
    let out = |s: &str| match global.output {
        OutputFormat::Json => eprint!("{s}"),
        _ => print!("{s}"),
    };
    if failed.is_empty() {
        out("\nimpact: no incompatible change, no consumer affected\n");
        return Ok(());
    }
    let reg = Registry::connect(global)?;
    let report = run(async {
        let mut report = String::new();
        for subject in failed {
            let streams: Value = reg
                .get_json(&format!("/v1/streams?subject={}", encode(subject)))
                .await
                .map_err(|e| reg.error(e, None))?;
            let stream = list(&streams)
                .iter()
                .find(|s| {
                    s["keySubject"] == subject.as_str() || s["valueSubject"] == subject.as_str()
                })
                .and_then(|s| s["name"].as_str());
            let Some(stream) = stream else {
                report.push_str(&format!(
                    "\nimpact of {subject}: no stream holds it, so no declared consumers; its readers are not known\n"
                ));
                continue;
            };
            let name = encode(stream);
            let consumers = Value::Array(
                reg.get_all(&format!("/v1/streams/{name}/consumers"), |c| {
                    c["service"].as_str().map(str::to_string)
                })
                .await
                .map_err(|e| reg.error(e, None))?,
            );
            let usage: Value = reg
                .get_json(&format!("/v1/streams/{name}/usage?days=30"))
                .await
                .map_err(|e| reg.error(e, None))?;
            report.push_str(&impact_text(subject, stream, &consumers, &usage));
        }
        Ok(report)
    })?;
    out(&report);
    Ok(())
}

fn impact_text(subject: &str, stream: &str, consumers: &Value, usage: &Value) -> String {
    let mut teams = std::collections::BTreeSet::new();
    let mut out = format!("\nimpact of {subject} (stream {stream}):\n");
    let declared: Vec<String> = list(consumers)
        .iter()
        .filter(|c| c["status"] == "active")
        .map(|c| {
            teams.insert(text(&c["team"]));
            format!("{} (team {})", text(&c["service"]), text(&c["team"]))
        })
        .collect();
    out.push_str(&format!(
        "  declared consumers: {}\n",
        if declared.is_empty() {
            "none".to_string()
        } else {
            declared.join(", ")
        }
    ));
    let seen: Vec<String> = list(&usage["readers"])
        .iter()
        .map(|r| {
            if let Some(t) = r["team"].as_str() {
                teams.insert(t.to_string());
            }
            format!(
                "{} (team {}, last seen {}{})",
                text(&r["principal"]),
                text(&r["team"]),
                text(&r["lastSeen"]),
                if r["declared"] == false && r["admin"] != true {
                    ", UNDECLARED"
                } else {
                    ""
                }
            )
        })
        .collect();
    out.push_str(&format!(
        "  readers seen in the last 30 days: {}\n",
        if seen.is_empty() {
            "none".to_string()
        } else {
            seen.join(", ")
        }
    ));
    let teams: Vec<String> = teams.into_iter().collect();
    out.push_str(&format!(
        "  teams affected: {}\n",
        if teams.is_empty() {
            "none known".to_string()
        } else {
            teams.join(", ")
        }
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn renders_flags_and_versions() {
        let u = json!({
            "stream": "orders", "days": 30,
            "readers": [
                {"principal": "bi-svc", "team": "analytics", "declared": true, "requests": 4, "lastSeen": "2026-12-06T10:00:00.000Z"},
                {"principal": "fraud-svc", "team": "fraud", "declared": false, "requests": 2, "lastSeen": "2026-12-06T11:00:00.000Z"}
            ],
            "undeclared": ["fraud-svc"], "writers": [], "refused": [],
            "versions": [{"subject": "orders-value", "version": 1, "id": 7, "deleted": false, "requests": 6,
                          "lastRead": "2026-12-06T11:00:00.000Z", "readers": [{"principal": "bi-svc"}, {"principal": "fraud-svc"}]}],
            "unused": []
        });
        let out = render(&u);
        assert!(
            out.contains("fraud-svc") && out.contains("UNDECLARED"),
            "{out}"
        );
        assert!(out.contains("undeclared consumers: fraud-svc"), "{out}");
        assert!(out.contains("orders-value v1 (id 7): 6 read(s)"), "{out}");
        assert!(out.contains("by bi-svc, fraud-svc"), "{out}");
        assert!(out.contains("unused (cleanup candidates, 0)"), "{out}");
        let impact = impact_text(
            "orders-value",
            "orders",
            &json!([{"service": "bi-svc", "team": "analytics", "status": "active"},
                    {"service": "old", "team": "gone", "status": "rejected"}]),
            &u,
        );
        assert!(
            impact.contains("declared consumers: bi-svc (team analytics)\n"),
            "{impact}"
        );
        assert!(
            impact
                .contains("fraud-svc (team fraud, last seen 2026-12-06T11:00:00.000Z, UNDECLARED)"),
            "{impact}"
        );
        assert!(
            impact.contains("teams affected: analytics, fraud\n"),
            "{impact}"
        );
    }
}
