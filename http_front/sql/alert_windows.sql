-- The windows behind an alert ($1: its id), with what each window's row says, oldest first.
SELECT w.window_seconds, w.window_start, w.scope,
       coalesce(host(w.host), '') AS host,
       coalesce(f.total_packets, 0) AS packets,
       coalesce(f.predicted_label, '') AS label,
       coalesce(f.confidence, 0) AS confidence
FROM alert_windows w
LEFT JOIN aggregated_features f ON f.window_seconds = w.window_seconds AND f.window_start = w.window_start
     AND f.scope = w.scope AND f.host IS NOT DISTINCT FROM w.host
WHERE w.alert_id = $1
ORDER BY w.window_start, w.window_seconds, w.scope
LIMIT 200
