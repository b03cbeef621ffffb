-- Principal lifecycle (issue 13): disabling principals, key expiry, revocation and
-- last use.
--
-- principals.disabled_ms: when an admin disabled the principal (NULL: enabled); a
-- disabled principal's keys are refused (401) until it is enabled again.
-- api_keys.expires_ms: when the key stops working (NULL: never).
-- api_keys.revoked_ms: when the key was revoked (NULL: not revoked). A revoked key keeps
-- its row, so listings show it; it never works again. Deleting a principal still deletes
-- its keys' rows.
-- api_keys.last_used_ms: the last successful request with the key, written at most about
-- once a minute per key (not on every request; see server/src/auth.rs).
ALTER TABLE principals ADD COLUMN disabled_ms BIGINT;
ALTER TABLE api_keys ADD COLUMN expires_ms BIGINT;
ALTER TABLE api_keys ADD COLUMN revoked_ms BIGINT;
ALTER TABLE api_keys ADD COLUMN last_used_ms BIGINT;
