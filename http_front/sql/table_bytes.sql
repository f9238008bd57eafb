-- Bytes of each table of the extension (with indexes and TOAST); raw_packets counts all its
-- partitions, made at run time and not members of the extension.
SELECT c.relname::text AS table_name, pg_total_relation_size(c.oid)::float8 AS bytes
FROM pg_class c
JOIN pg_depend d ON d.objid = c.oid AND d.classid = 'pg_class'::regclass AND d.deptype = 'e'
JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'traffic_analyzer'
WHERE c.relkind = 'r' AND NOT c.relispartition
UNION ALL
SELECT 'raw_packets', coalesce(sum(pg_total_relation_size(p.partition)), 0)::float8 FROM packet_partitions p
ORDER BY 1
