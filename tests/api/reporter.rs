//! Game servers built for the original project keep reporting their players:
//! the reporter runs as the images run it (a shell script posting the
//! original's array body with plain curl or wget to the URL the container was
//! given, no other header), with and without configured session keys.

use crate::helpers::*;
use reqwest::StatusCode;
use serde_json::json;

const K1: &str = "k1:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

/// The environment the container `server` of a group runs with.
fn container_env(t: &TestApp, rg: &str, name: &str) -> Vec<(String, String)> {
    t.sim
        .container_env(rg, name, "server")
        .expect("the group exists in ARM")
}

/// Feed `log` to tests/api/reporter.sh inside the container's environment.
async fn run_reporter(env: &[(String, String)], client: &str, log: &str) -> String {
    use tokio::io::AsyncWriteExt;
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/api/reporter.sh");
    let mut child = tokio::process::Command::new("sh")
        .arg(script)
        .arg(client)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("sh runs");
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(log.as_bytes()).await.unwrap();
    drop(stdin);
    let out = child.wait_with_output().await.unwrap();
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

const LOG: &str = "\
Loading map q3dm17
ClientBegin: 0
ClientBegin: 1
ClientDisconnect: 0
";

async fn players_stay_through_gc(t: &TestApp, client: &str) {
    t.running("OpenArena", "oa-1").await;
    let env = container_env(t, "OpenArena", "oa-1");
    let out = run_reporter(&env, client, LOG).await;
    assert_eq!(out.matches("\"applied\":true").count(), 3, "{out}");
    let row = t.row("OpenArena", "oa-1").await.unwrap();
    assert_eq!(row.active_sessions.get(), 1, "two joins, one leave: {out}");

    // The matchmaker retires it; GC must keep it while its player plays.
    assert_eq!(
        t.set_state("OpenArena", "oa-1", "MarkedForDeletion")
            .await
            .0,
        StatusCode::OK
    );
    let (s, report) = t.gc().await;
    assert_eq!(s, StatusCode::OK, "{report}");
    assert_eq!(report["deleted"], 0, "{report}");
    assert!(
        t.sim.group("OpenArena", "oa-1").is_some(),
        "a server holding a player was deleted in ARM"
    );
    assert_eq!(
        t.row("OpenArena", "oa-1")
            .await
            .unwrap()
            .active_sessions
            .get(),
        1
    );
}

#[tokio::test]
async fn an_original_image_reports_with_zero_configuration_curl() {
    // No SESSION_TOKEN_KEYS: gamefleet generates its key and keeps it in storage.
    let t = TestApp::spawn().await;
    players_stay_through_gc(&t, "curl").await;
}

#[tokio::test]
async fn an_original_image_reports_with_configured_keys_wget() {
    let t = TestApp::spawn_with(Options {
        env: vec![("SESSION_TOKEN_KEYS".into(), K1.into())],
        ..Default::default()
    })
    .await;
    players_stay_through_gc(&t, "wget").await;
}

#[tokio::test]
async fn a_servers_url_opens_only_its_own_row_and_never_shows() {
    let t = TestApp::spawn().await;
    t.running("arena", "mine").await;
    t.running("arena", "yours").await;
    let env = container_env(&t, "arena", "mine");
    let url = env
        .iter()
        .find(|(k, _)| k == "ACI_SET_SESSIONS_URL")
        .map(|(_, v)| v.clone())
        .unwrap();
    let legacy = env
        .iter()
        .find(|(k, _)| k == "SET_SESSIONS_URL")
        .map(|(_, v)| v.clone());
    assert_eq!(legacy.as_deref(), Some(url.as_str()), "both names carry it");
    let token = url.split("token=").nth(1).unwrap().to_owned();

    // Another server's count through this URL: 403, nothing written.
    for body in [
        json!([{"resourceGroup": "arena", "containerGroupName": "yours", "activeSessions": 7}]),
        json!({"resourceGroup": "arena", "containerGroupName": "yours", "activeSessions": 7}),
    ] {
        let r = t
            .http
            .post(&url)
            .body(body.to_string())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::FORBIDDEN);
        let v: serde_json::Value = r.json().await.unwrap();
        assert_eq!(v["error"]["code"], "InvalidSessionToken");
    }
    assert_eq!(
        t.row("arena", "yours").await.unwrap().active_sessions.get(),
        0
    );

    // Its own: the single object works too, with any Content-Type.
    let r = t
        .http
        .post(&url)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(r#"{"resourceGroup":"arena","containerGroupName":"mine","activeSessions":4}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(
        t.row("arena", "mine").await.unwrap().active_sessions.get(),
        4
    );

    // Without the token: 401. A tampered one: 403.
    let bare = url.split('?').next().unwrap().to_owned();
    let body = r#"[{"resourceGroup":"arena","containerGroupName":"mine","activeSessions":9}]"#;
    let r = t.http.post(&bare).body(body).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let forged = format!("{bare}?token=auto.{}", "A".repeat(43));
    let r = t.http.post(&forged).body(body).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        t.row("arena", "mine").await.unwrap().active_sessions.get(),
        4
    );

    // Details (and List) never show the token.
    let (s, details) = t
        .post(
            "/api/Details",
            &json!({"resourceGroup": "arena", "containerGroupName": "mine"}),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let (_, list) = t.get("/api/List?state=all").await;
    for shown in [details.to_string(), list.to_string()] {
        assert!(!shown.contains(&token), "the token leaked: {shown}");
    }
}

#[tokio::test]
async fn every_instance_uses_the_one_generated_key() {
    // Two instances on one table, started at the same time: a token issued by
    // one is accepted by the other (the key is stored once, insert-if-absent).
    let a = TestApp::spawn().await;
    let b = TestApp::spawn_sharing(&a).await;
    let (ra, rb) = tokio::join!(a.create("arena", "one"), b.create("arena", "two"));
    assert_eq!((ra.0, rb.0), (StatusCode::ACCEPTED, StatusCode::ACCEPTED));
    a.wait_state("arena", "one", "Running").await;
    a.wait_state("arena", "two", "Running").await;
    for (name, n) in [("one", 2), ("two", 3)] {
        let env = container_env(&a, "arena", name);
        let url = &env
            .iter()
            .find(|(k, _)| k == "ACI_SET_SESSIONS_URL")
            .unwrap()
            .1;
        let token = url.split("token=").nth(1).unwrap();
        // Report through the instance that did not create it.
        let other = if name == "one" { &b } else { &a };
        let url = format!("{}/api/ReportSessions?token={token}", other.base);
        let body =
            json!([{"resourceGroup": "arena", "containerGroupName": name, "activeSessions": n}]);
        let r = a
            .http
            .post(&url)
            .body(body.to_string())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{name}");
    }
    assert_eq!(
        a.row("arena", "two").await.unwrap().active_sessions.get(),
        3
    );
}
