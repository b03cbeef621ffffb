-- The core registry: immutable schemas, subject versions that point at them, the
-- references between them, and per-subject (or global, subject = '') config and mode.
-- Schema rows are never deleted, so ids are never reused.
CREATE TABLE schemas (
    id          BIGINT PRIMARY KEY,
    guid        TEXT    NOT NULL,
    hash        TEXT    NOT NULL,
    schema_type TEXT    NOT NULL,
    schema_text TEXT    NOT NULL,
    refs        TEXT    NOT NULL,
    metadata    TEXT,
    rule_set    TEXT,
    created_ms  BIGINT  NOT NULL
);
CREATE INDEX schemas_hash ON schemas (hash);
CREATE INDEX schemas_guid ON schemas (guid);

CREATE TABLE subject_versions (
    subject    TEXT    NOT NULL,
    version    BIGINT  NOT NULL,
    schema_id  BIGINT  NOT NULL REFERENCES schemas (id),
    deleted    BIGINT  NOT NULL DEFAULT 0,
    ts         BIGINT  NOT NULL,
    PRIMARY KEY (subject, version)
);
CREATE INDEX subject_versions_schema ON subject_versions (schema_id);

CREATE TABLE schema_refs (
    schema_id   BIGINT  NOT NULL REFERENCES schemas (id),
    name        TEXT    NOT NULL,
    ref_subject TEXT    NOT NULL,
    ref_version BIGINT  NOT NULL,
    PRIMARY KEY (schema_id, name)
);
CREATE INDEX schema_refs_target ON schema_refs (ref_subject, ref_version);

CREATE TABLE configs (
    subject TEXT PRIMARY KEY,
    body    TEXT NOT NULL
);

CREATE TABLE modes (
    subject TEXT PRIMARY KEY,
    mode    TEXT NOT NULL
);
