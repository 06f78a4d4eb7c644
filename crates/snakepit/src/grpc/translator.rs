//! The translator: a task of the host that stands in for a gRPC worker on its native link.
//!
//! To the pool it is an ordinary native worker: it sends the `hello` (with the tools the
//! worker registered), answers `call`, `ping` and `session_drop`, and sends `host_call`s. To
//! the Python process it is the original's host: it serves `BridgeService` for the worker's
//! call-backs and calls the worker's `ExecuteTool` / `ExecuteStreamingTool`. It ends when the
//! pool closes the link; the pool's supervisor owns the process.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::StreamExt;
use nix::sys::signal::Signal;
use tokio::sync::oneshot;
use tokio_util::codec::FramedRead;
use tonic::transport::{Channel, Endpoint, Server};

use super::call::{self, Outcome};
use super::host::HostService;
use super::pb;
use super::pb::bridge_service_client::BridgeServiceClient;
use super::pb::bridge_service_server::BridgeServiceServer;
use super::state::State;
use crate::process::signal_group;
use crate::protocol::{Kind, Message, PROTOCOL_VERSION, decode, frame_codec};
use crate::worker::WorkerId;

/// How often the ready file is looked at.
const READY_POLL: Duration = Duration::from_millis(10);
/// How long one connect-and-ping to a worker that wrote its ready file may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// How many times the first ping is tried (the original host tries 5 times).
const CONNECT_TRIES: u32 = 5;
/// How long a heartbeat ping to the worker may take before the pool judges it.
const PING_TIMEOUT: Duration = Duration::from_secs(30);
/// How long the host's server gets to finish the worker's calls once the link is closed.
const SERVER_DRAIN: Duration = Duration::from_secs(5);
/// The tool the start-up probe calls: no tool has this name. The worker registers its
/// tools on a session's first call, before it finds the tool missing.
const PROBE_TOOL: &str = "__snakepit_list_tools__";

/// Everything the translator of one worker starts with.
#[derive(Debug)]
pub(super) struct Parts {
    pub(super) adapter: String,
    pub(super) listener: tokio::net::TcpListener,
    pub(super) ready_file: PathBuf,
    pub(super) link: tokio::net::UnixStream,
    pub(super) pid: u32,
    pub(super) worker: WorkerId,
    pub(super) max_frame: usize,
}

/// Removes the ready file (and its temporary twin) when the translator ends.
struct ReadyFile(PathBuf);

impl Drop for ReadyFile {
    fn drop(&mut self) {
        let _absent = std::fs::remove_file(&self.0);
        let _absent_tmp = std::fs::remove_file(self.0.with_extension("tmp"));
    }
}

/// Runs the translator of one worker until the pool closes the link.
pub(super) async fn run(parts: Parts) {
    let worker = parts.worker;
    let _ready_file = ReadyFile(parts.ready_file.clone());
    let (read, write) = parts.link.into_split();
    let micros = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_micros();
    let session = format!("session_{}_{worker}_{micros}", std::process::id());
    let state = Arc::new(State::new(write, parts.max_frame, session));
    let (stop_server, stopped) = oneshot::channel::<()>();
    let service = BridgeServiceServer::new(HostService {
        state: Arc::clone(&state),
    })
    .max_decoding_message_size(usize::MAX)
    .max_encoding_message_size(usize::MAX);
    let server = Server::builder()
        .add_service(service)
        .serve_with_incoming_shutdown(
            tonic::transport::server::TcpIncoming::from(parts.listener),
            async {
                let _either = stopped.await;
            },
        );
    let server = tokio::spawn(server);
    let mut reader = FramedRead::new(read, frame_codec(parts.max_frame));
    let connected = tokio::select! {
        connected = connect(&state, &parts.ready_file) => connected,
        // The pool gave up on the worker (startup timeout) or went away.
        _closed = reader.next() => None,
    };
    if let Some(client) = connected {
        let hello = Message {
            protocol: Some(PROTOCOL_VERSION),
            pid: Some(parts.pid),
            encodings: Some(vec!["msgpack".to_owned(), "json".to_owned()]),
            adapter: Some(parts.adapter.clone()),
            tools: Some(state.tools()),
            runtime: Some(format!("grpc {}", parts.adapter)),
            ..Message::new(Kind::Hello)
        };
        if state.send(&hello).await.is_ok() {
            tracing::debug!(%worker, "gRPC worker ready");
            serve(&state, client, &mut reader, worker, parts.pid).await;
        }
    }
    state.close();
    let _gone = stop_server.send(());
    // The server waits for the worker's open calls; a worker that lingers does not hold it.
    let abort = server.abort_handle();
    if tokio::time::timeout(SERVER_DRAIN, server).await.is_err() {
        abort.abort();
        tracing::debug!(%worker, "the gRPC host stopped without draining");
    }
}

/// Waits for the ready file, connects, pings, initialises the worker's own session and
/// learns its tools.
async fn connect(state: &State, ready_file: &Path) -> Option<BridgeServiceClient<Channel>> {
    let port = loop {
        if let Ok(text) = std::fs::read_to_string(ready_file) {
            if let Ok(port) = text.trim().parse::<u16>() {
                let _read = std::fs::remove_file(ready_file);
                break port;
            }
        }
        tokio::time::sleep(READY_POLL).await;
    };
    let endpoint = Endpoint::from_shared(format!("http://127.0.0.1:{port}"))
        .ok()?
        .connect_timeout(CONNECT_TIMEOUT);
    let mut delay = Duration::from_millis(50);
    let mut client = None;
    for _ in 0..CONNECT_TRIES {
        if let Ok(Ok(channel)) = tokio::time::timeout(CONNECT_TIMEOUT, endpoint.connect()).await {
            let mut candidate = BridgeServiceClient::new(channel)
                .max_decoding_message_size(usize::MAX)
                .max_encoding_message_size(usize::MAX);
            let ping = pb::PingRequest {
                message: "connection_test".to_owned(),
            };
            if let Ok(Ok(_pong)) = tokio::time::timeout(CONNECT_TIMEOUT, candidate.ping(ping)).await
            {
                client = Some(candidate);
                break;
            }
        }
        tokio::time::sleep(delay).await;
        delay *= 2;
    }
    let mut client = client?;
    // Starts the worker's heartbeat towards us for its own session. Its errors do not matter.
    let init = pb::InitializeSessionRequest {
        session_id: state.worker_session.clone(),
        ..pb::InitializeSessionRequest::default()
    };
    let _ignored = client.initialize_session(init).await;
    let probe = pb::ExecuteToolRequest {
        session_id: state.worker_session.clone(),
        tool_name: PROBE_TOOL.to_owned(),
        ..pb::ExecuteToolRequest::default()
    };
    let _unknown_tool = client.execute_tool(probe).await;
    Some(client)
}

/// The calls running on the worker, by native call id: dropping the sender drops the RPC.
type Running = Arc<Mutex<HashMap<u64, oneshot::Sender<()>>>>;

/// Serves the pool's frames until the link closes.
async fn serve(
    state: &Arc<State>,
    client: BridgeServiceClient<Channel>,
    reader: &mut FramedRead<
        tokio::net::unix::OwnedReadHalf,
        tokio_util::codec::LengthDelimitedCodec,
    >,
    worker: WorkerId,
    pid: u32,
) {
    let running: Running = Arc::default();
    while let Some(Ok(payload)) = reader.next().await {
        let message = match decode(&payload) {
            Ok(message) => message,
            Err(err) => {
                tracing::warn!(%worker, error = %err, "undecodable frame from the pool");
                break;
            }
        };
        match message.kind() {
            Kind::Welcome => state.welcome(&message).await,
            Kind::Call => start_call(state, &client, &running, worker, pid, message),
            // The worker cannot stop a running tool: the RPC is dropped and nothing is
            // answered, so the pool kills the worker after its cancel grace.
            Kind::Cancel => {
                let cancelled = message.id.and_then(|id| {
                    running
                        .lock()
                        .expect("running lock is never poisoned")
                        .remove(&id)
                });
                drop(cancelled);
            }
            Kind::Ping => {
                let state = Arc::clone(state);
                let mut client = client.clone();
                tokio::spawn(async move {
                    let ping = pb::PingRequest {
                        message: "heartbeat".to_owned(),
                    };
                    let answered = tokio::time::timeout(PING_TIMEOUT, client.ping(ping)).await;
                    if let (Ok(Ok(_pong)), Some(id)) = (answered, message.id) {
                        let _closed = state.send(&Message::for_call(Kind::Pong, id)).await;
                    }
                });
            }
            Kind::HostResult => state.host_result(message),
            Kind::SessionDrop => {
                let mut client = client.clone();
                tokio::spawn(async move {
                    let cleanup = pb::CleanupSessionRequest {
                        session_id: message.session_id.unwrap_or_default(),
                        force: true,
                    };
                    let _ignored = client.cleanup_session(cleanup).await;
                });
            }
            kind => tracing::debug!(%worker, ?kind, "frame ignored by the gRPC translator"),
        }
    }
    // The link is closed: every running RPC is dropped with its sender.
    running
        .lock()
        .expect("running lock is never poisoned")
        .clear();
}

fn start_call(
    state: &Arc<State>,
    client: &BridgeServiceClient<Channel>,
    running: &Running,
    worker: WorkerId,
    pid: u32,
    call: Message,
) {
    let id = call.id.unwrap_or_default();
    let (cancel, cancelled) = oneshot::channel();
    running
        .lock()
        .expect("running lock is never poisoned")
        .insert(id, cancel);
    let state = Arc::clone(state);
    let client = client.clone();
    let running = Arc::clone(running);
    tokio::spawn(async move {
        let name = worker.to_string();
        tokio::select! {
            outcome = call::run(&state, client, &name, call) => match outcome {
                Outcome::Answer(answer) => {
                    let _closed = state.send(&answer).await;
                }
                Outcome::Broken(status) => {
                    // The process may live on with a dead server; it can serve nothing more.
                    tracing::warn!(%worker, %status, "the gRPC worker failed mid-call; killing it");
                    if let Err(err) = signal_group(pid, Signal::SIGKILL) {
                        tracing::warn!(%worker, error = %err, "could not kill the gRPC worker");
                    }
                }
            },
            _dropped = cancelled => {}
        }
        running
            .lock()
            .expect("running lock is never poisoned")
            .remove(&id);
    });
}
