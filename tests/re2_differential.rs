//! Our RE2 syntax checker (`appmesh2istio::validate::re2`) against the real RE2.
//!
//! Envoy compiles every regex we emit with Google's RE2, so "valid" must mean what RE2 says.
//! This test runs RE2 itself (the pinned `google-re2` Python binding, installed in a private
//! virtualenv by `scripts/re2-oracle.sh`) on a corpus of patterns: hand-picked edge cases
//! (every case of issue 16), every `\p{..}` name we accept plus names we refuse, the regexes
//! of the reviewed conversion fixtures, and 20,000 patterns generated deterministically from
//! regex fragments. It fails on any pattern where we accept what RE2 refuses, or refuse what
//! RE2 accepts (except the refusals that come from Go's `regexp`, Istio's webhook, which is
//! stricter than RE2 on `\C`, non-ASCII group names and long repeat counts).
//!
//! Without Python or the registry the test skips with a notice, except in CI (`CI=true`)
//! or with `APPMESH2ISTIO_REQUIRE_CLUSTER=1`, where it fails.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use appmesh2istio::validate::re2::{MAX_PROGRAM_SIZE, Re2ErrorKind, check, program_size_bound};
use appmesh2istio_tests::{prerequisites_required, workspace_root};
use serde_json::Value;

/// The oracle's python, or `None` after a notice (panics when prerequisites are required).
fn oracle_python() -> Option<PathBuf> {
    let script = workspace_root().join("scripts/re2-oracle.sh");
    let failure = match Command::new("bash").arg(&script).arg("ensure").output() {
        Ok(out) if out.status.success() => {
            let stdout = String::from_utf8_lossy(&out.stdout);
            match stdout.lines().rev().map(str::trim).find(|l| !l.is_empty()) {
                Some(p) if PathBuf::from(p).is_file() => return Some(PathBuf::from(p)),
                _ => format!("{} printed no python", script.display()),
            }
        }
        Ok(out) => format!(
            "{} ensure failed ({}): {}",
            script.display(),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ),
        Err(e) => format!("cannot run {}: {e}", script.display()),
    };
    assert!(
        !prerequisites_required(),
        "the real RE2 is required here: {failure}"
    );
    eprintln!("re2_differential: skipped, no real RE2: {failure}");
    None
}

/// RE2's verdict for every pattern: `Ok(program size)` or `Err(message)`.
fn re2_verdicts(python: &PathBuf, patterns: &[String]) -> Vec<Result<u64, String>> {
    let mut child = Command::new(python)
        .arg(workspace_root().join("scripts/re2_oracle.py"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the RE2 oracle");
    let mut input = String::new();
    for p in patterns {
        input.push_str(&serde_json::to_string(p).expect("a string serializes"));
        input.push('\n');
    }
    let mut stdin = child.stdin.take().expect("piped stdin");
    let writer = std::thread::spawn(move || stdin.write_all(input.as_bytes()));
    let out = child.wait_with_output().expect("the RE2 oracle runs");
    writer
        .join()
        .expect("writer thread")
        .expect("patterns written");
    assert!(
        out.status.success(),
        "the RE2 oracle failed: {}",
        out.status
    );
    let verdicts: Vec<Result<u64, String>> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).expect("oracle prints JSON");
            if v["ok"] == Value::Bool(true) {
                Ok(v["programSize"].as_u64().unwrap_or(0))
            } else {
                Err(v["error"].as_str().unwrap_or("").to_owned())
            }
        })
        .collect();
    assert_eq!(verdicts.len(), patterns.len(), "one verdict per pattern");
    verdicts
}

const EDGE_CASES: &[&str] = &[
    // Issue 16, item 2.
    "a**",
    "a++",
    "a*+",
    "a?*",
    "a{2}*",
    "a{2}{3}",
    "a{1001}",
    "(?x) a b",
    r"\u0041",
    r"(?u)\w",
    r"\Q.\E",
    // Repetition.
    "a*?",
    "a{2}?",
    "x{2}{,3}",
    "a{,3}",
    "a{01}",
    "a{1,01}",
    "a{1,",
    "a{",
    "a{,}",
    "^*",
    "$*",
    r"\b*",
    "a(?i)*",
    "(?i)*",
    "a*(?i)*",
    r"\Q\E*",
    r"a*\Q\E*",
    "*",
    "a|*",
    "(*)",
    "{2}",
    "a**?",
    "a*??",
    "a{2,}{3}",
    "a{3,2}",
    "a{1000}",
    "a{0,1000}",
    "(a{100}){100}",
    "(a{3}){334}",
    "(a{3}){333}",
    "((a{10}){10}){10}",
    "((a{10}){10}){11}",
    "(a{1000}){0}",
    "((a{1000}){0}){2}",
    "(a{0}){1000}",
    "(?:a{10}b{10}){100}",
    "(?:a{10}|b{101}){10}",
    "a{100000000}",
    "a{99999999}",
    // Groups and flags.
    "(?i)a",
    "(?i-s:a)",
    "(?im)",
    "(?)",
    "(?U)a*?",
    "(?P<n>a)",
    "(?<n>a)",
    "(?P<n_1>a)",
    "(?P<n>a)(?P<n>b)",
    "()",
    "(?:)",
    "|",
    "(?i)(?-i)a",
    "(?=a)",
    "(?!a)",
    "(?<=a)",
    "(?<!a)",
    "(?#c)",
    "(?P=n)",
    "(?P>n)",
    "(?-:a)",
    "(?-)",
    "(?i-)",
    "(?--i)",
    "(?i-m-s)",
    "(?i",
    "(?",
    "(?P<>a)",
    "(?P<a-b>a)",
    "(?P<n",
    "(?P<a)b>c)",
    "(?:a",
    "(a",
    "a)",
    "())",
    // Escapes.
    r"\_",
    r"\ ",
    "\\\t",
    r"\-",
    r"\.",
    r"\z",
    r"\A",
    r"\12",
    r"\1234",
    r"\01",
    r"\400",
    r"\777",
    r"\0",
    r"\08",
    r"\x41",
    r"\x{0}",
    r"\x{D800}",
    r"\x{10FFFF}",
    r"\x{0000000041}",
    r"\a\f\n\r\t\v",
    r"\d\D\s\S\w\W",
    r"\pL",
    r"\pN",
    r"\pX",
    r"\p{^L}",
    r"\P{^L}",
    r"\p^L",
    r"\Qa.b",
    r"\Q\\E",
    r"\é",
    r"\e",
    r"\Z",
    r"\1",
    r"\8",
    r"\9",
    r"\x4",
    r"\xg1",
    r"\x{}",
    r"\x{41",
    r"\x{110000}",
    r"\x{g}",
    "\\",
    "a\\",
    r"\p{L",
    r"\p{}",
    r"\pé",
    r"\p",
    r"\k<n>",
    r"\g1",
    r"\G",
    r"\K",
    r"\R",
    r"\X",
    r"\h",
    r"\N",
    r"\o{12}",
    r"\c",
    // Classes.
    "[a-z]",
    "[a-b-c]",
    "[--a]",
    "[a-]",
    "[]a]",
    "[^]a]",
    "[[:alpha:]]",
    "[[:^alpha:]]",
    "[[:word:]]",
    "[[:alpha]",
    "[[=a=]]",
    "[[.a.]]",
    "[[:a]b:]]",
    r"[\d-z]",
    r"[\pL]",
    r"[\pL-z]",
    r"[\0]",
    r"[\x{10FFFF}]",
    r"[^\x00-\x{10FFFF}]",
    "[]",
    "[^]",
    "[a",
    "[a-",
    "[z-a]",
    "[[:foo:]]",
    r"[a-\d]",
    r"[a-\pL]",
    r"[\b]",
    r"[\Q]\E]",
    r"[\C]",
    r"[\8]",
    r"[\A]",
    r"[\z]",
    "[é-a]",
    "[a-é]",
    // Program size around Envoy's limit (32768 under Istio).
    r"\pL{27}",
    r"\pL{28}",
    r"\pL{20}\pN{20}",
    r"(?i)\pL{27}",
    r"(?i)\p{Lu}{100}",
    r"\P{L}{27}",
    r"[\pL\pN]{24}",
    r"[^\pL]{27}",
    r"[^\pL\pN]{20}",
    r"(?:\pL|\pN){25}",
    r"(\pL){27}",
    r"\p{Greek}{500}",
    r"\p{Greek}{1000}",
    r"\p{Han}{400}",
    ".{1000}",
    "(?s).{1000}",
    "(?i).{1000}",
    r"\W{1000}",
    r"(?i)\W{1000}",
    "[[:^word:]]{1000}",
    "(?i)[[:^word:]]{1000}",
    "(?i)[^a-z]{1000}",
    "[à-ÿ]{400}",
    "(?i)[à-ÿ]{400}",
    "(?i)é{1000}",
    "(?i)k{1000}",
    "[a-zA-Z0-9._~-]{1,1000}",
    "(?:[a-z]{1,10}\\.){1,100}",
    "(a|b|c|d){1000}",
    // Literal text our converter writes (escaped suffixes, hosts).
    r".*\.json",
    r".*example\.com(:[0-9]+)?",
    "/api/v[0-9]+/.*",
    "\u{0}",
    "\u{1}a",
    "é+",
    "(?i)\\x{10FFFF}",
];

/// Unicode class names we refuse, to prove RE2 refuses them too.
const REFUSED_CLASS_NAMES: &[&str] = &[
    "Cn", "LC", "Zzzz", "Zyyy", "Unknown", "Latn", "greek", "Garay", "Assigned", "ASCII", "L&",
    "Letter", "Todhri",
];

/// Fragments the generated patterns are made of: every construct above, in pieces.
const FRAGMENTS: &[&str] = &[
    "\\p{L}",
    "{27}",
    "{100}",
    "[^\\pL]",
    "(?i:",
    "\\W",
    "a",
    "b",
    "é",
    "*",
    "+",
    "?",
    "*?",
    "{2}",
    "{0}",
    "{1,3}",
    "{2,}",
    "{1001}",
    "{,3}",
    "{01}",
    "{500}",
    "(",
    ")",
    "(?:",
    "(?i)",
    "(?i:",
    "(?-s)",
    "(?P<n>",
    "(?<m>",
    "(?x)",
    "(?=",
    "[",
    "]",
    "[^",
    "-",
    "^",
    "$",
    ".",
    "|",
    "\\",
    "\\d",
    "\\pL",
    "\\p{Greek}",
    "\\p",
    "{",
    "}",
    "\\Q",
    "\\E",
    "\\x41",
    "\\x{10FFFF}",
    "\\x",
    "\\1",
    "\\0",
    "\\7",
    "\\b",
    "\\z",
    "\\C",
    "[:alpha:]",
    "[:foo:]",
    ":",
    ",",
    "0",
    "9",
    " ",
    "\\.",
    "(?s)",
    "(?U)",
    "\\u",
    "<",
    ">",
    "P",
    "=",
    "!",
];

/// 20,000 patterns of 1 to 10 fragments, from a fixed seed (xorshift64).
fn generated_patterns() -> Vec<String> {
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    (0..20_000)
        .map(|_| {
            let len = 1 + (next() % 10) as usize;
            (0..len)
                .map(|_| FRAGMENTS[(next() % FRAGMENTS.len() as u64) as usize])
                .collect()
        })
        .collect()
}

/// Every `regex` (and `uriRegexRewrite.match`) value in the reviewed fixture outputs.
fn fixture_regexes() -> Vec<String> {
    fn collect(v: &Value, out: &mut Vec<String>) {
        match v {
            Value::Object(map) => {
                for (k, child) in map {
                    match (k.as_str(), child) {
                        ("regex", Value::String(s)) => out.push(s.clone()),
                        ("uriRegexRewrite", Value::Object(rr)) => {
                            if let Some(Value::String(s)) = rr.get("match") {
                                out.push(s.clone());
                            }
                        }
                        _ => collect(child, out),
                    }
                }
            }
            Value::Array(items) => items.iter().for_each(|i| collect(i, out)),
            _ => {}
        }
    }
    let mut out = Vec::new();
    let dir = workspace_root().join("tests/fixtures/convert");
    let mut cases: Vec<_> = std::fs::read_dir(&dir)
        .expect("fixture dir")
        .filter_map(Result::ok)
        .map(|e| e.path().join("expected.yaml"))
        .filter(|p| p.is_file())
        .collect();
    cases.sort();
    for path in cases {
        let text = std::fs::read_to_string(&path).expect("fixture readable");
        let docs: Vec<Value> = serde_saphyr::from_multiple(&text).expect("fixture is YAML");
        docs.iter().for_each(|d| collect(d, &mut out));
    }
    out
}

#[test]
fn re2_syntax_checker_agrees_with_real_re2() {
    let Some(python) = oracle_python() else {
        return;
    };
    let fixture = fixture_regexes();
    assert!(
        fixture.len() >= 5,
        "the fixtures hold regexes: {}",
        fixture.len()
    );
    let mut patterns: Vec<String> = EDGE_CASES.iter().map(|s| (*s).to_owned()).collect();
    for name in appmesh2istio::validate::re2::unicode_class_names()
        .chain(REFUSED_CLASS_NAMES.iter().copied())
    {
        patterns.push(format!(r"\p{{{name}}}"));
        patterns.push(format!(r"[\P{{^{name}}}x]"));
    }
    patterns.extend(fixture.iter().cloned());
    patterns.extend(generated_patterns());

    let verdicts = re2_verdicts(&python, &patterns);
    // For comparing with other engines by hand (e.g. Go's regexp): one JSON line per
    // pattern with our verdict.
    if let Some(path) = std::env::var_os("APPMESH2ISTIO_RE2_DUMP") {
        let lines: Vec<String> = patterns
            .iter()
            .map(|p| {
                let ours = check(p).err().map(|e| format!("{:?}", e.kind));
                serde_json::json!({"pattern": p, "ours": ours}).to_string()
            })
            .collect();
        std::fs::write(path, lines.join("\n") + "\n").expect("dump written");
    }
    let mut mismatches = Vec::new();
    let (mut accepted, mut refused, mut go_only) = (0, 0, 0);
    // Refused for size although RE2's program fits Envoy's limit: (pattern, bound, real).
    let mut size_overestimates: Vec<(String, u64, u64)> = Vec::new();
    let mut largest_ratio: f64 = 0.0;
    for (p, re2) in patterns.iter().zip(&verdicts) {
        // The size bound must never be below RE2's real program size.
        if let (Ok(bound), Ok(real)) = (program_size_bound(p), re2) {
            if bound < *real {
                mismatches.push(format!("{p:?}: size bound {bound} below RE2's {real}"));
            }
            largest_ratio = largest_ratio.max(bound as f64 / (*real).max(1) as f64);
        }
        match (check(p), re2) {
            (Ok(()), Ok(size)) if *size > MAX_PROGRAM_SIZE => mismatches.push(format!(
                "{p:?}: we accept, but RE2's program ({size}) exceeds Envoy's limit"
            )),
            (Ok(()), Ok(_)) => accepted += 1,
            (Err(e), Ok(size)) if e.kind == Re2ErrorKind::ProgramSize => {
                if *size > MAX_PROGRAM_SIZE {
                    refused += 1;
                } else {
                    let bound = program_size_bound(p).unwrap_or(0);
                    size_overestimates.push((p.clone(), bound, *size));
                }
            }
            // RE2's compiler refuses programs beyond its memory budget; so must we.
            (Err(e), Err(re2))
                if e.kind == Re2ErrorKind::ProgramSize && re2.contains("pattern too large") =>
            {
                refused += 1
            }
            (Err(e), Err(_))
                if !matches!(e.kind, Re2ErrorKind::GoOnly | Re2ErrorKind::ProgramSize) =>
            {
                refused += 1
            }
            (Err(e), Ok(_)) if e.kind == Re2ErrorKind::GoOnly => go_only += 1,
            (Err(e), Err(re2)) => {
                mismatches.push(format!("{p:?}: ours {e} but RE2 refuses: {re2}"))
            }
            (Ok(()), Err(re2)) => mismatches.push(format!("{p:?}: we accept, RE2 refuses: {re2}")),
            (Err(e), Ok(_)) => mismatches.push(format!("{p:?}: we refuse ({e}), RE2 accepts")),
        }
    }
    eprintln!(
        "re2_differential: {} patterns ({} from fixtures): {accepted} accepted by both, {refused} refused by both, {go_only} refused for Go only, {} refused for size although RE2's program fits, {} mismatches; size bound at most {largest_ratio:.1}x RE2's program",
        patterns.len(),
        fixture.len(),
        size_overestimates.len(),
        mismatches.len()
    );
    for (p, bound, real) in &size_overestimates {
        eprintln!("  refused for size: {p:?} bound {bound}, RE2 {real}");
    }
    assert!(
        mismatches.is_empty(),
        "{} mismatches with RE2:\n{}",
        mismatches.len(),
        mismatches.join("\n")
    );
    // The corpus must exercise both verdicts broadly, or the comparison proves little.
    assert!(accepted > 3000 && refused > 3000, "{accepted} / {refused}");
    for p in &fixture {
        assert_eq!(check(p), Ok(()), "fixture regex {p:?}");
    }
}
