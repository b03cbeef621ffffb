-- Identity and the audit log.
--
-- principals: users and service accounts; role is admin, member or reader; team is the
-- owning team of a member (NULL for admins and readers without one).
-- api_keys: key_id is public; the secret is never stored, only sha256(salt || secret)
-- with a random per-key salt (both hex). Deleting a key removes its row.
-- audit_log: append-only and hash-chained; hash = sha256(prev_hash || canonical(row)),
-- see server/src/audit.rs. seq starts at 1 and has no gaps.
CREATE TABLE principals (
    id         INTEGER PRIMARY KEY,
    name       TEXT    NOT NULL UNIQUE,
    kind       TEXT    NOT NULL,
    role       TEXT    NOT NULL,
    team       TEXT,
    created_ms INTEGER NOT NULL
);

CREATE TABLE api_keys (
    key_id       TEXT    PRIMARY KEY,
    principal_id INTEGER NOT NULL REFERENCES principals (id),
    salt         TEXT    NOT NULL,
    secret_hash  TEXT    NOT NULL,
    created_ms   INTEGER NOT NULL
);
CREATE INDEX api_keys_principal ON api_keys (principal_id);

CREATE TABLE audit_log (
    seq           INTEGER PRIMARY KEY,
    at            INTEGER NOT NULL,
    principal     TEXT    NOT NULL,
    action        TEXT    NOT NULL,
    target        TEXT    NOT NULL,
    before_digest TEXT,
    after_digest  TEXT,
    prev_hash     TEXT    NOT NULL,
    hash          TEXT    NOT NULL
);
