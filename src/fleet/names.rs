//! Validated names: parse once at the edge, so bad input never reaches Table
//! Storage or ARM ("parse, don't validate").
//!
//! Rules are ARM's, which are stricter than Table Storage's key rules, so every
//! value accepted here is also a legal PartitionKey / RowKey.

use std::fmt;

/// Why a name was refused; rendered into the 400 body.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field} {problem}")]
pub struct NameError {
    pub field: &'static str,
    pub problem: String,
}

impl NameError {
    fn new(field: &'static str, problem: impl Into<String>) -> Self {
        Self {
            field,
            problem: problem.into(),
        }
    }
}

/// An Azure resource group name.
///
/// ARM: 1–90 characters; Unicode letters and digits, `_`, `-`, `.`, `(`, `)`;
/// must not end with `.`. Resource group names are case-insensitive in ARM, so
/// the table key is the lower-cased name while the caller's spelling is kept for
/// display.
#[derive(Debug, Clone)]
pub struct ResourceGroup {
    display: String,
    key: String,
}

impl ResourceGroup {
    pub const MAX_LEN: usize = 90;

    pub fn parse(raw: &str) -> Result<Self, NameError> {
        const FIELD: &str = "resourceGroup";
        let len = raw.chars().count();
        if len == 0 {
            return Err(NameError::new(FIELD, "must not be empty"));
        }
        if len > Self::MAX_LEN {
            return Err(NameError::new(
                FIELD,
                format!("is {len} characters long; ARM allows at most 90"),
            ));
        }
        if let Some(bad) = raw
            .chars()
            .find(|c| !(is_letter_or_digit(*c) || matches!(c, '_' | '-' | '.' | '(' | ')')))
        {
            return Err(NameError::new(
                FIELD,
                format!("contains {bad:?}; ARM allows letters, digits, '_', '-', '.', '(' and ')'"),
            ));
        }
        if raw.ends_with('.') {
            return Err(NameError::new(FIELD, "must not end with '.'"));
        }
        Ok(Self {
            display: raw.to_owned(),
            key: raw.to_lowercase(),
        })
    }

    /// The spelling the caller used (shown in responses, used in ARM URLs).
    pub fn as_str(&self) -> &str {
        &self.display
    }

    /// The case-folded form used as PartitionKey and for comparisons.
    pub fn key(&self) -> &str {
        &self.key
    }
}

impl PartialEq for ResourceGroup {
    fn eq(&self, other: &Self) -> bool {
        self.key == other.key
    }
}
impl Eq for ResourceGroup {}
impl std::hash::Hash for ResourceGroup {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.key.hash(state)
    }
}
impl PartialOrd for ResourceGroup {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for ResourceGroup {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.key.cmp(&other.key)
    }
}
impl fmt::Display for ResourceGroup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.display)
    }
}

/// .NET's `Char.IsLetterOrDigit`, which ARM applies to resource group names:
/// Unicode letters (Lu, Ll, Lt, Lm, Lo) and decimal digits (Nd) — not other
/// numbers (½, Ⅻ), marks or symbols.
fn is_letter_or_digit(c: char) -> bool {
    use unicode_general_category::{get_general_category, GeneralCategory as G};
    matches!(
        get_general_category(c),
        G::UppercaseLetter
            | G::LowercaseLetter
            | G::TitlecaseLetter
            | G::ModifierLetter
            | G::OtherLetter
            | G::DecimalNumber
    )
}

/// Shared rule of container group names and container names (ARM/ACI):
/// 1–63 characters, lowercase ASCII letters, digits and `-`, not starting or
/// ending with `-`.
fn parse_dns_label(field: &'static str, raw: &str) -> Result<String, NameError> {
    if raw.is_empty() {
        return Err(NameError::new(field, "must not be empty"));
    }
    if raw.len() > 63 {
        return Err(NameError::new(
            field,
            format!("is {} characters long; ARM allows at most 63", raw.len()),
        ));
    }
    if let Some(bad) = raw
        .chars()
        .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-'))
    {
        return Err(NameError::new(
            field,
            format!("contains {bad:?}; ARM allows lowercase letters, digits and '-'"),
        ));
    }
    if raw.starts_with('-') || raw.ends_with('-') {
        return Err(NameError::new(field, "must not start or end with '-'"));
    }
    Ok(raw.to_owned())
}

/// An ACI container group name (the table's RowKey).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ContainerGroupName(String);

impl ContainerGroupName {
    pub fn parse(raw: &str) -> Result<Self, NameError> {
        let name = parse_dns_label("containerGroupName", raw)?;
        // ARM's rule for container groups (not for the containers inside them).
        if name.contains("--") {
            return Err(NameError::new(
                "containerGroupName",
                "must not contain consecutive hyphens",
            ));
        }
        Ok(Self(name))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ContainerGroupName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A container's name inside a group (for logs).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ContainerName(String);

impl ContainerName {
    pub fn parse(raw: &str) -> Result<Self, NameError> {
        parse_dns_label("containerName", raw).map(Self)
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// An Azure region, in ARM's canonical form (`westeurope`): the table's
/// `Location` column and the `location` sent to ARM.
///
/// ARM takes a region's name (`westeurope`) or its display name (`West Europe`),
/// so both are accepted: ASCII letters, digits and spaces, normalised to ARM's
/// form by removing the spaces and lower-casing. What remains must be 2 to
/// [`Location::MAX_LEN`] letters and digits (the longest region name today,
/// `australiacentral2`, has 17), so a stored location is always short and a
/// name ARM would refuse (`west/europe`, `eu-west-1`) is refused here first.
/// Whether the region exists is ARM's to say.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Location(String);

impl Location {
    pub const MAX_LEN: usize = 40;
    const FIELD: &'static str = "containerGroup.location";

    pub fn parse(raw: &str) -> Result<Self, NameError> {
        const EXAMPLE: &str = "an Azure region such as \"westeurope\" or \"West Europe\"";
        if let Some(bad) = raw
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || *c == ' '))
        {
            return Err(NameError::new(
                Self::FIELD,
                format!("contains {bad:?}; {EXAMPLE} has only letters, digits and spaces"),
            ));
        }
        let name: String = raw
            .chars()
            .filter(|c| *c != ' ')
            .map(|c| c.to_ascii_lowercase())
            .collect();
        match name.len() {
            0 => Err(NameError::new(
                Self::FIELD,
                format!("is missing ({EXAMPLE})"),
            )),
            1 => Err(NameError::new(
                Self::FIELD,
                format!("is {name:?}; {EXAMPLE} has at least 2 letters or digits"),
            )),
            n if n > Self::MAX_LEN => Err(NameError::new(
                Self::FIELD,
                format!(
                    "has {n} letters and digits; {EXAMPLE} has at most {}",
                    Self::MAX_LEN
                ),
            )),
            _ => Ok(Self(name)),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Identity of one container group: resource group + name. Table key
/// (PartitionKey = `resource_group.key()`, RowKey = `name`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct GroupKey {
    pub resource_group: ResourceGroup,
    pub name: ContainerGroupName,
}

impl GroupKey {
    pub fn new(resource_group: ResourceGroup, name: ContainerGroupName) -> Self {
        Self {
            resource_group,
            name,
        }
    }
}

impl fmt::Display for GroupKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.resource_group, self.name)
    }
}

/// Number of players (sessions) on one server: a non-negative integer that fits
/// the table's Edm.Int32 column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct ActiveSessions(u32);

impl ActiveSessions {
    pub const MAX: u32 = i32::MAX as u32;
    pub const ZERO: Self = Self(0);

    pub fn new(n: u32) -> Result<Self, NameError> {
        if n > Self::MAX {
            return Err(NameError::new(
                "activeSessions",
                format!("is {n}; at most {} is accepted", Self::MAX),
            ));
        }
        Ok(Self(n))
    }

    /// From any JSON number: integers in 0..=i32::MAX only.
    pub fn from_json(v: &serde_json::Value) -> Result<Self, NameError> {
        const FIELD: &str = "activeSessions";
        match v {
            serde_json::Value::Number(n) => {
                if let Some(u) = n.as_u64() {
                    u32::try_from(u)
                        .map_err(|_| {
                            NameError::new(
                                FIELD,
                                format!("is {u}; at most {} is accepted", Self::MAX),
                            )
                        })
                        .and_then(Self::new)
                } else if n.as_i64().is_some() {
                    Err(NameError::new(
                        FIELD,
                        format!("is {n}; it must not be negative"),
                    ))
                } else {
                    Err(NameError::new(
                        FIELD,
                        format!("is {n}; it must be a whole number"),
                    ))
                }
            }
            serde_json::Value::Null => Err(NameError::new(FIELD, "is missing")),
            other => Err(NameError::new(
                FIELD,
                format!("must be a non-negative integer, not {}", json_kind(other)),
            )),
        }
    }

    pub fn get(self) -> u32 {
        self.0
    }
    pub fn is_zero(self) -> bool {
        self.0 == 0
    }
}

impl fmt::Display for ActiveSessions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// "a string", "an array"...: for error messages about JSON input.
pub fn json_kind(v: &serde_json::Value) -> &'static str {
    match v {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn container_group_names_follow_arm() {
        for ok in ["a", "cg-1", "0abc", &"a".repeat(63)] {
            assert!(ContainerGroupName::parse(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "-a",
            "a-",
            "A",
            "a_b",
            "a.b",
            "a/b",
            "a b",
            &"a".repeat(64),
            "é",
        ] {
            assert!(ContainerGroupName::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn resource_groups_follow_arm_and_fold_case() {
        let rg = ResourceGroup::parse("My_RG-(1).x").unwrap();
        assert_eq!(rg.as_str(), "My_RG-(1).x");
        assert_eq!(rg.key(), "my_rg-(1).x");
        assert_eq!(rg, ResourceGroup::parse("MY_rg-(1).X").unwrap());
        assert!(ResourceGroup::parse("spiele-gruppe-ü").is_ok());
        for bad in [
            "",
            "a.",
            "a/b",
            "a#b",
            "a?b",
            "a\\b",
            "a\tb",
            "a'b",
            &"a".repeat(91),
        ] {
            assert!(ResourceGroup::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn sessions_accept_only_non_negative_int32() {
        assert_eq!(ActiveSessions::from_json(&json!(0)).unwrap().get(), 0);
        assert_eq!(
            ActiveSessions::from_json(&json!(2147483647)).unwrap().get(),
            i32::MAX as u32
        );
        for bad in [
            json!(-1),
            json!(2147483648u64),
            json!(1.5),
            json!("3"),
            json!(null),
            json!(1e300),
        ] {
            assert!(ActiveSessions::from_json(&bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn arm_rules_beyond_the_charset() {
        for bad in ["a--b", "0--a"] {
            assert!(ContainerGroupName::parse(bad).is_err(), "{bad:?}");
        }
        assert!(ContainerName::parse("side--car").is_ok(), "containers may");
        assert!(
            ResourceGroup::parse("ゲーム٣").is_ok(),
            "letters and decimal digits of any script"
        );
        for bad in ["rg½", "rg²", "rgⅫ", "rgⓐ", "कि", "a⳽", "aↅ", "rg✓"] {
            assert!(ResourceGroup::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn locations_are_region_names_in_arms_form() {
        for (raw, want) in [
            ("westeurope", "westeurope"),
            ("West Europe", "westeurope"),
            ("  East US 2 ", "eastus2"),
            ("AUSTRALIACENTRAL2", "australiacentral2"),
            (&"a".repeat(40), &"a".repeat(40)),
        ] {
            assert_eq!(Location::parse(raw).unwrap().as_str(), want, "{raw:?}");
        }
        for (bad, says) in [
            ("", "is missing"),
            ("   ", "is missing"),
            ("x", "at least 2"),
            ("west-europe", "contains '-'"),
            ("west/europe", "contains '/'"),
            ("west\teurope", "contains '\\t'"),
            ("westeuröpe", "contains 'ö'"),
            (&"a".repeat(41), "has 41 letters and digits"),
            (&"a".repeat(70_000), "has 70000 letters and digits"),
        ] {
            let e = Location::parse(bad).unwrap_err();
            assert_eq!(e.field, "containerGroup.location");
            assert!(e.problem.contains(says), "{bad:?}: {e}");
            assert!(
                e.to_string().len() < 200,
                "the message does not echo a long input"
            );
        }
    }
}
