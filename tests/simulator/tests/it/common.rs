//! Helpers shared by the integration tests.

use axum::http::HeaderMap;
use gamefleet_sim::{SimConfig, Simulator};
use serde_json::{json, Value};
use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub const API: &str = "2023-05-01";
pub const RG: &str = "fleet-rg";

/// Test defaults: short delays so the whole suite stays fast.
pub fn fast_config() -> SimConfig {
    SimConfig {
        provisioning_delay: Duration::from_millis(50),
        ..SimConfig::default()
    }
}

pub async fn start(config: SimConfig) -> Simulator {
    Simulator::start(config).await.expect("simulator starts")
}

pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("client")
}

/// An ARM token from the simulator's MI endpoint.
pub async fn token(c: &reqwest::Client, sim: &Simulator) -> String {
    token_for(c, sim, "https://management.azure.com/").await
}

pub async fn token_for(c: &reqwest::Client, sim: &Simulator, resource: &str) -> String {
    let r = c
        .get(sim.identity_endpoint())
        .query(&[("api-version", "2019-08-01"), ("resource", resource)])
        .header("X-IDENTITY-HEADER", sim.identity_header())
        .send()
        .await
        .expect("token request");
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.expect("token json");
    v["access_token"]
        .as_str()
        .expect("access_token")
        .to_string()
}

/// `P` for the resource group.
pub fn groups_url(sim: &Simulator, rg: &str) -> String {
    format!(
        "{}/subscriptions/{}/resourceGroups/{rg}/providers/Microsoft.ContainerInstance/containerGroups",
        sim.arm_endpoint(),
        sim.subscription_id()
    )
}

/// `P/{name}?api-version=...`
pub fn group_url(sim: &Simulator, rg: &str, name: &str) -> String {
    format!("{}/{name}?api-version={API}", groups_url(sim, rg))
}

/// A valid PUT body with one container and a public IP.
pub fn group_body(image: &str) -> Value {
    json!({
        "location": "westeurope",
        "tags": { "gamefleet": "test" },
        "properties": {
            "osType": "Linux",
            "restartPolicy": "Always",
            "containers": [{
                "name": "game",
                "properties": {
                    "image": image,
                    "resources": { "requests": { "cpu": 1.0, "memoryInGB": 1.5 } },
                    "ports": [{ "port": 25565, "protocol": "TCP" }],
                    "environmentVariables": [
                        { "name": "MODE", "value": "survival" },
                        { "name": "RCON_PASSWORD", "secureValue": "hunter2" }
                    ],
                    "command": ["/start", "--nogui"]
                }
            }],
            "ipAddress": { "type": "Public", "ports": [{ "port": 25565, "protocol": "TCP" }] }
        }
    })
}

/// `(status, headers, json body or Null)`.
pub async fn send(req: reqwest::RequestBuilder) -> (u16, HeaderMap, Value) {
    let r = req.send().await.expect("request sent");
    let status = r.status().as_u16();
    let headers = r.headers().clone();
    let text = r.text().await.expect("body");
    let body = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or(Value::String(text))
    };
    (status, headers, body)
}

pub fn code(body: &Value) -> &str {
    body["error"]["code"].as_str().unwrap_or("")
}

pub fn header<'a>(h: &'a HeaderMap, name: &str) -> &'a str {
    h.get(name).and_then(|v| v.to_str().ok()).unwrap_or("")
}

/// Polls `f` until it returns `Some`, or panics after `timeout`.
pub async fn eventually<T, F, Fut>(timeout: Duration, what: &str, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// A stand-in for the custom handler's `Monitor` function: records every envelope
/// and its headers, answers 500 for the first `fail_first` requests, then
/// `{"Outputs":{},"Logs":[],"ReturnValue":null}`.
#[derive(Clone)]
pub struct Sink {
    pub url: String,
    pub received: Arc<Mutex<Vec<(HeaderMap, Value)>>>,
}

impl Sink {
    pub fn envelopes(&self) -> Vec<Value> {
        self.received
            .lock()
            .map(|r| r.iter().map(|(_, v)| v.clone()).collect())
            .unwrap_or_default()
    }

    pub fn headers(&self) -> Vec<HeaderMap> {
        self.received
            .lock()
            .map(|r| r.iter().map(|(h, _)| h.clone()).collect())
            .unwrap_or_default()
    }
}

/// How the sink answers after the failures.
#[derive(Clone, Copy)]
pub enum Answer {
    /// 200 JSON invocation result.
    Ok,
    /// 200 with an empty body (the host would hang -> failure).
    EmptyBody,
}

pub async fn start_sink(fail_first: usize, answer: Answer) -> Sink {
    use axum::routing::post;
    let received: Arc<Mutex<Vec<(HeaderMap, Value)>>> = Arc::default();
    let failures = Arc::new(AtomicUsize::new(fail_first));
    let rec = received.clone();
    let app = axum::Router::new().route(
        "/Monitor",
        post(move |headers: HeaderMap, body: axum::body::Bytes| {
            let rec = rec.clone();
            let failures = failures.clone();
            async move {
                let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
                if let Ok(mut r) = rec.lock() {
                    r.push((headers, v));
                }
                let fail = failures
                    .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                    .is_ok();
                let json = [("content-type", "application/json; charset=utf-8")];
                if fail {
                    (
                        axum::http::StatusCode::INTERNAL_SERVER_ERROR,
                        json,
                        String::new(),
                    )
                } else {
                    match answer {
                        Answer::Ok => (
                            axum::http::StatusCode::OK,
                            json,
                            r#"{"Outputs":{},"Logs":["ok"],"ReturnValue":null}"#.to_string(),
                        ),
                        Answer::EmptyBody => (axum::http::StatusCode::OK, json, String::new()),
                    }
                }
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("sink binds");
    let addr = listener.local_addr().expect("sink addr");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Sink {
        url: format!("http://{addr}/Monitor"),
        received,
    }
}
