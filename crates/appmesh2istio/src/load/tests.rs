use std::path::PathBuf;
use std::time::Instant;

use super::*;
use crate::appmesh::virtual_node::VirtualNode;

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
