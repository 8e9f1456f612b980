//! Allocate: hand the matchmaker a server with `players` free slots and hold
//! them with a conditional write, so two allocators never fill the same slot.
//!
//! 1. Read the Running servers (of the resource group, if asked): from this
//!    process's snapshot when it is younger than [`SNAPSHOT_FOR`], else one
//!    list that concurrent allocators wait for together (single flight). A
//!    stale entry only costs a 412 and a point read in step 4; every write
//!    this process makes updates the snapshot.
//! 2. A live reservation with this `requestId` on any of them: answer it
//!    again, reserve nothing (the caller's retry).
//! 3. Rank the servers that fit ([`crate::fleet::allocation`]) and take the
//!    best; after a lost write, or while other allocations of this process
//!    are in flight, one at random among the [`PICK_AMONG`] best of the same
//!    region tier (as many as there are allocators): concurrent allocators
//!    spread over a few rows instead of all writing the best one.
//! 4. Write the server's row with the reservation added, If-Match the ETag
//!    it was read at. A 412 means another writer (an allocator, a session
//!    report, GC's claim) changed it: read that one row again and go on with
//!    what is true now. Bounded; nothing free → `NoCapacity`.
//! 5. Record the requestId and the server in the ledger (`<table>Allocations`,
//!    a conditional insert), so the same requestId at another instance, at
//!    once or later, answers that server: the loser of the insert takes its
//!    own reservation back (see [`App::allocate`]).

use super::{App, OpsError};
use crate::fleet::allocation::{fits, rank, AllocateRequest, Reservation, PICK_AMONG};
use crate::fleet::{GroupRecord, GroupState, Versioned};
use crate::ports::{AllocationEntry, ListQuery, StoreError};
use std::time::Duration;

/// Writes one Allocate tries before it answers `AllocationContention`.
pub const MAX_ATTEMPTS: usize = 16;

/// How long one list of the Running servers serves this process's allocators.
pub const SNAPSHOT_FOR: std::time::Duration = std::time::Duration::from_secs(1);

/// The Running servers as this process last read them, per resource-group filter.
#[derive(Default)]
pub struct Candidates {
    inner: tokio::sync::Mutex<Option<Snapshot>>,
    /// Allocations of this process between their pick and their write.
    in_flight: std::sync::atomic::AtomicUsize,
}

/// Counts an allocation in flight while it lives.
struct InFlight<'a>(&'a std::sync::atomic::AtomicUsize);

impl<'a> InFlight<'a> {
    fn enter(c: &'a std::sync::atomic::AtomicUsize) -> (Self, usize) {
        let others = c.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        (Self(c), others)
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
    }
}

struct Snapshot {
    read_at: std::time::Instant,
    resource_group: Option<String>,
    servers: Vec<Versioned<GroupRecord>>,
}

impl Candidates {
    /// Put what a write or a point read found into the snapshot.
    async fn update(&self, fresh: Versioned<GroupRecord>) {
        if let Some(s) = self.inner.lock().await.as_mut() {
            if let Some(slot) = s
                .servers
                .iter_mut()
                .find(|v| v.value.key == fresh.value.key)
            {
                *slot = fresh;
            }
        }
    }

    async fn drop_key(&self, key: &crate::fleet::GroupKey) {
        if let Some(s) = self.inner.lock().await.as_mut() {
            s.servers.retain(|v| &v.value.key != key);
        }
    }
}

/// What Allocate answers.
#[derive(Debug, Clone, PartialEq)]
pub struct Allocation {
    pub server: GroupRecord,
    pub reservation: Reservation,
    /// `false` when this was the same request again (nothing new reserved).
    pub new: bool,
}

impl App {
    /// Allocate once per `requestId` across every instance: reserve a server
    /// (steps 1–4), then record the requestId and that server in the ledger
    /// with a conditional insert. When the insert finds the requestId there
    /// already (the same id sent to another instance, at once or before), this
    /// reservation is taken back and the recorded one is the answer; a lapsed
    /// entry (its reservation expired, its server gone) is replaced. Two
    /// writes when quiet: the reservation and the ledger entry.
    pub async fn allocate(&self, req: &AllocateRequest) -> Result<Allocation, OpsError> {
        for _ in 0..MAX_ATTEMPTS {
            let mine = self.reserve(req).await?;
            if !mine.new {
                // Found on a server already (this process's own retry): its
                // entry was written when it was reserved.
                return Ok(mine);
            }
            let entry = AllocationEntry {
                request_id: req.request_id.clone(),
                server: mine.server.key.clone(),
                players: mine.reservation.players,
                until: mine.reservation.expires_at,
            };
            let existing = match self.ledger.insert(&entry).await {
                Ok(_) => return Ok(mine),
                Err(StoreError::AlreadyExists) => self.ledger.get(&req.request_id).await,
                Err(e) => Err(e),
            };
            let existing = match existing {
                Ok(existing) => existing,
                Err(e) => {
                    self.unreserve(&mine).await;
                    return Err(e.into());
                }
            };
            let Some(existing) = existing else {
                // Swept meanwhile: ours goes in on the next turn.
                self.unreserve(&mine).await;
                continue;
            };
            let now = crate::fleet::record::now();
            if existing.value.until > now {
                if let Some(theirs) = self.reservation_of(&existing.value).await? {
                    if theirs.server.key != mine.server.key
                        || theirs.reservation.expires_at != mine.reservation.expires_at
                    {
                        self.unreserve(&mine).await;
                    }
                    return Ok(theirs);
                }
            }
            // Lapsed: ours replaces it.
            match self.ledger.replace(&entry, &existing.etag).await {
                Ok(_) => return Ok(mine),
                Err(StoreError::PreconditionFailed) => {
                    self.unreserve(&mine).await;
                    continue;
                }
                Err(e) => {
                    self.unreserve(&mine).await;
                    return Err(e.into());
                }
            }
        }
        Err(OpsError::Unavailable {
            code: "AllocationContention",
            message: format!("requestId {} is contended; try again", req.request_id),
            retry_after: Duration::from_secs(1),
        })
    }

    /// The allocation `entry` names, read from its server's row: its live
    /// reservation, or — once the server's own report confirmed the players
    /// and the reservation is gone — the server as long as it still takes
    /// players. `None` when the server is gone or leaving (allocate anew).
    async fn reservation_of(
        &self,
        entry: &AllocationEntry,
    ) -> Result<Option<Allocation>, OpsError> {
        let now = crate::fleet::record::now();
        let Some(v) = self.store.get(&entry.server).await? else {
            return Ok(None);
        };
        let reservation = match v.value.capacity.find(&entry.request_id, now) {
            Some(r) => r.clone(),
            None if v.value.state == GroupState::Running => Reservation {
                request_id: entry.request_id.clone(),
                players: entry.players,
                expires_at: entry.until,
            },
            None => return Ok(None),
        };
        Ok(Some(Allocation {
            server: v.value,
            reservation,
            new: false,
        }))
    }

    /// Take back a reservation this call made (another one holds the
    /// requestId). Best effort: one that cannot be taken back holds its slots
    /// until it expires (the server looks fuller, never overfilled).
    async fn unreserve(&self, a: &Allocation) {
        let key = &a.server.key;
        for _ in 0..super::MAX_CONFLICT_RETRIES {
            let current = match self.store.get(key).await {
                Ok(Some(c)) => c,
                Ok(None) => return,
                Err(e) => {
                    tracing::warn!(group = %key, error = %e, "could not take back a duplicate reservation; it expires by itself");
                    return;
                }
            };
            let mut next = current.value.clone();
            let before = next.capacity.reservations.len();
            next.capacity.reservations.retain(|r| {
                r.request_id != a.reservation.request_id || r.expires_at != a.reservation.expires_at
            });
            if next.capacity.reservations.len() == before {
                return;
            }
            match self.store.replace(&next, &current.etag).await {
                Ok(etag) => {
                    self.allocation.update(Versioned::new(next, etag)).await;
                    return;
                }
                Err(StoreError::PreconditionFailed) => continue,
                Err(e) => {
                    tracing::warn!(group = %key, error = %e, "could not take back a duplicate reservation; it expires by itself");
                    return;
                }
            }
        }
    }

    async fn reserve(&self, req: &AllocateRequest) -> Result<Allocation, OpsError> {
        // A snapshot may not know a server made since: "nothing fits" is
        // only answered from a list read for this request.
        match self.allocate_from(req, false).await {
            Err(OpsError::Unavailable {
                code: "NoCapacity", ..
            }) => self.allocate_from(req, true).await,
            other => other,
        }
    }

    async fn allocate_from(
        &self,
        req: &AllocateRequest,
        fresh: bool,
    ) -> Result<Allocation, OpsError> {
        let mut servers = self.running_servers(req, fresh).await?;
        let now = crate::fleet::record::now();
        if let Some(again) = servers.iter().find_map(|v| {
            v.value
                .capacity
                .find(&req.request_id, now)
                .map(|r| (v.value.clone(), r.clone()))
        }) {
            return Ok(Allocation {
                server: again.0,
                reservation: again.1,
                new: false,
            });
        }
        servers.retain(|v| fits(&v.value, req, now) && !self.unhealthy(&v.value));
        servers.sort_by_key(|v| rank(&v.value, req, now));
        let ttl = chrono::Duration::from_std(self.settings.allocation_ttl)
            .unwrap_or(chrono::Duration::seconds(60));
        let mut contended = false;
        // Others of this process allocating now would write the same best row:
        // spread at once among as many of the best as there are allocators.
        let (_in_flight, others) = InFlight::enter(&self.allocation.in_flight);
        for _ in 0..MAX_ATTEMPTS {
            if servers.is_empty() {
                break;
            }
            // Quiet: the best server. After a lost write, or beside other
            // allocations of this process: one of the best few of the same
            // region tier, at random, so concurrent allocators spread out.
            let i = if contended || others > 0 {
                let tier = rank(&servers[0].value, req, now).0;
                let among = if contended {
                    PICK_AMONG
                } else {
                    PICK_AMONG.min(others + 1)
                };
                let same_tier = servers
                    .iter()
                    .take(among)
                    .take_while(|v| rank(&v.value, req, now).0 == tier)
                    .count();
                fastrand::usize(..same_tier.max(1))
            } else {
                0
            };
            let candidate = &servers[i];
            let reservation = Reservation {
                request_id: req.request_id.clone(),
                players: req.players,
                expires_at: now + ttl,
            };
            let mut updated = candidate.value.clone();
            updated.capacity = updated.capacity.with(reservation.clone(), now);
            match self.store.replace(&updated, &candidate.etag).await {
                Ok(etag) => {
                    self.allocation
                        .update(Versioned::new(updated.clone(), etag))
                        .await;
                    tracing::info!(group = %updated.key, request = %req.request_id, players = req.players, "allocated");
                    return Ok(Allocation {
                        server: updated,
                        reservation,
                        new: true,
                    });
                }
                Err(StoreError::PreconditionFailed) => {
                    contended = true;
                    let key = candidate.value.key.clone();
                    match self.store.get(&key).await? {
                        Some(fresh) => {
                            self.allocation.update(fresh.clone()).await;
                            // Another allocator may have taken it for this very request.
                            if let Some(r) = fresh.value.capacity.find(&req.request_id, now) {
                                return Ok(Allocation {
                                    reservation: r.clone(),
                                    server: fresh.value,
                                    new: false,
                                });
                            }
                            if fits(&fresh.value, req, now) && !self.unhealthy(&fresh.value) {
                                servers[i] = fresh;
                                servers.sort_by_key(|v| rank(&v.value, req, now));
                            } else {
                                servers.remove(i);
                            }
                        }
                        None => {
                            self.allocation.drop_key(&key).await;
                            servers.remove(i);
                        }
                    }
                }
                Err(StoreError::NotFound) => {
                    self.allocation.drop_key(&candidate.value.key.clone()).await;
                    servers.remove(i);
                }
                Err(e) => return Err(e.into()),
            }
        }
        Err(if contended && !servers.is_empty() {
            OpsError::Unavailable {
                code: "AllocationContention",
                message: format!(
                    "{MAX_ATTEMPTS} allocators wrote the same servers first; try again"
                ),
                retry_after: Duration::from_millis(200),
            }
        } else {
            OpsError::Unavailable {
                code: "NoCapacity",
                message: no_capacity(req),
                retry_after: Duration::from_secs(1),
            }
        })
    }
}

impl App {
    /// The Running servers a request may look at (see [`Candidates`]).
    async fn running_servers(
        &self,
        req: &AllocateRequest,
        fresh: bool,
    ) -> Result<Vec<Versioned<GroupRecord>>, OpsError> {
        let rg = req.resource_group.as_ref().map(|r| r.key().to_owned());
        let asked = std::time::Instant::now();
        let mut snap = self.allocation.inner.lock().await;
        if let Some(s) = snap.as_ref() {
            // Fresh: a list read after this request came (another allocator's counts).
            let young = if fresh {
                s.read_at >= asked
            } else {
                s.read_at.elapsed() < SNAPSHOT_FOR
            };
            if young && s.resource_group == rg {
                return Ok(s.servers.clone());
            }
        }
        let servers: Vec<Versioned<GroupRecord>> = self
            .store
            .list(&ListQuery::ByState {
                state: Some(GroupState::Running),
                resource_group: req.resource_group.clone(),
            })
            .await?
            .into_iter()
            // A row the original wrote under another spelling is moved by List
            // and GC first; a conditional write here would miss it.
            .filter(|v| v.legacy_partition.is_none())
            .collect();
        *snap = Some(Snapshot {
            read_at: std::time::Instant::now(),
            resource_group: rg,
            servers: servers.clone(),
        });
        Ok(servers)
    }
}

fn no_capacity(req: &AllocateRequest) -> String {
    let mut m = format!(
        "no Running, unmarked server has {} free slot{}",
        req.players,
        if req.players == 1 { "" } else { "s" }
    );
    if !req.regions.is_empty() {
        let regions: Vec<&str> = req.regions.iter().map(|l| l.as_str()).collect();
        m.push_str(&format!(" in {}", regions.join(", ")));
    }
    if !req.labels.is_empty() {
        m.push_str(&format!(" with labels {:?}", req.labels));
    }
    m
}

/// The JSON Allocate answers.
pub fn view(a: &Allocation) -> serde_json::Value {
    serde_json::json!({
        "resourceGroup": a.server.key.resource_group.as_str(),
        "containerGroupName": a.server.key.name.as_str(),
        "publicIp": a.server.public_ip,
        "ports": ports(&a.server),
        "location": a.server.location,
        "reserved": a.reservation.players,
        "reservationExpiresAt": a.reservation.expires_at,
        "requestId": a.reservation.request_id,
    })
}

/// The server's public ports, as Create stored them.
fn ports(r: &GroupRecord) -> serde_json::Value {
    serde_json::Value::Array(r.capacity.ports.clone())
}
