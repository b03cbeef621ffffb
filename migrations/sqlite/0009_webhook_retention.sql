-- Webhooks keep their promise (issue 12): a retry window instead of an attempt count,
-- dead deliveries that their owner may re-send, and pruning of finished rows.
--
-- webhook_subscriptions.owner_team: the team of the principal that created the
-- subscription (NULL for none, or with auth off); its members, the creator and admins may
-- re-send its deliveries. Filled here from the creator's current team.
-- webhook_deliveries.window_start_ms: when the delivery's retry window began (the event,
-- or the last re-send); after the window a failing delivery becomes dead.
-- webhook_deliveries.finished_ms: when it became delivered or dead (NULL while pending);
-- pruning deletes rows finished longer ago than the retention. Rows finished before this
-- migration finished at their next_attempt_ms (set to the outcome's time).
-- status 'failed' (attempts exhausted) is now 'dead'.
ALTER TABLE webhook_subscriptions ADD COLUMN owner_team TEXT;
ALTER TABLE webhook_deliveries ADD COLUMN window_start_ms INTEGER NOT NULL DEFAULT 0;
ALTER TABLE webhook_deliveries ADD COLUMN finished_ms INTEGER;

UPDATE webhook_subscriptions
SET owner_team = (SELECT p.team FROM principals p WHERE p.name = webhook_subscriptions.created_by);
UPDATE webhook_deliveries
SET window_start_ms = COALESCE(
    (SELECT o.created_ms FROM outbox o WHERE o.seq = webhook_deliveries.event_seq),
    next_attempt_ms);
UPDATE webhook_deliveries SET status = 'dead' WHERE status = 'failed';
UPDATE webhook_deliveries SET finished_ms = next_attempt_ms WHERE status IN ('delivered', 'dead');

CREATE INDEX webhook_deliveries_finished ON webhook_deliveries (finished_ms);
