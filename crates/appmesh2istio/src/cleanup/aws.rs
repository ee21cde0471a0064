//! What may remain on the AWS side when App Mesh's finalizers are removed instead of released
//! by the controller: every ARN the objects' `status` recorded (and the Cloud Map services their
//! VirtualNodes registered instances in), as a table and as a script of AWS CLI commands to
//! review, ordered as AWS requires (what refers first: gateway routes and routes, virtual
//! services, then virtual routers, nodes and gateways, the mesh last). appmesh2istio cannot see
//! AWS: nothing here claims that a resource exists or was deleted.

use serde::Serialize;
use serde_json::Value;

/// One AWS resource an object recorded.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AwsResource {
    /// Deletion order (lower first).
    #[serde(skip)]
    pub order: u8,
    /// `VirtualNode shop/web`.
    pub object: String,
    /// `virtualNode`, `route`, `cloudMapInstances`, ...
    pub resource: String,
    /// The ARN, or for Cloud Map `namespace/service`.
    pub id: String,
    /// The AWS CLI command that deletes it (a loop for Cloud Map instances).
    pub command: String,
}

/// `arn:aws:appmesh:<region>:<account>:mesh/<mesh>/...` → (region, path segments).
fn parse_arn(arn: &str) -> Option<(&str, Vec<&str>)> {
    let mut parts = arn.splitn(6, ':');
    let (_, _, service, region, _, resource) = (
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
    );
    (service == "appmesh").then(|| (region, resource.split('/').collect()))
}

/// Shell-quote a value taken from the cluster.
fn q(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
}

fn command_for(arn: &str) -> Option<(u8, String, String)> {
    let (region, path) = parse_arn(arn)?;
    let region = format!("--region {}", q(region));
    let mesh = format!("--mesh-name {}", q(path.get(1)?));
    Some(match path.as_slice() {
        ["mesh", _] => (
            7,
            "mesh".into(),
            format!("aws appmesh delete-mesh {region} {mesh}"),
        ),
        ["mesh", _, "virtualGateway", g, "gatewayRoute", r] => (
            1,
            "gatewayRoute".into(),
            format!(
                "aws appmesh delete-gateway-route {region} {mesh} --virtual-gateway-name {} --gateway-route-name {}",
                q(g),
                q(r)
            ),
        ),
        ["mesh", _, "virtualRouter", vr, "route", r] => (
            2,
            "route".into(),
            format!(
                "aws appmesh delete-route {region} {mesh} --virtual-router-name {} --route-name {}",
                q(vr),
                q(r)
            ),
        ),
        ["mesh", _, "virtualService", s] => (
            3,
            "virtualService".into(),
            format!(
                "aws appmesh delete-virtual-service {region} {mesh} --virtual-service-name {}",
                q(s)
            ),
        ),
        ["mesh", _, "virtualRouter", r] => (
            4,
            "virtualRouter".into(),
            format!(
                "aws appmesh delete-virtual-router {region} {mesh} --virtual-router-name {}",
                q(r)
            ),
        ),
        ["mesh", _, "virtualNode", n] => (
            5,
            "virtualNode".into(),
            format!(
                "aws appmesh delete-virtual-node {region} {mesh} --virtual-node-name {}",
                q(n)
            ),
        ),
        ["mesh", _, "virtualGateway", g] => (
            6,
            "virtualGateway".into(),
            format!(
                "aws appmesh delete-virtual-gateway {region} {mesh} --virtual-gateway-name {}",
                q(g)
            ),
        ),
        _ => return None,
    })
}

/// Every AWS resource `object`'s status (and, for a Cloud Map VirtualNode, its spec) names.
pub fn resources_of(object: &Value) -> Vec<AwsResource> {
    let text = |p: &str| object.pointer(p).and_then(Value::as_str).unwrap_or("");
    let name = match object
        .pointer("/metadata/namespace")
        .and_then(Value::as_str)
    {
        Some(ns) => format!("{} {ns}/{}", text("/kind"), text("/metadata/name")),
        None => format!("{} {}", text("/kind"), text("/metadata/name")),
    };
    let mut arns: Vec<String> = Vec::new();
    if let Some(status) = object.get("status").and_then(Value::as_object) {
        for (field, value) in status {
            match value {
                Value::String(arn) if field.ends_with("ARN") => arns.push(arn.clone()),
                Value::Object(map) if field == "routeARNs" => {
                    arns.extend(map.values().filter_map(Value::as_str).map(str::to_owned));
                }
                _ => {}
            }
        }
    }
    let mut out: Vec<AwsResource> = arns
        .iter()
        .map(|arn| match command_for(arn) {
            Some((order, resource, command)) => AwsResource {
                order,
                object: name.clone(),
                resource,
                id: arn.clone(),
                command,
            },
            None => AwsResource {
                order: 8,
                object: name.clone(),
                resource: "unknown".into(),
                id: arn.clone(),
                command: format!("# not an App Mesh ARN this tool knows: {arn}"),
            },
        })
        .collect();
    if let Some(cloud_map) = object.pointer("/spec/serviceDiscovery/awsCloudMap") {
        let ns = cloud_map
            .get("namespaceName")
            .and_then(Value::as_str)
            .unwrap_or("");
        let service = cloud_map
            .get("serviceName")
            .and_then(Value::as_str)
            .unwrap_or("");
        let region = arns
            .iter()
            .find_map(|a| parse_arn(a).map(|(r, _)| format!(" --region {}", q(r))))
            .unwrap_or_default();
        // Names go into a shell command: only DNS-label characters are written out as they are.
        let safe = |t: &str| {
            !t.is_empty()
                && t.chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        };
        let command = if safe(service) && safe(ns) {
            format!(
                "# instances the controller registered for {name} in Cloud Map service {service} (namespace {ns})\n\
                 SERVICE_ID=$(aws servicediscovery list-services{region} --query \"Services[?Name=='{service}'].Id\" --output text)  # check it is in namespace {ns}\n\
                 for id in $(aws servicediscovery list-instances{region} --service-id \"$SERVICE_ID\" --query 'Instances[].Id' --output text); do\n  \
                 aws servicediscovery deregister-instance{region} --service-id \"$SERVICE_ID\" --instance-id \"$id\"\ndone"
            )
        } else {
            format!(
                "# {name}: Cloud Map service {service:?} in namespace {ns:?}: deregister its instances by hand"
            )
        };
        out.push(AwsResource {
            order: 0,
            object: name.clone(),
            resource: "cloudMapInstances".into(),
            id: format!("{ns}/{service}"),
            command,
        });
    }
    out
}

/// The table for stderr.
pub fn table(resources: &[AwsResource]) -> String {
    let mut out = String::from("OBJECT\tAWS RESOURCE\tARN / ID\n");
    for r in resources {
        out.push_str(&format!("{}\t{}\t{}\n", r.object, r.resource, r.id));
    }
    out
}

/// The script, commands in the order AWS requires.
pub fn script(resources: &[AwsResource], context: &str) -> String {
    let mut sorted = resources.to_vec();
    sorted.sort();
    let mut out = format!(
        "#!/bin/sh\n# Written by `kubectl appmesh2istio cleanup --remove-finalizers` ({context}).\n\
         # App Mesh's finalizers were removed, so the App Mesh controller did not delete these AWS\n\
         # resources. appmesh2istio cannot see AWS: REVIEW each command (the resource may already be\n\
         # gone, or be used by ECS services or other clusters) before running it.\n\
         # Order: Cloud Map instances, gateway routes, routes, virtual services, virtual routers,\n\
         # virtual nodes, virtual gateways, meshes (AWS refuses to delete what is still referred to).\n\
         set -eu\n"
    );
    for r in &sorted {
        out.push_str(&format!("\n# {}: {}\n{}\n", r.object, r.id, r.command));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn arns_from_status_become_ordered_delete_commands() {
        let router = json!({"kind": "VirtualRouter", "metadata": {"name": "r", "namespace": "a"},
            "status": {"virtualRouterARN": "arn:aws:appmesh:eu-west-1:111:mesh/m/virtualRouter/r_a",
                       "routeARNs": {"main": "arn:aws:appmesh:eu-west-1:111:mesh/m/virtualRouter/r_a/route/main"}}});
        let mesh = json!({"kind": "Mesh", "metadata": {"name": "m"}, "status": {"meshARN": "arn:aws:appmesh:eu-west-1:111:mesh/m"}});
        let node = json!({"kind": "VirtualNode", "metadata": {"name": "n", "namespace": "a"},
            "spec": {"serviceDiscovery": {"awsCloudMap": {"namespaceName": "shop.local", "serviceName": "web"}}},
            "status": {"virtualNodeARN": "arn:aws:appmesh:eu-west-1:111:mesh/m/virtualNode/n_a"}});
        let mut all = resources_of(&mesh);
        all.extend(resources_of(&router));
        all.extend(resources_of(&node));
        assert_eq!(all.len(), 5, "{all:?}");
        let script = script(&all, "test");
        let at = |s: &str| {
            script
                .find(s)
                .unwrap_or_else(|| panic!("{s} not in {script}"))
        };
        assert!(at("deregister-instance") < at("delete-route"));
        assert!(at("delete-route") < at("delete-virtual-router "));
        assert!(at("delete-virtual-router ") < at("delete-virtual-node "));
        assert!(at("delete-virtual-node ") < at("delete-mesh"));
        assert!(script.contains("--route-name 'main'"), "{script}");
        assert!(script.contains("--region 'eu-west-1'"));
        assert!(table(&all).contains("arn:aws:appmesh:eu-west-1:111:mesh/m/virtualNode/n_a"));
    }
}
