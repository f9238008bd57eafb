//! A real browser for page tests: headless Chromium driven through chromedriver (WebDriver), so a
//! test can load a page, wait for what its scripts do, change the database and watch the page
//! follow, read the browser console and take screenshots.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use fantoccini::wd::WebDriverCompatibleCommand;
use fantoccini::{Client, ClientBuilder};
use serde_json::{json, Value};

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// A chromedriver process and one browser session on it; both stop when dropped (or `close`d).
pub struct Browser {
    driver: Child,
    client: Option<Client>,
    screenshots: PathBuf,
}

impl Browser {
    pub async fn start() -> anyhow::Result<Browser> {
        let port = crate::free_port()?;
        let driver = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("starting chromedriver (apt install chromium-driver)")?;
        let mut browser = Browser { driver, client: None, screenshots: screenshot_dir()? };
        let capabilities = json!({
            "goog:chromeOptions": {
                "binary": CHROMIUM,
                // As root in a sandbox-less container; no network but loopback.
                "args": ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                         "--disable-dev-shm-usage", "--window-size=1280,1400"],
            },
            "goog:loggingPrefs": { "browser": "ALL" },
        });
        let capabilities = capabilities.as_object().cloned().unwrap_or_default();
        let deadline = Instant::now() + Duration::from_secs(20);
        let client = loop {
            let mut builder = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new());
            builder.capabilities(capabilities.clone());
            match builder.connect(&format!("http://127.0.0.1:{port}")).await {
                Ok(client) => break client,
                // chromedriver takes a moment to listen.
                Err(_) if Instant::now() < deadline => tokio::time::sleep(Duration::from_millis(100)).await,
                Err(e) => bail!("no WebDriver session on chromedriver: {e}"),
            }
        };
        browser.client = Some(client);
        Ok(browser)
    }

    fn client(&self) -> &Client {
        self.client.as_ref().expect("a session until closed")
    }

    pub async fn goto(&self, url: &str) -> anyhow::Result<()> {
        self.client().goto(url).await.with_context(|| format!("loading {url}"))
    }

    /// Signs in on a front's login page as the harness's admin, as a person would (typing into
    /// the form), and waits to be sent on.
    pub async fn sign_in(&self, base: &str) -> anyhow::Result<()> {
        use fantoccini::Locator;
        self.goto(&format!("{base}/login")).await?;
        let client = self.client();
        client.find(Locator::Css("input[name=user]")).await?.send_keys(crate::HARNESS_USER).await?;
        client.find(Locator::Css("input[name=password]")).await?.send_keys(crate::HARNESS_PASSWORD).await?;
        client.find(Locator::Css("form.login button")).await?.click().await?;
        let deadline = Instant::now() + Duration::from_secs(10);
        while client.current_url().await?.path() == "/login" {
            anyhow::ensure!(Instant::now() < deadline, "still on the login page: {}", client.source().await?);
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Ok(())
    }

    /// Runs `script` (a function body; `arguments` are `args`) in the page; its return value.
    pub async fn run(&self, script: &str, args: Vec<Value>) -> anyhow::Result<Value> {
        self.client().execute(script, args).await.context("running a script in the page")
    }

    /// Waits until `expression` (JavaScript) is truthy in the page, for at most `timeout`.
    pub async fn wait_for(&self, expression: &str, timeout: Duration) -> anyhow::Result<()> {
        let deadline = Instant::now() + timeout;
        loop {
            if self.run(&format!("return Boolean({expression});"), vec![]).await?.as_bool() == Some(true) {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!("the page never had {expression} within {timeout:?}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The browser console's messages since the last call, as "LEVEL message".
    pub async fn console(&self) -> anyhow::Result<Vec<String>> {
        let entries = self.client().issue_cmd(BrowserLog).await.context("reading the browser log")?;
        Ok(entries
            .as_array()
            .map(|entries| {
                entries
                    .iter()
                    .map(|e| format!("{} {}", e["level"].as_str().unwrap_or("?"), e["message"].as_str().unwrap_or("")))
                    .collect()
            })
            .unwrap_or_default())
    }

    /// Saves a screenshot of the page as `name`.png in the test artifacts.
    pub async fn screenshot(&self, name: &str) -> anyhow::Result<PathBuf> {
        let png = self.client().screenshot().await.context("screenshot")?;
        let path = self.screenshots.join(format!("{name}.png"));
        std::fs::write(&path, png)?;
        Ok(path)
    }

    pub async fn close(mut self) -> anyhow::Result<()> {
        if let Some(client) = self.client.take() {
            client.close().await.context("closing the browser session")?;
        }
        Ok(())
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

/// chromedriver's log endpoint (not in the W3C protocol): the browser console's entries.
#[derive(Debug)]
struct BrowserLog;

impl WebDriverCompatibleCommand for BrowserLog {
    fn endpoint(&self, base: &url::Url, session: Option<&str>) -> Result<url::Url, url::ParseError> {
        base.join(&format!("session/{}/se/log", session.unwrap_or_default()))
    }

    fn method_and_body(&self, _url: &url::Url) -> (http::Method, Option<String>) {
        (http::Method::POST, Some(json!({ "type": "browser" }).to_string()))
    }
}

/// target/<profile>/e2e-logs/screenshots: kept after the run as test artifacts.
fn screenshot_dir() -> anyhow::Result<PathBuf> {
    let dir = crate::log_dir().join("screenshots");
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}
