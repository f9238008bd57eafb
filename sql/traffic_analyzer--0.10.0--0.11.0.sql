-- traffic_analyzer 0.10.0 -> 0.11.0: the DDL helpers that give aggregated_features its feature
-- columns and row functions are the extension scripts', not any role's.
\echo Use "ALTER EXTENSION traffic_analyzer UPDATE TO '0.11.0'" to load this file. \quit

REVOKE ALL ON FUNCTION add_feature_columns() FROM PUBLIC;
REVOKE ALL ON FUNCTION create_feature_functions() FROM PUBLIC;
