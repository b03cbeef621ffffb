-- The catalog search index (issue 8): one document per stream, and one per subject
-- bound to no stream, rebuilt by `crate::catalog` in the transaction of every change
-- that emits an outbox event.
--
-- catalog_docs: what filters, facets and ranking read, kept narrow so that scans of
-- many hits stay cheap. doc_key is `s:<stream>` or `u:<subject>`; *_lc columns are
-- lowercased copies for case-insensitive filters and the exact/prefix name ranking.
-- catalog_details: what only the hits of a page need: the description, the tags (a
-- JSON array) and parts, the JSON of the texts the highlights are computed from.
-- catalog_tags: one row per (document, tag), for the tag filter and facet.
-- catalog_fts: the FTS5 index (rowid = catalog_docs.id) over pre-tokenised text
-- (identifiers split at `_`, `.`, `-` and camelCase, lowercased), ranked with bm25.
-- catalog_state: built = 0 until the first reindex-all (at server start).
CREATE TABLE catalog_docs (
    id            INTEGER PRIMARY KEY,
    doc_key       TEXT    NOT NULL UNIQUE,
    stream        TEXT,
    subject       TEXT,
    key_subject   TEXT,
    title         TEXT    NOT NULL,
    title_lc      TEXT    NOT NULL,
    format        TEXT,
    owner         TEXT,
    owner_lc      TEXT,
    domain        TEXT,
    domain_lc     TEXT,
    lifecycle     TEXT    NOT NULL,
    read_access   TEXT    NOT NULL
);
CREATE INDEX catalog_docs_title ON catalog_docs (title_lc);
CREATE INDEX catalog_docs_subject ON catalog_docs (subject);
CREATE INDEX catalog_docs_owner ON catalog_docs (owner_lc);
CREATE INDEX catalog_docs_domain ON catalog_docs (domain_lc);

CREATE TABLE catalog_details (
    doc_id      INTEGER PRIMARY KEY,
    description TEXT,
    tags        TEXT   NOT NULL,
    parts       TEXT   NOT NULL
);

CREATE TABLE catalog_tags (
    doc_id INTEGER NOT NULL,
    tag    TEXT    NOT NULL,
    tag_lc TEXT    NOT NULL,
    PRIMARY KEY (doc_id, tag_lc)
);
CREATE INDEX catalog_tags_tag ON catalog_tags (tag_lc);

CREATE VIRTUAL TABLE catalog_fts USING fts5(
    name, subjects, fields, docs, description, tags, owner,
    tokenize = 'unicode61', prefix = '2 3'
);

CREATE TABLE catalog_state (
    id    INTEGER PRIMARY KEY,
    built INTEGER NOT NULL
);
INSERT INTO catalog_state (id, built) VALUES (1, 0);
