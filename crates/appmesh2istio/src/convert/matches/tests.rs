use super::*;
use crate::appmesh::common::QueryMatchMethod;

fn full(regex: &str) -> regex::Regex {
    regex::Regex::new(&format!("^(?:{regex})$")).unwrap()
}

fn check_range(start: i64, end: i64) {
    let regex = range_regex(start, end).unwrap();
    let re = full(&regex);
    let lo = start.saturating_sub(150).max(0);
    let hi = end.saturating_add(150);
    for n in lo..hi {
        assert_eq!(
            re.is_match(&n.to_string()),
            (start..end).contains(&n),
            "{n} against [{start},{end}) = {regex}"
        );
    }
    assert!(
        !re.is_match(&format!("0{start}")) || start == 0,
        "no leading zeros: {regex}"
    );
    assert!(
        !re.is_match(&format!("-{start}")) && !re.is_match(&format!("+{start}")),
        "no signs: {regex}"
    );
}

#[test]
fn range_regex_matches_exactly_the_integers_of_the_range() {
    for (s, e) in [
        (0, 1),
        (0, 10),
        (1, 2),
        (5, 6),
        (0, 100),
        (1, 100),
        (7, 1234),
        (99, 101),
        (10, 20),
        (19, 91),
        (200, 1000),
        (123, 457),
        (1000, 1001),
        (0, 12345),
    ] {
        check_range(s, e);
    }
    assert_eq!(range_regex(0, 10).as_deref(), Some("[0-9]"));
    assert_eq!(range_regex(200, 300).as_deref(), Some("2[0-9][0-9]"));
    assert_eq!(range_regex(5, 5), None);
    assert_eq!(range_regex(-1, 5), None);
}

#[test]
fn range_regex_handles_the_int64_extremes_within_istios_limit() {
    let regex = range_regex(1, i64::MAX).unwrap();
    assert!(primitives::re2(&regex).is_ok(), "{} chars", regex.len());
    let re = full(&regex);
    assert!(re.is_match(&(i64::MAX - 1).to_string()));
    assert!(!re.is_match(&i64::MAX.to_string()));
    assert!(!re.is_match("0"));
    assert!(re.is_match("1"));
}

#[test]
fn suffix_is_escaped_literally() {
    assert_eq!(escape_re2("a.b*(c)"), "a\\.b\\*\\(c\\)");
    let re = full(&format!(".*{}", escape_re2(".example.com")));
    assert!(re.is_match("api.example.com"));
    assert!(!re.is_match("api-example-com"));
}

fn cond<'a>(
    name: &'a str,
    method: Option<&'a HeaderMatchMethod>,
    invert: bool,
) -> HeaderCondition<'a> {
    HeaderCondition {
        name,
        method,
        invert,
    }
}

#[test]
fn headers_map_to_headers_and_without_headers() {
    let exact = HeaderMatchMethod {
        exact: Some("beta".into()),
        ..Default::default()
    };
    let suffix = HeaderMatchMethod {
        suffix: Some(".json".into()),
        ..Default::default()
    };
    let range = HeaderMatchMethod {
        range: Some(MatchRange { start: 10, end: 20 }),
        ..Default::default()
    };
    let mut m = HttpMatchRequest::default();
    let mut notes = Notes::default();
    add_header_conditions(
        &mut m,
        [
            cond("X-Group", Some(&exact), false),
            cond("Accept", Some(&suffix), true),
            cond("x-debug", None, false),
            cond("x-n", Some(&range), false),
        ],
        "h",
        &mut notes,
    )
    .unwrap();
    assert_eq!(m.headers["x-group"], StringMatch::exact("beta"));
    assert_eq!(m.headers["x-debug"], StringMatch::Presence);
    assert_eq!(m.headers["x-n"], StringMatch::regex("1[0-9]"));
    assert_eq!(m.without_headers["accept"], StringMatch::regex(".*\\.json"));
    let codes: Vec<_> = notes.iter().map(|n| (n.code, n.field.as_str())).collect();
    assert_eq!(codes, vec![(CODE_RANGE_AS_REGEX, "h[3].match.range")]);
}

#[test]
fn inexpressible_header_conditions_are_reported() {
    let negative = HeaderMatchMethod {
        range: Some(MatchRange { start: -5, end: 5 }),
        ..Default::default()
    };
    let bad = HeaderMatchMethod {
        regex: Some("(unclosed".into()),
        ..Default::default()
    };
    for c in [
        cond("x", Some(&negative), false),
        cond("x", Some(&bad), false),
        cond("bad header", None, false),
        cond("Method", None, false),
    ] {
        let mut notes = Notes::default();
        assert_eq!(
            add_header_conditions(&mut HttpMatchRequest::default(), [c], "h", &mut notes),
            Err(Inexpressible)
        );
        assert!(
            notes.iter().any(|n| n.code == CODE_INEXPRESSIBLE),
            "{:?}",
            notes
        );
    }
    let a = HeaderMatchMethod {
        exact: Some("a".into()),
        ..Default::default()
    };
    let b = HeaderMatchMethod {
        exact: Some("b".into()),
        ..Default::default()
    };
    let mut notes = Notes::default();
    let both = add_header_conditions(
        &mut HttpMatchRequest::default(),
        [cond("x", Some(&a), false), cond("x", Some(&b), false)],
        "h",
        &mut notes,
    );
    assert_eq!(both, Err(Inexpressible));
}

#[test]
fn empty_prefix_and_several_methods() {
    let empty = HeaderMatchMethod {
        prefix: Some(String::new()),
        ..Default::default()
    };
    let several = HeaderMatchMethod {
        exact: Some("a".into()),
        prefix: Some("b".into()),
        ..Default::default()
    };
    let mut m = HttpMatchRequest::default();
    let mut notes = Notes::default();
    add_header_conditions(
        &mut m,
        [
            cond("x", Some(&empty), false),
            cond("y", Some(&several), false),
        ],
        "h",
        &mut notes,
    )
    .unwrap();
    assert_eq!(m.headers["x"], StringMatch::Presence);
    assert_eq!(m.headers["y"], StringMatch::exact("a"));
    assert_eq!(
        notes.iter().map(|n| n.code).collect::<Vec<_>>(),
        vec![CODE_AMBIGUOUS]
    );
}

#[test]
fn uri_and_grpc_paths() {
    let mut notes = Notes::default();
    assert_eq!(
        uri_match(Some("/api"), None, "m", &mut notes),
        Ok(Some(StringMatch::prefix("/api")))
    );
    let exact = HttpPathMatch {
        exact: Some("/a".into()),
        regex: None,
    };
    assert_eq!(
        uri_match(None, Some(&exact), "m", &mut notes),
        Ok(Some(StringMatch::exact("/a")))
    );
    let regex = HttpPathMatch {
        exact: None,
        regex: Some("/v[0-9]+/.*".into()),
    };
    assert_eq!(
        uri_match(None, Some(&regex), "m", &mut notes),
        Ok(Some(StringMatch::regex("/v[0-9]+/.*")))
    );
    assert!(notes.is_empty());
    assert_eq!(
        uri_match(Some("/"), Some(&exact), "m", &mut notes),
        Err(Inexpressible)
    );
    assert_eq!(
        grpc_uri(Some("pkg.Svc"), Some("Get"), "m", &mut notes),
        Ok(Some(StringMatch::exact("/pkg.Svc/Get")))
    );
    assert_eq!(
        grpc_uri(Some("pkg.Svc"), None, "m", &mut notes),
        Ok(Some(StringMatch::prefix("/pkg.Svc/")))
    );
    assert_eq!(grpc_uri(None, None, "m", &mut notes), Ok(None));
    assert_eq!(
        grpc_uri(None, Some("Get"), "m", &mut notes),
        Err(Inexpressible)
    );
}

#[test]
fn query_parameters() {
    let params = vec![
        HttpQueryParameter {
            name: "version".into(),
            match_: Some(QueryMatchMethod {
                exact: Some("v2".into()),
            }),
        },
        HttpQueryParameter {
            name: "debug".into(),
            match_: None,
        },
    ];
    let mut m = HttpMatchRequest::default();
    let mut notes = Notes::default();
    add_query_conditions(&mut m, &params, "q", &mut notes).unwrap();
    assert_eq!(m.query_params["version"], StringMatch::exact("v2"));
    assert_eq!(m.query_params["debug"], StringMatch::Presence);
    assert!(notes.is_empty());
    assert_eq!(method_match(HttpMethod::Post), StringMatch::exact("POST"));
    assert_eq!(scheme_match(HttpScheme::Https), StringMatch::exact("https"));
}
