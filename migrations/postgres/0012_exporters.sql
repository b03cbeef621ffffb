-- Schema exporters (issue 15, point 6): Confluent's `/exporters` (Schema Linking). An
-- exporter pushes the subjects it selects to another Confluent-compatible registry,
-- preserving schema ids and version numbers (the destination's subjects in IMPORT mode).
--
-- exporters: one row per exporter, named by the admin who created it.
--   subjects: JSON array of the selection (`orders-value`, `*`, `:.ctx:*`, `:*:*`).
--   subject_rename_format: NULL for `${subject}` (no renaming).
--   context_type: AUTO, CUSTOM or NONE; context: the CUSTOM context (`.ctx`), else NULL.
--   config: JSON object of strings (`schema.registry.url`, credentials: secrets are kept
--     here in clear, because the exporter must send them; the API only ever answers them
--     masked).
--   paused: 1 after `PUT .../pause` until `PUT .../resume` (what the admin asked for).
--   state, state_ms, trace: what the runner last reported (STARTING, RUNNING, PAUSED,
--     ERROR with its trace), answered by `GET .../status` as state, ts and trace.
--   exported: the versions in sync (the status' `offset`).
--   generation: raised by every update and reset; the runner's progress of an older
--     generation is discarded.
--   attempts, next_attempt_ms: consecutive failed passes and when the next one is due
--     (exponential backoff).
--   lease_owner, lease_until_ms: the node running the exporter (a random id per process)
--     and until when; another node takes over once the lease has expired.
-- exporter_versions: what an exporter has pushed (source subject, version, stored schema
--   id, deleted flag); a reset or update deletes its rows, so everything is pushed again.
-- exporter_settings: `registry_id`, this registry's random identity, which names the
--   destination context of AUTO exporters (`.lsrc-<registry_id>`).
CREATE TABLE exporters (
    name                  TEXT    PRIMARY KEY,
    subjects              TEXT    NOT NULL,
    subject_rename_format TEXT,
    context_type          TEXT    NOT NULL,
    context               TEXT,
    config                TEXT    NOT NULL,
    paused                BIGINT  NOT NULL DEFAULT 0,
    state                 TEXT    NOT NULL,
    state_ms              BIGINT  NOT NULL,
    trace                 TEXT,
    exported              BIGINT  NOT NULL DEFAULT 0,
    generation            BIGINT  NOT NULL DEFAULT 0,
    attempts              BIGINT  NOT NULL DEFAULT 0,
    next_attempt_ms       BIGINT  NOT NULL DEFAULT 0,
    lease_owner           TEXT,
    lease_until_ms        BIGINT  NOT NULL DEFAULT 0,
    created_ms            BIGINT  NOT NULL,
    created_by            TEXT    NOT NULL,
    updated_ms            BIGINT  NOT NULL
);

CREATE TABLE exporter_versions (
    exporter  TEXT    NOT NULL REFERENCES exporters (name) ON DELETE CASCADE,
    subject   TEXT    NOT NULL,
    version   BIGINT  NOT NULL,
    schema_id BIGINT  NOT NULL,
    deleted   BIGINT  NOT NULL,
    PRIMARY KEY (exporter, subject, version)
);

CREATE TABLE exporter_settings (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
INSERT INTO exporter_settings (key, value) VALUES ('registry_id', substr(md5(random()::text || clock_timestamp()::text), 1, 12));
