//! Durations as Istio's proto-JSON writes and reads them.
//!
//! Istio validates every duration as "≥ 1 ms and a whole number of milliseconds"
//! (`agent.ValidateDuration`), so the model stores whole milliseconds and cannot even hold a
//! sub-millisecond value. Reading accepts Go `time.ParseDuration` syntax, which is what the
//! Istio webhook and the apiserver's CEL `duration()` accept.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A non-negative duration in whole milliseconds.
///
/// Serialises as `"15s"` when it is a whole number of seconds, otherwise as `"1500ms"`;
/// [`Duration::ZERO`] serialises as `"0s"`, which Istio accepts only for
/// `connectionPool.tcp.idleTimeout` (the validator reports it anywhere else).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Duration(u64);

/// Why a Go duration string could not become a [`Duration`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DurationError {
    #[error("invalid duration {0:?}: expected Go syntax such as \"15s\", \"1500ms\" or \"1m30s\"")]
    Syntax(String),
    #[error("invalid duration {0:?}: unknown unit {1:?} (valid: ns, us, µs, ms, s, m, h)")]
    Unit(String, String),
    #[error("invalid duration {0:?}: negative durations are not allowed")]
    Negative(String),
    #[error("invalid duration {0:?}: out of range for a Go duration")]
    Overflow(String),
    #[error("invalid duration {0:?}: not a whole number of milliseconds")]
    SubMillisecond(String),
}

const NANOS_PER_MILLI: u128 = 1_000_000;

impl Duration {
    /// `0s`: only legal where Istio gives zero a meaning (`tcp.idleTimeout` = disabled).
    pub const ZERO: Duration = Duration(0);

    /// The largest value Go's `time.Duration` (int64 nanoseconds) can hold, in whole ms.
    /// Istio parses durations into that type, so anything above it is rejected.
    pub const MAX_GO_MILLIS: u64 = (i64::MAX as u64) / 1_000_000;

    pub const fn from_millis(millis: u64) -> Duration {
        Duration(millis)
    }

    /// Saturates instead of overflowing; the validator reports values above
    /// [`Duration::MAX_GO_MILLIS`].
    pub const fn from_secs(secs: u64) -> Duration {
        Duration(secs.saturating_mul(1000))
    }

    pub const fn as_millis(self) -> u64 {
        self.0
    }

    pub const fn is_zero(self) -> bool {
        self.0 == 0
    }

    /// Parses Go `time.ParseDuration` syntax (`"1h2m3.5s"`, `"250ms"`, `"0"`).
    pub fn parse(text: &str) -> Result<Duration, DurationError> {
        let nanos = parse_go_nanos(text)?;
        if !nanos.is_multiple_of(NANOS_PER_MILLI) {
            return Err(DurationError::SubMillisecond(text.to_owned()));
        }
        u64::try_from(nanos / NANOS_PER_MILLI)
            .map(Duration)
            .map_err(|_| DurationError::Overflow(text.to_owned()))
    }
}

/// Go's `time.ParseDuration`, returning non-negative nanoseconds. Fractions are computed
/// exactly (Go uses floating point for them; the difference only shows below 1 ns).
fn parse_go_nanos(text: &str) -> Result<u128, DurationError> {
    let syntax = || DurationError::Syntax(text.to_owned());
    let mut rest = text;
    let mut negative = false;
    if let Some(r) = rest.strip_prefix('-') {
        negative = true;
        rest = r;
    } else if let Some(r) = rest.strip_prefix('+') {
        rest = r;
    }
    if rest == "0" {
        return Ok(0);
    }
    if rest.is_empty() {
        return Err(syntax());
    }
    let mut total: u128 = 0;
    while !rest.is_empty() {
        let int_len = rest.bytes().take_while(u8::is_ascii_digit).count();
        let (int_part, after) = rest.split_at(int_len);
        let (frac_part, after) = match after.strip_prefix('.') {
            Some(a) => {
                let n = a.bytes().take_while(u8::is_ascii_digit).count();
                a.split_at(n)
            }
            None => ("", after),
        };
        if int_part.is_empty() && frac_part.is_empty() {
            return Err(syntax());
        }
        let unit_len = after
            .char_indices()
            .find(|(_, c)| c.is_ascii_digit() || *c == '.')
            .map_or(after.len(), |(i, _)| i);
        let (unit, after) = after.split_at(unit_len);
        let unit_nanos: u128 = match unit {
            "ns" => 1,
            "us" | "\u{b5}s" | "\u{3bc}s" => 1_000,
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" => 60_000_000_000,
            "h" => 3_600_000_000_000,
            "" => return Err(syntax()),
            other => return Err(DurationError::Unit(text.to_owned(), other.to_owned())),
        };
        let overflow = || DurationError::Overflow(text.to_owned());
        let int_value: u128 = if int_part.is_empty() {
            0
        } else {
            int_part.parse().map_err(|_| overflow())?
        };
        let mut component = int_value.checked_mul(unit_nanos).ok_or_else(overflow)?;
        if !frac_part.is_empty() {
            // Digits beyond nanosecond precision cannot change the result; cap them so the
            // power of ten stays small.
            let digits = &frac_part[..frac_part.len().min(20)];
            let frac: u128 = digits.parse().map_err(|_| overflow())?;
            let scale = 10u128.pow(u32::try_from(digits.len()).map_err(|_| overflow())?);
            component += frac * unit_nanos / scale;
        }
        total = total.checked_add(component).ok_or_else(overflow)?;
        if total > i64::MAX as u128 {
            return Err(overflow());
        }
        rest = after;
    }
    if negative && total != 0 {
        return Err(DurationError::Negative(text.to_owned()));
    }
    Ok(total)
}

impl fmt::Display for Duration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_multiple_of(1000) {
            write!(f, "{}s", self.0 / 1000)
        } else {
            write!(f, "{}ms", self.0)
        }
    }
}

impl FromStr for Duration {
    type Err = DurationError;

    fn from_str(s: &str) -> Result<Duration, DurationError> {
        Duration::parse(s)
    }
}

impl Serialize for Duration {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Duration {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Duration, D::Error> {
        let text = String::deserialize(deserializer)?;
        Duration::parse(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whole_seconds_print_as_seconds_others_as_millis() {
        assert_eq!(Duration::from_secs(15).to_string(), "15s");
        assert_eq!(Duration::from_millis(1500).to_string(), "1500ms");
        assert_eq!(Duration::from_millis(1).to_string(), "1ms");
        assert_eq!(Duration::ZERO.to_string(), "0s");
        assert_eq!(
            serde_json::to_string(&Duration::from_secs(300)).unwrap(),
            "\"300s\""
        );
    }

    #[test]
    fn parses_go_syntax() {
        assert_eq!(Duration::parse("15s").unwrap(), Duration::from_secs(15));
        assert_eq!(
            Duration::parse("1.5s").unwrap(),
            Duration::from_millis(1500)
        );
        assert_eq!(Duration::parse("1m30s").unwrap(), Duration::from_secs(90));
        assert_eq!(Duration::parse("2h").unwrap(), Duration::from_secs(7200));
        assert_eq!(
            Duration::parse("250ms").unwrap(),
            Duration::from_millis(250)
        );
        assert_eq!(
            Duration::parse("1000000ns").unwrap(),
            Duration::from_millis(1)
        );
        assert_eq!(Duration::parse("2000us").unwrap(), Duration::from_millis(2));
        assert_eq!(
            Duration::parse("3000\u{b5}s").unwrap(),
            Duration::from_millis(3)
        );
        assert_eq!(Duration::parse(".5s").unwrap(), Duration::from_millis(500));
        assert_eq!(Duration::parse("0").unwrap(), Duration::ZERO);
        assert_eq!(Duration::parse("0s").unwrap(), Duration::ZERO);
        assert_eq!(Duration::parse("-0s").unwrap(), Duration::ZERO);
    }

    #[test]
    fn rejects_what_istio_rejects() {
        assert!(matches!(
            Duration::parse("1.5ms"),
            Err(DurationError::SubMillisecond(_))
        ));
        assert!(matches!(
            Duration::parse("500us"),
            Err(DurationError::SubMillisecond(_))
        ));
        assert!(matches!(Duration::parse("1d"), Err(DurationError::Unit(_, u)) if u == "d"));
        assert!(matches!(
            Duration::parse("-1s"),
            Err(DurationError::Negative(_))
        ));
        assert!(matches!(
            Duration::parse("15"),
            Err(DurationError::Syntax(_))
        ));
        assert!(matches!(Duration::parse(""), Err(DurationError::Syntax(_))));
        assert!(matches!(
            Duration::parse("s"),
            Err(DurationError::Syntax(_))
        ));
        assert!(matches!(
            Duration::parse("3000000h"),
            Err(DurationError::Overflow(_))
        ));
    }

    #[test]
    fn round_trips_through_json() {
        for d in [
            Duration::ZERO,
            Duration::from_millis(1),
            Duration::from_millis(1500),
        ] {
            let json = serde_json::to_string(&d).unwrap();
            assert_eq!(serde_json::from_str::<Duration>(&json).unwrap(), d);
        }
        assert!(serde_json::from_str::<Duration>("\"1.5ms\"").is_err());
    }
}
