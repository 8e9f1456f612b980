//! A slow or idle client cannot hold a connection or exhaust the listener: the
//! real binary, on its TCP port and as an OCI Function on its unix socket, cuts
//! a request head that has not arrived within `GAMEFLEET_HEADER_TIMEOUT` (2 s
//! here), a keep-alive connection idle for `GAMEFLEET_IDLE_TIMEOUT`, and serves
//! at most `GAMEFLEET_MAX_CONNECTIONS` at once without locking anyone out.
//!
//! Only bounds are asserted ("closed within N s", "not served before the bound
//! freed a slot"), with wide margins for a loaded 2-core machine.

use gamefleet_sim::azurite::{unique_table, Azurite};
use gamefleet_sim::{SimConfig, Simulator};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpStream, UnixStream};

const HEADER_TIMEOUT: Duration = Duration::from_secs(2);
const IDLE_TIMEOUT: Duration = Duration::from_secs(5);
/// How much later than its bound a close may come on a busy machine.
const SLACK: Duration = Duration::from_secs(10);

/// The binary under test; killed when dropped.
struct Handler {
    child: tokio::process::Child,
    _sim: Simulator,
    log: tempfile::NamedTempFile,
}

impl Handler {
    /// Start `gamefleet` with Azurite, the ARM simulator, the test's bounds and `extra` env.
    async fn start(extra: &[(&str, String)]) -> Handler {
        let azurite = Azurite::shared().await;
        let sim = Simulator::start(SimConfig::default()).await.unwrap();
        let mut env: Vec<(&str, String)> = Vec::new();
        let core = sim.gamefleet_env(&azurite.connection_string(), &unique_table());
        env.extend(core.iter().map(|(k, v)| (k.as_str(), v.clone())));
        env.extend([
            ("FUNCTIONS_CUSTOMHANDLER_PORT", "0".to_owned()),
            ("GAMEFLEET_HEADER_TIMEOUT", "2s".to_owned()),
            ("GAMEFLEET_IDLE_TIMEOUT", "5s".to_owned()),
            ("RUST_LOG", "info".to_owned()),
        ]);
        env.extend(extra.iter().cloned());
        let log = tempfile::NamedTempFile::new().unwrap();
        let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_gamefleet"));
        cmd.env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .stdout(Stdio::from(log.reopen().unwrap()))
            .stderr(Stdio::from(log.reopen().unwrap()))
            .kill_on_drop(true);
        for (k, v) in env {
            cmd.env(k, v);
        }
        Handler {
            child: cmd.spawn().unwrap(),
            _sim: sim,
            log,
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.log.path()).unwrap_or_default()
    }

    /// The address `gamefleet serve` logs once it listens.
    async fn addr(&self) -> SocketAddr {
        let started = Instant::now();
        loop {
            let log = self.log();
            if let Some(addr) = log
                .split("gamefleet listening addr=")
                .nth(1)
                .and_then(|r| r.split_whitespace().next())
            {
                return addr.parse().unwrap();
            }
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "handler did not start:\n{log}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// A served gamefleet on its TCP port, with `extra` env.
    async fn tcp(extra: &[(&str, String)]) -> (Handler, SocketAddr) {
        let h = Handler::start(extra).await;
        let addr = h.addr().await;
        (h, addr)
    }
}

/// How a connection ended, as the client saw it.
#[derive(Debug)]
struct Closed {
    after: Duration,
    /// Everything the server sent before closing.
    answer: String,
}

/// Read until EOF or reset; `None` if the connection is still open after `give_up`.
async fn wait_closed(s: &mut (impl AsyncRead + Unpin), give_up: Duration) -> Option<Closed> {
    let started = Instant::now();
    let mut answer = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let left = give_up.checked_sub(started.elapsed())?;
        match tokio::time::timeout(left, s.read(&mut chunk)).await {
            Err(_) => return None,
            Ok(Ok(0)) | Ok(Err(_)) => {
                return Some(Closed {
                    after: started.elapsed(),
                    answer: String::from_utf8_lossy(&answer).into_owned(),
                })
            }
            Ok(Ok(n)) => answer.extend_from_slice(&chunk[..n]),
        }
    }
}

/// Slowloris: send `start` at once, then one more header byte a second, until
/// the server closes (`None` if it is still open after `give_up`).
async fn trickle(
    s: &mut (impl AsyncRead + AsyncWrite + Unpin),
    start: &[u8],
    give_up: Duration,
) -> Option<Closed> {
    let started = Instant::now();
    s.write_all(start).await.unwrap();
    loop {
        if let Some(mut closed) = wait_closed(s, Duration::from_secs(1)).await {
            closed.after = started.elapsed();
            return Some(closed);
        }
        if started.elapsed() > give_up {
            return None;
        }
        if s.write_all(b"a").await.is_err() {
            // Reset by the server.
            return Some(Closed {
                after: started.elapsed(),
                answer: String::new(),
            });
        }
    }
}

const SLOW_HEAD: &[u8] = b"GET / HTTP/1.1\r\nHost: gamefleet\r\nX-Slow: ";
const READY: &[u8] = b"GET / HTTP/1.1\r\nHost: gamefleet\r\n\r\n";

/// Send one whole request and read its response (the readiness probe's body).
async fn ready_on(s: &mut (impl AsyncRead + AsyncWrite + Unpin)) -> String {
    s.write_all(READY).await.unwrap();
    let mut answer = Vec::new();
    let mut chunk = [0u8; 4096];
    while !String::from_utf8_lossy(&answer).contains("gamefleet ready") {
        let n = tokio::time::timeout(SLACK, s.read(&mut chunk))
            .await
            .expect("an answer to GET /")
            .unwrap();
        assert!(n > 0, "closed before answering: {answer:?}");
        answer.extend_from_slice(&chunk[..n]);
    }
    String::from_utf8_lossy(&answer).into_owned()
}

#[tokio::test]
async fn a_client_trickling_its_headers_is_cut_at_the_header_bound() {
    let (h, addr) = Handler::tcp(&[]).await;
    let mut s = TcpStream::connect(addr).await.unwrap();
    let closed = trickle(&mut s, SLOW_HEAD, HEADER_TIMEOUT + SLACK)
        .await
        .unwrap_or_else(|| {
            panic!(
                "still open after {:?}:\n{}",
                HEADER_TIMEOUT + SLACK,
                h.log()
            )
        });
    assert!(
        !closed.answer.starts_with("HTTP/1.1 200"),
        "a trickled request was answered: {closed:?}"
    );
    // And the listener still serves everyone else.
    let mut s = TcpStream::connect(addr).await.unwrap();
    assert!(ready_on(&mut s).await.starts_with("HTTP/1.1 200"));
}

#[tokio::test]
async fn a_client_that_never_sends_a_byte_is_cut_at_the_header_bound() {
    let (h, addr) = Handler::tcp(&[]).await;
    let mut s = TcpStream::connect(addr).await.unwrap();
    let closed = wait_closed(&mut s, HEADER_TIMEOUT + SLACK)
        .await
        .unwrap_or_else(|| panic!("a silent connection is still open:\n{}", h.log()));
    assert_eq!(closed.answer, "", "{closed:?}");
}

#[tokio::test]
async fn an_idle_keep_alive_connection_is_kept_past_the_header_bound_then_cut() {
    let (h, addr) = Handler::tcp(&[]).await;
    let mut s = TcpStream::connect(addr).await.unwrap();
    let answer = ready_on(&mut s).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    // Keep-alive is not cut by the (shorter) header bound ...
    let kept = HEADER_TIMEOUT + Duration::from_millis(1500);
    assert!(
        wait_closed(&mut s, kept).await.is_none(),
        "an idle keep-alive connection was closed within {kept:?}, before its idle bound"
    );
    // ... it is reusable ...
    assert!(ready_on(&mut s).await.starts_with("HTTP/1.1 200"));
    // ... and closed once idle for the idle bound.
    let closed = wait_closed(&mut s, IDLE_TIMEOUT + SLACK)
        .await
        .unwrap_or_else(|| panic!("an idle keep-alive connection is still open:\n{}", h.log()));
    assert_eq!(closed.answer, "", "{closed:?}");
}

#[tokio::test]
async fn idle_connections_do_not_lock_out_a_normal_client() {
    // 50 idle connections, below the cap: a normal client is served at once.
    let (_h, addr) = Handler::tcp(&[("GAMEFLEET_MAX_CONNECTIONS", "60".to_owned())]).await;
    let mut idle = Vec::new();
    for i in 0..50 {
        let mut s = TcpStream::connect(addr).await.unwrap();
        if i % 2 == 0 {
            ready_on(&mut s).await; // a keep-alive connection after one request
        }
        idle.push(s);
    }
    let http = reqwest::Client::new();
    let r = http
        .get(format!("http://{addr}/"))
        .timeout(SLACK)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);

    // The cap at 5 and 5 silent connections holding every slot: a 6th client
    // waits (it is not refused) and is served once the header bound frees a slot.
    let (h, addr) = Handler::tcp(&[("GAMEFLEET_MAX_CONNECTIONS", "5".to_owned())]).await;
    let connected = Instant::now();
    let mut holders = Vec::new();
    for _ in 0..5 {
        holders.push(TcpStream::connect(addr).await.unwrap());
    }
    // Accepted (a slot each) before the 6th connects.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let r = http
        .get(format!("http://{addr}/"))
        .timeout(HEADER_TIMEOUT + SLACK)
        .send()
        .await
        .unwrap_or_else(|e| panic!("the 6th client was not served: {e}\n{}", h.log()));
    let served_after = connected.elapsed();
    assert_eq!(r.status(), 200);
    assert!(
        served_after >= HEADER_TIMEOUT,
        "the 6th client was served after {served_after:?}, while 5 connections held every slot"
    );
    for mut s in holders {
        assert!(
            wait_closed(&mut s, SLACK).await.is_some(),
            "a slot holder is still open"
        );
    }
}

/// `gamefleet` as an OCI Function on `<dir>/listen.sock`, once the socket is announced.
async fn oci_function(dir: &Path) -> (Handler, PathBuf) {
    let sock = dir.join("listen.sock");
    let h = Handler::start(&[
        ("FN_LISTENER", format!("unix:{}", sock.display())),
        ("FN_FORMAT", "http-stream".to_owned()),
        ("POWER_PROVIDER", "aci".to_owned()),
        ("POWER_RESOURCE", "games/fn-1".to_owned()),
    ])
    .await;
    let started = Instant::now();
    while std::fs::symlink_metadata(&sock).is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "the OCI Function did not listen:\n{}",
            h.log()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    (h, sock)
}

#[tokio::test]
async fn the_oci_function_socket_has_the_same_bounds() {
    let dir = tempfile::tempdir().unwrap();
    let (h, sock) = oci_function(dir.path()).await;

    let mut slow = UnixStream::connect(&sock).await.unwrap();
    let closed = trickle(
        &mut slow,
        b"POST /call HTTP/1.1\r\nHost: localhost\r\nFn-Call-Id: ",
        HEADER_TIMEOUT + SLACK,
    )
    .await
    .unwrap_or_else(|| panic!("a trickling Fn client is still open:\n{}", h.log()));
    assert!(!closed.answer.starts_with("HTTP/1.1 200"), "{closed:?}");

    let mut silent = UnixStream::connect(&sock).await.unwrap();
    assert!(
        wait_closed(&mut silent, HEADER_TIMEOUT + SLACK)
            .await
            .is_some(),
        "a silent Fn client is still open:\n{}",
        h.log()
    );
}

#[tokio::test]
async fn sigterm_lets_the_request_in_flight_finish() {
    let (mut h, addr) = Handler::tcp(&[]).await;
    let mut idle = TcpStream::connect(addr).await.unwrap();
    ready_on(&mut idle).await;
    // A request whose body is still on its way when SIGTERM arrives.
    let mut busy = TcpStream::connect(addr).await.unwrap();
    busy.write_all(
        b"POST /api/SetSessions HTTP/1.1\r\nHost: gamefleet\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n[",
    )
    .await
    .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let pid = h.child.id().unwrap().to_string();
    let killed = tokio::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .await
        .unwrap();
    assert!(killed.success());
    // The idle connection is closed at once (within the header bound, to be generous) ...
    assert!(
        wait_closed(&mut idle, HEADER_TIMEOUT).await.is_some(),
        "an idle connection outlived SIGTERM:\n{}",
        h.log()
    );
    // ... the busy one is answered, then closed, and the process exits.
    tokio::time::sleep(Duration::from_millis(300)).await;
    busy.write_all(b"]").await.unwrap();
    let closed = wait_closed(&mut busy, SLACK)
        .await
        .unwrap_or_else(|| panic!("the request in flight was not finished:\n{}", h.log()));
    assert!(
        closed.answer.starts_with("HTTP/1.1 "),
        "{closed:?}\n{}",
        h.log()
    );
    let status = tokio::time::timeout(SLACK, h.child.wait())
        .await
        .expect("the handler exits after its last connection")
        .unwrap();
    assert!(status.success(), "{status:?}\n{}", h.log());
    assert!(h.log().contains("gamefleet stopped"), "{}", h.log());
}
