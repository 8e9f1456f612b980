//! Who may call what: each game server may set only its own session count
//! (a token from Create), keys rotate without downtime, and outside the
//! Functions host every route needs an API key.

use crate::helpers::*;
use gamefleet::ops::auth::SessionKeys;
use reqwest::StatusCode;
use serde_json::json;

const K1: &str = "k1:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
const K2: &str = "k2:ICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj8=";

fn with_env(pairs: &[(&str, &str)]) -> Options {
    Options {
        env: pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        ..Default::default()
    }
}

async fn report(
    t: &TestApp,
    token: Option<&str>,
    rg: &str,
    name: &str,
    n: u32,
) -> (StatusCode, serde_json::Value) {
    let mut req = t
        .http
        .post(format!("{}/api/ReportSessions", t.base))
        .json(&json!({"resourceGroup": rg, "containerGroupName": name, "activeSessions": n}));
    if let Some(tok) = token {
        req = req.bearer_auth(tok);
    }
    let r = req.send().await.unwrap();
    let s = r.status();
    (s, r.json().await.unwrap_or_default())
}

#[tokio::test]
async fn a_game_server_sets_only_its_own_count() {
    let t = TestApp::spawn_with(with_env(&[("SESSION_TOKEN_KEYS", K1)])).await;
    t.running("arena", "mine").await;
    t.running("arena", "yours").await;
    // Create gave each container its token as a secure value: ARM never shows it.
    let env = t.sim.group("arena", "mine").unwrap()["properties"]["containers"][0]["properties"]
        ["environmentVariables"]
        .clone();
    let tok_var = env
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == "ACI_SESSIONS_TOKEN")
        .expect("injected")
        .clone();
    assert!(
        tok_var.get("value").is_none_or(|v| v.is_null()),
        "a secure value is not echoed: {tok_var}"
    );
    let url_var = env
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == "ACI_SET_SESSIONS_URL")
        .unwrap()
        .clone();
    assert!(
        url_var.get("value").is_none_or(|v| v.is_null()),
        "the URL carries the token: a secure value too: {url_var}"
    );

    let keys = SessionKeys::parse(K1).unwrap();
    let mine = keys.issue(&key("arena", "mine")).unwrap();
    let (s, v) = report(&t, Some(&mine), "arena", "mine", 6).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["applied"], true);
    assert_eq!(
        t.row("arena", "mine").await.unwrap().active_sessions.get(),
        6
    );

    // Its token does not open another server.
    let (s, v) = report(&t, Some(&mine), "arena", "yours", 9).await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("InvalidSessionToken"))
    );
    assert_eq!(
        t.row("arena", "yours").await.unwrap().active_sessions.get(),
        0
    );
    for bad in [
        None,
        Some(""),
        Some("k1.AAAA"),
        Some("k9.whatever"),
        Some(mine.replace('.', "").as_str()),
    ] {
        let (s, _) = report(&t, bad, "arena", "mine", 1).await;
        assert!(
            s == StatusCode::UNAUTHORIZED || s == StatusCode::FORBIDDEN,
            "{bad:?} → {s}"
        );
    }
    assert_eq!(
        t.row("arena", "mine").await.unwrap().active_sessions.get(),
        6,
        "refused reports changed nothing"
    );
    // The matchmaker still sets any count through SetSessions (the host checks its function key).
    assert_eq!(
        t.set_sessions(&[("arena", "yours", 2)]).await.0,
        StatusCode::OK
    );
}

#[tokio::test]
async fn session_keys_rotate_without_downtime() {
    // Servers created under k1 keep reporting after k2 becomes the signing key.
    let t = TestApp::spawn_with(with_env(&[("SESSION_TOKEN_KEYS", &format!("{K2},{K1}"))])).await;
    t.running("arena", "old").await;
    let old_token = SessionKeys::parse(K1)
        .unwrap()
        .issue(&key("arena", "old"))
        .unwrap();
    let (s, v) = report(&t, Some(&old_token), "arena", "old", 3).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let new_token = SessionKeys::parse(K2)
        .unwrap()
        .issue(&key("arena", "old"))
        .unwrap();
    assert_eq!(
        report(&t, Some(&new_token), "arena", "old", 4).await.0,
        StatusCode::OK
    );

    // Without session keys gamefleet signs with its generated key: a token
    // under a key it does not have is refused, its own token works.
    let plain = TestApp::spawn().await;
    plain.running("arena", "x").await;
    let (s, v) = report(&plain, Some(&old_token), "arena", "x", 1).await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("InvalidSessionToken"))
    );
    let own = plain.app.keyring.issue(&key("arena", "x")).await.unwrap();
    assert!(own.starts_with("auto."), "{own}");
    assert_eq!(
        report(&plain, Some(&own), "arena", "x", 1).await.0,
        StatusCode::OK
    );
}

#[tokio::test]
async fn servers_made_under_the_generated_key_keep_reporting_once_keys_are_configured() {
    let before = TestApp::spawn().await;
    before.running("arena", "early").await;
    let early = before
        .app
        .keyring
        .issue(&key("arena", "early"))
        .await
        .unwrap();
    // The operator sets SESSION_TOKEN_KEYS later (same table).
    let after = TestApp::spawn_with(Options {
        env: vec![("SESSION_TOKEN_KEYS".into(), K1.into())],
        share: Some((before.table.clone(), before.sim.clone())),
        ..Default::default()
    })
    .await;
    assert_eq!(
        report(&after, Some(&early), "arena", "early", 5).await.0,
        StatusCode::OK
    );
    let late = after
        .app
        .keyring
        .issue(&key("arena", "early"))
        .await
        .unwrap();
    assert!(late.starts_with("k1."), "configured keys sign: {late}");
}

#[tokio::test]
async fn standalone_routes_need_an_api_key() {
    let keys = "matchmaker-key-0123456789,rotating-key-0123456789";
    let t = TestApp::spawn_with(with_env(&[
        ("GAMEFLEET_API_KEYS", keys),
        ("SESSION_TOKEN_KEYS", K1),
    ]))
    .await;
    let call = |path: &str, key: Option<&str>| {
        let mut r = t.http.post(format!("{}{path}", t.base)).json(&json!({}));
        if let Some(k) = key {
            r = r.header("X-API-Key", k);
        }
        r.send()
    };
    for path in [
        "/api/List",
        "/api/Create",
        "/api/SetSessions",
        "/api/SetState",
        "/api/Delete",
        "/api/Details",
        "/api/Power",
        "/Monitor",
        "/GC",
    ] {
        let r = call(path, None).await.unwrap();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "{path}");
        let r = call(path, Some("wrong-key-0123456789")).await.unwrap();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "{path}");
        assert_eq!(
            r.json::<serde_json::Value>().await.unwrap()["error"]["code"],
            "Unauthorized"
        );
    }
    for k in ["matchmaker-key-0123456789", "rotating-key-0123456789"] {
        assert_eq!(
            call("/api/List", Some(k)).await.unwrap().status(),
            StatusCode::OK,
            "both keys work"
        );
    }
    assert_eq!(
        t.http.get(&t.base).send().await.unwrap().status(),
        StatusCode::OK,
        "the readiness probe is open"
    );
    // A game server has no API key: ReportSessions stays open, guarded by its own token.
    let r = t
        .http
        .post(format!("{}/api/Create", t.base))
        .header("X-API-Key", "matchmaker-key-0123456789")
        .json(&create_body("arena", "solo"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    let tok = SessionKeys::parse(K1)
        .unwrap()
        .issue(&key("arena", "solo"))
        .unwrap();
    assert_eq!(
        report(&t, Some(&tok), "arena", "solo", 2).await.0,
        StatusCode::OK
    );
}

#[tokio::test]
async fn a_public_listener_without_api_keys_refuses_to_start() {
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_gamefleet"))
        .args(["serve", "--listen", "0.0.0.0:0"])
        .env_clear()
        .env("AzureWebJobsStorage", "UseDevelopmentStorage=true")
        .env(
            "AZURE_SUBSCRIPTION_ID",
            "00000000-0000-0000-0000-000000000000",
        )
        .output()
        .await
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("refusing to listen on 0.0.0.0:0 without GAMEFLEET_API_KEYS"),
        "{err}"
    );
}
