//! Lineage and teams: the topology producer service → stream → consumer services as an
//! inline SVG laid out in three columns and coloured by owning team (with a legend and a
//! table of the same flows for screen readers), for one stream
//! (`/ui/streams/{name}/lineage`), a domain (`/ui/domains/{domain}/lineage`) and a team
//! (drawn on its page, [`super::teams`]).

use super::model::{self, StreamInfo};
use super::{page, seg, stream_url, team_url, PageResult, UiError};
use crate::api::{Params, PathParams, State};
use crate::auth::Actor;
use crate::error::ApiError;
use maud::{html, Markup};
use std::collections::{BTreeMap, BTreeSet};

const PALETTE: &[&str] = &[
    "#cfe3ff", "#ffd8b5", "#c9f0d3", "#f3d1f4", "#fff0a8", "#d5d0ff", "#ffc9c9", "#c8f1f1",
];
const NO_TEAM: &str = "#eeeeee";

/// Team colours, stable for a given set of teams (sorted, then the palette in order).
fn colours(teams: &BTreeSet<String>) -> BTreeMap<String, &'static str> {
    teams
        .iter()
        .enumerate()
        .map(|(i, t)| (t.clone(), PALETTE[i % PALETTE.len()]))
        .collect()
}

#[derive(Debug)]
struct Node {
    label: String,
    team: Option<String>,
    href: Option<String>,
    col: usize,
    /// Drawn as a stream (square corners, bold); services are rounded.
    stream: bool,
}

#[derive(Debug)]
struct Edge {
    from: usize,
    to: usize,
    /// A consumer not (yet) approved: drawn dashed.
    pending: bool,
}

/// A graph in columns: for [`Graph::of`] producers (column 0), streams (1) and
/// consumers (2), a service appearing once per column it is in; for
/// [`Graph::of_lineage`] one column per hop.
#[derive(Debug, Default)]
struct Graph {
    nodes: Vec<Node>,
    edges: Vec<Edge>,
    /// The columns' headings.
    cols: Vec<String>,
    /// The column laid out first, by name; the others follow their neighbours there.
    anchor: usize,
}

impl Graph {
    fn of(streams: &[&StreamInfo]) -> Graph {
        let mut g = Graph {
            cols: ["Producers", "Streams", "Consumers"]
                .map(str::to_string)
                .to_vec(),
            anchor: 1,
            ..Graph::default()
        };
        let mut index: BTreeMap<(usize, String), usize> = BTreeMap::new();
        let mut node =
            |g: &mut Graph, col: usize, label: &str, team: Option<&str>, href: Option<String>| {
                *index.entry((col, label.to_string())).or_insert_with(|| {
                    g.nodes.push(Node {
                        label: label.to_string(),
                        team: team.map(str::to_string),
                        href,
                        col,
                        stream: col == 1,
                    });
                    g.nodes.len() - 1
                })
            };
        for s in streams {
            let sn = node(&mut g, 1, s.name(), s.owner(), Some(stream_url(s.name())));
            if let Some(p) = &s.producer {
                let pn = node(
                    &mut g,
                    0,
                    &p.service,
                    Some(&p.team),
                    Some(team_url(&p.team)),
                );
                g.edges.push(Edge {
                    from: pn,
                    to: sn,
                    pending: false,
                });
            }
            for c in s.consumers.iter().filter(|c| c.status != "rejected") {
                let cn = node(
                    &mut g,
                    2,
                    &c.service,
                    Some(&c.team),
                    Some(team_url(&c.team)),
                );
                g.edges.push(Edge {
                    from: sn,
                    to: cn,
                    pending: c.status != "active",
                });
            }
        }
        g
    }

    fn teams(&self) -> BTreeSet<String> {
        self.nodes.iter().filter_map(|n| n.team.clone()).collect()
    }

    /// The multi-hop lineage of one stream ([`crate::lineage`]): a column per level,
    /// upstream to the left of the start, downstream to its right.
    fn of_lineage(l: &crate::lineage::Lineage) -> Graph {
        let min = l.nodes.iter().map(|n| n.level).min().unwrap_or(0);
        let max = l.nodes.iter().map(|n| n.level).max().unwrap_or(0);
        let heading = |level: i32| match level {
            0 => "This stream".to_string(),
            l if l % 2 == 0 => format!(
                "Streams {} hop(s) {}",
                l.abs() / 2,
                if l < 0 { "up" } else { "down" }
            ),
            l if l < 0 => "Producers".to_string(),
            _ => "Consumers".to_string(),
        };
        let mut g = Graph {
            cols: (min..=max).map(heading).collect(),
            anchor: (-min) as usize,
            ..Graph::default()
        };
        let mut index = BTreeMap::new();
        for n in &l.nodes {
            index.insert(n.id.as_str(), g.nodes.len());
            let href = match n.kind {
                "stream" => Some(stream_url(&n.name)),
                "service" => n.team.as_deref().map(team_url),
                _ => None,
            };
            g.nodes.push(Node {
                label: n.name.clone(),
                team: n.team.clone(),
                href,
                col: (n.level - min) as usize,
                stream: n.kind == "stream",
            });
        }
        for e in &l.edges {
            if let (Some(&from), Some(&to)) = (index.get(e.from.as_str()), index.get(e.to.as_str()))
            {
                g.edges.push(Edge {
                    from,
                    to,
                    pending: e.kind == "consumes" && e.status != "active",
                });
            }
        }
        g
    }

    /// Rows per column: the anchor column by name; the others, outward from it, by the
    /// mean row of their neighbours already placed (fewer crossings).
    fn rows(&self) -> Vec<usize> {
        let mut row = vec![0usize; self.nodes.len()];
        let mut placed = vec![false; self.nodes.len()];
        let order = (self.anchor..self.cols.len()).chain((0..self.anchor).rev());
        for col in order {
            let mut members: Vec<(f64, usize)> = (0..self.nodes.len())
                .filter(|&i| self.nodes[i].col == col)
                .map(|i| {
                    let near: Vec<f64> = self
                        .edges
                        .iter()
                        .filter_map(|e| match (e.from == i, e.to == i) {
                            (true, _) => Some(e.to),
                            (_, true) => Some(e.from),
                            _ => None,
                        })
                        .filter(|&j| placed[j])
                        .map(|j| row[j] as f64)
                        .collect();
                    let mean = match (col == self.anchor, near.is_empty()) {
                        (true, _) | (_, true) => 0.0,
                        _ => near.iter().sum::<f64>() / near.len() as f64,
                    };
                    (mean, i)
                })
                .collect();
            members.sort_by(|a, b| {
                a.0.total_cmp(&b.0)
                    .then_with(|| self.nodes[a.1].label.cmp(&self.nodes[b.1].label))
            });
            for (r, (_, i)) in members.iter().enumerate() {
                row[*i] = r;
                placed[*i] = true;
            }
        }
        row
    }
}

/// A column's left edge.
fn col_x(col: usize) -> f64 {
    16.0 + 300.0 * col as f64
}
const NODE_W: f64 = 240.0;
const NODE_H: f64 = 40.0;
const GAP: f64 = 14.0;
const TOP: f64 = 44.0;

fn short(label: &str) -> String {
    if label.chars().count() > 30 {
        let mut s: String = label.chars().take(28).collect();
        s.push('…');
        s
    } else {
        label.to_string()
    }
}

/// The inline SVG of `streams`' lineage, with its legend and an equivalent flow table.
pub(super) fn lineage_view(title: &str, streams: &[&StreamInfo]) -> Markup {
    let table = html! {
        div.table-wrap { table #flows {
            thead { tr { th scope="col" { "Producer" } th scope="col" { "Stream" } th scope="col" { "Consumer" } } }
            tbody {
                @for s in streams {
                    @let producer = s.producer.as_ref().map(|p| format!("{} ({})", p.service, p.team)).unwrap_or_else(|| "—".to_string());
                    @if s.consumers.is_empty() {
                        tr { td { (producer) } td { a href=(stream_url(s.name())) { (s.name()) } } td { "—" } }
                    }
                    @for c in &s.consumers {
                        tr { td { (producer) } td { a href=(stream_url(s.name())) { (s.name()) } } td { (c.service) " (" (c.team) ", " (c.status) ")" } }
                    }
                }
            }
        } }
    };
    graph_view(title, &Graph::of(streams), table)
}

/// The inline SVG of a graph, with its legend and `table`, the same flows for screen
/// readers.
fn graph_view(title: &str, g: &Graph, table: Markup) -> Markup {
    if g.nodes.is_empty() {
        return html! { p.empty { "Nothing to draw: no streams here." } };
    }
    let teams = g.teams();
    let colour = colours(&teams);
    let rows = g.rows();
    let per_col = (0..g.cols.len())
        .map(|c| g.nodes.iter().filter(|n| n.col == c).count())
        .max()
        .unwrap_or(1);
    let height = TOP + per_col as f64 * (NODE_H + GAP) + 8.0;
    let width = col_x(g.cols.len().saturating_sub(1)) + NODE_W + 16.0;
    let y = |i: usize| TOP + rows[i] as f64 * (NODE_H + GAP);
    let fill = |n: &Node| {
        n.team
            .as_ref()
            .and_then(|t| colour.get(t).copied())
            .unwrap_or(NO_TEAM)
    };
    let desc = format!(
        "{} stream(s), {} service(s); arrows show the data flow",
        g.nodes.iter().filter(|n| n.stream).count(),
        g.nodes.iter().filter(|n| !n.stream).count()
    );
    html! {
        div.lineage {
            svg #lineage-svg xmlns="http://www.w3.org/2000/svg" width=(width) height=(height)
                viewBox={ "0 0 " (width) " " (height) } role="img" aria-labelledby="lineage-title lineage-desc"
                font-family="system-ui, sans-serif" font-size="13" {
                title #lineage-title { (title) }
                desc #lineage-desc { (desc) }
                defs {
                    marker #arrow viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse" {
                        path d="M 0 0 L 10 5 L 0 10 z" fill="#5b6675" {}
                    }
                }
                @for (c, label) in g.cols.iter().enumerate() {
                    text x=(col_x(c)) y="24" font-weight="700" fill="#1c2430" { (label) }
                }
                @for e in &g.edges {
                    @let (x1, y1) = (col_x(g.nodes[e.from].col) + NODE_W, y(e.from) + NODE_H / 2.0);
                    @let (x2, y2) = (col_x(g.nodes[e.to].col), y(e.to) + NODE_H / 2.0);
                    @let mx = (x1 + x2) / 2.0;
                    path d={ "M " (x1) " " (y1) " C " (mx) " " (y1) ", " (mx) " " (y2) ", " (x2) " " (y2) }
                        fill="none" stroke="#5b6675" stroke-width="1.5" marker-end="url(#arrow)"
                        stroke-dasharray=[e.pending.then_some("5 4")] {}
                }
                @for (i, n) in g.nodes.iter().enumerate() {
                    @let (x, yy) = (col_x(n.col), y(i));
                    @let stroke = if n.stream { "#1c2430" } else { "#5b6675" };
                    a href=[n.href.as_deref()] {
                        g.node {
                            title { (n.label) @if let Some(t) = &n.team { " (team " (t) ")" } }
                            rect x=(x) y=(yy) width=(NODE_W) height=(NODE_H) rx=(if n.stream { 4 } else { 18 })
                                fill=(fill(n)) stroke=(stroke) stroke-width=(if n.stream { 2 } else { 1 }) {}
                            text x=(x + 12.0) y=(yy + 25.0) fill="#1c2430" font-weight=(if n.stream { "600" } else { "400" }) { (short(&n.label)) }
                        }
                    }
                }
            }
        }
        ul.legend aria-label="Teams" {
            @for (t, c) in &colour {
                li { svg.swatch width="12" height="12" aria-hidden="true" { rect width="12" height="12" rx="2" fill=(c) {} } a href=(team_url(t)) { (t) } }
            }
            li { svg.swatch width="12" height="12" aria-hidden="true" { rect width="12" height="12" rx="2" fill=(NO_TEAM) {} } "no team" }
            li.muted { "Dashed arrow: consumer awaiting approval" }
        }
        details {
            summary { "The same flows as a table" }
            (table)
        }
    }
}

/// One stream's lineage, `?depth=` hops (1 to 6, default 2) upstream and downstream,
/// read from the stream's neighbourhood ([`crate::lineage::graph`]), not the catalog.
pub async fn stream_lineage(
    state: State,
    actor: Actor,
    PathParams(name): PathParams<String>,
    params: Params,
) -> PageResult {
    crate::governance::check_stream_name(&name)?;
    let depth = crate::lineage::parse_depth(params.get("depth"))?;
    let store = &state.registry.store;
    let l = crate::lineage::graph(store, &name, depth, crate::lineage::Direction::Both)
        .await?
        .ok_or_else(|| ApiError::StreamNotFound(name.clone()))?;
    let domain = match crate::governance::get_contract(store, &name, None).await {
        Ok((_, c)) => c.domain,
        Err(_) => None,
    };
    let title = format!("Lineage of {name}");
    let label = |id: &str| {
        l.node(id)
            .map(|n| match &n.team {
                Some(t) => format!("{} ({t})", n.name),
                None => n.name.clone(),
            })
            .unwrap_or_else(|| id.to_string())
    };
    let table = html! {
        div.table-wrap { table #flows {
            thead { tr { th scope="col" { "From" } th scope="col" { "To" } th scope="col" { "Flow" } } }
            tbody { @for e in &l.edges {
                tr { td { (label(&e.from)) } td { (label(&e.to)) }
                    td { (e.kind) @if !e.status.is_empty() && e.status != "active" { " (" (e.status) ")" } } }
            } }
        } }
    };
    let continues = l.nodes.iter().filter(|n| n.continues).count();
    let content = html! {
        nav.crumbs aria-label="Breadcrumb" { a href="/ui" { "Catalog" } " / " a href=(stream_url(&name)) { (name) } " / " span { "Lineage" } }
        h1 { (title) }
        @if let Some(d) = &domain {
            p { "Part of domain " strong { (d) } ": " a href={ "/ui/domains/" (seg(d)) "/lineage" } { "see the whole domain" } "." }
        }
        nav #lineage-depth aria-label="Depth" {
            "Hops each way: "
            @for d in 1..=crate::lineage::MAX_DEPTH {
                @if d == depth { strong aria-current="true" { (d) } } @else {
                    a href={ (stream_url(&name)) "/lineage?depth=" (d) } { (d) }
                }
                " "
            }
        }
        @if l.nodes.len() == 1 {
            p.empty { "No producer or consumers are registered for this stream yet." }
        }
        @if continues > 0 {
            p.muted { "The lineage goes on past " (continues) " node(s) at this depth: choose more hops to see further." }
        }
        @if l.truncated {
            p.muted { "Only the first " (crate::lineage::MAX_NODES) " nodes are drawn." }
        }
        (graph_view(&title, &Graph::of_lineage(&l), table))
    };
    Ok(page(&title, &actor, content))
}

/// Streams a domain's lineage draws; the rest are counted, with a link to the search
/// filtered by the domain (a paged table).
const DOMAIN_DRAWN: usize = 60;

/// A domain's lineage: its first [`DOMAIN_DRAWN`] streams by name (the domain as the
/// catalog index holds it, from each stream's contract), not the whole catalog.
pub async fn domain_lineage(
    state: State,
    actor: Actor,
    PathParams(domain): PathParams<String>,
) -> PageResult {
    let store = &state.registry.store;
    let (names, total) = crate::catalog::streams_of_domain(store, &domain, DOMAIN_DRAWN).await?;
    if names.is_empty() {
        let domains = crate::catalog::domains(store).await?;
        return Err(UiError::NotFound {
            title: "Domain not found".to_string(),
            message: format!(
                "No stream's contract declares domain '{domain}'. Known domains: {}.",
                if domains.is_empty() {
                    "none".to_string()
                } else {
                    domains.join(", ")
                }
            ),
        });
    }
    let streams = model::load_named(store, &names).await?;
    let drawn: Vec<&StreamInfo> = streams.iter().collect();
    let title = format!("Lineage of domain {domain}");
    let search = format!("/ui/search?q=&domain={}", seg(&domain));
    let content = html! {
        nav.crumbs aria-label="Breadcrumb" { a href="/ui" { "Catalog" } " / " span { "Domain " (domain) } }
        h1 { (title) }
        p { (total) " stream(s) in this domain." }
        @if total > drawn.len() {
            p #domain-more { "Drawn: the first " (drawn.len()) " by name; and " (total - drawn.len()) " more streams, listed in "
                a href=(search) { "the domain's table" } "." }
        }
        (lineage_view(&title, &drawn))
    };
    Ok(page(&title, &actor, content))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::governance::{Consumer, Producer, StreamSummary};

    fn stream(
        name: &str,
        owner: &str,
        producer: (&str, &str),
        consumers: &[(&str, &str)],
    ) -> StreamInfo {
        StreamInfo {
            summary: StreamSummary {
                name: name.to_string(),
                key_subject: format!("{name}-key"),
                value_subject: format!("{name}-value"),
                owner_team: Some(owner.to_string()),
                status: "active".to_string(),
                sunset: None,
                successor: None,
                latest_value_schema: None,
                created_at: 0,
                updated_at: 0,
            },
            contract: None,
            producer: Some(Producer {
                service: producer.0.to_string(),
                team: producer.1.to_string(),
                updated_at: 0,
            }),
            consumers: consumers
                .iter()
                .map(|(s, t)| Consumer {
                    service: s.to_string(),
                    team: t.to_string(),
                    status: "active".to_string(),
                    registered_at: 0,
                    observed: None,
                })
                .collect(),
            format: None,
        }
    }

    #[test]
    fn graph_has_one_node_per_service_and_column() {
        let a = stream(
            "orders",
            "checkout",
            ("order-svc", "checkout"),
            &[("billing", "finance"), ("stats", "data")],
        );
        let b = stream(
            "payments",
            "finance",
            ("billing", "finance"),
            &[("stats", "data")],
        );
        let g = Graph::of(&[&a, &b]);
        // order-svc, orders, billing (consumer), stats, payments, billing (producer)
        assert_eq!(g.nodes.len(), 6);
        assert_eq!(g.edges.len(), 5);
        let svg = lineage_view("t", &[&a, &b]).into_string();
        assert!(svg.contains("<svg") && svg.contains("order-svc") && svg.contains("marker-end"));
        assert!(svg.contains("#cfe3ff"));
    }
}
