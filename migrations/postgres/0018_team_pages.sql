-- Issue 19: a team's page reads each table a page at a time in the order it shows, so
-- the team indexes carry that order (a page then stops after its rows instead of
-- sorting all of the team's): owned streams by name, the team's consumers by stream and
-- by service, its producers by service. They replace 0017's single-column ones. The
-- consumers of a team's streams are read with their team and status from an index.
CREATE INDEX streams_owner_name ON streams (owner_team, name);
CREATE INDEX stream_consumers_team_stream ON stream_consumers (team, stream, service);
CREATE INDEX stream_consumers_team_service ON stream_consumers (team, service);
CREATE INDEX stream_producers_team_service ON stream_producers (team, service);
CREATE INDEX stream_consumers_stream_team ON stream_consumers (stream, team, service, status);
DROP INDEX streams_owner_team;
DROP INDEX stream_consumers_team;
DROP INDEX stream_producers_team;
