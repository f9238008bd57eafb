\echo Use "ALTER EXTENSION traffic_analyzer UPDATE TO '0.2.0'" to load this file. \quit
-- traffic_analyzer 0.1.0 -> 0.2.0: the packet_features aggregate and two materialization jobs. (The scheduler
-- background worker and the faster materialization are in the library; preloading it is a server setting.)
-- OR REPLACE: databases created from a development build of 0.1.0 may have these already.

CREATE OR REPLACE FUNCTION "packet_features_packet_features_finalize"(
	"this" internal
) RETURNS double precision[]
LANGUAGE c
AS 'MODULE_PATHNAME', 'packet_features_packet_features_finalize_wrapper';

CREATE OR REPLACE FUNCTION "packet_features_packet_features_state"(
	"this" internal,
	"packet" anyelement,
	"window_seconds" double precision
) RETURNS internal
LANGUAGE c
AS 'MODULE_PATHNAME', 'packet_features_packet_features_state_wrapper';

CREATE OR REPLACE AGGREGATE packet_features (
	"packet" anyelement,
	"window_seconds" double precision
)
(
	SFUNC = "packet_features_packet_features_state",
	STYPE = internal,
	FINALFUNC = "packet_features_packet_features_finalize"
);

-- Two materialization jobs (short: 5 s windows; long: 30 s and 180 s), each with its own change
-- records and watermark, replacing the single watermark.
CREATE TABLE window_jobs (
    job          text PRIMARY KEY,
    newest_event timestamptz,
    last_arrival timestamptz
);
INSERT INTO window_jobs (job, newest_event, last_arrival)
SELECT j.job, w.newest_event, w.last_arrival FROM window_watermark w, (VALUES ('short'), ('long')) AS j(job);
DROP TABLE window_watermark;

ALTER TABLE window_invalidations ADD COLUMN job text REFERENCES window_jobs;
UPDATE window_invalidations SET job = 'short';
INSERT INTO window_invalidations (job, lo, hi, packets, recorded_at)
SELECT 'long', lo, hi, packets, recorded_at FROM window_invalidations WHERE job = 'short';
ALTER TABLE window_invalidations ALTER COLUMN job SET NOT NULL;

ALTER TABLE window_progress ADD COLUMN job text REFERENCES window_jobs;
UPDATE window_progress SET job = CASE WHEN window_seconds = 5 THEN 'short' ELSE 'long' END;
ALTER TABLE window_progress ALTER COLUMN job SET NOT NULL;

CREATE OR REPLACE FUNCTION record_packet_ranges() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = @extschema@, pg_temp
AS $fn$
BEGIN
    INSERT INTO window_invalidations (job, lo, hi, packets)
    SELECT j.job, r.lo, r.hi, r.packets
    FROM window_jobs j,
         (SELECT min(ts) AS lo, max(ts) AS hi, count(*) AS packets FROM new_rows HAVING count(*) > 0) r;
    RETURN NULL;
END
$fn$;

-- run_jobs() runs both jobs; run_jobs('short') or run_jobs('long') one.
DROP FUNCTION IF EXISTS run_jobs();
CREATE OR REPLACE FUNCTION "run_jobs"(
	"job" TEXT DEFAULT NULL
) RETURNS bigint
VOLATILE
LANGUAGE c
AS 'MODULE_PATHNAME', 'run_jobs_wrapper';
