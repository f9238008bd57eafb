//! Packet search through the real front (`/api/packets`, the `/packets` page's search) on a
//! closed day (btree indexes, built by the jobs) and a live one (bloom BRIN indexes only): rare
//! and common hosts and ports, protocol, time range and keyset pages give exactly the packets a
//! plain sequential scan gives, in the same order, whichever way the front chose to find them.

use e2e::{copy_packets, synthetic_packets, Front, TestDb};
use reqwest::StatusCode;
use serde_json::Value;

/// The packet ids a path answers, following `x-next-cursor` to the end or `at_most` ids.
async fn ids(front: &Front, path: &str, at_most: usize) -> Vec<i64> {
    let mut found = Vec::new();
    let mut url = front.url(path);
    while found.len() < at_most {
        let response = front.client().get(&url).send().await.expect("request");
        assert_eq!(response.status(), StatusCode::OK, "{url}");
        let cursor = response.headers().get("x-next-cursor").map(|v| v.to_str().unwrap().to_string());
        let page: Value = response.json().await.expect("json");
        found.extend(page.as_array().expect("array").iter().map(|p| p["id"].as_i64().expect("id")));
        match cursor {
            Some(c) => url = front.url(&format!("{path}&cursor={c}")),
            None => break,
        }
    }
    found.truncate(at_most);
    found
}

/// The same packets by a sequential scan, newest first.
async fn expected(db: &TestDb, condition: &str) -> Vec<i64> {
    db.admin
        .batch_execute("SET enable_indexscan = off; SET enable_bitmapscan = off; SET enable_indexonlyscan = off")
        .await
        .unwrap();
    let sql = format!("SELECT id FROM raw_packets WHERE {condition} ORDER BY ts DESC, id DESC");
    let rows = db.admin.query(&sql, &[]).await.unwrap_or_else(|e| panic!("{sql}: {e}"));
    db.admin.batch_execute("RESET ALL").await.unwrap();
    rows.iter().map(|r| r.get(0)).collect()
}

#[tokio::test]
async fn searches_find_exactly_the_packets_through_either_index_or_by_time() {
    let db = TestDb::create("ta_e2e_packet_search").await.expect("db");
    // 60,000 packets on a closed day (four days ago) and 60,000 today. Sources cycle through
    // 65,536 addresses, so 10.0.3.7 is sent once a day; destinations are 7 hosts.
    let day = 86_400.0;
    let today = (chrono::Utc::now().timestamp() as f64 / day).floor() * day;
    let closed = today - 4.0 * day;
    // Kept past the default two days of packets.
    db.admin.batch_execute("SELECT set_retention('packets', '30 days')").await.expect("retention");
    db.admin
        .execute(
            "SELECT ensure_raw_packet_partitions(ARRAY[to_timestamp($1)::date, to_timestamp($2)::date])",
            &[&closed, &today],
        )
        .await
        .expect("partitions");
    for start in [closed, today] {
        copy_packets(&db.admin, &synthetic_packets(60_000, start + 3_600.0, 600.0)).await.expect("copy");
    }
    // A tick materializes and summarizes.
    db.run_jobs_as_if_quiet().await.expect("jobs");
    let closed_partition: String = db
        .admin
        .query_one("SELECT 'raw_packets_p' || to_char(to_timestamp($1) AT TIME ZONE 'UTC', 'YYYYMMDD')", &[&closed])
        .await
        .unwrap()
        .get(0);
    let btrees =
        format!("SELECT count(*) FROM pg_indexes WHERE tablename = '{closed_partition}' AND indexname LIKE '%btree'");
    // The next ticks (no new packets) index closed partitions, one a tick, newest first: the
    // hours around today's packets (made by the jobs) come first.
    let unindexed = "SELECT count(*) FROM packet_partitions p WHERE p.hi < now() - interval '1 hour'
                     AND to_regclass(p.partition::text || '_dst_port_btree') IS NULL";
    for _ in 0..20 {
        if db.count(unindexed).await == 0 {
            break;
        }
        db.admin.batch_execute("SELECT run_jobs()").await.expect("a tick");
    }
    assert_eq!(db.count(&btrees).await, 4, "the jobs gave the closed day its address and port btrees");
    db.admin.batch_execute("ANALYZE raw_packets").await.expect("analyze");

    let front = Front::start(&db.front_url().expect("url"), &[("RUST_LOG", "info,http_front::packet_search=debug")])
        .await
        .expect("front");
    let from_today =
        chrono::DateTime::from_timestamp(today as i64, 0).unwrap().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let cases = [
        ("ip=10.0.3.7".to_string(), "src_ip = '10.0.3.7' OR dst_ip = '10.0.3.7'".to_string()),
        ("ip=192.168.1.3".into(), "src_ip = '192.168.1.3' OR dst_ip = '192.168.1.3'".into()),
        ("ip=10.9.9.9".into(), "src_ip = '10.9.9.9' OR dst_ip = '10.9.9.9'".into()),
        ("port=53007".into(), "src_port = 53007 OR dst_port = 53007".into()),
        ("port=443".into(), "src_port = 443 OR dst_port = 443".into()),
        ("ip=10.0.3.2&protocol=udp".into(), "(src_ip = '10.0.3.2' OR dst_ip = '10.0.3.2') AND protocol = 'UDP'".into()),
        (
            format!("ip=10.0.3.7&from={from_today}"),
            format!("(src_ip = '10.0.3.7' OR dst_ip = '10.0.3.7') AND ts >= '{from_today}'"),
        ),
    ];
    for (query, condition) in &cases {
        // Pages of 100: all of a rare one's packets, the newest 300 of a common one's.
        let mut want = expected(&db, condition).await;
        want.truncate(300);
        assert_eq!(ids(&front, &format!("/api/packets?{query}&limit=100"), 300).await, want, "{query}");
    }
    let rare = expected(&db, "src_ip = '10.0.3.7' OR dst_ip = '10.0.3.7'").await;
    assert_eq!(rare.len(), 2, "one packet a day");
    assert_eq!(ids(&front, "/api/packets?ip=10.0.3.7&limit=1", 10).await, rare, "one per page, through the cursor");

    // Both ways of finding packets were used: the rare ones through the indexes, the common by time.
    let log = front.log_text();
    assert!(log.contains("packet search through the address and port indexes"), "{log}");
    assert!(log.contains("packet search by time"), "{log}");

    // The page shows the same search.
    let page = front.get("/packets?ip=10.0.3.7").await.unwrap().text().await.unwrap();
    let body =
        page.split("<table id=\"packets\">").nth(1).unwrap_or_default().split("</table>").next().unwrap_or_default();
    assert_eq!(body.matches("10.0.3.7:").count(), 2, "{body}");

    for (query, status) in
        [("port=65536", 422), ("ip=10.0.3", 422), ("limit=0", 422), ("cursor=x", 422), ("size=1", 422)]
    {
        let response = front.get(&format!("/api/packets?{query}")).await.unwrap();
        assert_eq!(response.status().as_u16(), status, "{query}");
    }
}
