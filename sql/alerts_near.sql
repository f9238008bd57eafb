-- Alert $1 and every alert within the merge gap ($2 seconds) of it, oldest first: the ones it may
-- absorb or be absorbed into (the rule is traffic_core::alerts::merge). Run by the extension's
-- alert writer after each write.
SELECT o.id, o.alert_type, o.detector, host(o.source_ip) AS source, host(o.destination_ip) AS destination,
       ARRAY(SELECT host(x) FROM unnest(o.attackers) AS x) AS attackers
FROM detected_alerts a
JOIN detected_alerts o ON o.last_seen >= a.first_seen - make_interval(secs => $2)
                      AND o.first_seen <= a.last_seen + make_interval(secs => $2)
WHERE a.id = $1
ORDER BY o.id
