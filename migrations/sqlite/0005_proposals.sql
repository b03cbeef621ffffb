-- Breaking-change proposals (issue 6).
--
-- proposals: a candidate schema the stream's contract rejects, with the compatibility
-- report computed at the contract's level when it was opened (report, JSON) and the
-- candidate as sent (schema, JSON: schema text, schemaType, references). Ids are
-- allocated inside the write transaction (max + 1) and never reused.
-- status: open, then released (all impacted consumers approved), forced (released
-- without every approval, with a written reason), withdrawn (by the owner) or
-- rejected. release_mode: new_version or successor (then successor_stream).
-- proposal_consumers: the stream's registered consumers when the proposal was opened
-- (the impacted consumers whose teams must approve).
-- proposal_reviews: one decision per impacted consumer; a later one replaces it while
-- the proposal is open.
CREATE TABLE proposals (
    id               INTEGER PRIMARY KEY,
    stream           TEXT    NOT NULL REFERENCES streams (name),
    subject          TEXT    NOT NULL,
    schema           TEXT    NOT NULL,
    report           TEXT    NOT NULL,
    status           TEXT    NOT NULL,
    opened_by        TEXT    NOT NULL,
    opened_ms        INTEGER NOT NULL,
    decided_ms       INTEGER,
    release_mode     TEXT,
    successor_stream TEXT,
    reason           TEXT
);
CREATE INDEX proposals_stream ON proposals (stream);

CREATE TABLE proposal_consumers (
    proposal INTEGER NOT NULL REFERENCES proposals (id),
    service  TEXT    NOT NULL,
    team     TEXT    NOT NULL,
    PRIMARY KEY (proposal, service)
);

CREATE TABLE proposal_reviews (
    proposal    INTEGER NOT NULL REFERENCES proposals (id),
    service     TEXT    NOT NULL,
    team        TEXT    NOT NULL,
    decision    TEXT    NOT NULL,
    comment     TEXT    NOT NULL,
    reviewed_by TEXT    NOT NULL,
    reviewed_ms INTEGER NOT NULL,
    PRIMARY KEY (proposal, service)
);
