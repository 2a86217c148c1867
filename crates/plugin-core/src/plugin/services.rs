//! go-plugin's internal services, plugin side: GRPCController (graceful shutdown),
//! GRPCStdio (held open, silent: we log straight to stderr) and GRPCBroker (the stream
//! of [`crate::broker::Broker`]).

use std::pin::Pin;
use std::sync::{Arc, Mutex};

use tokio::sync::mpsc;
use tokio_stream::Stream;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status, Streaming};

use crate::protocol::proto;
use crate::shutdown::ShutdownSignal;
use proto::grpc_broker_server::GrpcBroker;
use proto::grpc_controller_server::GrpcController;
use proto::grpc_stdio_server::GrpcStdio;
use proto::{ConnInfo, Empty, StdioData};

type BoxStream<T> = Pin<Box<dyn Stream<Item = Result<T, Status>> + Send + 'static>>;

/// `plugin.GRPCController`: Shutdown replies, then stops the plugin.
#[derive(Debug, Clone)]
pub struct Controller {
    pub(crate) shutdown: ShutdownSignal,
}

#[tonic::async_trait]
impl GrpcController for Controller {
    async fn shutdown(&self, _req: Request<Empty>) -> Result<Response<Empty>, Status> {
        tracing::info!("host asked for shutdown");
        // Graceful shutdown lets this in-flight reply reach the host first.
        self.shutdown.trigger();
        Ok(Response::new(Empty {}))
    }
}

/// `plugin.GRPCStdio`: streams what the plugin sends through its [`PluginStdio`] (and,
/// with [`crate::ServeConfig::redirect_stdout`], what it prints on stdout after the
/// handshake) to the host, as go-plugin's plugins do.
#[derive(Debug, Clone)]
pub struct StdioService {
    pub(crate) stdio: PluginStdio,
    pub(crate) shutdown: ShutdownSignal,
}

#[tonic::async_trait]
impl GrpcStdio for StdioService {
    type StreamStdioStream = BoxStream<StdioData>;
    async fn stream_stdio(
        &self,
        _req: Request<()>,
    ) -> Result<Response<Self::StreamStdioStream>, Status> {
        let (tx, rx) = mpsc::channel::<Result<StdioData, Status>>(64);
        *self.stdio.inner.sink.lock().expect("stdio lock") = Some(tx.clone());
        let stdio = self.stdio.clone();
        let shutdown = self.shutdown.clone();
        // At shutdown both senders go, which ends the stream, so graceful stop does not
        // wait on it; output after that goes to our own stdout/stderr.
        tokio::spawn(async move {
            tokio::select! {
                _ = shutdown.wait() => {}
                _ = tx.closed() => {}
            }
            let mut sink = stdio.inner.sink.lock().expect("stdio lock");
            if sink.as_ref().is_some_and(|s| s.same_channel(&tx)) {
                sink.take();
            }
        });
        Ok(Response::new(Box::pin(ReceiverStream::new(rx))))
    }
}

/// Which of the plugin's output streams bytes belong to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StdioChannel {
    /// The plugin's stdout.
    Stdout,
    /// The plugin's stderr.
    Stderr,
}

/// The plugin's output to its host through go-plugin's GRPCStdio stream (a go-plugin
/// host writes it to its `SyncStdout` / `SyncStderr`). Before a host opens the stream,
/// or for a host that never does, bytes go to the process's own stdout/stderr instead,
/// so nothing is lost and nothing blocks. Cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct PluginStdio {
    inner: Arc<StdioInner>,
}

#[derive(Debug, Default)]
struct StdioInner {
    sink: Mutex<Option<mpsc::Sender<Result<StdioData, Status>>>>,
    /// Where stdout bytes go without a stream (the original stdout when it was redirected).
    fallback_stdout: Mutex<Option<std::fs::File>>,
}

impl PluginStdio {
    /// Sends `bytes` as the plugin's stdout.
    pub fn stdout(&self, bytes: impl Into<Vec<u8>>) {
        self.send(StdioChannel::Stdout, bytes.into());
    }

    /// Sends `bytes` as the plugin's stderr.
    pub fn stderr(&self, bytes: impl Into<Vec<u8>>) {
        self.send(StdioChannel::Stderr, bytes.into());
    }

    /// Whether a host is reading the stream now.
    pub fn is_streaming(&self) -> bool {
        self.inner
            .sink
            .lock()
            .expect("stdio lock")
            .as_ref()
            .is_some_and(|s| !s.is_closed())
    }

    /// Sends `data` on `channel`; never blocks (a host that stops reading loses bytes
    /// beyond a 64-message queue, with a warning, rather than freezing the plugin).
    pub fn send(&self, channel: StdioChannel, data: Vec<u8>) {
        if data.is_empty() {
            return;
        }
        let sink = self.inner.sink.lock().expect("stdio lock").clone();
        let msg = StdioData {
            channel: match channel {
                StdioChannel::Stdout => proto::stdio_data::Channel::Stdout as i32,
                StdioChannel::Stderr => proto::stdio_data::Channel::Stderr as i32,
            },
            data,
        };
        let msg = match sink {
            Some(tx) => match tx.try_send(Ok(msg)) {
                Ok(()) => return,
                Err(mpsc::error::TrySendError::Full(_)) => {
                    tracing::warn!("host is not reading GRPCStdio; dropping plugin output");
                    return;
                }
                Err(mpsc::error::TrySendError::Closed(Ok(m))) => m,
                Err(mpsc::error::TrySendError::Closed(Err(_))) => return,
            },
            None => msg,
        };
        self.write_locally(channel, &msg.data);
    }

    fn write_locally(&self, channel: StdioChannel, data: &[u8]) {
        use std::io::Write as _;
        match channel {
            StdioChannel::Stdout => {
                let mut fallback = self.inner.fallback_stdout.lock().expect("stdio lock");
                match fallback.as_mut() {
                    Some(f) => {
                        let _ = f.write_all(data);
                    }
                    None => {
                        let _ = std::io::stdout().write_all(data);
                        let _ = std::io::stdout().flush();
                    }
                }
            }
            StdioChannel::Stderr => {
                let _ = std::io::stderr().write_all(data);
            }
        }
    }

    /// Points fd 1 at a pipe whose bytes this handle sends as stdout (as go-plugin
    /// redirects `os.Stdout` after the handshake). Returns a guard that restores fd 1.
    pub(crate) fn redirect_stdout(&self) -> std::io::Result<StdoutRedirect> {
        use std::os::fd::{AsRawFd as _, FromRawFd as _, OwnedFd};
        let _ = std::io::Write::flush(&mut std::io::stdout());
        let mut fds = [0; 2];
        // SAFETY: pipe2 writes two fds into the array.
        if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
        // SAFETY: both fds were just created and are owned by nobody else.
        let (read, write) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
        // SAFETY: dup of fd 1, which is open for the life of the process.
        let saved = unsafe { libc::fcntl(1, libc::F_DUPFD_CLOEXEC, 3) };
        if saved < 0 {
            return Err(std::io::Error::last_os_error());
        }
        // SAFETY: saved is a fresh fd we own.
        let saved = unsafe { OwnedFd::from_raw_fd(saved) };
        // SAFETY: dup2 onto fd 1; `write` stays open until dropped below.
        if unsafe { libc::dup2(write.as_raw_fd(), 1) } < 0 {
            return Err(std::io::Error::last_os_error());
        }
        drop(write);
        *self.inner.fallback_stdout.lock().expect("stdio lock") =
            Some(std::fs::File::from(saved.try_clone()?));
        let this = self.clone();
        let mut pipe = std::fs::File::from(read);
        std::thread::Builder::new()
            .name("plugin-stdout".into())
            .spawn(move || {
                use std::io::Read as _;
                let mut buf = vec![0u8; 8192];
                loop {
                    match pipe.read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => this.stdout(buf[..n].to_vec()),
                    }
                }
            })?;
        Ok(StdoutRedirect { saved })
    }
}

/// Restores fd 1 when dropped, which also ends the redirect's reader thread.
#[derive(Debug)]
pub(crate) struct StdoutRedirect {
    saved: std::os::fd::OwnedFd,
}

impl Drop for StdoutRedirect {
    fn drop(&mut self) {
        use std::os::fd::AsRawFd as _;
        let _ = std::io::Write::flush(&mut std::io::stdout());
        // SAFETY: dup2 of an fd we own onto fd 1.
        unsafe { libc::dup2(self.saved.as_raw_fd(), 1) };
    }
}

/// `plugin.GRPCBroker`: the plugin side of the broker stream; connection infos flow both
/// ways through the plugin's [`crate::broker::Broker`].
#[derive(Debug, Clone)]
pub struct BrokerService {
    pub(crate) broker: crate::broker::Broker,
}

#[tonic::async_trait]
impl GrpcBroker for BrokerService {
    type StartStreamStream = BoxStream<ConnInfo>;
    async fn start_stream(
        &self,
        req: Request<Streaming<ConnInfo>>,
    ) -> Result<Response<Self::StartStreamStream>, Status> {
        let stream = self.broker.serve_stream(req.into_inner())?;
        Ok(Response::new(Box::pin(stream)))
    }
}
