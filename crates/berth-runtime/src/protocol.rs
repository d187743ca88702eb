//! The shim's control protocol over `<state-dir>/control.sock`.
//!
//! One request per connection: the client writes one JSON [`Request`] line and reads one JSON
//! [`Response`] line. For `attach` and `exec` (without `detach`) the connection then carries
//! frames in both directions, each `[stream: u8, 0, 0, 0, length: u32 big-endian]` followed by
//! `length` bytes (Docker's multiplexed stream header):
//! - client → shim: stream 0 = stdin data; a stream-0 frame of length 0 closes stdin.
//! - shim → client: stream 1 = stdout (and pty output), 2 = stderr, 3 = the process ended —
//!   its payload is the JSON [`ExitRecord`]; the shim closes the connection after it.

use serde::{Deserialize, Serialize};

use crate::status::ExitRecord;

/// Stream id of stdin frames.
pub const STREAM_STDIN: u8 = 0;
/// Stream id of stdout frames.
pub const STREAM_STDOUT: u8 = 1;
/// Stream id of stderr frames.
pub const STREAM_STDERR: u8 = 2;
/// Stream id of the final exit frame.
pub const STREAM_EXIT: u8 = 3;
/// Size of a frame header.
pub const HEADER_LEN: usize = 8;

/// A control request.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Request {
    /// Current state of the container.
    State,
    /// Start a created container.
    Start,
    /// Send a signal to the container's init process.
    Kill {
        /// Signal number.
        signal: i32,
    },
    /// Set the pty window size of the container (or of exec process `exec_pid`).
    Resize {
        /// Rows.
        height: u16,
        /// Columns.
        width: u16,
        /// An exec process instead of the container's init.
        #[serde(default)]
        exec_pid: Option<i32>,
    },
    /// Stream the container's stdio over this connection.
    Attach {
        /// Forward stdin frames to the container.
        #[serde(default)]
        stdin: bool,
        /// Receive stdout.
        #[serde(default = "yes")]
        stdout: bool,
        /// Receive stderr.
        #[serde(default = "yes")]
        stderr: bool,
    },
    /// Block until the container exits, then answer with its exit record.
    Wait,
    /// Run another process in the container.
    Exec(ExecRequest),
    /// Freeze the container (cgroup freezer).
    Pause,
    /// Thaw the container.
    Resume,
}

fn yes() -> bool {
    true
}

/// Process settings of an exec.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct ExecRequest {
    /// Command and arguments.
    pub args: Vec<String>,
    /// Extra `KEY=value` pairs (added to the container's environment).
    pub env: Vec<String>,
    /// Working directory (absolute); the container's when empty.
    pub cwd: String,
    /// Docker's `-u` value resolved in the container's `/etc/passwd`/`/etc/group`; when set
    /// it takes precedence over `uid`/`gid`.
    pub user: String,
    /// User ID (the container's when `None`).
    pub uid: Option<u32>,
    /// Group ID.
    pub gid: Option<u32>,
    /// Supplementary groups.
    pub additional_gids: Vec<u32>,
    /// Allocate a pty.
    pub tty: bool,
    /// Forward stdin frames.
    pub stdin: bool,
    /// Do not stream: answer with the pid at once (`docker exec -d`).
    pub detach: bool,
    /// Initial pty size (rows, columns).
    pub console_size: Option<(u16, u16)>,
}

/// Container status as reported by `state`.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Created, not started.
    Created,
    /// Running.
    Running,
    /// Frozen.
    Paused,
    /// The process has exited.
    Exited,
}

/// The answer to a request.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct Response {
    /// Whether the request succeeded.
    pub ok: bool,
    /// Error text when it did not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Docker-style exit code for the error (126 not executable, 127 not found, 125 other).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i32>,
    /// Container status (`state`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<Status>,
    /// PID of the container's init (`state`, `start`) or of the exec process (`exec`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pid: Option<i32>,
    /// RFC 3339 start time (`state`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<String>,
    /// Exit record (`wait`, or `state` after exit).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit: Option<ExitRecord>,
}

impl Response {
    /// A plain success.
    pub fn ok() -> Self {
        Response {
            ok: true,
            ..Default::default()
        }
    }

    /// A failure with a message and a Docker exit code.
    pub fn err(message: impl Into<String>, exit_code: i32) -> Self {
        Response {
            ok: false,
            error: Some(message.into()),
            exit_code: Some(exit_code),
            ..Default::default()
        }
    }
}

/// Encodes one frame.
pub fn encode_frame(stream: u8, payload: &[u8], out: &mut Vec<u8>) {
    out.push(stream);
    out.extend_from_slice(&[0, 0, 0]);
    out.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    out.extend_from_slice(payload);
}

/// Decodes one frame from the front of `buf`: `(stream, payload, consumed)`, or `None` when
/// more bytes are needed.
pub fn decode_frame(buf: &[u8]) -> Option<(u8, &[u8], usize)> {
    if buf.len() < HEADER_LEN {
        return None;
    }
    let len = u32::from_be_bytes([buf[4], buf[5], buf[6], buf[7]]) as usize;
    if buf.len() < HEADER_LEN + len {
        return None;
    }
    Some((buf[0], &buf[HEADER_LEN..HEADER_LEN + len], HEADER_LEN + len))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_roundtrip() {
        let mut buf = Vec::new();
        encode_frame(STREAM_STDOUT, b"hello", &mut buf);
        encode_frame(STREAM_STDIN, b"", &mut buf);
        assert_eq!(&buf[..8], &[1, 0, 0, 0, 0, 0, 0, 5]);
        let (s, p, n) = decode_frame(&buf).expect("frame");
        assert_eq!((s, p), (STREAM_STDOUT, &b"hello"[..]));
        let (s, p, m) = decode_frame(&buf[n..]).expect("frame");
        assert_eq!((s, p.len(), n + m), (STREAM_STDIN, 0, buf.len()));
        assert!(decode_frame(&buf[..7]).is_none());
        assert!(decode_frame(&buf[..10]).is_none());
    }

    #[test]
    fn requests_are_tagged_json() {
        let r: Request = serde_json::from_str(r#"{"op":"kill","signal":9}"#).expect("parse");
        assert_eq!(r, Request::Kill { signal: 9 });
        let r: Request = serde_json::from_str(r#"{"op":"attach","stdin":true}"#).expect("parse");
        assert_eq!(
            r,
            Request::Attach {
                stdin: true,
                stdout: true,
                stderr: true
            }
        );
        let line = serde_json::to_string(&Request::Exec(ExecRequest {
            args: vec!["ls".into()],
            ..Default::default()
        }))
        .expect("ser");
        assert!(line.contains(r#""op":"exec""#), "{line}");
        assert!(serde_json::from_str::<Request>(r#"{"op":"bogus"}"#).is_err());
    }
}
