-- What pg_dump keeps of the extension's tables. A table an extension creates is its member, and
-- pg_dump leaves out a member's rows unless the table is marked here; so is an identity
-- sequence's position (without it, rows restored with their ids and a sequence back at 1 would
-- collide with the next insert).
--
-- Packets: the partitions are made at run time, so pg_dump sees them as tables of their own, but
-- restores them with their indexes twice (docs/backups.md: dump them apart, load them through
-- raw_packets). The default partition and the packets' id sequence are marked here.
-- Not marked: the jobs' definitions (window_jobs) and change records (window_invalidations):
-- restored without their packets, the records would make the jobs compute restored windows again
-- from nothing.
SELECT pg_catalog.pg_extension_config_dump('aggregated_features', '');
SELECT pg_catalog.pg_extension_config_dump('aggregated_features_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('detected_alerts', '');
SELECT pg_catalog.pg_extension_config_dump('detected_alerts_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('alert_windows', '');
SELECT pg_catalog.pg_extension_config_dump('models', '');
SELECT pg_catalog.pg_extension_config_dump('models_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('sensor_tokens', '');
SELECT pg_catalog.pg_extension_config_dump('ingest_batches', '');
SELECT pg_catalog.pg_extension_config_dump('front_users', '');
SELECT pg_catalog.pg_extension_config_dump('front_sessions', '');
SELECT pg_catalog.pg_extension_config_dump('api_tokens', '');
SELECT pg_catalog.pg_extension_config_dump('retention_policies', '');
SELECT pg_catalog.pg_extension_config_dump('retention_log', '');
SELECT pg_catalog.pg_extension_config_dump('retention_log_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('window_progress', '');
SELECT pg_catalog.pg_extension_config_dump('raw_packets_default', '');
SELECT pg_catalog.pg_extension_config_dump('raw_packets_id_seq', '');
