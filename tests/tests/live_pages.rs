//! The overview follows the database in a real browser (headless Chromium driven through
//! chromedriver): windows written after the page loaded show up in its last-10 table and its rate
//! chart without a reload, with nothing in the console; when the front goes away the page says it
//! shows stale data and keeps it. Screenshots in target/<profile>/e2e-logs/screenshots.

use std::time::Duration;

use e2e::browser::Browser;
use e2e::{copy_packets, synthetic_packets, Front, TestDb};
use serde_json::Value;

const START: f64 = 1_704_067_200.0;

const NEWEST_ROW: &str = "document.querySelector('#last10 tbody tr td')?.textContent";
const RATE_CHART: &str = "document.querySelector('canvas.rate[data-window=\"5\"]').dataset";

#[tokio::test(flavor = "multi_thread")]
async fn the_overview_picks_up_windows_written_after_it_loaded() {
    let db = TestDb::create("ta_e2e_live_pages").await.expect("db");
    copy_packets(&db.admin, &synthetic_packets(6_000, START, 60.0)).await.expect("copy");
    db.run_jobs_as_if_quiet().await.expect("jobs");
    let mut front = Front::start(&db.front_url().expect("url"), &[]).await.expect("front");
    let browser = Browser::start().await.expect("browser");
    browser.sign_in(&front.base).await.expect("sign in");

    browser.goto(&front.url("/")).await.expect("overview");
    let drawn = format!("{RATE_CHART}.last === '2024-01-01 00:00:55'");
    browser.wait_for(&drawn, Duration::from_secs(10)).await.expect("the rate chart drew the newest window");
    let first = browser.run(&format!("return {NEWEST_ROW};"), vec![]).await.unwrap();
    assert_eq!(first, Value::from("2024-01-01 00:00:55"), "the newest window heads the table");
    browser.screenshot("overview-live-before").await.unwrap();

    // Half a minute more traffic, materialized while the page is open.
    copy_packets(&db.admin, &synthetic_packets(3_000, START + 60.0, 30.0)).await.expect("copy");
    db.run_jobs_as_if_quiet().await.expect("jobs");
    let newest = "2024-01-01 00:01:25";
    browser
        .wait_for(&format!("{NEWEST_ROW} === '{newest}'"), Duration::from_secs(15))
        .await
        .expect("the table refreshed on its own");
    browser
        .wait_for(&format!("{RATE_CHART}.last === '{newest}' && {RATE_CHART}.drawn === '18'"), Duration::from_secs(15))
        .await
        .expect("the chart took the new windows: 18 of 5 s");
    let rows = browser.run("return document.querySelectorAll('#last10 tbody tr').length;", vec![]).await.unwrap();
    assert_eq!(rows, Value::from(10));
    let status = browser.run("return document.getElementById('refreshed').className;", vec![]).await.unwrap();
    assert_eq!(status, Value::from(""), "not stale");
    browser.screenshot("overview-live-after").await.unwrap();
    let console = browser.console().await.unwrap();
    assert!(console.is_empty(), "console: {console:#?}");

    // The front goes away: the page keeps what it shows and says it is stale.
    front.terminate();
    assert!(front.wait_exit(Duration::from_secs(10)).await.unwrap(), "the front stopped");
    browser
        .wait_for("document.getElementById('refreshed').className === 'stale'", Duration::from_secs(15))
        .await
        .expect("the page says its data is stale");
    let kept = browser.run(&format!("return {NEWEST_ROW};"), vec![]).await.unwrap();
    assert_eq!(kept, Value::from(newest), "what was shown is kept");
    browser.screenshot("overview-stale").await.unwrap();
    browser.close().await.unwrap();
}
