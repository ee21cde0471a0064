//! `kubectl appmesh2istio convert`: App Mesh manifests (or a cluster's App Mesh objects) in,
//! Istio configuration out, optionally applied to the cluster (`--apply`, `--undo`) through
//! [`crate::change`].
//!
//! Data goes to standard output only (so `convert -f x | kubectl apply -f -` works): the
//! objects `kubectl apply` takes, never the installation settings of `--install`, which go to
//! files in the install directory ([`super::install_output`]). The report and every message
//! go to standard error. Nothing is written (to standard output or files) unless the whole
//! conversion succeeded and validated, and every file is checked before the first is written.
//! With `--apply`, standard output stays empty unless `-o` is given, which then prints the
//! apply plan and its results.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::{Map, json};

use super::install_output::{self, InstallFormat, InstallOutput};
use crate::change::{self, ChangeArgs, ChangeError, CommandSpec, RunOptions, manifests, revert};
use crate::cli::{ColorChoice, FileArgs, OutputFormat, write_stdout};
use crate::cluster::inventory::read_inventory;
use crate::cluster::{Cluster, KubeArgs};
use crate::convert::{ConvertError, ConvertOptions, convert};
use crate::exit;
use crate::findings::Fidelity;
use crate::istio::IstioObject;
use crate::istio::helm::Dataplane;
use crate::load::{InputSource, Inventory, LoadOptions, load_sources};
use crate::render;
use crate::resolve::resolve;

/// `--help`'s examples and exit codes.
pub const EXAMPLES: &str = "\
Examples:
  # Convert a directory of App Mesh manifests and review the result
  kubectl appmesh2istio convert -f manifests/ -R

  # Convert the App Mesh objects of the current cluster (all namespaces)
  kubectl appmesh2istio convert > istio.yaml

  # Convert and apply in one go: plan, confirm, server-side apply, verify, undo file
  kubectl appmesh2istio convert --apply

  # See what --apply would do, as JSON, without changing anything
  kubectl appmesh2istio convert --apply --dry-run=client -o json

  # Revert an apply
  kubectl appmesh2istio convert --undo appmesh2istio-undo-20250101T120000Z.yaml

  # Or pipe to kubectl (the report still goes to stderr)
  kubectl appmesh2istio convert -f mesh.yaml | kubectl apply -f -

  # Also write Istio's installation settings (an IstioOperator for `istioctl install -f`)
  # into istio-install/; stdout keeps only what `kubectl apply` takes
  kubectl appmesh2istio convert -f mesh.yaml --install | kubectl apply -f -

  # The same settings as values files for Istio's Helm charts, with the helm commands on
  # stderr; one file per object in istio/, the install files in istio/istio-install/
  kubectl appmesh2istio convert -f mesh.yaml --install helm --output-dir istio/

  # Fail a CI job when anything could not be carried over exactly
  kubectl appmesh2istio convert -f mesh.yaml --strict --report report.json > /dev/null

Exit codes:
  0  converted (see the report for approximations); with --apply/--undo: applied and verified
  1  could not read or parse the input, found no App Mesh object in it, could not reach the
     cluster or write the output; with --apply/--undo: refused (no --yes without a terminal,
     declined, missing rights), a write failed (stops there: what was applied is reported
     and in the undo file) or verification found a difference
  2  usage error (including a bad flag value)
  3  partial: something was not converted (see the report); the rest was printed (or
     applied). With --strict, all or nothing: anything approximated or not converted means
     nothing on stdout, nothing applied, exit 3
  4  internal error: the generated configuration failed Istio validation (nothing written)
  6  --apply: objects exist that appmesh2istio does not manage; nothing was changed
     (--force-conflicts takes them over)";

/// `--report-format`: how the human report on stderr is drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum ReportFormat {
    /// One line per finding under its source object, wrapped to the terminal (istioctl
    /// analyze style; easy to grep).
    #[default]
    Lines,
    /// One table row per source object.
    Table,
}

/// `--show`: the fidelities whose source objects the report shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ShowFidelity {
    Exact,
    Approximated,
    NotConverted,
}

/// The filter `--show` values select; none given shows everything.
pub fn show_filter(values: &[ShowFidelity]) -> render::ShowFilter {
    if values.is_empty() {
        return render::ShowFilter::ALL;
    }
    render::ShowFilter {
        exact: values.contains(&ShowFidelity::Exact),
        approximated: values.contains(&ShowFidelity::Approximated),
        not_converted: values.contains(&ShowFidelity::NotConverted),
    }
}

/// What `convert` was asked to do (the binary's flags).
#[derive(Debug, Clone, Default)]
pub struct ConvertCommand {
    pub files: FileArgs,
    /// Read the App Mesh objects from the cluster (also the default without `-f`).
    pub from_cluster: bool,
    pub kube: KubeArgs,
    pub output: Option<OutputFormat>,
    pub output_dir: Option<PathBuf>,
    /// `--install`: also write Istio's installation settings, in this format.
    pub install: Option<InstallFormat>,
    /// `--install-dir`; see [`install_output::install_dir`] for the default.
    pub install_dir: Option<PathBuf>,
    pub no_preserve_defaults: bool,
    pub report: Option<PathBuf>,
    pub strict: bool,
    /// Load what can be read; each file that cannot is an AMI1050 finding (exit 3).
    pub skip_unreadable: bool,
    pub quiet: bool,
    pub report_format: ReportFormat,
    /// Which source objects the human report shows (the summary counts all).
    pub show: render::ShowFilter,
    pub color: ColorChoice,
    pub cluster_domain: String,
    pub ingress_gateway_selector: String,
    /// `--flagger-mesh-provider`: Flagger's `-mesh-provider` when the input lacks its Deployment.
    pub flagger_mesh_provider: Option<String>,
    /// `--tracing`: the App Mesh controller's tracing backend when the input lacks it.
    pub tracing: Option<crate::convert::tracing::TracingBackend>,
    pub apply: bool,
    pub change: ChangeArgs,
    pub force_conflicts: bool,
    pub undo: Option<PathBuf>,
    /// `--target`: Istio's routing APIs or Gateway API routes.
    pub target: crate::convert::Target,
    /// `--gateway-api-channel`: which Gateway API CRDs the cluster has.
    pub gateway_api_channel: crate::convert::GatewayApiChannel,
}

/// A usage error (exit 2): a flag that only means something with `--apply` or `--undo`
/// given without them, or a flag value that cannot be used. The message says why.
pub fn usage_error(command: &ConvertCommand) -> Option<String> {
    if let Err(Failure::Message(message)) = parse_selector(&command.ingress_gateway_selector) {
        return Some(message);
    }
    if !crate::k8s::is_dns1123_subdomain(&command.cluster_domain) {
        return Some(format!(
            "--cluster-domain {:?} is not a DNS name (the cluster's DNS domain, e.g. cluster.local)",
            command.cluster_domain
        ));
    }
    if let (Some(install), Some(output)) = (&command.install_dir, &command.output_dir)
        && install_output::same_directory(install, output)
    {
        return Some(format!(
            "--install-dir {} is the --output-dir: give it a directory of its own (the default is {})",
            install.display(),
            output.join(install_output::DEFAULT_INSTALL_DIR).display()
        ));
    }
    if command.apply && command.target != crate::convert::Target::Istio {
        return Some(
            "--apply writes --target istio output only; print the Gateway API output (-o yaml) and apply it with kubectl".into(),
        );
    }
    if command.apply || command.undo.is_some() {
        return None;
    }
    let flag = if command.force_conflicts {
        Some("--force-conflicts")
    } else {
        command.change.first_given()
    };
    flag.map(|f| format!("{f} needs --apply (or --undo)"))
}

/// Why a run stopped, printed as `error: ...` (exit 1).
#[derive(Debug, thiserror::Error)]
enum Failure {
    #[error("{0}")]
    Message(String),
    #[error(transparent)]
    Change(#[from] ChangeError),
}

fn message(context: &str, e: impl std::fmt::Display) -> Failure {
    Failure::Message(format!("{context}: {e}"))
}

/// Run `convert`; returns the exit code.
pub fn run(command: &ConvertCommand) -> i32 {
    // The whole pipeline runs on the loader's large-stack thread, so parsing and conversion
    // share one thread (and one allocator arena): see `load::with_large_stack`.
    match crate::load::with_large_stack(|| dispatch(command)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e}");
            exit::FAILURE
        }
    }
}

/// A runtime for cluster access (kube's client needs one).
fn runtime() -> Result<tokio::runtime::Runtime, Failure> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| message("cannot start the async runtime", e))
}

fn dispatch(command: &ConvertCommand) -> Result<i32, Failure> {
    if let Some(file) = &command.undo {
        return runtime()?.block_on(run_undo(command, file));
    }
    let from_cluster = command.from_cluster || command.files.filenames.is_empty();
    if from_cluster || command.apply {
        runtime()?.block_on(run_converting(command, from_cluster))
    } else {
        let Some(inventory) = read_files(command)? else {
            return Ok(exit::FAILURE);
        };
        convert_and_output(command, &inventory, &files_description(command), None)
    }
}

async fn run_converting(command: &ConvertCommand, from_cluster: bool) -> Result<i32, Failure> {
    let mut cluster = None;
    let mut inputs = files_description(command);
    let inventory = if from_cluster {
        let connected = match command
            .kube
            .connect(crate::cluster::CommandName::Convert)
            .await
        {
            Ok(c) => c,
            Err(e) if !command.from_cluster => {
                eprintln!(
                    "error: no input: give App Mesh manifests with -f FILE|DIR|-, or read them from a cluster \
                     (--kubeconfig, --context, --from-cluster; see --help): {e}"
                );
                return Ok(exit::FAILURE);
            }
            Err(e) => {
                eprintln!("error: {e}");
                return Ok(exit::FAILURE);
            }
        };
        let scope = command.kube.scope(true, &connected.default_namespace);
        let read = match read_inventory(&connected, &scope).await {
            Ok(read) => read,
            Err(e) => {
                eprintln!("error: {e}");
                return Ok(exit::FAILURE);
            }
        };
        let context = connected
            .context
            .as_deref()
            .map(|c| format!("context {c}, "))
            .unwrap_or_default();
        inputs = format!("the cluster ({context}{scope})");
        if !command.quiet {
            let counts: Vec<String> = read
                .counts
                .iter()
                .map(|(kind, n)| format!("{n} {kind}"))
                .collect();
            eprintln!(
                "read from the cluster ({context}{scope}): {}",
                counts.join(", ")
            );
            if !read.kinds_not_served.is_empty() {
                eprintln!(
                    "note: the cluster does not serve {} (skipped)",
                    read.kinds_not_served.join(", ")
                );
            }
        }
        cluster = Some(connected);
        read.inventory
    } else {
        let Some(inventory) = read_files(command)? else {
            return Ok(exit::FAILURE);
        };
        inventory
    };
    if !command.apply {
        let code = convert_and_output(command, &inventory, &inputs, None)?;
        print_request_stats(command, cluster.as_ref());
        return Ok(code);
    }
    let cluster = match cluster {
        Some(c) => c,
        None => match command
            .kube
            .connect(crate::cluster::CommandName::Convert)
            .await
        {
            Ok(c) => c,
            Err(e) => {
                eprintln!("error: {e}");
                return Ok(exit::FAILURE);
            }
        },
    };
    let mut converted = None;
    let code = convert_and_output(command, &inventory, &inputs, Some(&mut converted))?;
    let code = match converted {
        // A partial conversion applies what was converted; the exit code still says partial.
        Some(objects) if code == exit::SUCCESS || code == exit::PARTIAL => {
            match run_apply(command, &cluster, &objects).await? {
                exit::SUCCESS => code,
                failed => failed,
            }
        }
        _ => code,
    };
    print_request_stats(command, Some(&cluster));
    Ok(code)
}

fn print_request_stats(command: &ConvertCommand, cluster: Option<&Cluster>) {
    if let Some(cluster) = cluster
        && command.kube.verbosity > 0
    {
        eprintln!(
            "{} API requests ({} retries)",
            cluster.stats.requests(),
            cluster.stats.retries()
        );
    }
}

/// What `-f` named, for messages: `mesh.yaml, manifests/`, or standard input.
fn files_description(command: &ConvertCommand) -> String {
    let names: Vec<String> = command
        .files
        .filenames
        .iter()
        .map(|p| {
            if p.as_os_str() == "-" {
                "standard input".to_owned()
            } else {
                p.display().to_string()
            }
        })
        .collect();
    names.join(", ")
}

fn read_sources(files: &FileArgs) -> Result<Vec<InputSource>, Failure> {
    let mut sources = Vec::with_capacity(files.filenames.len());
    for path in &files.filenames {
        if path.as_os_str() == "-" {
            let mut bytes = Vec::new();
            std::io::stdin()
                .read_to_end(&mut bytes)
                .map_err(|e| message("cannot read standard input", e))?;
            sources.push(InputSource::stdin(bytes));
        } else {
            sources.push(InputSource::path(path.clone(), files.recursive));
        }
    }
    Ok(sources)
}

/// The inventory of the -f sources (`-n` is the namespace of objects without one, as in
/// `kubectl apply -f`), or `None` after printing why it could not be loaded.
fn read_files(command: &ConvertCommand) -> Result<Option<Inventory>, Failure> {
    let sources = read_sources(&command.files)?;
    let options = LoadOptions {
        default_namespace: command
            .kube
            .namespace
            .clone()
            .unwrap_or_else(|| LoadOptions::default().default_namespace),
        skip_unreadable: command.skip_unreadable,
        ..LoadOptions::default()
    };
    match load_sources(&sources, &options) {
        Ok(inv) => Ok(Some(inv)),
        Err(e) => {
            eprintln!("error: {e}");
            // Stopping is the safe default; name the way out when other files were given.
            let several = command.files.filenames.len() > 1
                || command.files.filenames.iter().any(|p| p.is_dir());
            if several && !matches!(e, crate::load::LoadError::NoInputFiles { .. }) {
                eprintln!(
                    "hint: nothing was converted; to convert the other files and list this one in \
                     the report (exit code 3), rerun with --skip-unreadable"
                );
            }
            Ok(None)
        }
    }
}

/// `--ingress-gateway-selector`: one or more `KEY=VALUE` pairs, each a valid label (the
/// Gateway's selector; an empty one would select every pod of the mesh).
fn parse_selector(text: &str) -> Result<BTreeMap<String, String>, Failure> {
    let flag = "--ingress-gateway-selector";
    let mut selector = BTreeMap::new();
    for pair in text.split(',').filter(|p| !p.trim().is_empty()) {
        let (key, value) = pair
            .split_once('=')
            .ok_or_else(|| Failure::Message(format!("{flag}: {pair:?} is not KEY=VALUE")))?;
        let (key, value) = (key.trim(), value.trim());
        crate::validate::primitives::label_key(key)
            .and_then(|()| crate::validate::primitives::label_value(value))
            .map_err(|reason| Failure::Message(format!("{flag}: {pair:?}: {reason}")))?;
        selector.insert(key.to_owned(), value.to_owned());
    }
    if selector.is_empty() {
        return Err(Failure::Message(format!(
            "{flag} needs at least one KEY=VALUE (the labels of the ingress gateway pods)"
        )));
    }
    Ok(selector)
}

/// Where the converted objects go, rendered and checked, not yet written.
enum Output {
    /// `--apply` takes them.
    None,
    Directory(render::DirectoryWrite),
    Stdout(String),
}

fn install_dir(command: &ConvertCommand) -> PathBuf {
    install_output::install_dir(
        command.install_dir.as_deref(),
        command.output_dir.as_deref(),
    )
}

/// With `--install`: the install files, rendered and checked against the install directory
/// (nothing written yet). Says so when there is nothing to install.
fn plan_install(
    command: &ConvertCommand,
    objects: &[IstioObject],
) -> Result<Option<InstallOutput>, Failure> {
    let Some(format) = command.install else {
        return Ok(None);
    };
    let dir = install_dir(command);
    // Ambient installs (cni, ztunnel, `profile: ambient`) wait for `convert --target`.
    let planned = install_output::plan(format, Dataplane::Sidecar, &dir, objects)
        .map_err(|e| Failure::Message(e.to_string()))?;
    if planned.is_none() {
        eprintln!(
            "note: --install: nothing asks for mesh-wide settings (no Mesh, no extra ingress gateway \
             port, no access-log provider), so nothing was written to {}",
            dir.display()
        );
    }
    Ok(planned)
}

/// Convert, then either write the objects (stdout or --output-dir) or, with `apply_to`, hand
/// them over for --apply (nothing on stdout). The report goes to stderr either way.
///
/// Exit codes: no App Mesh object in `inputs` (and nothing reported about one) is a failure,
/// as kubectl's "no objects passed to apply"; something not converted is partial (exit 3,
/// the rest is printed or applied); with `--strict` anything not exact withholds the whole
/// output (exit 3), so `convert --strict | kubectl apply -f -` applies nothing.
fn convert_and_output(
    command: &ConvertCommand,
    inventory: &Inventory,
    inputs: &str,
    apply_to: Option<&mut Option<Vec<IstioObject>>>,
) -> Result<i32, Failure> {
    let resolved = resolve(inventory);
    let opts = ConvertOptions {
        preserve_defaults: !command.no_preserve_defaults,
        install: command.install.is_some(),
        cluster_domain: command.cluster_domain.clone(),
        ingress_gateway_selector: parse_selector(&command.ingress_gateway_selector)?,
        target: command.target,
        gateway_api_channel: command.gateway_api_channel,
        flagger_mesh_provider: command.flagger_mesh_provider.clone(),
        tracing: command.tracing,
        ..ConvertOptions::default()
    };
    let conversion = match convert(inventory, &resolved, &opts) {
        Ok(c) => c,
        Err(ConvertError::InvalidOutput(violations)) => {
            eprintln!(
                "error: the generated Istio configuration is invalid; this is a bug in appmesh2istio and nothing was written:"
            );
            for v in violations {
                eprintln!("  {v}");
            }
            return Ok(exit::INTERNAL);
        }
    };

    let worst = conversion.report.worst_fidelity();
    if inventory.appmesh.is_empty()
        && inventory.flagger.is_empty()
        && worst != Fidelity::NotConverted
    {
        eprintln!("error: no App Mesh objects found in {inputs}");
        return Ok(exit::FAILURE);
    }
    let partial = worst == Fidelity::NotConverted;
    let withheld = command.strict && worst != Fidelity::Exact;

    // Render and check everything before writing anything, so a failure never leaves half an
    // output.
    let applying = apply_to.is_some();
    // What to run with the install files, printed after the report so it is read last.
    let mut install_steps = Vec::new();
    if !withheld {
        let install = plan_install(command, &conversion.objects)?;
        // Standard output and --output-dir take what `kubectl apply` takes; the installation
        // settings are in the install files.
        let appliable: Vec<&IstioObject> = conversion
            .objects
            .iter()
            .filter(|o| render::Manifest::kubectl_appliable(*o))
            .collect();
        let output = if applying {
            Output::None
        } else if let Some(dir) = &command.output_dir {
            let install_dir = install_dir(command);
            let keep = install_output::entry_inside(dir, &install_dir);
            Output::Directory(
                render::plan_output_dir(dir, &appliable, keep.as_deref())
                    .map_err(|e| Failure::Message(e.to_string()))?,
            )
        } else {
            Output::Stdout(
                match command.output.unwrap_or(OutputFormat::Yaml) {
                    OutputFormat::Yaml => render::to_yaml_stream(&appliable),
                    OutputFormat::Json => render::to_json_list(&appliable),
                }
                .map_err(|e| Failure::Message(e.to_string()))?,
            )
        };
        let stdout_text = match output {
            Output::Directory(files) => {
                let dir = files.dir().to_path_buf();
                let written = files.write().map_err(|e| Failure::Message(e.to_string()))?;
                eprintln!("wrote {} files to {}", written.len(), dir.display());
                None
            }
            Output::Stdout(text) => Some(text),
            Output::None => None,
        };
        if let Some(install) = install {
            install
                .files
                .write()
                .map_err(|e| Failure::Message(e.to_string()))?;
            install_steps = install.next_steps;
        }
        if let Some(text) = stdout_text {
            write_stdout(&text).map_err(|e| message("cannot write to standard output", e))?;
        }
    }

    if let Some(path) = &command.report {
        let json =
            render::report_json(&conversion.report).map_err(|e| Failure::Message(e.to_string()))?;
        std::fs::write(path, json)
            .map_err(|e| message(&format!("cannot write report {}", path.display()), e))?;
    }
    if !command.quiet {
        let color = command.color.enabled_for_stderr();
        let text = match command.report_format {
            ReportFormat::Lines => render::report_lines(
                &conversion.report,
                &render::ReportStyle {
                    color,
                    width: render::report_columns(),
                    show: command.show,
                },
            ),
            ReportFormat::Table => render::report_table(
                &conversion.report,
                color,
                render::report_width(),
                command.show,
            ),
        };
        eprint!("{text}");
    }
    for line in &install_steps {
        eprintln!("{line}");
    }
    if withheld {
        let what = if applying {
            "nothing was applied"
        } else {
            "nothing was printed"
        };
        eprintln!("--strict: not everything was converted exactly, so {what} (exit code 3)");
        return Ok(exit::PARTIAL);
    }
    if partial {
        let rest = if applying {
            "the rest is applied"
        } else {
            "the rest was printed"
        };
        eprintln!(
            "partial: {} not converted (see the report); {rest} (exit code 3)",
            render::plural(conversion.report.summary.not_converted, "source object")
        );
    }
    if let Some(slot) = apply_to {
        *slot = Some(conversion.objects);
    }
    Ok(if partial {
        exit::PARTIAL
    } else {
        exit::SUCCESS
    })
}

fn run_options(command: &ConvertCommand, field_validation: bool) -> RunOptions {
    RunOptions {
        field_validation,
        // One write at a time, in dependency order: the first failure stops the run with
        // exactly the objects before it applied.
        max_in_flight: 1,
        stop_on_failure: true,
        color: command.color.enabled_for_stderr(),
        output: command.output,
        verbosity: command.kube.verbosity,
        ..RunOptions::new(&command.change)
    }
}

fn conflicts_message(count: usize) -> String {
    format!(
        "{count} object(s) already exist and are not managed by appmesh2istio (no label \
         app.kubernetes.io/managed-by=appmesh2istio): refusing to change them; nothing was changed. \
         Rerun with --force-conflicts to take them over."
    )
}

const APPLY: CommandSpec = CommandSpec {
    name: "convert --apply",
    plan_kind: "ApplyPlan",
    plan_title: "plan",
    question: "Apply",
    verified: "read back as applied",
    undo_command: Some("kubectl appmesh2istio convert --undo"),
    nothing_to_do: None,
    blocked_message: conflicts_message,
    blocked_exit: exit::CONFLICTS,
};

fn no_conflicts(_: usize) -> String {
    "undo cannot go on".into()
}

const UNDO: CommandSpec = CommandSpec {
    name: "convert --undo",
    plan_kind: "UndoPlan",
    plan_title: "undo plan",
    question: "Undo",
    verified: "deleted or restored",
    undo_command: None,
    nothing_to_do: Some("nothing to undo"),
    blocked_message: no_conflicts,
    blocked_exit: exit::FAILURE,
};

/// `convert --apply`: returns the exit code.
async fn run_apply(
    command: &ConvertCommand,
    cluster: &Cluster,
    objects: &[IstioObject],
) -> Result<i32, Failure> {
    let options = Arc::new(manifests::ManifestOptions {
        field_manager: command.change.field_manager.clone(),
        force_conflicts: command.force_conflicts,
    });
    let (targets, not_applied) = manifests::targets(objects, &options)?;
    // Only `--install` generates an IstioOperator; it was written to the install directory.
    let reason = match command.install {
        Some(format) => install_output::not_applied_reason(format, &install_dir(command)),
        None => "not a cluster object: input for `istioctl install -f`".to_owned(),
    };
    // Canaries, Rollouts and their Services replace objects the user's tools own (Flagger,
    // Argo, GitOps); --apply writes Istio objects only and leaves those to the user.
    let reason_for = |key: &crate::change::ObjectKey| {
        if key.kind == crate::istio::IstioOperator::KIND {
            reason.clone()
        } else {
            "not an Istio object: it replaces what Flagger, Argo Rollouts or your manifests own; review it in \
             `convert -o yaml` and apply it where that object is managed, after the Istio objects"
                .to_owned()
        }
    };
    for key in &not_applied {
        eprintln!("note: {key} is not applied: {}", reason_for(key));
    }
    if targets.is_empty() {
        eprintln!("nothing to apply: the conversion generated no objects");
        return Ok(exit::SUCCESS);
    }
    let (plan, facts) = match manifests::plan(cluster, targets).await {
        Ok(planned) => planned,
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(exit::FAILURE);
        }
    };
    let run_options = run_options(command, facts.field_validation);
    let mut header = Map::new();
    header.insert("serverVersion".into(), json!(facts.version));
    header.insert("fieldManager".into(), json!(run_options.field_manager));
    header.insert("forceConflicts".into(), json!(command.force_conflicts));
    if !not_applied.is_empty() {
        header.insert(
            "notApplied".into(),
            json!(not_applied
                .iter()
                .map(|k| json!({"apiVersion": k.api_version, "kind": k.kind, "namespace": k.namespace, "name": k.name,
                    "reason": reason_for(k)}))
                .collect::<Vec<_>>()),
        );
    }
    let report = change::run(cluster, &APPLY, &plan, &run_options, header).await?;
    Ok(report.exit_code)
}

/// `convert --undo FILE`: returns the exit code.
async fn run_undo(command: &ConvertCommand, file: &Path) -> Result<i32, Failure> {
    let record = match change::UndoRecord::read(file) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(exit::FAILURE);
        }
    };
    let cluster = match command
        .kube
        .connect(crate::cluster::CommandName::Convert)
        .await
    {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(exit::FAILURE);
        }
    };
    if record.server != cluster.server {
        eprintln!(
            "warning: {} was written for the cluster at {}; this is {}",
            file.display(),
            record.server,
            change::engine::cluster_name(&cluster)
        );
    }
    let plan =
        match change::Plan::read(&cluster, revert::changes(&record), revert::VOCABULARY, 8).await {
            Ok(plan) => plan,
            Err(e) => {
                eprintln!("error: {e}");
                return Ok(exit::FAILURE);
            }
        };
    let mut options = run_options(command, false);
    // Undo writes with the field manager that made the changes.
    options.field_manager = record.field_manager.clone();
    options.undo_file = None;
    let mut header = Map::new();
    header.insert("undoFile".into(), json!(file.display().to_string()));
    let report = change::run(&cluster, &UNDO, &plan, &options, header).await?;
    if command.kube.verbosity > 0 {
        eprintln!(
            "{} API requests ({} retries)",
            cluster.stats.requests(),
            cluster.stats.retries()
        );
    }
    Ok(report.exit_code)
}
