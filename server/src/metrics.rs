//! Request metrics in Prometheus text format: a counter per (route, method, status) and
//! a latency histogram per (route, method). Routes are the matched route templates
//! (`/subjects/{subject}/versions`), so label cardinality stays bounded.

use crate::api::AppState;
use axum::extract::{MatchedPath, Request};
use axum::middleware::Next;
use axum::response::Response;
use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::{Arc, Mutex};
use std::time::Instant;

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

#[derive(Default)]
pub struct Metrics {
    requests: Mutex<BTreeMap<(String, String, u16), u64>>,
    latency: Mutex<BTreeMap<(String, String), Histogram>>,
}

impl Metrics {
    pub fn observe(&self, route: &str, method: &str, status: u16, seconds: f64) {
        {
            let mut r = self.requests.lock().unwrap_or_else(|p| p.into_inner());
            *r.entry((route.to_string(), method.to_string(), status))
                .or_default() += 1;
        }
        let mut l = self.latency.lock().unwrap_or_else(|p| p.into_inner());
        let h = l
            .entry((route.to_string(), method.to_string()))
            .or_default();
        h.count += 1;
        h.sum += seconds;
        for (i, le) in BUCKETS.iter().enumerate() {
            if seconds <= *le {
                h.buckets[i] += 1;
            }
        }
    }

    /// The exposition text; `counts` is (schemas, subjects) when the database answered.
    pub fn render(&self, counts: Option<(i64, i64)>) -> String {
        let mut out = String::new();
        out.push_str(
            "# HELP accord_http_requests_total HTTP requests by route, method and status.\n",
        );
        out.push_str("# TYPE accord_http_requests_total counter\n");
        for ((route, method, status), n) in self
            .requests
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
        {
            let _ = writeln!(
                out,
                "accord_http_requests_total{{route=\"{}\",method=\"{method}\",status=\"{status}\"}} {n}",
                escape(route)
            );
        }
        out.push_str("# HELP accord_http_request_duration_seconds HTTP request latency by route and method.\n");
        out.push_str("# TYPE accord_http_request_duration_seconds histogram\n");
        for ((route, method), h) in self
            .latency
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
        {
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

/// Middleware: times every request and counts it under its route template.
pub async fn track(
    axum::extract::State(state): axum::extract::State<Arc<AppState>>,
    req: Request,
    next: Next,
) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "unmatched".to_string());
    let method = req.method().to_string();
    let start = Instant::now();
    let resp = next.run(req).await;
    state.metrics.observe(
        &route,
        &method,
        resp.status().as_u16(),
        start.elapsed().as_secs_f64(),
    );
    resp
}
