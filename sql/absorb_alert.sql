-- One alert ($2, the model's reading) absorbed into another ($1) about the same incident, keeping
-- at most $3 attackers: its windows move over, the times and severity (ranked by $4, the most
-- severe first) widen, and it is deleted.
-- A reading of the same class is the model agreeing (a rule's alert becomes one by both; its
-- confidence and words count); one of another class is noted in the description (once). Run by
-- the extension's alert writer.
INSERT INTO alert_windows (alert_id, window_seconds, window_start, scope, host)
SELECT $1, window_seconds, window_start, scope, host FROM alert_windows WHERE alert_id = $2
ON CONFLICT DO NOTHING;

UPDATE detected_alerts a
SET first_seen = least(a.first_seen, o.first_seen),
    last_seen = greatest(a.last_seen, o.last_seen),
    severity = CASE WHEN array_position($4, o.severity) < array_position($4, a.severity)
                    THEN o.severity ELSE a.severity END,
    attackers = (SELECT coalesce(array_agg(x), '{}') FROM (
                     SELECT DISTINCT x FROM unnest(a.attackers || o.attackers) AS x ORDER BY x LIMIT $3) AS listed),
    detector = CASE WHEN o.alert_type = a.alert_type AND a.detector <> o.detector THEN 'both' ELSE a.detector END,
    confidence = CASE WHEN o.alert_type = a.alert_type THEN greatest(a.confidence, o.confidence)
                      ELSE a.confidence END,
    model_id = CASE WHEN o.alert_type = a.alert_type THEN coalesce(a.model_id, o.model_id) ELSE a.model_id END,
    explanation = CASE WHEN o.alert_type = a.alert_type THEN coalesce(a.explanation, o.explanation)
                       ELSE a.explanation END,
    description = CASE WHEN o.alert_type = a.alert_type OR strpos(a.description, 'read it as ' || o.alert_type) > 0
                       THEN a.description
                       ELSE a.description || '; the model also read it as ' || o.alert_type END
FROM detected_alerts o
WHERE a.id = $1 AND o.id = $2;

DELETE FROM detected_alerts WHERE id = $2;
