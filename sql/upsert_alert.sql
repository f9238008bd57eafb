-- One alert reading, written: it extends the alert of the same type, source and destination
-- whose time it falls within alert_merge_gap of, or opens a new one; the alert's id.
-- $1 alert_type, $2 source_ip, $3 destination_ip, $4 first_seen, $5 last_seen, $6 severity,
-- $7 confidence, $8 description, $9 explanation, $10 merge gap (seconds), $11 model_id,
-- $12 detector, $13 attackers, $14 attackers kept at most, $15 severities most severe first.
-- Once the model has explained an alert, its words and evidence are kept over a rule's.
WITH found AS (
    SELECT id FROM detected_alerts
    WHERE alert_type = $1 AND source_ip IS NOT DISTINCT FROM $2 AND destination_ip IS NOT DISTINCT FROM $3
      AND last_seen >= $4 - make_interval(secs => $10) AND first_seen <= $5 + make_interval(secs => $10)
    ORDER BY last_seen DESC LIMIT 1),
updated AS (
    UPDATE detected_alerts a
    SET first_seen = least(a.first_seen, $4), last_seen = greatest(a.last_seen, $5),
        severity = CASE WHEN array_position($15, $6) < array_position($15, a.severity)
                        THEN $6 ELSE a.severity END,
        description = CASE WHEN $7 > a.confidence OR (a.explanation IS NULL AND $9 IS NOT NULL)
                           THEN $8 ELSE a.description END,
        explanation = CASE WHEN $9 IS NOT NULL AND ($7 > a.confidence OR a.explanation IS NULL)
                           THEN $9 ELSE a.explanation END,
        confidence = greatest(a.confidence, $7),
        model_id = coalesce($11, a.model_id),
        detector = CASE WHEN a.detector = $12 THEN a.detector ELSE 'both' END,
        attackers = CASE WHEN a.attackers @> $13 THEN a.attackers
                         ELSE (SELECT coalesce(array_agg(x), '{}') FROM (
                                   SELECT DISTINCT x FROM unnest(a.attackers || $13) AS x
                                   ORDER BY x LIMIT $14) AS listed) END
    FROM found WHERE a.id = found.id
    RETURNING a.id),
inserted AS (
    INSERT INTO detected_alerts (alert_type, source_ip, destination_ip, first_seen, last_seen, severity,
                                 confidence, description, explanation, model_id, detector, attackers)
    SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $11, $12, $13 WHERE NOT EXISTS (SELECT FROM found)
    RETURNING id)
SELECT id FROM updated UNION ALL SELECT id FROM inserted
