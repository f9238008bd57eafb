\echo Use "ALTER EXTENSION traffic_analyzer UPDATE TO '0.3.0'" to load this file. \quit
-- traffic_analyzer 0.2.0 -> 0.3.0: models loaded and scored in the database (load_model, score,
-- explain), windows labelled by the jobs, alerts with their windows and explanation.

CREATE TYPE prediction AS (label text, confidence double precision, probabilities real[]);

CREATE FUNCTION "create_feature_functions"() RETURNS VOID /* Result < (), pgrx :: spi :: Error > */
STRICT
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'create_feature_functions_wrapper';

CREATE FUNCTION "explain"(
	"features" double precision[], /* Vec < Option < f64 > > */
	"class" TEXT DEFAULT NULL /* Option < & str > */
) RETURNS TABLE (
	"feature" TEXT,  /* String */
	"value" double precision,  /* Option < f64 > */
	"contribution" real  /* f32 */
)
STABLE PARALLEL SAFE COST 100000
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'explain_wrapper';

CREATE FUNCTION "load_model"(
	"name" TEXT, /* & str */
	"model" TEXT, /* & str */
	"metrics" jsonb DEFAULT NULL /* Option < JsonB > */
) RETURNS bigint /* Result < i64, pgrx :: spi :: Error > */
VOLATILE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'load_model_wrapper';

CREATE FUNCTION "model_classes"() RETURNS TEXT[] /* Result < Vec < String > , pgrx :: spi :: Error > */
STRICT STABLE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'model_classes_wrapper';

CREATE FUNCTION "score"(
	"features" double precision[] /* Vec < Option < f64 > > */
) RETURNS prediction
STRICT STABLE PARALLEL SAFE COST 1000
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'score_wrapper';

ALTER TABLE detected_alerts ADD COLUMN explanation jsonb;

ALTER TABLE window_jobs ADD COLUMN ticks bigint NOT NULL DEFAULT 0;

CREATE TABLE alert_windows (
    alert_id       bigint NOT NULL REFERENCES detected_alerts (id) ON DELETE CASCADE,
    window_seconds integer NOT NULL,
    window_start   timestamptz NOT NULL,
    scope          text NOT NULL,
    host           inet
);

CREATE UNIQUE INDEX alert_windows_key
    ON alert_windows (alert_id, window_seconds, window_start, scope, coalesce(host, '0.0.0.0/0'::inet));

GRANT SELECT ON alert_windows, window_jobs, window_progress TO traffic_reader;

SELECT create_feature_functions();
