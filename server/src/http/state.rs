//! What every handler shares: the served playbooks, limits, metrics, the CPU pool and the
//! admission gate.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use arc_swap::ArcSwap;
use tokio::sync::Semaphore;

use super::api::LimitsInfo;
use super::auth::{ApiKeys, RateLimiter};
use super::error::ApiError;
use super::metrics::Metrics;
use super::registry::Registry;

/// Request limits, each a flag of `volatile serve`.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Largest request body after decompression.
    pub max_body_bytes: usize,
    /// Most files per request.
    pub max_files: usize,
    /// Largest file.
    pub max_file_bytes: usize,
    /// Per-request deadline.
    pub deadline: Duration,
    /// Most findings per file.
    pub max_findings_per_file: usize,
    /// Most analysis requests in flight; more get 503.
    pub max_inflight: usize,
    /// How long a request body may take to arrive.
    pub body_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_body_bytes: 8 * 1024 * 1024,
            max_files: 1_000,
            max_file_bytes: 2 * 1024 * 1024,
            deadline: Duration::from_secs(10),
            max_findings_per_file: 10_000,
            max_inflight: 64,
            body_timeout: Duration::from_secs(10),
        }
    }
}

impl Limits {
    /// The limits as `/v1/info` shows them.
    pub fn info(&self) -> LimitsInfo {
        LimitsInfo {
            max_body_bytes: self.max_body_bytes,
            max_files: self.max_files,
            max_file_bytes: self.max_file_bytes,
            deadline_ms: self.deadline.as_millis() as u64,
            max_findings_per_file: self.max_findings_per_file,
        }
    }
}

/// Shared state of the service.
pub struct AppState {
    /// The served playbooks (swapped on reload).
    pub registry: ArcSwap<Registry>,
    /// Limits.
    pub limits: Limits,
    /// Metrics.
    pub metrics: Metrics,
    /// Admission: one permit per analysis request in flight.
    pub admission: Arc<Semaphore>,
    /// The CPU pool analyses run on (never the async workers).
    pub pool: Arc<rayon::ThreadPool>,
    /// Accepted API keys (swapped on reload).
    pub keys: ArcSwap<ApiKeys>,
    /// Per-key rate limit.
    pub rate: Option<RateLimiter>,
    /// Whether `/metrics` moved to its own address (`--metrics-addr`).
    pub metrics_elsewhere: bool,
    ready: AtomicBool,
}

impl AppState {
    /// State serving `registry`.
    pub fn new(
        registry: Registry,
        limits: Limits,
        metrics: Metrics,
        pool: rayon::ThreadPool,
        keys: ApiKeys,
        rate: Option<RateLimiter>,
    ) -> AppState {
        for (id, p) in registry.playbooks() {
            metrics
                .playbook_rules
                .with_label_values(&[id])
                .set(p.rules.len() as i64);
        }
        AppState {
            admission: Arc::new(Semaphore::new(limits.max_inflight)),
            registry: ArcSwap::from_pointee(registry),
            limits,
            metrics,
            pool: Arc::new(pool),
            keys: ArcSwap::from_pointee(keys),
            rate,
            metrics_elsewhere: false,
            ready: AtomicBool::new(true),
        }
    }

    /// Swaps in a new set of playbooks.
    pub fn swap_registry(&self, registry: Registry) {
        self.metrics.playbook_rules.reset();
        for (id, p) in registry.playbooks() {
            self.metrics
                .playbook_rules
                .with_label_values(&[id])
                .set(p.rules.len() as i64);
        }
        self.registry.store(Arc::new(registry));
    }

    /// Runs CPU work on the pool as one unit of admission: 503 when the cap on requests in
    /// flight is reached, never on the async workers.
    pub async fn run_on_pool<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, ApiError> {
        let Ok(permit) = self.admission.clone().try_acquire_owned() else {
            self.metrics
                .rejected
                .with_label_values(&["overloaded"])
                .inc();
            return Err(ApiError::overloaded(1));
        };
        self.metrics.inflight.inc();
        let (tx, rx) = tokio::sync::oneshot::channel();
        let analysis = self.metrics.analysis_duration.clone();
        self.pool.spawn(move || {
            let started = std::time::Instant::now();
            let out = work();
            analysis.observe(started.elapsed().as_secs_f64());
            let _ = tx.send(out);
            // What the work left on the stacks of the threads it ran on (this one, and any
            // that took part of it) goes once each is back from it.
            rayon::spawn_broadcast(|_| crate::stack_scrub::scrub_stack_below());
        });
        let result = rx.await;
        self.metrics.inflight.dec();
        drop(permit);
        result.map_err(|_| ApiError::internal())
    }

    /// Whether `/readyz` says ready.
    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::SeqCst)
    }

    /// Marks the service as draining.
    pub fn set_draining(&self) {
        self.ready.store(false, Ordering::SeqCst);
    }
}
