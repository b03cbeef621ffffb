//! Teams: `/ui/teams` (every team with the streams it owns) and `/ui/teams/{team}` (its
//! streams, services, the other teams reading its streams and the streams it reads, its
//! connections and lineage). Each table is read a page at a time by team, over the team
//! indexes (migration 0018), never the whole catalog: `?owned=`, `?services=`,
//! `?outgoing=` and `?incoming=` name each table's page.

use super::lineage::lineage_view;
use super::model::{self, StreamInfo};
use super::{page, qv, stream_url, team_url, PageResult, UiError};
use crate::api::{Params, PathParams, State};
use crate::auth::Actor;
use crate::error::ApiError;
use crate::storage::Store;
use maud::{html, Markup};
use sqlx::Row;
use std::collections::BTreeMap;

/// Rows per table page.
const PAGE: usize = 50;
/// Streams the lineage draws from each of the owned and incoming tables' pages.
const DRAWN: usize = 25;
/// Streams listed per service in the services table; the rest are counted.
const PER_SERVICE: i64 = 10;
/// The furthest page a URL may name (a bound on OFFSET, far past any real team).
const MAX_PAGE: usize = 100_000;

type R<T> = Result<T, ApiError>;

pub async fn teams_page(state: State, actor: Actor) -> PageResult {
    // Every team with the number of streams it owns, from one grouped query (not the
    // whole catalog).
    let teams = model::team_counts(&state.registry.store).await?;
    let content = html! {
        h1 { "Teams" }
        @if teams.is_empty() {
            p.empty { "No teams yet: teams appear when a contract names an owner or a service registers as producer or consumer. Try " code { "accord demo" } " for sample data." }
        } @else {
            ul #team-list {
                @for (t, owned) in &teams {
                    li { a href=(team_url(t)) { (t) } span.meta { " · owns " (owned) " stream(s)" } }
                }
            }
        }
    };
    Ok(page("Teams", &actor, content))
}

/// The four tables' pages, as the URL names them (1-based).
#[derive(Debug, Clone, Copy)]
struct Pages {
    owned: usize,
    services: usize,
    outgoing: usize,
    incoming: usize,
}

impl Pages {
    const KEYS: [&'static str; 4] = ["owned", "services", "outgoing", "incoming"];

    fn from(params: &Params) -> R<Pages> {
        let p = |k: &str| params.int_in(k, 1, MAX_PAGE, 1);
        Ok(Pages {
            owned: p("owned")?,
            services: p("services")?,
            outgoing: p("outgoing")?,
            incoming: p("incoming")?,
        })
    }

    fn get(&self, key: &str) -> usize {
        match key {
            "owned" => self.owned,
            "services" => self.services,
            "outgoing" => self.outgoing,
            _ => self.incoming,
        }
    }

    /// This page's URL with table `key` on page `to` (the other tables kept).
    fn url(&self, team: &str, key: &str, to: usize) -> String {
        let qs: Vec<String> = Self::KEYS
            .iter()
            .map(|k| (k, if *k == key { to } else { self.get(k) }))
            .filter(|(_, n)| *n > 1)
            .map(|(k, n)| format!("{k}={n}"))
            .collect();
        let anchor = format!("#{key}");
        if qs.is_empty() {
            format!("{}{anchor}", team_url(team))
        } else {
            format!("{}?{}{anchor}", team_url(team), qs.join("&"))
        }
    }
}

/// Previous/next links for table `key` with `total` rows.
fn pager(team: &str, pages: &Pages, key: &str, total: usize) -> Markup {
    let last = total.div_ceil(PAGE).max(1);
    let at = pages.get(key).min(last);
    html! {
        @if last > 1 {
            nav.pager id={ "pager-" (key) } aria-label={ "Pages of " (key) } {
                @if at > 1 { a rel="prev" href=(pages.url(team, key, at - 1)) { "← Previous" } " " }
                "Page " (at) " of " (last) " (" (total) ")"
                @if at < last { " " a rel="next" href=(pages.url(team, key, at + 1)) { "Next →" } }
            }
        }
    }
}

/// `LIMIT … OFFSET …` of 1-based page `n` (past the end: the last page).
fn window(n: usize, total: usize) -> String {
    let last = total.div_ceil(PAGE).max(1);
    format!(" LIMIT {PAGE} OFFSET {}", (n.min(last) - 1) * PAGE)
}

/// The count `sql` returns, every placeholder in it bound to `team`.
async fn count(store: &Store, sql: &str, team: &str) -> R<usize> {
    let rows = rows(store, sql, team).await?;
    let n: i64 = rows
        .first()
        .map(|r| r.try_get("n"))
        .transpose()?
        .unwrap_or(0);
    Ok(usize::try_from(n).unwrap_or(0))
}

/// The rows `sql` returns, every placeholder in it bound to `team`.
async fn rows(store: &Store, sql: &str, team: &str) -> R<Vec<sqlx::any::AnyRow>> {
    let n = sql.matches('$').count();
    crate::storage::q::rows_bound(store, sql, std::iter::repeat_n(team.to_string(), n)).await
}

/// Whether any stream is owned, produced or consumed by `team` (three index probes).
async fn exists(store: &Store, team: &str) -> R<bool> {
    Ok(!rows(
        store,
        "SELECT 1 AS x FROM streams WHERE owner_team = $1 \
         UNION ALL SELECT 1 FROM stream_producers WHERE team = $2 \
         UNION ALL SELECT 1 FROM stream_consumers WHERE team = $3 LIMIT 1",
        team,
    )
    .await?
    .is_empty())
}

// The team's consumers of other teams' streams, and other teams' consumers of its
// streams: the joins the incoming and outgoing tables and the connections share.
const OUTGOING: &str = "FROM streams s JOIN stream_consumers c ON c.stream = s.name \
                        WHERE s.owner_team = $1 AND c.team <> $2";
const INCOMING: &str = "FROM stream_consumers c JOIN streams s ON s.name = c.stream \
                        WHERE c.team = $1 AND (s.owner_team IS NULL OR s.owner_team <> $2)";
const SERVICES: &str = "SELECT service FROM stream_producers WHERE team = $1 \
                        UNION SELECT service FROM stream_consumers WHERE team = $2";

/// A service's streams on one side (the first [`PER_SERVICE`] by name) and how many
/// there are in all.
type Side = (Vec<String>, i64);

/// The streams each of `services` produces or consumes for `team` (`table` is
/// `stream_producers` or `stream_consumers`), the first [`PER_SERVICE`] each.
async fn service_streams(
    store: &Store,
    table: &str,
    team: &str,
    services: &[String],
) -> R<BTreeMap<String, Side>> {
    let mut out: BTreeMap<String, Side> = BTreeMap::new();
    if services.is_empty() {
        return Ok(out);
    }
    let sql = format!(
        "SELECT service, stream, n FROM (SELECT service, stream, \
         ROW_NUMBER() OVER (PARTITION BY service ORDER BY stream) AS rn, \
         COUNT(*) OVER (PARTITION BY service) AS n \
         FROM {table} WHERE team = $1 AND service IN ({})) x \
         WHERE rn <= {PER_SERVICE} ORDER BY service, stream",
        crate::storage::q::placeholders_after(1, services.len())
    );
    let mut q = sqlx::query(&sql).bind(team);
    for s in services {
        q = q.bind(s);
    }
    for r in q.fetch_all(store.reader()).await? {
        let e = out.entry(r.try_get("service")?).or_default();
        e.0.push(r.try_get("stream")?);
        e.1 = r.try_get("n")?;
    }
    Ok(out)
}

fn stream_links(side: Option<&Side>) -> Markup {
    html! {
        @if let Some((names, n)) = side {
            @for s in names { a href=(stream_url(s)) { (s) } " " }
            @if *n > names.len() as i64 { span.meta { "and " (*n - names.len() as i64) " more" } }
        }
    }
}

pub async fn team_page(
    state: State,
    actor: Actor,
    PathParams(team): PathParams<String>,
    params: Params,
) -> PageResult {
    let pages = Pages::from(&params)?;
    let store = &state.registry.store;
    if !exists(store, &team).await? {
        return Err(UiError::NotFound {
            title: "Team not found".to_string(),
            message: format!("No stream is owned, produced or consumed by a team named '{team}'."),
        });
    }

    // Streams it owns: a page of names, then what the list shows about them.
    let owned_total = count(
        store,
        "SELECT COUNT(*) AS n FROM streams WHERE owner_team = $1",
        &team,
    )
    .await?;
    let owned_names = names(
        store,
        &format!(
            "SELECT name FROM streams WHERE owner_team = $1 ORDER BY name{}",
            window(pages.owned, owned_total)
        ),
        &team,
        "name",
    )
    .await?;
    let owned = model::load_named(store, &owned_names).await?;

    // Services it runs: a page of names, then up to PER_SERVICE streams each way.
    let services_total = count(
        store,
        &format!("SELECT COUNT(*) AS n FROM ({SERVICES}) t"),
        &team,
    )
    .await?;
    let services = names(
        store,
        &format!(
            "SELECT service FROM ({SERVICES}) t ORDER BY service{}",
            window(pages.services, services_total)
        ),
        &team,
        "service",
    )
    .await?;
    let produces = service_streams(store, "stream_producers", &team, &services).await?;
    let consumes = service_streams(store, "stream_consumers", &team, &services).await?;

    // Connections, counted per other team in two grouped queries; their sums are the
    // outgoing and incoming tables' totals.
    let mut connections: BTreeMap<String, (i64, i64)> = BTreeMap::new();
    for r in rows(
        store,
        &format!("SELECT c.team AS other, COUNT(*) AS n {OUTGOING} GROUP BY c.team"),
        &team,
    )
    .await?
    {
        connections.entry(r.try_get("other")?).or_default().0 = r.try_get("n")?;
    }
    for r in rows(
        store,
        &format!(
            "SELECT COALESCE(s.owner_team, 'no team') AS other, COUNT(*) AS n {INCOMING} \
             GROUP BY COALESCE(s.owner_team, 'no team')"
        ),
        &team,
    )
    .await?
    {
        connections.entry(r.try_get("other")?).or_default().1 = r.try_get("n")?;
    }

    let outgoing_total =
        usize::try_from(connections.values().map(|c| c.0).sum::<i64>()).unwrap_or(0);
    let incoming_total =
        usize::try_from(connections.values().map(|c| c.1).sum::<i64>()).unwrap_or(0);

    // Outgoing: its streams read by other teams; incoming: other teams' streams it reads.
    let mut outgoing = Vec::new();
    for r in rows(
        store,
        &format!(
            "SELECT c.stream, c.service, c.team, c.status {OUTGOING} ORDER BY c.stream, c.service{}",
            window(pages.outgoing, outgoing_total)
        ),
        &team,
    )
    .await?
    {
        outgoing.push((
            r.try_get::<String, _>("stream")?,
            r.try_get::<String, _>("service")?,
            r.try_get::<String, _>("team")?,
            r.try_get::<String, _>("status")?,
        ));
    }
    let mut incoming = Vec::new();
    for r in rows(
        store,
        &format!(
            "SELECT c.stream, s.owner_team, c.service, c.status {INCOMING} ORDER BY c.stream, c.service{}",
            window(pages.incoming, incoming_total)
        ),
        &team,
    )
    .await?
    {
        incoming.push((
            r.try_get::<String, _>("stream")?,
            r.try_get::<Option<String>, _>("owner_team")?
                .unwrap_or_else(|| "no team".to_string()),
            r.try_get::<String, _>("service")?,
            r.try_get::<String, _>("status")?,
        ));
    }

    // Lineage: the first streams of this page of the owned table and of the incoming
    // one, bounded whatever the team's size.
    let mut read: Vec<String> = incoming.iter().map(|r| r.0.clone()).collect();
    read.dedup();
    let read_clipped = read.len() > DRAWN;
    read.truncate(DRAWN);
    let read = model::load_named(store, &read).await?;
    let mut drawn: Vec<&StreamInfo> = owned.iter().take(DRAWN).collect();
    // Whether any stream of the team's two tables is left out of the drawing.
    let clipped = owned_total > drawn.len() || read_clipped || incoming_total > incoming.len();
    drawn.extend(read.iter());

    let title = format!("Team {team}");
    let content = html! {
        nav.crumbs aria-label="Breadcrumb" { a href="/ui" { "Catalog" } " / " a href="/ui/teams" { "Teams" } " / " span { (team) } }
        h1 { (title) }
        p { a href={ "/ui/search?q=&owner=" (qv(&team)) } { "Search this team's streams" } }
        h2 #owned { "Streams it owns (" (owned_total) ")" }
        @if owned.is_empty() { p.empty { "This team owns no streams." } } @else {
            ul #team-streams { @for s in &owned {
                li { a href=(stream_url(s.name())) { (s.name()) } " " (super::lifecycle_badge(&s.summary.status))
                    @if let Some(d) = s.description() { span.meta { " — " (d) } } }
            } }
            (pager(&team, &pages, "owned", owned_total))
        }
        h2 #services { "Services it runs (" (services_total) ")" }
        @if services.is_empty() { p.empty { "No services of this team are registered as producers or consumers." } } @else {
            div.table-wrap { table #team-services {
                thead { tr { th scope="col" { "Service" } th scope="col" { "Produces" } th scope="col" { "Consumes" } } }
                tbody { @for svc in &services {
                    tr { td { (svc) }
                        td { (stream_links(produces.get(svc))) }
                        td { (stream_links(consumes.get(svc))) } }
                } }
            } }
            (pager(&team, &pages, "services", services_total))
        }
        h2 #outgoing { "Outgoing: other teams reading its streams (" (outgoing_total) ")" }
        @if outgoing.is_empty() { p.empty { "No other team consumes this team's streams." } } @else {
            div.table-wrap { table #team-outgoing {
                thead { tr { th scope="col" { "Stream" } th scope="col" { "Consumer" } th scope="col" { "Team" } th scope="col" { "Status" } } }
                tbody { @for (s, svc, t, st) in &outgoing {
                    tr { td { a href=(stream_url(s)) { (s) } } td { (svc) } td { a href=(team_url(t)) { (t) } } td { (st) } }
                } }
            } }
            (pager(&team, &pages, "outgoing", outgoing_total))
        }
        h2 #incoming { "Incoming: streams it reads from other teams (" (incoming_total) ")" }
        @if incoming.is_empty() { p.empty { "This team reads no other team's streams." } } @else {
            div.table-wrap { table #team-incoming {
                thead { tr { th scope="col" { "Stream" } th scope="col" { "Owner" } th scope="col" { "Our consumer" } th scope="col" { "Status" } } }
                tbody { @for (s, owner, svc, st) in &incoming {
                    tr { td { a href=(stream_url(s)) { (s) } } td { a href=(team_url(owner)) { (owner) } } td { (svc) } td { (st) } }
                } }
            } }
            (pager(&team, &pages, "incoming", incoming_total))
        }
        h2 { "Team connections" }
        @if connections.is_empty() { p.empty { "No connections with other teams." } } @else {
            ul #team-connections { @for (t, (out, inc)) in &connections {
                li { a href=(team_url(t)) { (t) } ": " (out) " consumer(s) of our streams; we run " (inc) " consumer(s) of theirs" }
            } }
        }
        h2 { "Lineage" }
        @if clipped {
            p #team-lineage-more { "Drawn: at most the first " (DRAWN) " streams of this page of the owned and incoming tables; the tables list the rest." }
        }
        (lineage_view(&title, &drawn))
    };
    Ok(page(&title, &actor, content))
}

/// The `col` of each row `sql` returns for `team`.
async fn names(store: &Store, sql: &str, team: &str, col: &str) -> R<Vec<String>> {
    rows(store, sql, team)
        .await?
        .iter()
        .map(|r| r.try_get::<String, _>(col).map_err(ApiError::from))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_urls_keep_the_other_tables() {
        let p = Pages {
            owned: 2,
            services: 1,
            outgoing: 3,
            incoming: 1,
        };
        assert_eq!(
            p.url("a b", "incoming", 2),
            "/ui/teams/a%20b?owned=2&outgoing=3&incoming=2#incoming"
        );
        assert_eq!(p.url("t", "owned", 1), "/ui/teams/t?outgoing=3#owned");
        assert_eq!(window(7, 120), " LIMIT 50 OFFSET 100");
        assert_eq!(window(1, 0), " LIMIT 50 OFFSET 0");
    }
}
