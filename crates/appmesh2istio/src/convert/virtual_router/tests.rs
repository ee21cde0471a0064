use super::*;

use super::policies::join_words;

fn planned(name: &str, order: RouteOrder, catch_all: bool, port: Option<u32>) -> PlannedRoute {
    PlannedRoute {
        source: ObjectRef::new("VirtualRouter", Some("ns"), "r"),
        field: String::new(),
        name: name.into(),
        port,
        order,
        catch_all,
        rule: Rule::Http(Box::new(HttpRoute {
            name: Some(name.into()),
            matches: if catch_all && port.is_none() {
                Vec::new()
            } else {
                vec![HttpMatchRequest {
                    port,
                    ..Default::default()
                }]
            },
            ..Default::default()
        })),
        idle: Vec::new(),
    }
}

fn order(priority: Option<i64>, specificity: u8, len: usize, position: usize) -> RouteOrder {
    RouteOrder {
        unprioritised: priority.is_none(),
        priority: priority.unwrap_or_default(),
        catch_all: false,
        specificity,
        longer_prefix_first: std::cmp::Reverse(len),
        position,
    }
}

#[test]
fn app_mesh_order_priority_then_specificity_then_position() {
    let mut v = [
        order(None, 1, 4, 0),
        order(Some(5), 2, 0, 1),
        order(None, 1, 9, 2),
        order(Some(0), 1, 1, 3),
        order(None, 0, 0, 4),
        order(Some(5), 0, 0, 5),
    ];
    v.sort();
    let positions: Vec<usize> = v.iter().map(|o| o.position).collect();
    assert_eq!(positions, vec![3, 5, 1, 4, 2, 0]);
}

#[test]
fn a_catch_all_sorts_after_regex_routes_of_its_priority_but_before_lower_priorities() {
    let catch_all = |priority: Option<i64>, position| RouteOrder {
        catch_all: true,
        ..order(priority, 1, 1, position)
    };
    let mut v = [
        catch_all(None, 0),
        order(None, 2, 0, 1),
        catch_all(Some(3), 2),
        order(Some(7), 2, 0, 3),
    ];
    v.sort();
    let positions: Vec<usize> = v.iter().map(|o| o.position).collect();
    assert_eq!(positions, vec![2, 3, 1, 0]);
}

#[test]
fn catch_alls_go_last_across_sources() {
    let routes = vec![
        planned("default", order(None, 1, 1, 0), true, None),
        planned("api", order(None, 1, 4, 1), false, None),
    ];
    let (http, _) = istio_rules(routes);
    let names: Vec<_> = http
        .iter()
        .map(|h| h.name.clone().unwrap_or_default())
        .collect();
    assert_eq!(names, vec!["api", "default"]);
}

#[test]
fn words_are_joined() {
    assert_eq!(join_words(&["a".into()]), "a");
    assert_eq!(
        join_words(&["a".into(), "b".into(), "c".into()]),
        "a, b and c"
    );
}
