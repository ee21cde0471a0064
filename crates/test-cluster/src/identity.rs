//! Restricted identities: a ServiceAccount with a bound token (TokenRequest
//! API) and its own kubeconfig. With RBAC on it can do nothing until a test
//! grants it rules, so permission checks meet real RBAC denials (403).

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};
use k8s_openapi::api::authentication::v1::{TokenRequest, TokenRequestSpec};
use k8s_openapi::api::core::v1::ServiceAccount;
use k8s_openapi::api::rbac::v1::{
    ClusterRole, ClusterRoleBinding, PolicyRule, Role, RoleBinding, RoleRef, Subject,
};
use kube::api::{Api, ObjectMeta, PostParams};

use crate::access::{self, Endpoint};
use crate::cluster::{TestCluster, kubectl_command};

/// A ServiceAccount identity `system:serviceaccount:<namespace>:<name>`.
pub struct RestrictedIdentity {
    pub namespace: String,
    pub service_account: String,
    kubeconfig_path: PathBuf,
    token_file: PathBuf,
    token: String,
    endpoint: Endpoint,
    bin_dir: PathBuf,
    cluster_dir: PathBuf,
}

/// A simple RBAC rule: `verbs` on `resources` of API group `api_group`
/// (`""` for the core group).
pub fn rule(api_group: &str, resources: &[&str], verbs: &[&str]) -> PolicyRule {
    PolicyRule {
        api_groups: Some(vec![api_group.to_owned()]),
        resources: Some(resources.iter().map(|r| (*r).to_owned()).collect()),
        verbs: verbs.iter().map(|v| (*v).to_owned()).collect(),
        ..PolicyRule::default()
    }
}

impl RestrictedIdentity {
    /// `system:serviceaccount:<namespace>:<name>`, as RBAC and audit see it.
    pub fn user_name(&self) -> String {
        format!(
            "system:serviceaccount:{}:{}",
            self.namespace, self.service_account
        )
    }

    pub fn kubeconfig_path(&self) -> &Path {
        &self.kubeconfig_path
    }

    /// The bearer token (e.g. to write a kubeconfig through a fault proxy).
    pub fn token(&self) -> &str {
        &self.token
    }

    /// A client acting as this identity (create it inside the test's runtime).
    pub fn client(&self) -> Result<kube::Client> {
        access::make_client(&self.endpoint, &self.token_file)
    }

    /// kubectl acting as this identity.
    pub fn kubectl(&self) -> Command {
        kubectl_command(&self.bin_dir, &self.kubeconfig_path, &self.cluster_dir)
    }
}

impl TestCluster {
    /// Creates ServiceAccount `name` in `namespace` and a kubeconfig for it.
    /// It starts with no rights; grant some with [`TestCluster::grant`].
    /// Fails if the cluster runs without RBAC (everyone may do everything).
    pub fn restricted_identity(&self, namespace: &str, name: &str) -> Result<RestrictedIdentity> {
        if !self.options().rbac {
            bail!("this cluster runs with AlwaysAllow; start it with rbac: true");
        }
        let namespace_owned = namespace.to_owned();
        let name_owned = name.to_owned();
        let token = self.block_on(move |client| async move {
            let accounts: Api<ServiceAccount> = Api::namespaced(client, &namespace_owned);
            let account = ServiceAccount {
                metadata: ObjectMeta {
                    name: Some(name_owned.clone()),
                    ..ObjectMeta::default()
                },
                ..ServiceAccount::default()
            };
            match accounts.create(&PostParams::default(), &account).await {
                Ok(_) => {}
                Err(kube::Error::Api(status)) if status.code == 409 => {}
                Err(error) => {
                    return Err(anyhow::Error::new(error).context("creating the ServiceAccount"));
                }
            }
            let request = TokenRequest {
                spec: TokenRequestSpec {
                    audiences: Vec::new(),
                    expiration_seconds: Some(24 * 3600),
                    ..TokenRequestSpec::default()
                },
                ..TokenRequest::default()
            };
            let issued: TokenRequest = accounts
                .create_subresource("token", &name_owned, &PostParams::default(), &request)
                .await
                .context("requesting a ServiceAccount token")?;
            issued
                .status
                .map(|status| status.token)
                .context("the TokenRequest has no token")
        })?;
        let dir = self
            .dir()
            .join("identities")
            .join(format!("{namespace}-{name}"));
        std::fs::create_dir_all(&dir)?;
        let token_file = dir.join("token");
        access::write_private_file(&token_file, token.as_bytes())?;
        let kubeconfig_path = dir.join("kubeconfig");
        access::write_kubeconfig(&kubeconfig_path, self.endpoint(), name, &token, namespace)?;
        Ok(RestrictedIdentity {
            namespace: namespace.to_owned(),
            service_account: name.to_owned(),
            kubeconfig_path,
            token_file,
            token,
            endpoint: self.endpoint().clone(),
            bin_dir: self.bin_dir().to_path_buf(),
            cluster_dir: self.dir().to_path_buf(),
        })
    }

    /// Grants `rules` to `identity`: in `namespace` (Role + RoleBinding) or
    /// cluster-wide when `namespace` is `None` (ClusterRole + binding). Each
    /// call adds a new, separately named grant.
    pub fn grant(
        &self,
        identity: &RestrictedIdentity,
        namespace: Option<&str>,
        rules: Vec<PolicyRule>,
    ) -> Result<()> {
        let name = self.unique_name(&format!("grant-{}", identity.service_account));
        let subject = Subject {
            kind: "ServiceAccount".to_owned(),
            name: identity.service_account.clone(),
            namespace: Some(identity.namespace.clone()),
            ..Subject::default()
        };
        let namespace = namespace.map(str::to_owned);
        self.block_on(move |client| async move {
            let meta = |namespace: Option<&str>| ObjectMeta {
                name: Some(name.clone()),
                namespace: namespace.map(str::to_owned),
                ..ObjectMeta::default()
            };
            let post = PostParams::default();
            match namespace.as_deref() {
                Some(namespace) => {
                    let role = Role {
                        metadata: meta(Some(namespace)),
                        rules: Some(rules),
                    };
                    Api::<Role>::namespaced(client.clone(), namespace)
                        .create(&post, &role)
                        .await
                        .context("creating a Role")?;
                    let binding = RoleBinding {
                        metadata: meta(Some(namespace)),
                        role_ref: RoleRef {
                            api_group: "rbac.authorization.k8s.io".to_owned(),
                            kind: "Role".to_owned(),
                            name: name.clone(),
                        },
                        subjects: Some(vec![subject]),
                    };
                    Api::<RoleBinding>::namespaced(client, namespace)
                        .create(&post, &binding)
                        .await
                        .context("creating a RoleBinding")?;
                }
                None => {
                    let role = ClusterRole {
                        metadata: meta(None),
                        rules: Some(rules),
                        ..ClusterRole::default()
                    };
                    Api::<ClusterRole>::all(client.clone())
                        .create(&post, &role)
                        .await
                        .context("creating a ClusterRole")?;
                    let binding = ClusterRoleBinding {
                        metadata: meta(None),
                        role_ref: RoleRef {
                            api_group: "rbac.authorization.k8s.io".to_owned(),
                            kind: "ClusterRole".to_owned(),
                            name: name.clone(),
                        },
                        subjects: Some(vec![subject]),
                    };
                    Api::<ClusterRoleBinding>::all(client)
                        .create(&post, &binding)
                        .await
                        .context("creating a ClusterRoleBinding")?;
                }
            }
            Ok(())
        })
    }

    /// A fault proxy in front of this cluster's apiserver, with its own rules
    /// and journal (tests sharing the cluster do not see each other's faults).
    pub fn start_fault_proxy(&self) -> Result<crate::fault_proxy::FaultProxy> {
        let name = self.unique_name("fault-proxy");
        let handle = self.background()?.handle();
        crate::fault_proxy::FaultProxy::start(
            &handle,
            self.endpoint(),
            self.admin_token_file(),
            self.bin_dir(),
            self.dir(),
            &name,
            self.proxy_cert(),
        )
    }
}
