//! Zero-copy blob downloads on plain-TCP connections.
//!
//! hyper writes a response body by handing the connection `IoSlice`s that point at the
//! body's `Bytes`. Large blobs are served as slices of a memory map of the blob file
//! ([`crate::api::mapped`]), so this wrapper can recognise a slice that lies inside a
//! registered mapping and send those bytes with `sendfile(2)` from the file instead of
//! copying them from user memory — what Go's `net/http` does for distribution. Everything
//! else (headers, small bodies, reads) passes straight through. The bytes on the wire are
//! the same either way: the mapping and the file are the same immutable pages.

use crate::api::mapped;
use std::io::{self, IoSlice};
use std::os::fd::AsRawFd;
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, Interest, ReadBuf};
use tokio::net::TcpStream;

/// A TCP stream whose writes of mapped blob bytes use `sendfile`.
pub struct SendfileStream {
    inner: TcpStream,
}

impl SendfileStream {
    pub fn new(inner: TcpStream) -> SendfileStream {
        SendfileStream { inner }
    }

    fn poll_sendfile(
        &self,
        cx: &mut Context<'_>,
        file: &std::fs::File,
        offset: u64,
        len: usize,
    ) -> Poll<io::Result<usize>> {
        loop {
            ready!(self.inner.poll_write_ready(cx))?;
            let res = self.inner.try_io(Interest::WRITABLE, || {
                let mut off = offset as libc::off_t;
                // SAFETY: sendfile between two descriptors we hold; `off` is a local.
                let n = unsafe {
                    libc::sendfile(
                        self.inner.as_raw_fd(),
                        file.as_raw_fd(),
                        &mut off,
                        len.min(1 << 30),
                    )
                };
                if n < 0 {
                    Err(io::Error::last_os_error())
                } else {
                    Ok(n as usize)
                }
            });
            match res {
                Ok(n) => return Poll::Ready(Ok(n)),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
    }
}

impl AsyncRead for SendfileStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for SendfileStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if buf.len() >= 64 << 10 {
            if let Some((file, off)) = mapped::lookup(buf.as_ptr(), buf.len()) {
                return this.poll_sendfile(cx, &file, off, buf.len());
            }
        }
        Pin::new(&mut this.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let mapped_at = bufs
            .iter()
            .position(|b| b.len() >= 64 << 10 && mapped::lookup(b.as_ptr(), b.len()).is_some());
        match mapped_at {
            Some(0) => {
                let b = &bufs[0];
                match mapped::lookup(b.as_ptr(), b.len()) {
                    Some((file, off)) => this.poll_sendfile(cx, &file, off, b.len()),
                    None => Pin::new(&mut this.inner).poll_write(cx, b),
                }
            }
            // Write what precedes the mapped slice (headers, chunk sizes) first.
            Some(k) => Pin::new(&mut this.inner).poll_write_vectored(cx, &bufs[..k]),
            None => Pin::new(&mut this.inner).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}
