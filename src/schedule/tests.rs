//! The rule and the calendar, as a user sees them: each fire once per
//! period, on the right local day, through DST changes.

use super::*;
use chrono::TimeZone;
use serde_json::json;

fn utc(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_else(|e| panic!("{s}: {e}"))
}

fn schedule(cron: &str, zone: &str) -> Schedule {
    Schedule::parse(&json!({
        "name": "s", "cron": cron, "timeZone": zone, "action": "stop",
        "provider": "aci", "resource": "rg/cg"
    }))
    .unwrap()
}

/// Ticks every `step` from `from` to `to` as the timer would, applying what is
/// due; returns the fires applied.
fn simulate(s: &Schedule, from: &str, to: &str, step: ChronoDuration) -> Vec<DateTime<Utc>> {
    let mut run = RunState::fresh(utc(from));
    let mut applied = vec![];
    let mut now = utc(from);
    while now <= utc(to) {
        if let Due::Apply(f) = decide(s, &run, now) {
            applied.push(f);
            run.last_fire = Some(f);
        }
        now += step;
    }
    applied
}

fn minutes(n: i64) -> ChronoDuration {
    ChronoDuration::minutes(n)
}

fn local(s: &Schedule, t: DateTime<Utc>) -> String {
    t.with_timezone(&s.zone).format("%F %T %Z").to_string()
}

#[test]
fn berlin_spring_forward_fires_once_at_three_cest() {
    let s = schedule("30 2 * * *", "Europe/Berlin");
    let fires = simulate(
        &s,
        "2026-03-28T12:00:00Z",
        "2026-03-29T12:00:00Z",
        minutes(1),
    );
    assert_eq!(fires, [utc("2026-03-29T01:00:00Z")]);
    assert_eq!(local(&s, fires[0]), "2026-03-29 03:00:00 CEST");
    // What GET shows is what is applied.
    let next = s.next_fires(utc("2026-03-28T12:00:00Z"), 2);
    assert_eq!(next[0].with_timezone(&Utc), fires[0]);
    assert_eq!(next[1].with_timezone(&Utc), utc("2026-03-30T00:30:00Z"));
}

#[test]
fn berlin_fall_back_fires_once_in_the_repeated_hour() {
    let s = schedule("30 2 * * *", "Europe/Berlin");
    let fires = simulate(
        &s,
        "2026-10-24T12:00:00Z",
        "2026-10-25T12:00:00Z",
        minutes(1),
    );
    assert_eq!(
        fires,
        [utc("2026-10-25T00:30:00Z")],
        "02:30 CEST, not again at 02:30 CET"
    );
    assert_eq!(local(&s, fires[0]), "2026-10-25 02:30:00 CEST");
    let next: Vec<_> = s
        .next_fires(utc("2026-10-24T12:00:00Z"), 2)
        .into_iter()
        .map(|t| t.with_timezone(&Utc))
        .collect();
    assert_eq!(
        next,
        [utc("2026-10-25T00:30:00Z"), utc("2026-10-26T01:30:00Z")]
    );
}

#[test]
fn new_york_spring_forward_and_fall_back_fire_once_each() {
    let s = schedule("30 2 * * *", "America/New_York");
    let fires = simulate(
        &s,
        "2026-03-07T12:00:00Z",
        "2026-03-08T18:00:00Z",
        minutes(1),
    );
    assert_eq!(fires, [utc("2026-03-08T07:00:00Z")]);
    assert_eq!(local(&s, fires[0]), "2026-03-08 03:00:00 EDT");

    let s = schedule("30 1 * * *", "America/New_York");
    let fires = simulate(
        &s,
        "2026-10-31T12:00:00Z",
        "2026-11-01T18:00:00Z",
        minutes(1),
    );
    assert_eq!(
        fires,
        [utc("2026-11-01T05:30:00Z")],
        "01:30 EDT, not 01:30 EST"
    );
    assert_eq!(local(&s, fires[0]), "2026-11-01 01:30:00 EDT");
}

#[test]
fn an_interval_schedule_keeps_every_real_fire_through_the_fold() {
    // Every 30 minutes of hour 2: both passes of the repeated hour, in order, once each.
    let s = schedule("*/30 2 * * *", "Europe/Berlin");
    let fires = simulate(
        &s,
        "2026-10-24T22:00:00Z",
        "2026-10-25T03:00:00Z",
        minutes(1),
    );
    assert_eq!(
        fires,
        [
            utc("2026-10-25T00:00:00Z"),
            utc("2026-10-25T00:30:00Z"),
            utc("2026-10-25T01:00:00Z"),
            utc("2026-10-25T01:30:00Z")
        ]
    );
}

#[test]
fn near_midnight_a_stop_fires_on_the_local_day() {
    // Friday 23:59 in Los Angeles is Saturday in UTC.
    let s = schedule("59 23 * * FRI", "America/Los_Angeles");
    let next = s.next_fires(utc("2026-06-15T00:00:00Z"), 1);
    assert_eq!(
        next[0].format("%F %A %T %Z").to_string(),
        "2026-06-19 Friday 23:59:00 PDT"
    );
    assert_eq!(next[0].with_timezone(&Utc), utc("2026-06-20T06:59:00Z"));
    let fires = simulate(
        &s,
        "2026-06-15T00:00:00Z",
        "2026-06-21T00:00:00Z",
        minutes(1),
    );
    assert_eq!(fires, [utc("2026-06-20T06:59:00Z")]);

    // Monday 00:00 in Tokyo is Sunday in UTC.
    let s = schedule("0 0 * * MON", "Asia/Tokyo");
    let next = s.next_fires(utc("2026-06-15T00:00:00Z"), 1);
    assert_eq!(
        next[0].format("%F %A %T %Z").to_string(),
        "2026-06-22 Monday 00:00:00 JST"
    );
    assert_eq!(next[0].with_timezone(&Utc), utc("2026-06-21T15:00:00Z"));
    let fires = simulate(
        &s,
        "2026-06-15T00:00:00Z",
        "2026-06-22T00:00:00Z",
        minutes(1),
    );
    assert_eq!(fires, [utc("2026-06-21T15:00:00Z")]);
}

#[test]
fn after_missed_ticks_only_the_latest_period_is_applied() {
    let s = schedule("0 8 * * *", "Europe/Berlin");
    let mut run = RunState::fresh(utc("2026-06-01T00:00:00Z"));
    run.last_fire = Some(utc("2026-06-02T06:00:00Z"));
    // Down for three days: one fire, today's.
    let now = utc("2026-06-05T12:00:00Z");
    assert_eq!(
        decide(&s, &run, now),
        Due::Apply(utc("2026-06-05T06:00:00Z"))
    );
    run.last_fire = Some(utc("2026-06-05T06:00:00Z"));
    assert_eq!(decide(&s, &run, now), Due::Nothing, "applied once");
    assert_eq!(decide(&s, &run, now + minutes(60)), Due::Nothing);
}

#[test]
fn a_schedule_acts_only_from_its_first_period_after_creation() {
    let s = schedule("0 10 * * *", "UTC");
    let run = RunState::fresh(utc("2026-06-01T10:30:00Z"));
    assert_eq!(decide(&s, &run, utc("2026-06-01T10:31:00Z")), Due::Nothing);
    assert_eq!(decide(&s, &run, utc("2026-06-02T09:59:59Z")), Due::Nothing);
    assert_eq!(
        decide(&s, &run, utc("2026-06-02T10:00:00Z")),
        Due::Apply(utc("2026-06-02T10:00:00Z"))
    );
}

#[test]
fn nth_weekday_and_last_day_of_month() {
    let s = schedule("0 9 * * 2#2", "Europe/Berlin");
    let next: Vec<String> = s
        .next_fires(utc("2026-12-01T00:00:00Z"), 3)
        .iter()
        .map(|t| t.format("%F %a %R %Z").to_string())
        .collect();
    assert_eq!(
        next,
        [
            "2026-12-08 Tue 09:00 CET",
            "2027-01-12 Tue 09:00 CET",
            "2027-02-09 Tue 09:00 CET"
        ]
    );
    let s = schedule("0 18 L * *", "Europe/Berlin");
    let next: Vec<String> = s
        .next_fires(utc("2027-01-15T00:00:00Z"), 3)
        .iter()
        .map(|t| t.format("%F %R %Z").to_string())
        .collect();
    assert_eq!(
        next,
        [
            "2027-01-31 18:00 CET",
            "2027-02-28 18:00 CET",
            "2027-03-31 18:00 CEST"
        ]
    );
}

#[test]
fn six_fields_have_seconds_first() {
    let s = schedule("15 0 8 * * *", "UTC");
    assert_eq!(
        s.next_fires(utc("2026-06-01T00:00:00Z"), 1)[0].with_timezone(&Utc),
        utc("2026-06-01T08:00:15Z")
    );
}

#[test]
fn a_disabled_schedule_never_fires() {
    let mut body = schedule("* * * * *", "UTC").to_json();
    body["enabled"] = json!(false);
    let s = Schedule::parse(&body).unwrap();
    assert!(simulate(
        &s,
        "2026-06-01T00:00:00Z",
        "2026-06-02T00:00:00Z",
        minutes(7)
    )
    .is_empty());
    assert!(next_report(&s, utc("2026-06-01T00:00:00Z"), 3)
        .next
        .is_empty());
}

#[test]
fn a_claim_defers_others_until_it_expires() {
    let s = schedule("0 8 * * *", "UTC");
    let mut run = RunState::fresh(utc("2026-06-01T00:00:00Z"));
    let fire = utc("2026-06-01T08:00:00Z");
    run.claim = Some(Claim {
        fire,
        until: utc("2026-06-01T08:05:00Z"),
    });
    assert_eq!(
        decide(&s, &run, utc("2026-06-01T08:01:00Z")),
        Due::Leased {
            until: utc("2026-06-01T08:05:00Z")
        }
    );
    // The claimer died before writing lastFire: the fire is applied after the lease.
    assert_eq!(
        decide(&s, &run, utc("2026-06-01T08:05:01Z")),
        Due::Apply(fire)
    );
}

#[test]
fn an_enforced_schedule_checks_its_current_period_again() {
    let mut body = schedule("0 8 * * *", "UTC").to_json();
    let plain = Schedule::parse(&body).unwrap();
    body["enforced"] = json!(true);
    let enforced = Schedule::parse(&body).unwrap();
    let mut run = RunState::fresh(utc("2026-06-01T00:00:00Z"));
    run.last_fire = Some(utc("2026-06-01T08:00:00Z"));
    let now = utc("2026-06-01T09:00:00Z");
    assert_eq!(
        decide(&enforced, &run, now),
        Due::Enforce(utc("2026-06-01T08:00:00Z"))
    );
    assert_eq!(decide(&plain, &run, now), Due::Nothing);
}

#[test]
fn mistakes_name_their_field() {
    let ok = json!({"name": "night-stop", "cron": "0 23 * * *", "timeZone": "Europe/Berlin",
                    "action": "stop", "provider": "aci", "resource": "rg/cg"});
    assert!(Schedule::parse(&ok).is_ok());
    for (key, value, field, says) in [
        (
            "cron",
            json!("61 * * * *"),
            "cron",
            "is not a cron expression",
        ),
        ("cron", json!("* * *"), "cron", "has 3 fields"),
        ("cron", json!("0 0 0 * * * 2030"), "cron", "has 7 fields"),
        ("cron", json!("0 0 30 2 *"), "cron", "never fires"),
        (
            "timeZone",
            json!("Mars/Olympus"),
            "timeZone",
            "is not an IANA time zone",
        ),
        ("timeZone", json!(1), "timeZone", "must be a string"),
        (
            "action",
            json!("status"),
            "action",
            "is not a scheduled action",
        ),
        (
            "action",
            json!("reboot"),
            "action",
            "is not a scheduled action",
        ),
        ("name", json!("a/b"), "name", "is not a schedule name"),
        ("name", json!(""), "name", "must not be empty"),
        ("enabled", json!("yes"), "enabled", "must be true or false"),
        (
            "timezone",
            json!("UTC"),
            "timezone",
            "is not a schedule key",
        ),
    ] {
        let mut body = ok.clone();
        body[key] = value;
        let e = Schedule::parse(&body).unwrap_err();
        assert_eq!(e.field, field, "{key}: {e}");
        assert!(e.message.contains(says), "{key}: {e}");
    }
    let mut toggle = ok.clone();
    toggle["action"] = json!("toggle");
    toggle["enforced"] = json!(true);
    assert_eq!(Schedule::parse(&toggle).unwrap_err().field, "enforced");
    let mut start = ok.clone();
    start["action"] = json!("start");
    start["retainRunning"] = json!(true);
    assert_eq!(Schedule::parse(&start).unwrap_err().field, "retainRunning");
    let mut missing = ok;
    missing.as_object_mut().map(|o| o.remove("timeZone"));
    assert_eq!(
        Schedule::parse(&missing).unwrap_err().to_string(),
        "timeZone: is missing"
    );
}

#[test]
fn the_report_shows_the_zone_and_utc() {
    let s = schedule("30 2 * * *", "Europe/Berlin");
    let r = next_report(&s, Utc.with_ymd_and_hms(2026, 3, 28, 12, 0, 0).unwrap(), 2);
    assert_eq!(r.next[0].local, "2026-03-29T03:00:00+02:00");
    assert_eq!(r.next[0].utc, "2026-03-29T01:00:00Z");
    assert_eq!(r.next[1].local, "2026-03-30T02:30:00+02:00");
    let text = r.to_string();
    assert!(
        text.contains("2026-03-29T03:00:00+02:00  =  2026-03-29T01:00:00Z"),
        "{text}"
    );
}

#[test]
fn names_nicknames_last_weekday_and_nearest_weekday() {
    let fires = |cron: &str, n: usize| -> Vec<String> {
        schedule(cron, "UTC")
            .next_fires(utc("2026-06-01T00:00:00Z"), n)
            .iter()
            .map(|t| t.format("%F %a %R").to_string())
            .collect()
    };
    assert_eq!(
        fires("@daily", 2),
        ["2026-06-02 Tue 00:00", "2026-06-03 Wed 00:00"]
    );
    // Last Friday of the month.
    assert_eq!(
        fires("0 18 * * 5L", 2),
        ["2026-06-26 Fri 18:00", "2026-07-31 Fri 18:00"]
    );
    // The weekday nearest the 13th: 2026-06-13 is a Saturday, so Friday the 12th.
    assert_eq!(fires("0 9 13W * *", 1), ["2026-06-12 Fri 09:00"]);
    assert_eq!(
        fires("0 7 * JUN MON-FRI", 2),
        ["2026-06-01 Mon 07:00", "2026-06-02 Tue 07:00"]
    );
    // Day-of-month AND weekday with '+': Friday the 13th.
    assert_eq!(fires("0 0 13 * +FRI", 1), ["2026-11-13 Fri 00:00"]);
}

mod properties {
    use super::*;
    use proptest::prelude::*;
    use proptest::sample::select;

    const ZONES: [&str; 7] = [
        "Europe/Berlin",
        "America/New_York",
        "Australia/Sydney",
        "Asia/Kolkata",
        "Pacific/Chatham",
        "America/St_Johns",
        "UTC",
    ];
    /// Two days before DST changes in the north and in the south (2026).
    const STARTS: [&str; 6] = [
        "2026-03-27T00:00:00Z",
        "2026-10-23T00:00:00Z",
        "2026-03-06T00:00:00Z",
        "2026-10-30T00:00:00Z",
        "2026-04-03T00:00:00Z",
        "2026-10-02T00:00:00Z",
    ];

    proptest! {
        #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

        /// Ticking every 10 minutes (at any second) over four days around a
        /// DST change applies every fire `next_fires` shows, once each, in order.
        #[test]
        fn every_shown_fire_is_applied_once_through_dst(
            zone in select(ZONES.to_vec()),
            start in select(STARTS.to_vec()),
            minute in 0u32..60,
            hours in proptest::collection::btree_set(0u32..24, 1..3),
            offset in 0i64..600,
        ) {
            let hours: Vec<String> = hours.iter().map(u32::to_string).collect();
            let s = schedule(&format!("{minute} {} * * *", hours.join(",")), zone);
            let from = utc(start) + ChronoDuration::seconds(offset);
            let step = minutes(10);
            let mut run = RunState::fresh(from);
            let mut applied = vec![];
            let mut now = from;
            let end = from + ChronoDuration::days(4);
            while now <= end {
                if let Due::Apply(f) = decide(&s, &run, now) {
                    prop_assert!(f <= now);
                    applied.push(f);
                    run.last_fire = Some(f);
                }
                now += step;
            }
            let last_tick = now - step;
            let shown: Vec<DateTime<Utc>> = s
                .next_fires(from, 20)
                .into_iter()
                .map(|t| t.with_timezone(&Utc))
                .filter(|t| *t <= last_tick)
                .collect();
            prop_assert_eq!(applied, shown);
        }
    }
}
