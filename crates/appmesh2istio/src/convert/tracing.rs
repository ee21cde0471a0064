//! The App Mesh controller's tracing settings → Istio's tracing providers (and its stats
//! settings, reported: [`report_stats`]).
//!
//! App Mesh configures tracing for every injected Envoy from its controller's flags
//! (`pkg/inject/config.go` of aws/aws-app-mesh-controller-for-k8s; the Helm chart's
//! `tracing.provider` sets them): `--enable-xray-tracing` (an X-Ray daemon sidecar,
//! `--xray-daemon-port`, `--xray-sampling-rate`, default 0.05), `--enable-jaeger-tracing`
//! (`--jaeger-address`, `--jaeger-port`: Zipkin protocol), `--enable-datadog-tracing`
//! (`--datadog-address`, `--datadog-port`). Istio configures tracing with a
//! `meshConfig.extensionProviders` entry and a Telemetry naming it:
//!
//! - Jaeger → a `zipkin` provider at the same collector (App Mesh's Envoy sent Zipkin spans);
//! - Datadog → a `datadog` provider at the same agent;
//! - X-Ray → an `opentelemetry` provider: Istio has no X-Ray tracer, so spans go to an
//!   OpenTelemetry Collector with the AWS X-Ray exporter, which the report asks to deploy.
//!
//! Sampling: X-Ray's rate becomes `randomSamplingPercentage`; App Mesh set none for Jaeger and
//! Datadog, so Envoy sampled every request, which is written out as 100 (Istio's own default
//! is 1%).
//!
//! Read from the controller Deployment when the input has it (cluster mode reads it from
//! `appmesh-system` with `-A`); offline, convert's `--tracing` gives the provider with the
//! controller's defaults.

use serde_json::Number;

use super::flagger::flag_value;
use super::{Context, names};
use crate::istio::{
    ExtensionProvider, IstioObject, Metadata, ProviderRef, Telemetry, TelemetrySpec, Tracing,
    TracingService,
};
use crate::k8s::WorkloadKind;
use crate::origin::ObjectRef;

/// Tracing carried over.
const CODE_TRACING: &str = "AMI2730";
/// X-Ray needs an OpenTelemetry Collector.
const CODE_XRAY_COLLECTOR: &str = "AMI2731";
/// Tracing found but not installed (no `--install`).
const CODE_NOT_INSTALLED: &str = "AMI2732";
/// App Mesh's stats settings (StatsD sink, stats tags), which Istio has no setting for.
const CODE_STATS: &str = "AMI2733";

/// Name of the mesh-wide Telemetry that turns tracing on.
pub const TELEMETRY_NAME: &str = "appmesh2istio-tracing";

/// The tracing backend App Mesh's controller configured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum TracingBackend {
    /// AWS X-Ray (`--enable-xray-tracing`)
    Xray,
    /// Jaeger over the Zipkin protocol (`--enable-jaeger-tracing`)
    Jaeger,
    /// Datadog (`--enable-datadog-tracing`)
    Datadog,
}

impl TracingBackend {
    fn flag(self) -> &'static str {
        match self {
            TracingBackend::Xray => "enable-xray-tracing",
            TracingBackend::Jaeger => "enable-jaeger-tracing",
            TracingBackend::Datadog => "enable-datadog-tracing",
        }
    }

    fn label(self) -> &'static str {
        match self {
            TracingBackend::Xray => "X-Ray",
            TracingBackend::Jaeger => "Jaeger",
            TracingBackend::Datadog => "Datadog",
        }
    }
}

/// Tracing as Istio will do it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TracingSettings {
    pub backend: TracingBackend,
    pub provider: ExtensionProvider,
    pub sampling: Number,
    /// The controller Deployment it was read from (`None`: `--tracing`).
    pub seen_on: Option<ObjectRef>,
    /// What App Mesh did, for the report.
    pub was: String,
}

/// A Go bool flag: `--name`, `--name=true`.
fn bool_flag(args: &[String], name: &str) -> bool {
    args.iter().any(|a| {
        let Some(rest) = a
            .strip_prefix("--")
            .or_else(|| a.strip_prefix('-'))
            .and_then(|a| a.strip_prefix(name))
        else {
            return false;
        };
        matches!(rest, "" | "=true" | "=1" | "=True" | "=TRUE" | "=t" | "=T")
    })
}

/// The tracing of the input's App Mesh controller, or of `--tracing`.
pub(crate) fn settings(ctx: &Context<'_>) -> Option<TracingSettings> {
    let domain = &ctx.opts.cluster_domain;
    if let Some(backend) = ctx.opts.tracing {
        return Some(build(backend, &[], None, domain, &ctx.opts.istio_namespace));
    }
    ctx.inventory
        .workloads
        .iter()
        .filter(|w| w.object.kind == WorkloadKind::Deployment)
        .find_map(|w| {
            w.object.containers.iter().find_map(|c| {
                [
                    TracingBackend::Xray,
                    TracingBackend::Jaeger,
                    TracingBackend::Datadog,
                ]
                .into_iter()
                .find(|b| bool_flag(&c.args, b.flag()))
                .map(|backend| {
                    build(
                        backend,
                        &c.args,
                        Some(w.object.object_ref()),
                        domain,
                        &ctx.opts.istio_namespace,
                    )
                })
            })
        })
}

fn build(
    backend: TracingBackend,
    args: &[String],
    seen_on: Option<ObjectRef>,
    domain: &str,
    istio_namespace: &str,
) -> TracingSettings {
    let flag =
        |name: &str, default: &str| flag_value(args, name).unwrap_or_else(|| default.to_owned());
    // App Mesh's addresses are `service.namespace` (or any DNS name); Istio wants hosts
    // fully qualified.
    let service = |address: String| names::qualify_host(&address, "appmesh-system", domain);
    let port = |text: String, default: u32| text.parse::<u32>().unwrap_or(default);
    let (provider, sampling, was) = match backend {
        TracingBackend::Jaeger => {
            let address = flag("jaeger-address", "appmesh-jaeger.appmesh-system");
            let p = flag("jaeger-port", "9411");
            let was = format!("Jaeger at {address}:{p} (Zipkin protocol)");
            (
                ExtensionProvider {
                    name: "appmesh-jaeger".to_owned(),
                    zipkin: Some(TracingService {
                        service: service(address),
                        port: port(p, 9411),
                    }),
                    ..ExtensionProvider::default()
                },
                Number::from(100),
                was,
            )
        }
        TracingBackend::Datadog => {
            let address = flag("datadog-address", "datadog.appmesh-system");
            let p = flag("datadog-port", "8126");
            let was = format!("Datadog agent at {address}:{p}");
            (
                ExtensionProvider {
                    name: "appmesh-datadog".to_owned(),
                    datadog: Some(TracingService {
                        service: service(address),
                        port: port(p, 8126),
                    }),
                    ..ExtensionProvider::default()
                },
                Number::from(100),
                was,
            )
        }
        TracingBackend::Xray => {
            let rate = flag("xray-sampling-rate", "0.05");
            let percent = rate
                .parse::<f64>()
                .ok()
                .filter(|r| (0.0..=1.0).contains(r))
                .and_then(|r| Number::from_f64((r * 10_000.0).round() / 100.0))
                .unwrap_or_else(|| Number::from(5));
            let was = format!(
                "X-Ray through a daemon sidecar on port {}, sampling rate {rate}",
                flag("xray-daemon-port", "2000")
            );
            (
                ExtensionProvider {
                    name: "appmesh-xray".to_owned(),
                    opentelemetry: Some(TracingService {
                        service: format!("aws-otel-collector.{istio_namespace}.svc.{domain}"),
                        port: 4317,
                    }),
                    ..ExtensionProvider::default()
                },
                percent,
                was,
            )
        }
    };
    TracingSettings {
        backend,
        provider,
        sampling,
        seen_on,
        was,
    }
}

/// Where the settings come from, for messages.
fn from(settings: &TracingSettings) -> String {
    match &settings.seen_on {
        Some(d) => format!("{d} configures {}", settings.was),
        None => format!("--tracing {}: {}", settings.backend.label(), settings.was),
    }
}

/// Report the tracing and, with `--install`, make the mesh-wide Telemetry (the
/// IstioOperator, written by the Mesh module, defines the provider).
pub(crate) fn translate(ctx: &mut Context<'_>, settings: Option<TracingSettings>) {
    let Some(settings) = settings else { return };
    let subject = settings
        .seen_on
        .clone()
        .unwrap_or_else(|| ObjectRef::new("Option", None, "--tracing"));
    let provider = settings.provider.name.clone();
    if !ctx.opts.install {
        ctx.note(
            CODE_NOT_INSTALLED,
            &subject,
            "",
            format!(
                "{}; Istio traces through meshConfig.extensionProviders ({provider}) and a mesh-wide Telemetry at \
                 {}% sampling, which convert writes with --install",
                from(&settings),
                settings.sampling
            ),
        );
        return;
    }
    let istio_namespace = ctx.opts.istio_namespace.clone();
    let operator = (
        crate::istio::IstioOperator::KIND,
        istio_namespace.clone(),
        super::mesh::OPERATOR_NAME.to_owned(),
    );
    if !matches!(
        ctx.output.get_mut(&operator),
        Some(IstioObject::IstioOperator(_))
    ) {
        ctx.note(
            CODE_NOT_INSTALLED,
            &subject,
            "",
            format!(
                "{}; no IstioOperator was generated (no Mesh in the input), so the tracing provider {provider} is not \
                 installed",
                from(&settings)
            ),
        );
        return;
    }
    let spec = TelemetrySpec {
        tracing: vec![Tracing {
            providers: vec![ProviderRef {
                name: provider.clone(),
            }],
            random_sampling_percentage: Some(settings.sampling.clone()),
        }],
        ..TelemetrySpec::default()
    };
    ctx.output.insert(
        Telemetry::new(Metadata::new(TELEMETRY_NAME, istio_namespace.clone()), spec),
        &subject,
    );
    ctx.note(
        CODE_TRACING,
        &subject,
        "",
        format!(
            "{}: IstioOperator {istio_namespace}/{} defines meshConfig.extensionProviders {provider}, and Telemetry \
             {istio_namespace}/{TELEMETRY_NAME} traces every workload through it at {}% sampling",
            from(&settings),
            super::mesh::OPERATOR_NAME,
            settings.sampling
        ),
    );
    if settings.backend == TracingBackend::Xray
        && let Some(otel) = &settings.provider.opentelemetry
    {
        ctx.note(
            CODE_XRAY_COLLECTOR,
            &subject,
            "",
            format!(
                "Istio has no X-Ray tracer: its sidecars send OpenTelemetry spans to {}:{}; deploy an OpenTelemetry \
                 Collector there (e.g. the AWS Distro for OpenTelemetry) with the OTLP receiver and the awsxray \
                 exporter, with IAM rights to write to X-Ray; App Mesh's xray-daemon sidecars are no longer injected",
                otel.service, otel.port
            ),
        );
    }
}

/// The controller's stats settings: `--enable-statsd` (DogStatsD to `--statsd-address`:
/// `--statsd-port`) and `--enable-stats-tags` (mesh and node names as Envoy stats tags). Istio's
/// sidecars report standard Prometheus metrics instead; neither setting carries over.
pub(crate) fn report_stats(ctx: &mut Context<'_>) {
    let found: Vec<(ObjectRef, Vec<String>)> = ctx
        .inventory
        .workloads
        .iter()
        .filter(|w| w.object.kind == WorkloadKind::Deployment)
        .filter_map(|w| {
            let mut lost = Vec::new();
            for c in &w.object.containers {
                if bool_flag(&c.args, "enable-statsd") {
                    let address = flag_value(&c.args, "statsd-address")
                        .unwrap_or_else(|| "127.0.0.1".to_owned());
                    let port = flag_value(&c.args, "statsd-port").unwrap_or_else(|| "8125".to_owned());
                    lost.push(format!(
                        "--enable-statsd: Envoy sent DogStatsD metrics to {address}:{port}; Istio's sidecars expose \
                         Prometheus metrics (istio_requests_total, istio_request_duration_milliseconds) on port 15020 \
                         at /stats/prometheus instead: scrape them (a Datadog agent can, with its OpenMetrics check)"
                    ));
                }
                if bool_flag(&c.args, "enable-stats-tags") {
                    lost.push(
                        "--enable-stats-tags: Envoy stats carried the appmesh.mesh and appmesh.virtual_node tags; \
                         Istio's standard metrics carry source and destination workload labels instead, so \
                         dashboards and alerts keyed on the App Mesh tags need new queries"
                            .to_owned(),
                    );
                }
            }
            (!lost.is_empty()).then(|| (w.object.object_ref(), lost))
        })
        .collect();
    for (subject, lost) in found {
        for message in lost {
            ctx.note(CODE_STATS, &subject, "", message);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn bool_flags_in_go_spellings() {
        assert!(bool_flag(
            &args(&["--enable-xray-tracing=true"]),
            "enable-xray-tracing"
        ));
        assert!(bool_flag(
            &args(&["-enable-xray-tracing"]),
            "enable-xray-tracing"
        ));
        assert!(!bool_flag(
            &args(&["--enable-xray-tracing=false"]),
            "enable-xray-tracing"
        ));
        assert!(!bool_flag(
            &args(&["--enable-xray-tracing-x"]),
            "enable-xray-tracing"
        ));
    }

    #[test]
    fn each_backend_becomes_its_istio_provider_with_app_meshs_sampling() {
        let jaeger = build(
            TracingBackend::Jaeger,
            &args(&[
                "--enable-jaeger-tracing=true",
                "--jaeger-address=jaeger.tracing",
                "--jaeger-port=9411",
            ]),
            None,
            "cluster.local",
            "istio-system",
        );
        assert_eq!(
            jaeger.provider.zipkin,
            Some(TracingService {
                service: "jaeger.tracing.svc.cluster.local".into(),
                port: 9411
            })
        );
        assert_eq!(jaeger.sampling, Number::from(100));
        let datadog = build(
            TracingBackend::Datadog,
            &[],
            None,
            "cluster.local",
            "istio-system",
        );
        assert_eq!(
            datadog.provider.datadog,
            Some(TracingService {
                service: "datadog.appmesh-system.svc.cluster.local".into(),
                port: 8126
            })
        );
        let xray = build(
            TracingBackend::Xray,
            &args(&["--xray-sampling-rate=0.2"]),
            None,
            "cluster.local",
            "istio-system",
        );
        assert_eq!(xray.sampling.as_f64(), Some(20.0));
        assert_eq!(
            xray.provider.opentelemetry.as_ref().map(|o| o.port),
            Some(4317)
        );
        let default_rate = build(
            TracingBackend::Xray,
            &[],
            None,
            "cluster.local",
            "istio-system",
        );
        assert_eq!(default_rate.sampling.as_f64(), Some(5.0));
    }
}
