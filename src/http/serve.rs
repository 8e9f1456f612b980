//! The one accept loop for every listener gamefleet opens itself: `gamefleet
//! serve`'s TCP port and the OCI Function's unix socket (and the API tests).
//!
//! `axum::serve` gives hyper no timer, so a client that trickles its headers, or
//! connects and sends nothing, holds its connection (and a task) forever. Here
//! each connection is watched, with the bounds of [`ServeLimits`]:
//!
//! - **header**: the request line and headers must all arrive within
//!   `header_timeout` of their first byte; on a new connection, of the connect
//!   (as Go's `ReadHeaderTimeout` and hyper's own timeout count).
//! - **idle**: a keep-alive connection with no request in flight, on which no
//!   byte of a next request has arrived, is closed `idle_timeout` after its last
//!   response was sent.
//! - While a request is being handled (from its parsed head until its response
//!   body is sent) there is no bound: power calls wait for minutes, and the host
//!   has its own `functionTimeout`.
//! - **cap**: at most `max_connections` are served at once. At the cap the loop
//!   stops accepting: new clients wait in the kernel's listen backlog (they are
//!   not refused) and are accepted as the header and idle bounds free slots, so
//!   idle connections cannot hold the listener for longer than those bounds.
//!
//! Why not hyper's `header_read_timeout`: in hyper 1.12 it also runs while a
//! keep-alive connection waits for its next request (`Conn::poll_read_head`
//! starts it as soon as the connection is idle again, `State::idle` sets
//! `notify_read` for that), so it would close idle connections after the short
//! header bound, below the minute the Functions host keeps its pooled
//! connections. One watcher per connection gives the two bounds their own values.
//!
//! Shutdown: when `shutdown` resolves the listener is dropped (new connects are
//! refused), every connection is asked to close after its current response, and
//! the call returns once they have; the bounds still apply meanwhile.
//!
//! Only HTTP/1.1 is spoken: the Functions host, the Fn agent and the CLI
//! clients use it (`axum::serve` also accepted h2c with prior knowledge).

use crate::config::ServeLimits;
use axum::body::Body;
use axum::serve::Listener;
use axum::Router;
use http_body_util::BodyExt;
use hyper_util::rt::TokioIo;
use hyper_util::server::graceful::GracefulShutdown;
use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::{Notify, Semaphore};
use tokio::time::Instant;
use tower::ServiceExt;

/// Serve `router` on `listener` until `shutdown` resolves, then let the
/// requests in flight finish. Accept errors are logged and retried by the
/// [`Listener`] (as `axum::serve` does), so this never fails.
pub async fn serve<L: Listener>(
    mut listener: L,
    router: Router,
    limits: ServeLimits,
    shutdown: impl Future<Output = ()>,
) {
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let graceful = GracefulShutdown::new();
    let mut http = hyper::server::conn::http1::Builder::new();
    // No timer is given to hyper: its header timeout would also cut idle keep-alive
    // connections (see the module doc); `Watch` bounds both instead.
    http.header_read_timeout(None);
    let mut shutdown = std::pin::pin!(shutdown);
    let mut saturated = false;
    loop {
        let slot = match Arc::clone(&slots).try_acquire_owned() {
            Ok(slot) => {
                saturated = false;
                slot
            }
            Err(_) => {
                if !saturated {
                    saturated = true;
                    tracing::warn!(
                        max_connections = limits.max_connections,
                        "every connection slot is in use; new clients wait until one closes (GAMEFLEET_MAX_CONNECTIONS)"
                    );
                }
                tokio::select! {
                    slot = Arc::clone(&slots).acquire_owned() => match slot {
                        Ok(slot) => slot,
                        Err(_) => break, // never closed
                    },
                    () = &mut shutdown => break,
                }
            }
        };
        let io = tokio::select! {
            (io, _addr) = listener.accept() => io,
            () = &mut shutdown => break,
        };
        let watch = Arc::new(Watch::new());
        let io = TokioIo::new(Watched {
            io,
            watch: Arc::clone(&watch),
        });
        let conn = graceful.watch(http.serve_connection(io, service(router.clone(), &watch)));
        tokio::spawn(async move {
            tokio::select! {
                served = conn => if let Err(e) = served {
                    tracing::debug!(error = %e, "connection ended with an error");
                },
                why = watch.expired(limits) => {
                    tracing::debug!(bound = why, "connection closed: no request within the bound");
                }
            }
            drop(slot);
        });
    }
    drop(listener);
    graceful.shutdown().await;
}

/// The router as a hyper service whose requests mark the connection busy until
/// their response body has been sent (hyper drops it then).
fn service(
    router: Router,
    watch: &Arc<Watch>,
) -> impl hyper::service::Service<
    hyper::Request<hyper::body::Incoming>,
    Response = axum::response::Response,
    Error = Infallible,
    Future = impl Future<Output = Result<axum::response::Response, Infallible>> + Send,
> {
    let watch = Arc::clone(watch);
    hyper::service::service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
        let busy = Busy::new(&watch);
        let router = router.clone();
        async move {
            let resp = router.oneshot(req.map(Body::new)).await?;
            Ok(resp.map(|body| {
                Body::new(body.map_frame(move |frame| {
                    let _busy = &busy;
                    frame
                }))
            }))
        }
    })
}

/// What one connection is doing, shared by its socket, its requests and its watcher.
struct Watch {
    phase: Mutex<Phase>,
    changed: Notify,
}

#[derive(Debug, Clone, Copy)]
struct Phase {
    /// Requests whose response has not been sent yet.
    in_flight: usize,
    /// When the connection became idle: accepted, or its last response sent.
    idle_since: Instant,
    /// The first byte of the next request, while none is in flight.
    first_byte: Option<Instant>,
    /// No request has started on this connection yet.
    fresh: bool,
}

impl Phase {
    /// When the connection is to be closed unless something changes, and which bound that is.
    fn deadline(&self, limits: ServeLimits) -> Option<(Instant, &'static str)> {
        if self.in_flight > 0 {
            None
        } else if self.fresh {
            Some((self.idle_since + limits.header_timeout, "header"))
        } else if let Some(first) = self.first_byte {
            Some((first + limits.header_timeout, "header"))
        } else {
            Some((self.idle_since + limits.idle_timeout, "idle"))
        }
    }
}

impl Watch {
    fn new() -> Self {
        Self {
            phase: Mutex::new(Phase {
                in_flight: 0,
                idle_since: Instant::now(),
                first_byte: None,
                fresh: true,
            }),
            changed: Notify::new(),
        }
    }

    fn update(&self, f: impl FnOnce(&mut Phase)) {
        f(&mut self.phase.lock().unwrap_or_else(PoisonError::into_inner));
        // One waiter per connection: a stored permit wakes it even if it is not waiting yet.
        self.changed.notify_one();
    }

    /// Bytes were read: if no request is in flight, the next one has begun.
    fn byte_arrived(&self) {
        let mut p = self.phase.lock().unwrap_or_else(PoisonError::into_inner);
        if p.in_flight == 0 && p.first_byte.is_none() {
            p.first_byte = Some(Instant::now());
            drop(p);
            self.changed.notify_one();
        }
    }

    fn phase(&self) -> Phase {
        *self.phase.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Resolves (with the bound's name) once the connection has overstayed a bound.
    async fn expired(&self, limits: ServeLimits) -> &'static str {
        loop {
            match self.phase().deadline(limits) {
                Some((at, why)) if at <= Instant::now() => return why,
                Some((at, _)) => {
                    tokio::select! {
                        () = tokio::time::sleep_until(at) => {},
                        () = self.changed.notified() => {},
                    }
                }
                None => self.changed.notified().await,
            }
        }
    }
}

/// Held by a request from its parsed head until its response body is dropped.
struct Busy(Arc<Watch>);

impl Busy {
    fn new(watch: &Arc<Watch>) -> Self {
        watch.update(|p| {
            p.in_flight += 1;
            p.fresh = false;
            p.first_byte = None;
        });
        Self(Arc::clone(watch))
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.update(|p| {
            p.in_flight = p.in_flight.saturating_sub(1);
            if p.in_flight == 0 {
                p.idle_since = Instant::now();
                p.first_byte = None;
            }
        });
    }
}

/// The accepted socket, noting the first byte of each request's head.
struct Watched<IO> {
    io: IO,
    watch: Arc<Watch>,
}

impl<IO: AsyncRead + Unpin> AsyncRead for Watched<IO> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let read = Pin::new(&mut self.io).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.watch.byte_arrived();
        }
        read
    }
}

impl<IO: AsyncWrite + Unpin> AsyncWrite for Watched<IO> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    const LIMITS: ServeLimits = ServeLimits {
        header_timeout: Duration::from_secs(10),
        idle_timeout: Duration::from_secs(120),
        max_connections: 8,
    };

    #[test]
    fn each_phase_has_its_bound() {
        let t0 = Instant::now();
        let s = Duration::from_secs;
        let new = Phase {
            in_flight: 0,
            idle_since: t0,
            first_byte: None,
            fresh: true,
        };
        assert_eq!(new.deadline(LIMITS), Some((t0 + s(10), "header")));
        let first_byte_late = Phase {
            first_byte: Some(t0 + s(9)),
            ..new
        };
        assert_eq!(
            first_byte_late.deadline(LIMITS),
            Some((t0 + s(10), "header")),
            "a new connection's head is bounded from the connect"
        );
        let busy = Phase {
            in_flight: 1,
            fresh: false,
            ..new
        };
        assert_eq!(busy.deadline(LIMITS), None, "a request in flight");
        let idle = Phase {
            in_flight: 0,
            ..busy
        };
        assert_eq!(idle.deadline(LIMITS), Some((t0 + s(120), "idle")));
        let next = Phase {
            first_byte: Some(t0 + s(100)),
            ..idle
        };
        assert_eq!(
            next.deadline(LIMITS),
            Some((t0 + s(110), "header")),
            "the next request has begun"
        );
    }

    #[tokio::test]
    async fn the_watcher_follows_requests_and_bytes() {
        let limits = ServeLimits {
            header_timeout: Duration::from_millis(100),
            idle_timeout: Duration::from_millis(300),
            max_connections: 1,
        };
        let w = Arc::new(Watch::new());
        let busy = Busy::new(&w);
        let watcher = tokio::spawn({
            let w = Arc::clone(&w);
            async move { (w.expired(limits).await, Instant::now()) }
        });
        tokio::time::sleep(Duration::from_millis(400)).await;
        assert!(
            !watcher.is_finished(),
            "no bound while a request is in flight"
        );
        w.byte_arrived();
        assert!(w.phase().first_byte.is_none(), "body bytes start nothing");
        drop(busy);
        let freed = Instant::now();
        let (why, at) = watcher.await.unwrap();
        assert_eq!(why, "idle");
        assert!(at >= freed + limits.idle_timeout, "{:?}", at - freed);

        let busy = Busy::new(&w);
        drop(busy);
        let watcher = tokio::spawn({
            let w = Arc::clone(&w);
            async move { (w.expired(limits).await, Instant::now()) }
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
        w.byte_arrived();
        let started = w.phase().first_byte.unwrap();
        let (why, at) = watcher.await.unwrap();
        assert_eq!(why, "header");
        assert!(at >= started + limits.header_timeout);
    }
}
