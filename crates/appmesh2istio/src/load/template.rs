//! Detection of unrendered templates (`${VAR}` and `$VAR` for envsubst, `{{ ... }}` for
//! Helm/Go templates).
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

/// Find the first `${NAME...}`, `$NAME` or `{{` outside YAML comments.
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
    // envsubst and shell variables start with a letter or underscore.
    let starts_variable = |at: usize| {
        code[at..]
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
    };
    let dollar = code
        .match_indices("${")
        .map(|(i, _)| i)
        .find(|&i| starts_variable(i + 2));
    // `$NAME` (envsubst substitutes it too), except in a regex, where `$` is the end anchor,
    // and after a backslash or a second `$` (escaped, or `$$` for a literal dollar).
    let bare = if code.contains("regex") {
        None
    } else {
        code.match_indices('$').map(|(i, _)| i).find(|&i| {
            starts_variable(i + 1) && !matches!(code[..i].chars().last(), Some('\\' | '$'))
        })
    };
    let braces = code.find("{{");
    let start = [dollar, bare, braces].into_iter().flatten().min()?;
    let rest = &code[start..];
    let end = if rest.starts_with("${") {
        rest.find('}').map(|e| e + 1)
    } else if let Some(name) = rest.strip_prefix('$') {
        name.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .map(|e| e + 1)
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
            find_template_marker("a: '$ ${1} $1 \\$HOME $$HOME {x}'\nb: {c: {d: e}}\n"),
            None
        );
        // `$` is a regex's end anchor.
        assert_eq!(
            find_template_marker("match: {regex: '^/api/v1$Version'}\n"),
            None
        );
    }

    #[test]
    fn bare_envsubst_variables_are_templates() {
        let m = find_template_marker("metadata:\n  namespace: $APP_NAMESPACE\n").unwrap();
        assert_eq!((m.line, m.column), (2, 14));
        assert_eq!(m.text, "$APP_NAMESPACE");
        let m = find_template_marker("awsName: cart.$NS.svc.cluster.local\n").unwrap();
        assert_eq!((m.column, m.text.as_str()), (15, "$NS"));
    }

    #[test]
    fn columns_count_characters_not_bytes() {
        let m = find_template_marker("é: ${X}\n").unwrap();
        assert_eq!(m.column, 4);
    }
}
