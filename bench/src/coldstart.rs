//! Cold start: from `spawn()` of the process to its first successful answer.
//!
//! The port is chosen before the spawn and polled in a tight loop (a connect is
//! refused in microseconds until the process listens; 100 µs pause between
//! attempts so the poller does not starve the child on a small machine). Each
//! probe is a fresh connection with `Connection: close`, as the Functions host's
//! first probe is.

use crate::report::Samples;
use crate::stack::{free_port, Memory};
use crate::Result;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[derive(Debug, Default)]
pub struct ColdStart {
    /// spawn → first 200 on `GET /`, ms.
    pub ready: Samples,
    /// spawn → first 200 on `GET /api/List` (gamefleet only), ms.
    pub first_list: Samples,
    /// Peak RSS right after, MiB.
    pub hwm: Samples,
    /// RSS right after, MiB.
    pub rss: Samples,
}

/// The status code of `GET path`, or `None` if nothing answers yet.
fn status(port: u16, path: &str) -> Option<u16> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    let _ = s.set_nodelay(true);
    let _ = s.set_read_timeout(Some(Duration::from_secs(10)));
    s.write_all(
        format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n")
            .as_bytes(),
    )
    .ok()?;
    let mut head = Vec::with_capacity(64);
    let mut buf = [0u8; 256];
    while !head.windows(2).any(|w| w == b"\r\n") {
        let n = s.read(&mut buf).ok()?;
        if n == 0 {
            break;
        }
        head.extend_from_slice(&buf[..n]);
    }
    // Drain the rest so the server is not cut off mid-answer.
    let _ = std::io::copy(&mut s, &mut std::io::sink());
    std::str::from_utf8(&head)
        .ok()?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// Polls `GET path` until it answers 200; the time since `t0` in ms.
fn until_ok(port: u16, path: &str, t0: Instant, child: &mut std::process::Child) -> Result<f64> {
    let deadline = t0 + Duration::from_secs(30);
    loop {
        if status(port, path) == Some(200) {
            return Ok(t0.elapsed().as_secs_f64() * 1000.0);
        }
        if let Ok(Some(s)) = child.try_wait() {
            return Err(format!("process exited ({s}) before answering {path}").into());
        }
        if Instant::now() > deadline {
            return Err(format!("no 200 on {path} within 30 s").into());
        }
        std::thread::sleep(Duration::from_micros(100));
    }
}

fn kill(mut child: std::process::Child) {
    let _ = child.kill();
    let _ = child.wait();
}

/// `runs` cold starts of the release binary with `env` (the port is added).
pub fn gamefleet(
    bin: &Path,
    env: &[(String, String)],
    log: &Path,
    runs: usize,
) -> Result<ColdStart> {
    let mut out = ColdStart::default();
    for _ in 0..runs {
        let port = free_port()?;
        let file = std::fs::File::create(log)?;
        let mut cmd = Command::new(bin);
        cmd.env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .envs(
                env.iter()
                    .filter(|(k, _)| k != "FUNCTIONS_CUSTOMHANDLER_PORT")
                    .map(|(k, v)| (k, v)),
            )
            .env("FUNCTIONS_CUSTOMHANDLER_PORT", port.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::from(file.try_clone()?))
            .stderr(Stdio::from(file));
        let t0 = Instant::now();
        let mut child = cmd.spawn()?;
        let ready = until_ok(port, "/", t0, &mut child);
        let list = ready
            .as_ref()
            .ok()
            .map(|_| until_ok(port, "/api/List", t0, &mut child));
        let mem = Memory::of(child.id());
        kill(child);
        out.ready.push(ready?);
        if let Some(l) = list {
            out.first_list.push(l?);
        }
        out.hwm.push(mem.hwm_kib as f64 / 1024.0);
        out.rss.push(mem.rss_kib as f64 / 1024.0);
    }
    Ok(out)
}

/// `runs` cold starts of `node server.js <port>` (the original's dependencies).
pub fn node(server_js: &Path, runs: usize) -> Result<ColdStart> {
    let mut out = ColdStart::default();
    let dir = server_js.parent().unwrap_or(Path::new("."));
    for _ in 0..runs {
        let port = free_port()?;
        let t0 = Instant::now();
        let mut child = Command::new("node")
            .arg(server_js)
            .arg(port.to_string())
            .current_dir(dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("cannot run node: {e}"))?;
        let ready = until_ok(port, "/", t0, &mut child);
        let mem = Memory::of(child.id());
        kill(child);
        out.ready.push(ready?);
        out.hwm.push(mem.hwm_kib as f64 / 1024.0);
        out.rss.push(mem.rss_kib as f64 / 1024.0);
    }
    Ok(out)
}

/// Cold starts under a runtime API stand-in (`gamefleet_sim::runtimes`):
/// exec → the first invocation's answer. Lambda: a function-URL `GET /`;
/// FunctionGraph: a request refused before any provider call. Neither needs a
/// cloud: what is measured is exec, the runtime loop and the router.
#[derive(Debug, Default)]
pub struct RuntimeStarts {
    pub lambda: Samples,
    pub functiongraph: Samples,
}

pub async fn runtimes(bin: &Path, runs: usize) -> Result<RuntimeStarts> {
    use gamefleet_sim::runtimes::{FunctionGraphRuntimeApi, LambdaRuntimeApi};
    let mut out = RuntimeStarts::default();
    let spawn = |env: Vec<(String, String)>| {
        tokio::process::Command::new(bin)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("RUST_LOG", "error")
            .envs(env)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
    };
    let ready = serde_json::json!({
        "version": "2.0", "routeKey": "$default", "rawPath": "/", "rawQueryString": "",
        "headers": {}, "isBase64Encoded": false,
        "requestContext": {"http": {"method": "GET", "path": "/", "protocol": "HTTP/1.1",
                                    "sourceIp": "127.0.0.1", "userAgent": "bench"},
                           "requestId": "bench", "routeKey": "$default", "stage": "$default"}
    });
    for _ in 0..runs {
        let api = LambdaRuntimeApi::start().await?;
        let mut env = api.function_env();
        env.push(("GAMEFLEET_LAMBDA_AUTH".into(), "iam".into()));
        let t0 = Instant::now();
        let _child = spawn(env)?;
        match api.invoke(&ready, Duration::from_secs(30)).await {
            gamefleet_sim::runtimes::Answer::Response(v) if v["statusCode"] == 200 => {
                out.lambda.push(t0.elapsed().as_secs_f64() * 1000.0)
            }
            other => return Err(format!("Lambda cold start: {other:?}").into()),
        }
    }
    for _ in 0..runs {
        let api = FunctionGraphRuntimeApi::start().await?;
        let t0 = Instant::now();
        let _child = spawn(api.function_env(Duration::from_secs(30)))?;
        match api
            .invoke(br#"{"action": "hibernate"}"#, None, Duration::from_secs(30))
            .await
        {
            gamefleet_sim::runtimes::Answer::Error { .. } => {
                out.functiongraph.push(t0.elapsed().as_secs_f64() * 1000.0)
            }
            other => return Err(format!("FunctionGraph cold start: {other:?}").into()),
        }
    }
    Ok(out)
}
