//! GET /api/Dashboard: the page in headless Chromium against the local stack
//! (it loads, shows a server created through the API, follows its sessions
//! without a reload, shows a banner while refreshes fail, fits a phone, and
//! fetches nothing but its own origin),
//! the key rules (`?code=` on this route only, 401 JSON without it), and the
//! data view (GC and autoscaler actions appear in it; the server list is
//! capped and the counts are not).
//!
//! `GAMEFLEET_SCREENSHOT=media/dashboard.png` makes the browser test save
//! the page at 1280 px wide with a small fleet around the test's server
//! (`GAMEFLEET_SCREENSHOT_PHONE=…`: at 390 px).

use crate::browser::Browser;
use crate::helpers::*;
use gamefleet::fleet::{GroupRecord, GroupState};
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::time::Duration;

const KEY: &str = "dashboard-key-0123456789";

/// An instance with `GAMEFLEET_API_KEYS` over `open`'s table and ARM (the
/// open one takes the simulator's Event Grid deliveries, as the host's
/// /Monitor would, and the API calls of the test).
async fn keyed(open: &TestApp) -> TestApp {
    TestApp::spawn_with(Options {
        share: Some((open.table.clone(), open.sim.clone())),
        env: vec![("GAMEFLEET_API_KEYS".into(), KEY.into())],
        ..Default::default()
    })
    .await
}

async fn get(t: &TestApp, path: &str, key: Option<&str>) -> reqwest::Response {
    let mut r = t.http.get(format!("{}{path}", t.base));
    if let Some(k) = key {
        r = r.header("X-API-Key", k);
    }
    r.send().await.unwrap()
}

async fn data(t: &TestApp) -> Value {
    let r = get(t, "/api/Dashboard?view=data", None).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["cache-control"], "no-store");
    r.json().await.unwrap()
}

/// The script that reads a server's sessions cell (`null`: no such row).
fn sessions_of(rg: &str, name: &str) -> String {
    format!(
        r#"var want = {key};
        var row = Array.prototype.find.call(document.querySelectorAll("tr[data-server]"),
            function (r) {{ return r.getAttribute("data-server") === want; }});
        return row ? row.querySelector("td.sessions").textContent.trim() : null;"#,
        key = json!(format!("{rg}/{name}"))
    )
}

/// A small fleet for the screenshot: servers in two regions and several
/// states, a fleet definition, a schedule.
async fn scenery(t: &TestApp) {
    for (name, location) in [
        ("eu-2", "westeurope"),
        ("eu-3", "westeurope"),
        ("us-1", "eastus"),
        ("us-2", "eastus"),
    ] {
        let mut body = create_body("arena", name);
        body["maxSessions"] = json!(16);
        body["containerGroup"]["location"] = json!(location);
        let (s, v) = t.post("/api/Create", &body).await;
        assert_eq!(s, StatusCode::ACCEPTED, "{v}");
    }
    for name in ["eu-2", "eu-3", "us-1", "us-2"] {
        t.wait_state("arena", name, "Running").await;
    }
    // Its own reports make a server healthy; the matchmaker's count alone does not.
    t.report("arena", "eu-2", 12).await;
    t.report("arena", "us-2", 2).await;
    t.set_sessions(&[("arena", "us-1", 7)]).await;
    // Marked with players on it: GC keeps it until they leave.
    let (s, v) = t.set_state("arena", "us-2", "MarkedForDeletion").await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let (s, v) = t.set_state("arena", "eu-3", "Failed").await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let (s, v) = t
        .post(
            "/api/Allocate",
            &json!({"requestId": "match-7", "players": 4, "regions": ["eastus"]}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let mut cg = create_body("standby", "unused")["containerGroup"].clone();
    cg.as_object_mut().unwrap().remove("location");
    let fleet = json!({"name": "eu-standby", "resourceGroup": "standby", "location": "westeurope",
        "containerGroup": cg, "maxSessions": 16, "min": 1, "max": 6,
        "buffer": {"slots": 16}, "cooldown": "5m"});
    let (s, v) = t.post("/api/Fleets", &fleet).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let schedule = json!({"name": "nightly-stop", "cron": "0 2 * * *", "timeZone": "Europe/Berlin",
        "action": "stop", "provider": "aci",
        "resource": "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/arena/providers/Microsoft.ContainerInstance/containerGroups/eu-3"});
    let (s, v) = t.post("/api/Schedules", &schedule).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    // One of each action for the log: the autoscaler fills the fleet, GC
    // collects a marked empty server.
    t.app.autoscale(chrono::Utc::now()).await.unwrap();
    t.running("arena", "old-1").await;
    t.set_state("arena", "old-1", "MarkedForDeletion").await;
    let (s, v) = t.gc().await;
    assert_eq!(s, StatusCode::OK, "{v}");
}

#[tokio::test]
async fn the_page_shows_a_new_server_and_follows_its_sessions_in_a_browser() {
    let open = TestApp::spawn().await;
    let t = keyed(&open).await;
    let screenshot = std::env::var("GAMEFLEET_SCREENSHOT").ok();
    let phone_shot = std::env::var("GAMEFLEET_SCREENSHOT_PHONE").ok();
    if screenshot.is_some() || phone_shot.is_some() {
        scenery(&open).await;
    }
    open.running("arena", "eu-1").await;

    let browser = Browser::start(1280, 900).await;
    browser.viewport(390, 844, true).await;
    let page = format!("{}/api/Dashboard?code={KEY}", t.base);
    browser.goto(&page).await;
    let within = Duration::from_secs(20);
    browser
        .wait_for(
            &sessions_of("arena", "eu-1"),
            &json!("0"),
            within,
            "the new server with 0 sessions",
        )
        .await;
    let (s, v) = open.set_sessions(&[("arena", "eu-1", 3)]).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    browser
        .wait_for(
            &sessions_of("arena", "eu-1"),
            &json!("3"),
            within,
            "3 sessions, without a reload",
        )
        .await;
    let loads = browser
        .eval("return performance.getEntriesByType('navigation').length")
        .await;
    assert_eq!(loads, json!(1), "the page was loaded once");
    let updated = browser
        .eval("return document.getElementById('updated').textContent")
        .await;
    assert!(
        updated.as_str().is_some_and(|u| u.starts_with("updated ")),
        "{updated}"
    );
    let error_shown = browser
        .eval("return !document.getElementById('error').hidden")
        .await;
    assert_eq!(error_shown, json!(false), "no error banner");

    // A refresh that fails shows the banner and keeps the data; the next good one clears it.
    browser
        .eval("window.realFetch = window.fetch; window.fetch = function () { return Promise.reject(new Error('network down')); }; return true")
        .await;
    let banner = "var e = document.getElementById('error'); return e.hidden ? null : e.textContent";
    let deadline = std::time::Instant::now() + within;
    loop {
        let text = browser.eval(banner).await;
        if text.as_str().is_some_and(|t| t.contains("network down")) {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no error banner: {text}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        browser.eval(&sessions_of("arena", "eu-1")).await,
        json!("3"),
        "the last data stays"
    );
    browser
        .eval("window.fetch = window.realFetch; return true")
        .await;
    browser
        .wait_for(
            banner,
            &Value::Null,
            within,
            "the banner gone after a good refresh",
        )
        .await;

    let fit = browser
        .eval(
            "return {inner: window.innerWidth, scroll: document.documentElement.scrollWidth, \
             body: document.body.scrollWidth}",
        )
        .await;
    let inner = fit["inner"].as_i64().unwrap();
    assert!(inner <= 400, "a phone-wide window: {fit}");
    assert!(
        fit["scroll"].as_i64().unwrap() <= inner && fit["body"].as_i64().unwrap() <= inner,
        "no horizontal scroll at {inner} px: {fit}"
    );

    let urls = browser
        .eval(
            "return [location.href].concat(performance.getEntriesByType('resource')\
             .map(function (e) { return e.name; }))",
        )
        .await;
    let urls = urls.as_array().unwrap();
    assert!(urls.len() >= 2, "the page polled its data: {urls:?}");
    for u in urls {
        let u = u.as_str().unwrap_or_default();
        assert!(
            u.starts_with(&format!("{}/", t.base)),
            "a request left the local stack: {u}"
        );
    }

    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    if let Some(path) = phone_shot {
        let height = browser
            .eval("return document.documentElement.scrollHeight")
            .await
            .as_u64()
            .unwrap_or(844);
        browser
            .viewport(390, height.clamp(844, 6000) as u32, true)
            .await;
        tokio::time::sleep(Duration::from_millis(500)).await;
        std::fs::write(root.join(&path), browser.screenshot().await).unwrap();
    }
    if let Some(path) = screenshot {
        browser.viewport(1280, 900, false).await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        let height = browser
            .eval("return document.documentElement.scrollHeight")
            .await
            .as_u64()
            .unwrap_or(900);
        browser
            .viewport(1280, height.clamp(600, 4000) as u32, false)
            .await;
        tokio::time::sleep(Duration::from_millis(500)).await;
        std::fs::write(root.join(&path), browser.screenshot().await).unwrap();
    }
    browser.close().await;
}

#[tokio::test]
async fn the_page_and_its_data_need_the_key_and_code_is_taken_there_only() {
    let open = TestApp::spawn().await;
    let t = keyed(&open).await;
    for path in [
        "/api/Dashboard",
        "/api/Dashboard?view=data",
        "/api/Dashboard?code=wrong-key-0123456789",
    ] {
        let r = get(&t, path, None).await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "{path}");
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["error"]["code"], "Unauthorized", "{path}: {v}");
    }
    let r = get(&t, &format!("/api/List?code={KEY}"), None).await;
    assert_eq!(
        r.status(),
        StatusCode::UNAUTHORIZED,
        "?code= is for the dashboard only"
    );

    let r = get(&t, &format!("/api/dashboard/?code={KEY}"), None).await;
    assert_eq!(r.status(), StatusCode::OK);
    let h = r.headers();
    assert_eq!(h["content-type"], "text/html; charset=utf-8");
    assert_eq!(h["cache-control"], "no-store");
    assert_eq!(h["x-content-type-options"], "nosniff");
    let csp = h["content-security-policy"].to_str().unwrap();
    assert!(
        csp.starts_with("default-src 'none'; script-src 'sha256-"),
        "{csp}"
    );
    assert!(r
        .text()
        .await
        .unwrap()
        .contains("<title>gamefleet dashboard</title>"));

    for key in [KEY] {
        let r = get(&t, "/api/Dashboard?view=data", Some(key)).await;
        assert_eq!(r.status(), StatusCode::OK);
    }
    let r = get(&t, &format!("/api/Dashboard?view=data&code={KEY}"), None).await;
    assert_eq!(r.status(), StatusCode::OK);
}

#[tokio::test]
async fn gc_and_autoscaler_actions_appear_in_the_data_view_and_quiet_runs_do_not() {
    let t = TestApp::spawn().await;
    assert_eq!(data(&t).await["activity"], json!([]));
    t.running("arena", "gone-1").await;
    t.set_state("arena", "gone-1", "MarkedForDeletion").await;
    let (s, v) = t.gc().await;
    assert_eq!((s, &v["deleted"]), (StatusCode::OK, &json!(1)), "{v}");
    let d = data(&t).await;
    let activity = d["activity"].as_array().unwrap();
    assert_eq!(activity.len(), 1, "{d}");
    assert_eq!(activity[0]["source"], "gc");
    assert_eq!(activity[0]["summary"], "1 deleted");

    let (s, _) = t.gc().await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(
        data(&t).await["activity"].as_array().unwrap().len(),
        1,
        "a quiet run is not logged"
    );

    let mut cg = create_body("pool", "unused")["containerGroup"].clone();
    cg.as_object_mut().unwrap().remove("location");
    let fleet = json!({"name": "pool", "resourceGroup": "pool", "location": "westeurope",
        "containerGroup": cg, "maxSessions": 8, "min": 2, "max": 4, "buffer": {"servers": 1}, "cooldown": "1m"});
    let (s, v) = t.post("/api/Fleets", &fleet).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    t.app.autoscale(chrono::Utc::now()).await.unwrap();
    let d = data(&t).await;
    let newest = &d["activity"][0];
    assert_eq!(newest["source"], "autoscale", "newest first: {d}");
    assert_eq!(newest["summary"], "pool: 2 created");
    assert_eq!(d["fleets"][0]["min"], 2);
    assert!(d["fleets"][0].get("containerGroup").is_none());
}

#[tokio::test]
async fn the_data_view_lists_the_first_servers_and_counts_them_all() {
    use futures::stream::{self, StreamExt};
    let t = TestApp::spawn().await;
    let limit = gamefleet::ops::dashboard::MAX_SERVERS;
    let n = limit + 20;
    stream::iter(0..n)
        .for_each_concurrent(32, |i| {
            let t = &t;
            async move {
                let location = if i % 2 == 0 { "westeurope" } else { "eastus" };
                let mut r = GroupRecord::creating(
                    key("big", &format!("s-{i:05}")),
                    location.into(),
                    chrono::Utc::now(),
                );
                r.state = if i % 10 == 0 {
                    GroupState::MarkedForDeletion
                } else {
                    GroupState::Running
                };
                t.store().insert(&r).await.unwrap();
            }
        })
        .await;
    let d = data(&t).await;
    assert_eq!(d["servers"].as_array().unwrap().len(), limit);
    assert_eq!(d["total"], n);
    assert_eq!(d["limit"], limit);
    assert_eq!(d["servers"][0]["containerGroupName"], "s-00000");
    assert_eq!(d["servers"][0]["health"], "unknown");
    let count = |state: &str, region: &str| {
        d["counts"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["state"] == state && c["region"] == region)
            .map_or(0, |c| c["servers"].as_u64().unwrap())
    };
    assert_eq!(count("MarkedForDeletion", "westeurope"), 52);
    assert_eq!(count("Running", "westeurope"), 208);
    assert_eq!(count("Running", "eastus"), 260);
}

#[tokio::test]
async fn the_activity_log_keeps_the_newest_fifty_newest_first_and_no_more() {
    use gamefleet::ports::ActivityEntry;
    let t = TestApp::spawn().await;
    let t0 = chrono::Utc::now() - chrono::Duration::hours(1);
    for i in 0..60 {
        let e = ActivityEntry {
            at: t0 + chrono::Duration::seconds(i),
            source: "gc".into(),
            summary: format!("run {i}"),
            report: json!({"deleted": i}),
        };
        t.app.activity.record(&e).await.unwrap();
    }
    let kept = gamefleet::store::activity::KEEP;
    let recent = t.app.activity.recent(1000).await.unwrap();
    assert_eq!(recent.len(), kept);
    let summaries: Vec<&str> = recent.iter().map(|e| e.summary.as_str()).collect();
    assert_eq!(summaries[0], "run 59", "newest first");
    assert_eq!(summaries[kept - 1], "run 10");
    let d = data(&t).await;
    assert_eq!(d["activity"].as_array().unwrap().len(), kept);
    assert_eq!(d["activity"][0]["summary"], "run 59");
    // Each write pruned what was past the newest 50: that is all the table holds.
    let azurite = gamefleet_sim::azurite::Azurite::shared().await;
    let store = gamefleet::store::TableStore::from_connection_string(
        &azurite.connection_string(),
        &t.table,
        reqwest::Client::new(),
        Default::default(),
    )
    .unwrap();
    assert_eq!(store.activity().stored().await.unwrap(), kept);
}
