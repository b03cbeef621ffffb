//! A breaking-change proposal (`/ui/proposals/{id}`): the candidate schema, the
//! compatibility report it was opened with, the impacted consumers with each team's
//! decision and comment, and what happens next (the JSON API calls that decide it).

use super::schema_view;
use super::{page, seg, stream_url, team_url, when, PageResult};
use crate::api::{PathParams, State};
use crate::auth::Actor;
use crate::error::ApiError;
use crate::proposals::Proposal;
use accord_compat::SchemaFormat;
use maud::{html, Markup, PreEscaped};
use serde_json::Value;
use std::str::FromStr;

pub async fn proposal_page(
    state: State,
    actor: Actor,
    PathParams(id): PathParams<String>,
) -> PageResult {
    let p = crate::proposals::get(&state.registry, &id).await?;
    // The candidate is a schema of the stream: shown only to who may read its schemas.
    let readable = match crate::governance::check_subject_read(
        &state.registry.store,
        &actor,
        &p.subject,
    )
    .await
    {
        Ok(()) => true,
        Err(ApiError::Forbidden(_)) => false,
        Err(e) => return Err(e.into()),
    };
    let title = format!("Proposal #{} on {}", p.id, p.stream);
    let content = html! {
        nav.crumbs aria-label="Breadcrumb" {
            a href="/ui" { "Catalog" } " / " a href=(stream_url(&p.stream)) { (p.stream) } " / " span { "Proposal #" (p.id) }
        }
        h1 { "Proposal #" (p.id) " " span.badge #proposal-status { (p.status) } }
        p {
            "A breaking change to " code { (p.subject) } " of stream "
            a href=(stream_url(&p.stream)) { (p.stream) } ", opened by " (p.opened_by) " on " (when(p.opened_at)) "."
            @if let Some(at) = p.decided_at { " Decided on " (when(at)) "." }
        }
        @if let Some(r) = &p.reason { p { "Reason given: " (r) } }
        @if let Some(s) = &p.successor_stream {
            p { "Released as the successor stream " a href=(stream_url(s)) { (s) } "." }
        }
        @if readable { (report_section(&p.report)) }
        (consumers_section(&p))
        h2 { "Candidate schema" }
        @if readable {
            (candidate_block(&p.schema))
        } @else {
            p.empty { "This stream's contract restricts who may read its schemas; ask its owning team for access." }
        }
        @if p.status == "open" {
            h2 { "What happens next" }
            p {
                "Each impacted consumer's team approves or rejects with "
                code { "POST /v1/proposals/" (p.id) "/reviews" } ". When all have approved, the owning team releases it with "
                code { "POST /v1/proposals/" (p.id) "/release" } " (or forces it with a written reason)."
            }
        }
        p.meta { "As JSON: " a href={ "/v1/proposals/" (seg(&p.id.to_string())) } { "/v1/proposals/" (p.id) } }
    };
    Ok(page(&title, &actor, content))
}

fn report_section(report: &Value) -> Markup {
    let level = report
        .get("compatibilityLevel")
        .and_then(Value::as_str)
        .unwrap_or("the contract's level");
    let messages: Vec<&str> = report
        .get("messages")
        .and_then(Value::as_array)
        .map(|m| m.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    html! {
        section #proposal-verdict .banner.bad role="status" {
            strong { "Incompatible" } " at " code { (level) } ": " (messages.len()) " problem(s) with the current versions."
        }
        @if !messages.is_empty() {
            h2 { "Compatibility report" }
            ul #proposal-report { @for m in &messages { li { code { (m) } } } }
        }
    }
}

fn consumers_section(p: &Proposal) -> Markup {
    html! {
        h2 { "Impacted consumers" }
        @if p.impacted_consumers.is_empty() {
            p.empty #proposal-consumers { "No registered consumer is impacted." }
        } @else {
            div.table-wrap { table #proposal-consumers {
                thead { tr { th scope="col" { "Service" } th scope="col" { "Team" } th scope="col" { "Decision" } th scope="col" { "Comment" } } }
                tbody {
                    @for c in &p.impacted_consumers {
                        @let review = p.reviews.iter().rev().find(|r| r.consumer == c.service);
                        tr {
                            td { (c.service) }
                            td { a href=(team_url(&c.team)) { (c.team) } }
                            td { @match review { Some(r) => { (r.decision) " by " (r.by) " on " (when(r.at)) }, None => span.muted { "pending" } } }
                            td { @if let Some(r) = review { (r.comment) } }
                        }
                    }
                }
            } }
        }
    }
}

fn candidate_block(candidate: &Value) -> Markup {
    let text = candidate
        .get("schema")
        .and_then(Value::as_str)
        .unwrap_or("");
    let format = candidate
        .get("schemaType")
        .and_then(Value::as_str)
        .and_then(|t| SchemaFormat::from_str(t).ok())
        .unwrap_or(SchemaFormat::Avro);
    let shown = schema_view::display_text(format, text);
    let lines = schema_view::highlight_lines(format, &shown);
    html! {
        pre.code #proposal-schema tabindex="0" aria-label="Candidate schema" {
            code { @for (i, l) in lines.iter().enumerate() { @if i > 0 { "\n" } (PreEscaped(l)) } }
        }
    }
}
