//! The web catalog at `/ui`: server-rendered HTML pages for people who look for data.
//!
//! Every page is plain HTML rendered here with `maud` (which escapes every interpolated
//! value, so user content such as a description cannot inject markup); there is no
//! front-end build and no JavaScript: forms are GET forms, so every view is a URL that can
//! be shared. The stylesheet is one static string ([`style::CSS`]) served at
//! `/ui/static/accord.css`.
//!
//! Pages read through the same functions as the JSON API (`crate::governance`,
//! `crate::proposals`, the registry) and respect the same access rules: the auth
//! middleware admits any principal to a read, stream metadata is readable by every
//! principal, and the schemas of a stream whose contract restricts reads are shown only
//! to those [`crate::governance::check_subject_read`] admits. Errors become HTML pages
//! that say what to do ([`html_errors`] turns the JSON errors of the middleware and the
//! router's fallback into pages, keeping `WWW-Authenticate: Basic` so a browser asks for
//! an API key).
//!
//! Stable element ids for browser tests and bookmarks: `search-form`, `search-q`,
//! `filter-{format,lifecycle,tag,owner,domain}`, `results` (one `li.result` per hit),
//! `no-results`, `stream-list`; on a stream page `deprecation-banner`, `successor-link`,
//! `versions-value`, `versions-key`, `producer`, `consumers`, `proposals`; on a version
//! page `version-form`, `version-select`, `fields`, `schema-text`; on a diff page
//! `diff-form`, `diff-from`, `diff-to`, `verdict`, `incompatibilities`, `diff`; on the
//! lineage pages `lineage-svg`, `flows`; on team pages `team-streams`, `team-services`,
//! `team-outgoing`, `team-incoming`, `team-connections`; on a proposal page
//! `proposal-status`, `proposal-verdict`, `proposal-report`, `proposal-consumers`,
//! `proposal-schema`.
//!
//! Modules: [`model`] loads the catalog (streams with their contracts, producers and
//! consumers); [`schema_view`] reads a schema's fields and highlights its text;
//! [`streams`] renders the stream, version and diff pages; [`lineage`] the SVG topology
//! and the team pages; [`search`] the home and search pages.

pub mod lineage;
pub mod model;
pub mod proposals;
pub mod schema_view;
pub mod search;
pub mod streams;
pub mod style;
pub mod teams;

use crate::api::AppState;
use crate::auth::Actor;
use crate::error::ApiError;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use maud::{html, Markup, PreEscaped, DOCTYPE};
use std::sync::Arc;

/// The `/ui` routes (merged into the application router, behind the same middleware).
pub fn router() -> Router<Arc<AppState>> {
    Router::new()
        .route("/ui", get(search::home))
        .route("/ui/search", get(search::search))
        .route("/ui/static/accord.css", get(stylesheet))
        .route("/ui/streams/{name}", get(streams::stream_page))
        .route("/ui/streams/{name}/lineage", get(lineage::stream_lineage))
        .route("/ui/subjects/{subject}", get(streams::subject_redirect))
        .route(
            "/ui/subjects/{subject}/versions/{version}",
            get(streams::version_page),
        )
        .route("/ui/subjects/{subject}/diff", get(streams::diff_page))
        .route("/ui/domains/{domain}/lineage", get(lineage::domain_lineage))
        .route("/ui/proposals/{id}", get(proposals::proposal_page))
        .route("/ui/teams", get(teams::teams_page))
        .route("/ui/teams/{team}", get(teams::team_page))
}

async fn stylesheet() -> Response {
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/css; charset=utf-8"),
            ),
            (
                header::CACHE_CONTROL,
                HeaderValue::from_static("public, max-age=3600"),
            ),
        ],
        style::CSS,
    )
        .into_response()
}

/// What a page handler returns.
pub type PageResult = Result<Html<String>, UiError>;

/// An error shown as an HTML page with the error's status: an API error, or a catalog
/// page about something that does not exist (a team or domain nobody names).
#[derive(Debug)]
pub enum UiError {
    Api(ApiError),
    NotFound { title: String, message: String },
}

impl From<ApiError> for UiError {
    fn from(e: ApiError) -> Self {
        UiError::Api(e)
    }
}

impl From<sqlx::Error> for UiError {
    fn from(e: sqlx::Error) -> Self {
        UiError::Api(e.into())
    }
}

impl IntoResponse for UiError {
    fn into_response(self) -> Response {
        match self {
            UiError::Api(e) => {
                let (status, _) = e.status_and_code();
                if let ApiError::Internal(err) = &e {
                    tracing::error!(error = ?err, "internal error rendering a page");
                }
                let (title, advice) = advice(&e);
                error_response(status, &title, &e.to_string(), advice)
            }
            UiError::NotFound { title, message } => error_response(
                StatusCode::NOT_FOUND,
                &title,
                &message,
                html! {
                    p { a href="/ui/teams" { "See all teams" } " · " a href="/ui" { "See all streams" } " · " a href="/ui/search" { "Search" } }
                },
            ),
        }
    }
}

/// A title and what to do next, for an error.
fn advice(e: &ApiError) -> (String, Markup) {
    match e {
        ApiError::StreamNotFound(name) => (
            "Stream not found".to_string(),
            html! {
                p { "There is no stream named " code { (name) } ". It may have been renamed or never registered." }
                p { "Search the catalog for it: " (search_form_inline(name)) }
                p { a href="/ui" { "See all streams" } }
            },
        ),
        ApiError::SubjectNotFound(s) => (
            "Subject not found".to_string(),
            html! {
                p { "No subject named " code { (s) } " has versions." }
                p { a href="/ui" { "Back to the catalog" } }
            },
        ),
        ApiError::VersionNotFound(_) => (
            "Version not found".to_string(),
            html! { p { "Pick one of the subject's versions from its stream page, or " a href="/ui" { "go back to the catalog" } "." } },
        ),
        ApiError::Unauthorized(_) => (
            "Sign in to see the catalog".to_string(),
            html! {
                p { "This registry requires an API key. Your browser asks for it: enter the key id as the user name and the secret as the password." }
                p { "No key yet? Ask a registry admin to create one for you (" code { "POST /v1/principals/{name}/keys" } ")." }
            },
        ),
        ApiError::Forbidden(_) => (
            "Not allowed".to_string(),
            html! {
                p { "Your principal may not read this. Ask the owning team (named on the stream page) for access, for instance by registering your service as a consumer." }
                p { a href="/ui" { "Back to the catalog" } }
            },
        ),
        ApiError::RouteNotFound => (
            "Page not found".to_string(),
            html! { p { "No catalog page has this address. " a href="/ui" { "Go to the catalog home" } " or " a href="/ui/search" { "search" } "." } },
        ),
        ApiError::StoreUnavailable => (
            "Temporarily unavailable".to_string(),
            html! { p { "The registry's database did not answer. Reload the page in a moment." } },
        ),
        _ => (
            "Something went wrong".to_string(),
            html! { p { a href="/ui" { "Back to the catalog" } } },
        ),
    }
}

fn search_form_inline(q: &str) -> Markup {
    html! {
        form.inline action="/ui/search" method="get" role="search" {
            label for="notfound-q" .visually-hidden { "Search" }
            input #notfound-q type="search" name="q" value=(q);
            button type="submit" { "Search" }
        }
    }
}

fn error_response(status: StatusCode, title: &str, detail: &str, advice: Markup) -> Response {
    let body = layout(
        title,
        &Actor::Anonymous,
        html! {
            section.error aria-labelledby="error-title" {
                h1 #error-title { (title) }
                p.detail { (detail) }
                (advice)
            }
        },
    );
    let mut resp = (status, Html(body.into_string())).into_response();
    if status == StatusCode::UNAUTHORIZED {
        resp.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Basic realm=\"accord\""),
        );
    }
    resp
}

/// Middleware: a response to a `/ui` request that is not HTML (the auth middleware's
/// 401/403, the router's 404/405, all JSON) becomes an HTML error page with the same
/// status and headers that matter (`WWW-Authenticate`); every `/ui` response carries the
/// [`CSP`] and `X-Frame-Options: DENY`.
/// Whether a request path is the catalog's (whose answers [`html_errors`] makes pages).
pub fn is_ui(path: &str) -> bool {
    path == "/ui" || path.starts_with("/ui/")
}

/// A `/ui` response as the catalog sends it: a JSON error rendered as a page, and the
/// headers every page carries. Applied by the API's outer layer (`crate::api::outer`).
pub async fn html_errors(resp: Response) -> Response {
    let mut resp = as_html_page(resp).await;
    // The pages load nothing but their own stylesheet and run no script: say so, so a
    // link or markup that slipped through could not run anything.
    resp.headers_mut().insert(
        header::CONTENT_SECURITY_POLICY,
        header::HeaderValue::from_static(CSP),
    );
    // No page may be framed (clickjacking): the CSP says `frame-ancestors 'none'`, this
    // says the same to browsers that predate it.
    resp.headers_mut()
        .insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    resp
}

/// A `/ui` response as a page: successes and pages as they are, JSON errors rendered.
async fn as_html_page(resp: Response) -> Response {
    if resp.status().is_success() || resp.status().is_redirection() {
        return resp;
    }
    let is_html = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/html"));
    if is_html {
        return resp;
    }
    let status = resp.status();
    let bytes = axum::body::to_bytes(resp.into_body(), 64 * 1024)
        .await
        .unwrap_or_default();
    let message = serde_json::from_slice::<serde_json::Value>(&bytes)
        .ok()
        .and_then(|v| {
            v.get("message")
                .and_then(|m| m.as_str())
                .map(str::to_string)
        })
        .unwrap_or_else(|| status.canonical_reason().unwrap_or("Error").to_string());
    let as_error = match status {
        StatusCode::UNAUTHORIZED => ApiError::Unauthorized(message.clone()),
        StatusCode::FORBIDDEN => ApiError::Forbidden(message.clone()),
        StatusCode::NOT_FOUND => ApiError::RouteNotFound,
        StatusCode::SERVICE_UNAVAILABLE => ApiError::StoreUnavailable,
        _ => ApiError::MalformedBody(message.clone()),
    };
    let (title, advice) = advice(&as_error);
    error_response(status, &title, &message, advice)
}

/// The catalog's Content-Security-Policy: no script at all, styles and images only from
/// the registry itself (inline SVG is part of the page).
pub const CSP: &str = "default-src 'none'; style-src 'self'; img-src 'self' data:; \
                       form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

/// A link for a URL that comes from user content (a contract's support channel): only
/// `https:`, `http:` and `mailto:` become links; anything else (`javascript:`, `data:`)
/// is shown as text.
pub fn external_link(url: &str, text: &str) -> Markup {
    let lower = url.trim_start().to_ascii_lowercase();
    let safe = ["https://", "http://", "mailto:"]
        .iter()
        .any(|p| lower.starts_with(p));
    html! {
        @if safe { a href=(url) rel="noopener noreferrer" { (text) } } @else { span { (text) } }
    }
}

/// The page frame: header with navigation, a skip link, the content, a footer.
pub fn layout(title: &str, actor: &Actor, content: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · Accord catalog" }
                link rel="stylesheet" href="/ui/static/accord.css";
            }
            body {
                a.skip href="#main" { "Skip to content" }
                header.site {
                    nav aria-label="Main" {
                        a.brand href="/ui" { "Accord catalog" }
                        a href="/ui/search" { "Search" }
                        a href="/ui/teams" { "Teams" }
                    }
                    @if let Actor::Principal(p) = actor {
                        span.who { "Signed in as " strong { (p.name) } }
                    }
                }
                main #main { (content) }
                footer.site {
                    p { "Accord schema registry · " a href="/v1/streams" { "JSON API" } }
                }
            }
        }
    }
}

/// A rendered page.
pub fn page(title: &str, actor: &Actor, content: Markup) -> Html<String> {
    Html(layout(title, actor, content).into_string())
}

/// Percent-encodes one path segment (everything but unreserved characters).
pub fn seg(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A query string value, form-encoded.
pub fn qv(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

pub fn stream_url(name: &str) -> String {
    format!("/ui/streams/{}", seg(name))
}

pub fn team_url(team: &str) -> String {
    format!("/ui/teams/{}", seg(team))
}

pub fn version_url(subject: &str, version: i64) -> String {
    format!("/ui/subjects/{}/versions/{version}", seg(subject))
}

/// Milliseconds since the epoch as `YYYY-MM-DD HH:MM UTC`.
pub fn when(ms: i64) -> String {
    let u = accord_contracts::time::utc(ms);
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02} UTC",
        u.year, u.month, u.day, u.hour, u.minute
    )
}

/// A lifecycle badge.
pub fn lifecycle_badge(status: &str) -> Markup {
    let class = if status == "active" {
        "badge ok"
    } else {
        "badge warn"
    };
    html! { span class=(class) { (status) } }
}

/// Tags as badges (`PII` stands out).
pub fn tag_badges(tags: &[String]) -> Markup {
    html! {
        @for t in tags {
            @let class = if t.eq_ignore_ascii_case("pii") { "tag pii" } else { "tag" };
            a class=(class) href={ "/ui/search?tag=" (qv(t)) } { (t) }
            " "
        }
    }
}

/// Text with search markers (`\u{1}`..`\u{2}`) as `<mark>`, everything else escaped.
pub fn marked(text: &str) -> Markup {
    let escaped = maud::html! { (text) }.into_string();
    PreEscaped(
        escaped
            .replace('\u{1}', "<mark>")
            .replace('\u{2}', "</mark>"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_render_in_utc() {
        assert_eq!(when(0), "1970-01-01 00:00 UTC");
        assert_eq!(when(1_700_000_000_000), "2023-11-14 22:13 UTC");
    }

    #[test]
    fn segments_are_percent_encoded() {
        assert_eq!(seg("orders.v2"), "orders.v2");
        assert_eq!(seg("a b/c"), "a%20b%2Fc");
    }

    #[test]
    fn markers_become_marks_after_escaping() {
        assert_eq!(
            marked("<b>order_\u{1}id\u{2}").into_string(),
            "&lt;b&gt;order_<mark>id</mark>"
        );
    }
}
