//! Telemetry setup: JSON logs on stdout, and traces and logs over OTLP when configured.
//!
//! Configuration is only the standard OpenTelemetry environment variables:
//! `OTEL_EXPORTER_OTLP_ENDPOINT` (or the `_TRACES_`/`_LOGS_` variants) turns export on;
//! `OTEL_EXPORTER_OTLP_PROTOCOL` picks `grpc` or `http/protobuf` (the default);
//! `OTEL_SERVICE_NAME`, `OTEL_RESOURCE_ATTRIBUTES`, `OTEL_TRACES_SAMPLER(_ARG)`,
//! `OTEL_EXPORTER_OTLP_HEADERS`/`_TIMEOUT` and `OTEL_SDK_DISABLED` are honoured by the SDK.
//! With no endpoint nothing is exported and nothing complains.
//!
//! A collector that is down costs requests nothing: spans and logs go to bounded queues that
//! background threads drain. What is lost is counted in `telemetry_dropped_total{signal}`,
//! whichever way it is lost: a failed export (logged once when exporting starts failing and
//! once when it recovers, not once per batch), or a full queue while a slow collector holds the
//! exporter (refused at the door by [`Bounded`], logged once per overflow). The exporters' own HTTP/gRPC traffic is filtered out
//! of the OpenTelemetry layers so it is never exported in turn.
//!
//! Sampling: `OTEL_TRACES_SAMPLER=traceidratio` or `parentbased_traceidratio` (with
//! `OTEL_TRACES_SAMPLER_ARG`) samples as the specification says, except that what the ratio
//! leaves out is still recorded ([`RatioKeepingErrors`]) and held in memory until its request
//! ends ([`KeepFailedOrSlow`], [`Held`]): a request that failed (a server span with status error) or took
//! [`SLOW_REQUEST`] or more is exported whole, whatever the draw. Every other sampler is the
//! SDK's own. Spans carry only their own attributes: no source location, thread or target.
//!
//! One concern, one long file: the subscriber, the OTLP providers, the sampler and the exporter
//! wrapper that counts drops are set up and shut down together; a quarter is tests.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use opentelemetry::KeyValue;
use opentelemetry::trace::{
    Link, SpanContext, SpanId, SpanKind, Status, TraceContextExt as _, TraceId, TraceState,
    TracerProvider as _,
};
use opentelemetry_appender_tracing::layer::OpenTelemetryTracingBridge;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::logs::{
    BatchLogProcessor, LogBatch, LogExporter, LogProcessor, SdkLogRecord, SdkLoggerProvider,
};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::{
    BatchConfigBuilder, BatchSpanProcessor, Sampler, SamplingDecision, SamplingResult,
    SdkTracerProvider, ShouldSample, SpanData, SpanExporter, SpanProcessor,
};
use tracing_subscriber::{EnvFilter, Layer, layer::SubscriberExt, util::SubscriberInitExt};

/// Spans or log records waiting for export, per signal; past this they are dropped.
const QUEUE_SIZE: usize = 4096;

/// A request at least this slow is exported whatever the sampling draw (the collector's tail
/// sampling keeps traces over the same threshold, and `RouteLatencyHigh` warns at a p99 of 1 s).
pub const SLOW_REQUEST: Duration = Duration::from_secs(1);

/// Spans of sampled-out traces held until their request ends, at most (then newer ones are not
/// held: an error past this many requests in flight may go unexported).
const HELD_SPANS: usize = 4096;

/// Who is emitting: the defaults for resource attributes the environment does not set.
#[derive(Debug, Clone)]
pub struct ServiceInfo {
    pub name: &'static str,
    pub version: &'static str,
    pub environment: String,
}

/// Flushes and stops the exporters when the process ends. Keep it alive in `main`.
#[must_use = "dropping the guard at once would stop telemetry export"]
pub struct TelemetryGuard {
    tracer: Option<SdkTracerProvider>,
    logger: Option<SdkLoggerProvider>,
    /// Drives the gRPC exporter's connections (tonic needs a Tokio runtime; the SDK's batch
    /// threads have none).
    _runtime: Option<tokio::runtime::Runtime>,
}

impl TelemetryGuard {
    /// Flushes what is queued and shuts the exporters down. Blocking (up to a few seconds if
    /// the collector is silent): call it off the async workers, e.g. from `spawn_blocking`.
    pub fn shutdown(mut self) {
        if let Some(tracer) = self.tracer.take() {
            let _ = tracer.shutdown_with_timeout(Duration::from_secs(3));
        }
        if let Some(logger) = self.logger.take() {
            let _ = logger.shutdown_with_timeout(Duration::from_secs(3));
        }
    }
}

/// Installs the global subscriber (and, when configured, the OTLP exporters and the W3C trace
/// context propagator). Call once, first thing in `main`.
pub fn init(service: ServiceInfo) -> TelemetryGuard {
    let export = ExportSettings::from_env();
    opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
    let filter = || EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let json = crate::json_log::JsonLines::stdout().with_filter(filter());

    let runtime = (export
        .traces
        .as_ref()
        .or(export.logs.as_ref())
        .is_some_and(|p| *p == Protocol::Grpc))
    .then(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("otlp-grpc")
            .enable_all()
            .build()
    })
    .and_then(Result::ok);
    let handle = runtime.as_ref().map(|r| r.handle().clone());
    let resource = resource(&service);

    let mut problems = Vec::new();
    // A tracer always runs, so requests join their caller's trace and logs carry trace and
    // span ids; it exports only when an endpoint is configured.
    let mut tracer = SdkTracerProvider::builder().with_resource(resource.clone());
    if let Some(sampler) = export.traces.and(RatioKeepingErrors::from_env()) {
        tracer = tracer.with_sampler(sampler);
    }
    if let Some(protocol) = export.traces {
        match span_exporter(protocol, handle.as_ref()) {
            Ok(exporter) => {
                let grpc = if protocol == Protocol::Grpc {
                    handle.clone()
                } else {
                    None
                };
                let room = QueueRoom::new("spans");
                let processor =
                    BatchSpanProcessor::builder(Counted::new(exporter, room.clone(), grpc))
                        .with_batch_config(
                            BatchConfigBuilder::default()
                                .with_max_queue_size(QUEUE_SIZE)
                                .build(),
                        )
                        .build();
                tracer = tracer.with_span_processor(KeepFailedOrSlow {
                    inner: Bounded {
                        inner: processor,
                        room,
                    },
                    held: Held::default(),
                });
            }
            Err(e) => problems.push(format!("OTLP trace exporter: {e}")),
        }
    }
    let tracer = Some(tracer.build());
    let logger = export
        .logs
        .and_then(|protocol| match log_exporter(protocol, handle.as_ref()) {
            Ok(exporter) => {
                let room = QueueRoom::new("logs");
                let exporter = Counted::new(
                    exporter,
                    room.clone(),
                    if protocol == Protocol::Grpc {
                        handle.clone()
                    } else {
                        None
                    },
                );
                let processor = BatchLogProcessor::builder(exporter)
                    .with_batch_config(
                        opentelemetry_sdk::logs::BatchConfigBuilder::default()
                            .with_max_queue_size(QUEUE_SIZE)
                            .build(),
                    )
                    .build();
                Some(
                    SdkLoggerProvider::builder()
                        .with_log_processor(Bounded {
                            inner: processor,
                            room,
                        })
                        .with_resource(resource.clone())
                        .build(),
                )
            }
            Err(e) => {
                problems.push(format!("OTLP log exporter: {e}"));
                None
            }
        });

    let trace_layer = tracer.as_ref().map(|provider| {
        tracing_opentelemetry::layer()
            .with_tracer(provider.tracer(service.name))
            // Six attributes on every span that no one reads (source file, module, line, thread
            // id and name, target), and tracing's busy/idle times: each costs encoding per span.
            .with_location(false)
            .with_threads(false)
            .with_target(false)
            .with_tracked_inactivity(false)
            .with_filter(otel_filter())
    });
    let log_layer = logger
        .as_ref()
        .map(|provider| OpenTelemetryTracingBridge::new(provider).with_filter(otel_filter()));
    // A second init (tests building several apps) keeps the first subscriber.
    let _ = tracing_subscriber::registry()
        .with(json)
        .with(trace_layer)
        .with(log_layer)
        .try_init();
    for problem in problems {
        tracing::warn!(problem, "telemetry export disabled");
    }
    TelemetryGuard {
        tracer,
        logger,
        _runtime: runtime,
    }
}

/// What the OpenTelemetry layers see: the app's own events at `info` and above, never the
/// exporter's transport (hyper, h2, tonic, reqwest…) nor the SDK itself, which would otherwise
/// export their own export traffic forever.
fn otel_filter() -> EnvFilter {
    EnvFilter::new(
        "info,hyper=off,hyper_util=off,h2=off,tonic=off,tower=off,reqwest=off,opentelemetry=off,opentelemetry_sdk=off,opentelemetry_otlp=off,sqlx=warn",
    )
}

/// The resource: environment variables win; these fill what they leave unset.
fn resource(service: &ServiceInfo) -> Resource {
    let from_env = Resource::builder().build();
    let set = |key: &'static str| {
        from_env
            .get(&opentelemetry::Key::from_static_str(key))
            .is_some_and(|v| !v.as_str().starts_with("unknown_service"))
    };
    let mut defaults = Vec::new();
    if !set("service.name") {
        defaults.push(KeyValue::new("service.name", service.name));
    }
    if !set("service.version") {
        defaults.push(KeyValue::new("service.version", service.version));
    }
    if !set("service.instance.id") {
        let host = std::fs::read_to_string("/etc/hostname")
            .map(|h| h.trim().to_owned())
            .unwrap_or_else(|_| "localhost".into());
        defaults.push(KeyValue::new(
            "service.instance.id",
            format!("{host}-{}", std::process::id()),
        ));
    }
    if !set("deployment.environment.name") {
        defaults.push(KeyValue::new(
            "deployment.environment.name",
            service.environment.clone(),
        ));
    }
    Resource::builder().with_attributes(defaults).build()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Protocol {
    Grpc,
    HttpProtobuf,
}

/// Which signals to export and how, read from the standard variables.
struct ExportSettings {
    traces: Option<Protocol>,
    logs: Option<Protocol>,
}

impl ExportSettings {
    fn from_env() -> Self {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
        if var("OTEL_SDK_DISABLED").is_some_and(|v| v.eq_ignore_ascii_case("true")) {
            return Self {
                traces: None,
                logs: None,
            };
        }
        let general = var("OTEL_EXPORTER_OTLP_ENDPOINT").is_some();
        let protocol = |signal: &str| {
            let chosen = var(&format!("OTEL_EXPORTER_OTLP_{signal}_PROTOCOL"))
                .or_else(|| var("OTEL_EXPORTER_OTLP_PROTOCOL"));
            match chosen.as_deref() {
                Some("grpc") => Protocol::Grpc,
                _ => Protocol::HttpProtobuf,
            }
        };
        let enabled = |signal: &str| {
            (general || var(&format!("OTEL_EXPORTER_OTLP_{signal}_ENDPOINT")).is_some())
                && var(&format!("OTEL_{signal}_EXPORTER")).is_none_or(|v| v != "none")
        };
        Self {
            traces: enabled("TRACES").then(|| protocol("TRACES")),
            logs: enabled("LOGS").then(|| protocol("LOGS")),
        }
    }
}

/// Builds an OTLP exporter (`SpanExporter` or `LogExporter`: same builder API, no shared
/// trait) for the protocol.
macro_rules! otlp_exporter {
    ($exporter:ty, $protocol:expr, $runtime:expr) => {{
        use opentelemetry_otlp::WithExportConfig;
        let builder = <$exporter>::builder();
        match ($protocol, $runtime) {
            (Protocol::Grpc, Some(rt)) => {
                // tonic spawns its connection task on creation: build inside the export runtime.
                let _entered = rt.enter();
                builder.with_tonic().build().map_err(|e| e.to_string())
            }
            (Protocol::Grpc, None) => Err("no runtime for gRPC export".to_owned()),
            (Protocol::HttpProtobuf, _) => builder
                .with_http()
                .with_protocol(opentelemetry_otlp::Protocol::HttpBinary)
                .build()
                .map_err(|e| e.to_string()),
        }
    }};
}

fn span_exporter(
    protocol: Protocol,
    runtime: Option<&tokio::runtime::Handle>,
) -> Result<opentelemetry_otlp::SpanExporter, String> {
    otlp_exporter!(opentelemetry_otlp::SpanExporter, protocol, runtime)
}

fn log_exporter(
    protocol: Protocol,
    runtime: Option<&tokio::runtime::Handle>,
) -> Result<opentelemetry_otlp::LogExporter, String> {
    otlp_exporter!(opentelemetry_otlp::LogExporter, protocol, runtime)
}

/// The places in one signal's export queue, shared by the processor in front ([`Bounded`], which
/// takes a place per item) and the exporter behind ([`Counted`], which gives a batch's places
/// back once it is exported, delivered or not).
///
/// The SDK's batch processors drop silently when their queue is full. Counting places at the
/// door instead — and releasing them only after export, so the count is never below what the
/// SDK holds — means the SDK's queue never overflows and every item lost is counted.
#[derive(Debug, Clone)]
struct QueueRoom {
    signal: &'static str,
    taken: Arc<AtomicUsize>,
    overflowing: Arc<AtomicBool>,
}

impl QueueRoom {
    fn new(signal: &'static str) -> Self {
        // Registered at zero so the series exists before the first loss.
        metrics::counter!("telemetry_dropped_total", "signal" => signal).absolute(0);
        Self {
            signal,
            taken: Arc::new(AtomicUsize::new(0)),
            overflowing: Arc::new(AtomicBool::new(false)),
        }
    }

    /// Takes a place for one item, or counts it as dropped when the queue is full.
    fn take(&self) -> bool {
        if self.taken.fetch_add(1, Ordering::AcqRel) < QUEUE_SIZE {
            return true;
        }
        self.taken.fetch_sub(1, Ordering::AcqRel);
        metrics::counter!("telemetry_dropped_total", "signal" => self.signal).increment(1);
        if !self.overflowing.swap(true, Ordering::Relaxed) {
            tracing::warn!(
                signal = self.signal,
                queue = QUEUE_SIZE,
                "telemetry export queue full (collector slow?); dropping and counting"
            );
        }
        false
    }

    fn give_back(&self, items: usize) {
        let _ = self
            .taken
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                Some(n.saturating_sub(items))
            });
        self.overflowing.store(false, Ordering::Relaxed);
    }
}

/// `traceidratio` and `parentbased_traceidratio` as the specification has them, except that
/// a span the ratio leaves out is recorded (`RecordOnly`) rather than dropped, so that [`Held`]
/// can still export its request if it fails or is slow. `traceidratio` decides by trace id
/// alone, whatever a remote parent's flag says (nginx, which traces every request, sends
/// "sampled"): the web and the API draw the same for the same trace. Spans with a local parent
/// follow it.
#[derive(Debug, Clone)]
struct RatioKeepingErrors {
    ratio: f64,
    parent_based: bool,
}

impl RatioKeepingErrors {
    /// The sampler `OTEL_TRACES_SAMPLER(_ARG)` asks for, when it is one of the two ratios.
    fn from_env() -> Option<Self> {
        let sampler = std::env::var("OTEL_TRACES_SAMPLER").ok()?;
        let parent_based = match sampler.trim() {
            "traceidratio" => false,
            "parentbased_traceidratio" => true,
            _ => return None,
        };
        // As the SDK does: a missing or invalid argument means 1.0.
        let ratio = std::env::var("OTEL_TRACES_SAMPLER_ARG")
            .ok()
            .and_then(|v| v.trim().parse::<f64>().ok())
            .filter(|r| (0.0..=1.0).contains(r))
            .unwrap_or(1.0);
        Some(Self {
            ratio,
            parent_based,
        })
    }
}

impl ShouldSample for RatioKeepingErrors {
    fn should_sample(
        &self,
        parent_context: Option<&opentelemetry::Context>,
        trace_id: TraceId,
        name: &str,
        span_kind: &SpanKind,
        attributes: &[KeyValue],
        links: &[Link],
    ) -> SamplingResult {
        let parent = parent_context
            .map(|cx| cx.span().span_context().clone())
            .filter(SpanContext::is_valid);
        let sampled = match &parent {
            Some(p) if self.parent_based || !p.is_remote() => p.is_sampled(),
            _ => {
                Sampler::TraceIdRatioBased(self.ratio)
                    .should_sample(None, trace_id, name, span_kind, attributes, links)
                    .decision
                    == SamplingDecision::RecordAndSample
            }
        };
        SamplingResult {
            decision: if sampled {
                SamplingDecision::RecordAndSample
            } else {
                SamplingDecision::RecordOnly
            },
            attributes: Vec::new(),
            trace_state: parent.map_or_else(TraceState::default, |p| p.trace_state().clone()),
        }
    }
}

/// The spans of sampled-out traces, per trace, until the trace's local root (the server span
/// of a request, or a background task's first span) ends: if it failed or was slow, all of
/// them are exported, marked sampled; otherwise they are let go.
#[derive(Debug, Default)]
struct Held {
    /// Trace → (when its first span was held, its spans). Each change is one insert or
    /// remove, so a poisoned lock is recovered (`crate::sync::lock`).
    traces: Mutex<HashMap<TraceId, (Instant, Vec<SpanData>)>>,
    count: AtomicUsize,
}

impl Held {
    /// Takes a sampled-out span; returns the spans to export now (none, or a whole request).
    fn on_end(&self, span: SpanData) -> Vec<SpanData> {
        let trace_id = span.span_context.trace_id();
        let local_root = span.parent_span_id == SpanId::INVALID || span.parent_span_is_remote;
        let mut traces = crate::sync::lock(&self.traces);
        if !local_root {
            if self.count.load(Ordering::Relaxed) >= HELD_SPANS {
                // Spans whose request never ended here (a task outliving its request).
                let now = Instant::now();
                traces.retain(|_, (since, _)| now.duration_since(*since) < Duration::from_secs(30));
                self.count.store(
                    traces.values().map(|(_, spans)| spans.len()).sum(),
                    Ordering::Relaxed,
                );
                if self.count.load(Ordering::Relaxed) >= HELD_SPANS {
                    return Vec::new();
                }
            }
            traces
                .entry(trace_id)
                .or_insert_with(|| (Instant::now(), Vec::new()))
                .1
                .push(span);
            self.count.fetch_add(1, Ordering::Relaxed);
            return Vec::new();
        }
        let mut spans = traces.remove(&trace_id).map(|(_, s)| s).unwrap_or_default();
        drop(traces);
        let _ = self
            .count
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
                Some(n.saturating_sub(spans.len()))
            });
        let failed = matches!(span.status, Status::Error { .. });
        let slow = span
            .end_time
            .duration_since(span.start_time)
            .is_ok_and(|took| took >= SLOW_REQUEST);
        if !failed && !slow {
            return Vec::new();
        }
        spans.push(span);
        for span in &mut spans {
            let sc = &span.span_context;
            span.span_context = SpanContext::new(
                sc.trace_id(),
                sc.span_id(),
                sc.trace_flags().with_sampled(true),
                false,
                sc.trace_state().clone(),
            );
        }
        spans
    }
}

/// In front of the span exporter: sampled spans pass; sampled-out ones go to [`Held`], which
/// lets a failed or slow request's spans through, marked sampled, when the request ends.
#[derive(Debug)]
struct KeepFailedOrSlow<P> {
    inner: P,
    held: Held,
}

impl<P: SpanProcessor> SpanProcessor for KeepFailedOrSlow<P> {
    fn on_start(&self, span: &mut opentelemetry_sdk::trace::Span, cx: &opentelemetry::Context) {
        self.inner.on_start(span, cx);
    }

    fn on_end(&self, span: SpanData) {
        if span.span_context.is_sampled() {
            self.inner.on_end(span);
            return;
        }
        for span in self.held.on_end(span) {
            self.inner.on_end(span);
        }
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.inner.force_flush()
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.inner.shutdown_with_timeout(timeout)
    }

    fn set_resource(&mut self, resource: &Resource) {
        self.inner.set_resource(resource);
    }
}

/// A batch processor behind a door that refuses (and counts) what its queue has no room for.
#[derive(Debug)]
struct Bounded<P> {
    inner: P,
    room: QueueRoom,
}

impl<P: SpanProcessor> SpanProcessor for Bounded<P> {
    fn on_start(&self, span: &mut opentelemetry_sdk::trace::Span, cx: &opentelemetry::Context) {
        self.inner.on_start(span, cx);
    }

    fn on_end(&self, span: SpanData) {
        if self.room.take() {
            self.inner.on_end(span);
        }
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.inner.force_flush()
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.inner.shutdown_with_timeout(timeout)
    }

    fn set_resource(&mut self, resource: &Resource) {
        self.inner.set_resource(resource);
    }
}

impl<P: LogProcessor> LogProcessor for Bounded<P> {
    fn emit(&self, record: &mut SdkLogRecord, scope: &opentelemetry::InstrumentationScope) {
        if self.room.take() {
            self.inner.emit(record, scope);
        }
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.inner.force_flush()
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.inner.shutdown_with_timeout(timeout)
    }

    fn event_enabled(
        &self,
        level: opentelemetry::logs::Severity,
        target: &str,
        name: Option<&str>,
    ) -> bool {
        self.inner.event_enabled(level, target, name)
    }

    fn set_resource(&mut self, resource: &Resource) {
        self.inner.set_resource(resource);
    }
}

/// An exporter that counts what it fails to deliver and says so once per outage, gives queue
/// places back, and runs gRPC exports on the export runtime.
#[derive(Debug)]
struct Counted<E> {
    inner: E,
    signal: &'static str,
    room: QueueRoom,
    runtime: Option<tokio::runtime::Handle>,
    failing: Arc<AtomicBool>,
}

impl<E> Counted<E> {
    fn new(inner: E, room: QueueRoom, runtime: Option<tokio::runtime::Handle>) -> Self {
        Self {
            inner,
            signal: room.signal,
            room,
            runtime,
            failing: Arc::new(AtomicBool::new(false)),
        }
    }

    fn record(&self, items: usize, result: &OTelSdkResult) {
        self.room.give_back(items);
        match result {
            Ok(()) => {
                if self.failing.swap(false, Ordering::Relaxed) {
                    tracing::info!(signal = self.signal, "telemetry export recovered");
                }
            }
            Err(e) => {
                metrics::counter!("telemetry_dropped_total", "signal" => self.signal)
                    .increment(items as u64);
                if !self.failing.swap(true, Ordering::Relaxed) {
                    tracing::warn!(signal = self.signal, error = %e, "telemetry export failing; dropping and counting until it recovers");
                }
            }
        }
    }

    /// Runs an export future on the gRPC runtime when there is one (called from the SDK's
    /// batch thread, which is outside any runtime, so blocking here is allowed).
    fn drive<F: std::future::Future<Output = OTelSdkResult>>(&self, export: F) -> OTelSdkResult {
        match &self.runtime {
            Some(rt) => rt.block_on(export),
            None => futures_lite_block_on(export),
        }
    }
}

/// Polls a future to completion on this thread (the HTTP exporter's future is a blocking call
/// wrapped in `async`, ready on first poll).
fn futures_lite_block_on<F: std::future::Future>(future: F) -> F::Output {
    use std::task::{Context, Poll, Wake, Waker};
    struct Thread(std::thread::Thread);
    impl Wake for Thread {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = Waker::from(Arc::new(Thread(std::thread::current())));
    let mut cx = Context::from_waker(&waker);
    let mut future = std::pin::pin!(future);
    loop {
        match future.as_mut().poll(&mut cx) {
            Poll::Ready(v) => return v,
            Poll::Pending => std::thread::park(),
        }
    }
}

impl<E: SpanExporter> SpanExporter for Counted<E> {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        let items = batch.len();
        let result = self.drive(self.inner.export(batch));
        self.record(items, &result);
        result
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.inner.shutdown_with_timeout(timeout)
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.inner.force_flush()
    }

    fn set_resource(&mut self, resource: &Resource) {
        self.inner.set_resource(resource);
    }
}

impl<E: LogExporter> LogExporter for Counted<E> {
    async fn export(&self, batch: LogBatch<'_>) -> OTelSdkResult {
        let items = batch.iter().count();
        let result = self.drive(self.inner.export(batch));
        self.record(items, &result);
        result
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.inner.shutdown_with_timeout(timeout)
    }

    fn set_resource(&mut self, resource: &Resource) {
        self.inner.set_resource(resource);
    }
}

#[cfg(test)]
mod tests {
    use std::time::SystemTime;

    use opentelemetry::trace::{
        SpanContext, SpanId, SpanKind, Status, TraceContextExt as _, TraceFlags, TraceId,
    };
    use opentelemetry::{Context, InstrumentationScope};
    use opentelemetry_sdk::trace::{SamplingDecision, ShouldSample, SpanData};

    use super::{Held, RatioKeepingErrors, SLOW_REQUEST};

    fn span(trace: u128, id: u64, parent: u64, took: std::time::Duration, error: bool) -> SpanData {
        let start = SystemTime::UNIX_EPOCH;
        SpanData {
            span_context: SpanContext::new(
                TraceId::from(trace),
                SpanId::from(id),
                TraceFlags::default(),
                false,
                Default::default(),
            ),
            parent_span_id: SpanId::from(parent),
            parent_span_is_remote: false,
            span_kind: if parent == 0 {
                SpanKind::Server
            } else {
                SpanKind::Internal
            },
            name: "test".into(),
            start_time: start,
            end_time: start + took,
            attributes: Vec::new(),
            dropped_attributes_count: 0,
            events: Default::default(),
            links: Default::default(),
            status: if error {
                Status::error("5xx")
            } else {
                Status::Unset
            },
            instrumentation_scope: InstrumentationScope::builder("test").build(),
        }
    }

    #[test]
    fn a_sampled_out_request_is_exported_whole_only_when_it_failed_or_was_slow() {
        let held = Held::default();
        let fast = std::time::Duration::from_millis(3);
        // An ordinary request: its database span is held, then let go with the server span.
        assert!(held.on_end(span(1, 11, 10, fast, false)).is_empty());
        assert!(held.on_end(span(1, 10, 0, fast, false)).is_empty());
        // A failed one: both spans, marked sampled.
        assert!(held.on_end(span(2, 21, 20, fast, false)).is_empty());
        let failed = held.on_end(span(2, 20, 0, fast, true));
        assert_eq!(failed.len(), 2);
        assert!(failed.iter().all(|s| s.span_context.is_sampled()));
        // A slow one.
        assert!(held.on_end(span(3, 31, 30, fast, false)).is_empty());
        assert_eq!(held.on_end(span(3, 30, 0, SLOW_REQUEST, false)).len(), 2);
        // Nothing is left behind.
        assert!(crate::sync::lock(&held.traces).is_empty());
        assert_eq!(held.count.load(std::sync::atomic::Ordering::Relaxed), 0);
    }

    #[test]
    fn the_ratio_records_what_it_does_not_sample() {
        let sampler = RatioKeepingErrors {
            ratio: 0.1,
            parent_based: false,
        };
        let decisions: Vec<SamplingDecision> = (0..1_000u128)
            .map(|i| {
                let trace =
                    TraceId::from(i.wrapping_mul(0x9E37_79B9_7F4A_7C15_F39C_C060_5CED_C835));
                sampler
                    .should_sample(None, trace, "GET /", &SpanKind::Server, &[], &[])
                    .decision
            })
            .collect();
        let sampled = decisions
            .iter()
            .filter(|d| **d == SamplingDecision::RecordAndSample)
            .count();
        assert!((50..150).contains(&sampled), "{sampled} of 1,000 sampled");
        assert!(decisions.iter().all(|d| *d != SamplingDecision::Drop));
        // nginx says "sampled" for every request: traceidratio draws by trace id all the same,
        // parentbased_traceidratio follows it.
        let unsampled = (0..1_000u128)
            .map(|i| TraceId::from(i.wrapping_mul(0x9E37_79B9_7F4A_7C15_F39C_C060_5CED_C835)))
            .find(|t| {
                sampler
                    .should_sample(None, *t, "GET /", &SpanKind::Server, &[], &[])
                    .decision
                    == SamplingDecision::RecordOnly
            })
            .expect("nine in ten are not sampled");
        let from_nginx = Context::new().with_remote_span_context(SpanContext::new(
            unsampled,
            SpanId::from(1u64),
            TraceFlags::SAMPLED,
            true,
            Default::default(),
        ));
        let decide = |parent_based: bool| {
            RatioKeepingErrors {
                ratio: 0.1,
                parent_based,
            }
            .should_sample(
                Some(&from_nginx),
                unsampled,
                "GET /",
                &SpanKind::Server,
                &[],
                &[],
            )
            .decision
        };
        assert_eq!(decide(false), SamplingDecision::RecordOnly);
        assert_eq!(decide(true), SamplingDecision::RecordAndSample);
    }
}
