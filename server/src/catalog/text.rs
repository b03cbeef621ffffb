//! Words, queries and highlights: the one tokeniser the index and the queries share.
//!
//! Both databases index text that this module has already cut into lowercase words, so
//! SQLite's FTS5 and PostgreSQL's 'simple' configuration see the same words and find the
//! same documents. Identifiers are cut at every non-alphanumeric character (`order_id`
//! is `order id`) and at camelCase boundaries, with the whole camelCase word kept too
//! (`orderId` is `order id orderid`). A query word becomes a phrase of its parts whose
//! last part is a prefix, so `order_id`, `order` and `ord` all find `order_id`.

use std::ops::Range;

/// Start of a highlighted match in [`highlight`]'s output.
pub const MARK_START: char = '\u{1}';
/// End of a highlighted match.
pub const MARK_END: char = '\u{2}';

/// About this many bytes of words per document column go into the index (PostgreSQL
/// refuses a tsvector over 1 MB).
const MAX_INDEXED_BYTES: usize = 100_000;

/// Byte ranges of the alphanumeric runs of `text`.
fn runs(text: &str) -> Vec<Range<usize>> {
    let mut out = Vec::new();
    let mut start = None;
    for (i, c) in text.char_indices() {
        match (c.is_alphanumeric(), start) {
            (true, None) => start = Some(i),
            (false, Some(s)) => {
                out.push(s..i);
                start = None;
            }
            _ => {}
        }
    }
    if let Some(s) = start {
        out.push(s..text.len());
    }
    out
}

/// Byte ranges of the camelCase parts of one alphanumeric run (relative to `text`):
/// a part starts at an upper-case letter after a lower-case one or a digit, and at the
/// last upper-case letter of an upper-case run followed by a lower-case one
/// (`HTTPServer` is `HTTP`, `Server`).
fn camel_parts(text: &str, run: Range<usize>) -> Vec<Range<usize>> {
    let s = &text[run.clone()];
    let chars: Vec<(usize, char)> = s.char_indices().collect();
    let mut out = Vec::new();
    let mut start = 0;
    for k in 1..chars.len() {
        let (i, c) = chars[k];
        let prev = chars[k - 1].1;
        let next_lower = chars.get(k + 1).is_some_and(|(_, n)| n.is_lowercase());
        let boundary = c.is_uppercase()
            && (prev.is_lowercase() || prev.is_numeric() || (prev.is_uppercase() && next_lower));
        if boundary {
            out.push(run.start + start..run.start + i);
            start = i;
        }
    }
    out.push(run.start + start..run.end);
    out
}

/// The words of `text` as the index holds them, space-separated.
pub fn index_words<'a>(texts: impl IntoIterator<Item = &'a str>) -> String {
    let mut out = String::new();
    for text in texts {
        for run in runs(text) {
            if out.len() > MAX_INDEXED_BYTES {
                return out;
            }
            let parts = camel_parts(text, run.clone());
            for p in &parts {
                push_word(&mut out, &text[p.clone()]);
            }
            if parts.len() > 1 {
                push_word(&mut out, &text[run]);
            }
        }
    }
    out
}

fn push_word(out: &mut String, word: &str) {
    if !out.is_empty() {
        out.push(' ');
    }
    out.extend(word.chars().flat_map(char::to_lowercase));
}

/// A query word: its lowercase parts; the last one matches as a prefix.
pub type Term = Vec<String>;

/// The terms of a query: whitespace-separated words, each cut at non-alphanumeric
/// characters. Words without any letter or digit are dropped.
pub fn terms(q: &str) -> Vec<Term> {
    q.split_whitespace()
        .map(|w| {
            runs(w)
                .into_iter()
                .map(|r| w[r].to_lowercase())
                .collect::<Vec<_>>()
        })
        .filter(|t| !t.is_empty())
        .take(16)
        .collect()
}

/// The FTS5 MATCH expression: every term (AND), each a phrase with a prefix last part.
/// Parts are alphanumeric, so quoting them is enough.
pub fn fts5_query(terms: &[Term]) -> String {
    terms
        .iter()
        .map(|t| format!("\"{}\"*", t.join(" ")))
        .collect::<Vec<_>>()
        .join(" AND ")
}

/// The `to_tsquery` expression: every term (`&`), each a `<->` phrase with a `:*`
/// prefix last part. Parts are alphanumeric, so quoting them is enough.
pub fn tsquery(terms: &[Term]) -> String {
    terms
        .iter()
        .map(|t| {
            let last = t.len() - 1;
            let parts: Vec<String> = t
                .iter()
                .enumerate()
                .map(|(i, p)| {
                    if i == last {
                        format!("'{p}':*")
                    } else {
                        format!("'{p}'")
                    }
                })
                .collect();
            format!("({})", parts.join(" <-> "))
        })
        .collect::<Vec<_>>()
        .join(" & ")
}

/// How often `terms` occur in `words` (a column as the index holds it: lower-case
/// words separated by spaces), each term as FTS5 and the tsquery match it: its parts
/// in a row, the last one a prefix. Also the column's length in words.
pub fn occurrences(words: &str, terms: &[Term]) -> (usize, usize) {
    let words: Vec<&str> = words.split(' ').filter(|w| !w.is_empty()).collect();
    let mut n = 0;
    for term in terms {
        let k = term.len();
        let last = term[k - 1].as_str();
        for i in 0..words.len().saturating_sub(k - 1) {
            if (0..k - 1).all(|j| words[i + j] == term[j]) && words[i + k - 1].starts_with(last) {
                n += 1;
            }
        }
    }
    (n, words.len())
}

/// Byte length in `word` of its first `n` characters.
fn prefix_len(word: &str, n: usize) -> usize {
    word.char_indices().nth(n).map_or(word.len(), |(i, _)| i)
}

/// The byte ranges of `text` that `terms` match, merged and in order.
fn matches(text: &str, terms: &[Term]) -> Vec<Range<usize>> {
    let runs = runs(text);
    let parts: Vec<Range<usize>> = runs
        .iter()
        .flat_map(|r| camel_parts(text, r.clone()))
        .collect();
    let lower = |r: &Range<usize>| text[r.clone()].to_lowercase();
    let part_words: Vec<String> = parts.iter().map(lower).collect();
    let run_words: Vec<String> = runs.iter().map(lower).collect();
    let mut spans = Vec::new();
    for term in terms {
        let k = term.len();
        let last = &term[k - 1];
        for i in 0..part_words.len().saturating_sub(k - 1) {
            let whole = (0..k - 1).all(|j| part_words[i + j] == term[j]);
            if whole && part_words[i + k - 1].starts_with(last.as_str()) {
                let end_part = &parts[i + k - 1];
                let n = last.chars().count();
                let end = end_part.start + prefix_len(&text[end_part.clone()], n);
                spans.push(parts[i].start..end);
            }
        }
        if k == 1 {
            for (i, w) in run_words.iter().enumerate() {
                if w.starts_with(last.as_str()) {
                    let r = &runs[i];
                    spans.push(
                        r.start..r.start + prefix_len(&text[r.clone()], last.chars().count()),
                    );
                }
            }
        }
    }
    spans.sort_by_key(|r| (r.start, std::cmp::Reverse(r.end)));
    let mut merged: Vec<Range<usize>> = Vec::new();
    for s in spans {
        match merged.last_mut() {
            Some(m) if s.start <= m.end => m.end = m.end.max(s.end),
            _ => merged.push(s),
        }
    }
    merged
}

/// `text` with every match of `terms` wrapped in [`MARK_START`]..[`MARK_END`], cut to
/// about `max_chars` characters around the first match; `None` when nothing matches.
/// Marker characters already in `text` are dropped so that markers are unambiguous.
pub fn highlight(text: &str, terms: &[Term], max_chars: usize) -> Option<String> {
    let clean: String;
    let text = if text.contains([MARK_START, MARK_END]) {
        clean = text.replace([MARK_START, MARK_END], "");
        &clean
    } else {
        text
    };
    let spans = matches(text, terms);
    let first = spans.first()?;
    let (from, to) = window(text, first.start, max_chars);
    let mut out = String::new();
    if from > 0 {
        out.push('…');
    }
    let mut at = from;
    for s in spans.iter().filter(|s| s.start >= from && s.end <= to) {
        out.push_str(&text[at..s.start]);
        out.push(MARK_START);
        out.push_str(&text[s.clone()]);
        out.push(MARK_END);
        at = s.end;
    }
    out.push_str(&text[at..to]);
    if to < text.len() {
        out.push('…');
    }
    Some(out)
}

/// Byte bounds of a window of about `max_chars` characters of `text` that shows the
/// byte offset `focus`, starting a little before it.
fn window(text: &str, focus: usize, max_chars: usize) -> (usize, usize) {
    if text.chars().count() <= max_chars {
        return (0, text.len());
    }
    let before = max_chars / 4;
    let head = &text[..focus];
    let from = head
        .char_indices()
        .rev()
        .nth(before.saturating_sub(1))
        .map_or(0, |(i, _)| i);
    let to = text[from..]
        .char_indices()
        .nth(max_chars)
        .map_or(text.len(), |(i, _)| from + i);
    (from, to)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mark(s: &str) -> String {
        s.replace(MARK_START, "[").replace(MARK_END, "]")
    }

    #[test]
    fn identifiers_are_cut_into_words() {
        assert_eq!(index_words(["order_id"]), "order id");
        assert_eq!(index_words(["orderId"]), "order id orderid");
        assert_eq!(index_words(["HTTPServer v2"]), "http server httpserver v2");
        assert_eq!(index_words(["com.acme.Order"]), "com acme order");
    }

    #[test]
    fn queries() {
        let t = terms("order_id  CUST");
        assert_eq!(t, vec![vec!["order", "id"], vec!["cust"]]);
        assert_eq!(fts5_query(&t), "\"order id\"* AND \"cust\"*");
        assert_eq!(tsquery(&t), "('order' <-> 'id':*) & ('cust':*)");
        assert!(terms(" -- ").is_empty());
    }

    #[test]
    fn highlights() {
        let h = |text: &str, q: &str| highlight(text, &terms(q), 200).map(|s| mark(&s));
        assert_eq!(h("order_id", "id").as_deref(), Some("order_[id]"));
        assert_eq!(h("order_id", "ord").as_deref(), Some("[ord]er_id"));
        assert_eq!(h("order_id", "order_id").as_deref(), Some("[order_id]"));
        assert_eq!(h("customerOrderId", "orderid").as_deref(), None);
        assert_eq!(h("orderId", "orderid").as_deref(), Some("[orderId]"));
        assert_eq!(
            h("customerOrderId", "order").as_deref(),
            Some("customer[Order]Id")
        );
        assert_eq!(h("total", "order"), None);
        let long = format!("{} the order {}", "x ".repeat(200), "y ".repeat(200));
        let out = highlight(&long, &terms("order"), 40).unwrap();
        assert!(out.starts_with('…') && out.ends_with('…'), "{out}");
        assert!(mark(&out).contains("[order]"));
    }
}
