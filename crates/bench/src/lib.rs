//! Synthetic App Mesh (`appmesh.k8s.aws/v1beta2`) manifests of any size, for benchmarks and
//! for loading large meshes into a test cluster.
//!
//! [`SyntheticMesh::generate`] writes one multi-document YAML stream shaped like a real
//! App Mesh installation:
//!
//! * one `Mesh` selecting namespaces labelled `mesh: <MESH_NAME>`;
//! * optionally the `Namespace`s: every application namespace carries `mesh: <MESH_NAME>`,
//!   `appmesh.k8s.aws/sidecarInjectorWebhook: enabled` and `gateway: ingress` (the label the
//!   VirtualGateway's `namespaceSelector` uses to attach GatewayRoutes); the gateway namespace
//!   `ingress` carries the first two;
//! * one `VirtualGateway` in `ingress` (HTTP listener 8088);
//! * per service: one `VirtualNode` per version (pod selector `app` + `version`, HTTP listener
//!   8080, DNS discovery `<svc>-<ver>.<ns>.svc.cluster.local`, backends to one or two other
//!   services, listener timeout / health check / connection pool / outlier detection on some),
//!   one `VirtualRouter` (HTTP listener 8080) with 1 to 3 routes (prefix `/` weighted across
//!   versions, a header-match canary route, a `/api` route; retry policies and timeouts on some),
//!   and one `VirtualService` (`awsName: <svc>.<ns>.svc.cluster.local`, router provider);
//! * `GatewayRoute`s matching prefix `/<svc>` and targeting the service's VirtualService;
//! * optionally the Kubernetes `Service`s and `Deployment`s the mesh describes.
//!
//! Output is deterministic: the same parameters always give the same bytes. Every object is
//! valid against the App Mesh CRD schemas and the controller webhook's rules (see the tests).

#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

use std::fmt::Write as _;

/// Name of the generated Mesh (and value of the `mesh` namespace label).
pub const MESH_NAME: &str = "synthetic";
/// Namespace of the VirtualGateway.
pub const INGRESS_NAMESPACE: &str = "ingress";
/// Name of the VirtualGateway (and of its Deployment and Service).
pub const GATEWAY_NAME: &str = "ingress-gw";
/// Port of every VirtualNode and VirtualRouter listener.
pub const SERVICE_PORT: u16 = 8080;
/// Port of the VirtualGateway listener.
pub const GATEWAY_PORT: u16 = 8088;
/// App Mesh allows at most 10 weighted targets per route, hence at most 10 versions.
pub const MAX_VERSIONS: usize = 10;

/// Parameters of a synthetic mesh.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyntheticMesh {
    /// Application namespaces (`ns-000`, `ns-001`, ...); the `ingress` namespace is extra.
    pub namespaces: usize,
    /// Services in each application namespace.
    pub services_per_namespace: usize,
    /// Versions (VirtualNodes, Deployments) per service; clamped to `1..=MAX_VERSIONS`.
    pub versions_per_service: usize,
    /// GatewayRoutes; spread over all services (round robin over namespaces first), a second
    /// round over the same services uses sub-prefixes `/<svc>/r<k>`.
    pub gateway_routes: usize,
    /// Emit the `Namespace` objects (with the mesh, injection and gateway labels).
    pub with_namespaces: bool,
    /// Emit the Kubernetes `Service`s (one per service and one per version, plus the gateway's)
    /// and `Deployment`s (one per version, plus the gateway's).
    pub with_k8s_objects: bool,
}

/// Number of generated objects per kind.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ObjectCounts {
    pub meshes: usize,
    pub virtual_nodes: usize,
    pub virtual_routers: usize,
    pub virtual_services: usize,
    pub virtual_gateways: usize,
    pub gateway_routes: usize,
    pub namespaces: usize,
    pub services: usize,
    pub deployments: usize,
}

impl ObjectCounts {
    /// App Mesh objects only.
    #[must_use]
    pub fn appmesh(&self) -> usize {
        self.meshes
            + self.virtual_nodes
            + self.virtual_routers
            + self.virtual_services
            + self.virtual_gateways
            + self.gateway_routes
    }

    /// Every generated document.
    #[must_use]
    pub fn total(&self) -> usize {
        self.appmesh() + self.namespaces + self.services + self.deployments
    }

    /// Count for a `kind` as written in the manifests (`VirtualNode`, `Deployment`, ...).
    #[must_use]
    pub fn of_kind(&self, kind: &str) -> usize {
        match kind {
            "Mesh" => self.meshes,
            "VirtualNode" => self.virtual_nodes,
            "VirtualRouter" => self.virtual_routers,
            "VirtualService" => self.virtual_services,
            "VirtualGateway" => self.virtual_gateways,
            "GatewayRoute" => self.gateway_routes,
            "Namespace" => self.namespaces,
            "Service" => self.services,
            "Deployment" => self.deployments,
            _ => 0,
        }
    }
}

/// Every kind the generator writes, in the order [`ObjectCounts::of_kind`] knows them.
pub const KINDS: [&str; 9] = [
    "Mesh",
    "VirtualNode",
    "VirtualRouter",
    "VirtualService",
    "VirtualGateway",
    "GatewayRoute",
    "Namespace",
    "Service",
    "Deployment",
];

/// Appends formatted text to a `String`. Writing to a `String` cannot fail, so the
/// `fmt::Result` carries no information.
macro_rules! w {
    ($out:expr, $($arg:tt)*) => {{
        let _ = write!($out, $($arg)*);
    }};
}

fn width(count: usize, min: usize) -> usize {
    count.saturating_sub(1).to_string().len().max(min)
}

/// serde-saphyr options for parsing whole generated streams: the default budget (1,024
/// documents, 250,000 nodes, 1,000,000 events) is sized for configuration files and rejects a
/// 10,000-object mesh, so every count limit is raised far above what the generator writes.
#[must_use]
pub fn large_stream_options() -> serde_saphyr::Options {
    serde_saphyr::options! {
        budget: serde_saphyr::budget! {
            max_documents: 10_000_000,
            max_nodes: 1_000_000_000,
            max_events: 1_000_000_000,
            max_total_scalar_bytes: 1 << 34,
        },
    }
}

/// Position of one service in the mesh.
struct Svc {
    /// Global index (unique across namespaces).
    global: usize,
    ns_index: usize,
    local: usize,
    name: String,
    namespace: String,
}

impl SyntheticMesh {
    /// The shape the convert benchmark uses: 2 versions per service, about one GatewayRoute
    /// per four services, one namespace per ~100 objects, and exactly `appmesh_objects` App Mesh
    /// objects when `appmesh_objects >= 20` (within a few objects below that).
    #[must_use]
    pub fn with_appmesh_objects(appmesh_objects: usize) -> Self {
        const VERSIONS: usize = 2;
        // Per service: VERSIONS VirtualNodes + 1 VirtualRouter + 1 VirtualService, plus 1/4
        // GatewayRoute; fixed: 1 Mesh + 1 VirtualGateway.
        let budget = appmesh_objects.saturating_sub(2);
        let namespaces = (appmesh_objects + 50) / 100;
        let namespaces = namespaces.max(1);
        let per_service_x4 = (VERSIONS + 2) * 4 + 1;
        let services_per_namespace = (budget * 4 / (namespaces * per_service_x4)).max(1);
        let services = namespaces * services_per_namespace;
        let gateway_routes = budget
            .saturating_sub(services * (VERSIONS + 2))
            .min(services);
        Self {
            namespaces,
            services_per_namespace,
            versions_per_service: VERSIONS,
            gateway_routes,
            with_namespaces: true,
            with_k8s_objects: false,
        }
    }

    /// The large cluster of the precheck benchmark: 200 namespaces, 5,000 App Mesh objects
    /// (2,000 VirtualNodes, 1,000 VirtualRouters, 1,000 VirtualServices, 998 GatewayRoutes, the
    /// Mesh and the VirtualGateway) and 2,001 Deployments (one per VirtualNode plus the gateway).
    #[must_use]
    pub fn large_cluster() -> Self {
        Self {
            namespaces: 200,
            services_per_namespace: 5,
            versions_per_service: 2,
            gateway_routes: 998,
            with_namespaces: true,
            with_k8s_objects: true,
        }
    }

    fn versions(&self) -> usize {
        self.versions_per_service.clamp(1, MAX_VERSIONS)
    }

    /// Number of services in the whole mesh.
    #[must_use]
    pub fn services(&self) -> usize {
        self.namespaces * self.services_per_namespace
    }

    /// Number of generated objects per kind.
    #[must_use]
    pub fn object_counts(&self) -> ObjectCounts {
        let services = self.services();
        let versions = self.versions();
        // GatewayRoutes need a target service.
        let gateway_routes = if services == 0 {
            0
        } else {
            self.gateway_routes
        };
        ObjectCounts {
            meshes: 1,
            virtual_nodes: services * versions,
            virtual_routers: services,
            virtual_services: services,
            virtual_gateways: 1,
            gateway_routes,
            namespaces: if self.with_namespaces {
                self.namespaces + 1
            } else {
                0
            },
            services: if self.with_k8s_objects {
                services * (1 + versions) + 1
            } else {
                0
            },
            deployments: if self.with_k8s_objects {
                services * versions + 1
            } else {
                0
            },
        }
    }

    /// Number of generated App Mesh objects (Kubernetes objects not included).
    #[must_use]
    pub fn object_count(&self) -> usize {
        self.object_counts().appmesh()
    }

    /// Name of application namespace `index`.
    #[must_use]
    pub fn namespace_name(&self, index: usize) -> String {
        format!("ns-{index:0w$}", w = width(self.namespaces, 3))
    }

    /// Name of the service with global index `global` (unique across namespaces, so the
    /// GatewayRoute prefixes `/<svc>` never collide).
    #[must_use]
    pub fn service_name(&self, global: usize) -> String {
        format!("svc-{global:0w$}", w = width(self.services(), 4))
    }

    fn svc(&self, ns_index: usize, local: usize) -> Svc {
        let global = ns_index * self.services_per_namespace + local;
        Svc {
            global,
            ns_index,
            local,
            name: self.service_name(global),
            namespace: self.namespace_name(ns_index),
        }
    }

    /// The whole mesh as one multi-document YAML stream (every document starts with `---`).
    /// Order: Mesh, Namespaces, gateway, then per namespace and service the Kubernetes objects,
    /// VirtualNodes, VirtualRouter and VirtualService, then the GatewayRoutes, so that
    /// `kubectl apply -f` creates every object after the ones it depends on.
    #[must_use]
    pub fn generate(&self) -> String {
        let counts = self.object_counts();
        // About 600 bytes per App Mesh object, 500 per Kubernetes object.
        let mut out = String::with_capacity(counts.appmesh() * 640 + counts.total() * 64);
        write_mesh(&mut out);
        if self.with_namespaces {
            write_namespace(&mut out, INGRESS_NAMESPACE, false);
            for ns in 0..self.namespaces {
                write_namespace(&mut out, &self.namespace_name(ns), true);
            }
        }
        self.write_gateway(&mut out);
        for ns in 0..self.namespaces {
            for local in 0..self.services_per_namespace {
                let svc = self.svc(ns, local);
                if self.with_k8s_objects {
                    self.write_k8s_objects(&mut out, &svc);
                }
                for version in 0..self.versions() {
                    self.write_virtual_node(&mut out, &svc, version);
                }
                self.write_virtual_router(&mut out, &svc);
                write_virtual_service(&mut out, &svc);
            }
        }
        if self.services() > 0 {
            for route in 0..self.gateway_routes {
                self.write_gateway_route(&mut out, route);
            }
        }
        out
    }

    fn write_gateway(&self, out: &mut String) {
        if self.with_k8s_objects {
            w!(
                out,
                "---
apiVersion: v1
kind: Service
metadata:
  name: {GATEWAY_NAME}
  namespace: {INGRESS_NAMESPACE}
spec:
  type: LoadBalancer
  selector:
    app: {GATEWAY_NAME}
  ports:
    - name: http
      port: 80
      targetPort: {GATEWAY_PORT}
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {GATEWAY_NAME}
  namespace: {INGRESS_NAMESPACE}
spec:
  replicas: 1
  selector:
    matchLabels:
      app: {GATEWAY_NAME}
  template:
    metadata:
      labels:
        app: {GATEWAY_NAME}
    spec:
      containers:
        - name: envoy
          image: public.ecr.aws/appmesh/aws-appmesh-envoy:v1.29.12.3-prod
          ports:
            - containerPort: {GATEWAY_PORT}
"
            );
        }
        w!(
            out,
            "---
apiVersion: appmesh.k8s.aws/v1beta2
kind: VirtualGateway
metadata:
  name: {GATEWAY_NAME}
  namespace: {INGRESS_NAMESPACE}
spec:
  namespaceSelector:
    matchLabels:
      gateway: ingress
  podSelector:
    matchLabels:
      app: {GATEWAY_NAME}
  listeners:
    - portMapping:
        port: {GATEWAY_PORT}
        protocol: http
  logging:
    accessLog:
      file:
        path: /dev/stdout
"
        );
    }

    fn write_k8s_objects(&self, out: &mut String, svc: &Svc) {
        let Svc {
            name, namespace, ..
        } = svc;
        w!(
            out,
            "---
apiVersion: v1
kind: Service
metadata:
  name: {name}
  namespace: {namespace}
  labels:
    app: {name}
spec:
  selector:
    app: {name}
  ports:
    - name: http
      port: {SERVICE_PORT}
      targetPort: {SERVICE_PORT}
"
        );
        for version in 0..self.versions() {
            let ver = version_name(version);
            w!(
                out,
                "---
apiVersion: v1
kind: Service
metadata:
  name: {name}-{ver}
  namespace: {namespace}
  labels:
    app: {name}
    version: {ver}
spec:
  selector:
    app: {name}
    version: {ver}
  ports:
    - name: http
      port: {SERVICE_PORT}
      targetPort: {SERVICE_PORT}
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {name}-{ver}
  namespace: {namespace}
  labels:
    app: {name}
    version: {ver}
spec:
  replicas: 1
  selector:
    matchLabels:
      app: {name}
      version: {ver}
  template:
    metadata:
      labels:
        app: {name}
        version: {ver}
"
            );
            if svc.global.is_multiple_of(6) {
                w!(
                    out,
                    "      annotations:
        appmesh.k8s.aws/egressIgnoredPorts: \"22,3306\"
        appmesh.k8s.aws/cpuRequest: 20m
"
                );
            }
            w!(
                out,
                "    spec:
      containers:
        - name: app
          image: registry.example.com/synthetic/app:{ver}
          env:
            - name: SERVICE_NAME
              value: {name}
          ports:
            - name: http
              containerPort: {SERVICE_PORT}
"
            );
        }
    }

    /// Backends: the next service of the same namespace, and for every other service (or when
    /// the namespace has a single service) the same-position service of the next namespace.
    fn backends(&self, svc: &Svc) -> Vec<(String, Option<String>)> {
        let mut backends = Vec::with_capacity(2);
        if self.services_per_namespace > 1 {
            let next = self.svc(svc.ns_index, (svc.local + 1) % self.services_per_namespace);
            backends.push((next.name, None));
        }
        if self.namespaces > 1 && (svc.global.is_multiple_of(2) || self.services_per_namespace == 1)
        {
            let other = self.svc((svc.ns_index + 1) % self.namespaces, svc.local);
            backends.push((other.name, Some(other.namespace)));
        }
        backends
    }

    fn write_virtual_node(&self, out: &mut String, svc: &Svc, version: usize) {
        let Svc {
            global: g,
            name,
            namespace,
            ..
        } = svc;
        let g = *g;
        let ver = version_name(version);
        w!(
            out,
            "---
apiVersion: appmesh.k8s.aws/v1beta2
kind: VirtualNode
metadata:
  name: {name}-{ver}
  namespace: {namespace}
spec:
  podSelector:
    matchLabels:
      app: {name}
      version: {ver}
  listeners:
    - portMapping:
        port: {SERVICE_PORT}
        protocol: http
"
        );
        if g % 4 == 1 {
            w!(
                out,
                "      healthCheck:
        protocol: http
        path: /healthz
        healthyThreshold: 2
        unhealthyThreshold: 3
        intervalMillis: 10000
        timeoutMillis: 2000
"
            );
        }
        if g % 5 == 2 {
            w!(
                out,
                "      connectionPool:
        http:
          maxConnections: 100
          maxPendingRequests: 50
"
            );
        }
        if g % 7 == 3 {
            w!(
                out,
                "      outlierDetection:
        maxServerErrors: 5
        interval:
          unit: s
          value: 10
        baseEjectionDuration:
          unit: s
          value: 30
        maxEjectionPercent: 50
"
            );
        }
        if g.is_multiple_of(3) {
            // Matches the 30 s route timeout of the same service (App Mesh needs both raised).
            w!(
                out,
                "      timeout:
        http:
          perRequest:
            unit: s
            value: 30
          idle:
            unit: s
            value: 600
"
            );
        }
        w!(
            out,
            "  serviceDiscovery:
    dns:
      hostname: {name}-{ver}.{namespace}.svc.cluster.local
"
        );
        let backends = self.backends(svc);
        if !backends.is_empty() {
            w!(out, "  backends:\n");
            for (backend, backend_ns) in backends {
                w!(
                    out,
                    "    - virtualService:
        virtualServiceRef:
          name: {backend}
"
                );
                if let Some(backend_ns) = backend_ns {
                    w!(out, "          namespace: {backend_ns}\n");
                }
            }
        }
        if g.is_multiple_of(2) {
            w!(
                out,
                "  logging:
    accessLog:
      file:
        path: /dev/stdout
"
            );
        }
    }

    fn write_virtual_router(&self, out: &mut String, svc: &Svc) {
        let Svc {
            global: g,
            name,
            namespace,
            ..
        } = svc;
        let g = *g;
        let versions = self.versions();
        let routes = 1 + g % 3;
        w!(
            out,
            "---
apiVersion: appmesh.k8s.aws/v1beta2
kind: VirtualRouter
metadata:
  name: {name}-router
  namespace: {namespace}
spec:
  listeners:
    - portMapping:
        port: {SERVICE_PORT}
        protocol: http
  routes:
"
        );
        if routes >= 2 {
            let latest = version_name(versions - 1);
            w!(
                out,
                "    - name: canary-header
      priority: 0
      httpRoute:
        match:
          prefix: /
          headers:
            - name: x-canary
              match:
                exact: \"true\"
        action:
          weightedTargets:
            - virtualNodeRef:
                name: {name}-{latest}
              weight: 100
"
            );
        }
        if routes >= 3 {
            w!(
                out,
                "    - name: api
      priority: 10
      httpRoute:
        match:
          prefix: /api
          method: GET
        action:
          weightedTargets:
            - virtualNodeRef:
                name: {name}-{v1}
              weight: 100
        retryPolicy:
          maxRetries: 3
          perRetryTimeout:
            unit: ms
            value: 2000
          httpRetryEvents:
            - server-error
            - gateway-error
          tcpRetryEvents:
            - connection-error
        timeout:
          perRequest:
            unit: s
            value: 10
",
                v1 = version_name(0)
            );
        }
        w!(out, "    - name: default\n");
        if routes >= 2 {
            w!(out, "      priority: 100\n");
        }
        w!(
            out,
            "      httpRoute:
        match:
          prefix: /
        action:
          weightedTargets:
"
        );
        for version in 0..versions {
            // The oldest version keeps most of the traffic, every newer one gets 10 %.
            let weight = if version == 0 {
                100 - 10 * (versions - 1)
            } else {
                10
            };
            w!(
                out,
                "            - virtualNodeRef:
                name: {name}-{ver}
              weight: {weight}
",
                ver = version_name(version)
            );
        }
        if g.is_multiple_of(4) {
            w!(
                out,
                "        retryPolicy:
          maxRetries: 2
          perRetryTimeout:
            unit: s
            value: 1
          httpRetryEvents:
            - gateway-error
"
            );
        }
        if g.is_multiple_of(3) {
            w!(
                out,
                "        timeout:
          perRequest:
            unit: s
            value: 30
          idle:
            unit: s
            value: 600
"
            );
        }
    }

    fn write_gateway_route(&self, out: &mut String, route: usize) {
        let services = self.services();
        let target = route % services;
        let round = route / services;
        let svc = self.svc(
            target % self.namespaces,
            (target / self.namespaces) % self.services_per_namespace,
        );
        let Svc {
            name, namespace, ..
        } = &svc;
        let (gr_name, prefix) = if round == 0 {
            (format!("{name}-gr"), format!("/{name}"))
        } else {
            (format!("{name}-gr-{round}"), format!("/{name}/r{round}"))
        };
        w!(
            out,
            "---
apiVersion: appmesh.k8s.aws/v1beta2
kind: GatewayRoute
metadata:
  name: {gr_name}
  namespace: {namespace}
spec:
"
        );
        if route % 4 == 3 {
            w!(out, "  priority: 10\n");
        }
        w!(
            out,
            "  httpRoute:
    match:
      prefix: {prefix}
"
        );
        if route % 5 == 4 {
            w!(
                out,
                "      headers:
        - name: x-tenant
          match:
            prefix: team-
"
            );
        }
        w!(
            out,
            "    action:
      target:
        virtualService:
          virtualServiceRef:
            name: {name}
"
        );
        if route % 3 == 2 {
            w!(
                out,
                "      rewrite:
        prefix:
          defaultPrefix: DISABLED
"
            );
        }
    }
}

fn version_name(version: usize) -> String {
    format!("v{}", version + 1)
}

fn write_mesh(out: &mut String) {
    w!(
        out,
        "---
apiVersion: appmesh.k8s.aws/v1beta2
kind: Mesh
metadata:
  name: {MESH_NAME}
spec:
  namespaceSelector:
    matchLabels:
      mesh: {MESH_NAME}
  egressFilter:
    type: DROP_ALL
"
    );
}

fn write_namespace(out: &mut String, name: &str, gateway_label: bool) {
    w!(
        out,
        "---
apiVersion: v1
kind: Namespace
metadata:
  name: {name}
  labels:
    mesh: {MESH_NAME}
    appmesh.k8s.aws/sidecarInjectorWebhook: enabled
"
    );
    if gateway_label {
        w!(out, "    gateway: ingress\n");
    }
}

fn write_virtual_service(out: &mut String, svc: &Svc) {
    let Svc {
        name, namespace, ..
    } = svc;
    w!(
        out,
        "---
apiVersion: appmesh.k8s.aws/v1beta2
kind: VirtualService
metadata:
  name: {name}
  namespace: {namespace}
spec:
  awsName: {name}.{namespace}.svc.cluster.local
  provider:
    virtualRouter:
      virtualRouterRef:
        name: {name}-router
"
    );
}

#[cfg(test)]
mod tests;
