//! The managed-identity token endpoint.

use crate::common::*;
use gamefleet_sim::Op;
use serde_json::Value;

#[tokio::test]
async fn identity_endpoint_is_strict() {
    let sim = start(fast_config()).await;
    let c = client();
    let ep = sim.identity_endpoint();
    assert!(ep.ends_with("/msi/token"));
    let good = [
        ("api-version", "2019-08-01"),
        ("resource", "https://management.azure.com/"),
    ];

    let (s, h, b) = send(c.get(&ep).query(&good)).await;
    assert_eq!(s, 401);
    assert_eq!(b["statusCode"], 401);
    assert!(b["message"].is_string());
    assert!(header(&h, "content-type").starts_with("application/json"));

    let (s, _, b) = send(c.get(&ep).query(&good).header("X-IDENTITY-HEADER", "wrong")).await;
    assert_eq!((s, b["statusCode"].as_u64()), (401, Some(401)));

    let secret = sim.identity_header().to_string();
    let (s, _, _) = send(
        c.get(&ep)
            .query(&[
                ("api-version", "2017-09-01"),
                ("resource", "https://management.azure.com/"),
            ])
            .header("x-identity-header", &secret),
    )
    .await;
    assert_eq!(s, 400, "wrong api-version");
    let (s, _, _) = send(
        c.get(&ep)
            .query(&[("resource", "https://management.azure.com/")])
            .header("x-identity-header", &secret),
    )
    .await;
    assert_eq!(s, 400, "missing api-version");
    let (s, _, _) = send(
        c.get(&ep)
            .query(&[("api-version", "2019-08-01")])
            .header("x-identity-header", &secret),
    )
    .await;
    assert_eq!(s, 400, "missing resource");

    // Both resource spellings azure_identity may send; header name case-insensitive.
    for resource in [
        "https://management.azure.com",
        "https://management.azure.com/",
    ] {
        let before = chrono::Utc::now().timestamp();
        let (s, _, b) = send(
            c.get(&ep)
                .query(&[("api-version", "2019-08-01"), ("resource", resource)])
                .header("X-Identity-Header", &secret),
        )
        .await;
        assert_eq!(s, 200, "{b}");
        assert_eq!(b["token_type"], "Bearer");
        assert_eq!(b["resource"], resource);
        assert!(b["access_token"].as_str().is_some_and(|t| t.len() > 20));
        assert!(b["client_id"]
            .as_str()
            .is_some_and(|id| uuid::Uuid::parse_str(id).is_ok()));
        let expires: i64 = b["expires_on"]
            .as_str()
            .and_then(|s| s.parse().ok())
            .expect("expires_on is a string of epoch seconds");
        assert!(expires >= before + 24 * 3600 - 5);
    }
    let (s, _, b) = send(
        c.get(&ep)
            .query(&[
                ("api-version", "2019-08-01"),
                ("resource", "https://storage.azure.com"),
                ("client_id", "7f3c1b8e-1111-2222-3333-444455556666"),
            ])
            .header("x-identity-header", &secret),
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(b["client_id"], "7f3c1b8e-1111-2222-3333-444455556666");
    let (s, _, _) = send(
        c.get(&ep)
            .query(&[
                ("api-version", "2019-08-01"),
                ("resource", "https://vault.azure.net"),
            ])
            .header("x-identity-header", &secret),
    )
    .await;
    assert_eq!(s, 400, "unknown resource");

    assert_eq!(sim.issued_tokens(), 3);
    assert_eq!(sim.count(Op::Token), 9);
    let rejected: Vec<Value> = sim
        .requests()
        .iter()
        .filter(|r| r.status == 401)
        .map(|r| Value::String(r.path.clone()))
        .collect();
    assert_eq!(rejected.len(), 2);
}

#[tokio::test]
async fn token_endpoint_faults() {
    let sim = start(fast_config()).await;
    let c = client();
    sim.fail_next(
        gamefleet_sim::FaultRule::new(Op::Token, 503, "ServiceUnavailable", "try later")
            .retry_after(2),
    );
    let r = c
        .get(sim.identity_endpoint())
        .query(&[
            ("api-version", "2019-08-01"),
            ("resource", "https://management.azure.com/"),
        ])
        .header("x-identity-header", sim.identity_header())
        .send()
        .await
        .expect("sent");
    assert_eq!(r.status(), 503);
    assert_eq!(header(r.headers(), "retry-after"), "2");
    let _ = token(&c, &sim).await;
    assert_eq!(sim.issued_tokens(), 1);
}
