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

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use opentelemetry::KeyValue;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_appender_tracing::layer::OpenTelemetryTracingBridge;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::logs::{
    BatchLogProcessor, LogBatch, LogExporter, LogProcessor, SdkLogRecord, SdkLoggerProvider,
};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::{
    BatchConfigBuilder, BatchSpanProcessor, SdkTracerProvider, SpanData, SpanExporter,
    SpanProcessor,
};
use tracing_subscriber::fmt::format::{FormatEvent, FormatFields, Writer};
use tracing_subscriber::fmt::{FmtContext, format::JsonFields};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::{EnvFilter, Layer, fmt, layer::SubscriberExt, util::SubscriberInitExt};

/// Spans or log records waiting for export, per signal; past this they are dropped.
const QUEUE_SIZE: usize = 4096;

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
    let json = fmt::layer()
        .fmt_fields(JsonFields::new())
        .event_format(WithTraceIds(
            fmt::format()
                .json()
                .flatten_event(true)
                .with_current_span(true)
                .with_span_list(false)
                .with_target(true),
        ))
        .with_filter(filter());

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
                tracer = tracer.with_span_processor(Bounded {
                    inner: processor,
                    room,
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

/// The JSON event format plus the OpenTelemetry `trace_id` and `span_id` of the span the event
/// happened in, so a log line on stdout leads to its trace.
struct WithTraceIds<F>(F);

impl<S, N, F> FormatEvent<S, N> for WithTraceIds<F>
where
    S: tracing::Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
    F: FormatEvent<S, N>,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &tracing::Event<'_>,
    ) -> std::fmt::Result {
        use opentelemetry::trace::TraceContextExt as _;
        use tracing_opentelemetry::OpenTelemetrySpanExt as _;
        let mut line = String::new();
        self.0.format_event(ctx, Writer::new(&mut line), event)?;
        let ids = ctx.lookup_current().and_then(|_| {
            let cx = tracing::Span::current().context();
            let span = cx.span();
            let sc = span.span_context();
            sc.is_valid()
                .then(|| (sc.trace_id().to_string(), sc.span_id().to_string()))
        });
        match (ids, line.strip_suffix("}\n")) {
            (Some((trace_id, span_id)), Some(body)) => {
                writeln!(
                    writer,
                    "{body},\"trace_id\":\"{trace_id}\",\"span_id\":\"{span_id}\"}}"
                )
            }
            _ => writer.write_str(&line),
        }
    }
}
