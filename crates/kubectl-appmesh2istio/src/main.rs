//! `kubectl-appmesh2istio`: the dispatcher behind `kubectl appmesh2istio <command>`.
//!
//! krew links exactly one binary per plugin onto PATH. With a krew install, kubectl
//! therefore cannot find `kubectl-appmesh2istio-precheck` itself and falls back to this
//! binary with `precheck ...` as arguments. We look for the sibling beside our own
//! resolved path (krew's store directory), then on PATH, and replace this process with
//! it, so the arguments, exit code, signals, stdin and terminal are the sibling's own.
//! When every binary is on PATH (tarball, `cargo install`), kubectl runs the sibling
//! directly and this binary only answers help, `version` and completion.
//!
//! Exit codes of the dispatcher itself (any other code comes from the command binary):
//! * 0: help, version or completion printed;
//! * 2: usage error (unknown command, or a flag before the command), like clap;
//! * 126: the command's binary was found but could not be started (as in a shell);
//! * 127: the command's binary was not found (as in a shell).
//!
//! It depends on std only: it should stay small and start instantly.

use std::env;
use std::ffi::{OsStr, OsString};
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

const PLUGIN: &str = "kubectl-appmesh2istio";
const VERSION: &str = env!("CARGO_PKG_VERSION");

/// Commands implemented by a `kubectl-appmesh2istio-<name>` binary.
const COMMANDS: &[(&str, &str)] = &[
    (
        "precheck",
        "Check that a cluster is ready to move from App Mesh to Istio",
    ),
    ("convert", "Convert App Mesh resources into Istio resources"),
    (
        "label",
        "Switch namespace sidecar-injection labels from App Mesh to Istio",
    ),
    (
        "rollout",
        "Restart workloads so their pods get the Istio sidecar",
    ),
    ("cleanup", "Remove App Mesh from a migrated cluster, safely"),
];

/// Commands the dispatcher answers itself.
const BUILTINS: &[(&str, &str)] = &[
    (
        "version",
        "Print the version of every appmesh2istio binary found",
    ),
    (
        "help",
        "Print this message or the help of the given command",
    ),
];

const EXIT_USAGE: u8 = 2;
const EXIT_CANNOT_RUN: u8 = 126;
const EXIT_NOT_FOUND: u8 = 127;

/// cobra's `ShellCompDirectiveNoFileComp`: offer only the candidates given.
const COMP_NO_FILE: u8 = 4;

#[derive(Debug, PartialEq)]
enum Action {
    Help,
    Version,
    Run {
        command: &'static str,
        args: Vec<OsString>,
    },
    Complete(Vec<String>),
    FlagFirst {
        flag: String,
        suggestion: Option<String>,
    },
    Unknown(String),
}

fn main() -> ExitCode {
    let args: Vec<OsString> = env::args_os().skip(1).collect();
    match parse(&args) {
        Action::Help => {
            stdout(&usage());
            ExitCode::SUCCESS
        }
        Action::Version => version(),
        Action::Run { command, args } => run(command, &args),
        Action::Complete(words) => {
            stdout(&complete(&words));
            ExitCode::SUCCESS
        }
        Action::FlagFirst { flag, suggestion } => {
            // kubectl stops its plugin-name scan at the first flag, so
            // `kubectl appmesh2istio -n x precheck` lands here instead of in precheck.
            let mut msg =
                format!("error: flags must follow the subcommand: '{flag}' came before it\n");
            if let Some(s) = suggestion {
                let _ = writeln!(msg, "  try: {s}");
            }
            msg.push_str("Run 'kubectl appmesh2istio --help' for the list of commands.\n");
            stderr(&msg);
            ExitCode::from(EXIT_USAGE)
        }
        Action::Unknown(name) => {
            stderr(&format!("error: unknown command '{name}'\n\n{}", usage()));
            ExitCode::from(EXIT_USAGE)
        }
    }
}

fn parse(args: &[OsString]) -> Action {
    let Some((first, rest)) = args.split_first() else {
        return Action::Help;
    };
    let first_str = first.to_string_lossy();
    match first_str.as_ref() {
        "-h" | "--help" => Action::Help,
        "-V" | "--version" | "version" => Action::Version,
        "help" => match rest.first() {
            None => Action::Help,
            Some(name) => match command(name) {
                Some(command) => Action::Run {
                    command,
                    args: vec![OsString::from("--help")],
                },
                None if BUILTINS.iter().any(|(b, _)| name == *b) => Action::Help,
                None => Action::Unknown(name.to_string_lossy().into_owned()),
            },
        },
        "__complete" => Action::Complete(
            rest.iter()
                .map(|w| w.to_string_lossy().into_owned())
                .collect(),
        ),
        flag if flag.starts_with('-') => Action::FlagFirst {
            flag: flag.to_owned(),
            suggestion: suggest(args),
        },
        _ => match command(first) {
            Some(command) => Action::Run {
                command,
                args: rest.to_vec(),
            },
            None => Action::Unknown(first_str.into_owned()),
        },
    }
}

fn command(name: &OsStr) -> Option<&'static str> {
    COMMANDS
        .iter()
        .map(|(c, _)| *c)
        .find(|c| OsStr::new(c) == name)
}

/// For `-n x precheck --foo`, the command line the user most likely meant.
fn suggest(args: &[OsString]) -> Option<String> {
    let at = args.iter().position(|a| command(a).is_some())?;
    let mut line = format!("kubectl appmesh2istio {}", args.get(at)?.to_string_lossy());
    for (i, arg) in args.iter().enumerate() {
        if i != at {
            line.push(' ');
            line.push_str(&arg.to_string_lossy());
        }
    }
    Some(line)
}

fn usage() -> String {
    let mut s = String::from(
        "kubectl appmesh2istio: migrate a Kubernetes cluster from AWS App Mesh to Istio\n\n\
         Usage: kubectl appmesh2istio <COMMAND> [ARGS]...\n\nCommands:\n",
    );
    for (name, about) in COMMANDS.iter().chain(BUILTINS) {
        let _ = writeln!(s, "  {name:<9} {about}");
    }
    s.push_str(
        "\nFlags go after the command, e.g. 'kubectl appmesh2istio precheck -n my-namespace'.\n\
         Run 'kubectl appmesh2istio <COMMAND> --help' for the flags of a command.\n",
    );
    s
}

/// Answers kubectl's completion helper (`kubectl_complete-appmesh2istio`, kubectl 1.26+),
/// which passes the words typed after `kubectl appmesh2istio`, the last one being the
/// word under completion. Output is cobra's: `candidate<TAB>description` lines, then
/// `:<directive>`. Only commands whose binary is installed are offered; past the command
/// word, the command's own binary answers (`<binary> __complete <words>`) from its flag
/// definitions, so the candidates are exactly the flags that binary has.
fn complete(words: &[String]) -> String {
    let own = own_dir();
    let path_var = env::var_os("PATH");
    let dirs = search_dirs(own.as_deref().ok(), path_var.as_deref());
    let locate = |command: &str| find(&binary_name(command), &dirs);
    complete_with(
        words,
        &|command| locate(command).is_some(),
        &|command, rest| {
            let path = locate(command)?;
            let answer = Command::new(path)
                .arg("__complete")
                .args(rest)
                .stdin(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .output()
                .ok()?;
            let text = String::from_utf8(answer.stdout).ok()?;
            // Only a well-formed answer is passed on: an older binary without completion
            // fails on the unknown argument, and its error must not become candidates.
            (answer.status.success() && text.lines().last().is_some_and(|l| l.starts_with(':')))
                .then_some(text)
        },
    )
}

fn complete_with(
    words: &[String],
    installed: &dyn Fn(&str) -> bool,
    delegate: &dyn Fn(&str, &[String]) -> Option<String>,
) -> String {
    let mut out = String::new();
    let offer = |out: &mut String, prefix: &str, list: &[(&str, &str)], check: bool| {
        for (name, about) in list {
            if name.starts_with(prefix) && (!check || installed(name)) {
                let _ = writeln!(out, "{name}\t{about}");
            }
        }
    };
    match words {
        [] | [_] => {
            let prefix = words.first().map_or("", String::as_str);
            offer(&mut out, prefix, COMMANDS, true);
            offer(&mut out, prefix, BUILTINS, false);
        }
        [help, prefix] if help == "help" => offer(&mut out, prefix, COMMANDS, true),
        [first, rest @ ..] => {
            if let Some(command) = command(OsStr::new(first))
                && let Some(answer) = delegate(command, rest)
            {
                return answer;
            }
        }
    }
    let _ = writeln!(out, ":{COMP_NO_FILE}");
    out
}

fn binary_name(command: &str) -> String {
    format!("{PLUGIN}-{command}{}", env::consts::EXE_SUFFIX)
}

/// The real file behind this process. krew runs us through a symlink in `~/.krew/bin`;
/// the siblings live beside the link's target in krew's store.
fn own_exe() -> Result<PathBuf, String> {
    let exe = env::current_exe().map_err(|e| format!("cannot tell where this binary is: {e}"))?;
    exe.canonicalize()
        .map_err(|e| format!("cannot resolve {}: {e}", exe.display()))
}

fn own_dir() -> Result<PathBuf, String> {
    let exe = own_exe()?;
    exe.parent()
        .map(Path::to_path_buf)
        .ok_or_else(|| format!("{} has no parent directory", exe.display()))
}

/// Own directory first, so a krew install runs the siblings of its own release even when
/// an older copy sits on PATH; then PATH in order, as kubectl searches it.
fn search_dirs(own: Option<&Path>, path_var: Option<&OsStr>) -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = own.map(Path::to_path_buf).into_iter().collect();
    for dir in path_var.map(env::split_paths).into_iter().flatten() {
        if !dir.as_os_str().is_empty() && !dirs.contains(&dir) {
            dirs.push(dir);
        }
    }
    dirs
}

fn find(file: &str, dirs: &[PathBuf]) -> Option<PathBuf> {
    dirs.iter().map(|d| d.join(file)).find(|p| is_executable(p))
}

#[cfg(unix)]
fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    path.metadata()
        .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

#[cfg(not(unix))]
fn is_executable(path: &Path) -> bool {
    path.is_file()
}

fn run(command: &str, args: &[OsString]) -> ExitCode {
    let own = own_dir();
    let path_var = env::var_os("PATH");
    let file = binary_name(command);
    let dirs = search_dirs(own.as_deref().ok(), path_var.as_deref());
    match find(&file, &dirs) {
        Some(path) => exec(&path, args),
        None => {
            stderr(&not_found(command, &file, &own, path_var.as_deref()));
            ExitCode::from(EXIT_NOT_FOUND)
        }
    }
}

fn not_found(
    command: &str,
    file: &str,
    own: &Result<PathBuf, String>,
    path_var: Option<&OsStr>,
) -> String {
    let beside = match own {
        Ok(dir) => dir.display().to_string(),
        Err(why) => format!("(unknown: {why})"),
    };
    let path = path_var.map_or_else(
        || "(PATH is not set)".to_owned(),
        |p| p.to_string_lossy().into_owned(),
    );
    format!(
        "error: 'kubectl appmesh2istio {command}' is not installed: no executable {file}\n  \
         beside {PLUGIN} in {beside}\n  \
         nor on PATH={path}\n\
         Install a complete appmesh2istio release: all {PLUGIN}* binaries belong in one directory.\n"
    )
}

#[cfg(unix)]
fn exec(path: &Path, args: &[OsString]) -> ExitCode {
    use std::os::unix::process::CommandExt;
    // Only returns on failure; on success the sibling replaces this process.
    let err = Command::new(path).args(args).exec();
    stderr(&format!("error: cannot run {}: {err}\n", path.display()));
    ExitCode::from(EXIT_CANNOT_RUN)
}

#[cfg(not(unix))]
fn exec(path: &Path, args: &[OsString]) -> ExitCode {
    // No exec on Windows: run the sibling with our stdio and hand back its exit code.
    match Command::new(path).args(args).status() {
        Ok(status) => std::process::exit(status.code().unwrap_or(1)),
        Err(err) => {
            stderr(&format!("error: cannot run {}: {err}\n", path.display()));
            ExitCode::from(EXIT_CANNOT_RUN)
        }
    }
}

fn version() -> ExitCode {
    let own = own_dir();
    let path_var = env::var_os("PATH");
    let dirs = search_dirs(own.as_deref().ok(), path_var.as_deref());
    let width = PLUGIN.len() + 1 + COMMANDS.iter().map(|(c, _)| c.len()).max().unwrap_or(0);
    let here = own_exe().map_or_else(|why| why, |p| p.display().to_string());
    let mut out = format!("{PLUGIN:<width$}  {VERSION}  {here}\n");
    let mut differs = false;
    for (command, _) in COMMANDS {
        let name = format!("{PLUGIN}-{command}");
        let Some(path) = find(&binary_name(command), &dirs) else {
            let _ = writeln!(out, "{name:<width$}  not installed");
            continue;
        };
        let answer = Command::new(&path).arg("--version").output();
        let found = answer
            .as_ref()
            .ok()
            .filter(|o| o.status.success())
            .and_then(|o| parse_version(&String::from_utf8_lossy(&o.stdout)));
        match found {
            Some(v) => {
                differs |= v != VERSION;
                let _ = writeln!(out, "{name:<width$}  {v}  {}", path.display());
            }
            None => {
                let why = match answer {
                    Ok(o) if o.status.success() => "'--version' printed no version".to_owned(),
                    Ok(o) => format!("'--version' failed: {}", o.status),
                    Err(e) => format!("cannot run: {e}"),
                };
                let _ = writeln!(out, "{name:<width$}  unknown  {} ({why})", path.display());
            }
        }
    }
    stdout(&out);
    if differs {
        stderr(
            "warning: the binaries come from different releases; install one release in one \
             directory and remove other copies from PATH\n",
        );
    }
    ExitCode::SUCCESS
}

/// clap prints `<name> <version>`; the name may contain spaces (`kubectl appmesh2istio convert`).
fn parse_version(stdout: &str) -> Option<String> {
    let last = stdout.lines().next()?.split_whitespace().last()?;
    last.starts_with(|c: char| c.is_ascii_digit())
        .then(|| last.to_owned())
}

// Write errors (a closed pipe, as in `kubectl appmesh2istio | head -1`) are ignored:
// print! would panic on them.
fn stdout(s: &str) {
    let _ = std::io::stdout().lock().write_all(s.as_bytes());
}

fn stderr(s: &str) {
    let _ = std::io::stderr().lock().write_all(s.as_bytes());
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    fn args(a: &[&str]) -> Vec<OsString> {
        a.iter().map(OsString::from).collect()
    }

    #[test]
    fn known_commands_pass_all_arguments_through_unchanged() {
        let a = args(&["precheck", "-n", "x", "--", "--weird", "two words"]);
        assert_eq!(
            parse(&a),
            Action::Run {
                command: "precheck",
                args: args(&["-n", "x", "--", "--weird", "two words"]),
            }
        );
    }

    #[test]
    fn help_forms() {
        assert_eq!(parse(&[]), Action::Help);
        assert_eq!(parse(&args(&["--help"])), Action::Help);
        assert_eq!(parse(&args(&["-h"])), Action::Help);
        assert_eq!(parse(&args(&["help"])), Action::Help);
        assert_eq!(parse(&args(&["help", "version"])), Action::Help);
        assert_eq!(
            parse(&args(&["help", "rollout"])),
            Action::Run {
                command: "rollout",
                args: args(&["--help"]),
            }
        );
        assert_eq!(
            parse(&args(&["help", "nope"])),
            Action::Unknown("nope".into())
        );
    }

    #[test]
    fn version_forms() {
        for v in ["version", "--version", "-V"] {
            assert_eq!(parse(&args(&[v])), Action::Version, "{v}");
        }
    }

    #[test]
    fn unknown_command_is_a_usage_error_not_a_lookup() {
        assert_eq!(
            parse(&args(&["status", "-n", "x"])),
            Action::Unknown("status".into())
        );
        // A name that merely starts like a command is not one.
        assert_eq!(parse(&args(&["pre"])), Action::Unknown("pre".into()));
    }

    #[test]
    fn leading_flag_is_rejected_with_the_corrected_command_line() {
        assert_eq!(
            parse(&args(&["-n", "x", "precheck", "-o", "json"])),
            Action::FlagFirst {
                flag: "-n".into(),
                suggestion: Some("kubectl appmesh2istio precheck -n x -o json".into()),
            }
        );
        assert_eq!(
            parse(&args(&["--context=y"])),
            Action::FlagFirst {
                flag: "--context=y".into(),
                suggestion: None,
            }
        );
    }

    #[test]
    fn usage_lists_every_command_on_one_line() {
        let u = usage();
        for (name, about) in COMMANDS.iter().chain(BUILTINS) {
            let line = u
                .lines()
                .find(|l| l.trim_start().starts_with(&format!("{name} ")))
                .unwrap_or_else(|| panic!("{name} missing from usage:\n{u}"));
            assert!(line.ends_with(about), "{line}");
        }
        assert!(!u.contains("__complete"));
    }

    fn ask(words: &[&str], missing: &[&str]) -> String {
        let words: Vec<String> = words.iter().map(|w| (*w).to_owned()).collect();
        complete_with(&words, &|c| !missing.contains(&c), &|c, rest| {
            (c == "convert" && !missing.contains(&c))
                .then(|| format!("from {c}: {}\n:0\n", rest.join(" ")))
        })
    }

    #[test]
    fn completion_of_the_command_word() {
        assert_eq!(
            ask(&[""], &[]),
            "precheck\tCheck that a cluster is ready to move from App Mesh to Istio\n\
             convert\tConvert App Mesh resources into Istio resources\n\
             label\tSwitch namespace sidecar-injection labels from App Mesh to Istio\n\
             rollout\tRestart workloads so their pods get the Istio sidecar\n\
             cleanup\tRemove App Mesh from a migrated cluster, safely\n\
             version\tPrint the version of every appmesh2istio binary found\n\
             help\tPrint this message or the help of the given command\n:4\n"
        );
        assert_eq!(
            ask(&["r"], &[]),
            "rollout\tRestart workloads so their pods get the Istio sidecar\n:4\n"
        );
        assert_eq!(ask(&["zz"], &[]), ":4\n");
        assert_eq!(
            ask(&["help", "c"], &[]),
            "convert\tConvert App Mesh resources into Istio resources\n\
             cleanup\tRemove App Mesh from a migrated cluster, safely\n:4\n"
        );
    }

    #[test]
    fn commands_not_installed_are_not_offered() {
        assert_eq!(
            ask(&["c"], &["cleanup"]),
            "convert\tConvert App Mesh resources into Istio resources\n:4\n"
        );
        assert_eq!(ask(&["help", "cl"], &["cleanup"]), ":4\n");
        assert_eq!(ask(&["convert", "-f", ""], &["convert"]), ":4\n");
    }

    #[test]
    fn past_the_command_word_the_command_binary_answers() {
        assert_eq!(ask(&["convert", "-f", ""], &[]), "from convert: -f \n:0\n");
        // A command without an answer (an older binary) offers nothing rather than files.
        assert_eq!(ask(&["precheck", "--o"], &[]), ":4\n");
        assert_eq!(ask(&["nope", "--o"], &[]), ":4\n");
    }

    #[test]
    fn search_order_is_own_dir_then_path_without_duplicates_or_empty_entries() {
        let path = env::join_paths(["/p1", "", "/own", "/p2"]).unwrap();
        assert_eq!(
            search_dirs(Some(Path::new("/own")), Some(&path)),
            [PathBuf::from("/own"), "/p1".into(), "/p2".into()]
        );
        assert_eq!(search_dirs(None, None), Vec::<PathBuf>::new());
    }

    #[cfg(unix)]
    #[test]
    fn find_takes_the_first_executable_and_skips_non_executable_files() {
        use std::os::unix::fs::PermissionsExt;
        let tmp = tempfile::tempdir().unwrap();
        let (a, b, c) = (
            tmp.path().join("a"),
            tmp.path().join("b"),
            tmp.path().join("c"),
        );
        for d in [&a, &b, &c] {
            std::fs::create_dir(d).unwrap();
        }
        let file = "kubectl-appmesh2istio-label";
        std::fs::write(a.join(file), "").unwrap(); // not executable: skipped
        std::fs::create_dir(b.join(file)).unwrap(); // a directory: skipped
        let wanted = c.join(file);
        std::fs::write(&wanted, "").unwrap();
        std::fs::set_permissions(&wanted, std::fs::Permissions::from_mode(0o755)).unwrap();
        assert_eq!(find(file, &[a.clone(), b.clone(), c.clone()]), Some(wanted));
        assert_eq!(find(file, &[a, b]), None);
    }

    #[test]
    fn not_found_names_both_places_searched() {
        let msg = not_found(
            "precheck",
            "kubectl-appmesh2istio-precheck",
            &Ok(PathBuf::from("/store/appmesh2istio/v1")),
            Some(OsStr::new("/krew/bin")),
        );
        assert!(msg.starts_with("error: 'kubectl appmesh2istio precheck' is not installed"));
        assert!(msg.contains("no executable kubectl-appmesh2istio-precheck"));
        assert!(msg.contains("beside kubectl-appmesh2istio in /store/appmesh2istio/v1"));
        assert!(msg.contains("nor on PATH=/krew/bin"));
    }

    #[test]
    fn version_is_the_last_word_of_clap_output() {
        assert_eq!(
            parse_version("kubectl appmesh2istio convert 1.2.3\n").as_deref(),
            Some("1.2.3")
        );
        assert_eq!(
            parse_version("kubectl-appmesh2istio-label 0.1.0-rc.1").as_deref(),
            Some("0.1.0-rc.1")
        );
        assert_eq!(parse_version("error: unexpected argument\n"), None);
        assert_eq!(parse_version(""), None);
    }
}
