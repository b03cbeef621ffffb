//! Multi-hop lineage (issue 19): a service that consumes stream A and produces stream B
//! links A → B. [`graph`] walks that topology from one stream, upstream, downstream or
//! both, a bounded number of hops, reading only the neighbourhood it visits: one query
//! per hop and direction, over the indexed `stream_consumers (service)` and
//! `stream_producers (service)` columns (migration 0015), never the whole catalog.
//!
//! Shape: a hop is stream → service (downstream: the stream's consumers; upstream: its
//! producer) and, beyond the first, service → stream (the streams a consumer produces,
//! or the streams a producer consumes). Each node carries its `level`: 0 for the start,
//! positive downstream, negative upstream, services at odd levels and streams at even
//! ones, which is also the column the catalog draws it in. A node reached twice (a
//! cycle, or two paths) is kept once, at its first (shortest) level; the edge that closes
//! a cycle is kept. A node with more than [`FAN_OUT`] neighbours in the walked direction
//! shows the first [`FAN_OUT`] by name and a `more` node counting the rest; a graph that
//! reaches [`MAX_NODES`] stops growing and says `truncated`.

use crate::error::ApiError;
use crate::storage::{q, Store};
use serde::Serialize;
use sqlx::Row;
use std::collections::{BTreeMap, HashMap};

type R<T> = Result<T, ApiError>;

/// The deepest walk asked for (hops each way).
pub const MAX_DEPTH: u32 = 6;
/// The depth when none is asked for.
pub const DEFAULT_DEPTH: u32 = 2;
/// Neighbours shown per node and direction; the rest are counted in a `more` node.
pub const FAN_OUT: usize = 25;
/// A graph stops growing once it holds this many nodes (`truncated`).
pub const MAX_NODES: usize = 500;

/// Which way to walk from the start.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    Up,
    Down,
    Both,
}

impl Direction {
    pub fn parse(s: &str) -> R<Direction> {
        match s {
            "up" => Ok(Direction::Up),
            "down" => Ok(Direction::Down),
            "both" => Ok(Direction::Both),
            other => Err(ApiError::Unprocessable(format!(
                "Invalid direction '{other}': use up, down or both"
            ))),
        }
    }
}

/// A stream, a service, or the rest of a collapsed fan-out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct LineageNode {
    /// `stream:NAME`, `service:NAME` or `more:…`.
    pub id: String,
    /// `stream`, `service` or `more`.
    pub kind: &'static str,
    pub name: String,
    /// The owning team (streams), the registering team (services).
    pub team: Option<String>,
    /// A stream's lifecycle (`active`, `deprecated`, …); none for services.
    pub lifecycle: Option<String>,
    /// Hops from the start: negative upstream, positive downstream.
    pub level: i32,
    /// `more` nodes: how many neighbours are not shown.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub count: Option<usize>,
    /// The walk stopped here (the depth was reached) though the topology goes on.
    pub continues: bool,
}

/// Data flowing from `from` to `to`: a service producing a stream, or a stream read by
/// a consuming service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct LineageEdge {
    pub from: String,
    pub to: String,
    /// `produces` or `consumes` (`more` towards a collapsed fan-out).
    pub kind: &'static str,
    /// A consumer's registration status (`active`, `pending`, …); `active` for producers.
    pub status: String,
}

/// The graph around one stream.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Lineage {
    pub root: String,
    pub depth: u32,
    pub direction: Direction,
    pub nodes: Vec<LineageNode>,
    pub edges: Vec<LineageEdge>,
    /// [`MAX_NODES`] was reached: some of the topology within the depth is missing.
    pub truncated: bool,
}

impl Lineage {
    pub fn node(&self, id: &str) -> Option<&LineageNode> {
        self.nodes.iter().find(|n| n.id == id)
    }
}

pub fn stream_id(name: &str) -> String {
    format!("stream:{name}")
}

pub fn service_id(name: &str) -> String {
    format!("service:{name}")
}

/// Reads the depth parameter: 1 to [`MAX_DEPTH`], [`DEFAULT_DEPTH`] when absent.
pub fn parse_depth(s: Option<&str>) -> R<u32> {
    let Some(s) = s else {
        return Ok(DEFAULT_DEPTH);
    };
    match s.trim().parse::<u32>() {
        Ok(d) if (1..=MAX_DEPTH).contains(&d) => Ok(d),
        _ => Err(ApiError::Unprocessable(format!(
            "Invalid depth '{s}': a whole number from 1 to {MAX_DEPTH}"
        ))),
    }
}

/// One neighbour found by a hop query: the node reached, the node it was reached from,
/// the edge's status, and (a stream reached) its lifecycle.
struct Hop {
    from: String,
    name: String,
    team: Option<String>,
    status: String,
    lifecycle: Option<String>,
}

struct Walk {
    nodes: Vec<LineageNode>,
    index: HashMap<String, usize>,
    edges: Vec<LineageEdge>,
    seen_edges: std::collections::HashSet<(String, String)>,
    truncated: bool,
}

impl Walk {
    /// Adds the node unless present; `true` when it is new.
    fn add(&mut self, node: LineageNode) -> bool {
        if self.index.contains_key(&node.id) {
            return false;
        }
        self.index.insert(node.id.clone(), self.nodes.len());
        self.nodes.push(node);
        true
    }

    fn edge(&mut self, from: String, to: String, kind: &'static str, status: String) {
        if self.seen_edges.insert((from.clone(), to.clone())) {
            self.edges.push(LineageEdge {
                from,
                to,
                kind,
                status,
            });
        }
    }

    fn full(&self) -> bool {
        self.nodes.len() >= MAX_NODES
    }
}

/// One hop from `frontier` (all of one kind) in `dir`, as `(from, reached)` rows.
async fn hop(store: &Store, frontier: &[String], stream_side: bool, down: bool) -> R<Vec<Hop>> {
    if frontier.is_empty() {
        return Ok(Vec::new());
    }
    let ph = q::placeholders(frontier.len());
    // (stream → service) downstream: its consumers; upstream: its producer.
    // (service → stream) downstream: what it produces; upstream: what it consumes.
    let sql = match (stream_side, down) {
        (true, true) => format!(
            "SELECT stream AS f, service AS n, team, status, NULL AS lifecycle FROM stream_consumers \
             WHERE stream IN ({ph}) AND status <> 'rejected' ORDER BY stream, service"
        ),
        (true, false) => format!(
            "SELECT stream AS f, service AS n, team, 'active' AS status, NULL AS lifecycle \
             FROM stream_producers \
             WHERE stream IN ({ph}) ORDER BY stream, service"
        ),
        (false, true) => format!(
            "SELECT p.service AS f, p.stream AS n, s.owner_team AS team, 'active' AS status, \
             s.status AS lifecycle FROM stream_producers p JOIN streams s ON s.name = p.stream \
             WHERE p.service IN ({ph}) ORDER BY p.service, p.stream"
        ),
        (false, false) => format!(
            "SELECT c.service AS f, c.stream AS n, s.owner_team AS team, c.status, \
             s.status AS lifecycle FROM stream_consumers c JOIN streams s ON s.name = c.stream \
             WHERE c.service IN ({ph}) AND c.status <> 'rejected' ORDER BY c.service, c.stream"
        ),
    };
    q::rows_bound(store, &sql, frontier.iter().cloned())
        .await?
        .iter()
        .map(|r| {
            Ok(Hop {
                from: r.try_get("f")?,
                name: r.try_get("n")?,
                team: r.try_get("team")?,
                status: r.try_get("status")?,
                lifecycle: r.try_get("lifecycle")?,
            })
        })
        .collect()
}

/// Walks one direction from the start, adding to `walk`.
async fn walk_dir(store: &Store, walk: &mut Walk, root: &str, depth: u32, down: bool) -> R<()> {
    let sign = if down { 1 } else { -1 };
    let mut frontier = vec![root.to_string()];
    let mut stream_side = true;
    let mut level = 0i32;
    // `depth` stream → service hops, with the service → stream hops between them.
    let steps = 2 * depth as usize - 1;
    for step in 0..=steps {
        let hops = hop(store, &frontier, stream_side, down).await?;
        let last = step == steps;
        if !last {
            level += sign;
        }
        let mut by_from: BTreeMap<&str, Vec<&Hop>> = BTreeMap::new();
        for h in &hops {
            by_from.entry(h.from.as_str()).or_default().push(h);
        }
        let mut next = Vec::new();
        for (from, reached) in by_from {
            let from_id = if stream_side {
                stream_id(from)
            } else {
                service_id(from)
            };
            if !last && walk.full() {
                walk.truncated = true;
                break;
            }
            let shown = reached.len().min(FAN_OUT);
            for h in &reached[..shown] {
                let (id, kind) = if stream_side {
                    (service_id(&h.name), "service")
                } else {
                    (stream_id(&h.name), "stream")
                };
                if last && !walk.index.contains_key(&id) {
                    // Past the depth: the walk stops here though the topology goes on.
                    if let Some(&i) = walk.index.get(&from_id) {
                        walk.nodes[i].continues = true;
                    }
                    continue;
                }
                let new = walk.add(LineageNode {
                    id: id.clone(),
                    kind,
                    name: h.name.clone(),
                    team: h.team.clone(),
                    lifecycle: h.lifecycle.clone(),
                    level,
                    count: None,
                    continues: false,
                });
                // Data flows downstream: stream → consumer → produced stream; upstream
                // the same arrows, walked backwards. An edge to a node already drawn
                // (a cycle, or a second path) is kept.
                let (a, b, ekind) = match (stream_side, down) {
                    (true, true) => (from_id.clone(), id, "consumes"),
                    (true, false) => (id, from_id.clone(), "produces"),
                    (false, true) => (from_id.clone(), id, "produces"),
                    (false, false) => (id, from_id.clone(), "consumes"),
                };
                walk.edge(a, b, ekind, h.status.clone());
                if new {
                    next.push(h.name.clone());
                }
            }
            if reached.len() > shown && !last {
                let rest = reached.len() - shown;
                let id = format!("more:{from_id}:{}", if down { "down" } else { "up" });
                walk.add(LineageNode {
                    id: id.clone(),
                    kind: "more",
                    name: format!("and {rest} more"),
                    team: None,
                    lifecycle: None,
                    level,
                    count: Some(rest),
                    continues: false,
                });
                let (a, b) = if down { (from_id, id) } else { (id, from_id) };
                walk.edge(a, b, "more", String::new());
            } else if reached.len() > shown {
                if let Some(&i) = walk.index.get(&from_id) {
                    walk.nodes[i].continues = true;
                }
            }
        }
        if last || next.is_empty() {
            break;
        }
        frontier = next;
        stream_side = !stream_side;
    }
    Ok(())
}

/// The lineage of `stream`, `depth` hops in `direction`. `Ok(None)`: no such stream.
pub async fn graph(
    store: &Store,
    stream: &str,
    depth: u32,
    direction: Direction,
) -> R<Option<Lineage>> {
    let root = sqlx::query("SELECT name, owner_team, status FROM streams WHERE name = $1")
        .bind(stream)
        .fetch_optional(store.reader())
        .await?;
    let Some(root) = root else {
        return Ok(None);
    };
    let mut walk = Walk {
        nodes: Vec::new(),
        index: HashMap::new(),
        edges: Vec::new(),
        seen_edges: Default::default(),
        truncated: false,
    };
    walk.add(LineageNode {
        id: stream_id(stream),
        kind: "stream",
        name: stream.to_string(),
        team: root.try_get("owner_team")?,
        lifecycle: Some(root.try_get("status")?),
        level: 0,
        count: None,
        continues: false,
    });
    if direction != Direction::Up {
        walk_dir(store, &mut walk, stream, depth, true).await?;
    }
    if direction != Direction::Down {
        walk_dir(store, &mut walk, stream, depth, false).await?;
    }
    Ok(Some(Lineage {
        root: stream.to_string(),
        depth,
        direction,
        nodes: walk.nodes,
        edges: walk.edges,
        truncated: walk.truncated,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn depth_and_direction_are_checked() {
        assert_eq!(parse_depth(None).unwrap(), DEFAULT_DEPTH);
        assert_eq!(parse_depth(Some("3")).unwrap(), 3);
        for bad in ["0", "7", "-1", "two", ""] {
            assert!(parse_depth(Some(bad)).is_err(), "{bad}");
        }
        assert_eq!(Direction::parse("up").unwrap(), Direction::Up);
        assert!(Direction::parse("sideways").is_err());
    }
}
