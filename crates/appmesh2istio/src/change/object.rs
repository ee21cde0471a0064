//! Objects as plans, results and undo records name them, and reading one from the cluster.

use kube::api::{Api, DynamicObject};
use kube::core::ApiResource;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::ChangeError;
use crate::cluster::Cluster;
use crate::cluster::kinds::{self, KindInfo};

/// An object by API version, kind, namespace and name.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ObjectKey {
    pub api_version: String,
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    pub name: String,
}

impl ObjectKey {
    pub fn new(api_version: &str, kind: &str, namespace: Option<&str>, name: &str) -> ObjectKey {
        ObjectKey {
            api_version: api_version.to_owned(),
            kind: kind.to_owned(),
            namespace: namespace.map(str::to_owned),
            name: name.to_owned(),
        }
    }

    /// The key of a manifest (`apiVersion`, `kind`, `metadata.namespace`, `metadata.name`).
    pub fn of(object: &Value) -> Option<ObjectKey> {
        Some(ObjectKey {
            api_version: object.get("apiVersion")?.as_str()?.to_owned(),
            kind: object.get("kind")?.as_str()?.to_owned(),
            namespace: object
                .pointer("/metadata/namespace")
                .and_then(Value::as_str)
                .map(str::to_owned),
            name: object.pointer("/metadata/name")?.as_str()?.to_owned(),
        })
    }

    /// The API group, empty for the core group.
    pub fn group(&self) -> &str {
        self.api_version.rsplit_once('/').map_or("", |(g, _)| g)
    }

    pub fn version(&self) -> &str {
        self.api_version
            .rsplit_once('/')
            .map_or(self.api_version.as_str(), |(_, v)| v)
    }

    /// The kind's entry in [`kinds`], if this tool knows it (any version of its group).
    pub fn kind_info(&self) -> Option<&'static KindInfo> {
        kinds::by_group_kind(self.group(), &self.kind)
    }

    /// `virtualservice.networking.istio.io/cart`, `namespace/shop`: kubectl's `-o name`
    /// spelling, used in the result lines.
    pub fn kubectl_name(&self) -> String {
        let kind = self.kind.to_ascii_lowercase();
        match self.group() {
            "" => format!("{kind}/{}", self.name),
            group => format!("{kind}.{group}/{}", self.name),
        }
    }

    /// `virtualservices.networking.istio.io`: the resource as RBAC names it.
    pub fn resource_name(&self) -> String {
        match self.kind_info() {
            Some(info) => info.resource_name(),
            None => match self.group() {
                "" => self.kind.to_ascii_lowercase(),
                group => format!("{}.{group}", self.kind.to_ascii_lowercase()),
            },
        }
    }

    fn api_resource(&self) -> Result<ApiResource, ChangeError> {
        let info = self.kind_info().ok_or_else(|| {
            ChangeError::UnknownKind(format!("{} {}", self.api_version, self.kind))
        })?;
        Ok(ApiResource {
            group: info.group.to_owned(),
            version: self.version().to_owned(),
            api_version: self.api_version.clone(),
            kind: info.kind.to_owned(),
            plural: info.plural.to_owned(),
        })
    }

    /// The API for this object's collection.
    pub fn api(&self, client: &kube::Client) -> Result<Api<DynamicObject>, ChangeError> {
        let resource = self.api_resource()?;
        Ok(match &self.namespace {
            Some(ns) => Api::namespaced_with(client.clone(), ns, &resource),
            None => Api::all_with(client.clone(), &resource),
        })
    }
}

impl std::fmt::Display for ObjectKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.namespace {
            Some(ns) => write!(f, "{} {ns}/{}", self.kind, self.name),
            None => write!(f, "{} {}", self.kind, self.name),
        }
    }
}

/// GET one object as JSON; `None` when it does not exist.
pub async fn get_value(cluster: &Cluster, key: &ObjectKey) -> Result<Option<Value>, ChangeError> {
    let api = key.api(&cluster.client)?;
    match api.get_opt(&key.name).await {
        Ok(Some(object)) => {
            serde_json::to_value(&object)
                .map(Some)
                .map_err(|e| ChangeError::Serialise {
                    what: key.to_string(),
                    message: e.to_string(),
                })
        }
        Ok(None) => Ok(None),
        Err(e) => Err(ChangeError::from_kube(
            cluster,
            format!("cannot read {key}"),
            e,
        )),
    }
}

/// A string field of an object, e.g. `/metadata/uid`.
pub fn string_at<'v>(object: &'v Value, pointer: &str) -> Option<&'v str> {
    object.pointer(pointer).and_then(Value::as_str)
}

/// `metadata.uid`.
pub fn uid(object: &Value) -> Option<&str> {
    string_at(object, "/metadata/uid")
}

/// `metadata.resourceVersion`.
pub fn resource_version(object: &Value) -> Option<&str> {
    string_at(object, "/metadata/resourceVersion")
}

/// Equality as the API server sees values: numbers by value (the server re-encodes `1.0` as
/// `1`), objects by keys, arrays in order.
pub fn same_value(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => {
            match (x.as_i64(), y.as_i64(), x.as_u64(), y.as_u64()) {
                (Some(i), Some(j), _, _) => i == j,
                (_, _, Some(i), Some(j)) => i == j,
                _ => x.as_f64() == y.as_f64(),
            }
        }
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| same_value(a, b))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| same_value(v, w)))
        }
        _ => a == b,
    }
}

/// The field managers of an object, in the order the server lists them.
pub fn managers(live: &Value) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for entry in live
        .pointer("/metadata/managedFields")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if let Some(m) = entry.get("manager").and_then(Value::as_str)
            && !out.iter().any(|o| o == m)
        {
            out.push(m.to_owned());
        }
    }
    out
}

/// Escape a map key for a JSON pointer (RFC 6901): `app.kubernetes.io/name` →
/// `app.kubernetes.io~1name`.
pub fn pointer_token(key: &str) -> String {
    key.replace('~', "~0").replace('/', "~1")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn names_as_kubectl_and_rbac_spell_them() {
        let vs = ObjectKey::new(
            "networking.istio.io/v1",
            "VirtualService",
            Some("shop"),
            "cart",
        );
        assert_eq!(vs.kubectl_name(), "virtualservice.networking.istio.io/cart");
        assert_eq!(vs.resource_name(), "virtualservices.networking.istio.io");
        assert_eq!(vs.to_string(), "VirtualService shop/cart");
        let ns = ObjectKey::new("v1", "Namespace", None, "shop");
        assert_eq!(ns.kubectl_name(), "namespace/shop");
        assert_eq!(ns.resource_name(), "namespaces");
        assert_eq!(ns.group(), "");
        let deployment = ObjectKey::new("apps/v1", "Deployment", Some("a"), "web");
        assert_eq!(deployment.kubectl_name(), "deployment.apps/web");
        let appmesh = ObjectKey::new("appmesh.k8s.aws/v1beta2", "VirtualService", Some("a"), "x");
        assert_eq!(appmesh.resource_name(), "virtualservices.appmesh.k8s.aws");
        assert_eq!(
            ObjectKey::of(
                &json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop"}})
            ),
            Some(ns)
        );
        assert_eq!(pointer_token("a.io/b~c"), "a.io~1b~0c");
    }

    #[test]
    fn values_compare_as_the_server_stores_them() {
        assert!(same_value(
            &json!({"a": [1.0, "x"]}),
            &json!({"a": [1, "x"]})
        ));
        assert!(!same_value(&json!({"a": 1}), &json!({"a": 1, "b": 2})));
        assert!(!same_value(&json!([1, 2]), &json!([2, 1])));
    }
}
