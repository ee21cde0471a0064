//! `kubectl appmesh2istio <command>` through the real kubectl binary, in the two ways a
//! user installs the plugin: krew (only the dispatcher linked onto PATH, its siblings in
//! krew's store) and a plain install (every binary on PATH).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Write as _;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use appmesh2istio_tests::{kubectls_or_skip, package_archive, plugin_binaries, workspace_root};

const VERSION: &str = env!("CARGO_PKG_VERSION");
const COMMANDS: [&str; 5] = ["precheck", "convert", "label", "rollout", "cleanup"];

#[derive(Debug, PartialEq)]
struct Output {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

fn run(cmd: &mut Command, stdin: &str) -> Output {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {cmd:?}: {e}"));
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    Output {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// kubectl with PATH = `path` only, as in a shell where just that directory holds plugins.
fn kubectl(kubectl: &Path, path: &Path, args: &[&str]) -> Output {
    kubectl_stdin(kubectl, path, args, "")
}

fn kubectl_stdin(kubectl: &Path, path: &Path, args: &[&str], stdin: &str) -> Output {
    run(Command::new(kubectl).args(args).env("PATH", path), stdin)
}

fn direct(binary: &Path, args: &[&str]) -> Output {
    run(Command::new(binary).args(args), "")
}

fn fixture() -> String {
    workspace_root()
        .join("tests/fixtures/plugin/web-service.yaml")
        .display()
        .to_string()
}

/// What `kubectl krew install appmesh2istio` leaves behind: the archive unpacked in
/// `store/appmesh2istio/v<version>/`, and only `bin/kubectl-appmesh2istio` (a symlink
/// into the store) for PATH.
struct KrewInstall {
    _tmp: tempfile::TempDir,
    store: PathBuf,
    bin: PathBuf,
}

/// The release archive of this build, packaged once for all tests of this file.
fn archive() -> &'static Path {
    static ARCHIVE: OnceLock<PathBuf> = OnceLock::new();
    ARCHIVE.get_or_init(|| {
        package_archive(&Path::new(env!("CARGO_TARGET_TMPDIR")).join("plugin_kubectl-dist"))
    })
}

fn krew_install() -> KrewInstall {
    let tmp = tempfile::tempdir().unwrap();
    let archive = archive();
    let store = tmp.path().join(format!("store/appmesh2istio/v{VERSION}"));
    let bin = tmp.path().join("bin");
    std::fs::create_dir_all(&store).unwrap();
    std::fs::create_dir_all(&bin).unwrap();
    let untar = Command::new("tar")
        .arg("-xzf")
        .arg(archive)
        .arg("-C")
        .arg(&store)
        .status()
        .unwrap();
    assert!(untar.success(), "tar -xzf {}", archive.display());
    std::os::unix::fs::symlink(
        store.join("kubectl-appmesh2istio"),
        bin.join("kubectl-appmesh2istio"),
    )
    .unwrap();
    KrewInstall {
        _tmp: tmp,
        store,
        bin,
    }
}

fn assert_lists_commands(out: &Output) {
    assert_eq!(out.code, Some(0), "{out:?}");
    for name in COMMANDS.iter().chain(&["version"]) {
        let line = out
            .stdout
            .lines()
            .find(|l| l.split_whitespace().next() == Some(name))
            .unwrap_or_else(|| panic!("no line for {name} in:\n{}", out.stdout));
        // The name, then a one-line description of at least a few words.
        assert!(
            line.split_whitespace().count() >= 4,
            "no description for {name}: {line:?}"
        );
    }
}

#[test]
fn krew_layout_lists_the_commands() {
    for k in kubectls_or_skip("krew_layout_lists_the_commands") {
        let krew = krew_install();
        let bare = kubectl(&k, &krew.bin, &["appmesh2istio"]);
        assert_lists_commands(&bare);
        assert!(
            bare.stdout
                .contains("Usage: kubectl appmesh2istio <COMMAND>")
        );
        assert_eq!(kubectl(&k, &krew.bin, &["appmesh2istio", "--help"]), bare);
    }
}

#[test]
fn krew_layout_runs_convert_from_the_store() {
    for k in kubectls_or_skip("krew_layout_runs_convert_from_the_store") {
        let krew = krew_install();
        let convert = krew.store.join("kubectl-appmesh2istio-convert");
        let fixture = fixture();

        let help = kubectl(&k, &krew.bin, &["appmesh2istio", "convert", "--help"]);
        assert_eq!(help.code, Some(0), "{help:?}");
        assert!(help.stdout.contains("convert"), "{help:?}");
        assert_eq!(help, direct(&convert, &["--help"]));

        let yaml = kubectl(&k, &krew.bin, &["appmesh2istio", "convert", "-f", &fixture]);
        assert_eq!(yaml.code, Some(0), "{yaml:?}");
        assert!(yaml.stdout.contains("kind:"), "{yaml:?}");
        assert_eq!(yaml, direct(&convert, &["-f", &fixture]));

        // A failure keeps its exact exit code and message through kubectl and the dispatcher.
        let missing = kubectl(
            &k,
            &krew.bin,
            &["appmesh2istio", "convert", "-f", "/nonexistent"],
        );
        assert_ne!(missing.code, Some(0), "{missing:?}");
        assert!(missing.code.is_some(), "killed by a signal: {missing:?}");
        assert_eq!(missing, direct(&convert, &["-f", "/nonexistent"]));
    }
}

#[test]
fn krew_layout_passes_arguments_stdin_and_exit_code_verbatim() {
    for k in kubectls_or_skip("krew_layout_passes_arguments_stdin_and_exit_code_verbatim") {
        let krew = krew_install();
        // A stand-in for a command binary that shows exactly what it was given.
        let fake = krew.store.join("kubectl-appmesh2istio-label");
        let _ = std::fs::remove_file(&fake);
        std::fs::write(
            &fake,
            "#!/bin/sh\nfor a in \"$@\"; do printf '[%s]\\n' \"$a\"; done\nread -r line; echo \"stdin: $line\"\necho oops >&2\nexit 7\n",
        )
        .unwrap();
        std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).unwrap();

        let out = kubectl_stdin(
            &k,
            &krew.bin,
            &[
                "appmesh2istio",
                "label",
                "-n",
                "x",
                "--context=y",
                "--",
                "two words",
                "",
            ],
            "hello",
        );
        assert_eq!(
            out,
            Output {
                code: Some(7),
                stdout: "[-n]\n[x]\n[--context=y]\n[--]\n[two words]\n[]\nstdin: hello\n".into(),
                stderr: "oops\n".into(),
            }
        );
    }
}

#[test]
fn krew_layout_runs_rollout_through_kubectl() {
    for k in kubectls_or_skip("krew_layout_runs_rollout_through_kubectl") {
        assert!(
            plugin_binaries().contains_key("kubectl-appmesh2istio-rollout"),
            "the workspace builds kubectl-appmesh2istio-rollout, so the archive holds it"
        );
        let krew = krew_install();
        let rollout = krew.store.join("kubectl-appmesh2istio-rollout");
        let out = kubectl(&k, &krew.bin, &["appmesh2istio", "rollout", "--help"]);
        assert_eq!(out.code, Some(0), "{out:?}");
        assert!(
            out.stdout.contains("kubectl appmesh2istio rollout"),
            "{out:?}"
        );
        assert!(out.stdout.contains("--strategy"), "{out:?}");
        assert_eq!(out, direct(&rollout, &["--help"]));
        // A usage error keeps clap's exit code through the dispatcher.
        let bad = kubectl(
            &k,
            &krew.bin,
            &["appmesh2istio", "rollout", "--batch-size", "2"],
        );
        assert_eq!(bad.code, Some(2), "{bad:?}");
        assert!(bad.stderr.contains("--strategy phased"), "{bad:?}");
    }
}

#[test]
fn krew_layout_runs_precheck_or_reports_it_is_not_installed() {
    for k in kubectls_or_skip("krew_layout_runs_precheck_or_reports_it_is_not_installed") {
        let krew = krew_install();
        let precheck = krew.store.join("kubectl-appmesh2istio-precheck");
        let args = ["appmesh2istio", "precheck", "--help"];
        if plugin_binaries().contains_key("kubectl-appmesh2istio-precheck") {
            let out = kubectl(&k, &krew.bin, &args);
            assert_eq!(out.code, Some(0), "{out:?}");
            assert!(
                out.stdout.contains("kubectl appmesh2istio precheck"),
                "{out:?}"
            );
            assert_eq!(out, direct(&precheck, &["--help"]));
            // From here on a partial install, so that the error below is always checked.
            std::fs::remove_file(&precheck).unwrap();
        }
        let out = kubectl(&k, &krew.bin, &args);
        assert_eq!(out.code, Some(127), "{out:?}");
        assert_eq!(out.stdout, "");
        let store = krew.store.canonicalize().unwrap();
        assert!(
            out.stderr
                .starts_with("error: 'kubectl appmesh2istio precheck' is not installed"),
            "{}",
            out.stderr
        );
        assert!(
            out.stderr.contains(&format!(
                "beside kubectl-appmesh2istio in {}",
                store.display()
            )),
            "{}",
            out.stderr
        );
        assert!(
            out.stderr
                .contains(&format!("nor on PATH={}", krew.bin.display())),
            "{}",
            out.stderr
        );
    }
}

#[test]
fn flags_before_the_command_are_rejected_by_kubectl_or_the_dispatcher() {
    for k in kubectls_or_skip("flags_before_the_command_are_rejected") {
        let krew = krew_install();
        // Before the plugin name: kubectl itself refuses.
        let out = kubectl(&k, &krew.bin, &["-n", "x", "appmesh2istio", "convert"]);
        assert_eq!(out.code, Some(1), "{out:?}");
        assert!(
            out.stderr
                .contains("flags cannot be placed before plugin name: -n"),
            "{out:?}"
        );
        // Between plugin name and command: kubectl stops its name scan at the flag and runs
        // the dispatcher, which refuses with the corrected command line.
        let out = kubectl(&k, &krew.bin, &["appmesh2istio", "-n", "x", "convert"]);
        assert_eq!(out.code, Some(2), "{out:?}");
        assert_eq!(out.stdout, "");
        assert!(
            out.stderr
                .starts_with("error: flags must follow the subcommand: '-n' came before it\n"),
            "{out:?}"
        );
        assert!(
            out.stderr
                .contains("try: kubectl appmesh2istio convert -n x\n"),
            "{out:?}"
        );
    }
}

#[test]
fn krew_layout_version_lists_every_binary() {
    for k in kubectls_or_skip("krew_layout_version_lists_every_binary") {
        let krew = krew_install();
        let out = kubectl(&k, &krew.bin, &["appmesh2istio", "version"]);
        assert_eq!(out.code, Some(0), "{out:?}");
        assert_eq!(out.stderr, "", "all binaries come from one build");
        let store = krew.store.canonicalize().unwrap();
        let lines: Vec<Vec<&str>> = out
            .stdout
            .lines()
            .map(|l| l.split_whitespace().collect())
            .collect();
        assert_eq!(lines.len(), 1 + COMMANDS.len(), "{}", out.stdout);
        let dispatcher = store.join("kubectl-appmesh2istio").display().to_string();
        assert_eq!(
            lines[0],
            ["kubectl-appmesh2istio", VERSION, dispatcher.as_str()]
        );
        for (line, command) in lines[1..].iter().zip(COMMANDS) {
            let name = format!("kubectl-appmesh2istio-{command}");
            if plugin_binaries().contains_key(&name) {
                let path = store.join(&name).display().to_string();
                assert_eq!(line, &[name.as_str(), VERSION, path.as_str()]);
            } else {
                assert_eq!(line, &[name.as_str(), "not", "installed"]);
            }
        }
    }
}

#[test]
fn krew_layout_plugin_list_shows_one_plugin_without_warnings() {
    for k in kubectls_or_skip("krew_layout_plugin_list_shows_one_plugin_without_warnings") {
        let krew = krew_install();
        let out = kubectl(&k, &krew.bin, &["plugin", "list"]);
        assert_eq!(out.code, Some(0), "{out:?}");
        let listed: Vec<&str> = out.stdout.lines().filter(|l| l.starts_with('/')).collect();
        let link = krew.bin.join("kubectl-appmesh2istio").display().to_string();
        assert_eq!(listed, [link.as_str()], "{out:?}");
        assert!(
            !format!("{}{}", out.stdout, out.stderr).contains("warning"),
            "{out:?}"
        );
    }
}

/// Every binary in one directory on PATH, as a tarball or `cargo install` leaves them.
fn flat_install(dir: &Path, with_dispatcher: bool) {
    std::fs::create_dir_all(dir).unwrap();
    for (name, path) in plugin_binaries() {
        if with_dispatcher || name != "kubectl-appmesh2istio" {
            std::fs::copy(path, dir.join(name)).unwrap();
        }
    }
}

#[test]
fn without_krew_kubectl_runs_the_command_binary_directly() {
    for k in kubectls_or_skip("without_krew_kubectl_runs_the_command_binary_directly") {
        let tmp = tempfile::tempdir().unwrap();
        let all = tmp.path().join("all");
        let nested_only = tmp.path().join("nested-only");
        flat_install(&all, true);
        flat_install(&nested_only, false);
        let fixture = fixture();
        let expected = direct(
            &all.join("kubectl-appmesh2istio-convert"),
            &["-f", &fixture],
        );
        assert_eq!(expected.code, Some(0), "{expected:?}");
        assert!(expected.stdout.contains("kind:"), "{expected:?}");

        let args = ["appmesh2istio", "convert", "-f", fixture.as_str()];
        assert_eq!(kubectl(&k, &all, &args), expected);
        // Without the dispatcher the command still runs: kubectl found the nested binary
        // itself. Only the bare plugin name needs the dispatcher.
        assert_eq!(kubectl(&k, &nested_only, &args), expected);
        let bare = kubectl(&k, &nested_only, &["appmesh2istio"]);
        assert_eq!(bare.code, Some(1), "{bare:?}");
        assert!(bare.stderr.contains("unknown command"), "{bare:?}");
        assert_lists_commands(&kubectl(&k, &all, &["appmesh2istio"]));

        let list = kubectl(&k, &all, &["plugin", "list"]);
        assert_eq!(list.code, Some(0), "{list:?}");
        let mut listed: Vec<&str> = list.stdout.lines().filter(|l| l.starts_with('/')).collect();
        listed.sort_unstable();
        let expected: Vec<String> = plugin_binaries()
            .keys()
            .map(|name| all.join(name).display().to_string())
            .collect();
        assert_eq!(listed, expected, "{list:?}");
        assert!(
            !format!("{}{}", list.stdout, list.stderr).contains("warning"),
            "{list:?}"
        );
    }
}

/// kubectl's minor version, from `kubectl version --client -o json`.
fn kubectl_minor(k: &Path) -> u32 {
    let out = direct(k, &["version", "--client", "-o", "json"]);
    let v: serde_json::Value = serde_json::from_str(&out.stdout)
        .unwrap_or_else(|e| panic!("kubectl version: {e}: {out:?}"));
    let minor = v["clientVersion"]["minor"].as_str().unwrap_or_default();
    // Vendor builds say e.g. "33+".
    minor.trim_end_matches('+').parse().unwrap_or(0)
}

#[test]
fn completion_helper_lists_the_commands() {
    for k in kubectls_or_skip("completion_helper_lists_the_commands") {
        let krew = krew_install();
        let helper = krew.store.join("kubectl_complete-appmesh2istio");
        // The helper finds the dispatcher on PATH, as it does once a user links it there.
        let out = run(Command::new(&helper).arg("con").env("PATH", &krew.bin), "");
        assert_eq!(out.code, Some(0), "{out:?}");
        assert_eq!(
            out.stdout,
            "convert\tConvert App Mesh resources into Istio resources\n:4\n"
        );
        // Past the command word, the command's own binary answers with its flags and values.
        let flags = run(
            Command::new(&helper)
                .args(["rollout", "--strat"])
                .env("PATH", &krew.bin),
            "",
        );
        assert_eq!(flags.code, Some(0), "{flags:?}");
        assert!(
            flags.stdout.starts_with("--strategy\t") && flags.stdout.ends_with("\n:4\n"),
            "{flags:?}"
        );
        let values = run(
            Command::new(&helper)
                .args(["rollout", "--strategy", ""])
                .env("PATH", &krew.bin),
            "",
        );
        let names: Vec<&str> = values
            .stdout
            .lines()
            .filter_map(|l| l.split('\t').next())
            .collect();
        assert_eq!(names, ["in-place", "phased", "canary", ":4"], "{values:?}");

        // kubectl asks plugins' completion helpers since 1.26.
        let minor = kubectl_minor(&k);
        if minor < 26 {
            eprintln!(
                "completion through kubectl not checked: kubectl 1.{minor} predates plugin completion (1.26)"
            );
            continue;
        }
        std::os::unix::fs::symlink(&helper, krew.bin.join("kubectl_complete-appmesh2istio"))
            .unwrap();
        let out = kubectl(&k, &krew.bin, &["__complete", "appmesh2istio", ""]);
        assert_eq!(out.code, Some(0), "{out:?}");
        let names: Vec<&str> = out
            .stdout
            .lines()
            .filter_map(|l| l.split('\t').next())
            .collect();
        assert_eq!(
            names,
            [
                "precheck", "convert", "label", "rollout", "cleanup", "version", "help", ":4"
            ],
            "{out:?}"
        );
        let out = kubectl(
            &k,
            &krew.bin,
            &["__complete", "appmesh2istio", "convert", "-o", ""],
        );
        assert_eq!(out.code, Some(0), "{out:?}");
        let names: Vec<&str> = out
            .stdout
            .lines()
            .filter_map(|l| l.split('\t').next())
            .collect();
        assert!(
            names.contains(&"yaml") && names.contains(&"json") && names.last() == Some(&":4"),
            "{out:?}"
        );
    }
}
