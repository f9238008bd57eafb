-- The overview's 10 newest $1-second global ($2) windows.
SELECT window_start,
       total_packets AS packets, total_bytes AS bytes, coalesce(packets_per_sec, 0) AS rate,
       coalesce(distinct_src_ips, 0)::int8 AS sources, coalesce(distinct_dst_ips, 0)::int8 AS destinations,
       coalesce(predicted_label, '') AS label, confidence
FROM aggregated_features
WHERE window_seconds = $1 AND scope = $2
ORDER BY window_start DESC
LIMIT 10
