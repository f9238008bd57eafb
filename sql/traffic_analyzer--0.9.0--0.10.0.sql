\echo Use "ALTER EXTENSION traffic_analyzer UPDATE TO '0.10.0'" to load this file. \quit
-- traffic_analyzer 0.9.0 -> 0.10.0: a slow DoS rule beside the model (connections one client
-- holds at one service: a request trickled that the server does not answer, or a zero window;
-- the setting traffic_analyzer.slow_dos_threshold); slow_dos_findings() shows what it finds in
-- stored packets.
\echo Use "ALTER EXTENSION traffic_analyzer UPDATE TO '0.10.0'" to load this file. \quit

-- traffic_analyzer::windows::slow_dos_findings
CREATE FUNCTION "slow_dos_findings"(
	"window_seconds" INT,
	"from" timestamp with time zone,
	"to" timestamp with time zone,
	"threshold" INT DEFAULT NULL
) RETURNS TABLE (
	"window_start" timestamp with time zone,
	"attacker" inet,
	"victim" inet,
	"port" INT,
	"held" bigint,
	"trickling" bigint,
	"starving" bigint,
	"description" TEXT
)
STABLE PARALLEL SAFE
LANGUAGE c
AS 'MODULE_PATHNAME', 'slow_dos_findings_wrapper';
