//! JSON values built under a budget of text, so that alias expansion cannot make a small source
//! take unbounded memory.
//!
//! serde-saphyr bounds how many events aliases replay, but not how large they are: an anchor
//! on a 100 KB string used 10,000 times is 10,000 events and 1 GB of text. Without aliases the
//! text of a source's values is at most the source itself (escapes and folding only shrink
//! it), so the budget is the source's size plus a fixed allowance for what aliases add. It is
//! charged while values are built, and the parse stops with [`EXPANSION_MESSAGE`] as soon as it
//! is spent, before the memory is.

use std::cell::Cell;
use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};

/// The start of the error message when the budget is spent.
pub(super) const EXPANSION_MESSAGE: &str = "alias expansion budget exceeded";

thread_local! {
    /// Bytes of text values may still take on this thread; `usize::MAX` outside a budget.
    static REMAINING: Cell<usize> = const { Cell::new(usize::MAX) };
}

/// Run `parse` with `bytes` of text to spend on values built as [`BoundedValue`].
pub(super) fn with_text_budget<T>(bytes: usize, parse: impl FnOnce() -> T) -> T {
    let outer = REMAINING.with(|r| r.replace(bytes));
    let result = parse();
    REMAINING.with(|r| r.set(outer));
    result
}

fn charge<E: de::Error>(bytes: usize) -> Result<(), E> {
    REMAINING.with(|remaining| match remaining.get().checked_sub(bytes) {
        Some(left) => {
            remaining.set(left);
            Ok(())
        }
        None => Err(E::custom(EXPANSION_MESSAGE)),
    })
}

/// A [`Value`] whose strings (keys included) are charged to the thread's text budget.
pub(super) struct BoundedValue(pub(super) Value);

impl<'de> Deserialize<'de> for BoundedValue {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer
            .deserialize_any(BoundedVisitor)
            .map(BoundedValue)
    }
}

/// A map key, charged like any other text.
pub(super) struct BoundedKey(pub(super) String);

impl<'de> Deserialize<'de> for BoundedKey {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let key = String::deserialize(deserializer)?;
        charge(key.len())?;
        Ok(BoundedKey(key))
    }
}

/// The visitor of `serde_json::Value`, with every string charged.
pub(super) struct BoundedVisitor;

impl<'de> Visitor<'de> for BoundedVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any YAML value")
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        Ok(Number::from_f64(v).map_or(Value::Null, Value::Number))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Value, E> {
        charge(v.len())?;
        Ok(Value::String(v.to_owned()))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Value, E> {
        charge(v.len())?;
        Ok(Value::String(v))
    }
    fn visit_unit<E: de::Error>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_none<E: de::Error>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        BoundedValue::deserialize(d).map(|v| v.0)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(BoundedValue(item)) = seq.next_element()? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Value, A::Error> {
        let mut map = Map::new();
        while let Some(BoundedKey(key)) = access.next_key()? {
            let BoundedValue(value) = access.next_value()?;
            map.insert(key, value);
        }
        Ok(Value::Object(map))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Value, String> {
        serde_saphyr::from_str::<BoundedValue>(text)
            .map(|v| v.0)
            .map_err(|e| e.to_string())
    }

    #[test]
    fn values_within_the_budget_are_built_as_serde_json_builds_them() {
        let text = "a: [1, -2, 3.5, true, ~, text]\nb: {c: d}\n";
        let value = with_text_budget(text.len(), || parse(text)).unwrap();
        let plain: Value = serde_saphyr::from_str(text).unwrap();
        assert_eq!(value, plain);
    }

    #[test]
    fn text_past_the_budget_stops_the_parse() {
        let text = format!("a: &a {}\nb: [*a, *a, *a]\n", "x".repeat(100));
        assert!(with_text_budget(1_000, || parse(&text)).is_ok());
        let err = with_text_budget(300, || parse(&text)).unwrap_err();
        assert!(err.contains(EXPANSION_MESSAGE), "{err}");
        // Outside a budget nothing is charged.
        assert!(parse(&text).is_ok());
    }
}
