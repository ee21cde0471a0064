//! Waiting for deleted objects to go away: one watch per kind (list, then watch events from the
//! list's resourceVersion, restarted by kube's watcher when the server ends it), never a GET per
//! object in a loop. What is still there at the deadline is returned as last seen, so that its
//! finalizers can be shown.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use futures::StreamExt;
use futures::future::join_all;
use kube::api::{Api, DynamicObject};
use kube::runtime::{WatchStreamExt, watcher};
use serde_json::Value;

use crate::change::ObjectKey;
use crate::change::object::get_value;
use crate::cluster::Cluster;

/// An object that was deleted, by key and uid (another object of the same name is not it).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Gone {
    pub key: ObjectKey,
    pub uid: Option<String>,
}

type Name = (Option<String>, String);

/// Wait until every object of `targets` is gone, at most `timeout`; returns the ones still
/// there (their last state seen).
pub async fn wait_gone(cluster: &Cluster, targets: &[Gone], timeout: Duration) -> Vec<Value> {
    let mut by_kind: BTreeMap<(String, String), Vec<&Gone>> = BTreeMap::new();
    for target in targets {
        by_kind
            .entry((target.key.api_version.clone(), target.key.kind.clone()))
            .or_default()
            .push(target);
    }
    let waits = by_kind
        .into_values()
        .map(|group| wait_kind(cluster, group, timeout));
    join_all(waits).await.into_iter().flatten().collect()
}

fn name_of(object: &DynamicObject) -> Name {
    (
        object.metadata.namespace.clone(),
        object.metadata.name.clone().unwrap_or_default(),
    )
}

async fn wait_kind(cluster: &Cluster, group: Vec<&Gone>, timeout: Duration) -> Vec<Value> {
    let Some(first) = group.first() else {
        return Vec::new();
    };
    let Ok(api) = first.key.api(&cluster.client) else {
        return Vec::new();
    };
    // One namespace: watch it alone; several: the whole cluster's objects of this kind.
    let namespaces: BTreeSet<&Option<String>> = group.iter().map(|g| &g.key.namespace).collect();
    let api: Api<DynamicObject> = match namespaces.into_iter().collect::<Vec<_>>().as_slice() {
        [Some(_)] => api,
        _ => match first.key.kind_info() {
            Some(info) if info.namespaced => {
                Api::all_with(cluster.client.clone(), &info.api_resource())
            }
            _ => api,
        },
    };
    let mut pending: BTreeMap<Name, Option<String>> = group
        .iter()
        .map(|g| ((g.key.namespace.clone(), g.key.name.clone()), g.uid.clone()))
        .collect();
    let mut last: BTreeMap<Name, DynamicObject> = BTreeMap::new();
    let stream = watcher(api, watcher::Config::default()).default_backoff();
    futures::pin_mut!(stream);
    let mut listed: BTreeSet<Name> = BTreeSet::new();
    let same = |pending: &BTreeMap<Name, Option<String>>, object: &DynamicObject| {
        pending
            .get(&name_of(object))
            .is_some_and(|uid| uid.is_none() || *uid == object.metadata.uid)
    };
    let waited = tokio::time::timeout(timeout, async {
        while !pending.is_empty() {
            let Some(event) = stream.next().await else {
                break;
            };
            match event {
                Ok(watcher::Event::Init) => listed.clear(),
                Ok(watcher::Event::InitApply(object)) => {
                    if same(&pending, &object) {
                        listed.insert(name_of(&object));
                        last.insert(name_of(&object), object);
                    }
                }
                Ok(watcher::Event::InitDone) => {
                    // What the list did not return (or returned as another object) is gone.
                    pending.retain(|name, _| listed.contains(name));
                }
                Ok(watcher::Event::Apply(object)) => {
                    if same(&pending, &object) {
                        last.insert(name_of(&object), object);
                    }
                }
                Ok(watcher::Event::Delete(object)) => {
                    if same(&pending, &object) {
                        pending.remove(&name_of(&object));
                    }
                }
                // The watcher restarts itself (with backoff) after an error.
                Err(_) => {}
            }
        }
    })
    .await;
    let _ = waited;
    let mut out = Vec::new();
    for ((namespace, name), _) in pending {
        let value = match last.get(&(namespace.clone(), name.clone())) {
            Some(o) => serde_json::to_value(o).ok().map(|mut value| {
                if let Value::Object(map) = &mut value {
                    map.insert("apiVersion".into(), first.key.api_version.clone().into());
                    map.insert("kind".into(), first.key.kind.clone().into());
                }
                value
            }),
            // Not seen before the deadline: read it once, so that it is reported as it is.
            None => {
                let key = ObjectKey::new(
                    &first.key.api_version,
                    &first.key.kind,
                    namespace.as_deref(),
                    &name,
                );
                get_value(cluster, &key).await.ok().flatten()
            }
        };
        out.extend(value);
    }
    out
}
