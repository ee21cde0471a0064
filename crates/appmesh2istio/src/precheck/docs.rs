//! `docs/codes.md`, generated from the catalog so it cannot go stale: a unit test compares the
//! two and, with `APPMESH2ISTIO_REGENERATE_DOCS=1`, rewrites the page.
//!
//! ```sh
//! APPMESH2ISTIO_REGENERATE_DOCS=1 cargo test -p appmesh2istio --lib codes_doc
//! ```

use std::fmt::Write as _;

use crate::findings::catalog;

/// Where the code reference lives, for links in reports.
pub const CODES_PAGE: &str = "docs/codes.md";

/// The documentation link of a code: its section of `docs/codes.md` in the repository.
pub fn docs_url(code: &str) -> String {
    format!(
        "{}/blob/main/{CODES_PAGE}#{}",
        env!("CARGO_PKG_REPOSITORY"),
        code.to_ascii_lowercase()
    )
}

/// The whole reference page.
pub fn codes_markdown() -> String {
    let mut out = String::new();
    out.push_str(
        "# Finding codes\n\n\
         <!-- Generated from crates/appmesh2istio/catalog/codes.yaml; do not edit by hand. Regenerate with\n     \
         APPMESH2ISTIO_REGENERATE_DOCS=1 cargo test -p appmesh2istio --lib codes_doc -->\n\n\
         Every finding appmesh2istio reports (convert's report, precheck's checks) carries one of these codes, \
         so scripts can match on them and the two commands never disagree. A code keeps its meaning forever: \
         retired codes stay listed with \"(retired)\" in their title and are never reused. The severity is fixed \
         per code.\n\n\
         Ranges: AMI1000-1099 input, AMI1100-1199 App Mesh semantics, AMI2000-2999 conversion, \
         AMI3000-3999 precheck, AMI9000-9099 appmesh2istio's own output.\n\n\
         | Code | Severity | Category | Title |\n|---|---|---|---|\n",
    );
    for entry in catalog().values() {
        writeln!(
            out,
            "| [{}](#{}) | {} | {} | {} |",
            entry.code,
            entry.code.to_ascii_lowercase(),
            entry.severity,
            entry.category,
            entry.title.replace('|', "\\|")
        )
        .ok();
    }
    for entry in catalog().values() {
        write!(
            out,
            "\n## {}\n\n**{}**, severity {}, category `{}`.\n\n{}\n",
            entry.code, entry.title, entry.severity, entry.category, entry.hint
        )
        .ok();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page_path() -> std::path::PathBuf {
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../..")
            .join(CODES_PAGE)
    }

    #[test]
    fn codes_doc_is_in_sync_with_the_catalog() {
        let expected = codes_markdown();
        let path = page_path();
        if std::env::var_os("APPMESH2ISTIO_REGENERATE_DOCS").is_some() {
            std::fs::write(&path, &expected).unwrap();
        }
        let actual = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            actual == expected,
            "{} is out of date with catalog/codes.yaml; regenerate it with \
             APPMESH2ISTIO_REGENERATE_DOCS=1 cargo test -p appmesh2istio --lib codes_doc",
            path.display()
        );
    }

    #[test]
    fn every_code_has_an_anchor_and_a_link() {
        let page = codes_markdown();
        for code in catalog().keys() {
            assert!(page.contains(&format!("\n## {code}\n")), "{code}");
        }
        assert!(docs_url("AMI3001").ends_with("/blob/main/docs/codes.md#ami3001"));
    }
}
