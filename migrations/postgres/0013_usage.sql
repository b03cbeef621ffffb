-- Observed usage (issue 18): who really reads and registers each schema.
--
-- usage_daily: authenticated schema reads, registrations and refused reads, counted in
-- each node's memory and added here in batches (every few seconds; several nodes add to
-- the same rows). kind: read | write | refused. A read by id (or guid) has subject ''
-- and version 0: the id's subjects are found when asked. A refused read has schema_id 0
-- when it named a subject. principal is the name when recorded (the team is read from
-- principals when asked). day: days since 1970-01-01 UTC. Rows older than the
-- retention (--usage-retention-days) are pruned.
CREATE TABLE usage_daily (
    day          BIGINT NOT NULL,
    principal_id BIGINT NOT NULL,
    principal    TEXT    NOT NULL,
    kind         TEXT    NOT NULL,
    subject      TEXT    NOT NULL,
    version      BIGINT NOT NULL,
    schema_id    BIGINT NOT NULL,
    requests     BIGINT NOT NULL,
    first_ms     BIGINT NOT NULL,
    last_ms      BIGINT NOT NULL,
    PRIMARY KEY (day, principal_id, kind, subject, version, schema_id)
);
CREATE INDEX usage_daily_subject ON usage_daily (subject, last_ms);
CREATE INDEX usage_daily_schema ON usage_daily (schema_id, last_ms);

-- usage_readers: each principal seen reading a stream, first and last; the first
-- sighting of one that is not a declared consumer emits usage.undeclared-consumer.
CREATE TABLE usage_readers (
    stream       TEXT    NOT NULL,
    principal_id BIGINT NOT NULL,
    principal    TEXT    NOT NULL,
    first_ms     BIGINT NOT NULL,
    last_ms      BIGINT NOT NULL,
    PRIMARY KEY (stream, principal_id)
);
