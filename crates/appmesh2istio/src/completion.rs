//! Shell completion of a command's flags, for kubectl's plugin completion.
//!
//! kubectl (1.26+) completes `kubectl appmesh2istio <words>` by running
//! `kubectl_complete-appmesh2istio __complete <words>`; the dispatcher passes the words after the
//! command name on to that command's binary as `kubectl-appmesh2istio-<command> __complete
//! <words>`, and the binary answers here from its own clap definition, so the candidates are
//! always the flags that binary really has. The answer is cobra's protocol, which kubectl's
//! completion scripts read: one `candidate<TAB>description` line per candidate, then
//! `:<directive>` (0: also offer file names; 4: offer nothing else).

use std::ffi::OsString;
use std::fmt::Write as _;
use std::process::ExitCode;

use clap::{Arg, ArgAction, Command, ValueHint};

/// The word that starts a completion request; never a valid first argument otherwise.
pub const REQUEST: &str = "__complete";

/// cobra's `ShellCompDirectiveDefault`: the shell may offer file names.
const FILES: u8 = 0;
/// cobra's `ShellCompDirectiveNoFileComp`: offer only the candidates given.
const NO_FILES: u8 = 4;

/// When this process was started as a completion request (`<binary> __complete <words>`),
/// prints the candidates for the last word on stdout and returns the exit code; otherwise
/// `None`, and the binary parses its arguments as usual. Call it first in `main`.
pub fn answer_if_asked(command: &Command) -> Option<ExitCode> {
    let mut args = std::env::args_os().skip(1);
    if args.next().as_deref() != Some(std::ffi::OsStr::new(REQUEST)) {
        return None;
    }
    let words: Vec<String> = args
        .map(|w: OsString| w.to_string_lossy().into_owned())
        .collect();
    // A closed pipe is not an error worth reporting to a shell's completion.
    let _ = crate::cli::write_stdout(&complete(command, &words));
    Some(ExitCode::SUCCESS)
}

/// The candidates for the last of `words` (the words typed after the command name; the last
/// one is the word under the cursor, empty after a space).
pub fn complete(command: &Command, words: &[String]) -> String {
    let (current, before) = match words.split_last() {
        Some((last, before)) => (last.as_str(), before),
        None => ("", &[][..]),
    };
    let mut out = String::new();
    // `--flag=partial`: the values of that flag, written with the flag in front.
    if let Some((name, partial)) = current.strip_prefix("--").and_then(|r| r.split_once('=')) {
        let directive = match long_arg(command, name) {
            Some(arg) => values(arg, partial, &format!("--{name}="), &mut out),
            None => NO_FILES,
        };
        return finish(out, directive);
    }
    // The word after a flag that takes a value is that value, unless the value is optional
    // (`--install [FORMAT]`) and the word is another flag.
    if let Some(arg) = before
        .last()
        .and_then(|prev| flag_waiting_for_value(command, prev))
        .filter(|arg| !(current.starts_with('-') && value_is_optional(arg)))
    {
        let directive = values(arg, current, "", &mut out);
        return finish(out, directive);
    }
    if current.starts_with('-') {
        let used = used_ids(command, before);
        for arg in command.get_arguments().filter(|a| !a.is_hide_set()) {
            let id = arg.get_id().as_str();
            if used.contains(&id) && !repeatable(arg) {
                continue;
            }
            let about = first_line(arg);
            if let Some(long) = arg.get_long() {
                let flag = format!("--{long}");
                if flag.starts_with(current) {
                    let _ = writeln!(out, "{flag}\t{about}");
                }
            }
            // Short forms only for a lone "-", as cobra does: "--" asks for long names.
            if current == "-"
                && let Some(short) = arg.get_short()
            {
                let _ = writeln!(out, "-{short}\t{about}");
            }
        }
        return finish(out, NO_FILES);
    }
    // None of the commands takes positional arguments: nothing else to offer.
    let takes_positional = command.get_positionals().next().is_some();
    finish(out, if takes_positional { FILES } else { NO_FILES })
}

fn finish(mut out: String, directive: u8) -> String {
    let _ = writeln!(out, ":{directive}");
    out
}

fn long_arg<'a>(command: &'a Command, name: &str) -> Option<&'a Arg> {
    command.get_arguments().find(|a| {
        a.get_long() == Some(name) || a.get_all_aliases().is_some_and(|al| al.contains(&name))
    })
}

/// The argument `word` names when it is a flag whose value comes as the next word
/// (`-n`, `--namespace`; not `--namespace=x`, not a switch).
fn flag_waiting_for_value<'a>(command: &'a Command, word: &str) -> Option<&'a Arg> {
    let arg = if let Some(long) = word.strip_prefix("--") {
        if long.contains('=') {
            return None;
        }
        long_arg(command, long)?
    } else {
        let mut chars = word.strip_prefix('-')?.chars();
        let short = chars.next()?;
        if chars.next().is_some() {
            // `-nshop`: the value is attached.
            return None;
        }
        command
            .get_arguments()
            .find(|a| a.get_short() == Some(short))?
    };
    takes_value(arg).then_some(arg)
}

fn takes_value(arg: &Arg) -> bool {
    matches!(arg.get_action(), ArgAction::Set | ArgAction::Append)
        && arg.get_num_args().is_none_or(|n| n.takes_values())
}

/// A flag that may be given bare or with a value (`num_args = 0..=1`).
fn value_is_optional(arg: &Arg) -> bool {
    arg.get_num_args().is_some_and(|n| n.min_values() == 0)
}

fn repeatable(arg: &Arg) -> bool {
    matches!(arg.get_action(), ArgAction::Append | ArgAction::Count)
}

/// Ids of the flags already on the line, so a flag is not offered twice.
fn used_ids<'a>(command: &'a Command, words: &[String]) -> Vec<&'a str> {
    let mut used = Vec::new();
    for word in words {
        let found = if let Some(long) = word.strip_prefix("--") {
            long_arg(command, long.split_once('=').map_or(long, |(n, _)| n))
        } else if let Some(short) = word.strip_prefix('-').and_then(|s| s.chars().next()) {
            command
                .get_arguments()
                .find(|a| a.get_short() == Some(short))
        } else {
            None
        };
        if let Some(arg) = found {
            used.push(arg.get_id().as_str());
        }
    }
    used
}

/// Candidates for the value of `arg` that start with `partial`; returns the directive.
fn values(arg: &Arg, partial: &str, prefix: &str, out: &mut String) -> u8 {
    // Comma lists (`--show exact,approximated`): complete the last item, keep the others.
    let (done, item) = match arg.get_value_delimiter() {
        Some(delimiter) => match partial.rfind(delimiter) {
            Some(at) => partial.split_at(at + delimiter.len_utf8()),
            None => ("", partial),
        },
        None => ("", partial),
    };
    let possible = arg.get_possible_values();
    if !possible.is_empty() {
        for value in possible.iter().filter(|v| !v.is_hide_set()) {
            let name = value.get_name();
            if name.starts_with(item) {
                let help = value.get_help().map(|h| h.to_string()).unwrap_or_default();
                let _ = writeln!(out, "{prefix}{done}{name}\t{}", one_line(&help));
            }
        }
        return NO_FILES;
    }
    let value_name = arg
        .get_value_names()
        .and_then(|names| names.first())
        .map(|n| n.as_str().to_owned())
        .unwrap_or_default();
    if value_name == "CODE" {
        for entry in crate::findings::catalog().values() {
            if entry.code.starts_with(item) {
                let _ = writeln!(out, "{prefix}{done}{}\t{}", entry.code, entry.title);
            }
        }
        return NO_FILES;
    }
    let wants_path = matches!(
        arg.get_value_hint(),
        ValueHint::AnyPath | ValueHint::FilePath | ValueHint::DirPath | ValueHint::ExecutablePath
    ) || ["FILE", "DIR", "PATH", "CMD"]
        .iter()
        .any(|p| value_name.contains(p));
    if wants_path { FILES } else { NO_FILES }
}

fn first_line(arg: &Arg) -> String {
    arg.get_help()
        .map(|h| one_line(&h.to_string()))
        .unwrap_or_default()
}

/// The first sentence of a help text, on one line (a tab or newline would break the protocol's
/// `candidate<TAB>description` lines): shells show descriptions beside the candidates, where
/// a paragraph does not fit.
fn one_line(help: &str) -> String {
    let flat = help.split_whitespace().collect::<Vec<_>>().join(" ");
    match flat.find(". ") {
        Some(end) => flat[..end].to_owned(),
        None => flat.trim_end_matches('.').to_owned(),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use clap::{Parser, ValueEnum};

    #[derive(Clone, Debug, ValueEnum)]
    enum Format {
        /// JSON document
        Json,
        Yaml,
    }

    #[derive(Clone, Debug, ValueEnum)]
    enum Show {
        Exact,
        Approximated,
        NotConverted,
    }

    #[derive(Debug, Parser)]
    struct Cli {
        /// The namespace. More about it
        /// on a second line.
        #[arg(short = 'n', long = "namespace", value_name = "NAMESPACE", action = ArgAction::Append)]
        namespace: Vec<String>,
        /// Input file
        #[arg(short = 'f', long = "filename", value_name = "FILE")]
        filename: Option<String>,
        /// Output format
        #[arg(short = 'o', long = "output", value_enum)]
        output: Option<Format>,
        /// What to show
        #[arg(long, value_enum, value_delimiter = ',')]
        show: Vec<Show>,
        /// Skip a code
        #[arg(long, value_name = "CODE")]
        skip: Vec<String>,
        /// Do it
        #[arg(long)]
        yes: bool,
        #[arg(long, hide = true)]
        secret_knob: bool,
        /// Also install, in a format
        #[arg(long, value_enum, num_args = 0..=1, default_missing_value = "json", value_name = "FORMAT")]
        install: Option<Format>,
        /// Where to install
        #[arg(long, value_name = "DIR")]
        install_dir: Option<String>,
    }

    fn ask(words: &[&str]) -> Vec<String> {
        let words: Vec<String> = words.iter().map(|w| (*w).to_owned()).collect();
        complete(&<Cli as clap::CommandFactory>::command(), &words)
            .lines()
            .map(str::to_owned)
            .collect()
    }

    #[test]
    fn flags_are_offered_with_their_first_help_line_and_hidden_ones_are_not() {
        let out = ask(&["--"]);
        assert!(
            out.contains(&"--namespace\tThe namespace".to_owned()),
            "{out:?}"
        );
        assert!(out.contains(&"--yes\tDo it".to_owned()), "{out:?}");
        assert!(
            !out.iter().any(|l| l.starts_with("--secret-knob")),
            "{out:?}"
        );
        assert!(!out.iter().any(|l| l.starts_with("-n\t")), "{out:?}");
        assert_eq!(out.last().unwrap(), ":4");
        let lone = ask(&["-"]);
        assert!(lone.contains(&"-n\tThe namespace".to_owned()), "{lone:?}");
        assert_eq!(ask(&["--fi"]), vec!["--filename\tInput file", ":4"]);
    }

    #[test]
    fn a_flag_already_given_is_not_offered_again_unless_repeatable() {
        let out = ask(&["--yes", "-n", "a", "--"]);
        assert!(!out.iter().any(|l| l.starts_with("--yes")), "{out:?}");
        assert!(out.iter().any(|l| l.starts_with("--namespace")), "{out:?}");
    }

    #[test]
    fn values_come_from_the_flag_definition() {
        assert_eq!(
            ask(&["-o", ""]),
            vec!["json\tJSON document", "yaml\t", ":4"]
        );
        assert_eq!(ask(&["--output", "y"]), vec!["yaml\t", ":4"]);
        assert_eq!(
            ask(&["--output=j"]),
            vec!["--output=json\tJSON document", ":4"]
        );
        // Comma lists complete their last item.
        assert_eq!(
            ask(&["--show", "exact,a"]),
            vec!["exact,approximated\t", ":4"]
        );
        // File flags let the shell offer file names; free-form values offer nothing.
        assert_eq!(ask(&["-f", ""]), vec![":0"]);
        assert_eq!(ask(&["-n", "sh"]), vec![":4"]);
        // Codes come from the catalog.
        let codes = ask(&["--skip", "AMI100"]);
        assert!(
            codes.iter().any(|l| l.starts_with("AMI1001\t")),
            "{codes:?}"
        );
        assert!(
            codes.iter().all(|l| l.starts_with("AMI100") || l == ":4"),
            "{codes:?}"
        );
    }

    #[test]
    fn an_optional_value_is_offered_and_another_flag_may_follow_instead() {
        assert_eq!(
            ask(&["--install", ""]),
            vec!["json\tJSON document", "yaml\t", ":4"]
        );
        assert_eq!(ask(&["--install", "y"]), vec!["yaml\t", ":4"]);
        assert_eq!(
            ask(&["--install", "--install-"]),
            vec!["--install-dir\tWhere to install", ":4"]
        );
        assert_eq!(ask(&["--install", "--install-dir", ""]), vec![":0"]);
        // A flag with a required value still takes the next word, dash or not.
        assert_eq!(ask(&["-o", "-"]), vec![":4"]);
    }

    #[test]
    fn a_word_after_a_switch_or_an_attached_value_is_not_a_value() {
        assert_eq!(ask(&["--yes", ""]), vec![":4"]);
        assert_eq!(ask(&["-nshop", ""]), vec![":4"]);
        assert_eq!(ask(&[]), vec![":4"]);
    }
}
