//! Strictness and behaviour of the ARM container-group API.

use crate::common::*;
use gamefleet_sim::{FaultRule, Op, SimConfig};
use serde_json::{json, Value};
use std::time::Duration;

#[tokio::test]
async fn missing_token_is_401_authentication_failed() {
    let sim = start(fast_config()).await;
    let c = client();
    let (status, h, body) = send(c.get(group_url(&sim, RG, "cg-1"))).await;
    assert_eq!(status, 401);
    assert_eq!(code(&body), "AuthenticationFailed");
    assert_eq!(
        body["error"]["message"],
        "Authentication failed. The 'Authorization' header is missing."
    );
    assert_eq!(
        header(&h, "www-authenticate"),
        "Bearer authorization_uri=\"https://login.windows.net/\", error=\"invalid_token\", error_description=\"The authentication failed because of missing 'Authorization' header.\""
    );
    assert_eq!(
        header(&h, "content-type"),
        "application/json; charset=utf-8"
    );
    assert!(!header(&h, "x-ms-request-id").is_empty());
    assert!(!header(&h, "x-ms-correlation-request-id").is_empty());
    assert_eq!(sim.count(Op::Get), 1, "rejected requests are counted too");
}

#[tokio::test]
async fn bad_tokens_are_401() {
    let sim = start(fast_config()).await;
    let other = start(fast_config()).await;
    let c = client();
    let url = group_url(&sim, RG, "cg-1");

    let (s, _, b) = send(c.get(&url).bearer_auth("not-a-token")).await;
    assert_eq!((s, code(&b)), (401, "InvalidAuthenticationToken"));

    // A token from another simulator instance is just as unknown.
    let foreign = token(&c, &other).await;
    let (s, _, b) = send(c.get(&url).bearer_auth(&foreign)).await;
    assert_eq!((s, code(&b)), (401, "InvalidAuthenticationToken"));

    // Not a bearer token.
    let (s, _, b) = send(c.get(&url).header("authorization", "Basic Zm9vOmJhcg==")).await;
    assert_eq!((s, code(&b)), (401, "AuthenticationFailed"));

    // A storage token is for the wrong audience.
    let storage = token_for(&c, &sim, "https://storage.azure.com/").await;
    let (s, _, b) = send(c.get(&url).bearer_auth(&storage)).await;
    assert_eq!((s, code(&b)), (401, "InvalidAuthenticationTokenAudience"));

    // The right one is fine (404: the group does not exist).
    let t = token(&c, &sim).await;
    let (s, _, b) = send(c.get(&url).bearer_auth(&t)).await;
    assert_eq!((s, code(&b)), (404, "ResourceNotFound"));
    assert_eq!(
        b["error"]["message"],
        "The Resource 'Microsoft.ContainerInstance/containerGroups/cg-1' under resource group 'fleet-rg' was not found. For more details please go to https://aka.ms/ARMResourceNotFoundFix"
    );
}

#[tokio::test]
async fn expired_tokens_are_401_and_fresh_ones_work() {
    let sim = start(fast_config()).await;
    let c = client();
    let url = group_url(&sim, RG, "cg-1");
    let t = token(&c, &sim).await;
    sim.expire_tokens();
    let (s, h, b) = send(c.get(&url).bearer_auth(&t)).await;
    assert_eq!((s, code(&b)), (401, "ExpiredAuthenticationToken"));
    assert!(header(&h, "www-authenticate").contains("invalid_token"));
    let fresh = token(&c, &sim).await;
    let (s, _, _) = send(c.get(&url).bearer_auth(&fresh)).await;
    assert_eq!(s, 404);
    assert_eq!(sim.issued_tokens(), 2);

    // Lifetime-based expiry.
    let short = start(SimConfig {
        token_lifetime: Duration::from_secs(1),
        ..fast_config()
    })
    .await;
    let t = token(&c, &short).await;
    let url = group_url(&short, RG, "cg-1");
    assert_eq!(send(c.get(&url).bearer_auth(&t)).await.0, 404);
    tokio::time::sleep(Duration::from_millis(1050)).await;
    let (s, _, b) = send(c.get(&url).bearer_auth(&t)).await;
    assert_eq!((s, code(&b)), (401, "ExpiredAuthenticationToken"));
}

#[tokio::test]
async fn api_version_is_required_and_checked() {
    let sim = start(fast_config()).await;
    let c = client();
    let t = token(&c, &sim).await;
    let base = format!("{}/cg-1", groups_url(&sim, RG));

    let (s, _, b) = send(c.get(&base).bearer_auth(&t)).await;
    assert_eq!((s, code(&b)), (400, "MissingApiVersionParameter"));
    assert_eq!(
        b["error"]["message"],
        "The api-version query parameter (?api-version=) is required for all requests."
    );

    let (s, _, b) = send(
        c.get(format!("{base}?api-version=2021-10-01"))
            .bearer_auth(&t),
    )
    .await;
    assert_eq!((s, code(&b)), (400, "InvalidApiVersionParameter"));
    assert_eq!(
        b["error"]["message"],
        "The api-version '2021-10-01' is invalid. The supported versions are '2023-05-01'."
    );

    // Authentication is checked before the api-version.
    let (s, _, b) = send(c.get(&base)).await;
    assert_eq!((s, code(&b)), (401, "AuthenticationFailed"));
}

#[tokio::test]
async fn subscription_and_resource_group_must_exist() {
    let sim = start(SimConfig {
        resource_groups: Some(vec!["Fleet-RG".to_string()]),
        ..fast_config()
    })
    .await;
    let c = client();
    let t = token(&c, &sim).await;
    let wrong_sub = format!(
        "{}/subscriptions/11111111-2222-3333-4444-555555555555/resourceGroups/fleet-rg/providers/Microsoft.ContainerInstance/containerGroups/cg?api-version={API}",
        sim.arm_endpoint()
    );
    let (s, _, b) = send(c.get(wrong_sub).bearer_auth(&t)).await;
    assert_eq!((s, code(&b)), (404, "SubscriptionNotFound"));

    let (s, _, b) = send(c.get(group_url(&sim, "other-rg", "cg")).bearer_auth(&t)).await;
    assert_eq!((s, code(&b)), (404, "ResourceGroupNotFound"));

    // Resource group names compare case-insensitively; the configured casing wins.
    let (s, _, _) = send(
        c.put(group_url(&sim, "FLEET-rg", "cg"))
            .bearer_auth(&t)
            .json(&group_body("img:1")),
    )
    .await;
    assert_eq!(s, 201);
    assert_eq!(
        sim.group_names(),
        vec![("Fleet-RG".to_string(), "cg".to_string())]
    );
}

#[tokio::test]
async fn put_bodies_are_validated_strictly() {
    let sim = start(fast_config()).await;
    let c = client();
    let t = token(&c, &sim).await;
    let url = group_url(&sim, RG, "cg-1");

    // The flattened SDK shape: image at the container's top level.
    let flat = json!({
        "location": "westeurope",
        "properties": {
            "osType": "Linux",
            "containers": [{
                "name": "game",
                "image": "img:1",
                "resources": { "requests": { "cpu": 1, "memoryInGB": 1 } }
            }]
        }
    });
    let (s, _, b) = send(c.put(&url).bearer_auth(&t).json(&flat)).await;
    assert_eq!((s, code(&b)), (400, "InvalidRequestContent"));
    let msg = b["error"]["message"].as_str().unwrap_or_default();
    assert!(
        msg.contains(
            "Required property 'properties' not found in JSON. Path 'properties.containers[0]'"
        ),
        "{msg}"
    );

    let mut no_os = group_body("img:1");
    no_os["properties"]
        .as_object_mut()
        .map(|p| p.remove("osType"));
    let (s, _, b) = send(c.put(&url).bearer_auth(&t).json(&no_os)).await;
    assert_eq!(s, 400);
    assert!(b["error"]["message"]
        .as_str()
        .is_some_and(|m| m.contains("'osType'") && m.contains("Path 'properties'")));

    let mut no_cpu = group_body("img:1");
    no_cpu["properties"]["containers"][0]["properties"]["resources"]["requests"]["cpu"] = json!(-1);
    let (s, _, b) = send(c.put(&url).bearer_auth(&t).json(&no_cpu)).await;
    assert_eq!(s, 400);
    assert!(b["error"]["message"]
        .as_str()
        .is_some_and(|m| m.contains("properties.containers[0].properties.resources.requests.cpu")));

    let (s, _, b) = send(
        c.put(group_url(&sim, RG, "Bad_Name"))
            .bearer_auth(&t)
            .json(&group_body("img:1")),
    )
    .await;
    assert_eq!((s, code(&b)), (400, "InvalidContainerGroupName"));

    let (s, _, b) = send(
        c.put(&url)
            .bearer_auth(&t)
            .header("content-type", "application/json")
            .body("{not json"),
    )
    .await;
    assert_eq!((s, code(&b)), (400, "InvalidRequestContent"));

    let (s, _, b) = send(
        c.put(&url)
            .bearer_auth(&t)
            .header("content-type", "text/plain")
            .body(group_body("img:1").to_string()),
    )
    .await;
    assert_eq!((s, code(&b)), (415, "UnsupportedMediaType"));

    let mut no_loc = group_body("img:1");
    no_loc.as_object_mut().map(|o| o.remove("location"));
    let (s, _, b) = send(c.put(&url).bearer_auth(&t).json(&no_loc)).await;
    assert_eq!((s, code(&b)), (400, "LocationRequired"));

    assert!(sim.group_names().is_empty(), "nothing was created");
    assert_eq!(sim.count(Op::Put), 7);
}

#[tokio::test]
async fn full_lifecycle_put_poll_get_delete() {
    let sim = start(fast_config()).await;
    let c = client();
    let t = token(&c, &sim).await;
    let url = group_url(&sim, RG, "cg-life");

    let (s, h, b) = send(c.put(&url).bearer_auth(&t).json(&group_body("img:1"))).await;
    assert_eq!(s, 201);
    assert_eq!(b["properties"]["provisioningState"], "Pending");
    assert_eq!(b["type"], "Microsoft.ContainerInstance/containerGroups");
    assert_eq!(b["name"], "cg-life");
    assert_eq!(b["tags"]["gamefleet"], "test");
    assert_eq!(
        b["id"],
        format!(
            "/subscriptions/{}/resourceGroups/{RG}/providers/Microsoft.ContainerInstance/containerGroups/cg-life",
            sim.subscription_id()
        )
    );
    let env = &b["properties"]["containers"][0]["properties"]["environmentVariables"];
    assert_eq!(env[0], json!({"name": "MODE", "value": "survival"}));
    assert_eq!(
        env[1],
        json!({"name": "RCON_PASSWORD"}),
        "secureValue is never echoed"
    );
    assert!(b["properties"].get("instanceView").is_none());
    assert_eq!(header(&h, "retry-after"), "1");
    let async_url = header(&h, "azure-asyncoperation").to_string();
    assert!(
        async_url.starts_with(&format!(
            "{}/subscriptions/{}/providers/Microsoft.ContainerInstance/locations/westeurope/operations/",
            sim.arm_endpoint(),
            sim.subscription_id()
        )) && async_url.ends_with("?api-version=2023-05-01"),
        "{async_url}"
    );

    let (_, _, g) = send(c.get(&url).bearer_auth(&t)).await;
    assert_eq!(g["properties"]["provisioningState"], "Pending");
    assert_eq!(g["properties"]["instanceView"]["state"], "Pending");

    // The operation URL needs a token too.
    assert_eq!(send(c.get(&async_url)).await.0, 401);
    let op: Value = eventually(Duration::from_secs(3), "operation Succeeded", || {
        let req = c.get(&async_url).bearer_auth(&t);
        async move {
            let (s, _, v) = send(req).await;
            assert_eq!(s, 200);
            (v["status"] != "InProgress").then_some(v)
        }
    })
    .await;
    assert_eq!(op["status"], "Succeeded");
    assert!(op["startTime"].is_string() && op["endTime"].is_string());

    let (s, _, g) = send(c.get(&url).bearer_auth(&t)).await;
    assert_eq!(s, 200);
    assert_eq!(g["properties"]["provisioningState"], "Succeeded");
    assert_eq!(g["properties"]["instanceView"]["state"], "Running");
    assert_eq!(
        g["properties"]["containers"][0]["properties"]["instanceView"]["currentState"]["state"],
        "Running"
    );
    let ip = g["properties"]["ipAddress"]["ip"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(ip.starts_with("20."), "{ip}");
    assert_eq!(sim.group(RG, "cg-life"), Some(g.clone()));

    // Update: 200, IP kept.
    let mut body = group_body("img:2");
    body["tags"]["v"] = json!("2");
    let (s, _, b) = send(c.put(&url).bearer_auth(&t).json(&body)).await;
    assert_eq!(s, 200);
    assert_eq!(b["properties"]["ipAddress"]["ip"], ip.as_str());
    // Moving the group is not allowed.
    let mut moved = group_body("img:2");
    moved["location"] = json!("northeurope");
    let (s, _, b) = send(c.put(&url).bearer_auth(&t).json(&moved)).await;
    assert_eq!((s, code(&b)), (400, "InvalidResourceLocation"));

    // Synchronous delete (delete_delay ZERO): 200 with the body, gone at once.
    let (s, _, b) = send(c.delete(&url).bearer_auth(&t)).await;
    assert_eq!(s, 200);
    assert_eq!(b["name"], "cg-life");
    let (s, _, b) = send(c.get(&url).bearer_auth(&t)).await;
    assert_eq!((s, code(&b)), (404, "ResourceNotFound"));
    let (s, _, b) = send(c.delete(&url).bearer_auth(&t)).await;
    assert_eq!((s, b), (204, Value::Null));
    assert_eq!(sim.count(Op::Delete), 2);
}

#[tokio::test]
async fn async_delete_with_location_poll() {
    let sim = start(fast_config()).await;
    sim.set_delete_delay(Duration::from_millis(300));
    sim.insert_group(RG, "cg-del", group_body("img:1"));
    let c = client();
    let t = token(&c, &sim).await;
    let url = group_url(&sim, RG, "cg-del");

    let (s, h, b) = send(c.delete(&url).bearer_auth(&t)).await;
    assert_eq!((s, b), (202, Value::Null));
    let location = header(&h, "location").to_string();
    assert!(location.contains("/operationResults/"), "{location}");
    assert!(header(&h, "azure-asyncoperation").contains("/operations/"));
    assert_eq!(header(&h, "retry-after"), "1");

    let (_, _, g) = send(c.get(&url).bearer_auth(&t)).await;
    assert_eq!(g["properties"]["provisioningState"], "Deleting");
    // A second DELETE while pending: 202 again, same operation.
    let (s, h2, _) = send(c.delete(&url).bearer_auth(&t)).await;
    assert_eq!(s, 202);
    assert_eq!(header(&h2, "location"), location);

    let (s, h, _) = send(c.get(&location).bearer_auth(&t)).await;
    assert_eq!(s, 202);
    assert_eq!(header(&h, "retry-after"), "1");
    eventually(Duration::from_secs(3), "Location poll 204", || {
        let req = c.get(&location).bearer_auth(&t);
        async move { (send(req).await.0 == 204).then_some(()) }
    })
    .await;
    assert_eq!(send(c.get(&url).bearer_auth(&t)).await.0, 404);
    assert!(sim.count(Op::OperationPoll) >= 2);
}

#[tokio::test]
async fn list_pages_with_next_link() {
    let sim = start(SimConfig {
        page_size: 100,
        ..fast_config()
    })
    .await;
    for i in 0..250 {
        sim.insert_group(RG, &format!("cg-{i:03}"), group_body("img:1"));
    }
    sim.insert_group("other-rg", "cg-other", group_body("img:1"));
    let c = client();
    let t = token(&c, &sim).await;

    let mut next = Some(format!("{}?api-version={API}", groups_url(&sim, RG)));
    let mut pages = Vec::new();
    let mut names = Vec::new();
    while let Some(url) = next {
        let (s, _, b) = send(c.get(&url).bearer_auth(&t)).await;
        assert_eq!(s, 200, "{b}");
        let items = b["value"].as_array().cloned().unwrap_or_default();
        for it in &items {
            assert!(it["properties"].get("instanceView").is_none());
            assert!(it["properties"]["provisioningState"].is_string());
            names.push(it["name"].as_str().unwrap_or_default().to_string());
        }
        pages.push(items.len());
        next = b
            .get("nextLink")
            .and_then(Value::as_str)
            .map(str::to_string);
        if let Some(n) = &next {
            assert!(n.contains("api-version=2023-05-01&$skiptoken="), "{n}");
        }
    }
    assert_eq!(pages, vec![100, 100, 50]);
    names.sort();
    names.dedup();
    assert_eq!(names.len(), 250);

    // Subscription-wide list sees the other resource group too.
    let sub_url = format!(
        "{}/subscriptions/{}/providers/Microsoft.ContainerInstance/containerGroups?api-version={API}",
        sim.arm_endpoint(),
        sim.subscription_id()
    );
    let mut total = 0;
    let mut next = Some(sub_url);
    while let Some(url) = next {
        let (_, _, b) = send(c.get(&url).bearer_auth(&t)).await;
        total += b["value"].as_array().map_or(0, Vec::len);
        next = b
            .get("nextLink")
            .and_then(Value::as_str)
            .map(str::to_string);
    }
    assert_eq!(total, 251);
    assert_eq!(sim.count(Op::List), 6);
}

#[tokio::test]
async fn logs_with_tail() {
    let sim = start(fast_config()).await;
    sim.insert_group(RG, "cg-log", group_body("img:1"));
    for i in 1..=5 {
        sim.append_log(RG, "cg-log", "game", &format!("line {i}"));
    }
    let c = client();
    let t = token(&c, &sim).await;
    let logs = |container: &str, name: &str, tail: Option<u32>| {
        let mut url = format!(
            "{}/{name}/containers/{container}/logs?api-version={API}",
            groups_url(&sim, RG)
        );
        if let Some(n) = tail {
            url.push_str(&format!("&tail={n}"));
        }
        c.get(url).bearer_auth(&t)
    };
    let (s, _, b) = send(logs("game", "cg-log", None)).await;
    assert_eq!(s, 200);
    assert_eq!(
        b["content"],
        "gamefleet-sim: container game started\nline 1\nline 2\nline 3\nline 4\nline 5\n"
    );
    let (_, _, b) = send(logs("game", "cg-log", Some(2))).await;
    assert_eq!(b["content"], "line 4\nline 5\n");
    let (s, _, b) = send(logs("nope", "cg-log", None)).await;
    assert_eq!((s, code(&b)), (404, "ContainerNotFound"));
    let (s, _, b) = send(logs("game", "cg-missing", None)).await;
    assert_eq!((s, code(&b)), (404, "ResourceNotFound"));
    assert_eq!(sim.count(Op::Logs), 4);
}

#[tokio::test]
async fn fault_rules_with_retry_after_and_times() {
    let sim = start(fast_config()).await;
    sim.insert_group(RG, "cg-a", group_body("img:1"));
    sim.insert_group(RG, "cg-b", group_body("img:1"));
    let c = client();
    let t = token(&c, &sim).await;

    sim.fail_next(FaultRule::throttled(Op::Get, 7).times(2));
    for _ in 0..2 {
        let (s, h, b) = send(c.get(group_url(&sim, RG, "cg-a")).bearer_auth(&t)).await;
        assert_eq!((s, code(&b)), (429, "TooManyRequests"));
        assert_eq!(header(&h, "retry-after"), "7");
    }
    assert_eq!(
        send(c.get(group_url(&sim, RG, "cg-a")).bearer_auth(&t))
            .await
            .0,
        200
    );

    // Only names containing "b"; other operations untouched.
    sim.fail_next(FaultRule::new(Op::Delete, 409, "Conflict", "busy").name_contains("-b"));
    let (s, _, b) = send(c.delete(group_url(&sim, RG, "cg-a")).bearer_auth(&t)).await;
    assert_eq!(s, 200, "{b}");
    let (s, _, b) = send(c.delete(group_url(&sim, RG, "cg-b")).bearer_auth(&t)).await;
    assert_eq!((s, code(&b)), (409, "Conflict"));
    assert_eq!(b["error"]["message"], "busy");
    assert_eq!(
        send(c.delete(group_url(&sim, RG, "cg-b")).bearer_auth(&t))
            .await
            .0,
        200
    );

    // Faults come after authentication.
    sim.fail_next(FaultRule::new(Op::Get, 500, "InternalServerError", "boom"));
    assert_eq!(send(c.get(group_url(&sim, RG, "cg-a"))).await.0, 401);
    assert_eq!(
        send(c.get(group_url(&sim, RG, "cg-a")).bearer_auth(&t))
            .await
            .0,
        500
    );

    // A stall provokes a client timeout.
    sim.fail_next(FaultRule::stall(Op::Get, Duration::from_millis(400)));
    let impatient = reqwest::Client::builder()
        .timeout(Duration::from_millis(100))
        .build()
        .expect("client");
    let r = impatient
        .get(group_url(&sim, RG, "cg-a"))
        .bearer_auth(&t)
        .send()
        .await;
    assert!(r.is_err_and(|e| e.is_timeout()));

    // The stalled request is recorded once the server notices the client is gone
    // (499) or has answered (200) — in any case within the stall.
    tokio::time::sleep(Duration::from_millis(450)).await;
    assert_eq!(sim.count(Op::Get), 6);
    let statuses: Vec<u16> = sim
        .requests()
        .iter()
        .filter(|r| r.operation == Some(Op::Get))
        .map(|r| r.status)
        .collect();
    assert_eq!(&statuses[..5], &[429, 429, 200, 401, 500]);
    assert!(statuses[5] == 499 || statuses[5] == 200, "{statuses:?}");
    sim.reset_counts();
    assert_eq!(sim.count(Op::Get), 0);
    assert!(sim.requests().is_empty());
}

#[tokio::test]
async fn failed_provisioning() {
    let sim = start(SimConfig {
        events: gamefleet_sim::EventConfig {
            auto_deliver: false,
            ..Default::default()
        },
        ..fast_config()
    })
    .await;
    let c = client();
    let t = token(&c, &sim).await;
    let url = group_url(&sim, RG, "cg-bad");
    let (s, h, _) = send(
        c.put(&url)
            .bearer_auth(&t)
            .json(&group_body("registry.example/fail-provision:1")),
    )
    .await;
    assert_eq!(s, 201);
    let op_url = header(&h, "azure-asyncoperation").to_string();
    let g = eventually(Duration::from_secs(3), "Failed", || async {
        sim.group(RG, "cg-bad")
            .filter(|g| g["properties"]["provisioningState"] != "Pending")
    })
    .await;
    assert_eq!(g["properties"]["provisioningState"], "Failed");
    assert_eq!(g["properties"]["instanceView"]["state"], "Failed");
    assert!(g["properties"]["ipAddress"].get("ip").is_none());
    let (_, _, op) = send(c.get(&op_url).bearer_auth(&t)).await;
    assert_eq!(op["status"], "Failed");
    assert_eq!(op["error"]["code"], "InaccessibleImage");
    let events = sim.take_events();
    assert_eq!(events.len(), 1);
    assert_eq!(
        events[0]["eventType"],
        "Microsoft.Resources.ResourceWriteFailure"
    );
    assert_eq!(events[0]["data"]["status"], "Failed");
}

#[tokio::test]
async fn start_stop_restart() {
    let sim = start(SimConfig {
        events: gamefleet_sim::EventConfig {
            auto_deliver: false,
            ..Default::default()
        },
        ..fast_config()
    })
    .await;
    sim.insert_group(RG, "cg-ss", group_body("img:1"));
    let ip1 = sim
        .group(RG, "cg-ss")
        .map(|g| g["properties"]["ipAddress"]["ip"].clone());
    let c = client();
    let t = token(&c, &sim).await;
    let action = |a: &str| {
        c.post(format!(
            "{}/cg-ss/{a}?api-version={API}",
            groups_url(&sim, RG)
        ))
        .bearer_auth(&t)
    };

    assert_eq!(send(action("start")).await.0, 204, "already running");
    assert_eq!(send(action("stop")).await.0, 204);
    let g = sim.group(RG, "cg-ss").unwrap_or_default();
    assert_eq!(g["properties"]["instanceView"]["state"], "Stopped");
    assert_eq!(
        g["properties"]["containers"][0]["properties"]["instanceView"]["currentState"]["state"],
        "Terminated"
    );
    let (s, h, _) = send(action("start")).await;
    assert_eq!(s, 202);
    assert!(header(&h, "azure-asyncoperation").contains("/operations/"));
    assert_eq!(
        sim.group(RG, "cg-ss").unwrap_or_default()["properties"]["instanceView"]["state"],
        "Pending"
    );
    let g = eventually(Duration::from_secs(3), "Running again", || async {
        sim.group(RG, "cg-ss")
            .filter(|g| g["properties"]["instanceView"]["state"] == "Running")
    })
    .await;
    let ip2 = Some(g["properties"]["ipAddress"]["ip"].clone());
    assert!(ip2.as_ref().is_some_and(Value::is_string));
    assert_ne!(ip1, ip2, "a stopped group gets a new IP on start");
    assert_eq!(send(action("restart")).await.0, 204);
    let g = sim.group(RG, "cg-ss").unwrap_or_default();
    assert_eq!(
        g["properties"]["containers"][0]["properties"]["instanceView"]["restartCount"],
        1
    );
    assert_eq!(send(action("explode")).await.0, 404);
    assert_eq!(
        send(
            c.get(format!(
                "{}/cg-ss/stop?api-version={API}",
                groups_url(&sim, RG)
            ))
            .bearer_auth(&t)
        )
        .await
        .0,
        405
    );

    let ops: Vec<String> = sim
        .take_events()
        .iter()
        .map(|e| {
            e["data"]["operationName"]
                .as_str()
                .unwrap_or_default()
                .to_string()
        })
        .collect();
    assert_eq!(
        ops,
        [
            "start/action",
            "stop/action",
            "start/action",
            "restart/action"
        ]
        .map(|a| format!("Microsoft.ContainerInstance/containerGroups/{a}"))
    );
    assert_eq!(
        (
            sim.count(Op::Start),
            sim.count(Op::Stop),
            sim.count(Op::Restart)
        ),
        (2, 1, 1)
    );
}

#[tokio::test]
async fn fixed_segments_are_case_insensitive() {
    let sim = start(fast_config()).await;
    let c = client();
    let t = token(&c, &sim).await;
    let url = format!(
        "{}/SUBSCRIPTIONS/{}/RESOURCEGROUPS/Fleet-RG/PROVIDERS/microsoft.containerinstance/CONTAINERGROUPS/cg-case?api-version={API}",
        sim.arm_endpoint(),
        sim.subscription_id()
    );
    assert_eq!(
        send(c.put(&url).bearer_auth(&t).json(&group_body("img:1")))
            .await
            .0,
        201
    );
    assert_eq!(
        send(
            c.get(group_url(&sim, "fleet-rg", "cg-case"))
                .bearer_auth(&t)
        )
        .await
        .0,
        200
    );
    // Container group names are case-sensitive.
    assert_eq!(
        send(c.get(group_url(&sim, RG, "CG-CASE")).bearer_auth(&t))
            .await
            .0,
        404
    );
    assert_eq!(
        sim.group_names(),
        vec![("Fleet-RG".to_string(), "cg-case".to_string())]
    );

    let (s, _, b) = send(
        c.get(format!(
            "{}/subscriptions/{}/resourceGroups/{RG}/providers/Microsoft.ContainerInstance/widgets/w?api-version={API}",
            sim.arm_endpoint(),
            sim.subscription_id()
        ))
        .bearer_auth(&t),
    )
    .await;
    assert_eq!((s, code(&b)), (404, "InvalidResourceType"));
    let (s, _, b) = send(c.patch(group_url(&sim, RG, "cg-case")).bearer_auth(&t)).await;
    assert_eq!((s, code(&b)), (405, "MethodNotAllowed"));
}

#[tokio::test]
async fn delete_concurrency_is_tracked() {
    let sim = start(fast_config()).await;
    sim.set_delete_handling_delay(Duration::from_millis(250));
    for i in 0..6 {
        sim.insert_group(RG, &format!("cg-{i}"), group_body("img:1"));
    }
    let c = client();
    let t = token(&c, &sim).await;
    let started = std::time::Instant::now();
    let results = futures::future::join_all((0..6).map(|i| {
        let req = c
            .delete(group_url(&sim, RG, &format!("cg-{i}")))
            .bearer_auth(&t);
        async move { send(req).await.0 }
    }))
    .await;
    assert_eq!(results, vec![200; 6]);
    // Sequential handling would take 6 x 250 ms.
    assert!(started.elapsed() < Duration::from_millis(1200));
    assert_eq!(sim.max_concurrent_deletes(), 6);
    assert!(sim.group_names().is_empty());
}

#[tokio::test]
async fn shutdown_refuses_connections_and_resume_recovers() {
    let sim = start(fast_config()).await;
    sim.insert_group(RG, "cg-1", group_body("img:1"));
    let c = client();
    let t = token(&c, &sim).await;
    let url = group_url(&sim, RG, "cg-1");
    assert_eq!(send(c.get(&url).bearer_auth(&t)).await.0, 200);
    sim.shutdown().await;
    // Same client: its pooled keep-alive connection must not be answered either.
    let r = c.get(&url).bearer_auth(&t).send().await;
    assert!(r.is_err(), "{r:?}");
    assert!(!sim.is_running());
    sim.resume().await.expect("resume");
    assert_eq!(
        send(c.get(&url).bearer_auth(&t)).await.0,
        200,
        "state survives"
    );
}

#[tokio::test]
async fn dropping_the_last_handle_stops_the_server() {
    let sim = start(fast_config()).await;
    let clone = sim.clone();
    let addr = sim.addr();
    drop(sim);
    // A clone keeps it alive.
    assert!(tokio::net::TcpStream::connect(addr).await.is_ok());
    drop(clone);
    eventually(Duration::from_secs(2), "connection refused", || async {
        tokio::net::TcpStream::connect(addr)
            .await
            .is_err()
            .then_some(())
    })
    .await;
}

#[tokio::test]
async fn events_are_queued_without_a_sink() {
    // Default EventConfig: auto_deliver, but no sink -> queue only.
    let sim = start(fast_config()).await;
    let c = client();
    let t = token(&c, &sim).await;
    let url = group_url(&sim, "Mixed-Case-RG", "cg-q");
    assert_eq!(
        send(c.put(&url).bearer_auth(&t).json(&group_body("img:1")))
            .await
            .0,
        201
    );
    let events = eventually(Duration::from_secs(3), "write event", || async {
        let e = sim.take_events();
        (!e.is_empty()).then_some(e)
    })
    .await;
    assert_eq!(
        events[0]["eventType"],
        "Microsoft.Resources.ResourceWriteSuccess"
    );
    assert_eq!(
        events[0]["data"]["resourceUri"],
        format!(
            "/subscriptions/{}/resourcegroups/Mixed-Case-RG/providers/Microsoft.ContainerInstance/containerGroups/cg-q",
            sim.subscription_id()
        )
    );
    assert!(sim.deliveries().is_empty());
}

#[tokio::test]
async fn the_write_bucket_throttles_writes_not_reads_and_says_what_is_left() {
    let sim = start(SimConfig {
        write_bucket: Some(gamefleet_sim::TokenBucket {
            capacity: 3,
            // Slow enough that the test's own requests do not earn a token.
            refill_per_sec: 0.1,
        }),
        ..fast_config()
    })
    .await;
    sim.insert_group(RG, "cg-a", group_body("img:1"));
    let c = client();
    let t = token(&c, &sim).await;
    let remaining = "x-ms-ratelimit-remaining-subscription-writes";

    // Reads are not counted.
    for _ in 0..5 {
        let (s, h, _) = send(c.get(group_url(&sim, RG, "cg-a")).bearer_auth(&t)).await;
        assert_eq!(s, 200);
        assert!(h.get(remaining).is_none());
        assert_eq!(
            header(&h, "x-ms-ratelimit-remaining-subscription-reads"),
            "249"
        );
    }
    // PUT, POST restart and DELETE spend the 3 tokens, each answer saying how many are left.
    let (s, h, b) = send(
        c.put(group_url(&sim, RG, "cg-b"))
            .bearer_auth(&t)
            .json(&group_body("img:1")),
    )
    .await;
    assert_eq!(s, 201, "{b}");
    assert_eq!(header(&h, remaining), "2");
    let restart = format!("{}/cg-a/restart?api-version={API}", groups_url(&sim, RG));
    let (s, h, b) = send(c.post(&restart).bearer_auth(&t)).await;
    assert!(s < 300, "{s} {b}");
    assert_eq!(header(&h, remaining), "1");
    let (s, h, b) = send(c.delete(group_url(&sim, RG, "cg-a")).bearer_auth(&t)).await;
    assert!(s < 300, "{s} {b}");
    assert_eq!(header(&h, remaining), "0");
    assert_eq!(
        header(&h, "x-ms-ratelimit-remaining-subscription-deletes"),
        "0",
        "ARM's name for a DELETE's count, from the same bucket"
    );
    // Empty: ARM's throttling answer, nothing done.
    let (s, h, b) = send(c.delete(group_url(&sim, RG, "cg-b")).bearer_auth(&t)).await;
    assert_eq!((s, code(&b)), (429, "SubscriptionRequestsThrottled"), "{b}");
    assert_eq!(header(&h, "retry-after"), "10");
    assert_eq!(header(&h, remaining), "0");
    assert!(b["error"]["message"]
        .as_str()
        .unwrap_or_default()
        .contains("Number of 'write' requests for subscription"));
    assert!(sim.group(RG, "cg-b").is_some());
    assert_eq!(sim.throttled_writes(), 1);
    sim.refill_write_bucket();
    let (s, _, _) = send(c.delete(group_url(&sim, RG, "cg-b")).bearer_auth(&t)).await;
    assert!(s < 300);
    sim.reset_counts();
    assert_eq!(sim.throttled_writes(), 0);
}

#[tokio::test]
async fn without_a_bucket_writes_are_unlimited() {
    let sim = start(fast_config()).await;
    let c = client();
    let t = token(&c, &sim).await;
    for i in 0..30 {
        let (s, h, _) = send(
            c.delete(group_url(&sim, RG, &format!("cg-{i}")))
                .bearer_auth(&t),
        )
        .await;
        assert!(s < 300, "{s}");
        // A fixed count just under ARM's bucket, as before write buckets existed.
        assert_eq!(
            header(&h, "x-ms-ratelimit-remaining-subscription-deletes"),
            "199"
        );
    }
    assert_eq!(sim.throttled_writes(), 0);
}
