use super::*;
use crate::cloud::oci::sign::tests::fixture_key;
use std::collections::HashMap;

fn env_of(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
    let map: HashMap<String, String> = vars
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    move |name: &str| map.get(name).cloned()
}

#[test]
fn endpoints_default_and_override() {
    let s = Settings::from_env(&env_of(&[])).unwrap();
    assert_eq!(s.metadata_endpoint(), "http://169.254.169.254");
    assert_eq!(
        s.federation_url("us-ashburn-1").unwrap().as_str(),
        "https://auth.us-ashburn-1.oraclecloud.com/v1/x509"
    );
    assert_eq!(
        s.federation_url("uk-gov-london-1").unwrap().as_str(),
        "https://auth.uk-gov-london-1.oraclegovcloud.uk/v1/x509"
    );
    let s = Settings::from_env(&env_of(&[
        ("OCI_METADATA_ENDPOINT", "http://127.0.0.1:9/"),
        ("OCI_FEDERATION_ENDPOINT", "http://127.0.0.1:8/base"),
    ]))
    .unwrap();
    assert_eq!(s.metadata_endpoint(), "http://127.0.0.1:9");
    assert_eq!(
        s.federation_url("us-ashburn-1").unwrap().as_str(),
        "http://127.0.0.1:8/base/v1/x509"
    );
    for (var, bad) in [
        ("OCI_METADATA_ENDPOINT", "169.254.169.254"),
        ("OCI_FEDERATION_ENDPOINT", "ftp://x"),
    ] {
        match Settings::from_env(&env_of(&[(var, bad)])) {
            Err(PowerError::Config(m)) => assert!(m.contains(var), "{m}"),
            other => panic!("{other:?}"),
        }
    }
}

#[test]
fn fingerprint_is_colon_separated_lowercase_sha256() {
    // SHA-256("abc"), FIPS 180-2 appendix B.1.
    assert_eq!(
        fingerprint_sha256(b"abc"),
        "ba:78:16:bf:8f:01:cf:ea:41:41:40:de:5d:ae:22:23:b0:03:61:a3:96:17:7a:9c:b4:10:ff:61:f2:00:15:ad"
    );
}

#[test]
fn certificates_are_read_block_by_block_and_errors_name_the_source() {
    let one = "-----BEGIN CERTIFICATE-----\nAQID\n-----END CERTIFICATE-----\n";
    let two = format!("{one}junk\n{}", one.replace("AQID", "BAUG"));
    assert_eq!(
        certificates_der(&two, "x").unwrap(),
        vec![vec![1, 2, 3], vec![4, 5, 6]]
    );
    for bad in [
        "",
        "-----BEGIN CERTIFICATE-----\nAQID\n",
        "-----BEGIN PUBLIC KEY-----\nAQID\n-----END PUBLIC KEY-----",
    ] {
        match certificates_der(bad, "http://imds/opc/v2/identity/cert.pem") {
            Err(PowerError::Config(m)) => assert!(m.contains("cert.pem"), "{m}"),
            other => panic!("{other:?}"),
        }
    }
    // Well-formed PEM that is no certificate.
    match parse_leaf(one, "cert.pem") {
        Err(PowerError::Config(m)) => assert!(m.contains("not an X.509 certificate"), "{m}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn renewal_is_five_minutes_before_exp_or_at_half_life() {
    let session = |issued: u64, expires: u64| Session {
        token: String::new(),
        key: fixture_key(),
        issued,
        expires,
        fingerprint: String::new(),
        tenancy: String::new(),
    };
    assert_eq!(session(1000, 1000 + 1200).renew_at(), 1000 + 900);
    assert_eq!(session(1000, 1000 + 600).renew_at(), 1000 + 300);
    assert_eq!(session(1000, 1002).renew_at(), 1001);
    assert_eq!(session(1000, 1000).renew_at(), 1000);
}

#[test]
fn federation_requests_are_signed_without_host() {
    let url = url::Url::parse("https://auth.us-ashburn-1.oraclecloud.com/v1/x509").unwrap();
    let s = sign::sign_without_host(
        &Method::POST,
        &url,
        b"{}",
        "Thu, 05 Jan 2014 21:31:40 GMT",
        "t/fed-x509-sha256/aa",
        &fixture_key(),
    )
    .unwrap();
    assert_eq!(
        s.signing_string,
        "date: Thu, 05 Jan 2014 21:31:40 GMT\n\
         (request-target): post /v1/x509\n\
         content-length: 2\n\
         content-type: application/json\n\
         x-content-sha256: RBNvo1WzZ4oRRq0W9+hknpT7T8If536DEMBg9hyq/4o="
    );
    assert!(s
        .authorization()
        .contains(r#"headers="date (request-target) content-length content-type x-content-sha256",keyId="t/fed-x509-sha256/aa""#));
}
