//! Configuration of a [`crate::Simulator`] and the small duration parser used by the
//! program's flags.

use std::time::Duration;

/// The all-zero subscription the simulator answers for by default.
pub const DEFAULT_SUBSCRIPTION: &str = "00000000-0000-0000-0000-000000000000";
/// Default value the managed-identity endpoint expects in `X-IDENTITY-HEADER`.
pub const DEFAULT_IDENTITY_HEADER: &str = "sim-identity-secret";
/// Default (and only) accepted ARM api-version for container groups.
pub const DEFAULT_API_VERSION: &str = "2023-05-01";

/// Everything a simulator instance needs. There is no global state: two simulators
/// with different configs can run side by side in one process.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// The only subscription that exists; others answer 404 `SubscriptionNotFound`.
    pub subscription_id: String,
    /// Secret the MI endpoint requires in `X-IDENTITY-HEADER`.
    pub identity_header: String,
    /// Accepted ARM api-versions (container groups and their operation URLs).
    pub api_versions: Vec<String>,
    /// PUT/start accepted -> provisioningState `Succeeded` (or `Failed`).
    pub provisioning_delay: Duration,
    /// DELETE accepted -> gone. `Duration::ZERO` = synchronous 200 with the body.
    pub delete_delay: Duration,
    /// `Retry-After` seconds on 201/202 long-running-operation answers.
    pub lro_retry_after_secs: u32,
    /// Lifetime of the tokens handed out by the MI endpoint.
    pub token_lifetime: Duration,
    /// Items per list page (`nextLink` paging).
    pub page_size: usize,
    /// `Some` = only these resource groups exist (compared case-insensitively);
    /// `None` = every resource group exists.
    pub resource_groups: Option<Vec<String>>,
    /// Event Grid emission and delivery.
    pub events: EventConfig,
    /// `Some` = ARM's write throttling: writes beyond the bucket answer 429
    /// `SubscriptionRequestsThrottled` with `Retry-After`; every write answer carries
    /// `x-ms-ratelimit-remaining-subscription-writes`. `None` (default) = unlimited.
    pub write_bucket: Option<crate::throttle::TokenBucket>,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            subscription_id: DEFAULT_SUBSCRIPTION.to_string(),
            identity_header: DEFAULT_IDENTITY_HEADER.to_string(),
            api_versions: vec![DEFAULT_API_VERSION.to_string()],
            provisioning_delay: Duration::from_millis(200),
            delete_delay: Duration::ZERO,
            lro_retry_after_secs: 1,
            token_lifetime: Duration::from_secs(24 * 3600),
            page_size: 100,
            resource_groups: None,
            events: EventConfig::default(),
            write_bucket: None,
        }
    }
}

/// Schema of the emitted events.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum EventSchema {
    /// Event Grid schema (`eventType`, `eventTime`, `topic`, `dataVersion`, ...).
    #[default]
    EventGrid,
    /// CloudEvents 1.0 (`type`, `time`, `source`, `specversion`, ...).
    CloudEvents,
}

/// When the `ResourceWrite*` event of a PUT is emitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum WriteEventTiming {
    /// `ResourceWriteSuccess`/`ResourceWriteFailure` once provisioning has finished.
    #[default]
    OnProvisioned,
    /// `ResourceWriteSuccess` as soon as the PUT is accepted (the group is still
    /// `Pending`), as real ARM may do. No second event follows, not even when the
    /// provisioning fails later.
    OnAccepted,
}

/// Event emission and delivery (the Event Grid -> Functions host -> handler path).
#[derive(Debug, Clone)]
pub struct EventConfig {
    /// URL of the function the host would invoke, e.g. `http://127.0.0.1:7071/Monitor`.
    /// `None` = events are only queued (see `Simulator::take_events`).
    pub sink: Option<String>,
    pub schema: EventSchema,
    /// Key of the event inside `Data` of the host envelope (the binding name).
    pub binding_name: String,
    /// `Metadata.sys.MethodName` of the envelope (the function name). Default `Monitor`.
    pub function_name: String,
    /// Redelivery schedule after a failed attempt; the event is dropped after the last.
    pub retry_delays: Vec<Duration>,
    pub write_event_timing: WriteEventTiming,
    /// `false` = events are only queued; tests take them with `take_events()`.
    pub auto_deliver: bool,
    /// How long one delivery attempt may take (Event Grid waits 30 s).
    pub delivery_timeout: Duration,
}

impl Default for EventConfig {
    fn default() -> Self {
        EventConfig {
            sink: None,
            schema: EventSchema::EventGrid,
            binding_name: "eventGridEvent".to_string(),
            function_name: "Monitor".to_string(),
            retry_delays: [1, 2, 5, 10, 30].map(Duration::from_secs).to_vec(),
            write_event_timing: WriteEventTiming::OnProvisioned,
            auto_deliver: true,
            delivery_timeout: Duration::from_secs(30),
        }
    }
}

/// Parses `"250ms"`, `"3s"`, `"1.5s"`, `"2m"`, `"1h"` and `"0"`.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    if t == "0" {
        return Ok(Duration::ZERO);
    }
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .ok_or_else(|| format!("duration {text:?} needs a unit: ms, s, m or h"))?;
    let (number, unit) = t.split_at(split);
    let value: f64 = number
        .parse()
        .map_err(|_| format!("duration {text:?}: {number:?} is not a number"))?;
    let factor = match unit.trim() {
        "ms" => 0.001,
        "s" => 1.0,
        "m" | "min" => 60.0,
        "h" => 3600.0,
        other => {
            return Err(format!(
                "duration {text:?}: unknown unit {other:?} (ms, s, m, h)"
            ))
        }
    };
    let secs = value * factor;
    if !secs.is_finite() || secs < 0.0 {
        return Err(format!("duration {text:?} is out of range"));
    }
    Ok(Duration::from_secs_f64(secs))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_durations() {
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("3s"), Ok(Duration::from_secs(3)));
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("0"), Ok(Duration::ZERO));
        assert!(parse_duration("3").is_err());
        assert!(parse_duration("3x").is_err());
        assert!(parse_duration("s").is_err());
    }
}
