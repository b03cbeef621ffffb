-- Webhook notifications through a transactional outbox (issue 6).
--
-- webhook_subscriptions: id is a random UUID; secret is the HMAC-SHA256 signing key shared
-- with the receiver (returned once, at creation); event_types is a JSON array of event
-- types, ["*"] for all; stream NULL means every stream (and events of no stream).
-- outbox: one row per event, written in the transaction of the change it describes; seq
-- starts at 1 and is allocated under the write lock; payload is the event's data (JSON).
-- webhook_deliveries: one row per (event, matching subscription), created with the event;
-- status pending -> delivered (after a 2xx) or failed (attempts exhausted). A worker
-- claims a due pending row by pushing next_attempt_ms forward (a lease) before POSTing.
CREATE TABLE webhook_subscriptions (
    id          TEXT    PRIMARY KEY,
    url         TEXT    NOT NULL,
    secret      TEXT    NOT NULL,
    event_types TEXT    NOT NULL,
    stream      TEXT,
    active      BIGINT NOT NULL,
    created_ms  BIGINT NOT NULL,
    created_by  TEXT    NOT NULL
);

CREATE TABLE outbox (
    seq        BIGINT PRIMARY KEY,
    event_id   TEXT    NOT NULL UNIQUE,
    event_type TEXT    NOT NULL,
    stream     TEXT,
    subject    TEXT,
    payload    TEXT    NOT NULL,
    created_ms BIGINT NOT NULL
);

CREATE TABLE webhook_deliveries (
    event_seq        BIGINT NOT NULL REFERENCES outbox (seq),
    subscription_id  TEXT    NOT NULL REFERENCES webhook_subscriptions (id) ON DELETE CASCADE,
    status           TEXT    NOT NULL,
    attempts         BIGINT NOT NULL,
    next_attempt_ms  BIGINT NOT NULL,
    last_status_code BIGINT,
    last_error       TEXT,
    delivered_ms     BIGINT,
    PRIMARY KEY (event_seq, subscription_id)
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (status, next_attempt_ms);
CREATE INDEX webhook_deliveries_subscription ON webhook_deliveries (subscription_id);
