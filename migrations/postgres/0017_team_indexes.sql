-- Issue 19: the catalog's team pages read by team (owners, producers' and consumers'
-- teams) instead of loading every stream.
CREATE INDEX streams_owner_team ON streams (owner_team);
CREATE INDEX stream_producers_team ON stream_producers (team);
CREATE INDEX stream_consumers_team ON stream_consumers (team);
