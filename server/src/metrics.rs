//! Request metrics in Prometheus text format: a counter per (route, method, status) and
//! a latency histogram per (route, method). Routes are the matched route templates
//! (`/subjects/{subject}/versions`), so label cardinality stays bounded. The HTTP layer's
//! outermost middleware records every request.

use axum::http::Method;
use std::collections::HashMap;
use std::fmt::Write;
use std::sync::Mutex;

/// Upper bounds of the latency buckets, in seconds.
const BUCKETS: [f64; 12] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0,
];

#[derive(Default)]
struct Histogram {
    buckets: [u64; BUCKETS.len()],
    count: u64,
    sum: f64,
}

/// One route's figures: a few (method, status) counters and a histogram per method,
/// in small vectors so that observing a request allocates nothing after warm-up.
#[derive(Default)]
struct RouteStats {
    requests: Vec<((Method, u16), u64)>,
    latency: Vec<(Method, Histogram)>,
}

/// All routes' figures under one short lock, keyed by route template.
#[derive(Default)]
pub struct Metrics {
    routes: Mutex<HashMap<String, RouteStats>>,
}

impl Metrics {
    pub fn observe(&self, route: &str, method: &Method, status: u16, seconds: f64) {
        let mut routes = self.routes.lock().unwrap_or_else(|p| p.into_inner());
        if !routes.contains_key(route) {
            routes.insert(route.to_string(), RouteStats::default());
        }
        let Some(stats) = routes.get_mut(route) else {
            return;
        };
        match stats
            .requests
            .iter_mut()
            .find(|((m, s), _)| m == method && *s == status)
        {
            Some((_, n)) => *n += 1,
            None => stats.requests.push(((method.clone(), status), 1)),
        }
        let h = match stats.latency.iter().position(|(m, _)| m == method) {
            Some(i) => &mut stats.latency[i].1,
            None => {
                stats.latency.push((method.clone(), Histogram::default()));
                let last = stats.latency.len() - 1;
                &mut stats.latency[last].1
            }
        };
        h.count += 1;
        h.sum += seconds;
        for (i, le) in BUCKETS.iter().enumerate() {
            if seconds <= *le {
                h.buckets[i] += 1;
            }
        }
    }

    /// The exposition text; `counts` is (schemas, subjects) when the database answered,
    /// `writes` the store's (commits, writes committed) since it opened.
    pub fn render(&self, counts: Option<(i64, i64)>, writes: (u64, u64)) -> String {
        let routes = self.routes.lock().unwrap_or_else(|p| p.into_inner());
        let mut names: Vec<&String> = routes.keys().collect();
        names.sort();
        let mut out = String::new();
        out.push_str(
            "# HELP accord_http_requests_total HTTP requests by route, method and status.\n",
        );
        out.push_str("# TYPE accord_http_requests_total counter\n");
        for route in &names {
            for ((method, status), n) in &routes[*route].requests {
                let _ = writeln!(
                    out,
                    "accord_http_requests_total{{route=\"{}\",method=\"{method}\",status=\"{status}\"}} {n}",
                    escape(route)
                );
            }
        }
        out.push_str("# HELP accord_http_request_duration_seconds HTTP request latency by route and method.\n");
        out.push_str("# TYPE accord_http_request_duration_seconds histogram\n");
        for route in &names {
            for (method, h) in &routes[*route].latency {
                let labels = format!("route=\"{}\",method=\"{method}\"", escape(route));
                for (i, le) in BUCKETS.iter().enumerate() {
                    let _ = writeln!(
                        out,
                        "accord_http_request_duration_seconds_bucket{{{labels},le=\"{le}\"}} {}",
                        h.buckets[i]
                    );
                }
                let _ = writeln!(
                    out,
                    "accord_http_request_duration_seconds_bucket{{{labels},le=\"+Inf\"}} {}",
                    h.count
                );
                let _ = writeln!(
                    out,
                    "accord_http_request_duration_seconds_sum{{{labels}}} {}",
                    h.sum
                );
                let _ = writeln!(
                    out,
                    "accord_http_request_duration_seconds_count{{{labels}}} {}",
                    h.count
                );
            }
        }
        let (commits, committed) = writes;
        out.push_str("# HELP accord_write_commits_total Write transactions committed (one per group of writers sharing a commit).\n# TYPE accord_write_commits_total counter\n");
        let _ = writeln!(out, "accord_write_commits_total {commits}");
        out.push_str("# HELP accord_writes_committed_total Writes committed; divided by accord_write_commits_total, the mean group size.\n# TYPE accord_writes_committed_total counter\n");
        let _ = writeln!(out, "accord_writes_committed_total {committed}");
        if let Some((schemas, subjects)) = counts {
            out.push_str("# HELP accord_schemas Schemas stored.\n# TYPE accord_schemas gauge\n");
            let _ = writeln!(out, "accord_schemas {schemas}");
            out.push_str("# HELP accord_subjects Subjects with a live version.\n# TYPE accord_subjects gauge\n");
            let _ = writeln!(out, "accord_subjects {subjects}");
        }
        out
    }
}

fn escape(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"")
}
