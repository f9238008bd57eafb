-- The 10 busiest hosts of each host scope ($2: sources, destinations) over the newest 15 minutes
-- of $1-second windows, in one scan.
SELECT scope, host(host) AS host, packets, bytes FROM (
    SELECT scope, host, sum(total_packets)::int8 AS packets, sum(total_bytes)::int8 AS bytes,
           row_number() OVER (PARTITION BY scope ORDER BY sum(total_packets) DESC, host) AS rank
    FROM aggregated_features
    WHERE window_seconds = $1 AND scope = ANY ($2)
      AND window_start >= (SELECT max(window_start) FROM aggregated_features WHERE window_seconds = $1)
                          - interval '15 minutes'
    GROUP BY scope, host) ranked
WHERE rank <= 10
ORDER BY scope, rank
