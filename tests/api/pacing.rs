//! ARM's write limit: GC of a few hundred groups against a simulator that
//! enforces a (scaled-down) token bucket, with gamefleet's write pacer set to
//! the same numbers (no 429 at all) and without it (ARM throttles; the retries
//! honouring Retry-After still collect everything); and a write whose turn is
//! further away than the call may wait fails at once with 503 ArmThrottled.

use crate::helpers::*;
use gamefleet::fleet::{GroupRecord, GroupState};
use gamefleet_sim::{Op, SimConfig, TokenBucket};
use reqwest::StatusCode;
use serde_json::json;

const GROUPS: usize = 160;
/// ARM's bucket (200, refilled at 10/s) scaled down so the test takes seconds
/// (160 groups: (160 - 10) / 20 = 7.5 s paced), with a refill rate well below
/// what an unpaced GC reaches even in a debug build on a busy machine (about
/// 40 deletes/s with GC_CONCURRENCY 16 against the shared Azurite): at 100/s
/// the unpaced twin was not throttled here, and would not show that the
/// paced test can fail.
const BUCKET: TokenBucket = TokenBucket {
    capacity: 10,
    refill_per_sec: 20.0,
};

async fn app(pacer: &[(&str, &str)]) -> TestApp {
    let mut env: Vec<(String, String)> = pacer
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    // A claim left by a failed delete is resumed by the next run at once.
    env.push(("DELETE_LEASE".into(), "0s".into()));
    env.push(("GC_CONCURRENCY".into(), "32".into()));
    TestApp::spawn_with(Options {
        sim: SimConfig {
            write_bucket: Some(BUCKET),
            ..Options::default().sim
        },
        env,
        ..Options::default()
    })
    .await
}

/// `GROUPS` marked, empty rows and their container groups.
async fn seed(t: &TestApp) {
    use futures::stream::{self, StreamExt};
    stream::iter(0..GROUPS)
        .for_each_concurrent(32, |i| async move {
            let name = format!("p-{i:04}");
            let mut r =
                GroupRecord::creating(key("paced", &name), "westeurope".into(), chrono::Utc::now());
            r.state = GroupState::MarkedForDeletion;
            t.store().insert(&r).await.unwrap();
            t.sim.insert_group(
                "paced",
                &name,
                json!({"location": "westeurope", "properties": {"osType": "Linux", "containers": []}}),
            );
        })
        .await;
    t.sim.reset_counts();
    t.sim.refill_write_bucket();
}

/// At most this many 429s with the pacer on: the simulator counts a write
/// when it arrives, the pacer when it sends it, and on a loaded 2-core machine
/// the first write of a burst can travel longer than the pacer's 50 ms of
/// headroom (seen once in many runs, under a Keystone install). Unpaced, the
/// same GC meets about 190.
const STRAY: usize = 2;

#[tokio::test]
async fn gc_paced_at_arms_write_limit_is_never_throttled() {
    let burst = BUCKET.capacity.to_string();
    let rate = BUCKET.refill_per_sec.to_string();
    let t = app(&[("ARM_WRITE_BURST", &burst), ("ARM_WRITE_RATE", &rate)]).await;
    seed(&t).await;
    let (s, rv) = t.gc().await;
    assert_eq!(s, StatusCode::OK, "{rv}");
    assert_eq!(rv["failed"], 0, "{rv}");
    assert!(
        t.sim.throttled_writes() <= STRAY,
        "ARM answered {} 429s: {rv}",
        t.sim.throttled_writes()
    );
    // A claim that lost a race is kept and collected by the next run, paced the same way.
    let mut runs = vec![rv];
    while !t.sim.group_names().is_empty() && runs.len() < 3 {
        runs.push(t.gc().await.1);
    }
    let throttled = t.sim.throttled_writes();
    assert!(
        throttled <= STRAY,
        "ARM answered {throttled} 429s: {runs:?}"
    );
    assert_eq!(
        t.sim.count(Op::Delete),
        GROUPS + throttled,
        "one DELETE per group, retried only after a 429: {runs:?}"
    );
    assert!(t.sim.group_names().is_empty(), "{runs:?}");
    assert!(t.app.list(None, None).await.unwrap().is_empty());
}

#[tokio::test]
async fn gc_without_the_pacer_is_throttled_and_still_collects_everything() {
    let t = app(&[("ARM_WRITE_RATE", "off")]).await;
    seed(&t).await;
    let (s, first) = t.gc().await;
    assert_eq!(s, StatusCode::OK, "{first}");
    let throttled = t.sim.throttled_writes();
    assert!(
        throttled > 0,
        "unpaced, {GROUPS} deletes at GC_CONCURRENCY 32 should exceed a bucket of 10 at 20/s; report {first}"
    );
    // Every throttled DELETE is retried after ARM's Retry-After; one that runs out
    // of retries (ARM_MAX_RETRIES) fails, is left Deleting, and the next run
    // finishes it. (Measured here: about 190 429s and 3 failed rows in the first run.)
    let mut runs = vec![first];
    while !t.sim.group_names().is_empty() && runs.len() < 5 {
        runs.push(t.gc().await.1);
    }
    assert!(t.sim.group_names().is_empty(), "groups left after {runs:?}");
    assert!(t.app.list(None, None).await.unwrap().is_empty(), "{runs:?}");
    let deleted: u64 = runs.iter().filter_map(|r| r["deleted"].as_u64()).sum();
    assert_eq!(deleted, GROUPS as u64, "{throttled} throttled; {runs:?}");
    // Every DELETE ARM refused was sent again: more DELETEs than groups.
    assert!(t.sim.count(Op::Delete) > GROUPS, "{runs:?}");
}

#[tokio::test]
async fn a_write_whose_turn_is_too_far_away_fails_fast_with_arm_throttled() {
    // One write per 10 s: the second is 10 s away, more than ARM_TIMEOUT (5 s) allows.
    let t = app(&[("ARM_WRITE_BURST", "1"), ("ARM_WRITE_RATE", "0.1")]).await;
    t.sim.refill_write_bucket();
    for name in ["first", "second"] {
        let mut r =
            GroupRecord::creating(key("paced", name), "westeurope".into(), chrono::Utc::now());
        r.state = GroupState::Running;
        t.store().insert(&r).await.unwrap();
        t.sim.insert_group(
            "paced",
            name,
            json!({"location": "westeurope", "properties": {"osType": "Linux", "containers": []}}),
        );
    }
    let del = |n: &str| json!({"resourceGroup": "paced", "containerGroupName": n});
    let (s, v) = t.post("/api/Delete", &del("first")).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let started = std::time::Instant::now();
    let r = t
        .http
        .post(format!("{}/api/Delete", t.base))
        .json(&del("second"))
        .send()
        .await
        .unwrap();
    assert!(
        started.elapsed() < std::time::Duration::from_secs(4),
        "waited {:?} instead of failing fast",
        started.elapsed()
    );
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    let retry_after: u64 = r
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .unwrap();
    assert!((9..=10).contains(&retry_after), "Retry-After {retry_after}");
    let v: serde_json::Value = r.json().await.unwrap();
    assert_eq!(v["error"]["code"], "ArmThrottled", "{v}");
    assert_eq!(
        t.sim.count(Op::Delete),
        1,
        "the second DELETE was never sent"
    );
    assert!(t.sim.group("paced", "second").is_some());
    assert_eq!(t.sim.throttled_writes(), 0);
}
