//! The API server's view of our output: Istio's CRD schemas (`openAPIV3Schema` of
//! `../shared/crds/istio/istio-1.30.3-crd-all.gen.yaml`) and Gateway API v1.5.1's
//! (`../shared/crds/gateway-api/`, standard channel or the experimental bundle) applied the
//! way kube-apiserver applies them with strict field validation (`kubectl apply`'s default).
//! Gateway API's CEL rules are not evaluated here; the library's validator
//! (`validate::gateway_api`) implements them and its unit tests make each one fire.
//!
//! A small structural validator, written for the subset of OpenAPI v3 that Kubernetes
//! structural schemas use: `type`, `nullable`, `enum`, `required`, bounds, lengths,
//! `pattern`, `items`, `properties`, `additionalProperties`, `oneOf`/`anyOf`/`allOf`/`not`,
//! `x-kubernetes-int-or-string`, `x-kubernetes-preserve-unknown-fields`, list types. Unknown
//! fields are errors: at load time `additionalProperties: false` is injected into every
//! object schema that has `properties` and does not preserve unknown fields, as strict
//! validation does. Of the CEL rules (`x-kubernetes-validations`) only a few fixed ones are
//! evaluated by hand (durations ≥ 1ms, selector wildcards, ports, `*` hosts); others are
//! ignored.
//!
//! There is no CRD for `install.istio.io` (IstioOperator is istioctl's input, not a
//! cluster resource), so IstioOperator objects are skipped with a notice.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use serde_json::{Map, Value};

use crate::workspace_root;

/// Where the Istio CRD bundle is, relative to the workspace root.
pub const CRD_BUNDLE: &str = "../shared/crds/istio/istio-1.30.3-crd-all.gen.yaml";

/// The schemas of every kind and served version in the bundle.
#[derive(Debug)]
pub struct IstioSchemas {
    /// (group, kind, version) → transformed `openAPIV3Schema`.
    schemas: BTreeMap<(String, String, String), Value>,
}

/// The bundle's schemas, loaded once; `None` (after a one-line notice) when `../shared` is
/// absent. A bundle that exists but does not load is a test failure. The Gateway API v1.5.1
/// standard-channel CRDs are loaded beside Istio's (another API group, so they change nothing
/// for Istio's kinds): the `gateway-api` target's default output must pass them.
pub fn istio_schema() -> Option<&'static IstioSchemas> {
    static SCHEMAS: OnceLock<Option<IstioSchemas>> = OnceLock::new();
    SCHEMAS
        .get_or_init(|| load_or_skip(&[bundle_path()], GatewayApiChannel::Standard))
        .as_ref()
}

/// Istio's CRDs plus the Gateway API v1.5.1 experimental bundle (TCPRoute, HTTPRoute
/// `retry`): what `--gateway-api-channel experimental` output must pass.
pub fn experimental_schema() -> Option<&'static IstioSchemas> {
    static SCHEMAS: OnceLock<Option<IstioSchemas>> = OnceLock::new();
    SCHEMAS
        .get_or_init(|| load_or_skip(&[bundle_path()], GatewayApiChannel::Experimental))
        .as_ref()
}

/// Which Gateway API CRDs to load beside Istio's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GatewayApiChannel {
    Standard,
    Experimental,
}

/// Where the Gateway API v1.5.1 CRDs are, relative to the workspace root.
pub const GATEWAY_API_CRDS: &str = "../shared/crds/gateway-api";

/// The Gateway API CRD files of `channel`.
pub fn gateway_api_crd_files(channel: GatewayApiChannel) -> Vec<PathBuf> {
    let dir = workspace_root().join(GATEWAY_API_CRDS);
    match channel {
        GatewayApiChannel::Experimental => vec![dir.join("experimental-install.yaml")],
        GatewayApiChannel::Standard => [
            "gatewayclasses",
            "gateways",
            "httproutes",
            "grpcroutes",
            "referencegrants",
            "tlsroutes",
            "backendtlspolicies",
            "listenersets",
        ]
        .iter()
        .map(|kind| dir.join(format!("gateway.networking.k8s.io_{kind}.yaml")))
        .collect(),
    }
}

fn load_or_skip(istio: &[PathBuf], channel: GatewayApiChannel) -> Option<IstioSchemas> {
    let mut paths = istio.to_vec();
    paths.extend(gateway_api_crd_files(channel));
    if let Some(missing) = paths.iter().find(|p| !p.is_file()) {
        eprintln!(
            "skipped: CRD file {} not found; schema checks not run",
            missing.display()
        );
        return None;
    }
    match IstioSchemas::load_all(&paths) {
        Ok(s) => Some(s),
        Err(e) => panic!("cannot load the CRDs {paths:?}: {e}"),
    }
}

pub fn bundle_path() -> PathBuf {
    workspace_root().join(CRD_BUNDLE)
}

impl IstioSchemas {
    /// Reads a multi-document CRD file.
    pub fn load(path: &Path) -> Result<IstioSchemas, String> {
        IstioSchemas::load_all(&[path.to_path_buf()])
    }

    /// Reads several multi-document CRD files into one set.
    pub fn load_all(paths: &[PathBuf]) -> Result<IstioSchemas, String> {
        let mut schemas = BTreeMap::new();
        for path in paths {
            IstioSchemas::read_into(path, &mut schemas)
                .map_err(|e| format!("{}: {e}", path.display()))?;
        }
        if schemas.is_empty() {
            return Err("no CustomResourceDefinition schemas found".into());
        }
        Ok(IstioSchemas { schemas })
    }

    fn read_into(
        path: &Path,
        schemas: &mut BTreeMap<(String, String, String), Value>,
    ) -> Result<(), String> {
        let text = std::fs::read_to_string(path).map_err(|e| e.to_string())?;
        // The bundle is ~870 KB; serde-saphyr's default event budget (1M) is close to what
        // it needs, so give it room.
        let options = serde_saphyr::options! {
            budget: serde_saphyr::budget! {
                max_events: 50_000_000,
            },
        };
        let docs: Vec<Value> =
            serde_saphyr::from_multiple_with_options(&text, options).map_err(|e| e.to_string())?;
        for doc in docs {
            if doc.get("kind").and_then(Value::as_str) != Some("CustomResourceDefinition") {
                continue;
            }
            let spec = &doc["spec"];
            let (Some(group), Some(kind)) =
                (spec["group"].as_str(), spec["names"]["kind"].as_str())
            else {
                return Err("CRD without spec.group or spec.names.kind".into());
            };
            for version in spec["versions"]
                .as_array()
                .map(Vec::as_slice)
                .unwrap_or(&[])
            {
                let Some(name) = version["name"].as_str() else {
                    continue;
                };
                let mut schema = version["schema"]["openAPIV3Schema"].clone();
                if schema.is_null() {
                    continue;
                }
                close_objects(&mut schema);
                schemas.insert((group.to_owned(), kind.to_owned(), name.to_owned()), schema);
            }
        }
        Ok(())
    }

    /// Number of (group, kind, version) schemas.
    pub fn len(&self) -> usize {
        self.schemas.len()
    }

    pub fn is_empty(&self) -> bool {
        self.schemas.is_empty()
    }

    /// The transformed schema of `apiVersion` + `kind`, if the bundle has it.
    pub fn schema(&self, api_version: &str, kind: &str) -> Option<&Value> {
        let (group, version) = api_version.split_once('/')?;
        self.schemas
            .get(&(group.to_owned(), kind.to_owned(), version.to_owned()))
    }

    /// Validates a whole object (`apiVersion`, `kind`, `metadata`, `spec`, `status`) as the
    /// API server would with strict field validation. Errors read `path: problem`.
    pub fn validate(&self, object: &Value) -> Result<(), Vec<String>> {
        let api_version = object
            .get("apiVersion")
            .and_then(Value::as_str)
            .unwrap_or("");
        let kind = object.get("kind").and_then(Value::as_str).unwrap_or("");
        if api_version == "v1" {
            // Built-in kinds (the generated per-version Services) are validated by the API
            // server itself; the cluster tests apply them.
            return Ok(());
        }
        if api_version.starts_with("install.istio.io/") {
            eprintln!(
                "note: {kind} ({api_version}) has no CRD in the Istio bundle (it is istioctl's input); not schema-checked"
            );
            return Ok(());
        }
        let Some(schema) = self.schema(api_version, kind) else {
            return Err(vec![format!("no CRD schema for {api_version:?} {kind:?}")]);
        };
        let Some(fields) = object.as_object() else {
            return Err(vec!["object: expected a JSON object".into()]);
        };
        let mut errors = Vec::new();
        // apiVersion/kind/metadata are validated by the API server itself, not the CRD.
        let mut rest = Map::new();
        for (k, v) in fields {
            match k.as_str() {
                "apiVersion" | "kind" => {
                    if !v.is_string() {
                        errors.push(format!("{k}: expected string"));
                    }
                }
                "metadata" => check_metadata(v, &mut errors),
                _ => {
                    rest.insert(k.clone(), v.clone());
                }
            }
        }
        if !fields.contains_key("metadata") {
            errors.push("metadata: required".into());
        }
        check(schema, &Value::Object(rest), "", &mut errors);
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }
}

/// `additionalProperties: false` on every object schema with `properties` that does not
/// preserve unknown fields: strict field validation rejects what pruning would drop.
fn close_objects(schema: &mut Value) {
    let Some(obj) = schema.as_object_mut() else {
        return;
    };
    let preserve = obj
        .get("x-kubernetes-preserve-unknown-fields")
        .and_then(Value::as_bool)
        == Some(true);
    if obj.contains_key("properties") && !preserve && !obj.contains_key("additionalProperties") {
        obj.insert("additionalProperties".into(), Value::Bool(false));
    }
    for key in ["properties"] {
        if let Some(Value::Object(props)) = obj.get_mut(key) {
            props.values_mut().for_each(close_objects);
        }
    }
    for key in ["items", "additionalProperties", "not"] {
        if let Some(sub) = obj.get_mut(key) {
            close_objects(sub);
        }
    }
    for key in ["oneOf", "anyOf", "allOf"] {
        if let Some(Value::Array(subs)) = obj.get_mut(key) {
            subs.iter_mut().for_each(close_objects);
        }
    }
}

const METADATA_KEYS: &[&str] = &[
    "name",
    "generateName",
    "namespace",
    "labels",
    "annotations",
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "finalizers",
    "ownerReferences",
    "managedFields",
    "selfLink",
];

fn check_metadata(v: &Value, errors: &mut Vec<String>) {
    let Some(m) = v.as_object() else {
        errors.push("metadata: expected object".into());
        return;
    };
    for (k, val) in m {
        if !METADATA_KEYS.contains(&k.as_str()) {
            errors.push(format!("metadata.{k}: unknown field"));
            continue;
        }
        match k.as_str() {
            "name" | "namespace" | "generateName" if !val.is_string() => {
                errors.push(format!("metadata.{k}: expected string"));
            }
            "labels" | "annotations" => match val.as_object() {
                Some(map) => {
                    for (lk, lv) in map.iter().filter(|(_, lv)| !lv.is_string()) {
                        errors.push(format!(
                            "metadata.{k}.{lk}: expected string, got {}",
                            type_name(lv)
                        ));
                    }
                }
                None => errors.push(format!("metadata.{k}: expected object")),
            },
            _ => {}
        }
    }
    if m.get("name")
        .and_then(Value::as_str)
        .is_none_or(str::is_empty)
        && !m.contains_key("generateName")
    {
        errors.push("metadata.name: required".into());
    }
}

/// Validates `value` against a (transformed) structural schema; errors are `path: problem`.
/// Public so the checker itself can be tested on small schemas.
pub fn validate_value(schema: &Value, value: &Value) -> Vec<String> {
    let mut errors = Vec::new();
    check(schema, value, "", &mut errors);
    errors
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_owned()
    } else {
        format!("{path}.{key}")
    }
}

fn at(path: &str) -> &str {
    if path.is_empty() { "<root>" } else { path }
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn type_matches(expected: &str, v: &Value) -> bool {
    match expected {
        "integer" => v.as_i64().is_some() || v.as_u64().is_some(),
        "number" => v.is_number(),
        "string" => v.is_string(),
        "boolean" => v.is_boolean(),
        "array" => v.is_array(),
        "object" => v.is_object(),
        _ => true,
    }
}

fn check(schema: &Value, value: &Value, path: &str, errors: &mut Vec<String>) {
    let Some(s) = schema.as_object() else { return };
    let flag = |k: &str| s.get(k).and_then(Value::as_bool) == Some(true);
    if value.is_null() {
        if !flag("nullable") {
            errors.push(format!("{}: null is not allowed", at(path)));
        }
        return;
    }
    if flag("x-kubernetes-int-or-string") {
        if !(type_matches("integer", value) || value.is_string()) {
            errors.push(format!(
                "{}: expected integer or string, got {}",
                at(path),
                type_name(value)
            ));
            return;
        }
    } else if let Some(t) = s.get("type").and_then(Value::as_str)
        && !type_matches(t, value)
    {
        errors.push(format!(
            "{}: expected {t}, got {}",
            at(path),
            type_name(value)
        ));
        return;
    }
    if let Some(Value::Array(allowed)) = s.get("enum")
        && !allowed.contains(value)
    {
        let names: Vec<String> = allowed.iter().map(Value::to_string).collect();
        errors.push(format!(
            "{}: unsupported value {value}; supported values: {}",
            at(path),
            names.join(", ")
        ));
    }
    match value {
        Value::String(text) => check_string(s, text, path, errors),
        Value::Number(_) => check_number(s, value, path, errors),
        Value::Array(items) => check_array(s, items, path, errors),
        Value::Object(map) => check_object(s, map, path, errors),
        Value::Bool(_) | Value::Null => {}
    }
    check_combinators(s, value, path, errors);
    check_cel(s, value, path, errors);
}

fn check_string(s: &Map<String, Value>, text: &str, path: &str, errors: &mut Vec<String>) {
    let len = text.chars().count() as u64;
    if let Some(max) = s.get("maxLength").and_then(Value::as_u64)
        && len > max
    {
        errors.push(format!("{}: may not be longer than {max}", at(path)));
    }
    if let Some(min) = s.get("minLength").and_then(Value::as_u64)
        && len < min
    {
        errors.push(format!("{}: should be at least {min} chars long", at(path)));
    }
    if let Some(p) = s.get("pattern").and_then(Value::as_str) {
        match regex::Regex::new(p) {
            Ok(re) if !re.is_match(text) => {
                errors.push(format!("{}: {text:?} does not match {p:?}", at(path)))
            }
            Ok(_) => {}
            Err(e) => errors.push(format!(
                "{}: schema pattern {p:?} does not compile: {e}",
                at(path)
            )),
        }
    }
}

fn check_number(s: &Map<String, Value>, v: &Value, path: &str, errors: &mut Vec<String>) {
    let Some(x) = v.as_f64() else { return };
    let flag = |k: &str| s.get(k).and_then(Value::as_bool) == Some(true);
    if let Some(max) = s.get("maximum").and_then(Value::as_f64)
        && (x > max || (flag("exclusiveMaximum") && x >= max))
    {
        errors.push(format!("{}: {v} is above the maximum {max}", at(path)));
    }
    if let Some(min) = s.get("minimum").and_then(Value::as_f64)
        && (x < min || (flag("exclusiveMinimum") && x <= min))
    {
        errors.push(format!("{}: {v} is below the minimum {min}", at(path)));
    }
}

fn check_array(s: &Map<String, Value>, items: &[Value], path: &str, errors: &mut Vec<String>) {
    let n = items.len() as u64;
    if let Some(max) = s.get("maxItems").and_then(Value::as_u64)
        && n > max
    {
        errors.push(format!("{}: must have at most {max} items", at(path)));
    }
    if let Some(min) = s.get("minItems").and_then(Value::as_u64)
        && n < min
    {
        errors.push(format!("{}: must have at least {min} items", at(path)));
    }
    if let Some(item_schema) = s.get("items") {
        for (i, item) in items.iter().enumerate() {
            check(item_schema, item, &format!("{path}[{i}]"), errors);
        }
    }
    // List types: `set` items are unique; `map` items are unique by their key fields.
    let keys: Option<Vec<&str>> = match s.get("x-kubernetes-list-type").and_then(Value::as_str) {
        Some("set") => Some(Vec::new()),
        Some("map") => Some(
            s.get("x-kubernetes-list-map-keys")
                .and_then(Value::as_array)
                .map(|k| k.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default(),
        ),
        _ => None,
    };
    if let Some(keys) = keys {
        let mut seen = Vec::new();
        for (i, item) in items.iter().enumerate() {
            let identity: Value = if keys.is_empty() {
                item.clone()
            } else {
                Value::Array(
                    keys.iter()
                        .map(|k| item.get(*k).cloned().unwrap_or(Value::Null))
                        .collect(),
                )
            };
            if seen.contains(&identity) {
                errors.push(format!("{path}[{i}]: duplicate entry {identity}"));
            }
            seen.push(identity);
        }
    }
}

fn check_object(
    s: &Map<String, Value>,
    map: &Map<String, Value>,
    path: &str,
    errors: &mut Vec<String>,
) {
    if let Some(Value::Array(required)) = s.get("required") {
        for r in required.iter().filter_map(Value::as_str) {
            if !map.contains_key(r) {
                errors.push(format!("{}: required", join(path, r)));
            }
        }
    }
    let n = map.len() as u64;
    if let Some(max) = s.get("maxProperties").and_then(Value::as_u64)
        && n > max
    {
        errors.push(format!("{}: must have at most {max} properties", at(path)));
    }
    if let Some(min) = s.get("minProperties").and_then(Value::as_u64)
        && n < min
    {
        errors.push(format!("{}: must have at least {min} properties", at(path)));
    }
    let props = s.get("properties").and_then(Value::as_object);
    let preserve = s
        .get("x-kubernetes-preserve-unknown-fields")
        .and_then(Value::as_bool)
        == Some(true);
    for (k, v) in map {
        let p = join(path, k);
        if let Some(prop) = props.and_then(|props| props.get(k)) {
            check(prop, v, &p, errors);
            continue;
        }
        match s.get("additionalProperties") {
            Some(Value::Bool(false)) => errors.push(format!("{p}: unknown field")),
            Some(sub @ Value::Object(_)) => check(sub, v, &format!("{path}[{k}]"), errors),
            _ if props.is_some() && !preserve => errors.push(format!("{p}: unknown field")),
            _ => {}
        }
    }
}

fn check_combinators(s: &Map<String, Value>, value: &Value, path: &str, errors: &mut Vec<String>) {
    let passes = |sub: &Value| {
        let mut e = Vec::new();
        check(sub, value, path, &mut e);
        e.is_empty()
    };
    if let Some(Value::Array(subs)) = s.get("oneOf") {
        let matched = subs.iter().filter(|sub| passes(sub)).count();
        if matched != 1 {
            errors.push(format!(
                "{}: must match exactly one schema in oneOf, matched {matched}",
                at(path)
            ));
        }
    }
    if let Some(Value::Array(subs)) = s.get("anyOf")
        && !subs.iter().any(passes)
    {
        errors.push(format!(
            "{}: must match at least one schema in anyOf",
            at(path)
        ));
    }
    if let Some(Value::Array(subs)) = s.get("allOf") {
        for sub in subs {
            check(sub, value, path, errors);
        }
    }
    if let Some(sub) = s.get("not")
        && passes(sub)
    {
        errors.push(format!("{}: must not match the schema in not", at(path)));
    }
}

/// The CEL rules of the bundle we can evaluate by hand; the others are ignored.
fn check_cel(s: &Map<String, Value>, value: &Value, path: &str, errors: &mut Vec<String>) {
    let Some(Value::Array(rules)) = s.get("x-kubernetes-validations") else {
        return;
    };
    for rule in rules {
        let text = rule.get("rule").and_then(Value::as_str).unwrap_or("");
        let message = rule.get("message").and_then(Value::as_str).unwrap_or(text);
        let ok = match text {
            "duration(self) >= duration('1ms')" => value
                .as_str()
                .and_then(go_duration_nanos)
                .is_some_and(|ns| ns >= 1_000_000),
            "self.all(key, !key.contains(\"*\"))" => keys(value).all(|k| !k.contains('*')),
            "self.all(key, key.size() != 0)" => keys(value).all(|k| !k.is_empty()),
            "!self.contains(\"*\")" => value.as_str().is_none_or(|v| !v.contains('*')),
            "self != \"*\"" => value.as_str() != Some("*"),
            "0 < self && self <= 65535" => value.as_u64().is_some_and(|p| (1..=65535).contains(&p)),
            "self.all(l1, self.exists_one(l2, l1.number == l2.number))" => {
                let numbers: Vec<&Value> = value
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|item| item.get("number"))
                    .collect();
                numbers
                    .iter()
                    .enumerate()
                    .all(|(i, n)| !numbers[..i].contains(n))
            }
            _ => continue,
        };
        if !ok {
            errors.push(format!("{}: {message}", at(path)));
        }
    }
}

fn keys(value: &Value) -> impl Iterator<Item = &str> {
    value
        .as_object()
        .into_iter()
        .flat_map(|m| m.keys().map(String::as_str))
}

/// Go `time.ParseDuration` (as CEL's `duration()` accepts it), in nanoseconds; `None` when
/// it does not parse. Written independently of the model's parser on purpose.
pub fn go_duration_nanos(text: &str) -> Option<i128> {
    let (negative, mut rest) = match text.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, text.strip_prefix('+').unwrap_or(text)),
    };
    if rest == "0" {
        return Some(0);
    }
    if rest.is_empty() {
        return None;
    }
    let mut total: f64 = 0.0;
    while !rest.is_empty() {
        let number_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let (number, tail) = rest.split_at(number_len);
        if number.is_empty() || number == "." {
            return None;
        }
        let value: f64 = number.parse().ok()?;
        let unit_len = tail
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(tail.len());
        let (unit, tail) = tail.split_at(unit_len);
        let scale = match unit {
            "ns" => 1.0,
            "us" | "\u{b5}s" | "\u{3bc}s" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => return None,
        };
        total += value * scale;
        rest = tail;
    }
    if total > i64::MAX as f64 {
        return None;
    }
    let ns = total.round() as i128;
    Some(if negative { -ns } else { ns })
}
