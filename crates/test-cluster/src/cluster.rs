//! `TestCluster`: etcd, kube-apiserver and (optionally) kube-controller-manager
//! on loopback, with the App Mesh and Istio CRDs, the injector webhooks and the
//! kubelet stand-in.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use k8s_openapi::api::core::v1::Namespace;
use kube::api::{Api, ObjectMeta, PostParams};

use crate::access::{self, Endpoint};
use crate::background::{Background, run_on};
use crate::binaries;
use crate::crds;
use crate::injectors::Injectors;
use crate::kubelet::Kubelet;
use crate::pki::{CertificateAuthority, ServingCert};
use crate::process::{ManagedProcess, Watchdog, free_port};

/// Set to `1` (or `CI=true`) to turn "test cluster unavailable" into a test
/// failure instead of a skip.
pub const REQUIRE_CLUSTER_ENV: &str = "APPMESH2ISTIO_REQUIRE_CLUSTER";

/// What a cluster runs besides etcd and the apiserver.
#[derive(Clone, Debug)]
pub struct ClusterOptions {
    /// kube-controller-manager: Deployments create ReplicaSets and Pods,
    /// namespaces finish deleting, garbage collection runs.
    pub controller_manager: bool,
    /// `--authorization-mode=RBAC` (else `AlwaysAllow`); needed for
    /// restricted identities to be restricted.
    pub rbac: bool,
    /// The kubelet stand-in (binds pods to a fake Node and marks them Running).
    pub kubelet: bool,
    /// App Mesh and Istio sidecar injectors and the App Mesh controller's
    /// defaulting webhook, served by this process.
    pub injector_webhooks: bool,
    /// Install the App Mesh and Istio CRDs from `../shared/crds/`.
    pub install_crds: bool,
    /// An audit log of every request at Metadata level ([`TestCluster::audit_events`]).
    /// Off by default: it costs a file write per request.
    pub audit: bool,
}

impl Default for ClusterOptions {
    fn default() -> Self {
        Self {
            controller_manager: true,
            rbac: true,
            kubelet: true,
            injector_webhooks: true,
            install_crds: true,
            audit: false,
        }
    }
}

impl ClusterOptions {
    /// etcd and the apiserver only: the fastest start.
    pub fn minimal() -> Self {
        Self {
            controller_manager: false,
            rbac: false,
            kubelet: false,
            injector_webhooks: false,
            install_crds: false,
            audit: false,
        }
    }
}

pub struct TestCluster {
    dir: PathBuf,
    bin_dir: PathBuf,
    endpoint: Endpoint,
    admin_token_file: PathBuf,
    kubeconfig_path: PathBuf,
    options: ClusterOptions,
    processes: Mutex<Vec<ManagedProcess>>,
    watchdog: Mutex<Watchdog>,
    // Dropped (shut down) explicitly in `Drop`, before the processes stop.
    background: Mutex<Background>,
    admin: kube::Client,
    kubelet: Option<Kubelet>,
    injectors: Option<Injectors>,
    sequence: AtomicU64,
    startup_time: Duration,
    proxy_cert: ServingCert,
}

static SHARED: OnceLock<Result<TestCluster, String>> = OnceLock::new();

impl TestCluster {
    /// The cluster shared by every test of this test process, started on first
    /// use with [`ClusterOptions::default`]. Never dropped: its processes are
    /// stopped by the watchdog when the process ends. Give each test its own
    /// namespace ([`TestCluster::fresh_namespace`]).
    pub fn shared() -> Result<&'static TestCluster> {
        SHARED
            .get_or_init(|| {
                Self::start(ClusterOptions::default()).map_err(|error| format!("{error:#}"))
            })
            .as_ref()
            .map_err(|message| anyhow!("{message}"))
    }

    /// A private cluster, stopped when dropped (and by the watchdog if the
    /// process dies first). Builds the binaries first if they are missing.
    pub fn start(options: ClusterOptions) -> Result<TestCluster> {
        let bin_dir = binaries::ensure_control_plane().map_err(|reason| anyhow!(reason))?;
        Self::start_with_binaries(options, bin_dir)
    }

    fn start_with_binaries(options: ClusterOptions, bin_dir: PathBuf) -> Result<TestCluster> {
        let started = Instant::now();
        let crd_documents = if options.install_crds {
            let shared = binaries::shared_dir();
            if !shared.join("crds").is_dir() {
                bail!("{} not found (CRDs are read from there)", shared.display());
            }
            crds::load_crd_documents(&shared)?
        } else {
            Vec::new()
        };

        let dir = create_cluster_dir()?;
        let watchdog = Watchdog::start(&dir)?;
        let background = Background::new()?;
        let mut boot = Boot {
            dir,
            bin_dir,
            watchdog: Some(watchdog),
            background: Some(background),
            processes: Vec::new(),
        };
        let certs_dir = boot.dir.join("pki");
        std::fs::create_dir_all(&certs_dir)?;
        let ca = CertificateAuthority::generate("appmesh2istio test cluster CA")?;
        let serving = ca.issue_loopback_serving_cert(
            "kube-apiserver",
            &["kubernetes", "kubernetes.default", "kubernetes.default.svc"],
        )?;
        std::fs::write(certs_dir.join("ca.crt"), &ca.cert_pem)?;
        std::fs::write(certs_dir.join("apiserver.crt"), &serving.cert_pem)?;
        access::write_private_file(&certs_dir.join("apiserver.key"), serving.key_pem.as_bytes())?;
        let service_account_key = rcgen::KeyPair::generate().context("service-account key")?;
        access::write_private_file(
            &certs_dir.join("sa.key"),
            service_account_key.serialize_pem().as_bytes(),
        )?;
        std::fs::write(
            certs_dir.join("sa.pub"),
            service_account_key.public_key_pem(),
        )?;
        let proxy_cert = ca.issue_loopback_serving_cert("test-cluster-fault-proxy", &[])?;
        let admin_token = access::random_hex(24)?;
        access::write_private_file(
            &boot.dir.join("tokens.csv"),
            format!("{admin_token},admin,admin,system:masters\n").as_bytes(),
        )?;
        let admin_token_file = boot.dir.join("admin.token");
        access::write_private_file(&admin_token_file, admin_token.as_bytes())?;

        let (endpoint, admin) =
            boot.start_etcd_and_apiserver(&options, &ca.cert_pem, &admin_token_file)?;
        let kubeconfig_path = boot.dir.join("kubeconfig");
        access::write_kubeconfig(
            &kubeconfig_path,
            &endpoint,
            "admin",
            &admin_token,
            "default",
        )?;

        if options.controller_manager {
            let mut command = Command::new(boot.bin_dir.join("kube-controller-manager"));
            command.args([
                format!("--kubeconfig={}", kubeconfig_path.display()),
                // Without a kubelet: no node leases to watch (nodelifecycle
                // would evict our pods), no pod CIDRs, no token secrets.
                "--controllers=*,-serviceaccount-token,-nodeipam,-nodelifecycle,-ttl,-bootstrapsigner,-tokencleaner".to_owned(),
                "--leader-elect=false".to_owned(),
                "--bind-address=127.0.0.1".to_owned(),
                "--secure-port=0".to_owned(),
                "--port=0".to_owned(),
                "--concurrent-deployment-syncs=10".to_owned(),
                "--concurrent-replicaset-syncs=10".to_owned(),
                // The default client limit (20 requests/s) makes the controllers, not the
                // code under test, the bottleneck of any run restarting many workloads.
                "--kube-api-qps=400".to_owned(),
                "--kube-api-burst=800".to_owned(),
                format!("--cert-dir={}", certs_dir.display()),
            ]);
            boot.spawn("kube-controller-manager", command)?;
        }

        let background = boot.background()?;
        let handle = background.handle().clone();
        let (kubelet, injectors) = {
            let admin = admin.clone();
            let ca_cert = ca.cert_pem.clone();
            let want_kubelet = options.kubelet;
            let want_injectors = options.injector_webhooks;
            let issued = if want_injectors {
                Some(ca.issue_loopback_serving_cert("test-cluster-injectors", &[])?)
            } else {
                None
            };
            background.block_on(async move {
                let crds = async {
                    if crd_documents.is_empty() {
                        Ok(Vec::new())
                    } else {
                        crds::install(&admin, &crd_documents).await
                    }
                };
                let injectors = async {
                    match issued {
                        Some(cert) => Injectors::start(&handle, admin.clone(), &ca_cert, cert)
                            .await
                            .map(Some),
                        None => Ok(None),
                    }
                };
                let kubelet = async {
                    if want_kubelet {
                        Kubelet::start(&handle, admin.clone()).await.map(Some)
                    } else {
                        Ok(None)
                    }
                };
                let (crds, injectors, kubelet) = tokio::join!(crds, injectors, kubelet);
                crds?;
                anyhow::Ok((kubelet?, injectors?))
            })??
        };

        let (dir, bin_dir, watchdog, background, processes) = boot.disarm();
        let (Some(watchdog), Some(background)) = (watchdog, background) else {
            bail!("internal: boot state lost");
        };
        Ok(TestCluster {
            dir,
            bin_dir,
            endpoint,
            admin_token_file,
            kubeconfig_path,
            options,
            processes: Mutex::new(processes),
            watchdog: Mutex::new(watchdog),
            background: Mutex::new(background),
            admin,
            kubelet,
            injectors,
            sequence: AtomicU64::new(0),
            startup_time: started.elapsed(),
            proxy_cert,
        })
    }

    /// The admin kubeconfig (user `admin`, group `system:masters`).
    pub fn kubeconfig_path(&self) -> &Path {
        &self.kubeconfig_path
    }

    /// `https://127.0.0.1:<port>`.
    pub fn server_url(&self) -> &str {
        &self.endpoint.server_url
    }

    /// PEM of the CA that signed the apiserver's and the webhooks' certificates.
    pub fn ca_pem(&self) -> &str {
        self.endpoint.ca_pem.as_deref().unwrap_or_default()
    }

    pub fn options(&self) -> &ClusterOptions {
        &self.options
    }

    /// Directory holding etcd, the binaries' logs, certificates, kubeconfigs.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Directory with `etcd`, `kube-apiserver`, `kube-controller-manager`, `kubectl`.
    pub fn bin_dir(&self) -> &Path {
        &self.bin_dir
    }

    /// How long `start` took.
    pub fn startup_time(&self) -> Duration {
        self.startup_time
    }

    /// A new admin client. Call it inside the test's Tokio runtime: the client
    /// lives on that runtime.
    pub fn client(&self) -> Result<kube::Client> {
        access::make_client(&self.endpoint, &self.admin_token_file)
    }

    /// `kubectl` 1.20 from the bin dir with `KUBECONFIG` set to the admin
    /// kubeconfig.
    pub fn kubectl(&self) -> Command {
        kubectl_command(&self.bin_dir, &self.kubeconfig_path, &self.dir)
    }

    /// The admin token file (for kubeconfigs of proxies and scripts).
    pub(crate) fn admin_token_file(&self) -> &Path {
        &self.admin_token_file
    }

    pub(crate) fn proxy_cert(&self) -> &ServingCert {
        &self.proxy_cert
    }

    pub(crate) fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    /// Runs `future` on the cluster's own runtime with the admin client it
    /// keeps there, blocking this thread. For sync tests, and for work that
    /// must not depend on the caller's runtime.
    pub fn block_on<F, Fut, T>(&self, work: F) -> Result<T>
    where
        F: FnOnce(kube::Client) -> Fut,
        Fut: std::future::Future<Output = Result<T>> + Send + 'static,
        T: Send + 'static,
    {
        let future = work(self.admin.clone());
        self.background()?.block_on(future)?
    }

    /// Creates a namespace named `<prefix>-<n>`, unique in this cluster.
    pub fn fresh_namespace(&self, prefix: &str) -> Result<String> {
        self.fresh_namespace_with_labels(prefix, &[])
    }

    pub fn fresh_namespace_with_labels(
        &self,
        prefix: &str,
        labels: &[(&str, &str)],
    ) -> Result<String> {
        let name = self.unique_name(prefix);
        let namespace = Namespace {
            metadata: ObjectMeta {
                name: Some(name.clone()),
                labels: Some(
                    labels
                        .iter()
                        .map(|(key, value)| ((*key).to_owned(), (*value).to_owned()))
                        .collect::<BTreeMap<_, _>>(),
                ),
                ..ObjectMeta::default()
            },
            ..Namespace::default()
        };
        self.block_on(move |client| async move {
            Api::<Namespace>::all(client)
                .create(&PostParams::default(), &namespace)
                .await
                .context("creating a test namespace")?;
            Ok(())
        })?;
        Ok(name)
    }

    /// `<prefix>-<n>` as a DNS label, unique in this cluster.
    pub fn unique_name(&self, prefix: &str) -> String {
        let number = self.sequence.fetch_add(1, Ordering::Relaxed) + 1;
        let mut clean: String = prefix
            .to_ascii_lowercase()
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
            .collect();
        clean.truncate(50);
        let clean = clean.trim_matches('-');
        let clean = if clean.is_empty() { "test" } else { clean };
        format!("{clean}-{number}")
    }

    /// The kubelet stand-in, when enabled.
    pub fn kubelet(&self) -> Option<&Kubelet> {
        self.kubelet.as_ref()
    }

    /// The injector webhooks, when enabled.
    pub fn injectors(&self) -> Option<&Injectors> {
        self.injectors.as_ref()
    }

    /// PIDs of etcd, kube-apiserver and kube-controller-manager, by name.
    pub fn pids(&self) -> Vec<(String, u32)> {
        lock(&self.processes)
            .iter()
            .map(|process| (process.name.clone(), process.pid()))
            .collect()
    }

    /// The watchdog's PID (it exits once it has cleaned up).
    pub fn watchdog_pid(&self) -> u32 {
        lock(&self.watchdog).pid()
    }

    /// The last `lines` lines of a component's log (`etcd`, `kube-apiserver`,
    /// `kube-controller-manager`), for failure messages.
    pub fn log_tail(&self, component: &str, lines: usize) -> String {
        lock(&self.processes)
            .iter()
            .find(|process| process.name == component)
            .map(|process| process.log_tail(lines))
            .unwrap_or_default()
    }

    pub(crate) fn background(&self) -> Result<BackgroundRef<'_>> {
        Ok(BackgroundRef(lock(&self.background)))
    }
}

/// Holds the background lock only while scheduling; `block_on` itself does
/// not need it after spawning.
pub(crate) struct BackgroundRef<'a>(MutexGuard<'a, Background>);

impl BackgroundRef<'_> {
    pub fn block_on<F>(self, future: F) -> Result<F::Output>
    where
        F: std::future::Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let handle = self.0.handle().clone();
        drop(self);
        run_on(&handle, future)
    }

    pub fn handle(&self) -> tokio::runtime::Handle {
        self.0.handle().clone()
    }
}

impl Drop for TestCluster {
    fn drop(&mut self) {
        lock(&self.background).shutdown();
        let mut processes = lock(&self.processes);
        while let Some(mut process) = processes.pop() {
            process.stop(Duration::from_secs(5));
        }
        lock(&self.watchdog).release();
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A test that panicked while holding a lock must not wedge cleanup.
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

pub(crate) fn kubectl_command(bin_dir: &Path, kubeconfig: &Path, cluster_dir: &Path) -> Command {
    let mut command = Command::new(bin_dir.join("kubectl"));
    command
        .env("KUBECONFIG", kubeconfig)
        // Keeps kubectl's discovery cache per cluster (ports get reused).
        .env("KUBECACHEDIR", cluster_dir.join("kubectl-cache"));
    command
}

/// etcd data on tmpfs when there is one: the suite fsyncs a lot.
fn create_cluster_dir() -> Result<PathBuf> {
    let shm = Path::new("/dev/shm");
    let base = if shm.is_dir()
        && std::fs::metadata(shm).is_ok_and(|meta| !meta.permissions().readonly())
    {
        shm.to_path_buf()
    } else {
        std::env::temp_dir()
    };
    let name = format!(
        "appmesh2istio-cluster-{}-{}",
        std::process::id(),
        access::random_hex(4)?
    );
    let dir = base.join(name);
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    Ok(dir)
}

/// Cluster state during start; stops what it started if start fails.
struct Boot {
    dir: PathBuf,
    bin_dir: PathBuf,
    watchdog: Option<Watchdog>,
    background: Option<Background>,
    processes: Vec<ManagedProcess>,
}

impl Boot {
    fn spawn(&mut self, name: &str, command: Command) -> Result<()> {
        let process = ManagedProcess::spawn(name, command, &self.dir)?;
        if let Some(watchdog) = &self.watchdog {
            watchdog.guard(process.pid())?;
        }
        self.processes.push(process);
        Ok(())
    }

    fn background(&self) -> Result<&Background> {
        self.background
            .as_ref()
            .ok_or_else(|| anyhow!("internal: no background runtime"))
    }

    fn stop_all(&mut self) {
        while let Some(mut process) = self.processes.pop() {
            process.stop(Duration::from_secs(5));
        }
    }

    /// Starts etcd and the apiserver on fresh ports, retrying when another
    /// process took a port between probing and binding.
    fn start_etcd_and_apiserver(
        &mut self,
        options: &ClusterOptions,
        ca_pem: &str,
        admin_token_file: &Path,
    ) -> Result<(Endpoint, kube::Client)> {
        let mut last_error = anyhow!("no attempt made");
        for attempt in 1..=3 {
            match self.try_start_etcd_and_apiserver(options, ca_pem, admin_token_file, attempt) {
                Ok(started) => return Ok(started),
                Err(StartError::PortTaken(error)) => {
                    self.stop_all();
                    last_error = error;
                }
                Err(StartError::Other(error)) => return Err(error),
            }
        }
        Err(last_error)
    }

    fn try_start_etcd_and_apiserver(
        &mut self,
        options: &ClusterOptions,
        ca_pem: &str,
        admin_token_file: &Path,
        attempt: u32,
    ) -> Result<(Endpoint, kube::Client), StartError> {
        let etcd_port = free_port()?;
        let peer_port = free_port()?;
        let apiserver_port = free_port()?;
        let data_dir = self.dir.join(format!("etcd-{attempt}"));
        let etcd_url = format!("http://127.0.0.1:{etcd_port}");
        let peer_url = format!("http://127.0.0.1:{peer_port}");
        let mut etcd = Command::new(self.bin_dir.join("etcd"));
        etcd.args([
            "--name=default".to_owned(),
            format!("--data-dir={}", data_dir.display()),
            format!("--listen-client-urls={etcd_url}"),
            format!("--advertise-client-urls={etcd_url}"),
            format!("--listen-peer-urls={peer_url}"),
            format!("--initial-advertise-peer-urls={peer_url}"),
            format!("--initial-cluster=default={peer_url}"),
            "--log-level=warn".to_owned(),
            "--logger=zap".to_owned(),
        ]);
        // etcd 3.4 refuses to start on arm64 without this; harmless on amd64.
        if std::env::consts::ARCH == "aarch64" {
            etcd.env("ETCD_UNSUPPORTED_ARCH", "arm64");
        }
        self.spawn("etcd", etcd)?;

        let pki = self.dir.join("pki");
        let authorization = if options.rbac { "RBAC" } else { "AlwaysAllow" };
        let mut apiserver = Command::new(self.bin_dir.join("kube-apiserver"));
        apiserver.args([
            format!("--etcd-servers={etcd_url}"),
            format!("--cert-dir={}", pki.display()),
            format!("--tls-cert-file={}", pki.join("apiserver.crt").display()),
            format!(
                "--tls-private-key-file={}",
                pki.join("apiserver.key").display()
            ),
            format!("--secure-port={apiserver_port}"),
            "--bind-address=127.0.0.1".to_owned(),
            "--advertise-address=127.0.0.1".to_owned(),
            format!("--authorization-mode={authorization}"),
            format!(
                "--token-auth-file={}",
                self.dir.join("tokens.csv").display()
            ),
            "--service-account-issuer=https://kubernetes.default.svc".to_owned(),
            format!(
                "--service-account-key-file={}",
                pki.join("sa.pub").display()
            ),
            format!(
                "--service-account-signing-key-file={}",
                pki.join("sa.key").display()
            ),
            "--service-cluster-ip-range=10.0.0.0/24".to_owned(),
            "--endpoint-reconciler-type=none".to_owned(),
            "--disable-admission-plugins=ServiceAccount".to_owned(),
            "--allow-privileged=true".to_owned(),
            "--profiling=false".to_owned(),
        ]);
        if options.audit {
            let policy = self.dir.join(crate::audit::POLICY_FILE);
            std::fs::write(&policy, crate::audit::POLICY)?;
            apiserver.args([
                format!("--audit-policy-file={}", policy.display()),
                format!(
                    "--audit-log-path={}",
                    self.dir.join(crate::audit::LOG_FILE).display()
                ),
                "--audit-log-format=json".to_owned(),
                // Each event written before the response goes out: a command that exited
                // is fully in the log.
                "--audit-log-mode=blocking".to_owned(),
                "--audit-log-maxsize=0".to_owned(),
            ]);
        }
        self.spawn("kube-apiserver", apiserver)?;

        let endpoint = Endpoint {
            server_url: format!("https://127.0.0.1:{apiserver_port}"),
            ca_pem: Some(ca_pem.to_owned()),
        };
        let handle = self.background()?.handle().clone();
        let client = {
            let endpoint = endpoint.clone();
            let token_file = admin_token_file.to_path_buf();
            run_on(&handle, async move {
                access::make_client(&endpoint, &token_file)
            })??
        };

        let deadline = Instant::now() + Duration::from_secs(90);
        loop {
            for process in &mut self.processes {
                if let Some(exit) = process.exited() {
                    let tail = process.log_tail(30);
                    let error = anyhow!("{exit} during start; log tail:\n{tail}");
                    return Err(if tail.contains("address already in use") {
                        StartError::PortTaken(error)
                    } else {
                        StartError::Other(error)
                    });
                }
            }
            let probe = client.clone();
            let ready = run_on(&handle, async move {
                let request = http::Request::get("/readyz").body(Vec::new())?;
                let answer =
                    tokio::time::timeout(Duration::from_secs(2), probe.request_text(request)).await;
                anyhow::Ok(matches!(answer, Ok(Ok(text)) if text.trim() == "ok"))
            })?;
            if matches!(ready, Ok(true)) {
                return Ok((endpoint, client));
            }
            if Instant::now() > deadline {
                let tail = self
                    .processes
                    .iter()
                    .map(|process| format!("--- {} ---\n{}", process.name, process.log_tail(20)))
                    .collect::<Vec<_>>()
                    .join("\n");
                return Err(StartError::Other(anyhow!(
                    "kube-apiserver not ready after 90 s:\n{tail}"
                )));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Hands the started state over; the emptied `Boot` then stops nothing.
    fn disarm(
        mut self,
    ) -> (
        PathBuf,
        PathBuf,
        Option<Watchdog>,
        Option<Background>,
        Vec<ManagedProcess>,
    ) {
        (
            std::mem::take(&mut self.dir),
            std::mem::take(&mut self.bin_dir),
            self.watchdog.take(),
            self.background.take(),
            std::mem::take(&mut self.processes),
        )
    }
}

impl Drop for Boot {
    fn drop(&mut self) {
        if let Some(background) = self.background.as_mut() {
            background.shutdown();
        }
        self.stop_all();
        if let Some(mut watchdog) = self.watchdog.take() {
            watchdog.release();
        }
    }
}

enum StartError {
    PortTaken(anyhow::Error),
    Other(anyhow::Error),
}

impl From<anyhow::Error> for StartError {
    fn from(error: anyhow::Error) -> Self {
        StartError::Other(error)
    }
}

impl From<std::io::Error> for StartError {
    fn from(error: std::io::Error) -> Self {
        StartError::Other(error.into())
    }
}
