//! The Nova simulator over real HTTP, with tokens from the REAL Keystone that
//! `scripts/keystone.sh up` runs (`scripts/test` starts it). Without it these tests
//! fail and say so; `GAMEFLEET_SKIP_KEYSTONE=1` skips them on purpose.

use crate::common::{client, eventually, header, send};
use gamefleet_sim::keystone::{AuthMethod, Keystone, Tenant};
use gamefleet_sim::nova::{NovaFaultRule, NovaOp, NovaSim, NovaSimConfig};
use reqwest::RequestBuilder;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

/// Each task state lasts this long: long enough for a poll to see most of them on a
/// busy 2-core CI box; `walked` tolerates one missed.
const STEP: Duration = Duration::from_millis(250);

struct Env {
    ks: Keystone,
    nova: NovaSim,
    tenant: Tenant,
    /// A password token of the tenant's user.
    token: String,
    c: reqwest::Client,
}

async fn setup_with(label: &str, shape: impl FnOnce(&mut NovaSimConfig)) -> Option<Env> {
    let ks = Keystone::for_tests().await?;
    let mut cfg = NovaSimConfig::new(ks.service_credentials());
    cfg.transition_time = STEP;
    // Polls must not wait for Keystone (one thread, busy with other tests' fixtures);
    // the revocation test keeps the default short cache.
    cfg.token_cache_ttl = Duration::from_secs(30);
    shape(&mut cfg);
    let nova = NovaSim::start(cfg).await.expect("nova sim starts");
    let tenant = ks
        .tenant(label, &nova.compute_url())
        .await
        .expect("keystone fixtures");
    let token = ks.password_token(&tenant).await.expect("password token");
    Some(Env {
        ks,
        nova,
        tenant,
        token,
        c: client(),
    })
}

async fn setup(label: &str) -> Option<Env> {
    setup_with(label, |_| {}).await
}

impl Env {
    fn server_url(&self, id: &str) -> String {
        format!("{}/servers/{id}", self.nova.compute_url())
    }

    fn get(&self, id: &str) -> RequestBuilder {
        self.c
            .get(self.server_url(id))
            .header("X-Auth-Token", &self.token)
    }

    fn action(&self, id: &str, body: Value) -> RequestBuilder {
        self.c
            .post(format!("{}/action", self.server_url(id)))
            .header("X-Auth-Token", &self.token)
            .json(&body)
    }

    /// `(status, task_state)` of a GET.
    async fn state(&self, id: &str) -> (String, Option<String>) {
        let (code, _, body) = send(self.get(id)).await;
        assert_eq!(code, 200, "{body}");
        let s = &body["server"];
        (
            s["status"].as_str().unwrap_or_default().to_string(),
            s["OS-EXT-STS:task_state"].as_str().map(str::to_string),
        )
    }

    /// Polls GET until the task state is null again; the distinct states seen, in order.
    async fn watch(&self, id: &str) -> Vec<(String, Option<String>)> {
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut seen: Vec<(String, Option<String>)> = Vec::new();
        loop {
            let now = self.state(id).await;
            if seen.last() != Some(&now) {
                seen.push(now.clone());
            }
            if now.1.is_none() && seen.len() > 1 {
                return seen;
            }
            assert!(Instant::now() < deadline, "never settled: {seen:?}");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    async fn expect_202(&self, id: &str, body: Value) {
        let (code, _, resp) = send(self.action(id, body.clone())).await;
        assert_eq!((code, &resp), (202, &Value::Null), "{body}");
    }

    async fn expect_conflict(&self, id: &str, body: Value, message: &str) {
        let (code, _, resp) = send(self.action(id, body)).await;
        assert_eq!(code, 409, "{resp}");
        assert_eq!(
            resp,
            json!({ "conflictingRequest": { "code": 409, "message": message } })
        );
    }
}

/// `seen` (what polling showed) is `expected` with at most some middle states missed
/// (a slow poll), never an extra or reordered one; first and last always seen.
#[track_caller]
fn walked(seen: &[(String, Option<String>)], expected: &[(String, Option<String>)]) {
    assert_eq!(
        seen.first(),
        expected.first(),
        "seen {seen:?}, expected {expected:?}"
    );
    assert_eq!(
        seen.last(),
        expected.last(),
        "seen {seen:?}, expected {expected:?}"
    );
    let mut rest = expected.iter();
    for state in seen {
        assert!(
            rest.any(|e| e == state),
            "seen {seen:?} is not a walk through {expected:?}"
        );
    }
    assert!(
        seen.len() + 1 >= expected.len(),
        "missed more than one state: seen {seen:?}, expected {expected:?}"
    );
}

fn s(status: &str, task: Option<&str>) -> (String, Option<String>) {
    (status.to_string(), task.map(str::to_string))
}

fn start() -> Value {
    json!({ "os-start": null })
}
fn stop() -> Value {
    json!({ "os-stop": null })
}

// ------------------------------------------------------------------ tokens

#[tokio::test]
async fn version_documents_need_no_token() {
    let Some(e) = setup("versions").await else {
        return;
    };
    let (code, _, v) = send(e.c.get(format!("{}/", e.nova.compute_url()))).await;
    assert_eq!(code, 200);
    assert_eq!(v["version"]["version"], "2.96");
    assert_eq!(v["version"]["min_version"], "2.1");
    assert_eq!(v["version"]["id"], "v2.1");
    let (code, _, v) = send(e.c.get(format!("{}/", e.nova.endpoint()))).await;
    assert_eq!(code, 300);
    assert_eq!(v["versions"][1]["id"], "v2.1");
}

#[tokio::test]
async fn no_token_or_a_token_keystone_does_not_know_is_401() {
    let Some(e) = setup("no-token").await else {
        return;
    };
    let id = e.nova.add_server("a", "ACTIVE");
    let (code, h, v) = send(e.c.get(e.server_url(&id))).await;
    assert_eq!(code, 401);
    assert_eq!(v["unauthorized"]["code"], 401);
    assert!(v["unauthorized"]["message"]
        .as_str()
        .unwrap_or_default()
        .starts_with("The request you have made requires authentication."));
    assert_eq!(
        header(&h, "www-authenticate"),
        format!("Keystone uri=\"{}\"", e.ks.url())
    );
    for bad in ["gAAAAABnot-a-real-token", "x"] {
        let (code, _, v) = send(e.c.get(e.server_url(&id)).header("X-Auth-Token", bad)).await;
        assert_eq!(code, 401, "{v}");
    }
    assert!(e.nova.keystone_validations() >= 2);
    assert!(e.nova.requests().iter().all(|r| r.status == 401));
}

#[tokio::test]
async fn password_and_application_credential_tokens_from_keystone_are_accepted() {
    let Some(e) = setup("tokens").await else {
        return;
    };
    let id = e
        .nova
        .add_server_in_project(&e.tenant.project_id, "game-1", "SHUTOFF");
    // The catalog of the app-cred token leads to this simulator in the tenant's region.
    let r =
        e.c.post(format!("{}/auth/tokens", e.ks.url()))
            .json(
                &json!({ "auth": { "identity": { "methods": ["application_credential"],
            "application_credential": { "id": e.tenant.app_credential.id,
                                        "secret": e.tenant.app_credential.secret } } } }),
            )
            .send()
            .await
            .expect("keystone");
    assert_eq!(r.status(), 201);
    let app_token = header(r.headers(), "x-subject-token").to_string();
    let body: Value = r.json().await.expect("json");
    let urls: Vec<&str> = body["token"]["catalog"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|c| c["type"] == "compute")
        .flat_map(|c| c["endpoints"].as_array().into_iter().flatten())
        .filter(|ep| ep["region_id"] == e.tenant.region.as_str() && ep["interface"] == "public")
        .filter_map(|ep| ep["url"].as_str())
        .collect();
    assert_eq!(urls, vec![e.nova.compute_url().as_str()]);

    for token in [&e.token, &app_token] {
        let (code, h, v) = send(e.c.get(e.server_url(&id)).header("X-Auth-Token", token)).await;
        assert_eq!(code, 200, "{v}");
        assert_eq!(v["server"]["id"], id.as_str());
        assert_eq!(v["server"]["name"], "game-1");
        assert_eq!(v["server"]["status"], "SHUTOFF");
        assert_eq!(v["server"]["OS-EXT-STS:vm_state"], "stopped");
        assert_eq!(v["server"]["OS-EXT-STS:power_state"], 4);
        assert_eq!(v["server"]["OS-EXT-STS:task_state"], Value::Null);
        assert_eq!(v["server"]["tenant_id"], e.tenant.project_id.as_str());
        assert!(header(&h, "x-openstack-request-id").starts_with("req-"));
    }
    let log = e.nova.requests();
    assert_eq!(log.len(), 2, "{log:#?}");
    assert!(log
        .iter()
        .all(|r| r.user_id.as_deref() == Some(e.tenant.user_id.as_str())
            && r.project_id.as_deref() == Some(e.tenant.project_id.as_str())
            && r.op == Some(NovaOp::GetServer)));
    // Cached: a second request with the same token does not ask Keystone again.
    let before = e.nova.keystone_validations();
    assert_eq!(send(e.get(&id)).await.0, 200);
    assert_eq!(e.nova.keystone_validations(), before);
    // The env a client would be given matches what was created.
    let env = e.tenant.openstack_env(AuthMethod::ApplicationCredential);
    assert!(env.contains(&("OS_AUTH_URL".into(), e.ks.url().to_string())));
    assert!(env.contains(&("OS_REGION_NAME".into(), e.tenant.region.clone())));
}

#[tokio::test]
async fn a_revoked_token_is_refused_within_a_second() {
    let Some(e) = setup_with("revoked", |c| {
        c.token_cache_ttl = NovaSimConfig::new(c.keystone.clone()).token_cache_ttl
    })
    .await
    else {
        return;
    };
    let id = e.nova.add_server("a", "ACTIVE");
    assert_eq!(send(e.get(&id)).await.0, 200);
    e.ks.revoke_token(&e.token).await.expect("revoke");
    let revoked_at = Instant::now();
    eventually(
        Duration::from_secs(3),
        "the revoked token refused",
        || async { (send(e.get(&id)).await.0 == 401).then_some(()) },
    )
    .await;
    assert!(revoked_at.elapsed() < Duration::from_millis(1500));
    // And it stays refused.
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(send(e.get(&id)).await.0, 401);
}

#[tokio::test]
async fn project_scope_roles_and_ownership_are_enforced() {
    let Some(e) = setup("policy").await else {
        return;
    };
    let mine = e
        .nova
        .add_server_in_project(&e.tenant.project_id, "mine", "ACTIVE");
    let theirs = e
        .nova
        .add_server_in_project("another-project", "theirs", "ACTIVE");
    assert_eq!(send(e.get(&mine)).await.0, 200);
    let (code, _, v) = send(e.get(&theirs)).await;
    assert_eq!((code, v["itemNotFound"]["code"].as_u64()), (404, Some(404)));
    // The legacy URL form with the project id, and a foreign project id in it.
    let legacy = |p: &str, id: &str| format!("{}/v2.1/{p}/servers/{id}", e.nova.endpoint());
    let (code, _, _) = send(
        e.c.get(legacy(&e.tenant.project_id, &mine))
            .header("X-Auth-Token", &e.token),
    )
    .await;
    assert_eq!(code, 200);
    let (code, _, v) = send(
        e.c.get(legacy("other", &mine))
            .header("X-Auth-Token", &e.token),
    )
    .await;
    assert_eq!(code, 400, "{v}");
    // Unscoped token: 403.
    let unscoped = e.ks.unscoped_token(&e.tenant).await.expect("unscoped");
    let (code, _, v) = send(
        e.c.get(e.server_url(&mine))
            .header("X-Auth-Token", &unscoped),
    )
    .await;
    assert_eq!(code, 403, "{v}");
    assert_eq!(v["forbidden"]["code"], 403);
    // A reader may look but not act.
    let reader =
        e.ks.tenant_with_role("policy-reader", &e.nova.compute_url(), "reader")
            .await
            .expect("reader tenant");
    let rt =
        e.ks.app_credential_token(&reader)
            .await
            .expect("reader token");
    let any = e.nova.add_server("shared", "ACTIVE");
    let (code, _, _) = send(e.c.get(e.server_url(&any)).header("X-Auth-Token", &rt)).await;
    assert_eq!(code, 200);
    let (code, _, v) = send(
        e.c.post(format!("{}/action", e.server_url(&any)))
            .header("X-Auth-Token", &rt)
            .json(&stop()),
    )
    .await;
    assert_eq!(code, 403, "{v}");
    assert_eq!(
        e.nova.server(&any).map(|s| s.status).as_deref(),
        Some("ACTIVE")
    );
}

// ------------------------------------------------------------------ microversions

#[tokio::test]
async fn microversions_are_negotiated_and_echoed() {
    let Some(e) = setup("microversions").await else {
        return;
    };
    let id = e.nova.add_server("a", "ACTIVE");
    let (code, h, _) = send(e.get(&id)).await;
    assert_eq!(code, 200);
    assert_eq!(header(&h, "openstack-api-version"), "compute 2.1");
    assert_eq!(header(&h, "x-openstack-nova-api-version"), "2.1");
    assert!(header(&h, "vary").contains("OpenStack-API-Version"));
    let (code, h, _) = send(e.get(&id).header("OpenStack-API-Version", "compute 2.60")).await;
    assert_eq!(
        (code, header(&h, "openstack-api-version")),
        (200, "compute 2.60")
    );
    let (code, h, _) = send(e.get(&id).header("X-OpenStack-Nova-API-Version", "2.37")).await;
    assert_eq!(
        (code, header(&h, "x-openstack-nova-api-version")),
        (200, "2.37")
    );
    let (code, h, _) = send(e.get(&id).header("OpenStack-API-Version", "compute latest")).await;
    assert_eq!(
        (code, header(&h, "openstack-api-version")),
        (200, "compute 2.96")
    );
    for unknown in [
        "compute 2.97",
        "compute 2.200",
        "compute 3.0",
        "compute 2.0",
    ] {
        let (code, _, v) = send(e.get(&id).header("OpenStack-API-Version", unknown)).await;
        assert_eq!(code, 406, "{unknown}: {v}");
        let message = v["computeFault"]["message"].as_str().unwrap_or_default();
        assert!(
            message.ends_with("is not supported by the API. Minimum is 2.1 and maximum is 2.96."),
            "{v}"
        );
    }
    let (code, _, v) = send(e.get(&id).header("X-OpenStack-Nova-API-Version", "2.97")).await;
    assert_eq!(code, 406, "{v}");
    let (code, _, v) = send(e.get(&id).header("OpenStack-API-Version", "compute 2.x")).await;
    assert_eq!((code, v["badRequest"]["code"].as_u64()), (400, Some(400)));
    let log = e.nova.requests();
    assert_eq!(log[1].microversion.as_deref(), Some("2.60"));
}

// ------------------------------------------------------------------ actions

#[tokio::test]
async fn start_and_stop_move_through_their_task_states_and_conflict_in_the_wrong_state() {
    let Some(e) = setup("start-stop").await else {
        return;
    };
    let id = e.nova.add_server("game", "SHUTOFF");
    e.expect_conflict(
        &id,
        stop(),
        &format!("Cannot 'stop' instance {id} while it is in vm_state stopped"),
    )
    .await;
    e.expect_202(&id, start()).await;
    e.expect_conflict(
        &id,
        start(),
        &format!("Cannot 'start' instance {id} while it is in task_state powering-on"),
    )
    .await;
    walked(
        &e.watch(&id).await,
        &[s("SHUTOFF", Some("powering-on")), s("ACTIVE", None)],
    );
    let v = &send(e.get(&id)).await.2["server"];
    assert_eq!(
        (
            v["OS-EXT-STS:vm_state"].as_str(),
            v["OS-EXT-STS:power_state"].as_u64()
        ),
        (Some("active"), Some(1))
    );
    e.expect_conflict(
        &id,
        start(),
        &format!("Cannot 'start' instance {id} while it is in vm_state active"),
    )
    .await;
    e.expect_conflict(
        &id,
        json!({ "unshelve": null }),
        &format!("Cannot 'unshelve' instance {id} while it is in vm_state active"),
    )
    .await;
    e.expect_202(&id, stop()).await;
    walked(
        &e.watch(&id).await,
        &[s("ACTIVE", Some("powering-off")), s("SHUTOFF", None)],
    );
    e.expect_conflict(
        &id,
        json!({ "reboot": { "type": "SOFT" } }),
        &format!("Cannot 'reboot' instance {id} while it is in vm_state stopped"),
    )
    .await;
    assert_eq!(e.nova.count(NovaOp::Start), 3);
    assert_eq!(e.nova.count(NovaOp::Stop), 2);
}

#[tokio::test]
async fn shelve_offloads_through_every_task_state_and_unshelve_spawns_again() {
    let Some(e) = setup("shelve").await else {
        return;
    };
    let id = e.nova.add_server("game", "ACTIVE");
    e.expect_202(&id, json!({ "shelve": null })).await;
    walked(
        &e.watch(&id).await,
        &[
            s("ACTIVE", Some("shelving")),
            s("ACTIVE", Some("shelving_image_pending_upload")),
            s("ACTIVE", Some("shelving_image_uploading")),
            s("SHELVED", Some("shelving_offloading")),
            s("SHELVED_OFFLOADED", None),
        ],
    );
    let v = &send(e.get(&id)).await.2["server"];
    assert_eq!(v["OS-EXT-STS:vm_state"], "shelved_offloaded");
    assert_eq!(v["OS-EXT-STS:power_state"], 0);
    e.expect_conflict(
        &id,
        json!({ "shelve": null }),
        &format!("Cannot 'shelve' instance {id} while it is in vm_state shelved_offloaded"),
    )
    .await;
    e.expect_conflict(
        &id,
        start(),
        &format!("Cannot 'start' instance {id} while it is in vm_state shelved_offloaded"),
    )
    .await;
    e.expect_202(&id, json!({ "unshelve": null })).await;
    walked(
        &e.watch(&id).await,
        &[
            s("SHELVED_OFFLOADED", Some("unshelving")),
            s("SHELVED_OFFLOADED", Some("spawning")),
            s("ACTIVE", None),
        ],
    );
    // A stopped server shelves too.
    e.nova.set_status(&id, "SHUTOFF");
    e.expect_202(&id, json!({ "shelve": null })).await;
    assert_eq!(
        e.watch(&id).await.last(),
        Some(&s("SHELVED_OFFLOADED", None))
    );
}

#[tokio::test]
async fn a_cloud_that_keeps_shelved_servers_stops_at_shelved() {
    let Some(e) = setup_with("keep-shelved", |c| c.keep_shelved = true).await else {
        return;
    };
    let id = e.nova.add_server("game", "ACTIVE");
    e.expect_202(&id, json!({ "shelve": null })).await;
    walked(
        &e.watch(&id).await,
        &[
            s("ACTIVE", Some("shelving")),
            s("ACTIVE", Some("shelving_image_pending_upload")),
            s("ACTIVE", Some("shelving_image_uploading")),
            s("SHELVED", None),
        ],
    );
    // 2.77 allows an availability zone in the body.
    let (code, _, v) = send(
        e.action(&id, json!({ "unshelve": { "availability_zone": "nova" } }))
            .header("OpenStack-API-Version", "compute 2.77"),
    )
    .await;
    assert_eq!(code, 202, "{v}");
    walked(
        &e.watch(&id).await,
        &[
            s("SHELVED", Some("unshelving")),
            s("SHELVED", Some("powering-on")),
            s("ACTIVE", None),
        ],
    );
}

#[tokio::test]
async fn reboot_soft_and_hard() {
    let Some(e) = setup("reboot").await else {
        return;
    };
    let id = e.nova.add_server("game", "ACTIVE");
    e.expect_202(&id, json!({ "reboot": { "type": "SOFT" } }))
        .await;
    walked(
        &e.watch(&id).await,
        &[s("REBOOT", Some("rebooting")), s("ACTIVE", None)],
    );
    e.expect_202(&id, json!({ "reboot": { "type": "HARD" } }))
        .await;
    walked(
        &e.watch(&id).await,
        &[s("HARD_REBOOT", Some("rebooting_hard")), s("ACTIVE", None)],
    );
    // HARD also from SHUTOFF (it comes back ACTIVE), SOFT not.
    e.nova.set_status(&id, "SHUTOFF");
    e.expect_conflict(
        &id,
        json!({ "reboot": { "type": "soft" } }),
        &format!("Cannot 'reboot' instance {id} while it is in vm_state stopped"),
    )
    .await;
    e.expect_202(&id, json!({ "reboot": { "type": "hard" } }))
        .await;
    assert_eq!(e.watch(&id).await.last(), Some(&s("ACTIVE", None)));
    assert_eq!(e.nova.count(NovaOp::Reboot), 4);
}

#[tokio::test]
async fn error_state_injected_and_from_a_failing_transition() {
    let Some(e) = setup("error").await else {
        return;
    };
    let id = e.nova.add_server("game", "ACTIVE");
    e.nova.set_error(&id, "Hypervisor went away.");
    let v = &send(e.get(&id)).await.2["server"];
    assert_eq!(v["status"], "ERROR");
    assert_eq!(v["OS-EXT-STS:vm_state"], "error");
    assert_eq!(v["fault"]["message"], "Hypervisor went away.");
    e.expect_conflict(
        &id,
        start(),
        &format!("Cannot 'start' instance {id} while it is in vm_state error"),
    )
    .await;
    // Nova allows a stop from ERROR.
    e.expect_202(&id, stop()).await;
    assert_eq!(e.watch(&id).await.last(), Some(&s("SHUTOFF", None)));
    // A start that fails on the compute host ends in ERROR with a fault.
    e.nova.fail_next_transition(&id, "No valid host was found.");
    e.expect_202(&id, start()).await;
    walked(
        &e.watch(&id).await,
        &[s("SHUTOFF", Some("powering-on")), s("ERROR", None)],
    );
    assert_eq!(
        e.nova.server(&id).and_then(|s| s.fault).as_deref(),
        Some("No valid host was found.")
    );
    let added = e.nova.add_server("broken", "ERROR");
    assert_eq!(e.state(&added).await, s("ERROR", None));
}

// ------------------------------------------------------------------ refusals

#[tokio::test]
async fn unknown_servers_paths_methods_and_bad_bodies() {
    let Some(e) = setup("refusals").await else {
        return;
    };
    let id = e.nova.add_server("game", "SHUTOFF");
    let unknown = "1b2c3d4e-0000-4000-8000-000000000000";
    let (code, _, v) = send(e.get(unknown)).await;
    assert_eq!(code, 404);
    assert_eq!(
        v,
        json!({ "itemNotFound": { "code": 404, "message": format!("Instance {unknown} could not be found.") } })
    );
    let (code, _, v) = send(e.action(unknown, start())).await;
    assert_eq!((code, v["itemNotFound"]["code"].as_u64()), (404, Some(404)));
    let (code, _, v) = send(
        e.c.get(format!("{}/flavors", e.nova.compute_url()))
            .header("X-Auth-Token", &e.token),
    )
    .await;
    assert_eq!((code, v["itemNotFound"]["code"].as_u64()), (404, Some(404)));
    let (code, _, v) = send(
        e.c.delete(e.server_url(&id))
            .header("X-Auth-Token", &e.token),
    )
    .await;
    assert_eq!((code, v["badMethod"]["code"].as_u64()), (405, Some(405)));
    for bad in [
        json!({}),
        json!({ "os-start": {} }),
        json!({ "os-start": null, "os-stop": null }),
        json!({ "reboot": null }),
        json!({ "reboot": {} }),
        json!({ "reboot": { "type": "WARM" } }),
        json!({ "reboot": { "type": "SOFT", "force": true } }),
        json!({ "unshelve": { "availability_zone": "nova" } }),
        json!({ "resize": { "flavorRef": "1" } }),
        json!([]),
    ] {
        let (code, _, v) = send(e.action(&id, bad.clone())).await;
        assert_eq!(code, 400, "{bad}: {v}");
        assert_eq!(v["badRequest"]["code"], 400, "{bad}: {v}");
    }
    let (code, _, v) = send(
        e.c.post(format!("{}/action", e.server_url(&id)))
            .header("X-Auth-Token", &e.token)
            .header("content-type", "application/json")
            .body("{not json"),
    )
    .await;
    assert_eq!(
        (code, v["badRequest"]["message"].as_str()),
        (400, Some("Malformed request body"))
    );
    assert_eq!(
        e.nova.server(&id).map(|s| s.status).as_deref(),
        Some("SHUTOFF")
    );
}

// ------------------------------------------------------------------ faults

#[tokio::test]
async fn fault_rules_throttle_fail_and_stall() {
    let Some(e) = setup("faults").await else {
        return;
    };
    let id = e.nova.add_server("game", "SHUTOFF");
    let other = e.nova.add_server("other", "SHUTOFF");
    e.nova
        .fail_next(NovaFaultRule::throttled(NovaOp::Start, 7).times(2));
    for _ in 0..2 {
        let (code, h, v) = send(e.action(&id, start())).await;
        assert_eq!(code, 429);
        assert_eq!(header(&h, "retry-after"), "7");
        assert_eq!(v["overLimit"]["code"], 429);
        assert_eq!(v["overLimit"]["retryAfter"], "7");
    }
    assert_eq!(
        e.nova.server(&id).map(|s| s.status).as_deref(),
        Some("SHUTOFF")
    );
    e.expect_202(&id, start()).await;

    // Only the named server, only the named op.
    e.nova
        .fail_next(NovaFaultRule::unavailable(NovaOp::GetServer).server(&other));
    assert_eq!(send(e.get(&id)).await.0, 200);
    let (code, _, v) = send(e.get(&other)).await;
    assert_eq!(
        (code, v["serviceUnavailable"]["code"].as_u64()),
        (503, Some(503))
    );
    assert_eq!(send(e.get(&other)).await.0, 200);

    // Any op, plain 500 computeFault.
    e.nova.fail_next(NovaFaultRule::default());
    let (code, _, v) = send(e.get(&other)).await;
    assert_eq!((code, v["computeFault"]["code"].as_u64()), (500, Some(500)));

    // Stall, then handled normally; a client with a short timeout gives up.
    e.nova.fail_next(NovaFaultRule::stall(
        NovaOp::GetServer,
        Duration::from_millis(400),
    ));
    let t0 = Instant::now();
    assert_eq!(send(e.get(&other)).await.0, 200);
    assert!(t0.elapsed() >= Duration::from_millis(400));
    e.nova.fail_next(NovaFaultRule::stall(
        NovaOp::GetServer,
        Duration::from_secs(2),
    ));
    let r = e
        .get(&other)
        .timeout(Duration::from_millis(200))
        .send()
        .await;
    assert!(r.is_err_and(|err| err.is_timeout()));

    // Faults come after authentication: an unauthenticated request is a 401.
    e.nova.fail_next(NovaFaultRule::default().any_op());
    assert_eq!(send(e.c.get(e.server_url(&other))).await.0, 401);
    e.nova.clear_faults();
    assert_eq!(send(e.get(&other)).await.0, 200);
    let statuses: Vec<u16> = e.nova.requests().iter().map(|r| r.status).collect();
    assert!(
        statuses.starts_with(&[429, 429, 202, 200, 503, 200, 500]),
        "{statuses:?}"
    );
}

#[tokio::test]
async fn keystone_down_for_the_simulator_is_503() {
    let Some(ks) = Keystone::for_tests().await else {
        return;
    };
    let mut creds = ks.service_credentials();
    creds.auth_url = "http://127.0.0.1:9/v3".into();
    let nova = NovaSim::start(NovaSimConfig::new(creds))
        .await
        .expect("starts");
    let id = nova.add_server("a", "ACTIVE");
    let (code, _, v) = send(
        client()
            .get(format!("{}/servers/{id}", nova.compute_url()))
            .header("X-Auth-Token", "anything"),
    )
    .await;
    assert_eq!(
        (code, v["serviceUnavailable"]["code"].as_u64()),
        (503, Some(503))
    );
}
