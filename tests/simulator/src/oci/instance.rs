//! The instance principal's two services: the instance metadata service (IMDS
//! v2) and the auth service's X.509 federation endpoint (`POST /v1/x509`), on
//! the simulator's one host (docs/reference/providers.md §3.3).
//!
//! The simulated instance has an intermediate CA (ECDSA P-256, self-signed: the
//! simulator is its own root) and an RSA-2048 leaf certificate issued by it,
//! with the subject `CN=<instance>, OU=opc-certtype:instance,
//! OU=opc-compartment:<compartment>, O=opc-tenant:<tenancy>`. IMDS answers
//! (only with `Authorization: Bearer Oracle`, else 401):
//! `/opc/v2/identity/{cert,key,intermediate}.pem`, `/opc/v2/instance/region`
//! (`iad`: the short code older regions answer with) and
//! `/opc/v2/instance/canonicalRegionName` (`us-ashburn-1`).
//!
//! The federation endpoint checks, in order: the signature (over `date
//! (request-target) content-length content-type x-content-sha256`, `host`
//! optional) with keyId `<tenancy>/fed-x509-sha256/<SHA-256 fingerprint of the
//! current leaf, lowercase colon hex>` against the current leaf's public key;
//! then the body: `certificate` is the current leaf (base64 DER), the
//! intermediate that issued it is among `intermediateCertificates`,
//! `fingerprintAlgorithm` is `SHA256`, `publicKey` is an RSA SPKI of at least
//! 2048 bits. It answers `{"token": <JWT>}` whose `jwk` is that public key, so
//! requests signed `ST$<token>` with the session key verify until `exp`.
//! A rotated leaf ([`super::OciSim::rotate_instance_certificate`]) makes the old
//! one fail federation (401): a client must fetch the certificates again.

use super::signing::{self, Received};
use super::state::{new_ocid, OciShared};
use axum::http::{HeaderMap, Method};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use chrono::Utc;
use rcgen::{CertificateParams, DnType, IsCa, KeyPair, PublicKeyData, SignatureAlgorithm};
use rsa::pkcs1::{EncodeRsaPrivateKey, EncodeRsaPublicKey};
use rsa::pkcs8::{DecodePublicKey, LineEnding};
use rsa::traits::PublicKeyParts;
use rsa::{RsaPrivateKey, RsaPublicKey};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::time::Duration;

/// What `/opc/v2/instance/region` answers (Ashburn's short code).
pub(crate) const REGION_SHORT: &str = "iad";

/// An RSA public key for rcgen (PKCS#1 `RSAPublicKey` DER, `rsaEncryption`).
struct RsaSpki(Vec<u8>);

impl PublicKeyData for RsaSpki {
    fn der_bytes(&self) -> &[u8] {
        &self.0
    }
    fn algorithm(&self) -> &SignatureAlgorithm {
        &rcgen::PKCS_RSA_SHA256
    }
}

/// One issued leaf certificate and its key.
pub(crate) struct Leaf {
    pub cert_pem: String,
    pub der: Vec<u8>,
    pub fingerprint: String,
    /// PKCS#1 `RSA PRIVATE KEY`, as IMDS hands it out.
    pub key_pem: String,
    pub public: RsaPublicKey,
}

/// The simulated instance's identity.
pub(crate) struct Identity {
    pub instance_id: String,
    intermediate: rcgen::Certificate,
    intermediate_key: KeyPair,
    pub intermediate_pem: String,
    pub intermediate_der: Vec<u8>,
    pub leaf: Leaf,
    pub token_lifetime: Duration,
}

pub(crate) fn fingerprint(der: &[u8]) -> String {
    Sha256::digest(der)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

impl Identity {
    pub fn new(tenancy: &str, compartment: &str, token_lifetime: Duration) -> Result<Self, String> {
        let intermediate_key = KeyPair::generate().map_err(|e| e.to_string())?;
        let mut params = CertificateParams::default();
        params.is_ca = IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params.distinguished_name = rcgen::DistinguishedName::new();
        params.distinguished_name.push(
            DnType::CommonName,
            "PKISVC Identity Intermediate r2 (gamefleet-sim)",
        );
        let intermediate = params
            .self_signed(&intermediate_key)
            .map_err(|e| e.to_string())?;
        let instance_id = new_ocid("instance", super::state::REGION_KEY);
        let mut id = Identity {
            intermediate_pem: intermediate.pem(),
            intermediate_der: intermediate.der().to_vec(),
            leaf: Leaf {
                cert_pem: String::new(),
                der: Vec::new(),
                fingerprint: String::new(),
                key_pem: String::new(),
                public: RsaPublicKey::new(65537u32.into(), 3u32.into())
                    .map_err(|e| e.to_string())?,
            },
            instance_id,
            intermediate,
            intermediate_key,
            token_lifetime,
        };
        id.leaf = id.issue_leaf(tenancy, compartment)?;
        Ok(id)
    }

    /// A new RSA-2048 key and a leaf certificate for it.
    pub fn issue_leaf(&self, tenancy: &str, compartment: &str) -> Result<Leaf, String> {
        let key =
            RsaPrivateKey::new(&mut rsa::rand_core::OsRng, 2048).map_err(|e| e.to_string())?;
        let public = key.to_public_key();
        let spki = RsaSpki(
            public
                .to_pkcs1_der()
                .map_err(|e| e.to_string())?
                .as_bytes()
                .to_vec(),
        );
        let mut params = CertificateParams::default();
        params.distinguished_name = rcgen::DistinguishedName::new();
        let dn = &mut params.distinguished_name;
        dn.push(DnType::CommonName, self.instance_id.as_str());
        dn.push(DnType::OrganizationalUnitName, "opc-certtype:instance");
        // A second OU (rcgen keeps one value per type; the OID is the same).
        dn.push(
            DnType::CustomDnType(vec![2, 5, 4, 11]),
            format!("opc-compartment:{compartment}"),
        );
        dn.push(DnType::OrganizationName, format!("opc-tenant:{tenancy}"));
        use chrono::Datelike;
        let ymd = |d: chrono::DateTime<Utc>| {
            rcgen::date_time_ymd(d.year(), d.month() as u8, d.day() as u8)
        };
        params.not_before = ymd(Utc::now() - chrono::Duration::days(1));
        params.not_after = ymd(Utc::now() + chrono::Duration::days(2));
        params.serial_number = Some(rcgen::SerialNumber::from_slice(
            &uuid::Uuid::new_v4().into_bytes(),
        ));
        let cert = params
            .signed_by(&spki, &self.intermediate, &self.intermediate_key)
            .map_err(|e| e.to_string())?;
        Ok(Leaf {
            cert_pem: cert.pem(),
            der: cert.der().to_vec(),
            fingerprint: fingerprint(cert.der()),
            key_pem: key
                .to_pkcs1_pem(LineEnding::LF)
                .map_err(|e| e.to_string())?
                .to_string(),
            public,
        })
    }
}

/// What an IMDS or federation request gets: status, content type, body.
pub(crate) struct Answer {
    pub status: u16,
    pub json: bool,
    pub body: String,
    /// The keyId a federation request was signed with (for the request log).
    pub key_id: Option<String>,
}

fn text(status: u16, body: impl Into<String>) -> Answer {
    Answer {
        status,
        json: false,
        body: body.into(),
        key_id: None,
    }
}

fn error(status: u16, code: &str, message: &str) -> Answer {
    Answer {
        status,
        json: true,
        body: json!({ "code": code, "message": message }).to_string(),
        key_id: None,
    }
}

/// `GET /opc/v2/...`.
pub(crate) fn metadata(
    shared: &OciShared,
    method: &Method,
    headers: &HeaderMap,
    path: &str,
) -> Answer {
    let bearer = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    if bearer != Some("Bearer Oracle") {
        return error(
            401,
            "NotAuthenticated",
            "IMDS v2 requires the header 'Authorization: Bearer Oracle' (gamefleet-sim)",
        );
    }
    if method != Method::GET {
        return error(
            405,
            "MethodNotAllowed",
            "IMDS answers GET only (gamefleet-sim)",
        );
    }
    let st = shared.lock();
    let Some(id) = st.instance.as_ref() else {
        return error(
            404,
            "NotFound",
            "this simulator has no instance identity (OciSim::enable_instance_principal)",
        );
    };
    match path.strip_prefix("/opc/v2/").unwrap_or("") {
        "identity/cert.pem" => text(200, id.leaf.cert_pem.clone()),
        "identity/key.pem" => text(200, id.leaf.key_pem.clone()),
        "identity/intermediate.pem" => text(200, id.intermediate_pem.clone()),
        "instance/region" => text(200, REGION_SHORT),
        "instance/canonicalRegionName" => text(200, super::state::REGION),
        "instance/id" => text(200, id.instance_id.clone()),
        _ => error(404, "NotFound", "no such metadata path (gamefleet-sim)"),
    }
}

/// `POST /v1/x509`.
pub(crate) fn federate(shared: &OciShared, req: &Received) -> Answer {
    let unauthenticated = |why: String, key_id: Option<String>| Answer {
        key_id,
        ..error(
            401,
            "NotAuthenticated",
            &format!("{} (gamefleet-sim: {why})", super::api::NOT_AUTHENTICATED),
        )
    };
    let now = Utc::now();
    let (tenancy, compartment) = (shared.tenancy_id.clone(), shared.compartment_id.clone());
    let st = shared.lock();
    let Some(id) = st.instance.as_ref() else {
        return error(404, "NotFound", "this simulator has no instance identity");
    };
    let mut seen_key_id = None;
    let verified = signing::verify_request_with(
        req,
        now,
        shared.cfg.clock_skew_limit,
        signing::check_federation_headers,
        |key_id| {
            seen_key_id = Some(key_id.to_string());
            let (t, rest) = key_id.split_once('/').ok_or_else(|| {
                format!("keyId '{key_id}' is not '<tenancy>/fed-x509-sha256/<fingerprint>'")
            })?;
            let fp = match rest.split_once('/') {
                Some(("fed-x509-sha256", fp)) => fp,
                Some(("fed-x509", _)) => {
                    return Err("keyId uses 'fed-x509' (SHA-1 fingerprint); this endpoint is sent 'fed-x509-sha256'".to_string())
                }
                _ => return Err(format!("keyId '{key_id}' is not '<tenancy>/fed-x509-sha256/<fingerprint>'")),
            };
            if t != tenancy {
                return Err(format!(
                    "keyId tenancy '{t}' is not this instance's tenancy"
                ));
            }
            if fp != id.leaf.fingerprint {
                return Err(format!(
                    "keyId fingerprint '{fp}' is not the SHA-256 fingerprint of the current leaf certificate"
                ));
            }
            Ok(id.leaf.public.clone())
        },
    );
    if let Err(e) = verified {
        return unauthenticated(e.reason, seen_key_id);
    }
    let bad = |why: &str| Answer {
        key_id: seen_key_id.clone(),
        ..error(400, "InvalidParameter", &format!("{why} (gamefleet-sim)"))
    };
    let Ok(body) = serde_json::from_slice::<Value>(req.body) else {
        return bad("the body is not JSON");
    };
    let s = |k: &str| body.get(k).and_then(Value::as_str);
    if s("certificate") != Some(&STANDARD.encode(&id.leaf.der)) {
        return unauthenticated(
            "'certificate' is not the current leaf certificate (base64 DER, no PEM armour)".into(),
            seen_key_id,
        );
    }
    let intermediate = STANDARD.encode(&id.intermediate_der);
    let chained = body
        .get("intermediateCertificates")
        .and_then(Value::as_array)
        .is_some_and(|a| a.iter().any(|c| c.as_str() == Some(intermediate.as_str())));
    if !chained {
        return bad(
            "'intermediateCertificates' does not hold the intermediate that issued the leaf",
        );
    }
    if s("fingerprintAlgorithm") != Some("SHA256") {
        return bad("'fingerprintAlgorithm' must be \"SHA256\" with a fed-x509-sha256 keyId");
    }
    let session = s("publicKey")
        .and_then(|k| STANDARD.decode(k).ok())
        .and_then(|der| RsaPublicKey::from_public_key_der(&der).ok());
    let Some(session) = session else {
        return bad("'publicKey' is not a base64 DER SubjectPublicKeyInfo of an RSA key");
    };
    if session.n().bits() < 2048 {
        return bad("'publicKey' is shorter than 2048 bits");
    }
    let claims = json!({
        "sub": id.instance_id,
        "ttype": "x509",
        "tenant": tenancy,
        "opc-certtype": "instance",
        "opc-instance": id.instance_id,
        "opc-compartment": compartment,
        "opc-tenant": tenancy,
        "purpose": s("purpose").unwrap_or("DEFAULT"),
    });
    let token = signing::mint_token(
        &shared.token_secret,
        &session,
        claims,
        id.token_lifetime,
        now,
    );
    Answer {
        status: 200,
        json: true,
        body: json!({ "token": token }).to_string(),
        key_id: seen_key_id,
    }
}
