-- traffic_analyzer 0.1.0: storage schema, roles and partition maintenance.
-- Included first in the extension script (see pg_extension/src/lib.rs). Later versions change
-- it only through upgrade scripts sql/traffic_analyzer--<old>--<new>.sql.

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

-- The primary key's (ts, id) order serves the reads by time (newest packets, a time range, then
-- filters). Per-host btree indexes were measured to halve COPY throughput (random-order inserts);
-- host-centred reads go through aggregated_features, which names hosts per window.

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
        created := created + 1;
    END LOOP;
    RETURN created;
END
$fn$;

COMMENT ON FUNCTION ensure_raw_packet_partitions(date[]) IS
    'Creates the daily raw_packets partitions for these UTC dates (moving rows out of the default partition); returns how many were created';

-- Partitions for the days around now, so live traffic never waits on DDL.
CREATE FUNCTION ensure_raw_packet_partitions_ahead(days_ahead integer DEFAULT 7) RETURNS integer
LANGUAGE sql SECURITY DEFINER
SET search_path = @extschema@, pg_temp
AS $fn$
    SELECT ensure_raw_packet_partitions(array_agg(d::date))
    FROM generate_series((now() AT TIME ZONE 'UTC')::date - 1,
                         (now() AT TIME ZONE 'UTC')::date + least(greatest(days_ahead, 0), 365),
                         interval '1 day') AS d
$fn$;

SELECT ensure_raw_packet_partitions_ahead();

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
CREATE INDEX aggregated_features_recent ON aggregated_features (window_start DESC);

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
    -- The strongest evidence: [{"feature", "value", "contribution"}], from TreeSHAP.
    explanation    jsonb,
    CHECK (last_seen >= first_seen)
);

CREATE INDEX detected_alerts_recent ON detected_alerts (last_seen DESC);
CREATE INDEX detected_alerts_type_recent ON detected_alerts (alert_type, last_seen DESC);

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

-- Least privilege: the ingest role writes packets and batch ids, nothing else.
REVOKE ALL ON FUNCTION ensure_raw_packet_partitions(date[]) FROM PUBLIC;
REVOKE ALL ON FUNCTION ensure_raw_packet_partitions_ahead(integer) FROM PUBLIC;
REVOKE ALL ON FUNCTION authenticate_sensor(text) FROM PUBLIC;
REVOKE ALL ON FUNCTION prune_ingest_batches(interval) FROM PUBLIC;
REVOKE ALL ON FUNCTION create_sensor_token(text) FROM PUBLIC;
REVOKE ALL ON FUNCTION revoke_sensor_tokens(text) FROM PUBLIC;

GRANT INSERT ON raw_packets TO traffic_ingest;
GRANT INSERT ON ingest_batches TO traffic_ingest;
GRANT EXECUTE ON FUNCTION ensure_raw_packet_partitions(date[]) TO traffic_ingest;
GRANT EXECUTE ON FUNCTION ensure_raw_packet_partitions_ahead(integer) TO traffic_ingest;
GRANT EXECUTE ON FUNCTION authenticate_sensor(text) TO traffic_ingest;
GRANT EXECUTE ON FUNCTION prune_ingest_batches(interval) TO traffic_ingest;

GRANT SELECT ON raw_packets, aggregated_features, detected_alerts, models TO traffic_reader;
GRANT SELECT ON alert_windows, window_jobs, window_progress TO traffic_reader;
