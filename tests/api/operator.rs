//! `gamefleet fleet`: the real binary against a deployment behind
//! GAMEFLEET_API_KEYS, asserting what an operator sees (tables, `--json`,
//! stderr, exit codes) and what changed in the table and in ARM.
//!
//! The deployment is two instances of one table and one ARM: the CLI talks
//! to the keyed one; the simulator's Event Grid deliveries (which carry no
//! key, like the host's) and the tests' own setup go to an open one.

use crate::helpers::*;
use serde_json::Value;
use std::time::Duration;

const KEY: &str = "operator-key-0123456789";

struct Stack {
    /// Setup and Event Grid deliveries (no key needed).
    open: TestApp,
    /// What the CLI talks to (GAMEFLEET_API_KEYS set).
    keyed: TestApp,
}

async fn stack() -> Stack {
    let open = TestApp::spawn().await;
    let keyed = TestApp::spawn_with(Options {
        env: vec![("GAMEFLEET_API_KEYS".into(), KEY.into())],
        share: Some((open.table.clone(), open.sim.clone())),
        ..Options::default()
    })
    .await;
    Stack { open, keyed }
}

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Run {
    /// The stdout lines that are table rows mentioning `word`.
    fn rows_with(&self, word: &str) -> Vec<&str> {
        self.stdout
            .lines()
            .filter(|l| l.split_whitespace().any(|w| w == word))
            .collect()
    }

    fn json(&self) -> Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| panic!("{e}: {}", self.stdout))
    }
}

/// `gamefleet fleet ARGS` with `url` and `key` in the environment.
async fn cli_with(url: &str, key: Option<&str>, args: &[&str]) -> Run {
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_gamefleet"));
    cmd.arg("fleet")
        .args(args)
        .env("GAMEFLEET_URL", url)
        .env_remove("GAMEFLEET_KEY")
        .env_remove("RUST_LOG");
    if let Some(k) = key {
        cmd.env("GAMEFLEET_KEY", k);
    }
    let out = tokio::time::timeout(Duration::from_secs(60), cmd.output())
        .await
        .expect("the CLI finished within 60 s")
        .unwrap();
    let run = Run {
        code: out.status.code().expect("exited, not killed"),
        stdout: String::from_utf8(out.stdout).unwrap(),
        stderr: String::from_utf8(out.stderr).unwrap(),
    };
    assert!(
        !run.stdout.contains(KEY) && !run.stderr.contains(KEY),
        "the key is never printed: {}{}",
        run.stdout,
        run.stderr
    );
    run
}

async fn cli(s: &Stack, args: &[&str]) -> Run {
    cli_with(&s.keyed.base, Some(KEY), args).await
}

fn state(rec: &Option<gamefleet::fleet::GroupRecord>) -> &'static str {
    rec.as_ref().map_or("gone", |r| r.state.as_str())
}

#[tokio::test]
async fn list_shows_a_created_server_in_the_table_and_in_json() {
    let s = stack().await;
    s.open.running("op-list", "alpha").await;
    s.open.set_sessions(&[("op-list", "alpha", 3)]).await;

    let run = cli(&s, &["list", "--resource-group", "op-list"]).await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(lines.len(), 2, "a header and one row: {}", run.stdout);
    for column in [
        "RESOURCE GROUP",
        "NAME",
        "STATE",
        "REGION",
        "SESSIONS",
        "RESERVED",
        "HEALTH",
        "AGE",
    ] {
        assert!(lines[0].contains(column), "{column}: {}", lines[0]);
    }
    let cells: Vec<&str> = lines[1].split_whitespace().collect();
    assert_eq!(
        &cells[..7],
        [
            "op-list",
            "alpha",
            "Running",
            "westeurope",
            "3/-",
            "0",
            "unknown"
        ],
        "{}",
        lines[1]
    );
    assert!(cells[7].ends_with('s'), "an age in seconds: {}", cells[7]);
    // Aligned: each header starts where its column does.
    assert_eq!(lines[0].find("STATE"), lines[1].find("Running"));
    assert_eq!(lines[0].find("HEALTH"), lines[1].find("unknown"));

    let run = cli(&s, &["list", "--resource-group", "op-list", "--json"]).await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    let (_, api) = s.open.get("/api/List?resourceGroup=op-list").await;
    assert_eq!(run.json(), api, "--json is the API's array");
    assert_eq!(run.json()[0]["containerGroupName"], "alpha");
    assert_eq!(run.json()[0]["activeSessions"], 3);
}

#[tokio::test]
async fn mark_then_unmark_changes_the_state_list_shows() {
    let s = stack().await;
    s.open.running("rg", "a").await;
    s.open.running("rg", "b").await;

    // A name nobody knows fails on its own; the others are marked.
    let run = cli(&s, &["mark", "rg/a", "rg/ghost", "rg/b"]).await;
    assert_eq!(run.code, 1, "one item failed: {}{}", run.stdout, run.stderr);
    assert!(
        run.rows_with("rg/a")[0].contains("marked"),
        "{}",
        run.stdout
    );
    assert!(
        run.rows_with("rg/b")[0].contains("marked"),
        "{}",
        run.stdout
    );
    let ghost = run.rows_with("rg/ghost");
    assert!(
        ghost[0].contains("not found") && ghost[0].contains("404"),
        "{}",
        run.stdout
    );
    assert!(
        run.stderr.contains("mark: 2 of 3 done, 1 failed"),
        "{}",
        run.stderr
    );

    let list = cli(&s, &["list", "--state", "all"]).await;
    assert!(
        list.rows_with("a")[0].contains("MarkedForDeletion"),
        "{}",
        list.stdout
    );
    assert!(
        list.rows_with("b")[0].contains("MarkedForDeletion"),
        "{}",
        list.stdout
    );

    let run = cli(&s, &["unmark", "rg/a"]).await;
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert!(
        run.rows_with("rg/a")[0].contains("unmarked"),
        "{}",
        run.stdout
    );
    let list = cli(&s, &["list", "--state", "all", "--json"]).await;
    let states: Vec<(String, String)> = list
        .json()
        .as_array()
        .unwrap()
        .iter()
        .map(|v| {
            (
                v["containerGroupName"].as_str().unwrap().to_owned(),
                v["state"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        states,
        [
            ("a".to_owned(), "Running".to_owned()),
            ("b".to_owned(), "MarkedForDeletion".to_owned())
        ]
    );
}

#[tokio::test]
async fn drain_marks_every_server_of_a_resource_group_and_nothing_of_another() {
    let s = stack().await;
    for (rg, n) in [("eu", "e1"), ("eu", "e2"), ("us", "u1")] {
        s.open.running(rg, n).await;
    }

    let run = cli(&s, &["drain", "--resource-group", "eu", "--json"]).await;
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    let results = run.json();
    let marked: Vec<&str> = results
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["ok"] == true && r["result"] == "marked")
        .map(|r| r["containerGroupName"].as_str().unwrap())
        .collect();
    assert_eq!(marked, ["e1", "e2"], "{results}");
    assert_eq!(state(&s.open.row("eu", "e1").await), "MarkedForDeletion");
    assert_eq!(state(&s.open.row("eu", "e2").await), "MarkedForDeletion");
    assert_eq!(state(&s.open.row("us", "u1").await), "Running");

    // --wait: a server holding players is never collected; the wait ends at its timeout.
    s.open.set_sessions(&[("us", "u1", 2)]).await;
    let run = cli(
        &s,
        &[
            "drain",
            "--resource-group",
            "us",
            "--wait",
            "--timeout",
            "1s",
            "--poll-interval",
            "200ms",
        ],
    )
    .await;
    assert_eq!(run.code, 5, "{}{}", run.stdout, run.stderr);
    assert!(
        run.stderr
            .contains("timed out after 1s with 1 of 1 left: us/u1"),
        "{}",
        run.stderr
    );
    assert_eq!(state(&s.open.row("us", "u1").await), "MarkedForDeletion");
}

#[tokio::test]
async fn drain_wait_ends_when_gc_deleted_every_marked_server() {
    let s = stack().await;
    s.open.running("eu", "e1").await;
    s.open.running("eu", "e2").await;
    let url = s.keyed.base.clone();
    let drain = tokio::spawn(async move {
        cli_with(
            &url,
            Some(KEY),
            &[
                "drain",
                "--resource-group",
                "eu",
                "--wait",
                "--poll-interval",
                "200ms",
            ],
        )
        .await
    });
    // The GC timer, as the host fires it, until the drain saw them gone.
    while !drain.is_finished() {
        s.open.gc().await;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let run = drain.await.unwrap();
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert!(run.stderr.contains("drain: all 2 gone"), "{}", run.stderr);
    assert!(s.open.row("eu", "e1").await.is_none());
    assert!(s.open.sim.group("eu", "e2").is_none());
}

#[tokio::test]
async fn delete_refuses_a_server_with_sessions_and_deletes_it_with_force() {
    let s = stack().await;
    s.open.running("rg", "busy").await;
    s.open.set_sessions(&[("rg", "busy", 4)]).await;

    let run = cli(&s, &["delete", "rg/busy"]).await;
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    let row = run.rows_with("rg/busy");
    assert!(
        row[0].contains("refused")
            && row[0].contains("GroupHasSessions")
            && row[0].contains("--force"),
        "{}",
        run.stdout
    );
    assert_eq!(state(&s.open.row("rg", "busy").await), "Running");
    assert!(s.open.sim.group("rg", "busy").is_some());

    let run = cli(&s, &["delete", "rg/busy", "--force"]).await;
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert!(
        run.rows_with("rg/busy")[0].contains("deleted"),
        "{}",
        run.stdout
    );
    assert!(s.open.row("rg", "busy").await.is_none());
    assert!(s.open.sim.group("rg", "busy").is_none());
}

#[tokio::test]
async fn gc_dry_run_lists_exactly_the_marked_empty_server_and_gc_deletes_it() {
    let s = stack().await;
    for n in ["empty", "busy", "live"] {
        s.open.running("rg", n).await;
    }
    s.open.set_sessions(&[("rg", "busy", 2)]).await;
    s.open.set_state("rg", "empty", "MarkedForDeletion").await;
    s.open.set_state("rg", "busy", "MarkedForDeletion").await;

    let run = cli(&s, &["gc", "--dry-run"]).await;
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(lines.len(), 2, "a header and one candidate: {}", run.stdout);
    assert!(lines[0].contains("WHY"), "{}", lines[0]);
    assert!(
        lines[1].starts_with("rg/empty") && lines[1].contains("marked for deletion"),
        "{}",
        lines[1]
    );
    assert!(
        run.stderr
            .contains("1 of 3 servers would be deleted; nothing was changed"),
        "{}",
        run.stderr
    );
    let json = cli(&s, &["gc", "--dry-run", "--json"]).await.json();
    assert_eq!(json.as_array().unwrap().len(), 1, "{json}");
    assert_eq!(json[0]["containerGroupName"], "empty");
    assert_eq!(json[0]["action"], "collect");
    // Nothing was deleted.
    assert_eq!(state(&s.open.row("rg", "empty").await), "MarkedForDeletion");
    assert!(s.open.sim.group("rg", "empty").is_some());

    let run = cli(&s, &["gc"]).await;
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert!(
        run.rows_with("rg/empty")[0].contains("deleted"),
        "{}",
        run.stdout
    );
    assert!(run.rows_with("rg/busy").is_empty(), "{}", run.stdout);
    assert!(s.open.row("rg", "empty").await.is_none());
    assert!(s.open.sim.group("rg", "empty").is_none());
    assert_eq!(state(&s.open.row("rg", "busy").await), "MarkedForDeletion");
    assert_eq!(state(&s.open.row("rg", "live").await), "Running");
}

#[tokio::test]
async fn show_summarises_the_list_item_and_arm_s_view() {
    let s = stack().await;
    s.open.running("rg", "alpha").await;
    let run = cli(&s, &["show", "rg/alpha"]).await;
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert!(run.stdout.contains("rg/alpha"), "{}", run.stdout);
    assert!(
        run.rows_with("state")[0].contains("Running"),
        "{}",
        run.stdout
    );
    assert!(
        run.rows_with("arm")[0].contains("provisioning Succeeded"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("gamefleet/sample-server:1"),
        "{}",
        run.stdout
    );
    let json = cli(&s, &["show", "rg/alpha", "--json"]).await.json();
    assert_eq!(json["server"]["containerGroupName"], "alpha");
    assert_eq!(json["details"]["name"], "alpha");

    let run = cli(&s, &["show", "rg/ghost"]).await;
    assert_eq!(run.code, 1);
    assert!(run.stderr.contains("no server rg/ghost"), "{}", run.stderr);
}

#[tokio::test]
async fn a_wrong_or_missing_key_exits_3_without_printing_it() {
    let s = stack().await;
    s.open.running("rg", "a").await;
    let wrong = "wrong-key-0123456789";
    for key in [Some(wrong), None] {
        let run = cli_with(&s.keyed.base, key, &["list"]).await;
        assert_eq!(run.code, 3, "{}", run.stderr);
        assert_eq!(run.stderr.lines().count(), 1, "one line: {}", run.stderr);
        assert!(
            run.stderr.contains("authentication refused (401)"),
            "{}",
            run.stderr
        );
        assert!(!run.stderr.contains(wrong), "{}", run.stderr);
        assert!(run.stdout.is_empty());
    }
    let run = cli_with(&s.keyed.base, Some(wrong), &["mark", "rg/a", "rg/b"]).await;
    assert_eq!(run.code, 3, "{}{}", run.stdout, run.stderr);
    assert!(!run.stdout.contains(wrong) && !run.stderr.contains(wrong));
    assert_eq!(state(&s.open.row("rg", "a").await), "Running");
    // The help shows where the key comes from, not the key.
    let mut help = tokio::process::Command::new(env!("CARGO_BIN_EXE_gamefleet"));
    let out = help
        .args(["fleet", "--help"])
        .env("GAMEFLEET_KEY", KEY)
        .output()
        .await
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains("GAMEFLEET_KEY") && !text.contains(KEY),
        "{text}"
    );
}

#[tokio::test]
async fn an_unreachable_or_failing_deployment_exits_4() {
    // Nothing listening.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("http://127.0.0.1:{port}");
    let run = cli_with(&url, Some(KEY), &["list"]).await;
    assert_eq!(run.code, 4, "{}", run.stderr);
    assert!(
        run.stderr
            .starts_with(&format!("gamefleet: cannot reach {url}: ")),
        "{}",
        run.stderr
    );
    assert_eq!(run.stderr.lines().count(), 1, "{}", run.stderr);

    // Answering 503 (a store outage, as gamefleet answers it).
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let (seen_tx, mut seen) = tokio::sync::mpsc::unbounded_channel::<String>();
    tokio::spawn(async move {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        while let Ok((mut c, _)) = listener.accept().await {
            let mut buf = [0u8; 4096];
            let n = c.read(&mut buf).await.unwrap_or(0);
            let _ = seen_tx.send(String::from_utf8_lossy(&buf[..n]).into_owned());
            let body = r#"{"error": {"code": "StoreUnavailable", "message": "Table Storage did not answer"}}"#;
            let answer = format!(
                "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\nretry-after: 1\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = c.write_all(answer.as_bytes()).await;
        }
    });
    let run = cli_with(&url, Some(KEY), &["gc", "--dry-run"]).await;
    assert_eq!(run.code, 4, "{}", run.stderr);
    assert!(
        run.stderr.contains(
            "gamefleet: the deployment failed (503 StoreUnavailable): Table Storage did not answer"
        ),
        "{}",
        run.stderr
    );
    // The key went to both the Functions host and gamefleet, in headers only.
    let request = seen.recv().await.unwrap().to_ascii_lowercase();
    assert!(request.starts_with("get /api/list?state=all "), "{request}");
    assert!(
        request.contains(&format!("x-functions-key: {KEY}")),
        "{request}"
    );
    assert!(request.contains(&format!("x-api-key: {KEY}")), "{request}");
}

#[tokio::test]
async fn bad_arguments_exit_2_before_anything_is_called() {
    // Nothing listens here: a usage error must come before any call.
    let url = "http://127.0.0.1:9";
    for args in [
        &["mark"][..],
        &["mark", "arena"],
        &["mark", "arena/Not_A_Name"],
        &["list", "--state", "Sleeping"],
        &["drain"],
        &["drain", "--label", "novalue"],
        &["drain", "--fleet", "f", "--timeout", "1m"],
        &["gc", "--failed-ttl", "soon"],
        &["frobnicate"],
    ] {
        let run = cli_with(url, Some(KEY), args).await;
        assert_eq!(run.code, 2, "{args:?}: {}", run.stderr);
        assert!(
            !run.stderr.contains("cannot reach"),
            "{args:?}: {}",
            run.stderr
        );
    }
    let run = cli_with(
        "http://127.0.0.1:9/?code=s3cr3t-0123456789",
        None,
        &["list"],
    )
    .await;
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(!run.stderr.contains("s3cr3t"), "{}", run.stderr);
}
