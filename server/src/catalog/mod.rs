//! The catalog: full-text search over streams and the subjects bound to no stream.
//!
//! One document per stream (and per free subject) holds its names, subjects, schema
//! fields and docs, contract description, tags, owner, domain, format and lifecycle (see
//! [`index`]). SQLite searches it with FTS5 and bm25, PostgreSQL with a weighted
//! `tsvector` ('simple' configuration: identifiers, not English), both over words that
//! [`text`] has already cut, so both databases find the same documents. The index is
//! rebuilt in the transaction of every change that emits an outbox event
//! ([`refresh`]), so a registration followed at once by a search finds the new field.
//!
//! Ranking: the exact name first, then names starting with the query, then relevance
//! (bm25 or ts_rank), then name. Filters (format, tag, owner, domain, lifecycle)
//! combine with AND; facet counts are over the filtered result set. With auth on, a
//! principal other than an admin does not see streams whose contract restricts reads
//! (`accord.access.read: restricted`) unless its team owns the stream or has an active
//! consumer on it: the rule of [`crate::governance::check_subject_read`].
//!
//! Highlights are computed in Rust from the query words: each [`SearchMatch`] is a text
//! that matched with the matches wrapped in [`MARK_START`]..[`MARK_END`] (U+0001,
//! U+0002), so a page can HTML-escape the text and then turn the markers into `<mark>`.

pub mod extract;
pub mod index;
pub mod text;

pub use index::{ensure_built, refresh, reindex_all};
pub use text::{MARK_END, MARK_START};

use crate::auth::{Actor, Role};
use crate::error::ApiError;
use crate::storage::{Backend, Store, WriteTx};
use index::Parts;
use serde::Serialize;
use sqlx::any::AnyArguments;
use sqlx::{Arguments, Row};
use std::collections::HashMap;
use text::Term;
use utoipa::ToSchema;

/// The largest page.
pub const MAX_LIMIT: u32 = 100;
/// The longest query, in characters.
pub const MAX_QUERY_CHARS: usize = 200;
/// At most this many matches are shown per hit.
const MAX_MATCHES: usize = 8;
/// Longer texts are cut to about this many characters around their first match.
const SNIPPET_CHARS: usize = 160;

/// The formats a `format` filter may name.
pub const FORMATS: &[&str] = &["AVRO", "PROTOBUF", "JSON"];
/// The lifecycles a `lifecycle` filter may name.
pub const LIFECYCLES: &[&str] = &["active", "deprecated"];

/// A search: words (empty: everything, filtered) and filters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SearchQuery {
    pub q: String,
    /// `AVRO`, `PROTOBUF` or `JSON` (any case).
    pub format: Option<String>,
    /// A tag (case-insensitive).
    pub tag: Option<String>,
    /// The owning team (case-insensitive).
    pub owner: Option<String>,
    /// The contract's domain (case-insensitive).
    pub domain: Option<String>,
    /// `active` or `deprecated`.
    pub lifecycle: Option<String>,
    /// 1..=100.
    pub limit: u32,
    pub offset: u32,
}

/// A page of hits, the total and the facets.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SearchResults {
    /// Hits in the whole (filtered) result, not only this page.
    pub total: u64,
    pub hits: Vec<SearchHit>,
    pub facets: Facets,
}

/// A stream, or a subject bound to no stream.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SearchHit {
    /// The stream; absent for a subject bound to no stream.
    pub stream: Option<String>,
    /// The free subject, or the stream's value subject.
    pub subject: Option<String>,
    /// The schema context the subject lives in (`.` unless it is `:.ctx:`-qualified).
    pub context: String,
    /// The stream's name, or the free subject's.
    pub title: String,
    /// The contract's description (purpose, usage, limitations).
    pub description: Option<String>,
    /// `AVRO`, `PROTOBUF` or `JSON`: the latest value schema's.
    pub format: Option<String>,
    /// The owning team (a free subject's: its metadata property `owner`).
    pub owner: Option<String>,
    pub domain: Option<String>,
    /// Contract tags, contract field tags and schema field tags.
    pub tags: Vec<String>,
    /// `active` or `deprecated`.
    pub lifecycle: String,
    /// Relevance (higher is better; 0 without query words). Not comparable across
    /// databases.
    pub score: f64,
    /// What matched, with the matches marked.
    pub matches: Vec<SearchMatch>,
}

/// A text of a hit that the query matched.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SearchMatch {
    /// Where: `name`, `subject`, `field`, `doc`, `description`, `tag` or `owner`.
    pub field: String,
    /// The text with every match wrapped in U+0001..U+0002.
    pub text: String,
}

/// Counts of the filtered result by value, most frequent first (then by value).
#[derive(Debug, Clone, Default, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Facets {
    pub formats: Vec<FacetCount>,
    pub tags: Vec<FacetCount>,
    pub owners: Vec<FacetCount>,
    pub domains: Vec<FacetCount>,
}

/// One facet value and how many hits have it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct FacetCount {
    pub value: String,
    pub count: u64,
}

/// Rebuilds the index entries of a change, in its transaction (called by
/// [`crate::outbox`] for every event).
pub async fn on_change(
    w: &mut WriteTx,
    stream: Option<&str>,
    subject: Option<&str>,
) -> Result<(), ApiError> {
    refresh(&mut w.tx, stream, subject).await
}

impl SearchQuery {
    /// A query with the default page (20 hits from the first).
    pub fn new(q: impl Into<String>) -> SearchQuery {
        SearchQuery {
            q: q.into(),
            limit: 20,
            ..SearchQuery::default()
        }
    }

    /// 422 for a bad parameter, naming it and what is allowed.
    pub fn check(&self) -> Result<(), ApiError> {
        let bad = |m: String| Err(ApiError::Unprocessable(m));
        if self.q.chars().count() > MAX_QUERY_CHARS {
            return bad(format!("q: at most {MAX_QUERY_CHARS} characters"));
        }
        if self.limit == 0 || self.limit > MAX_LIMIT {
            return bad(format!(
                "limit: expected 1 to {MAX_LIMIT}, got {}",
                self.limit
            ));
        }
        if let Some(f) = &self.format {
            if !FORMATS.iter().any(|x| x.eq_ignore_ascii_case(f)) {
                return bad(format!(
                    "format: expected one of {}, got '{f}'",
                    FORMATS.join(", ")
                ));
            }
        }
        if let Some(l) = &self.lifecycle {
            if !LIFECYCLES.iter().any(|x| x.eq_ignore_ascii_case(l)) {
                return bad(format!(
                    "lifecycle: expected one of {}, got '{l}'",
                    LIFECYCLES.join(", ")
                ));
            }
        }
        for (name, v) in [
            ("tag", &self.tag),
            ("owner", &self.owner),
            ("domain", &self.domain),
        ] {
            if v.as_ref()
                .is_some_and(|v| v.trim().is_empty() || v.len() > 200)
            {
                return bad(format!(
                    "{name}: expected a non-empty value of at most 200 characters"
                ));
            }
        }
        Ok(())
    }
}

/// SQL text with `$n` placeholders and their values, built together.
struct Sql {
    text: String,
    args: AnyArguments<'static>,
    n: usize,
}

impl Sql {
    fn new() -> Sql {
        Sql {
            text: String::new(),
            args: AnyArguments::default(),
            n: 0,
        }
    }

    fn push(&mut self, s: &str) -> &mut Sql {
        self.text.push_str(s);
        self
    }

    fn bind_str(&mut self, v: String) -> &mut Sql {
        self.n += 1;
        self.text.push_str(&format!("${}", self.n));
        // Adding a String to AnyArguments cannot fail.
        let _ = self.args.add(v);
        self
    }

    fn bind_i64(&mut self, v: i64) -> &mut Sql {
        self.n += 1;
        self.text.push_str(&format!("${}", self.n));
        let _ = self.args.add(v);
        self
    }
}

/// The `FROM ... WHERE ...` of a search (the matching, filtered, visible documents),
/// and the expression of its score.
fn from_where(
    sql: &mut Sql,
    backend: Backend,
    actor: &Actor,
    q: &SearchQuery,
    terms: &[Term],
) -> String {
    let pg = backend == Backend::Postgres;
    let score;
    if terms.is_empty() {
        sql.push(" FROM catalog_docs d WHERE 1 = 1");
        score = if pg {
            "CAST(0 AS DOUBLE PRECISION)".to_string()
        } else {
            "0.0".to_string()
        };
    } else if pg {
        let tsq = text::tsquery(terms);
        sql.push(" FROM catalog_docs d WHERE d.tsv @@ to_tsquery('simple', ")
            .bind_str(tsq.clone())
            .push(")");
        let n = sql.n;
        score = format!("CAST(ts_rank(d.tsv, to_tsquery('simple', ${n})) AS DOUBLE PRECISION)");
    } else {
        sql.push(" FROM catalog_fts JOIN catalog_docs d ON d.id = catalog_fts.rowid WHERE catalog_fts MATCH ")
            .bind_str(text::fts5_query(terms));
        // Column weights: name, subjects, fields, docs, description, tags, owner.
        score = "(0.0 - bm25(catalog_fts, 10.0, 6.0, 4.0, 1.0, 2.0, 4.0, 3.0))".to_string();
    }
    // A free subject whose versions were all deleted since it was indexed is gone.
    sql.push(
        " AND (d.stream IS NOT NULL OR EXISTS (SELECT 1 FROM subject_versions v \
         WHERE v.subject = d.subject AND v.deleted = 0))",
    );
    if let Some(f) = &q.format {
        sql.push(" AND d.format = ")
            .bind_str(f.to_ascii_uppercase());
    }
    if let Some(t) = &q.tag {
        sql.push(" AND EXISTS (SELECT 1 FROM catalog_tags t WHERE t.doc_id = d.id AND t.tag_lc = ")
            .bind_str(t.trim().to_lowercase())
            .push(")");
    }
    if let Some(o) = &q.owner {
        sql.push(" AND d.owner_lc = ")
            .bind_str(o.trim().to_lowercase());
    }
    if let Some(dm) = &q.domain {
        sql.push(" AND d.domain_lc = ")
            .bind_str(dm.trim().to_lowercase());
    }
    if let Some(l) = &q.lifecycle {
        sql.push(" AND d.lifecycle = ")
            .bind_str(l.to_ascii_lowercase());
    }
    if let Actor::Principal(p) = actor {
        if p.role != Role::Admin {
            let team = p.team.clone().unwrap_or_default();
            sql.push(" AND (d.read_access <> 'restricted' OR (")
                .bind_str(team.clone())
                .push(" <> '' AND (d.owner = ")
                .bind_str(team.clone())
                .push(" OR EXISTS (SELECT 1 FROM stream_consumers c WHERE c.stream = d.stream AND c.team = ")
                .bind_str(team)
                .push(" AND c.status = 'active'))))");
        }
    }
    score
}

/// The first `limit` streams by name whose contract declares `domain` (as the index
/// holds it), and how many there are in all.
pub async fn streams_of_domain(
    store: &Store,
    domain: &str,
    limit: usize,
) -> Result<(Vec<String>, usize), ApiError> {
    let filter = "FROM catalog_docs WHERE domain_lc = $1 AND domain = $2 AND stream IS NOT NULL";
    let names = sqlx::query(&format!(
        "SELECT stream {filter} ORDER BY stream LIMIT {limit}"
    ))
    .bind(domain.to_lowercase())
    .bind(domain)
    .fetch_all(store.reader())
    .await?
    .iter()
    .map(|r| r.try_get::<String, _>("stream"))
    .collect::<Result<Vec<_>, _>>()?;
    let total: i64 = sqlx::query(&format!("SELECT COUNT(*) AS n {filter}"))
        .bind(domain.to_lowercase())
        .bind(domain)
        .fetch_one(store.reader())
        .await?
        .try_get("n")?;
    Ok((names, usize::try_from(total).unwrap_or(0)))
}

/// Every domain a stream's contract declares, sorted.
pub async fn domains(store: &Store) -> Result<Vec<String>, ApiError> {
    Ok(sqlx::query(
        "SELECT DISTINCT domain FROM catalog_docs WHERE domain IS NOT NULL AND stream IS NOT NULL ORDER BY domain",
    )
    .fetch_all(store.reader())
    .await?
    .iter()
    .map(|r| r.try_get::<String, _>("domain"))
    .collect::<Result<Vec<_>, _>>()?)
}

/// Searches the catalog as `actor` may see it.
///
/// Three queries in one read transaction (one snapshot): the total and facets, the
/// page (narrow rows, ordered), and the page's details.
pub async fn search(
    store: &Store,
    actor: &Actor,
    q: &SearchQuery,
) -> Result<SearchResults, ApiError> {
    q.check()?;
    let terms = text::terms(&q.q);
    let backend = store.backend();
    let mut tx = store.reader().begin().await?;
    if backend == Backend::Postgres {
        // The plans are cheap, but the cost estimates of the access and liveness checks
        // can cross the JIT threshold, and compiling costs far more than the query.
        sqlx::query("SET LOCAL jit = off").execute(&mut *tx).await?;
    }

    // Total and facets over the whole filtered result.
    let mut agg = Sql::new();
    agg.push("WITH m AS (SELECT d.id, d.format, d.owner, d.domain");
    from_where(&mut agg, backend, actor, q, &terms);
    agg.push(
        ") SELECT 'n' AS kind, '' AS value, COUNT(*) AS n FROM m \
         UNION ALL SELECT 'f', m.format, COUNT(*) FROM m WHERE m.format IS NOT NULL GROUP BY m.format \
         UNION ALL SELECT 'o', m.owner, COUNT(*) FROM m WHERE m.owner IS NOT NULL GROUP BY m.owner \
         UNION ALL SELECT 'd', m.domain, COUNT(*) FROM m WHERE m.domain IS NOT NULL GROUP BY m.domain \
         UNION ALL SELECT 't', MIN(t.tag), COUNT(*) FROM m JOIN catalog_tags t ON t.doc_id = m.id GROUP BY t.tag_lc",
    );
    let rows = sqlx::query_with(&agg.text, agg.args)
        .fetch_all(&mut *tx)
        .await?;
    let mut total = 0;
    let mut facets = Facets::default();
    for r in rows {
        let kind: String = r.try_get("kind")?;
        let value: String = r.try_get("value")?;
        let count = r.try_get::<i64, _>("n")?.max(0) as u64;
        let list = match kind.as_str() {
            "n" => {
                total = count;
                continue;
            }
            "f" => &mut facets.formats,
            "o" => &mut facets.owners,
            "d" => &mut facets.domains,
            _ => &mut facets.tags,
        };
        list.push(FacetCount { value, count });
    }
    for list in [
        &mut facets.formats,
        &mut facets.owners,
        &mut facets.domains,
        &mut facets.tags,
    ] {
        list.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.value.cmp(&b.value)));
    }

    // The page. The select list has no placeholders, so it goes in front of the FROM
    // once the FROM has told the score expression.
    let mut page = Sql::new();
    let score = from_where(&mut page, backend, actor, q, &terms);
    page.push(" ORDER BY ");
    if !terms.is_empty() {
        let needle = q.q.trim().to_lowercase();
        let len = needle.chars().count() as i64;
        page.push("CASE WHEN d.title_lc = ")
            .bind_str(needle.clone())
            .push(" THEN 0 WHEN substr(d.title_lc, 1, CAST(")
            .bind_i64(len)
            .push(" AS INTEGER)) = ")
            .bind_str(needle)
            .push(" THEN 1 ELSE 2 END, score DESC, ");
    }
    page.push("d.title_lc, d.id LIMIT ")
        .bind_i64(i64::from(q.limit))
        .push(" OFFSET ")
        .bind_i64(i64::from(q.offset));
    let text = format!(
        "SELECT d.id, d.stream, d.subject, d.title, d.format, d.owner, d.domain, d.lifecycle, \
         {score} AS score{}",
        page.text
    );
    let rows = sqlx::query_with(&text, page.args)
        .fetch_all(&mut *tx)
        .await?;
    let mut hits = Vec::with_capacity(rows.len());
    let mut ids = Vec::with_capacity(rows.len());
    for r in rows {
        ids.push(r.try_get::<i64, _>("id")?);
        let subject: Option<String> = r.try_get("subject")?;
        hits.push(SearchHit {
            stream: r.try_get("stream")?,
            context: subject
                .as_deref()
                .map_or(crate::context::DEFAULT, crate::context::of)
                .to_string(),
            subject,
            title: r.try_get("title")?,
            description: None,
            format: r.try_get("format")?,
            owner: r.try_get("owner")?,
            domain: r.try_get("domain")?,
            tags: Vec::new(),
            lifecycle: r.try_get("lifecycle")?,
            score: r.try_get("score")?,
            matches: Vec::new(),
        });
    }

    // The page's details: description, tags, and the texts to highlight.
    let mut details: HashMap<i64, (Option<String>, Vec<String>, Parts)> = HashMap::new();
    if !ids.is_empty() {
        let mut d = Sql::new();
        d.push("SELECT doc_id, description, tags, parts FROM catalog_details WHERE doc_id IN (");
        for (i, id) in ids.iter().enumerate() {
            if i > 0 {
                d.push(", ");
            }
            d.bind_i64(*id);
        }
        d.push(")");
        for r in sqlx::query_with(&d.text, d.args)
            .fetch_all(&mut *tx)
            .await?
        {
            let tags: String = r.try_get("tags")?;
            let parts: String = r.try_get("parts")?;
            details.insert(
                r.try_get("doc_id")?,
                (
                    r.try_get("description")?,
                    serde_json::from_str(&tags).map_err(ApiError::internal)?,
                    serde_json::from_str(&parts).map_err(ApiError::internal)?,
                ),
            );
        }
    }
    tx.commit().await?;
    for (hit, id) in hits.iter_mut().zip(&ids) {
        let Some((description, tags, parts)) = details.remove(id) else {
            continue;
        };
        hit.description = description;
        hit.tags = tags;
        if !terms.is_empty() {
            hit.matches = highlights(hit, &parts, &terms);
        }
    }
    Ok(SearchResults {
        total,
        hits,
        facets,
    })
}

/// The texts of `hit` that `terms` match, marked, in the order name, subject, field,
/// doc, description, tag, owner.
fn highlights(hit: &SearchHit, parts: &Parts, terms: &[Term]) -> Vec<SearchMatch> {
    let mut out = Vec::new();
    let mut seen: HashMap<(&str, String), ()> = HashMap::new();
    let groups: [(&str, Vec<&str>); 7] = [
        ("name", vec![hit.title.as_str()]),
        (
            "subject",
            parts.subjects.iter().map(String::as_str).collect(),
        ),
        ("field", parts.fields.iter().map(String::as_str).collect()),
        ("doc", parts.docs.iter().map(String::as_str).collect()),
        (
            "description",
            hit.description.as_deref().into_iter().collect(),
        ),
        ("tag", hit.tags.iter().map(String::as_str).collect()),
        ("owner", hit.owner.as_deref().into_iter().collect()),
    ];
    for (field, texts) in groups {
        for t in texts {
            if out.len() >= MAX_MATCHES {
                return out;
            }
            if let Some(text) = text::highlight(t, terms, SNIPPET_CHARS) {
                if seen.insert((field, text.clone()), ()).is_none() {
                    out.push(SearchMatch {
                        field: field.to_string(),
                        text,
                    });
                }
            }
        }
    }
    out
}
