//! Translation of resolved App Mesh objects into Istio configuration.
//!
//! One module per App Mesh kind; each reads the [`Resolved`] graph and adds Istio objects to
//! the shared [`OutputSet`] plus findings to the report. Nothing is printed from here: the
//! result is validated as a whole before any caller may render it.

use std::collections::BTreeMap;

use crate::findings::Finding;
use crate::istio::IstioObject;
use crate::load::Inventory;
use crate::origin::ObjectRef;
use crate::render::Manifest;
use crate::report::{ConversionReport, ReportBuilder};
use crate::resolve::Resolved;
use crate::validate::{self, Violation, ViolationSeverity};

pub(crate) mod access_log;
pub(crate) mod argo;
mod backend_group;
pub mod defaults;
pub mod destinations;
pub(crate) mod flagger;
mod gateway_api;
mod gateway_route;
pub(crate) mod matches;
mod mesh;
pub mod names;
pub mod output;
pub(crate) mod retries;
mod route_idle;
pub mod tracing;
mod virtual_gateway;
pub(crate) mod virtual_node;
mod virtual_router;
mod virtual_service;

pub use output::{OutputKey, OutputSet};

/// Annotation naming the App Mesh object(s) a generated object came from.
pub const SOURCE_ANNOTATION: &str = "appmesh2istio.io/source";

/// Catalog code for a source that produced nothing and has no finding saying why.
const SILENT_SOURCE: &str = "AMI2004";

/// Catalog code for a generated object that breaks a bound of Istio's CRD schema.
pub(crate) const CODE_CRD_LIMIT: &str = "AMI2124";

/// How to convert.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConvertOptions {
    /// Write App Mesh's invisible defaults (timeouts, retries) explicitly.
    pub preserve_defaults: bool,
    /// Also generate an IstioOperator for `istioctl install -f`.
    pub install: bool,
    /// The cluster DNS domain used to qualify host names.
    pub cluster_domain: String,
    /// Pod labels of the Istio ingress gateway that takes over from VirtualGateways.
    pub ingress_gateway_selector: BTreeMap<String, String>,
    /// Namespace of the Istio ingress gateway pods (where gateway TLS secrets must live).
    pub ingress_gateway_namespace: String,
    /// Istio's root namespace (mesh-wide policies).
    pub istio_namespace: String,
    /// Which routing API the output uses.
    pub target: Target,
    /// Which Gateway API CRDs the cluster has (what `--target gateway-api` may write).
    pub gateway_api_channel: GatewayApiChannel,
    /// Flagger's `-mesh-provider` when the input does not show its Deployment: decides what
    /// Canaries without `spec.provider` drive.
    pub flagger_mesh_provider: Option<String>,
    /// `--tracing`: the App Mesh controller's tracing backend when the input does not show
    /// the controller Deployment.
    pub tracing: Option<tracing::TracingBackend>,
}

/// `convert --target`: Istio's own routing APIs, or Kubernetes Gateway API routes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Target {
    /// VirtualService, Gateway, ... (`networking.istio.io`).
    #[default]
    Istio,
    /// HTTPRoute/TCPRoute with Service parents (GAMMA), plus Istio's policies.
    GatewayApi,
}

/// The Gateway API release channel whose CRDs are installed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum GatewayApiChannel {
    /// No TCPRoute, no HTTPRoute `retry`.
    #[default]
    Standard,
    Experimental,
}

impl Default for ConvertOptions {
    fn default() -> Self {
        ConvertOptions {
            preserve_defaults: true,
            install: false,
            cluster_domain: "cluster.local".to_owned(),
            ingress_gateway_selector: BTreeMap::from([(
                "istio".to_owned(),
                "ingressgateway".to_owned(),
            )]),
            ingress_gateway_namespace: "istio-system".to_owned(),
            istio_namespace: "istio-system".to_owned(),
            target: Target::Istio,
            gateway_api_channel: GatewayApiChannel::Standard,
            flagger_mesh_provider: None,
            tracing: None,
        }
    }
}

/// The outcome of a conversion: valid Istio objects, sorted, and the report.
#[derive(Debug)]
pub struct Conversion {
    pub objects: Vec<IstioObject>,
    pub report: ConversionReport,
}

#[derive(Debug, thiserror::Error)]
pub enum ConvertError {
    /// Our own output broke an Istio rule: a bug, never printed as if valid.
    #[error("generated configuration failed Istio validation ({} violations)", .0.len())]
    InvalidOutput(Vec<Violation>),
}

/// What every translation module works with.
pub struct Context<'a> {
    pub inventory: &'a Inventory,
    pub resolved: &'a Resolved<'a>,
    pub opts: &'a ConvertOptions,
    pub output: OutputSet,
    pub report: ReportBuilder,
    /// App Mesh objects Flagger generated, with their Canary: not converted as ordinary
    /// objects (the Flagger module reports them).
    pub flagger_managed: BTreeMap<ObjectRef, ObjectRef>,
}

impl Context<'_> {
    /// Whether `object` was generated by Flagger for a Canary (and so is not converted).
    pub fn managed_by_flagger(&self, object: &ObjectRef) -> bool {
        self.flagger_managed.contains_key(object)
    }
}

impl Context<'_> {
    pub fn finding(&mut self, finding: Finding) {
        self.report.finding(finding);
    }

    /// Shorthand for a finding about `subject` at `field`.
    pub fn note(
        &mut self,
        code: &str,
        subject: &ObjectRef,
        field: &str,
        message: impl Into<String>,
    ) {
        let mut f = Finding::new(code, subject.clone(), message);
        if !field.is_empty() {
            f = f.at_field(field);
        }
        self.report.finding(f);
    }

    /// Qualify a host clients call, relative to `namespace`.
    pub fn qualify(&self, host: &str, namespace: &str) -> String {
        names::qualify_host(host, namespace, &self.opts.cluster_domain)
    }
}

/// Convert everything in `inventory` (as resolved) into Istio configuration.
pub fn convert(
    inventory: &Inventory,
    resolved: &Resolved<'_>,
    opts: &ConvertOptions,
) -> Result<Conversion, ConvertError> {
    let mut ctx = Context {
        inventory,
        resolved,
        opts,
        output: OutputSet::default(),
        report: ReportBuilder::default(),
        flagger_managed: flagger::managed_objects(inventory, opts.flagger_mesh_provider.as_deref()),
    };
    for sourced in &inventory.appmesh {
        ctx.report
            .source(&sourced.object.object_ref(), Some(&sourced.origin));
    }
    ctx.report.findings(inventory.findings.iter().cloned());
    ctx.report.findings(resolved.findings.iter().cloned());

    translate(&mut ctx);

    let Context {
        output, mut report, ..
    } = ctx;
    let fitting: Vec<(IstioObject, Vec<ObjectRef>)> = output
        .finish()
        .into_iter()
        .filter(|(object, sources)| fits_crd_limits(object, sources, &mut report))
        .collect();
    let (objects, sources): (Vec<IstioObject>, Vec<Vec<ObjectRef>>) = match opts.target {
        Target::Istio => fitting,
        Target::GatewayApi => gateway_api::translate(fitting, resolved, opts, &mut report),
    }
    .into_iter()
    .unzip();
    let mut violations = validate::validate_all(&objects);
    if !opts.install {
        // Custom access-log providers live in meshConfig, which only `--install` writes; the
        // node and gateway modules already report what to add, so Istio's "provider not
        // defined" warning would only repeat it.
        violations.retain(|v| v.rule != "TM-PROVIDER");
    }
    let (errors, warnings): (Vec<Violation>, Vec<Violation>) = violations
        .into_iter()
        .partition(|v| v.severity == ViolationSeverity::Error);
    if !errors.is_empty() {
        return Err(ConvertError::InvalidOutput(errors));
    }
    // An Istio warning on a generated object is about what its sources asked for.
    let index: hashbrown::HashMap<ObjectRef, usize> = if warnings.is_empty() {
        hashbrown::HashMap::new()
    } else {
        objects
            .iter()
            .enumerate()
            .map(|(i, o)| (o.object_ref(), i))
            .collect()
    };
    for finding in validate::into_findings(warnings) {
        let object_sources = index.get(&finding.subject).and_then(|&i| sources.get(i));
        for source in object_sources.into_iter().flatten() {
            let mut f = finding.clone();
            f.message = format!(
                "{} {}: {}",
                finding.subject,
                f.field.take().unwrap_or_default(),
                f.message
            );
            f.subject = source.clone();
            report.finding(f);
        }
    }
    for (object, object_sources) in objects.iter().zip(&sources) {
        let produced = object.object_ref();
        for source in object_sources {
            report.produced(source, &produced);
        }
    }
    report.flag_silent_sources(|subject| {
        Finding::new(
            SILENT_SOURCE,
            subject.clone(),
            "no Istio object was generated for it and no reason was given",
        )
    });
    report.set_generated(objects.len());
    let mut report = report.finish(opts.preserve_defaults);
    crate::load::locate::place_findings(&mut report, &inventory.texts);
    Ok(Conversion { objects, report })
}

/// Whether `object` is within the size and range bounds of Istio's CRD schema. An object
/// that is not (e.g. a Sidecar selecting pods by more than 256 labels) would be refused by
/// the API server; it is not generated, and each of its App Mesh sources gets a finding.
fn fits_crd_limits(
    object: &IstioObject,
    sources: &[ObjectRef],
    report: &mut ReportBuilder,
) -> bool {
    let broken = validate::crd_limits::violations(object);
    let Some(first) = broken.first() else {
        return true;
    };
    let more = match broken.len() {
        1 => String::new(),
        n => format!(" (and {} more bounds)", n - 1),
    };
    for source in sources {
        report.finding(Finding::new(
            CODE_CRD_LIMIT,
            source.clone(),
            format!(
                "{} is not generated: its {} {}{more}",
                object.object_ref(),
                first.field,
                first.message
            ),
        ));
    }
    false
}

/// The order matters only for naming: objects that own a host's name are created first.
fn translate(ctx: &mut Context<'_>) {
    // First: per-node objects (Sidecar, ServiceEntry, subsets) take the plain names.
    virtual_node::convert_virtual_nodes(ctx);
    backend_group::convert_backend_groups(ctx);
    virtual_service::convert_virtual_services(ctx);
    // Gateways (and the VirtualServices of their routes), then the mesh-wide settings, which
    // collect the ingress ports and access-log providers of everything before.
    virtual_gateway::translate(ctx);
    mesh::translate(ctx);
    let tracing = tracing::settings(ctx);
    tracing::translate(ctx, tracing);
    tracing::report_stats(ctx);
    // Canaries last: their Sidecars take the names of the Flagger VirtualNodes they replace.
    flagger::translate(ctx);
    // Rollouts name the mesh VirtualServices made above.
    argo::translate(ctx);
}

impl Manifest for IstioObject {
    fn kind(&self) -> &str {
        IstioObject::kind(self)
    }
    fn name(&self) -> &str {
        IstioObject::name(self)
    }
    fn namespace(&self) -> Option<&str> {
        IstioObject::namespace(self)
    }
    fn kubectl_appliable(&self) -> bool {
        !matches!(self, IstioObject::IstioOperator(_))
    }
}
