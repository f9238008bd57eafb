-- The select list of an alert as the pages show it (/alerts and /alerts/{id}).
id, alert_type, severity,
coalesce(host(source_ip), '') AS source,
coalesce(host(destination_ip), '') AS destination,
confidence, first_seen, last_seen, window_count, description, detector,
(SELECT coalesce(string_agg(host(a), ', ' ORDER BY a), '') FROM unnest(attackers) AS a) AS attacker_list
