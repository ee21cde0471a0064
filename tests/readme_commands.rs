//! The command lines the README and docs show stay true: every `kubectl appmesh2istio ...`
//! line of a ```sh block names a command that exists and flags that command has, and the ones
//! that need no cluster (their `-f` inputs are in the repository) run, from the workspace
//! root, with the exit code and output the README describes.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use appmesh2istio_tests::{plugin_binaries, workspace_root};

/// One command line of a ```sh block.
#[derive(Debug)]
struct Shown {
    file: String,
    line: usize,
    text: String,
}

/// Every line of every ```sh block of README.md and docs/*.md, continuation lines joined and
/// comments removed.
fn shown_commands() -> Vec<Shown> {
    let root = workspace_root();
    let mut files = vec![root.join("README.md")];
    let mut docs: Vec<PathBuf> = std::fs::read_dir(root.join("docs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .collect();
    docs.sort();
    files.extend(docs);
    let mut shown = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        let name = file.strip_prefix(&root).unwrap().display().to_string();
        let mut in_sh = false;
        let mut pending: Option<Shown> = None;
        for (index, line) in text.lines().enumerate() {
            if line.starts_with("```") {
                in_sh = !in_sh && line.trim() == "```sh";
                continue;
            }
            if !in_sh {
                continue;
            }
            let code = match line.find(" #") {
                Some(at) => &line[..at],
                None => line,
            };
            let code = code.trim();
            let mut entry = pending.take().unwrap_or(Shown {
                file: name.clone(),
                line: index + 1,
                text: String::new(),
            });
            if let Some(head) = code.strip_suffix('\\') {
                entry.text.push_str(head.trim());
                entry.text.push(' ');
                pending = Some(entry);
            } else {
                entry.text.push_str(code);
                if !entry.text.trim().is_empty() && !entry.text.starts_with('#') {
                    shown.push(entry);
                }
            }
        }
    }
    shown
}

/// The plugin arguments of a shown line: after `kubectl appmesh2istio` (or the `cargo run
/// ... --` of a command crate), up to a redirection or pipe. `None` for other commands.
fn plugin_args(text: &str) -> Option<(String, Vec<String>)> {
    let words: Vec<&str> = text.split_whitespace().collect();
    let rest: Vec<&str> = if words.starts_with(&["kubectl", "appmesh2istio"]) {
        words[2..].to_vec()
    } else if words.starts_with(&["cargo", "run"]) {
        let package = words
            .iter()
            .position(|w| *w == "-p")
            .and_then(|i| words.get(i + 1))?;
        let command = package.strip_prefix("kubectl-appmesh2istio-")?;
        let dashes = words.iter().position(|w| *w == "--")?;
        std::iter::once(command)
            .chain(words[dashes + 1..].iter().copied())
            .collect()
    } else {
        return None;
    };
    let end = rest
        .iter()
        .position(|w| w.starts_with('>') || *w == "|" || w.starts_with("2>"))
        .unwrap_or(rest.len());
    let args: Vec<String> = rest[..end].iter().map(|w| (*w).to_owned()).collect();
    let first = args.first()?.clone();
    Some((first, args[1..].to_vec()))
}

/// A scratch directory that looks like the workspace root (a symlink to each of its entries),
/// for running shown commands: their relative `-f` paths resolve as in the root, and what they
/// write there (`convert --install` writes `istio-install/`) lands in the scratch directory.
fn scratch_root(root: &Path) -> tempfile::TempDir {
    let scratch = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(root).unwrap() {
        let entry = entry.unwrap();
        if entry.file_name() == "target" {
            continue;
        }
        std::os::unix::fs::symlink(entry.path(), scratch.path().join(entry.file_name())).unwrap();
    }
    scratch
}

fn help_of(binary: &Path) -> String {
    let out = Command::new(binary).arg("--help").output().unwrap();
    assert!(out.status.success(), "{} --help failed", binary.display());
    String::from_utf8(out.stdout).unwrap()
}

/// Whether `help` documents `flag` (`-f`, `--filename`), as `-f,`, `--filename <..>` etc.
fn documents(help: &str, flag: &str) -> bool {
    help.match_indices(flag).any(|(at, _)| {
        let before = help[..at].chars().next_back();
        let after = help[at + flag.len()..].chars().next();
        before.is_none_or(|c| c == ' ' || c == '[')
            && after.is_none_or(|c| !(c.is_ascii_alphanumeric() || c == '-'))
    })
}

#[test]
fn every_command_line_shown_uses_commands_and_flags_that_exist() {
    let binaries = plugin_binaries();
    let mut helps: BTreeMap<String, String> = BTreeMap::new();
    let mut checked = 0;
    for shown in shown_commands() {
        let Some((command, args)) = plugin_args(&shown.text) else {
            continue;
        };
        let at = format!("{}:{}: {}", shown.file, shown.line, shown.text);
        if command.starts_with('-') {
            // Shown on purpose as the mistake the dispatcher corrects.
            let out = Command::new(&binaries["kubectl-appmesh2istio"])
                .arg(&command)
                .args(&args)
                .output()
                .unwrap();
            assert_eq!(out.status.code(), Some(2), "{at}");
            assert!(
                String::from_utf8_lossy(&out.stderr).contains("flags must follow the subcommand"),
                "{at}"
            );
            checked += 1;
            continue;
        }
        let binary_name = format!("kubectl-appmesh2istio-{command}");
        let Some(binary) = binaries.get(&binary_name) else {
            panic!("{at}: no command {command:?} is built");
        };
        let help = helps
            .entry(command.clone())
            .or_insert_with(|| help_of(binary));
        for arg in args.iter().filter(|a| a.starts_with('-') && *a != "-") {
            let flag = arg.split('=').next().unwrap_or(arg);
            assert!(
                documents(help, flag),
                "{at}: `{command} --help` has no {flag}"
            );
        }
        checked += 1;
    }
    assert!(checked >= 15, "only {checked} command lines found");
}

#[test]
fn command_lines_that_need_no_cluster_run_as_the_readme_says() {
    let root = workspace_root();
    let scratch = scratch_root(&root);
    let binaries = plugin_binaries();
    let mut ran = 0;
    for shown in shown_commands() {
        let Some((command, args)) = plugin_args(&shown.text) else {
            continue;
        };
        // Runnable here: reads only files of the repository (-f with paths that exist).
        let inputs: Vec<&String> = args
            .iter()
            .zip(args.iter().skip(1))
            .filter(|(flag, _)| *flag == "-f" || *flag == "--filename")
            .map(|(_, path)| path)
            .collect();
        if inputs.is_empty() || !inputs.iter().all(|p| root.join(p).exists()) {
            continue;
        }
        let at = format!("{}:{}: {}", shown.file, shown.line, shown.text);
        let binary = &binaries[&format!("kubectl-appmesh2istio-{command}")];
        let out = Command::new(binary)
            .args(&args)
            .current_dir(scratch.path())
            .env("NO_COLOR", "1")
            .env("COLUMNS", "100")
            .output()
            .unwrap();
        let code = out.status.code();
        // 0 done, 3 partial (convert), 5 checks found something (precheck): each a result.
        assert!(
            matches!(code, Some(0 | 3 | 5)),
            "{at}: exit {code:?}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(!out.stdout.is_empty(), "{at}: nothing on stdout");
        ran += 1;
    }
    assert!(ran >= 1, "no README command runs without a cluster");
}

/// What the README says about converting the example app is what convert does with it.
#[test]
fn the_example_conversion_is_what_the_readme_says() {
    let root = workspace_root();
    let scratch = scratch_root(&root);
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let convert = &plugin_binaries()["kubectl-appmesh2istio-convert"];
    let out = Command::new(convert)
        .args(["-f", "examples/shop/app.yaml", "--install"])
        .current_dir(scratch.path())
        .env("NO_COLOR", "1")
        .env("COLUMNS", "100")
        .output()
        .unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    let objects = stdout.lines().filter(|l| l.starts_with("kind: ")).count();
    assert!(
        readme.contains(&format!(
            "`istio.yaml` then holds {objects} Istio objects and the exit code is {}",
            out.status.code().unwrap()
        )),
        "README's object count or exit code is out of date ({objects} objects, exit {:?})",
        out.status.code()
    );
    // The IstioOperator is in the file the README names, not in the stream.
    let operator = "istio-install/istio-operator.yaml";
    assert!(readme.contains(&format!("`{operator}`")));
    let written = std::fs::read_to_string(scratch.path().join(operator)).unwrap();
    assert!(written.contains("\nkind: IstioOperator\n"), "{written}");
    assert!(!stdout.contains("kind: IstioOperator"));
    // The summary line of the excerpt is the one printed.
    let summary = stderr
        .lines()
        .find(|l| l.contains(" source objects: "))
        .unwrap_or_else(|| panic!("{stderr}"));
    assert!(
        readme.contains(summary),
        "README's excerpt summary differs from:\n{summary}"
    );
    // And the excerpt's lines are lines of the report at COLUMNS=100.
    let start = readme
        .find("VirtualNode shop-payments/payments-v1 (examples")
        .unwrap();
    let excerpt = &readme[start..readme[start..].find("...").unwrap() + start];
    for line in excerpt.lines() {
        assert!(
            stderr.lines().any(|l| l == line),
            "README excerpt line not in the report: {line:?}"
        );
    }
}
