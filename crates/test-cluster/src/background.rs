//! The cluster's own Tokio runtime. Webhook server, fault proxies and the
//! kubelet stand-in must outlive any one test, and each `#[tokio::test]` has
//! its own runtime that ends with the test, so they cannot run on the caller's.

use std::future::Future;

use anyhow::{Context, Result, anyhow};
use tokio::runtime::{Handle, Runtime};

pub struct Background {
    runtime: Option<Runtime>,
    handle: Handle,
}

impl Background {
    pub fn new() -> Result<Self> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("test-cluster")
            .enable_all()
            .build()
            .context("building the test cluster's runtime")?;
        let handle = runtime.handle().clone();
        Ok(Self {
            runtime: Some(runtime),
            handle,
        })
    }

    pub fn handle(&self) -> &Handle {
        &self.handle
    }

    /// Runs `future` on the background runtime and blocks this thread until it
    /// finishes. Works from plain and from async tests (it never enters the
    /// caller's runtime); it must not be called from the background runtime.
    pub fn block_on<F>(&self, future: F) -> Result<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        run_on(&self.handle, future)
    }

    /// Stops every task without waiting (allowed inside another runtime,
    /// unlike dropping a `Runtime`).
    pub fn shutdown(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// Runs `future` on `handle`'s runtime and blocks this thread for its output.
pub fn run_on<F>(handle: &Handle, future: F) -> Result<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    let (sender, receiver) = std::sync::mpsc::channel();
    handle.spawn(async move {
        let _ = sender.send(future.await);
    });
    receiver
        .recv()
        .map_err(|_| anyhow!("a test-cluster task panicked or the cluster stopped"))
}
