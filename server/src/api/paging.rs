//! Paged `/v1` lists, one pattern for all: `limit` (1 to the list's maximum, which is
//! also its default) and `after`, the cursor the previous page ended on (a key for lists
//! ordered by one unique column; a JSON array of strings for composite keys). The answer
//! carries `X-Total-Count` where counting is cheap and `Link: <…>; rel="next"` while
//! another page follows; the next page's URL keeps the request's other parameters.
//!
//! Keyset paging, never OFFSET: a page starts strictly after the last key shown, so rows
//! written between two requests neither repeat nor shift others out of the walk.

use super::Params;
use crate::error::ApiError;
use axum::http::{header, HeaderMap, HeaderValue};

/// The largest page of a `/v1` list, also its default page (the audit log's default is
/// smaller).
pub const MAX: usize = 1000;

/// The page a request asks for.
#[derive(Debug, Clone)]
pub struct Page {
    pub limit: usize,
    pub after: Option<String>,
}

impl Page {
    /// `limit` (1 to `max`, default `max`; anything else is a 422) and `after`.
    pub fn from(params: &Params, max: usize) -> Result<Page, ApiError> {
        Ok(Page {
            limit: params.int_in("limit", 1, max, max)?,
            after: params.get("after").map(str::to_string),
        })
    }

    /// The rows to fetch: one more than the page, to tell whether another follows.
    pub fn fetch(&self) -> i64 {
        i64::try_from(self.limit).unwrap_or(i64::MAX - 1) + 1
    }

    /// The composite cursor `after` as its `n` parts (none on the first page); a cursor
    /// that is not a JSON array of `n` strings is a 422.
    pub fn after_parts(&self, n: usize) -> Result<Option<Vec<String>>, ApiError> {
        let Some(a) = &self.after else {
            return Ok(None);
        };
        match serde_json::from_str::<Vec<String>>(a) {
            Ok(v) if v.len() == n => Ok(Some(v)),
            _ => Err(ApiError::Unprocessable(format!(
                "Invalid after '{a}': the cursor from the previous page's Link header \
                 (a JSON array of {n} strings)"
            ))),
        }
    }

    /// The page from up to [`Page::fetch`] rows: the extra row dropped, and the cursor
    /// of the last row shown when it was there.
    pub fn cut<T>(&self, mut rows: Vec<T>, key: impl Fn(&T) -> String) -> (Vec<T>, Option<String>) {
        if rows.len() > self.limit {
            rows.truncate(self.limit);
            let next = rows.last().map(key);
            (rows, next)
        } else {
            (rows, None)
        }
    }
}

/// A composite cursor: the JSON array of `parts`.
pub fn cursor(parts: &[&str]) -> String {
    serde_json::to_string(parts).unwrap_or_default()
}

/// The paging headers of a list at `path`: `X-Total-Count` when `total` is known, and
/// the next page's `Link` (the request's other parameters kept) when `next` is.
pub fn headers(
    path: &str,
    params: &Params,
    page: &Page,
    total: Option<i64>,
    next: Option<&str>,
) -> HeaderMap {
    let mut h = HeaderMap::new();
    if let Some(t) = total {
        h.insert("x-total-count", HeaderValue::from(t));
    }
    if let Some(next) = next {
        let mut q = form_urlencoded::Serializer::new(String::new());
        for (k, v) in &params.0 {
            if k != "limit" && k != "after" {
                q.append_pair(k, v);
            }
        }
        q.append_pair("limit", &page.limit.to_string());
        q.append_pair("after", next);
        // Path segments are the route's own (already encoded in the request URI).
        if let Ok(v) = HeaderValue::from_str(&format!("<{path}?{}>; rel=\"next\"", q.finish())) {
            h.insert(header::LINK, v);
        }
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(q: &[(&str, &str)]) -> Params {
        Params(
            q.iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        )
    }

    #[test]
    fn limits_outside_the_range_are_refused_with_what_they_take() {
        assert_eq!(Page::from(&params(&[]), 50).unwrap().limit, 50);
        assert_eq!(Page::from(&params(&[("limit", "7")]), 50).unwrap().limit, 7);
        for bad in ["0", "51", "-1", "x", ""] {
            let e = Page::from(&params(&[("limit", bad)]), 50).unwrap_err();
            assert!(e.to_string().contains("from 1 to 50"), "{bad}: {e}");
        }
    }

    #[test]
    fn a_page_keeps_one_row_back_to_know_another_follows() {
        let p = Page {
            limit: 2,
            after: None,
        };
        assert_eq!(p.fetch(), 3);
        let (rows, next) = p.cut(vec!["a", "b", "c"], |s| s.to_string());
        assert_eq!((rows, next.as_deref()), (vec!["a", "b"], Some("b")));
        let (rows, next) = p.cut(vec!["a", "b"], |s| s.to_string());
        assert_eq!((rows.len(), next), (2, None));
    }

    #[test]
    fn composite_cursors_round_trip_and_bad_ones_are_422() {
        let c = cursor(&["a:b", "c\"d"]);
        let p = Page {
            limit: 1,
            after: Some(c),
        };
        assert_eq!(p.after_parts(2).unwrap().unwrap(), vec!["a:b", "c\"d"]);
        assert!(p.after_parts(3).is_err());
        let bad = Page {
            limit: 1,
            after: Some("nope".into()),
        };
        assert!(bad.after_parts(2).is_err());
    }

    #[test]
    fn the_next_link_keeps_the_other_parameters() {
        let p = params(&[("team", "a b"), ("limit", "2"), ("after", "x")]);
        let page = Page::from(&p, 10).unwrap();
        let h = headers("/v1/consumers", &p, &page, Some(5), Some("[\"s\",\"t\"]"));
        assert_eq!(h["x-total-count"], "5");
        assert_eq!(
            h[header::LINK],
            "</v1/consumers?team=a+b&limit=2&after=%5B%22s%22%2C%22t%22%5D>; rel=\"next\""
        );
    }
}
