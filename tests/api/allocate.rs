//! Allocate against Azurite and the ARM simulator: a server with free slots is
//! handed out with a conditional write, the same requestId gets the same
//! server, reservations count as sessions (List, GC) until they expire, and
//! racing allocators on several instances never hand out a slot twice.

use crate::helpers::*;
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::time::Duration;

/// Create `rg/name` with `max` slots (and labels, location) and wait until Running.
async fn server(t: &TestApp, rg: &str, name: &str, max: u32, labels: Value, location: &str) {
    let mut body = create_body(rg, name);
    body["maxSessions"] = json!(max);
    body["labels"] = labels;
    body["containerGroup"]["location"] = json!(location);
    let (s, v) = t.post("/api/Create", &body).await;
    assert_eq!(s, StatusCode::ACCEPTED, "{v}");
    t.wait_state(rg, name, "Running").await;
}

async fn allocate(t: &TestApp, body: Value) -> (StatusCode, Value) {
    t.post("/api/Allocate", &body).await
}

fn listed(list: &Value, name: &str) -> Value {
    list.as_array()
        .and_then(|a| a.iter().find(|g| g["containerGroupName"] == name))
        .cloned()
        .unwrap_or_else(|| panic!("{name} not listed: {list}"))
}

#[tokio::test]
async fn allocate_reserves_free_slots_once_per_request_and_list_shows_them() {
    let t = TestApp::spawn().await;
    server(&t, "arena", "a1", 4, json!({"mode": "ctf"}), "westeurope").await;
    server(&t, "arena", "a2", 4, json!({"mode": "ctf"}), "westeurope").await;

    let (s, v) = allocate(&t, json!({"requestId": "match-1", "players": 3})).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let first = v["containerGroupName"].as_str().unwrap().to_owned();
    assert_eq!(
        (v["reserved"].as_u64(), v["requestId"].as_str()),
        (Some(3), Some("match-1"))
    );
    assert_eq!(
        v["ports"],
        json!([{"protocol": "UDP", "port": 8303}]),
        "{v}"
    );
    assert!(
        v["publicIp"].is_string() && v["reservationExpiresAt"].is_string(),
        "{v}"
    );

    // The same request again: the same server, nothing more reserved.
    let (s, again) = allocate(&t, json!({"requestId": "match-1", "players": 3})).await;
    assert_eq!(
        (s, again["containerGroupName"].as_str()),
        (StatusCode::OK, Some(first.as_str()))
    );
    let (_, list) = t.get("/api/List").await;
    let row = listed(&list, &first);
    assert_eq!(
        (row["reserved"].as_u64(), row["maxSessions"].as_u64()),
        (Some(3), Some(4)),
        "{row}"
    );
    assert_eq!(row["labels"], json!({"mode": "ctf"}));

    // Packed: 1 free on the first, 4 on the other → 3 players go to the other.
    let (s, v) = allocate(&t, json!({"requestId": "match-2", "players": 3})).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_ne!(
        v["containerGroupName"].as_str(),
        Some(first.as_str()),
        "{v}"
    );
    // 1 + 1 left: 2 players fit nowhere.
    let r = t
        .http
        .post(format!("{}/api/Allocate", t.base))
        .json(&json!({"requestId": "match-3", "players": 2}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(r.headers().get("retry-after").is_some());
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"]["code"], "NoCapacity", "{v}");
    // One player still fits, on the fullest server (Packed).
    let (s, v) = allocate(&t, json!({"requestId": "match-4"})).await;
    assert_eq!(
        (s, v["reserved"].as_u64()),
        (StatusCode::OK, Some(1)),
        "{v}"
    );
}

#[tokio::test]
async fn labels_regions_and_strategy_choose_the_server() {
    let t = TestApp::spawn().await;
    server(
        &t,
        "arena",
        "ctf-we",
        10,
        json!({"mode": "ctf"}),
        "westeurope",
    )
    .await;
    server(
        &t,
        "arena",
        "dm-we",
        10,
        json!({"mode": "dm"}),
        "westeurope",
    )
    .await;
    server(&t, "arena", "ctf-us", 10, json!({"mode": "ctf"}), "eastus").await;
    t.set_sessions(&[("arena", "ctf-we", 6)]).await;

    let pick = |body: Value| {
        let t = &t;
        async move {
            let (s, v) = allocate(t, body).await;
            assert_eq!(s, StatusCode::OK, "{v}");
            v["containerGroupName"].as_str().unwrap().to_owned()
        }
    };
    assert_eq!(
        pick(json!({"requestId": "l1", "labels": {"mode": "dm"}})).await,
        "dm-we"
    );
    assert_eq!(
        pick(json!({"requestId": "r1", "regions": ["eastus", "westeurope"], "labels": {"mode": "ctf"}})).await,
        "ctf-us",
        "the first preferred region wins"
    );
    // ctf-we has 4 free, ctf-us 9 (one reserved above): Packed → ctf-we, Distributed → ctf-us.
    assert_eq!(
        pick(json!({"requestId": "p1", "labels": {"mode": "ctf"}})).await,
        "ctf-we"
    );
    assert_eq!(
        pick(json!({"requestId": "d1", "labels": {"mode": "ctf"}, "strategy": "Distributed"}))
            .await,
        "ctf-us"
    );
    // A marked server is never handed out.
    t.set_state("arena", "dm-we", "MarkedForDeletion").await;
    let (s, v) = allocate(&t, json!({"requestId": "l2", "labels": {"mode": "dm"}})).await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (StatusCode::SERVICE_UNAVAILABLE, Some("NoCapacity"))
    );
}

#[tokio::test]
async fn a_reservation_keeps_a_marked_server_from_gc_until_it_expires() {
    let t = TestApp::spawn_with(Options {
        env: vec![("ALLOCATION_TTL".into(), "1s".into())],
        ..Default::default()
    })
    .await;
    server(&t, "arena", "held", 8, json!({}), "westeurope").await;
    let (s, v) = allocate(&t, json!({"requestId": "late-players", "players": 2})).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let (s, v) = t.set_state("arena", "held", "MarkedForDeletion").await;
    assert_eq!(
        s,
        StatusCode::OK,
        "marking a reserved server is allowed: {v}"
    );
    let (_, report) = t.gc().await;
    assert_eq!(report["deleted"], 0, "{report}");
    assert!(
        t.sim.group("arena", "held").is_some(),
        "kept in ARM while reserved"
    );
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let (_, list) = t.get("/api/List?state=all").await;
    assert_eq!(listed(&list, "held")["reserved"], 0, "expired: {list}");
    let (_, report) = t.gc().await;
    assert_eq!(report["deleted"], 1, "{report}");
    assert!(t.sim.group("arena", "held").is_none());
}

#[tokio::test]
async fn delete_without_force_refuses_a_reserved_server_and_force_deletes_it() {
    let t = TestApp::spawn().await;
    server(&t, "arena", "promised", 8, json!({}), "westeurope").await;
    let (s, v) = allocate(&t, json!({"requestId": "on-their-way", "players": 2})).await;
    assert_eq!(s, StatusCode::OK, "{v}");

    let key = json!({"resourceGroup": "arena", "containerGroupName": "promised"});
    let (s, v) = t.post("/api/Delete", &key).await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (StatusCode::CONFLICT, Some("GroupHasSessions")),
        "{v}"
    );
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("2 reserved slots"),
        "{v}"
    );
    assert!(
        t.sim.group("arena", "promised").is_some(),
        "nothing sent to ARM"
    );
    assert_eq!(
        t.row("arena", "promised").await.unwrap().state.to_string(),
        "Running"
    );

    let mut force = key.clone();
    force["force"] = json!(true);
    let (s, v) = t.post("/api/Delete", &force).await;
    assert!(s == StatusCode::OK || s == StatusCode::ACCEPTED, "{s} {v}");
    assert!(t.sim.group("arena", "promised").is_none());
}

#[tokio::test]
async fn bad_allocations_are_refused_naming_the_field_and_reserve_nothing() {
    let t = TestApp::spawn().await;
    server(&t, "arena", "only", 4, json!({}), "westeurope").await;
    for (body, field) in [
        (json!({"players": 1}), "requestId"),
        (json!({"requestId": "x", "players": 0}), "players"),
        (
            json!({"requestId": "x", "regions": ["not a region!"]}),
            "regions",
        ),
        (json!({"requestId": "x", "labels": ["ctf"]}), "labels"),
        (json!({"requestId": "x", "strategy": "Random"}), "strategy"),
        (json!({"requestId": "x", "playerz": 1}), "body"),
    ] {
        let (s, v) = allocate(&t, body.clone()).await;
        assert_eq!(
            (s, v["error"]["code"].as_str()),
            (StatusCode::BAD_REQUEST, Some("InvalidAllocation")),
            "{body}: {v}"
        );
        assert!(
            v["error"]["message"]
                .as_str()
                .is_some_and(|m| m.starts_with(field)),
            "{body}: {v}"
        );
    }
    let mut bad = create_body("arena", "bad-max");
    bad["maxSessions"] = json!(-1);
    let (s, _) = t.post("/api/Create", &bad).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert!(
        t.sim.group("arena", "bad-max").is_none(),
        "nothing sent to ARM"
    );
    let (_, list) = t.get("/api/List").await;
    assert_eq!(listed(&list, "only")["reserved"], 0, "{list}");
}

#[tokio::test]
async fn racing_allocators_on_two_instances_never_hand_out_a_slot_twice() {
    let a = TestApp::spawn().await;
    let b = TestApp::spawn_sharing(&a).await;
    for i in 0..5 {
        server(&a, "arena", &format!("s{i}"), 10, json!({}), "westeurope").await;
    }
    // 80 requests for 50 slots, half on each instance, all at once.
    let calls = (0..80).map(|i| {
        let t = if i % 2 == 0 { &a } else { &b };
        let body = json!({"requestId": format!("req-{i}"), "players": 1,
                          "strategy": if i % 3 == 0 { "Distributed" } else { "Packed" }});
        async move { (i, allocate(t, body).await) }
    });
    let results = futures::future::join_all(calls).await;
    let mut granted: HashMap<String, String> = HashMap::new();
    let mut refused = 0;
    for (i, (s, v)) in &results {
        match *s {
            StatusCode::OK => {
                granted.insert(
                    format!("req-{i}"),
                    v["containerGroupName"].as_str().unwrap().to_owned(),
                );
            }
            StatusCode::SERVICE_UNAVAILABLE => refused += 1,
            other => panic!("req-{i}: {other} {v}"),
        }
    }
    // Retry the refused ones until the fleet is full: contention is not "full".
    for i in 0..80 {
        let id = format!("req-{i}");
        if granted.contains_key(&id) {
            continue;
        }
        let (s, v) = allocate(&a, json!({"requestId": id, "players": 1})).await;
        if s == StatusCode::OK {
            granted.insert(id, v["containerGroupName"].as_str().unwrap().to_owned());
        } else {
            assert_eq!(v["error"]["code"], "NoCapacity", "{v}");
        }
    }
    assert_eq!(
        granted.len(),
        50,
        "every slot handed out once: {refused} refused in the race"
    );
    // The table agrees: each server holds exactly 10, each request once.
    let (_, list) = a.get("/api/List").await;
    let mut per_server: HashMap<String, u64> = HashMap::new();
    for name in granted.values() {
        *per_server.entry(name.clone()).or_default() += 1;
    }
    for i in 0..5 {
        let name = format!("s{i}");
        let row = listed(&list, &name);
        assert_eq!(row["reserved"].as_u64(), Some(10), "{row}");
        assert_eq!(per_server.get(&name), Some(&10), "{per_server:?}");
    }
}

#[tokio::test]
async fn one_request_id_sent_to_two_instances_at_once_reserves_once() {
    let a = TestApp::spawn().await;
    let b = TestApp::spawn_sharing(&a).await;
    for i in 0..4 {
        server(&a, "arena", &format!("s{i}"), 4, json!({}), "westeurope").await;
    }
    // Both instances have read the servers (their snapshots know no reservation).
    for t in [&a, &b] {
        let (s, v) = allocate(t, json!({"requestId": "warm", "players": 1})).await;
        assert_eq!(s, StatusCode::OK, "{v}");
    }
    // 4 servers × 4 slots: 7 rounds of 2 players fit (one slot went to "warm" twice).
    for round in 0..7 {
        let id = format!("twice-{round}");
        let body = json!({"requestId": id, "players": 2, "strategy": "Distributed"});
        let ((sa, va), (sb, vb)) = tokio::join!(allocate(&a, body.clone()), allocate(&b, body));
        assert_eq!((sa, sb), (StatusCode::OK, StatusCode::OK), "{va} {vb}");
        assert_eq!(
            va["containerGroupName"], vb["containerGroupName"],
            "{va} {vb}"
        );
        // Reserved on that one server only, once.
        let (_, list) = a.get("/api/List?resourceGroup=arena").await;
        let holding: Vec<&Value> = list
            .as_array()
            .unwrap()
            .iter()
            .filter(|g| {
                let row = g["containerGroupName"].as_str().unwrap();
                row == va["containerGroupName"].as_str().unwrap()
            })
            .collect();
        assert_eq!(holding.len(), 1);
        let mut total = 0;
        for name in ["s0", "s1", "s2", "s3"] {
            let r = a.row("arena", name).await.unwrap();
            total += r
                .capacity
                .reservations
                .iter()
                .filter(|x| x.request_id == id)
                .map(|x| x.players)
                .sum::<u32>();
        }
        assert_eq!(total, 2, "{id} reserved {total} players in all");
    }
}

async fn reserved(t: &TestApp, name: &str) -> (u64, u64) {
    let (_, list) = t.get("/api/List?resourceGroup=arena").await;
    let g = listed(&list, name);
    (
        g["activeSessions"].as_u64().unwrap(),
        g["reserved"].as_u64().unwrap(),
    )
}

#[tokio::test]
async fn the_servers_own_report_confirms_the_oldest_reservations_its_rise_covers() {
    let t = TestApp::spawn().await;
    server(&t, "arena", "c1", 8, json!({}), "westeurope").await;
    for (id, players) in [("r1", 2), ("r2", 3)] {
        let (s, v) = allocate(&t, json!({"requestId": id, "players": players})).await;
        assert_eq!(s, StatusCode::OK, "{v}");
    }
    assert_eq!(reserved(&t, "c1").await, (0, 5));
    // r1's two players arrived: the server says 2.
    t.report("arena", "c1", 2).await;
    assert_eq!(
        reserved(&t, "c1").await,
        (2, 3),
        "r1 confirmed, r2 still held"
    );
    // The matchmaker's own count confirms nothing.
    let (s, v) = t.set_sessions(&[("arena", "c1", 5)]).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(reserved(&t, "c1").await, (5, 3));
    // A rise of 1 does not cover r2's 3 players.
    t.report("arena", "c1", 6).await;
    assert_eq!(reserved(&t, "c1").await, (6, 3));
    t.report("arena", "c1", 0).await;
    t.report("arena", "c1", 3).await;
    assert_eq!(reserved(&t, "c1").await, (3, 0), "r2 confirmed");
    // r1 again, after its players joined: the same server, nothing reserved anew.
    let (s, v) = allocate(&t, json!({"requestId": "r1", "players": 2})).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(
        (v["containerGroupName"].as_str(), v["reserved"].as_u64()),
        (Some("c1"), Some(2)),
        "{v}"
    );
    assert_eq!(reserved(&t, "c1").await, (3, 0));
}
