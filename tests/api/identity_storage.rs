//! Table Storage by managed identity (`AzureWebJobsStorage__accountName` /
//! `__tableServiceUri`, as the Flex Consumption template sets it, no account
//! key anywhere): every request to the table service carries a bearer token
//! the identity endpoint issued for Azure Storage, one token serves many
//! requests, and a refused token endpoint fails the call instead of sending
//! anything unsigned.
//!
//! Azurite accepts bearer tokens only over HTTPS with a certificate of its
//! own (`--oauth basic --cert`), so the table service here is a recorder that
//! refuses what the real one refuses (no or unknown bearer: 403
//! AuthenticationFailed) and answers the rest as an empty account.

use gamefleet::config::Config;
use gamefleet_sim::{SimConfig, Simulator};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

#[derive(Clone, Debug)]
struct Seen {
    method: String,
    path: String,
    authorization: Option<String>,
}

/// A table service that lets through only bearer tokens `valid` accepts.
async fn table_service(
    valid: Arc<dyn Fn(&str) -> bool + Send + Sync>,
) -> (String, Arc<Mutex<Vec<Seen>>>) {
    let seen = Arc::new(Mutex::new(Vec::<Seen>::new()));
    let log = seen.clone();
    let app = axum::Router::new().fallback(move |req: axum::extract::Request| {
        let log = log.clone();
        let valid = valid.clone();
        async move {
            use axum::response::IntoResponse;
            let authorization = req
                .headers()
                .get("authorization")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            log.lock().unwrap().push(Seen {
                method: req.method().to_string(),
                path: req.uri().path().to_owned(),
                authorization: authorization.clone(),
            });
            let ok = authorization
                .as_deref()
                .and_then(|a| a.strip_prefix("Bearer "))
                .is_some_and(|t| valid(t));
            let json = [
                ("content-type", "application/json;odata=nometadata".to_owned()),
                ("x-ms-request-id", uuid::Uuid::new_v4().to_string()),
                ("x-ms-version", "2019-02-02".to_owned()),
                ("server", "Windows-Azure-Table/1.0 Microsoft-HTTPAPI/2.0".to_owned()),
                ("date", httpdate::fmt_http_date(std::time::SystemTime::now())),
            ];
            if !ok {
                let body = json!({"odata.error": {"code": "AuthenticationFailed", "message": {"lang": "en-US", "value": "Server failed to authenticate the request."}}});
                return (axum::http::StatusCode::FORBIDDEN, json, body.to_string()).into_response();
            }
            let body = axum::body::to_bytes(req.into_body(), 1 << 20).await.unwrap_or_default();
            if let Some(name) = created_table(&body) {
                let created = json!({
                    "odata.metadata": "http://127.0.0.1/devstoreaccount1/$metadata#Tables/@Element",
                    "odata.type": "devstoreaccount1.Tables",
                    "odata.id": format!("http://127.0.0.1/devstoreaccount1/Tables('{name}')"),
                    "odata.editLink": format!("Tables('{name}')"),
                    "TableName": name,
                });
                (axum::http::StatusCode::CREATED, json, created.to_string()).into_response()
            } else {
                (axum::http::StatusCode::OK, json, json!({"odata.metadata": "http://127.0.0.1/devstoreaccount1/$metadata#ACIDetails", "value": []}).to_string()).into_response()
            }
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}/devstoreaccount1", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (base, seen)
}

/// The name a create-table body asks for.
fn created_table(body: &[u8]) -> Option<String> {
    let v: Value = serde_json::from_slice(body).ok()?;
    v.get("TableName")?.as_str().map(str::to_owned)
}

fn app_env(sim: &Simulator, table_uri: &str, header: &str) -> HashMap<String, String> {
    [
        ("AzureWebJobsStorage__tableServiceUri", table_uri.to_owned()),
        (
            "AzureWebJobsStorage__credential",
            "managedidentity".to_owned(),
        ),
        (
            "AzureWebJobsStorage__clientId",
            "11111111-2222-3333-4444-555555555555".to_owned(),
        ),
        ("FLEET_TABLE", "ACIDetails".to_owned()),
        ("AZURE_SUBSCRIPTION_ID", sim.subscription_id().to_owned()),
        ("ARM_ENDPOINT", sim.arm_endpoint()),
        ("IDENTITY_ENDPOINT", sim.identity_endpoint()),
        ("IDENTITY_HEADER", header.to_owned()),
        ("RECONCILE_INTERVAL", "off".to_owned()),
        ("STORAGE_TIMEOUT", "5s".to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect()
}

async fn list(app: &Arc<gamefleet::ops::App>) -> (u16, Value) {
    let router = gamefleet::http::router(app.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await });
    let r = reqwest::get(format!("{base}/api/List")).await.unwrap();
    (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
}

fn build(env: HashMap<String, String>) -> Arc<gamefleet::ops::App> {
    let config = Config::from_lookup(|k| env.get(k).cloned()).unwrap();
    let lookup: gamefleet::ops::power::SharedEnv = Arc::new(move |k: &str| env.get(k).cloned());
    Arc::new(gamefleet::wiring::build(&config, lookup).unwrap())
}

#[tokio::test]
async fn every_table_request_carries_one_cached_storage_token_from_the_identity() {
    let sim = Simulator::start(SimConfig::default()).await.unwrap();
    let issued = sim.clone();
    let (uri, seen) = table_service(Arc::new(move |t| {
        issued.issued_token_values().iter().any(|v| v == t)
    }))
    .await;
    let app = build(app_env(&sim, &uri, sim.identity_header()));

    app.store
        .ensure_ready()
        .await
        .expect("tables created with the identity's token");
    for _ in 0..3 {
        let (status, body) = list(&app).await;
        assert_eq!(
            (status, &body),
            (200, &json!([])),
            "List through the identity"
        );
    }

    let seen = seen.lock().unwrap().clone();
    assert!(seen.len() >= 4, "table requests were made: {seen:?}");
    assert!(
        seen.iter().all(|s| s
            .authorization
            .as_deref()
            .is_some_and(|a| a.starts_with("Bearer gfsim."))),
        "every request signed with the identity's bearer token, none with a key: {seen:?}"
    );
    let tokens: std::collections::BTreeSet<_> = seen
        .iter()
        .filter_map(|s| s.authorization.clone())
        .collect();
    assert_eq!(tokens.len(), 1, "one token for all {} requests", seen.len());
    assert_eq!(
        sim.issued_tokens(),
        1,
        "the identity endpoint was asked once"
    );
    assert!(seen
        .iter()
        .any(|s| s.method == "POST" && s.path.ends_with("/Tables")));
}

#[tokio::test]
async fn a_refused_identity_sends_nothing_unsigned_and_list_says_storage_is_unavailable() {
    let sim = Simulator::start(SimConfig::default()).await.unwrap();
    let (uri, seen) = table_service(Arc::new(|_| true)).await;
    let app = build(app_env(&sim, &uri, "not-the-identity-header"));

    let (status, body) = list(&app).await;
    assert!(status >= 500, "{status} {body}");
    assert!(body["error"]["code"].is_string(), "a JSON error: {body}");
    assert!(
        !body.to_string().contains("not-the-identity-header"),
        "the identity header never appears in an answer: {body}"
    );
    assert!(
        seen.lock().unwrap().is_empty(),
        "nothing reached the table service without a token: {:?}",
        seen.lock().unwrap()
    );
}

#[test]
fn identity_settings_are_checked_at_start() {
    let base = |extra: &[(&str, &str)]| {
        let mut env: HashMap<String, String> = [(
            "AZURE_SUBSCRIPTION_ID",
            "00000000-0000-0000-0000-000000000000",
        )]
        .into_iter()
        .chain(extra.iter().copied())
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        env.remove("");
        Config::from_lookup(|k| env.get(k).cloned())
    };
    let c = base(&[("AzureWebJobsStorage__accountName", "gamefleetstore1")]).unwrap();
    match c.storage.source {
        gamefleet::config::StorageSource::Identity {
            table_endpoint,
            account,
            client_id,
        } => {
            assert_eq!(
                table_endpoint.as_str(),
                "https://gamefleetstore1.table.core.windows.net/"
            );
            assert_eq!((account.as_str(), client_id), ("gamefleetstore1", None));
        }
        other => panic!("{other:?}"),
    }
    for (extra, var) in [
        (
            vec![("AzureWebJobsStorage__accountName", "Not_An_Account")],
            "AzureWebJobsStorage__accountName",
        ),
        (
            vec![
                ("AzureWebJobsStorage__accountName", "acct123"),
                ("AzureWebJobsStorage__credential", "secret"),
            ],
            "AzureWebJobsStorage__credential",
        ),
        (
            vec![(
                "AzureWebJobsStorage__tableServiceUri",
                "http://storage.example.com/",
            )],
            "AzureWebJobsStorage__tableServiceUri",
        ),
        (vec![], "AzureWebJobsStorage"),
    ] {
        let e = base(&extra).unwrap_err();
        assert_eq!(e.var, var, "{e}");
    }
}
