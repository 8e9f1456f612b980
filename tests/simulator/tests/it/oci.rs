//! The OCI simulator over real HTTP, with requests signed by a small signer written
//! here (test code only) from the OCI signing description and Oracle's sample key in
//! tests/fixtures/signing/oci-signing-vectors.json.

use crate::common::{client, eventually, header, send};
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use gamefleet_sim::oci::{OciFaultRule, OciOp, OciSim, OciSimConfig};
use reqwest::Method;
use rsa::pkcs1::DecodeRsaPrivateKey;
use rsa::pkcs1v15::SigningKey;
use rsa::pkcs8::{EncodePublicKey, LineEnding};
use rsa::signature::{SignatureEncoding, Signer as _};
use rsa::{RsaPrivateKey, RsaPublicKey};
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::time::Duration;

const KEY_ID: &str = "ocid1.tenancy.oc1..aaaaaaaaba3pv6wkcr4jqae5f15p2b2m2yt2j6rx32uzr4h25vqstifsfdsq/ocid1.user.oc1..aaaaaaaat5nvwcna5j6aqzjcaty5eqbb6qt2jvpkanghtgdaqedqw3rynjq/73:61:a2:21:67:e0:df:be:7e:4b:93:1e:15:98:a5:b7";

/// A second 1024-bit key (made with `openssl genrsa -traditional 1024` for these
/// tests only) that the simulator does not know.
const OTHER_PRIVATE_KEY: &str = "-----BEGIN RSA PRIVATE KEY-----
MIICXwIBAAKBgQDAGOXFrLMCL0Zk9hr9M15s7eN5TUbzZTId+5h0sx63zgK8dYKx
h7MS4hsiI8HbYapHkAhsEvLUuQpre2635JZpD+ToWBptqdkmB1Ak6EQzHr9OjHrO
+xX4ym/Aw1QDReD9Fd4LkgolSqAVPEGCRqKP+lTVA5xr8vD6khN/KniMlwIDAQAB
AoGBALfQWzW/Hn+tqwd687JrkCRdsfhluMm4gK9uC6FHsNIi4D1jmI62EeW01E/j
tWFuYBkgOt7ndtOUyOK2duiiZEU1M7ncS4l7+F49GKXWvnzQ4WOhPatKucdtlqU+
e1Ft9Neg/2iO3YNl/Lw1zMp5AViWWck1KLeMbPtajkEmG8ipAkEA6la2Rl31Nfdh
gPdeLChqSC6iEP+bUSiAaMfYHNRCcM58vcEpZMw2DynNqELFKEMEIUfwLjO5PsOB
kSxC9p7cEwJBANHamipvo9YfAAZ62+hcztI4h0ZBjfw+yZNGY6z5qCVhceoJIJvr
Mvh20EXpD6EYQpoSjK+/KitbF6T+ZAXp1e0CQQCxEwj1LzaFqwMAouuETp3RIXvR
gHRq5UHy62AAmNwDxeQ4tueChVUsLBh9VscIX2uVgniZUPhf1vfnLR0EopIFAkEA
l+jHqqpwDiMYsJglMlpkePbkra3sq0mEP7E3nFKJLq4QeRssWNH0broLYGAqqTHX
nJKK9vnJ++KQBicEnuc7rQJBANeBhaxCMxEwag4xfw0Fah3DAA++SaW/JZHiaHBM
MgsmUPMw2/eGz6tu89XQ0UdHOhsf03jZUMxz6f7YMWeU6PA=
-----END RSA PRIVATE KEY-----
";

fn fixture_key() -> (String, String) {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../fixtures/signing/oci-signing-vectors.json"
    );
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("{path}: {e} (tests/fixtures is part of the repository)"));
    let v: Value = serde_json::from_str(&text).expect("fixture JSON");
    (
        v["key"]["private_key_pem"]
            .as_str()
            .expect("private")
            .to_string(),
        v["key"]["public_key_pem"]
            .as_str()
            .expect("public")
            .to_string(),
    )
}

fn public_pem(private: &RsaPrivateKey) -> String {
    RsaPublicKey::from(private)
        .to_public_key_pem(LineEnding::LF)
        .expect("public pem")
}

// ------------------------------------------------------------------ test signer

struct Signer {
    key: SigningKey<Sha256>,
    key_id: String,
}

impl Signer {
    fn new(private_pem: &str, key_id: &str) -> Signer {
        let key = RsaPrivateKey::from_pkcs1_pem(private_pem).expect("PKCS#1 private key");
        Signer {
            key: SigningKey::new(key),
            key_id: key_id.to_string(),
        }
    }

    fn fixture() -> Signer {
        Signer::new(&fixture_key().0, KEY_ID)
    }
}

/// Deviations from a correct signed request.
#[derive(Default)]
struct Tweaks {
    /// The `date` value to sign and send (default: now).
    date: Option<String>,
    /// Sign and send `x-date` instead of `date`.
    x_date: bool,
    /// Header names left out of the signature and the request.
    omit: Vec<&'static str>,
    /// The body actually sent, if not the one signed.
    body_sent: Option<Vec<u8>>,
    /// Unsigned extra headers.
    extra: Vec<(&'static str, String)>,
}

fn http_date(t: chrono::DateTime<chrono::Utc>) -> String {
    t.format("%a, %d %b %Y %H:%M:%S GMT").to_string()
}

/// Sends `method url` signed as OCI API signature version 1 (unsigned if `signer`
/// is `None`).
async fn call(
    c: &reqwest::Client,
    signer: Option<&Signer>,
    method: Method,
    url: &str,
    body: &[u8],
    t: Tweaks,
) -> (u16, reqwest::header::HeaderMap, Value) {
    let parsed = reqwest::Url::parse(url).expect("url");
    let host = format!(
        "{}:{}",
        parsed.host_str().expect("host"),
        parsed.port().expect("port")
    );
    let target = match parsed.query() {
        Some(q) => format!("{}?{q}", parsed.path()),
        None => parsed.path().to_string(),
    };
    let date_name = if t.x_date { "x-date" } else { "date" };
    let date = t
        .date
        .clone()
        .unwrap_or_else(|| http_date(chrono::Utc::now()));
    let mut headers: Vec<(&str, String)> = vec![
        (date_name, date),
        (
            "(request-target)",
            format!("{} {target}", method.as_str().to_lowercase()),
        ),
        ("host", host),
    ];
    if matches!(method, Method::POST | Method::PUT | Method::PATCH) {
        headers.push(("content-length", body.len().to_string()));
        headers.push(("content-type", "application/json".to_string()));
        headers.push(("x-content-sha256", STANDARD.encode(Sha256::digest(body))));
    }
    headers.retain(|(n, _)| !t.omit.contains(n));
    let mut req = c
        .request(method, url)
        .body(t.body_sent.clone().unwrap_or_else(|| body.to_vec()));
    for (n, v) in &headers {
        if !matches!(*n, "(request-target)" | "host") {
            req = req.header(*n, v);
        }
    }
    for (n, v) in &t.extra {
        req = req.header(*n, v);
    }
    if let Some(s) = signer {
        let signing_string = headers
            .iter()
            .map(|(n, v)| format!("{n}: {v}"))
            .collect::<Vec<_>>()
            .join("\n");
        let signature = STANDARD.encode(s.key.sign(signing_string.as_bytes()).to_bytes());
        let names = headers
            .iter()
            .map(|(n, _)| *n)
            .collect::<Vec<_>>()
            .join(" ");
        req = req.header(
            "authorization",
            format!(
                "Signature version=\"1\",headers=\"{names}\",keyId=\"{}\",algorithm=\"rsa-sha256\",signature=\"{signature}\"",
                s.key_id
            ),
        );
    }
    send(req).await
}

async fn get(
    c: &reqwest::Client,
    s: &Signer,
    url: &str,
) -> (u16, reqwest::header::HeaderMap, Value) {
    call(c, Some(s), Method::GET, url, b"", Tweaks::default()).await
}

async fn post(
    c: &reqwest::Client,
    s: &Signer,
    url: &str,
) -> (u16, reqwest::header::HeaderMap, Value) {
    call(c, Some(s), Method::POST, url, b"", Tweaks::default()).await
}

// ------------------------------------------------------------------ helpers

fn config(transition_ms: u64) -> OciSimConfig {
    OciSimConfig {
        transition_time: Duration::from_millis(transition_ms),
        ..OciSimConfig::default()
    }
}

/// A simulator with the fixture key registered under [`KEY_ID`].
async fn start(transition_ms: u64) -> OciSim {
    let sim = OciSim::start(config(transition_ms))
        .await
        .expect("OCI sim starts");
    sim.register_api_key(KEY_ID, &fixture_key().1)
        .expect("fixture key registers");
    sim
}

fn ci_url(sim: &OciSim, id: &str) -> String {
    format!("{}/20210415/containerInstances/{id}", sim.endpoint())
}

fn wr_url(sim: &OciSim, id: &str) -> String {
    format!("{}/20210415/workRequests/{id}", sim.endpoint())
}

fn vm_url(sim: &OciSim, id: &str) -> String {
    format!("{}/20160918/instances/{id}", sim.endpoint())
}

fn code(body: &Value) -> &str {
    body["code"].as_str().unwrap_or("")
}

async fn wait_ci(sim: &OciSim, id: &str, state: &str) {
    eventually(Duration::from_secs(3), state, || async {
        (sim.container_instance_state(id).as_deref() == Some(state)).then_some(())
    })
    .await
}

async fn wait_vm(sim: &OciSim, id: &str, state: &str) {
    eventually(Duration::from_secs(3), state, || async {
        (sim.compute_state(id).as_deref() == Some(state)).then_some(())
    })
    .await
}

fn assert_401(status: u16, h: &reqwest::header::HeaderMap, body: &Value, reason: &str) {
    assert_eq!(status, 401, "{body}");
    assert_eq!(code(body), "NotAuthenticated", "{body}");
    let message = body["message"].as_str().unwrap_or("");
    assert!(
        message.starts_with(
            "The required information to complete authentication was not provided or was incorrect."
        ),
        "{message}"
    );
    assert!(
        message.contains(reason),
        "expected '{reason}' in: {message}"
    );
    assert!(!header(h, "opc-request-id").is_empty());
}

// ------------------------------------------------------------------ authentication

#[tokio::test]
async fn oci_unsigned_or_malformed_requests_are_401() {
    let sim = start(50).await;
    let c = client();
    let ci = sim.add_container_instance("game-1", "ACTIVE");
    let url = ci_url(&sim, &ci);

    let (s, h, b) = call(&c, None, Method::GET, &url, b"", Tweaks::default()).await;
    assert_401(s, &h, &b, "no Authorization header");

    let bearer = c.get(&url).header("authorization", "Bearer abc");
    let (s, h, b) = send(bearer).await;
    assert_401(s, &h, &b, "expected 'Signature'");

    let no_sig = c.get(&url).header(
        "authorization",
        format!("Signature version=\"1\",headers=\"date (request-target) host\",keyId=\"{KEY_ID}\",algorithm=\"rsa-sha256\""),
    );
    let (s, h, b) = send(no_sig).await;
    assert_401(s, &h, &b, "no signature parameter");

    // Unsigned requests to unknown paths are 401 too (authentication comes first).
    let (s, h, b) = call(
        &c,
        None,
        Method::GET,
        &format!("{}/nothing/here", sim.endpoint()),
        b"",
        Tweaks::default(),
    )
    .await;
    assert_401(s, &h, &b, "no Authorization header");

    let log = sim.requests();
    assert_eq!(log.len(), 4);
    assert!(log.iter().all(|r| r.status == 401 && r.key_id.is_none()));
    assert_eq!(log[0].op, Some(OciOp::GetContainerInstance));
    assert_eq!(log[0].error_code.as_deref(), Some("NotAuthenticated"));
    assert_eq!(log[3].op, None);
    assert_eq!(sim.count(OciOp::GetContainerInstance), 3);
}

#[tokio::test]
async fn oci_wrong_or_unknown_key_is_401() {
    let sim = start(50).await;
    let c = client();
    let ci = sim.add_container_instance("game-1", "ACTIVE");
    let url = ci_url(&sim, &ci);

    // The registered keyId, signed with another private key.
    let impostor = Signer::new(OTHER_PRIVATE_KEY, KEY_ID);
    let (s, h, b) = get(&c, &impostor, &url).await;
    assert_401(s, &h, &b, "does not verify");

    // A correct signature under a keyId the simulator does not know.
    let unknown = Signer::new(
        &fixture_key().0,
        "ocid1.tenancy.oc1..x/ocid1.user.oc1..y/00:11",
    );
    let (s, h, b) = get(&c, &unknown, &url).await;
    assert_401(s, &h, &b, "unknown keyId");

    // Once registered, the other key works, and the request log names the keyId.
    let other_id = "ocid1.tenancy.oc1..x/ocid1.user.oc1..other/aa:bb";
    let other_private = RsaPrivateKey::from_pkcs1_pem(OTHER_PRIVATE_KEY).expect("key");
    sim.register_api_key(other_id, &public_pem(&other_private))
        .expect("register");
    let (s, _, b) = get(&c, &Signer::new(OTHER_PRIVATE_KEY, other_id), &url).await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(
        sim.requests()
            .last()
            .and_then(|r| r.key_id.clone())
            .as_deref(),
        Some(other_id)
    );

    // A key removed is a key unknown.
    assert!(sim.remove_api_key(other_id));
    let (s, h, b) = get(&c, &Signer::new(OTHER_PRIVATE_KEY, other_id), &url).await;
    assert_401(s, &h, &b, "unknown keyId");
}

#[tokio::test]
async fn oci_tampered_body_bad_dates_and_missing_body_headers_are_401() {
    let sim = start(50).await;
    let c = client();
    let signer = Signer::fixture();
    let vm = sim.add_compute_instance("vm-1", "RUNNING");
    let url = format!("{}?action=SOFTSTOP", vm_url(&sim, &vm));
    let body = br#"{"actionType":"softstop","allowDenseRebootMigration":false}"#;

    // Body changed after signing (same length, one byte flipped).
    let mut changed = body.to_vec();
    changed[3] ^= 0x20;
    let t = Tweaks {
        body_sent: Some(changed),
        ..Tweaks::default()
    };
    let (s, h, b) = call(&c, Some(&signer), Method::POST, &url, body, t).await;
    assert_401(s, &h, &b, "x-content-sha256");

    // Stale and future dates (limit 5 min).
    for offset in [-6 * 60, 6 * 60] {
        let date = http_date(chrono::Utc::now() + chrono::Duration::seconds(offset));
        let t = Tweaks {
            date: Some(date),
            ..Tweaks::default()
        };
        let (s, h, b) = call(&c, Some(&signer), Method::POST, &url, body, t).await;
        assert_401(s, &h, &b, "away from the server time");
    }
    // Not an RFC 1123 date.
    let t = Tweaks {
        date: Some(chrono::Utc::now().to_rfc3339()),
        ..Tweaks::default()
    };
    let (s, h, b) = call(&c, Some(&signer), Method::POST, &url, body, t).await;
    assert_401(s, &h, &b, "not an RFC 1123 date");

    // Each body header is required on a POST.
    for name in ["x-content-sha256", "content-type", "content-length"] {
        let t = Tweaks {
            omit: vec![name],
            ..Tweaks::default()
        };
        let (s, h, b) = call(&c, Some(&signer), Method::POST, &url, body, t).await;
        assert_401(s, &h, &b, &format!("must include '{name}'"));
    }
    // ... and host on any request.
    let t = Tweaks {
        omit: vec!["host"],
        ..Tweaks::default()
    };
    let (s, h, b) = call(&c, Some(&signer), Method::GET, &vm_url(&sim, &vm), b"", t).await;
    assert_401(s, &h, &b, "must include 'host'");

    // Nothing happened to the instance.
    assert_eq!(sim.compute_state(&vm).as_deref(), Some("RUNNING"));
    assert_eq!(sim.count(OciOp::InstanceAction), 7);

    // x-date instead of date is fine; a slightly skewed clock too.
    let t = Tweaks {
        x_date: true,
        date: Some(http_date(
            chrono::Utc::now() - chrono::Duration::seconds(200),
        )),
        ..Tweaks::default()
    };
    let (s, _, b) = call(&c, Some(&signer), Method::POST, &url, body, t).await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["lifecycleState"], "STOPPING");
}

#[tokio::test]
async fn oci_resource_principal_tokens() {
    let sim = start(50).await;
    let other_sim = OciSim::start(config(50)).await.expect("second sim");
    let c = client();
    let (private, public) = fixture_key();
    let ci = sim.add_container_instance("game-1", "ACTIVE");
    let url = ci_url(&sim, &ci);
    let tenancy = sim.tenancy_id().to_string();
    let compartment = sim.compartment_id().to_string();

    let token =
        sim.mint_resource_principal_token(&public, &tenancy, &compartment, Duration::from_secs(60));
    let parts: Vec<&str> = token.split('.').collect();
    assert_eq!(parts.len(), 3);
    let claims: Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).expect("base64url"))
            .expect("json");
    assert_eq!(claims["res_tenant"], tenancy.as_str());
    assert_eq!(claims["res_compartment"], compartment.as_str());
    assert_eq!(
        claims["exp"].as_i64().expect("exp") - claims["iat"].as_i64().expect("iat"),
        60
    );
    assert_eq!(claims["jwk"]["kty"], "RSA");

    let rp = Signer::new(&private, &format!("ST${token}"));
    let (s, _, b) = get(&c, &rp, &url).await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(
        sim.requests().last().and_then(|r| r.key_id.clone()),
        Some(format!("ST${token}"))
    );

    // Expired token.
    let expired =
        sim.mint_resource_principal_token(&public, &tenancy, &compartment, Duration::ZERO);
    let (s, h, b) = get(&c, &Signer::new(&private, &format!("ST${expired}")), &url).await;
    assert_401(s, &h, &b, "expired");

    // The token is bound to its key: another private key does not verify.
    let (s, h, b) = get(
        &c,
        &Signer::new(OTHER_PRIVATE_KEY, &format!("ST${token}")),
        &url,
    )
    .await;
    assert_401(s, &h, &b, "does not verify");

    // Another simulator's token (or a forged one) is not accepted.
    let foreign = other_sim.mint_resource_principal_token(
        &public,
        &tenancy,
        &compartment,
        Duration::from_secs(60),
    );
    let (s, h, b) = get(&c, &Signer::new(&private, &format!("ST${foreign}")), &url).await;
    assert_401(s, &h, &b, "not issued by this simulator");
    let (s, h, b) = get(&c, &Signer::new(&private, "ST$not.a.jwt"), &url).await;
    assert_401(s, &h, &b, "session token");

    // A POST with a resource principal works the same way.
    let (s, h, b) = post(&c, &rp, &format!("{url}/actions/stop")).await;
    assert_eq!(s, 202, "{b}");
    assert!(!header(&h, "opc-work-request-id").is_empty());
}

// ------------------------------------------------------------------ container instances

#[tokio::test]
async fn oci_get_container_instance_and_routing_errors() {
    let sim = start(50).await;
    let c = client();
    let signer = Signer::fixture();
    let ci = sim.add_container_instance("game-1", "ACTIVE");

    let (s, h, b) = get(&c, &signer, &ci_url(&sim, &ci)).await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["id"], ci.as_str());
    assert!(ci.starts_with("ocid1.computecontainerinstance.oc1.iad."));
    assert_eq!(b["displayName"], "game-1");
    assert_eq!(b["compartmentId"], sim.compartment_id());
    assert_eq!(b["lifecycleState"], "ACTIVE");
    assert!(b["availabilityDomain"]
        .as_str()
        .is_some_and(|s| !s.is_empty()));
    assert_eq!(b["containerCount"], 1);
    assert!(b["containers"][0]["containerId"]
        .as_str()
        .is_some_and(|s| s.starts_with("ocid1.computecontainer.")));
    assert!(b["containers"][0]["displayName"].is_string());
    assert!(b["shape"].is_string());
    assert!(b["timeCreated"].as_str().is_some_and(|t| t.ends_with('Z')));
    assert!(b["timeUpdated"].is_string());
    assert!(b["freeformTags"].is_object() && b["definedTags"].is_object());
    assert!(b.get("lifecycleDetails").is_none());
    assert!(!header(&h, "etag").is_empty());
    assert!(!header(&h, "opc-request-id").is_empty());
    assert!(header(&h, "content-type").starts_with("application/json"));

    // The client's opc-request-id leads the answered one.
    let t = Tweaks {
        extra: vec![("opc-request-id", "MYCLIENTID".to_string())],
        ..Tweaks::default()
    };
    let (s, h, _) = call(&c, Some(&signer), Method::GET, &ci_url(&sim, &ci), b"", t).await;
    assert_eq!(s, 200);
    assert!(header(&h, "opc-request-id").starts_with("MYCLIENTID/"));

    // Unknown ids, wrong API versions, unknown paths: 404 NotAuthorizedOrNotFound.
    for path in [
        "/20210415/containerInstances/ocid1.computecontainerinstance.oc1.iad.nope".to_string(),
        format!("/20160918/containerInstances/{ci}"),
        format!("/20210415/containerinstances/{ci}"),
        format!("/20210415/containerInstances/{ci}/"),
        "/20210415/workRequests/ocid1.computecontainerworkrequest.oc1.iad.nope".to_string(),
        "/".to_string(),
    ] {
        let (s, h, b) = get(&c, &signer, &format!("{}{path}", sim.endpoint())).await;
        assert_eq!(s, 404, "{path}: {b}");
        assert_eq!(code(&b), "NotAuthorizedOrNotFound", "{path}");
        assert_eq!(
            b["message"],
            "Authorization failed or requested resource not found."
        );
        assert!(!header(&h, "opc-request-id").is_empty());
    }

    // A method not simulated on a known path: 405 with Allow.
    let (s, h, b) = call(
        &c,
        Some(&signer),
        Method::DELETE,
        &ci_url(&sim, &ci),
        b"",
        Tweaks::default(),
    )
    .await;
    assert_eq!(s, 405, "{b}");
    assert_eq!(code(&b), "MethodNotAllowed");
    assert_eq!(header(&h, "allow"), "GET");
    let (s, _, _) = get(&c, &signer, &format!("{}/actions/start", ci_url(&sim, &ci))).await;
    assert_eq!(s, 405);
}

#[tokio::test]
async fn oci_container_start_and_stop_go_through_updating_with_work_requests() {
    // Long enough to observe UPDATING / IN_PROGRESS over HTTP on a busy machine.
    let sim = start(300).await;
    let c = client();
    let signer = Signer::fixture();
    let ci = sim.add_container_instance("game-1", "INACTIVE");
    let url = ci_url(&sim, &ci);

    let (s, h, b) = post(&c, &signer, &format!("{url}/actions/start")).await;
    assert_eq!(s, 202, "{b}");
    assert_eq!(b, Value::Null, "202 has no body");
    assert!(!header(&h, "opc-request-id").is_empty());
    let wr = header(&h, "opc-work-request-id").to_string();
    assert!(
        wr.starts_with("ocid1.computecontainerworkrequest.oc1.iad."),
        "{wr}"
    );

    let (s, _, b) = get(&c, &signer, &url).await;
    assert_eq!(s, 200);
    assert_eq!(b["lifecycleState"], "UPDATING");

    let (s, h, b) = get(&c, &signer, &wr_url(&sim, &wr)).await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["id"], wr.as_str());
    assert_eq!(b["operationType"], "START_CONTAINER_INSTANCE");
    assert_eq!(b["status"], "IN_PROGRESS");
    assert_eq!(b["compartmentId"], sim.compartment_id());
    assert_eq!(b["resources"][0]["entityType"], "ContainerInstance");
    assert_eq!(b["resources"][0]["identifier"], ci.as_str());
    assert_eq!(
        b["resources"][0]["entityUri"],
        format!("/20210415/containerInstances/{ci}")
    );
    assert!(b["percentComplete"].as_f64().is_some_and(|p| p < 100.0));
    assert!(b["timeAccepted"].is_string() && b["timeStarted"].is_string());
    assert!(b.get("timeFinished").is_none());
    assert_eq!(header(&h, "retry-after"), "1");

    // A second start while UPDATING: IncorrectState.
    let (s, _, b) = post(&c, &signer, &format!("{url}/actions/start")).await;
    assert_eq!(s, 409, "{b}");
    assert_eq!(code(&b), "IncorrectState");

    wait_ci(&sim, &ci, "ACTIVE").await;
    let (_, _, b) = get(&c, &signer, &url).await;
    assert_eq!(b["lifecycleState"], "ACTIVE");
    let (s, h, b) = get(&c, &signer, &wr_url(&sim, &wr)).await;
    assert_eq!(s, 200);
    assert_eq!(b["status"], "SUCCEEDED");
    assert_eq!(b["percentComplete"], 100.0);
    assert_eq!(b["resources"][0]["actionType"], "UPDATED");
    assert!(b["timeFinished"].is_string());
    assert!(h.get("retry-after").is_none());
    let (s, _, b) = get(&c, &signer, &format!("{}/errors", wr_url(&sim, &wr))).await;
    assert_eq!(s, 200);
    assert_eq!(b["items"], serde_json::json!([]));

    // Start from ACTIVE: 409 IncorrectState.
    let (s, h, b) = post(&c, &signer, &format!("{url}/actions/start")).await;
    assert_eq!(s, 409, "{b}");
    assert_eq!(code(&b), "IncorrectState");
    assert!(!header(&h, "opc-request-id").is_empty());

    // Stop: UPDATING, then INACTIVE; a second stop is refused.
    let (s, h, _) = post(&c, &signer, &format!("{url}/actions/stop")).await;
    assert_eq!(s, 202);
    let wr2 = header(&h, "opc-work-request-id").to_string();
    assert_ne!(wr, wr2);
    assert_eq!(
        sim.container_instance_state(&ci).as_deref(),
        Some("UPDATING")
    );
    wait_ci(&sim, &ci, "INACTIVE").await;
    let (_, _, b) = get(&c, &signer, &wr_url(&sim, &wr2)).await;
    assert_eq!(b["operationType"], "STOP_CONTAINER_INSTANCE");
    assert_eq!(b["status"], "SUCCEEDED");
    let (s, _, b) = post(&c, &signer, &format!("{url}/actions/stop")).await;
    assert_eq!(s, 409);
    assert_eq!(code(&b), "IncorrectState");
    let (s, _, _) = post(&c, &signer, &format!("{url}/actions/restart")).await;
    assert_eq!(s, 409);

    assert_eq!(sim.count(OciOp::StartContainerInstance), 3);
    assert_eq!(sim.count(OciOp::StopContainerInstance), 2);
    assert_eq!(sim.count(OciOp::RestartContainerInstance), 1);
    assert_eq!(sim.count(OciOp::GetWorkRequest), 3);
    assert_eq!(sim.count(OciOp::ListWorkRequestErrors), 1);
}

#[tokio::test]
async fn oci_failed_transitions() {
    let sim = start(50).await;
    let c = client();
    let signer = Signer::fixture();

    // Container instance: FAILED with details, work request FAILED with an error.
    let ci = sim.add_container_instance("game-1", "INACTIVE");
    sim.fail_next_transition(&ci);
    let (s, h, _) = post(&c, &signer, &format!("{}/actions/start", ci_url(&sim, &ci))).await;
    assert_eq!(s, 202);
    let wr = header(&h, "opc-work-request-id").to_string();
    wait_ci(&sim, &ci, "FAILED").await;
    let (_, _, b) = get(&c, &signer, &ci_url(&sim, &ci)).await;
    assert_eq!(b["lifecycleState"], "FAILED");
    assert!(b["lifecycleDetails"]
        .as_str()
        .is_some_and(|d| !d.is_empty()));
    let (_, _, b) = get(&c, &signer, &wr_url(&sim, &wr)).await;
    assert_eq!(b["status"], "FAILED");
    assert!(b["timeFinished"].is_string());
    let (s, _, b) = get(&c, &signer, &format!("{}/errors", wr_url(&sim, &wr))).await;
    assert_eq!(s, 200);
    let items = b["items"].as_array().expect("items");
    assert_eq!(items.len(), 1, "{b}");
    assert!(items[0]["code"].as_str().is_some_and(|c| !c.is_empty()));
    assert!(items[0]["message"].as_str().is_some_and(|m| !m.is_empty()));
    assert!(items[0]["timestamp"].is_string());
    // FAILED cannot be started.
    let (s, _, b) = post(&c, &signer, &format!("{}/actions/start", ci_url(&sim, &ci))).await;
    assert_eq!((s, code(&b)), (409, "IncorrectState"));

    // Only the next transition fails.
    sim.set_state(&ci, "INACTIVE");
    let (s, _, _) = post(&c, &signer, &format!("{}/actions/start", ci_url(&sim, &ci))).await;
    assert_eq!(s, 202);
    wait_ci(&sim, &ci, "ACTIVE").await;

    // Compute: the action reverts (STOP goes STOPPING, then back to RUNNING).
    let vm = sim.add_compute_instance("vm-1", "RUNNING");
    sim.fail_next_transition(&vm);
    let (s, _, b) = post(&c, &signer, &format!("{}?action=STOP", vm_url(&sim, &vm))).await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["lifecycleState"], "STOPPING");
    tokio::time::sleep(Duration::from_millis(80)).await;
    assert_eq!(sim.compute_state(&vm).as_deref(), Some("RUNNING"));
}

// ------------------------------------------------------------------ compute

#[tokio::test]
async fn oci_compute_power_actions() {
    let sim = start(300).await;
    let c = client();
    let signer = Signer::fixture();
    let vm = sim.add_compute_instance("vm-1", "RUNNING");
    assert!(vm.starts_with("ocid1.instance.oc1.iad."));
    let url = vm_url(&sim, &vm);

    let (s, h, b) = get(&c, &signer, &url).await;
    assert_eq!(s, 200, "{b}");
    for field in [
        "id",
        "displayName",
        "compartmentId",
        "availabilityDomain",
        "region",
        "shape",
        "timeCreated",
    ] {
        assert!(b[field].is_string(), "{field}: {b}");
    }
    assert_eq!(b["lifecycleState"], "RUNNING");
    let etag_running = header(&h, "etag").to_string();
    assert!(!etag_running.is_empty());

    let (s, h, b) = post(&c, &signer, &format!("{url}?action=STOP")).await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["id"], vm.as_str());
    assert_eq!(b["lifecycleState"], "STOPPING");
    assert!(!header(&h, "etag").is_empty());
    assert_ne!(header(&h, "etag"), etag_running);
    assert!(!header(&h, "opc-request-id").is_empty());
    let (_, _, b) = get(&c, &signer, &url).await;
    assert_eq!(b["lifecycleState"], "STOPPING");

    // STOP again while STOPPING, START while STOPPING: IncorrectState.
    for action in ["STOP", "START"] {
        let (s, _, b) = post(&c, &signer, &format!("{url}?action={action}")).await;
        assert_eq!((s, code(&b)), (409, "IncorrectState"), "{action}");
    }
    wait_vm(&sim, &vm, "STOPPED").await;
    let (_, _, b) = get(&c, &signer, &url).await;
    assert_eq!(b["lifecycleState"], "STOPPED");

    let (s, _, b) = post(&c, &signer, &format!("{url}?action=START")).await;
    assert_eq!(s, 200);
    assert_eq!(b["lifecycleState"], "STARTING");
    wait_vm(&sim, &vm, "RUNNING").await;

    // RESET: STOPPING, STARTING, RUNNING.
    let (s, _, b) = post(&c, &signer, &format!("{url}?action=RESET")).await;
    assert_eq!(s, 200);
    assert_eq!(b["lifecycleState"], "STOPPING");
    wait_vm(&sim, &vm, "STARTING").await;
    wait_vm(&sim, &vm, "RUNNING").await;

    // Unknown, lower-case and missing actions.
    for q in ["?action=PAUSE", "?action=stop"] {
        let (s, _, b) = post(&c, &signer, &format!("{url}{q}")).await;
        assert_eq!((s, code(&b)), (400, "InvalidParameter"), "{q}");
    }
    let (s, _, b) = post(&c, &signer, &url).await;
    assert_eq!((s, code(&b)), (400, "MissingParameter"));
    // Unknown instance.
    let (s, _, b) = post(
        &c,
        &signer,
        &format!(
            "{}?action=STOP",
            vm_url(&sim, "ocid1.instance.oc1.iad.nope")
        ),
    )
    .await;
    assert_eq!((s, code(&b)), (404, "NotAuthorizedOrNotFound"));
    // if-match with a stale etag.
    let t = Tweaks {
        extra: vec![("if-match", etag_running)],
        ..Tweaks::default()
    };
    let (s, _, b) = call(
        &c,
        Some(&signer),
        Method::POST,
        &format!("{url}?action=STOP"),
        b"",
        t,
    )
    .await;
    assert_eq!((s, code(&b)), (412, "NoEtagMatch"));
    assert_eq!(sim.compute_state(&vm).as_deref(), Some("RUNNING"));
}

#[tokio::test]
async fn oci_retry_token_makes_instance_action_idempotent() {
    let sim = start(50).await;
    let c = client();
    let signer = Signer::fixture();
    let vm = sim.add_compute_instance("vm-1", "RUNNING");
    let url = vm_url(&sim, &vm);
    let with_token = |token: &str| Tweaks {
        extra: vec![("opc-retry-token", token.to_string())],
        ..Tweaks::default()
    };
    let stop = format!("{url}?action=STOP");

    let (s, h1, b1) = call(
        &c,
        Some(&signer),
        Method::POST,
        &stop,
        b"",
        with_token("tok-1"),
    )
    .await;
    assert_eq!(s, 200, "{b1}");
    assert_eq!(b1["lifecycleState"], "STOPPING");
    wait_vm(&sim, &vm, "STOPPED").await;

    // The same token again: the first answer, no second transition (a plain STOP
    // now would be 409).
    let (s, h2, b2) = call(
        &c,
        Some(&signer),
        Method::POST,
        &stop,
        b"",
        with_token("tok-1"),
    )
    .await;
    assert_eq!(s, 200, "{b2}");
    assert_eq!(b2, b1);
    assert_eq!(header(&h2, "etag"), header(&h1, "etag"));
    assert_eq!(sim.compute_state(&vm).as_deref(), Some("STOPPED"));
    let (s, _, _) = post(&c, &signer, &stop).await;
    assert_eq!(s, 409);

    // The token cannot be reused for another request.
    let start_url = format!("{url}?action=START");
    let (s, _, b) = call(
        &c,
        Some(&signer),
        Method::POST,
        &start_url,
        b"",
        with_token("tok-1"),
    )
    .await;
    assert_eq!((s, code(&b)), (409, "InvalidatedRetryToken"));
    assert_eq!(sim.compute_state(&vm).as_deref(), Some("STOPPED"));

    // A fresh token starts it; its retry answers the same STARTING body.
    let (s, _, b) = call(
        &c,
        Some(&signer),
        Method::POST,
        &start_url,
        b"",
        with_token("tok-2"),
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(b["lifecycleState"], "STARTING");
    let (s, _, b) = call(
        &c,
        Some(&signer),
        Method::POST,
        &start_url,
        b"",
        with_token("tok-2"),
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(b["lifecycleState"], "STARTING");
    wait_vm(&sim, &vm, "RUNNING").await;
    assert_eq!(sim.count(OciOp::InstanceAction), 6);
}

// ------------------------------------------------------------------ secrets

#[tokio::test]
async fn oci_secret_bundle_round_trip() {
    let sim = start(50).await;
    let c = client();
    let signer = Signer::fixture();
    let plaintext = "rcon: hunter2 ✓\nline two";
    let id = sim.add_secret(plaintext);
    assert!(id.starts_with("ocid1.vaultsecret.oc1.iad."));
    let url = format!("{}/20190301/secretbundles/{id}", sim.endpoint());

    for q in ["", "?stage=CURRENT", "?stage=LATEST&versionNumber=1"] {
        let (s, h, b) = get(&c, &signer, &format!("{url}{q}")).await;
        assert_eq!(s, 200, "{q}: {b}");
        assert_eq!(b["secretId"], id.as_str());
        assert_eq!(b["versionNumber"], 1);
        assert_eq!(b["stages"], serde_json::json!(["CURRENT", "LATEST"]));
        assert!(b["timeCreated"].is_string());
        assert_eq!(b["secretBundleContent"]["contentType"], "BASE64");
        let content = b["secretBundleContent"]["content"]
            .as_str()
            .expect("content");
        let decoded = STANDARD.decode(content).expect("standard base64");
        assert_eq!(String::from_utf8(decoded).expect("utf-8"), plaintext);
        assert!(!header(&h, "etag").is_empty());
    }
    for (q, status, want) in [
        ("?stage=PREVIOUS", 404, "NotAuthorizedOrNotFound"),
        ("?versionNumber=2", 404, "NotAuthorizedOrNotFound"),
        ("?stage=current", 400, "InvalidParameter"),
        ("?versionNumber=one", 400, "InvalidParameter"),
    ] {
        let (s, _, b) = get(&c, &signer, &format!("{url}{q}")).await;
        assert_eq!((s, code(&b)), (status, want), "{q}");
    }
    let (s, _, b) = get(
        &c,
        &signer,
        &format!(
            "{}/20190301/secretbundles/ocid1.vaultsecret.oc1.iad.nope",
            sim.endpoint()
        ),
    )
    .await;
    assert_eq!((s, code(&b)), (404, "NotAuthorizedOrNotFound"));
    assert_eq!(sim.count(OciOp::GetSecretBundle), 8);
}

// ------------------------------------------------------------------ faults, lifecycle

#[tokio::test]
async fn oci_fault_rules_apply_after_authentication() {
    let sim = start(50).await;
    let c = client();
    let signer = Signer::fixture();
    let vm = sim.add_compute_instance("vm-1", "RUNNING");
    let other = sim.add_compute_instance("vm-2", "RUNNING");
    let url = vm_url(&sim, &vm);
    sim.fail_next(OciFaultRule::throttled(OciOp::GetInstance, 3).times(2));
    sim.fail_next(
        OciFaultRule::new(
            OciOp::InstanceAction,
            503,
            "ServiceUnavailable",
            "Try later.",
        )
        .resource(&other),
    );

    // An unsigned request is refused before the rules and does not use them up.
    let (s, _, _) = call(&c, None, Method::GET, &url, b"", Tweaks::default()).await;
    assert_eq!(s, 401);

    for _ in 0..2 {
        let (s, h, b) = get(&c, &signer, &url).await;
        assert_eq!(s, 429, "{b}");
        assert_eq!(code(&b), "TooManyRequests");
        assert!(b["message"].as_str().is_some_and(|m| !m.is_empty()));
        assert_eq!(header(&h, "retry-after"), "3");
        assert!(!header(&h, "opc-request-id").is_empty());
    }
    let (s, _, _) = get(&c, &signer, &url).await;
    assert_eq!(s, 200);

    // The resource-scoped rule skips other instances.
    let (s, _, _) = post(&c, &signer, &format!("{url}?action=STOP")).await;
    assert_eq!(s, 200);
    let (s, h, b) = post(
        &c,
        &signer,
        &format!("{}?action=STOP", vm_url(&sim, &other)),
    )
    .await;
    assert_eq!((s, code(&b)), (503, "ServiceUnavailable"));
    assert!(h.get("retry-after").is_none());
    assert_eq!(sim.compute_state(&other).as_deref(), Some("RUNNING"));

    let log = sim.requests();
    let throttled: Vec<_> = log.iter().filter(|r| r.status == 429).collect();
    assert_eq!(throttled.len(), 2);
    assert!(throttled.iter().all(|r| r.key_id.as_deref() == Some(KEY_ID)
        && r.error_code.as_deref() == Some("TooManyRequests")));
    assert_eq!(sim.count(OciOp::GetInstance), 4);
    sim.reset_counts();
    assert_eq!(sim.count(OciOp::GetInstance), 0);
    assert!(sim.requests().is_empty());
}

#[tokio::test]
async fn oci_shutdown_refuses_connections_and_resume_serves_again() {
    let sim = start(50).await;
    let c = client();
    let signer = Signer::fixture();
    let ci = sim.add_container_instance("game-1", "ACTIVE");
    let url = ci_url(&sim, &ci);
    let (s, _, _) = get(&c, &signer, &url).await;
    assert_eq!(s, 200);
    sim.shutdown().await;
    assert!(c.get(&url).send().await.is_err());
    sim.resume().await.expect("resume");
    let (s, _, b) = get(&c, &signer, &url).await;
    assert_eq!(s, 200);
    assert_eq!(b["lifecycleState"], "ACTIVE");
}
