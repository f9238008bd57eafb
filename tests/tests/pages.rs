//! Pages in a real browser (headless Chromium) against the real front, on a database filled by
//! replaying a held-back SYN flood capture: pages load without console errors, tables fill,
//! filters and paging links work, the explanation chart draws. Screenshots are kept in
//! target/<profile>/e2e-logs/screenshots.

use std::path::Path;
use std::time::Duration;

use e2e::browser::Browser;
use e2e::{copy_packets, Front, TestDb};

/// A page is ready when every chart on it has drawn and the overview's table has refreshed once.
const READY: &str = "document.readyState === 'complete'
    && [...document.querySelectorAll('canvas')].every((c) => c.dataset.drawn !== undefined)
    && (document.getElementById('last10')?.dataset.refreshes ?? '1') !== '0'";

/// Loads `url`, waits until it is ready, saves a screenshot as `shot`; the page's DOM then, and
/// what the browser console said meanwhile.
async fn browse(browser: &Browser, url: &str, shot: &str) -> (String, Vec<String>) {
    browser.goto(url).await.expect("page loads");
    browser.wait_for(READY, Duration::from_secs(10)).await.expect("page ready");
    browser.screenshot(shot).await.expect("screenshot");
    let dom = browser.run("return document.documentElement.outerHTML;", vec![]).await.expect("dom");
    (dom.as_str().unwrap_or_default().to_string(), browser.console().await.expect("console"))
}

/// The packets of a held-back capture (tests/captures), parsed as the sensor parses them.
fn capture_packets(name: &str) -> Vec<traffic_core::Packet> {
    let gz = Path::new(env!("CARGO_MANIFEST_DIR")).join("captures").join(format!("{name}.pcap.gz"));
    let pcap = e2e::unpack_capture(&gz, &std::env::temp_dir()).expect("unpacked");
    let packets = sensor::source::read_packets(std::slice::from_ref(&pcap)).expect("readable capture");
    let _ = std::fs::remove_file(&pcap);
    packets
}

#[tokio::test(flavor = "multi_thread")]
async fn pages_render_fill_filter_page_and_chart_in_a_browser() {
    let db = TestDb::create("ta_e2e_pages").await.expect("db");
    let model = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../models/default.json")).unwrap();
    db.admin.execute("SELECT load_model('default', $1)", &[&model]).await.expect("model");
    copy_packets(&db.admin, &capture_packets("syn_flood-3")).await.expect("copy");
    db.admin
        .batch_execute(
            "UPDATE window_invalidations SET recorded_at = recorded_at - interval '1 hour';
             SET traffic_analyzer.allowed_lateness = 0;
             SELECT run_jobs();",
        )
        .await
        .expect("jobs");
    let alert_id = db.count("SELECT min(id) FROM detected_alerts WHERE alert_type = 'SYN_Flood'").await;
    let front = Front::start(&db.front_url().expect("url"), &[]).await.expect("front");
    let browser = Browser::start().await.expect("browser");
    browser.sign_in(&front.base).await.expect("sign in");

    let (dom, console) = browse(&browser, &front.url("/alerts"), "alerts").await;
    assert!(console.is_empty(), "console: {console:#?}");
    assert!(dom.contains("<table id=\"alerts\">") && dom.contains("SYN_Flood"), "{dom}");
    assert!(dom.contains(&format!("href=\"/alerts/{alert_id}\"")), "rows link to their alert");
    assert!(dom.contains("10.77.0.66") && dom.contains("10.77.0.10"), "attacker and victim shown");

    let (dom, console) = browse(&browser, &front.url("/alerts?severity=Low&type=&ip="), "alerts-filtered").await;
    assert!(console.is_empty(), "console: {console:#?}");
    assert!(dom.contains("No alerts match.") && !dom.contains("SYN_Flood</td>"), "the filter applies");
    let (dom, _) = browse(&browser, &front.url("/alerts?ip=10.77.0.66"), "alerts-ip").await;
    assert!(dom.contains("SYN_Flood</td>"), "filtered by the attacker's address");

    let (dom, console) = browse(&browser, &front.url(&format!("/alerts/{alert_id}")), "alert").await;
    assert!(console.is_empty(), "console: {console:#?}");
    let drawn = dom.split("data-drawn=\"").nth(1).and_then(|s| s.split('"').next()).and_then(|n| n.parse::<u32>().ok());
    assert!(drawn.is_some_and(|n| n > 0), "the explanation chart drew its bars: {drawn:?}");
    let windows =
        dom.split("<table id=\"windows\">").nth(1).unwrap_or_default().split("</table>").next().unwrap_or_default();
    assert!(windows.matches("<tr>").count() > 1, "the windows behind it are listed");
    let packets =
        dom.split("<table id=\"packets\">").nth(1).unwrap_or_default().split("</table>").next().unwrap_or_default();
    assert!(packets.matches("<tr>").count() > 1 && packets.contains("SYN"), "sample packets are listed");

    // All traffic: 50 windows a page, the next page by its link, filters.
    let rows_of = |dom: &str| -> Vec<String> {
        let body =
            dom.split("<table id=\"windows\">").nth(1).unwrap_or_default().split("</table>").next().unwrap_or_default();
        body.split("<tr class=").skip(1).map(|r| r.split("</tr>").next().unwrap_or_default().to_string()).collect()
    };
    let (dom, console) = browse(&browser, &front.url("/alltraffic_page"), "alltraffic").await;
    assert!(console.is_empty(), "console: {console:#?}");
    let first = rows_of(&dom);
    assert_eq!(first.len(), 50, "a page of 50");
    let older = dom.split("id=\"older\" href=\"").nth(1).and_then(|s| s.split('"').next()).expect("an older page");
    let (dom, _) = browse(&browser, &front.url(&older.replace("&amp;", "&")), "alltraffic-2").await;
    let second = rows_of(&dom);
    assert!(!second.is_empty() && second.iter().all(|r| !first.contains(r)), "the next page holds other windows");
    let (dom, _) = browse(
        &browser,
        &front.url("/alltraffic_page?label=SYN_Flood&scope=src_host&window_seconds=5"),
        "alltraffic-flood",
    )
    .await;
    let flood = rows_of(&dom);
    assert!(
        !flood.is_empty()
            && flood.iter().all(|r| r.contains("SYN_Flood") && r.contains("10.77.0.66") && r.contains("5 s")),
        "{flood:#?}"
    );

    // The overview: counters, the last 10 windows (filled again by the page's script), the rate
    // charts of every window size, the alert timeline, top talkers and targets.
    let (dom, console) = browse(&browser, &front.url("/"), "overview").await;
    assert!(console.is_empty(), "console: {console:#?}");
    let last10 =
        dom.split("<table id=\"last10\"").nth(1).unwrap_or_default().split("</table>").next().unwrap_or_default();
    assert!(!last10.contains("data-refreshes=\"0\""), "the script refreshed the table: {last10}");
    let windows = db
        .count("SELECT least(count(*), 10) FROM aggregated_features WHERE window_seconds = 5 AND scope = 'global'")
        .await;
    assert_eq!(last10.matches("<tr>").count() as i64, windows + 1, "a header and the newest windows (at most 10)");
    // The `data-drawn` attribute of the element whose tag holds `marker`.
    let drawn_of = |marker: &str| -> Option<u32> {
        let tag = dom.split(marker).nth(1)?.split('>').next()?;
        tag.split("data-drawn=\"").nth(1)?.split('"').next()?.parse().ok()
    };
    for size in [5, 30, 180] {
        let drawn = drawn_of(&format!("data-window=\"{size}\""));
        assert!(drawn.is_some_and(|n| n > 0), "{size} s rate chart drew: {drawn:?}");
    }
    let timeline = drawn_of("id=\"timeline\"");
    assert!(timeline.is_some_and(|n| n > 0), "the alert timeline drew: {timeline:?}");
    let talkers =
        dom.split("<table id=\"talkers\">").nth(1).unwrap_or_default().split("</table>").next().unwrap_or_default();
    assert!(talkers.contains("10.77.0.66"), "the attacker is the top talker: {talkers}");
    let targets =
        dom.split("<table id=\"targets\">").nth(1).unwrap_or_default().split("</table>").next().unwrap_or_default();
    assert!(targets.contains("10.77.0.10"), "the victim is a top target: {targets}");
    assert!(dom.contains("default v1"), "the model in use is shown");

    // Packets: 50 a page, the next page by its link, filters by address, port, protocol, time.
    let packet_rows = |dom: &str| -> Vec<String> {
        let body =
            dom.split("<table id=\"packets\">").nth(1).unwrap_or_default().split("</table>").next().unwrap_or_default();
        body.split("<tr>").skip(2).map(|r| r.split("</tr>").next().unwrap_or_default().to_string()).collect()
    };
    let (dom, console) = browse(&browser, &front.url("/packets"), "packets").await;
    assert!(console.is_empty(), "console: {console:#?}");
    let first = packet_rows(&dom);
    assert_eq!(first.len(), 50, "a page of 50");
    let older = dom.split("id=\"older\" href=\"").nth(1).and_then(|s| s.split('"').next()).expect("an older page");
    let (dom, _) = browse(&browser, &front.url(&older.replace("&amp;", "&")), "packets-2").await;
    let second = packet_rows(&dom);
    assert!(!second.is_empty() && second.iter().all(|r| !first.contains(r)), "the next page holds other packets");
    let (dom, _) = browse(
        &browser,
        &front.url("/packets?ip=10.77.0.66&port=80&protocol=tcp&from=2020-01-01T00:00:00Z&to=2100-01-01T00:00:00Z"),
        "packets-filtered",
    )
    .await;
    let filtered = packet_rows(&dom);
    assert!(
        !filtered.is_empty()
            && filtered.iter().all(|r| r.contains("10.77.0.66") && r.contains(":80<") && r.contains("TCP")),
        "{filtered:#?}"
    );
    let (dom, _) = browse(&browser, &front.url("/packets?to=2000-01-01T00:00:00Z"), "packets-empty").await;
    assert!(dom.contains("No packets match."), "a time range without packets");
    let bad = front.get("/packets?port=99999").await.unwrap();
    assert_eq!(bad.status(), reqwest::StatusCode::UNPROCESSABLE_ENTITY);

    let missing = front.get("/alerts/999999").await.unwrap();
    assert_eq!(missing.status(), reqwest::StatusCode::NOT_FOUND);
    let asset = reqwest::get(front.url("/assets/chart.umd.min.js")).await.unwrap();
    assert_eq!(asset.status(), reqwest::StatusCode::OK);
    assert!(asset.text().await.unwrap().contains("Chart"), "Chart.js is served from the binary");
    browser.close().await.expect("browser closes");
}
