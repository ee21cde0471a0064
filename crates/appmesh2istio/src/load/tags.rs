//! `!!timestamp` values, read as kubectl reads them: as their text.
//!
//! kubectl accepts `created: !!timestamp 2001-12-14t21:59:43.10-05:00` and sends the text as
//! written; serde-saphyr refuses to read a timestamp-tagged scalar as a string. Before parsing,
//! each such tag is rewritten to `!!str` (padded with spaces, so every line and column stays
//! where it was), found exactly by the same parser serde-saphyr uses, never by searching text.

use granit_parser::{Event, Parser};

/// The YAML core schema's timestamp tag, `!!timestamp` in short.
const TIMESTAMP: &str = "tag:yaml.org,2002:timestamp";

/// `text` with every `!!timestamp` tag on a scalar replaced by `!!str`, or `None` when it has
/// none (the common case, decided without parsing when the word does not occur).
pub(super) fn timestamps_as_text(text: &str) -> Option<String> {
    if !text.contains("timestamp") {
        return None;
    }
    let mut ranges: Vec<(usize, usize)> = Vec::new();
    for event in Parser::new_from_str(text) {
        // A syntax error is the real parse's to report, with its own message.
        let Ok((event, span)) = event else { break };
        let Event::Scalar(_, _, _, Some(tag)) = &event else {
            continue;
        };
        // `!!timestamp` resolves to handle and suffix; the verbatim `!<...>` form may keep the
        // whole name in either.
        let full = format!("{}{}", tag.handle(), tag.suffix());
        if full != TIMESTAMP {
            continue;
        }
        let Some(tag_span) = span.tag_span() else {
            continue;
        };
        if let (Some(start), Some(end)) = (tag_span.start.byte_offset(), tag_span.end.byte_offset())
        {
            ranges.push((start, end));
        }
    }
    if ranges.is_empty() {
        return None;
    }
    let mut out = text.to_owned();
    for (start, end) in ranges {
        let written = out.get(start..end)?;
        // `!!str` is the shortest spelling of the string tag; the tag it replaces is longer.
        if !written.starts_with('!') || written.len() < "!!str".len() {
            continue;
        }
        let replacement = format!("!!str{}", " ".repeat(end - start - "!!str".len()));
        out.replace_range(start..end, &replacement);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamp_tags_become_string_tags_in_place() {
        let text = "a: !!timestamp 2001-12-14t21:59:43.10-05:00\n\
                    b: !<tag:yaml.org,2002:timestamp> 2001-12-14\n\
                    c: \"!!timestamp in text\"\n\
                    d: |\n  !!timestamp in a block\n\
                    e: [!!timestamp 2002-01-01]\n";
        let out = timestamps_as_text(text).unwrap();
        assert_eq!(out.len(), text.len());
        assert_eq!(
            out.lines().collect::<Vec<_>>(),
            vec![
                "a: !!str       2001-12-14t21:59:43.10-05:00",
                "b: !!str                          2001-12-14",
                "c: \"!!timestamp in text\"",
                "d: |",
                "  !!timestamp in a block",
                "e: [!!str       2002-01-01]",
            ]
        );
    }

    #[test]
    fn sources_without_timestamp_tags_are_left_alone() {
        assert_eq!(timestamps_as_text("a: b\n"), None);
        assert_eq!(timestamps_as_text("timestamp: 2001-12-14\n"), None);
        assert_eq!(timestamps_as_text("a: !!str timestamp\n"), None);
    }
}
