//! Prometheus metrics: counts and durations only, never code, paths or inline rule ids.
//! The registry lives in the app state, not in globals.

use prometheus::{
    Encoder, Histogram, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, IntGaugeVec, Opts,
    Registry, TextEncoder,
};

/// The service's metrics.
#[derive(Clone)]
pub struct Metrics {
    registry: Registry,
    /// `volatile_requests_total{endpoint,status}`
    pub requests: IntCounterVec,
    /// `volatile_request_duration_seconds{endpoint}`
    pub request_duration: HistogramVec,
    /// `volatile_files_analyzed_total{language}`
    pub files: IntCounterVec,
    /// `volatile_source_bytes_total{language}`
    pub bytes: IntCounterVec,
    /// `volatile_parse_duration_seconds{language}`
    pub parse_duration: HistogramVec,
    /// `volatile_match_duration_seconds{language}`
    pub match_duration: HistogramVec,
    /// `volatile_findings_total{playbook,rule,severity}`
    pub findings: IntCounterVec,
    /// `volatile_inflight_requests`
    pub inflight: IntGauge,
    /// `volatile_rejected_total{reason}`
    pub rejected: IntCounterVec,
    /// `volatile_playbook_rules{playbook}`
    pub playbook_rules: IntGaugeVec,
    /// `volatile_playbook_reloads_total{outcome}`
    pub reloads: IntCounterVec,
    /// Unlabelled analysis time per request, for the HTTP benchmark.
    pub analysis_duration: Histogram,
}

const FILE_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
];

impl Metrics {
    /// Registers every metric in a fresh registry.
    pub fn new() -> Result<Metrics, prometheus::Error> {
        let registry = Registry::new();
        let counter =
            |name: &str, help: &str, labels: &[&str]| -> Result<IntCounterVec, prometheus::Error> {
                let c = IntCounterVec::new(Opts::new(name, help), labels)?;
                registry.register(Box::new(c.clone()))?;
                Ok(c)
            };
        let histogram = |name: &str,
                         help: &str,
                         labels: &[&str],
                         buckets: &[f64]|
         -> Result<HistogramVec, prometheus::Error> {
            let h = HistogramVec::new(
                HistogramOpts::new(name, help).buckets(buckets.to_vec()),
                labels,
            )?;
            registry.register(Box::new(h.clone()))?;
            Ok(h)
        };
        let requests = counter(
            "volatile_requests_total",
            "HTTP requests answered.",
            &["endpoint", "status"],
        )?;
        let request_duration = histogram(
            "volatile_request_duration_seconds",
            "Time from request head to response.",
            &["endpoint"],
            prometheus::DEFAULT_BUCKETS,
        )?;
        let files = counter(
            "volatile_files_analyzed_total",
            "Files analysed.",
            &["language"],
        )?;
        let bytes = counter(
            "volatile_source_bytes_total",
            "Bytes of source analysed.",
            &["language"],
        )?;
        let parse_duration = histogram(
            "volatile_parse_duration_seconds",
            "Parse time per file.",
            &["language"],
            FILE_BUCKETS,
        )?;
        let match_duration = histogram(
            "volatile_match_duration_seconds",
            "Match time per file.",
            &["language"],
            FILE_BUCKETS,
        )?;
        let findings = counter(
            "volatile_findings_total",
            "Findings reported (inline playbooks count as playbook=\"inline\", rule=\"inline\").",
            &["playbook", "rule", "severity"],
        )?;
        let inflight = IntGauge::new("volatile_inflight_requests", "Analysis requests in flight.")?;
        registry.register(Box::new(inflight.clone()))?;
        let rejected = counter(
            "volatile_rejected_total",
            "Requests rejected before analysis.",
            &["reason"],
        )?;
        let playbook_rules = IntGaugeVec::new(
            Opts::new("volatile_playbook_rules", "Rules per served playbook."),
            &["playbook"],
        )?;
        registry.register(Box::new(playbook_rules.clone()))?;
        let reloads = counter(
            "volatile_playbook_reloads_total",
            "Playbook reloads.",
            &["outcome"],
        )?;
        let analysis_duration = Histogram::with_opts(HistogramOpts::new(
            "volatile_analysis_duration_seconds",
            "CPU-pool time per analysis request.",
        ))?;
        registry.register(Box::new(analysis_duration.clone()))?;
        Ok(Metrics {
            registry,
            requests,
            request_duration,
            files,
            bytes,
            parse_duration,
            match_duration,
            findings,
            inflight,
            rejected,
            playbook_rules,
            reloads,
            analysis_duration,
        })
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let mut out = Vec::new();
        if TextEncoder::new()
            .encode(&self.registry.gather(), &mut out)
            .is_err()
        {
            return String::new();
        }
        String::from_utf8(out).unwrap_or_default()
    }
}
