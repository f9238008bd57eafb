\echo Use "ALTER EXTENSION traffic_analyzer UPDATE TO '0.5.0'" to load this file. \quit
-- traffic_analyzer 0.4.0 -> 0.5.0: indexes for the dashboards' reads. raw_packets gets BRIN
-- indexes of bloom filters on addresses and ports (summarized by run_jobs, cheap at insert),
-- btree indexes on them in partitions of closed days (built by run_jobs) and in the default
-- partition, and larger statistics on those columns, which new partitions now copy;
-- aggregated_features gets indexes by (window_start, id), host and predicted label;
-- detected_alerts by address. Partitions are made one day ahead instead of seven.

CREATE INDEX raw_packets_src_ip_bloom ON raw_packets
    USING brin (src_ip inet_bloom_ops (n_distinct_per_range = -0.25)) WITH (pages_per_range = 8);
CREATE INDEX raw_packets_dst_ip_bloom ON raw_packets
    USING brin (dst_ip inet_bloom_ops (n_distinct_per_range = -0.25)) WITH (pages_per_range = 8);
CREATE INDEX raw_packets_src_port_bloom ON raw_packets
    USING brin (src_port int4_bloom_ops (n_distinct_per_range = -0.25)) WITH (pages_per_range = 8);
CREATE INDEX raw_packets_dst_port_bloom ON raw_packets
    USING brin (dst_port int4_bloom_ops (n_distinct_per_range = -0.25)) WITH (pages_per_range = 8);
ALTER TABLE raw_packets
    ALTER COLUMN src_ip SET STATISTICS 1000, ALTER COLUMN dst_ip SET STATISTICS 1000,
    ALTER COLUMN src_port SET STATISTICS 1000, ALTER COLUMN dst_port SET STATISTICS 1000;
CREATE INDEX raw_packets_default_src_ip_btree ON raw_packets_default (src_ip);
CREATE INDEX raw_packets_default_dst_ip_btree ON raw_packets_default (dst_ip);
CREATE INDEX raw_packets_default_src_port_btree ON raw_packets_default (src_port);
CREATE INDEX raw_packets_default_dst_port_btree ON raw_packets_default (dst_port);

CREATE OR REPLACE FUNCTION ensure_raw_packet_partitions(days date[]) RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = @extschema@, pg_temp
AS $fn$
DECLARE
    day      date;
    part     text;
    lo       timestamptz;
    hi       timestamptz;
    created  integer := 0;
    col      name;
    target   integer;
BEGIN
    IF cardinality(days) > 366 THEN
        RAISE EXCEPTION 'ensure_raw_packet_partitions: % days requested, at most 366 per call', cardinality(days)
            USING HINT = 'Packets of other days are kept in raw_packets_default until their partition exists.';
    END IF;
    -- One creator at a time; the existence check below then sees the winner's partition.
    PERFORM pg_advisory_xact_lock(hashtext('traffic_analyzer.raw_packets.partitions'));
    FOR day IN SELECT DISTINCT d FROM unnest(days) AS d WHERE d IS NOT NULL ORDER BY d LOOP
        part := 'raw_packets_p' || to_char(day, 'YYYYMMDD');
        CONTINUE WHEN to_regclass(quote_ident(part)) IS NOT NULL;
        lo := day::timestamp AT TIME ZONE 'UTC';
        hi := (day + 1)::timestamp AT TIME ZONE 'UTC';
        IF EXISTS (SELECT FROM raw_packets_default WHERE ts >= lo AND ts < hi) THEN
            EXECUTE format('CREATE TABLE %I (LIKE raw_packets INCLUDING DEFAULTS INCLUDING CONSTRAINTS)', part);
            EXECUTE format('WITH moved AS (DELETE FROM raw_packets_default WHERE ts >= $1 AND ts < $2 RETURNING *)
                            INSERT INTO %I SELECT * FROM moved', part) USING lo, hi;
            EXECUTE format('ALTER TABLE raw_packets ATTACH PARTITION %I FOR VALUES FROM (%L) TO (%L)', part, lo, hi);
        ELSE
            EXECUTE format('CREATE TABLE %I PARTITION OF raw_packets FOR VALUES FROM (%L) TO (%L)', part, lo, hi);
        END IF;
        -- A partition does not inherit its parent's column statistics targets.
        FOR col, target IN SELECT attname, attstattarget FROM pg_attribute
                           WHERE attrelid = 'raw_packets'::regclass AND attnum > 0 AND attstattarget >= 0 LOOP
            EXECUTE format('ALTER TABLE %I ALTER COLUMN %I SET STATISTICS %s', part, col, target);
        END LOOP;
        created := created + 1;
    END LOOP;
    RETURN created;
END
$fn$;


-- Summarizes the packet ranges of the bloom indexes that are not yet summarized, in the
-- partitions of these UTC days and the default partition (run_jobs calls it for the days it
-- saw packets of). A partition that VACUUM or ANALYZE holds is left for the next call: they
-- summarize it too, and waiting on them would hold up the windows.
CREATE FUNCTION summarize_packet_ranges(first_day date, last_day date) RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = @extschema@, pg_temp
SET lock_timeout = '20ms'
AS $fn$
DECLARE
    summary    regclass;
    summarized integer := 0;
BEGIN
    FOR summary IN
        SELECT i.indexrelid::regclass
        FROM pg_inherits h JOIN pg_index i ON i.indexrelid = h.inhrelid JOIN pg_class c ON c.oid = i.indrelid
        WHERE h.inhparent IN ('raw_packets_src_ip_bloom'::regclass, 'raw_packets_dst_ip_bloom'::regclass,
                              'raw_packets_src_port_bloom'::regclass, 'raw_packets_dst_port_bloom'::regclass)
          AND CASE WHEN c.relname ~ '^raw_packets_p[0-9]{8}$'
                   THEN to_date(substr(c.relname, 14), 'YYYYMMDD') BETWEEN first_day AND last_day
                   ELSE c.relname = 'raw_packets_default' END
    LOOP
        BEGIN
            summarized := summarized + brin_summarize_new_values(summary);
        EXCEPTION WHEN lock_not_available THEN
            NULL;
        END;
    END LOOP;
    RETURN summarized;
END
$fn$;

COMMENT ON FUNCTION summarize_packet_ranges(date, date) IS
    'Summarizes new raw_packets ranges for the host and port index in these days'' partitions; returns how many ranges';

-- A day's partition takes no live traffic an hour after the day ended: it gets btree indexes on
-- addresses and ports (built once, in sorted order: ~11 s for the four over 10M packets), which
-- the planner uses on its own to find any host's or port's packets exactly. Live partitions keep
-- only the bloom indexes, cheap at insert. The default partition has them from the start (it
-- only holds packets of days without a partition). A day still being written (a capture of an
-- old day being replayed: busy_from..busy_until, the days run_jobs just saw packets of) waits.
-- Builds one partition per call, newest first (it holds that partition against inserts while it
-- builds, and gives up after lock_timeout if inserts hold it); returns it, or NULL.
CREATE FUNCTION index_closed_packet_partitions(busy_from date DEFAULT NULL, busy_until date DEFAULT NULL)
RETURNS regclass
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = @extschema@, pg_temp
SET lock_timeout = '1s'
AS $fn$
DECLARE
    part   regclass;
    col    text;
BEGIN
    SELECT c.oid::regclass INTO part
    FROM pg_inherits h JOIN pg_class c ON c.oid = h.inhrelid,
         LATERAL (SELECT CASE WHEN c.relname ~ '^raw_packets_p[0-9]{8}$'
                              THEN to_date(substr(c.relname, 14), 'YYYYMMDD') END AS day) d
    WHERE h.inhparent = 'raw_packets'::regclass
      AND d.day < ((now() - interval '1 hour') AT TIME ZONE 'UTC')::date
      AND NOT coalesce(d.day BETWEEN busy_from AND busy_until, false)
      AND to_regclass(quote_ident(c.relname || '_dst_port_btree')) IS NULL
    ORDER BY d.day DESC
    LIMIT 1;
    IF part IS NULL THEN
        RETURN NULL;
    END IF;
    FOREACH col IN ARRAY ARRAY['src_ip', 'dst_ip', 'src_port', 'dst_port'] LOOP
        EXECUTE format('CREATE INDEX IF NOT EXISTS %I ON %s (%I)', part::text || '_' || col || '_btree', part, col);
    END LOOP;
    RETURN part;
EXCEPTION WHEN lock_not_available THEN
    RETURN NULL;
END
$fn$;

COMMENT ON FUNCTION index_closed_packet_partitions(date, date) IS
    'Gives the newest raw_packets partition of a closed day (ended over an hour ago) that lacks them btree indexes on addresses and ports; returns it';

-- Partitions for the days around now, so live traffic never waits on DDL (the front calls it
-- hourly). One day ahead by default: every partition, empty or not, costs each query on
-- raw_packets that cannot prune it some planning (measured: a host search's estimate 0.9 ms with
-- 7 empty days ahead, 0.2 ms without), and a batch for a later day creates its partition anyway.
CREATE OR REPLACE FUNCTION ensure_raw_packet_partitions_ahead(days_ahead integer DEFAULT 1) RETURNS integer
LANGUAGE sql SECURITY DEFINER
SET search_path = @extschema@, pg_temp
AS $fn$
    SELECT ensure_raw_packet_partitions(array_agg(d::date))
    FROM generate_series((now() AT TIME ZONE 'UTC')::date - 1,
                         (now() AT TIME ZONE 'UTC')::date + least(greatest(days_ahead, 0), 365),
                         interval '1 day') AS d
$fn$;

REVOKE ALL ON FUNCTION summarize_packet_ranges(date, date) FROM PUBLIC;
REVOKE ALL ON FUNCTION index_closed_packet_partitions(date, date) FROM PUBLIC;

DROP INDEX aggregated_features_recent;
CREATE INDEX aggregated_features_recent ON aggregated_features (window_start, id);
CREATE INDEX aggregated_features_host ON aggregated_features (host, window_start, id) WHERE host IS NOT NULL;
CREATE INDEX aggregated_features_label ON aggregated_features (predicted_label, window_start, id);
CREATE INDEX detected_alerts_source ON detected_alerts (source_ip, id);
CREATE INDEX detected_alerts_destination ON detected_alerts (destination_ip, id);
