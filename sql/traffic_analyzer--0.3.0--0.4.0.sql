\echo Use "ALTER EXTENSION traffic_analyzer UPDATE TO '0.4.0'" to load this file. \quit
-- traffic_analyzer 0.3.0 -> 0.4.0: models keep a compact binary form next to their JSON, so every
-- process that scores (parallel workers start for each query) loads the model ~30x faster.
-- Models loaded before this version have none and are read from their JSON until loaded again.

ALTER TABLE models ADD COLUMN compact bytea;
ALTER TABLE models ALTER COLUMN compact SET STORAGE EXTERNAL;
