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
        ("/api/SetState", Body::Json(json!({"resourceGroup": "rg", "containerGroupName": "a", "state": "Running"})), 400),
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
