//! label's command line without a cluster: usage errors are exit 2 and say what is missing;
//! --help documents the exit codes and the rights.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::{Command, Stdio};

fn label(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_kubectl-appmesh2istio-label"))
        .args(args)
        .env("KUBECONFIG", "/nonexistent/kubeconfig")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn usage_errors_exit_2_and_name_the_problem() {
    for (args, message) in [
        (&[][..], "which namespaces? give -n NAMESPACE"),
        (&["-A"][..], "-A is not a label scope"),
        (
            &["-n", "a", "-l", "x=y"][..],
            "-n and -l cannot be combined",
        ),
        (
            &["-n", "a", "--revision", "r", "--dataplane", "ambient"][..],
            "cannot be combined with --dataplane ambient",
        ),
        (
            &["-n", "a", "--revision", "no/slash"][..],
            "is not a valid label value",
        ),
        (&["-n", "a", "--all-meshed"][..], "cannot be used with"),
        (
            &["--undo", "f", "--revision", "r"][..],
            "cannot be used with",
        ),
        (
            &["-n", "a", "--dataplane", "mesh"][..],
            "invalid value 'mesh'",
        ),
    ] {
        let (code, stdout, stderr) = label(args);
        assert_eq!(code, 2, "{args:?}: {stderr}");
        assert!(stderr.contains(message), "{args:?}: {stderr}");
        assert!(stdout.is_empty());
    }
}

#[test]
fn help_documents_exit_codes_rights_and_the_repeatable_namespace_flag() {
    let (code, stdout, _) = label(&["--help"]);
    assert_eq!(code, 0);
    for text in [
        "Exit codes:",
        "2  usage error",
        "Needs: get, list and patch on namespaces",
        "Namespaces to label (repeatable, or a comma list)",
        "--undo [<FILE>]",
        "kubectl appmesh2istio label --undo",
    ] {
        assert!(stdout.contains(text), "{text:?} in:\n{stdout}");
    }
}

#[test]
fn an_unreachable_cluster_is_exit_1_with_the_reason() {
    let (code, stdout, stderr) = label(&["-n", "a,b", "--yes", "--kubeconfig", "/nonexistent/k"]);
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains("cannot read kubeconfig /nonexistent/k"),
        "{stderr}"
    );
    assert!(stdout.is_empty());
}
