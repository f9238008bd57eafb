\echo Use "ALTER EXTENSION traffic_analyzer UPDATE TO '0.6.0'" to load this file. \quit
-- traffic_analyzer 0.5.0 -> 0.6.0: an IDS its attackers cannot blind.
-- Partitions are the database's own upkeep (maintain_packet_storage(), run by the long job):
-- the ingest role may no longer create them, nor prune batch ids. Users of the front (readers,
-- admins) with argon2id passwords, their sessions and API tokens, and the functions the front
-- calls to check them (role traffic_auth), as in sql/auth.sql.
\echo Use "ALTER EXTENSION traffic_analyzer UPDATE TO '0.6.0'" to load this file. \quit

REVOKE EXECUTE ON FUNCTION ensure_raw_packet_partitions(date[]) FROM traffic_ingest;
REVOKE EXECUTE ON FUNCTION ensure_raw_packet_partitions_ahead(integer) FROM traffic_ingest;
REVOKE EXECUTE ON FUNCTION prune_ingest_batches(interval) FROM traffic_ingest;

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
REVOKE ALL ON FUNCTION maintain_packet_storage() FROM PUBLIC;

-- Who may use the front: users with a role (reader, admin) who log in with a password, their
-- sessions, and API tokens for programs. The database is the authority: the front never sees a
-- password hash or a stored token, it asks these functions (role traffic_auth), and the admin
-- actions it offers are authorized here by the admin's own session. Passwords are hashed with
-- argon2id (hash_front_password(), in Rust); tokens and session ids are random and only their
-- SHA-256 is stored.

DO $roles$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'traffic_auth') THEN
        CREATE ROLE traffic_auth NOLOGIN;
        COMMENT ON ROLE traffic_auth IS 'traffic_analyzer: checks logins, sessions and API tokens (the HTTP front)';
    END IF;
END
$roles$;

CREATE TABLE front_users (
    name          text PRIMARY KEY CHECK (name ~ '^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$'),
    role          text NOT NULL CHECK (role IN ('reader', 'admin')),
    -- An argon2id PHC string; NULL: no password login (API tokens only).
    password_hash text CHECK (password_hash LIKE '$argon2id$%'),
    created_at    timestamptz NOT NULL DEFAULT now(),
    disabled_at   timestamptz
);

CREATE TABLE front_sessions (
    session_sha256 bytea PRIMARY KEY,
    user_name      text NOT NULL REFERENCES front_users ON DELETE CASCADE,
    -- Forms of this session carry it (checked by the front on every state-changing request).
    csrf_token     text NOT NULL,
    client         text,
    created_at     timestamptz NOT NULL DEFAULT now(),
    last_seen      timestamptz NOT NULL DEFAULT now(),
    expires_at     timestamptz NOT NULL
);
CREATE INDEX front_sessions_user ON front_sessions (user_name);

CREATE TABLE api_tokens (
    token_sha256 bytea PRIMARY KEY,
    user_name    text NOT NULL REFERENCES front_users ON DELETE CASCADE,
    label        text NOT NULL CHECK (length(label) BETWEEN 1 AND 64),
    created_at   timestamptz NOT NULL DEFAULT now(),
    revoked_at   timestamptz
);
CREATE INDEX api_tokens_user ON api_tokens (user_name);

-- A random secret: 244 bits from PostgreSQL's strong random source, hex, with a prefix saying
-- what it is.
CREATE FUNCTION random_secret(prefix text) RETURNS text
LANGUAGE sql VOLATILE
SET search_path = @extschema@, pg_temp
AS $fn$
    SELECT prefix || replace(gen_random_uuid()::text || gen_random_uuid()::text, '-', '')
$fn$;

CREATE FUNCTION secret_sha256(secret text) RETURNS bytea
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
AS $fn$ SELECT sha256(convert_to(secret, 'UTF8')) $fn$;

-- A password as stored: an argon2id hash given as is (hashed elsewhere, e.g. by
-- Debian's argon2 tool), or a password of at least 10 characters hashed here.
CREATE FUNCTION stored_password(password text) RETURNS text
LANGUAGE plpgsql VOLATILE
SET search_path = @extschema@, pg_temp
AS $fn$
BEGIN
    IF password IS NULL THEN
        RETURN NULL;
    END IF;
    IF password LIKE '$argon2id$%' THEN
        IF verify_front_password(password, '') IS NULL THEN
            RAISE EXCEPTION 'not a valid argon2id hash' USING ERRCODE = 'invalid_parameter_value';
        END IF;
        RETURN password;
    END IF;
    IF length(password) < 10 THEN
        RAISE EXCEPTION 'a password must be at least 10 characters long' USING ERRCODE = 'invalid_parameter_value',
            HINT = 'Choose a longer one, or give an argon2id hash (e.g. from Debian''s argon2 tool: argon2 SALT -id -e).';
    END IF;
    RETURN hash_front_password(password);
END
$fn$;

-- User management: for the DBA (or the front's admin pages, through admin_* below).
CREATE FUNCTION create_front_user(name text, role text, password text DEFAULT NULL) RETURNS void
LANGUAGE plpgsql
SET search_path = @extschema@, pg_temp
AS $fn$
BEGIN
    IF role IS NULL OR role NOT IN ('reader', 'admin') THEN
        RAISE EXCEPTION 'create_front_user: role must be reader or admin, not %', coalesce(role, 'NULL')
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF name IS NULL OR name !~ '^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$' THEN
        RAISE EXCEPTION 'create_front_user: % is not a user name', coalesce(quote_literal(name), 'NULL')
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = '1 to 64 letters, digits and _ . @ -, starting with a letter or digit.';
    END IF;
    INSERT INTO front_users (name, role, password_hash)
    VALUES (create_front_user.name, create_front_user.role, stored_password(password));
EXCEPTION WHEN unique_violation THEN
    RAISE EXCEPTION 'create_front_user: user % exists', name USING ERRCODE = 'duplicate_object',
        HINT = 'Change its password with set_front_user_password(), its role with set_front_user_role().';
END
$fn$;

CREATE FUNCTION set_front_user_password(name text, password text) RETURNS void
LANGUAGE plpgsql
SET search_path = @extschema@, pg_temp
AS $fn$
BEGIN
    UPDATE front_users u SET password_hash = stored_password(password) WHERE u.name = set_front_user_password.name;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'no front user named %', name USING ERRCODE = 'undefined_object';
    END IF;
    -- A new password ends the sessions opened with the old one.
    DELETE FROM front_sessions s WHERE s.user_name = set_front_user_password.name;
END
$fn$;

CREATE FUNCTION set_front_user_role(name text, role text) RETURNS void
LANGUAGE plpgsql
SET search_path = @extschema@, pg_temp
AS $fn$
BEGIN
    UPDATE front_users u SET role = set_front_user_role.role WHERE u.name = set_front_user_role.name;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'no front user named %', name USING ERRCODE = 'undefined_object';
    END IF;
END
$fn$;

-- Disables a user (no login, no API token) and ends their sessions; enable_front_user() undoes it.
CREATE FUNCTION disable_front_user(name text) RETURNS void
LANGUAGE plpgsql
SET search_path = @extschema@, pg_temp
AS $fn$
BEGIN
    UPDATE front_users u SET disabled_at = coalesce(disabled_at, now()) WHERE u.name = disable_front_user.name;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'no front user named %', name USING ERRCODE = 'undefined_object';
    END IF;
    DELETE FROM front_sessions s WHERE s.user_name = disable_front_user.name;
END
$fn$;

CREATE FUNCTION enable_front_user(name text) RETURNS void
LANGUAGE sql
SET search_path = @extschema@, pg_temp
AS $fn$ UPDATE front_users u SET disabled_at = NULL WHERE u.name = enable_front_user.name $fn$;

-- An API token for a user's programs (Authorization: Bearer ...), with the user's role; only
-- its hash is kept.
CREATE FUNCTION create_api_token(user_name text, label text DEFAULT 'api') RETURNS text
LANGUAGE plpgsql
SET search_path = @extschema@, pg_temp
AS $fn$
DECLARE
    token text := random_secret('tau_');
BEGIN
    IF NOT EXISTS (SELECT FROM front_users u WHERE u.name = create_api_token.user_name) THEN
        RAISE EXCEPTION 'no front user named %', user_name USING ERRCODE = 'undefined_object',
            HINT = 'Create the user first: create_front_user(name, role).';
    END IF;
    INSERT INTO api_tokens (token_sha256, user_name, label) VALUES (secret_sha256(token), user_name, label);
    RETURN token;
END
$fn$;

-- Revokes a user's API tokens (those of one label, or all); returns how many.
CREATE FUNCTION revoke_api_tokens(user_name text, label text DEFAULT NULL) RETURNS integer
LANGUAGE sql
SET search_path = @extschema@, pg_temp
AS $fn$
    WITH revoked AS (
        UPDATE api_tokens t SET revoked_at = now()
        WHERE t.user_name = revoke_api_tokens.user_name AND t.revoked_at IS NULL
          AND (revoke_api_tokens.label IS NULL OR t.label = revoke_api_tokens.label)
        RETURNING 1
    )
    SELECT count(*)::integer FROM revoked
$fn$;

-- What the front calls (role traffic_auth).

-- A login: the password is checked here (argon2id; an unknown or disabled user costs the same
-- time as a wrong password). On success a session is opened and its token returned once; no
-- row otherwise.
CREATE FUNCTION front_login(user_name text, password text, client text, session_hours integer,
                            idle_minutes integer)
RETURNS TABLE (session_token text, csrf_token text, role text)
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = @extschema@, pg_temp
AS $fn$
DECLARE
    account front_users;
    token   text;
    csrf    text;
BEGIN
    SELECT * INTO account FROM front_users u WHERE u.name = front_login.user_name AND u.disabled_at IS NULL;
    -- Hash work for every attempt, so timing does not tell which user names exist.
    IF NOT coalesce(verify_front_password(coalesce(account.password_hash, dummy_password_hash()), password), false)
       OR account.password_hash IS NULL THEN
        RETURN;
    END IF;
    DELETE FROM front_sessions s WHERE s.expires_at < now() OR s.last_seen < now() - make_interval(mins => least(greatest(idle_minutes, 1), 10080));
    token := random_secret('tas_');
    csrf := random_secret('');
    INSERT INTO front_sessions (session_sha256, user_name, csrf_token, client, expires_at)
    VALUES (secret_sha256(token), account.name, csrf, left(client, 64),
            now() + make_interval(hours => least(greatest(session_hours, 1), 168)));
    RETURN QUERY SELECT token, csrf, account.role;
END
$fn$;

-- The session behind a token, if it is live (not expired, used within idle_minutes, its user
-- enabled); marks it used, at most once a minute.
CREATE FUNCTION front_session(session_token text, idle_minutes integer)
RETURNS TABLE (user_name text, role text, csrf_token text)
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = @extschema@, pg_temp
AS $fn$
DECLARE
    live front_sessions;
BEGIN
    SELECT s.* INTO live FROM front_sessions s JOIN front_users u ON u.name = s.user_name
    WHERE s.session_sha256 = secret_sha256(session_token) AND s.expires_at > now()
      AND s.last_seen > now() - make_interval(mins => least(greatest(idle_minutes, 1), 10080))
      AND u.disabled_at IS NULL;
    IF NOT FOUND THEN
        RETURN;
    END IF;
    IF live.last_seen < now() - interval '1 minute' THEN
        UPDATE front_sessions s SET last_seen = now() WHERE s.session_sha256 = live.session_sha256;
    END IF;
    RETURN QUERY SELECT u.name, u.role, live.csrf_token FROM front_users u WHERE u.name = live.user_name;
END
$fn$;

CREATE FUNCTION front_logout(session_token text) RETURNS void
LANGUAGE sql VOLATILE SECURITY DEFINER
SET search_path = @extschema@, pg_temp
AS $fn$ DELETE FROM front_sessions WHERE session_sha256 = secret_sha256(session_token) $fn$;

-- The user and role behind an API token, if it is live.
CREATE FUNCTION authenticate_api_token(token text) RETURNS TABLE (user_name text, role text)
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = @extschema@, pg_temp
AS $fn$
    SELECT u.name, u.role FROM api_tokens t JOIN front_users u ON u.name = t.user_name
    WHERE t.token_sha256 = secret_sha256(token) AND t.revoked_at IS NULL AND u.disabled_at IS NULL
$fn$;

-- Admin actions of the front's pages, each authorized by the session of an admin.
CREATE FUNCTION admin_of_session(session_token text) RETURNS text
LANGUAGE plpgsql STABLE
SET search_path = @extschema@, pg_temp
AS $fn$
DECLARE
    admin text;
BEGIN
    SELECT u.name INTO admin FROM front_sessions s JOIN front_users u ON u.name = s.user_name
    WHERE s.session_sha256 = secret_sha256(session_token) AND s.expires_at > now()
      AND u.disabled_at IS NULL AND u.role = 'admin';
    IF admin IS NULL THEN
        RAISE EXCEPTION 'this needs the live session of an admin' USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN admin;
END
$fn$;

CREATE FUNCTION admin_create_sensor_token(session_token text, sensor text) RETURNS text
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = @extschema@, pg_temp
AS $fn$
BEGIN
    PERFORM admin_of_session(session_token);
    RETURN create_sensor_token(sensor);
END
$fn$;

CREATE FUNCTION admin_revoke_sensor_tokens(session_token text, sensor text) RETURNS integer
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = @extschema@, pg_temp
AS $fn$
BEGIN
    PERFORM admin_of_session(session_token);
    RETURN revoke_sensor_tokens(sensor);
END
$fn$;

CREATE FUNCTION admin_create_api_token(session_token text, user_name text, label text) RETURNS text
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = @extschema@, pg_temp
AS $fn$
BEGIN
    PERFORM admin_of_session(session_token);
    RETURN create_api_token(user_name, label);
END
$fn$;

CREATE FUNCTION admin_revoke_api_tokens(session_token text, user_name text, label text) RETURNS integer
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = @extschema@, pg_temp
AS $fn$
BEGIN
    PERFORM admin_of_session(session_token);
    RETURN revoke_api_tokens(user_name, label);
END
$fn$;

CREATE FUNCTION admin_create_user(session_token text, name text, role text, password text) RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = @extschema@, pg_temp
AS $fn$
BEGIN
    PERFORM admin_of_session(session_token);
    PERFORM create_front_user(name, role, password);
END
$fn$;

CREATE FUNCTION admin_disable_user(session_token text, name text) RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = @extschema@, pg_temp
AS $fn$
BEGIN
    IF admin_of_session(session_token) = name THEN
        RAISE EXCEPTION 'an admin cannot disable their own account' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    PERFORM disable_front_user(name);
END
$fn$;

-- What the admin page shows: users, sensors and API tokens, never a secret.
CREATE FUNCTION admin_overview(session_token text)
RETURNS TABLE (kind text, name text, detail text, created_at timestamptz, active boolean)
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = @extschema@, pg_temp
AS $fn$
BEGIN
    PERFORM admin_of_session(session_token);
    RETURN QUERY
        SELECT 'user', u.name, u.role, u.created_at, u.disabled_at IS NULL FROM front_users u
        UNION ALL
        SELECT 'sensor', t.sensor, count(*) FILTER (WHERE t.revoked_at IS NULL) || ' live of ' || count(*),
               max(t.created_at), bool_or(t.revoked_at IS NULL)
        FROM sensor_tokens t GROUP BY t.sensor
        UNION ALL
        SELECT 'api_token', t.user_name, t.label, t.created_at, t.revoked_at IS NULL FROM api_tokens t
        ORDER BY 1, 2, 4;
END
$fn$;

REVOKE ALL ON FUNCTION random_secret(text) FROM PUBLIC;
REVOKE ALL ON FUNCTION stored_password(text) FROM PUBLIC;
REVOKE ALL ON FUNCTION create_front_user(text, text, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION set_front_user_password(text, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION set_front_user_role(text, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION disable_front_user(text) FROM PUBLIC;
REVOKE ALL ON FUNCTION enable_front_user(text) FROM PUBLIC;
REVOKE ALL ON FUNCTION create_api_token(text, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION revoke_api_tokens(text, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION front_login(text, text, text, integer, integer) FROM PUBLIC;
REVOKE ALL ON FUNCTION front_session(text, integer) FROM PUBLIC;
REVOKE ALL ON FUNCTION front_logout(text) FROM PUBLIC;
REVOKE ALL ON FUNCTION authenticate_api_token(text) FROM PUBLIC;
REVOKE ALL ON FUNCTION admin_of_session(text) FROM PUBLIC;
REVOKE ALL ON FUNCTION admin_create_sensor_token(text, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION admin_revoke_sensor_tokens(text, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION admin_create_api_token(text, text, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION admin_revoke_api_tokens(text, text, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION admin_create_user(text, text, text, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION admin_disable_user(text, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION admin_overview(text) FROM PUBLIC;

GRANT EXECUTE ON FUNCTION front_login(text, text, text, integer, integer) TO traffic_auth;
GRANT EXECUTE ON FUNCTION front_session(text, integer) TO traffic_auth;
GRANT EXECUTE ON FUNCTION front_logout(text) TO traffic_auth;
GRANT EXECUTE ON FUNCTION authenticate_api_token(text) TO traffic_auth;
GRANT EXECUTE ON FUNCTION admin_create_sensor_token(text, text) TO traffic_auth;
GRANT EXECUTE ON FUNCTION admin_revoke_sensor_tokens(text, text) TO traffic_auth;
GRANT EXECUTE ON FUNCTION admin_create_api_token(text, text, text) TO traffic_auth;
GRANT EXECUTE ON FUNCTION admin_revoke_api_tokens(text, text, text) TO traffic_auth;
GRANT EXECUTE ON FUNCTION admin_create_user(text, text, text, text) TO traffic_auth;
GRANT EXECUTE ON FUNCTION admin_disable_user(text, text) TO traffic_auth;
GRANT EXECUTE ON FUNCTION admin_overview(text) TO traffic_auth;

-- The password functions (Rust), private to the functions above.
CREATE FUNCTION "hash_front_password"("password" TEXT) RETURNS TEXT
STRICT VOLATILE PARALLEL SAFE
LANGUAGE c
AS 'MODULE_PATHNAME', 'hash_front_password_wrapper';
CREATE FUNCTION "verify_front_password"("hash" TEXT, "password" TEXT) RETURNS bool
IMMUTABLE STRICT PARALLEL SAFE
LANGUAGE c
AS 'MODULE_PATHNAME', 'verify_front_password_wrapper';
CREATE FUNCTION "dummy_password_hash"() RETURNS TEXT
STABLE STRICT PARALLEL SAFE
LANGUAGE c
AS 'MODULE_PATHNAME', 'dummy_password_hash_wrapper';
REVOKE ALL ON FUNCTION hash_front_password(text) FROM PUBLIC;
REVOKE ALL ON FUNCTION verify_front_password(text, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION dummy_password_hash() FROM PUBLIC;
