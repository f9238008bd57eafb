\echo Use "ALTER EXTENSION traffic_analyzer UPDATE TO '0.7.0'" to load this file. \quit
-- traffic_analyzer 0.6.0 -> 0.7.0: a scan rule and a SYN flood rule beside the model. Each alert
-- says which detector raised it (model, rule, both) and lists every attacker it names;
-- scan_findings() and syn_flood_findings() show what the rules find at given thresholds (the
-- settings traffic_analyzer.scan_port_threshold, sweep_host_threshold and syn_flood_threshold).
\echo Use "ALTER EXTENSION traffic_analyzer UPDATE TO '0.7.0'" to load this file. \quit

ALTER TABLE detected_alerts
    ADD COLUMN detector text NOT NULL DEFAULT 'model' CHECK (detector IN ('model', 'rule', 'both')),
    ADD COLUMN attackers inet[] NOT NULL DEFAULT '{}';
-- The model's alerts so far named at most their source.
UPDATE detected_alerts SET attackers = ARRAY[source_ip] WHERE source_ip IS NOT NULL;
CREATE INDEX detected_alerts_attackers ON detected_alerts USING gin (attackers);

-- traffic_analyzer::windows::scan_findings
CREATE FUNCTION "scan_findings"(
	"window_seconds" INT,
	"from" timestamp with time zone,
	"to" timestamp with time zone,
	"port_threshold" INT DEFAULT NULL,
	"host_threshold" INT DEFAULT NULL
) RETURNS TABLE (
	"window_start" timestamp with time zone,
	"alert_type" TEXT,
	"scanner" inet,
	"victim" inet,
	"service" TEXT,
	"failed" bigint,
	"probes" bigint,
	"description" TEXT
)
STABLE PARALLEL SAFE
LANGUAGE c
AS 'MODULE_PATHNAME', 'scan_findings_wrapper';

-- traffic_analyzer::windows::syn_flood_findings
CREATE FUNCTION "syn_flood_findings"(
	"window_seconds" INT,
	"from" timestamp with time zone,
	"to" timestamp with time zone,
	"threshold" INT DEFAULT NULL
) RETURNS TABLE (
	"window_start" timestamp with time zone,
	"victim" inet,
	"port" INT,
	"half_open" bigint,
	"sources" bigint,
	"attackers" inet[],
	"description" TEXT
)
STABLE PARALLEL SAFE
LANGUAGE c
AS 'MODULE_PATHNAME', 'syn_flood_findings_wrapper';
