//! Fleets through `/api/Fleets` and the Autoscale timer (`autoscale` with an
//! injected clock, and `POST /Autoscale` as the host fires it), against
//! Azurite and the ARM simulator: the buffer is kept ready, marked servers are
//! taken back before anything is created, surplus is marked after the
//! cooldown, a failed Create backs off and is never counted, two instances
//! never scale one fleet at once, a burst is paced by ARM's write limit, and
//! bad definitions change nothing.

use crate::helpers::*;
use chrono::{DateTime, Duration, Utc};
use gamefleet_sim::{FaultRule, Op, SimConfig, TokenBucket};
use reqwest::StatusCode;
use serde_json::{json, Value};

fn fleet_body(name: &str, rg: &str, min: u32, max: u32, buffer: Value) -> Value {
    let mut cg = create_body(rg, "unused")["containerGroup"].clone();
    cg.as_object_mut().unwrap().remove("location");
    json!({
        "name": name, "resourceGroup": rg, "location": "westeurope",
        "containerGroup": cg, "maxSessions": 8, "labels": {"mode": "ctf"},
        "min": min, "max": max, "buffer": buffer, "cooldown": "1m"
    })
}

async fn put(t: &TestApp, body: &Value) -> Value {
    let (s, v) = t.post("/api/Fleets", body).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    v
}

/// The fleet's servers in the table, by state.
async fn servers(t: &TestApp, rg: &str, fleet: &str) -> Vec<(String, String)> {
    let (s, v) = t
        .get(&format!("/api/List?resourceGroup={rg}&state=all"))
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let mut out: Vec<(String, String)> = v
        .as_array()
        .unwrap()
        .iter()
        .filter(|g| g["labels"]["fleet"] == fleet)
        .map(|g| {
            (
                g["containerGroupName"].as_str().unwrap().to_owned(),
                g["state"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    out.sort();
    out
}

async fn wait_all_running(t: &TestApp, rg: &str, fleet: &str, n: usize) -> Vec<String> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        // Failed rows (a refused Create) are no server.
        let mut s = servers(t, rg, fleet).await;
        s.retain(|(_, st)| st != "Failed");
        if s.len() == n && s.iter().all(|(_, st)| st == "Running") {
            return s.into_iter().map(|(n, _)| n).collect();
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{fleet}: not {n} Running: {s:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

fn run<'a>(
    report: &'a gamefleet::ops::fleets::AutoscaleReport,
    fleet: &str,
) -> &'a gamefleet::ops::fleets::FleetRun {
    report
        .runs
        .iter()
        .find(|r| r.fleet == fleet)
        .unwrap_or_else(|| panic!("no run of {fleet} in {report:?}"))
}

#[tokio::test]
async fn a_fleet_made_over_http_keeps_its_buffer_ready_and_allocate_finds_it() {
    let t = TestApp::spawn().await;
    let v = put(
        &t,
        &fleet_body("arena", "games", 1, 5, json!({"servers": 2})),
    )
    .await;
    assert_eq!(v["name"], "arena");
    assert_eq!(v["buffer"], json!({"servers": 2}));
    assert_eq!(v["status"]["servers"]["inService"], 0, "{v}");
    assert_eq!(v["status"]["desired"], 2, "{v}");

    // The host's timer: two servers, tagged, labelled, with the fleet's slots.
    let env = gamefleet_sim::events::timer_envelope("timer", false);
    let r = gamefleet_sim::host::invoke(&t.http, &t.base, "Autoscale", &env)
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let rv: Value = r.json().await.unwrap();
    assert_eq!(rv["ReturnValue"]["runs"][0]["created"], 2, "{rv}");
    let names = wait_all_running(&t, "games", "arena", 2).await;
    for n in &names {
        assert!(n.starts_with("arena-"), "{n}");
        let g = t.sim.group("games", n).unwrap();
        assert_eq!(g["tags"]["managed-by"], "gamefleet", "{g}");
        let row = t.row("games", n).await.unwrap();
        assert_eq!(row.capacity.max_sessions, Some(8));
        assert_eq!(
            row.capacity.labels.get("mode").map(String::as_str),
            Some("ctf")
        );
    }
    // Steady: nothing more.
    let r = t.app.autoscale(Utc::now()).await.unwrap();
    assert_eq!(
        (run(&r, "arena").result, run(&r, "arena").created),
        ("steady", 0)
    );

    // A matchmaker asks for the fleet by its label; the server it got is busy now.
    let (s, a) = t
        .post(
            "/api/Allocate",
            &json!({"requestId": "m-1", "players": 3, "labels": {"fleet": "arena"}}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{a}");
    let r = t.app.autoscale(Utc::now()).await.unwrap();
    assert_eq!(run(&r, "arena").created, 1, "1 busy + 2 ready: {r:?}");
    wait_all_running(&t, "games", "arena", 3).await;

    let (s, v) = t.get("/api/Fleets?name=arena").await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["status"]["servers"]["inService"], 3, "{v}");
    assert_eq!(v["status"]["servers"]["busy"], 1, "{v}");
    assert_eq!(v["status"]["lastRun"]["created"], 1, "{v}");
    let (s, all) = t.get("/api/Fleets").await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(all.as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn surplus_is_marked_after_the_cooldown_and_taken_back_before_anything_is_created() {
    let t = TestApp::spawn().await;
    put(&t, &fleet_body("dm", "games", 0, 6, json!({"servers": 3}))).await;
    let t0 = Utc::now();
    assert_eq!(run(&t.app.autoscale(t0).await.unwrap(), "dm").created, 3);
    wait_all_running(&t, "games", "dm", 3).await;

    // Demand drops: within the cooldown nothing is marked.
    put(&t, &fleet_body("dm", "games", 0, 6, json!({"servers": 1}))).await;
    let r = t.app.autoscale(t0 + Duration::seconds(20)).await.unwrap();
    assert_eq!(
        (run(&r, "dm").marked, run(&r, "dm").limited_by),
        (0, Some("cooldown"))
    );
    let r = t.app.autoscale(t0 + Duration::seconds(61)).await.unwrap();
    assert_eq!(run(&r, "dm").marked, 2, "{r:?}");
    let states: Vec<String> = servers(&t, "games", "dm")
        .await
        .into_iter()
        .map(|(_, s)| s)
        .collect();
    assert_eq!(
        states.iter().filter(|s| *s == "MarkedForDeletion").count(),
        2,
        "{states:?}"
    );

    // Demand is back before GC ran: the marked servers come back, no PUT is sent.
    let puts = t.sim.count(Op::Put);
    put(&t, &fleet_body("dm", "games", 0, 6, json!({"servers": 3}))).await;
    let r = t.app.autoscale(t0 + Duration::seconds(70)).await.unwrap();
    assert_eq!(
        (run(&r, "dm").unmarked, run(&r, "dm").created),
        (2, 0),
        "{r:?}"
    );
    assert_eq!(t.sim.count(Op::Put), puts);
    wait_all_running(&t, "games", "dm", 3).await;
}

#[tokio::test]
async fn a_marked_server_with_players_is_drained_by_gc_only_when_empty_and_the_fleet_never_goes_below_min(
) {
    let t = TestApp::spawn().await;
    put(&t, &fleet_body("ctf", "games", 2, 4, json!({"servers": 0}))).await;
    let t0 = Utc::now();
    assert_eq!(run(&t.app.autoscale(t0).await.unwrap(), "ctf").created, 2);
    let names = wait_all_running(&t, "games", "ctf", 2).await;
    // Idle at min: nothing is marked, however long.
    let r = t.app.autoscale(t0 + Duration::hours(5)).await.unwrap();
    assert_eq!(run(&r, "ctf").marked, 0, "{r:?}");
    // A player joins one; the other is marked by hand; GC leaves the busy one.
    let (s, v) = t.set_sessions(&[("games", &names[0], 4)]).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let (s, v) = t.set_state("games", &names[0], "MarkedForDeletion").await;
    assert_eq!(s, StatusCode::OK, "{v}");
    // Below min now (the marked one does not count): a new server, not the busy one back.
    let r = t.app.autoscale(t0 + Duration::hours(5)).await.unwrap();
    assert_eq!(
        (run(&r, "ctf").created, run(&r, "ctf").unmarked),
        (1, 0),
        "{r:?}"
    );
    let (s, gc) = t.gc().await;
    assert_eq!(s, StatusCode::OK, "{gc}");
    assert!(
        t.sim.group("games", &names[0]).is_some(),
        "a server with players was deleted"
    );
}

#[tokio::test]
async fn a_failed_create_backs_off_is_reported_and_never_counted_as_done() {
    let t = TestApp::spawn().await;
    put(
        &t,
        &fleet_body("quota", "games", 0, 10, json!({"servers": 5})),
    )
    .await;
    t.sim.fail_next(FaultRule {
        times: 100,
        ..FaultRule::new(
            Op::Put,
            409,
            "ContainerGroupQuotaReached",
            "Resource type 'Microsoft.ContainerInstance/containerGroups' container group quota 'StandardCores' exceeded in region 'westeurope'.",
        )
    });
    let t0 = Utc::now();
    let r = t.app.autoscale(t0).await.unwrap();
    let q = run(&r, "quota");
    assert_eq!(q.result, "failed", "{r:?}");
    assert_eq!(q.created, 0);
    assert!(
        q.failed >= 1 && q.failed <= 8,
        "the first refusal stops the rest: {q:?}"
    );
    assert_eq!(q.failed + q.deferred, 5, "{q:?}");
    assert!(q.errors.iter().any(|e| e.contains("QuotaReached")), "{q:?}");
    let puts = t.sim.count(Op::Put);
    let (_, v) = t.get("/api/Fleets?name=quota").await;
    assert_eq!(v["status"]["createFailures"], 1, "{v}");
    assert!(
        v["status"]["lastError"].as_str().unwrap().contains("quota"),
        "{v}"
    );
    let until: DateTime<Utc> = v["status"]["backoffUntil"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        until > t0 + Duration::seconds(29) && until <= t0 + Duration::seconds(31),
        "{v}"
    );

    // Within the backoff: nothing sent to ARM.
    let r = t.app.autoscale(t0 + Duration::seconds(10)).await.unwrap();
    assert_eq!(run(&r, "quota").limited_by, Some("backoff"), "{r:?}");
    assert_eq!(t.sim.count(Op::Put), puts);
    // The failed rows are no capacity: after the backoff (and the quota raised) five are made.
    t.sim.clear_faults();
    let r = t.app.autoscale(t0 + Duration::seconds(31)).await.unwrap();
    assert_eq!(run(&r, "quota").created, 5, "{r:?}");
    wait_all_running(&t, "games", "quota", 5).await;
    let (_, v) = t.get("/api/Fleets?name=quota").await;
    assert_eq!(v["status"]["createFailures"], 0, "{v}");
    assert!(v["status"].get("backoffUntil").is_none(), "{v}");
}

#[tokio::test]
async fn two_instances_never_scale_one_fleet_at_once() {
    let a = TestApp::spawn().await;
    let b = TestApp::spawn_sharing(&a).await;
    for i in 0..4 {
        put(
            &a,
            &fleet_body(&format!("race{i}"), "games", 0, 20, json!({"servers": 3})),
        )
        .await;
    }
    let now = Utc::now();
    let (ra, rb) = tokio::join!(a.app.autoscale(now), b.app.autoscale(now));
    let (ra, rb) = (ra.unwrap(), rb.unwrap());
    for i in 0..4 {
        let f = format!("race{i}");
        let created = run(&ra, &f).created + run(&rb, &f).created;
        assert_eq!(created, 3, "{f}: {ra:?} {rb:?}");
        let results = [run(&ra, &f).result, run(&rb, &f).result];
        assert!(results.contains(&"skipped"), "{f}: {results:?}");
        assert_eq!(servers(&a, "games", &f).await.len(), 3);
    }
    // The claim is released: the next tick (either instance) is steady.
    let r = b.app.autoscale(now + Duration::seconds(1)).await.unwrap();
    assert!(r.runs.iter().all(|r| r.result == "steady"), "{r:?}");
}

#[tokio::test]
async fn a_burst_of_creates_is_paced_by_arms_write_limit() {
    const BUCKET: TokenBucket = TokenBucket {
        capacity: 10,
        refill_per_sec: 20.0,
    };
    let t = TestApp::spawn_with(Options {
        sim: SimConfig {
            write_bucket: Some(BUCKET),
            ..Options::default().sim
        },
        env: vec![
            ("ARM_WRITE_BURST".into(), "10".into()),
            ("ARM_WRITE_RATE".into(), "20".into()),
        ],
        ..Options::default()
    })
    .await;
    put(
        &t,
        &fleet_body("burst", "games", 0, 60, json!({"servers": 60})),
    )
    .await;
    let mut now = Utc::now();
    let mut created = 0;
    for _ in 0..5 {
        let r = t.app.autoscale(now).await.unwrap();
        let b = run(&r, "burst");
        assert_eq!(b.failed, 0, "{b:?}");
        created += b.created;
        if created == 60 {
            break;
        }
        now += Duration::seconds(30);
    }
    assert_eq!(created, 60);
    let s = servers(&t, "games", "burst").await;
    assert_eq!(s.len(), 60);
    assert!(s.iter().all(|(_, st)| st != "Failed"), "{s:?}");
    // The pacer spends what ARM refills: at most a stray 429 from travel time.
    assert!(
        t.sim.throttled_writes() <= 3,
        "{} 429s",
        t.sim.throttled_writes()
    );
}

#[tokio::test]
async fn deleting_a_fleet_keeps_its_servers_or_drains_them() {
    let t = TestApp::spawn().await;
    put(
        &t,
        &fleet_body("keep", "games", 0, 5, json!({"servers": 1})),
    )
    .await;
    put(
        &t,
        &fleet_body("drain", "games", 0, 5, json!({"servers": 2})),
    )
    .await;
    t.app.autoscale(Utc::now()).await.unwrap();
    wait_all_running(&t, "games", "keep", 1).await;
    let drained = wait_all_running(&t, "games", "drain", 2).await;
    let (s, v) = t.set_sessions(&[("games", &drained[0], 2)]).await;
    assert_eq!(s, StatusCode::OK, "{v}");

    let r = t
        .http
        .delete(format!("{}/api/Fleets?name=keep", t.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let v: Value = r.json().await.unwrap();
    assert_eq!(
        (v["marked"].clone(), v["serversLeft"].clone()),
        (json!(0), json!(1)),
        "{v}"
    );
    let r = t
        .http
        .delete(format!("{}/api/Fleets?name=drain&drain=true", t.base))
        .send()
        .await
        .unwrap();
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["marked"], 2, "{v}");
    assert!(servers(&t, "games", "drain")
        .await
        .iter()
        .all(|(_, s)| s == "MarkedForDeletion"));
    // GC takes the empty one, keeps the one with players; the kept fleet's server runs on.
    let (s, gc) = t.gc().await;
    assert_eq!(s, StatusCode::OK, "{gc}");
    assert!(t.sim.group("games", &drained[0]).is_some());
    assert!(t.sim.group("games", &drained[1]).is_none(), "{gc}");
    assert_eq!(servers(&t, "games", "keep").await.len(), 1);
    let (_, all) = t.get("/api/Fleets").await;
    assert_eq!(all, json!([]));
    // The next tick has no fleet to scale.
    assert_eq!(t.app.autoscale(Utc::now()).await.unwrap().fleets, 0);
}

#[tokio::test]
async fn bad_fleets_are_refused_with_the_field_and_nothing_is_stored_or_sent() {
    let t = TestApp::spawn().await;
    let cases = [
        ("name", json!("Bad_Name")),
        ("min", json!(9)),
        ("buffer", json!({"slots": "150%"})),
        ("containerGroup", json!({"containers": []})),
        ("labels", json!({"fleet": "someone-else"})),
        ("cooldown", json!("later")),
    ];
    for (field, value) in cases {
        let mut b = fleet_body("ok", "games", 0, 5, json!({"servers": 1}));
        b[field] = value;
        let (s, v) = t.post("/api/Fleets", &b).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{field}: {v}");
        assert_eq!(v["error"]["code"], "InvalidFleet", "{v}");
        assert!(
            v["error"]["message"].as_str().unwrap().starts_with(field),
            "{field}: {v}"
        );
    }
    let (s, v) = t
        .http
        .post(format!("{}/api/Fleets", t.base))
        .body("{not json")
        .send()
        .await
        .map(|r| (r.status(), r))
        .unwrap();
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let body: Value = v.json().await.unwrap();
    assert!(body["error"]["code"].is_string(), "{body}");

    let (s, v) = t.get("/api/Fleets?name=nope").await;
    assert_eq!(
        (s, v["error"]["code"].clone()),
        (StatusCode::NOT_FOUND, json!("FleetNotFound"))
    );
    let r = t
        .http
        .delete(format!("{}/api/Fleets", t.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let r = t
        .http
        .delete(format!("{}/api/Fleets?name=ok&drain=maybe", t.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let r = t
        .http
        .put(format!("{}/api/Fleets", t.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::METHOD_NOT_ALLOWED);

    let (_, all) = t.get("/api/Fleets").await;
    assert_eq!(all, json!([]));
    assert_eq!(t.app.autoscale(Utc::now()).await.unwrap().fleets, 0);
    assert_eq!(t.sim.count(Op::Put), 0);
}

/// `gamefleet fleets …` as the built binary, on the same table as `t`.
async fn cli(t: &TestApp, args: &[&str], stdin: Option<&str>) -> (i32, String, String) {
    use tokio::io::AsyncWriteExt;
    let azurite = gamefleet_sim::azurite::Azurite::shared().await;
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_gamefleet"))
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .envs(t.sim.gamefleet_env(&azurite.connection_string(), &t.table))
        .env("ARM_WRITE_RATE", "off")
        .arg("fleets")
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    if let Some(s) = stdin {
        input.write_all(s.as_bytes()).await.unwrap();
    }
    drop(input);
    let out = child.wait_with_output().await.unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test]
async fn the_cli_puts_lists_shows_ticks_and_removes_fleets_in_the_functions_table() {
    let t = TestApp::spawn().await;
    let def = fleet_body("cli", "games", 1, 3, json!({"slots": 8})).to_string();
    let (code, out, err) = cli(&t, &["put", "-"], Some(&def)).await;
    assert_eq!(code, 0, "{out}{err}");
    let stored: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(stored["buffer"], json!({"slots": 8}), "{stored}");
    // The functions see what the CLI stored; the CLI's tick creates the server.
    let (_, v) = t.get("/api/Fleets?name=cli").await;
    assert_eq!(v["min"], 1, "{v}");
    let (code, out, err) = cli(&t, &["tick"], None).await;
    assert_eq!(code, 0, "{out}{err}");
    let report: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(report["runs"][0]["created"], 1, "{report}");
    assert_eq!(servers(&t, "games", "cli").await.len(), 1);
    let (code, out, _) = cli(&t, &["list"], None).await;
    assert!(
        code == 0 && out.contains("cli") && out.contains("games"),
        "{out}"
    );
    let (code, out, _) = cli(&t, &["show", "cli"], None).await;
    assert_eq!(code, 0);
    let shown: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(shown["status"]["servers"]["inService"], 1, "{shown}");
    // Mistakes: a bad definition (nothing stored), an unknown name.
    let (code, _, err) = cli(&t, &["put", "-"], Some("{\"name\": \"x\"}")).await;
    assert_ne!(code, 0);
    assert!(
        err.contains("resourceGroup") || err.contains("missing"),
        "{err}"
    );
    let (code, _, err) = cli(&t, &["show", "nope"], None).await;
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("no fleet named"), "{err}");
    let (code, out, err) = cli(&t, &["rm", "cli"], None).await;
    assert_eq!(code, 0, "{out}{err}");
    let (_, all) = t.get("/api/Fleets").await;
    assert_eq!(all, json!([]));
    let (code, _, _) = cli(&t, &["rm", "cli"], None).await;
    assert_eq!(code, 1);
}
