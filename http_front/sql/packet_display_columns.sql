-- The select list of a packet as the pages show it (/packets, and an alert's sample packets):
-- capture time, source and destination (address:port), protocol, length, TCP flags, and what
-- the application layer said (DNS name, HTTP request or status, ICMP type); then the cursor.
ts,
coalesce(host(src_ip), '') || coalesce(':' || src_port, '') AS source,
coalesce(host(dst_ip), '') || coalesce(':' || dst_port, '') AS destination,
coalesce(protocol, '') AS protocol,
length,
concat_ws(',', CASE WHEN tcp_syn THEN 'SYN' END, CASE WHEN tcp_ack THEN 'ACK' END,
          CASE WHEN tcp_fin THEN 'FIN' END, CASE WHEN tcp_rst THEN 'RST' END, CASE WHEN tcp_psh THEN 'PSH' END) AS flags,
concat_ws(' ', CASE WHEN dns_query IS NOT NULL THEN 'DNS ' || dns_query END,
          CASE WHEN http_method IS NOT NULL THEN http_method || ' ' || coalesce(http_host, '') || coalesce(http_path, '') END,
          CASE WHEN http_status IS NOT NULL THEN 'HTTP ' || http_status END,
          CASE WHEN icmp_type IS NOT NULL THEN 'ICMP type ' || icmp_type END) AS info,
ts AS cursor_at,
id AS cursor_id
