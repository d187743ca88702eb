//! The exit record a shim writes when its container's process ends, and crash-safe JSON
//! file writes (temp file, fsync, rename, fsync of the directory).

use std::fs::{self, File};
use std::io::Write;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::RuntimeError;

/// Name of the exit record inside a shim's state directory.
pub const EXIT_FILE: &str = "exit.json";
/// Name of the shim's pid/identity record inside its state directory.
pub const SHIM_FILE: &str = "shim.json";
/// Name of the control socket inside a shim's state directory.
pub const SOCKET_FILE: &str = "control.sock";
/// A file in a shim's state directory that the shim holds an exclusive `flock(2)` on
/// for as long as it lives. The shim answers waiters *before* it releases the
/// container's cgroups, libcontainer state and rootfs mount, so whoever reuses those
/// (a restart of the same container, a view of its rootfs) first waits for the lock:
/// [`shim_gone`].
pub const LOCK_FILE: &str = "shim.lock";

/// Takes the lock [`LOCK_FILE`] stands for; the shim keeps the returned file open.
pub fn hold_shim_lock(state_dir: &Path) -> std::io::Result<File> {
    fs::create_dir_all(state_dir)?;
    let f = fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(state_dir.join(LOCK_FILE))?;
    f.lock()?;
    Ok(f)
}

/// Whether no shim holds the state directory's lock any more (also when there is no
/// lock file: no shim ever ran there, or it was removed with the directory).
pub fn shim_gone(state_dir: &Path) -> bool {
    match File::open(state_dir.join(LOCK_FILE)) {
        Ok(f) => f.try_lock().is_ok(),
        Err(_) => true,
    }
}

/// How a container (or exec) process ended.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct ExitRecord {
    /// Exit code; `128 + n` when killed by signal `n`.
    pub exit_code: i32,
    /// The signal that killed the process, if any.
    #[serde(default)]
    pub signal: Option<i32>,
    /// The memory cgroup recorded an OOM kill.
    #[serde(default)]
    pub oom_killed: bool,
    /// RFC 3339 time with nanoseconds at which the process was started.
    #[serde(default)]
    pub started_at: String,
    /// RFC 3339 time with nanoseconds at which the process was reaped.
    #[serde(default)]
    pub finished_at: String,
    /// Error text when the process could not be started.
    #[serde(default)]
    pub error: Option<String>,
}

impl ExitRecord {
    /// Decodes a `waitpid` result into an exit code (signals map to `128 + n`).
    pub fn from_wait(status: nix::sys::wait::WaitStatus) -> Option<(i32, Option<i32>)> {
        use nix::sys::wait::WaitStatus;
        match status {
            WaitStatus::Exited(_, code) => Some((code, None)),
            WaitStatus::Signaled(_, sig, _) => Some((128 + sig as i32, Some(sig as i32))),
            _ => None,
        }
    }
}

/// Identity of a running shim, written once the container is created.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct ShimRecord {
    /// Container ID.
    pub id: String,
    /// PID of the shim process.
    pub shim_pid: i32,
    /// PID (host namespace) of the container's init process.
    pub init_pid: i32,
}

/// Current time in Docker's RFC 3339 nanosecond format.
pub fn now_rfc3339() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)
}

/// Writes `value` as JSON to `path` so that readers see either the old or the new file,
/// without fsyncs (see [`write_atomic_volatile`]).
pub fn write_json_volatile<T: Serialize>(path: &Path, value: &T) -> Result<(), RuntimeError> {
    let data = serde_json::to_vec(value).map_err(|e| RuntimeError::Json {
        what: path.display().to_string(),
        source: e,
    })?;
    write_atomic_volatile(path, &data)
}

/// Writes `data` to `path` via a temp file, fsync and rename, then fsyncs the directory.
pub fn write_atomic(path: &Path, data: &[u8]) -> Result<(), RuntimeError> {
    write_atomic_opts(path, data, true)
}

/// Like [`write_atomic`] but without the fsyncs: readers still never see a partial file,
/// but the file may vanish in a power loss. For records that only describe running
/// processes (which a reboot ends anyway), such as `shim.json` and `exit.json`, and for
/// files regenerated at every container start (the bundle's `config.json`, `hostname`,
/// `hosts`, `resolv.conf`): a power loss stops the container and the next start writes
/// them again, so syncing them would only add ~1 ms per file to every `run`.
pub fn write_atomic_volatile(path: &Path, data: &[u8]) -> Result<(), RuntimeError> {
    write_atomic_opts(path, data, false)
}

fn write_atomic_opts(path: &Path, data: &[u8], durable: bool) -> Result<(), RuntimeError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.tmp{}", std::process::id()));
    let mut f = File::create(&tmp).map_err(|e| RuntimeError::io("create", &tmp, e))?;
    f.write_all(data)
        .map_err(|e| RuntimeError::io("write", &tmp, e))?;
    if durable {
        f.sync_all()
            .map_err(|e| RuntimeError::io("fsync", &tmp, e))?;
    }
    drop(f);
    fs::rename(&tmp, path).map_err(|e| RuntimeError::io("rename", path, e))?;
    if durable {
        if let Ok(d) = File::open(dir) {
            let _ = d.sync_all();
        }
    }
    Ok(())
}

/// Reads a JSON file written by [`write_json_volatile`]; `Ok(None)` when it does not exist.
pub fn read_json<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<Option<T>, RuntimeError> {
    match fs::read(path) {
        Ok(data) => serde_json::from_slice(&data)
            .map(Some)
            .map_err(|e| RuntimeError::Json {
                what: path.display().to_string(),
                source: e,
            }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(RuntimeError::io("read", path, e)),
    }
}

/// Reads the exit record of a shim state directory, if the container has exited.
pub fn read_exit(state_dir: &Path) -> Result<Option<ExitRecord>, RuntimeError> {
    read_json(&state_dir.join(EXIT_FILE))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomic_roundtrip_and_missing() {
        let dir = tempfile::tempdir().expect("tempdir");
        assert_eq!(read_exit(dir.path()).expect("read"), None);
        let rec = ExitRecord {
            exit_code: 137,
            signal: Some(9),
            oom_killed: true,
            started_at: now_rfc3339(),
            finished_at: now_rfc3339(),
            error: None,
        };
        write_json_volatile(&dir.path().join(EXIT_FILE), &rec).expect("write");
        assert_eq!(read_exit(dir.path()).expect("read"), Some(rec));
        let leftovers: Vec<_> = fs::read_dir(dir.path())
            .expect("ls")
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().contains(".tmp"))
            .collect();
        assert!(leftovers.is_empty());
    }

    #[test]
    fn wait_status_mapping() {
        use nix::sys::signal::Signal;
        use nix::sys::wait::WaitStatus;
        use nix::unistd::Pid;
        let p = Pid::from_raw(1);
        assert_eq!(
            ExitRecord::from_wait(WaitStatus::Exited(p, 3)),
            Some((3, None))
        );
        assert_eq!(
            ExitRecord::from_wait(WaitStatus::Signaled(p, Signal::SIGKILL, false)),
            Some((137, Some(9)))
        );
        assert!(now_rfc3339().ends_with('Z'));
    }
}
