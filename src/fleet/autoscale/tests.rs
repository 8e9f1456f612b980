use super::*;
use crate::fleet::allocation::Reservation;
use crate::fleet::ActiveSessions;
use serde_json::json;

fn t(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

const NOW: &str = "2026-12-02T12:00:00Z";

fn body(buffer: Value) -> Value {
    json!({
        "name": "arena", "resourceGroup": "games", "location": "westeurope",
        "containerGroup": {"properties": {"osType": "Linux", "containers": [{"name": "game",
            "properties": {"image": "openarena:1", "resources": {"requests": {"cpu": 1, "memoryInGB": 1.5}},
            "ports": [{"port": 27960, "protocol": "UDP"}]}}],
            "ipAddress": {"type": "Public", "ports": [{"port": 27960, "protocol": "UDP"}]}}},
        "maxSessions": 10, "labels": {"mode": "ctf"},
        "min": 1, "max": 6, "buffer": buffer, "cooldown": "5m"
    })
}

fn fleet(buffer: Value) -> Fleet {
    Fleet::parse(&body(buffer)).unwrap()
}

/// A server of the fleet `arena` created `age_min` minutes before NOW.
fn server(name: &str, state: GroupState, sessions: u32, age_min: i64) -> GroupRecord {
    let key = GroupKey::new(
        ResourceGroup::parse("games").unwrap(),
        ContainerGroupName::parse(name).unwrap(),
    );
    let mut r = GroupRecord::creating(
        key,
        "westeurope".into(),
        t(NOW) - chrono::Duration::minutes(age_min),
    );
    r.state = state;
    r.active_sessions = ActiveSessions::new(sessions).unwrap();
    r.capacity.max_sessions = Some(10);
    r.capacity.labels.insert(FLEET_LABEL.into(), "arena".into());
    r
}

fn census(f: &Fleet, servers: &[GroupRecord]) -> Census {
    Census::of(f, servers, t(NOW), Some(Duration::from_secs(60)))
}

fn names(keys: &[GroupKey]) -> Vec<&str> {
    keys.iter().map(|k| k.name.as_str()).collect()
}

#[test]
fn a_definition_reads_back_as_it_was_written() {
    let f = fleet(json!({"slots": "25%"}));
    assert_eq!(f.labels.get("fleet").map(String::as_str), Some("arena"));
    assert_eq!(f.cooldown, Duration::from_secs(300));
    assert_eq!(f.spec.location(), "westeurope");
    let again = Fleet::parse(&f.to_json()).unwrap();
    assert_eq!(again, f);
    assert_eq!(f.to_json()["buffer"], json!({"slots": "25%"}));
    assert_eq!(f.to_json()["labels"], json!({"mode": "ctf"}));
}

#[test]
fn bad_definitions_name_the_field() {
    let cases = [
        (json!({"name": "Arena"}), "name"),
        (json!({"name": "a-"}), "name"),
        (json!({"resourceGroup": ""}), "resourceGroup"),
        (json!({"min": 7}), "min"),
        (json!({"max": 5001}), "max"),
        (json!({"max": -1}), "max"),
        (json!({"buffer": {"slots": "100%"}}), "buffer"),
        (json!({"buffer": {"slots": 1, "servers": 1}}), "buffer"),
        (json!({"buffer": {"players": 1}}), "buffer"),
        (json!({"buffer": 3}), "buffer"),
        (
            json!({"maxSessions": null, "buffer": {"slots": 4}}),
            "buffer",
        ),
        (json!({"labels": {"fleet": "other"}}), "labels"),
        (json!({"cooldown": "soon"}), "cooldown"),
        (json!({"location": "eastus"}), "location"),
        (
            json!({"containerGroup": {"properties": {}}}),
            "containerGroup",
        ),
        (json!({"replicas": 3}), "body"),
    ];
    for (patch, field) in cases {
        let mut b = body(json!({"servers": 1}));
        for (k, v) in patch.as_object().unwrap() {
            b[k] = v.clone();
        }
        if patch.get("location").is_some() {
            b["containerGroup"]["location"] = json!("westeurope");
        }
        let e = Fleet::parse(&b).expect_err(&patch.to_string());
        assert_eq!(e.field, field, "{patch}: {e}");
    }
    // Servers without a slot limit can keep a buffer of servers.
    let mut b = body(json!({"servers": "50%"}));
    b.as_object_mut().unwrap().remove("maxSessions");
    assert_eq!(Fleet::parse(&b).unwrap().max_sessions, None);
}

#[test]
fn server_names_are_the_fleet_and_a_random_suffix() {
    let f = fleet(json!({"servers": 1}));
    let mut rng = fastrand::Rng::with_seed(7);
    let a = f.name.server_name(&mut rng).unwrap();
    let b = f.name.server_name(&mut rng).unwrap();
    assert!(a.as_str().starts_with("arena-") && a.as_str().len() == "arena-".len() + 8);
    assert_ne!(a, b);
    let long = FleetName::parse(&"a".repeat(MAX_FLEET_NAME)).unwrap();
    assert!(long.server_name(&mut rng).is_ok());
}

#[test]
fn an_empty_fleet_creates_min_and_the_buffer() {
    let f = fleet(json!({"servers": 2}));
    let c = census(&f, &[]);
    let p = plan(&f, &c, &FleetStatus::default(), t(NOW));
    assert_eq!((p.desired, p.create), (2, 2));
    // Servers being created count as ready: the next tick creates nothing more.
    let c = census(
        &f,
        &[
            server("arena-a", GroupState::Creating, 0, 0),
            server("arena-b", GroupState::Creating, 0, 0),
        ],
    );
    let p = plan(&f, &c, &FleetStatus::default(), t(NOW));
    assert_eq!((p.desired, p.create, p.mark.len()), (2, 0, 0));
}

#[test]
fn a_buffer_of_servers_follows_the_busy_ones_up_to_max() {
    let f = fleet(json!({"servers": 2}));
    let busy: Vec<_> = (0..3)
        .map(|i| server(&format!("arena-b{i}"), GroupState::Running, 4, 30))
        .collect();
    let p = plan(&f, &census(&f, &busy), &FleetStatus::default(), t(NOW));
    assert_eq!((p.desired, p.create), (5, 2));
    let more: Vec<_> = (0..5)
        .map(|i| server(&format!("arena-b{i}"), GroupState::Running, 4, 30))
        .collect();
    let p = plan(&f, &census(&f, &more), &FleetStatus::default(), t(NOW));
    assert_eq!((p.desired, p.create, p.limited_by), (6, 1, Some("max")));
}

#[test]
fn a_reservation_makes_a_server_busy() {
    let f = fleet(json!({"servers": 1}));
    let mut r = server("arena-a", GroupState::Running, 0, 30);
    r.capacity.reservations.push(Reservation {
        request_id: "m1".into(),
        players: 2,
        expires_at: t(NOW) + chrono::Duration::seconds(30),
    });
    let c = census(&f, &[r]);
    assert_eq!((c.busy, c.used_slots, c.free_slots), (1, 2, 8));
    assert_eq!(plan(&f, &c, &FleetStatus::default(), t(NOW)).create, 1);
}

#[test]
fn marked_servers_that_still_run_are_taken_back_before_creating() {
    let f = fleet(json!({"servers": 3}));
    let servers = [
        server("arena-a", GroupState::Running, 5, 30),
        server("arena-m1", GroupState::MarkedForDeletion, 0, 30),
        server("arena-m2", GroupState::MarkedForDeletion, 3, 30),
        server("arena-f", GroupState::Failed, 0, 30),
    ];
    let c = census(&f, &servers);
    assert_eq!((c.in_service, c.marked), (1, 2));
    let p = plan(&f, &c, &FleetStatus::default(), t(NOW));
    // Busy 1 + 3 ready: the empty marked one comes back, two are created;
    // the marked one with players would add no ready server.
    assert_eq!(names(&p.unmark), ["arena-m1"]);
    assert_eq!(p.create, 2);
}

#[test]
fn after_a_failed_create_only_unmarking_happens_until_the_backoff_ends() {
    let f = fleet(json!({"servers": 3}));
    let servers = [server("arena-m1", GroupState::MarkedForDeletion, 0, 30)];
    let status = FleetStatus {
        create_failures: 2,
        backoff_until: Some(t(NOW) + chrono::Duration::seconds(10)),
        ..FleetStatus::default()
    };
    let p = plan(&f, &census(&f, &servers), &status, t(NOW));
    assert_eq!(
        (names(&p.unmark), p.create, p.limited_by),
        (vec!["arena-m1"], 0, Some("backoff"))
    );
    let later = plan(
        &f,
        &census(&f, &servers),
        &status,
        t(NOW) + chrono::Duration::seconds(11),
    );
    assert_eq!(later.create, 2);
    assert_eq!(FleetStatus::backoff(1), Duration::from_secs(30));
    assert_eq!(FleetStatus::backoff(3), Duration::from_secs(120));
    assert_eq!(FleetStatus::backoff(40), MAX_BACKOFF);
}

#[test]
fn surplus_idle_servers_are_marked_newest_first_after_the_cooldown_never_below_min() {
    let f = fleet(json!({"servers": 1}));
    let servers = [
        server("arena-old", GroupState::Running, 0, 300),
        server("arena-mid", GroupState::Running, 0, 200),
        server("arena-new", GroupState::Running, 0, 100),
        server("arena-busy", GroupState::Running, 2, 400),
    ];
    let c = census(&f, &servers);
    let recent = FleetStatus {
        last_scale_up: Some(t(NOW) - chrono::Duration::minutes(4)),
        ..FleetStatus::default()
    };
    let p = plan(&f, &c, &recent, t(NOW));
    assert_eq!((p.mark.len(), p.limited_by), (0, Some("cooldown")));
    let cooled = FleetStatus {
        last_scale_up: Some(t(NOW) - chrono::Duration::minutes(6)),
        ..FleetStatus::default()
    };
    let p = plan(&f, &c, &cooled, t(NOW));
    assert_eq!(p.desired, 2);
    assert_eq!(names(&p.mark), ["arena-new", "arena-mid"]);

    // min holds even with nobody playing.
    let mut f3 = fleet(json!({"servers": 0}));
    f3.min = 2;
    let idle = &servers[..3];
    let p = plan(&f3, &census(&f3, idle), &FleetStatus::default(), t(NOW));
    assert_eq!((p.desired, p.mark.len()), (2, 1));
}

#[test]
fn a_buffer_of_slots_counts_free_slots_and_percentages_follow_the_load() {
    // 10 slots per server; 32 free wanted.
    let f = fleet(json!({"slots": 32}));
    let servers = [
        server("arena-a", GroupState::Running, 9, 30),
        server("arena-b", GroupState::Running, 5, 30),
    ];
    let c = census(&f, &servers);
    assert_eq!((c.used_slots, c.free_slots), (14, 6));
    let p = plan(&f, &c, &FleetStatus::default(), t(NOW));
    assert_eq!(p.create, 3, "26 slots missing: 3 servers");

    // 25 %: free/(used+free) ≥ 0.25 → 14 used wants 5 free: 6 is enough.
    let f = fleet(json!({"slots": "25%"}));
    let p = plan(&f, &census(&f, &servers), &FleetStatus::default(), t(NOW));
    assert_eq!((p.desired, p.create, p.mark.len()), (2, 0, 0));
    // 80 %: wants 56 free.
    let mut f = fleet(json!({"slots": "80%"}));
    f.max = 100;
    let p = plan(&f, &census(&f, &servers), &FleetStatus::default(), t(NOW));
    assert_eq!(p.create, 5);
}

#[test]
fn unhealthy_servers_are_replaced_and_do_not_count_towards_max() {
    let mut f = fleet(json!({"servers": 1}));
    f.max = 2;
    let mut sick = server("arena-sick", GroupState::Running, 0, 30);
    sick.capacity.heartbeat_at = Some(t(NOW) - chrono::Duration::minutes(5));
    let mut well = server("arena-well", GroupState::Running, 3, 30);
    well.capacity.heartbeat_at = Some(t(NOW));
    let c = census(&f, &[sick, well]);
    assert_eq!((c.in_service, c.unhealthy, c.busy), (1, 1, 1));
    let p = plan(&f, &c, &FleetStatus::default(), t(NOW));
    assert_eq!(p.create, 1);
}

#[test]
fn servers_of_other_fleets_and_groups_are_not_counted() {
    let f = fleet(json!({"servers": 1}));
    let mut other = server("arena-x", GroupState::Running, 0, 30);
    other
        .capacity
        .labels
        .insert(FLEET_LABEL.into(), "other".into());
    let mut plain = server("arena-y", GroupState::Running, 0, 30);
    plain.capacity.labels.clear();
    let c = census(&f, &[other, plain]);
    assert_eq!(c, Census::default());
}
