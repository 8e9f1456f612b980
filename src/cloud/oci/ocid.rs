//! OCIDs checked by their shape before any URL is built: the url crate drops
//! `.` and `..` path segments, so an id like `..` would otherwise turn
//! `GET /containerInstances/{id}` into OCI's *list* endpoint.
//!
//! Oracle's documented syntax is
//! `ocid1.<resource type>.<realm>.[region][.future use].<unique id>`:
//! `ocid1.computecontainerinstance.oc1.iad.aaaa…`,
//! `ocid1.tenancy.oc1..aaaa…` (no region for global resources).

use crate::lifecycle::InvalidResource;
use std::fmt;

/// The resource types gamefleet acts on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OcidType {
    /// Container Instances (`oci-container-instance`).
    ContainerInstance,
    /// A Compute instance (`oci-compute`).
    Instance,
    /// A Vault secret (`secretId`).
    VaultSecret,
}

impl OcidType {
    /// The `<resource type>` part.
    pub fn as_str(self) -> &'static str {
        match self {
            OcidType::ContainerInstance => "computecontainerinstance",
            OcidType::Instance => "instance",
            OcidType::VaultSecret => "vaultsecret",
        }
    }

    fn noun(self) -> &'static str {
        match self {
            OcidType::ContainerInstance => "container instance",
            OcidType::Instance => "compute instance",
            OcidType::VaultSecret => "Vault secret",
        }
    }
}

impl fmt::Display for OcidType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Longest OCID accepted (Oracle's are well under 120 characters).
pub const MAX_LEN: usize = 255;

/// `raw` (trimmed) if it is an OCID of type `want`; otherwise why not, starting
/// with `field` (`resource`, `secretId`).
///
/// Every part is lower-case ASCII letters and digits (the region may also
/// hold `-`, as in `us-ashburn-1`); the region and the future-use part may be
/// empty, nothing else may.
pub fn check<'a>(field: &str, raw: &'a str, want: OcidType) -> Result<&'a str, InvalidResource> {
    check_shape(field, raw, want).map_err(InvalidResource)
}

fn check_shape<'a>(field: &str, raw: &'a str, want: OcidType) -> Result<&'a str, String> {
    let id = raw.trim();
    let shown = if id.chars().count() > 80 {
        format!("({} characters)", id.chars().count())
    } else {
        format!("{id:?}")
    };
    let shape = || {
        format!(
            "{field} {shown} is not a {} OCID (ocid1.{want}.<realm>.<region>.<unique id>)",
            want.noun()
        )
    };
    if id.len() > MAX_LEN {
        return Err(format!(
            "{field} is {} characters long; an OCID has at most {MAX_LEN}",
            id.len()
        ));
    }
    let parts: Vec<&str> = id.split('.').collect();
    let (kind, realm, region, future, unique) = match parts.as_slice() {
        ["ocid1", kind, realm, region, unique] => (*kind, *realm, *region, "", *unique),
        ["ocid1", kind, realm, region, future, unique] => {
            (*kind, *realm, *region, *future, *unique)
        }
        _ => return Err(shape()),
    };
    let alnum = |s: &str| {
        s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
    };
    let well_formed = !kind.is_empty()
        && alnum(kind)
        && !realm.is_empty()
        && alnum(realm)
        && region
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && alnum(future)
        && !unique.is_empty()
        && alnum(unique);
    if !well_formed {
        return Err(shape());
    }
    if kind != want.as_str() {
        return Err(format!(
            "{field} {shown} is an OCID of type {kind}; a {}'s OCID is ocid1.{want}.…",
            want.noun()
        ));
    }
    Ok(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ocids_are_checked_by_shape_and_type() {
        use OcidType::*;
        for (ok, t) in [
            (
                "ocid1.computecontainerinstance.oc1.iad.aaaaaaaab5dcrhqvs2q5ek6amrzj3nd6yqrnexmpqfdtbu45m3onwplmfdeq",
                ContainerInstance,
            ),
            ("ocid1.instance.oc1.phx.abuhgljrabcd", Instance),
            ("ocid1.instance.oc1..aaaa", Instance),
            ("ocid1.instance.oc1.us-ashburn-1.aaaa", Instance),
            ("ocid1.instance.oc2.iad.future.aaaa", Instance),
            ("  ocid1.vaultsecret.oc1.iad.amaaaaaa  ", VaultSecret),
        ] {
            assert_eq!(check("resource", ok, t), Ok(ok.trim()), "{ok}");
        }
        for bad in [
            "",
            ".",
            "..",
            "ocid1",
            "ocid1.instance.x",
            "ocid1.instance.oc1.iad.",
            "ocid1.instance.oc1.iad..",
            "ocid1.instance..iad.aaaa",
            "ocid1.instance.oc1.iad.AAAA",
            "ocid1.instance.oc1.iad.aa/bb",
            "ocid1.instance.oc1.iad.aa%2Fbb",
            "ocid1.instance.oc1.iad.aa?x=1",
            "ocid2.instance.oc1.iad.aaaa",
            "ocid1.instance.oc1.iad.a.b.c",
            "rg/cg",
        ] {
            let e = check("resource", bad, Instance).unwrap_err();
            assert!(
                e.starts_with("resource ") && e.contains("is not a compute instance OCID"),
                "{bad:?}: {e}"
            );
        }
        assert_eq!(
            &*check("secretId", "ocid1.instance.oc1.iad.aaaa", VaultSecret).unwrap_err(),
            "secretId \"ocid1.instance.oc1.iad.aaaa\" is an OCID of type instance; a Vault secret's OCID is ocid1.vaultsecret.…"
        );
        let long = format!("ocid1.instance.oc1.iad.{}", "a".repeat(300));
        assert!(check("resource", &long, Instance)
            .unwrap_err()
            .contains("at most 255"));
    }
}
