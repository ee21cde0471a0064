//! Arbitrary App Mesh applications built from fuzzer bytes with `arbitrary`.
//!
//! Names, namespaces, ports and hosts come mostly from small pools, so that objects refer to
//! each other (a VirtualService's router exists, a route's targets are nodes of the mesh) and
//! the conversion goes deep instead of stopping at "reference not found"; every few values are
//! taken freely from the bytes instead (any string, any number), so the edges are reached
//! too. Each object is shaped like the App Mesh v1beta2 CRDs (field names and nesting from
//! `../shared/reference/appmesh-crds.md`); values may break the CRD's bounds on purpose.

use appmesh2istio::convert::ConvertOptions;
use arbitrary::Unstructured;
use serde_json::{Map, Value, json};

const API: &str = "appmesh.k8s.aws/v1beta2";
const NAMESPACES: &[&str] = &["shop", "pay", "default"];
const MESHES: &[&str] = &["global", "other"];
const NAMES: &[&str] = &["web", "web-v1", "web-v2", "api", "db", "edge", "cart.shop"];
const PROTOCOLS: &[&str] = &["http", "http2", "grpc", "tcp", "HTTP", ""];
const UNITS: &[&str] = &["ms", "s", "m", ""];
const HEADERS: &[&str] = &[
    "x-canary",
    "user-agent",
    ":authority",
    "Host",
    "x-b3-traceid",
];
const PATHS: &[&str] = &["/", "/api", "/api/", "", "/a b", "/v1/*", "//x"];
const HOSTS: &[&str] = &[
    "web.shop.svc.cluster.local",
    "api.pay.svc.cluster.local",
    "*.example.com",
    "db",
    "api",
    "example.com.",
    "UPPER.example.com",
];
const REGEXES: &[&str] = &["^/api/.*$", "[a-z]+", "(", "\\Q.\\E", ".*", "a{1001}"];

/// A generated application: the documents, and the conversion options to run it with.
#[derive(Debug, Clone)]
pub struct Input {
    pub documents: Vec<Value>,
    pub options: ConvertOptions,
    /// Written as one `kind: List` instead of a multi-document stream.
    pub as_list: bool,
}

impl Input {
    /// Build an input from the bytes; running out of bytes only makes it smaller.
    pub fn generate(u: &mut Unstructured<'_>) -> Input {
        let mut g = Gen { u };
        let options = ConvertOptions {
            preserve_defaults: g.flag(),
            install: g.flag(),
            ..ConvertOptions::default()
        };
        let as_list = g.flag();
        let mut documents = Vec::new();
        for ns in NAMESPACES {
            if g.chance(4, 3) {
                documents.push(g.namespace(ns));
            }
        }
        let count = g.below(24);
        for _ in 0..count {
            let doc = match g.below(9) {
                0 => g.mesh(),
                1 | 2 => g.virtual_node(),
                3 => g.virtual_service(),
                4 | 5 => g.virtual_router(),
                6 => g.virtual_gateway(),
                7 => g.gateway_route(),
                _ => g.service(),
            };
            documents.push(doc);
        }
        Input {
            documents,
            options,
            as_list,
        }
    }

    /// The documents as a file's text: JSON documents in a YAML stream, or one `List`.
    pub fn text(&self) -> String {
        if self.as_list {
            json!({"apiVersion": "v1", "kind": "List", "items": self.documents}).to_string()
        } else {
            // JSON documents in a YAML stream; the comment keeps it YAML (a source that starts
            // with `{` is one strict JSON text, as kubectl reads it).
            let docs: Vec<String> = self.documents.iter().map(Value::to_string).collect();
            format!("# generated\n{}", docs.join("\n---\n"))
        }
    }
}

struct Gen<'a, 'b> {
    u: &'a mut Unstructured<'b>,
}

impl Gen<'_, '_> {
    fn below(&mut self, n: u32) -> u32 {
        self.u.int_in_range(0..=n.saturating_sub(1)).unwrap_or(0)
    }

    fn flag(&mut self) -> bool {
        self.u.arbitrary().unwrap_or(false)
    }

    /// True `k` times in `n`.
    fn chance(&mut self, n: u32, k: u32) -> bool {
        self.below(n) < k
    }

    fn pick(&mut self, pool: &[&str]) -> String {
        // One time in eight, anything at all.
        if self.chance(8, 1) {
            let s: String = self.u.arbitrary().unwrap_or_default();
            return s;
        }
        let i = self.below(pool.len() as u32) as usize;
        pool.get(i).copied().unwrap_or_default().to_owned()
    }

    fn number(&mut self, usual: &[i64]) -> Value {
        if self.chance(8, 1) {
            let n: i64 = self.u.arbitrary().unwrap_or(0);
            return json!(n);
        }
        let i = self.below(usual.len() as u32) as usize;
        json!(usual.get(i).copied().unwrap_or(0))
    }

    fn list(&mut self, max: u32, mut item: impl FnMut(&mut Self) -> Value) -> Value {
        let n = self.below(max + 1);
        Value::Array((0..n).map(|_| item(self)).collect())
    }

    fn metadata(&mut self, namespaced: bool) -> Value {
        let mut meta = Map::new();
        meta.insert("name".into(), json!(self.pick(NAMES)));
        if namespaced && self.chance(8, 7) {
            meta.insert("namespace".into(), json!(self.pick(NAMESPACES)));
        }
        Value::Object(meta)
    }

    fn object(&mut self, kind: &str, namespaced: bool, spec: Value) -> Value {
        json!({"apiVersion": API, "kind": kind, "metadata": self.metadata(namespaced), "spec": spec})
    }

    fn namespace(&mut self, name: &str) -> Value {
        let mut labels = Map::new();
        labels.insert("mesh".into(), json!(self.pick(MESHES)));
        if self.flag() {
            labels.insert(
                "appmesh.k8s.aws/sidecarInjectorWebhook".into(),
                json!("enabled"),
            );
        }
        json!({"apiVersion": "v1", "kind": "Namespace",
               "metadata": {"name": name, "labels": labels}})
    }

    fn service(&mut self) -> Value {
        let port = self.port();
        json!({"apiVersion": "v1", "kind": "Service", "metadata": self.metadata(true),
               "spec": {"selector": {"app": self.pick(NAMES)},
                        "ports": [{"port": port, "name": self.pick(PROTOCOLS)}]}})
    }

    fn port(&mut self) -> Value {
        self.number(&[80, 8080, 9080, 443, 0, 65535, 65536])
    }

    fn duration(&mut self) -> Value {
        json!({"unit": self.pick(UNITS), "value": self.number(&[0, 1, 15, 300, 1000, -1])})
    }

    fn mesh(&mut self) -> Value {
        let mut spec = Map::new();
        spec.insert(
            "namespaceSelector".into(),
            json!({"matchLabels": {"mesh": self.pick(MESHES)}}),
        );
        if self.flag() {
            let filter = self.pick(&["ALLOW_ALL", "DROP_ALL", "allow"]);
            spec.insert("egressFilter".into(), json!({"type": filter}));
        }
        if self.flag() {
            let ip = self.pick(&["IPv4_ONLY", "IPv6_PREFERRED", "IPv4_PREFERRED"]);
            spec.insert("serviceDiscovery".into(), json!({"ipPreference": ip}));
        }
        if self.flag() {
            spec.insert("awsName".into(), json!(self.pick(MESHES)));
        }
        let mut mesh = self.object("Mesh", false, Value::Object(spec));
        // Meshes are cluster-scoped; their names come from the mesh pool.
        mesh["metadata"]["name"] = json!(self.pick(MESHES));
        mesh
    }

    fn tls(&mut self, listener: bool) -> Value {
        let mut tls = Map::new();
        let cert = match self.below(3) {
            0 => {
                json!({"file": {"certificateChain": "/certs/chain.pem", "privateKey": "/certs/key.pem"}})
            }
            1 => {
                json!({"sds": {"secretName": self.pick(&["spiffe://cluster.local/ns/shop/sa/web", "cert"])}})
            }
            _ => json!({"acm": {"certificateARN": "arn:aws:acm:eu-west-1:1:certificate/x"}}),
        };
        tls.insert("certificate".into(), cert);
        if listener {
            let mode = self.pick(&["STRICT", "PERMISSIVE", "DISABLED"]);
            tls.insert("mode".into(), json!(mode));
        } else {
            tls.insert("enforce".into(), json!(self.flag()));
            tls.insert("ports".into(), self.list(2, |g| g.port()));
        }
        if self.flag() {
            let sans = self.list(3, |g| {
                json!(g.pick(&[
                    "spiffe://cluster.local/ns/shop/sa/web",
                    "web.shop.svc.cluster.local",
                    "spiffe://x"
                ]))
            });
            tls.insert(
                "validation".into(),
                json!({"trust": {"file": {"certificateChain": "/certs/ca.pem"}},
                       "subjectAlternativeNames": {"match": {"exact": sans}}}),
            );
        }
        Value::Object(tls)
    }

    fn listener(&mut self, node: bool) -> Value {
        let mut l = Map::new();
        let protocol = self.pick(PROTOCOLS);
        l.insert(
            "portMapping".into(),
            json!({"port": self.port(), "protocol": protocol}),
        );
        if self.chance(3, 1) {
            l.insert("tls".into(), self.tls(true));
        }
        if node && self.chance(3, 1) {
            l.insert(
                "healthCheck".into(),
                json!({"protocol": self.pick(PROTOCOLS), "path": self.pick(PATHS),
                       "healthyThreshold": self.number(&[2, 1, 10, 11]),
                       "unhealthyThreshold": self.number(&[2, 1, 10]),
                       "intervalMillis": self.number(&[5000, 4999, 300000]),
                       "timeoutMillis": self.number(&[2000, 1, 60000])}),
            );
        }
        if self.chance(3, 1) {
            let key = self.pick(&["http", "http2", "grpc", "tcp"]);
            l.insert(
                "timeout".into(),
                json!({key: {"perRequest": self.duration(), "idle": self.duration()}}),
            );
        }
        if self.chance(4, 1) {
            let key = self.pick(&["http", "http2", "grpc", "tcp"]);
            l.insert(
                "connectionPool".into(),
                json!({key: {"maxConnections": self.number(&[1, 100, 0]),
                             "maxPendingRequests": self.number(&[1, 10]),
                             "maxRequests": self.number(&[1, 100])}}),
            );
        }
        if node && self.chance(4, 1) {
            l.insert(
                "outlierDetection".into(),
                json!({"maxServerErrors": self.number(&[5, 0, 1]),
                       "interval": self.duration(), "baseEjectionDuration": self.duration(),
                       "maxEjectionPercent": self.number(&[10, 0, 100, 101])}),
            );
        }
        Value::Object(l)
    }

    fn reference(&mut self, key: &str) -> Value {
        let mut r = Map::new();
        r.insert("name".into(), json!(self.pick(NAMES)));
        if self.flag() {
            r.insert("namespace".into(), json!(self.pick(NAMESPACES)));
        }
        json!({key: r})
    }

    fn virtual_node(&mut self) -> Value {
        let mut spec = Map::new();
        if self.chance(8, 7) {
            spec.insert(
                "podSelector".into(),
                json!({"matchLabels": {"app": self.pick(NAMES)}}),
            );
        }
        spec.insert("listeners".into(), self.list(2, |g| g.listener(true)));
        let discovery = if self.chance(4, 3) {
            json!({"dns": {"hostname": self.pick(HOSTS)}})
        } else {
            json!({"awsCloudMap": {"namespaceName": self.pick(&["shop.local", "x"]),
                                   "serviceName": self.pick(NAMES)}})
        };
        spec.insert("serviceDiscovery".into(), discovery);
        spec.insert(
            "backends".into(),
            self.list(3, |g| {
                let mut vs = g.reference("virtualServiceRef");
                if g.chance(4, 1) {
                    vs["clientPolicy"] = json!({"tls": g.tls(false)});
                }
                json!({"virtualService": vs})
            }),
        );
        if self.chance(3, 1) {
            spec.insert(
                "backendGroups".into(),
                self.list(
                    2,
                    |g| json!({"name": g.pick(NAMES), "namespace": g.pick(NAMESPACES)}),
                ),
            );
        }
        if self.chance(4, 1) {
            spec.insert(
                "backendDefaults".into(),
                json!({"clientPolicy": {"tls": self.tls(false)}}),
            );
        }
        if self.chance(4, 1) {
            spec.insert(
                "logging".into(),
                json!({"accessLog": {"file": {"path": self.pick(&["/dev/stdout", "/tmp/x.log"])}}}),
            );
        }
        self.object("VirtualNode", true, Value::Object(spec))
    }

    fn virtual_service(&mut self) -> Value {
        let mut spec = Map::new();
        if self.flag() {
            spec.insert("awsName".into(), json!(self.pick(HOSTS)));
        }
        let provider = if self.chance(3, 2) {
            json!({"virtualRouter": self.reference("virtualRouterRef")})
        } else {
            json!({"virtualNode": self.reference("virtualNodeRef")})
        };
        spec.insert("provider".into(), provider);
        self.object("VirtualService", true, Value::Object(spec))
    }

    fn weighted_target(&mut self) -> Value {
        let mut t = self.reference("virtualNodeRef");
        t["weight"] = self.number(&[0, 1, 50, 99, 100, 3, 7]);
        if self.chance(4, 1) {
            t["port"] = self.port();
        }
        t
    }

    fn header_match(&mut self) -> Value {
        let key = self.pick(&["exact", "prefix", "suffix", "regex", "range"]);
        let value = if key == "range" {
            json!({"start": self.number(&[0, 5, -1]), "end": self.number(&[10, 5, 0])})
        } else if key == "regex" {
            json!(self.pick(REGEXES))
        } else {
            json!(self.pick(&["v2", "", "a b", "on"]))
        };
        let mut h = json!({"name": self.pick(HEADERS), "match": {key: value}});
        if self.flag() {
            h["invert"] = json!(self.flag());
        }
        h
    }

    fn http_match(&mut self) -> Value {
        let mut m = Map::new();
        match self.below(3) {
            0 => {
                m.insert("prefix".into(), json!(self.pick(PATHS)));
            }
            1 => {
                m.insert("path".into(), json!({"exact": self.pick(PATHS)}));
            }
            _ => {
                m.insert("path".into(), json!({"regex": self.pick(REGEXES)}));
            }
        }
        if self.chance(3, 1) {
            m.insert("headers".into(), self.list(3, |g| g.header_match()));
        }
        if self.chance(4, 1) {
            m.insert(
                "method".into(),
                json!(self.pick(&["GET", "POST", "CONNECT", "get"])),
            );
        }
        if self.chance(5, 1) {
            m.insert("scheme".into(), json!(self.pick(&["http", "https"])));
        }
        if self.chance(5, 1) {
            m.insert(
                "queryParameters".into(),
                self.list(2, |g| {
                    json!({"name": g.pick(&["q", "id", ""]),
                                         "match": {"exact": g.pick(&["1", ""])}})
                }),
            );
        }
        Value::Object(m)
    }

    fn retry_policy(&mut self, grpc: bool) -> Value {
        let mut r = json!({"maxRetries": self.number(&[0, 1, 3, 10, -1]),
                           "perRetryTimeout": self.duration()});
        if self.flag() {
            r["httpRetryEvents"] = self.list(3, |g| {
                json!(g.pick(&[
                    "server-error",
                    "gateway-error",
                    "client-error",
                    "stream-error"
                ]))
            });
        }
        if self.flag() {
            r["tcpRetryEvents"] = json!(["connection-error"]);
        }
        if grpc && self.flag() {
            r["grpcRetryEvents"] = self.list(3, |g| {
                json!(g.pick(&["cancelled", "deadline-exceeded", "internal", "unavailable"]))
            });
        }
        r
    }

    fn route(&mut self) -> Value {
        let mut route = Map::new();
        route.insert("name".into(), json!(self.pick(NAMES)));
        if self.chance(3, 2) {
            route.insert("priority".into(), self.number(&[0, 1, 10, 1000, 1001]));
        }
        let action = json!({"weightedTargets": self.list(3, |g| g.weighted_target())});
        let kind = self.below(4);
        let (key, body) = match kind {
            0 | 1 => {
                let key = if kind == 0 { "httpRoute" } else { "http2Route" };
                let mut body = json!({"match": self.http_match(), "action": action});
                if self.flag() {
                    body["retryPolicy"] = self.retry_policy(false);
                }
                if self.flag() {
                    body["timeout"] =
                        json!({"perRequest": self.duration(), "idle": self.duration()});
                }
                (key, body)
            }
            2 => {
                let mut m = Map::new();
                if self.flag() {
                    m.insert(
                        "serviceName".into(),
                        json!(self.pick(&["shop.Cart", "*", ""])),
                    );
                }
                if self.flag() {
                    m.insert("methodName".into(), json!(self.pick(&["Get", "List"])));
                }
                if self.flag() {
                    m.insert(
                        "metadata".into(),
                        self.list(2, |g| {
                            json!({"name": g.pick(HEADERS),
                                                 "match": {"exact": g.pick(&["a", ""])}})
                        }),
                    );
                }
                let mut body = json!({"match": m, "action": action});
                if self.flag() {
                    body["retryPolicy"] = self.retry_policy(true);
                }
                ("grpcRoute", body)
            }
            _ => {
                let mut body = json!({"action": action});
                if self.flag() {
                    body["timeout"] = json!({"idle": self.duration()});
                }
                ("tcpRoute", body)
            }
        };
        route.insert(key.into(), body);
        Value::Object(route)
    }

    fn virtual_router(&mut self) -> Value {
        let spec = json!({"listeners": self.list(2, |g| g.listener(false)),
                          "routes": self.list(5, |g| g.route())});
        self.object("VirtualRouter", true, spec)
    }

    fn virtual_gateway(&mut self) -> Value {
        let mut spec = Map::new();
        spec.insert(
            "namespaceSelector".into(),
            json!({"matchLabels": {"mesh": self.pick(MESHES)}}),
        );
        spec.insert(
            "podSelector".into(),
            json!({"matchLabels": {"app": self.pick(NAMES)}}),
        );
        spec.insert("listeners".into(), self.list(2, |g| g.listener(false)));
        if self.flag() {
            spec.insert(
                "gatewayRouteSelector".into(),
                json!({"matchLabels": {"gateway": self.pick(NAMES)}}),
            );
        }
        self.object("VirtualGateway", true, Value::Object(spec))
    }

    fn gateway_route(&mut self) -> Value {
        let mut m = Map::new();
        m.insert("prefix".into(), json!(self.pick(PATHS)));
        if self.flag() {
            let key = self.pick(&["exact", "suffix"]);
            m.insert("hostname".into(), json!({key: self.pick(HOSTS)}));
        }
        if self.chance(3, 1) {
            m.insert("headers".into(), self.list(2, |g| g.header_match()));
        }
        let mut action = json!({"target": {"virtualService": self.reference("virtualServiceRef")}});
        if self.flag() {
            action["target"]["port"] = self.port();
        }
        if self.chance(3, 1) {
            action["rewrite"] = json!({"prefix": {"defaultPrefix": self.pick(&["ENABLED", "DISABLED"]),
                                                   "value": self.pick(PATHS)},
                                       "hostname": {"defaultTargetHostname": self.pick(&["ENABLED", "DISABLED"])}});
        }
        let key = self.pick(&["httpRoute", "http2Route", "grpcRoute"]);
        let mut spec = json!({key: {"match": m, "action": action}});
        if self.flag() {
            spec["priority"] = self.number(&[0, 1, 1000]);
        }
        if self.flag() {
            spec["virtualGatewayRef"] = json!({"name": self.pick(NAMES)});
        }
        let mut route = self.object("GatewayRoute", true, spec);
        if self.flag() {
            route["metadata"]["labels"] = json!({"gateway": self.pick(NAMES)});
        }
        route
    }
}
