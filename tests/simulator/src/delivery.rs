//! Event emission: queue, or deliver through a simulated Functions host (Event Grid ->
//! host -> `POST /Monitor` with the invocation envelope), with redelivery.

use crate::events::host_envelope;
use crate::host::{invocation_failure, invoke_url};
use crate::state::Shared;
use crate::types::{Delivery, Notice};
use serde_json::Value;
use std::sync::{Arc, Weak};

/// Emits one event: spawns its delivery (auto_deliver with a sink) or queues it.
/// Must not be called with the state lock held.
pub(crate) fn emit(shared: &Arc<Shared>, event: Value) {
    let cfg = &shared.cfg.events;
    match (&cfg.sink, cfg.auto_deliver) {
        (Some(sink), true) => {
            let weak = Arc::downgrade(shared);
            let sink = sink.clone();
            let client = shared.http.clone();
            tokio::spawn(deliver(weak, client, sink, event));
        }
        _ => shared.lock().queue.push(event),
    }
}

fn text(v: &Value, a: &str, b: &str) -> String {
    v.get(a)
        .or_else(|| v.get(b))
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

async fn deliver(weak: Weak<Shared>, client: reqwest::Client, sink: String, event: Value) {
    let event_id = text(&event, "id", "id");
    let event_type = text(&event, "eventType", "type");
    let subject = text(&event, "subject", "subject");
    let mut attempt: u32 = 0;
    loop {
        attempt += 1;
        let (binding, function, delays) = match weak.upgrade() {
            Some(sh) => (
                sh.cfg.events.binding_name.clone(),
                sh.cfg.events.function_name.clone(),
                sh.cfg.events.retry_delays.clone(),
            ),
            None => return,
        };
        // Every attempt is a new host invocation (new InvocationId, UtcNow, RandGuid),
        // carrying the same event (same id).
        let envelope = host_envelope(&binding, &function, &event);
        let (status, error) = match invoke_url(&client, &sink, &envelope).await {
            Ok(resp) => {
                let status = resp.status().as_u16();
                let ct = resp
                    .headers()
                    .get(reqwest::header::CONTENT_TYPE)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_string);
                match resp.bytes().await {
                    Ok(body) => (
                        Some(status),
                        invocation_failure(status, ct.as_deref(), &body),
                    ),
                    Err(e) => (
                        Some(status),
                        Some(format!("reading the answer failed: {e}")),
                    ),
                }
            }
            Err(e) => (None, Some(describe(&e))),
        };
        let Some(sh) = weak.upgrade() else { return };
        let accepted = error.is_none();
        let retry_in = if accepted {
            None
        } else {
            delays.get(attempt as usize - 1).copied()
        };
        sh.lock().deliveries.push(Delivery {
            event_id: event_id.clone(),
            event_type: event_type.clone(),
            subject: subject.clone(),
            attempt,
            status,
            accepted,
            error: error.clone(),
        });
        match error {
            None => {
                sh.ok_deliveries.send_modify(|n| *n += 1);
                sh.notice(Notice::EventDelivered {
                    event_type,
                    subject,
                    attempt,
                    status: status.unwrap_or_default(),
                });
                return;
            }
            Some(error) => {
                sh.notice(Notice::EventDeliveryFailed {
                    event_type: event_type.clone(),
                    subject: subject.clone(),
                    attempt,
                    status,
                    error,
                    retry_in,
                });
                drop(sh);
                match retry_in {
                    Some(d) => tokio::time::sleep(d).await,
                    None => return,
                }
            }
        }
    }
}

fn describe(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        "timed out".to_string()
    } else if e.is_connect() {
        "connection failed".to_string()
    } else {
        e.to_string()
    }
}
