-- Streams and their data contracts (issue 6).
--
-- streams: the governed unit; one row per stream, created and kept in step by the
-- contract applies (subjects, owner, lifecycle copied out of the latest contract so that
-- registration can find a subject's stream with one indexed lookup).
-- stream_contracts: every applied contract version (body = the contract as JSON);
-- versions start at 1 and are never reused.
-- stream_consumers: consuming services; status is active or pending (owner approval).
-- stream_producers: the single writer of a stream.
CREATE TABLE streams (
    name          TEXT    PRIMARY KEY,
    key_subject   TEXT    NOT NULL,
    value_subject TEXT    NOT NULL,
    owner_team    TEXT,
    status        TEXT    NOT NULL,
    sunset        TEXT,
    successor     TEXT,
    created_ms    BIGINT  NOT NULL,
    updated_ms    BIGINT  NOT NULL
);
CREATE INDEX streams_key_subject ON streams (key_subject);
CREATE INDEX streams_value_subject ON streams (value_subject);

CREATE TABLE stream_contracts (
    stream     TEXT    NOT NULL REFERENCES streams (name),
    version    BIGINT  NOT NULL,
    digest     TEXT    NOT NULL,
    body       TEXT    NOT NULL,
    created_ms BIGINT  NOT NULL,
    created_by TEXT    NOT NULL,
    PRIMARY KEY (stream, version)
);

CREATE TABLE stream_consumers (
    stream        TEXT    NOT NULL REFERENCES streams (name),
    service       TEXT    NOT NULL,
    team          TEXT    NOT NULL,
    status        TEXT    NOT NULL,
    registered_ms BIGINT  NOT NULL,
    PRIMARY KEY (stream, service)
);

CREATE TABLE stream_producers (
    stream     TEXT    PRIMARY KEY REFERENCES streams (name),
    service    TEXT    NOT NULL,
    team       TEXT    NOT NULL,
    updated_ms BIGINT  NOT NULL
);
