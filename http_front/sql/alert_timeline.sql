-- GET /api/alert_timeline: how many alerts started in each bucket, by severity.
-- $1 bucket seconds (float8), $2 up to (timestamptz; NULL: just after the newest alert started),
-- $3 from (timestamptz; NULL: 360 buckets before $2).
-- last_seen >= since follows from first_seen >= since; it is there for the last_seen index.
WITH range AS (
    SELECT coalesce($2, (SELECT max(first_seen) FROM detected_alerts) + make_interval(secs => $1)) AS upto),
bounds AS (SELECT coalesce($3, upto - make_interval(secs => $1 * 360)) AS since, upto FROM range)
SELECT json_build_object('bucket_start', date_bin(make_interval(secs => $1), first_seen, 'epoch'),
                         'severity', severity, 'alerts', count(*))::text AS json
FROM detected_alerts, bounds
WHERE last_seen >= since AND first_seen >= since AND first_seen < upto
GROUP BY date_bin(make_interval(secs => $1), first_seen, 'epoch'), severity
ORDER BY date_bin(make_interval(secs => $1), first_seen, 'epoch'), severity
