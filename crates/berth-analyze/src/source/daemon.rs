//! Images in a Docker-API daemon (berth's own or a real dockerd), read through
//! `GET /images/{name}/get` with bollard. The export stream is handed chunk by chunk to
//! the streaming archive reader on this thread through a small bounded channel, so the
//! image is never written to disk or held in memory whole (dive exports to a temp file
//! first: dive#153).

use super::archive::load_stream;
use crate::error::{AnalyzeError, Result};
use crate::image::Image;
use bytes_chunk::ChannelReader;
use futures::StreamExt;
use std::sync::mpsc;

/// berth's default API socket.
pub const BERTH_SOCKET: &str = "unix:///run/berth/berth.sock";
/// dockerd's default API socket.
pub const DOCKER_SOCKET: &str = "unix:///var/run/docker.sock";

mod bytes_chunk {
    //! A `Read` over chunks arriving on a channel.
    use std::io::{self, Read};
    use std::sync::mpsc::Receiver;

    pub struct ChannelReader {
        pub rx: Receiver<io::Result<Vec<u8>>>,
        pub cur: Vec<u8>,
        pub pos: usize,
    }

    impl Read for ChannelReader {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            while self.pos >= self.cur.len() {
                match self.rx.recv() {
                    Ok(Ok(chunk)) => {
                        self.cur = chunk;
                        self.pos = 0;
                    }
                    Ok(Err(e)) => return Err(e),
                    Err(_) => return Ok(0),
                }
            }
            let n = buf.len().min(self.cur.len() - self.pos);
            buf[..n].copy_from_slice(&self.cur[self.pos..self.pos + n]);
            self.pos += n;
            Ok(n)
        }
    }
}

fn connect(host: &str) -> Result<bollard::Docker> {
    let err = |e: bollard::errors::Error| {
        AnalyzeError::Daemon {
        host: host.to_string(),
        message: format!(
            "{e} (is the daemon running? choose another with -H, or analyze a file with --source docker-archive|oci-dir)"
        ),
    }
    };
    let timeout = 3600;
    if host.starts_with("unix://") || host.starts_with('/') {
        bollard::Docker::connect_with_unix(host, timeout, bollard::API_DEFAULT_VERSION).map_err(err)
    } else if host.starts_with("tcp://") || host.starts_with("http://") {
        bollard::Docker::connect_with_http(host, timeout, bollard::API_DEFAULT_VERSION).map_err(err)
    } else {
        Err(AnalyzeError::Daemon {
            host: host.to_string(),
            message: "unsupported host: use unix:///path/to.sock or tcp://host:port".into(),
        })
    }
}

/// Exports `image` from the daemon at `host` and analyzes the stream.
pub fn load(host: &str, image: &str) -> Result<Image> {
    let docker = connect(host)?;
    let (tx, rx) = mpsc::sync_channel::<std::io::Result<Vec<u8>>>(16);
    let (meta_tx, meta_rx) = mpsc::channel::<Result<()>>();
    let host_s = host.to_string();
    let name = image.to_string();
    let pump = std::thread::spawn(move || {
        let rt = match tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        {
            Ok(rt) => rt,
            Err(e) => {
                let _ = meta_tx.send(Err(AnalyzeError::io("starting tokio runtime", e)));
                return;
            }
        };
        rt.block_on(async move {
            if let Err(e) = docker.inspect_image(&name).await {
                let _ = meta_tx.send(Err(AnalyzeError::Daemon {
                    host: host_s,
                    message: format!("image {name:?}: {e}"),
                }));
                return;
            }
            let _ = meta_tx.send(Ok(()));
            let mut stream = docker.export_image(&name);
            while let Some(item) = stream.next().await {
                let msg = item
                    .map(|b| b.to_vec())
                    .map_err(|e| std::io::Error::other(format!("export of {name}: {e}")));
                let stop = msg.is_err();
                if tx.send(msg).is_err() || stop {
                    break;
                }
            }
        });
    });
    match meta_rx.recv() {
        Ok(Ok(())) => {}
        Ok(Err(e)) => {
            let _ = pump.join();
            return Err(e);
        }
        Err(_) => {
            let _ = pump.join();
            return Err(AnalyzeError::Daemon {
                host: host.to_string(),
                message: "export thread ended unexpectedly".into(),
            });
        }
    }
    let reader = ChannelReader {
        rx,
        cur: Vec::new(),
        pos: 0,
    };
    let result = load_stream(reader, Some(image), image);
    let _ = pump.join();
    result
}
