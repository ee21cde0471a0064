//! The change engine against the real test API server, with a kind of change defined here, the
//! way `label` defines its own: concurrent writes with per-object undo entries, a concurrent
//! change between plan and write (re-plan, never a lost update), a reply lost after the write
//! was applied, and undo of the recorded metadata changes.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::path::Path;

use appmesh2istio::change::Journal;
use appmesh2istio::change::engine::{self, CommandSpec, RunOptions};
use appmesh2istio::change::record::{KeyChanges, UndoEntry, UndoRecord};
use appmesh2istio::change::{Action, Change, Decision, DryRun, ObjectKey, Operation, Plan, revert};
use appmesh2istio::change::{Applied, Status};
use appmesh2istio::cluster::{Cluster, KubeArgs};
use appmesh2istio::exit;
use http::Method;
use k8s_openapi::api::core::v1::Namespace;
use kube::api::{Api, Patch, PatchParams};
use serde_json::{Value, json};
use test_cluster::{Fault, FaultRule, TestCluster, cluster_or_skip};

const LABEL: &str = "example.com/mesh";

/// Sets one label on a namespace: a change kind that lives outside the change module.
struct SetLabel {
    key: ObjectKey,
    value: String,
}

impl SetLabel {
    fn new(namespace: &str, value: &str) -> SetLabel {
        SetLabel {
            key: ObjectKey::new("v1", "Namespace", None, namespace),
            value: value.to_owned(),
        }
    }
}

impl Change for SetLabel {
    fn key(&self) -> &ObjectKey {
        &self.key
    }

    fn decide(&self, live: Option<&Value>) -> Decision {
        let Some(live) = live else {
            return Decision::none(Action::SKIP, "no such namespace");
        };
        let current = live.pointer("/metadata/labels").and_then(|l| l.get(LABEL));
        if current.and_then(Value::as_str) == Some(&self.value) {
            return Decision::none(Action::UNCHANGED, "");
        }
        Decision::write(
            Action::LABEL,
            format!("{LABEL}={}", self.value),
            vec![Operation::MergePatch {
                patch: json!({"metadata": {"labels": {LABEL: self.value}}}),
            }],
            Some(UndoEntry::Metadata(KeyChanges::new(
                &self.key,
                live,
                "/metadata",
                [LABEL],
                [],
            ))),
        )
    }

    fn verify(&self, _: &Decision, live: Option<&Value>, _: DryRun) -> Vec<String> {
        let value = live
            .and_then(|l| l.pointer("/metadata/labels"))
            .and_then(|l| l.get(LABEL))
            .and_then(Value::as_str);
        if value == Some(&self.value) {
            Vec::new()
        } else {
            vec![format!("{LABEL} is {value:?}")]
        }
    }
}

fn no_block(_: usize) -> String {
    String::new()
}

const LABEL_SPEC: CommandSpec = CommandSpec {
    name: "label",
    plan_kind: "LabelPlan",
    plan_title: "plan",
    question: "Label",
    verified: "labelled",
    undo_command: Some("kubectl appmesh2istio label --undo"),
    nothing_to_do: None,
    blocked_message: no_block,
    blocked_exit: exit::FAILURE,
};

const UNDO_SPEC: CommandSpec = CommandSpec {
    name: "label --undo",
    plan_kind: "UndoPlan",
    plan_title: "undo plan",
    question: "Undo",
    verified: "restored",
    undo_command: None,
    nothing_to_do: Some("nothing to undo"),
    blocked_message: no_block,
    blocked_exit: exit::FAILURE,
};

async fn connect(kubeconfig: &Path) -> Cluster {
    KubeArgs {
        kubeconfig: Some(kubeconfig.to_owned()),
        ..KubeArgs::default()
    }
    .connect(appmesh2istio::cluster::CommandName::Convert)
    .await
    .unwrap()
}

fn options(undo_file: &Path, in_flight: usize) -> RunOptions {
    RunOptions {
        yes: true,
        undo_file: Some(undo_file.to_owned()),
        max_in_flight: in_flight,
        stop_on_failure: false,
        ..RunOptions::default()
    }
}

async fn labels(client: &kube::Client, namespace: &str) -> BTreeMap<String, String> {
    Api::<Namespace>::all(client.clone())
        .get(namespace)
        .await
        .unwrap()
        .metadata
        .labels
        .unwrap_or_default()
}

fn namespaces(cluster: &TestCluster, prefix: &str, count: usize) -> Vec<String> {
    (0..count)
        .map(|_| cluster.fresh_namespace(prefix).unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_writes_each_record_undo_first_and_undo_restores_every_namespace() {
    let Some(cluster) = cluster_or_skip(
        "concurrent_writes_each_record_undo_first_and_undo_restores_every_namespace",
    ) else {
        return;
    };
    let names = namespaces(cluster, "engine", 40);
    let admin = cluster.client().unwrap();
    // Half of them carry the label already with another value: undo must bring that back.
    for name in names.iter().step_by(2) {
        Api::<Namespace>::all(admin.clone())
            .patch(
                name,
                &PatchParams::default(),
                &Patch::Merge(json!({"metadata": {"labels": {LABEL: "before"}}})),
            )
            .await
            .unwrap();
    }
    let before: Vec<BTreeMap<String, String>> =
        futures::future::join_all(names.iter().map(|n| labels(&admin, n))).await;
    let proxy = cluster.start_fault_proxy().unwrap();
    let target = connect(proxy.kubeconfig_path()).await;
    let dir = tempfile::tempdir().unwrap();
    let undo = dir.path().join("undo.yaml");

    let changes: Vec<SetLabel> = names.iter().map(|n| SetLabel::new(n, "istio")).collect();
    let plan = Plan::read(&target, changes, &[Action::LABEL, Action::UNCHANGED], 16)
        .await
        .unwrap();
    assert_eq!(plan.summary(), "40 to label");
    proxy.clear_journal();
    let report = engine::run(
        &target,
        &LABEL_SPEC,
        &plan,
        &options(&undo, 16),
        Default::default(),
    )
    .await
    .unwrap();
    assert_eq!(report.exit_code, exit::SUCCESS, "{report:#?}");
    assert!(
        report
            .results
            .iter()
            .all(|r| r.status == Status::Done && r.wrote)
    );
    assert_eq!(report.undo_file.as_deref(), Some(undo.as_path()));
    let patches = proxy
        .requests()
        .into_iter()
        .filter(|r| r.method == Method::PATCH)
        .count();
    assert_eq!(patches, 40, "one write per namespace");
    for name in &names {
        assert_eq!(
            labels(&admin, name).await.get(LABEL).map(String::as_str),
            Some("istio")
        );
    }
    let record = UndoRecord::read(&undo).unwrap();
    assert_eq!(record.command, "label");
    assert_eq!(record.metadata_changes.len(), 40);
    for (name, was) in names.iter().zip(&before) {
        let entry = record
            .metadata_changes
            .iter()
            .find(|m| &m.name == name)
            .unwrap();
        assert_eq!(entry.labels[LABEL], was.get(LABEL).cloned(), "{name}");
    }

    // A second run changes nothing.
    let plan = Plan::read(
        &target,
        names.iter().map(|n| SetLabel::new(n, "istio")).collect(),
        &[Action::LABEL, Action::UNCHANGED],
        16,
    )
    .await
    .unwrap();
    assert_eq!(plan.writes(), 0);

    // Undo, with the engine's own change for undo entries.
    let plan = Plan::read(&target, revert::changes(&record), revert::VOCABULARY, 16)
        .await
        .unwrap();
    assert_eq!(plan.summary(), "40 to restore");
    let mut undo_options = options(&undo, 16);
    undo_options.undo_file = None;
    let report = engine::run(
        &target,
        &UNDO_SPEC,
        &plan,
        &undo_options,
        Default::default(),
    )
    .await
    .unwrap();
    assert_eq!(report.exit_code, exit::SUCCESS, "{report:#?}");
    let after: Vec<BTreeMap<String, String>> =
        futures::future::join_all(names.iter().map(|n| labels(&admin, n))).await;
    assert_eq!(after, before, "every namespace's labels exactly as before");
    let plan = Plan::read(&target, revert::changes(&record), revert::VOCABULARY, 16)
        .await
        .unwrap();
    assert_eq!(plan.summary(), "40 unchanged", "undo is idempotent");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_between_plan_and_write_is_re_planned_never_lost() {
    let Some(cluster) = cluster_or_skip("a_change_between_plan_and_write_is_re_planned_never_lost")
    else {
        return;
    };
    let name = cluster.fresh_namespace("race").unwrap();
    let admin = cluster.client().unwrap();
    let target = connect(cluster.kubeconfig_path()).await;
    let dir = tempfile::tempdir().unwrap();
    let undo = dir.path().join("undo.yaml");
    let plan = Plan::read(&target, vec![SetLabel::new(&name, "istio")], &[], 1)
        .await
        .unwrap();
    // Someone else writes the namespace after the plan read it: the planned write's
    // resourceVersion is stale.
    Api::<Namespace>::all(admin.clone())
        .patch(
            &name,
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"labels": {"team": "payments", LABEL: "theirs"}}})),
        )
        .await
        .unwrap();
    let journal = Journal::create(
        Some(&undo),
        UndoRecord::new(&target, "label", "kubectl appmesh2istio label --undo", "m"),
    )
    .unwrap();
    let results = engine::execute(&target, &plan, Some(&journal), &options(&undo, 1)).await;
    assert_eq!(results[0].status, Status::Done, "{results:#?}");
    assert_eq!(results[0].retries, 1, "one re-plan");
    let now = labels(&admin, &name).await;
    assert_eq!(
        now.get("team").map(String::as_str),
        Some("payments"),
        "their change is kept"
    );
    assert_eq!(now.get(LABEL).map(String::as_str), Some("istio"));
    journal.flush().await.unwrap();
    let record = UndoRecord::read(&undo).unwrap();
    assert_eq!(
        record.metadata_changes[0].labels[LABEL],
        Some("theirs".to_owned()),
        "the undo entry holds the value the write replaced, not the one planned against"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reply_lost_after_the_write_is_re_read_and_a_refused_write_leaves_no_undo_entry() {
    let Some(cluster) = cluster_or_skip(
        "a_reply_lost_after_the_write_is_re_read_and_a_refused_write_leaves_no_undo_entry",
    ) else {
        return;
    };
    let names = namespaces(cluster, "lost", 2);
    let admin = cluster.client().unwrap();
    let proxy = cluster.start_fault_proxy().unwrap();
    // The first namespace's write is applied but its answer never arrives; the second is
    // refused outright.
    proxy.add_rule(
        FaultRule::new(Fault::DropAfterForwarding)
            .method(Method::PATCH)
            .path_contains(&format!("/namespaces/{}", names[0])),
    );
    proxy.add_rule(
        FaultRule::new(Fault::Status(403))
            .method(Method::PATCH)
            .path_contains(&format!("/namespaces/{}", names[1])),
    );
    let target = connect(proxy.kubeconfig_path()).await;
    let dir = tempfile::tempdir().unwrap();
    let undo = dir.path().join("undo.yaml");
    let plan = Plan::read(
        &target,
        names.iter().map(|n| SetLabel::new(n, "istio")).collect(),
        &[],
        2,
    )
    .await
    .unwrap();
    let journal = Journal::create(
        Some(&undo),
        UndoRecord::new(&target, "label", "kubectl appmesh2istio label --undo", "m"),
    )
    .unwrap();
    let results = engine::execute(&target, &plan, Some(&journal), &options(&undo, 2)).await;
    assert_eq!(results[0].status, Status::Done, "{results:#?}");
    assert_eq!(
        results[0].decision.action,
        Action::LABEL,
        "reported as the write that happened"
    );
    assert!(results[0].retries >= 1);
    assert!(
        matches!(&results[1].status, Status::Failed { applied: Applied::No, message } if message.contains("403")),
        "{:#?}",
        results[1]
    );
    assert_eq!(
        labels(&admin, &names[0])
            .await
            .get(LABEL)
            .map(String::as_str),
        Some("istio")
    );
    assert_eq!(labels(&admin, &names[1]).await.get(LABEL), None);
    let path = journal.finish().await.unwrap().unwrap();
    let record = UndoRecord::read(&path).unwrap();
    let recorded: Vec<&str> = record
        .metadata_changes
        .iter()
        .map(|m| m.name.as_str())
        .collect();
    assert_eq!(
        recorded,
        vec![names[0].as_str()],
        "only the write that may have happened"
    );
}

/// Creates a namespace: a create-only change.
struct CreateNamespace(ObjectKey);

impl Change for CreateNamespace {
    fn key(&self) -> &ObjectKey {
        &self.0
    }

    fn decide(&self, live: Option<&Value>) -> Decision {
        if live.is_some() {
            return Decision::none(Action::UNCHANGED, "");
        }
        Decision::write(
            Action::CREATE,
            "",
            vec![Operation::Create {
                manifest: json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": self.0.name}}),
            }],
            None,
        )
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn creates_ask_for_strict_field_validation_when_the_server_has_it() {
    let Some(cluster) =
        cluster_or_skip("creates_ask_for_strict_field_validation_when_the_server_has_it")
    else {
        return;
    };
    let proxy = cluster.start_fault_proxy().unwrap();
    let target = connect(proxy.kubeconfig_path()).await;
    let name = cluster.unique_name("strict");
    let plan = Plan::read(
        &target,
        vec![CreateNamespace(ObjectKey::new(
            "v1",
            "Namespace",
            None,
            &name,
        ))],
        &[],
        1,
    )
    .await
    .unwrap();
    // 1.20 ignores the parameter; what matters here is that it is sent and the create works.
    let options = RunOptions {
        field_validation: true,
        ..RunOptions::default()
    };
    let results = engine::execute(&target, &plan, None, &options).await;
    assert_eq!(results[0].status, Status::Done, "{results:#?}");
    let posts: Vec<String> = proxy
        .requests()
        .into_iter()
        .filter(|r| r.method == Method::POST)
        .map(|r| r.uri)
        .collect();
    assert_eq!(posts.len(), 1, "{posts:#?}");
    assert!(
        posts[0].starts_with("/api/v1/namespaces?")
            && posts[0].contains("fieldManager=kubectl-appmesh2istio")
            && posts[0].ends_with("&fieldValidation=Strict"),
        "{posts:#?}"
    );
    let admin = cluster.client().unwrap();
    assert!(
        Api::<Namespace>::all(admin)
            .get_opt(&name)
            .await
            .unwrap()
            .is_some()
    );
}

/// Deletes one object (a ServiceAccount here) the way cleanup deletes App Mesh objects: with the uid and the
/// resourceVersion it planned against as preconditions, the object recorded for undo.
struct DeleteObject {
    key: ObjectKey,
}

impl Change for DeleteObject {
    fn key(&self) -> &ObjectKey {
        &self.key
    }

    fn decide(&self, live: Option<&Value>) -> Decision {
        let Some(live) = live else {
            return Decision::none(Action::ALREADY_DELETED, "");
        };
        Decision::write(
            Action::DELETE,
            "test",
            vec![Operation::Delete {
                resource_version: true,
            }],
            Some(UndoEntry::Deleted(
                appmesh2istio::change::record::DeletedObject::new(&self.key, live),
            )),
        )
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delete_planned_against_an_older_version_is_re_planned_and_records_what_it_deleted() {
    let Some(cluster) = cluster_or_skip("a_delete_planned_against_an_older_version") else {
        return;
    };
    let ns = cluster.fresh_namespace("delrace").unwrap();
    let admin = cluster.client().unwrap();
    let maps: Api<k8s_openapi::api::core::v1::ServiceAccount> = Api::namespaced(admin.clone(), &ns);
    maps.create(
        &kube::api::PostParams::default(),
        &serde_json::from_value(json!({"metadata": {"name": "cm", "labels": {"v": "planned"}}}))
            .unwrap(),
    )
    .await
    .unwrap();
    let target = connect(cluster.kubeconfig_path()).await;
    let dir = tempfile::tempdir().unwrap();
    let undo = dir.path().join("undo.yaml");
    let key = ObjectKey::new("v1", "ServiceAccount", Some(&ns), "cm");
    let plan = Plan::read(&target, vec![DeleteObject { key: key.clone() }], &[], 1)
        .await
        .unwrap();
    // Someone else changes the object after the plan read it.
    maps.patch(
        "cm",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"labels": {"v": "theirs"}}})),
    )
    .await
    .unwrap();
    let proxy = cluster.start_fault_proxy().unwrap();
    let through_proxy = connect(proxy.kubeconfig_path()).await;
    let journal = Journal::create(
        Some(&undo),
        UndoRecord::new(
            &through_proxy,
            "cleanup",
            "kubectl appmesh2istio cleanup --restore",
            "m",
        ),
    )
    .unwrap();
    let results = engine::execute(&through_proxy, &plan, Some(&journal), &options(&undo, 1)).await;
    assert_eq!(results[0].status, Status::Done, "{results:#?}");
    assert_eq!(
        results[0].retries, 1,
        "one re-plan after the refused delete"
    );
    // The first DELETE was refused by its preconditions (409), the second went through.
    let deletes: Vec<Option<u16>> = proxy
        .requests()
        .iter()
        .filter(|r| r.method == Method::DELETE)
        .map(|r| r.status)
        .collect();
    assert_eq!(deletes, [Some(409), Some(200)], "{:#?}", proxy.requests());
    assert!(maps.get_opt("cm").await.unwrap().is_none());
    journal.flush().await.unwrap();
    let record = UndoRecord::read(&undo).unwrap();
    assert_eq!(record.deleted.len(), 1, "{record:?}");
    assert_eq!(
        record.deleted[0].manifest["metadata"]["labels"]["v"], "theirs",
        "the undo entry holds what was deleted, not what was planned against"
    );
}
