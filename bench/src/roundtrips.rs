//! Round trips: the Table Storage requests (counted by the proxy) and ARM
//! requests (counted by the simulator) of one call of each function, next to the
//! fewest requests that could do the same job.
//!
//! gamefleet runs as the release binary against the proxy, with reconcile off
//! and Event Grid events delivered by the bench (the simulator only queues
//! them), so nothing runs in the background while a call is counted.

use crate::proxy::{Counts, Proxy};
use crate::report::{ms, thousands, Samples, Table};
use crate::stack::{self, name, Gamefleet, Paths};
use crate::Result;
use gamefleet::fleet::GroupState;
use gamefleet_sim::azurite::unique_table;
use gamefleet_sim::{Op, Simulator};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

/// One counted call.
pub struct Row {
    pub function: String,
    pub table: Counts,
    pub table_min: usize,
    pub table_min_text: String,
    pub arm: Vec<(Op, usize)>,
    pub arm_min: usize,
    pub arm_min_text: String,
    /// Why above the minimum, short (the table).
    pub why: String,
    /// Why above the minimum, in full (the closing notes).
    pub note: String,
}

impl Row {
    pub fn arm_total(&self) -> usize {
        self.arm
            .iter()
            .filter(|(op, _)| *op != Op::Token)
            .map(|(_, n)| n)
            .sum()
    }

    pub fn above_minimum(&self) -> bool {
        self.table.total() > self.table_min || self.arm_total() > self.arm_min
    }

    fn arm_text(&self) -> String {
        let total = self.arm_total();
        let parts: Vec<String> = self
            .arm
            .iter()
            .filter(|(op, n)| *n > 0 && *op != Op::Token)
            .map(|(op, n)| format!("{n} {op}"))
            .collect();
        let mut s = if total == 0 {
            "0".to_string()
        } else {
            format!("{total} ({})", parts.join(", "))
        };
        if let Some((_, n)) = self.arm.iter().find(|(op, n)| *op == Op::Token && *n > 0) {
            s.push_str(&format!(" + {n} token"));
        }
        s
    }
}

pub struct RoundTrips {
    pub rows: Vec<Row>,
}

impl RoundTrips {
    /// One closing note per reason: rows above the minimum for the same reason
    /// are named together (`SetSessions, N = 1 / 100 / 1,000`).
    pub fn notes(&self) -> Vec<String> {
        let mut groups: Vec<(&str, Vec<&Row>)> = Vec::new();
        for r in self.rows.iter().filter(|r| r.above_minimum()) {
            match groups.iter_mut().find(|(n, _)| *n == r.note) {
                Some((_, rows)) => rows.push(r),
                None => groups.push((&r.note, vec![r])),
            }
        }
        groups
            .into_iter()
            .map(|(note, rows)| {
                let join = |f: &dyn Fn(&Row) -> String| {
                    rows.iter().map(|r| f(r)).collect::<Vec<_>>().join(" / ")
                };
                let mut counts = Vec::new();
                if rows.iter().any(|r| r.table.total() > r.table_min) {
                    counts.push(format!(
                        "Table Storage {} (minimum {})",
                        join(&|r| r.table.total().to_string()),
                        join(&|r| r.table_min.to_string())
                    ));
                }
                if rows.iter().any(|r| r.arm_total() > r.arm_min) {
                    counts.push(format!(
                        "ARM {} (minimum {})",
                        join(&|r| r.arm_total().to_string()),
                        join(&|r| r.arm_min.to_string())
                    ));
                }
                format!(
                    "**{}**: {}. {}.",
                    join(&|r| r.function.clone()),
                    counts.join(", "),
                    capitalized(note)
                )
            })
            .collect()
    }

    pub fn table(&self) -> String {
        let mut t = Table::new(&[
            "function",
            "Table Storage requests",
            "minimum",
            "ARM requests",
            "minimum",
            "why above the minimum",
        ]);
        for r in &self.rows {
            let mark = |above: bool, s: String| if above { format!("**{s}**") } else { s };
            t.row(vec![
                r.function.clone(),
                mark(r.table.total() > r.table_min, r.table.describe()),
                r.table_min_text.clone(),
                mark(r.arm_total() > r.arm_min, r.arm_text()),
                r.arm_min_text.clone(),
                if r.above_minimum() {
                    r.why.clone()
                } else {
                    "–".into()
                },
            ]);
        }
        t.render()
    }
}

struct Ctx<'a> {
    proxy: &'a Proxy,
    sim: &'a Simulator,
    http: reqwest::Client,
}

impl Ctx<'_> {
    fn reset(&self) {
        self.proxy.reset();
        self.sim.reset_counts();
    }

    fn arm(&self) -> Vec<(Op, usize)> {
        Op::ALL
            .iter()
            .map(|op| (*op, self.sim.count(*op)))
            .filter(|(_, n)| *n > 0)
            .collect()
    }

    async fn post(&self, gf: &Gamefleet, path: &str, body: &Value) -> Result<(u16, Value)> {
        let r = self
            .http
            .post(format!("{}{path}", gf.base))
            .json(body)
            .send()
            .await?;
        let status = r.status().as_u16();
        Ok((status, r.json().await.unwrap_or(Value::Null)))
    }

    async fn get(&self, gf: &Gamefleet, path: &str) -> Result<(u16, Value)> {
        let r = self.http.get(format!("{}{path}", gf.base)).send().await?;
        let status = r.status().as_u16();
        Ok((status, r.json().await.unwrap_or(Value::Null)))
    }

    async fn invoke(&self, gf: &Gamefleet, function: &str, envelope: &Value) -> Result<Value> {
        let r = gamefleet_sim::host::invoke(&self.http, &gf.base, function, envelope).await?;
        let status = r.status();
        let v: Value = r.json().await?;
        if !status.is_success() {
            return Err(format!("{function} answered {status}: {v}").into());
        }
        Ok(v["ReturnValue"].clone())
    }

    async fn gc(&self, gf: &Gamefleet) -> Result<Value> {
        let env = gamefleet_sim::events::timer_envelope("timer", false);
        self.invoke(gf, "GC", &env).await
    }
}

/// Waits for a line in the process's log (e.g. `table ready`).
pub async fn wait_log(gf: &Gamefleet, needle: &str) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !std::fs::read_to_string(&gf.log)
        .unwrap_or_default()
        .contains(needle)
    {
        if Instant::now() > deadline {
            return Err(format!("no {needle:?} in {}", gf.log.display()).into());
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    Ok(())
}

fn expect(ok: bool, what: &str, got: &Value) -> Result<()> {
    if ok {
        Ok(())
    } else {
        Err(format!("{what}: unexpected answer {got}").into())
    }
}

fn capitalized(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

fn ceil_div(a: usize, b: usize) -> usize {
    a.div_ceil(b)
}

pub async fn run(
    paths: &Paths,
    azurite_conn: &str,
    proxy: &Proxy,
    list_sizes: &[usize],
) -> Result<RoundTrips> {
    let sim = stack::simulator().await?;
    let ctx = Ctx {
        proxy,
        sim: &sim,
        http: reqwest::Client::new(),
    };
    let mut rows = Vec::new();

    // ---- one table for the single-group functions, SetSessions and GC
    let table = unique_table();
    let store = stack::store(azurite_conn, &table).await?;
    stack::seed(&store, "sess", (0..1000).map(name), GroupState::Running, 0).await?;
    const GC_K: usize = 10;
    let gc_names: Vec<String> = (0..GC_K).map(|i| format!("gc{i:02}")).collect();
    stack::seed(
        &store,
        "gc",
        gc_names.iter().cloned(),
        GroupState::MarkedForDeletion,
        0,
    )
    .await?;
    for n in &gc_names {
        stack::arm_group(&sim, "gc", n);
    }
    let gf = Gamefleet::start(
        paths,
        "roundtrips",
        &stack::gamefleet_env(&sim, &proxy.connection_string(), &table),
    )
    .await?;
    wait_log(&gf, "table ready").await?;
    // Warm up: a token from the identity endpoint and pooled connections.
    let (s, v) = ctx
        .post(&gf, "/api/Create", &stack::create_body("ops", "warm"))
        .await?;
    expect(s == 202, "Create warm", &v)?;

    // Create
    ctx.reset();
    let (s, v) = ctx
        .post(&gf, "/api/Create", &stack::create_body("ops", "alpha"))
        .await?;
    expect(s == 202, "Create", &v)?;
    rows.push(Row {
        function: "Create".into(),
        table: proxy.counts(),
        table_min: 1,
        table_min_text: "1 (insert)".into(),
        arm: ctx.arm(),
        arm_min: 1,
        arm_min_text: "1 (PUT)".into(),
        why: "ARM GET first: never overwrite a group made outside gamefleet".into(),
        note: "the ARM GET before the PUT is deliberate: ACI's PUT is create-or-update, so without it a container group of that name made outside gamefleet would be silently overwritten (`src/ops/create.rs`, step 2 of `create`); gamefleet does not rely on a conditional PUT (`If-None-Match: *`), which the container-group API does not document. On a successful Create it costs one ARM read, not a write, and does not count against ARM's write limits".into(),
    });

    // Monitor: the write-success event of alpha, as Event Grid would deliver it.
    let event = {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let found = sim.take_events().into_iter().find(|e| {
                e["eventType"] == "Microsoft.Resources.ResourceWriteSuccess"
                    && e["subject"].as_str().is_some_and(|s| s.ends_with("/alpha"))
            });
            if let Some(e) = found {
                break e;
            }
            if Instant::now() > deadline {
                return Err("no write-success event for alpha".into());
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    };
    ctx.reset();
    let env = gamefleet_sim::events::host_envelope("eventGridEvent", "Monitor", &event);
    let v = ctx.invoke(&gf, "Monitor", &env).await?;
    expect(v["events"][0]["outcome"] == "applied", "Monitor", &v)?;
    rows.push(Row {
        function: "Monitor (write success)".into(),
        table: proxy.counts(),
        table_min: 1,
        table_min_text: "1 (merge)".into(),
        arm: ctx.arm(),
        arm_min: 1,
        arm_min_text: "1 (GET: the event carries neither state nor IP)".into(),
        why: "read + replace conditional on the ETag".into(),
        note: "a read and a replace conditional on its ETag: the move depends on the row's current state (a Deleting row must not become Running again) and must not undo a write that lands in between (a claim, a session count), so the write needs the row's ETag first; 2 is the minimum for a conditional write (`src/ops/monitor.rs` `apply`)".into(),
    });

    // SetState
    ctx.reset();
    let (s, v) = ctx
        .post(
            &gf,
            "/api/SetState",
            &json!({"resourceGroup": "ops", "containerGroupName": "alpha", "state": "MarkedForDeletion"}),
        )
        .await?;
    expect(s == 200, "SetState", &v)?;
    rows.push(Row {
        function: "SetState".into(),
        table: proxy.counts(),
        table_min: 1,
        table_min_text: "1 (merge)".into(),
        arm: ctx.arm(),
        arm_min: 0,
        arm_min_text: "0".into(),
        why: "read (transition table) + conditional replace".into(),
        note: "a read and a conditional replace: the transition table needs the current state (a Failed group cannot be marked, nothing moves a Deleting one) and the write must not undo a concurrent one; 2 is the minimum for a conditional write (`src/ops/state.rs`)".into(),
    });

    // SetSessions, n groups of one resource group (contiguous names)
    for n in [1usize, 100, 1000] {
        let items: Vec<Value> = (0..n)
            .map(|i| json!({"resourceGroup": "sess", "containerGroupName": name(i), "activeSessions": 3}))
            .collect();
        ctx.reset();
        let (s, v) = ctx.post(&gf, "/api/SetSessions", &json!(items)).await?;
        expect(s == 200, "SetSessions", &v)?;
        let batches = ceil_div(n, 100);
        rows.push(Row {
            function: format!("SetSessions, N = {} in one resource group", thousands(n)),
            table: proxy.counts(),
            table_min: batches,
            table_min_text: format!("⌈N/100⌉ = {batches} (batch)"),
            arm: ctx.arm(),
            arm_min: 0,
            arm_min_text: "0".into(),
            why: "+1 query: rows read before the conditional writes".into(),
            note: "one query more than the batches: the rows are read first (one query for up to 1,000 rows) to refuse unknown and Deleting groups and to make each MERGE conditional on the row's ETag, so a GC claim that lands in between wins and no count is written to a server being deleted; 1 query + ⌈N/100⌉ batches is the minimum for a conditional write (`src/ops/sessions.rs`)".into(),
        });
    }

    // Delete (alpha is MarkedForDeletion with 0 sessions)
    ctx.reset();
    let (s, v) = ctx
        .post(
            &gf,
            "/api/Delete",
            &json!({"resourceGroup": "ops", "containerGroupName": "alpha"}),
        )
        .await?;
    expect(s == 200, "Delete", &v)?;
    rows.push(Row {
        function: "Delete".into(),
        table: proxy.counts(),
        table_min: 1,
        table_min_text: "1 (delete)".into(),
        arm: ctx.arm(),
        arm_min: 1,
        arm_min_text: "1 (DELETE)".into(),
        why: "read (players?) + conditional claim + row delete".into(),
        note: "a read (a group with players is refused unless `force`), a claim (→ Deleting, conditional on the ETag, so a SetSessions in between is either seen or refused, never lost) and the row's delete once ARM confirmed; a Deleting row that a crash leaves behind is finished by the next GC (`src/ops/delete.rs`)".into(),
    });

    // GC, k marked and empty groups
    ctx.reset();
    let v = ctx.gc(&gf).await?;
    expect(v["deleted"] == GC_K, "GC", &v)?;
    rows.push(Row {
        function: format!("GC, {GC_K} marked and empty groups"),
        table: proxy.counts(),
        table_min: 1 + ceil_div(GC_K, 100),
        table_min_text: format!("1 query + ⌈k/100⌉ = {} (batch delete)", 1 + ceil_div(GC_K, 100)),
        arm: ctx.arm(),
        arm_min: GC_K,
        arm_min_text: format!("k = {GC_K} (DELETE; ARM has no batch delete)"),
        why: "per group: conditional claim + row delete, 1 + 2k".into(),
        note: "per group, a claim (→ Deleting) conditional on the ETag GC read, so a player who joins in between wins and the server is kept, and the row's delete once ARM confirmed: 1 + 2k. The claims and deletes of one resource group could go in entity-group transactions (1 + 2⌈k/100⌉), but a transaction is all-or-nothing, so one lost race would hold back the other 99, and GC's time is ARM's DELETEs anyway (section 4) (`src/ops/gc.rs` `collect_one`)".into(),
    });

    // GC with nothing to do
    ctx.reset();
    let v = ctx.gc(&gf).await?;
    expect(v["examined"] == 0, "GC (nothing)", &v)?;
    rows.push(Row {
        function: "GC, nothing to collect".into(),
        table: proxy.counts(),
        table_min: 1,
        table_min_text: "1 (query)".into(),
        arm: ctx.arm(),
        arm_min: 0,
        arm_min_text: "0".into(),
        why: String::new(),
        note: String::new(),
    });
    gf.stop().await;

    // ---- List over N groups, each N in its own table
    let largest = list_sizes.iter().copied().max().unwrap_or(0);
    for &n in list_sizes {
        let table = unique_table();
        let store = stack::store(azurite_conn, &table).await?;
        eprintln!("  seeding {} rows for List", thousands(n));
        stack::seed(&store, "arena", (0..n).map(name), GroupState::Running, 0).await?;
        let gf = Gamefleet::start(
            paths,
            &format!("list{n}"),
            &stack::gamefleet_env(&sim, &proxy.connection_string(), &table),
        )
        .await?;
        wait_log(&gf, "table ready").await?;
        ctx.reset();
        let (s, v) = ctx.get(&gf, "/api/List").await?;
        let got = v.as_array().map(Vec::len).unwrap_or(0);
        expect(
            s == 200 && got == n,
            "List",
            &json!({"status": s, "rows": got}),
        )?;
        let pages = ceil_div(n, 1000).max(1);
        rows.push(Row {
            function: format!("List, N = {}", thousands(n)),
            table: proxy.counts(),
            table_min: pages,
            table_min_text: format!("⌈N/1000⌉ = {pages} (query pages)"),
            arm: ctx.arm(),
            arm_min: 0,
            arm_min_text: "0".into(),
            why: String::new(),
            note: "Table Storage returns at most 1,000 rows per page".into(),
        });

        if n == largest && n >= 1000 {
            // SetSessions of names spread over a large partition: the read is a
            // RowKey range query from the first to the last name.
            for k in [14usize, 56, 100] {
                let step = n / k;
                let body = |pick: &dyn Fn(usize) -> usize| {
                    let items: Vec<Value> = (0..k)
                        .map(|i| json!({"resourceGroup": "arena", "containerGroupName": name(pick(i)), "activeSessions": 1}))
                        .collect();
                    json!(items)
                };
                // Timed 3 times each (median), against the same number of
                // contiguous names; the requests of the last spread call are counted.
                let mut dense = Samples::default();
                let mut spread = Samples::default();
                for _ in 0..3 {
                    let t = Instant::now();
                    let (s, v) = ctx.post(&gf, "/api/SetSessions", &body(&|i| i)).await?;
                    dense.push(t.elapsed().as_secs_f64() * 1000.0);
                    expect(s == 200, "SetSessions (contiguous)", &v)?;
                    ctx.reset();
                    let t = Instant::now();
                    let (s, v) = ctx
                        .post(&gf, "/api/SetSessions", &body(&|i| i * step))
                        .await?;
                    spread.push(t.elapsed().as_secs_f64() * 1000.0);
                    expect(s == 200, "SetSessions (spread)", &v)?;
                }
                let (took, dense_ms) = (spread.median(), dense.median());
                let span = (k - 1) * step + 1;
                let counted = proxy.counts();
                let queries = counted
                    .0
                    .get(&crate::proxy::Kind::Query)
                    .copied()
                    .unwrap_or(0);
                let times = format!(
                    "{} here, {} for {k} contiguous names; medians of 3 calls",
                    ms(took),
                    ms(dense_ms)
                );
                // What get_many did, told from the requests it made.
                let (why, note) = if queries == ceil_div(k, 14) {
                    (
                        format!("+{queries} OR quer{} of ≤ 14 RowKeys", if queries == 1 { "y" } else { "ies" }),
                        format!(
                            "the rows are read first with {} (Table Storage allows 15 comparisons per filter), bringing exactly the {k} rows (`src/store/table.rs` `get_many`); the minimum for a conditional write of {k} scattered rows ({times})",
                            if queries == 1 {
                                "one OR query of the RowKeys".to_string()
                            } else {
                                format!("{queries} OR queries of at most 14 RowKeys side by side")
                            }
                        ),
                    )
                } else {
                    (
                        format!(
                            "one RowKey range query, first to last name: {} rows read for {k}",
                            thousands(span)
                        ),
                        format!(
                            "the rows are read with one RowKey range query from the first name to the last, filtered in gamefleet (`src/store/table.rs` `get_many`): {} rows cross the wire in {queries} pages for the {k} wanted ({times}). ORs of at most 14 RowKeys (15 comparisons per filter) would bring exactly the {k} rows in ⌈{k}/14⌉ = {} queries side by side (the service may still scan the partition for each); gamefleet uses ORs only up to a few chunks of 14 and the range above, the right call when the names are dense (a matchmaker reporting its whole fleet), which it cannot tell in advance",
                            thousands(span),
                            ceil_div(k, 14)
                        ),
                    )
                };
                let min_text = format!("⌈k/100⌉ = {} (batch)", ceil_div(k, 100));
                rows.push(Row {
                    function: format!(
                        "SetSessions, {k} groups spread over a {}-row resource group",
                        thousands(n)
                    ),
                    table: counted,
                    table_min: ceil_div(k, 100),
                    table_min_text: min_text,
                    arm: ctx.arm(),
                    arm_min: 0,
                    arm_min_text: "0".into(),
                    why,
                    note,
                });
            }
        }
        gf.stop().await;
    }
    Ok(RoundTrips { rows })
}
