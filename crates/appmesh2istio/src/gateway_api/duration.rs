//! Gateway API durations (GEP-2257): one to four `<1-5 digits><h|m|s|ms>` parts, e.g.
//! `1h30m`, `1s500ms`. Stricter than Go's syntax that Istio's own durations accept: no
//! fractions, no `us`/`ns`, at most 99999 of a unit.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A non-negative duration in whole milliseconds, written in the Gateway API format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Duration(u64);

const MS_PER_S: u64 = 1000;
const MS_PER_M: u64 = 60 * MS_PER_S;
const MS_PER_H: u64 = 60 * MS_PER_M;

impl Duration {
    /// `0s`: in `timeouts` it disables the timeout.
    pub const ZERO: Duration = Duration(0);
    /// The longest duration the format can write: 99999h59m59s999ms.
    pub const MAX: Duration = Duration(99_999 * MS_PER_H + 59 * MS_PER_M + 59 * MS_PER_S + 999);

    pub const fn from_millis(millis: u64) -> Duration {
        Duration(millis)
    }

    pub const fn as_millis(self) -> u64 {
        self.0
    }

    /// Parses the Gateway API format; `None` for anything else.
    pub fn parse(text: &str) -> Option<Duration> {
        let mut rest = text;
        let mut total: u64 = 0;
        let mut parts = 0;
        while !rest.is_empty() {
            let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
            if digits == 0 || digits > 5 {
                return None;
            }
            let value: u64 = rest[..digits].parse().ok()?;
            rest = &rest[digits..];
            let (unit, after) = if let Some(after) = rest.strip_prefix("ms") {
                (1, after)
            } else if let Some(after) = rest.strip_prefix('h') {
                (MS_PER_H, after)
            } else if let Some(after) = rest.strip_prefix('m') {
                (MS_PER_M, after)
            } else if let Some(after) = rest.strip_prefix('s') {
                (MS_PER_S, after)
            } else {
                return None;
            };
            total = total.checked_add(value.checked_mul(unit)?)?;
            rest = after;
            parts += 1;
        }
        (1..=4).contains(&parts).then_some(Duration(total))
    }
}

impl From<crate::istio::Duration> for Duration {
    fn from(d: crate::istio::Duration) -> Duration {
        Duration(d.as_millis())
    }
}

/// Largest units first, zero parts left out (`0s` for zero). Beyond [`Duration::MAX`] the
/// hours take more than five digits, which the validator reports.
impl fmt::Display for Duration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0 == 0 {
            return f.write_str("0s");
        }
        let parts = [
            (self.0 / MS_PER_H, "h"),
            (self.0 % MS_PER_H / MS_PER_M, "m"),
            (self.0 % MS_PER_M / MS_PER_S, "s"),
            (self.0 % MS_PER_S, "ms"),
        ];
        for (value, unit) in parts {
            if value > 0 {
                write!(f, "{value}{unit}")?;
            }
        }
        Ok(())
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
        Duration::parse(&text).ok_or_else(|| {
            serde::de::Error::custom(format!(
                "invalid Gateway API duration {text:?}: expected e.g. \"15s\", \"1s500ms\", \"1h30m\""
            ))
        })
    }
}
