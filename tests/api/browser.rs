//! Headless Chromium driven over WebDriver (W3C), for the dashboard test:
//! chromedriver on a free port, one session per [`Browser`], a fresh
//! profile each. Six WebDriver calls are all the test needs, so it speaks
//! them over reqwest rather than bringing a WebDriver client crate.
//!
//! Chromium and chromedriver are Debian's (`scripts/chromium.sh install`),
//! at /usr/bin or where `GAMEFLEET_CHROMIUM` / `GAMEFLEET_CHROMEDRIVER` say.
//! When they are missing the test fails and says how to install them.

use base64::Engine as _;
use serde_json::{json, Value};
use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

fn binary(var: &str, default: &str) -> PathBuf {
    let path = PathBuf::from(std::env::var(var).unwrap_or_else(|_| default.to_owned()));
    assert!(
        path.is_file(),
        "{} not found (set {var} to another path): run scripts/chromium.sh install",
        path.display()
    );
    path
}

pub struct Browser {
    http: reqwest::Client,
    /// `http://127.0.0.1:<port>/session/<id>`.
    session: String,
    _driver: tokio::process::Child,
    _profile: tempfile::TempDir,
}

impl Browser {
    /// A headless Chromium whose window is `width` × `height`.
    pub async fn start(width: u32, height: u32) -> Browser {
        let window = format!("--window-size={width},{height}");
        let chromium = binary("GAMEFLEET_CHROMIUM", "/usr/bin/chromium");
        let chromedriver = binary("GAMEFLEET_CHROMEDRIVER", "/usr/bin/chromedriver");
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let driver = tokio::process::Command::new(&chromedriver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "could not start {}: {e}; run scripts/chromium.sh install",
                    chromedriver.display()
                )
            });
        let base = format!("http://127.0.0.1:{port}");
        let http = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let ready = match http.get(format!("{base}/status")).send().await {
                Ok(r) => r
                    .json::<Value>()
                    .await
                    .ok()
                    .map(|v| v["value"]["ready"] == true),
                Err(_) => None,
            };
            if ready == Some(true) {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "chromedriver never became ready on {base}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let profile = tempfile::tempdir().unwrap();
        let args = [
            "--headless".to_owned(),
            "--no-sandbox".to_owned(),
            "--disable-gpu".to_owned(),
            "--disable-dev-shm-usage".to_owned(),
            "--disable-quic".to_owned(),
            "--no-first-run".to_owned(),
            "--disable-background-networking".to_owned(),
            "--disable-component-update".to_owned(),
            "--disable-sync".to_owned(),
            "--hide-scrollbars".to_owned(),
            window,
            format!("--user-data-dir={}", profile.path().display()),
        ];
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {"binary": chromium, "args": args},
        }}});
        let r = http
            .post(format!("{base}/session"))
            .json(&caps)
            .send()
            .await
            .unwrap();
        let v: Value = r.json().await.unwrap();
        let id = v["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("chromedriver made no session: {v}"))
            .to_owned();
        Browser {
            http,
            session: format!("{base}/session/{id}"),
            _driver: driver,
            _profile: profile,
        }
    }

    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let mut req = self.http.request(method, format!("{}{path}", self.session));
        if let Some(b) = body {
            req = req.json(&b);
        }
        let r = req.send().await.unwrap();
        let status = r.status();
        let v: Value = r.json().await.unwrap();
        assert!(status.is_success(), "WebDriver {path}: {status} {v}");
        v["value"].clone()
    }

    pub async fn goto(&self, url: &str) {
        self.call(reqwest::Method::POST, "/url", Some(json!({"url": url})))
            .await;
    }

    /// Runs `script` (a function body: `return …`) in the page.
    pub async fn eval(&self, script: &str) -> Value {
        self.call(
            reqwest::Method::POST,
            "/execute/sync",
            Some(json!({"script": script, "args": []})),
        )
        .await
    }

    /// Polls `script` until it returns `want`, for at most `within`; the last
    /// value in the failure message.
    pub async fn wait_for(&self, script: &str, want: &Value, within: Duration, what: &str) {
        let deadline = Instant::now() + within;
        loop {
            let got = self.eval(script).await;
            if &got == want {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{what}: still {got} after {within:?}, want {want}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The page's viewport, `width` × `height` CSS pixels (a phone's when
    /// `mobile`: the page's meta viewport applies). Chromium's DevTools
    /// emulation through chromedriver: a window cannot be narrower than
    /// 500 px, a phone is.
    pub async fn viewport(&self, width: u32, height: u32, mobile: bool) {
        self.call(
            reqwest::Method::POST,
            "/goog/cdp/execute",
            Some(
                json!({"cmd": "Emulation.setDeviceMetricsOverride", "params": {
                    "width": width, "height": height, "deviceScaleFactor": 1, "mobile": mobile,
                }}),
            ),
        )
        .await;
    }

    /// The viewport as a PNG.
    pub async fn screenshot(&self) -> Vec<u8> {
        let b64 = self.call(reqwest::Method::GET, "/screenshot", None).await;
        base64::engine::general_purpose::STANDARD
            .decode(b64.as_str().unwrap_or_default())
            .unwrap()
    }

    pub async fn close(self) {
        let _ = self.http.delete(&self.session).send().await;
    }
}
