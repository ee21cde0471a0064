use super::*;
use Re2ErrorKind::*;

fn kind(p: &str) -> Option<Re2ErrorKind> {
    check(p).err().map(|e| e.kind)
}

/// Verdicts observed with RE2 (google-re2 1.1.20251105) and Go 1.19 `regexp`; the
/// differential test re-checks the RE2 side on every run where RE2 is installed.
#[test]
fn the_patterns_of_issue_16_follow_re2() {
    for (p, want) in [
        ("a**", RepeatOp),
        ("a++", RepeatOp),
        ("a*+", RepeatOp),
        ("a?*", RepeatOp),
        ("a{2}*", RepeatOp),
        ("a{2}{3}", RepeatOp),
        ("a{1001}", RepeatSize),
        ("(?x) a b", PerlOp),
        (r"\u0041", Escape),
        (r"(?u)\w", PerlOp),
    ] {
        assert_eq!(kind(p), Some(want), "{p}");
    }
    assert_eq!(check(r"\Q.\E"), Ok(()));
    assert_eq!(
        check("a**").unwrap_err().to_string(),
        "bad repetition operator: **"
    );
}

#[test]
fn repetition_rules() {
    for ok in [
        "a*?",
        "a{2}?",
        "x{2}{,3}",
        "a{,3}",
        "a{01}",
        "a{1,",
        "a{",
        "^*",
        "$*",
        r"\b*",
        "a(?i)*",
        "a*(?i)*",
        r"a*\Q\E*",
        "(a{3}){333}",
        "((a{10}){10}){10}",
        "(a{1000}){0}",
        "(a{0}){1000}",
        "(?:a{10}b{10}){100}",
        "a{0,1000}",
    ] {
        assert_eq!(check(ok), Ok(()), "{ok}");
    }
    for (p, want) in [
        ("*", MissingRepeatArgument),
        ("a|*", MissingRepeatArgument),
        ("(*)", MissingRepeatArgument),
        ("(?i)*", MissingRepeatArgument),
        (r"\Q\E*", MissingRepeatArgument),
        ("{2}", MissingRepeatArgument),
        ("a**?", RepeatOp),
        ("a*??", RepeatOp),
        ("a{2,}{3}", RepeatOp),
        ("a{3,2}", RepeatSize),
        ("(a{100}){100}", RepeatSize),
        ("(a{3}){334}", RepeatSize),
        ("((a{10}){10}){11}", RepeatSize),
        ("((a{1000}){0}){2}", RepeatSize),
        ("a{100000000}", RepeatSize),
        ("a{99999999999}", GoOnly),
    ] {
        assert_eq!(kind(p), Some(want), "{p}");
    }
}

#[test]
fn groups_and_flags() {
    for ok in [
        "(?i)a",
        "(?i-s:a)",
        "(?im)",
        "(?)",
        "(?U)a*?",
        "(?P<n>a)",
        "(?<n>a)",
        "(?P<n_1>a)",
        "()",
        "(?:)",
        "|",
        "(?i)(?-i)a",
    ] {
        assert_eq!(check(ok), Ok(()), "{ok}");
    }
    for (p, want) in [
        ("(?=a)", PerlOp),
        ("(?!a)", PerlOp),
        ("(?<=a)", PerlOp),
        ("(?<!a)", PerlOp),
        ("(?#c)", PerlOp),
        ("(?P=n)", PerlOp),
        ("(?-:a)", PerlOp),
        ("(?--i)", PerlOp),
        ("(?i-m-s)", PerlOp),
        ("(?i", PerlOp),
        ("(?P<>a)", NamedCapture),
        ("(?P<a-b>a)", NamedCapture),
        ("(?P<n", NamedCapture),
        ("(?P<é>a)", GoOnly),
        ("(?:a", MissingParen),
        ("(a", MissingParen),
        ("a)", UnexpectedParen),
        ("())", UnexpectedParen),
    ] {
        assert_eq!(kind(p), Some(want), "{p}");
    }
}

#[test]
fn escapes() {
    for ok in [
        r"\_",
        r"\ ",
        "\\\t",
        r"\-",
        r"\.",
        r"\z",
        r"\A",
        r"\12",
        r"\01",
        r"\400",
        r"\0",
        r"\08",
        r"\x41",
        r"\x{0}",
        r"\x{10FFFF}",
        r"\a\f\n\r\t\v",
        r"\d\D\s\S\w\W",
        r"\pL",
        r"\p{Greek}",
        r"\p{^L}",
        r"\P{^L}",
        r"\p{Any}",
        r"\p{Kawi}",
        r"\Qa.b",
        r"\Q\\E",
    ] {
        assert_eq!(check(ok), Ok(()), "{ok}");
    }
    for (p, want) in [
        (r"\u0041", Escape),
        (r"\é", Escape),
        (r"\e", Escape),
        (r"\Z", Escape),
        (r"\1", Escape),
        (r"\8", Escape),
        (r"\x4", Escape),
        (r"\xg1", Escape),
        (r"\x{}", Escape),
        (r"\x{41", Escape),
        (r"\x{110000}", Escape),
        ("\\", TrailingBackslash),
        ("a\\", TrailingBackslash),
        (r"\p{greek}", CharRange),
        (r"\p{Cn}", CharRange),
        (r"\p{Garay}", CharRange),
        (r"\p{L", CharRange),
        (r"\p{}", CharRange),
        (r"\pé", CharRange),
        (r"\p", CharRange),
        (r"\C", GoOnly),
    ] {
        assert_eq!(kind(p), Some(want), "{p}");
    }
}

#[test]
fn classes() {
    for ok in [
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
        r"[\d-z]",
        r"[\pL]",
        r"[\0]",
        r"[\x{10FFFF}]",
        "[^\\x00-\\x{10FFFF}]",
    ] {
        assert_eq!(check(ok), Ok(()), "{ok}");
    }
    for (p, want) in [
        ("[]", MissingBracket),
        ("[^]", MissingBracket),
        ("[a", MissingBracket),
        ("[a-", MissingBracket),
        ("[z-a]", CharRange),
        ("[[:foo:]]", CharRange),
        (r"[a-\d]", Escape),
        (r"[a-\pL]", Escape),
        (r"[\b]", Escape),
        (r"[\Q]\E]", Escape),
        (r"[\C]", Escape),
        (r"[\8]", Escape),
    ] {
        assert_eq!(kind(p), Some(want), "{p}");
    }
}

#[test]
fn unicode_class_names_are_sorted_for_binary_search() {
    assert!(UNICODE_CLASSES.windows(2).all(|w| w[0] < w[1]));
}

/// Program sizes RE2 reports (google-re2 1.1.20251105) next to Envoy's limit under Istio.
#[test]
fn programs_too_large_for_envoy_are_refused() {
    // RE2: \pL{27} compiles to 32300 instructions, \pL{28} to 33496, .{1000} to 8004.
    assert_eq!(check(r"\pL{27}"), Ok(()));
    assert_eq!(kind(r"\pL{28}"), Some(ProgramSize));
    assert_eq!(check(".{1000}"), Ok(()));
    assert_eq!(kind(r"(?:\pL\pN){100}"), Some(ProgramSize));
    assert_eq!(kind(r"(\pL{20}){20}"), Some(ProgramSize));
    // Many classes without any repetition add up too.
    assert_eq!(kind(&r"\pL".repeat(30)), Some(ProgramSize));
    let bound = program_size_bound(r"\pL{27}").unwrap();
    assert!((32300..=MAX_PROGRAM_SIZE).contains(&bound), "{bound}");
    assert!(program_size_bound("a").unwrap() < 10);
}
