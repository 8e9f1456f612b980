//! Bad input on every route: a clear 4xx with a JSON error, nothing written,
//! nothing sent to ARM, and the process keeps serving.

use crate::helpers::*;
use reqwest::StatusCode;
use serde_json::{json, Value};

enum Body {
    Json(Value),
    Raw(&'static str, Vec<u8>),
}

fn cases() -> Vec<(&'static str, Body, u16)> {
    let big = vec![b' '; 1024 * 1024 + 10];
    let deep = format!("{}{}", "[".repeat(5000), "]".repeat(5000)).into_bytes();
    let mut v = vec![];
    for route in [
        "/api/Create",
        "/api/Delete",
        "/api/Details",
        "/api/SetSessions",
        "/api/SetState",
    ] {
        v.push((
            route,
            Body::Raw("application/json", b"{not json".to_vec()),
            400,
        ));
        v.push((route, Body::Raw("application/json", b"".to_vec()), 400));
        v.push((
            route,
            Body::Raw("application/json", vec![b'"', 0xff, 0xfe, b'"']),
            400,
        ));
        v.push((route, Body::Raw("application/json", deep.clone()), 400));
        v.push((route, Body::Raw("application/json", big.clone()), 413));
        v.push((route, Body::Raw("text/plain", b"{}".to_vec()), 415));
        v.push((
            route,
            Body::Raw(
                "application/x-www-form-urlencoded",
                b"resourceGroup=rg".to_vec(),
            ),
            415,
        ));
        v.push((route, Body::Json(json!(42)), 400));
    }
    let cg = create_body("rg", "ok")["containerGroup"].clone();
    let create = |rg: Value, name: Value, group: Value| {
        Body::Json(
            json!({"resourceGroup": rg, "containerGroupName": name, "containerGroup": group}),
        )
    };
    v.extend([
        ("/api/Create", Body::Json(json!({"containerGroupName": "x", "containerGroup": cg.clone()})), 400),
        ("/api/Create", create(json!(5), json!("x"), cg.clone()), 400),
        ("/api/Create", create(json!("rg/evil"), json!("x"), cg.clone()), 400),
        ("/api/Create", create(json!("rg#1"), json!("x"), cg.clone()), 400),
        ("/api/Create", create(json!("rg"), json!("Upper"), cg.clone()), 400),
        ("/api/Create", create(json!("rg"), json!("-x"), cg.clone()), 400),
        ("/api/Create", create(json!("rg"), json!("x".repeat(64)), cg.clone()), 400),
        ("/api/Create", create(json!("rg"), json!("a'b"), cg.clone()), 400),
        ("/api/Create", create(json!("rg"), json!("x"), json!({"containers": []})), 400),
        ("/api/Create", create(json!("rg"), json!("x"), json!("nope")), 400),
        ("/api/SetSessions", Body::Json(json!({"resourceGroup": "rg", "containerGroupName": "a", "activeSessions": 1})), 400),
        ("/api/SetSessions", Body::Json(json!([{"resourceGroup": "rg", "containerGroupName": "a", "activeSessions": -1}])), 400),
        ("/api/SetSessions", Body::Json(json!([{"resourceGroup": "rg", "containerGroupName": "a", "activeSessions": 1.5}])), 400),
        ("/api/SetSessions", Body::Json(json!([{"resourceGroup": "rg", "containerGroupName": "a", "activeSessions": "3"}])), 400),
        ("/api/SetSessions", Body::Json(json!([{"resourceGroup": "rg", "containerGroupName": "a", "activeSessions": 9_999_999_999u64}])), 400),
        ("/api/SetSessions", Body::Json(json!([{"resourceGroup": "rg", "containerGroupName": "a"}])), 400),
        ("/api/SetSessions", Body::Json(json!([{"resourceGroup": "rg", "containerGroupName": "a", "activeSessions": 1}, {"resourceGroup": "RG", "containerGroupName": "a", "activeSessions": 2}])), 400),
        ("/api/SetSessions", Body::Json(json!([{"resourceGroup": "rg", "containerGroupName": "a", "activeSessions": 1}, "x"])), 400),
        ("/api/SetState", Body::Json(json!({"resourceGroup": "rg", "containerGroupName": "a", "state": "Deleting"})), 400),
        ("/api/SetState", Body::Json(json!({"resourceGroup": "rg", "containerGroupName": "a"})), 400),
        ("/api/Delete", Body::Json(json!({"resourceGroup": "rg"})), 400),
        ("/api/Delete", Body::Json(json!({"resourceGroup": "rg", "containerGroupName": "a", "force": "yes"})), 400),
        ("/api/Details", Body::Json(json!({"resourceGroup": "rg", "containerGroupName": "a", "type": "logs", "containerName": "Bad Name"})), 400),
        ("/api/List?state=Sleeping", Body::Json(json!({})), 400),
        ("/api/List?resourceGroup=a%2Fb", Body::Json(json!({})), 400),
    ]);
    v
}

#[tokio::test]
async fn every_route_refuses_bad_input_and_changes_nothing() {
    let t = TestApp::spawn().await;
    // One real group, so "changes nothing" has something to compare with.
    let before = t.running("rg", "a").await;
    t.sim.reset_counts();
    for (route, body, want) in cases() {
        let req = t.http.post(format!("{}{route}", t.base));
        let req = match &body {
            Body::Json(v) => req.json(v),
            Body::Raw(ct, bytes) => req.header("content-type", *ct).body(bytes.clone()),
        };
        let r = req.send().await.unwrap();
        let status = r.status().as_u16();
        let ct = r
            .headers()
            .get("content-type")
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default();
        let v: Value = r.json().await.unwrap_or(Value::Null);
        assert_eq!(status, want, "{route}: {v}");
        assert!(
            ct.starts_with("application/json"),
            "{route}: content-type {ct}"
        );
        let msg = v["error"]["message"].as_str().unwrap_or_default();
        assert!(
            !msg.is_empty() && v["error"]["code"].is_string(),
            "{route}: {v}"
        );
    }
    assert_eq!(
        t.sim.requests().len(),
        0,
        "nothing reached ARM: {:?}",
        t.sim.requests()
    );
    let rows = t.app.list(None, None).await.unwrap();
    assert_eq!(rows, vec![before], "the table is unchanged");
    // And the process still serves.
    assert_eq!(t.get("/api/List").await.0, StatusCode::OK);
}

#[tokio::test]
async fn unknown_routes_and_methods_get_json_errors() {
    let t = TestApp::spawn().await;
    let r = t
        .http
        .get(format!("{}/api/Create", t.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::METHOD_NOT_ALLOWED);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"]["code"], "MethodNotAllowed");
    let r = t
        .http
        .post(format!("{}/api/Nope", t.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert_eq!(
        r.json::<Value>().await.unwrap()["error"]["code"],
        "NoSuchFunction"
    );
    let r = t.http.get(&t.base).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK, "the host's readiness probe");
}

/// POST raw bytes as JSON; (status, body).
async fn post_raw(t: &TestApp, route: &str, body: Vec<u8>) -> (StatusCode, Value) {
    let r = t
        .http
        .post(format!("{}{route}", t.base))
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    let status = r.status();
    (status, r.json().await.unwrap_or(Value::Null))
}

/// The error message of a 400, asserting the status and the code.
fn refused(route: &str, (s, v): (StatusCode, Value), code: &str) -> String {
    assert_eq!(s, StatusCode::BAD_REQUEST, "{route}: {v}");
    assert_eq!(v["error"]["code"], code, "{route}: {v}");
    v["error"]["message"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

/// Item A: the location is an Azure region name, checked before anything is
/// stored (a 70,000-character one used to answer 500 StorageError).
#[tokio::test]
async fn a_location_that_is_no_region_name_is_refused_before_anything_is_stored() {
    let t = TestApp::spawn().await;
    let before = t.running("rg", "a").await;
    t.sim.reset_counts();
    for (location, says) in [
        (
            json!("x".repeat(70_000)),
            "containerGroup.location has 70000 letters and digits",
        ),
        (json!("west/europe"), "containerGroup.location contains '/'"),
        (json!("eu-west-1"), "containerGroup.location contains '-'"),
        (json!("   "), "containerGroup.location is missing"),
    ] {
        let mut body = create_body("rg", "new-one");
        body["containerGroup"]["location"] = location;
        let msg = refused(
            "/api/Create",
            t.post("/api/Create", &body).await,
            "InvalidRequest",
        );
        assert!(msg.starts_with(says), "{msg}");
        assert!(
            msg.len() < 300,
            "the message does not echo the input: {msg}"
        );
    }
    assert_eq!(t.sim.requests().len(), 0, "{:?}", t.sim.requests());
    assert_eq!(t.app.list(None, None).await.unwrap(), vec![before]);

    // A display name is ARM's too: stored and sent in ARM's form.
    let mut body = create_body("rg", "display");
    body["containerGroup"]["location"] = json!("West Europe");
    let (s, v) = t.post("/api/Create", &body).await;
    assert_eq!(s, StatusCode::ACCEPTED, "{v}");
    assert_eq!(v["location"], "westeurope", "{v}");
    let row = t.wait_state("rg", "display", "Running").await;
    assert_eq!(row.location, "westeurope");
}

/// Item A: ARM's rejection message (which may quote the caller's input) is cut
/// before it is stored, so the group is still marked Failed.
#[tokio::test]
async fn a_long_arm_rejection_still_marks_the_group_failed() {
    let t = TestApp::spawn().await;
    let long = format!("The image '{}' is not accessible.", "i".repeat(70_000));
    t.sim.fail_next(
        gamefleet_sim::FaultRule::new(gamefleet_sim::Op::Put, 400, "InvalidImage", &long).times(1),
    );
    let (s, v) = t.create("rg", "bad-img").await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    let row = t.row("rg", "bad-img").await.unwrap();
    assert_eq!(row.state.as_str(), "Failed", "{row:?}");
    let reason = row.failure_reason.unwrap_or_default();
    assert_eq!(reason.chars().count(), 1024);
    assert!(
        reason.starts_with("ARM rejected the container group (400 InvalidImage): The image 'iii")
    );
}

/// Item C: a key twice in one object is refused by every parser, at any depth,
/// naming the key and where (SetSessions used to apply the last one).
#[tokio::test]
async fn a_key_twice_is_refused_on_every_route_naming_it() {
    let t = TestApp::spawn().await;
    let before = t.running("rg", "a").await;
    t.sim.reset_counts();
    let cases: [(&str, &str, &str); 8] = [
        (
            "/api/Create",
            r#"{"resourceGroup": "rg", "containerGroupName": "b", "containerGroup": {"location": "westeurope", "location": "eastus", "osType": "Linux", "containers": [{"name": "c", "image": "i", "resources": {"requests": {"cpu": 1, "memoryInGB": 1}}}]}}"#,
            r#"containerGroup: key "location" appears twice"#,
        ),
        (
            "/api/Create",
            r#"{"resourceGroup": "rg", "resourceGroup": "rg2", "containerGroupName": "b", "containerGroup": {}}"#,
            r#"request body: key "resourceGroup" appears twice"#,
        ),
        (
            "/api/Delete",
            r#"{"resourceGroup": "rg", "containerGroupName": "a", "containerGroupName": "b"}"#,
            r#"request body: key "containerGroupName" appears twice"#,
        ),
        (
            "/api/Details",
            r#"{"resourceGroup": "rg", "containerGroupName": "a", "type": "logs", "type": "details"}"#,
            r#"request body: key "type" appears twice"#,
        ),
        (
            "/api/SetState",
            r#"{"resourceGroup": "rg", "containerGroupName": "a", "state": "Failed", "reason": "a", "reason": "b"}"#,
            r#"request body: key "reason" appears twice"#,
        ),
        (
            "/api/SetSessions",
            r#"[{"resourceGroup": "rg", "containerGroupName": "a", "activeSessions": 5, "activeSessions": 7}]"#,
            r#"[0]: key "activeSessions" appears twice"#,
        ),
        (
            "/api/Power",
            r#"{"action": "status", "action": "stop", "provider": "aci", "resource": "rg/a"}"#,
            r#"request body: key "action" appears twice"#,
        ),
        (
            "/api/Schedules",
            r#"{"name": "n", "cron": "0 8 * * *", "timeZone": "UTC", "timeZone": "Europe/Berlin", "action": "stop", "provider": "aci", "resource": "rg/a"}"#,
            r#"request body: key "timeZone" appears twice"#,
        ),
    ];
    for (route, body, says) in cases {
        let msg = refused(
            route,
            post_raw(&t, route, body.into()).await,
            "InvalidRequest",
        );
        assert_eq!(msg, format!("{says}; send each key once"), "{route}");
    }
    assert_eq!(t.sim.requests().len(), 0, "{:?}", t.sim.requests());
    assert_eq!(
        t.app.list(None, None).await.unwrap(),
        vec![before],
        "the table is unchanged"
    );
}

/// Item D: a body that is not UTF-8 says how it is encoded, on every route.
#[tokio::test]
async fn encoding_errors_say_what_is_wrong_on_every_route() {
    let t = TestApp::spawn().await;
    let before = t.running("rg", "a").await;
    t.sim.reset_counts();
    let json = r#"{"resourceGroup": "rg", "containerGroupName": "a"}"#;
    let utf16le: Vec<u8> = json.encode_utf16().flat_map(u16::to_le_bytes).collect();
    let utf16be: Vec<u8> = json.encode_utf16().flat_map(u16::to_be_bytes).collect();
    let utf16 = "request body is UTF-16; send UTF-8 JSON";
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (
            [b"\xEF\xBB\xBF", json.as_bytes()].concat(),
            "request body starts with a UTF-8 byte order mark; send UTF-8 JSON without one",
        ),
        ([&[0xFF, 0xFE][..], &utf16le].concat(), utf16),
        ([&[0xFE, 0xFF][..], &utf16be].concat(), utf16),
        (utf16le, utf16),
        (utf16be, utf16),
        (
            b"{\"resourceGroup\": \"r\xE9\"}".to_vec(),
            "request body is not valid UTF-8 at byte 20 (0xE9); send UTF-8 JSON",
        ),
    ];
    for route in [
        "/api/Create",
        "/api/Delete",
        "/api/Details",
        "/api/SetSessions",
        "/api/SetState",
        "/api/Power",
        "/api/Schedules",
    ] {
        for (body, says) in &cases {
            let msg = refused(
                route,
                post_raw(&t, route, body.clone()).await,
                "InvalidRequest",
            );
            assert_eq!(&msg, says, "{route}");
        }
        let msg = refused(
            route,
            post_raw(&t, route, b"hello".to_vec()).await,
            "InvalidRequest",
        );
        assert!(
            msg.starts_with("request body is not valid JSON: "),
            "{route}: {msg}"
        );
        assert!(!msg.contains("not not"), "{route}: {msg}");
    }
    assert_eq!(t.sim.requests().len(), 0, "{:?}", t.sim.requests());
    assert_eq!(
        t.app.list(None, None).await.unwrap(),
        vec![before],
        "the table is unchanged"
    );
}

/// Item E: one SetSessions request names at most 100 resource groups (each is
/// a storage query); the 101st refuses the whole request before anything is read.
#[tokio::test]
async fn set_sessions_with_more_than_100_resource_groups_is_refused_and_changes_nothing() {
    use gamefleet::fleet::{GroupRecord, GroupState};
    let t = TestApp::spawn().await;
    let now = gamefleet::fleet::record::now();
    let rows: Vec<GroupRecord> = (0..=100)
        .map(|i| {
            GroupRecord::creating(key(&format!("rg{i}"), "srv"), "westeurope".into(), now)
                .moved_to(GroupState::Running, now)
        })
        .collect();
    for r in &rows {
        t.store().insert(r).await.unwrap();
    }
    let items = |n: usize, sessions: u32| -> Value {
        json!((0..n)
            .map(|i| json!({"resourceGroup": format!("rg{i}"), "containerGroupName": "srv", "activeSessions": sessions}))
            .collect::<Vec<_>>())
    };
    let msg = refused(
        "/api/SetSessions",
        t.post("/api/SetSessions", &items(101, 7)).await,
        "TooManyResourceGroups",
    );
    assert!(
        msg.starts_with("[100].resourceGroup rg100 is one more than the 100 resource groups"),
        "{msg}"
    );
    let mut listed = t.app.list(None, None).await.unwrap();
    listed.sort_by(|a, b| a.key.cmp(&b.key));
    let mut want = rows.clone();
    want.sort_by(|a, b| a.key.cmp(&b.key));
    assert_eq!(listed, want, "the table is unchanged");

    let (s, v) = t.post("/api/SetSessions", &items(100, 7)).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    for i in [0, 99] {
        assert_eq!(
            t.row(&format!("rg{i}"), "srv")
                .await
                .unwrap()
                .active_sessions
                .get(),
            7
        );
    }
    assert_eq!(
        t.row("rg100", "srv").await.unwrap().active_sessions.get(),
        0
    );
}

/// Item B: OCI resource ids and secret ids are checked by shape and type
/// before any URL is built (`.` and `..` used to reach OCI's list endpoints).
#[tokio::test]
async fn power_refuses_odd_oci_ids_and_sends_nothing_to_oci() {
    use gamefleet_sim::oci::{api_key_identity, OciSim, OciSimConfig};
    let oci = OciSim::start(OciSimConfig::default()).await.unwrap();
    let home = tempfile::tempdir().unwrap();
    let t = TestApp::spawn_with(Options {
        env: api_key_identity(&oci, home.path()).unwrap(),
        ..Default::default()
    })
    .await;
    let ci = oci.add_container_instance("arena-eu", "INACTIVE");
    let vm = ci.replace("computecontainerinstance", "instance");
    oci.reset_counts();
    let cases = [
        (
            "oci-container-instance",
            "resource",
            ".",
            r#"resource "." is not a container instance OCID"#,
        ),
        (
            "oci-container-instance",
            "resource",
            "..",
            r#"resource ".." is not a container instance OCID"#,
        ),
        (
            "oci-compute",
            "resource",
            "..",
            r#"resource ".." is not a compute instance OCID"#,
        ),
        (
            "oci-compute",
            "resource",
            "ocid1.instance.oc1.iad.a/b",
            r#"resource "ocid1.instance.oc1.iad.a/b" is not a compute instance OCID"#,
        ),
        (
            "oci-container-instance",
            "resource",
            &vm,
            "is an OCID of type instance",
        ),
        (
            "oci-compute",
            "resource",
            &ci,
            "is an OCID of type computecontainerinstance",
        ),
        (
            "oci-container-instance",
            "secretId",
            ".",
            r#"secretId "." is not a Vault secret OCID"#,
        ),
        (
            "oci-compute",
            "secretId",
            "..",
            r#"secretId ".." is not a Vault secret OCID"#,
        ),
        (
            "oci-container-instance",
            "secretId",
            &ci,
            "is an OCID of type computecontainerinstance",
        ),
    ];
    for (provider, field, id, says) in cases {
        let body = json!({"action": "status", "provider": provider, field: id});
        let msg = refused(
            "/api/Power",
            t.post("/api/Power", &body).await,
            "InvalidResource",
        );
        assert!(
            msg.starts_with(field) && msg.contains(says),
            "{provider} {field} {id}: {msg}"
        );
    }
    assert!(
        oci.requests().is_empty(),
        "nothing reached OCI: {:?}",
        oci.requests()
    );
    // The OCIDs the simulator hands out are valid.
    let body = json!({"action": "status", "provider": "oci-container-instance", "resource": ci});
    let (s, v) = t.post("/api/Power", &body).await;
    assert_eq!(s, StatusCode::OK, "{v}");
}
