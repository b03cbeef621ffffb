-- Issue 19: the catalog's home page lists the streams changed last.
CREATE INDEX streams_updated ON streams (updated_ms);
