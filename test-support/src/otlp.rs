//! An OTLP receiver for tests: gRPC or HTTP/protobuf on a free port, recording every export,
//! and helpers to read spans and attributes back.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceResponse;
use opentelemetry_proto::tonic::collector::logs::v1::logs_service_server::{
    LogsService, LogsServiceServer,
};
pub use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceResponse;
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
pub use opentelemetry_proto::tonic::common::v1::KeyValue;
use opentelemetry_proto::tonic::common::v1::{AnyValue, any_value::Value as Any};
pub use opentelemetry_proto::tonic::trace::v1::{Span, span::SpanKind, status::StatusCode};
use prost::Message;

/// Everything the receiver got.
#[derive(Default)]
pub struct Received {
    pub traces: Vec<ExportTraceServiceRequest>,
    pub logs: Vec<ExportLogsServiceRequest>,
}

pub type Store = Arc<Mutex<Received>>;

#[derive(Clone)]
struct Grpc(Store);

#[tonic::async_trait]
impl TraceService for Grpc {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        self.0
            .lock()
            .expect("store lock is never poisoned: no panics while held")
            .traces
            .push(request.into_inner());
        Ok(tonic::Response::new(ExportTraceServiceResponse::default()))
    }
}

#[tonic::async_trait]
impl LogsService for Grpc {
    async fn export(
        &self,
        request: tonic::Request<ExportLogsServiceRequest>,
    ) -> Result<tonic::Response<ExportLogsServiceResponse>, tonic::Status> {
        self.0
            .lock()
            .expect("store lock is never poisoned: no panics while held")
            .logs
            .push(request.into_inner());
        Ok(tonic::Response::new(ExportLogsServiceResponse::default()))
    }
}

/// Starts a receiver for `protocol` (`grpc` or `http/protobuf`) on a free port of 127.0.0.1.
pub async fn receiver(protocol: &str) -> (SocketAddr, Store) {
    receiver_until(protocol, std::future::pending()).await
}

/// [`receiver`] that stops when `stop` resolves, as a collector shut down would: it stops
/// accepting and closes its connections (exporters then find nothing listening).
pub async fn receiver_until(
    protocol: &str,
    stop: impl std::future::Future<Output = ()> + Send + 'static,
) -> (SocketAddr, Store) {
    let store = Store::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a free port on 127.0.0.1");
    let addr = listener
        .local_addr()
        .expect("a bound listener has an address");
    if protocol == "grpc" {
        let service = Grpc(store.clone());
        let incoming = stream_of(listener);
        tokio::spawn(
            tonic::transport::Server::builder()
                .add_service(TraceServiceServer::new(service.clone()))
                .add_service(LogsServiceServer::new(service))
                .serve_with_incoming_shutdown(incoming, stop),
        );
    } else {
        let traces = store.clone();
        let logs = store.clone();
        let app = axum::Router::new()
            .route(
                "/v1/traces",
                axum::routing::post(move |body: axum::body::Bytes| async move {
                    if let Ok(req) = ExportTraceServiceRequest::decode(body) {
                        traces.lock().expect("store lock").traces.push(req);
                    }
                    ExportTraceServiceResponse::default().encode_to_vec()
                }),
            )
            .route(
                "/v1/logs",
                axum::routing::post(move |body: axum::body::Bytes| async move {
                    if let Ok(req) = ExportLogsServiceRequest::decode(body) {
                        logs.lock().expect("store lock").logs.push(req);
                    }
                    ExportLogsServiceResponse::default().encode_to_vec()
                }),
            );
        tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(stop)
                .await
        });
    }
    (addr, store)
}

/// A `TcpListener` as the stream of connections tonic's `serve_with_incoming` wants.
fn stream_of(
    listener: tokio::net::TcpListener,
) -> impl futures::Stream<Item = std::io::Result<tokio::net::TcpStream>> {
    futures::stream::unfold(listener, |listener| async move {
        let accepted = listener.accept().await.map(|(stream, _)| stream);
        Some((accepted, listener))
    })
}

fn attr<'a>(attributes: &'a [KeyValue], key: &str) -> Option<&'a Any> {
    attributes
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| kv.value.as_ref())
        .and_then(|v: &AnyValue| v.value.as_ref())
}

/// An attribute as text (strings as they are, integers in decimal).
pub fn string_attr(attributes: &[KeyValue], key: &str) -> Option<String> {
    match attr(attributes, key) {
        Some(Any::StringValue(s)) => Some(s.clone()),
        Some(Any::IntValue(i)) => Some(i.to_string()),
        _ => None,
    }
}

/// Lower-case hex of an id.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Every span received so far, with its resource's attributes.
pub fn all_spans(store: &Store) -> Vec<(Span, Vec<KeyValue>)> {
    let received = store.lock().expect("store lock");
    let mut out = Vec::new();
    for request in &received.traces {
        for rs in &request.resource_spans {
            let resource = rs
                .resource
                .as_ref()
                .map(|r| r.attributes.clone())
                .unwrap_or_default();
            for ss in &rs.scope_spans {
                for span in &ss.spans {
                    out.push((span.clone(), resource.clone()));
                }
            }
        }
    }
    out
}

/// The spans of one trace received so far, with their resource attributes.
pub fn spans_of(store: &Store, trace_id: &str) -> Vec<(Span, Vec<KeyValue>)> {
    all_spans(store)
        .into_iter()
        .filter(|(span, _)| hex(&span.trace_id) == trace_id)
        .collect()
}

/// Polls `probe` every 100 ms until it gives a value, failing the test after 15 s.
pub async fn wait_until<T>(what: &str, mut probe: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        if let Some(v) = probe() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A free TCP port on 127.0.0.1 (for processes that must be told their port).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port on 127.0.0.1")
}
