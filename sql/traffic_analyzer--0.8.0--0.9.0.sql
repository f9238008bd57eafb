\echo Use "ALTER EXTENSION traffic_analyzer UPDATE TO '0.9.0'" to load this file. \quit
-- traffic_analyzer 0.8.0 -> 0.9.0: feature list version 2, six features of targets and probes
-- whatever the TCP flags or protocol (distinct_targets, max_targets_per_src,
-- max_probed_targets_per_src, probed_target_ratio, max_syns_per_target, icmp_query_count; see
-- docs/features.md), as new columns of aggregated_features; models may have the classes
-- Host_Sweep and TCP_Flood.
\echo Use "ALTER EXTENSION traffic_analyzer UPDATE TO '0.9.0'" to load this file. \quit

SELECT add_feature_columns();
SELECT create_feature_functions();

-- A model trained on another feature list cannot score this one's rows: it stays in models but is
-- no longer active (the rules keep alerting) until the model shipped with 0.9.0 is loaded.
DO $$
BEGIN
    UPDATE models SET active = false WHERE active AND feature_version <> feature_version();
    IF FOUND THEN
        RAISE WARNING 'traffic_analyzer computes feature list version %: the active model was trained on another version and is no longer active', feature_version()
            USING HINT = 'Load the model shipped with this version: SELECT load_model(''default'', pg_read_file(''/path/to/models/default.json''));';
    END IF;
END
$$;
