use super::*;
use crate::cloud::oci::sign::tests::{fixture, fixture_key};
use crate::cloud::oci::sign::{sign, PrivateKey};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use reqwest::Method;
use rsa::pkcs1::DecodeRsaPrivateKey;
use rsa::pkcs8::{EncodePrivateKey, LineEnding};

const ENCRYPTED_PKCS8: &str = include_str!("../testdata/sample_key_pkcs8_encrypted.pem");
const LEGACY_ENCRYPTED: &str = include_str!("../testdata/sample_key_legacy_encrypted.pem");
const PASSPHRASE_OK: &str = "correct-horse";

fn fixture_pem() -> String {
    fixture()["key"]["private_key_pem"]
        .as_str()
        .unwrap()
        .to_owned()
}

fn env_of(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
    let map: HashMap<String, String> = vars
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    move |name: &str| map.get(name).cloned()
}

/// The signature of the first published vector, made with `key`.
fn vector_signature(key: &PrivateKey) -> String {
    let url =
        url::Url::parse("https://iaas.us-phoenix-1.oraclecloud.com/20160918/instances").unwrap();
    sign(
        &Method::GET,
        &url,
        b"",
        "Thu, 05 Jan 2014 21:31:40 GMT",
        "k",
        key,
    )
    .unwrap()
    .signature
}

/// [`select`] for the principals that need no network (the tests' old `from_env`).
fn from_env(env: Env) -> Result<Arc<dyn Credentials>, PowerError> {
    match select(env)? {
        Principal::Ready(c) => Ok(c),
        Principal::Instance(s) => panic!("expected API key or resource principal, got {s:?}"),
    }
}

/// API keys and resource principals answer without awaiting anything.
trait Now: std::future::Future + Sized {
    fn now(self) -> Self::Output {
        futures::executor::block_on(self)
    }
}
impl<F: std::future::Future> Now for F {}

fn config_err(r: Result<impl std::fmt::Debug, PowerError>) -> String {
    match r {
        Err(PowerError::Config(m)) => m,
        other => panic!("expected a Config error, got {other:?}"),
    }
}

/// A home directory with `.oci/config` and the fixture key in `.oci/key.pem`.
fn home_with(config: &str) -> tempfile::TempDir {
    let home = tempfile::tempdir().unwrap();
    std::fs::create_dir(home.path().join(".oci")).unwrap();
    std::fs::write(home.path().join(".oci/config"), config).unwrap();
    std::fs::write(home.path().join(".oci/key.pem"), fixture_pem()).unwrap();
    home
}

const CONFIG: &str = "\
# gamefleet test config
[DEFAULT]
user = ocid1.user.oc1..default
fingerprint=aa:bb
tenancy = ocid1.tenancy.oc1..t
region = us-ashburn-1
key_file = ~/.oci/key.pem

; a second profile inherits DEFAULT's keys
[PROD]
user = ocid1.user.oc1..prod
region = eu-frankfurt-1
";

#[test]
fn config_file_profiles_inherit_default_and_expand_home() {
    let home = home_with(CONFIG);
    let h = home.path().to_str().unwrap();
    let c = from_env(&env_of(&[("HOME", h)])).unwrap();
    assert_eq!(c.region(), "us-ashburn-1");
    assert_eq!(
        c.identity().now().unwrap().key_id,
        "ocid1.tenancy.oc1..t/ocid1.user.oc1..default/aa:bb"
    );

    let c = from_env(&env_of(&[("HOME", h), ("OCI_CONFIG_PROFILE", "PROD")])).unwrap();
    assert_eq!(c.region(), "eu-frankfurt-1");
    let id = c.identity().now().unwrap();
    assert_eq!(id.key_id, "ocid1.tenancy.oc1..t/ocid1.user.oc1..prod/aa:bb");
    assert_eq!(vector_signature(&id.key), vector_signature(&fixture_key()));

    // OCI_CONFIG_FILE elsewhere, `~` in it too; an absolute key_file.
    let other = tempfile::tempdir().unwrap();
    let key = other.path().join("k.pem");
    std::fs::write(&key, fixture_pem()).unwrap();
    std::fs::write(
        other.path().join("cfg"),
        format!(
            "[X]\nuser=u\nfingerprint=f\ntenancy=t\nregion=r\nkey_file={}\n",
            key.display()
        ),
    )
    .unwrap();
    let c = from_env(&env_of(&[
        ("HOME", other.path().to_str().unwrap()),
        ("OCI_CONFIG_FILE", "~/cfg"),
        ("OCI_CONFIG_PROFILE", "X"),
    ]))
    .unwrap();
    assert_eq!(c.identity().now().unwrap().key_id, "t/u/f");
}

#[test]
fn config_file_errors_name_the_file_profile_and_key() {
    let home = home_with("[DEFAULT]\nuser=u\nfingerprint=f\nregion=r\nkey_file=~/.oci/key.pem\n");
    let h = home.path().to_str().unwrap();
    let m = config_err(from_env(&env_of(&[("HOME", h)])));
    assert!(m.contains("`tenancy` is missing"), "{m}");
    assert!(m.contains("[DEFAULT]") && m.contains(".oci/config"), "{m}");

    let m = config_err(from_env(&env_of(&[
        ("HOME", h),
        ("OCI_CONFIG_PROFILE", "NOPE"),
    ])));
    assert!(
        m.contains("no profile [NOPE]") && m.contains("profiles: DEFAULT"),
        "{m}"
    );

    let m = config_err(from_env(&env_of(&[
        ("HOME", h),
        ("OCI_CONFIG_FILE", "/nonexistent/cfg"),
    ])));
    assert!(
        m.contains("cannot read OCI config file /nonexistent/cfg"),
        "{m}"
    );

    // Nothing configured (no HOME, no config file): the instance principal.
    assert!(matches!(select(&env_of(&[])), Ok(Principal::Instance(_))));
    let empty = tempfile::tempdir().unwrap();
    assert!(matches!(
        select(&env_of(&[("HOME", empty.path().to_str().unwrap())])),
        Ok(Principal::Instance(_))
    ));
    // Asked for by name, a config file must be there.
    let m = config_err(from_env(&env_of(&[("OCI_AUTH", "api_key")])));
    assert!(m.contains("HOME is not set"), "{m}");

    let home = home_with(
        "[DEFAULT]\nuser=u\nfingerprint=f\ntenancy=t\nregion=r\nkey_file=~/.oci/gone.pem\n",
    );
    let m = config_err(from_env(&env_of(&[(
        "HOME",
        home.path().to_str().unwrap(),
    )])));
    assert!(
        m.contains("cannot read key_file") && m.contains("gone.pem"),
        "{m}"
    );

    // A malformed line is reported by number, never echoed (it may be a secret).
    let home = home_with("[DEFAULT]\nuser=u\nsecret-without-equals\n");
    let m = config_err(from_env(&env_of(&[(
        "HOME",
        home.path().to_str().unwrap(),
    )])));
    assert!(
        m.contains("line 3") && !m.contains("secret-without-equals"),
        "{m}"
    );
    let home = home_with("user=u\n[DEFAULT]\n");
    let m = config_err(from_env(&env_of(&[(
        "HOME",
        home.path().to_str().unwrap(),
    )])));
    assert!(
        m.contains("line 1") && m.contains("before the first [PROFILE]"),
        "{m}"
    );
}

#[test]
fn keys_in_every_supported_format_sign_alike() {
    let want = vector_signature(&fixture_key());
    let rsa = rsa::RsaPrivateKey::from_pkcs1_pem(&fixture_pem()).unwrap();
    let pkcs8 = rsa.to_pkcs8_pem(LineEnding::LF).unwrap();
    for (what, pem, pass) in [
        ("pkcs1", fixture_pem(), None),
        ("pkcs1 with an unused passphrase", fixture_pem(), Some("x")),
        ("pkcs8", pkcs8.to_string(), None),
        (
            "encrypted pkcs8",
            ENCRYPTED_PKCS8.to_owned(),
            Some(PASSPHRASE_OK),
        ),
    ] {
        let key = load_private_key(&pem, pass, what).unwrap_or_else(|e| panic!("{what}: {e}"));
        assert_eq!(vector_signature(&key), want, "{what}");
    }
}

#[test]
fn key_errors_say_what_to_do_and_show_no_secret() {
    let m = config_err(load_private_key(
        LEGACY_ENCRYPTED,
        Some(PASSPHRASE_OK),
        "key_file /k.pem",
    ));
    assert!(m.starts_with("key_file /k.pem: "), "{m}");
    assert!(m.contains("openssl pkcs8 -topk8"), "{m}");

    let m = config_err(load_private_key(ENCRYPTED_PKCS8, None, "k"));
    assert!(m.contains("no passphrase"), "{m}");
    let m = config_err(load_private_key(ENCRYPTED_PKCS8, Some("wrong-horse"), "k"));
    assert!(m.contains("cannot decrypt"), "{m}");
    assert!(!m.contains("wrong-horse"), "{m}");

    let garbled = fixture_pem().replace("MIIC", "MIIX");
    for (pem, why) in [
        (garbled.as_str(), "not a valid PKCS#1"),
        ("hello", "not a PEM private key"),
    ] {
        let m = config_err(load_private_key(pem, None, "k"));
        assert!(m.contains(why), "{m}");
        assert!(!m.contains("MII"), "{m}");
    }

    // Through the config file: the legacy key is named by its path.
    let home = home_with(
        "[DEFAULT]\nuser=u\nfingerprint=f\ntenancy=t\nregion=r\nkey_file=~/.oci/legacy.pem\npass_phrase=correct-horse\n",
    );
    std::fs::write(home.path().join(".oci/legacy.pem"), LEGACY_ENCRYPTED).unwrap();
    let m = config_err(from_env(&env_of(&[(
        "HOME",
        home.path().to_str().unwrap(),
    )])));
    assert!(
        m.contains("legacy.pem") && m.contains("openssl pkcs8 -topk8"),
        "{m}"
    );
    assert!(!m.contains("correct-horse"), "{m}");
}

#[test]
fn encrypted_pkcs8_with_pass_phrase_from_the_config_file() {
    let home = home_with(
        "[DEFAULT]\nuser=u\nfingerprint=f\ntenancy=t\nregion=r\nkey_file=~/.oci/enc.pem\npass_phrase = correct-horse\n",
    );
    std::fs::write(home.path().join(".oci/enc.pem"), ENCRYPTED_PKCS8).unwrap();
    let c = from_env(&env_of(&[("HOME", home.path().to_str().unwrap())])).unwrap();
    assert_eq!(
        vector_signature(&c.identity().now().unwrap().key),
        vector_signature(&fixture_key())
    );
    assert!(!format!("{c:?}").contains("correct-horse"));
}

fn jwt(exp: u64, tag: &str) -> String {
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"RS256","typ":"JWT"}"#);
    let claims = URL_SAFE_NO_PAD.encode(
        serde_json::json!({"exp": exp, "res_tenant": "ocid1.tenancy.oc1..t", "tag": tag})
            .to_string(),
    );
    format!("{header}.{claims}.c2lnbmF0dXJl")
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

#[test]
fn jwt_expiry_reads_exp_only() {
    assert_eq!(jwt_expiry(&jwt(1_700_000_000, "a")), Some(1_700_000_000));
    let padded = format!(
        "x.{}.y",
        base64::engine::general_purpose::URL_SAFE.encode(br#"{"exp":"12"}"#)
    );
    assert_eq!(jwt_expiry(&padded), Some(12));
    for bad in ["", "a.b", "a.b.c", "x.eyJ4IjoxfQ.y" /* {"x":1} */] {
        assert_eq!(jwt_expiry(bad), None, "{bad}");
    }
}

#[test]
fn resource_principal_from_literals() {
    let token = jwt(now() + 3600, "literal");
    let pem = fixture_pem();
    let c = from_env(&env_of(&[
        ("OCI_RESOURCE_PRINCIPAL_VERSION", "2.2"),
        ("OCI_RESOURCE_PRINCIPAL_RPST", &token),
        ("OCI_RESOURCE_PRINCIPAL_PRIVATE_PEM", &pem),
        ("OCI_RESOURCE_PRINCIPAL_REGION", "us-phoenix-1"),
        // Ignored: a resource principal wins over the config file.
        ("OCI_CONFIG_FILE", "/nonexistent"),
    ]))
    .unwrap();
    assert_eq!(c.region(), "us-phoenix-1");
    let id = c.identity().now().unwrap();
    assert_eq!(id.key_id, format!("ST${token}"));
    assert_eq!(vector_signature(&id.key), vector_signature(&fixture_key()));
    let shown = format!("{id:?} {c:?}");
    assert!(!shown.contains(&token) && !shown.contains("MII"), "{shown}");
}

#[test]
fn resource_principal_from_files_with_an_encrypted_key() {
    let dir = tempfile::tempdir().unwrap();
    let (rpst, key, pass) = (
        dir.path().join("rpst"),
        dir.path().join("key.pem"),
        dir.path().join("pass"),
    );
    let token = jwt(now() + 3600, "file");
    std::fs::write(&rpst, format!("{token}\n")).unwrap();
    std::fs::write(&key, ENCRYPTED_PKCS8).unwrap();
    std::fs::write(&pass, "correct-horse\n").unwrap();
    let c = from_env(&env_of(&[
        ("OCI_RESOURCE_PRINCIPAL_VERSION", "2.2"),
        ("OCI_RESOURCE_PRINCIPAL_RPST", rpst.to_str().unwrap()),
        ("OCI_RESOURCE_PRINCIPAL_PRIVATE_PEM", key.to_str().unwrap()),
        (
            "OCI_RESOURCE_PRINCIPAL_PRIVATE_PEM_PASSPHRASE",
            pass.to_str().unwrap(),
        ),
        ("OCI_RESOURCE_PRINCIPAL_REGION", "us-phoenix-1"),
    ]))
    .unwrap();
    let id = c.identity().now().unwrap();
    assert_eq!(id.key_id, format!("ST${token}"));
    assert_eq!(vector_signature(&id.key), vector_signature(&fixture_key()));
}

#[test]
fn a_file_token_is_re_read_within_five_minutes_of_exp() {
    let dir = tempfile::tempdir().unwrap();
    let rpst = dir.path().join("rpst");
    let key = dir.path().join("key.pem");
    std::fs::write(&key, fixture_pem()).unwrap();
    let env = |path: &Path| {
        env_of(&[
            ("OCI_RESOURCE_PRINCIPAL_VERSION", "2.2"),
            ("OCI_RESOURCE_PRINCIPAL_RPST", path.to_str().unwrap()),
            ("OCI_RESOURCE_PRINCIPAL_PRIVATE_PEM", key.to_str().unwrap()),
            ("OCI_RESOURCE_PRINCIPAL_REGION", "r"),
        ])
    };

    // Expires in 4 min: the next request re-reads the file.
    let soon = jwt(now() + 240, "soon");
    std::fs::write(&rpst, &soon).unwrap();
    let c = from_env(&env(&rpst)).unwrap();
    let fresh = jwt(now() + 3600, "fresh");
    std::fs::write(&rpst, &fresh).unwrap();
    assert_eq!(c.identity().now().unwrap().key_id, format!("ST${fresh}"));

    // Now valid for an hour: a newer file is not read until it matters.
    std::fs::write(&rpst, jwt(now() + 7200, "newer")).unwrap();
    assert_eq!(c.identity().now().unwrap().key_id, format!("ST${fresh}"));

    // A token valid 6 min is kept; the 5-minute edge is inclusive.
    assert!(!expires_soon(now() + 360, SystemTime::now()));
    assert!(expires_soon(now() + 300, SystemTime::now()));

    // A literal token cannot be re-read: it is used as given, even expired.
    let old = jwt(now() - 10, "old");
    let c = from_env(&env_of(&[
        ("OCI_RESOURCE_PRINCIPAL_VERSION", "2.2"),
        ("OCI_RESOURCE_PRINCIPAL_RPST", &old),
        ("OCI_RESOURCE_PRINCIPAL_PRIVATE_PEM", key.to_str().unwrap()),
        ("OCI_RESOURCE_PRINCIPAL_REGION", "r"),
    ]))
    .unwrap();
    assert_eq!(c.identity().now().unwrap().key_id, format!("ST${old}"));

    // A rotated file that is no token is an error, naming the file.
    std::fs::write(&rpst, jwt(now() + 60, "expiring")).unwrap();
    let c = from_env(&env(&rpst)).unwrap();
    std::fs::write(&rpst, "garbage").unwrap();
    let m = config_err(c.identity().now());
    assert!(
        m.contains(rpst.to_str().unwrap()) && m.contains("not a session token"),
        "{m}"
    );
}

#[test]
fn resource_principal_errors_name_the_variable() {
    let token = jwt(now() + 3600, "t");
    let pem = fixture_pem();
    let full = [
        ("OCI_RESOURCE_PRINCIPAL_VERSION", "2.2"),
        ("OCI_RESOURCE_PRINCIPAL_RPST", token.as_str()),
        ("OCI_RESOURCE_PRINCIPAL_PRIVATE_PEM", pem.as_str()),
        ("OCI_RESOURCE_PRINCIPAL_REGION", "r"),
    ];
    for missing in 1..full.len() {
        let vars: Vec<_> = full
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != missing)
            .map(|(_, kv)| *kv)
            .collect();
        let m = config_err(from_env(&env_of(&vars)));
        assert!(
            m.starts_with(&format!("{} is not set", full[missing].0)),
            "{m}"
        );
    }
    let mut vars = full.to_vec();
    vars[0].1 = "1.1";
    let m = config_err(from_env(&env_of(&vars)));
    assert!(m.contains("=1.1 is not supported"), "{m}");

    let mut vars = full.to_vec();
    vars[1].1 = "not-a-jwt";
    let m = config_err(from_env(&env_of(&vars)));
    assert!(
        m.starts_with("OCI_RESOURCE_PRINCIPAL_RPST: not a session token"),
        "{m}"
    );
    assert!(!m.contains("not-a-jwt"), "{m}");

    let mut vars = full.to_vec();
    vars[1].1 = "/nonexistent/rpst";
    let m = config_err(from_env(&env_of(&vars)));
    assert!(m.contains("cannot read /nonexistent/rpst"), "{m}");
}
