-- Issue 19. Multi-hop lineage: a service that consumes one stream and produces another
-- links them. The walk goes from a service to the streams it produces and consumes, so
-- both registrations are looked up by service as well as by stream.
CREATE INDEX stream_consumers_service ON stream_consumers (service, stream);
CREATE INDEX stream_producers_service ON stream_producers (service, stream);
-- The catalog's home page lists the streams changed last.
CREATE INDEX streams_updated ON streams (updated_ms);
