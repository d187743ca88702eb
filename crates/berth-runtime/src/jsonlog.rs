//! Docker's `json-file` log format: one JSON object per line,
//! `{"log":"text\n","stream":"stdout","time":"2024-01-02T03:04:05.123456789Z"}`.
//!
//! Output is split at newlines like Docker does; a line longer than 16 KiB is written in
//! 16 KiB pieces without a trailing newline (Docker's partial messages), and whatever is left
//! when a stream ends is written as a final partial entry.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::status::now_rfc3339;

/// Docker's maximum log message size before a line is split.
pub const MAX_LINE: usize = 16 * 1024;

/// One log entry as stored on disk.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct LogEntry {
    /// The text, including its trailing newline when the line was complete.
    pub log: String,
    /// `stdout` or `stderr`.
    pub stream: String,
    /// RFC 3339 nanosecond timestamp.
    pub time: String,
}

/// Which output stream a chunk came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stream {
    /// Standard output (also a pty's output).
    Stdout,
    /// Standard error.
    Stderr,
}

impl Stream {
    fn name(self) -> &'static str {
        match self {
            Stream::Stdout => "stdout",
            Stream::Stderr => "stderr",
        }
    }
}

/// Appends container output to a json-file log.
pub struct LogWriter {
    file: File,
    partial: [Vec<u8>; 2],
}

impl LogWriter {
    /// Opens (appending, creating with mode 0640) the log at `path`.
    pub fn open(path: &Path) -> std::io::Result<Self> {
        use std::os::unix::fs::OpenOptionsExt;
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .mode(0o640)
            .open(path)?;
        Ok(LogWriter {
            file,
            partial: [Vec::new(), Vec::new()],
        })
    }

    /// Adds output; complete lines are written at once.
    pub fn write(&mut self, stream: Stream, data: &[u8]) -> std::io::Result<()> {
        let idx = stream as usize;
        let mut buf = std::mem::take(&mut self.partial[idx]);
        buf.extend_from_slice(data);
        let mut start = 0;
        let mut out = Vec::new();
        while let Some(pos) = buf[start..].iter().position(|b| *b == b'\n') {
            let end = start + pos + 1;
            for piece in buf[start..end].chunks(MAX_LINE) {
                encode(&mut out, stream, piece);
            }
            start = end;
        }
        while buf.len() - start >= MAX_LINE {
            encode(&mut out, stream, &buf[start..start + MAX_LINE]);
            start += MAX_LINE;
        }
        self.partial[idx] = buf.split_off(start);
        if !out.is_empty() {
            self.file.write_all(&out)?;
        }
        Ok(())
    }

    /// Writes any unterminated output of `stream` (at end of stream).
    pub fn flush_stream(&mut self, stream: Stream) -> std::io::Result<()> {
        let idx = stream as usize;
        let rest = std::mem::take(&mut self.partial[idx]);
        if rest.is_empty() {
            return Ok(());
        }
        let mut out = Vec::new();
        encode(&mut out, stream, &rest);
        self.file.write_all(&out)
    }

    /// Flushes both streams (like Docker, the log is not fsynced).
    pub fn finish(&mut self) -> std::io::Result<()> {
        self.flush_stream(Stream::Stdout)?;
        self.flush_stream(Stream::Stderr)
    }
}

fn encode(out: &mut Vec<u8>, stream: Stream, piece: &[u8]) {
    let entry = LogEntry {
        log: String::from_utf8_lossy(piece).into_owned(),
        stream: stream.name().to_string(),
        time: now_rfc3339(),
    };
    if serde_json::to_writer(&mut *out, &entry).is_ok() {
        out.push(b'\n');
    }
}

/// Parses a json-file log (for readers such as `docker logs`); bad lines are skipped.
pub fn read_log(path: &Path) -> std::io::Result<Vec<LogEntry>> {
    let data = std::fs::read(path)?;
    Ok(data
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .filter_map(|l| serde_json::from_slice(l).ok())
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_lines_and_keeps_streams_apart() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("c-json.log");
        let mut w = LogWriter::open(&path).expect("open");
        w.write(Stream::Stdout, b"hel").expect("w");
        w.write(Stream::Stderr, b"oops\n").expect("w");
        w.write(Stream::Stdout, b"lo\nwor").expect("w");
        w.write(Stream::Stdout, b"ld\n\"q\"\nend").expect("w");
        w.finish().expect("finish");
        let entries = read_log(&path).expect("read");
        let got: Vec<(&str, &str)> = entries
            .iter()
            .map(|e| (e.stream.as_str(), e.log.as_str()))
            .collect();
        assert_eq!(
            got,
            vec![
                ("stderr", "oops\n"),
                ("stdout", "hello\n"),
                ("stdout", "world\n"),
                ("stdout", "\"q\"\n"),
                ("stdout", "end"),
            ]
        );
        assert!(entries[0].time.ends_with('Z'));
        let raw = std::fs::read_to_string(&path).expect("raw");
        assert!(raw.lines().all(|l| l.starts_with("{\"log\":")));
    }

    #[test]
    fn long_lines_are_split_at_16k() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("l.log");
        let mut w = LogWriter::open(&path).expect("open");
        let mut line = vec![b'x'; MAX_LINE + 10];
        line.push(b'\n');
        w.write(Stream::Stdout, &line).expect("w");
        w.finish().expect("finish");
        let entries = read_log(&path).expect("read");
        assert_eq!(entries.len(), 2);
        assert_eq!(entries[0].log.len(), MAX_LINE);
        assert_eq!(entries[1].log, format!("{}\n", "x".repeat(10)));
    }
}
