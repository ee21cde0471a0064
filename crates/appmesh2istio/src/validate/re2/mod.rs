//! Whether a regular expression is accepted by both regex engines that read our output:
//! Envoy's RE2 (C++, which compiles every `regex` a VirtualService route or Gateway API
//! `RegularExpression` match becomes) and Go's `regexp` (RE2 syntax, used by Istio's
//! validating webhook). A pattern either of them refuses must never be printed.
//!
//! Rust's `regex` crate is not RE2: it accepts `a**`, `(?x)`, `\u0041`, `(?u)` and refuses
//! `\Q..\E`, so this module parses the pattern by RE2's own grammar instead:
//!
//! * repetition operators `* + ? {n} {n,} {n,m}` (with a lazy `?` suffix) need an operand
//!   and may not be stacked (`a**`, `a*+`, `a{2}{3}` are errors; `a{,3}` and `a{01}` are
//!   literal text); counts are at most 1000, and so is their product along nested counted
//!   repetitions (`(a{100}){100}` is refused);
//! * groups `( )`, `(?: )`, `(?P<name> )`, `(?<name> )`, flag groups with `i m s U`; no
//!   look-around, comments, `(?x)` or `(?u)`;
//! * escapes: `\a \f \n \r \t \v`, octal `\0..`/`\1`-`\7` followed by an octal digit,
//!   `\xHH`, `\x{H..}` up to U+10FFFF, any escaped ASCII punctuation, `\A \z \b \B`, Perl
//!   classes `\d \s \w` (and negations), Unicode classes `\pL`, `\p{Greek}`, `\P{^L}`,
//!   quoted text `\Q..\E`; nothing else (`\u`, `\Z`, `\e`, back-references `\1`, `\8` are
//!   errors);
//! * classes `[..]`, `[^..]` with ranges (`lo <= hi`), POSIX names `[:alpha:]`, Perl and
//!   Unicode classes (which cannot end a range).
//!
//! Where the two engines disagree the stricter verdict wins: `\C` (RE2 only), capture names
//! beyond ASCII word characters (RE2 only) and repeat counts of ten or more digits (literal
//! text to RE2, an error to Go) are refused. The rules are checked against the real RE2 by
//! `tests/re2_differential.rs`, which runs Google's RE2 (the `google-re2` Python binding,
//! installed by `scripts/re2-oracle.sh`) on a corpus of patterns.
//!
//! Envoy also refuses a regex whose compiled program exceeds `re2.max_program_size.error_level`
//! (32768 in Istio's bootstrap), which would make it reject the whole route configuration:
//! [`program_size_bound`] bounds the program size from above (see `program_size.rs`) and
//! patterns over the limit are refused ([`Re2ErrorKind::ProgramSize`]). Being a bound, it
//! may refuse a pattern whose real program just fits; the differential test counts those.

use std::fmt;

mod names;
mod program_size;
use names::UNICODE_CLASSES;
use program_size as size;
pub use program_size::MAX_PROGRAM_SIZE;

/// RE2's and Go's limit on one repetition count, and on the product of nested counts.
pub const MAX_REPEAT: u32 = 1000;

/// What is wrong with a pattern, named after RE2's error codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Re2ErrorKind {
    /// `(` without `)`.
    MissingParen,
    /// `)` without `(`.
    UnexpectedParen,
    /// `[` without `]`.
    MissingBracket,
    /// A repetition operator with nothing to repeat (`*a`, `(|*)`).
    MissingRepeatArgument,
    /// Stacked repetition operators (`a**`, `a+?+`, `a{2}{3}`).
    RepeatOp,
    /// A count above 1000, `{3,2}`, or nested counts whose product exceeds 1000.
    RepeatSize,
    /// An escape RE2 does not know (`\u`, `\Z`, `\1`).
    Escape,
    /// A bad class range (`z-a`) or an unknown class name (`[:foo:]`, `\p{Foo}`).
    CharRange,
    /// A `(?` construct RE2 does not support (look-around, `(?x)`, `(?u)`).
    PerlOp,
    /// A named group with an empty or invalid name, or without `>`.
    NamedCapture,
    /// The pattern ends with a single `\`.
    TrailingBackslash,
    /// The compiled program may exceed Envoy's limit under Istio ([`MAX_PROGRAM_SIZE`]).
    ProgramSize,
    /// Accepted by RE2 but refused by Go's `regexp` (Istio's webhook): `\C`, non-ASCII
    /// capture names, repeat counts too long for Go.
    GoOnly,
}

/// Why RE2 (or Go) refuses a pattern, with the offending fragment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Re2Error {
    pub kind: Re2ErrorKind,
    /// The part of the pattern the error is about, as RE2 quotes it.
    pub fragment: String,
}

impl fmt::Display for Re2Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match self.kind {
            Re2ErrorKind::MissingParen => "missing )",
            Re2ErrorKind::UnexpectedParen => "unexpected )",
            Re2ErrorKind::MissingBracket => "missing ]",
            Re2ErrorKind::MissingRepeatArgument => "no argument for repetition operator",
            Re2ErrorKind::RepeatOp => "bad repetition operator",
            Re2ErrorKind::RepeatSize => "invalid repetition size (at most 1000, also nested)",
            Re2ErrorKind::Escape => "invalid escape sequence",
            Re2ErrorKind::CharRange => "invalid character class range",
            Re2ErrorKind::PerlOp => "invalid or unsupported perl operator",
            Re2ErrorKind::NamedCapture => "invalid named capture group",
            Re2ErrorKind::TrailingBackslash => "trailing \\",
            Re2ErrorKind::ProgramSize => "program too large for Envoy",
            Re2ErrorKind::GoOnly => "refused by Go regexp (Istio's validation), not by RE2",
        };
        if self.fragment.is_empty() {
            f.write_str(what)
        } else {
            write!(f, "{what}: {}", self.fragment)
        }
    }
}

impl std::error::Error for Re2Error {}

/// Whether RE2 and Go's `regexp` both accept `pattern` (RE2 syntax, UTF-8, default
/// options). Istio's own limits (non-empty, at most 1024 characters) are the caller's.
pub fn check(pattern: &str) -> Result<(), Re2Error> {
    parse(pattern).map(|_| ())
}

/// An upper bound of the size of the program RE2 compiles `pattern` to (see
/// [`MAX_PROGRAM_SIZE`]), or the error when the pattern is refused for another reason.
pub fn program_size_bound(pattern: &str) -> Result<u64, Re2Error> {
    let mut parser = Parser::new(pattern);
    parser.parse_syntax()?;
    Ok(parser.size_bound())
}

fn parse(pattern: &str) -> Result<u64, Re2Error> {
    let mut parser = Parser::new(pattern);
    parser.parse_syntax()?;
    let size = parser.size_bound();
    if size > MAX_PROGRAM_SIZE {
        return Err(err(
            Re2ErrorKind::ProgramSize,
            &format!("up to {size} instructions, Envoy under Istio allows {MAX_PROGRAM_SIZE}"),
        ));
    }
    match parser.go_only {
        Some(e) => Err(e),
        None => Ok(size),
    }
}

/// What the parser keeps on its stack: RE2 keeps operands and the markers `(` and `|` on
/// one stack, and a repetition applies to the top item only when it is an operand.
#[derive(Debug, Clone, Copy)]
enum Item {
    /// An operand, with the largest product of counted repetitions on any path inside it
    /// and a bound of its program size.
    Operand { repeat_product: u32, cost: u64 },
    /// An open group at byte offset `at`; `fold`: whether `(?i)` was on before it.
    Open {
        at: usize,
        capture: bool,
        fold: bool,
    },
    /// An alternation bar.
    Bar,
}

struct Parser<'a> {
    src: &'a str,
    pos: usize,
    stack: Vec<Item>,
    /// The first construct only Go refuses; reported when RE2 finds nothing worse.
    go_only: Option<Re2Error>,
    /// Case folding (`(?i)`) is on.
    fold: bool,
}

fn err(kind: Re2ErrorKind, fragment: &str) -> Re2Error {
    Re2Error {
        kind,
        fragment: fragment.to_owned(),
    }
}

impl<'a> Parser<'a> {
    fn new(src: &'a str) -> Parser<'a> {
        Parser {
            src,
            pos: 0,
            stack: Vec::new(),
            go_only: None,
            fold: false,
        }
    }

    /// The program-size bound of everything parsed (call after [`Self::parse_syntax`]).
    fn size_bound(&self) -> u64 {
        let body: u64 = self
            .stack
            .iter()
            .map(|item| match item {
                Item::Operand { cost, .. } => *cost,
                _ => 1,
            })
            .fold(0, u64::saturating_add);
        body.saturating_add(size::PROGRAM_OVERHEAD)
    }

    fn rest(&self) -> &'a str {
        &self.src[self.pos..]
    }

    fn peek(&self) -> Option<char> {
        self.rest().chars().next()
    }

    fn peek_at(&self, n: usize) -> Option<char> {
        self.rest().chars().nth(n)
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.pos += c.len_utf8();
        Some(c)
    }

    fn refused_by_go(&mut self, fragment: &str) {
        if self.go_only.is_none() {
            self.go_only = Some(err(Re2ErrorKind::GoOnly, fragment));
        }
    }

    fn operand(&mut self, cost: u64) {
        self.stack.push(Item::Operand {
            repeat_product: 1,
            cost,
        });
    }

    fn open(&mut self, at: usize, capture: bool) {
        self.stack.push(Item::Open {
            at,
            capture,
            fold: self.fold,
        });
    }

    /// RE2's grammar (and Go's stricter spots, kept in `go_only`); sizes are added up on
    /// the way.
    fn parse_syntax(&mut self) -> Result<(), Re2Error> {
        // Start of the previous token when it was a repetition operator (RE2's
        // `lastRepeat`): another repetition right after it is an error.
        let mut last_repeat: Option<usize> = None;
        while let Some(c) = self.peek() {
            let start = self.pos;
            let mut this_repeat = None;
            match c {
                '(' => {
                    if self.rest().starts_with("(?") {
                        self.perl_flags()?;
                    } else {
                        self.bump();
                        self.open(start, true);
                    }
                }
                ')' => {
                    self.bump();
                    self.close_group(start)?;
                }
                '|' => {
                    self.bump();
                    self.stack.push(Item::Bar);
                }
                '*' | '+' | '?' => {
                    self.bump();
                    if self.peek() == Some('?') {
                        self.bump();
                    }
                    self.repeat(start, last_repeat, None)?;
                    this_repeat = Some(start);
                }
                '{' => match self.counted_repeat() {
                    Some((min, max)) => {
                        if self.peek() == Some('?') {
                            self.bump();
                        }
                        self.repeat(start, last_repeat, Some((min, max)))?;
                        this_repeat = Some(start);
                    }
                    None => {
                        self.bump();
                        self.operand(size::literal('{', self.fold));
                    }
                },
                '[' => {
                    let cost = self.class()?;
                    self.operand(cost);
                }
                '\\' => self.escape_outside_class()?,
                '^' | '$' => {
                    self.bump();
                    self.operand(size::ASSERTION);
                }
                '.' => {
                    self.bump();
                    self.operand(size::ANY_CHAR);
                }
                _ => {
                    self.bump();
                    self.operand(size::literal(c, self.fold));
                }
            }
            last_repeat = this_repeat;
        }
        if let Some(Item::Open { at, .. }) = self
            .stack
            .iter()
            .rev()
            .find(|i| matches!(i, Item::Open { .. }))
        {
            return Err(err(Re2ErrorKind::MissingParen, &self.src[*at..]));
        }
        Ok(())
    }

    /// `)`: the items since the matching `(` become one operand.
    fn close_group(&mut self, at: usize) -> Result<(), Re2Error> {
        let mut product = 1;
        let mut total: u64 = 0;
        loop {
            match self.stack.pop() {
                None => {
                    return Err(err(Re2ErrorKind::UnexpectedParen, &self.src[..at + 1]));
                }
                Some(Item::Open { capture, fold, .. }) => {
                    if capture {
                        total = total.saturating_add(size::CAPTURE);
                    }
                    // Flags set inside the group end with it.
                    self.fold = fold;
                    break;
                }
                Some(Item::Operand {
                    repeat_product,
                    cost,
                }) => {
                    product = product.max(repeat_product);
                    total = total.saturating_add(cost);
                }
                // One alternation instruction per `|`.
                Some(Item::Bar) => total = total.saturating_add(1),
            }
        }
        self.stack.push(Item::Operand {
            repeat_product: product,
            cost: total,
        });
        Ok(())
    }

    /// Applies a repetition (the text from `start` to the current position) to the top
    /// operand. `counts`: `Some((min, max))` for `{..}` (`max` `None` when open).
    fn repeat(
        &mut self,
        start: usize,
        last_repeat: Option<usize>,
        counts: Option<(u32, Option<u32>)>,
    ) -> Result<(), Re2Error> {
        let text = &self.src[start..self.pos];
        if let Some(prev) = last_repeat {
            return Err(err(Re2ErrorKind::RepeatOp, &self.src[prev..self.pos]));
        }
        let Some(Item::Operand {
            repeat_product,
            cost,
        }) = self.stack.last_mut()
        else {
            return Err(err(Re2ErrorKind::MissingRepeatArgument, text));
        };
        *cost = match counts {
            None => size::star(*cost),
            Some((min, max)) => size::counted(*cost, min, max),
        };
        if let Some((min, max)) = counts {
            if min > MAX_REPEAT || max.is_some_and(|m| m > MAX_REPEAT || m < min) {
                return Err(err(Re2ErrorKind::RepeatSize, text));
            }
            // RE2 divides its budget of 1000 by each nested count (the maximum, or the
            // minimum when open; zero counts are skipped) and fails when it reaches zero,
            // which is "product of the nested counts above 1000".
            let factor = max.unwrap_or(min);
            if factor > 0 {
                let product = repeat_product.saturating_mul(factor);
                if product > MAX_REPEAT {
                    return Err(err(Re2ErrorKind::RepeatSize, text));
                }
                *repeat_product = product;
            }
        }
        Ok(())
    }

    /// `{n}`, `{n,}`, `{n,m}` at the current position: consumes it and returns the counts,
    /// or returns `None` (and consumes nothing) when the `{` is literal text.
    fn counted_repeat(&mut self) -> Option<(u32, Option<u32>)> {
        let rest = self.rest();
        let body_end = rest.find('}')?;
        let body = &rest[1..body_end];
        let (lo, hi) = match body.split_once(',') {
            None => (body, Some(body)),
            Some((lo, "")) => (lo, None),
            Some((lo, hi)) => (lo, Some(hi)),
        };
        let min = repeat_count(lo)?;
        let max = match hi {
            Some(hi) => Some(repeat_count(hi)?),
            None => None,
        };
        // RE2 stops reading a count at nine digits and then takes the `{` as literal text;
        // Go reads on and refuses the count as too large.
        let (Some(min), Some(max)) = (min, max.map_or(Some(None), |m| m.map(Some))) else {
            self.refused_by_go(&rest[..=body_end]);
            return None;
        };
        self.pos += body_end + 1;
        Some((min, max))
    }

    /// `(?...`: flags, a non-capturing group or a named group.
    fn perl_flags(&mut self) -> Result<(), Re2Error> {
        let start = self.pos;
        let rest = self.rest();
        let lookaround = ["(?=", "(?!", "(?<=", "(?<!"];
        if let Some(op) = lookaround.iter().find(|op| rest.starts_with(**op)) {
            return Err(err(Re2ErrorKind::PerlOp, op));
        }
        let name_start = if rest.starts_with("(?P<") {
            Some(4)
        } else if rest.starts_with("(?<") {
            Some(3)
        } else {
            None
        };
        if let Some(begin) = name_start {
            let Some(end) = rest.find('>') else {
                return Err(err(Re2ErrorKind::NamedCapture, rest));
            };
            let name = &rest[begin..end];
            if name.is_empty() {
                return Err(err(Re2ErrorKind::NamedCapture, &rest[..=end]));
            }
            // Go allows ASCII word characters only; RE2 also allows Unicode letters,
            // digits and marks, so a non-ASCII name is a Go-only refusal.
            if name
                .chars()
                .any(|c| c.is_ascii() && c != '_' && !c.is_ascii_alphanumeric())
            {
                return Err(err(Re2ErrorKind::NamedCapture, &rest[..=end]));
            }
            if !name.is_ascii() {
                self.refused_by_go(&rest[..=end]);
            }
            self.pos += end + 1;
            self.open(start, true);
            return Ok(());
        }
        self.pos += 2;
        let mut negated = false;
        let mut flag_after_minus = false;
        let mut fold = self.fold;
        loop {
            let Some(c) = self.bump() else {
                return Err(err(Re2ErrorKind::PerlOp, &self.src[start..]));
            };
            match c {
                'i' | 'm' | 's' | 'U' => {
                    if negated {
                        flag_after_minus = true;
                    }
                    if c == 'i' {
                        fold = !negated;
                    }
                }
                '-' => {
                    if negated {
                        return Err(err(Re2ErrorKind::PerlOp, &self.src[start..self.pos]));
                    }
                    negated = true;
                }
                ':' | ')' => {
                    if negated && !flag_after_minus {
                        return Err(err(Re2ErrorKind::PerlOp, &self.src[start..self.pos]));
                    }
                    if c == ':' {
                        self.open(start, false);
                    }
                    // `(?i)` holds until the end of the enclosing group, `(?i:` inside it.
                    self.fold = fold;
                    return Ok(());
                }
                _ => return Err(err(Re2ErrorKind::PerlOp, &self.src[start..self.pos])),
            }
        }
    }

    /// A `\` outside a class: assertions, `\Q..\E`, classes, or an escaped character.
    fn escape_outside_class(&mut self) -> Result<(), Re2Error> {
        let start = self.pos;
        let Some(c) = self.peek_at(1) else {
            return Err(err(Re2ErrorKind::TrailingBackslash, ""));
        };
        match c {
            'b' | 'B' | 'A' | 'z' => {
                self.pos += 2;
                self.operand(size::ASSERTION);
            }
            'C' => {
                self.pos += 2;
                self.refused_by_go("\\C");
                self.operand(size::ASSERTION);
            }
            'Q' => {
                self.pos += 2;
                let rest = self.rest();
                let (quoted, skip) = match rest.find("\\E") {
                    Some(end) => (&rest[..end], end + 2),
                    None => (rest, rest.len()),
                };
                for q in quoted.chars() {
                    self.operand(size::literal(q, self.fold));
                }
                self.pos += skip;
            }
            'p' | 'P' => {
                let (cost, _) = self.unicode_class(start)?;
                self.operand(cost);
            }
            'd' | 'D' | 's' | 'S' | 'w' | 'W' => {
                self.pos += 2;
                self.operand(size::perl_class(c, self.fold));
            }
            _ => {
                let ch = self.escaped_char()?;
                self.operand(size::literal(ch, self.fold));
            }
        }
        Ok(())
    }

    /// `\pN`, `\p{Name}`, `\P{^Name}` at the current position; returns its program cost
    /// and that of its complement.
    fn unicode_class(&mut self, start: usize) -> Result<(u64, u64), Re2Error> {
        let mut negated = self.peek_at(1) == Some('P');
        self.pos += 2;
        let name = match self.bump() {
            None => return Err(err(Re2ErrorKind::CharRange, &self.src[start..])),
            Some('{') => {
                let rest = self.rest();
                let Some(end) = rest.find('}') else {
                    return Err(err(Re2ErrorKind::CharRange, &self.src[start..]));
                };
                self.pos += end + 1;
                &rest[..end]
            }
            Some(c) => &self.src[self.pos - c.len_utf8()..self.pos],
        };
        let name = match name.strip_prefix('^') {
            Some(n) => {
                negated = !negated;
                n
            }
            None => name,
        };
        let Ok(i) = UNICODE_CLASSES.binary_search_by(|(n, _)| (*n).cmp(name)) else {
            return Err(err(Re2ErrorKind::CharRange, &self.src[start..self.pos]));
        };
        let costs = UNICODE_CLASSES[i].1;
        let fold = if self.fold { 2 } else { 0 };
        // One more than measured, for the alternation joining it to its neighbours.
        let cost = |negated: bool| u64::from(costs[usize::from(negated) + fold]) + 1;
        Ok((cost(negated), cost(!negated)))
    }

    /// An escape that stands for one character (`\n`, `\x41`, `\.`); returns it.
    fn escaped_char(&mut self) -> Result<char, Re2Error> {
        let start = self.pos;
        self.pos += 1;
        let Some(c) = self.bump() else {
            return Err(err(Re2ErrorKind::TrailingBackslash, ""));
        };
        let bad = |p: &Self| err(Re2ErrorKind::Escape, &p.src[start..p.pos]);
        match c {
            '1'..='7' if !self.peek().is_some_and(|d| d.is_digit(8)) => Err(bad(self)),
            '0'..='7' => {
                let mut value = c.to_digit(8).unwrap_or(0);
                for _ in 0..2 {
                    match self.peek().and_then(|d| d.to_digit(8)) {
                        Some(d) => {
                            value = value * 8 + d;
                            self.bump();
                        }
                        None => break,
                    }
                }
                char::from_u32(value).ok_or_else(|| bad(self))
            }
            'x' => {
                if self.peek() == Some('{') {
                    self.bump();
                    let mut value: u32 = 0;
                    let mut digits = 0;
                    loop {
                        match self.bump() {
                            Some('}') if digits > 0 => break,
                            Some(h) if h.is_ascii_hexdigit() => {
                                digits += 1;
                                value = value.saturating_mul(16) + h.to_digit(16).unwrap_or(0);
                                if value > 0x10FFFF {
                                    return Err(bad(self));
                                }
                            }
                            _ => return Err(bad(self)),
                        }
                    }
                    // Surrogates are not characters; RE2 and Go treat them as U+FFFD.
                    Ok(char::from_u32(value).unwrap_or(char::REPLACEMENT_CHARACTER))
                } else {
                    let mut value = 0;
                    for _ in 0..2 {
                        match self.bump().and_then(|h| h.to_digit(16)) {
                            Some(d) => value = value * 16 + d,
                            None => return Err(bad(self)),
                        }
                    }
                    char::from_u32(value).ok_or_else(|| bad(self))
                }
            }
            'a' => Ok('\u{7}'),
            'f' => Ok('\u{c}'),
            'n' => Ok('\n'),
            'r' => Ok('\r'),
            't' => Ok('\t'),
            'v' => Ok('\u{b}'),
            c if c.is_ascii() && !c.is_ascii_alphanumeric() => Ok(c),
            _ => Err(bad(self)),
        }
    }

    /// A bracketed class starting at the current `[`.
    fn class(&mut self) -> Result<u64, Re2Error> {
        let start = self.pos;
        self.pos += 1;
        let negated = self.peek() == Some('^');
        if negated {
            self.bump();
        }
        let missing = |p: &Self| err(Re2ErrorKind::MissingBracket, &p.src[start..]);
        let mut cost = size::ClassCost::new();
        let mut first = true;
        loop {
            let Some(c) = self.peek() else {
                return Err(missing(self));
            };
            if c == ']' && !first {
                self.bump();
                return Ok(cost.total(negated, self.fold));
            }
            first = false;
            let rest = self.rest();
            // `[:name:]` when a `:]` follows; otherwise the `[` is literal.
            if let Some(after) = rest.strip_prefix("[:")
                && let Some(end) = after.find(":]")
            {
                let name = &after[..end];
                let (name, posix_negated) = match name.strip_prefix('^') {
                    Some(n) => (n, true),
                    None => (name, false),
                };
                if !POSIX_CLASSES.contains(&name) {
                    return Err(err(Re2ErrorKind::CharRange, &rest[..end + 4]));
                }
                cost.posix(posix_negated, self.fold);
                self.pos += end + 4;
                continue;
            }
            if c == '\\' {
                match self.peek_at(1) {
                    Some('p' | 'P') => {
                        let at = self.pos;
                        let (class, complement) = self.unicode_class(at)?;
                        cost.unicode(class, complement);
                        continue;
                    }
                    Some(perl @ ('d' | 'D' | 's' | 'S' | 'w' | 'W')) => {
                        cost.perl(perl, self.fold);
                        self.pos += 2;
                        continue;
                    }
                    _ => {}
                }
            }
            // A single character or a range lo-hi; `-` before `]` is literal.
            let range_start = self.pos;
            let lo = self.class_char(start)?;
            let rest = self.rest();
            let mut hi = lo;
            if rest.starts_with('-') && !rest.starts_with("-]") && rest.len() > 1 {
                self.bump();
                hi = self.class_char(start)?;
                if hi < lo {
                    return Err(err(
                        Re2ErrorKind::CharRange,
                        &self.src[range_start..self.pos],
                    ));
                }
            }
            cost.range(lo, hi);
        }
    }

    /// One character of a class: literal or escaped.
    fn class_char(&mut self, class_start: usize) -> Result<char, Re2Error> {
        match self.peek() {
            None => Err(err(Re2ErrorKind::MissingBracket, &self.src[class_start..])),
            Some('\\') => self.escaped_char(),
            Some(c) => {
                self.bump();
                Ok(c)
            }
        }
    }
}

/// A repeat count: decimal digits without a leading zero (`{01}` is literal text: `None`).
/// `Some(None)`: ten or more digits, too many for RE2 to read as a count.
fn repeat_count(s: &str) -> Option<Option<u32>> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    if s.len() >= 2 && s.starts_with('0') {
        return None;
    }
    if s.len() >= 10 {
        return Some(None);
    }
    Some(s.parse::<u32>().ok())
}

/// The `\p{..}` names accepted in patterns, for tests and documentation.
pub fn unicode_class_names() -> impl Iterator<Item = &'static str> {
    UNICODE_CLASSES.iter().map(|(name, _)| *name)
}

/// POSIX class names inside brackets (`[[:alpha:]]`, `[[:^digit:]]`).
const POSIX_CLASSES: [&str; 14] = [
    "alnum", "alpha", "ascii", "blank", "cntrl", "digit", "graph", "lower", "print", "punct",
    "space", "upper", "word", "xdigit",
];

#[cfg(test)]
mod tests;
