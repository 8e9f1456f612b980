//! A table the original project wrote keeps working, whatever the case of the
//! resource group: rows under `TeeWorlds-RG` (the original wrote the caller's
//! spelling; gamefleet's key is lower-cased) are found and managed by every
//! function, moved to the canonical key on the way, with the original's own
//! columns; `gamefleet migrate` moves them all, idempotently, while live.

use crate::helpers::*;
use gamefleet::store::{StoreOptions, TableStore};
use reqwest::StatusCode;
use serde_json::{json, Map, Value};

const RG: &str = "TeeWorlds-RG";

/// The table, bypassing gamefleet (as the original project saw it).
async fn raw(t: &TestApp) -> TableStore {
    TableStore::from_connection_string(
        &gamefleet_sim::azurite::Azurite::shared()
            .await
            .connection_string(),
        &t.table,
        reqwest::Client::new(),
        StoreOptions::default(),
    )
    .unwrap()
}

/// A row as the original project's functions left it, and its untagged group in ARM.
async fn original_row(t: &TestApp, name: &str, state: &str, sessions: u32) {
    raw(t)
        .await
        .insert_raw(&json!({
            "PartitionKey": RG, "RowKey": name, "State": state,
            "ActiveSessions": sessions, "PublicIP": "20.1.2.3", "Location": "westeurope",
            "ContainerName": "teeworlds", "Image": "dgkanatsios/docker-teeworlds:latest",
            "CPU": 1, "RAM": 1.5,
        }))
        .await
        .unwrap();
    t.sim.insert_group(
        RG,
        name,
        json!({"location": "westeurope", "properties": {"osType": "Linux", "containers": [
            {"name": "teeworlds", "properties": {"image": "dgkanatsios/docker-teeworlds:latest",
             "resources": {"requests": {"cpu": 1, "memoryInGB": 1.5}}}}]}}),
    );
}

async fn rows(t: &TestApp) -> Vec<Map<String, Value>> {
    raw(t).await.raw_rows().await.unwrap()
}

fn row_of<'a>(
    rows: &'a [Map<String, Value>],
    pk: &str,
    rk: &str,
) -> Option<&'a Map<String, Value>> {
    rows.iter()
        .find(|r| r["PartitionKey"] == pk && r["RowKey"] == rk)
}

#[tokio::test]
async fn every_function_manages_the_originals_mixed_case_rows() {
    let t = TestApp::spawn().await;
    original_row(&t, "tw-list", "Running", 3).await;
    original_row(&t, "tw-sessions", "Running", 0).await;
    original_row(&t, "tw-state", "Running", 1).await;
    original_row(&t, "tw-gc", "MarkedForDeletion", 0).await;
    original_row(&t, "tw-delete", "MarkedForDeletion", 2).await;

    // SetSessions, before anything else met the row: found under the caller's spelling.
    let (s, v) = t.set_sessions(&[(RG, "tw-sessions", 5)]).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    // SetState, also under another spelling of the same resource group.
    let (s, v) = t
        .set_state("teeworlds-rg", "tw-state", "MarkedForDeletion")
        .await;
    assert_eq!(
        s,
        StatusCode::NOT_FOUND,
        "a third spelling is not the original's: {v}"
    );
    let (s, v) = t.set_state(RG, "tw-state", "MarkedForDeletion").await;
    assert_eq!(s, StatusCode::OK, "{v}");

    // List (any spelling in the filter) shows each server once, managed from now on.
    for filter in [
        "",
        "&resourceGroup=TeeWorlds-RG",
        "&resourceGroup=teeworlds-rg",
        "&resourceGroup=TEEWORLDS-RG",
    ] {
        let (s, v) = t.get(&format!("/api/List?state=all{filter}")).await;
        assert_eq!(s, StatusCode::OK, "{v}");
        let names: Vec<&str> = v
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["containerGroupName"].as_str().unwrap())
            .collect();
        assert_eq!(
            names,
            ["tw-delete", "tw-gc", "tw-list", "tw-sessions", "tw-state"],
            "filter {filter:?}"
        );
    }

    // GC collects the marked, empty one (its ARM group stops costing money).
    let (s, rv) = t.gc().await;
    assert_eq!(s, StatusCode::OK, "{rv}");
    assert_eq!(rv["deleted"], 1, "{rv}");
    assert!(t.sim.group(RG, "tw-gc").is_none());
    // Delete removes the group and the row: List no longer hands out its IP.
    let (s, v) = t
        .post(
            "/api/Delete",
            &json!({"resourceGroup": RG, "containerGroupName": "tw-delete", "force": true}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert!(t.sim.group(RG, "tw-delete").is_none());
    let (_, v) = t.get("/api/List?state=all").await;
    assert!(!v.to_string().contains("tw-delete"), "{v}");
    assert!(!v.to_string().contains("tw-gc"), "{v}");

    // What is left is stored under the canonical key only, with the original's columns.
    let all = rows(&t).await;
    assert!(
        all.iter().all(|r| r["PartitionKey"] == "teeworlds-rg"),
        "{all:?}"
    );
    assert_eq!(all.len(), 3, "{all:?}");
    let state = row_of(&all, "teeworlds-rg", "tw-state").unwrap();
    assert_eq!(state["State"], "MarkedForDeletion");
    assert_eq!(state["ResourceGroup"], RG);
    for (col, want) in [
        ("ContainerName", json!("teeworlds")),
        ("Image", json!("dgkanatsios/docker-teeworlds:latest")),
        ("CPU", json!(1)),
        ("RAM", json!(1.5)),
    ] {
        assert_eq!(
            state.get(col),
            Some(&want),
            "{col} kept through a full replace: {state:?}"
        );
    }
    assert_eq!(
        row_of(&all, "teeworlds-rg", "tw-sessions").unwrap()["ActiveSessions"],
        5
    );
    assert_eq!(
        row_of(&all, "teeworlds-rg", "tw-list").unwrap()["ActiveSessions"],
        3
    );
}

#[tokio::test]
async fn a_game_server_of_the_original_reports_through_its_own_spelling() {
    let t = TestApp::spawn().await;
    original_row(&t, "tw-self", "Running", 0).await;
    let token = t.app.keyring.issue(&key(RG, "tw-self")).await.unwrap();
    let r = t
        .http
        .post(format!("{}/api/ReportSessions?token={token}", t.base))
        .body(format!(
            r#"[{{"resourceGroup":"{RG}","containerGroupName":"tw-self","activeSessions":2}}]"#
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(t.row(RG, "tw-self").await.unwrap().active_sessions.get(), 2);
}

#[tokio::test]
async fn migrate_moves_every_row_once_while_the_fleet_is_live() {
    let t = TestApp::spawn().await;
    for i in 0..30 {
        original_row(&t, &format!("m-{i:02}"), "Running", i).await;
    }
    // Two migrations and a matchmaker at the same time.
    let items: Vec<(&str, String, u32)> = (0..30)
        .map(|i| (RG, format!("m-{i:02}"), 100 + i))
        .collect();
    let borrowed: Vec<(&str, &str, u32)> =
        items.iter().map(|(r, n, s)| (*r, n.as_str(), *s)).collect();
    let (a, b, (s, v)) = tokio::join!(t.app.migrate(), t.app.migrate(), t.set_sessions(&borrowed));
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(a.failed + b.failed, 0, "{a:?} {b:?}");
    let all = rows(&t).await;
    assert_eq!(all.len(), 30, "each row once: {all:?}");
    for i in 0..30u32 {
        let r = row_of(&all, "teeworlds-rg", &format!("m-{i:02}")).expect("canonical");
        assert_eq!(
            r["ActiveSessions"],
            100 + i,
            "the acknowledged count survived the move"
        );
    }
    // Idempotent: nothing left to do.
    let again = t.app.migrate().await.unwrap();
    assert_eq!(
        (again.rows, again.legacy, again.moved),
        (30, 0, 0),
        "{again:?}"
    );
}

#[tokio::test]
async fn the_migrate_command_reports_and_exits_zero() {
    let t = TestApp::spawn().await;
    original_row(&t, "cli-1", "Running", 1).await;
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_gamefleet"))
        .arg("migrate")
        .env_clear()
        .env(
            "AzureWebJobsStorage",
            gamefleet_sim::azurite::Azurite::shared()
                .await
                .connection_string(),
        )
        .env("FLEET_TABLE", &t.table)
        .env("AZURE_SUBSCRIPTION_ID", t.sim.subscription_id())
        .output()
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (report["legacy"].as_u64(), report["moved"].as_u64()),
        (Some(1), Some(1)),
        "{report}"
    );
    assert!(row_of(&rows(&t).await, "teeworlds-rg", "cli-1").is_some());
}
