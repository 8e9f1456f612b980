//! A real Azurite (Table Storage emulator) for tests: never a mock.
//!
//! - [`Azurite::shared`]: the one instance all tests of a process share. If
//!   `GAMEFLEET_TEST_TABLE_ENDPOINT` is set (e.g. by `scripts/azurite.sh start`:
//!   `http://127.0.0.1:10002/devstoreaccount1`) that is used; otherwise one is
//!   started on a free port the first time it is asked for and lives as long as
//!   the test process.
//! - [`Azurite::start`]: a private instance, for tests that stop storage mid-test.
//!
//! Each test should use its own table ([`unique_table`]) so tests never see each
//! other's rows.
//!
//! The binary is `{repo}/tools/node_modules/.bin/azurite-table` (install it with
//! `scripts/azurite.sh install`) or `$AZURITE_TABLE_BIN`. Data is kept in memory
//! only.
//!
//! Cleanup: next to every Azurite we start a tiny watchdog (`sh`) that reads a
//! pipe held by the test process. When the test process ends in any way (even
//! killed), the pipe closes and the watchdog kills that Azurite, so none are
//! left behind. A private instance is also killed when its [`Azurite`] is dropped.

use std::io;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};
use tokio::net::{TcpListener, TcpStream};
use tokio::process::{Child, Command};
use tokio::sync::OnceCell;

/// Env var naming an already running Azurite table endpoint to share.
pub const ENDPOINT_ENV: &str = "GAMEFLEET_TEST_TABLE_ENDPOINT";
/// Env var overriding the path of the `azurite-table` binary.
pub const BIN_ENV: &str = "AZURITE_TABLE_BIN";
/// The emulator's well-known account.
pub const ACCOUNT: &str = "devstoreaccount1";
/// The emulator's well-known (public, documented) account key.
pub const ACCOUNT_KEY: &str =
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

/// How long to wait for a started Azurite to accept connections.
const READY_TIMEOUT: Duration = Duration::from_secs(20);

/// An Azurite table endpoint, possibly owning the process behind it.
#[derive(Debug)]
pub struct Azurite {
    endpoint: String,
    /// `None` for an instance we did not start (env var).
    owned: Option<Owned>,
}

#[derive(Debug)]
struct Owned {
    port: u16,
    bin: PathBuf,
    /// Data directory (`--location`); in memory when `None`.
    location: Option<PathBuf>,
    /// Running processes; `None` while stopped.
    procs: Option<Procs>,
}

#[derive(Debug)]
struct Procs {
    // Field order matters: the watchdog is killed (without it firing) before
    // Azurite itself is, on drop as in `stop`.
    watchdog: Child,
    azurite: Child,
}

static SHARED: OnceCell<Azurite> = OnceCell::const_new();

impl Azurite {
    /// The Azurite all tests in this process share: `$GAMEFLEET_TEST_TABLE_ENDPOINT`
    /// if set, otherwise one started on first use and kept for the process's life.
    ///
    /// Panics (failing the test) with the reason if Azurite cannot be started,
    /// e.g. because `scripts/azurite.sh install` was never run.
    pub async fn shared() -> &'static Azurite {
        SHARED
            .get_or_init(|| async {
                match std::env::var(ENDPOINT_ENV) {
                    Ok(endpoint) if !endpoint.trim().is_empty() => Azurite {
                        endpoint: endpoint.trim().trim_end_matches('/').to_owned(),
                        owned: None,
                    },
                    _ => match Azurite::start().await {
                        Ok(azurite) => azurite,
                        Err(e) => panic!("cannot start the shared Azurite: {e}"),
                    },
                }
            })
            .await
    }

    /// Start a private instance on a free port and wait until it accepts
    /// connections. It is killed when this value is dropped.
    pub async fn start() -> io::Result<Azurite> {
        Self::start_with(None).await
    }

    /// Like [`Azurite::start`], keeping data on disk in `dir`, so a stop and
    /// [`Azurite::restart`] is an outage that loses nothing (as with real storage).
    pub async fn start_on_disk(dir: &Path) -> io::Result<Azurite> {
        Self::start_with(Some(dir.to_path_buf())).await
    }

    async fn start_with(location: Option<PathBuf>) -> io::Result<Azurite> {
        let bin = binary()?;
        // A free port can be taken between our probe and Azurite's bind: try a few.
        let mut last_error = None;
        for _ in 0..3 {
            let port = free_port().await?;
            match spawn(&bin, port, location.as_deref()).await {
                Ok(procs) => {
                    return Ok(Azurite {
                        endpoint: endpoint_for(port),
                        owned: Some(Owned {
                            port,
                            bin,
                            location,
                            procs: Some(procs),
                        }),
                    })
                }
                Err(e) => last_error = Some(e),
            }
        }
        Err(last_error.unwrap_or_else(|| io::Error::other("could not start Azurite")))
    }

    /// `http://127.0.0.1:PORT/devstoreaccount1`
    pub fn endpoint(&self) -> String {
        self.endpoint.clone()
    }

    /// A full connection string for this endpoint with the emulator's well-known key.
    pub fn connection_string(&self) -> String {
        format!(
            "DefaultEndpointsProtocol=http;AccountName={ACCOUNT};AccountKey={ACCOUNT_KEY};TableEndpoint={};",
            self.endpoint
        )
    }

    /// Kill the owned process (for outage tests); no-op for an instance we did not start.
    pub async fn stop(&mut self) {
        if let Some(owned) = &mut self.owned {
            if let Some(procs) = owned.procs.take() {
                procs.kill().await;
            }
        }
    }

    /// Start the owned instance again on the same port. Started with
    /// [`Azurite::start`], data is kept in memory only, so **everything stored
    /// before is lost** (tables included); with [`Azurite::start_on_disk`] it is kept.
    /// No-op for an instance we did not start.
    pub async fn restart(&mut self) -> io::Result<()> {
        self.stop().await;
        if let Some(owned) = &mut self.owned {
            // The port was just released; give the OS a moment if needed.
            let deadline = Instant::now() + Duration::from_secs(5);
            loop {
                match spawn(&owned.bin, owned.port, owned.location.as_deref()).await {
                    Ok(procs) => {
                        owned.procs = Some(procs);
                        return Ok(());
                    }
                    Err(_) if Instant::now() < deadline => {
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                    Err(e) => return Err(e),
                }
            }
        }
        Ok(())
    }
}

impl Procs {
    /// SIGINT first (Azurite closes cleanly and writes its data directory), SIGKILL
    /// if it is still there after 5 s.
    async fn kill(mut self) {
        let _ = self.watchdog.kill().await;
        if let Some(pid) = self.azurite.id() {
            let _ = Command::new("kill")
                .arg("-INT")
                .arg(pid.to_string())
                .status()
                .await;
            if tokio::time::timeout(Duration::from_secs(5), self.azurite.wait())
                .await
                .is_ok()
            {
                return;
            }
        }
        let _ = self.azurite.kill().await;
    }
}

/// A table name unique to this test: `t` + 20 hex digits (table names are
/// alphanumeric, 3–63 characters, starting with a letter).
pub fn unique_table() -> String {
    let hex = uuid::Uuid::new_v4().simple().to_string();
    format!("t{}", &hex[..20])
}

fn endpoint_for(port: u16) -> String {
    format!("http://127.0.0.1:{port}/{ACCOUNT}")
}

fn repo_root() -> PathBuf {
    // This crate lives in tests/simulator.
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join("..")
}

fn binary() -> io::Result<PathBuf> {
    let bin = match std::env::var_os(BIN_ENV) {
        Some(p) if !p.is_empty() => PathBuf::from(p),
        _ => repo_root()
            .join("tools")
            .join("node_modules")
            .join(".bin")
            .join("azurite-table"),
    };
    if bin.is_file() {
        Ok(bin)
    } else {
        Err(io::Error::new(
            io::ErrorKind::NotFound,
            format!(
                "azurite-table not found at {}; run `scripts/azurite.sh install` \
                 (or set {BIN_ENV}, or point {ENDPOINT_ENV} at a running Azurite)",
                bin.display()
            ),
        ))
    }
}

async fn free_port() -> io::Result<u16> {
    let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
    Ok(listener.local_addr()?.port())
}

fn log_path(port: u16) -> PathBuf {
    std::env::temp_dir().join(format!("gamefleet-azurite-{port}.log"))
}

async fn spawn(bin: &Path, port: u16, location: Option<&Path>) -> io::Result<Procs> {
    let log = log_path(port);
    let log_file = std::fs::File::create(&log)?;
    let mut cmd = Command::new(bin);
    cmd.args(["--tableHost", "127.0.0.1", "--tablePort"])
        .arg(port.to_string());
    match location {
        Some(dir) => cmd.arg("--location").arg(dir),
        None => cmd.arg("--inMemoryPersistence"),
    };
    let mut azurite = cmd
        .args(["--disableTelemetry", "--silent"])
        .stdin(Stdio::null())
        .stdout(log_file.try_clone()?)
        .stderr(log_file)
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| io::Error::new(e.kind(), format!("cannot run {}: {e}", bin.display())))?;
    let Some(pid) = azurite.id() else {
        return Err(io::Error::other("Azurite exited immediately"));
    };
    // The watchdog blocks reading a pipe whose only writer is this process; at
    // EOF (this process is gone) it kills Azurite.
    let watchdog = Command::new("sh")
        .args(["-c", "cat >/dev/null; kill \"$1\" 2>/dev/null", "sh"])
        .arg(pid.to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn();
    let watchdog = match watchdog {
        Ok(w) => w,
        Err(e) => {
            let _ = azurite.kill().await;
            return Err(e);
        }
    };
    wait_ready(Procs { watchdog, azurite }, port, &log).await
}

async fn wait_ready(mut procs: Procs, port: u16, log: &Path) -> io::Result<Procs> {
    let deadline = Instant::now() + READY_TIMEOUT;
    loop {
        if TcpStream::connect(("127.0.0.1", port)).await.is_ok() {
            return Ok(procs);
        }
        if let Ok(Some(status)) = procs.azurite.try_wait() {
            let tail = std::fs::read_to_string(log).unwrap_or_default();
            let _ = procs.watchdog.kill().await;
            return Err(io::Error::other(format!(
                "Azurite on port {port} exited ({status}) before accepting connections: {}",
                tail.trim()
            )));
        }
        if Instant::now() >= deadline {
            procs.kill().await;
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!(
                    "Azurite did not accept connections on port {port} within {}s (log: {})",
                    READY_TIMEOUT.as_secs(),
                    log.display()
                ),
            ));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_names_are_valid_and_unique() {
        let a = unique_table();
        let b = unique_table();
        assert_ne!(a, b);
        assert_eq!(a.len(), 21);
        assert!(a.starts_with('t'));
        assert!(a.chars().all(|c| c.is_ascii_alphanumeric()));
    }

    #[tokio::test]
    async fn private_instance_starts_stops_and_restarts() {
        let mut azurite = Azurite::start().await.unwrap();
        let endpoint = azurite.endpoint();
        assert!(endpoint.starts_with("http://127.0.0.1:"));
        assert!(endpoint.ends_with("/devstoreaccount1"));
        assert!(azurite
            .connection_string()
            .contains(&format!("TableEndpoint={endpoint};")));
        let port = azurite.owned.as_ref().unwrap().port;
        assert!(TcpStream::connect(("127.0.0.1", port)).await.is_ok());
        azurite.stop().await;
        assert!(TcpStream::connect(("127.0.0.1", port)).await.is_err());
        azurite.restart().await.unwrap();
        assert_eq!(azurite.endpoint(), endpoint);
        assert!(TcpStream::connect(("127.0.0.1", port)).await.is_ok());
    }
}
