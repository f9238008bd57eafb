-- One alert ($2, the model's reading) absorbed into another ($1, the rule's) about the same hosts
-- and incident, keeping at most $3 attackers: its windows move over, the times and severity widen, the description notes what
-- the model read (once), and it is deleted. Run by the extension's alert writer.
INSERT INTO alert_windows (alert_id, window_seconds, window_start, scope, host)
SELECT $1, window_seconds, window_start, scope, host FROM alert_windows WHERE alert_id = $2
ON CONFLICT DO NOTHING;

UPDATE detected_alerts a
SET first_seen = least(a.first_seen, o.first_seen),
    last_seen = greatest(a.last_seen, o.last_seen),
    severity = CASE WHEN array_position(ARRAY['Low','Medium','High','Critical'], o.severity)
                         > array_position(ARRAY['Low','Medium','High','Critical'], a.severity)
                    THEN o.severity ELSE a.severity END,
    attackers = (SELECT coalesce(array_agg(x), '{}') FROM (
                     SELECT DISTINCT x FROM unnest(a.attackers || o.attackers) AS x ORDER BY x LIMIT $3) AS listed),
    description = CASE WHEN strpos(a.description, 'read it as ' || o.alert_type) > 0
                       THEN a.description
                       ELSE a.description || '; the model also read it as ' || o.alert_type END
FROM detected_alerts o
WHERE a.id = $1 AND o.id = $2;

DELETE FROM detected_alerts WHERE id = $2;
