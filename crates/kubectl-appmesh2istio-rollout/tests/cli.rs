//! The binary's flags, without a cluster: usage errors exit 2 with kubectl-like messages, and
//! nothing is written to stdout.
#![allow(clippy::unwrap_used)]

use std::process::{Command, Stdio};

fn run(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_kubectl-appmesh2istio-rollout"))
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
fn flags_of_another_strategy_are_usage_errors() {
    for (args, message) in [
        (
            vec!["--batch-size", "3"],
            "--batch-size and --phase-wait need --strategy phased",
        ),
        (vec!["--canary-percent", "10"], "need --strategy canary"),
        (
            vec!["--strategy", "canary", "--canary-percent", "0"],
            "--canary-percent must be between 1 and 100",
        ),
        (
            vec![
                "--strategy",
                "canary",
                "--canary-percent",
                "5",
                "--canary-replicas",
                "1",
            ],
            "not both",
        ),
        (
            vec!["--max-concurrent", "0"],
            "--max-concurrent must be at least 1",
        ),
        (vec!["--strategy", "sideways"], "invalid value 'sideways'"),
        (vec!["--timeout", "5x"], "unknown unit"),
        (vec!["--undo", "f.yaml", "--all"], "--undo takes no --all"),
    ] {
        let (code, stdout, stderr) = run(&args);
        assert_eq!(code, 2, "{args:?}: {stderr}");
        assert!(stderr.contains(message), "{args:?}: {stderr}");
        assert_eq!(stdout, "");
    }
}

#[test]
fn help_names_the_strategies_and_exit_codes() {
    let (code, stdout, _) = run(&["--help"]);
    assert_eq!(code, 0);
    for text in [
        "--strategy",
        "in-place",
        "phased",
        "canary",
        "--check <CMD>",
        "--undo [<FILE>]",
        "Exit codes:",
    ] {
        assert!(
            stdout.contains(text),
            "{text} missing from --help:\n{stdout}"
        );
    }
}

#[test]
fn an_unreadable_kubeconfig_fails_with_its_path() {
    let (code, stdout, stderr) = run(&["--kubeconfig", "/nonexistent/config", "-n", "shop"]);
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("/nonexistent/config"), "{stderr}");
    assert_eq!(stdout, "");
}
