//! Schedules through their HTTP function and `tick` with an injected clock,
//! against Azurite, the ARM simulator and the OCI simulator: the target
//! reaches the state, each fire is sent once across instances, a dead run's
//! claim is taken over once, and bad schedules are refused before anything
//! is stored.

use crate::helpers::*;
use chrono::{DateTime, Duration, Utc};
use gamefleet_sim::Op;
use reqwest::StatusCode;
use serde_json::{json, Value};

fn stop_at(name: &str, cron: &str, zone: &str, resource: Value) -> Value {
    let mut v = json!({"name": name, "cron": cron, "timeZone": zone, "action": "stop",
        "provider": "aci", "pollIntervalSeconds": 0.05, "maxWaitSeconds": 10});
    match resource {
        Value::Array(_) => v["resources"] = resource,
        r => v["resource"] = r,
    }
    v
}

/// The `i`th next fire (UTC) of a stored schedule as the API shows it.
fn next(v: &Value, i: usize) -> DateTime<Utc> {
    let t = v["next"][i]["utc"]
        .as_str()
        .unwrap_or_else(|| panic!("no next[{i}] in {v}"));
    DateTime::parse_from_rfc3339(t).unwrap().with_timezone(&Utc)
}

fn instance_state(t: &TestApp, rg: &str, name: &str) -> String {
    t.sim.group(rg, name).unwrap()["properties"]["instanceView"]["state"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

async fn power(t: &TestApp, action: &str, resource: &str) {
    let (s, v) = t
        .post(
            "/api/Power",
            &json!({"action": action, "provider": "aci", "resource": resource, "pollIntervalSeconds": 0.05, "maxWaitSeconds": 10}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
}

async fn schedule(t: &TestApp, body: &Value) -> Value {
    let (s, v) = t.post("/api/Schedules", body).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    v
}

#[tokio::test]
async fn a_schedule_made_over_http_stops_its_group_at_its_local_time_once() {
    let t = TestApp::spawn().await;
    t.running("rg", "night").await;
    let v = schedule(
        &t,
        &stop_at(
            "night-stop",
            "30 23 * * *",
            "Europe/Berlin",
            json!("rg/night"),
        ),
    )
    .await;
    assert_eq!(v["timeZone"], "Europe/Berlin");
    let local = v["next"][0]["local"].as_str().unwrap();
    assert!(local.contains("T23:30:00+01:00"), "{v}");
    let fire = next(&v, 0);
    t.sim.reset_counts();

    // Before the fire: nothing. At it: stopped. Ticks after it: nothing more.
    let r = t.app.tick(fire - Duration::seconds(1)).await.unwrap();
    assert!(r.runs.is_empty(), "{r:?}");
    assert_eq!(instance_state(&t, "rg", "night"), "Running");
    let r = t.app.tick(fire + Duration::seconds(20)).await.unwrap();
    assert_eq!(r.runs.len(), 1, "{r:?}");
    assert_eq!(r.runs[0].result, "applied", "{r:?}");
    assert_eq!(r.runs[0].outcome.as_ref().unwrap()["result"], "succeeded");
    assert_eq!(instance_state(&t, "rg", "night"), "Stopped");
    for later in [1, 5, 60] {
        let r = t.app.tick(fire + Duration::minutes(later)).await.unwrap();
        assert!(r.runs.is_empty(), "{r:?}");
    }
    assert_eq!(t.sim.count(Op::Stop), 1);

    // The rows, as Table Storage has them: `<FLEET_TABLE>Schedules`, one row
    // for the schedule and one for the last action on the group.
    let raw = gamefleet::store::TableStore::from_connection_string(
        &gamefleet_sim::azurite::Azurite::shared()
            .await
            .connection_string(),
        &format!("{}Schedules", t.table),
        reqwest::Client::new(),
        gamefleet::store::StoreOptions::default(),
    )
    .unwrap();
    let rows = raw.raw_rows().await.unwrap();
    let keys: Vec<(&str, &str)> = rows
        .iter()
        .map(|r| {
            (
                r["PartitionKey"].as_str().unwrap(),
                r.get("LastAction")
                    .or(r.get("RowKey"))
                    .and_then(Value::as_str)
                    .unwrap(),
            )
        })
        .collect();
    assert_eq!(
        keys,
        [("resource", "stop"), ("schedule", "night-stop")],
        "{rows:?}"
    );

    // GET shows what was applied and what comes next.
    let (s, all) = t.get("/api/Schedules").await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(
        all[0]["lastFire"],
        json!(fire.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
    );
    assert_eq!(all[0]["lastOutcome"]["result"], "succeeded", "{all}");

    // Missed days: only the latest period is applied (once).
    power(&t, "start", "rg/night").await;
    t.sim.reset_counts();
    let r = t
        .app
        .tick(fire + Duration::days(3) + Duration::hours(2))
        .await
        .unwrap();
    assert_eq!(r.runs.len(), 1, "{r:?}");
    assert_eq!(instance_state(&t, "rg", "night"), "Stopped");
    assert_eq!(t.sim.count(Op::Stop), 1);

    let r = t
        .http
        .delete(format!("{}/api/Schedules?name=night-stop", t.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let (_, all) = t.get("/api/Schedules").await;
    assert_eq!(all, json!([]));
    let r = t
        .http
        .delete(format!("{}/api/Schedules?name=night-stop", t.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"]["code"], "ScheduleNotFound");
}

#[tokio::test]
async fn two_instances_racing_a_tick_send_each_stop_once() {
    let a = TestApp::spawn().await;
    let b = TestApp::spawn_sharing(&a).await;
    a.running("rg", "race").await;
    let v = schedule(
        &a,
        &stop_at("race", "0 6 * * *", "America/New_York", json!("rg/race")),
    )
    .await;
    for day in 0..4 {
        if day > 0 {
            power(&a, "start", "rg/race").await;
        }
        a.sim.reset_counts();
        let now = next(&v, day) + Duration::seconds(5);
        let (ra, rb) = tokio::join!(a.app.tick(now), b.app.tick(now));
        let (ra, rb) = (ra.unwrap(), rb.unwrap());
        let applied = ra
            .runs
            .iter()
            .chain(&rb.runs)
            .filter(|r| r.result == "applied")
            .count();
        assert_eq!(applied, 1, "day {day}: {ra:?} {rb:?}");
        assert_eq!(a.sim.count(Op::Stop), 1, "day {day}: one stop reached ARM");
        assert_eq!(instance_state(&a, "rg", "race"), "Stopped");
    }
}

#[tokio::test]
async fn a_claim_left_by_a_crashed_run_is_applied_once_after_its_lease() {
    let a = TestApp::spawn().await;
    let b = TestApp::spawn_sharing(&a).await;
    a.running("rg", "crash").await;
    let v = schedule(&a, &stop_at("crash", "0 4 * * *", "UTC", json!("rg/crash"))).await;
    let fire = next(&v, 0);
    // A run claimed the fire and died before applying it.
    let name = gamefleet::schedule::ScheduleName::parse("crash").unwrap();
    let row = a.app.schedules.get(&name).await.unwrap().unwrap();
    let mut claimed = row.value.clone();
    claimed.run.claim = Some(gamefleet::schedule::Claim {
        fire,
        until: fire + Duration::seconds(70),
    });
    a.app.schedules.replace(&claimed, &row.etag).await.unwrap();
    a.sim.reset_counts();

    let r = b.app.tick(fire + Duration::seconds(30)).await.unwrap();
    assert_eq!(r.runs[0].result, "skipped", "the lease holds: {r:?}");
    assert_eq!(a.sim.count(Op::Stop), 0);
    assert_eq!(instance_state(&a, "rg", "crash"), "Running");

    let now = fire + Duration::seconds(71);
    let (ra, rb) = tokio::join!(a.app.tick(now), b.app.tick(now));
    let (ra, rb) = (ra.unwrap(), rb.unwrap());
    let results: Vec<&str> = ra.runs.iter().chain(&rb.runs).map(|r| r.result).collect();
    assert_eq!(
        results.iter().filter(|r| **r == "applied").count(),
        1,
        "{results:?}"
    );
    assert_eq!(a.sim.count(Op::Stop), 1);
    assert_eq!(instance_state(&a, "rg", "crash"), "Stopped");
    let r = a.app.tick(now + Duration::minutes(10)).await.unwrap();
    assert!(r.runs.is_empty(), "{r:?}");
}

#[tokio::test]
async fn bad_schedules_are_refused_naming_the_field_and_nothing_is_stored() {
    let t = TestApp::spawn().await;
    let ok = stop_at("bad", "0 23 * * *", "Europe/Berlin", json!("rg/cg"));
    let cases: Vec<(&str, Value, &str, &str)> = vec![
        ("cron", json!("0 25 * * *"), "cron: ", "InvalidSchedule"),
        ("cron", json!("every night"), "cron: ", "InvalidSchedule"),
        (
            "timeZone",
            json!("Europe/Atlantis"),
            "timeZone: ",
            "InvalidSchedule",
        ),
        ("action", json!("status"), "action: ", "InvalidSchedule"),
        ("provider", json!("gcp"), "provider: ", "InvalidSchedule"),
        (
            "resource",
            json!("rg/UPPER"),
            "resource: ",
            "InvalidResource",
        ),
        ("resource", json!("../x"), "resource: ", "InvalidResource"),
        (
            "resources",
            json!(["rg/a", "rg/.."]),
            "resources: resources[1]",
            "InvalidResource",
        ),
        ("name", json!("no spaces"), "name: ", "InvalidSchedule"),
        (
            "maxWaitSeconds",
            json!(-1),
            "maxWaitSeconds: ",
            "InvalidRequest",
        ),
    ];
    for (key, value, says, code) in cases {
        let mut body = ok.clone();
        if key == "resources" {
            body.as_object_mut().unwrap().remove("resource");
        }
        body[key] = value.clone();
        let (s, v) = t.post("/api/Schedules", &body).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{key}={value}: {v}");
        let message = v["error"]["message"].as_str().unwrap();
        assert!(message.starts_with(says), "{key}={value}: {v}");
        assert_eq!(v["error"]["code"], code, "{key}={value}: {v}");
    }
    // An OCI target of the wrong shape is refused by the OCI provider's own check.
    let oci = json!({"name": "oci", "cron": "0 8 * * *", "timeZone": "UTC", "action": "start",
        "provider": "oci-container-instance", "resource": "ocid1.instance.oc1.iad.aaaa"});
    let (s, v) = t.post("/api/Schedules", &oci).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    assert_eq!(v["error"]["code"], "InvalidResource");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("resource: "),
        "{v}"
    );

    let (s, v) = t.get("/api/Schedules").await;
    assert_eq!((s, v), (StatusCode::OK, json!([])), "nothing was stored");
}

#[tokio::test]
async fn an_enforced_schedule_puts_back_what_was_changed_by_hand_on_oci() {
    use gamefleet_sim::oci::{api_key_identity, OciOp, OciSim, OciSimConfig};
    let oci = OciSim::start(OciSimConfig {
        transition_time: std::time::Duration::from_millis(100),
        ..Default::default()
    })
    .await
    .unwrap();
    let home = tempfile::tempdir().unwrap();
    let t = TestApp::spawn_with(Options {
        env: api_key_identity(&oci, home.path()).unwrap(),
        ..Default::default()
    })
    .await;
    let enforced = oci.add_container_instance("arena-enforced", "INACTIVE");
    let plain = oci.add_container_instance("arena-plain", "INACTIVE");
    let body = |name: &str, ci: &str, enforced: bool| {
        json!({"name": name, "cron": "0 8 * * MON-FRI", "timeZone": "Asia/Tokyo", "action": "start",
               "provider": "oci-container-instance", "resource": ci, "enforced": enforced,
               "pollIntervalSeconds": 0.05, "maxWaitSeconds": 10})
    };
    let v = schedule(&t, &body("open-enforced", &enforced, true)).await;
    schedule(&t, &body("open-plain", &plain, false)).await;
    let fire = next(&v, 0);

    let r = t.app.tick(fire + Duration::seconds(10)).await.unwrap();
    assert_eq!(r.runs.len(), 2, "{r:?}");
    assert_eq!(
        oci.container_instance_state(&enforced).as_deref(),
        Some("ACTIVE")
    );
    assert_eq!(
        oci.container_instance_state(&plain).as_deref(),
        Some("ACTIVE")
    );
    assert_eq!(oci.count(OciOp::StartContainerInstance), 2);

    // Someone stops both by hand: the enforced one is started again on the next tick.
    oci.set_state(&enforced, "INACTIVE");
    oci.set_state(&plain, "INACTIVE");
    let r = t.app.tick(fire + Duration::minutes(5)).await.unwrap();
    let enforced_run = r.runs.iter().find(|e| e.name == "open-enforced").unwrap();
    assert_eq!(enforced_run.result, "enforced", "{r:?}");
    assert!(r.runs.iter().all(|e| e.name != "open-plain"), "{r:?}");
    assert_eq!(
        oci.container_instance_state(&enforced).as_deref(),
        Some("ACTIVE")
    );
    assert_eq!(
        oci.container_instance_state(&plain).as_deref(),
        Some("INACTIVE")
    );
    assert_eq!(oci.count(OciOp::StartContainerInstance), 3);
    // In state already: enforcing only looks.
    let r = t.app.tick(fire + Duration::minutes(6)).await.unwrap();
    assert_eq!(
        r.runs[0].outcome.as_ref().unwrap()["result"],
        "noAction",
        "{r:?}"
    );
    assert_eq!(oci.count(OciOp::StartContainerInstance), 3);
}

#[tokio::test]
async fn a_retaining_stop_leaves_a_group_started_by_hand_running() {
    let t = TestApp::spawn().await;
    for g in ["kept", "scheduled"] {
        t.running("rg", g).await;
        power(&t, "stop", &format!("rg/{g}")).await;
    }
    let morning = schedule(&t, &json!({"name": "morning", "cron": "0 8 * * *", "timeZone": "Europe/Berlin",
        "action": "start", "provider": "aci", "resource": "rg/scheduled", "pollIntervalSeconds": 0.05, "maxWaitSeconds": 10})).await;
    let mut night = stop_at(
        "night",
        "0 20 * * *",
        "Europe/Berlin",
        json!(["rg/kept", "rg/scheduled"]),
    );
    night["retainRunning"] = json!(true);
    let night = schedule(&t, &night).await;
    let start = next(&morning, 0);
    let stop = (0..5)
        .map(|i| next(&night, i))
        .find(|s| *s > start)
        .unwrap();

    t.app.tick(start + Duration::seconds(10)).await.unwrap();
    assert_eq!(instance_state(&t, "rg", "scheduled"), "Running");
    // Someone starts the other group by hand during the day.
    power(&t, "start", "rg/kept").await;

    let r = t.app.tick(stop + Duration::seconds(10)).await.unwrap();
    let run = r.runs.iter().find(|e| e.name == "night").unwrap();
    assert_eq!(run.result, "applied", "{r:?}");
    assert_eq!(instance_state(&t, "rg", "scheduled"), "Stopped");
    assert_eq!(instance_state(&t, "rg", "kept"), "Running");
    let outcome = run.outcome.as_ref().unwrap();
    assert_eq!(outcome["skipped"][0]["resource"], "rg/kept", "{outcome}");
    assert!(
        outcome["skipped"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("started by hand"),
        "{outcome}"
    );
}

#[tokio::test]
async fn an_enforced_start_yields_to_a_later_stop_schedule() {
    let t = TestApp::spawn().await;
    t.running("rg", "day").await;
    power(&t, "stop", "rg/day").await;
    let day = schedule(&t, &json!({"name": "day", "cron": "0 8 * * *", "timeZone": "UTC", "action": "start",
        "provider": "aci", "resource": "rg/day", "enforced": true, "pollIntervalSeconds": 0.05, "maxWaitSeconds": 10})).await;
    let night = schedule(&t, &stop_at("night", "0 20 * * *", "UTC", json!("rg/day"))).await;
    let start = next(&day, 0);
    let stop = (0..3)
        .map(|i| next(&night, i))
        .find(|s| *s > start)
        .unwrap();

    t.app.tick(start + Duration::seconds(10)).await.unwrap();
    assert_eq!(instance_state(&t, "rg", "day"), "Running");
    // Stopped by hand during the day: put back.
    power(&t, "stop", "rg/day").await;
    t.app.tick(start + Duration::hours(1)).await.unwrap();
    assert_eq!(instance_state(&t, "rg", "day"), "Running");
    // The night stop ends the day: enforcement does not start it again.
    t.sim.reset_counts();
    for later in [10, 70, 3600] {
        let r = t.app.tick(stop + Duration::seconds(later)).await.unwrap();
        assert_eq!(
            instance_state(&t, "rg", "day"),
            "Stopped",
            "{later}s: {r:?}"
        );
    }
    assert_eq!(t.sim.count(Op::Start), 0);
    assert_eq!(t.sim.count(Op::Stop), 1);
    // The next morning starts it again.
    t.app
        .tick(start + Duration::days(1) + Duration::seconds(10))
        .await
        .unwrap();
    assert_eq!(instance_state(&t, "rg", "day"), "Running");
}

#[tokio::test]
async fn a_stop_that_cannot_reach_the_provider_is_sent_again_on_the_next_tick() {
    let mut o = Options::default();
    o.env.push(("ARM_MAX_RETRIES".into(), "0".into()));
    let t = TestApp::spawn_with(o).await;
    t.running("rg", "flaky").await;
    let v = schedule(
        &t,
        &stop_at("flaky", "0 22 * * *", "UTC", json!("rg/flaky")),
    )
    .await;
    let fire = next(&v, 0);
    t.sim.fail_next(
        gamefleet_sim::FaultRule::new(Op::Stop, 503, "ServiceUnavailable", "down").times(1),
    );
    let r = t.app.tick(fire + Duration::seconds(5)).await.unwrap();
    assert_eq!(r.runs[0].result, "retry", "{r:?}");
    assert_eq!(instance_state(&t, "rg", "flaky"), "Running");
    let r = t.app.tick(fire + Duration::seconds(65)).await.unwrap();
    assert_eq!(r.runs[0].result, "applied", "{r:?}");
    assert_eq!(instance_state(&t, "rg", "flaky"), "Stopped");
    let r = t.app.tick(fire + Duration::minutes(5)).await.unwrap();
    assert!(r.runs.is_empty(), "{r:?}");
}

/// `gamefleet schedule …` as the built binary, on the same table as `t`.
async fn cli(t: &TestApp, args: &[&str]) -> (i32, String, String) {
    let azurite = gamefleet_sim::azurite::Azurite::shared().await;
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_gamefleet"))
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .envs(t.sim.gamefleet_env(&azurite.connection_string(), &t.table))
        .arg("schedule")
        .args(args)
        .output()
        .await
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test]
async fn the_cli_adds_lists_shows_and_removes_schedules_in_the_functions_table() {
    let t = TestApp::spawn().await;
    let (code, out, err) = cli(
        &t,
        &[
            "add",
            "--name",
            "night-stop",
            "--cron",
            "0 23 * * *",
            "--time-zone",
            "Europe/Berlin",
            "--action",
            "stop",
            "--provider",
            "aci",
            "--resource",
            "games/arena-1",
        ],
    )
    .await;
    assert_eq!(code, 0, "{out}{err}");
    let stored: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(stored["name"], "night-stop", "{stored}");
    // The functions see what the CLI stored.
    let (s, v) = t.get("/api/Schedules").await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v.as_array().map(Vec::len), Some(1), "{v}");
    let (code, out, _) = cli(&t, &["list"]).await;
    assert!(
        code == 0 && out.contains("night-stop") && out.contains("Europe/Berlin"),
        "{out}"
    );
    // Next fires in the zone and in UTC: 23:00 in Berlin is 22:00Z in winter, 21:00Z in summer.
    let (code, out, _) = cli(&t, &["next", "night-stop", "-n", "3", "--json"]).await;
    assert_eq!(code, 0, "{out}");
    let next: Value = serde_json::from_str(&out).unwrap();
    for fire in next["next"].as_array().unwrap() {
        let (local, utc) = (
            fire["local"].as_str().unwrap(),
            fire["utc"].as_str().unwrap(),
        );
        assert!(local.contains("T23:00:00"), "{fire}");
        assert!(
            utc.contains("T22:00:00Z") || utc.contains("T21:00:00Z"),
            "{fire}"
        );
    }
    // A bad zone: exit 1 naming the field, nothing stored.
    let (code, _, err) = cli(
        &t,
        &[
            "add",
            "--name",
            "bad",
            "--cron",
            "0 7 * * *",
            "--time-zone",
            "Mars/Olympus",
            "--action",
            "start",
            "--provider",
            "aci",
            "--resource",
            "games/arena-1",
        ],
    )
    .await;
    assert_eq!(code, 1);
    assert!(err.contains("timeZone"), "{err}");
    assert_eq!(
        t.get("/api/Schedules").await.1.as_array().map(Vec::len),
        Some(1)
    );
    let (code, _, _) = cli(&t, &["rm", "night-stop"]).await;
    assert_eq!(code, 0);
    let (code, _, err) = cli(&t, &["rm", "night-stop"]).await;
    assert_eq!(code, 1, "{err}");
    assert_eq!(t.get("/api/Schedules").await.1, json!([]));
}
