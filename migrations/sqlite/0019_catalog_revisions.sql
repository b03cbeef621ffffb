-- Issue 19: each node holds the catalog's documents (names, format, owner, domain,
-- lifecycle, read restriction, tags) in memory, so that a search filters, counts its
-- facets and orders its matches without joining every match to catalog_docs. A node
-- catches up by revision: catalog_state.rev counts the catalog's changes (it is raised
-- in the writing transaction, under the writers' lock, so revisions become visible in
-- order); every written document carries the revision it was written at, every removed
-- one leaves its id in catalog_gone at its revision. A rebuild of the whole index sets
-- rebuilt_rev and empties catalog_gone: a node behind it reloads everything.
ALTER TABLE catalog_state ADD COLUMN rev BIGINT NOT NULL DEFAULT 0;
ALTER TABLE catalog_state ADD COLUMN rebuilt_rev BIGINT NOT NULL DEFAULT 0;
ALTER TABLE catalog_docs ADD COLUMN rev BIGINT NOT NULL DEFAULT 0;
CREATE INDEX catalog_docs_rev ON catalog_docs (rev);
CREATE TABLE catalog_gone (
    rev    BIGINT NOT NULL PRIMARY KEY,
    doc_id BIGINT NOT NULL
);
