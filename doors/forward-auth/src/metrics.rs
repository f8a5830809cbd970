//! Prometheus metrics on the admin port: decisions by door, outcome and
//! reason; decision latency; the token cache; remote key fetches per
//! issuer; the active module's digest; the policy bundles (the active one,
//! swaps, rollbacks, refusals by step, the shadow run). Counters the door owns are
//! `prometheus-client` families; the host's own figures (token cache, key
//! fetches) are read at each scrape by [`HostCollector`].

use std::sync::Arc;
use std::time::Duration;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use tollgate_host::jwks::IssuerStatus;
use tollgate_host::live::LiveGate;

type DecisionLabels = [(&'static str, &'static str); 3];
type DoorLabel = [(&'static str, &'static str); 1];

/// The door's metrics and their registry.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    decisions: Family<DecisionLabels, Counter>,
    latency: Family<DoorLabel, Histogram>,
}

impl Metrics {
    /// Metrics for a server deciding with `live`'s active bundle.
    pub fn new(live: Arc<LiveGate>) -> Self {
        let mut registry = Registry::with_prefix("tollgate");
        let decisions = Family::<DecisionLabels, Counter>::default();
        registry.register(
            "decisions",
            "Answers by door, outcome (allow, deny, error, overloaded, bad-request) and reason",
            decisions.clone(),
        );
        let latency = Family::<DoorLabel, Histogram>::new_with_constructor(|| {
            // 10 µs .. ~1.3 s
            Histogram::new(exponential_buckets(0.000_01, 2.0, 18))
        });
        registry.register(
            "decision_duration_seconds",
            "Time from reading a decision request to its answer, by door",
            latency.clone(),
        );
        registry.register_collector(Box::new(HostCollector { live }));
        Metrics {
            registry,
            decisions,
            latency,
        }
    }

    /// Count one answer.
    pub fn record(
        &self,
        door: &'static str,
        outcome: &'static str,
        reason: &'static str,
        took: Duration,
    ) {
        self.decisions
            .get_or_create(&[("door", door), ("outcome", outcome), ("reason", reason)])
            .inc();
        self.latency
            .get_or_create(&[("door", door)])
            .observe(took.as_secs_f64());
    }

    /// The OpenMetrics text of every metric.
    pub fn encode(&self) -> String {
        let mut text = String::new();
        if prometheus_client::encoding::text::encode(&mut text, &self.registry).is_err() {
            tracing::error!("cannot encode the metrics");
        }
        text
    }
}

/// The host's figures, read at each scrape. Names are written without the
/// registry's `tollgate_` prefix, which the registry adds.
#[derive(Debug)]
struct HostCollector {
    live: Arc<LiveGate>,
}

impl Collector for HostCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let mut info = encoder.encode_descriptor(
            "module_info",
            "The active policy module (its SHA-256 digest)",
            None,
            MetricType::Gauge,
        )?;
        let active = self.live.current();
        let labels = [("digest", active.info.module_digest.as_str())];
        ConstGauge::new(1i64).encode(info.encode_family(&labels)?)?;
        bundle_metrics(&mut encoder, &self.live)?;

        if let Some(stats) = active.gate.token_cache_stats() {
            for (name, help, value) in [
                (
                    "token_cache_hits",
                    "Decisions answered from the token cache",
                    stats.hits,
                ),
                (
                    "token_cache_misses",
                    "Decisions the module made (the cache was on)",
                    stats.misses,
                ),
            ] {
                let metric = encoder.encode_descriptor(name, help, None, MetricType::Counter)?;
                ConstCounter::new(value).encode(metric)?;
            }
            let entries = encoder.encode_descriptor(
                "token_cache_entries",
                "Tokens in the cache",
                None,
                MetricType::Gauge,
            )?;
            ConstGauge::new(i64::try_from(stats.entries).unwrap_or(i64::MAX)).encode(entries)?;
        }

        let status = active.gate.key_manager().status();
        if !status.is_empty() {
            per_issuer(
                &mut encoder,
                (
                    "key_fetches",
                    "Remote key fetches started, per issuer (JWK Set and discovery document)",
                ),
                MetricType::Counter,
                &status,
                |issuer| ConstCounter::new(issuer.fetches),
            )?;
            per_issuer(
                &mut encoder,
                (
                    "key_fetch_failures",
                    "Failed remote key fetches since the last success, per issuer",
                ),
                MetricType::Gauge,
                &status,
                |issuer| ConstGauge::new(i64::from(issuer.consecutive_failures)),
            )?;
            per_issuer(
                &mut encoder,
                (
                    "remote_keys",
                    "Remote keys served, per issuer (0: none, the issuer answers 503)",
                ),
                MetricType::Gauge,
                &status,
                |issuer| ConstGauge::new(issuer.remote_keys.map_or(0, count)),
            )?;
        }
        Ok(())
    }
}

/// The policy bundles: which one answers, how often it changed, what was
/// refused (by step), and the shadow run's comparisons.
fn bundle_metrics(encoder: &mut DescriptorEncoder, live: &LiveGate) -> Result<(), std::fmt::Error> {
    let status = live.status();
    let mut info = encoder.encode_descriptor(
        "bundle_info",
        "The active policy bundle (name, revision, digest)",
        None,
        MetricType::Gauge,
    )?;
    let revision = status.active.revision.to_string();
    let labels = [
        ("name", status.active.name.as_str()),
        ("revision", revision.as_str()),
        ("digest", status.active.digest.as_str()),
    ];
    ConstGauge::new(1i64).encode(info.encode_family(&labels)?)?;
    let revision_gauge = encoder.encode_descriptor(
        "bundle_revision",
        "The active policy bundle's revision",
        None,
        MetricType::Gauge,
    )?;
    ConstGauge::new(i64::try_from(status.active.revision).unwrap_or(i64::MAX))
        .encode(revision_gauge)?;
    for (name, help, value) in [
        (
            "bundle_activations",
            "Bundles swapped in (promotions included)",
            status.activations,
        ),
        (
            "bundle_rollbacks",
            "Rollbacks to the previous bundle",
            status.rollbacks,
        ),
        (
            "bundle_promotions",
            "Shadow candidates promoted",
            status.promotions,
        ),
    ] {
        let metric = encoder.encode_descriptor(name, help, None, MetricType::Counter)?;
        ConstCounter::new(value).encode(metric)?;
    }
    let mut failures = encoder.encode_descriptor(
        "bundle_failures",
        "Bundles refused, by the step that refused them (the active bundle stayed)",
        None,
        MetricType::Counter,
    )?;
    for (step, count) in &status.failures {
        let labels = [("step", step.as_str())];
        ConstCounter::new(*count).encode(failures.encode_family(&labels)?)?;
    }
    if let Some(shadow) = &status.shadow {
        let mut compared = encoder.encode_descriptor(
            "shadow_decisions",
            "Requests the shadow candidate decided, by result (agree, disagree, dropped)",
            None,
            MetricType::Counter,
        )?;
        for (result, value) in [
            ("agree", shadow.agreements),
            ("disagree", shadow.disagreements),
            ("dropped", shadow.dropped),
        ] {
            ConstCounter::new(value).encode(compared.encode_family(&[("result", result)])?)?;
        }
        let mut by_key = encoder.encode_descriptor(
            "shadow_disagreements",
            "Disagreements of the shadow candidate, by live and candidate outcome (e.g. deny:forbidden->allow)",
            None,
            MetricType::Counter,
        )?;
        for (key, value) in &shadow.disagreements_by_key {
            ConstCounter::new(*value).encode(by_key.encode_family(&[("change", key.as_str())])?)?;
        }
        let mut widenings = encoder.encode_descriptor(
            "shadow_widenings",
            "Candidate allows the live bundle denied, declared in its manifest or not",
            None,
            MetricType::Counter,
        )?;
        for (declared, value) in [
            ("true", shadow.declared_widenings),
            ("false", shadow.undeclared_widenings),
        ] {
            ConstCounter::new(value).encode(widenings.encode_family(&[("declared", declared)])?)?;
        }
    }
    Ok(())
}

/// One metric family with a value per remote issuer, labelled `issuer`.
fn per_issuer<M: EncodeMetric>(
    encoder: &mut DescriptorEncoder,
    (name, help): (&str, &str),
    metric_type: MetricType,
    status: &[IssuerStatus],
    value: impl Fn(&IssuerStatus) -> M,
) -> Result<(), std::fmt::Error> {
    let mut family = encoder.encode_descriptor(name, help, None, metric_type)?;
    for issuer in status {
        let labels = [("issuer", issuer.issuer.as_str())];
        value(issuer).encode(family.encode_family(&labels)?)?;
    }
    Ok(())
}

/// A count as a gauge value.
fn count(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}
