//! `openstack` through the Power function: logins against the REAL Keystone
//! (`scripts/keystone.sh up`; `scripts/test` starts it), Nova simulated
//! strictly (only tokens Keystone validates, explicit microversions). The
//! seed's stop is a shelve; start unshelves a shelved server and powers on a
//! stopped one; restart reboots.

use crate::helpers::*;
use gamefleet_sim::keystone::{AuthMethod, Keystone, Tenant};
use gamefleet_sim::nova::{NovaFaultRule, NovaOp, NovaSim, NovaSimConfig};
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::time::Duration;

struct Cloud {
    t: TestApp,
    nova: NovaSim,
    ks: Keystone,
    tenant: Tenant,
}

async fn cloud(label: &str, method: AuthMethod, extra: &[(&str, &str)]) -> Option<Cloud> {
    let ks = Keystone::for_tests().await?;
    let mut cfg = NovaSimConfig::new(ks.service_credentials());
    cfg.transition_time = Duration::from_millis(60);
    cfg.token_cache_ttl = Duration::from_millis(300);
    let nova = NovaSim::start(cfg).await.expect("nova sim");
    let tenant = ks
        .tenant(label, &nova.compute_url())
        .await
        .expect("keystone fixtures");
    let mut env = tenant.openstack_env(method);
    for (k, v) in extra {
        env.retain(|(e, _)| e != k);
        env.push(((*k).into(), (*v).into()));
    }
    let t = TestApp::spawn_with(Options {
        env,
        ..Default::default()
    })
    .await;
    Some(Cloud {
        t,
        nova,
        ks,
        tenant,
    })
}

async fn power(t: &TestApp, action: &str, server: &str) -> (StatusCode, Value) {
    t.post(
        "/api/Power",
        &json!({"action": action, "provider": "openstack", "resource": server,
                "pollIntervalSeconds": 0.05, "maxWaitSeconds": 20}),
    )
    .await
}

#[tokio::test]
async fn password_login_shelves_and_unshelves_as_the_seed_does() {
    let Some(c) = cloud("os-pw", AuthMethod::Password, &[]).await else {
        return;
    };
    let id = c.nova.add_server("arena-1", "ACTIVE");
    let (s, v) = power(&c.t, "stop", &id).await;
    assert_eq!(
        (s, v["result"].as_str()),
        (StatusCode::OK, Some("succeeded")),
        "{v}"
    );
    assert_eq!(v["reached"], "SHELVED_OFFLOADED", "{v}");
    assert_eq!(c.nova.count(NovaOp::Shelve), 1);
    let (s, v) = power(&c.t, "start", &id).await;
    assert_eq!(
        (s, v["reached"].as_str()),
        (StatusCode::OK, Some("ACTIVE")),
        "{v}"
    );
    assert_eq!(
        c.nova.count(NovaOp::Unshelve),
        1,
        "a shelved server is unshelved"
    );
    let (s, v) = power(&c.t, "restart", &id).await;
    assert_eq!(
        (s, v["result"].as_str()),
        (StatusCode::OK, Some("succeeded")),
        "{v}"
    );
    assert_eq!(c.nova.count(NovaOp::Reboot), 1);
    let (s, v) = power(&c.t, "status", &id).await;
    assert_eq!(
        (s, v["seen"].as_str()),
        (StatusCode::OK, Some("ACTIVE")),
        "{v}"
    );
    // Every Nova call carried the microversion explicitly; one login served them all.
    assert!(c
        .nova
        .requests()
        .iter()
        .filter(|r| r.op.is_some() && r.op != Some(NovaOp::Versions))
        .all(|r| r.microversion.as_deref() == Some("2.1")));
}

#[tokio::test]
async fn an_application_credential_and_os_stop_power_off_and_on() {
    let Some(c) = cloud(
        "os-ac",
        AuthMethod::ApplicationCredential,
        &[("OPENSTACK_STOP", "os-stop")],
    )
    .await
    else {
        return;
    };
    let id = c.nova.add_server("arena-2", "ACTIVE");
    let (s, v) = power(&c.t, "toggle", &id).await;
    assert_eq!(
        (s, v["reached"].as_str()),
        (StatusCode::OK, Some("SHUTOFF")),
        "{v}"
    );
    let (s, v) = power(&c.t, "toggle", &id).await;
    assert_eq!(
        (s, v["reached"].as_str()),
        (StatusCode::OK, Some("ACTIVE")),
        "{v}"
    );
    assert_eq!(
        (c.nova.count(NovaOp::Stop), c.nova.count(NovaOp::Start)),
        (1, 1)
    );
}

#[tokio::test]
async fn clouds_yaml_with_os_cloud() {
    let Some(c) = cloud("os-yaml", AuthMethod::Password, &[]).await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let env = c
        .tenant
        .clouds_env(dir.path(), "games", AuthMethod::ApplicationCredential)
        .unwrap();
    let t = TestApp::spawn_with(Options {
        env,
        ..Default::default()
    })
    .await;
    let id = c.nova.add_server("arena-3", "SHUTOFF");
    let (s, v) = power(&t, "start", &id).await;
    assert_eq!(
        (s, v["reached"].as_str()),
        (StatusCode::OK, Some("ACTIVE")),
        "{v}"
    );
}

#[tokio::test]
async fn errors_are_clear_and_a_revoked_token_is_replaced_once() {
    let Some(c) = cloud("os-err", AuthMethod::Password, &[]).await else {
        return;
    };
    let id = c.nova.add_server("arena-4", "SHUTOFF");
    // Unknown server → 404; a malformed id → 400 before anything is sent.
    let (s, v) = power(&c.t, "start", "4d5a1b2c-0000-4000-8000-00000000dead").await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (StatusCode::NOT_FOUND, Some("ResourceNotFound")),
        "{v}"
    );
    let before = c.nova.requests().len();
    let (s, _) = power(&c.t, "start", "../servers").await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(c.nova.requests().len(), before);
    // 503 twice, then through.
    c.nova
        .fail_next(NovaFaultRule::unavailable(NovaOp::GetServer).times(2));
    let (s, v) = power(&c.t, "status", &id).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    // Keystone revokes the cached token: Nova answers 401, gamefleet logs in again once.
    let held = c
        .nova
        .last_valid_token()
        .expect("gamefleet's token was validated");
    c.ks.revoke_token(&held).await.unwrap();
    tokio::time::sleep(Duration::from_millis(400)).await;
    let (s, v) = power(&c.t, "status", &id).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_ne!(
        c.nova.last_valid_token().as_deref(),
        Some(held.as_str()),
        "a new login"
    );
    let refused: Vec<_> = c
        .nova
        .requests()
        .into_iter()
        .filter(|r| r.status == 401)
        .collect();
    assert_eq!(refused.len(), 1, "one 401, then the new token: {refused:?}");
    // Nova's 409 (the server is busy) → refused; ERROR → refused; a short deadline → timedOut.
    c.nova.fail_next(
        NovaFaultRule::new(
            NovaOp::Start,
            409,
            &format!("Cannot 'start' instance {id} while it is in task_state powering-on"),
        )
        .times(1),
    );
    let (s, v) = power(&c.t, "start", &id).await;
    assert_eq!(
        (s, v["result"].as_str()),
        (StatusCode::CONFLICT, Some("refused")),
        "{v}"
    );
    assert!(
        v["message"]
            .as_str()
            .unwrap()
            .contains("conflictingRequest"),
        "{v}"
    );
    c.nova.set_status(&id, "ERROR");
    let (s, v) = power(&c.t, "start", &id).await;
    assert_eq!(
        (s, v["result"].as_str()),
        (StatusCode::CONFLICT, Some("refused")),
        "{v}"
    );
    c.nova.set_status(&id, "SHUTOFF");
    let (s, v) = c.t.post("/api/Power", &json!({"action": "start", "provider": "openstack", "resource": id, "pollIntervalSeconds": 0.02, "maxWaitSeconds": 0.03})).await;
    assert_eq!(
        (s, v["result"].as_str()),
        (StatusCode::GATEWAY_TIMEOUT, Some("timedOut")),
        "{v}"
    );
}

#[tokio::test]
async fn a_wrong_password_is_a_502_and_the_process_keeps_serving() {
    let Some(c) = cloud(
        "os-bad",
        AuthMethod::Password,
        &[("OS_PASSWORD", "not-the-password-123")],
    )
    .await
    else {
        return;
    };
    let id = c.nova.add_server("arena-5", "SHUTOFF");
    let (s, v) = power(&c.t, "status", &id).await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (
            StatusCode::BAD_GATEWAY,
            Some("ProviderAuthenticationFailed")
        ),
        "{v}"
    );
    assert!(!v.to_string().contains("not-the-password-123"));
    assert_eq!(c.t.get("/api/List").await.0, StatusCode::OK);
}

#[tokio::test]
async fn the_seed_lambdas_api_answers_as_it_did() {
    const KEY: &str = "seed-openstack-key-0123456789";
    let Some(c) = cloud(
        "os-seed",
        AuthMethod::Password,
        &[("OPENSTACK_API_KEYS", KEY)],
    )
    .await
    else {
        return;
    };
    let id = c.nova.add_server("arena-6", "ACTIVE");
    let get = |q: String, key: Option<&'static str>| {
        let mut r = c.t.http.get(format!("{}/api/OpenStack?{q}", c.t.base));
        if let Some(k) = key {
            r = r.header("X-API-Key", k);
        }
        async move {
            let r = r.send().await.unwrap();
            (r.status(), r.json::<Value>().await.unwrap_or(Value::Null))
        }
    };
    // No key, a wrong key: 401 and nothing sent to Nova.
    let before = c.nova.requests().len();
    assert_eq!(
        get(format!("action=status&instance_id={id}"), None).await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        get(
            format!("action=status&instance_id={id}"),
            Some("wrong-key-0123456789")
        )
        .await
        .0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(c.nova.requests().len(), before);
    // status, with the key in the query.
    let (s, v) = get(
        format!("action=status&instance_id={id}&api_key={KEY}"),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(
        (v["instance_id"].as_str(), v["state"].as_str()),
        (Some(id.as_str()), Some("ACTIVE")),
        "{v}"
    );
    assert_eq!(v["outcome"]["result"], "reported");
    // stop = shelve, answered once Nova accepted it; wait=true follows it to the end.
    let (s, v) = get(format!("action=stop&instance_id={id}"), Some(KEY)).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["message"], "shelve requested from ACTIVE", "{v}");
    assert_eq!(v["outcome"]["result"], "accepted");
    let (s, v) = get(
        format!("action=start&instance_id={id}&wait=true"),
        Some(KEY),
    )
    .await;
    // Still shelving: the core refuses to start a server in transition (409), or it started.
    assert!(s == StatusCode::CONFLICT || s == StatusCode::OK, "{s} {v}");
    let (s, v) = get(format!("action=reboot&instance_id={id}"), Some(KEY)).await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("InvalidAction")),
        "{v}"
    );
    let (s, _) = get("action=status&instance_id=..".into(), Some(KEY)).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
}
