-- Read restriction of a stream's schemas (issue 6, access control).
--
-- streams.read_access: `authenticated` or `restricted`, copied out of the latest
-- contract's `accord.access.read` by every apply (like owner_team), so that a read of a
-- subject's versions finds whether it is restricted with one indexed lookup.
-- stream_consumers.status gains `rejected` (an owner's refusal; the record stays until
-- the consumer is removed or approved after all).
ALTER TABLE streams ADD COLUMN read_access TEXT NOT NULL DEFAULT 'authenticated';

UPDATE streams SET read_access = 'restricted'
WHERE EXISTS (
    SELECT 1 FROM stream_contracts c
    WHERE c.stream = streams.name
      AND c.version = (SELECT MAX(version) FROM stream_contracts m WHERE m.stream = streams.name)
      AND jsonb_path_exists(c.body::jsonb,
          '$.customProperties[*] ? (@.property == "accord.access" && @.value.read == "restricted")')
);
