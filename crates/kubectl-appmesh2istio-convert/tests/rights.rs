//! Rights, as the user has them or as `--as`/`--as-group` impersonate them (issue 16, minor
//! items): a user who cannot read the Istio kinds gets the list of every missing right, not
//! one 403, and nothing is written.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use support::*;
use test_cluster::{cluster_or_skip, rule};

/// Every right the plan needs for `kinds` in `ns`, as the error lists them.
fn listed(stderr: &str, verb: &str, resource: &str, ns: &str) -> bool {
    stderr.contains(&format!(
        "not allowed to {verb} {resource} in namespace {ns}"
    ))
}

#[test]
fn a_user_who_cannot_read_istio_kinds_gets_every_missing_right_listed() {
    let Some(cluster) =
        cluster_or_skip("a_user_who_cannot_read_istio_kinds_gets_every_missing_right_listed")
    else {
        return;
    };
    let ns = cluster.fresh_namespace("noread").unwrap();
    let stranger = cluster.restricted_identity(&ns, "stranger").unwrap();
    // It may read namespaces (so the plan gets as far as the objects), nothing of Istio's.
    cluster
        .grant(
            &stranger,
            Some(&ns),
            vec![rule("", &["namespaces"], &["get"])],
        )
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = manifest(dir.path(), "shop.yaml", &ns);
    let expected = expected_objects(dir.path(), cluster.kubeconfig_path(), &file);
    let run = convert_in(
        dir.path(),
        stranger.kubeconfig_path(),
        &["-f", file.to_str().unwrap(), "--apply", "--yes", "-q"],
    );
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("lacks rights the plan needs; nothing was changed"),
        "{}",
        run.stderr
    );
    for object in expected.values() {
        let resource = resource(object);
        for verb in ["get", "create", "patch"] {
            assert!(
                listed(&run.stderr, verb, &resource, &ns),
                "{verb} {resource} is listed: {}",
                run.stderr
            );
        }
        assert!(get(cluster, object).is_none());
    }
    assert!(
        !run.stderr.contains("error: cannot read"),
        "not one bare 403: {}",
        run.stderr
    );
}

#[test]
fn as_and_as_group_act_as_the_impersonated_user() {
    let Some(cluster) = cluster_or_skip("as_and_as_group_act_as_the_impersonated_user") else {
        return;
    };
    let ns = cluster.fresh_namespace("impersonate").unwrap();
    let reader = cluster.restricted_identity(&ns, "reader").unwrap();
    cluster
        .grant(
            &reader,
            Some(&ns),
            vec![
                rule("networking.istio.io", &["*"], &["get", "list"]),
                rule("security.istio.io", &["*"], &["get", "list"]),
                rule("telemetry.istio.io", &["*"], &["get", "list"]),
            ],
        )
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = manifest(dir.path(), "shop.yaml", &ns);
    let expected = expected_objects(dir.path(), cluster.kubeconfig_path(), &file);
    let user = reader.user_name();
    // The admin's kubeconfig, acting as the reader: the reader's rights count.
    let run = convert_in(
        dir.path(),
        cluster.kubeconfig_path(),
        &[
            "-f",
            file.to_str().unwrap(),
            "--apply",
            "--yes",
            "-q",
            "--as",
            &user,
        ],
    );
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        listed(
            &run.stderr,
            "create",
            "virtualservices.networking.istio.io",
            &ns
        ),
        "{}",
        run.stderr
    );
    assert!(
        !listed(
            &run.stderr,
            "get",
            "virtualservices.networking.istio.io",
            &ns
        ),
        "the reader may read: {}",
        run.stderr
    );
    for object in expected.values() {
        assert!(get(cluster, object).is_none());
    }
    // The same user in a group that may do everything.
    let run = convert_in(
        dir.path(),
        cluster.kubeconfig_path(),
        &[
            "-f",
            file.to_str().unwrap(),
            "--apply",
            "--yes",
            "-q",
            "--as",
            &user,
            "--as-group",
            "system:masters",
        ],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    for object in expected.values() {
        let stored = get(cluster, object).unwrap();
        assert_eq!(stored["spec"], object["spec"]);
    }
    // As kubectl: a group without a user is a usage error.
    let run = convert_in(
        dir.path(),
        cluster.kubeconfig_path(),
        &["-f", file.to_str().unwrap(), "--apply", "--as-group", "g"],
    );
    assert_eq!(run.code, 2, "{}", run.stderr);
}
