-- The overview's counters: packets stored (live tuples of raw_packets' partitions), the newest
-- ingest rate of the $1-second global ($2) windows, how far those windows lag the newest packet,
-- and the active model.
SELECT
  (SELECT coalesce(sum(pg_stat_get_live_tuples(inhrelid)), 0)::int8 FROM pg_inherits
   WHERE inhparent = 'raw_packets'::regclass) AS packets_stored,
  (SELECT packets_per_sec FROM aggregated_features WHERE window_seconds = $1 AND scope = $2
   ORDER BY window_start DESC LIMIT 1) AS ingest_rate,
  (SELECT extract(epoch FROM j.newest_event - p.materialized_until)::float8
   FROM window_progress p JOIN window_jobs j USING (job) WHERE p.window_seconds = $1) AS lag_seconds,
  (SELECT name || ' v' || version FROM models WHERE active) AS model
