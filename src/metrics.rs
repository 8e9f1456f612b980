//! `GET /api/Metrics`: Prometheus (OpenMetrics) text, behind the key.
//!
//! Two kinds of figures, named as Agones names its own where one applies:
//!
//! - **Fleet gauges**, read from the table at each scrape, so every instance
//!   answers the same: `gamefleet_gameservers_count{state,region}` (state
//!   `Unhealthy` for Running servers silent past `HEALTH_TIMEOUT`),
//!   `gamefleet_gameservers_sessions{region}`,
//!   `gamefleet_gameservers_reserved{region}`.
//! - **Counters and histograms of this process** (since it started):
//!   allocations by result and their duration, GC deletions by result,
//!   autoscaler actions, and every provider call the one HTTP transport
//!   ([`crate::cloud::transport`]) makes, with its latency. Behind the
//!   Functions front door a scrape reaches one instance; each sample carries
//!   `instance` so series from different instances never mix.
//!
//! The process-wide registry is a static: every part of gamefleet counts into
//! it without being handed a handle, and a runtime with no HTTP endpoint
//! (a timer on Lambda) still counts.

use crate::fleet::{GroupRecord, GroupState};
use prometheus_client::encoding::{text::encode, EncodeLabelSet};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;
use std::collections::BTreeMap;
use std::sync::LazyLock;
use std::time::Duration;

/// The `Content-Type` of the answer.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResultLabel {
    result: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ActionLabels {
    action: String,
    result: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ProviderLabels {
    provider: String,
    /// `2xx`, `4xx`, `5xx`, … or `error` (no answer: connect, timeout).
    code: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ProviderLabel {
    provider: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ServerLabels {
    state: String,
    region: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RegionLabel {
    region: String,
}

fn latency_histogram() -> Histogram {
    // 1 ms … ~16 s.
    Histogram::new(exponential_buckets(0.001, 2.0, 15))
}

struct Process {
    registry: Registry,
    allocations: Family<ResultLabel, Counter>,
    allocation_duration: Family<ResultLabel, Histogram>,
    gc_deletions: Family<ResultLabel, Counter>,
    autoscaler_actions: Family<ActionLabels, Counter>,
    provider_requests: Family<ProviderLabels, Counter>,
    provider_errors: Family<ProviderLabels, Counter>,
    provider_duration: Family<ProviderLabel, Histogram>,
}

/// This process's name in the samples: the Functions instance, else the host.
fn instance() -> String {
    ["WEBSITE_INSTANCE_ID", "CONTAINER_NAME", "HOSTNAME"]
        .iter()
        .find_map(|k| std::env::var(k).ok().filter(|v| !v.is_empty()))
        .map(|v| v.chars().take(64).collect())
        .unwrap_or_else(|| format!("pid-{}", std::process::id()))
}

static PROCESS: LazyLock<Process> = LazyLock::new(|| {
    let mut registry = Registry::with_labels(
        [(
            std::borrow::Cow::Borrowed("instance"),
            std::borrow::Cow::Owned(instance()),
        )]
        .into_iter(),
    );
    let allocations = Family::<ResultLabel, Counter>::default();
    registry.register(
        "gamefleet_allocations",
        "Allocate requests by result: Allocated (new reservation), Repeated (same requestId again), UnAllocated (NoCapacity), Contention, Error",
        allocations.clone(),
    );
    let allocation_duration =
        Family::<ResultLabel, Histogram>::new_with_constructor(latency_histogram as fn() -> _);
    registry.register(
        "gamefleet_allocation_duration_seconds",
        "Time Allocate took, by result",
        allocation_duration.clone(),
    );
    let gc_deletions = Family::<ResultLabel, Counter>::default();
    registry.register(
        "gamefleet_gc_deletions",
        "Container groups GC acted on, by result: deleted, pending (ARM still deleting), kept (changed meanwhile), failed",
        gc_deletions.clone(),
    );
    let autoscaler_actions = Family::<ActionLabels, Counter>::default();
    registry.register(
        "gamefleet_autoscaler_actions",
        "Servers the autoscaler created, unmarked or marked (result ok), and Creates that failed or were deferred by ARM's write limit",
        autoscaler_actions.clone(),
    );
    let provider_requests = Family::<ProviderLabels, Counter>::default();
    registry.register(
        "gamefleet_provider_requests",
        "HTTP requests to a cloud provider (every attempt, retries included), by answer class",
        provider_requests.clone(),
    );
    let provider_errors = Family::<ProviderLabels, Counter>::default();
    registry.register(
        "gamefleet_provider_errors",
        "Provider requests that failed: a 4xx/5xx answer, or none (code=error)",
        provider_errors.clone(),
    );
    let provider_duration =
        Family::<ProviderLabel, Histogram>::new_with_constructor(latency_histogram as fn() -> _);
    registry.register(
        "gamefleet_provider_request_duration_seconds",
        "Latency of one provider request attempt",
        provider_duration.clone(),
    );
    Process {
        registry,
        allocations,
        allocation_duration,
        gc_deletions,
        autoscaler_actions,
        provider_requests,
        provider_errors,
        provider_duration,
    }
});

/// One Allocate answered with `result` after `took`.
pub fn allocation(result: &str, took: Duration) {
    let l = ResultLabel {
        result: result.to_owned(),
    };
    PROCESS.allocations.get_or_create(&l).inc();
    PROCESS
        .allocation_duration
        .get_or_create(&l)
        .observe(took.as_secs_f64());
}

/// One GC run's outcome counts.
pub fn gc_run(report: &crate::ops::gc::GcReport) {
    for (result, n) in [
        ("deleted", report.deleted),
        ("pending", report.pending),
        ("kept", report.kept),
        ("failed", report.failed),
    ] {
        if n > 0 {
            PROCESS
                .gc_deletions
                .get_or_create(&ResultLabel {
                    result: result.to_owned(),
                })
                .inc_by(n as u64);
        }
    }
}

/// One autoscaler tick's actions.
pub fn autoscale_run(report: &crate::ops::fleets::AutoscaleReport) {
    let add = |action: &str, result: &str, n: u32| {
        if n > 0 {
            PROCESS
                .autoscaler_actions
                .get_or_create(&ActionLabels {
                    action: action.to_owned(),
                    result: result.to_owned(),
                })
                .inc_by(u64::from(n));
        }
    };
    for run in &report.runs {
        add("create", "ok", run.created);
        add("unmark", "ok", run.unmarked);
        add("mark", "ok", run.marked);
        add("create", "failed", run.failed);
        add("create", "deferred", run.deferred);
    }
}

/// One provider request attempt: its HTTP status (`None`: no answer) and latency.
pub fn provider_call(provider: &str, status: Option<u16>, took: Duration) {
    let code = match status {
        Some(s) => format!("{}xx", s / 100),
        None => "error".to_owned(),
    };
    let failed = status.is_none_or(|s| s >= 400);
    let l = ProviderLabels {
        provider: provider.to_owned(),
        code,
    };
    PROCESS.provider_requests.get_or_create(&l).inc();
    if failed {
        PROCESS.provider_errors.get_or_create(&l).inc();
    }
    PROCESS
        .provider_duration
        .get_or_create(&ProviderLabel {
            provider: provider.to_owned(),
        })
        .observe(took.as_secs_f64());
}

/// The fleet as the gauges count it, one page of rows at a time.
#[derive(Debug, Default)]
pub struct Census {
    servers: BTreeMap<(String, String), i64>,
    sessions: BTreeMap<String, i64>,
    reserved: BTreeMap<String, i64>,
}

impl Census {
    pub fn add(&mut self, r: &GroupRecord, unhealthy: bool, now: chrono::DateTime<chrono::Utc>) {
        let state = if unhealthy && r.state == GroupState::Running {
            "Unhealthy"
        } else {
            r.state.as_str()
        };
        let region = r.location.clone();
        *self
            .servers
            .entry((state.to_owned(), region.clone()))
            .or_default() += 1;
        *self.sessions.entry(region.clone()).or_default() += i64::from(r.active_sessions.get());
        *self.reserved.entry(region).or_default() += i64::from(r.capacity.reserved(now));
    }

    /// Servers by (state, region), in that order.
    pub fn servers(&self) -> impl Iterator<Item = (&str, &str, i64)> {
        self.servers
            .iter()
            .map(|((state, region), n)| (state.as_str(), region.as_str(), *n))
    }

    /// (region, sessions, reserved slots), by region.
    pub fn regions(&self) -> impl Iterator<Item = (&str, i64, i64)> {
        self.sessions.iter().map(|(region, n)| {
            let reserved = self.reserved.get(region).copied().unwrap_or(0);
            (region.as_str(), *n, reserved)
        })
    }

    /// Every server counted.
    pub fn total(&self) -> i64 {
        self.servers.values().sum()
    }
}

/// The whole answer: the fleet gauges of `census`, then this process's counters.
pub fn render(census: &Census) -> String {
    let mut fleet = Registry::default();
    let servers = Family::<ServerLabels, Gauge>::default();
    fleet.register(
        "gamefleet_gameservers_count",
        "Game servers (container groups) in the table by state and region; Running servers silent past HEALTH_TIMEOUT count as Unhealthy",
        servers.clone(),
    );
    let sessions = Family::<RegionLabel, Gauge>::default();
    fleet.register(
        "gamefleet_gameservers_sessions",
        "Active sessions (players) on the game servers, by region",
        sessions.clone(),
    );
    let reserved = Family::<RegionLabel, Gauge>::default();
    fleet.register(
        "gamefleet_gameservers_reserved",
        "Slots held by live Allocate reservations, by region",
        reserved.clone(),
    );
    for ((state, region), n) in &census.servers {
        servers
            .get_or_create(&ServerLabels {
                state: state.clone(),
                region: region.clone(),
            })
            .set(*n);
    }
    for (map, family) in [(&census.sessions, &sessions), (&census.reserved, &reserved)] {
        for (region, n) in map {
            family
                .get_or_create(&RegionLabel {
                    region: region.clone(),
                })
                .set(*n);
        }
    }
    let mut out = String::new();
    // Encoding into a String cannot fail (fmt::Write on String is infallible).
    let _ = encode(&mut out, &fleet);
    if let Some(stripped) = out.strip_suffix("# EOF\n") {
        out.truncate(stripped.len());
    }
    let _ = encode(&mut out, &PROCESS.registry);
    out
}
