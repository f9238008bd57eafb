-- traffic_analyzer 0.11.0 -> 0.12.0: pg_dump keeps the rows of the windows, alerts, models,
-- tokens, users and batch ids (sql/dump.sql).
\echo Use "ALTER EXTENSION traffic_analyzer UPDATE TO '0.12.0'" to load this file. \quit

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
