use std::path::PathBuf;
use std::time::Instant;

use super::*;
use crate::appmesh::virtual_node::VirtualNode;
use crate::findings::Severity;
use crate::origin::ObjectRef;

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures/load")
        .join(name)
}

fn load_file(name: &str) -> Result<Inventory, LoadError> {
    load_sources(&[InputSource::File(fixture(name))], &LoadOptions::default())
}

fn codes(inv: &Inventory) -> Vec<(&str, Option<&str>)> {
    inv.findings
        .iter()
        .map(|f| (f.code.as_str(), f.field.as_deref()))
        .collect()
}

fn line_of(origin: &Origin) -> usize {
    match origin {
        Origin::File { line, .. } => *line,
        other => panic!("file origin expected, got {other:?}"),
    }
}

#[test]
fn multi_document_yaml_sorts_objects_and_keeps_lines() {
    let inv = load_file("multi.yaml").unwrap();
    assert_eq!(inv.documents, 7);
    let kinds: Vec<_> = inv
        .appmesh
        .iter()
        .map(|s| s.object.kind().as_str())
        .collect();
    assert_eq!(kinds, vec!["Mesh", "VirtualNode", "VirtualService"]);
    // Lines of the first node of each document (after `---` and comments).
    let lines: Vec<_> = inv.appmesh.iter().map(|s| line_of(&s.origin)).collect();
    assert_eq!(lines, vec![11, 22, 83]);
    assert_eq!(line_of(&inv.namespaces[0].origin), 3);
    assert_eq!(inv.namespaces[0].object.labels["mesh"], "shop-mesh");
    assert_eq!(
        inv.services[0].object.ports[0].app_protocol.as_deref(),
        Some("http")
    );
    assert_eq!(inv.workloads[0].object.pod_labels["app"], "cart");
    assert_eq!(inv.skipped.get("v1 ConfigMap"), Some(&1));
    assert_eq!(inv.files, vec![fixture("multi.yaml")]);
}

#[test]
fn unknown_field_is_reported_with_path_and_object_still_loads() {
    let inv = load_file("multi.yaml").unwrap();
    assert_eq!(
        codes(&inv),
        vec![("AMI1001", Some("spec.serviceDiscovery.dns.hostName"))]
    );
    let f = &inv.findings[0];
    assert_eq!(
        f.subject,
        ObjectRef::new("VirtualNode", Some("shop"), "cart")
    );
    assert!(
        f.message.contains("did you mean `hostname`"),
        "{}",
        f.message
    );
    assert_eq!(f.origin.as_ref().map(line_of), Some(22));
    let AppMeshObject::VirtualNode(VirtualNode { spec, .. }) = &inv.appmesh[1].object else {
        panic!("node expected")
    };
    let dns = spec
        .service_discovery
        .as_ref()
        .and_then(|sd| sd.dns.as_ref())
        .unwrap();
    assert_eq!(dns.hostname, "cart.shop.svc.cluster.local");
}

#[test]
fn json_list_items_load_with_their_own_lines() {
    let inv = load_file("list.json").unwrap();
    assert_eq!(inv.documents, 2);
    let found: Vec<_> = inv
        .appmesh
        .iter()
        .map(|s| (s.object.object_ref().to_string(), line_of(&s.origin)))
        .collect();
    assert_eq!(
        found,
        vec![
            ("VirtualRouter shop/payments".to_owned(), 5),
            ("VirtualGateway shop/ingress".to_owned(), 17)
        ]
    );
    assert!(inv.findings.is_empty(), "{:?}", inv.findings);
}

#[test]
fn invalid_objects_become_findings_and_the_rest_still_loads() {
    let inv = load_file("invalid-objects.yaml").unwrap();
    assert_eq!(
        codes(&inv),
        vec![
            ("AMI1002", Some("kind")),
            ("AMI1002", Some("kind")),
            ("AMI1003", Some("spec.listeners[0].portMapping.port")),
        ]
    );
    assert!(
        inv.findings[0].message.contains("v1beta1"),
        "{}",
        inv.findings[0].message
    );
    assert_eq!(inv.findings[1].subject.kind, "Route");
    assert_eq!(inv.findings[2].origin.as_ref().map(line_of), Some(15));
    assert_eq!(inv.appmesh.len(), 1);
    assert_eq!(inv.appmesh[0].object.name(), "fine");
}

#[test]
fn template_is_an_error_with_line_and_column() {
    let err = load_file("template.yaml").unwrap_err();
    let LoadError::Template {
        line,
        column,
        marker,
        ..
    } = &err
    else {
        panic!("{err}")
    };
    assert_eq!((*line, *column, marker.as_str()), (5, 9, "${MESH_NAME}"));
    let text = err.to_string();
    assert!(text.contains("template.yaml:5:9"), "{text}");
    assert!(
        text.contains("render it first (envsubst < file, or helm template ...)"),
        "{text}"
    );

    let err = load_file("helm-template.yaml").unwrap_err();
    assert_eq!(err.line(), Some(6));
    assert!(err.to_string().contains("helm-template.yaml:6:12"), "{err}");
}

#[test]
fn invalid_yaml_is_an_error_with_line_and_column() {
    let err = load_file("invalid.yaml").unwrap_err();
    let LoadError::Yaml {
        line,
        column,
        message,
        ..
    } = &err
    else {
        panic!("{err}")
    };
    assert_eq!(*line, Some(6));
    assert!(column.is_some());
    assert!(!message.is_empty());
    assert!(
        err.to_string()
            .starts_with(&format!("{}:6:", fixture("invalid.yaml").display())),
        "{err}"
    );
}

#[test]
fn first_failing_source_fails_the_whole_load() {
    let sources = [
        InputSource::File(fixture("multi.yaml")),
        InputSource::File(fixture("invalid.yaml")),
    ];
    assert!(load_sources(&sources, &LoadOptions::default()).is_err());
}

#[test]
fn directory_reads_manifest_extensions_and_recurses_on_request() {
    let dir = fixture("dir");
    let flat = load_sources(
        &[InputSource::Directory {
            path: dir.clone(),
            recursive: false,
        }],
        &LoadOptions::default(),
    )
    .unwrap();
    assert_eq!(flat.files, vec![dir.join("a.yaml"), dir.join("b.yml")]);
    assert_eq!(flat.appmesh.len(), 1);
    assert_eq!(flat.namespaces.len(), 1);
    let deep = load_sources(&[InputSource::path(&dir, true)], &LoadOptions::default()).unwrap();
    assert_eq!(
        deep.files,
        vec![
            dir.join("a.yaml"),
            dir.join("b.yml"),
            dir.join("sub/c.json")
        ]
    );
    let names: Vec<_> = deep.appmesh.iter().map(|s| s.object.name()).collect();
    assert_eq!(names, vec!["a", "c"]);
}

#[test]
fn empty_directory_is_an_error() {
    let tmp = tempfile::tempdir().unwrap();
    let err = load_sources(
        &[InputSource::Directory {
            path: tmp.path().into(),
            recursive: false,
        }],
        &LoadOptions::default(),
    )
    .unwrap_err();
    assert!(matches!(err, LoadError::NoInputFiles { .. }), "{err}");
}

#[test]
fn missing_file_is_an_io_error_naming_it() {
    let err = load_file("does-not-exist.yaml").unwrap_err();
    assert!(err.to_string().contains("does-not-exist.yaml"), "{err}");
}

#[test]
fn stdin_bytes_use_the_default_namespace_and_dash_origin() {
    let text = "apiVersion: appmesh.k8s.aws/v1beta2\nkind: VirtualService\nmetadata:\n  name: s\n";
    let opts = LoadOptions {
        default_namespace: "team".into(),
        ..LoadOptions::default()
    };
    let inv = load_sources(&[InputSource::stdin(text.as_bytes().to_vec())], &opts).unwrap();
    assert_eq!(inv.appmesh[0].object.namespace(), Some("team"));
    assert_eq!(inv.appmesh[0].origin.to_string(), "<stdin>:1");
}

#[test]
fn stdin_errors_name_stdin() {
    let err = load_sources(
        &[InputSource::stdin(b"a: [\n".to_vec())],
        &LoadOptions::default(),
    )
    .unwrap_err();
    assert!(err.to_string().starts_with("<stdin>:"), "{err}");
}

#[test]
fn not_utf8_is_an_error_with_line() {
    let err = load_sources(
        &[InputSource::Bytes {
            name: "bin.yaml".into(),
            bytes: b"a: b\nc: \xff\n".to_vec(),
        }],
        &LoadOptions::default(),
    )
    .unwrap_err();
    assert_eq!(err.line(), Some(2));
}

#[test]
fn duplicates_keep_the_last_and_are_reported() {
    let text = "apiVersion: appmesh.k8s.aws/v1beta2\nkind: Mesh\nmetadata:\n  name: m\nspec:\n  awsName: first\n---\n\
                apiVersion: appmesh.k8s.aws/v1beta2\nkind: Mesh\nmetadata:\n  name: m\nspec:\n  awsName: second\n";
    let inv = load_str("dup.yaml", text, &LoadOptions::default()).unwrap();
    assert_eq!(inv.appmesh.len(), 1);
    assert_eq!(inv.appmesh[0].object.spec_aws_name(), Some("second"));
    assert_eq!(codes(&inv), vec![("AMI1004", None)]);
    assert!(
        inv.findings[0].message.contains("dup.yaml:1"),
        "{}",
        inv.findings[0].message
    );
}

#[test]
fn missing_name_is_an_invalid_object() {
    let text = "apiVersion: appmesh.k8s.aws/v1beta2\nkind: Mesh\nmetadata: {}\n";
    let inv = load_str("noname.yaml", text, &LoadOptions::default()).unwrap();
    assert!(inv.appmesh.is_empty());
    assert_eq!(codes(&inv), vec![("AMI1003", Some("metadata.name"))]);
}

#[test]
fn alias_bomb_is_refused_with_a_clear_error() {
    let mut bomb =
        String::from("apiVersion: v1\nkind: ConfigMap\ndata:\n  a: &a [x,x,x,x,x,x,x,x,x,x]\n");
    let names = ["a", "b", "c", "d", "e", "f", "g", "h", "i"];
    for pair in names.windows(2) {
        let refs = vec![format!("*{}", pair[0]); 10].join(",");
        bomb.push_str(&format!("  {n}: &{n} [{refs}]\n", n = pair[1]));
    }
    let err = load_str("bomb.yaml", &bomb, &LoadOptions::default()).unwrap_err();
    let text = err.to_string();
    eprintln!("{text}");
    assert!(matches!(err, LoadError::Limit { .. }), "{text}");
    assert!(text.starts_with("bomb.yaml:9:"), "{text}");
    assert!(text.contains("safety limits"), "{text}");
}

fn many_documents(count: usize) -> String {
    let mut text = String::with_capacity(count * 400);
    for i in 0..count {
        text.push_str(&format!(
            "---\napiVersion: appmesh.k8s.aws/v1beta2\nkind: VirtualNode\nmetadata:\n  name: node-{i}\n  namespace: ns-{ns}\n\
             spec:\n  podSelector:\n    matchLabels:\n      app: node-{i}\n  listeners:\n    - portMapping:\n        port: 8080\n        protocol: http\n\
             \x20 serviceDiscovery:\n    dns:\n      hostname: node-{i}.ns-{ns}.svc.cluster.local\n",
            ns = i % 50
        ));
    }
    text
}

#[test]
fn twenty_thousand_documents_load() {
    let text = many_documents(20_000);
    let started = Instant::now();
    let parsed = yaml::parse_documents(&text, &YamlLimits::default()).unwrap();
    eprintln!("parsed 20,000 documents in {:?}", started.elapsed());
    drop(parsed);
    let started = Instant::now();
    let inv = load_str("big.yaml", &text, &LoadOptions::default()).unwrap();
    let elapsed = started.elapsed();
    eprintln!(
        "loaded 20,000 documents ({} bytes) in {elapsed:?}",
        text.len()
    );
    assert_eq!(inv.appmesh.len(), 20_000);
    assert!(inv.findings.is_empty());
    // The last document starts 17 lines per document in, after its `---`.
    assert_eq!(line_of(&inv.appmesh[19_999].origin), 19_999 * 17 + 2);
}

#[test]
fn document_limit_is_configurable_and_enforced() {
    let opts = LoadOptions {
        limits: YamlLimits {
            max_documents: 10,
            ..YamlLimits::default()
        },
        ..LoadOptions::default()
    };
    let err = load_str("many.yaml", &many_documents(11), &opts).unwrap_err();
    assert!(matches!(err, LoadError::Limit { .. }), "{err}");
    assert!(err.to_string().contains("safety limits"), "{err}");
}

#[test]
fn placeholders_in_workload_commands_do_not_make_a_template() {
    let text = "apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: shop}
spec:
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - name: web
        command: [sh, -c, 'exec server --cache ${HOME}/cache']
---
apiVersion: appmesh.k8s.aws/v1beta2
kind: VirtualNode
metadata: {name: web, namespace: shop}
spec:
  podSelector: {matchLabels: {app: web}}
";
    let inv = load_str("mixed.yaml", text, &LoadOptions::default()).unwrap();
    assert_eq!(inv.appmesh.len(), 1);
    assert_eq!(inv.workloads.len(), 1);

    let templated = text.replace(
        "name: web, namespace: shop}\nspec:\n  podSelector",
        "name: ${NODE}, namespace: shop}\nspec:\n  podSelector",
    );
    let err = load_str("mixed.yaml", &templated, &LoadOptions::default()).unwrap_err();
    assert!(matches!(err, LoadError::Template { line: 14, .. }), "{err}");
}

/// (code, field, line) of every finding, in order.
fn located(inv: &Inventory) -> Vec<(&str, Option<&str>, usize)> {
    inv.findings
        .iter()
        .map(|f| {
            (
                f.code.as_str(),
                f.field.as_deref(),
                f.origin.as_ref().map(line_of).unwrap_or(0),
            )
        })
        .collect()
}

const GOOD_NODE: &str = "apiVersion: appmesh.k8s.aws/v1beta2
kind: VirtualNode
metadata: {name: good, namespace: shop}
spec:
  listeners: [{portMapping: {port: 8080, protocol: http}}]
";

/// Issue 16, item 6: documents kubectl refuses were dropped without a word.
#[test]
fn documents_kubectl_refuses_are_reported_at_their_line_and_the_rest_loads() {
    let text = format!(
        "{GOOD_NODE}---
kind: VirtualNode
metadata: {{name: no-api-version, namespace: shop}}
---
apiVersion: 1
kind: VirtualNode
metadata: {{name: integer-api-version, namespace: shop}}
---
apiVersion: AppMesh.k8s.aws/v1beta2
kind: VirtualNode
metadata: {{name: mixed-case, namespace: shop}}
---
apiVersion: appmesh.k8s.aws/v1beta2
metadata: {{name: no-kind, namespace: shop}}
---
apiVersion: appmesh.k8s.aws/v1beta2
kind: 7
metadata: {{name: integer-kind, namespace: shop}}
---
apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: List
  items:
  - apiVersion: appmesh.k8s.aws/v1beta2
    kind: VirtualNode
    metadata: {{name: in-nested-list, namespace: shop}}
- - apiVersion: appmesh.k8s.aws/v1beta2
    kind: VirtualNode
    metadata: {{name: in-a-sequence, namespace: shop}}
- apiVersion: appmesh.k8s.aws/v1beta2
  kind: VirtualNode
  metadata: {{name: listed, namespace: shop}}
---
apiVersion: v1
kind: List
items:
  a:
    apiVersion: appmesh.k8s.aws/v1beta2
    kind: VirtualNode
    metadata: {{name: in-a-map, namespace: shop}}
---
just a string
---
~
"
    );
    let inv = load_str("refused.yaml", &text, &LoadOptions::default()).unwrap();
    assert_eq!(
        located(&inv),
        vec![
            ("AMI1006", Some("apiVersion"), 7),
            ("AMI1006", Some("apiVersion"), 10),
            ("AMI1008", Some("apiVersion"), 14),
            ("AMI1006", Some("kind"), 18),
            ("AMI1006", Some("kind"), 21),
            ("AMI1007", Some("kind"), 28),
            ("AMI1007", None, 34),
            ("AMI1007", Some("items"), 41),
            ("AMI1006", None, 49),
        ]
    );
    let names: Vec<&str> = inv.appmesh.iter().map(|s| s.object.name()).collect();
    assert_eq!(names, vec!["good", "listed"]);
    let f = &inv.findings[0];
    assert_eq!(
        f.subject,
        ObjectRef::new("VirtualNode", Some("shop"), "no-api-version")
    );
    assert_eq!(
        f.message,
        "the document at refused.yaml:7 has no apiVersion; kubectl refuses it, and it is not read"
    );
    assert!(
        inv.findings[5]
            .message
            .contains("kubectl refuses nested Lists"),
        "{}",
        inv.findings[5].message
    );
    assert!(
        inv.findings[8]
            .message
            .contains("is a string, not a Kubernetes object"),
        "{}",
        inv.findings[8].message
    );
    // Nothing else was counted as silently skipped.
    assert_eq!(inv.skipped_total(), 0, "{:?}", inv.skipped);
}

/// Issue 16, item 7: values the App Mesh CRD (or the App Mesh API) refuses were converted as
/// if App Mesh had run them.
#[test]
fn values_outside_the_crd_bounds_refuse_the_object_with_every_violation() {
    let text = "apiVersion: appmesh.k8s.aws/v1beta2
kind: VirtualRouter
metadata: {name: router, namespace: shop}
spec:
  listeners: [{portMapping: {port: 8080, protocol: http}}]
  routes:
  - name: negative
    priority: -1
    httpRoute:
      match: {prefix: /}
      action: {weightedTargets: [{virtualNodeRef: {name: good}, weight: 1}]}
      timeout: {idle: {unit: s, value: -1}}
  - name: ''
    tcpRoute:
      action: {weightedTargets: [{virtualNodeRef: {name: good}, weight: 1}]}
---
apiVersion: appmesh.k8s.aws/v1beta2
kind: GatewayRoute
metadata: {name: gr, namespace: shop}
spec:
  httpRoute:
    match: {prefix: /a}
    action:
      target: {virtualService: {virtualServiceRef: {name: s}}}
      rewrite: {prefix: {value: ''}}
---
apiVersion: appmesh.k8s.aws/v1beta2
kind: VirtualNode
metadata: {name: pool, namespace: shop}
spec:
  listeners:
  - portMapping: {port: 8080, protocol: http}
    connectionPool: {http: {maxConnections: 1, maxPendingRequests: -1}}
---
apiVersion: appmesh.k8s.aws/v1beta2
kind: Mesh
metadata: {name: mesh}
spec: {egressFilter: {type: ALLOW_SOME}}
---
apiVersion: appmesh.k8s.aws/v1beta2
kind: VirtualRouter
metadata: {name: long-route-name, namespace: shop}
spec:
  routes:
  - name: NAME
    tcpRoute:
      action: {weightedTargets: [{virtualNodeRef: {name: good}, weight: 1}]}
"
    .replace("NAME", &"r".repeat(300));
    let inv = load_str("bounds.yaml", &text, &LoadOptions::default()).unwrap();
    assert_eq!(
        located(&inv),
        vec![
            (
                "AMI1005",
                Some("spec.routes[0].httpRoute.timeout.idle.value"),
                1
            ),
            ("AMI1005", Some("spec.routes[0].priority"), 1),
            ("AMI1009", Some("spec.routes[1].name"), 1),
            (
                "AMI1005",
                Some("spec.httpRoute.action.rewrite.prefix.value"),
                17
            ),
            (
                "AMI1005",
                Some("spec.listeners[0].connectionPool.http.maxPendingRequests"),
                27
            ),
            ("AMI1005", Some("spec.egressFilter.type"), 35),
            ("AMI1009", Some("spec.routes[0].name"), 40),
        ]
    );
    assert!(inv.appmesh.is_empty(), "refused objects are not converted");
    assert_eq!(
        inv.findings[1].message,
        "-1 is less than the minimum of 0: the API server refuses the whole object, so App Mesh \
         never ran it; it is not converted"
    );
    assert!(
        inv.findings[6].message.starts_with(
            "300 characters is longer than the maximum length of 255: the App Mesh API refuses it"
        ),
        "{}",
        inv.findings[6].message
    );
    assert!(inv.findings.iter().all(|f| f.severity == Severity::Error));
    // One finding per problem: the decoding error of the enum is not repeated as AMI1003.
    assert!(!inv.findings.iter().any(|f| f.code == "AMI1003"));
}

/// Issue 16, minor: messages in the user's terms, not the YAML library's.
#[test]
fn parse_errors_speak_the_users_terms() {
    let mut ratio = String::from("apiVersion: v1\nkind: ConfigMap\ndata:\n  a: &a x\n");
    for i in 0..200 {
        ratio.push_str(&format!("  k{i}: *a\n"));
    }
    let deep = format!("a: {}1{}\n", "[".repeat(300), "]".repeat(300));
    let cases: Vec<(&str, String, &str)> = vec![
        (
            "dup.yaml",
            "apiVersion: v1\nkind: ConfigMap\nkind: Service\n".to_owned(),
            "dup.yaml:3:1: invalid YAML: the key `kind` appears twice in the same mapping (kubectl refuses this too)",
        ),
        (
            "null-key.yaml",
            "apiVersion: v1\nkind: ConfigMap\n~: 1\n".to_owned(),
            "null-key.yaml:3:1: invalid YAML: a mapping key or value that must be text is empty (null)",
        ),
        ("deep.yaml", deep, "deep.yaml:1:"),
    ];
    for (name, text, expected) in cases {
        let err = load_str(name, &text, &LoadOptions::default()).unwrap_err();
        let message = err.to_string();
        assert!(message.starts_with(expected), "{message}");
        for internal in [
            "DuplicateKeyPolicy",
            "Options",
            "Option<",
            "budget breached",
            " { ",
        ] {
            assert!(!message.contains(internal), "{message}");
        }
    }
    // One anchor used 200 times is ordinary YAML, which kubectl accepts.
    let inv = load_str("ratio.yaml", &ratio, &LoadOptions::default()).unwrap();
    assert_eq!(inv.skipped.get("v1 ConfigMap"), Some(&1));
}

/// Issue 16, minor: a small source whose aliases repeat a large value is refused while
/// expanding, before it takes the memory (a 140 KB file used to reach 1.1 GB).
#[test]
fn alias_expansion_is_bounded_by_text_not_only_by_counts() {
    let big = "x".repeat(100_000);
    let refs = vec!["*a"; 10_000].join(", ");
    let text = format!("apiVersion: v1\nkind: ConfigMap\ndata:\n  a: &a {big}\n  b: [{refs}]\n");
    let err = load_str("expand.yaml", &text, &LoadOptions::default()).unwrap_err();
    assert!(matches!(err, LoadError::Limit { .. }), "{err}");
    let message = err.to_string();
    assert!(message.starts_with("expand.yaml:5:"), "{message}");
    assert!(
        message.contains("aliases (*name) expand this source by more than 32 MiB of text"),
        "{message}"
    );
    // The same value repeated a few times is fine.
    let few = format!("apiVersion: v1\nkind: ConfigMap\ndata:\n  a: &a {big}\n  b: [*a, *a, *a]\n");
    assert!(load_str("few.yaml", &few, &LoadOptions::default()).is_ok());
}

/// Issue 16, minor: kubectl accepts `!!timestamp` values (as their text) and refuses a JSON
/// source that YAML would accept (a trailing comma).
#[test]
fn timestamps_are_text_and_json_is_strict_as_in_kubectl() {
    let text = "apiVersion: appmesh.k8s.aws/v1beta2
kind: VirtualNode
metadata:
  name: stamped
  namespace: shop
  annotations:
    deployed-at: !!timestamp 2001-12-14t21:59:43.10-05:00
spec:
  listeners: [{portMapping: {port: 8080, protocol: http}}]
";
    let inv = load_str("stamped.yaml", text, &LoadOptions::default()).unwrap();
    let annotations = inv.appmesh[0]
        .object
        .metadata()
        .annotations
        .clone()
        .unwrap();
    assert_eq!(annotations["deployed-at"], "2001-12-14t21:59:43.10-05:00");
    assert!(inv.findings.is_empty(), "{:?}", inv.findings);

    let json = "{\n  \"apiVersion\": \"v1\",\n  \"kind\": \"Namespace\",\n  \"metadata\": {\"name\": \"shop\",}\n}\n";
    let err = load_str("trailing.json", json, &LoadOptions::default()).unwrap_err();
    let LoadError::Yaml { line, .. } = &err else {
        panic!("{err}")
    };
    assert_eq!(*line, Some(4));
    assert!(err.to_string().contains("invalid JSON"), "{err}");
    // The same object without the comma, and YAML that is not JSON, still load.
    let fine = json.replace(",}", "}");
    assert_eq!(
        load_str("fine.json", &fine, &LoadOptions::default())
            .unwrap()
            .namespaces
            .len(),
        1
    );
    assert!(
        load_str(
            "flow.yaml",
            "# a comment first: YAML\n{apiVersion: v1, kind: Namespace, metadata: {name: a,},}\n",
            &LoadOptions::default()
        )
        .is_ok()
    );
}

/// kubectl reads JSON values one after the other (`cat a.json b.json | kubectl apply -f -`)
/// and refuses a YAML `---` between them; each value keeps the line it is written at.
#[test]
fn json_streams_load_like_kubectl_reads_them() {
    let node = |name: &str| {
        format!(
            "{{\n  \"apiVersion\": \"appmesh.k8s.aws/v1beta2\",\n  \"kind\": \"VirtualNode\",\n  \"metadata\": {{\"name\": \"{name}\", \"namespace\": \"shop\"}}\n}}"
        )
    };
    let lines = |text: &str| -> Vec<(String, usize)> {
        load_str("stream.json", text, &LoadOptions::default())
            .unwrap()
            .appmesh
            .iter()
            .map(|s| (s.object.object_ref().to_string(), line_of(&s.origin)))
            .collect()
    };
    // One value per line block, as `kubectl get -o json` prints them, then indented, then
    // two values on one line (the second moves down one line: the only place it shifts).
    let stream = format!(
        "{}\n{}\n\n   {}{}\n",
        node("a"),
        node("b"),
        node("c"),
        node("d")
    );
    assert_eq!(
        lines(&stream),
        vec![
            ("VirtualNode shop/a".to_owned(), 1),
            ("VirtualNode shop/b".to_owned(), 6),
            ("VirtualNode shop/c".to_owned(), 12),
            ("VirtualNode shop/d".to_owned(), 17),
        ]
    );
    // A YAML separator between JSON values is what kubectl refuses, at its line.
    let mixed = format!("{}\n---\n{}\n", node("a"), node("b"));
    let err = load_str("mixed.json", &mixed, &LoadOptions::default()).unwrap_err();
    let LoadError::Yaml { line, .. } = &err else {
        panic!("{err}")
    };
    assert_eq!(*line, Some(6));
    assert!(err.to_string().contains("invalid JSON"), "{err}");
}

/// Issue 14: an unknown field is reported at its own line and column (not its document's)
/// with the closest field the CRD has.
#[test]
fn unknown_fields_are_located_and_get_a_suggestion() {
    let text = "apiVersion: appmesh.k8s.aws/v1beta2
kind: Mesh
metadata: {name: m}
spec: {}
---
apiVersion: appmesh.k8s.aws/v1beta2
kind: VirtualNode
metadata: {name: a, namespace: shop}
spec:
  podSelector: {matchLabels: {app: a}}
  listners:
    - portMapping: {port: 8080, protocol: http}
";
    let inv = load_str("typo.yaml", text, &LoadOptions::default()).unwrap();
    let finding = inv
        .findings
        .iter()
        .find(|f| f.code == "AMI1001")
        .unwrap_or_else(|| panic!("{:?}", inv.findings));
    assert!(
        finding.message.contains("(did you mean `listeners`?)"),
        "{}",
        finding.message
    );
    let resolved = crate::resolve::resolve(&inv);
    let conversion =
        crate::convert::convert(&inv, &resolved, &crate::convert::ConvertOptions::default())
            .unwrap();
    let placed = conversion
        .report
        .findings()
        .find(|f| f.code == "AMI1001")
        .unwrap();
    assert_eq!(
        placed.origin.as_ref().map(ToString::to_string).as_deref(),
        Some("typo.yaml:11:3"),
        "{placed:?}"
    );
}
