-- The other readings of alert $1's incident, to absorb one way or the other: alerts of another
-- type, one raised by a rule and the other by the model alone, within the merge gap ($2 seconds)
-- of each other, where the model's names no party the rule's does not (its source is unnamed, the
-- rule's source or one of its attackers; its destination unnamed or the rule's victim; a rule
-- without a victim, a sweep, takes any) and names at least one. Run by the extension's alert
-- writer, which keeps those of the same kind of attack.
SELECT o.id, o.alert_type, o.detector
FROM detected_alerts a
JOIN detected_alerts o ON o.id <> a.id AND o.alert_type <> a.alert_type
CROSS JOIN LATERAL (
    SELECT CASE WHEN o.detector = 'model' THEN o.source_ip ELSE a.source_ip END AS model_source,
           CASE WHEN o.detector = 'model' THEN o.destination_ip ELSE a.destination_ip END AS model_destination,
           CASE WHEN o.detector = 'model' THEN a.source_ip ELSE o.source_ip END AS rule_source,
           CASE WHEN o.detector = 'model' THEN a.destination_ip ELSE o.destination_ip END AS rule_destination,
           CASE WHEN o.detector = 'model' THEN a.attackers ELSE o.attackers END AS rule_attackers
) AS roles
WHERE a.id = $1
  AND (a.detector = 'model') <> (o.detector = 'model')
  AND o.last_seen >= a.first_seen - make_interval(secs => $2)
  AND o.first_seen <= a.last_seen + make_interval(secs => $2)
  AND (model_source IS NOT NULL OR model_destination IS NOT NULL)
  AND (model_source IS NULL OR model_source = rule_source OR model_source = ANY (rule_attackers))
  AND (model_destination IS NULL OR rule_destination IS NULL OR model_destination = rule_destination)
ORDER BY o.id
