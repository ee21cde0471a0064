//! Detection of unrendered templates (`${VAR}` for envsubst, `{{ ... }}` for Helm/Go templates).
//!
//! A template is refused even when it happens to parse as YAML: its placeholder values
//! (`awsName: ${SERVICE}.${NS}.svc.cluster.local`) would otherwise be converted as if they were
//! real names. Comments are skipped, since templates and plain manifests alike often mention
//! variables there.

/// The first template marker in a source: 1-based line and column (in characters).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateMarker {
    pub line: usize,
    pub column: usize,
    /// The marker as found, e.g. `${APP_NAMESPACE}` or `{{ .Values.name }}` (shortened).
    pub text: String,
}

/// Find the first `${NAME...}` or `{{` outside YAML comments.
pub fn find_template_marker(text: &str) -> Option<TemplateMarker> {
    find_template_markers(text).into_iter().next()
}

/// The first template marker of every line that has one, outside YAML comments.
pub fn find_template_markers(text: &str) -> Vec<TemplateMarker> {
    text.lines()
        .enumerate()
        .filter_map(|(index, line)| {
            first_marker(strip_comment(line)).map(|(column, marker)| TemplateMarker {
                line: index + 1,
                column,
                text: marker,
            })
        })
        .collect()
}

/// The part of `line` before a YAML comment: `#` at the start or after whitespace, outside
/// quotes. Quotes are tracked within the line only (multi-line quoted scalars are rare in
/// manifests, and a miss there only means a marker in a comment is not skipped).
fn strip_comment(line: &str) -> &str {
    let mut in_single = false;
    let mut in_double = false;
    let mut previous: Option<char> = None;
    let mut escaped = false;
    for (i, c) in line.char_indices() {
        match c {
            '\\' if in_double && !escaped => {
                escaped = true;
                previous = Some(c);
                continue;
            }
            '"' if !in_single && !escaped => in_double = !in_double,
            '\'' if !in_double => in_single = !in_single,
            '#' if !in_single && !in_double && previous.is_none_or(char::is_whitespace) => {
                return &line[..i];
            }
            _ => {}
        }
        escaped = false;
        previous = Some(c);
    }
    line
}

fn first_marker(code: &str) -> Option<(usize, String)> {
    let dollar = code.match_indices("${").find(|(i, _)| {
        // envsubst and shell variables start with a letter or underscore.
        code[i + 2..]
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
    });
    let braces = code.find("{{");
    let start = match (dollar.map(|(i, _)| i), braces) {
        (Some(a), Some(b)) => a.min(b),
        (Some(a), None) => a,
        (None, Some(b)) => b,
        (None, None) => return None,
    };
    let rest = &code[start..];
    let end = if rest.starts_with("${") {
        rest.find('}').map(|e| e + 1)
    } else {
        rest.find("}}").map(|e| e + 2)
    };
    let marker: String = rest[..end.unwrap_or(rest.len())].chars().take(60).collect();
    let column = code[..start].chars().count() + 1;
    Some((column, marker))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envsubst_marker_with_position() {
        let text = "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: ${APP_NAMESPACE}\n";
        let m = find_template_marker(text).unwrap();
        assert_eq!((m.line, m.column), (4, 9));
        assert_eq!(m.text, "${APP_NAMESPACE}");
    }

    #[test]
    fn helm_marker_with_position() {
        let text = "metadata:\n  name: {{ .Values.name }}\n";
        let m = find_template_marker(text).unwrap();
        assert_eq!((m.line, m.column), (2, 9));
        assert_eq!(m.text, "{{ .Values.name }}");
    }

    #[test]
    fn comments_are_not_templates() {
        assert_eq!(
            find_template_marker("# export ${MESH}\na: b # {{ x }}\n"),
            None
        );
        let quoted = "a: \"x # ${MESH}\"\n";
        assert_eq!(find_template_marker(quoted).map(|m| m.column), Some(9));
    }

    #[test]
    fn plain_dollar_and_braces_are_not_templates() {
        assert_eq!(
            find_template_marker("a: '$HOME ${1} {x}'\nb: {c: {d: e}}\n"),
            None
        );
    }

    #[test]
    fn columns_count_characters_not_bytes() {
        let m = find_template_marker("é: ${X}\n").unwrap();
        assert_eq!(m.column, 4);
    }
}
