-- traffic_analyzer 0.12.0 -> 0.13.0: hourly packet partitions made at run time (ordinary tables,
-- no longer members of the extension), retention policies applied by the long job
-- (sql/retention.sql), and pg_dump keeps the jobs' progress and the default partition's packets
-- (sql/dump.sql).
\echo Use "ALTER EXTENSION traffic_analyzer UPDATE TO '0.13.0'" to load this file. \quit

DROP FUNCTION maintain_packet_storage();
DROP FUNCTION ensure_raw_packet_partitions_ahead(integer);
DROP FUNCTION ensure_raw_packet_partitions(date[]);
DROP FUNCTION summarize_packet_ranges(date, date);
DROP FUNCTION index_closed_packet_partitions(date, date);

COMMENT ON TABLE raw_packets IS 'Captured packets, range-partitioned by event time (ts) into UTC hours';

-- The window sizes the jobs keep, for SQL (retention's check that every size is materialized).
CREATE FUNCTION "window_sizes"() RETURNS INT[]
IMMUTABLE STRICT PARALLEL SAFE
LANGUAGE c
AS 'MODULE_PATHNAME', 'window_sizes_wrapper';

-- Every raw_packets partition with its event-time bounds, read from the catalog (so partitions
-- a DBA makes by hand count too); the default partition has none.
CREATE VIEW packet_partitions AS
SELECT c.oid::regclass AS partition, b.lo, b.hi
FROM pg_inherits h
JOIN pg_class c ON c.oid = h.inhrelid
CROSS JOIN LATERAL regexp_match(pg_get_expr(c.relpartbound, c.oid),
                                $re$^FOR VALUES FROM \('([^']+)'\) TO \('([^']+)'\)$re$) AS m (bounds)
CROSS JOIN LATERAL (SELECT m.bounds[1]::timestamptz AS lo, m.bounds[2]::timestamptz AS hi) b
WHERE h.inhparent = 'raw_packets'::regclass;

COMMENT ON VIEW packet_partitions IS 'The partitions of raw_packets and the event times each holds (the default partition: NULL)';

-- Partitions are UTC hours, so that retention, which drops whole partitions, can keep a size
-- budget to within an hour of traffic; each partition costs the planning of a query on
-- raw_packets that cannot prune it, so they are made only around now (the jobs) and dropped by
-- retention (measured: docs/design.md#packet-partitions). A DBA may make UTC days for a capture
-- of another time replayed (ensure_raw_packet_partitions).
--
-- Creates the partitions covering [lo, hi) in slices of `width` (an hour or a day), except
-- slices some partition already covers in part, and moves the rows the default partition holds
-- for a new slice into it. Safe to call concurrently. Returns how many were created.
CREATE FUNCTION create_packet_partitions(lo timestamptz, hi timestamptz, width interval) RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = @extschema@, pg_temp
SET TimeZone = 'UTC'
AS $fn$
DECLARE
    slice   timestamptz;
    part    text;
    created integer := 0;
    col     name;
    target  integer;
BEGIN
    IF width IS DISTINCT FROM interval '1 hour' AND width IS DISTINCT FROM interval '1 day' THEN
        RAISE EXCEPTION 'create_packet_partitions: a partition is 1 hour or 1 day, not %', coalesce(width::text, 'NULL')
            USING HINT = 'The jobs make hours; make days for a capture of another time, e.g. ensure_raw_packet_partitions(ARRAY[''2024-01-01''::date]).';
    END IF;
    IF hi - lo > width * 400 THEN
        RAISE EXCEPTION 'create_packet_partitions: % to % is over 400 partitions of %', lo, hi, width
            USING HINT = 'Packets of times without a partition are kept in raw_packets_default until their partition exists.';
    END IF;
    -- One creator at a time; the coverage check below then sees the winner's partition.
    PERFORM pg_advisory_xact_lock(hashtext('traffic_analyzer.raw_packets.partitions'));
    FOR slice IN SELECT generate_series(date_trunc(CASE WHEN width = interval '1 hour' THEN 'hour' ELSE 'day' END, lo),
                                        hi - interval '1 microsecond', width) LOOP
        CONTINUE WHEN EXISTS (SELECT FROM packet_partitions p WHERE p.lo < slice + width AND p.hi > slice);
        part := 'raw_packets_p' || to_char(slice, CASE WHEN width = interval '1 hour' THEN 'YYYYMMDD"_"HH24' ELSE 'YYYYMMDD' END);
        IF EXISTS (SELECT FROM raw_packets_default WHERE ts >= slice AND ts < slice + width) THEN
            EXECUTE format('CREATE TABLE %I (LIKE raw_packets INCLUDING DEFAULTS INCLUDING CONSTRAINTS)', part);
            EXECUTE format('WITH moved AS (DELETE FROM raw_packets_default WHERE ts >= $1 AND ts < $2 RETURNING *)
                            INSERT INTO %I SELECT * FROM moved', part) USING slice, slice + width;
            EXECUTE format('ALTER TABLE raw_packets ATTACH PARTITION %I FOR VALUES FROM (%L) TO (%L)', part, slice, slice + width);
        ELSE
            EXECUTE format('CREATE TABLE %I PARTITION OF raw_packets FOR VALUES FROM (%L) TO (%L)', part, slice, slice + width);
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

COMMENT ON FUNCTION create_packet_partitions(timestamptz, timestamptz, interval) IS
    'Creates the raw_packets partitions (UTC hours or days) covering lo to hi that no partition covers yet, moving rows out of the default partition; returns how many';

-- A partition of its own for each of these UTC days (a capture of another time replayed), unless
-- partitions already cover part of the day.
CREATE FUNCTION ensure_raw_packet_partitions(days date[]) RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = @extschema@, pg_temp
AS $fn$
DECLARE
    day     date;
    created integer := 0;
BEGIN
    IF cardinality(days) > 366 THEN
        RAISE EXCEPTION 'ensure_raw_packet_partitions: % days requested, at most 366 per call', cardinality(days)
            USING HINT = 'Packets of other days are kept in raw_packets_default until their partition exists.';
    END IF;
    FOR day IN SELECT DISTINCT d FROM unnest(days) AS d WHERE d IS NOT NULL ORDER BY d LOOP
        created := created + create_packet_partitions(day::timestamp AT TIME ZONE 'UTC',
                                                      (day + 1)::timestamp AT TIME ZONE 'UTC', interval '1 day');
    END LOOP;
    RETURN created;
END
$fn$;

COMMENT ON FUNCTION ensure_raw_packet_partitions(date[]) IS
    'Creates daily raw_packets partitions for these UTC dates (moving rows out of the default partition); returns how many were created';

-- Summarizes the packet ranges of the bloom indexes that are not yet summarized, in the
-- partitions overlapping these times and the default partition (run_jobs calls it for the times
-- it saw packets of). A partition that VACUUM or ANALYZE holds is left for the next call: they
-- summarize it too, and waiting on them would hold up the windows.
CREATE FUNCTION summarize_packet_ranges(first timestamptz, last timestamptz) RETURNS integer
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
        FROM pg_inherits h JOIN pg_index i ON i.indexrelid = h.inhrelid
        JOIN packet_partitions p ON p.partition = i.indrelid
        WHERE h.inhparent IN ('raw_packets_src_ip_bloom'::regclass, 'raw_packets_dst_ip_bloom'::regclass,
                              'raw_packets_src_port_bloom'::regclass, 'raw_packets_dst_port_bloom'::regclass)
          AND (p.lo IS NULL OR (p.lo <= last AND p.hi > first))
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

COMMENT ON FUNCTION summarize_packet_ranges(timestamptz, timestamptz) IS
    'Summarizes new raw_packets ranges of the host and port indexes in the partitions holding these times; returns how many ranges';

-- A partition takes no live traffic an hour after its end: it gets btree indexes on addresses
-- and ports (built once, in sorted order: ~11 s for the four over 10M packets), which the
-- planner uses on its own to find any host's or port's packets exactly. Live partitions keep
-- only the bloom indexes, cheap at insert. The default partition has them from the start (it
-- only holds packets of times without a partition). A partition still being written (a capture
-- of an old time being replayed: busy_from..busy_until, the times run_jobs just saw packets of)
-- waits. Builds one partition per call, newest first (it holds that partition against inserts
-- while it builds, and gives up after lock_timeout if inserts hold it); returns it, or NULL.
CREATE FUNCTION index_closed_packet_partitions(busy_from timestamptz DEFAULT NULL, busy_until timestamptz DEFAULT NULL)
RETURNS regclass
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = @extschema@, pg_temp
SET lock_timeout = '1s'
AS $fn$
DECLARE
    part   regclass;
    col    text;
BEGIN
    SELECT p.partition INTO part
    FROM packet_partitions p
    WHERE p.hi < now() - interval '1 hour'
      AND NOT coalesce(p.lo <= busy_until AND p.hi > busy_from, false)
      AND to_regclass(quote_ident(p.partition::text || '_dst_port_btree')) IS NULL
    ORDER BY p.lo DESC
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

COMMENT ON FUNCTION index_closed_packet_partitions(timestamptz, timestamptz) IS
    'Gives the newest raw_packets partition closed over an hour ago that lacks them btree indexes on addresses and ports; returns it';

-- Partitions for the hours around now (the previous one for late packets, this one, and
-- hours_ahead more), so live traffic never waits on DDL. Two hours ahead by default: every
-- partition, empty or not, costs each query on raw_packets that cannot prune it some planning.
CREATE FUNCTION ensure_packet_partitions_ahead(hours_ahead integer DEFAULT 2) RETURNS integer
LANGUAGE sql SECURITY DEFINER
SET search_path = @extschema@, pg_temp
SET TimeZone = 'UTC'
AS $fn$
    SELECT create_packet_partitions(date_trunc('hour', now()) - interval '1 hour',
                                    date_trunc('hour', now()) + (least(greatest(hours_ahead, 0), 168) + 1) * interval '1 hour',
                                    interval '1 hour')
$fn$;

COMMENT ON FUNCTION ensure_packet_partitions_ahead(integer) IS
    'Creates the hourly raw_packets partitions from the previous hour to hours_ahead hours ahead; returns how many were created';

-- The hours around now, so the first packets need not wait for the scheduler's first tick: made
-- like those the jobs make, ordinary tables rather than members of the extension (retention drops
-- them, pg_dump sees them).
SELECT ensure_packet_partitions_ahead();
DO $members$
DECLARE
    part regclass;
BEGIN
    FOR part IN SELECT d.objid::regclass
                FROM pg_depend d JOIN pg_inherits h ON h.inhrelid = d.objid
                WHERE d.classid = 'pg_class'::regclass AND d.deptype = 'e'
                  AND d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'traffic_analyzer')
                  AND h.inhparent = 'raw_packets'::regclass AND d.objid <> 'raw_packets_default'::regclass LOOP
        EXECUTE format('ALTER EXTENSION traffic_analyzer DROP TABLE %s', part);
    END LOOP;
END
$members$;

-- The database's own upkeep of packet storage, run by the long job every tick (run_jobs): the
-- hourly partitions around now exist, and those around the newest packet (capped at now: a
-- capture of another time being replayed gets partitions as it goes); checked cheaply, created
-- when the hour turns. Then batch ids older than a week are forgotten and the retention policies
-- applied. Nothing a client sends creates a partition by itself: a packet of a time without one
-- is stored in raw_packets_default, and the newest packet time only moves forward, so the
-- partitions made for it are a few hours' at a time, which retention drops as it passes. Returns
-- the partitions created.
CREATE FUNCTION maintain_packet_storage() RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = @extschema@, pg_temp
SET TimeZone = 'UTC'
AS $fn$
DECLARE
    newest  timestamptz := least(now(), (SELECT max(newest_event) FROM window_jobs));
    -- Hours retention removed are not made again.
    removed timestamptz := packets_removed_until();
    created integer := 0;
    around  timestamptz;
    moment  timestamptz;
BEGIN
    FOREACH around IN ARRAY ARRAY[now(), newest] LOOP
        CONTINUE WHEN around IS NULL;
        FOREACH moment IN ARRAY ARRAY[around, around + interval '1 hour'] LOOP
            CONTINUE WHEN moment < removed;
            IF NOT EXISTS (SELECT FROM packet_partitions WHERE lo <= moment AND hi > moment) THEN
                created := created + create_packet_partitions(
                    greatest(date_trunc('hour', around) - interval '1 hour', removed),
                    date_trunc('hour', around) + interval '3 hours', interval '1 hour');
                EXIT;
            END IF;
        END LOOP;
    END LOOP;
    PERFORM prune_ingest_batches();
    PERFORM apply_retention();
    RETURN created;
END
$fn$;

COMMENT ON FUNCTION maintain_packet_storage() IS
    'Hourly partitions around now and around the newest packet, old batch ids pruned, retention applied (the long job runs it every tick); returns partitions created';

-- The kinds of data retention applies to, with their defaults (the extension's facts: restored by
-- CREATE EXTENSION, not by a dump). A DBA's choices are rows of retention_policies.
CREATE TABLE retention_defaults (
    data        text PRIMARY KEY,
    keep        interval NOT NULL,
    max_bytes   bigint,
    measured_by text NOT NULL
);
INSERT INTO retention_defaults (data, keep, max_bytes, measured_by) VALUES
    ('packets', '2 days', NULL, 'ts, the capture time: whole partitions are dropped'),
    ('windows', '90 days', NULL, 'window_start; the windows behind a kept alert stay with it'),
    ('alerts', '1 year', NULL, 'last_seen');

CREATE TABLE retention_policies (
    data       text PRIMARY KEY REFERENCES retention_defaults,
    keep       interval NOT NULL CHECK (keep > interval '0'),
    max_bytes  bigint CHECK (max_bytes > 0),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CHECK (max_bytes IS NULL OR data = 'packets')
);

-- The policies in force: a DBA's where set, the defaults elsewhere.
CREATE VIEW retention AS
SELECT d.data, coalesce(p.keep, d.keep) AS keep,
       CASE WHEN p.data IS NULL THEN d.max_bytes ELSE p.max_bytes END AS max_bytes,
       d.measured_by, p.updated_at AS set_at
FROM retention_defaults d LEFT JOIN retention_policies p USING (data);

COMMENT ON VIEW retention IS 'How long packets, windows and alerts are kept (event time), and the packets'' size budget';

-- Sets how long one kind of data is kept (NULL: as now) and, for packets, the most bytes all
-- packet partitions may take (NULL: no budget).
CREATE FUNCTION set_retention(data text, keep interval DEFAULT NULL, max_bytes bigint DEFAULT NULL) RETURNS void
LANGUAGE plpgsql
SET search_path = @extschema@, pg_temp
AS $fn$
BEGIN
    IF NOT EXISTS (SELECT FROM retention_defaults d WHERE d.data = set_retention.data) THEN
        RAISE EXCEPTION 'set_retention: no data named %', coalesce(quote_literal(set_retention.data), 'NULL')
            USING HINT = 'Retention applies to ' || (SELECT string_agg(quote_literal(d.data), ', ' ORDER BY d.data)
                                                     FROM retention_defaults d) || '.';
    END IF;
    IF set_retention.keep <= interval '0' THEN
        RAISE EXCEPTION 'set_retention: keep must be positive, not %', set_retention.keep
            USING HINT = 'E.g. set_retention(''packets'', keep => ''2 days'').';
    END IF;
    IF set_retention.max_bytes IS NOT NULL AND (set_retention.data <> 'packets' OR set_retention.max_bytes <= 0) THEN
        RAISE EXCEPTION 'set_retention: a size budget of % bytes for %', set_retention.max_bytes, set_retention.data
            USING HINT = 'Only packets have a size budget, a positive number of bytes, e.g. set_retention(''packets'', max_bytes => 100e9::bigint).';
    END IF;
    INSERT INTO retention_policies AS p (data, keep, max_bytes)
    VALUES (set_retention.data,
            coalesce(set_retention.keep, (SELECT r.keep FROM retention r WHERE r.data = set_retention.data)),
            set_retention.max_bytes)
    ON CONFLICT ON CONSTRAINT retention_policies_pkey
    DO UPDATE SET keep = excluded.keep, max_bytes = excluded.max_bytes, updated_at = now();
END
$fn$;

COMMENT ON FUNCTION set_retention(text, interval, bigint) IS
    'Sets how long packets, windows or alerts are kept (and the packets'' size budget); see the view retention';

-- What retention removed: a packet partition dropped, or rows deleted (windows, alerts, packets
-- of the default partition), with the event times they held.
CREATE TABLE retention_log (
    id      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at      timestamptz NOT NULL DEFAULT now(),
    data    text NOT NULL REFERENCES retention_defaults,
    reason  text NOT NULL CHECK (reason IN ('age', 'size')),
    removed text NOT NULL,
    lo      timestamptz,
    hi      timestamptz,
    rows    bigint,
    bytes   bigint
);
CREATE INDEX retention_log_at ON retention_log (at);
-- The jobs read the end of the newest packets removed every tick: windows before it are final.
CREATE INDEX retention_log_removed_until ON retention_log (data, hi);

COMMENT ON COLUMN retention_log.removed IS 'The partition dropped, or ''rows''';
COMMENT ON COLUMN retention_log.rows IS 'Rows removed (a partition: the planner''s estimate, NULL before its first ANALYZE)';

-- The end of the newest packets retention removed: windows that start before it are final (a
-- late packet there does not make the jobs compute them again from what is left), and hours
-- before it are not partitioned again.
CREATE FUNCTION packets_removed_until() RETURNS timestamptz
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = @extschema@, pg_temp
AS $fn$
    SELECT max(hi) FROM retention_log WHERE data = 'packets'
$fn$;

-- Windows behind an alert are kept while the alert is: retention looks them up by window key.
CREATE INDEX alert_windows_window
    ON alert_windows (window_seconds, window_start, scope, coalesce(host, '0.0.0.0/0'::inet));

-- Drops one packet partition and logs it; 0 when queries hold it (the next tick tries again,
-- rather than stall the inserts queued behind a waiting DROP), or when packets arrived in it
-- while the DROP waited (an insert holding it then commits first: its packets are not windowed
-- yet, so the DROP is undone).
CREATE FUNCTION drop_packet_partition(part regclass, lo timestamptz, hi timestamptz, reason text) RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = @extschema@, pg_temp
SET lock_timeout = '100ms'
AS $fn$
DECLARE
    dropped    text := part::text;
    part_bytes bigint := pg_total_relation_size(part);
    part_rows  bigint := (SELECT nullif(c.reltuples, -1)::bigint FROM pg_class c WHERE c.oid = part);
BEGIN
    EXECUTE format('DROP TABLE %s', part);
    IF EXISTS (SELECT FROM window_invalidations i
               WHERE i.lo < drop_packet_partition.hi AND i.hi >= drop_packet_partition.lo) THEN
        RAISE EXCEPTION 'packets arrived in % while it was being dropped', dropped USING ERRCODE = 'object_in_use';
    END IF;
    INSERT INTO retention_log (data, reason, removed, lo, hi, rows, bytes)
    VALUES ('packets', drop_packet_partition.reason, dropped, drop_packet_partition.lo, drop_packet_partition.hi,
            part_rows, part_bytes);
    RAISE LOG 'traffic_analyzer retention: dropped % (packets from % to %, % bytes, by %)',
        dropped, drop_packet_partition.lo, drop_packet_partition.hi, part_bytes, drop_packet_partition.reason;
    RETURN 1;
EXCEPTION WHEN lock_not_available OR object_in_use THEN
    RETURN 0;
END
$fn$;

-- Whether every packet of a partition is before `windowed_until` (NULL: nothing is windowed):
-- its end is, or it holds none from then on (the partition the watermark stopped in, when
-- traffic stops).
CREATE FUNCTION packet_partition_windowed(part regclass, lo timestamptz, hi timestamptz, windowed_until timestamptz)
RETURNS boolean
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = @extschema@, pg_temp
AS $fn$
DECLARE
    none_after boolean;
BEGIN
    IF windowed_until IS NULL OR lo IS NULL OR lo >= windowed_until THEN
        RETURN false;
    ELSIF hi <= windowed_until THEN
        RETURN true;
    END IF;
    EXECUTE format('SELECT NOT EXISTS (SELECT FROM %s WHERE ts >= $1)', part) INTO none_after USING windowed_until;
    RETURN none_after;
END
$fn$;

-- Applies the retention policies once. Age is counted back from the newest packet's capture
-- time, or from now if that is ahead of the clock: a replayed capture ages by its own clock, and
-- a packet stamped in the future ages nothing out early. Packets go by whole partitions: those
-- wholly older than their keep, then the oldest while all packets take more than max_bytes; never
-- a partition with packets whose windows are not all materialized (or have late packets
-- pending). Rows (packets of the default partition, windows, alerts) go a bounded number per call,
-- an hour of event time at a time. Returns the partitions dropped plus the rows deleted.
CREATE FUNCTION apply_retention() RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = @extschema@, pg_temp
SET TimeZone = 'UTC'
AS $fn$
DECLARE
    batch      CONSTANT integer := 50000;
    reference  timestamptz := least(now(), (SELECT max(newest_event) FROM window_jobs));
    safe_until timestamptz;
    policy     record;
    part       record;
    total      bigint;
    removed    bigint := 0;
    cutoff     timestamptz;
    n          bigint;
    first_ts   timestamptz;
    last_ts    timestamptz;
BEGIN
    IF reference IS NULL THEN
        RETURN 0;
    END IF;
    -- Packets before this are in materialized windows of every size and no pending change record.
    SELECT CASE WHEN bool_and(p.materialized_until IS NOT NULL) THEN min(p.materialized_until) END
    INTO safe_until FROM unnest(window_sizes()) AS s (seconds) LEFT JOIN window_progress p ON p.window_seconds = s.seconds;
    IF safe_until IS NOT NULL THEN
        safe_until := least(safe_until, (SELECT min(lo) FROM window_invalidations));
    END IF;

    SELECT * INTO policy FROM retention WHERE data = 'packets';
    IF safe_until IS NOT NULL THEN
        FOR part IN SELECT p.partition, p.lo, p.hi FROM packet_partitions p
                    WHERE p.hi <= reference - policy.keep AND packet_partition_windowed(p.partition, p.lo, p.hi, safe_until)
                    ORDER BY p.lo LOOP
            -- Oldest first, and none past one that could not go: what retention removed always
            -- ends at one time (packets_removed_until), so late packets after it are windowed.
            EXIT WHEN drop_packet_partition(part.partition, part.lo, part.hi, 'age') = 0;
            removed := removed + 1;
        END LOOP;
        IF policy.max_bytes IS NOT NULL THEN
            SELECT sum(pg_total_relation_size(p.partition)) INTO total FROM packet_partitions p;
            FOR part IN SELECT p.partition, p.lo, p.hi, pg_total_relation_size(p.partition) AS bytes
                        FROM packet_partitions p WHERE packet_partition_windowed(p.partition, p.lo, p.hi, safe_until)
                        ORDER BY p.lo LOOP
                EXIT WHEN total <= policy.max_bytes;
                EXIT WHEN drop_packet_partition(part.partition, part.lo, part.hi, 'size') = 0;
                total := total - part.bytes;
                removed := removed + 1;
            END LOOP;
        END IF;
        cutoff := least(date_trunc('hour', reference - policy.keep), safe_until);
        WITH gone AS (
            DELETE FROM raw_packets_default WHERE ctid = ANY (ARRAY(
                SELECT ctid FROM raw_packets_default WHERE ts < cutoff ORDER BY ts LIMIT batch))
            RETURNING ts)
        SELECT count(*), min(ts), max(ts) INTO n, first_ts, last_ts FROM gone;
        IF n > 0 THEN
            INSERT INTO retention_log (data, reason, removed, lo, hi, rows) VALUES ('packets', 'age', 'rows', first_ts, last_ts, n);
            removed := removed + n;
        END IF;
    END IF;

    -- Alerts before windows, so that the windows of the alerts removed go in the same call.
    SELECT * INTO policy FROM retention WHERE data = 'alerts';
    cutoff := date_trunc('hour', reference - policy.keep);
    WITH gone AS (
        DELETE FROM detected_alerts WHERE id = ANY (ARRAY(
            SELECT id FROM detected_alerts WHERE last_seen < cutoff ORDER BY last_seen LIMIT batch))
        RETURNING first_seen, last_seen)
    SELECT count(*), min(first_seen), max(last_seen) INTO n, first_ts, last_ts FROM gone;
    IF n > 0 THEN
        INSERT INTO retention_log (data, reason, removed, lo, hi, rows) VALUES ('alerts', 'age', 'rows', first_ts, last_ts, n);
        removed := removed + n;
    END IF;

    SELECT * INTO policy FROM retention WHERE data = 'windows';
    cutoff := date_trunc('hour', reference - policy.keep);
    WITH gone AS (
        DELETE FROM aggregated_features WHERE id = ANY (ARRAY(
            SELECT f.id FROM aggregated_features f
            WHERE f.window_start < cutoff
              AND NOT EXISTS (SELECT FROM alert_windows w
                              WHERE w.window_seconds = f.window_seconds AND w.window_start = f.window_start
                                AND w.scope = f.scope
                                AND coalesce(w.host, '0.0.0.0/0'::inet) = coalesce(f.host, '0.0.0.0/0'::inet))
            ORDER BY f.window_start LIMIT batch))
        RETURNING window_start)
    SELECT count(*), min(window_start), max(window_start) INTO n, first_ts, last_ts FROM gone;
    IF n > 0 THEN
        INSERT INTO retention_log (data, reason, removed, lo, hi, rows) VALUES ('windows', 'age', 'rows', first_ts, last_ts, n);
        removed := removed + n;
    END IF;

    -- The log itself is kept as long as alerts are (by when it was written).
    DELETE FROM retention_log WHERE at < now() - (SELECT r.keep FROM retention r WHERE r.data = 'alerts');
    RETURN removed;
END
$fn$;

COMMENT ON FUNCTION apply_retention() IS
    'Applies the retention policies once (the long job runs it every tick); returns partitions dropped plus rows deleted';

-- Per kind of data: its policy, the bytes it takes now, the oldest event time kept, and what
-- retention removed in the last day (the front's /metrics reads it).
CREATE VIEW retention_status AS
SELECT r.data, r.keep, r.max_bytes,
       (CASE r.data
            WHEN 'packets' THEN (SELECT sum(pg_total_relation_size(p.partition)) FROM packet_partitions p)
            WHEN 'windows' THEN pg_total_relation_size('aggregated_features'::regclass)
            WHEN 'alerts' THEN pg_total_relation_size('detected_alerts'::regclass)
                               + pg_total_relation_size('alert_windows'::regclass)
        END)::bigint AS bytes,
       CASE r.data
           WHEN 'packets' THEN (SELECT min(ts) FROM raw_packets)
           WHEN 'windows' THEN (SELECT min(window_start) FROM aggregated_features)
           WHEN 'alerts' THEN (SELECT min(last_seen) FROM detected_alerts)
       END AS oldest_kept,
       (SELECT count(*) FROM retention_log l
        WHERE l.data = r.data AND l.removed <> 'rows' AND l.at > now() - interval '1 day') AS partitions_dropped_last_day,
       (SELECT coalesce(sum(l.rows), 0) FROM retention_log l
        WHERE l.data = r.data AND l.at > now() - interval '1 day')::bigint AS rows_removed_last_day
FROM retention r;

COMMENT ON VIEW retention_status IS 'Per kind of data: its retention policy, bytes used, oldest event time kept, and what retention removed in the last day';

REVOKE ALL ON FUNCTION set_retention(text, interval, bigint) FROM PUBLIC;
REVOKE ALL ON FUNCTION drop_packet_partition(regclass, timestamptz, timestamptz, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION apply_retention() FROM PUBLIC;
REVOKE ALL ON FUNCTION packets_removed_until() FROM PUBLIC;
REVOKE ALL ON FUNCTION packet_partition_windowed(regclass, timestamptz, timestamptz, timestamptz) FROM PUBLIC;
GRANT SELECT ON retention, retention_status, retention_log TO traffic_reader;

REVOKE ALL ON FUNCTION ensure_raw_packet_partitions(date[]) FROM PUBLIC;
REVOKE ALL ON FUNCTION create_packet_partitions(timestamptz, timestamptz, interval) FROM PUBLIC;
REVOKE ALL ON FUNCTION ensure_packet_partitions_ahead(integer) FROM PUBLIC;
REVOKE ALL ON FUNCTION summarize_packet_ranges(timestamptz, timestamptz) FROM PUBLIC;
REVOKE ALL ON FUNCTION index_closed_packet_partitions(timestamptz, timestamptz) FROM PUBLIC;
REVOKE ALL ON FUNCTION maintain_packet_storage() FROM PUBLIC;
GRANT SELECT ON packet_partitions TO traffic_reader;

SELECT pg_catalog.pg_extension_config_dump('retention_policies', '');
SELECT pg_catalog.pg_extension_config_dump('retention_log', '');
SELECT pg_catalog.pg_extension_config_dump('retention_log_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('window_progress', '');
SELECT pg_catalog.pg_extension_config_dump('raw_packets_default', '');
SELECT pg_catalog.pg_extension_config_dump('raw_packets_id_seq', '');

-- The jobs write their progress rows at their first tick; rows of no progress are not kept.
DELETE FROM window_progress WHERE materialized_until IS NULL;
