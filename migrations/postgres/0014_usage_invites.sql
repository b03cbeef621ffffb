-- Observed usage (issue 18): when the owning team last invited an undeclared reader to
-- register as a consumer (POST /v1/streams/{name}/consumers/{principal}/invite).
ALTER TABLE usage_readers ADD COLUMN invited_ms BIGINT;
ALTER TABLE usage_readers ADD COLUMN invited_by TEXT;
