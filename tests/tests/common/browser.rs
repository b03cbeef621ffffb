//! A headless Chromium driven over the W3C WebDriver protocol (chromedriver) with the
//! `fantoccini` client, for the catalog's end-to-end tests. [`Browser`] keeps the few
//! calls the tests make (find with a wait, text, click, keys, script, screenshot) and
//! owns the chromedriver process.
//!
//! Chromium and chromedriver come from Debian's `chromium` and `chromium-driver`
//! (`/usr/bin/chromium`, `/usr/bin/chromedriver`; `.ci/run` installs them). Without them
//! a test says it is skipped, unless `ACCORD_REQUIRE_BROWSER=1` (as CI sets), which makes
//! that a failure.
#![allow(dead_code)]

use fantoccini::actions::{InputSource, KeyAction, KeyActions};
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
/// How long [`Browser::find`] waits for an element.
const FIND_TIMEOUT: Duration = Duration::from_secs(5);

/// A chromedriver process and one browser session.
pub struct Browser {
    driver: Child,
    client: Client,
    _profile: tempfile_dir::TempDir,
}

/// An element found on the page.
#[derive(Clone)]
pub struct Element(fantoccini::elements::Element);

/// Panics with what failed: a WebDriver error fails the test.
fn must<T>(what: &str, r: Result<T, fantoccini::error::CmdError>) -> T {
    r.unwrap_or_else(|e| panic!("WebDriver {what}: {e}"))
}

impl Browser {
    /// Starts chromedriver and a headless Chromium session (1280×900), or `None` (with
    /// a SKIPPED line) when they are not installed and not required.
    pub async fn start() -> Option<Browser> {
        Self::start_sized(1280, 900).await
    }

    /// [`Browser::start`] with a window size (a phone is about 390×844).
    pub async fn start_sized(width: u32, height: u32) -> Option<Browser> {
        let required = std::env::var("ACCORD_REQUIRE_BROWSER").is_ok_and(|v| v == "1");
        if !Path::new(CHROMEDRIVER).exists() || !Path::new(CHROMIUM).exists() {
            assert!(
                !required,
                "ACCORD_REQUIRE_BROWSER=1 but {CHROMIUM} or {CHROMEDRIVER} is missing \
                 (Debian packages chromium and chromium-driver)"
            );
            eprintln!(
                "SKIPPED: browser test ({CHROMIUM} / {CHROMEDRIVER} not installed; \
                 apt-get install chromium chromium-driver)"
            );
            return None;
        }
        let port = free_port();
        let mut driver = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver");
        let base = format!("http://127.0.0.1:{port}");
        let profile = tempfile_dir::TempDir::new("accord-chromium");
        let caps = json!({
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": CHROMIUM,
                "args": [
                    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic",
                    "--no-first-run", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync",
                    "--disable-dev-shm-usage",
                    format!("--user-data-dir={}", profile.path().display()),
                    format!("--window-size={width},{height}"),
                ]
            }
        });
        let Value::Object(caps) = caps else {
            unreachable!("capabilities are an object")
        };
        // chromedriver takes a moment to listen: retry the session until it answers.
        let mut last_error = String::new();
        for _ in 0..100 {
            let connector = hyper_util::client::legacy::connect::HttpConnector::new();
            match ClientBuilder::new(connector)
                .capabilities(caps.clone())
                .connect(&base)
                .await
            {
                Ok(client) => {
                    return Some(Browser {
                        driver,
                        client,
                        _profile: profile,
                    })
                }
                Err(e) => last_error = e.to_string(),
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let _ = driver.kill();
        let _ = driver.wait();
        panic!("no chromedriver session on port {port}: {last_error}");
    }

    /// Opens `url` and waits for the page to load.
    pub async fn goto(&self, url: &str) {
        must(&format!("goto {url}"), self.client.goto(url).await);
    }

    /// The current URL.
    pub async fn url(&self) -> String {
        must("url", self.client.current_url().await).to_string()
    }

    /// The page title.
    pub async fn title(&self) -> String {
        must("title", self.client.title().await)
    }

    /// The first element matching the CSS selector, waiting up to 5 s for it.
    pub async fn find(&self, css: &str) -> Element {
        match self
            .client
            .wait()
            .at_most(FIND_TIMEOUT)
            .every(Duration::from_millis(100))
            .for_element(Locator::Css(css))
            .await
        {
            Ok(e) => Element(e),
            Err(e) => panic!("no element matches {css:?} on {}: {e}", self.url().await),
        }
    }

    /// The first element matching the CSS selector, if any (no wait).
    pub async fn try_find(&self, css: &str) -> Option<Element> {
        self.client.find(Locator::Css(css)).await.ok().map(Element)
    }

    /// Every element matching the CSS selector.
    pub async fn find_all(&self, css: &str) -> Vec<Element> {
        must(
            &format!("find all {css:?}"),
            self.client.find_all(Locator::Css(css)).await,
        )
        .into_iter()
        .map(Element)
        .collect()
    }

    /// The element's rendered text.
    pub async fn text(&self, e: &Element) -> String {
        must("element text", e.0.text().await)
    }

    /// An attribute or property of the element.
    pub async fn attr(&self, e: &Element, name: &str) -> Option<String> {
        must(&format!("attribute {name}"), e.0.attr(name).await)
    }

    /// Clicks the element.
    pub async fn click(&self, e: &Element) {
        must("click", e.0.click().await);
    }

    /// Types `text` into the element.
    pub async fn type_into(&self, e: &Element, text: &str) {
        must("send keys", e.0.send_keys(text).await);
    }

    /// Presses keys on whatever has the focus, as a person at the keyboard would
    /// (WebDriver key actions; `\u{E004}` is Tab, `\u{E007}` Enter).
    pub async fn keys(&self, text: &str) {
        let mut keyboard = KeyActions::new("keyboard".to_string());
        for c in text.chars() {
            keyboard = keyboard
                .then(KeyAction::Down { value: c })
                .then(KeyAction::Up { value: c });
        }
        must("key actions", self.client.perform_actions(keyboard).await);
    }

    /// Runs a script in the page and returns its value.
    pub async fn script(&self, js: &str) -> Value {
        must("execute script", self.client.execute(js, Vec::new()).await)
    }

    /// The visible page's text.
    pub async fn page_text(&self) -> String {
        let body = self.find("body").await;
        self.text(&body).await
    }

    /// Saves a PNG screenshot of the page as `target/ui-screenshots/{name}.png` (the
    /// test artifacts) and returns its path.
    pub async fn screenshot(&self, name: &str) -> PathBuf {
        let png = must("screenshot", self.client.screenshot().await);
        assert!(png.starts_with(b"\x89PNG"), "screenshot is a PNG");
        let dir = screenshot_dir();
        std::fs::create_dir_all(&dir).expect("screenshot dir");
        let path = dir.join(format!("{name}.png"));
        std::fs::write(&path, png).expect("write screenshot");
        path
    }

    /// Ends the session and stops chromedriver.
    pub async fn close(mut self) {
        let _ = self.client.clone().close().await;
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

/// `target/ui-screenshots` of the workspace (tests run in their crate's folder).
pub fn screenshot_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"));
    target.join("ui-screenshots")
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// A temporary folder removed on drop (the tests crate has no tempfile dependency).
mod tempfile_dir {
    use std::path::{Path, PathBuf};

    pub struct TempDir(PathBuf);

    impl TempDir {
        pub fn new(prefix: &str) -> TempDir {
            let p = std::env::temp_dir().join(format!("{prefix}-{}", uuid::Uuid::new_v4()));
            std::fs::create_dir_all(&p).expect("temp dir");
            TempDir(p)
        }

        pub fn path(&self) -> &Path {
            &self.0
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}
