\echo Use "ALTER EXTENSION traffic_analyzer UPDATE TO '0.8.0'" to load this file. \quit
-- traffic_analyzer 0.7.0 -> 0.8.0: a packet flood rule beside the model (ICMP, DNS, UDP and TCP
-- floods at a host, from one source or many; the settings traffic_analyzer.flood_rate_threshold
-- and dns_flood_rate_threshold) and a brute-force rule (HTTP authentication failures and
-- connections to login services from one client; http_auth_failure_threshold and
-- login_connection_threshold); flood_findings() and brute_force_findings() show what they find
-- in stored packets.
\echo Use "ALTER EXTENSION traffic_analyzer UPDATE TO '0.8.0'" to load this file. \quit

-- traffic_analyzer::windows::flood_findings
CREATE FUNCTION "flood_findings"(
	"window_seconds" INT,
	"from" timestamp with time zone,
	"to" timestamp with time zone,
	"rate_threshold" INT DEFAULT NULL,
	"dns_rate_threshold" INT DEFAULT NULL
) RETURNS TABLE (
	"window_start" timestamp with time zone,
	"alert_type" TEXT,
	"victim" inet,
	"packets" bigint,
	"sources" bigint,
	"attackers" inet[],
	"description" TEXT
)
STABLE PARALLEL SAFE
LANGUAGE c
AS 'MODULE_PATHNAME', 'flood_findings_wrapper';

-- traffic_analyzer::windows::brute_force_findings
CREATE FUNCTION "brute_force_findings"(
	"window_seconds" INT,
	"from" timestamp with time zone,
	"to" timestamp with time zone,
	"http_threshold" INT DEFAULT NULL,
	"connection_threshold" INT DEFAULT NULL
) RETURNS TABLE (
	"window_start" timestamp with time zone,
	"attacker" inet,
	"victim" inet,
	"service" TEXT,
	"attempts" bigint,
	"description" TEXT
)
STABLE PARALLEL SAFE
LANGUAGE c
AS 'MODULE_PATHNAME', 'brute_force_findings_wrapper';
