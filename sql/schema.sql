-- traffic_analyzer: storage schema, roles and partition maintenance, as of the current version.
-- Included first in the extension script (see pg_extension/src/lib.rs). A database of an earlier
-- version gets the same through the upgrade scripts sql/traffic_analyzer--<old>--<new>.sql.

-- Roles are cluster-wide: create them once, keep them on DROP EXTENSION (other databases may use them).
DO $roles$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'traffic_ingest') THEN
        CREATE ROLE traffic_ingest NOLOGIN;
        COMMENT ON ROLE traffic_ingest IS 'traffic_analyzer: may only insert packets (sensors, the HTTP front)';
    END IF;
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'traffic_reader') THEN
        CREATE ROLE traffic_reader NOLOGIN;
        COMMENT ON ROLE traffic_reader IS 'traffic_analyzer: reads packets, windows, alerts and models (dashboards)';
    END IF;
END
$roles$;

-- One row per captured packet. The packet columns (ts .. sensor) follow traffic_core::COLUMNS,
-- the single source of truth; a test checks that this table matches it.
CREATE TABLE raw_packets (
    id               bigint GENERATED ALWAYS AS IDENTITY,
    ts               timestamptz NOT NULL,
    interface        text NOT NULL,
    src_ip           inet,
    dst_ip           inet,
    protocol         text,
    length           integer NOT NULL CHECK (length >= 0),
    src_port         integer CHECK (src_port BETWEEN 0 AND 65535),
    dst_port         integer CHECK (dst_port BETWEEN 0 AND 65535),
    tcp_flags        text,
    tcp_syn          boolean,
    tcp_ack          boolean,
    tcp_fin          boolean,
    tcp_rst          boolean,
    tcp_psh          boolean,
    tcp_urg          boolean,
    tcp_ece          boolean,
    tcp_cwr          boolean,
    tcp_window       integer CHECK (tcp_window BETWEEN 0 AND 65535),
    src_mac          macaddr,
    dst_mac          macaddr,
    ttl              smallint CHECK (ttl BETWEEN 0 AND 255),
    ip_version       smallint CHECK (ip_version IN (4, 6)),
    icmp_type        smallint CHECK (icmp_type BETWEEN 0 AND 255),
    icmp_code        smallint CHECK (icmp_code BETWEEN 0 AND 255),
    dns_query        text,
    dns_qtype        integer CHECK (dns_qtype BETWEEN 0 AND 65535),
    dns_response     boolean,
    dns_rcode        smallint CHECK (dns_rcode BETWEEN 0 AND 15),
    dns_answer_count integer CHECK (dns_answer_count BETWEEN 0 AND 65535),
    http_method      text,
    http_host        text,
    http_path        text,
    http_status      smallint CHECK (http_status BETWEEN 100 AND 999),
    http_user_agent  text,
    payload_length   integer CHECK (payload_length >= 0),
    sensor           text,
    inserted_at      timestamptz NOT NULL DEFAULT now(),
    -- (ts, id) both identifies a row and serves "newest packets first" reads.
    PRIMARY KEY (ts, id)
) PARTITION BY RANGE (ts);

COMMENT ON TABLE raw_packets IS 'Captured packets, range-partitioned by event time (ts) into UTC hours';
COMMENT ON COLUMN raw_packets.ts IS 'Capture time (event time); windows follow it';
COMMENT ON COLUMN raw_packets.inserted_at IS 'Arrival time in the database';

-- Packets of times without a partition land here; create_packet_partitions() moves them out.
CREATE TABLE raw_packets_default PARTITION OF raw_packets DEFAULT;
CREATE INDEX raw_packets_default_src_ip_btree ON raw_packets_default (src_ip);
CREATE INDEX raw_packets_default_dst_ip_btree ON raw_packets_default (dst_ip);
CREATE INDEX raw_packets_default_src_port_btree ON raw_packets_default (src_port);
CREATE INDEX raw_packets_default_dst_port_btree ON raw_packets_default (dst_port);

-- The primary key's (ts, id) order serves the reads by time (newest packets, a time range, then
-- filters). Reads by address or port: a btree per column would find them, but in a partition
-- taking live traffic every packet lands at a random place in it (measured once by hand: two such
-- indexes halve COPY throughput, 2M packets 6.5-6.7 s against 3.1-3.6 s without). So live
-- partitions get BRIN indexes of bloom filters, one per column (a lookup reads only its column's
-- summaries): per 8-page range (~440 packets), which values it holds, so a rare host's packets
-- cost the summaries and the few ranges that match (the four: 3.9 s for the same COPY; the ingest
-- benchmark measures their cost against no index in each run; new ranges stay unsummarized until
-- run_jobs() summarizes them, summarize_packet_ranges). A closed partition (an hour after its
-- end) gets the btree indexes once (index_closed_packet_partitions). PostgreSQL 15 costs
-- a bloom BRIN as if it read the whole table, so the front chooses between the indexes and a scan
-- by time itself (packet_search.rs) from the planner's row estimates: hence larger statistics on
-- these columns.
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

-- Window features, one row per window, scope and host. Feature columns arrive with the
-- feature list (a later version); the keys and prediction columns are fixed here.
CREATE TABLE aggregated_features (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    window_seconds  integer NOT NULL CHECK (window_seconds > 0),
    window_start    timestamptz NOT NULL,
    window_end      timestamptz NOT NULL,
    scope           text NOT NULL CHECK (scope IN ('global', 'src_host', 'dst_host')),
    host            inet,
    total_packets   bigint NOT NULL DEFAULT 0,
    total_bytes     bigint NOT NULL DEFAULT 0,
    feature_version integer,
    predicted_label text,
    confidence      double precision CHECK (confidence BETWEEN 0 AND 1),
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    CHECK (window_end > window_start),
    CHECK ((scope = 'global') = (host IS NULL))
);

CREATE UNIQUE INDEX aggregated_features_window_key
    ON aggregated_features (window_seconds, window_start, scope, coalesce(host, '0.0.0.0/0'::inet));
-- Window reads go newest first by (window_start, id) (keyset pages), by host (host rows), and by
-- predicted label (attack labels are rare: found by time alone, they would cost a scan).
CREATE INDEX aggregated_features_recent ON aggregated_features (window_start, id);
CREATE INDEX aggregated_features_host ON aggregated_features (host, window_start, id) WHERE host IS NOT NULL;
CREATE INDEX aggregated_features_label ON aggregated_features (predicted_label, window_start, id);

-- Incremental materialization. The trigger records which event-time range each insert touched,
-- once per job; each job consumes its own records, advances its watermark and (re)materializes
-- its closed windows. Two jobs, so the long windows' heavy ticks never hold up the 5 s windows
-- (the scheduler runs each in a process of its own): their names match jobs::JOBS in the library.
CREATE TABLE window_jobs (
    job          text PRIMARY KEY,
    -- The newest event time seen and when packets last arrived (wall clock): the watermark's inputs.
    newest_event timestamptz,
    last_arrival timestamptz,
    -- Ticks run: a scheduler's read-ahead buffer is valid only if it ran every one of them.
    ticks        bigint NOT NULL DEFAULT 0
);
INSERT INTO window_jobs (job) VALUES ('short'), ('long');

CREATE TABLE window_invalidations (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    job         text NOT NULL REFERENCES window_jobs,
    lo          timestamptz NOT NULL,
    hi          timestamptz NOT NULL,
    packets     bigint NOT NULL,
    recorded_at timestamptz NOT NULL DEFAULT clock_timestamp()
);

-- Per window size, the job that maintains it: windows starting before materialized_until are
-- materialized. A job writes its rows at its first tick (the sizes are the library's,
-- window_sizes()), so that pg_dump can keep them (sql/dump.sql).
CREATE TABLE window_progress (
    window_seconds     integer PRIMARY KEY CHECK (window_seconds > 0),
    job                text NOT NULL REFERENCES window_jobs,
    materialized_until timestamptz
);

-- Statement-level, so a COPY of 5,000 packets costs one small insert per job here, not 5,000.
CREATE FUNCTION record_packet_ranges() RETURNS trigger
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

CREATE TRIGGER raw_packets_record_ranges
    AFTER INSERT ON raw_packets
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION record_packet_ranges();

CREATE TABLE models (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name            text NOT NULL,
    version         integer NOT NULL,
    feature_version integer NOT NULL,
    classes         text[] NOT NULL,
    model           jsonb NOT NULL,
    metrics         jsonb,
    created_at      timestamptz NOT NULL DEFAULT now(),
    active          boolean NOT NULL DEFAULT false,
    -- The model in the evaluator's compact binary form (written by load_model): every process
    -- that scores (parallel workers: every query) reads it instead of the JSON, ~30x faster.
    -- Stored uncompressed: it hardly compresses and is read often. NULL: read the JSON.
    compact         bytea,
    UNIQUE (name, version)
);
ALTER TABLE models ALTER COLUMN compact SET STORAGE EXTERNAL;

-- What score() returns: the predicted label, its probability, and every class's probability
-- (in model_classes() order).
CREATE TYPE prediction AS (label text, confidence double precision, probabilities real[]);

-- At most one active model at a time.
CREATE UNIQUE INDEX models_one_active ON models (active) WHERE active;

CREATE TABLE detected_alerts (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    alert_type     text NOT NULL,
    severity       text NOT NULL CHECK (severity IN ('Critical', 'High', 'Medium', 'Low')),
    source_ip      inet,
    destination_ip inet,
    confidence     double precision NOT NULL CHECK (confidence BETWEEN 0 AND 1),
    description    text NOT NULL,
    first_seen     timestamptz NOT NULL,
    last_seen      timestamptz NOT NULL,
    window_count   integer NOT NULL DEFAULT 1 CHECK (window_count > 0),
    model_id       bigint REFERENCES models (id),
    created_at     timestamptz NOT NULL DEFAULT now(),
    -- The strongest evidence: [{"feature", "value", "contribution"}], from TreeSHAP (NULL when
    -- only a rule raised it: its description says why).
    explanation    jsonb,
    -- Which detector raised it: the model, a rule (scan or flood), or both.
    detector       text NOT NULL DEFAULT 'model' CHECK (detector IN ('model', 'rule', 'both')),
    -- Every attacker named (by address, at most 50): the source, or a flood's many real sources.
    attackers      inet[] NOT NULL DEFAULT '{}',
    CHECK (last_seen >= first_seen)
);

CREATE INDEX detected_alerts_recent ON detected_alerts (last_seen DESC);
CREATE INDEX detected_alerts_source ON detected_alerts (source_ip, id);
CREATE INDEX detected_alerts_destination ON detected_alerts (destination_ip, id);
CREATE INDEX detected_alerts_type_recent ON detected_alerts (alert_type, last_seen DESC);
CREATE INDEX detected_alerts_attackers ON detected_alerts USING gin (attackers);

-- The windows behind each alert (by window key: a window computed again keeps its link and is
-- counted once).
CREATE TABLE alert_windows (
    alert_id       bigint NOT NULL REFERENCES detected_alerts (id) ON DELETE CASCADE,
    window_seconds integer NOT NULL,
    window_start   timestamptz NOT NULL,
    scope          text NOT NULL,
    host           inet
);

CREATE UNIQUE INDEX alert_windows_key
    ON alert_windows (alert_id, window_seconds, window_start, scope, coalesce(host, '0.0.0.0/0'::inet));

-- Bearer tokens of sensors; only their SHA-256 is stored.
CREATE TABLE sensor_tokens (
    token_sha256 bytea PRIMARY KEY,
    sensor       text NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    revoked_at   timestamptz
);

CREATE FUNCTION create_sensor_token(sensor text) RETURNS text
LANGUAGE plpgsql
SET search_path = @extschema@, pg_temp
AS $fn$
DECLARE
    token text := 'ta_' || replace(gen_random_uuid()::text || gen_random_uuid()::text, '-', '');
BEGIN
    IF sensor IS NULL OR sensor = '' OR length(sensor) > 64 THEN
        RAISE EXCEPTION 'create_sensor_token: sensor name must be 1 to 64 characters'
            USING HINT = 'Name the sensor, e.g. create_sensor_token(''edge-1'').';
    END IF;
    INSERT INTO sensor_tokens (token_sha256, sensor) VALUES (sha256(convert_to(token, 'UTF8')), sensor);
    RETURN token;
END
$fn$;

COMMENT ON FUNCTION create_sensor_token(text) IS
    'Issues a bearer token for a sensor and returns it (only its hash is kept)';

CREATE FUNCTION revoke_sensor_tokens(sensor text) RETURNS integer
LANGUAGE sql
SET search_path = @extschema@, pg_temp
AS $fn$
    WITH revoked AS (
        UPDATE sensor_tokens t SET revoked_at = now()
        WHERE t.sensor = revoke_sensor_tokens.sensor AND t.revoked_at IS NULL
        RETURNING 1
    )
    SELECT count(*)::integer FROM revoked
$fn$;

-- The sensor a token belongs to, or NULL: lets the front check tokens without reading the table.
CREATE FUNCTION authenticate_sensor(token text) RETURNS text
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = @extschema@, pg_temp
AS $fn$
    SELECT sensor FROM sensor_tokens
    WHERE token_sha256 = sha256(convert_to(token, 'UTF8')) AND revoked_at IS NULL
$fn$;

-- Batch ids already stored, so a retried batch (same Idempotency-Key) is stored once.
CREATE TABLE ingest_batches (
    batch_id     text PRIMARY KEY CHECK (length(batch_id) BETWEEN 1 AND 200),
    sensor       text,
    packet_count integer NOT NULL,
    received_at  timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX ingest_batches_received_at ON ingest_batches (received_at);

CREATE FUNCTION prune_ingest_batches(older_than interval DEFAULT '7 days') RETURNS bigint
LANGUAGE sql SECURITY DEFINER
SET search_path = @extschema@, pg_temp
AS $fn$
    WITH gone AS (DELETE FROM ingest_batches WHERE received_at < now() - older_than RETURNING 1)
    SELECT count(*) FROM gone
$fn$;

-- Least privilege: the ingest role writes packets and batch ids, nothing else (no partitions:
-- those are the database's own upkeep).
REVOKE ALL ON FUNCTION ensure_raw_packet_partitions(date[]) FROM PUBLIC;
REVOKE ALL ON FUNCTION create_packet_partitions(timestamptz, timestamptz, interval) FROM PUBLIC;
REVOKE ALL ON FUNCTION ensure_packet_partitions_ahead(integer) FROM PUBLIC;
REVOKE ALL ON FUNCTION authenticate_sensor(text) FROM PUBLIC;
REVOKE ALL ON FUNCTION prune_ingest_batches(interval) FROM PUBLIC;
REVOKE ALL ON FUNCTION create_sensor_token(text) FROM PUBLIC;
REVOKE ALL ON FUNCTION revoke_sensor_tokens(text) FROM PUBLIC;
REVOKE ALL ON FUNCTION summarize_packet_ranges(timestamptz, timestamptz) FROM PUBLIC;
REVOKE ALL ON FUNCTION index_closed_packet_partitions(timestamptz, timestamptz) FROM PUBLIC;
REVOKE ALL ON FUNCTION maintain_packet_storage() FROM PUBLIC;

GRANT INSERT ON raw_packets TO traffic_ingest;
GRANT INSERT ON ingest_batches TO traffic_ingest;
GRANT EXECUTE ON FUNCTION authenticate_sensor(text) TO traffic_ingest;

GRANT SELECT ON raw_packets, aggregated_features, detected_alerts, models TO traffic_reader;
GRANT SELECT ON alert_windows, window_jobs, window_progress, packet_partitions TO traffic_reader;
