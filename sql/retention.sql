-- Retention: how long each kind of data is kept and, for packets, how many bytes they may take,
-- whichever bites first. The long job applies the policies every tick (maintain_packet_storage()
-- calls apply_retention()); every removal is written to retention_log. Why this and not
-- pg_partman's retention: docs/design.md#retention.

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
