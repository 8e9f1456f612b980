//! GET /api/openapi.json: the document names exactly the routes the router
//! serves, with exactly their methods, and every answer the functions give in
//! a working session (successes and errors) is one the document declares,
//! in the shape its schema says. A field added to an answer, a status or a
//! route without the document following makes this fail.

use crate::helpers::*;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::collections::BTreeSet;

const METHODS: [&str; 4] = ["get", "post", "put", "delete"];

async fn document(t: &TestApp) -> Value {
    let r = t
        .http
        .get(format!("{}/api/openapi.json", t.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["content-type"], "application/json");
    r.json().await.unwrap()
}

/// Where `body` breaks `schema` (a schema of the document, its `$ref`s
/// resolved against the document's components): empty when it conforms.
fn violations(doc: &Value, schema: &Value, body: &Value) -> Vec<String> {
    let root = json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "components": doc["components"],
        "allOf": [schema],
    });
    let validator = jsonschema::options()
        .should_validate_formats(true)
        .build(&root)
        .unwrap_or_else(|e| panic!("schema does not compile: {e}: {schema}"));
    validator
        .iter_errors(body)
        .map(|e| format!("{} at {}", e, e.instance_path))
        .collect()
}

/// Checks `body`, the answer `status` of `method path`, against the document:
/// the status must be declared, and the body must match its schema.
fn conforms(doc: &Value, method: &str, path: &str, status: StatusCode, body: &Value) {
    let op = &doc["paths"][path][method];
    assert!(op.is_object(), "{method} {path} is not in the document");
    let declared = &op["responses"][status.as_str()];
    assert!(
        declared.is_object(),
        "{method} {path} answered {status}, which the document does not declare: {body}"
    );
    let content = declared["content"]
        .as_object()
        .and_then(|c| c.values().next())
        .unwrap_or_else(|| panic!("{method} {path} {status}: no content in the document"));
    let errors = violations(doc, &content["schema"], body);
    assert!(
        errors.is_empty(),
        "{method} {path} {status} breaks the document's schema: {errors:?}\nbody: {body}"
    );
}

/// An accepted request must be one the document's request schema allows.
fn request_conforms(doc: &Value, method: &str, path: &str, body: &Value) {
    let schema =
        &doc["paths"][path][method]["requestBody"]["content"]["application/json"]["schema"];
    assert!(
        schema.is_object(),
        "{method} {path} took a body the document has no schema for"
    );
    let errors = violations(doc, schema, body);
    assert!(
        errors.is_empty(),
        "{method} {path} accepted a body its request schema refuses: {errors:?}\nbody: {body}"
    );
}

/// Sends a call, checks the answer against the document (and an accepted
/// body against the request schema), returns it.
async fn call(
    t: &TestApp,
    doc: &Value,
    method: &str,
    path: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let (route, _) = path.split_once('?').unwrap_or((path, ""));
    let m = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
    let mut req = t.http.request(m, format!("{}{path}", t.base));
    if let Some(b) = &body {
        req = req.json(b);
    }
    let r = req.send().await.unwrap();
    let status = r.status();
    let text = r.text().await.unwrap();
    let v: Value = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("{method} {path} answered {status} with no JSON ({e}): {text}"));
    conforms(doc, method, route, status, &v);
    if let (Some(b), true) = (&body, status.is_success()) {
        request_conforms(doc, method, route, b);
    }
    (status, v)
}

#[tokio::test]
async fn the_document_names_every_route_with_exactly_its_methods() {
    let t = TestApp::spawn().await;
    let doc = document(&t).await;
    assert_eq!(doc["openapi"], "3.1.0");

    let documented: BTreeSet<String> = doc["paths"].as_object().unwrap().keys().cloned().collect();
    let routed: BTreeSet<String> = gamefleet::http::HTTP_FUNCTIONS
        .iter()
        .map(|f| format!("/api/{f}"))
        .collect();
    assert_eq!(
        documented, routed,
        "the document's paths against the router's HTTP functions"
    );

    for path in &documented {
        for method in METHODS {
            let m = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            let s = t
                .http
                .request(m, format!("{}{path}", t.base))
                .send()
                .await
                .unwrap()
                .status();
            let in_doc = doc["paths"][path][method].is_object();
            assert_eq!(
                s != StatusCode::METHOD_NOT_ALLOWED && s != StatusCode::NOT_FOUND,
                in_doc,
                "{method} {path} answered {s}; the document {} it",
                if in_doc {
                    "declares"
                } else {
                    "does not declare"
                }
            );
        }
    }

    // The providers it names are the registry's.
    for schema in ["PowerRequest", "ScheduleRequest"] {
        let listed: BTreeSet<&str> = doc["components"]["schemas"][schema]["properties"]["provider"]
            ["enum"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        let registry: BTreeSet<&str> = gamefleet::cloud::registry::Provider::names()
            .into_iter()
            .collect();
        assert_eq!(
            listed, registry,
            "{schema}'s providers against the registry"
        );
    }

    // Every schema the document refers to exists, and every one compiles.
    let text = doc.to_string();
    for name in doc["components"]["schemas"].as_object().unwrap().keys() {
        let schema = json!({"components": doc["components"], "$ref": format!("#/components/schemas/{name}")});
        jsonschema::validator_for(&schema).unwrap_or_else(|e| panic!("{name}: {e}"));
    }
    for (i, _) in text.match_indices("#/components/schemas/") {
        let rest = &text[i + "#/components/schemas/".len()..];
        let name = &rest[..rest.find('"').unwrap()];
        assert!(
            doc["components"]["schemas"][name].is_object(),
            "dangling $ref {name}"
        );
    }
}

#[tokio::test]
async fn every_answer_of_a_session_is_declared_and_matches_its_schema() {
    let t = TestApp::spawn().await;
    let doc = document(&t).await;

    let mut body = create_body("oa-arena", "oa-1");
    body["maxSessions"] = json!(4);
    body["labels"] = json!({"mode": "ctf"});
    let (s, _) = call(&t, &doc, "post", "/api/Create", Some(body.clone())).await;
    assert_eq!(s, StatusCode::ACCEPTED);
    let (s, _) = call(&t, &doc, "post", "/api/Create", Some(body)).await;
    assert_eq!(s, StatusCode::CONFLICT, "a second Create of the same name");
    t.wait_state("oa-arena", "oa-1", "Running").await;

    for list in [
        "/api/List",
        "/api/List?state=all",
        "/api/List?state=MarkedForDeletion&resourceGroup=oa-arena",
    ] {
        let (s, v) = call(&t, &doc, "get", list, None).await;
        assert_eq!(s, StatusCode::OK, "{list}: {v}");
    }
    let (_, v) = call(&t, &doc, "get", "/api/List", None).await;
    assert_eq!(v.as_array().map(Vec::len), Some(1), "{v}");

    let (s, v) = call(
        &t,
        &doc,
        "post",
        "/api/Allocate",
        Some(json!({"requestId": "m-1", "players": 3})),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let (s, v) = call(
        &t,
        &doc,
        "post",
        "/api/Allocate",
        Some(json!({"requestId": "m-2", "players": 3})),
    )
    .await;
    assert_eq!(
        (s, &v["error"]["code"]),
        (StatusCode::SERVICE_UNAVAILABLE, &json!("NoCapacity"))
    );

    let (s, _) = call(
        &t,
        &doc,
        "post",
        "/api/SetSessions",
        Some(json!([{"resourceGroup": "oa-arena", "containerGroupName": "oa-1", "activeSessions": 2}])),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    let (s, _) = call(
        &t,
        &doc,
        "post",
        "/api/SetSessions",
        Some(json!([
            {"resourceGroup": "oa-arena", "containerGroupName": "oa-1", "activeSessions": 1},
            {"resourceGroup": "oa-arena", "containerGroupName": "nobody", "activeSessions": 1}
        ])),
    )
    .await;
    assert_eq!(s, StatusCode::MULTI_STATUS);

    let key = json!({"resourceGroup": "oa-arena", "containerGroupName": "oa-1"});
    let (s, _) = call(&t, &doc, "post", "/api/Details", Some(key.clone())).await;
    assert_eq!(s, StatusCode::OK);
    let (s, _) = call(
        &t,
        &doc,
        "post",
        "/api/Details",
        Some(json!({"resourceGroup": "oa-arena", "containerGroupName": "nobody"})),
    )
    .await;
    assert_eq!(s, StatusCode::NOT_FOUND);

    let mut mark = key.clone();
    mark["state"] = json!("MarkedForDeletion");
    let (s, _) = call(&t, &doc, "post", "/api/SetState", Some(mark)).await;
    assert_eq!(s, StatusCode::OK);
    let (s, _) = call(&t, &doc, "post", "/api/Delete", Some(key.clone())).await;
    assert_eq!(
        s,
        StatusCode::CONFLICT,
        "sessions held: Delete without force is refused"
    );
    let mut force = key.clone();
    force["force"] = json!(true);
    let (s, v) = call(&t, &doc, "post", "/api/Delete", Some(force)).await;
    assert!(s == StatusCode::OK || s == StatusCode::ACCEPTED, "{s} {v}");

    // A fleet and a schedule as the README writes them.
    let fleet = json!({
        "name": "oa-fleet", "resourceGroup": "oa-arena", "location": "westeurope",
        "containerGroup": create_body("x", "y")["containerGroup"],
        "maxSessions": 16, "labels": {"mode": "ctf"},
        "min": 0, "max": 5, "buffer": {"slots": "25%"}, "cooldown": "10m"});
    let (s, v) = call(&t, &doc, "post", "/api/Fleets", Some(fleet)).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let schedule = json!({
        "name": "oa-night", "cron": "30 23 * * MON-FRI", "timeZone": "Europe/Berlin",
        "action": "stop", "provider": "aci", "resources": ["oa-arena/oa-1"], "retainRunning": true});
    let (s, v) = call(&t, &doc, "post", "/api/Schedules", Some(schedule)).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let (s, v) = call(
        &t,
        &doc,
        "post",
        "/api/Power",
        Some(json!({"action": "status", "provider": "aci", "resource": "oa-arena/oa-1"})),
    )
    .await;
    assert!(s.is_success() || s == StatusCode::NOT_FOUND, "{s} {v}");
    let (s, _) = call(&t, &doc, "delete", "/api/Schedules?name=oa-night", None).await;
    assert_eq!(s, StatusCode::OK);
    let (s, _) = call(&t, &doc, "delete", "/api/Fleets?name=oa-fleet", None).await;
    assert_eq!(s, StatusCode::OK);

    for path in ["/api/Fleets", "/api/Schedules"] {
        let (s, _) = call(&t, &doc, "get", path, None).await;
        assert_eq!(s, StatusCode::OK);
    }
    let (s, _) = call(&t, &doc, "get", "/api/Fleets?name=nothing-here", None).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, v) = call(&t, &doc, "get", "/api/Dashboard?view=data", None).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let (s, _) = call(&t, &doc, "get", "/api/Dashboard?view=nonsense", None).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);

    // Bad input: each is refused with the Error shape under a declared status.
    for (path, bad) in [
        ("/api/Create", json!({"resourceGroup": "oa-arena"})),
        ("/api/Allocate", json!({"requestId": "", "players": 0})),
        ("/api/SetSessions", json!({"not": "an array"})),
        (
            "/api/SetState",
            json!({"resourceGroup": "oa-arena", "containerGroupName": "oa-1", "state": "Flying"}),
        ),
        ("/api/Delete", json!([])),
        (
            "/api/Details",
            json!({"resourceGroup": "Bad Name!", "containerGroupName": "x"}),
        ),
        ("/api/Fleets", json!({"name": 7})),
        ("/api/Schedules", json!({})),
        ("/api/Power", json!({"action": "explode"})),
    ] {
        let (s, v) = call(&t, &doc, "post", path, Some(bad)).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{path}: {v}");
    }
}
