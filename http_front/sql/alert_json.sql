-- The select list of GET /api/alerts: one alert as a JSON object (its text), named json.
json_build_object(
    'id', id, 'alert_type', alert_type, 'severity', severity,
    'source_ip', host(source_ip), 'destination_ip', host(destination_ip),
    'confidence', confidence, 'description', description,
    'first_seen', first_seen, 'last_seen', last_seen, 'window_count', window_count,
    'model_id', model_id, 'explanation', explanation, 'detector', detector,
    'attackers', (SELECT coalesce(json_agg(host(a) ORDER BY a), '[]'::json) FROM unnest(attackers) AS a),
    'created_at', created_at)::text AS json
