//! Azure Storage connection strings → table endpoint + credentials.
//!
//! Parsed here rather than with `azure_storage::ConnectionString`, whose errors
//! echo the whole string (account key included) and which refuses keys Functions
//! puts in `AzureWebJobsStorage` (`BlobEndpoint`, `QueueEndpoint`...). Errors name
//! the problem and the setting, never a value.

use azure_core::auth::Secret;
use azure_core::Url;
use azure_storage::StorageCredentials;

/// The emulator's well-known account.
pub(crate) const EMULATOR_ACCOUNT: &str = azure_storage::clients::EMULATOR_ACCOUNT;

/// A connection string or table name that cannot work. Never contains secrets.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreConfigError {
    #[error("storage connection string is empty")]
    Empty,
    #[error("storage connection string: segment {segment} is not `Name=value`")]
    Malformed { segment: usize },
    /// `name` only when it looks like a setting name: a pasted secret (e.g. a
    /// base64 key ending in `=`) also parses as `name=value`.
    #[error("storage connection string: unknown setting {}", match name { Some(n) => format!("{n:?}"), None => format!("in segment {segment}") })]
    UnknownSetting {
        segment: usize,
        name: Option<String>,
    },
    #[error("storage connection string: {name} is given twice")]
    Duplicate { name: String },
    #[error("storage connection string: {name} is invalid: {problem}")]
    Invalid { name: &'static str, problem: String },
    #[error("storage connection string: {0}")]
    Missing(String),
    #[error("table name {name:?} is invalid: {problem}")]
    TableName { name: String, problem: &'static str },
}

/// Where the table service is and how to sign for it.
#[derive(Debug, Clone)]
pub(crate) struct Connection {
    /// Account name (informational; the key credential carries its own).
    pub account: String,
    /// Table service base URL, without trailing `/`
    /// (`https://acct.table.core.windows.net`, `http://127.0.0.1:10002/devstoreaccount1`).
    pub endpoint: Url,
    pub credentials: StorageCredentials,
}

#[derive(Default)]
struct Settings<'a> {
    use_development_storage: Option<&'a str>,
    development_storage_proxy_uri: Option<&'a str>,
    default_endpoints_protocol: Option<&'a str>,
    account_name: Option<&'a str>,
    account_key: Option<&'a str>,
    sas: Option<&'a str>,
    endpoint_suffix: Option<&'a str>,
    table_endpoint: Option<&'a str>,
}

fn set<'a>(slot: &mut Option<&'a str>, name: &str, value: &'a str) -> Result<(), StoreConfigError> {
    if slot.replace(value).is_some() {
        return Err(StoreConfigError::Duplicate {
            name: name.to_owned(),
        });
    }
    Ok(())
}

fn invalid(name: &'static str, problem: impl Into<String>) -> StoreConfigError {
    StoreConfigError::Invalid {
        name,
        problem: problem.into(),
    }
}

pub(crate) fn parse(connection_string: &str) -> Result<Connection, StoreConfigError> {
    let mut s = Settings::default();
    let mut any = false;
    for (i, segment) in connection_string.split(';').enumerate() {
        let segment = segment.trim();
        if segment.is_empty() {
            continue;
        }
        any = true;
        let (name, value) = segment
            .split_once('=')
            .map(|(n, v)| (n.trim(), v.trim()))
            .filter(|(n, v)| !n.is_empty() && !v.is_empty())
            .ok_or(StoreConfigError::Malformed { segment: i + 1 })?;
        match name.to_ascii_lowercase().as_str() {
            "usedevelopmentstorage" => set(&mut s.use_development_storage, name, value)?,
            "developmentstorageproxyuri" => set(&mut s.development_storage_proxy_uri, name, value)?,
            "defaultendpointsprotocol" => set(&mut s.default_endpoints_protocol, name, value)?,
            "accountname" => set(&mut s.account_name, name, value)?,
            "accountkey" => set(&mut s.account_key, name, value)?,
            "sharedaccesssignature" => set(&mut s.sas, name, value)?,
            "endpointsuffix" => set(&mut s.endpoint_suffix, name, value)?,
            "tableendpoint" => set(&mut s.table_endpoint, name, value)?,
            // Other services' endpoints (AzureWebJobsStorage has them): not ours.
            "blobendpoint"
            | "queueendpoint"
            | "fileendpoint"
            | "blobsecondaryendpoint"
            | "queuesecondaryendpoint"
            | "filesecondaryendpoint"
            | "tablesecondaryendpoint" => {}
            _ => {
                let plausible = name.len() <= 32 && name.bytes().all(|b| b.is_ascii_alphabetic());
                return Err(StoreConfigError::UnknownSetting {
                    segment: i + 1,
                    name: plausible.then(|| name.to_owned()),
                });
            }
        }
    }
    if !any {
        return Err(StoreConfigError::Empty);
    }

    match s
        .use_development_storage
        .map(str::to_ascii_lowercase)
        .as_deref()
    {
        None | Some("false") => {}
        Some("true") => return development_storage(&s),
        Some(_) => return Err(invalid("UseDevelopmentStorage", "must be true or false")),
    }

    let protocol = match s
        .default_endpoints_protocol
        .map(str::to_ascii_lowercase)
        .as_deref()
    {
        None | Some("https") => "https",
        Some("http") => "http",
        Some(_) => return Err(invalid("DefaultEndpointsProtocol", "must be http or https")),
    };

    let endpoint = match (s.table_endpoint, s.account_name) {
        (Some(uri), _) => endpoint_url("TableEndpoint", uri)?,
        (None, Some(account)) => {
            validate_account(account)?;
            let suffix = s.endpoint_suffix.unwrap_or("core.windows.net");
            if suffix.contains(['/', '?', '#', '@', ':']) {
                return Err(invalid(
                    "EndpointSuffix",
                    "must be a DNS suffix such as core.windows.net",
                ));
            }
            endpoint_url(
                "EndpointSuffix",
                &format!("{protocol}://{account}.table.{suffix}"),
            )?
        }
        (None, None) => {
            return Err(StoreConfigError::Missing(
                "AccountName or TableEndpoint is required".into(),
            ))
        }
    };

    let account = s.account_name.unwrap_or_default().to_owned();
    let credentials = match (s.account_key, s.sas) {
        (Some(key), _) => {
            let Some(name) = s.account_name else {
                return Err(StoreConfigError::Missing(
                    "AccountKey needs AccountName".into(),
                ));
            };
            validate_account(name)?;
            match azure_core::base64::decode(key) {
                Ok(bytes) if !bytes.is_empty() => {}
                _ => return Err(invalid("AccountKey", "is not base64")),
            }
            StorageCredentials::access_key(name.to_owned(), Secret::new(key.to_owned()))
        }
        (None, Some(sas)) => {
            let sas = sas.trim_start_matches('?');
            if !sas.split('&').any(|p| p.starts_with("sig=")) {
                return Err(invalid("SharedAccessSignature", "has no sig parameter"));
            }
            StorageCredentials::sas_token(sas)
                .map_err(|_| invalid("SharedAccessSignature", "is not a query string"))?
        }
        (None, None) => {
            return Err(StoreConfigError::Missing(
                "no credentials: set AccountName and AccountKey, or SharedAccessSignature".into(),
            ))
        }
    };

    Ok(Connection {
        account,
        endpoint,
        credentials,
    })
}

fn development_storage(s: &Settings<'_>) -> Result<Connection, StoreConfigError> {
    let others = [
        ("AccountName", s.account_name),
        ("AccountKey", s.account_key),
        ("SharedAccessSignature", s.sas),
        ("EndpointSuffix", s.endpoint_suffix),
        ("TableEndpoint", s.table_endpoint),
        ("DefaultEndpointsProtocol", s.default_endpoints_protocol),
    ];
    if let Some((name, _)) = others.iter().find(|(_, v)| v.is_some()) {
        return Err(invalid(
            "UseDevelopmentStorage",
            format!("cannot be combined with {name}"),
        ));
    }
    let base = match s.development_storage_proxy_uri {
        Some(proxy) => {
            let url = endpoint_url("DevelopmentStorageProxyUri", proxy)?;
            let host = url
                .host_str()
                .ok_or_else(|| invalid("DevelopmentStorageProxyUri", "has no host"))?;
            format!("{}://{host}:10002/{EMULATOR_ACCOUNT}", url.scheme())
        }
        None => format!("http://127.0.0.1:10002/{EMULATOR_ACCOUNT}"),
    };
    Ok(Connection {
        account: EMULATOR_ACCOUNT.to_owned(),
        endpoint: endpoint_url("UseDevelopmentStorage", &base)?,
        credentials: StorageCredentials::emulator(),
    })
}

fn validate_account(account: &str) -> Result<(), StoreConfigError> {
    if account.is_empty()
        || account.len() > 64
        || !account.bytes().all(|b| b.is_ascii_alphanumeric())
    {
        return Err(invalid("AccountName", "must be letters and digits"));
    }
    Ok(())
}

/// An http(s) base URL without query, fragment or trailing slash.
fn endpoint_url(name: &'static str, raw: &str) -> Result<Url, StoreConfigError> {
    let url = Url::parse(raw).map_err(|_| invalid(name, "is not a URL"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(invalid(name, "must be an http or https URL"));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(invalid(
            name,
            "must not have a query; put a SAS in SharedAccessSignature",
        ));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(invalid(name, "must not contain credentials"));
    }
    if url.cannot_be_a_base() || url.host_str().is_none() {
        return Err(invalid(name, "is not an absolute URL"));
    }
    let trimmed = url.as_str().trim_end_matches('/').to_owned();
    Url::parse(&trimmed).map_err(|_| invalid(name, "is not a URL"))
}

/// Table names: 3–63 ASCII letters and digits, starting with a letter, not `tables`.
pub(crate) fn validate_table_name(name: &str) -> Result<(), StoreConfigError> {
    let problem = if !(3..=63).contains(&name.len()) {
        Some("must be 3 to 63 characters long")
    } else if !name.bytes().all(|b| b.is_ascii_alphanumeric()) {
        Some("must contain only letters and digits")
    } else if !name.as_bytes()[0].is_ascii_alphabetic() {
        Some("must start with a letter")
    } else if name.eq_ignore_ascii_case("tables") {
        Some("is reserved")
    } else {
        None
    };
    match problem {
        Some(problem) => Err(StoreConfigError::TableName {
            name: name.to_owned(),
            problem,
        }),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str =
        "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

    fn endpoint(cs: &str) -> String {
        parse(cs).unwrap().endpoint.to_string()
    }

    #[test]
    fn development_storage_is_azurite_on_10002() {
        assert_eq!(
            endpoint("UseDevelopmentStorage=true"),
            "http://127.0.0.1:10002/devstoreaccount1"
        );
        assert_eq!(
            endpoint("UseDevelopmentStorage=true;DevelopmentStorageProxyUri=http://10.0.0.5"),
            "http://10.0.0.5:10002/devstoreaccount1"
        );
        assert!(matches!(
            parse("UseDevelopmentStorage=true;AccountName=x"),
            Err(StoreConfigError::Invalid {
                name: "UseDevelopmentStorage",
                ..
            })
        ));
    }

    #[test]
    fn account_strings_build_the_public_or_custom_endpoint() {
        assert_eq!(
            endpoint(&format!(
                "DefaultEndpointsProtocol=https;AccountName=fleet1;AccountKey={KEY};EndpointSuffix=core.windows.net"
            )),
            "https://fleet1.table.core.windows.net/"
        );
        assert_eq!(
            endpoint(&format!("AccountName=fleet1;AccountKey={KEY}")),
            "https://fleet1.table.core.windows.net/"
        );
        assert_eq!(
            endpoint(&format!(
                "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey={KEY};TableEndpoint=http://127.0.0.1:10002/devstoreaccount1/;"
            )),
            "http://127.0.0.1:10002/devstoreaccount1"
        );
        assert_eq!(
            endpoint(&format!(
                "AccountName=fleet1;AccountKey={KEY};EndpointSuffix=core.chinacloudapi.cn;BlobEndpoint=https://x.blob.core.chinacloudapi.cn"
            )),
            "https://fleet1.table.core.chinacloudapi.cn/"
        );
        assert_eq!(
            endpoint("TableEndpoint=https://fleet1.table.core.windows.net;SharedAccessSignature=sv=2022-11-02&ss=t&sig=abc%3D"),
            "https://fleet1.table.core.windows.net/"
        );
    }

    #[test]
    fn errors_never_echo_values() {
        let secret = "c2VjcmV0LWtleS12YWx1ZQ==";
        let cases = [
            format!("AccountName=a;AccountKey={secret};Bogus=1"),
            format!("AccountName=a;AccountKey={secret};AccountKey={secret}"),
            format!("AccountKey={secret}"),
            format!("AccountName=a;{secret}"),
            format!("AccountName=a;AccountKey=x;{secret}"),
            "AccountName=a;c2VjcmV0LWtleS12YWx1ZQ".to_owned(),
            format!("AccountName=a;AccountKey=not base64 {secret}!"),
            format!("AccountName=a;AccountKey={secret};TableEndpoint=ftp://{secret}"),
            format!("TableEndpoint=https://x.table.core.windows.net?sig={secret}"),
            format!("AccountName=a;SharedAccessSignature=sv=1&x={secret}"),
            format!("UseDevelopmentStorage={secret}"),
        ];
        for cs in cases {
            let err = parse(&cs).expect_err(&cs).to_string();
            assert!(!err.contains(secret), "{err}");
            assert!(!err.contains("c2VjcmV0"), "{err}");
        }
    }

    #[test]
    fn errors_name_the_problem() {
        assert_eq!(parse("  ; ").unwrap_err(), StoreConfigError::Empty);
        assert_eq!(
            parse("AccountName=a;Foo=b").unwrap_err(),
            StoreConfigError::UnknownSetting {
                segment: 2,
                name: Some("Foo".into())
            }
        );
        assert_eq!(
            parse("AccountName=a;justtext").unwrap_err(),
            StoreConfigError::Malformed { segment: 2 }
        );
        assert!(matches!(
            parse("AccountName=a").unwrap_err(),
            StoreConfigError::Missing(_)
        ));
        assert!(matches!(
            parse(&format!("AccountName=a-b;AccountKey={KEY}")).unwrap_err(),
            StoreConfigError::Invalid {
                name: "AccountName",
                ..
            }
        ));
        assert!(matches!(
            parse(&format!(
                "AccountName=a;AccountKey={KEY};DefaultEndpointsProtocol=ftp"
            ))
            .unwrap_err(),
            StoreConfigError::Invalid {
                name: "DefaultEndpointsProtocol",
                ..
            }
        ));
    }

    #[test]
    fn table_names_follow_the_service_rules() {
        for ok in ["ACIDetails", "abc", "t0123456789abcdef0123"] {
            assert!(validate_table_name(ok).is_ok(), "{ok}");
        }
        for bad in [
            "ab",
            "1abc",
            "a-b",
            "tables",
            "Tables",
            &"a".repeat(64),
            "ä12",
        ] {
            assert!(validate_table_name(bad).is_err(), "{bad}");
        }
    }
}
