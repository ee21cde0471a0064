//! Least privilege, shown on a real API server with an audit log (every request at Metadata
//! level): each command's main flow on the example app (`examples/shop`) runs as an identity
//! bound to exactly the ClusterRole `deploy/rbac/` ships for it, and the audit log shows that
//!
//! - every request carries `appmesh2istio/<version> (<command>)` as its User-Agent,
//! - every request was allowed, and is covered by a rule of that role (discovery and the
//!   access reviews aside, which every authenticated user may make),
//! - no request of ours touched `secrets`,
//!
//! and prints the number of requests each command made (the README's table). Then, for every
//! mutating command and every rule of its role in turn (the preflight's rule and rules for
//! flags the flow does not use aside): without that rule the command names the missing
//! right and stops before writing anything, or, for a read it can do without, goes on with a
//! warning naming it. Also, offline: precheck's rights check asks only for what the roles
//! grant.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use appmesh2istio_tests::{plugin_binaries, workspace_root};
use k8s_openapi::api::rbac::v1::{ClusterRole, PolicyRule};
use test_cluster::{AuditEvent, BeforeState, ClusterOptions, RestrictedIdentity, TestCluster};

const VERSION: &str = env!("CARGO_PKG_VERSION");

/// The audited cluster of this file, started once (its processes stop with the test process).
fn cluster() -> Option<&'static TestCluster> {
    static CLUSTER: OnceLock<Option<TestCluster>> = OnceLock::new();
    CLUSTER
        .get_or_init(|| {
            if let Some(reason) = test_cluster::unavailable_reason() {
                assert!(
                    !test_cluster::cluster_required(),
                    "test cluster unavailable ({reason}) and CI requires it"
                );
                eprintln!("skipped: test cluster unavailable ({reason})");
                return None;
            }
            Some(
                TestCluster::start(ClusterOptions {
                    audit: true,
                    ..ClusterOptions::default()
                })
                .unwrap(),
            )
        })
        .as_ref()
}

/// The rules of `deploy/rbac/<file>`.
fn role_rules(file: &str) -> Vec<PolicyRule> {
    let path = workspace_root().join("deploy/rbac").join(file);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let role: ClusterRole = serde_saphyr::from_str(&text)
        .unwrap_or_else(|e| panic!("{} is not a ClusterRole: {e}", path.display()));
    assert_eq!(
        role.metadata.name.as_deref(),
        Some(file.trim_end_matches(".yaml")),
        "{file}: the role is named after its file"
    );
    role.rules.unwrap_or_default()
}

/// Whether `rules` allow `verb` on `resource` (with its subresource, if any) of `group`.
fn allows(rules: &[PolicyRule], verb: &str, group: &str, resource: &str) -> bool {
    let has = |list: &Option<Vec<String>>, wanted: &str| {
        list.as_ref()
            .is_some_and(|l| l.iter().any(|x| x == wanted || x == "*"))
    };
    rules.iter().any(|rule| {
        has(&rule.api_groups, group)
            && has(&rule.resources, resource)
            && rule.verbs.iter().any(|v| v == verb || v == "*")
    })
}

/// Requests every authenticated user may make (the default `system:discovery`,
/// `system:public-info-viewer` and `system:basic-user` roles): discovery, `/version`, and
/// the SelfSubjectAccessReviews of the rights preflight.
fn granted_to_everyone(event: &AuditEvent) -> bool {
    match event.resource() {
        None => true,
        Some(resource) => {
            resource == "selfsubjectaccessreviews"
                && event.api_group() == "authorization.k8s.io"
                && event.verb == "create"
        }
    }
}

fn is_write(event: &AuditEvent) -> bool {
    matches!(
        event.verb.as_str(),
        "create" | "update" | "patch" | "delete" | "deletecollection"
    ) && !granted_to_everyone(event)
}

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

fn binary(command: &str) -> PathBuf {
    let name = format!("kubectl-appmesh2istio-{command}");
    plugin_binaries()
        .get(&name)
        .unwrap_or_else(|| panic!("{name} was not built"))
        .clone()
}

fn run(command: &str, kubeconfig: &Path, dir: &Path, args: &[String]) -> Run {
    let out = Command::new(binary(command))
        .args(args)
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .env("COLUMNS", "200")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// One command's main flow on the example app, and the role it runs with.
struct Step {
    label: &'static str,
    command: &'static str,
    role: &'static str,
    args: Vec<String>,
    /// Exit codes that mean "ran to the end" (precheck's 5: checks found something; convert's
    /// 3: partial, one object of the example app cannot be carried over).
    ok: &'static [i32],
}

/// The end of a long report, for assertion messages.
fn tail(text: &str) -> &str {
    let start = text.len().saturating_sub(3000);
    let start = (start..text.len())
        .find(|i| text.is_char_boundary(*i))
        .unwrap_or(text.len());
    &text[start..]
}

fn strings(args: &[&str]) -> Vec<String> {
    args.iter().map(|a| (*a).to_owned()).collect()
}

/// The migration of the example app, in the runbook's order.
fn migration(state: &BeforeState, dir: &Path) -> Vec<Step> {
    let meshed = state.meshed_namespaces.join(",");
    let mut rollout = strings(&["--yes", "--timeout", "120s"]);
    // The gateway's Deployment is App Mesh's Envoy itself: it is replaced by Istio's ingress
    // gateway, not restarted onto a sidecar.
    for ns in state
        .meshed_namespaces
        .iter()
        .filter(|ns| **ns != state.gateway_namespace)
    {
        rollout.push("-n".into());
        rollout.push(ns.clone());
    }
    let catalog = format!("{}-catalog", state.app);
    let undo = dir.join("convert-undo.yaml").display().to_string();
    vec![
        Step {
            label: "precheck",
            command: "precheck",
            role: "appmesh2istio-precheck.yaml",
            args: strings(&["-o", "json"]),
            ok: &[0, 5],
        },
        Step {
            label: "convert (from the cluster)",
            command: "convert",
            role: "appmesh2istio-convert.yaml",
            args: strings(&["-A"]),
            ok: &[0, 3],
        },
        Step {
            label: "convert --apply",
            command: "convert",
            role: "appmesh2istio-convert-apply.yaml",
            args: strings(&["-A", "--apply", "--yes", "--undo-file", &undo]),
            ok: &[0, 3],
        },
        Step {
            label: "label",
            command: "label",
            role: "appmesh2istio-label.yaml",
            args: strings(&["-n", &meshed, "--yes"]),
            ok: &[0],
        },
        Step {
            label: "rollout",
            command: "rollout",
            role: "appmesh2istio-rollout.yaml",
            args: rollout,
            ok: &[0],
        },
        Step {
            label: "cleanup",
            command: "cleanup",
            role: "appmesh2istio-cleanup.yaml",
            args: strings(&["-n", &catalog, "--labels", "--yes", "--timeout", "60s"]),
            ok: &[0],
        },
    ]
}

/// The audited requests of `identity` (each identity is used for one run only).
fn requests_of(cluster: &TestCluster, identity: &RestrictedIdentity) -> Vec<AuditEvent> {
    let user = identity.user_name();
    cluster
        .audit_events()
        .unwrap()
        .into_iter()
        .filter(|e| e.user.username == user)
        .collect()
}

fn summary(events: &[AuditEvent]) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    for e in events {
        let key = match e.resource() {
            Some(resource) if e.api_group().is_empty() => format!("{} {resource}", e.verb),
            Some(resource) => format!("{} {}.{}", e.verb, resource, e.api_group()),
            None => format!("{} {}", e.verb, e.request_uri),
        };
        *out.entry(key).or_insert(0) += 1;
    }
    out
}

fn grant_role(cluster: &TestCluster, name: &str, rules: Vec<PolicyRule>) -> RestrictedIdentity {
    let home = cluster.fresh_namespace("rbac-home").unwrap();
    let identity = cluster.restricted_identity(&home, name).unwrap();
    cluster.grant(&identity, None, rules).unwrap();
    identity
}

#[test]
fn every_command_runs_on_the_example_app_with_exactly_its_role_names_itself_and_reads_no_secret() {
    let Some(cluster) = cluster() else {
        return;
    };
    let state = cluster.load_before_state_as("shop").unwrap();
    // What `istioctl install` creates: the ingress Gateway converted from the VirtualGateway
    // goes there.
    let made = cluster
        .kubectl()
        .args(["create", "namespace", "istio-system"])
        .output()
        .unwrap();
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    let dir = tempfile::tempdir().unwrap();
    let mut table = Vec::new();
    for step in migration(&state, dir.path()) {
        let rules = role_rules(step.role);
        let identity = grant_role(cluster, step.role.trim_end_matches(".yaml"), rules.clone());
        let out = run(
            step.command,
            identity.kubeconfig_path(),
            dir.path(),
            &step.args,
        );
        let events = requests_of(cluster, &identity);
        let seen = summary(&events);
        eprintln!("{} ({} requests):", step.label, events.len());
        for (key, count) in &seen {
            eprintln!("  {count:>4}  {key}");
        }
        assert!(
            step.ok.contains(&out.code),
            "{}: exit {}\n{}",
            step.label,
            out.code,
            tail(&out.stderr)
        );
        assert!(!out.stdout.is_empty() || !out.stderr.is_empty());
        assert!(
            !out.stderr.contains("not allowed to") && !out.stderr.contains("forbidden"),
            "{}: a right was missing:\n{}",
            step.label,
            tail(&out.stderr)
        );
        if step.command == "precheck" {
            // precheck also reports the later steps' rights this read-only role lacks; its
            // own reads must all have been allowed.
            let report: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
            assert_eq!(report["completed"], true, "{}", tail(&out.stdout));
            let own: Vec<&serde_json::Value> = report["findings"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|f| {
                    f["message"]
                        .as_str()
                        .is_some_and(|m| m.contains("needed by precheck"))
                })
                .collect();
            assert!(own.is_empty(), "precheck's own reads refused: {own:#?}");
        }
        assert!(!events.is_empty(), "{}: no request audited", step.label);
        let agent = format!("appmesh2istio/{VERSION} ({})", step.command);
        for e in &events {
            assert_eq!(e.user_agent, agent, "{}: {e:?}", step.label);
            assert_ne!(
                e.resource()
                    .as_deref()
                    .map(|r| r.split('/').next().unwrap_or(r)),
                Some("secrets"),
                "{}: {e:?}",
                step.label
            );
            assert_ne!(e.code(), Some(403), "{}: refused {e:?}", step.label);
            if !granted_to_everyone(e) {
                let resource = e.resource().unwrap();
                assert!(
                    allows(&rules, &e.verb, e.api_group(), &resource),
                    "{}: {} {resource}.{} is not in {}",
                    step.label,
                    e.verb,
                    e.api_group(),
                    step.role
                );
            }
        }
        let writes = events.iter().filter(|e| is_write(e)).count();
        table.push((step.label, step.role, events.len(), writes));
    }
    // Nobody using our User-Agent, in the whole log, touched a Secret.
    let ours: Vec<AuditEvent> = cluster
        .audit_events()
        .unwrap()
        .into_iter()
        .filter(|e| e.user_agent.starts_with("appmesh2istio/"))
        .collect();
    assert!(ours.len() >= table.iter().map(|t| t.2).sum::<usize>());
    let secrets: Vec<&AuditEvent> = ours
        .iter()
        .filter(|e| {
            e.object_ref
                .as_ref()
                .is_some_and(|o| o.resource == "secrets")
        })
        .collect();
    assert!(secrets.is_empty(), "{secrets:?}");
    eprintln!("| command | role | API requests | of which writes |");
    eprintln!("|---|---|---:|---:|");
    for (label, role, requests, writes) in &table {
        eprintln!("| `{label}` | `deploy/rbac/{role}` | {requests} | {writes} |");
    }
    let distinct: BTreeSet<&str> = table.iter().map(|t| t.1).collect();
    assert_eq!(distinct.len(), 6, "one role per command");

    // In the same test, after the flow above: its `-A` runs must not see a second copy.
    without_one_rule_each_mutating_command_stops_before_writing(cluster, &state, dir.path());
}

/// Rules a role holds for flags the tested flow does not use: removing one of them leaves
/// that flow working, so they are not part of the one-rule-removed loop.
fn only_for_other_flags(role: &str, rule: &PolicyRule) -> bool {
    let verbs: Vec<&str> = rule.verbs.iter().map(String::as_str).collect();
    let resources = rule.resources.clone().unwrap_or_default();
    match role {
        // --dataplane ambient: get daemonsets (ztunnel) in the Istio namespace.
        "appmesh2istio-label.yaml" => verbs == ["get"] && resources == ["daemonsets"],
        // --strategy canary.
        "appmesh2istio-rollout.yaml" => verbs == ["create", "delete"],
        // --undo.
        "appmesh2istio-convert-apply.yaml" => verbs == ["delete"],
        // --remove-finalizers.
        "appmesh2istio-cleanup.yaml" => {
            verbs == ["patch"] && resources.iter().any(|r| r == "virtualnodes")
        }
        _ => false,
    }
}

/// Whether `stderr` names one of the rights of `rule` as missing ("not allowed to list pods",
/// or a refused read naming its verb and resource).
fn names_a_right_of(stderr: &str, rule: &PolicyRule) -> bool {
    let group = rule
        .api_groups
        .as_ref()
        .and_then(|g| g.first())
        .cloned()
        .unwrap_or_default();
    rule.verbs.iter().any(|verb| {
        rule.resources.iter().flatten().any(|resource| {
            let name = if group.is_empty() {
                resource.clone()
            } else {
                format!("{resource}.{group}")
            };
            stderr.contains(&format!("not allowed to {verb} {name}"))
                || stderr.lines().any(|line| {
                    (line.contains("403") || line.contains("forbidden"))
                        && line.contains(verb.as_str())
                        && line.contains(resource.as_str())
                })
        })
    })
}

/// For each mutating command, each rule of its role in turn is left out (the preflight's
/// own rule aside: every user has it by default): the command exits non-zero, names the
/// missing right, and the audit log shows that it wrote nothing.
fn without_one_rule_each_mutating_command_stops_before_writing(
    cluster: &TestCluster,
    first: &BeforeState,
    dir: &Path,
) {
    // A second copy of the app, untouched, for convert --apply, label and rollout; cleanup
    // runs on a namespace the flow above migrated (the first copy's frontend).
    let state = cluster.load_before_state().unwrap();
    let meshed = state.meshed_namespaces.join(",");
    let frontend = format!("{}-frontend", first.app);
    let undo = dir.join("removed-undo.yaml").display().to_string();
    let catalog = format!("{}-catalog", state.app);
    let admin = cluster.kubeconfig_path();
    // (command, role, args, what puts the state back after a run that wrote: as the admin)
    let runs: Vec<(&str, &str, Vec<String>, Vec<String>)> = vec![
        (
            "convert",
            "appmesh2istio-convert-apply.yaml",
            strings(&["-A", "--apply", "--yes", "--undo-file", &undo]),
            strings(&["--undo", &undo, "--yes"]),
        ),
        (
            "label",
            "appmesh2istio-label.yaml",
            strings(&["-n", &meshed, "--yes"]),
            strings(&["--undo", "-n", &meshed, "--yes"]),
        ),
        (
            "rollout",
            "appmesh2istio-rollout.yaml",
            strings(&["-n", &catalog, "--yes", "--timeout", "60s"]),
            Vec::new(),
        ),
        (
            "cleanup",
            "appmesh2istio-cleanup.yaml",
            strings(&["-n", &frontend, "--labels", "--yes", "--timeout", "60s"]),
            Vec::new(),
        ),
    ];
    let mut tried = Vec::new();
    let mut degraded = Vec::new();
    for (command, role, args, reset) in runs {
        if command == "rollout" {
            // Restarting is only meaningful once the namespace selects Istio's injector.
            let out = run("label", admin, dir, &strings(&["-n", &catalog, "--yes"]));
            assert_eq!(out.code, 0, "{}", tail(&out.stderr));
        }
        let rules = role_rules(role);
        let mut removed = 0;
        for (index, rule) in rules.iter().enumerate() {
            let preflight = rule
                .resources
                .iter()
                .flatten()
                .any(|r| r == "selfsubjectaccessreviews");
            if preflight || only_for_other_flags(role, rule) {
                continue;
            }
            let mut fewer = rules.clone();
            fewer.remove(index);
            let identity = grant_role(
                cluster,
                &format!("{}-minus-{index}", role.trim_end_matches(".yaml")),
                fewer,
            );
            let out = run(command, identity.kubeconfig_path(), dir, &args);
            let events = requests_of(cluster, &identity);
            let what = format!(
                "{role} without rule {index} ({:?} {:?} {:?})",
                rule.api_groups.as_deref().unwrap_or_default(),
                rule.resources.as_deref().unwrap_or_default(),
                rule.verbs
            );
            assert!(
                names_a_right_of(&out.stderr, rule),
                "{what}: the missing right is not named:\n{}",
                tail(&out.stderr)
            );
            let writes: Vec<&AuditEvent> = events.iter().filter(|e| is_write(e)).collect();
            if out.code == 0 {
                // A read the command can do without: it went on, and said what it could
                // not read (checked above). Put the state back for the next rule.
                assert!(
                    out.stderr.contains("warning:"),
                    "{what}: went on without a warning:\n{}",
                    tail(&out.stderr)
                );
                assert!(
                    !reset.is_empty(),
                    "{what}: succeeded\n{}",
                    tail(&out.stderr)
                );
                let back = run(command, admin, dir, &reset);
                assert_eq!(back.code, 0, "{}", tail(&back.stderr));
                degraded.push(what);
            } else {
                assert!(writes.is_empty(), "{what}: wrote {writes:?}");
            }
            removed += 1;
        }
        assert!(removed >= 2, "{role}: only {removed} rules tried");
        tried.push((command, removed));
    }
    eprintln!("rules removed one at a time: {tried:?}");
    eprintln!("went on with a warning naming the refused read: {degraded:#?}");
}

/// precheck's rights check (one SelfSubjectAccessReview per right of the migration) and the
/// shipped roles say the same: each right it asks about is granted by the role of every
/// command it names, so a user bound to those roles gets no AMI3004/AMI3005 from precheck.
#[test]
fn precheck_asks_for_exactly_what_the_shipped_roles_grant() {
    use appmesh2istio::cluster::NamespaceScope;
    use appmesh2istio::precheck::snapshot::permission_plan;
    let role_of = |command: &str| match command {
        "precheck" => "appmesh2istio-precheck.yaml",
        "convert" => "appmesh2istio-convert.yaml",
        "convert --apply" => "appmesh2istio-convert-apply.yaml",
        "label" => "appmesh2istio-label.yaml",
        "rollout" => "appmesh2istio-rollout.yaml",
        other => panic!("precheck names an unknown command {other:?}"),
    };
    let plan = permission_plan(&NamespaceScope::All);
    assert!(plan.len() > 20, "{plan:?}");
    let mut by_role: BTreeMap<&str, usize> = BTreeMap::new();
    for (request, needed_by, read) in &plan {
        for command in needed_by.split(", ") {
            let role = role_of(command);
            assert!(
                allows(
                    &role_rules(role),
                    &request.verb,
                    &request.group,
                    &request.resource
                ),
                "precheck asks for {request} for {command}, {role} does not grant it"
            );
            *by_role.entry(role).or_default() += 1;
        }
        // The read-only roles grant no write precheck asks about.
        if !read {
            for role in ["appmesh2istio-precheck.yaml", "appmesh2istio-convert.yaml"] {
                assert!(
                    !allows(
                        &role_rules(role),
                        &request.verb,
                        &request.group,
                        &request.resource
                    ),
                    "{role} grants {request}"
                );
            }
        }
    }
    assert_eq!(by_role.len(), 5, "{by_role:?}");
    // No role grants anything on Secrets, and the read-only ones no write at all.
    for file in std::fs::read_dir(workspace_root().join("deploy/rbac")).unwrap() {
        let path = file.unwrap().path();
        if path.extension().is_none_or(|e| e != "yaml") {
            continue;
        }
        let name = path.file_name().unwrap().to_str().unwrap().to_owned();
        let rules = role_rules(&name);
        for verb in [
            "get", "list", "watch", "create", "patch", "delete", "update",
        ] {
            assert!(
                !allows(&rules, verb, "", "secrets"),
                "{name}: {verb} secrets"
            );
        }
        assert!(
            rules.iter().all(|r| !r.verbs.iter().any(|v| v == "*")
                && !r.resources.iter().flatten().any(|x| x == "*")
                && !r.api_groups.iter().flatten().any(|x| x == "*")),
            "{name}: no wildcards"
        );
        if name.contains("precheck") || name == "appmesh2istio-convert.yaml" {
            for rule in &rules {
                for verb in &rule.verbs {
                    let preflight = verb == "create"
                        && rule
                            .resources
                            .iter()
                            .flatten()
                            .all(|x| x == "selfsubjectaccessreviews");
                    assert!(
                        ["get", "list", "watch"].contains(&verb.as_str()) || preflight,
                        "{name}: {verb}"
                    );
                }
            }
        }
    }
}
