//! Argo Rollouts canaries split by App Mesh (`strategy.canary.trafficRouting.appMesh`) move
//! to Istio's host-level splitting (`trafficRouting.istio`).
//!
//! With App Mesh, Argo edits the weights of the VirtualRouter behind
//! `appMesh.virtualService` between the canary and stable VirtualNodes of
//! `virtualNodeGroup`, and writes the ReplicaSets' `rollouts-pod-template-hash` into those
//! nodes' pod selectors. With Istio, Argo edits the weights of the named routes of a
//! VirtualService whose destinations are the canary and stable Services. So:
//!
//! - the router and nodes convert as usual (the router becomes the mesh VirtualService of
//!   the host, its routes keeping their App Mesh names), minus the run-time selector
//!   ([`strip_run_time_selectors`], at load time, so resolution never sees it);
//! - the Rollout is written back with `trafficRouting.istio.virtualService` naming that
//!   VirtualService and its routes, and `canaryService`/`stableService` naming the Services
//!   the two nodes' DNS names resolve to (or as the Rollout already named them).
//!
//! Facts from argoproj/argo-rollouts: `rollout/trafficrouting/appmesh/appmesh.go` and
//! `rollout/trafficrouting/istio/istio.go` (Argo matches a destination host's first DNS label
//! against the Service names).

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use super::Context;
use super::names::service_of_host;
use crate::appmesh::{AppMeshKind, AppMeshObject};
use crate::findings::Finding;
use crate::gateway_api::{Service, ServicePort, ServiceSpec, TargetPort};
use crate::istio::{Destination, HttpRouteDestination, Metadata, Rollout, RolloutSpec, clamp_i32};
use crate::load::Inventory;
use crate::origin::ObjectRef;
use crate::resolve::NsName;

/// Argo's API group.
pub const GROUP: &str = "argoproj.io";

/// The pod label Argo Rollouts puts on each ReplicaSet's pods and into App Mesh selectors.
pub const POD_TEMPLATE_HASH: &str = "rollouts-pod-template-hash";

/// A Rollout moved to Istio traffic routing.
const CODE_CONVERTED: &str = "AMI2720";
/// The run-time selector Argo wrote into a VirtualNode, dropped.
const CODE_RUN_TIME_SELECTOR: &str = "AMI2721";
/// A Rollout that cannot be moved.
const CODE_NOT_CONVERTED: &str = "AMI2722";
/// A VirtualRouter whose weights Argo edits.
const CODE_ARGO_ROUTER: &str = "AMI2723";
/// A Rollout App Mesh does not split, left alone.
const CODE_OTHER_ROUTING: &str = "AMI2724";
/// The canary and stable nodes of a Rollout share the pod-side objects.
pub(crate) const CODE_SHARED_PODS: &str = "AMI2725";
/// The canary and stable copies of one Service were generated.
const CODE_SERVICES_MADE: &str = "AMI2726";

const APP_MESH: &str = "/spec/strategy/canary/trafficRouting/appMesh";
/// Annotations never carried onto generated objects (kubectl's copy of the old object).
const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";

fn rollout_ref(value: &Value) -> ObjectRef {
    let text = |p: &str| value.pointer(p).and_then(Value::as_str);
    ObjectRef::new(
        "Rollout",
        text("/metadata/namespace"),
        text("/metadata/name").unwrap_or(""),
    )
}

/// The canary and stable VirtualNode names of a Rollout split by App Mesh.
fn node_group(rollout: &Value) -> [Option<&str>; 2] {
    let group = rollout.pointer(&format!("{APP_MESH}/virtualNodeGroup"));
    ["canaryVirtualNodeRef", "stableVirtualNodeRef"].map(|key| {
        group
            .and_then(|g| g.pointer(&format!("/{key}/name")))
            .and_then(Value::as_str)
    })
}

/// The Rollout (if any) that splits between VirtualNodes `a` and `b`.
pub(crate) fn splitting_rollout(
    inventory: &Inventory,
    a: &ObjectRef,
    b: &ObjectRef,
) -> Option<ObjectRef> {
    inventory.rollouts.iter().find_map(|r| {
        let subject = rollout_ref(&r.object);
        let ns = subject.namespace.as_deref();
        let nodes: Vec<ObjectRef> = node_group(&r.object)
            .into_iter()
            .flatten()
            .map(|name| ObjectRef::new("VirtualNode", ns, name))
            .collect();
        (a != b && nodes.contains(a) && nodes.contains(b)).then_some(subject)
    })
}

/// Drop `rollouts-pod-template-hash` from the pod selectors of the VirtualNodes a Rollout
/// splits between: Argo wrote it at run time for the ReplicaSets of the moment, and Istio's
/// host-level splitting selects pods through the Services Argo edits instead.
pub(crate) fn strip_run_time_selectors(inventory: &mut Inventory) {
    let mut nodes: BTreeMap<ObjectRef, ObjectRef> = BTreeMap::new();
    for rollout in &inventory.rollouts {
        let subject = rollout_ref(&rollout.object);
        for name in node_group(&rollout.object).into_iter().flatten() {
            nodes.insert(
                ObjectRef::new("VirtualNode", subject.namespace.as_deref(), name),
                subject.clone(),
            );
        }
    }
    if nodes.is_empty() {
        return;
    }
    for sourced in &mut inventory.appmesh {
        let subject = sourced.object.object_ref();
        let Some(rollout) = nodes.get(&subject) else {
            continue;
        };
        let AppMeshObject::VirtualNode(vn) = &mut sourced.object else {
            continue;
        };
        let removed = vn
            .spec
            .pod_selector
            .as_mut()
            .and_then(|s| s.match_labels.as_mut())
            .and_then(|labels| labels.remove(POD_TEMPLATE_HASH));
        if let Some(hash) = removed {
            inventory.findings.push(
                Finding::new(
                    CODE_RUN_TIME_SELECTOR,
                    subject,
                    format!(
                        "{POD_TEMPLATE_HASH}: {hash} is the ReplicaSet hash {rollout} set at run time; it is left out \
                         of the pod-side objects, which select the Rollout's pods by their other labels (with Istio, \
                         Argo splits through the canary and stable Services instead)"
                    ),
                )
                .at_field("spec.podSelector.matchLabels")
                .with_origin(Some(sourced.origin.clone())),
            );
        }
    }
}

/// Convert the input's Rollouts.
pub(crate) fn translate(ctx: &mut Context<'_>) {
    let inventory = ctx.inventory;
    for sourced in &inventory.rollouts {
        let subject = rollout_ref(&sourced.object);
        ctx.report.source(&subject, Some(&sourced.origin));
        match convert_rollout(ctx, &subject, &sourced.object) {
            Ok(()) => {}
            Err((field, message)) => ctx.note(CODE_NOT_CONVERTED, &subject, &field, message),
        }
    }
}

/// What one Rollout's Istio routing names.
struct Plan {
    virtual_service: String,
    routes: Vec<String>,
    canary_service: String,
    stable_service: String,
}

fn convert_rollout(
    ctx: &mut Context<'_>,
    subject: &ObjectRef,
    rollout: &Value,
) -> Result<(), (String, String)> {
    if rollout.pointer(APP_MESH).is_none() {
        ctx.note(
            CODE_OTHER_ROUTING,
            subject,
            "spec.strategy",
            "App Mesh does not split this Rollout's traffic (no canary trafficRouting.appMesh): it is left as it is",
        );
        return Ok(());
    }
    let plan = plan(ctx, subject, rollout)?;
    let mut spec: BTreeMap<String, Value> = rollout
        .get("spec")
        .and_then(Value::as_object)
        .map(|m| m.clone().into_iter().collect())
        .unwrap_or_default();
    let canary = spec
        .get_mut("strategy")
        .and_then(|s| s.get_mut("canary"))
        .and_then(Value::as_object_mut)
        .ok_or_else(|| {
            (
                "spec.strategy.canary".to_owned(),
                "not an object".to_owned(),
            )
        })?;
    canary.insert("canaryService".into(), json!(plan.canary_service));
    canary.insert("stableService".into(), json!(plan.stable_service));
    let routing = canary
        .get_mut("trafficRouting")
        .and_then(Value::as_object_mut)
        .ok_or_else(|| {
            (
                "spec.strategy.canary.trafficRouting".to_owned(),
                "not an object".to_owned(),
            )
        })?;
    routing.remove("appMesh");
    routing.insert(
        "istio".into(),
        json!({"virtualService": {"name": plan.virtual_service, "routes": plan.routes}}),
    );
    let metadata = metadata(subject, rollout);
    ctx.output.insert(
        Rollout::new(metadata, RolloutSpec { fields: spec }),
        subject,
    );
    ctx.note(
        CODE_CONVERTED,
        subject,
        "spec.strategy.canary.trafficRouting",
        format!(
            "appMesh becomes istio: Argo now sets the weights of routes {} of VirtualService {} between Services {} \
             (canary) and {} (stable)",
            plan.routes.join(", "),
            plan.virtual_service,
            plan.canary_service,
            plan.stable_service
        ),
    );
    Ok(())
}

fn plan(
    ctx: &mut Context<'_>,
    subject: &ObjectRef,
    rollout: &Value,
) -> Result<Plan, (String, String)> {
    let ns = subject.namespace.clone().unwrap_or_default();
    let vs_field = "spec.strategy.canary.trafficRouting.appMesh.virtualService";
    let vs_name = rollout
        .pointer(&format!("{APP_MESH}/virtualService/name"))
        .and_then(Value::as_str)
        .ok_or_else(|| (format!("{vs_field}.name"), "missing".to_owned()))?;
    let resolved = ctx.resolved;
    let entry = resolved
        .virtual_services
        .get(&NsName::new(ns.clone(), vs_name))
        .ok_or_else(|| {
            (
                format!("{vs_field}.name"),
                format!(
                    "App Mesh VirtualService {ns}/{vs_name} is not in the input, so the Istio VirtualService Argo must \
                     edit is unknown; convert it together with the Rollout"
                ),
            )
        })?;
    let host = ctx.qualify(entry.host(), &ns);
    let Some(vs) = ctx.output.find_mesh_virtual_service(&host) else {
        return Err((
            format!("{vs_field}.name"),
            format!(
                "no Istio VirtualService was generated for {host} (see the report of VirtualService {ns}/{vs_name})"
            ),
        ));
    };
    let named: Vec<&str> = vs
        .spec
        .http
        .iter()
        .filter_map(|h| h.name.as_deref())
        .collect();
    let wanted: Vec<String> = rollout
        .pointer(&format!("{APP_MESH}/virtualService/routes"))
        .and_then(Value::as_array)
        .map(|r| {
            r.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();
    let routes: Vec<String> = if wanted.is_empty() {
        // Argo's App Mesh routing edits every route when none are named.
        named.iter().map(|n| (*n).to_owned()).collect()
    } else {
        if let Some(missing) = wanted.iter().find(|w| !named.contains(&w.as_str())) {
            return Err((
                format!("{vs_field}.routes"),
                format!(
                    "route {missing} is not an HTTP route of VirtualService {} (routes: {})",
                    vs.metadata.name,
                    named.join(", ")
                ),
            ));
        }
        wanted
    };
    if routes.is_empty() {
        return Err((
            format!("{vs_field}.routes"),
            format!(
                "VirtualService {} has no named HTTP route for Argo to edit",
                vs.metadata.name
            ),
        ));
    }
    let virtual_service = vs.metadata.name.clone();
    let [canary_node, stable_node] = node_group(rollout);
    let written = |key: &str| {
        rollout
            .pointer(&format!("/spec/strategy/canary/{key}"))
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
    };
    let service = |node: Option<&str>, key: &str| -> Result<String, (String, String)> {
        if let Some(name) = written(key) {
            return Ok(name);
        }
        let node = node.ok_or_else(|| {
            (
                "spec.strategy.canary.trafficRouting.appMesh.virtualNodeGroup".to_owned(),
                format!("no {key} and no VirtualNode to find it from"),
            )
        })?;
        node_service(ctx, &ns, node).ok_or_else(|| {
            (
                format!("spec.strategy.canary.{key}"),
                format!(
                    "VirtualNode {ns}/{node} does not name a Kubernetes Service by DNS, so the Service Argo must use \
                     is unknown; set {key} on the Rollout"
                ),
            )
        })
    };
    let mut canary_service = service(canary_node, "canaryService")?;
    let mut stable_service = service(stable_node, "stableService")?;
    let named_by_rollout = written("canaryService").is_some() || written("stableService").is_some();
    if canary_service == stable_service
        && !named_by_rollout
        && let (Some(canary_node), Some(stable_node)) = (canary_node, stable_node)
    {
        let nodes = NodePair {
            canary: canary_node,
            stable: stable_node,
        };
        (canary_service, stable_service) =
            split_service(ctx, subject, &ns, &host, &canary_service, &nodes, &routes)?;
    }
    let Some(vs) = ctx.output.find_mesh_virtual_service(&host) else {
        return Err((
            format!("{vs_field}.name"),
            format!("no Istio VirtualService for {host}"),
        ));
    };
    if canary_service == stable_service {
        return Err((
            "spec.strategy.canary".to_owned(),
            format!(
                "both VirtualNodes are reached through Service {canary_service}; Istio's host-level splitting needs a \
                 canary and a stable Service (copies of it, which Argo points at each ReplicaSet): create them, \
                 point the VirtualNodes' DNS names at them and convert again"
            ),
        ));
    }
    for route in &routes {
        let Some(http) = vs
            .spec
            .http
            .iter()
            .find(|h| h.name.as_deref() == Some(route))
        else {
            continue;
        };
        for service in [&canary_service, &stable_service] {
            let reaches = http
                .route
                .iter()
                .any(|d| d.destination.host.split('.').next() == Some(service.as_str()));
            if !reaches {
                return Err((
                    format!("{vs_field}.routes"),
                    format!(
                        "route {route} of VirtualService {virtual_service} does not send to Service {service}, so Argo \
                         could not split it"
                    ),
                ));
            }
        }
    }
    // The router's weights are Argo's from now on.
    if let Some(crate::resolve::Provider::VirtualRouter(router)) = &entry.provider
        && let Some(router) = router.object()
    {
        let router_ref = router.object_ref(AppMeshKind::VirtualRouter);
        ctx.note(
            CODE_ARGO_ROUTER,
            &router_ref,
            "spec.routes",
            format!(
                "{subject} sets these weights at run time; in Istio they are the weights of VirtualService \
                 {virtual_service}, which Argo sets once the Rollout uses Istio"
            ),
        );
    }
    Ok(Plan {
        virtual_service,
        routes,
        canary_service,
        stable_service,
    })
}

/// The canary and stable VirtualNode names of a Rollout.
struct NodePair<'a> {
    canary: &'a str,
    stable: &'a str,
}

/// Both nodes are reached through one Service: make its canary and stable copies (Argo
/// points each at one ReplicaSet through `rollouts-pod-template-hash`), and send the routes
/// Argo edits to them with the weights App Mesh's router had for each node.
fn split_service(
    ctx: &mut Context<'_>,
    subject: &ObjectRef,
    ns: &str,
    host: &str,
    service: &str,
    nodes: &NodePair<'_>,
    routes: &[String],
) -> Result<(String, String), (String, String)> {
    let field = "spec.strategy.canary".to_owned();
    let resolved = ctx.resolved;
    let Some(original) = resolved.services.get(&NsName::new(ns, service)) else {
        return Err((
            field,
            format!(
                "both VirtualNodes are reached through Service {service}, which is not in the input: Istio's \
                 host-level splitting needs a canary and a stable copy of it; convert it together with the Rollout"
            ),
        ));
    };
    let Some(selector) = original.object.selector.clone() else {
        return Err((
            field,
            format!(
                "both VirtualNodes are reached through Service {service}, which has no selector to copy"
            ),
        ));
    };
    let names = [format!("{service}-canary"), format!("{service}-stable")];
    let mut ports: Vec<ServicePort> = Vec::new();
    for p in &original.object.ports {
        let Ok(port) = u32::try_from(p.port) else {
            return Err((
                field,
                format!(
                    "Service {service} has port {}, which is not a port number",
                    p.port
                ),
            ));
        };
        ports.push(ServicePort {
            name: p.name.clone(),
            // Written although it is the default: server-side apply keys Service ports by
            // port and protocol.
            protocol: Some(p.protocol.clone().unwrap_or_else(|| "TCP".to_owned())),
            app_protocol: p.app_protocol.clone(),
            port,
            target_port: p.target_port.as_ref().map(|t| {
                t.parse::<u32>()
                    .map_or_else(|_| TargetPort::Name(t.clone()), TargetPort::Number)
            }),
        });
    }
    // A copy the input already has is used as it is.
    let missing: Vec<&String> = names
        .iter()
        .filter(|n| !resolved.services.contains_key(&NsName::new(ns, n.as_str())))
        .collect();
    for name in &missing {
        ctx.output.insert(
            Service::new(
                Metadata::new((*name).clone(), ns),
                ServiceSpec {
                    ports: ports.clone(),
                    selector: selector.clone(),
                },
            ),
            subject,
        );
    }
    // The router's weight for each node, per route.
    let router = match &resolved
        .virtual_services
        .values()
        .find(|v| ctx.qualify(v.host(), &v.common.key.namespace) == host)
        .and_then(|v| v.provider.clone())
    {
        Some(crate::resolve::Provider::VirtualRouter(t)) => {
            t.object().and_then(|k| resolved.virtual_routers.get(k))
        }
        _ => None,
    };
    let weight_of = |route: &str, node: &str| -> i64 {
        router
            .and_then(|r| r.routes.iter().find(|x| x.name == route))
            .map(|r| {
                r.targets
                    .iter()
                    .filter(|t| t.node.object().is_some_and(|k| k.name == node))
                    .map(|t| t.weight)
                    .sum()
            })
            .unwrap_or(0)
    };
    let domain = ctx.opts.cluster_domain.clone();
    let hosts = names.clone().map(|n| format!("{n}.{ns}.svc.{domain}"));
    let Some(vs) = ctx.output.find_mesh_virtual_service_mut(host, subject) else {
        return Err((field, format!("no Istio VirtualService for {host}")));
    };
    for http in vs
        .spec
        .http
        .iter_mut()
        .filter(|h| h.name.as_ref().is_some_and(|n| routes.contains(n)))
    {
        let name = http.name.clone().unwrap_or_default();
        let port = http.route.first().and_then(|d| d.destination.port);
        let canary = clamp_i32(weight_of(&name, nodes.canary));
        let stable = clamp_i32(weight_of(&name, nodes.stable));
        // Istio refuses all-zero weights; App Mesh's stable state sends everything to stable.
        let (canary, stable) = if canary <= 0 && stable <= 0 {
            (0, 100)
        } else {
            (canary.max(0), stable.max(0))
        };
        http.route = hosts
            .iter()
            .zip([canary, stable])
            .map(|(h, weight)| HttpRouteDestination {
                destination: Destination {
                    host: h.clone(),
                    subset: None,
                    port,
                },
                weight: Some(weight),
                headers: None,
            })
            .collect();
    }
    ctx.note(
        CODE_SERVICES_MADE,
        subject,
        "spec.strategy.canary",
        format!(
            "the canary and stable VirtualNodes {} and {} were both reached through Service {service}; Services {} \
             and {} are its canary and stable copies ({}; Argo adds each ReplicaSet's rollouts-pod-template-hash to \
             their selectors), and routes {} send to them with the router's weights",
            nodes.canary,
            nodes.stable,
            names[0],
            names[1],
            if missing.is_empty() {
                "both in the input".to_owned()
            } else {
                format!(
                    "generated: {}",
                    missing.iter().map(|n| n.as_str()).collect::<Vec<_>>().join(", ")
                )
            },
            routes.join(", ")
        ),
    );
    let [canary, stable] = names;
    Ok((canary, stable))
}

/// The Kubernetes Service a VirtualNode's DNS name resolves to, in `ns`.
fn node_service(ctx: &Context<'_>, ns: &str, node: &str) -> Option<String> {
    let entry = ctx.resolved.virtual_nodes.get(&NsName::new(ns, node))?;
    let hostname = entry
        .object
        .spec
        .service_discovery
        .as_ref()?
        .dns
        .as_ref()?
        .hostname
        .as_str();
    let host = ctx.qualify(hostname, ns);
    service_of_host(&host, &ctx.opts.cluster_domain).map(|(_, name)| name.to_owned())
}

fn metadata(subject: &ObjectRef, value: &Value) -> Metadata {
    let strings = |pointer: &str| -> BTreeMap<String, String> {
        value
            .pointer(pointer)
            .and_then(Value::as_object)
            .map(|m: &Map<String, Value>| {
                m.iter()
                    .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned())))
                    .collect()
            })
            .unwrap_or_default()
    };
    let mut annotations = strings("/metadata/annotations");
    annotations.remove(LAST_APPLIED);
    Metadata {
        name: subject.name.clone(),
        namespace: subject.namespace.clone(),
        labels: strings("/metadata/labels"),
        annotations,
    }
}
