//! The [`Simulator`] handle: starting, stopping, inspecting and shaping one instance.

use crate::arm::dispatch;
use crate::config::SimConfig;
use crate::state::{key, Group, Shared, View};
use crate::types::{Delivery, FaultRule, Notice, Op, RequestRecord};
use crate::validate::validate_body;
use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use serde_json::Value;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::net::TcpListener;
use tokio::sync::{broadcast, watch};
use tokio::task::{JoinHandle, JoinSet};

/// A running simulator: ARM container groups, the managed-identity endpoint and
/// Event Grid delivery, on one local port.
///
/// Cheap to clone. Dropping the last clone (or calling [`Simulator::shutdown`]) stops
/// the server; background timers and deliveries stop with the last clone.
#[derive(Clone)]
pub struct Simulator {
    handle: Arc<Handle>,
}

/// A running accept loop (shared with the OCI simulator).
pub(crate) struct Server {
    pub(crate) stop: watch::Sender<bool>,
    pub(crate) task: JoinHandle<()>,
}

struct Handle {
    shared: Arc<Shared>,
    listening: Listening,
}

/// A server that can be stopped (an outage: connections refused and closed)
/// and started again on the same address; stopped when dropped. Shared by the
/// ARM and the OCI simulators.
pub(crate) struct Listening {
    addr: SocketAddr,
    router: Router,
    server: Mutex<Option<Server>>,
}

impl Listening {
    pub(crate) fn new(listener: TcpListener, addr: SocketAddr, router: Router) -> Self {
        let server = spawn_server(listener, router.clone());
        Self {
            addr,
            router,
            server: Mutex::new(Some(server)),
        }
    }

    /// Stops listening and closes every open connection.
    pub(crate) async fn shutdown(&self) {
        let server = self.server.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(server) = server {
            let _ = server.stop.send(true);
            let _ = server.task.await;
        }
    }

    /// Listens again on the same address; no-op while running.
    pub(crate) async fn resume(&self) -> std::io::Result<()> {
        if self.is_running() {
            return Ok(());
        }
        let listener = TcpListener::bind(self.addr).await?;
        let server = spawn_server(listener, self.router.clone());
        let mut slot = self.server.lock().unwrap_or_else(|p| p.into_inner());
        match slot.as_ref() {
            Some(_) => {
                // Raced with another resume: keep the first server.
                let _ = server.stop.send(true);
                server.task.abort();
            }
            None => *slot = Some(server),
        }
        Ok(())
    }

    pub(crate) fn is_running(&self) -> bool {
        self.server
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .is_some()
    }
}

impl Drop for Listening {
    fn drop(&mut self) {
        let server = self
            .server
            .get_mut()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        if let Some(server) = server {
            let _ = server.stop.send(true);
            server.task.abort();
        }
    }
}

impl std::fmt::Debug for Simulator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Simulator")
            .field("addr", &self.addr())
            .finish_non_exhaustive()
    }
}

fn arm_router(shared: Arc<Shared>) -> Router {
    Router::new().fallback(dispatch).with_state(shared)
}

/// Serves `router` on `listener` until `stop` is sent; then closes every open
/// connection.
pub(crate) fn spawn_server(listener: TcpListener, router: Router) -> Server {
    let (stop, mut stopped) = watch::channel(false);
    let task = tokio::spawn(async move {
        let mut conns = JoinSet::new();
        loop {
            tokio::select! {
                _ = stopped.changed() => break,
                accepted = listener.accept() => match accepted {
                    Ok((stream, _)) => {
                        let _ = stream.set_nodelay(true);
                        let service = TowerToHyperService::new(router.clone());
                        conns.spawn(async move {
                            let _ = hyper::server::conn::http1::Builder::new()
                                .timer(TokioTimer::new())
                                .serve_connection(TokioIo::new(stream), service)
                                .await;
                        });
                    }
                    Err(e) => {
                        tracing::warn!("gamefleet-sim: accept failed: {e}");
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    }
                },
                Some(_) = conns.join_next(), if !conns.is_empty() => {}
            }
        }
        drop(listener);
        // Hard close of every open (keep-alive) connection: clients see an outage.
        conns.shutdown().await;
    });
    Server { stop, task }
}

impl Simulator {
    /// Starts on `127.0.0.1:0` (a free port).
    pub async fn start(config: SimConfig) -> std::io::Result<Simulator> {
        Self::start_on(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)), config).await
    }

    /// Starts on the given address.
    pub async fn start_on(addr: SocketAddr, config: SimConfig) -> std::io::Result<Simulator> {
        let listener = TcpListener::bind(addr).await?;
        let local = listener.local_addr()?;
        let shared = Arc::new(Shared::new(config, local));
        let listening = Listening::new(listener, local, arm_router(shared.clone()));
        Ok(Simulator {
            handle: Arc::new(Handle { shared, listening }),
        })
    }

    fn shared(&self) -> &Arc<Shared> {
        &self.handle.shared
    }

    pub fn addr(&self) -> SocketAddr {
        self.shared().addr
    }

    /// `http://127.0.0.1:PORT` — what the client uses instead of
    /// `https://management.azure.com`.
    pub fn arm_endpoint(&self) -> String {
        self.shared().arm_endpoint.clone()
    }

    /// `http://127.0.0.1:PORT/msi/token` — the `IDENTITY_ENDPOINT`.
    pub fn identity_endpoint(&self) -> String {
        format!("{}/msi/token", self.shared().arm_endpoint)
    }

    pub fn subscription_id(&self) -> &str {
        &self.shared().cfg.subscription_id
    }

    /// The `IDENTITY_HEADER` value the MI endpoint expects.
    pub fn identity_header(&self) -> &str {
        &self.shared().cfg.identity_header
    }

    pub fn config(&self) -> &SimConfig {
        &self.shared().cfg
    }

    /// Stops listening and closes every open connection (connection refused
    /// afterwards). State is kept; [`Simulator::resume`] listens again on the same port.
    pub async fn shutdown(&self) {
        self.handle.listening.shutdown().await
    }

    /// Listens again on the same address after [`Simulator::shutdown`] (the end of an
    /// outage). No-op while running.
    pub async fn resume(&self) -> std::io::Result<()> {
        self.handle.listening.resume().await
    }

    pub fn is_running(&self) -> bool {
        self.handle.listening.is_running()
    }

    /// Human-readable notices (what the program prints).
    pub fn subscribe(&self) -> broadcast::Receiver<Notice> {
        self.shared().notices.subscribe()
    }

    // ------------------------------------------------------------ inspection

    /// The ARM resource as `GET` would return it (with `instanceView`).
    pub fn group(&self, resource_group: &str, name: &str) -> Option<Value> {
        let st = self.shared().lock();
        st.groups
            .get(&key(resource_group, name))
            .map(|g| g.render(self.subscription_id(), View::Full))
    }

    /// The variables that point a gamefleet process at this simulator and at a
    /// table (`storage`: a connection string): storage, table, subscription, ARM,
    /// managed identity. The one place every test and the benchmark take them from.
    pub fn gamefleet_env(&self, storage: &str, table: &str) -> Vec<(String, String)> {
        [
            ("AzureWebJobsStorage", storage.to_owned()),
            ("FLEET_TABLE", table.to_owned()),
            ("AZURE_SUBSCRIPTION_ID", self.subscription_id().to_owned()),
            ("ARM_ENDPOINT", self.arm_endpoint()),
            ("IDENTITY_ENDPOINT", self.identity_endpoint()),
            ("IDENTITY_HEADER", self.identity_header().to_owned()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect()
    }

    /// The environment one container of a group runs with, as the container
    /// sees it (secure values included, which ARM never returns).
    pub fn container_env(
        &self,
        resource_group: &str,
        name: &str,
        container: &str,
    ) -> Option<Vec<(String, String)>> {
        let st = self.shared().lock();
        let g = st.groups.get(&key(resource_group, name))?;
        g.env
            .iter()
            .find(|(c, _)| c == container)
            .map(|(_, vars)| vars.clone())
    }

    /// `(resource group as first created, name)` of every group, sorted.
    pub fn group_names(&self) -> Vec<(String, String)> {
        let st = self.shared().lock();
        st.groups
            .values()
            .map(|g| (g.rg.clone(), g.name.clone()))
            .collect()
    }

    /// Every request seen, in arrival-of-answer order.
    pub fn requests(&self) -> Vec<RequestRecord> {
        self.shared().lock().log.records()
    }

    /// Requests of `op` answered (any status) since start or [`Simulator::reset_counts`].
    pub fn count(&self, op: Op) -> usize {
        self.shared().lock().log.count(op)
    }

    /// Resets the per-op counts, the request log ([`Simulator::requests`]), the
    /// delete-concurrency peak and the count of throttled writes.
    pub fn reset_counts(&self) {
        let mut st = self.shared().lock();
        st.log.clear();
        st.max_deletes_in_flight = st.deletes_in_flight;
        st.throttled_writes = 0;
    }

    /// Writes answered 429 `SubscriptionRequestsThrottled` by the write bucket
    /// (`SimConfig::write_bucket`) since start or [`Simulator::reset_counts`].
    pub fn throttled_writes(&self) -> usize {
        self.shared().lock().throttled_writes
    }

    /// Fills the write bucket again (a measurement starting from a rested bucket).
    pub fn refill_write_bucket(&self) {
        if let Some(b) = self.shared().lock().write_bucket.as_mut() {
            b.refill();
        }
    }

    /// Peak number of DELETE requests being handled at the same time.
    pub fn max_concurrent_deletes(&self) -> usize {
        self.shared().lock().max_deletes_in_flight
    }

    pub fn issued_tokens(&self) -> usize {
        self.shared().lock().issued_tokens
    }

    /// Every access token the identity endpoint handed out (secret-leak tests
    /// look for them in logs).
    pub fn issued_token_values(&self) -> Vec<String> {
        self.shared().lock().tokens.keys().cloned().collect()
    }

    // ------------------------------------------------------------ shaping

    /// Adds a fault rule (see [`FaultRule`] for matching and order).
    pub fn fail_next(&self, rule: FaultRule) {
        if rule.times > 0 {
            self.shared().lock().faults.push(rule);
        }
    }

    /// Removes every pending fault rule.
    pub fn clear_faults(&self) {
        self.shared().lock().faults.clear();
    }

    /// Affects DELETEs accepted from now on.
    pub fn set_delete_delay(&self, d: Duration) {
        self.shared().lock().delete_delay = d;
    }

    /// Affects PUTs/starts accepted from now on.
    pub fn set_provisioning_delay(&self, d: Duration) {
        self.shared().lock().provisioning_delay = d;
    }

    /// How long each DELETE request takes before it is answered.
    pub fn set_delete_handling_delay(&self, d: Duration) {
        self.shared().lock().delete_handling_delay = d;
    }

    /// Adds a group out of band (already `Succeeded`/`Running`, no event). `body` is
    /// a PUT body (`location`, `properties`, `tags`); if it is not a valid one the
    /// parts present are stored as they are (location defaults to `westeurope`).
    pub fn insert_group(&self, resource_group: &str, name: &str, body: Value) {
        let shared = self.shared();
        let (location, tags, properties, containers, public_ip) = match validate_body(&body) {
            Ok(v) => (v.location, v.tags, v.properties, v.containers, v.public_ip),
            Err(_) => {
                let props = body
                    .get("properties")
                    .and_then(Value::as_object)
                    .cloned()
                    .unwrap_or_default();
                let containers = props
                    .get("containers")
                    .and_then(Value::as_array)
                    .map(|cs| {
                        cs.iter()
                            .filter_map(|c| c.get("name").and_then(Value::as_str))
                            .map(str::to_string)
                            .collect()
                    })
                    .unwrap_or_default();
                let public = props
                    .get("ipAddress")
                    .and_then(|ip| ip.get("type"))
                    .and_then(Value::as_str)
                    .is_some_and(|t| t.eq_ignore_ascii_case("public"));
                (
                    body.get("location")
                        .and_then(Value::as_str)
                        .unwrap_or("westeurope")
                        .to_string(),
                    body.get("tags").cloned(),
                    props,
                    containers,
                    public,
                )
            }
        };
        let mut st = shared.lock();
        let rg = shared.rg_display(&mut st, resource_group);
        let generation = st.next_generation();
        let ip = public_ip.then(|| st.next_ip());
        st.groups.insert(
            key(resource_group, name),
            Group {
                rg,
                name: name.to_string(),
                location,
                tags,
                properties,
                containers,
                env: Vec::new(),
                public_ip,
                failing_image: None,
                provisioning: "Succeeded",
                instance: "Running",
                ip,
                generation,
                delete_op: None,
                logs: Default::default(),
                restart_count: 0,
                started_at: Some(chrono::Utc::now()),
                finished_at: None,
                failed_at: None,
            },
        );
    }

    /// Deletes a group out of band (no event). `true` if it existed.
    pub fn remove_group_silently(&self, resource_group: &str, name: &str) -> bool {
        self.shared()
            .lock()
            .groups
            .remove(&key(resource_group, name))
            .is_some()
    }

    /// Appends a line (or several, split at `\n`) to a container's log.
    pub fn append_log(&self, resource_group: &str, name: &str, container: &str, line: &str) {
        let mut st = self.shared().lock();
        if let Some(g) = st.groups.get_mut(&key(resource_group, name)) {
            let log = g.logs.entry(container.to_string()).or_default();
            log.extend(line.trim_end_matches('\n').split('\n').map(str::to_string));
        }
    }

    /// Every token issued so far becomes expired (ARM answers
    /// `ExpiredAuthenticationToken`); tokens issued later are fine.
    pub fn expire_tokens(&self) {
        let now = Instant::now();
        let unix = chrono::Utc::now().timestamp();
        let mut st = self.shared().lock();
        for t in st.tokens.values_mut() {
            t.valid_until = now;
            t.expires_on = t.expires_on.min(unix);
        }
    }

    // ------------------------------------------------------------ events

    /// Drains the queued (undelivered) events, in emission order.
    pub fn take_events(&self) -> Vec<Value> {
        std::mem::take(&mut self.shared().lock().queue)
    }

    /// Every delivery attempt so far.
    pub fn deliveries(&self) -> Vec<Delivery> {
        self.shared().lock().deliveries.clone()
    }

    /// Waits until `n` deliveries in total were accepted by the sink; `false` on
    /// timeout.
    pub async fn wait_for_deliveries(&self, n: usize, timeout: Duration) -> bool {
        let mut rx = self.shared().ok_deliveries.subscribe();
        tokio::time::timeout(timeout, rx.wait_for(|count| *count >= n))
            .await
            .is_ok_and(|r| r.is_ok())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_send_sync_clone<T: Send + Sync + Clone + 'static>() {}

    #[test]
    fn handle_is_shareable_across_tasks() {
        assert_send_sync_clone::<Simulator>();
        assert_send_sync_clone::<SimConfig>();
        assert_send_sync_clone::<FaultRule>();
    }
}
