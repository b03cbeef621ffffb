//! The home page (`/ui`: the search box, recently changed and all streams) and the
//! search page (`/ui/search?q=&format=&tag=&owner=&domain=&lifecycle=&page=`), backed by
//! [`crate::catalog::search`] (ranked, highlighted, filtered, read access respected).

use super::model::{self, StreamInfo};
use super::{lifecycle_badge, marked, page, qv, seg, stream_url, tag_badges, team_url, PageResult};
use crate::api::State;
use crate::auth::Actor;
use crate::catalog::{self, FacetCount, SearchQuery, SearchResults};
use crate::error::ApiError;
use axum::extract::Query;
use maud::{html, Markup};
use serde::Deserialize;

const PAGE: u32 = 20;
const HOME_PAGE: usize = 50;

/// The search parameters as a page URL carries them (empty values mean "any").
#[derive(Debug, Default, Deserialize, Clone)]
pub struct SearchParams {
    #[serde(default)]
    q: String,
    format: Option<String>,
    tag: Option<String>,
    owner: Option<String>,
    domain: Option<String>,
    lifecycle: Option<String>,
    page: Option<u32>,
}

fn non_empty(v: &Option<String>) -> Option<String> {
    v.as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

impl SearchParams {
    /// This search's URL with `key` set to `value` (or removed), back on page 1.
    fn with(&self, key: &str, value: Option<&str>) -> String {
        let mut pairs: Vec<(&str, String)> = Vec::new();
        if !self.q.trim().is_empty() {
            pairs.push(("q", self.q.clone()));
        }
        for (k, v) in [
            ("format", &self.format),
            ("tag", &self.tag),
            ("owner", &self.owner),
            ("domain", &self.domain),
            ("lifecycle", &self.lifecycle),
        ] {
            if k != key {
                if let Some(v) = non_empty(v) {
                    pairs.push((k, v));
                }
            }
        }
        if let Some(v) = value {
            pairs.retain(|(k, _)| *k != key);
            pairs.push((key, v.to_string()));
        }
        let qs: Vec<String> = pairs
            .iter()
            .map(|(k, v)| format!("{k}={}", qv(v)))
            .collect();
        format!("/ui/search?{}", qs.join("&"))
    }

    fn page_url(&self, page: u32) -> String {
        format!("{}&page={page}", self.with("", None))
    }

    fn any_filter(&self) -> bool {
        [
            &self.format,
            &self.tag,
            &self.owner,
            &self.domain,
            &self.lifecycle,
        ]
        .iter()
        .any(|v| non_empty(v).is_some())
    }
}

/// The search form (ids for browser tests: `search-form`, `search-q`, `filter-*`).
fn search_form(p: &SearchParams) -> Markup {
    let sel = |v: &Option<String>, o: &str| non_empty(v).is_some_and(|x| x.eq_ignore_ascii_case(o));
    html! {
        form.search #search-form action="/ui/search" method="get" role="search" {
            div.field {
                label for="search-q" { "Search streams, subjects, fields, docs, tags, owners" }
                input #search-q type="search" name="q" value=(p.q) placeholder="e.g. order_id, PII, payments" autofocus;
            }
            div.field {
                label for="filter-format" { "Format" }
                select #filter-format name="format" {
                    option value="" { "any" }
                    @for f in catalog::FORMATS { option value=(f) selected[sel(&p.format, f)] { (f) } }
                }
            }
            div.field {
                label for="filter-lifecycle" { "Lifecycle" }
                select #filter-lifecycle name="lifecycle" {
                    option value="" { "any" }
                    @for l in catalog::LIFECYCLES { option value=(l) selected[sel(&p.lifecycle, l)] { (l) } }
                }
            }
            div.field {
                label for="filter-tag" { "Tag" }
                input #filter-tag type="text" name="tag" value=(p.tag.clone().unwrap_or_default()) size="10";
            }
            div.field {
                label for="filter-owner" { "Owner team" }
                input #filter-owner type="text" name="owner" value=(p.owner.clone().unwrap_or_default()) size="12";
            }
            div.field {
                label for="filter-domain" { "Domain" }
                input #filter-domain type="text" name="domain" value=(p.domain.clone().unwrap_or_default()) size="12";
            }
            button #search-submit type="submit" { "Search" }
        }
    }
}

fn stream_list(id: &str, streams: &[&StreamInfo]) -> Markup {
    html! {
        ul.streams id=(id) {
            @for s in streams {
                li {
                    a.result-title href=(stream_url(s.name())) { (s.name()) }
                    " " (lifecycle_badge(&s.summary.status))
                    div.meta {
                        @match s.owner() { Some(o) => { "owner " a href=(team_url(o)) { (o) } }, None => "no owner" }
                        @if let Some(f) = &s.format { " · " (f) }
                        @if let Some(v) = &s.summary.latest_value_schema { " · v" (v.version) }
                        @if let Some(d) = s.domain() { " · domain " (d) }
                    }
                    @if let Some(d) = s.description() { div { (d) } }
                    @let tags = s.tags();
                    @if !tags.is_empty() { div { (tag_badges(&tags)) } }
                }
            }
        }
    }
}

#[derive(Debug, Deserialize)]
pub struct HomeParams {
    page: Option<usize>,
}

pub async fn home(state: State, actor: Actor, Query(params): Query<HomeParams>) -> PageResult {
    // Only the page shown is read: the count first, then its streams and the recent ones.
    let count = model::count(&state.registry.store).await?;
    let pages = count.div_ceil(HOME_PAGE).max(1);
    // Past the last page shows the last page (and a huge number cannot overflow).
    let page_no = params.page.unwrap_or(1).clamp(1, pages);
    let (shown, recent) = model::home_page(
        &state.registry.store,
        (page_no - 1) * HOME_PAGE,
        HOME_PAGE,
        5,
    )
    .await?;
    let shown: Vec<&StreamInfo> = shown.iter().collect();
    let recent: Vec<&StreamInfo> = recent.iter().collect();
    let content = html! {
        h1 { "Find data" }
        p.lead { "Search every stream's names, subjects, fields, docs, tags and owners, or browse below." }
        (search_form(&SearchParams::default()))
        @if count == 0 {
            section.empty #empty-catalog {
                h2 { "The catalog is empty" }
                p { "No stream has a contract yet. Apply one with " code { "accord contract apply FILE" }
                    ", or fill this registry with a sample organisation: " code { "accord demo --url URL" } "." }
            }
        } @else {
            h2 { "Recently changed" }
            (stream_list("recent-streams", &recent))
            h2 { "All streams (" (count) ")" }
            (stream_list("stream-list", &shown))
            @if pages > 1 {
                nav aria-label="Pages" {
                    @if page_no > 1 { a rel="prev" href={ "/ui?page=" (page_no - 1) } { "← Previous" } " " }
                    "Page " (page_no) " of " (pages)
                    @if page_no < pages { " " a rel="next" href={ "/ui?page=" (page_no + 1) } { "Next →" } }
                }
            }
            p { a href="/ui/teams" { "Browse by team" } }
        }
    };
    Ok(page("Catalog", &actor, content))
}

fn facet_list(title: &str, key: &str, counts: &[FacetCount], p: &SearchParams) -> Markup {
    html! {
        @if !counts.is_empty() {
            div {
                strong { (title) }
                ul {
                    @for c in counts.iter().take(12) {
                        li { a href=(p.with(key, Some(&c.value))) { (c.value) } " (" (c.count) ")" }
                    }
                }
            }
        }
    }
}

fn results_view(p: &SearchParams, r: &SearchResults, page_no: u32) -> Markup {
    let pages = (r.total as u32).div_ceil(PAGE).max(1);
    html! {
        p #result-count role="status" { (r.total) " result(s)"
            @if !p.q.trim().is_empty() { " for " strong { (p.q) } }
            @if p.any_filter() { " · " a href={ "/ui/search?q=" (qv(&p.q)) } { "clear filters" } }
        }
        div.facets aria-label="Refine" {
            (facet_list("Format", "format", &r.facets.formats, p))
            (facet_list("Tag", "tag", &r.facets.tags, p))
            (facet_list("Owner", "owner", &r.facets.owners, p))
            (facet_list("Domain", "domain", &r.facets.domains, p))
        }
        @if r.hits.is_empty() {
            section.empty #no-results {
                p { "Nothing matched. Try fewer or shorter words (a field name such as " code { "order_id" } " works), or remove a filter." }
            }
        } @else {
            ol.results #results {
                @for h in &r.hits {
                    li.result {
                        @let href = match (&h.stream, &h.subject) {
                            (Some(s), _) => stream_url(s),
                            (None, Some(sub)) => format!("/ui/subjects/{}", seg(sub)),
                            _ => "/ui".to_string(),
                        };
                        a.result-title href=(href) { (h.title) }
                        " " (lifecycle_badge(&h.lifecycle))
                        @if h.stream.is_none() { " " span.badge { "subject" } }
                        div.meta {
                            @match &h.owner { Some(o) => { "owner " a href=(team_url(o)) { (o) } }, None => "no owner" }
                            @if let Some(f) = &h.format { " · " (f) }
                            @if let Some(d) = &h.domain { " · domain " (d) }
                        }
                        @if let Some(d) = &h.description { div { (d) } }
                        @if !h.matches.is_empty() {
                            ul.matches {
                                @for m in &h.matches { li.meta { (m.field) ": " (marked(&m.text)) } }
                            }
                        }
                        @if !h.tags.is_empty() { div { (tag_badges(&h.tags)) } }
                    }
                }
            }
            @if pages > 1 {
                nav aria-label="Pages" {
                    @if page_no > 1 { a rel="prev" href=(p.page_url(page_no - 1)) { "← Previous" } " " }
                    "Page " (page_no) " of " (pages)
                    @if page_no < pages { " " a rel="next" href=(p.page_url(page_no + 1)) { "Next →" } }
                }
            }
        }
    }
}

pub async fn search(state: State, actor: Actor, Query(p): Query<SearchParams>) -> PageResult {
    let page_no = p.page.unwrap_or(1).clamp(1, 10_000);
    let query = SearchQuery {
        q: p.q.trim().to_string(),
        format: non_empty(&p.format),
        tag: non_empty(&p.tag),
        owner: non_empty(&p.owner),
        domain: non_empty(&p.domain),
        lifecycle: non_empty(&p.lifecycle),
        limit: PAGE,
        offset: (page_no - 1) * PAGE,
    };
    let outcome = catalog::search(&state.registry.store, &actor, &query).await;
    let title = if p.q.trim().is_empty() {
        "Search".to_string()
    } else {
        format!("Search: {}", p.q.trim())
    };
    let content = html! {
        h1 { "Search the catalog" }
        (search_form(&p))
        @match &outcome {
            Ok(r) => (results_view(&p, r, page_no)),
            Err(ApiError::Unprocessable(msg)) => p.banner.bad #search-error role="alert" { (msg) },
            Err(_) => {},
        }
    };
    match outcome {
        Ok(_) | Err(ApiError::Unprocessable(_)) => Ok(page(&title, &actor, content)),
        Err(e) => Err(e.into()),
    }
}
