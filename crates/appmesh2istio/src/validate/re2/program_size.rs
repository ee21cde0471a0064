//! An upper bound of the size of the program RE2 compiles a pattern to.
//!
//! Envoy refuses a regex whose RE2 program has more instructions than the runtime value
//! `re2.max_program_size.error_level`, which Istio's bootstrap sets to 32768 (and RE2
//! itself refuses programs beyond its memory budget). A refused regex makes Envoy reject the
//! whole route configuration it is part of, so our output must stay below the limit.
//!
//! Only a compiler knows the exact size; this module adds up what each piece can cost at
//! most, following how RE2 compiles: a literal is one instruction per UTF-8 byte, a class
//! one per byte range of its UTF-8 sequences plus the alternations joining them (Unicode
//! classes: measured per name, see [`super::names`]), `x*`, `x+`, `x?` add one, `x{n,m}` is
//! `n` copies of `x` and `m-n` optional ones, a capture adds two, an alternation one per
//! `|`, and the program has a few instructions of its own. Where a piece is hard to count
//! (non-ASCII ranges, negated or case-folded classes) the bound is generous. The
//! differential test checks on its whole corpus that the bound is never below RE2's real
//! program size.

/// Istio's `re2.max_program_size.error_level`: Envoy refuses larger regex programs.
pub const MAX_PROGRAM_SIZE: u64 = 32768;

/// Instructions of the program around the pattern: fail, match and the unanchored `.*?`
/// prefix (2), plus one to spare.
pub(super) const PROGRAM_OVERHEAD: u64 = 5;

/// A literal character; `fold`: under `(?i)`.
pub(super) fn literal(c: char, fold: bool) -> u64 {
    let bytes = c.len_utf8() as u64;
    match (fold, c.is_ascii()) {
        (false, _) => bytes,
        // `k` and `s` also fold to the Kelvin sign and the long s (3 and 2 bytes).
        (true, true) if c.is_ascii_alphabetic() => 4,
        (true, true) => 1,
        // At most three case variants of up to four bytes, joined by two alternations.
        (true, false) => 14,
    }
}

/// An empty-width assertion (`^`, `$`, `\b`, `\A`, ...) or `\C`.
pub(super) const ASSERTION: u64 = 1;

/// `.`: every character but newline, as UTF-8 sequences.
pub(super) const ANY_CHAR: u64 = 8;

/// A Perl class (`\\d`, `\\s`, `\\w` and the negations `\\D`, `\\S`, `\\W`) as measured
/// with RE2, plus two: `[plain, folded]`.
pub(super) fn perl_class(c: char, fold: bool) -> u64 {
    let [plain, folded] = match c {
        'd' => [3, 3],
        's' => [5, 5],
        'w' => [5, 10],
        'D' => [10, 10],
        'S' => [12, 12],
        _ => [13, 29],
    };
    if fold { folded } else { plain }
}

/// The negation of a Perl class letter (`d` ↔ `D`).
fn perl_complement(c: char) -> char {
    if c.is_ascii_lowercase() {
        c.to_ascii_uppercase()
    } else {
        c.to_ascii_lowercase()
    }
}

/// A POSIX class `[:name:]` or `[:^name:]`, the largest RE2 compiles one to, plus two.
fn posix_class(negated: bool, fold: bool) -> u64 {
    match (negated, fold) {
        (false, false) => 6,
        (false, true) => 10,
        (true, false) => 13,
        (true, true) => 29,
    }
}

/// A range of non-ASCII characters: per UTF-8 length it spans, at most `2n-1` sequences of
/// `n` bytes (3-byte ranges split once more around the surrogates), plus alternations.
fn non_ascii_range(lo: char, hi: char) -> u64 {
    let (lo, hi) = (u32::from(lo).max(0x80), u32::from(hi));
    let mut cost = 0;
    let mut classes = 0;
    for (first, last, bound) in [
        (0x80, 0x7FF, 6),
        (0x800, 0xFFFF, 19),
        (0x10000, 0x10FFFF, 28),
    ] {
        if lo <= last && hi >= first {
            cost += bound;
            classes += 1;
        }
    }
    cost + classes
}

/// What goes into one bracketed class, for its bound.
#[derive(Debug, Default)]
pub(super) struct ClassCost {
    /// ASCII ranges (or single characters).
    ascii_ranges: u64,
    /// Non-ASCII ranges, bounded without case folding.
    non_ascii: u64,
    /// Classes whose measured costs already account for case folding.
    measured: u64,
    /// Pieces, each needing up to one alternation instruction.
    items: u64,
    /// Only ASCII ranges so far (the complement is then cheap).
    all_ascii: bool,
    /// The cost of the complement when the class is one measured class so far.
    single_complement: Option<u64>,
}

impl ClassCost {
    pub(super) fn new() -> ClassCost {
        ClassCost {
            all_ascii: true,
            ..ClassCost::default()
        }
    }

    fn measured(&mut self, cost: u64, complement: u64) {
        self.single_complement = (self.items == 0).then_some(complement);
        self.items += 1;
        self.measured += cost;
        self.all_ascii = false;
    }

    /// A character range `lo-hi` (a single character when equal).
    pub(super) fn range(&mut self, lo: char, hi: char) {
        self.single_complement = None;
        self.items += 1;
        if lo.is_ascii() {
            self.ascii_ranges += 1;
        }
        if !hi.is_ascii() {
            self.non_ascii += non_ascii_range(lo, hi);
            self.all_ascii = false;
        }
    }

    /// A POSIX class `[:name:]` or `[:^name:]`.
    pub(super) fn posix(&mut self, negated: bool, fold: bool) {
        self.measured(posix_class(negated, fold), posix_class(!negated, fold));
    }

    /// `\\d`, `\\s`, `\\w` or a negation.
    pub(super) fn perl(&mut self, c: char, fold: bool) {
        self.measured(perl_class(c, fold), perl_class(perl_complement(c), fold));
    }

    /// A Unicode class and its complement, as measured (folding included).
    pub(super) fn unicode(&mut self, cost: u64, complement: u64) {
        self.measured(cost, complement);
    }

    /// The bound of the whole class.
    pub(super) fn total(&self, negated: bool, fold: bool) -> u64 {
        // Case folding adds the other case of ASCII letters and the Kelvin sign and long s
        // of `k` and `s`; non-ASCII characters have at most three case variants.
        let ascii = |ranges: u64| match (fold, ranges) {
            (_, 0) => 0,
            (true, n) => 4 * n + 16,
            (false, n) => 2 * n,
        };
        if negated {
            if let (Some(complement), 1) = (self.single_complement, self.items) {
                return complement;
            }
            if self.all_ascii {
                // The ASCII gaps plus all of U+0080..U+10FFFF (7).
                return ascii(self.ascii_ranges + 1) + 8;
            }
        }
        let non_ascii = if fold {
            3 * self.non_ascii
        } else {
            self.non_ascii
        };
        let positive = ascii(self.ascii_ranges) + non_ascii + self.measured + self.items;
        if negated { 2 * positive + 16 } else { positive }
    }
}

/// `x*`, `x+`, `x?` (a repeated empty-width assertion takes two more).
pub(super) fn star(sub: u64) -> u64 {
    sub + 3
}

/// `x{min,max}` (`max` `None`: open): RE2 writes `min` copies of `x`, then `x*` or
/// `max - min` nested optional copies.
pub(super) fn counted(sub: u64, min: u32, max: Option<u32>) -> u64 {
    let min = u64::from(min);
    match max {
        None if min == 0 => sub + 1,
        None => min.saturating_mul(sub) + 1,
        Some(max) => min
            .saturating_mul(sub)
            .saturating_add((u64::from(max) - min.min(u64::from(max))).saturating_mul(sub + 1)),
    }
}

/// A capturing group adds its two capture instructions.
pub(super) const CAPTURE: u64 = 2;
