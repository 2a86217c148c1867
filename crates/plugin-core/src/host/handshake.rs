//! Host side, before the connection: reading the plugin's first stdout line within a
//! bound, and explaining a plugin that exited instead of printing it.

use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::process::Child;
use tokio::task::JoinHandle;

use crate::protocol::handshake::MAX_HANDSHAKE_LINE;

use super::error::HostError;
use super::process::{kill_and_reap, settle};
use super::stderr::StderrTail;

pub(crate) enum LineError {
    Eof,
    TooLong(String),
}

pub(crate) async fn read_line(stdout: &mut (impl AsyncRead + Unpin)) -> Result<String, LineError> {
    let mut buf = Vec::with_capacity(1024);
    let mut byte = [0u8; 512];
    loop {
        if let Some(pos) = buf.iter().position(|b| *b == b'\n') {
            // Nothing may precede the handshake; bytes after it are the plugin's.
            buf.truncate(pos);
            let line = String::from_utf8_lossy(&buf)
                .trim_end_matches('\r')
                .to_string();
            return Ok(line);
        }
        if buf.len() > MAX_HANDSHAKE_LINE {
            let prefix: String = String::from_utf8_lossy(&buf[..200]).into_owned();
            return Err(LineError::TooLong(prefix));
        }
        // Read one small chunk at a time; the handshake is the first line.
        let n = stdout.read(&mut byte).await.map_err(|_| LineError::Eof)?;
        if n == 0 {
            if buf.is_empty() {
                return Err(LineError::Eof);
            }
            return Ok(String::from_utf8_lossy(&buf).to_string());
        }
        buf.extend_from_slice(&byte[..n]);
    }
}

pub(crate) async fn drain_stdout(stdout: impl AsyncRead + Unpin, name: String) {
    use tokio::io::AsyncBufReadExt;
    let mut lines = tokio::io::BufReader::new(stdout).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        tracing::debug!(plugin = %name, "stdout: {line}");
    }
}

pub(crate) async fn exited_before_handshake(
    mut child: Child,
    mut readers: Vec<JoinHandle<()>>,
    stderr: StderrTail,
) -> HostError {
    use std::os::unix::process::ExitStatusExt;
    let status = match tokio::time::timeout(Duration::from_secs(2), child.wait()).await {
        Ok(Ok(s)) => Some(s),
        _ => {
            kill_and_reap(&mut child).await;
            None
        }
    };
    settle(&mut readers).await;
    let stderr_tail = stderr.lines();
    let code = status.and_then(|s| s.code());
    let signal = status.and_then(|s| s.signal());
    let text = stderr_tail.join("\n").to_ascii_lowercase();
    if code == Some(1)
        && (text.contains("not meant to be executed directly") || text.contains("magic cookie"))
    {
        return HostError::CookieRejected { code, stderr_tail };
    }
    HostError::Exited {
        code,
        signal,
        stderr_tail,
    }
}
