//! YAML (and JSON, a subset of YAML 1.2) into one JSON value per document, with the line where
//! each document (and each item of a `kind: List`) starts, under explicit resource limits.

use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};
use serde_saphyr::Spanned;

use super::expansion::{
    BoundedKey, BoundedValue, BoundedVisitor, EXPANSION_MESSAGE, with_text_budget,
};

/// Resource limits for parsing one input source.
///
/// serde-saphyr's defaults (1,024 documents, 250,000 nodes) refuse ordinary large inputs such
/// as a `kubectl get -A -o yaml` dump of a big cluster; these defaults accept tens of thousands
/// of documents while alias expansion (billion-laughs bombs) and nesting depth stay bounded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct YamlLimits {
    pub max_documents: usize,
    pub max_nodes: usize,
    /// Nesting depth of mappings and sequences.
    pub max_depth: usize,
    /// Alias (`*ref`) occurrences in one source.
    pub max_aliases: usize,
    /// Events replayed by alias expansion in one source: what an alias bomb inflates.
    pub max_alias_replayed_events: usize,
    /// Total bytes of scalar text in one source.
    pub max_scalar_bytes: usize,
    /// Bytes of text that alias expansion may add to a source, beyond the source's own size:
    /// what bounds memory when a large scalar or mapping is aliased many times.
    pub max_alias_expansion_bytes: usize,
}

impl Default for YamlLimits {
    fn default() -> Self {
        YamlLimits {
            max_documents: 1_000_000,
            max_nodes: 50_000_000,
            max_depth: 256,
            max_aliases: 50_000,
            max_alias_replayed_events: 1_000_000,
            max_scalar_bytes: 1 << 30,
            max_alias_expansion_bytes: 32 << 20,
        }
    }
}

impl YamlLimits {
    fn options(&self) -> serde_saphyr::Options {
        let mut budget = serde_saphyr::Budget::default();
        budget.max_documents = self.max_documents;
        budget.max_nodes = self.max_nodes;
        // Every node is at most two events (start/end) plus per-document events.
        budget.max_events = self
            .max_nodes
            .saturating_mul(2)
            .saturating_add(self.max_documents * 4);
        budget.max_depth = self.max_depth;
        budget.max_aliases = self.max_aliases;
        budget.max_total_scalar_bytes = self.max_scalar_bytes;
        budget.max_recorded_anchor_events = self.max_alias_replayed_events;
        budget.flow_nesting_limit = self.max_depth;
        // The alias/anchor ratio heuristic refuses harmless files (one anchor used 100 times,
        // which kubectl accepts) and, checked only after the whole source was expanded, does not
        // bound memory: the expansion budget of `parse_documents` does.
        budget.enforce_alias_anchor_ratio = false;
        let mut options = serde_saphyr::Options::default();
        options.budget = Some(budget);
        options.alias_limits.max_total_replayed_events = self.max_alias_replayed_events;
        // Comments are never used; not emitting them saves work on large inputs.
        options.emit_comments = false;
        // Messages are single-line: the loader names file, line and column itself.
        options.with_snippet = false;
        options
    }
}

/// One document (or one item of a List document).
#[derive(Debug, Clone, PartialEq)]
pub struct RawDocument {
    /// 1-based line of the document's first node.
    pub line: usize,
    pub value: Value,
}

/// A YAML syntax error or a limit breach, with its position when the parser gave one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct YamlError {
    pub line: Option<usize>,
    pub column: Option<usize>,
    pub message: String,
    /// A resource limit was hit (alias expansion, nesting, size), not a syntax error.
    pub limit: bool,
}

/// Parse every document of `text`. Empty documents are dropped. A root mapping's `items`
/// entries keep their own line numbers (see [`ParsedDocument::items`]).
pub fn parse_documents(text: &str, limits: &YamlLimits) -> Result<Vec<ParsedDocument>, YamlError> {
    let json_stream = json_stream_as_yaml(text)?;
    let text = json_stream.as_deref().unwrap_or(text);
    let untagged = super::tags::timestamps_as_text(text);
    let text = untagged.as_deref().unwrap_or(text);
    // Without aliases a source's values hold at most its own bytes of text; what aliases add
    // beyond that is bounded, so memory stays proportional to the input.
    let budget = text.len().saturating_add(limits.max_alias_expansion_bytes);
    let parsed: Result<Vec<Spanned<Root>>, _> = with_text_budget(budget, || {
        serde_saphyr::from_str_multiple_with_options(text, limits.options())
    });
    let docs = parsed.map_err(|e| {
        let mut error = to_yaml_error(&e, limits);
        if error.message.starts_with(EXPANSION_MESSAGE) {
            error.message = format!(
                "aliases (*name) expand this source by more than {} MiB of text beyond its own size",
                limits.max_alias_expansion_bytes >> 20
            );
            error.limit = true;
        }
        error
    })?;
    Ok(docs
        .into_iter()
        .map(|doc| {
            let line = to_line(doc.referenced.line());
            match doc.value {
                Root::Map { map, items } => ParsedDocument {
                    document: RawDocument {
                        line,
                        value: Value::Object(map),
                    },
                    items: items.map(|items| {
                        items
                            .into_iter()
                            .map(|item| RawDocument {
                                line: to_line(item.referenced.line()),
                                value: item.value.0,
                            })
                            .collect()
                    }),
                },
                Root::Other(value) => ParsedDocument {
                    document: RawDocument { line, value },
                    items: None,
                },
            }
        })
        .collect())
}

/// A parsed document. For a root mapping with an `items` sequence, the items are also given
/// separately with their own lines (and left out of `document.value`).
#[derive(Debug, Clone, PartialEq)]
pub struct ParsedDocument {
    pub document: RawDocument,
    pub items: Option<Vec<RawDocument>>,
}

fn to_line(line: u64) -> usize {
    usize::try_from(line).unwrap_or(usize::MAX).max(1)
}

fn to_yaml_error(err: &serde_saphyr::Error, limits: &YamlLimits) -> YamlError {
    let location = err.location().filter(|l| l.line() > 0);
    let raw = user_message(err.without_snippet(), limits)
        .unwrap_or_else(|| err.without_snippet().to_string());
    // A budget breach raised while a value is built reaches us as text, with the library's
    // debug form of the breach ("budget breached: RecordedAnchorEvents { .. }").
    let budget_breach = raw.starts_with(BUDGET_BREACHED);
    let raw = match raw.strip_prefix(BUDGET_BREACHED) {
        Some(rest) => breach_message(rest, limits),
        None => raw,
    };
    // The message repeats the position ("... at line 3, column 7 (defined at ...)"): the
    // loader prints it once, in front.
    let message = match raw.find(" at line ") {
        Some(at) if location.is_some() => raw[..at].to_owned(),
        _ => raw,
    };
    let limit = budget_breach
        || matches!(
            err.without_snippet(),
            serde_saphyr::Error::Budget { .. }
                | serde_saphyr::Error::AliasReplayLimitExceeded { .. }
                | serde_saphyr::Error::AliasExpansionLimitExceeded { .. }
                | serde_saphyr::Error::AliasReplayStackDepthExceeded { .. }
                | serde_saphyr::Error::AliasReplayCounterOverflow { .. }
        )
        || message.starts_with(EXPANSION_MESSAGE)
        || message.contains("recursion limit")
        || message.contains("nesting limit");
    YamlError {
        line: location.map(|l| to_line(l.line())),
        column: location.map(|l| to_line(l.column())),
        message,
        limit,
    }
}

/// The message of `err` in the user's terms, where the library's own would name its
/// internals (option names, Rust types, budget structures).
fn user_message(err: &serde_saphyr::Error, limits: &YamlLimits) -> Option<String> {
    use serde_saphyr::Error;
    Some(match err {
        Error::DuplicateMappingKey { key: Some(key), .. } => {
            format!("the key `{key}` appears twice in the same mapping (kubectl refuses this too)")
        }
        Error::DuplicateMappingKey { key: None, .. } => {
            "a key appears twice in the same mapping (kubectl refuses this too)".to_owned()
        }
        Error::NullIntoString { .. } => {
            "a mapping key or value that must be text is empty (null)".to_owned()
        }
        Error::TaggedScalarCannotDeserializeIntoString { .. } => {
            "a value with a YAML type tag (such as !!binary or !!float) cannot be read as text here"
                .to_owned()
        }
        Error::AliasReplayLimitExceeded { .. } | Error::AliasReplayCounterOverflow { .. } => {
            format!(
                "aliases (*name) expand to more than {} values",
                limits.max_alias_replayed_events
            )
        }
        Error::AliasReplayStackDepthExceeded { max_depth, .. } => {
            format!("aliases (*name) are nested more than {max_depth} deep")
        }
        Error::AliasExpansionLimitExceeded {
            max_expansions_per_anchor,
            ..
        } => format!("one anchor (&name) is used more than {max_expansions_per_anchor} times"),
        Error::Budget { breach, .. } => breach_message(&format!("{breach:?}"), limits),
        _ => return None,
    })
}

const BUDGET_BREACHED: &str = "budget breached: ";

/// The user's terms for a breach given in the library's debug form (`Nodes { nodes: 7 }`).
fn breach_message(debug: &str, limits: &YamlLimits) -> String {
    let name = debug
        .split(|c: char| !c.is_ascii_alphanumeric())
        .next()
        .unwrap_or_default();
    match name {
        "Events" | "Nodes" => format!("more than {} values in one source", limits.max_nodes),
        "Aliases" => format!(
            "more than {} aliases (*name) in one source",
            limits.max_aliases
        ),
        "Anchors" => "more anchors (&name) in one source than allowed".to_owned(),
        "Depth" => format!(
            "mappings and sequences nested more than {} deep",
            limits.max_depth
        ),
        "Documents" => format!("more than {} documents in one source", limits.max_documents),
        "ScalarBytes" => format!(
            "more than {} MiB of text in one source",
            limits.max_scalar_bytes >> 20
        ),
        "RecordedAnchorEvents" | "RecordedAnchorBytes" => format!(
            "anchors (&name) and the aliases (*name) repeating them hold more than {} values",
            limits.max_alias_replayed_events
        ),
        "MergeKeys" => "more merge keys (<<) in one source than allowed".to_owned(),
        _ => "the source exceeds a parsing limit".to_owned(),
    }
}

/// kubectl reads a source that starts with `{` as JSON, not YAML (its decoder sniffs the first
/// character), so what JSON forbids and YAML allows, such as a trailing comma, comments or
/// single quotes, is refused, and so is a YAML `---` between JSON values. kubectl also reads
/// several JSON values one after the other (`cat a.json b.json | kubectl apply -f -`), which
/// YAML does not: such a stream is returned as YAML documents, each value after the first
/// behind a `--- ` marker at the start of its line, so every line number stays what it is in
/// the source (only a value that starts on the line where the previous one ends moves down
/// one line, and the lines after it with it). The JSON is only checked here; it is then read like YAML (a superset) for the
/// line numbers.
fn json_stream_as_yaml(text: &str) -> Result<Option<String>, YamlError> {
    if !text.trim_start().starts_with('{') {
        return Ok(None);
    }
    let mut stream = serde_json::Deserializer::from_str(text).into_iter::<de::IgnoredAny>();
    let mut starts = Vec::new();
    loop {
        // Where the next value starts: past the whitespace after the previous one.
        let after = stream.byte_offset();
        let start = after
            + text[after..]
                .find(|c: char| !c.is_ascii_whitespace())
                .unwrap_or(text.len() - after);
        match stream.next() {
            None => break,
            Some(Ok(_)) => starts.push(start),
            Some(Err(e)) => {
                let message = e.to_string();
                // serde_json appends " at line L column C"; the loader prints the position in
                // front.
                let message = match message.rfind(" at line ") {
                    Some(at) => message[..at].to_owned(),
                    None => message,
                };
                return Err(YamlError {
                    line: Some(e.line().max(1)),
                    column: Some(e.column().max(1)),
                    message: format!(
                        "invalid JSON (the source starts with `{{`, so kubectl reads it as JSON): {message}"
                    ),
                    limit: false,
                });
            }
        }
    }
    if starts.len() < 2 {
        return Ok(None);
    }
    let mut yaml = String::with_capacity(text.len() + 5 * starts.len());
    let mut copied = 0;
    for &start in &starts[1..] {
        let line_start = text[..start].rfind('\n').map_or(0, |at| at + 1);
        if text[line_start..start].trim().is_empty() {
            yaml.push_str(&text[copied..line_start]);
            yaml.push_str("--- ");
            copied = line_start;
        } else {
            yaml.push_str(&text[copied..start]);
            yaml.push_str("\n--- ");
            copied = start;
        }
    }
    yaml.push_str(&text[copied..]);
    Ok(Some(yaml))
}

/// A document root: a mapping (with its `items` split out, each spanned) or anything else.
enum Root {
    Map {
        map: Map<String, Value>,
        items: Option<Vec<Spanned<BoundedValue>>>,
    },
    Other(Value),
}

impl<'de> Deserialize<'de> for Root {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(RootVisitor)
    }
}

struct RootVisitor;

/// `items` is read as a sequence of spanned values when it is one, as a plain value otherwise.
enum Items {
    Seq(Vec<Spanned<BoundedValue>>),
    Other(Value),
}

impl<'de> Deserialize<'de> for Items {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ItemsVisitor;
        impl<'de> Visitor<'de> for ItemsVisitor {
            type Value = Items;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("any value")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Items, A::Error> {
                let mut out = Vec::new();
                while let Some(item) = seq.next_element::<Spanned<BoundedValue>>()? {
                    out.push(item);
                }
                Ok(Items::Seq(out))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Items, A::Error> {
                BoundedVisitor.visit_map(map).map(Items::Other)
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<Items, E> {
                Ok(Items::Other(Value::Bool(v)))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Items, E> {
                Ok(Items::Other(Value::from(v)))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Items, E> {
                Ok(Items::Other(Value::from(v)))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Items, E> {
                Ok(Items::Other(Value::from(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Items, E> {
                BoundedVisitor.visit_str(v).map(Items::Other)
            }
            fn visit_unit<E: de::Error>(self) -> Result<Items, E> {
                Ok(Items::Other(Value::Null))
            }
            fn visit_none<E: de::Error>(self) -> Result<Items, E> {
                Ok(Items::Other(Value::Null))
            }
            fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Items, D::Error> {
                Items::deserialize(d)
            }
        }
        deserializer.deserialize_any(ItemsVisitor)
    }
}

impl<'de> Visitor<'de> for RootVisitor {
    type Value = Root;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a YAML document")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Root, A::Error> {
        let mut map = Map::new();
        let mut items = None;
        while let Some(BoundedKey(key)) = access.next_key()? {
            if key == "items" {
                match access.next_value::<Items>()? {
                    Items::Seq(seq) => items = Some(seq),
                    Items::Other(value) => {
                        map.insert(key, value);
                    }
                }
            } else {
                let BoundedValue(value) = access.next_value()?;
                map.insert(key, value);
            }
        }
        Ok(Root::Map { map, items })
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Root, A::Error> {
        // A bare sequence is no Kubernetes object; keep it as a value so it is counted as skipped.
        let mut out = Vec::new();
        while let Some(BoundedValue(item)) = seq.next_element()? {
            out.push(item);
        }
        Ok(Root::Other(Value::Array(out)))
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Root, E> {
        Ok(Root::Other(Value::Bool(v)))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Root, E> {
        Ok(Root::Other(Value::from(v)))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Root, E> {
        Ok(Root::Other(Value::from(v)))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Root, E> {
        Ok(Root::Other(Value::from(v)))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Root, E> {
        BoundedVisitor.visit_str(v).map(Root::Other)
    }
    fn visit_unit<E: de::Error>(self) -> Result<Root, E> {
        Ok(Root::Other(Value::Null))
    }
    fn visit_none<E: de::Error>(self) -> Result<Root, E> {
        Ok(Root::Other(Value::Null))
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Root, D::Error> {
        Root::deserialize(d)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Vec<ParsedDocument> {
        parse_documents(text, &YamlLimits::default()).unwrap()
    }

    #[test]
    fn document_lines_are_those_of_their_first_node() {
        let docs = parse("# head\n---\na: 1\n---\n\n# c\nb: 2\n---\n---\nc: 3\n");
        let lines: Vec<_> = docs.iter().map(|d| d.document.line).collect();
        assert_eq!(lines, vec![3, 7, 10]);
    }

    #[test]
    fn list_items_keep_their_lines() {
        let docs = parse("apiVersion: v1\nkind: List\nitems:\n- kind: A\n  x: 1\n- kind: B\n");
        let items = docs[0].items.as_ref().unwrap();
        assert_eq!(items.iter().map(|i| i.line).collect::<Vec<_>>(), vec![4, 6]);
        assert_eq!(items[1].value["kind"], "B");
        assert!(docs[0].document.value.get("items").is_none());
    }

    #[test]
    fn json_with_tabs_parses() {
        let docs =
            parse("{\n\t\"kind\": \"List\",\n\t\"items\": [\n\t\t{\"kind\": \"A\"}\n\t]\n}\n");
        assert_eq!(docs[0].items.as_ref().unwrap()[0].line, 4);
    }

    #[test]
    fn syntax_error_has_position() {
        let err = parse_documents("a: b\nc: [\n  d: e: f\n", &YamlLimits::default()).unwrap_err();
        assert_eq!((err.line, err.column), (Some(3), Some(7)));
        assert!(!err.message.contains("at line"), "{}", err.message);
        assert!(!err.limit);
    }

    #[test]
    fn alias_bomb_is_refused() {
        let mut bomb = String::from("a: &a [x,x,x,x,x,x,x,x,x,x]\n");
        for (prev, name) in ["a", "b", "c", "d", "e", "f", "g", "h"]
            .iter()
            .zip(["b", "c", "d", "e", "f", "g", "h", "i"])
        {
            let refs = vec![format!("*{prev}"); 10].join(",");
            bomb.push_str(&format!("{name}: &{name} [{refs}]\n"));
        }
        let err = parse_documents(&bomb, &YamlLimits::default()).unwrap_err();
        assert!(err.limit, "{}", err.message);
        assert!(err.line.is_some());
    }

    /// Runs `f` with the stack the loader gives its thread (see `LOAD_STACK_BYTES`).
    fn with_load_stack<T: Send>(f: impl FnOnce() -> T + Send) -> T {
        std::thread::scope(|s| {
            std::thread::Builder::new()
                .stack_size(super::super::LOAD_STACK_BYTES)
                .spawn_scoped(s, f)
                .unwrap()
                .join()
                .unwrap()
        })
    }

    #[test]
    fn nesting_up_to_the_limit_is_accepted() {
        with_load_stack(|| {
            let mut block = String::new();
            for depth in 0..250 {
                block.push_str(&" ".repeat(depth));
                block.push_str("k:\n");
            }
            block.push_str(&" ".repeat(250));
            block.push_str("k: v\n");
            assert!(parse_documents(&block, &YamlLimits::default()).is_ok());
        });
    }

    #[test]
    fn absurd_nesting_is_refused() {
        with_load_stack(absurd_nesting_is_refused_here);
    }

    fn absurd_nesting_is_refused_here() {
        let deep = format!("a: {}1{}\n", "[".repeat(300), "]".repeat(300));
        let err = parse_documents(&deep, &YamlLimits::default()).unwrap_err();
        assert!(err.limit, "{}", err.message);
        let mut block = String::new();
        for depth in 0..300 {
            block.push_str(&" ".repeat(depth));
            block.push_str("k:\n");
        }
        let err = parse_documents(&block, &YamlLimits::default()).unwrap_err();
        assert!(err.limit, "{}", err.message);
        let fine = format!("a: {}1{}\n", "[".repeat(100), "]".repeat(100));
        assert!(parse_documents(&fine, &YamlLimits::default()).is_ok());
    }

    #[test]
    fn duplicate_keys_are_refused_as_kubectl_does() {
        let err = parse_documents("a: 1\na: 2\n", &YamlLimits::default()).unwrap_err();
        assert_eq!(
            err.message,
            "the key `a` appears twice in the same mapping (kubectl refuses this too)"
        );
        assert_eq!(err.line, Some(2));
    }
}
