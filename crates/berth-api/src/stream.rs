//! Bridges between async HTTP bodies and the engine's blocking readers and writers.

use axum::body::Body;
use bytes::Bytes;
use futures::TryStreamExt;
use std::io::{self, Write};
use tokio::sync::mpsc;

/// A request body as a blocking `Read` (use only inside `spawn_blocking`).
pub fn body_reader(body: Body) -> impl io::Read + Send + 'static {
    let stream = body.into_data_stream().map_err(io::Error::other);
    tokio_util::io::SyncIoBridge::new(tokio_util::io::StreamReader::new(stream))
}

/// A blocking `Write` whose bytes become a streamed response body.
pub struct ChannelWriter {
    tx: mpsc::Sender<io::Result<Bytes>>,
    buf: Vec<u8>,
}

const CHUNK: usize = 256 * 1024;

impl Write for ChannelWriter {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.buf.extend_from_slice(data);
        if self.buf.len() >= CHUNK {
            self.flush()?;
        }
        Ok(data.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        if !self.buf.is_empty() {
            let chunk = Bytes::from(std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK)));
            self.tx
                .blocking_send(Ok(chunk))
                .map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "client went away"))?;
        }
        Ok(())
    }
}

impl ChannelWriter {
    /// The response body was dropped (the client went away).
    pub fn is_closed(&self) -> bool {
        self.tx.is_closed()
    }

    /// Sends an error into the body (the client sees a truncated stream).
    pub fn fail(self, e: io::Error) {
        let _ = self.tx.blocking_send(Err(e));
    }
}

/// A writer and the body it feeds.
pub fn body_writer() -> (ChannelWriter, Body) {
    let (tx, rx) = mpsc::channel(8);
    let body = Body::from_stream(tokio_stream::wrappers::ReceiverStream::new(rx));
    (
        ChannelWriter {
            tx,
            buf: Vec::with_capacity(CHUNK),
        },
        body,
    )
}
