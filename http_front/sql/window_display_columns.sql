-- The select list of a window row as /alltraffic_page shows it.
window_start, window_seconds, scope,
coalesce(host(host), '') AS host,
total_packets, total_bytes,
coalesce(packets_per_sec, 0) AS packets_per_sec,
coalesce(predicted_label, '') AS label,
confidence
