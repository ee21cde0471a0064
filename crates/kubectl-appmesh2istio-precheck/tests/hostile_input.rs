//! Offline precheck on input that once made it hang (issue 16, item 1): many documents whose
//! findings all land on one report entry.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::{Duration, Instant};

use support::*;

/// A guard against a hang, not a speed test (see convert's `hostile_input` test): quadratic,
/// this took minutes; linear, seconds in a release build and 30 to 75 s in a debug build on a
/// busy machine.
const HANG_GUARD: Duration = Duration::from_secs(180);

#[test]
fn a_hundred_thousand_documents_on_one_report_entry_finish() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("many.yaml");
    std::fs::write(
        &file,
        "apiVersion: appmesh.k8s.aws/v1beta2\n---\n".repeat(100_000),
    )
    .unwrap();
    let mut child = precheck()
        .arg("-f")
        .arg(&file)
        .args(["-o", "json", "--only", "conversion-readiness"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let started = Instant::now();
    // Read stdout while waiting, so a full pipe cannot stall the child.
    let mut stdout = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut text = String::new();
        std::io::Read::read_to_string(&mut stdout, &mut text).unwrap();
        text
    });
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > HANG_GUARD {
            child.kill().unwrap();
            child.wait().unwrap();
            panic!("precheck -f did not finish within {HANG_GUARD:?}");
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let report: serde_json::Value = serde_json::from_str(&reader.join().unwrap()).unwrap();
    assert_eq!(status.code(), Some(5), "the documents are errors");
    let refused = findings(&report, "AMI1006");
    assert_eq!(refused.len(), 100_000, "one finding per document");
    assert!(
        refused.iter().any(|f| f["message"]
            .as_str()
            .unwrap()
            .contains("many.yaml:199999 has no kind")),
        "{}",
        refused[0]
    );
}
