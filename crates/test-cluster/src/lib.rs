//! Test support: a real Kubernetes API server for the test suite.
