//! The catalog's documents as this node holds them in memory: the names, format, owner,
//! domain, lifecycle, read restriction and tags of every document, ordered by name.
//!
//! A search finds its matches in the database (FTS5 or the tsvector index, the ids
//! only) and does the rest here: the filters, the read access, the total, the facets and
//! the order by name. Joining tens of thousands of matches to `catalog_docs` in SQL for
//! those cost a second at 100,000 streams; here it is a walk over a few megabytes.
//!
//! The copy catches up by revision (migration 0019), inside the search's own read
//! transaction: one read of `catalog_state` when nothing changed, the documents written
//! and the ids removed since its revision when something did, everything after a
//! rebuild of the index. Revisions are raised under the writers' lock, so they become
//! visible in order and a node never skips one. Nothing is sent between nodes.

use super::{FacetCount, Facets, SearchHit};
use crate::error::ApiError;
use futures::TryStreamExt;
use sqlx::{AnyConnection, Row};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::RwLock;

/// A set with a fast hash (ids and names, not attacker-chosen keys of a long-lived map).
pub(crate) type FastSet<T> = HashSet<T, foldhash::fast::RandomState>;

type R<T> = Result<T, ApiError>;

/// An interned string: owners, domains, formats, lifecycles and tags repeat across
/// documents.
type Sym = u32;

#[derive(Default)]
struct Interner {
    names: Vec<Box<str>>,
    /// Each symbol's lower-case form (a symbol too).
    lower: Vec<Sym>,
    ids: HashMap<Box<str>, Sym>,
}

impl Interner {
    fn id(&mut self, s: &str) -> Sym {
        if let Some(id) = self.ids.get(s) {
            return *id;
        }
        // The lower-case form first (its own lower-case form is itself).
        let lc = s.to_lowercase();
        let lower = (lc != s).then(|| self.id(&lc));
        let id = Sym::try_from(self.names.len()).expect("fewer than 2^32 distinct values");
        self.names.push(s.into());
        self.ids.insert(s.into(), id);
        self.lower.push(lower.unwrap_or(id));
        id
    }

    fn name(&self, id: Sym) -> &str {
        &self.names[id as usize]
    }

    fn lower(&self, id: Sym) -> Sym {
        self.lower[id as usize]
    }

    /// Which symbols equal `value` once lower-cased (`None`: no filter).
    fn matching_lower(&self, value: Option<&str>) -> Option<Vec<bool>> {
        let v = self.ids.get(value?).copied();
        Some(
            (0..self.lower.len())
                .map(|i| Some(self.lower[i]) == v)
                .collect(),
        )
    }

    /// Which symbols equal `value` exactly.
    fn matching(&self, value: Option<&str>) -> Option<Vec<bool>> {
        let v = self.ids.get(value?).copied();
        Some((0..self.names.len()).map(|i| Some(i as Sym) == v).collect())
    }
}

/// One document as a search needs it.
struct Doc {
    stream: Option<Box<str>>,
    subject: Option<Box<str>>,
    title: Box<str>,
    format: Option<Sym>,
    owner: Option<Sym>,
    domain: Option<Sym>,
    lifecycle: Sym,
    restricted: bool,
    tags: Tags,
}

/// A document's tags: up to four inline (most documents have a few), so that counting
/// the facets over every document does not follow a pointer for each.
enum Tags {
    Inline(u8, [Sym; 4]),
    Boxed(Box<[Sym]>),
}

impl Tags {
    fn new(tags: Vec<Sym>) -> Tags {
        if tags.len() <= 4 {
            let mut inline = [0; 4];
            inline[..tags.len()].copy_from_slice(&tags);
            Tags::Inline(tags.len() as u8, inline)
        } else {
            Tags::Boxed(tags.into())
        }
    }

    fn as_slice(&self) -> &[Sym] {
        match self {
            Tags::Inline(n, tags) => &tags[..usize::from(*n)],
            Tags::Boxed(tags) => tags,
        }
    }
}

/// The documents, by (lower-cased title, id): the order of a page without query words.
#[derive(Default)]
struct Table {
    /// The catalog revision this copy holds; `None` until loaded.
    rev: Option<i64>,
    docs: BTreeMap<(Box<str>, i64), Doc>,
    /// Each id's lower-cased title (its key in `docs`).
    titles: HashMap<i64, Box<str>>,
    syms: Interner,
    restricted: usize,
}

/// A row of `catalog_docs` (and its tags) as read for the copy.
struct DocRow {
    id: i64,
    title_lc: String,
    stream: Option<String>,
    subject: Option<String>,
    title: String,
    format: Option<String>,
    owner: Option<String>,
    domain: Option<String>,
    lifecycle: String,
    read_access: String,
    tags: Vec<String>,
}

impl Table {
    fn remove(&mut self, id: i64) {
        if let Some(t) = self.titles.remove(&id) {
            if let Some(d) = self.docs.remove(&(t, id)) {
                self.restricted -= usize::from(d.restricted);
            }
        }
    }

    fn put(&mut self, row: DocRow) {
        self.remove(row.id);
        let syms = &mut self.syms;
        let mut tags: Vec<Sym> = row.tags.iter().map(|t| syms.id(t)).collect();
        tags.sort_by(|a, b| syms.name(*a).cmp(syms.name(*b)));
        let doc = Doc {
            stream: row.stream.map(Into::into),
            subject: row.subject.map(Into::into),
            title: row.title.into(),
            format: row.format.map(|s| syms.id(&s)),
            owner: row.owner.map(|s| syms.id(&s)),
            domain: row.domain.map(|s| syms.id(&s)),
            lifecycle: syms.id(&row.lifecycle),
            restricted: row.read_access == "restricted",
            tags: Tags::new(tags),
        };
        self.restricted += usize::from(doc.restricted);
        let title: Box<str> = row.title_lc.into();
        self.titles.insert(row.id, title.clone());
        self.docs.insert((title, row.id), doc);
    }
}

/// This node's copy of the catalog's documents (one per store).
#[derive(Default)]
pub struct Meta {
    table: RwLock<Table>,
}

const DOC_COLUMNS: &str = "SELECT id, stream, subject, title, title_lc, format, owner, domain, \
                           lifecycle, read_access FROM catalog_docs";

/// Reads documents (all, or those written after revision `since`) with their tags.
async fn read_docs(conn: &mut AnyConnection, since: Option<i64>) -> R<Vec<DocRow>> {
    let mut out = Vec::new();
    let mut at: HashMap<i64, usize> = HashMap::new();
    {
        let sql = match since {
            None => DOC_COLUMNS.to_string(),
            Some(_) => format!("{DOC_COLUMNS} WHERE rev > $1"),
        };
        let mut query = sqlx::query(&sql);
        if let Some(since) = since {
            query = query.bind(since);
        }
        let mut rows = query.fetch(&mut *conn);
        while let Some(r) = rows.try_next().await? {
            let id: i64 = r.try_get("id")?;
            at.insert(id, out.len());
            out.push(DocRow {
                id,
                title_lc: r.try_get("title_lc")?,
                stream: r.try_get("stream")?,
                subject: r.try_get("subject")?,
                title: r.try_get("title")?,
                format: r.try_get("format")?,
                owner: r.try_get("owner")?,
                domain: r.try_get("domain")?,
                lifecycle: r.try_get("lifecycle")?,
                read_access: r.try_get("read_access")?,
                tags: Vec::new(),
            });
        }
    }
    let sql = match since {
        None => "SELECT doc_id, tag FROM catalog_tags",
        Some(_) => {
            "SELECT t.doc_id, t.tag FROM catalog_tags t JOIN catalog_docs d ON d.id = t.doc_id \
             WHERE d.rev > $1"
        }
    };
    let mut query = sqlx::query(sql);
    if let Some(since) = since {
        query = query.bind(since);
    }
    let mut rows = query.fetch(&mut *conn);
    while let Some(r) = rows.try_next().await? {
        let id: i64 = r.try_get("doc_id")?;
        if let Some(i) = at.get(&id) {
            out[*i].tags.push(r.try_get("tag")?);
        }
    }
    Ok(out)
}

impl Meta {
    /// Brings the copy up to the revision `conn`'s transaction sees.
    pub(crate) async fn sync(&self, conn: &mut AnyConnection) -> R<()> {
        let row = sqlx::query("SELECT rev, rebuilt_rev FROM catalog_state WHERE id = 1")
            .fetch_one(&mut *conn)
            .await?;
        let (rev, rebuilt): (i64, i64) = (row.try_get("rev")?, row.try_get("rebuilt_rev")?);
        let have = self.read().rev;
        match have {
            Some(h) if h >= rev => Ok(()),
            Some(h) if rebuilt <= h => {
                let gone: Vec<i64> = sqlx::query("SELECT doc_id FROM catalog_gone WHERE rev > $1")
                    .bind(h)
                    .fetch_all(&mut *conn)
                    .await?
                    .iter()
                    .map(|r| r.try_get("doc_id"))
                    .collect::<Result<_, _>>()?;
                let rows = read_docs(conn, Some(h)).await?;
                let mut t = self.write();
                // Another search may have caught up meanwhile, from a snapshot as new.
                if t.rev.is_some_and(|cur| cur < rev) {
                    // Removals first: a document stored now was written after any
                    // removal of its id.
                    for id in gone {
                        t.remove(id);
                    }
                    for row in rows {
                        t.put(row);
                    }
                    t.rev = Some(rev);
                }
                Ok(())
            }
            _ => {
                let rows = read_docs(conn, None).await?;
                let mut fresh = Table::default();
                for row in rows {
                    fresh.put(row);
                }
                fresh.rev = Some(rev);
                let mut t = self.write();
                if t.rev.is_none_or(|cur| cur < rev) {
                    *t = fresh;
                }
                Ok(())
            }
        }
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Table> {
        self.table.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Table> {
        self.table.write().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether any document restricts reads (then a principal's consumer streams
    /// matter).
    pub(crate) fn any_restricted(&self) -> bool {
        self.read().restricted > 0
    }
}

/// What a search asks of the copy, its words already matched in the database.
pub(crate) struct Ask {
    /// The ids the query words matched (`None`: no words, every document).
    pub matches: Option<Matches>,
    /// How many hits the page needs (its offset and length): past that many in the
    /// name tier, the walk no longer looks for more.
    pub wanted: usize,
    /// Upper-cased.
    pub format: Option<String>,
    /// Lower-cased and trimmed, as the `*_lc` columns hold them.
    pub tag: Option<String>,
    pub owner: Option<String>,
    pub domain: Option<String>,
    pub lifecycle: Option<String>,
    pub access: Access,
    /// The whole query, lower-cased and trimmed, and its words' parts (for the name
    /// tiers of [`Found::ranked`]).
    pub needle: String,
    pub parts: Vec<String>,
}

/// A set of document ids: a bitmap when the ids are dense enough (they are: the
/// documents' row ids), else a hash set.
pub(crate) enum Matches {
    Bits(Vec<u64>),
    Set(FastSet<i64>),
}

impl Matches {
    pub(crate) fn new(ids: Vec<i64>) -> Matches {
        let max = ids.iter().copied().max().unwrap_or(0);
        let dense = max >= 0 && max / 64 <= 16 * ids.len() as i64 + 16_384;
        if dense && ids.iter().all(|id| *id >= 0) {
            let mut bits = vec![0u64; (max / 64 + 1) as usize];
            for id in ids {
                bits[(id / 64) as usize] |= 1 << (id % 64);
            }
            Matches::Bits(bits)
        } else {
            Matches::Set(ids.into_iter().collect())
        }
    }

    fn contains(&self, id: i64) -> bool {
        match self {
            Matches::Bits(bits) => {
                id >= 0
                    && bits
                        .get((id / 64) as usize)
                        .is_some_and(|w| w & (1 << (id % 64)) != 0)
            }
            Matches::Set(set) => set.contains(&id),
        }
    }
}

/// Which restricted documents a searcher sees.
pub(crate) enum Access {
    /// Every document (an admin, or auth off).
    All,
    /// A principal other than an admin: a restricted document only when its team owns
    /// it or consumes the stream (active).
    Team {
        team: Option<String>,
        consumes: FastSet<String>,
    },
}

/// A document's place among the hits before relevance: the exact name first, then
/// names starting with the query, then names containing every query word, then the rest.
pub(crate) type Tier = u8;

/// What the copy answers: the total, the facets, and the hits in name order with
/// their tier.
pub(crate) struct Found {
    pub total: u64,
    pub facets: Facets,
    pub ranked: Vec<(i64, Tier)>,
}

impl Meta {
    /// Filters, access, total and facets over the copy, for [`super::search`]. A walk
    /// over every document (a few milliseconds at 100,000): run it off the async
    /// workers.
    pub(crate) fn find(&self, ask: &Ask) -> Found {
        let t = self.read();
        let syms = &t.syms;
        let format = syms.matching(ask.format.as_deref());
        let lifecycle = syms.matching(ask.lifecycle.as_deref());
        let owner = syms.matching_lower(ask.owner.as_deref());
        let domain = syms.matching_lower(ask.domain.as_deref());
        let tag = syms.matching_lower(ask.tag.as_deref());
        let holds = |set: &Option<Vec<bool>>, v: Option<Sym>| match set {
            None => true,
            Some(set) => v.is_some_and(|v| set[v as usize]),
        };
        let team = match &ask.access {
            Access::Team {
                team: Some(team), ..
            } if !team.is_empty() => syms.ids.get(team.as_str()).copied(),
            _ => None,
        };
        // Counts by symbol: formats, owners, domains; tags by lower-cased form, with the
        // smallest spelling seen.
        let n = syms.names.len();
        let mut counts = [vec![0u64; n], vec![0u64; n], vec![0u64; n]];
        let mut tags: Vec<(u64, Sym)> = vec![(0, 0); n];
        let parts: Vec<memchr::memmem::Finder<'_>> = ask
            .parts
            .iter()
            .map(|p| memchr::memmem::Finder::new(p.as_bytes()))
            .collect();
        let needle = ask.needle.as_bytes();
        let mut ranked = Vec::with_capacity(t.docs.len());
        // Names containing every query word found so far (the third tier).
        let mut named = 0;
        for ((title_lc, id), d) in &t.docs {
            if ask.matches.as_ref().is_some_and(|m| !m.contains(*id))
                || !holds(&format, d.format)
                || !holds(&lifecycle, Some(d.lifecycle))
                || !holds(&owner, d.owner)
                || !holds(&domain, d.domain)
                || tag
                    .as_ref()
                    .is_some_and(|set| !d.tags.as_slice().iter().any(|t| set[*t as usize]))
            {
                continue;
            }
            if d.restricted {
                if let Access::Team { consumes, .. } = &ask.access {
                    // `team` is `None` also when no document names the team as owner.
                    let owns = team.is_some() && d.owner == team;
                    let reads = d.stream.as_deref().is_some_and(|s| consumes.contains(s));
                    if !owns && !reads {
                        continue;
                    }
                }
            }
            for (count, v) in counts.iter_mut().zip([d.format, d.owner, d.domain]) {
                if let Some(v) = v {
                    count[v as usize] += 1;
                }
            }
            let doc_tags = d.tags.as_slice();
            for (i, t) in doc_tags.iter().enumerate() {
                let lower = syms.lower(*t);
                // Two spellings of one tag count once.
                if doc_tags[..i].iter().any(|s| syms.lower(*s) == lower) {
                    continue;
                }
                let e = &mut tags[lower as usize];
                if e.0 == 0 || syms.name(*t) < syms.name(e.1) {
                    e.1 = *t;
                }
                e.0 += 1;
            }
            let title = title_lc.as_bytes();
            // (Most names differ from the query in their first byte.)
            let near = title.first() == needle.first();
            let tier = if ask.matches.is_none() {
                3
            } else if near && title == needle {
                0
            } else if near && title.starts_with(needle) {
                1
            } else if named < ask.wanted && parts.iter().all(|f| f.find(title).is_some()) {
                // Once the page is full of these, later ones are never shown: they are
                // not looked for (and stay in the last tier).
                named += 1;
                2
            } else {
                3
            };
            ranked.push((*id, tier));
        }
        let list = |m: Vec<(u64, Sym)>| {
            let mut v: Vec<FacetCount> = m
                .into_iter()
                .filter(|(count, _)| *count > 0)
                .map(|(count, s)| FacetCount {
                    value: syms.name(s).to_string(),
                    count,
                })
                .collect();
            v.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.value.cmp(&b.value)));
            v
        };
        let [formats, owners, domains] = counts.map(|c| {
            c.into_iter()
                .enumerate()
                .map(|(s, n)| (n, s as Sym))
                .collect::<Vec<_>>()
        });
        Found {
            total: ranked.len() as u64,
            facets: Facets {
                formats: list(formats),
                owners: list(owners),
                domains: list(domains),
                tags: list(tags),
            },
            ranked,
        }
    }

    /// The hits `ids` (those still in the copy), in that order, with what the copy
    /// holds of them (no description, tags, score or matches yet).
    pub(crate) fn hits(&self, ids: &[i64]) -> Vec<(i64, SearchHit)> {
        let t = self.read();
        let name = |s: Option<Sym>| s.map(|s| t.syms.name(s).to_string());
        ids.iter()
            .filter_map(|id| {
                let title = t.titles.get(id)?;
                let d = t.docs.get(&(title.clone(), *id))?;
                let subject = d.subject.as_deref().map(str::to_string);
                Some((
                    *id,
                    SearchHit {
                        stream: d.stream.as_deref().map(str::to_string),
                        context: subject
                            .as_deref()
                            .map_or(crate::context::DEFAULT, crate::context::of)
                            .to_string(),
                        subject,
                        title: d.title.to_string(),
                        description: None,
                        format: name(d.format),
                        owner: name(d.owner),
                        domain: name(d.domain),
                        tags: Vec::new(),
                        lifecycle: t.syms.name(d.lifecycle).to_string(),
                        score: 0.0,
                        matches: Vec::new(),
                    },
                ))
            })
            .collect()
    }
}
