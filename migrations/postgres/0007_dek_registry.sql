-- The DEK registry (issue 7): Confluent's KEKs and DEKs, Accord's per-entity DEKs,
-- crypto-shredding tombstones and the server's entity hash key.
--
-- keks: one row per KEK name; kms_props is a JSON object; shared = the server may wrap
-- and unwrap with the KEK (its KmsRegistry has the kmsType).
-- deks: Confluent's identity (kek_name, subject, algorithm, version); material is the
-- base64 of the KMS-wrapped Tink key proto (the server never stores a raw DEK).
-- entity_deks: one DEK per (kek, subject, algorithm, entity); entity_id is
-- hex(HMAC-SHA256(server entity key, entity)), never the entity in clear. Version is 1.
-- shredded: tombstones; entity_id '' means the whole stream was shredded.
-- server_secrets: the entity hash key (hex), created at first start unless configured, and
-- (entity_hash_key_fingerprint) the hex SHA-256 of the key in use, stored at first start:
-- a server started with another key refuses to start.
CREATE TABLE keks (
    name       TEXT    PRIMARY KEY,
    kms_type   TEXT    NOT NULL,
    kms_key_id TEXT    NOT NULL,
    kms_props  TEXT    NOT NULL,
    doc        TEXT,
    shared     BIGINT  NOT NULL,
    ts         BIGINT  NOT NULL,
    deleted    BIGINT  NOT NULL DEFAULT 0
);

CREATE TABLE deks (
    kek_name   TEXT    NOT NULL REFERENCES keks (name),
    subject    TEXT    NOT NULL,
    algorithm  TEXT    NOT NULL,
    version    BIGINT  NOT NULL,
    material   TEXT    NOT NULL,
    ts         BIGINT  NOT NULL,
    deleted    BIGINT  NOT NULL DEFAULT 0,
    PRIMARY KEY (kek_name, subject, algorithm, version)
);
CREATE INDEX deks_subject ON deks (subject);

CREATE TABLE entity_deks (
    kek_name   TEXT    NOT NULL REFERENCES keks (name),
    subject    TEXT    NOT NULL,
    algorithm  TEXT    NOT NULL,
    entity_id  TEXT    NOT NULL,
    version    BIGINT  NOT NULL,
    material   TEXT    NOT NULL,
    ts         BIGINT  NOT NULL,
    PRIMARY KEY (kek_name, subject, algorithm, entity_id)
);
CREATE INDEX entity_deks_subject_entity ON entity_deks (subject, entity_id);

CREATE TABLE shredded (
    stream      TEXT    NOT NULL,
    entity_id   TEXT    NOT NULL,
    shredded_ms BIGINT  NOT NULL,
    actor       TEXT    NOT NULL,
    PRIMARY KEY (stream, entity_id)
);

CREATE TABLE server_secrets (
    name  TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
