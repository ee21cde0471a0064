//! An Argo Rollout moved to `trafficRouting.istio` with host-level splitting: what Argo
//! Rollouts' Istio reconciler (`rollout/trafficrouting/istio/istio.go` in
//! argoproj/argo-rollouts) requires before it touches anything. `AR-1`: the Rollout's own
//! fields (a VirtualService name and routes, distinct canary and stable Services, no App Mesh
//! routing left); `AR-2`: the named VirtualService is among the generated objects, has every
//! named HTTP route, and each route sends to both Services (Argo compares a destination
//! host's first DNS label with the Service name).

use serde_json::Value;

use super::{Checker, Violation};
use crate::istio::{IstioObject, Rollout};

const ISTIO: &str = "spec.strategy.canary.trafficRouting.istio";

/// What the Istio routing of a Rollout names.
struct Routing<'a> {
    virtual_service: &'a str,
    routes: Vec<&'a str>,
    canary_service: &'a str,
    stable_service: &'a str,
}

fn text(value: Option<&Value>) -> &str {
    value.and_then(Value::as_str).unwrap_or("")
}

fn routing(rollout: &Rollout) -> Option<Routing<'_>> {
    let canary = rollout.spec.canary()?;
    let istio = canary.get("trafficRouting")?.get("istio")?;
    Some(Routing {
        virtual_service: text(istio.pointer("/virtualService/name")),
        routes: istio
            .pointer("/virtualService/routes")
            .and_then(Value::as_array)
            .map(|r| r.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default(),
        canary_service: text(canary.get("canaryService")),
        stable_service: text(canary.get("stableService")),
    })
}

pub(super) fn check(c: &mut Checker, rollout: &Rollout) {
    let Some(r) = routing(rollout) else {
        c.error("AR-1", ISTIO, "the Rollout has no Istio traffic routing");
        return;
    };
    if rollout
        .spec
        .canary()
        .and_then(|canary| canary.get("trafficRouting"))
        .and_then(|t| t.get("appMesh"))
        .is_some()
    {
        c.error(
            "AR-1",
            "spec.strategy.canary.trafficRouting.appMesh",
            "App Mesh routing must not be left next to Istio's",
        );
    }
    if r.virtual_service.is_empty() {
        c.error("AR-1", format!("{ISTIO}.virtualService.name"), "required");
    }
    if r.routes.is_empty() {
        c.error(
            "AR-1",
            format!("{ISTIO}.virtualService.routes"),
            "name at least one route",
        );
    }
    for (field, service) in [
        ("canaryService", r.canary_service),
        ("stableService", r.stable_service),
    ] {
        if service.is_empty() {
            c.error(
                "AR-1",
                format!("spec.strategy.canary.{field}"),
                "host-level splitting needs both Services",
            );
        }
    }
    if !r.canary_service.is_empty() && r.canary_service == r.stable_service {
        c.error(
            "AR-1",
            "spec.strategy.canary.canaryService",
            "the canary and stable Services must differ",
        );
    }
}

/// AR-2 for every Rollout of `objects`, against the VirtualServices of the same set.
pub(super) fn cross(objects: &[IstioObject]) -> Vec<Violation> {
    let mut out = Vec::new();
    for object in objects {
        let IstioObject::Rollout(rollout) = object else {
            continue;
        };
        let Some(r) = routing(rollout) else { continue };
        let mut c = Checker::new(object.object_ref());
        let found = objects.iter().find_map(|o| match o {
            IstioObject::VirtualService(vs)
                if vs.metadata.name == r.virtual_service
                    && vs.metadata.namespace == rollout.metadata.namespace =>
            {
                Some(vs)
            }
            _ => None,
        });
        let Some(vs) = found else {
            c.error(
                "AR-2",
                format!("{ISTIO}.virtualService.name"),
                format!(
                    "no generated VirtualService {} in the Rollout's namespace",
                    r.virtual_service
                ),
            );
            out.extend(c.finish());
            continue;
        };
        for route in &r.routes {
            let Some(http) = vs
                .spec
                .http
                .iter()
                .find(|h| h.name.as_deref() == Some(route))
            else {
                c.error(
                    "AR-2",
                    format!("{ISTIO}.virtualService.routes"),
                    format!(
                        "VirtualService {} has no HTTP route named {route}",
                        r.virtual_service
                    ),
                );
                continue;
            };
            let first_label = |host: &str| host.split('.').next().unwrap_or("").to_owned();
            let hosts: Vec<String> = http
                .route
                .iter()
                .map(|d| first_label(&d.destination.host))
                .collect();
            for service in [r.canary_service, r.stable_service] {
                if !hosts.iter().any(|h| h == service) {
                    c.error(
                        "AR-2",
                        format!("{ISTIO}.virtualService.routes"),
                        format!(
                            "route {route} of VirtualService {} does not send to Service {service}",
                            r.virtual_service
                        ),
                    );
                }
            }
        }
        out.extend(c.finish());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::istio::{
        Destination, HttpRoute, HttpRouteDestination, Metadata, RolloutSpec, VirtualService,
        VirtualServiceSpec,
    };
    use crate::validate::validate_all;
    use serde_json::json;

    fn rollout(routes: &[&str], canary: &str) -> IstioObject {
        let spec = json!({"strategy": {"canary": {
            "canaryService": canary, "stableService": "web-stable",
            "trafficRouting": {"istio": {"virtualService": {"name": "web", "routes": routes}}}}}});
        Rollout::new(
            Metadata::new("web", "shop"),
            RolloutSpec {
                fields: serde_json::from_value(spec).unwrap(),
            },
        )
        .into()
    }

    fn virtual_service() -> IstioObject {
        let to = |host: &str| HttpRouteDestination {
            destination: Destination {
                host: host.into(),
                subset: None,
                port: None,
            },
            weight: Some(50),
            headers: None,
        };
        VirtualService::new(
            Metadata::new("web", "shop"),
            VirtualServiceSpec {
                hosts: vec!["web.shop.svc.cluster.local".into()],
                http: vec![HttpRoute {
                    name: Some("primary".into()),
                    route: vec![
                        to("web-canary.shop.svc.cluster.local"),
                        to("web-stable.shop.svc.cluster.local"),
                    ],
                    ..HttpRoute::default()
                }],
                ..VirtualServiceSpec::default()
            },
        )
        .into()
    }

    fn rules(objects: &[IstioObject]) -> Vec<String> {
        validate_all(objects)
            .into_iter()
            .filter(|v| v.rule.starts_with("AR-"))
            .map(|v| format!("{} {}", v.rule, v.message))
            .collect()
    }

    #[test]
    fn the_rollout_must_name_routes_that_split_between_its_services() {
        assert_eq!(
            rules(&[rollout(&["primary"], "web-canary"), virtual_service()]),
            Vec::<String>::new()
        );
        assert_eq!(
            rules(&[rollout(&["primary"], "web-canary")]),
            ["AR-2 no generated VirtualService web in the Rollout's namespace"]
        );
        assert_eq!(
            rules(&[rollout(&["other"], "web-canary"), virtual_service()]),
            ["AR-2 VirtualService web has no HTTP route named other"]
        );
        assert_eq!(
            rules(&[rollout(&["primary"], "web-preview"), virtual_service()]),
            ["AR-2 route primary of VirtualService web does not send to Service web-preview"]
        );
        assert_eq!(
            rules(&[rollout(&[], "web-stable"), virtual_service()]),
            [
                "AR-1 name at least one route",
                "AR-1 the canary and stable Services must differ"
            ]
        );
    }
}
