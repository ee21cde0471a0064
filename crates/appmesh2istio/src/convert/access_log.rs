//! `logging.accessLog.file` of VirtualNodes (and VirtualGateways) → Istio access logging.
//!
//! Istio turns access logs on per workload with a `Telemetry` naming a provider. Its built-in
//! `envoy` provider writes Istio's default text format to `/dev/stdout`, which is what an App
//! Mesh file log without a format to `/dev/stdout` amounts to. Any other path or a custom
//! format needs a provider of its own in `meshConfig.extensionProviders`
//! (`envoyFileAccessLog {path, logFormat}`): App Mesh's `format.text` is the same Envoy
//! command-operator string, and its `format.json` list of `{key, value}` pairs is Istio's
//! `logFormat.labels` map. Provider names are derived from the log settings, so every node or
//! gateway logging the same way shares one provider and the names never change between runs.

use std::collections::BTreeMap;

use crate::appmesh::common::FileAccessLog;
use crate::findings::Finding;
use crate::istio::{
    AccessLogging, EnvoyFileAccessLogProvider, ExtensionProvider, LogFormat, MeshConfig,
};
use crate::origin::ObjectRef;

use super::Context;
use super::names;

/// Istio's built-in file access-log provider (`/dev/stdout`, default format).
pub(crate) const BUILTIN_PROVIDER: &str = "envoy";

const STDOUT: &str = "/dev/stdout";

/// Finding: a custom provider has to be added to meshConfig by hand (no `--install`).
pub(crate) const CODE_PROVIDER_NOT_INSTALLED: &str = "AMI2212";
/// Finding: a key appears twice in an App Mesh JSON log format.
pub(crate) const CODE_DUPLICATE_JSON_KEY: &str = "AMI2213";
/// Finding: App Mesh format with both or neither of `text`/`json`.
pub(crate) const CODE_AMBIGUOUS_FORMAT: &str = "AMI2227";

/// The Istio access-log provider that reproduces one App Mesh file access log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum AccessLogProvider {
    /// Istio's built-in `envoy` provider.
    Builtin,
    /// A provider that exists only once it is in `meshConfig.extensionProviders`.
    Custom(ExtensionProvider),
}

impl AccessLogProvider {
    /// The name a `Telemetry` refers to.
    pub(crate) fn name(&self) -> &str {
        match self {
            AccessLogProvider::Builtin => BUILTIN_PROVIDER,
            AccessLogProvider::Custom(p) => &p.name,
        }
    }

    /// The meshConfig entry to install, for custom providers.
    pub(crate) fn extension_provider(&self) -> Option<&ExtensionProvider> {
        match self {
            AccessLogProvider::Builtin => None,
            AccessLogProvider::Custom(p) => Some(p),
        }
    }
}

/// The Istio log format for an App Mesh one. `text` wins when both are given (App Mesh rejects
/// that; [`access_logging`] reports it). Later JSON keys override earlier ones, as Envoy's
/// JSON formatter does with a repeated key.
fn log_format(file: &FileAccessLog) -> Option<LogFormat> {
    let format = file.format.as_ref()?;
    if let Some(text) = &format.text {
        return Some(LogFormat::Text(text.clone()));
    }
    let pairs = format.json.as_ref()?;
    if pairs.is_empty() {
        return None;
    }
    let labels: BTreeMap<String, String> = pairs
        .iter()
        .map(|p| (p.key.clone(), p.value.clone()))
        .collect();
    Some(LogFormat::Labels(labels))
}

/// The provider reproducing `file`: built in for a plain `/dev/stdout` log, otherwise a
/// custom `envoyFileAccessLog` provider named after a hash of the settings.
pub(crate) fn access_log_provider(file: &FileAccessLog) -> AccessLogProvider {
    let log_format = log_format(file);
    if file.path == STDOUT && log_format.is_none() {
        return AccessLogProvider::Builtin;
    }
    let provider = EnvoyFileAccessLogProvider {
        path: file.path.clone(),
        log_format,
    };
    // Hash what the provider does, not where it came from, so equal settings share a name.
    let identity = serde_json::to_string(&provider).unwrap_or_else(|_| file.path.clone());
    AccessLogProvider::Custom(ExtensionProvider {
        name: format!("appmesh-access-log-{}", names::short_hash(&identity)),
        envoy_file_access_log: Some(provider),
        ..ExtensionProvider::default()
    })
}

/// The `meshConfig` snippet that defines `provider`, for the user to merge by hand.
fn mesh_config_snippet(provider: &ExtensionProvider) -> String {
    #[derive(serde::Serialize)]
    #[serde(rename_all = "camelCase")]
    struct Snippet<'a> {
        mesh_config: &'a MeshConfig,
    }
    let mesh_config = MeshConfig {
        extension_providers: vec![provider.clone()],
        ..MeshConfig::default()
    };
    serde_saphyr::to_string(&Snippet {
        mesh_config: &mesh_config,
    })
    .unwrap_or_else(|_| {
        format!(
            "meshConfig.extensionProviders: [{{name: {}}}]",
            provider.name
        )
    })
}

/// The `accessLogging` entry of a Telemetry reproducing `file` (at `field` of `subject`), with
/// findings for what App Mesh would have rejected and for providers the user must install.
pub(crate) fn access_logging(
    ctx: &mut Context<'_>,
    subject: &ObjectRef,
    field: &str,
    file: &FileAccessLog,
) -> AccessLogging {
    if let Some(format) = &file.format {
        let has_text = format.text.is_some();
        let has_json = format.json.as_ref().is_some_and(|pairs| !pairs.is_empty());
        if has_text && has_json {
            ctx.note(
                CODE_AMBIGUOUS_FORMAT,
                subject,
                &format!("{field}.format"),
                "both text and json formats are set (App Mesh accepts exactly one); the text format is used",
            );
        } else if !has_text && !has_json {
            ctx.note(
                CODE_AMBIGUOUS_FORMAT,
                subject,
                &format!("{field}.format"),
                "the format sets neither text nor json entries; Envoy's default format is used",
            );
        }
        if format.text.is_none() {
            let mut seen = BTreeMap::new();
            for (i, pair) in format.json.iter().flatten().enumerate() {
                if let Some(first) = seen.insert(pair.key.as_str(), i) {
                    ctx.note(
                        CODE_DUPLICATE_JSON_KEY,
                        subject,
                        &format!("{field}.format.json[{i}].key"),
                        format!(
                            "key {:?} is also set by json[{first}]; Istio's labels map keeps only this later value",
                            pair.key
                        ),
                    );
                }
            }
        }
    }
    let provider = access_log_provider(file);
    if let Some(custom) = provider.extension_provider()
        && !ctx.opts.install
    {
        let finding = Finding::new(
            CODE_PROVIDER_NOT_INSTALLED,
            subject.clone(),
            format!(
                "access log to {:?}{} needs the custom provider {:?} in meshConfig.extensionProviders; \
                 it is not installed because --install was not given",
                file.path,
                if file.format.is_some() { " with a custom format" } else { "" },
                custom.name
            ),
        )
        .at_field(field);
        let hint = format!(
            "{} The provider, as meshConfig of an IstioOperator spec or of the istiod Helm values:\n{}",
            finding.hint,
            mesh_config_snippet(custom)
        );
        ctx.finding(finding.with_hint(hint));
    }
    AccessLogging::to_providers([provider.name().to_owned()])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::appmesh::common::{JsonFormatRef, LoggingFormat};

    fn file(path: &str, format: Option<LoggingFormat>) -> FileAccessLog {
        FileAccessLog {
            path: path.into(),
            format,
        }
    }

    #[test]
    fn plain_stdout_uses_the_builtin_provider() {
        assert_eq!(
            access_log_provider(&file("/dev/stdout", None)),
            AccessLogProvider::Builtin
        );
        let empty = LoggingFormat::default();
        assert_eq!(
            access_log_provider(&file("/dev/stdout", Some(empty))).name(),
            "envoy"
        );
    }

    #[test]
    fn other_paths_and_formats_get_a_stable_custom_provider() {
        let text = LoggingFormat {
            text: Some("%PROTOCOL% %DURATION%\n".into()),
            json: None,
        };
        let a = access_log_provider(&file("/dev/stdout", Some(text.clone())));
        let b = access_log_provider(&file("/dev/stdout", Some(text)));
        assert_eq!(a, b, "same settings, same provider");
        assert!(a.name().starts_with("appmesh-access-log-"));
        assert!(names::is_dns1123_label(a.name()));
        let AccessLogProvider::Custom(p) = &a else {
            panic!("custom expected")
        };
        let log = p.envoy_file_access_log.as_ref().unwrap();
        assert_eq!(log.path, "/dev/stdout");
        assert_eq!(
            log.log_format,
            Some(LogFormat::Text("%PROTOCOL% %DURATION%\n".into()))
        );
        let other = access_log_provider(&file("/var/log/envoy.log", None));
        assert_ne!(other.name(), a.name());
        assert_eq!(
            other
                .extension_provider()
                .unwrap()
                .envoy_file_access_log
                .as_ref()
                .unwrap()
                .log_format,
            None
        );
    }

    #[test]
    fn json_pairs_become_labels_with_the_last_key_winning() {
        let json = LoggingFormat {
            text: None,
            json: Some(vec![
                JsonFormatRef {
                    key: "protocol".into(),
                    value: "%PROTOCOL%".into(),
                },
                JsonFormatRef {
                    key: "code".into(),
                    value: "%RESPONSE_CODE%".into(),
                },
                JsonFormatRef {
                    key: "protocol".into(),
                    value: "%UPSTREAM_PROTOCOL%".into(),
                },
            ]),
        };
        let p = access_log_provider(&file("/dev/stdout", Some(json)));
        let log = p
            .extension_provider()
            .unwrap()
            .envoy_file_access_log
            .clone()
            .unwrap();
        let Some(LogFormat::Labels(labels)) = log.log_format else {
            panic!("labels expected")
        };
        assert_eq!(labels["protocol"], "%UPSTREAM_PROTOCOL%");
        assert_eq!(labels["code"], "%RESPONSE_CODE%");
    }

    #[test]
    fn custom_providers_without_install_come_with_the_snippet_to_add() {
        use crate::convert::{ConvertOptions, OutputSet};
        use crate::load::Inventory;
        use crate::report::ReportBuilder;
        let inventory = Inventory::default();
        let resolved = crate::resolve::resolve(&inventory);
        let subject = ObjectRef::new("VirtualNode", Some("shop"), "cart");
        for (install, expected_findings) in [(false, 1), (true, 0)] {
            let opts = ConvertOptions {
                install,
                ..ConvertOptions::default()
            };
            let mut ctx = Context {
                inventory: &inventory,
                resolved: &resolved,
                opts: &opts,
                output: OutputSet::default(),
                report: ReportBuilder::default(),
                flagger_managed: Default::default(),
            };
            let logging = access_logging(
                &mut ctx,
                &subject,
                "spec.logging.accessLog.file",
                &file("/tmp/a.log", None),
            );
            assert!(logging.providers[0].name.starts_with("appmesh-access-log-"));
            let report = ctx.report.finish(true);
            let findings: Vec<_> = report.findings().collect();
            assert_eq!(findings.len(), expected_findings, "install={install}");
            if let Some(f) = findings.first() {
                assert_eq!(f.code, CODE_PROVIDER_NOT_INSTALLED);
                assert!(
                    f.hint.contains("extensionProviders:") && f.hint.contains("path: /tmp/a.log"),
                    "{}",
                    f.hint
                );
            }
        }
    }

    #[test]
    fn snippet_is_mesh_config_yaml() {
        let p = access_log_provider(&file("/tmp/a.log", None));
        let snippet = mesh_config_snippet(p.extension_provider().unwrap());
        assert!(snippet.contains("meshConfig:"), "{snippet}");
        assert!(snippet.contains("extensionProviders:"), "{snippet}");
        assert!(snippet.contains("envoyFileAccessLog:"), "{snippet}");
        assert!(snippet.contains("path: /tmp/a.log"), "{snippet}");
    }
}
