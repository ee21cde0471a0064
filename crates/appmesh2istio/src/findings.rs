//! Findings: what every subcommand reports, in one vocabulary.
//!
//! Each finding carries a stable code from the catalog (`catalog/codes.yaml`), so convert's
//! report and precheck's checks never disagree, scripts can match on codes, and docs can
//! link to them. Codes are never reused.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;
use std::sync::OnceLock;

use serde::{Deserialize, Serialize};

use crate::origin::{ObjectRef, Origin};

/// How serious a finding is. Ordered: `Info < Warning < Error`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Info,
    Warning,
    Error,
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Error => "error",
        })
    }
}

/// How faithfully a source object was carried over, as convert's report states it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Fidelity {
    Exact,
    Approximated,
    NotConverted,
}

impl Fidelity {
    /// A conversion finding's severity says how much behaviour it lost: an info finding
    /// (e.g. an App Mesh default written out explicitly) keeps behaviour exact.
    pub fn of(severity: Severity) -> Fidelity {
        match severity {
            Severity::Info => Fidelity::Exact,
            Severity::Warning => Fidelity::Approximated,
            Severity::Error => Fidelity::NotConverted,
        }
    }
}

impl fmt::Display for Fidelity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Fidelity::Exact => "exact",
            Fidelity::Approximated => "approximated",
            Fidelity::NotConverted => "not converted",
        })
    }
}

/// One entry of the code catalog.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CatalogEntry {
    pub code: String,
    pub title: String,
    pub category: String,
    pub severity: Severity,
    pub hint: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CatalogFile {
    codes: Vec<CatalogEntry>,
}

/// The catalog source, embedded so the binaries are self-contained.
pub const CATALOG_YAML: &str = include_str!("../catalog/codes.yaml");

/// The parsed catalog, keyed by code. A malformed catalog is a build defect caught by the
/// unit tests below; at runtime it degrades to an empty catalog rather than panicking.
pub fn catalog() -> &'static BTreeMap<String, CatalogEntry> {
    static CATALOG: OnceLock<BTreeMap<String, CatalogEntry>> = OnceLock::new();
    CATALOG.get_or_init(
        || match serde_saphyr::from_str::<CatalogFile>(CATALOG_YAML) {
            Ok(file) => file
                .codes
                .into_iter()
                .map(|e| (e.code.clone(), e))
                .collect(),
            Err(_) => BTreeMap::new(),
        },
    )
}

/// Something a subcommand found, about one object.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Finding {
    pub code: String,
    pub severity: Severity,
    pub subject: ObjectRef,
    /// Path of the field the finding is about, e.g. `spec.routes[0].httpRoute.match.headers[1]`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub origin: Option<Origin>,
    pub message: String,
    /// Usually the catalog's hint, borrowed: a conversion can produce tens of thousands of
    /// findings, and copying each hint showed up in the benchmark.
    pub hint: Cow<'static, str>,
}

impl Finding {
    /// A finding whose severity and hint come from the catalog entry of `code`.
    pub fn new(code: &str, subject: ObjectRef, message: impl Into<String>) -> Finding {
        let (severity, hint) = match catalog().get(code) {
            Some(entry) => (entry.severity, Cow::Borrowed(entry.hint.as_str())),
            // Unknown codes are a defect the catalog test catches; never hide the finding.
            None => (Severity::Error, Cow::Borrowed("")),
        };
        Finding {
            code: code.to_owned(),
            severity,
            subject,
            field: None,
            origin: None,
            message: message.into(),
            hint,
        }
    }

    pub fn at_field(mut self, field: impl Into<String>) -> Finding {
        self.field = Some(field.into());
        self
    }

    pub fn with_origin(mut self, origin: Option<Origin>) -> Finding {
        self.origin = origin;
        self
    }

    /// Replace the catalog hint with a more specific one.
    pub fn with_hint(mut self, hint: impl Into<String>) -> Finding {
        self.hint = Cow::Owned(hint.into());
        self
    }

    pub fn fidelity(&self) -> Fidelity {
        Fidelity::of(self.severity)
    }

    pub fn title(&self) -> &str {
        catalog()
            .get(&self.code)
            .map(|e| e.title.as_str())
            .unwrap_or("")
    }
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} [{}] {}", self.severity, self.code, self.subject)?;
        if let Some(field) = &self.field {
            write!(f, " {field}")?;
        }
        write!(f, ": {}", self.message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn catalog_parses_and_codes_are_unique_and_well_formed() {
        let file: CatalogFile = serde_saphyr::from_str(CATALOG_YAML).unwrap();
        let mut seen = std::collections::BTreeSet::new();
        let code_shape = regex::Regex::new(r"^AMI[0-9]{4}$").unwrap();
        for entry in &file.codes {
            assert!(code_shape.is_match(&entry.code), "bad code {}", entry.code);
            assert!(
                seen.insert(entry.code.clone()),
                "duplicate code {}",
                entry.code
            );
            assert!(
                !entry.title.is_empty() && !entry.hint.is_empty(),
                "{} lacks text",
                entry.code
            );
        }
        assert_eq!(catalog().len(), file.codes.len());
    }

    #[test]
    fn finding_takes_severity_and_hint_from_catalog() {
        let entry = catalog().values().next().unwrap();
        let f = Finding::new(&entry.code, ObjectRef::new("Mesh", None, "m"), "msg");
        assert_eq!(f.severity, entry.severity);
        assert_eq!(f.hint, entry.hint);
        assert_eq!(f.fidelity(), Fidelity::of(entry.severity));
    }

    #[test]
    fn unknown_code_is_an_error_not_a_panic() {
        let f = Finding::new("AMI0000", ObjectRef::new("Mesh", None, "m"), "msg");
        assert_eq!(f.severity, Severity::Error);
    }
}
