//! Where a field is written: the line and column of a field path (`spec.listeners[0].tls`)
//! inside an object read from a file, so a finding points at the field itself rather than at
//! the start of its document.
//!
//! The positions come from the same YAML parser the loader uses (its event spans), read again
//! only when a report is made, so loading keeps no per-field data. A path that is not written
//! in the source (a default, a value built from several fields) gets the position of its
//! nearest ancestor that is.

use std::collections::{BTreeMap, BTreeSet};

use granit_parser::{Event, Parser};

/// A field asked for: the line where its object starts (a document, or an item of a
/// `kind: List`) and its path from that object, in findings' notation.
pub type FieldRequest = (usize, String);

/// A 1-based line and column.
pub type Position = (usize, usize);

/// The position of each requested field, or of its nearest written ancestor; requests whose
/// object is not found (or a source that does not parse) are left out.
pub fn locate_fields(
    text: &str,
    requests: &BTreeSet<FieldRequest>,
) -> BTreeMap<FieldRequest, Position> {
    // Every path whose position may be needed: the requested ones and their ancestors.
    let mut wanted: BTreeSet<FieldRequest> = BTreeSet::new();
    let roots: BTreeSet<usize> = requests.iter().map(|(line, _)| *line).collect();
    for (line, path) in requests {
        for prefix in prefixes(path) {
            wanted.insert((*line, prefix));
        }
    }
    let found = walk(text, &roots, &wanted);
    let mut located = BTreeMap::new();
    for request in requests {
        let (line, path) = request;
        let position = prefixes(path)
            .into_iter()
            .rev()
            .find_map(|prefix| found.get(&(*line, prefix)).copied());
        if let Some(position) = position {
            located.insert(request.clone(), position);
        }
    }
    located
}

/// `spec.listeners[0].tls` → `["", "spec", "spec.listeners", "spec.listeners[0]",
/// "spec.listeners[0].tls"]` (the empty path is the object itself).
fn prefixes(path: &str) -> Vec<String> {
    let mut out = vec![String::new()];
    for (at, c) in path.char_indices() {
        if (c == '.' || c == '[') && at > 0 {
            out.push(path[..at].to_owned());
        }
    }
    if !path.is_empty() {
        out.push(path.to_owned());
    }
    out
}

/// One open mapping or sequence while walking the events.
enum Frame {
    Map {
        root: Option<usize>,
        path: String,
        /// The key just read, waiting for its value.
        key: Option<String>,
    },
    Seq {
        root: Option<usize>,
        path: String,
        next: usize,
    },
}

impl Frame {
    fn root(&self) -> Option<usize> {
        match self {
            Frame::Map { root, .. } | Frame::Seq { root, .. } => *root,
        }
    }
}

/// The path of the node that comes next inside `parent` (and advance a sequence's index).
fn child_path(parent: &mut Frame) -> String {
    match parent {
        Frame::Map { path, key, .. } => {
            let key = key.take().unwrap_or_default();
            if path.is_empty() {
                key
            } else {
                format!("{path}.{key}")
            }
        }
        Frame::Seq { path, next, .. } => {
            let child = format!("{path}[{next}]");
            *next += 1;
            child
        }
    }
}

fn walk(
    text: &str,
    roots: &BTreeSet<usize>,
    wanted: &BTreeSet<FieldRequest>,
) -> BTreeMap<FieldRequest, Position> {
    let mut found = BTreeMap::new();
    let mut stack: Vec<Frame> = Vec::new();
    let mut record = |root: Option<usize>, path: &str, line: usize, column: usize| {
        if let Some(root) = root {
            let key = (root, path.to_owned());
            if wanted.contains(&key) {
                found.entry(key).or_insert((line, column + 1));
            }
        }
    };
    for event in Parser::new_from_str(text) {
        // A source that does not parse has no positions to give (the loader reported it).
        let Ok((event, span)) = event else { break };
        let (line, column) = (span.start.line(), span.start.col());
        match event {
            Event::MappingStart(..) | Event::SequenceStart(..) => {
                let is_map = matches!(event, Event::MappingStart(..));
                // An object starts at a document's root, or as an item of a root `items`
                // sequence (a `kind: List`); it is a root when a finding asks for its line.
                let at_root = stack.is_empty()
                    || (stack.len() == 2
                        && matches!(&stack[1], Frame::Seq { path, .. } if path == "items"));
                let (root, path) = match stack.last_mut() {
                    Some(parent) if !(at_root && is_map && roots.contains(&line)) => {
                        (parent.root(), child_path(parent))
                    }
                    Some(parent) => {
                        child_path(parent);
                        (Some(line), String::new())
                    }
                    None => (roots.contains(&line).then_some(line), String::new()),
                };
                if !path.is_empty() {
                    record(root, &path, line, column);
                }
                stack.push(if is_map {
                    Frame::Map {
                        root,
                        path,
                        key: None,
                    }
                } else {
                    Frame::Seq {
                        root,
                        path,
                        next: 0,
                    }
                });
            }
            Event::MappingEnd | Event::SequenceEnd => {
                stack.pop();
            }
            Event::Scalar(value, ..) => match stack.last_mut() {
                Some(Frame::Map { root, path, key }) if key.is_none() => {
                    let child = if path.is_empty() {
                        value.to_string()
                    } else {
                        format!("{path}.{value}")
                    };
                    record(*root, &child, line, column);
                    *key = Some(value.into_owned());
                }
                Some(parent) => {
                    child_path(parent);
                }
                None => {}
            },
            Event::Alias(..) => {
                if let Some(parent) = stack.last_mut() {
                    child_path(parent);
                }
            }
            _ => {}
        }
    }
    found
}

/// Point every finding about a field of an object read from a file at that field: its
/// origin becomes `file:line:column` of the field (or of its nearest written ancestor). Files
/// are read again (each once); sources that were not files come from `texts`. Findings that
/// cannot be placed keep the line of their object.
pub fn place_findings(
    report: &mut crate::report::ConversionReport,
    texts: &BTreeMap<std::path::PathBuf, std::sync::Arc<str>>,
) {
    use crate::origin::Origin;
    // What to look up, per file: (object line, field path).
    let mut wanted: BTreeMap<std::path::PathBuf, BTreeSet<FieldRequest>> = BTreeMap::new();
    for source in &report.sources {
        let Some(Origin::File { path, line, .. }) = &source.origin else {
            continue;
        };
        for finding in &source.findings {
            let object_line = match &finding.origin {
                Some(Origin::File {
                    path: own, line, ..
                }) if own == path => *line,
                Some(Origin::File { .. }) => continue,
                _ => *line,
            };
            if let Some(field) = &finding.field {
                wanted
                    .entry(path.clone())
                    .or_default()
                    .insert((object_line, field.clone()));
            }
        }
    }
    let mut located: BTreeMap<std::path::PathBuf, BTreeMap<FieldRequest, Position>> =
        BTreeMap::new();
    for (path, requests) in wanted {
        let text: Option<std::sync::Arc<str>> = match texts.get(&path) {
            Some(text) => Some(text.clone()),
            None => std::fs::read_to_string(&path)
                .ok()
                .map(std::sync::Arc::from),
        };
        if let Some(text) = text {
            let text = text.strip_prefix('\u{feff}').unwrap_or(&text);
            located.insert(path, locate_fields(text, &requests));
        }
    }
    for source in &mut report.sources {
        let Some(Origin::File { path, line, .. }) = &source.origin else {
            continue;
        };
        let Some(positions) = located.get(path) else {
            continue;
        };
        for finding in &mut source.findings {
            let object_line = match &finding.origin {
                Some(Origin::File {
                    path: own, line, ..
                }) if own == path => *line,
                Some(Origin::File { .. }) => continue,
                _ => *line,
            };
            let Some(field) = &finding.field else {
                continue;
            };
            if let Some(&(line, column)) = positions.get(&(object_line, field.clone())) {
                finding.origin = Some(Origin::File {
                    path: path.clone(),
                    line,
                    column: Some(column),
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn locate(text: &str, root: usize, path: &str) -> Option<Position> {
        let requests: BTreeSet<FieldRequest> = [(root, path.to_owned())].into();
        locate_fields(text, &requests)
            .get(&(root, path.to_owned()))
            .copied()
    }

    const NODE: &str = "apiVersion: appmesh.k8s.aws/v1beta2
kind: VirtualNode
metadata:
  name: cart
spec:
  listners:
    - portMapping: {port: 8080, protocol: http}
  listeners:
    - portMapping: {port: 8080, protocol: http}
      tls:
        mode: STRICT
";

    #[test]
    fn fields_are_found_at_their_key() {
        assert_eq!(locate(NODE, 1, "spec.listners"), Some((6, 3)));
        assert_eq!(locate(NODE, 1, "spec.listeners[0].tls"), Some((10, 7)));
        assert_eq!(locate(NODE, 1, "spec.listeners[0].tls.mode"), Some((11, 9)));
        assert_eq!(
            locate(NODE, 1, "spec.listeners[0].portMapping.protocol"),
            Some((9, 33))
        );
        assert_eq!(locate(NODE, 1, "metadata.name"), Some((4, 3)));
    }

    #[test]
    fn a_field_not_written_points_at_its_nearest_written_ancestor() {
        assert_eq!(
            locate(NODE, 1, "spec.listeners[0].tls.validation.trust"),
            Some((10, 7))
        );
        assert_eq!(locate(NODE, 1, "spec.backendDefaults"), Some((5, 1)));
        // An object asked for at a line where none starts: nothing.
        assert_eq!(locate(NODE, 3, "spec"), None);
    }

    #[test]
    fn documents_and_list_items_are_objects_of_their_own() {
        let text = format!(
            "{NODE}---\napiVersion: v1\nkind: List\nitems:\n- apiVersion: appmesh.k8s.aws/v1beta2\n  kind: VirtualRouter\n  spec:\n    routes: []\n"
        );
        // The second document starts at line 13; its item at line 16.
        assert_eq!(locate(&text, 16, "spec.routes"), Some((19, 5)));
        assert_eq!(locate(&text, 1, "spec.listeners[0].tls"), Some((10, 7)));
        assert_eq!(locate(&text, 13, "items"), Some((15, 1)));
    }
}
