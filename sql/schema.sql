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

COMMENT ON TABLE raw_packets IS 'Captured packets, range-partitioned by event time (ts) into UTC days';
COMMENT ON COLUMN raw_packets.ts IS 'Capture time (event time); windows follow it';
COMMENT ON COLUMN raw_packets.inserted_at IS 'Arrival time in the database';

-- Packets whose day has no partition yet land here; ensure_raw_packet_partitions() moves them out.
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
-- run_jobs() summarizes them, summarize_packet_ranges). A closed day's partition (an hour after
-- the day ended) gets the btree indexes once (index_closed_packet_partitions). PostgreSQL 15 costs
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

-- Creates the daily partitions (UTC days) for the given dates, moving any rows the default
-- partition already holds for a date into its new partition. Safe to call concurrently.
CREATE FUNCTION ensure_raw_packet_partitions(days date[]) RETURNS integer
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

COMMENT ON FUNCTION ensure_raw_packet_partitions(date[]) IS
    'Creates the daily raw_packets partitions for these UTC dates (moving rows out of the default partition); returns how many were created';

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
CREATE FUNCTION ensure_raw_packet_partitions_ahead(days_ahead integer DEFAULT 1) RETURNS integer
LANGUAGE sql SECURITY DEFINER
SET search_path = @extschema@, pg_temp
AS $fn$
    SELECT ensure_raw_packet_partitions(array_agg(d::date))
    FROM generate_series((now() AT TIME ZONE 'UTC')::date - 1,
                         (now() AT TIME ZONE 'UTC')::date + least(greatest(days_ahead, 0), 365),
                         interval '1 day') AS d
$fn$;

SELECT ensure_raw_packet_partitions_ahead();

-- The database's own upkeep of packet storage, run by the long job every tick (run_jobs): the
-- daily partitions from yesterday to tomorrow exist (checked cheaply, created when the day
-- turns), and batch ids older than a week are forgotten. Nothing a client sends creates a
-- partition: a packet of a day without one is stored in raw_packets_default, so however many
-- days a batch claims, the partitions stay those of the days around now (and those a DBA makes
-- with ensure_raw_packet_partitions(), e.g. for an old capture replayed). Returns the
-- partitions created.
CREATE FUNCTION maintain_packet_storage() RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = @extschema@, pg_temp
AS $fn$
DECLARE
    today   date := (now() AT TIME ZONE 'UTC')::date;
    created integer := 0;
BEGIN
    IF to_regclass(quote_ident('raw_packets_p' || to_char(today, 'YYYYMMDD'))) IS NULL
       OR to_regclass(quote_ident('raw_packets_p' || to_char(today + 1, 'YYYYMMDD'))) IS NULL THEN
        created := ensure_raw_packet_partitions_ahead();
    END IF;
    PERFORM prune_ingest_batches();
    RETURN created;
END
$fn$;

COMMENT ON FUNCTION maintain_packet_storage() IS
    'Partitions from yesterday to tomorrow, old batch ids pruned (the long job runs it every tick); returns partitions created';

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
-- materialized.
CREATE TABLE window_progress (
    window_seconds     integer PRIMARY KEY CHECK (window_seconds > 0),
    job                text NOT NULL REFERENCES window_jobs,
    materialized_until timestamptz
);
INSERT INTO window_progress (window_seconds, job) VALUES (5, 'short'), (30, 'long'), (180, 'long');

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
REVOKE ALL ON FUNCTION ensure_raw_packet_partitions_ahead(integer) FROM PUBLIC;
REVOKE ALL ON FUNCTION authenticate_sensor(text) FROM PUBLIC;
REVOKE ALL ON FUNCTION prune_ingest_batches(interval) FROM PUBLIC;
REVOKE ALL ON FUNCTION create_sensor_token(text) FROM PUBLIC;
REVOKE ALL ON FUNCTION revoke_sensor_tokens(text) FROM PUBLIC;
REVOKE ALL ON FUNCTION summarize_packet_ranges(date, date) FROM PUBLIC;
REVOKE ALL ON FUNCTION index_closed_packet_partitions(date, date) FROM PUBLIC;
REVOKE ALL ON FUNCTION maintain_packet_storage() FROM PUBLIC;

GRANT INSERT ON raw_packets TO traffic_ingest;
GRANT INSERT ON ingest_batches TO traffic_ingest;
GRANT EXECUTE ON FUNCTION authenticate_sensor(text) TO traffic_ingest;

GRANT SELECT ON raw_packets, aggregated_features, detected_alerts, models TO traffic_reader;
GRANT SELECT ON alert_windows, window_jobs, window_progress TO traffic_reader;
