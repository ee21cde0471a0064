use super::*;
use serde_json::{Map, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn parse(yaml: &str) -> Vec<Value> {
    serde_saphyr::from_multiple_with_options::<Value>(yaml, large_stream_options())
        .expect("generated YAML parses")
}

fn kind_counts(docs: &[Value]) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for doc in docs {
        *counts
            .entry(doc["kind"].as_str().expect("kind").to_owned())
            .or_insert(0) += 1;
    }
    counts
}

fn assert_counts(mesh: &SyntheticMesh, docs: &[Value]) {
    let expected = mesh.object_counts();
    let counts = kind_counts(docs);
    for kind in KINDS {
        assert_eq!(
            counts.get(kind).copied().unwrap_or(0),
            expected.of_kind(kind),
            "{kind} in {mesh:?}"
        );
    }
    assert_eq!(
        counts.values().sum::<usize>(),
        expected.total(),
        "no other kinds"
    );
    assert_eq!(docs.len(), expected.total());
}

fn small() -> SyntheticMesh {
    SyntheticMesh {
        namespaces: 2,
        services_per_namespace: 3,
        versions_per_service: 3,
        gateway_routes: 8, // more than the 6 services: a second round with sub-prefixes
        with_namespaces: true,
        with_k8s_objects: true,
    }
}

fn name(doc: &Value) -> &str {
    doc["metadata"]["name"].as_str().expect("metadata.name")
}

fn namespace(doc: &Value) -> &str {
    doc["metadata"]["namespace"].as_str().unwrap_or("")
}

fn str_at<'a>(doc: &'a Value, pointer: &str) -> &'a str {
    doc.pointer(pointer)
        .and_then(Value::as_str)
        .unwrap_or_else(|| {
            panic!(
                "{pointer} missing in {} {}/{}",
                doc["kind"],
                namespace(doc),
                name(doc)
            )
        })
}

fn of_kind<'a>(docs: &'a [Value], kind: &'a str) -> impl Iterator<Item = &'a Value> + 'a {
    docs.iter().filter(move |d| d["kind"] == kind)
}

fn keys(docs: &[Value], kind: &str) -> BTreeSet<(String, String)> {
    of_kind(docs, kind)
        .map(|d| (namespace(d).to_owned(), name(d).to_owned()))
        .collect()
}

/// Hand-written check of the fields the CRD schemas and the controller webhook require, and of
/// the references between objects. Runs without `../shared/`.
fn check_semantics(mesh: &SyntheticMesh, docs: &[Value]) {
    for doc in docs {
        if doc["kind"] != "Namespace" && doc["kind"] != "Mesh" {
            assert!(
                !namespace(doc).is_empty(),
                "namespaced object without namespace: {doc}"
            );
        }
        if doc["kind"] != "Namespace" && doc["kind"] != "Service" && doc["kind"] != "Deployment" {
            assert_eq!(doc["apiVersion"], "appmesh.k8s.aws/v1beta2");
        }
    }
    // Unique names per kind and namespace.
    for kind in KINDS {
        assert_eq!(
            keys(docs, kind).len(),
            of_kind(docs, kind).count(),
            "duplicate {kind} names"
        );
    }
    let virtual_nodes = keys(docs, "VirtualNode");
    let virtual_routers = keys(docs, "VirtualRouter");
    let virtual_services = keys(docs, "VirtualService");

    let meshes: Vec<_> = of_kind(docs, "Mesh").collect();
    assert_eq!(meshes.len(), 1);
    assert_eq!(
        str_at(meshes[0], "/spec/namespaceSelector/matchLabels/mesh"),
        MESH_NAME
    );

    let namespaces: BTreeMap<&str, &Value> = of_kind(docs, "Namespace")
        .map(|d| (name(d), &d["metadata"]["labels"]))
        .collect();
    if mesh.with_namespaces {
        for doc in docs
            .iter()
            .filter(|d| d["kind"] != "Namespace" && d["kind"] != "Mesh")
        {
            let labels = namespaces
                .get(namespace(doc))
                .unwrap_or_else(|| panic!("namespace {} not generated", namespace(doc)));
            assert_eq!(labels["mesh"], MESH_NAME);
            assert_eq!(labels["appmesh.k8s.aws/sidecarInjectorWebhook"], "enabled");
            if doc["kind"] == "GatewayRoute" {
                assert_eq!(
                    labels["gateway"], "ingress",
                    "GatewayRoute namespace must match the VirtualGateway selector"
                );
            }
        }
    }

    let (mut with_timeout, mut with_health_check, mut with_backends) = (0, 0, 0);
    for vn in of_kind(docs, "VirtualNode") {
        let (ns, vn_name) = (namespace(vn), name(vn));
        let selector = &vn["spec"]["podSelector"]["matchLabels"];
        let (app, version) = (
            selector["app"].as_str().expect("app"),
            selector["version"].as_str().expect("version"),
        );
        assert_eq!(vn_name, format!("{app}-{version}"));
        let listener = &vn["spec"]["listeners"][0];
        assert_eq!(listener["portMapping"]["port"], 8080);
        assert_eq!(listener["portMapping"]["protocol"], "http");
        assert_eq!(
            str_at(vn, "/spec/serviceDiscovery/dns/hostname"),
            format!("{vn_name}.{ns}.svc.cluster.local")
        );
        with_timeout += usize::from(listener.get("timeout").is_some());
        with_health_check += usize::from(listener.get("healthCheck").is_some());
        let backends = vn["spec"]["backends"]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or_default();
        assert!(backends.len() <= 2);
        with_backends += usize::from(!backends.is_empty());
        for backend in backends {
            let reference = &backend["virtualService"]["virtualServiceRef"];
            let target_ns = reference["namespace"].as_str().unwrap_or(ns);
            let target = reference["name"].as_str().expect("virtualServiceRef.name");
            assert_ne!(target, app, "a service is not its own backend");
            assert!(
                virtual_services.contains(&(target_ns.to_owned(), target.to_owned())),
                "backend {target_ns}/{target} exists"
            );
        }
    }
    let vn_count = virtual_nodes.len();
    if mesh.services() >= 4 {
        assert!(
            with_timeout > 0 && with_timeout < vn_count,
            "listener timeout on some nodes"
        );
        assert!(
            with_health_check > 0 && with_health_check < vn_count,
            "health check on some nodes"
        );
    }
    if mesh.services() > 1 {
        assert_eq!(with_backends, vn_count, "every node has a backend");
    }

    let (mut route_counts, mut with_retry, mut with_route_timeout, mut with_headers) =
        (BTreeSet::new(), 0, 0, 0);
    for vr in of_kind(docs, "VirtualRouter") {
        let ns = namespace(vr);
        assert_eq!(vr["spec"]["listeners"][0]["portMapping"]["port"], 8080);
        assert_eq!(
            vr["spec"]["listeners"][0]["portMapping"]["protocol"],
            "http"
        );
        let routes = vr["spec"]["routes"].as_array().expect("routes");
        assert!((1..=3).contains(&routes.len()));
        route_counts.insert(routes.len());
        let names: BTreeSet<_> = routes
            .iter()
            .map(|r| r["name"].as_str().expect("route name"))
            .collect();
        assert_eq!(
            names.len(),
            routes.len(),
            "route names unique in a router (webhook)"
        );
        for route in routes {
            let http = &route["httpRoute"];
            assert!(
                http["match"]["prefix"]
                    .as_str()
                    .expect("prefix")
                    .starts_with('/')
            );
            assert!(
                http["match"].get("path").is_none(),
                "exactly one of prefix/path (webhook)"
            );
            let targets = http["action"]["weightedTargets"]
                .as_array()
                .expect("weightedTargets");
            assert!((1..=10).contains(&targets.len()));
            for target in targets {
                let weight = target["weight"].as_i64().expect("weight");
                assert!((0..=100).contains(&weight));
                let vn = target["virtualNodeRef"]["name"]
                    .as_str()
                    .expect("virtualNodeRef.name");
                assert!(
                    virtual_nodes.contains(&(ns.to_owned(), vn.to_owned())),
                    "target {ns}/{vn} exists"
                );
            }
            if let Some(retry) = http.get("retryPolicy") {
                with_retry += 1;
                assert!(retry["maxRetries"].is_u64());
                assert!(
                    retry["perRetryTimeout"]["unit"].is_string()
                        && retry["perRetryTimeout"]["value"].is_u64()
                );
                assert!(
                    retry["httpRetryEvents"]
                        .as_array()
                        .is_some_and(|e| !e.is_empty())
                );
            }
            with_route_timeout += usize::from(http.get("timeout").is_some());
            with_headers += usize::from(http["match"].get("headers").is_some());
        }
        let default = routes
            .iter()
            .find(|r| r["name"] == "default")
            .expect("default route");
        assert_eq!(default["httpRoute"]["match"]["prefix"], "/");
        assert_eq!(
            default["httpRoute"]["action"]["weightedTargets"]
                .as_array()
                .map(Vec::len),
            Some(mesh.versions_per_service.clamp(1, MAX_VERSIONS)),
            "weighted across all versions"
        );
    }
    if mesh.services() >= 3 {
        assert_eq!(route_counts, BTreeSet::from([1, 2, 3]));
        assert!(with_retry > 0 && with_route_timeout > 0 && with_headers > 0);
    }

    for vs in of_kind(docs, "VirtualService") {
        let (ns, vs_name) = (namespace(vs), name(vs));
        assert_eq!(
            str_at(vs, "/spec/awsName"),
            format!("{vs_name}.{ns}.svc.cluster.local")
        );
        let router = str_at(vs, "/spec/provider/virtualRouter/virtualRouterRef/name");
        assert!(virtual_routers.contains(&(ns.to_owned(), router.to_owned())));
    }

    let gateways: Vec<_> = of_kind(docs, "VirtualGateway").collect();
    assert_eq!(gateways.len(), 1);
    assert_eq!(namespace(gateways[0]), INGRESS_NAMESPACE);
    assert_eq!(
        str_at(gateways[0], "/spec/namespaceSelector/matchLabels/gateway"),
        "ingress"
    );
    assert_eq!(
        gateways[0]["spec"]["listeners"][0]["portMapping"]["port"],
        8088
    );
    assert_eq!(
        gateways[0]["spec"]["listeners"][0]["portMapping"]["protocol"],
        "http"
    );

    let mut prefixes = BTreeSet::new();
    for gr in of_kind(docs, "GatewayRoute") {
        let ns = namespace(gr);
        let prefix = str_at(gr, "/spec/httpRoute/match/prefix");
        let target = str_at(
            gr,
            "/spec/httpRoute/action/target/virtualService/virtualServiceRef/name",
        );
        assert!(
            prefix == format!("/{target}") || prefix.starts_with(&format!("/{target}/r")),
            "{prefix} routes to {target}"
        );
        assert!(
            prefixes.insert(prefix.to_owned()),
            "duplicate GatewayRoute prefix {prefix}"
        );
        assert!(virtual_services.contains(&(ns.to_owned(), target.to_owned())));
        if let Some(rewrite) = gr["spec"]["httpRoute"]["action"].get("rewrite") {
            assert!(
                rewrite.get("prefix").is_some() != rewrite.get("path").is_some(),
                "webhook: not both prefix and path rewrite"
            );
        }
    }

    if mesh.with_k8s_objects {
        let services = keys(docs, "Service");
        let deployments: Vec<_> = of_kind(docs, "Deployment").collect();
        for vn in of_kind(docs, "VirtualNode") {
            let ns = namespace(vn);
            let selector = vn["spec"]["podSelector"]["matchLabels"]
                .as_object()
                .expect("matchLabels");
            let matching = deployments
                .iter()
                .filter(|d| namespace(d) == ns)
                .filter(|d| {
                    selector
                        .iter()
                        .all(|(k, v)| d["spec"]["template"]["metadata"]["labels"][k] == *v)
                })
                .count();
            assert_eq!(
                matching,
                1,
                "one Deployment per VirtualNode {ns}/{}",
                name(vn)
            );
            assert!(
                services.contains(&(ns.to_owned(), name(vn).to_owned())),
                "DNS hostname resolves"
            );
        }
        for vs in of_kind(docs, "VirtualService") {
            assert!(
                services.contains(&(namespace(vs).to_owned(), name(vs).to_owned())),
                "awsName resolves"
            );
        }
        for deployment in &deployments {
            assert_eq!(
                deployment["spec"]["selector"]["matchLabels"]["app"],
                deployment["spec"]["template"]["metadata"]["labels"]["app"]
            );
        }
    }
}

#[test]
fn small_mesh_parses_with_requested_counts_and_valid_references() {
    let mesh = small();
    let docs = parse(&mesh.generate());
    assert_counts(&mesh, &docs);
    let counts = mesh.object_counts();
    assert_eq!(
        counts,
        ObjectCounts {
            meshes: 1,
            virtual_nodes: 18,
            virtual_routers: 6,
            virtual_services: 6,
            virtual_gateways: 1,
            gateway_routes: 8,
            namespaces: 3,
            services: 6 * 4 + 1,
            deployments: 18 + 1,
        }
    );
    assert_eq!(mesh.object_count(), 40);
    check_semantics(&mesh, &docs);

    // Spot-check one generated object in full.
    let vs = docs
        .iter()
        .find(|d| d["kind"] == "VirtualService" && name(d) == "svc-0004")
        .expect("svc-0004");
    assert_eq!(namespace(vs), "ns-001");
    assert_eq!(vs["spec"]["awsName"], "svc-0004.ns-001.svc.cluster.local");
    assert_eq!(
        vs["spec"]["provider"]["virtualRouter"]["virtualRouterRef"]["name"],
        "svc-0004-router"
    );
    let gr = docs
        .iter()
        .find(|d| d["kind"] == "GatewayRoute" && name(d) == "svc-0000-gr-1")
        .expect("second round");
    assert_eq!(gr["spec"]["httpRoute"]["match"]["prefix"], "/svc-0000/r1");
}

#[test]
fn benchmark_sizes_hit_the_requested_object_counts() {
    for target in [1_000, 10_000] {
        let mesh = SyntheticMesh::with_appmesh_objects(target);
        assert_eq!(mesh.object_count(), target, "{mesh:?}");
        let counts = mesh.object_counts();
        assert!(counts.gateway_routes > 0 && counts.gateway_routes <= mesh.services());
        assert_eq!((counts.services, counts.deployments), (0, 0));
    }
    for target in [20, 150, 2_345, 50_000] {
        let got = SyntheticMesh::with_appmesh_objects(target).object_count();
        assert!(
            got.abs_diff(target) * 50 <= target,
            "{target} -> {got} not within 2%"
        );
    }
}

#[test]
fn thousand_object_mesh_parses_and_is_consistent() {
    let mesh = SyntheticMesh::with_appmesh_objects(1_000);
    let docs = parse(&mesh.generate());
    assert_counts(&mesh, &docs);
    check_semantics(&mesh, &docs);
}

#[test]
fn large_cluster_preset_matches_the_precheck_benchmark() {
    let mesh = SyntheticMesh::large_cluster();
    let counts = mesh.object_counts();
    assert_eq!(counts.appmesh(), 5_000);
    assert_eq!(counts.namespaces, 201);
    assert_eq!(counts.deployments, 2_001);
    // Count kinds from the text (a full parse of 12,000 documents is slow in debug builds).
    let yaml = mesh.generate();
    let mut by_kind = BTreeMap::new();
    for line in yaml.lines().filter(|l| l.starts_with("kind: ")) {
        *by_kind.entry(&line[6..]).or_insert(0) += 1;
    }
    for kind in KINDS {
        assert_eq!(
            by_kind.get(kind).copied().unwrap_or(0),
            counts.of_kind(kind),
            "{kind}"
        );
    }
    assert_eq!(yaml.matches("\n---\n").count() + 1, counts.total());
}

#[test]
fn degenerate_parameters_still_give_valid_manifests() {
    for mesh in [
        SyntheticMesh {
            namespaces: 1,
            services_per_namespace: 1,
            versions_per_service: 0,
            gateway_routes: 3,
            with_namespaces: false,
            with_k8s_objects: true,
        },
        SyntheticMesh {
            namespaces: 3,
            services_per_namespace: 1,
            versions_per_service: 12,
            gateway_routes: 0,
            with_namespaces: true,
            with_k8s_objects: false,
        },
        SyntheticMesh {
            namespaces: 0,
            services_per_namespace: 4,
            versions_per_service: 2,
            gateway_routes: 5,
            with_namespaces: true,
            with_k8s_objects: true,
        },
    ] {
        let docs = parse(&mesh.generate());
        assert_counts(&mesh, &docs);
        check_semantics(&mesh, &docs);
    }
}

#[test]
fn generation_is_deterministic() {
    let mesh = small();
    assert_eq!(mesh.generate(), mesh.generate());
    assert_eq!(
        SyntheticMesh::with_appmesh_objects(1_000).generate(),
        SyntheticMesh::with_appmesh_objects(1_000).generate()
    );
}

// ---- Validation against the App Mesh CRD schemas in ../shared/crds/appmesh -------------------

fn crd_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/crds/appmesh")
}

/// kind -> `openAPIV3Schema` of its `v1beta2` version.
fn crd_schemas(dir: &Path) -> BTreeMap<String, Value> {
    let mut schemas = BTreeMap::new();
    for plural in [
        "meshes",
        "virtualnodes",
        "virtualrouters",
        "virtualservices",
        "virtualgateways",
        "gatewayroutes",
    ] {
        let path = dir.join(format!("appmesh.k8s.aws_{plural}.yaml"));
        let text = std::fs::read_to_string(&path).expect("read CRD");
        let crd: Value =
            serde_saphyr::from_str_with_options(&text, large_stream_options()).expect("CRD parses");
        let kind = crd["spec"]["names"]["kind"]
            .as_str()
            .expect("kind")
            .to_owned();
        let version = crd["spec"]["versions"]
            .as_array()
            .expect("versions")
            .iter()
            .find(|v| v["name"] == "v1beta2")
            .expect("v1beta2");
        schemas.insert(kind, version["schema"]["openAPIV3Schema"].clone());
    }
    schemas
}

/// A structural-schema check: types, `required`, `enum`, bounds, item counts and (like the API
/// server's pruning, or kubectl's strict field validation) unknown fields.
fn check_schema(value: &Value, schema: &Value, path: &str, errors: &mut Vec<String>) {
    let mut error = |message: String| errors.push(format!("{path}: {message}"));
    if schema.get("x-kubernetes-int-or-string") == Some(&Value::Bool(true)) {
        if !(value.is_string() || value.is_i64() || value.is_u64()) {
            error(format!("expected int-or-string, got {value}"));
        }
        return;
    }
    match (schema["type"].as_str(), value) {
        (Some("object"), Value::Object(map)) => check_object(map, schema, path, errors),
        (Some("array"), Value::Array(items)) => {
            let len = items.len() as u64;
            if schema["minItems"].as_u64().is_some_and(|min| len < min)
                || schema["maxItems"].as_u64().is_some_and(|max| len > max)
            {
                error(format!(
                    "{len} items outside [{}, {}]",
                    schema["minItems"], schema["maxItems"]
                ));
            }
            for (i, item) in items.iter().enumerate() {
                check_schema(item, &schema["items"], &format!("{path}[{i}]"), errors);
            }
        }
        (Some("string"), Value::String(s)) => {
            let len = s.chars().count() as u64;
            if schema["minLength"].as_u64().is_some_and(|min| len < min)
                || schema["maxLength"].as_u64().is_some_and(|max| len > max)
            {
                error(format!("length {len} outside bounds"));
            }
            if let Some(allowed) = schema["enum"].as_array()
                && !allowed.contains(value)
            {
                error(format!("{s:?} not in {allowed:?}"));
            }
        }
        (Some("integer"), Value::Number(n)) if n.is_i64() || n.is_u64() => {
            let n = n.as_f64().unwrap_or_default();
            if schema["minimum"].as_f64().is_some_and(|min| n < min)
                || schema["maximum"].as_f64().is_some_and(|max| n > max)
            {
                error(format!(
                    "{n} outside [{}, {}]",
                    schema["minimum"], schema["maximum"]
                ));
            }
        }
        (Some("boolean"), Value::Bool(_)) => {}
        (None, _) => {}
        (Some(ty), other) => error(format!("expected {ty}, got {other}")),
    }
}

fn check_object(map: &Map<String, Value>, schema: &Value, path: &str, errors: &mut Vec<String>) {
    for required in schema["required"].as_array().into_iter().flatten() {
        let required = required.as_str().unwrap_or_default();
        if !map.contains_key(required) {
            errors.push(format!("{path}: missing required {required}"));
        }
    }
    let properties = schema["properties"].as_object();
    let preserve = schema.get("x-kubernetes-preserve-unknown-fields") == Some(&Value::Bool(true));
    for (key, child) in map {
        let child_path = format!("{path}.{key}");
        if let Some(child_schema) = properties.and_then(|p| p.get(key)) {
            check_schema(child, child_schema, &child_path, errors);
        } else if let Some(additional) =
            schema.get("additionalProperties").filter(|a| a.is_object())
        {
            check_schema(child, additional, &child_path, errors);
        } else if properties.is_some() && !preserve {
            errors.push(format!(
                "{child_path}: unknown field (pruned by the API server)"
            ));
        }
    }
}

#[test]
fn appmesh_objects_validate_against_the_crd_schemas() {
    let dir = crd_dir();
    if !dir.is_dir() {
        eprintln!(
            "skipping CRD schema validation: {} not found",
            dir.display()
        );
        return;
    }
    let schemas = crd_schemas(&dir);
    // Cover every optional branch: all route shapes, listener options, GatewayRoute variants.
    let mesh = SyntheticMesh {
        namespaces: 3,
        services_per_namespace: 7,
        versions_per_service: 4,
        gateway_routes: 30,
        with_namespaces: true,
        with_k8s_objects: true,
    };
    let docs = parse(&mesh.generate());
    let mut checked = BTreeMap::new();
    let mut errors = Vec::new();
    for doc in &docs {
        let kind = doc["kind"].as_str().expect("kind");
        let Some(schema) = schemas.get(kind) else {
            continue;
        };
        check_schema(
            doc,
            schema,
            &format!("{kind} {}/{}", namespace(doc), name(doc)),
            &mut errors,
        );
        *checked.entry(kind).or_insert(0) += 1;
    }
    assert_eq!(errors, Vec::<String>::new());
    assert_eq!(checked.values().sum::<usize>(), mesh.object_count());
    assert_eq!(checked.len(), 6, "every App Mesh kind checked: {checked:?}");
}

#[test]
fn schema_check_catches_mistakes() {
    let dir = crd_dir();
    if !dir.is_dir() {
        eprintln!("skipping CRD schema self-test: {} not found", dir.display());
        return;
    }
    let schemas = crd_schemas(&dir);
    let docs = parse(&small().generate());
    let mut vn = docs
        .iter()
        .find(|d| d["kind"] == "VirtualNode")
        .expect("vn")
        .clone();
    vn["spec"]["listeners"][0]["portMapping"]["protocol"] = Value::from("udp");
    vn["spec"]["serviceDiscovery"]["dns"]["hostName"] = Value::from("legacy-v1beta1-key");
    vn["spec"]["listeners"][0]["portMapping"]
        .as_object_mut()
        .expect("map")
        .remove("port");
    let mut errors = Vec::new();
    check_schema(&vn, &schemas["VirtualNode"], "vn", &mut errors);
    let joined = errors.join("\n");
    assert_eq!(errors.len(), 3, "{joined}");
    assert!(joined.contains("\"udp\" not in"), "{joined}");
    assert!(joined.contains("hostName: unknown field"), "{joined}");
    assert!(joined.contains("missing required port"), "{joined}");
}
