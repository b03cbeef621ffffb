//! The stream page (`/ui/streams/{name}`), a schema version with its fields
//! (`/ui/subjects/{subject}/versions/{v}`) and the side-by-side diff of two versions with
//! the compatibility verdict (`/ui/subjects/{subject}/diff?from=&to=`).

use super::schema_view::{self, DiffKind};
use super::{
    external_link, lifecycle_badge, page, seg, stream_url, tag_badges, team_url, version_url, when,
    PageResult, UiError,
};
use crate::api::{PathParams, State};
use crate::auth::Actor;
use crate::error::ApiError;
use crate::governance::{self, Consumer};
use crate::registry::{parse_version, unqualify, VersionSel};
use crate::storage::{q, SchemaRecord, VersionRecord};
use accord_compat::CompatibilityLevel;
use accord_contracts::Contract;
use axum::extract::Query;
use axum::response::{IntoResponse, Redirect, Response};
use maud::{html, Markup, PreEscaped};
use serde::Deserialize;
use serde_json::Value;
use std::collections::BTreeSet;
use std::str::FromStr;

type R<T> = Result<T, ApiError>;

/// Whether `actor` may read the schemas of `subject` (the contract's read restriction).
async fn may_read(state: &crate::api::AppState, actor: &Actor, subject: &str) -> R<bool> {
    match governance::check_subject_read(&state.registry.store, actor, subject).await {
        Ok(()) => Ok(true),
        Err(ApiError::Forbidden(_)) => Ok(false),
        Err(e) => Err(e),
    }
}

fn contract_of(doc: &Value) -> Option<Contract> {
    Contract::from_value(doc.clone()).ok()
}

pub async fn stream_page(
    state: State,
    actor: Actor,
    PathParams(name): PathParams<String>,
) -> PageResult {
    let detail = governance::get_stream(&state.registry.store, &name).await?;
    let contract = detail
        .contract
        .as_ref()
        .and_then(|c| contract_of(&c.document));
    // The open proposals (the first 50; a stream rarely has more than one open).
    let proposals = crate::proposals::list(&state.registry, &name, Some("open"), 0, 50).await?;
    let s = &detail.stream;
    let mut subjects = Vec::new();
    for (role, subject) in [("value", &s.value_subject), ("key", &s.key_subject)] {
        let readable = may_read(&state, &actor, subject).await?;
        let versions = if readable {
            let mut v = q::versions(state.registry.store.reader(), subject, false).await?;
            v.reverse();
            v
        } else {
            Vec::new()
        };
        subjects.push((role, subject.clone(), readable, versions));
    }
    // Who reads a read-restricted stream is for who may read it.
    let observed = match subjects.first().is_some_and(|s| s.2) {
        true => {
            let mut conn = state
                .registry
                .store
                .reader()
                .acquire()
                .await
                .map_err(ApiError::from)?;
            Some(crate::usage::stream_readers(&mut conn, &s.name, 30 * crate::usage::DAY_MS).await?)
        }
        false => None,
    };
    let desc = contract.as_ref().and_then(|c| c.description.clone());
    let domain = contract.as_ref().and_then(|c| c.domain.clone());
    let tags = contract
        .as_ref()
        .map(|c| c.tags.clone())
        .unwrap_or_default();
    let content = html! {
        nav.crumbs aria-label="Breadcrumb" { a href="/ui" { "Catalog" } " / " span { "Stream" } }
        h1 { (s.name) " " (lifecycle_badge(&s.status)) }
        @if s.status != "active" {
            section #deprecation-banner .banner role="alert" {
                strong { "This stream is " (s.status) "." }
                @if let Some(sunset) = &s.sunset { " It will be retired on " strong { (sunset) } "." }
                @if let Some(succ) = &s.successor {
                    " Use its successor " a #successor-link href=(stream_url(succ)) { (succ) } " instead: new consumers are refused here."
                } @else {
                    " New consumers are refused; ask the owning team what replaces it."
                }
                @if let Some(reason) = contract.as_ref().and_then(|c| c.lifecycle()).and_then(|l| l.reason.as_deref()) {
                    p { "Reason: " (reason) }
                }
            }
        }
        @if let Some(d) = &desc {
            @if let Some(p) = &d.purpose { p.lead #description { (p) } }
            @if let Some(u) = &d.usage { p { strong { "Usage: " } (u) } }
            @if let Some(l) = &d.limitations { p { strong { "Limitations: " } (l) } }
        } @else {
            p.muted #description { "No description yet. The owning team can add one as "
                code { "description.purpose" } " in the stream's contract." }
        }
        dl.facts {
            dt { "Owner" }
            dd { @match &s.owner_team { Some(t) => a href=(team_url(t)) { (t) }, None => span.muted { "no owning team" } } }
            dt { "Contact" }
            dd {
                @let support = contract.as_ref().map(|c| c.support.clone()).unwrap_or_default();
                @if support.is_empty() { span.muted { "none listed" } }
                @for ch in &support {
                    @match &ch.url { Some(u) => (external_link(u, &ch.channel)), None => span { (ch.channel) } }
                    @if let Some(tool) = &ch.tool { span.muted { " (" (tool) ")" } }
                    " "
                }
            }
            @if let Some(d) = &domain {
                dt { "Domain" }
                dd { (d) " · " a href={ "/ui/domains/" (seg(d)) "/lineage" } { "domain lineage" } }
            }
            @if !tags.is_empty() { dt { "Tags" } dd { (tag_badges(&tags)) } }
            dt { "Subjects" }
            dd { code { (s.value_subject) } " (value), " code { (s.key_subject) } " (key)" }
            dt { "Lineage" }
            dd { a href={ (stream_url(&s.name)) "/lineage" } { "Producer → stream → consumers graph" } }
        }
        h2 #contract-heading { "Contract" }
        @match (&detail.contract, &contract) {
            (Some(cur), Some(c)) => (contract_section(cur.info.version, &cur.info.created_by, cur.info.created_at, c)),
            _ => p.empty { "This stream has no readable contract." },
        }
        h2 { "Schemas" }
        @for (role, subject, readable, versions) in &subjects {
            section aria-label={ (role) " subject" } {
                h3 { @if *role == "key" { "Key subject" } @else { "Value subject" } }
                @if !*readable {
                    p.banner.bad { "The contract restricts reads of " code { (subject) } " to its owning team, its approved consumers and admins. Ask the owner for access (register your service as a consumer)." }
                } @else if versions.is_empty() && *role == "key" {
                    p.muted { "No key schema registered (" code { (subject) } "): keys are free-form." }
                } @else if versions.is_empty() {
                    p.empty { "No versions of " code { (subject) } " yet. The producer registers the first one with "
                        code { "accord register --subject " (subject) " FILE" } "." }
                } @else {
                    (versions_table(role, subject, versions))
                }
            }
        }
        h2 { "Producer and consumers" }
        p {
            "Producer: "
            @match &detail.producer {
                Some(p) => { strong #producer { (p.service) } " (team " a href=(team_url(&p.team)) { (p.team) } ")" },
                None => span.muted #producer { "none registered (the owning team sets it with PUT /v1/streams/" (s.name) "/producer)" },
            }
        }
        (consumers_table(&detail.consumers))
        @if let Some(readers) = &observed {
            h3 #observed-heading { "Readers seen in the last 30 days" }
            (observed_table(readers))
        }
        h2 { "Open proposals" }
        @if proposals.is_empty() {
            p.empty #proposals { "No open breaking-change proposals." }
        } @else {
            ul #proposals {
                @for p in &proposals {
                    @let reviewed = p.reviews.len();
                    li {
                        "Proposal " a href={ "/ui/proposals/" (p.id) } { "#" (p.id) } " on " code { (p.subject) }
                        ", opened by " (p.opened_by) " on " (when(p.opened_at)) ": "
                        (reviewed) " of " (p.impacted_consumers.len()) " impacted consumers reviewed."
                        @let n = p.report.get("messages").and_then(Value::as_array).map_or(0, Vec::len);
                        @if n > 0 { " " (n) " incompatibilities." }
                    }
                }
            }
        }
    };
    Ok(page(&s.name, &actor, content))
}

fn contract_section(version: i64, by: &str, at: i64, c: &Contract) -> Markup {
    let evo = c.evolution();
    let access = c.access();
    let slos = &c.sla_properties;
    html! {
        p.meta { "Contract version " (version) " (document version " (c.version) "), applied by " (by) " on " (when(at)) ". "
            a href={ "/v1/streams/" (seg(c.stream().map_or("", |b| b.name.as_str()))) "/contract" } { "View the document" } }
        dl.facts #contract {
            dt { "Evolution" }
            dd { code #compatibility-level { (evo.compatibility.as_str()) } " compatibility"
                @if !evo.lint.is_empty() {
                    "; lint: "
                    @for (rule, setting) in &evo.lint { code { (rule.as_str()) } " (" (format!("{:?}", setting.level).to_lowercase()) ") " }
                }
            }
            dt { "Lifecycle" }
            dd { (c.status)
                @if let Some(l) = c.lifecycle() {
                    @if let Some(s) = &l.sunset_date { "; sunset " (s) }
                    @if let Some(s) = &l.successor { "; successor " a href=(stream_url(s)) { (s) } }
                }
            }
            dt { "Access" }
            dd { "reads: " (format!("{:?}", access.read).to_lowercase()) "; consumers: " (format!("{:?}", access.consumers).to_lowercase())
                @if !access.allowed_teams.is_empty() { " (" (access.allowed_teams.iter().cloned().collect::<Vec<_>>().join(", ")) ")" }
                @if c.has_pii() && access.pii_requires_owner_approval { "; carries PII: the owner approves each new consumer" }
            }
            @if let Some(enc) = c.encryption() {
                dt { "Encryption" }
                dd { "fields tagged " (enc.tags.iter().cloned().collect::<Vec<_>>().join(", ")) " are encrypted client-side (key scope "
                    (format!("{:?}", enc.key_scope).to_lowercase()) ")" }
            }
        }
        h3 { "Service levels" }
        @if slos.is_empty() {
            p.empty { "No SLOs declared (ODCS " code { "slaProperties" } ")." }
        } @else {
            div.table-wrap { table #slos {
                thead { tr { th scope="col" { "Objective" } th scope="col" { "Value" } th scope="col" { "Element" } } }
                tbody {
                    @for s in slos {
                        tr {
                            td { (s.property) }
                            td { (match &s.value { Value::String(v) => v.clone(), v => v.to_string() }) " " (s.unit.clone().unwrap_or_default()) }
                            td { (s.element.clone().unwrap_or_default()) }
                        }
                    }
                }
            } }
        }
    }
}

fn versions_table(role: &str, subject: &str, versions: &[VersionRecord]) -> Markup {
    html! {
        p { code { (subject) } " · " (versions.len()) " version(s)"
            @if versions.len() > 1 {
                " · " a href={ "/ui/subjects/" (seg(subject)) "/diff?from=" (versions[1].version) "&to=" (versions[0].version) } { "what changed last" }
            }
        }
        div.table-wrap { table id={ "versions-" (role) } {
            thead { tr { th scope="col" { "Version" } th scope="col" { "Schema id" } th scope="col" { "Registered" } th scope="col" { "Compare" } } }
            tbody {
                @for (i, v) in versions.iter().enumerate() {
                    tr {
                        td { a href=(version_url(subject, v.version)) { "v" (v.version) } }
                        td { (crate::context::public_id(v.schema_id)) }
                        td { (when(v.ts)) }
                        td { @if let Some(prev) = versions.get(i + 1) {
                            a href={ "/ui/subjects/" (seg(subject)) "/diff?from=" (prev.version) "&to=" (v.version) } { "diff with v" (prev.version) }
                        } }
                    }
                }
            }
        } }
    }
}

/// Who was seen reading the stream (see [`crate::usage`]), declared or not.
fn observed_table(readers: &[crate::usage::Seen]) -> Markup {
    html! {
        @if readers.is_empty() {
            p.empty #observed-readers { "No authenticated reads of this stream's schemas in the last 30 days (reads are counted with --auth on)." }
        } @else {
            div.table-wrap { table #observed-readers {
                caption.visually-hidden { "Readers seen in the last 30 days" }
                thead { tr { th scope="col" { "Principal" } th scope="col" { "Team" } th scope="col" { "Declared" } th scope="col" { "Requests" } th scope="col" { "Last seen" } } }
                tbody {
                    @for r in readers {
                        tr {
                            td { (r.principal) }
                            td { @match &r.team { Some(t) => a href=(team_url(t)) { (t) }, None => span.muted { "none" } } }
                            td { @if r.admin { span.badge { "admin" } }
                                 @else { @match r.declared {
                                     Some(true) => span.badge.ok { "declared" },
                                     Some(false) => span.badge.warn { "undeclared" },
                                     None => span.muted { "no stream" },
                                 } } }
                            td { (r.requests) }
                            td { (r.last_seen) }
                        }
                    }
                }
            } }
        }
    }
}

fn consumers_table(consumers: &[Consumer]) -> Markup {
    html! {
        @if consumers.is_empty() {
            p.empty #consumers { "No registered consumers. A team registers its service with "
                code { "POST /v1/streams/{name}/consumers" } "." }
        } @else {
            div.table-wrap { table #consumers {
                caption.visually-hidden { "Registered consumers" }
                thead { tr { th scope="col" { "Service" } th scope="col" { "Team" } th scope="col" { "Status" } th scope="col" { "Since" } } }
                tbody {
                    @for c in consumers {
                        tr {
                            td { (c.service) }
                            td { a href=(team_url(&c.team)) { (c.team) } }
                            td { @let class = match c.status.as_str() { "active" => "badge ok", "pending" => "badge warn", _ => "badge bad" };
                                span class=(class) { (c.status) } }
                            td { (when(c.registered_at)) }
                        }
                    }
                }
            } }
        }
    }
}

/// The stream a subject belongs to, with its latest contract.
async fn subject_stream(
    state: &crate::api::AppState,
    subject: &str,
) -> R<Option<governance::SubjectContract>> {
    let mut conn = state.registry.store.reader().acquire().await?;
    governance::subject_contract(&mut conn, subject).await
}

#[derive(Deserialize)]
pub struct VersionQuery {
    version: Option<String>,
}

/// `/ui/subjects/{subject}` (the version selector's target): redirects to the chosen
/// version, the latest by default.
pub async fn subject_redirect(
    state: State,
    actor: Actor,
    PathParams(subject): PathParams<String>,
    Query(query): Query<VersionQuery>,
) -> Result<Response, UiError> {
    // `:.:orders` is `orders`, as in the API.
    let subject = unqualify(&subject).to_string();
    governance::check_subject_read(&state.registry.store, &actor, &subject).await?;
    let sel = parse_version(query.version.as_deref().unwrap_or("latest"))?;
    let v = state
        .registry
        .get_version(&subject, sel, false, &actor)
        .await?;
    Ok(Redirect::to(&version_url(&subject, v.version)).into_response())
}

/// The ENCRYPT rules' tags in a stored ruleSet.
fn encrypt_rule_tags(rule_set: Option<&Value>) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let Some(rs) = rule_set else { return out };
    for group in ["domainRules", "migrationRules"] {
        for rule in rs
            .get(group)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let ty = rule.get("type").and_then(Value::as_str).unwrap_or("");
            if ty.starts_with("ENCRYPT") {
                for t in rule
                    .get("tags")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                {
                    if let Some(t) = t.as_str() {
                        out.insert(t.to_string());
                    }
                }
            }
        }
    }
    out
}

fn code_block(id: &str, record: &SchemaRecord) -> Markup {
    let text = schema_view::display_text(record.format, &record.schema);
    let lines = schema_view::highlight_lines(record.format, &text);
    html! {
        pre.code id=(id) tabindex="0" aria-label="Schema text" {
            code { @for (i, l) in lines.iter().enumerate() { @if i > 0 { "\n" } (PreEscaped(l)) } }
        }
    }
}

fn version_selector(subject: &str, versions: &[VersionRecord], current: i64) -> Markup {
    html! {
        form.search #version-form action={ "/ui/subjects/" (seg(subject)) } method="get" {
            div.field {
                label for="version-select" { "Version" }
                select #version-select name="version" {
                    @for v in versions.iter().rev() {
                        option value=(v.version) selected[v.version == current] { "v" (v.version) " · " (when(v.ts)) }
                    }
                }
            }
            button type="submit" { "Show" }
        }
    }
}

pub async fn version_page(
    state: State,
    actor: Actor,
    PathParams((subject, version)): PathParams<(String, String)>,
) -> PageResult {
    let subject = unqualify(&subject).to_string();
    governance::check_subject_read(&state.registry.store, &actor, &subject).await?;
    let sel = parse_version(&version)?;
    let v = state
        .registry
        .get_version(&subject, sel, false, &actor)
        .await?;
    let record = state.registry.schema_of(&v).await?;
    let versions = q::versions(state.registry.store.reader(), &subject, false).await?;
    let stream = subject_stream(&state, &subject).await?;
    let contract = stream.as_ref().map(|s| &s.contract);
    let mut enc_tags = encrypt_rule_tags(record.rule_set.as_ref());
    if let Some(enc) = contract.and_then(|c| c.encryption()) {
        enc_tags.extend(enc.tags.iter().cloned());
    }
    let contract_fields = contract.map(|c| c.fields()).unwrap_or_default();
    let mut rows = schema_view::fields(record.format, &record.schema);
    for row in &mut rows {
        for cf in &contract_fields {
            let last = row.name.rsplit('.').next().unwrap_or(&row.name);
            if cf.path == row.name || cf.path == last {
                row.tags.extend(cf.tags.iter().cloned());
                if row.doc.is_none() {
                    row.doc = cf.description.clone();
                }
            }
        }
    }
    let prev = versions
        .iter()
        .filter(|x| x.version < v.version)
        .map(|x| x.version)
        .max();
    let readers = crate::usage::version_readers(
        &state.registry.store,
        &subject,
        v.version,
        v.schema_id,
        30 * crate::usage::DAY_MS,
    )
    .await?;
    let title = format!("{subject} v{}", v.version);
    let content = html! {
        nav.crumbs aria-label="Breadcrumb" {
            a href="/ui" { "Catalog" } " / "
            @if let Some(s) = &stream { a href=(stream_url(&s.stream)) { (s.stream) } " / " }
            span { (subject) }
        }
        h1 { code { (subject) } " version " (v.version) }
        p.meta { "Schema id " (crate::context::public_id(record.id)) " · " (record.format.as_str()) " · registered " (when(v.ts))
            @if let Some(p) = prev { " · " a href={ "/ui/subjects/" (seg(&subject)) "/diff?from=" (p) "&to=" (v.version) } { "diff with v" (p) } }
        }
        (version_selector(&subject, &versions, v.version))
        h2 { "Fields" }
        @if rows.is_empty() {
            p.empty { "No fields could be read from this schema." }
        } @else {
            div.table-wrap { table #fields {
                thead { tr {
                    th scope="col" { "Name" } th scope="col" { "Type" } th scope="col" { "Doc" }
                    th scope="col" { "Default" } th scope="col" { "Tags" } th scope="col" { "Encrypted" }
                } }
                tbody {
                    @for r in &rows {
                        @let encrypted = r.tags.iter().any(|t| enc_tags.contains(t));
                        @let tags: Vec<String> = r.tags.iter().cloned().collect();
                        tr {
                            td { code { (r.name) } }
                            td { code { (r.ty) } }
                            td { (r.doc.clone().unwrap_or_default()) }
                            td { @if let Some(d) = &r.default { code { (d) } } }
                            td { (tag_badges(&tags)) }
                            td { @if encrypted { span.badge.ok title="Encrypted client-side" { "encrypted" } } @else { span.muted { "no" } } }
                        }
                    }
                }
            } }
        }
        @if !record.references.is_empty() {
            h2 { "References" }
            ul { @for r in &record.references { li { code { (r.name) } " → " a href=(version_url(&r.subject, r.version)) { (r.subject) " v" (r.version) } } } }
        }
        h2 #observed-heading { "Readers seen in the last 30 days" }
        (observed_table(&readers))
        h2 { "Schema" }
        (code_block("schema-text", &record))
    };
    Ok(page(&title, &actor, content))
}

#[derive(Deserialize)]
pub struct DiffQuery {
    from: Option<String>,
    to: Option<String>,
}

/// The level a subject's registrations are checked at: its stream contract's, else the
/// subject's (or global) configured level, else `BACKWARD`.
async fn subject_level(state: &crate::api::AppState, subject: &str) -> R<CompatibilityLevel> {
    let mut conn = state.registry.store.reader().acquire().await?;
    if let Some(level) = governance::contract_level(&mut conn, subject).await? {
        return Ok(level);
    }
    let config = state
        .registry
        .effective_config(state.registry.store.reader(), subject)
        .await?;
    Ok(config
        .get("compatibilityLevel")
        .and_then(Value::as_str)
        .and_then(|s| CompatibilityLevel::from_str(s).ok())
        .unwrap_or(CompatibilityLevel::Backward))
}

pub async fn diff_page(
    state: State,
    actor: Actor,
    PathParams(subject): PathParams<String>,
    Query(query): Query<DiffQuery>,
) -> PageResult {
    let subject = unqualify(&subject).to_string();
    governance::check_subject_read(&state.registry.store, &actor, &subject).await?;
    let versions = q::versions(state.registry.store.reader(), &subject, false).await?;
    if versions.is_empty() {
        return Err(ApiError::SubjectNotFound(subject).into());
    }
    let latest = versions.last().map_or(1, |v| v.version);
    let before_latest = versions.iter().rev().nth(1).map_or(latest, |v| v.version);
    let pick = |s: Option<&str>, default: i64| -> R<i64> {
        match s.map(str::trim).filter(|s| !s.is_empty()) {
            None => Ok(default),
            Some(s) => match parse_version(s)? {
                VersionSel::Latest => Ok(latest),
                VersionSel::Number(n) => Ok(n),
            },
        }
    };
    let from_n = pick(query.from.as_deref(), before_latest)?;
    let to_n = pick(query.to.as_deref(), latest)?;
    let from = state
        .registry
        .get_version(&subject, VersionSel::Number(from_n), false, &actor)
        .await?;
    let to = state
        .registry
        .get_version(&subject, VersionSel::Number(to_n), false, &actor)
        .await?;
    let (old, new) = (
        state.registry.schema_of(&from).await?,
        state.registry.schema_of(&to).await?,
    );
    let level = subject_level(&state, &subject).await?;
    let (po, pn) = (
        state.registry.parsed(&old).await?,
        state.registry.parsed(&new).await?,
    );
    // On the heavy-work lanes like every check: a page view must not stall the node.
    let report = state
        .registry
        .work
        .check(level, pn, vec![(from_n as i32, po)])
        .await?;
    let old_text = schema_view::display_text(old.format, &old.schema);
    let new_text = schema_view::display_text(new.format, &new.schema);
    let old_html = schema_view::highlight_lines(old.format, &old_text);
    let new_html = schema_view::highlight_lines(new.format, &new_text);
    let old_lines: Vec<&str> = old_text.lines().collect();
    let new_lines: Vec<&str> = new_text.lines().collect();
    let rows = schema_view::diff_rows(&old_lines, &new_lines);
    let changed = rows.iter().filter(|r| r.kind != DiffKind::Same).count();
    let stream = subject_stream(&state, &subject).await?;
    let title = format!("{subject}: v{from_n} → v{to_n}");
    let side = |left: bool| {
        html! {
            div.side {
                table aria-label=(if left { format!("Version {from_n}") } else { format!("Version {to_n}") }) {
                    tbody {
                        @for r in &rows {
                            @let n = if left { r.left } else { r.right };
                            @let kind = match (r.kind, n) { (_, None) => "blank", (k, _) => k.class() };
                            tr class=(kind) {
                                td.ln { @if let Some(n) = n { (n) } }
                                td.marker { @match (kind, left) { ("changed", _) => "~", ("removed", true) => "-", ("added", false) => "+", _ => "" } }
                                td { @if let Some(n) = n {
                                    @let html_lines = if left { &old_html } else { &new_html };
                                    (PreEscaped(html_lines.get(n - 1).cloned().unwrap_or_default()))
                                } }
                            }
                        }
                    }
                }
            }
        }
    };
    let content = html! {
        nav.crumbs aria-label="Breadcrumb" {
            a href="/ui" { "Catalog" } " / "
            @if let Some(s) = &stream { a href=(stream_url(&s.stream)) { (s.stream) } " / " }
            span { (subject) }
        }
        h1 { "Changes in " code { (subject) } }
        form.search #diff-form action={ "/ui/subjects/" (seg(&subject)) "/diff" } method="get" {
            div.field {
                label for="diff-from" { "From version" }
                select #diff-from name="from" { @for v in &versions { option value=(v.version) selected[v.version == from_n] { "v" (v.version) } } }
            }
            div.field {
                label for="diff-to" { "To version" }
                select #diff-to name="to" { @for v in &versions { option value=(v.version) selected[v.version == to_n] { "v" (v.version) } } }
            }
            button type="submit" { "Compare" }
        }
        @if report.is_compatible() {
            section #verdict .banner.good role="status" {
                strong { "Compatible" } " at " code { (level.as_str()) } ": v" (to_n) " can replace v" (from_n) "."
                @if level == CompatibilityLevel::None { " (Level NONE checks nothing.)" }
            }
        } @else {
            section #verdict .banner.bad role="status" {
                strong { "Incompatible" } " at " code { (level.as_str()) } ": "
                (report.incompatibilities.len()) " problem(s) between v" (from_n) " and v" (to_n) "."
            }
            h2 { "Incompatibilities" }
            div.table-wrap { table #incompatibilities {
                thead { tr { th scope="col" { "Kind" } th scope="col" { "Where" } th scope="col" { "Direction" } th scope="col" { "What" } } }
                tbody {
                    @for i in &report.incompatibilities {
                        tr {
                            td { code { (i.kind) } }
                            td { code { (i.path) } }
                            td { (format!("{:?}", i.direction).to_lowercase()) }
                            td { (i.message) }
                        }
                    }
                }
            } }
        }
        h2 { "Side by side" }
        p.meta { (changed) " changed line(s). Left: " a href=(version_url(&subject, from_n)) { "v" (from_n) } "; right: " a href=(version_url(&subject, to_n)) { "v" (to_n) } "." }
        div.diff #diff { (side(true)) (side(false)) }
    };
    Ok(page(&title, &actor, content))
}
