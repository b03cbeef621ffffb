-- Multi-hop lineage (issue 19): a service that consumes one stream and produces another
-- links them. The walk goes from a service to the streams it produces and consumes, so
-- both registrations are looked up by service as well as by stream.
CREATE INDEX stream_consumers_service ON stream_consumers (service, stream);
CREATE INDEX stream_producers_service ON stream_producers (service, stream);
