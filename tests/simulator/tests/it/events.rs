//! Event emission and delivery through the simulated Functions host.

use crate::common::*;
use gamefleet_sim::events::{host_envelope, resource_event, timer_envelope};
use gamefleet_sim::{EventConfig, EventSchema, ResourceEventKind, SimConfig, WriteEventTiming};
use serde_json::Value;
use std::time::Duration;

fn events_config(sink: Option<&Sink>, delays_ms: &[u64]) -> SimConfig {
    SimConfig {
        events: EventConfig {
            sink: sink.map(|s| s.url.clone()),
            retry_delays: delays_ms
                .iter()
                .map(|&ms| Duration::from_millis(ms))
                .collect(),
            ..EventConfig::default()
        },
        ..fast_config()
    }
}

#[tokio::test]
async fn delivery_is_retried_with_the_same_event_and_host_envelope() {
    let sink = start_sink(1, Answer::Ok).await;
    let sim = start(events_config(Some(&sink), &[50, 50])).await;
    let c = client();
    let t = token(&c, &sim).await;
    let url = group_url(&sim, RG, "cg-ev");
    let (s, h, _) = send(
        c.put(&url)
            .bearer_auth(&t)
            .header("x-ms-correlation-request-id", "corr-put-1")
            .json(&group_body("img:1")),
    )
    .await;
    assert_eq!(s, 201);
    assert_eq!(header(&h, "x-ms-correlation-request-id"), "corr-put-1");
    assert!(sim.wait_for_deliveries(1, Duration::from_secs(5)).await);

    let deliveries = sim.deliveries();
    assert_eq!(deliveries.len(), 2, "{deliveries:?}");
    assert_eq!(
        (deliveries[0].attempt, deliveries[0].status),
        (1, Some(500))
    );
    assert!(!deliveries[0].accepted);
    assert_eq!(
        (deliveries[1].attempt, deliveries[1].status),
        (2, Some(200))
    );
    assert!(deliveries[1].accepted);
    assert_eq!(deliveries[0].event_id, deliveries[1].event_id);
    assert_eq!(
        deliveries[1].event_type,
        "Microsoft.Resources.ResourceWriteSuccess"
    );

    let envelopes = sink.envelopes();
    assert_eq!(envelopes.len(), 2);
    for env in &envelopes {
        let event = &env["Data"]["eventGridEvent"];
        assert!(event.is_object(), "the event is an object, not a string");
        assert_eq!(env["Metadata"]["sys"]["MethodName"], "Monitor");
        assert!(env["Metadata"]["sys"]["UtcNow"].is_string());
        assert!(env["Metadata"]["sys"]["RandGuid"].is_string());
        assert_eq!(env["Metadata"]["data"], event["data"]);
        assert_eq!(event["id"], deliveries[0].event_id.as_str());
        assert_eq!(
            event["eventType"],
            "Microsoft.Resources.ResourceWriteSuccess"
        );
        assert_eq!(event["dataVersion"], "2");
        assert_eq!(event["metadataVersion"], "1");
        assert_eq!(
            event["subject"],
            format!(
                "/subscriptions/{}/resourcegroups/{RG}/providers/Microsoft.ContainerInstance/containerGroups/cg-ev",
                sim.subscription_id()
            )
        );
        assert_eq!(
            event["topic"],
            format!(
                "/subscriptions/{}/resourceGroups/{RG}",
                sim.subscription_id()
            )
        );
        assert_eq!(event["data"]["correlationId"], "corr-put-1");
        assert_eq!(event["data"]["status"], "Succeeded");
        assert_eq!(event["data"]["httpRequest"]["method"], "PUT");
    }
    for h in sink.headers() {
        assert_eq!(
            header(&h, "content-type"),
            "application/json; charset=utf-8"
        );
        assert!(uuid::Uuid::parse_str(header(&h, "x-azure-functions-invocationid")).is_ok());
        assert_eq!(header(&h, "x-azure-functions-hostversion"), "4.1037.0");
        assert_eq!(header(&h, "user-agent"), "Azure-Functions-Host/4.1037.0");
    }
    // The group was Succeeded by the time the write event went out (OnProvisioned).
    assert_eq!(
        sim.group(RG, "cg-ev").unwrap_or_default()["properties"]["provisioningState"],
        "Succeeded"
    );

    // Delete: resourceGroups casing.
    assert_eq!(send(c.delete(&url).bearer_auth(&t)).await.0, 200);
    assert!(sim.wait_for_deliveries(2, Duration::from_secs(5)).await);
    let last = sink.envelopes().pop().unwrap_or_default();
    let event = &last["Data"]["eventGridEvent"];
    assert_eq!(
        event["eventType"],
        "Microsoft.Resources.ResourceDeleteSuccess"
    );
    assert!(event["subject"]
        .as_str()
        .is_some_and(|s| s.contains("/resourceGroups/")));
    assert_eq!(
        event["data"]["operationName"],
        "Microsoft.ContainerInstance/containerGroups/delete"
    );
    assert_ne!(event["id"], deliveries[0].event_id.as_str(), "unique ids");
}

#[tokio::test]
async fn bad_handler_answers_fail_and_are_dropped_after_the_schedule() {
    // 200 with an empty body: the real host would never complete the invocation.
    let sink = start_sink(0, Answer::EmptyBody).await;
    let sim = start(events_config(Some(&sink), &[20])).await;
    sim.insert_group(RG, "cg-x", group_body("img:1"));
    let c = client();
    let t = token(&c, &sim).await;
    assert_eq!(
        send(c.delete(group_url(&sim, RG, "cg-x")).bearer_auth(&t))
            .await
            .0,
        200
    );
    let ds = eventually(Duration::from_secs(3), "2 attempts", || async {
        let d = sim.deliveries();
        (d.len() >= 2).then_some(d)
    })
    .await;
    assert!(ds.iter().all(|d| !d.accepted && d.status == Some(200)));
    assert!(ds[0].error.as_deref().is_some_and(|e| e.contains("empty")));
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(
        sim.deliveries().len(),
        2,
        "dropped after the last retry delay"
    );
    assert!(!sim.wait_for_deliveries(1, Duration::from_millis(10)).await);

    // Nobody listening: connection errors are recorded with status None.
    let dead = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr")
    };
    let sim2 = start(SimConfig {
        events: EventConfig {
            sink: Some(format!("http://{dead}/Monitor")),
            retry_delays: vec![Duration::from_millis(10)],
            ..EventConfig::default()
        },
        ..fast_config()
    })
    .await;
    sim2.insert_group(RG, "cg-y", group_body("img:1"));
    let t2 = token(&c, &sim2).await;
    assert_eq!(
        send(c.delete(group_url(&sim2, RG, "cg-y")).bearer_auth(&t2))
            .await
            .0,
        200
    );
    let ds = eventually(Duration::from_secs(3), "2 attempts", || async {
        let d = sim2.deliveries();
        (d.len() >= 2).then_some(d)
    })
    .await;
    assert!(ds.iter().all(|d| d.status.is_none() && !d.accepted));
}

#[tokio::test]
async fn cloudevents_schema() {
    let sim = start(SimConfig {
        events: EventConfig {
            schema: EventSchema::CloudEvents,
            auto_deliver: false,
            ..EventConfig::default()
        },
        ..fast_config()
    })
    .await;
    let c = client();
    let t = token(&c, &sim).await;
    let url = group_url(&sim, RG, "cg-ce");
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
    let e = &events[0];
    assert_eq!(e["specversion"], "1.0");
    assert_eq!(e["type"], "Microsoft.Resources.ResourceWriteSuccess");
    assert_eq!(
        e["source"],
        format!(
            "/subscriptions/{}/resourceGroups/{RG}",
            sim.subscription_id()
        )
    );
    assert!(e["time"].is_string() && e["id"].is_string() && e["subject"].is_string());
    assert!(e.get("eventType").is_none() && e.get("topic").is_none());
    assert_eq!(e["data"]["resourceProvider"], "Microsoft.ContainerInstance");
}

#[tokio::test]
async fn queued_events_in_emission_order_and_on_accepted_timing() {
    let sim = start(SimConfig {
        provisioning_delay: Duration::from_secs(5),
        events: EventConfig {
            auto_deliver: false,
            sink: Some("http://127.0.0.1:9/Monitor".to_string()),
            write_event_timing: WriteEventTiming::OnAccepted,
            ..EventConfig::default()
        },
        ..SimConfig::default()
    })
    .await;
    let c = client();
    let t = token(&c, &sim).await;
    let url = group_url(&sim, RG, "cg-q");
    assert_eq!(
        send(c.put(&url).bearer_auth(&t).json(&group_body("img:1")))
            .await
            .0,
        201
    );
    // OnAccepted: the write event exists while the group is still Pending.
    assert_eq!(
        sim.group(RG, "cg-q").unwrap_or_default()["properties"]["provisioningState"],
        "Pending"
    );
    assert_eq!(send(c.delete(&url).bearer_auth(&t)).await.0, 200);
    let events = sim.take_events();
    let types: Vec<&str> = events
        .iter()
        .map(|e| e["eventType"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(
        types,
        [
            "Microsoft.Resources.ResourceWriteSuccess",
            "Microsoft.Resources.ResourceDeleteSuccess"
        ]
    );
    assert!(sim.take_events().is_empty(), "drained");
    assert!(
        sim.deliveries().is_empty(),
        "auto_deliver=false never delivers"
    );
}

#[tokio::test]
async fn builders_and_host_invoke() {
    let sink = start_sink(0, Answer::Ok).await;
    let event = resource_event(
        EventSchema::EventGrid,
        ResourceEventKind::ActionSuccess,
        "00000000-0000-0000-0000-000000000000",
        "my-rg",
        "cg-job-0001",
        "stop",
    );
    assert_eq!(
        event["data"]["operationName"],
        "Microsoft.ContainerInstance/containerGroups/stop/action"
    );
    let env = host_envelope("eventGridEvent", "Monitor", &event);
    let base = sink.url.trim_end_matches("/Monitor").to_string();
    let r = gamefleet_sim::host::invoke(&client(), &base, "Monitor", &env)
        .await
        .expect("invoke");
    assert_eq!(r.status(), 200);
    assert_eq!(sink.envelopes()[0], env);
    let timer = timer_envelope("timer", false);
    assert_eq!(timer["Data"]["timer"]["IsPastDue"], false);
    assert_eq!(timer["Data"]["timer"]["ScheduleStatus"], Value::Null);
}
