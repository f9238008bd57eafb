-- The alerts within the merge gap ($4 seconds) of alert $1's span, or of the span $2..$3 when $1 is
-- NULL (a window's alert not written yet), oldest first: the ones an alert may absorb or be
-- absorbed into (the rule is traffic_core::alerts::merge). Run by the extension's alert writer.
WITH span AS (
    SELECT coalesce(a.first_seen, $2) AS lo, coalesce(a.last_seen, $3) AS hi
    FROM (VALUES (1)) AS one
    LEFT JOIN detected_alerts a ON a.id = $1
)
SELECT o.id, o.alert_type, o.detector, host(o.source_ip) AS source, host(o.destination_ip) AS destination,
       ARRAY(SELECT host(x) FROM unnest(o.attackers) AS x) AS attackers
FROM span
JOIN detected_alerts o ON o.last_seen >= span.lo - make_interval(secs => $4)
                      AND o.first_seen <= span.hi + make_interval(secs => $4)
ORDER BY o.id
