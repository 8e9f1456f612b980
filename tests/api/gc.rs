use crate::helpers::*;
use gamefleet::fleet::{GroupRecord, GroupState};
use gamefleet_sim::{FaultRule, Op};
use reqwest::StatusCode;
use std::time::Duration;

#[tokio::test]
async fn gc_collects_marked_and_empty_only() {
    let t = TestApp::spawn().await;
    for n in ["empty", "busy", "live"] {
        t.running("rg", n).await;
    }
    t.set_sessions(&[("rg", "busy", 2)]).await;
    t.set_state("rg", "empty", "MarkedForDeletion").await;
    t.set_state("rg", "busy", "MarkedForDeletion").await;

    let (s, rv) = t.gc().await;
    assert_eq!(s, StatusCode::OK, "{rv}");
    assert_eq!(rv["deleted"], 1, "{rv}");
    assert!(t.sim.group("rg", "empty").is_none());
    assert!(t.row("rg", "empty").await.is_none());
    assert!(t.sim.group("rg", "busy").is_some());
    assert_eq!(
        t.row("rg", "busy").await.unwrap().state.as_str(),
        "MarkedForDeletion"
    );
    assert!(t.sim.group("rg", "live").is_some());

    // Players leave: the next run collects it.
    t.set_sessions(&[("rg", "busy", 0)]).await;
    let (_, rv) = t.gc().await;
    assert_eq!(rv["deleted"], 1, "{rv}");
    assert!(t.sim.group("rg", "busy").is_none());
}

#[tokio::test]
async fn a_failed_arm_delete_stays_deleting_and_the_next_run_finishes() {
    let t = TestApp::spawn_with(Options {
        env: vec![
            ("ARM_MAX_RETRIES".into(), "0".into()),
            // The failed run's claim is stale at once (the lease is tested below).
            ("DELETE_LEASE".into(), "0s".into()),
        ],
        ..Options::default()
    })
    .await;
    t.running("rg", "stubborn").await;
    t.set_state("rg", "stubborn", "MarkedForDeletion").await;
    t.sim
        .fail_next(FaultRule::new(Op::Delete, 500, "InternalServerError", "try later").times(1));
    let (s, rv) = t.gc().await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(rv["failed"], 1, "{rv}");
    assert_eq!(
        t.row("rg", "stubborn").await.unwrap().state.as_str(),
        "Deleting"
    );
    assert!(t.sim.group("rg", "stubborn").is_some());

    let (_, rv) = t.gc().await;
    assert_eq!(rv["deleted"], 1, "{rv}");
    assert!(t.sim.group("rg", "stubborn").is_none());
    assert!(t.row("rg", "stubborn").await.is_none());
}

#[tokio::test]
async fn gc_reads_every_page_and_failed_groups_after_their_ttl() {
    let t = TestApp::spawn_with(Options {
        env: vec![("FLEET_FAILED_TTL".into(), "0s".into())],
        ..Options::default()
    })
    .await;
    // 1,100 marked, empty rows (more than one page); their groups are not in ARM (delete answers 204).
    use futures::stream::{self, StreamExt};
    stream::iter(0..1100)
        .for_each_concurrent(32, |i| {
            let t = &t;
            async move {
                let mut r = GroupRecord::creating(
                    key("many", &format!("m-{i:04}")),
                    "westeurope".into(),
                    chrono::Utc::now(),
                );
                r.state = if i == 0 {
                    GroupState::Failed
                } else {
                    GroupState::MarkedForDeletion
                };
                t.store().insert(&r).await.unwrap();
            }
        })
        .await;
    let (s, rv) = t.gc().await;
    assert_eq!(s, StatusCode::OK, "{rv}");
    assert_eq!(rv["examined"], 1100);
    assert_eq!(rv["deleted"], 1100, "{rv}");
    assert!(t.app.list(None, None).await.unwrap().is_empty());
}

/// The race the original lost: GC reads a marked, empty group; a player joins
/// (SetSessions) before GC deletes it. The group must never be deleted while
/// its row says it holds players, and an acknowledged session write must never
/// be for a group that is then deleted.
#[tokio::test]
async fn gc_racing_set_sessions_never_deletes_a_group_that_gained_a_player() {
    let t = TestApp::spawn().await;
    let rounds = 40;
    let (mut kept, mut collected) = (0, 0);
    for round in 0..rounds {
        let name = format!("race-{round}");
        let mut r =
            GroupRecord::creating(key("race", &name), "westeurope".into(), chrono::Utc::now());
        r.state = GroupState::MarkedForDeletion;
        t.store().insert(&r).await.unwrap();
        t.sim.insert_group("race", &name, serde_json::json!({"location": "westeurope", "properties": {"osType": "Linux", "containers": []}}));

        let item = [("race", name.as_str(), 1)];
        let (gc, sessions) = tokio::join!(t.gc(), t.set_sessions(&item));
        assert_eq!(gc.0, StatusCode::OK);
        let applied = sessions.1["results"][0]["applied"] == true;
        let in_arm = t.sim.group("race", &name).is_some();
        if applied {
            assert!(
                in_arm,
                "round {round}: the session write was acknowledged but GC deleted the group"
            );
            assert_eq!(t.row("race", &name).await.unwrap().active_sessions.get(), 1);
            kept += 1;
        } else {
            let code = sessions.1["results"][0]["error"]["code"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            assert!(
                code == "GroupDeleting" || code == "GroupNotFound",
                "round {round}: {}",
                sessions.1
            );
            assert!(
                !in_arm,
                "round {round}: refused write but the group was kept"
            );
            collected += 1;
        }
    }
    println!("GC vs SetSessions: {rounds} rounds, {kept} kept (player won), {collected} collected (GC won)");
}

#[tokio::test]
async fn overlapping_runs_and_delete_send_one_arm_delete_per_group() {
    // ARM takes 2 s to delete; Delete and GC wait 300 ms for it; a claim is
    // held for 1 s. Every run that meets the Deleting row in between must
    // leave ARM alone; after the lease, one run looks (GET) and sends nothing
    // while ARM is still deleting, and removes the row once it is gone.
    let mut o = Options::default();
    o.sim.delete_delay = Duration::from_secs(2);
    o.env.push(("DELETE_WAIT".into(), "300ms".into()));
    o.env.push(("DELETE_LEASE".into(), "1s".into()));
    let t = TestApp::spawn_with(o).await;
    t.running("rg", "once").await;
    t.set_state("rg", "once", "MarkedForDeletion").await;
    let deletes = t.sim.count(Op::Delete);

    // Three runs at once, and an explicit Delete.
    let body = serde_json::json!({"resourceGroup": "rg", "containerGroupName": "once"});
    let (a, b, c, d) = tokio::join!(t.gc(), t.gc(), t.gc(), t.post("/api/Delete", &body));
    for (s, rv) in [&a, &b, &c] {
        assert_eq!(*s, StatusCode::OK, "{rv}");
    }
    assert_eq!(d.0, StatusCode::ACCEPTED, "Delete answers pending: {}", d.1);
    assert_eq!(
        t.sim.count(Op::Delete) - deletes,
        1,
        "one DELETE, not one per caller"
    );
    // The other two runs left the group to the claim's holder: they met the
    // held claim (skipped) or lost the race to take it (412: kept), whichever
    // order the three reads landed in.
    let left: u64 = [&a, &b, &c]
        .iter()
        .map(|(_, rv)| rv["skipped"].as_u64().unwrap_or(0) + rv["kept"].as_u64().unwrap_or(0))
        .sum();
    let claimed: u64 = [&a, &b, &c]
        .iter()
        .map(|(_, rv)| rv["pending"].as_u64().unwrap_or(0) + rv["deleted"].as_u64().unwrap_or(0))
        .sum();
    assert!(
        left >= 2 && claimed <= 1,
        "one run (or Delete) holds the claim, the others leave it: {a:?} {b:?} {c:?}"
    );

    // Past the lease, ARM still deleting: a GET, no second DELETE.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let (_, rv) = t.gc().await;
    assert_eq!(rv["pending"], 1, "{rv}");
    assert_eq!(t.sim.count(Op::Delete) - deletes, 1);
    // ARM finishes; the next run after the lease removes the row without a DELETE.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(t.sim.group("rg", "once").is_none());
    // (Monitor may have removed the row on ARM's delete event already.)
    let (s, rv) = t.gc().await;
    assert_eq!(s, StatusCode::OK, "{rv}");
    assert!(t.row("rg", "once").await.is_none(), "{rv}");
    assert_eq!(
        t.sim.count(Op::Delete) - deletes,
        1,
        "still exactly one DELETE"
    );
}
