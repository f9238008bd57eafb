-- traffic_analyzer 0.6.0 -> 0.7.0: a scan rule beside the model. Each alert says which detector
-- raised it (model, rule, both); scan_findings() shows what the rule finds at given thresholds
-- (the settings traffic_analyzer.scan_port_threshold and sweep_host_threshold).
\echo Use "ALTER EXTENSION traffic_analyzer UPDATE TO '0.7.0'" to load this file. \quit

ALTER TABLE detected_alerts
    ADD COLUMN detector text NOT NULL DEFAULT 'model' CHECK (detector IN ('model', 'rule', 'both'));

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
