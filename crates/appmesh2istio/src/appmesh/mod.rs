//! The App Mesh Kubernetes API (`appmesh.k8s.aws/v1beta2`), every field of the seven CRDs.
//!
//! Objects are decoded with unknown-field tracking ([`decode`]): the API server prunes keys the
//! schema does not know, so a misspelled or v1beta1-era key in a manifest never reached App Mesh
//! and must be reported, not silently dropped.

pub mod backend_group;
pub mod common;
pub mod gateway_route;
pub mod mesh;
pub mod schema;
mod schema_bounds;
pub mod virtual_gateway;
pub mod virtual_node;
pub mod virtual_router;
pub mod virtual_service;

use std::fmt;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::{Deserialize, Serialize};

pub use backend_group::BackendGroup;
pub use common::MeshReference;
pub use gateway_route::GatewayRoute;
pub use mesh::Mesh;
pub use virtual_gateway::VirtualGateway;
pub use virtual_node::VirtualNode;
pub use virtual_router::VirtualRouter;
pub use virtual_service::VirtualService;

use crate::origin::ObjectRef;

/// The API group of every App Mesh kind.
pub const GROUP: &str = "appmesh.k8s.aws";
/// The only version converted.
pub const VERSION: &str = "v1beta2";
/// `apiVersion` of every converted object.
pub const API_VERSION: &str = "appmesh.k8s.aws/v1beta2";

/// The seven App Mesh kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum AppMeshKind {
    Mesh,
    VirtualNode,
    VirtualService,
    VirtualRouter,
    VirtualGateway,
    GatewayRoute,
    BackendGroup,
}

impl AppMeshKind {
    pub const ALL: [AppMeshKind; 7] = [
        AppMeshKind::Mesh,
        AppMeshKind::VirtualNode,
        AppMeshKind::VirtualService,
        AppMeshKind::VirtualRouter,
        AppMeshKind::VirtualGateway,
        AppMeshKind::GatewayRoute,
        AppMeshKind::BackendGroup,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            AppMeshKind::Mesh => "Mesh",
            AppMeshKind::VirtualNode => "VirtualNode",
            AppMeshKind::VirtualService => "VirtualService",
            AppMeshKind::VirtualRouter => "VirtualRouter",
            AppMeshKind::VirtualGateway => "VirtualGateway",
            AppMeshKind::GatewayRoute => "GatewayRoute",
            AppMeshKind::BackendGroup => "BackendGroup",
        }
    }

    /// The kind named `kind` (case-sensitive, as Kubernetes matches kinds).
    pub fn from_kind(kind: &str) -> Option<AppMeshKind> {
        AppMeshKind::ALL.into_iter().find(|k| k.as_str() == kind)
    }

    /// Only `Mesh` is cluster-scoped.
    pub fn is_namespaced(self) -> bool {
        self != AppMeshKind::Mesh
    }
}

impl fmt::Display for AppMeshKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One App Mesh object of any kind.
// Variants are not boxed: every kind but Mesh and BackendGroup is about as large as the
// largest, objects are stored once each, and boxing would make every match site deref.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum AppMeshObject {
    Mesh(Mesh),
    VirtualNode(VirtualNode),
    VirtualService(VirtualService),
    VirtualRouter(VirtualRouter),
    VirtualGateway(VirtualGateway),
    GatewayRoute(GatewayRoute),
    BackendGroup(BackendGroup),
}

impl AppMeshObject {
    pub fn kind(&self) -> AppMeshKind {
        match self {
            AppMeshObject::Mesh(_) => AppMeshKind::Mesh,
            AppMeshObject::VirtualNode(_) => AppMeshKind::VirtualNode,
            AppMeshObject::VirtualService(_) => AppMeshKind::VirtualService,
            AppMeshObject::VirtualRouter(_) => AppMeshKind::VirtualRouter,
            AppMeshObject::VirtualGateway(_) => AppMeshKind::VirtualGateway,
            AppMeshObject::GatewayRoute(_) => AppMeshKind::GatewayRoute,
            AppMeshObject::BackendGroup(_) => AppMeshKind::BackendGroup,
        }
    }

    pub fn metadata(&self) -> &ObjectMeta {
        match self {
            AppMeshObject::Mesh(o) => &o.metadata,
            AppMeshObject::VirtualNode(o) => &o.metadata,
            AppMeshObject::VirtualService(o) => &o.metadata,
            AppMeshObject::VirtualRouter(o) => &o.metadata,
            AppMeshObject::VirtualGateway(o) => &o.metadata,
            AppMeshObject::GatewayRoute(o) => &o.metadata,
            AppMeshObject::BackendGroup(o) => &o.metadata,
        }
    }

    pub(crate) fn metadata_mut(&mut self) -> &mut ObjectMeta {
        match self {
            AppMeshObject::Mesh(o) => &mut o.metadata,
            AppMeshObject::VirtualNode(o) => &mut o.metadata,
            AppMeshObject::VirtualService(o) => &mut o.metadata,
            AppMeshObject::VirtualRouter(o) => &mut o.metadata,
            AppMeshObject::VirtualGateway(o) => &mut o.metadata,
            AppMeshObject::GatewayRoute(o) => &mut o.metadata,
            AppMeshObject::BackendGroup(o) => &mut o.metadata,
        }
    }

    /// `metadata.name`, empty when absent (the loader reports such objects as invalid).
    pub fn name(&self) -> &str {
        self.metadata().name.as_deref().unwrap_or("")
    }

    /// `metadata.namespace`; the loader fills it for namespaced kinds.
    pub fn namespace(&self) -> Option<&str> {
        self.metadata().namespace.as_deref()
    }

    pub fn object_ref(&self) -> ObjectRef {
        ObjectRef::new(self.kind().as_str(), self.namespace(), self.name())
    }

    /// `spec.awsName` as written (None when the webhook would default it).
    pub fn spec_aws_name(&self) -> Option<&str> {
        match self {
            AppMeshObject::Mesh(o) => o.spec.aws_name.as_deref(),
            AppMeshObject::VirtualNode(o) => o.spec.aws_name.as_deref(),
            AppMeshObject::VirtualService(o) => o.spec.aws_name.as_deref(),
            AppMeshObject::VirtualRouter(o) => o.spec.aws_name.as_deref(),
            AppMeshObject::VirtualGateway(o) => o.spec.aws_name.as_deref(),
            AppMeshObject::GatewayRoute(o) => o.spec.aws_name.as_deref(),
            AppMeshObject::BackendGroup(_) => None,
        }
    }

    /// `spec.meshRef` as written (present on objects read from a cluster).
    pub fn mesh_ref(&self) -> Option<&MeshReference> {
        match self {
            AppMeshObject::Mesh(_) => None,
            AppMeshObject::VirtualNode(o) => o.spec.mesh_ref.as_ref(),
            AppMeshObject::VirtualService(o) => o.spec.mesh_ref.as_ref(),
            AppMeshObject::VirtualRouter(o) => o.spec.mesh_ref.as_ref(),
            AppMeshObject::VirtualGateway(o) => o.spec.mesh_ref.as_ref(),
            AppMeshObject::GatewayRoute(o) => o.spec.mesh_ref.as_ref(),
            AppMeshObject::BackendGroup(o) => o.spec.mesh_ref.as_ref(),
        }
    }
}

/// Why an object could not be decoded: the field path and the serde message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeError {
    /// e.g. `spec.listeners[0].portMapping.protocol`; empty for the object root.
    pub path: String,
    pub message: String,
}

/// The result of [`decode`]: the object (or why not) and every key that no field accepts.
#[derive(Debug, Clone, PartialEq)]
pub struct Decoded {
    pub object: Result<AppMeshObject, DecodeError>,
    /// Paths of unknown keys, e.g. `spec.serviceDiscovery.dns.hostName`, in document order.
    pub unknown_fields: Vec<String>,
}

/// Decode one object of `kind` from its JSON form, recording unknown keys and the path of the
/// first type error. Unknown keys are collected even when decoding fails afterwards.
pub fn decode(kind: AppMeshKind, value: serde_json::Value) -> Decoded {
    match kind {
        AppMeshKind::Mesh => decode_as(value, AppMeshObject::Mesh),
        AppMeshKind::VirtualNode => decode_as(value, AppMeshObject::VirtualNode),
        AppMeshKind::VirtualService => decode_as(value, AppMeshObject::VirtualService),
        AppMeshKind::VirtualRouter => decode_as(value, AppMeshObject::VirtualRouter),
        AppMeshKind::VirtualGateway => decode_as(value, AppMeshObject::VirtualGateway),
        AppMeshKind::GatewayRoute => decode_as(value, AppMeshObject::GatewayRoute),
        AppMeshKind::BackendGroup => decode_as(value, AppMeshObject::BackendGroup),
    }
}

fn decode_as<T>(value: serde_json::Value, wrap: fn(T) -> AppMeshObject) -> Decoded
where
    T: for<'de> Deserialize<'de>,
{
    let mut unknown_fields = Vec::new();
    let mut record = |path: serde_ignored::Path<'_>| unknown_fields.push(ignored_path(&path));
    let result = serde_path_to_error::deserialize::<_, T>(serde_ignored::Deserializer::new(
        value,
        &mut record,
    ));
    let object = result.map(wrap).map_err(|err| {
        let mut path = err.path().to_string();
        if path == "." {
            path.clear();
        }
        let message = err.into_inner().to_string();
        // serde reports a missing field at its parent; point at the field itself.
        if let Some(field) = missing_field_name(&message) {
            path = if path.is_empty() {
                field.to_owned()
            } else {
                format!("{path}.{field}")
            };
        }
        DecodeError { path, message }
    });
    Decoded {
        object,
        unknown_fields,
    }
}

fn missing_field_name(message: &str) -> Option<&str> {
    let rest = message.strip_prefix("missing field `")?;
    rest.split('`').next()
}

/// `a.b[0].c` form of a serde_ignored path (its own Display writes `a.b.0.c` and `?` for
/// options, which reads poorly in a report).
fn ignored_path(path: &serde_ignored::Path<'_>) -> String {
    fn walk(path: &serde_ignored::Path<'_>, out: &mut String) {
        match path {
            serde_ignored::Path::Root => {}
            serde_ignored::Path::Seq { parent, index } => {
                walk(parent, out);
                out.push_str(&format!("[{index}]"));
            }
            serde_ignored::Path::Map { parent, key } => {
                walk(parent, out);
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(key);
            }
            serde_ignored::Path::Some { parent }
            | serde_ignored::Path::NewtypeStruct { parent }
            | serde_ignored::Path::NewtypeVariant { parent } => walk(parent, out),
        }
    }
    let mut out = String::new();
    walk(path, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn unknown_fields_are_reported_with_their_path() {
        let value = json!({
            "apiVersion": API_VERSION, "kind": "VirtualNode",
            "metadata": {"name": "a", "namespace": "ns", "bogus": 1},
            "spec": {
                "listeners": [{"portMapping": {"port": 80, "protocol": "http", "extra": true}}],
                "serviceDiscovery": {"dns": {"hostname": "a.ns", "hostName": "a.ns"}}
            }
        });
        let decoded = decode(AppMeshKind::VirtualNode, value);
        assert!(decoded.object.is_ok());
        assert_eq!(
            decoded.unknown_fields,
            vec![
                "metadata.bogus",
                "spec.listeners[0].portMapping.extra",
                "spec.serviceDiscovery.dns.hostName"
            ]
        );
    }

    #[test]
    fn type_error_names_the_field() {
        let value = json!({
            "apiVersion": API_VERSION, "kind": "VirtualNode", "metadata": {"name": "a"},
            "spec": {"listeners": [{"portMapping": {"port": "eighty", "protocol": "http"}}]}
        });
        let err = decode(AppMeshKind::VirtualNode, value).object.unwrap_err();
        assert_eq!(err.path, "spec.listeners[0].portMapping.port");
        assert!(err.message.contains("invalid type"), "{}", err.message);
    }

    #[test]
    fn missing_required_field_points_at_the_field() {
        let value = json!({
            "apiVersion": API_VERSION, "kind": "VirtualRouter", "metadata": {"name": "r"},
            "spec": {"routes": [{"name": "x", "httpRoute": {"action": {"weightedTargets": []}}}]}
        });
        let err = decode(AppMeshKind::VirtualRouter, value)
            .object
            .unwrap_err();
        assert_eq!(err.path, "spec.routes[0].httpRoute.match");
        assert!(err.message.contains("missing field `match`"));
    }

    #[test]
    fn unknown_enum_value_is_a_decode_error() {
        let value = json!({
            "apiVersion": API_VERSION, "kind": "Mesh", "metadata": {"name": "m"},
            "spec": {"egressFilter": {"type": "ALLOW_SOME"}}
        });
        let err = decode(AppMeshKind::Mesh, value).object.unwrap_err();
        assert_eq!(err.path, "spec.egressFilter.type");
        assert!(err.message.contains("ALLOW_SOME"));
    }

    #[test]
    fn selectors_keep_nil_and_empty_apart() {
        let nil = json!({"apiVersion": API_VERSION, "kind": "Mesh", "metadata": {"name": "m"}});
        let empty = json!({"apiVersion": API_VERSION, "kind": "Mesh", "metadata": {"name": "m"},
            "spec": {"namespaceSelector": {}}});
        let Ok(AppMeshObject::Mesh(nil)) = decode(AppMeshKind::Mesh, nil).object else {
            panic!("mesh expected")
        };
        let Ok(AppMeshObject::Mesh(empty)) = decode(AppMeshKind::Mesh, empty).object else {
            panic!("mesh expected")
        };
        assert!(nil.spec.namespace_selector.is_none());
        assert!(empty.spec.namespace_selector.is_some());
    }

    #[test]
    fn null_lists_read_as_empty() {
        let value = json!({"apiVersion": API_VERSION, "kind": "VirtualNode",
            "metadata": {"name": "a"}, "spec": {"backends": null, "listeners": null}});
        let Ok(AppMeshObject::VirtualNode(vn)) = decode(AppMeshKind::VirtualNode, value).object
        else {
            panic!("node expected")
        };
        assert!(vn.spec.backends.is_empty() && vn.spec.listeners.is_empty());
    }

    #[test]
    fn odd_keys_of_backend_group_and_mesh() {
        let bg = json!({"apiVersion": API_VERSION, "kind": "BackendGroup",
            "metadata": {"name": "g"}, "spec": {"virtualservices": [{"name": "*"}]}});
        let d = decode(AppMeshKind::BackendGroup, bg);
        assert!(d.unknown_fields.is_empty());
        let Ok(AppMeshObject::BackendGroup(bg)) = d.object else {
            panic!("bg expected")
        };
        assert_eq!(bg.spec.virtual_services[0].name, "*");
        let mesh = json!({"apiVersion": API_VERSION, "kind": "Mesh", "metadata": {"name": "m"},
            "spec": {"meshServiceDiscovery": {"ipPreference": "IPv6_ONLY"}}});
        let d = decode(AppMeshKind::Mesh, mesh);
        assert!(d.unknown_fields.is_empty());
        let Ok(AppMeshObject::Mesh(m)) = d.object else {
            panic!("mesh expected")
        };
        assert_eq!(
            m.spec.mesh_service_discovery.unwrap().ip_preference,
            Some(mesh::IpPreference::Ipv6Only)
        );
    }

    #[test]
    fn full_virtual_router_round_trips() {
        let value = json!({
            "apiVersion": API_VERSION, "kind": "VirtualRouter",
            "metadata": {"name": "r", "namespace": "ns"},
            "spec": {
                "listeners": [{"portMapping": {"port": 8080, "protocol": "http"}}],
                "routes": [{
                    "name": "a", "priority": 1,
                    "httpRoute": {
                        "match": {"prefix": "/", "method": "GET", "scheme": "https",
                                  "headers": [{"name": "x", "match": {"range": {"start": 1, "end": 5}}, "invert": true}],
                                  "queryParameters": [{"name": "q", "match": {"exact": "1"}}], "port": 8080},
                        "action": {"weightedTargets": [{"virtualNodeRef": {"name": "n"}, "weight": 1, "port": 8080},
                                                       {"virtualNodeARN": "arn:x", "weight": 0}]},
                        "retryPolicy": {"httpRetryEvents": ["server-error", "stream-error"],
                                        "tcpRetryEvents": ["connection-error"],
                                        "perRetryTimeout": {"unit": "ms", "value": 200}, "maxRetries": 3},
                        "timeout": {"perRequest": {"unit": "s", "value": 30}}
                    }
                }, {
                    "name": "g",
                    "grpcRoute": {
                        "match": {"serviceName": "pkg.Svc", "methodName": "Get",
                                  "metadata": [{"name": "m", "match": {"exact": "v"}}]},
                        "action": {"weightedTargets": [{"virtualNodeRef": {"name": "n", "namespace": "o"}, "weight": 100}]},
                        "retryPolicy": {"grpcRetryEvents": ["deadline-exceeded"],
                                        "perRetryTimeout": {"unit": "s", "value": 1}, "maxRetries": 1}
                    }
                }, {
                    "name": "t",
                    "tcpRoute": {"action": {"weightedTargets": [{"virtualNodeRef": {"name": "n"}, "weight": 1}]},
                                 "timeout": {"idle": {"unit": "s", "value": 600}}}
                }]
            }
        });
        let d = decode(AppMeshKind::VirtualRouter, value.clone());
        assert!(d.unknown_fields.is_empty(), "{:?}", d.unknown_fields);
        let obj = d.object.unwrap();
        assert_eq!(serde_json::to_value(&obj).unwrap(), value);
    }
}
