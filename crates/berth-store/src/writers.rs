//! A small pool of threads that create and fill regular files for the unpacker, so
//! reading and hashing the tar (one core) overlaps with the kernel's file creation and
//! copying (the other). Ordering is kept where it matters: the unpacker waits for a
//! pending write before it touches the same path again, and for all of them before a
//! hard link or at the end. Durability comes later, from the commit's single `syncfs`.

use std::collections::HashSet;
use std::ffi::OsString;
use std::fs;
use std::io::{self, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;

/// One file to write.
pub struct FileJob {
    pub dest: PathBuf,
    pub data: Vec<u8>,
    pub uid: u32,
    pub gid: u32,
    pub mode: u32,
    pub mtime: filetime::FileTime,
    pub xattrs: Vec<(String, Vec<u8>)>,
}

#[derive(Default)]
struct State {
    pending: HashSet<OsString>,
    error: Option<(PathBuf, io::Error)>,
}

struct Shared {
    state: Mutex<State>,
    done: Condvar,
}

/// The pool. Dropping it without [`WriterPool::finish`] still joins the threads.
pub struct WriterPool {
    tx: Option<SyncSender<FileJob>>,
    shared: Arc<Shared>,
    threads: Vec<JoinHandle<()>>,
}

/// Files at most this big are handed to the pool (bigger ones are streamed in place).
pub const MAX_BUFFERED: u64 = 4 << 20;

impl WriterPool {
    pub fn new(threads: usize) -> WriterPool {
        let (tx, rx) = sync_channel::<FileJob>(32);
        let rx = Arc::new(Mutex::new(rx));
        let shared = Arc::new(Shared {
            state: Mutex::new(State::default()),
            done: Condvar::new(),
        });
        let threads = (0..threads.max(1))
            .map(|_| {
                let rx = rx.clone();
                let shared = shared.clone();
                std::thread::spawn(move || worker(rx, shared))
            })
            .collect();
        WriterPool {
            tx: Some(tx),
            shared,
            threads,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.shared
            .state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn take_error(st: &mut State) -> io::Result<()> {
        match st.error.take() {
            Some((p, e)) => Err(io::Error::new(e.kind(), format!("{}: {e}", p.display()))),
            None => Ok(()),
        }
    }

    /// Queues a file. Fails with an earlier worker error, if any.
    pub fn submit(&self, job: FileJob) -> io::Result<()> {
        {
            let mut st = self.lock();
            Self::take_error(&mut st)?;
            st.pending.insert(job.dest.clone().into_os_string());
        }
        let tx = self
            .tx
            .as_ref()
            .ok_or_else(|| io::Error::other("writer pool closed"))?;
        tx.send(job)
            .map_err(|_| io::Error::other("writer pool stopped"))
    }

    /// Waits until `path` has no pending write.
    pub fn wait_for(&self, path: &Path) -> io::Result<()> {
        let mut st = self.lock();
        while st.pending.contains(path.as_os_str()) {
            st = self
                .shared
                .done
                .wait(st)
                .unwrap_or_else(|poisoned| poisoned.into_inner());
        }
        Self::take_error(&mut st)
    }

    /// Waits until every queued write is done.
    pub fn barrier(&self) -> io::Result<()> {
        let mut st = self.lock();
        while !st.pending.is_empty() {
            st = self
                .shared
                .done
                .wait(st)
                .unwrap_or_else(|poisoned| poisoned.into_inner());
        }
        Self::take_error(&mut st)
    }

    /// Waits for everything and stops the threads.
    pub fn finish(mut self) -> io::Result<()> {
        let r = self.barrier();
        self.stop();
        r
    }

    fn stop(&mut self) {
        self.tx.take();
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

impl Drop for WriterPool {
    fn drop(&mut self) {
        self.stop();
    }
}

fn worker(rx: Arc<Mutex<Receiver<FileJob>>>, shared: Arc<Shared>) {
    loop {
        let job = {
            let guard = rx.lock().unwrap_or_else(|p| p.into_inner());
            guard.recv()
        };
        let Ok(job) = job else { return };
        let res = write_file(&job);
        let mut st = shared.state.lock().unwrap_or_else(|p| p.into_inner());
        st.pending.remove(job.dest.as_os_str());
        if let Err(e) = res {
            if st.error.is_none() {
                st.error = Some((job.dest.clone(), e));
            }
        }
        shared.done.notify_all();
    }
}

fn write_file(job: &FileJob) -> io::Result<()> {
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&job.dest)?;
    f.write_all(&job.data)?;
    start_writeback(&f);
    // Owner, mode and times through the open descriptor: no more path lookups.
    std::os::unix::fs::fchown(&f, Some(job.uid), Some(job.gid))?;
    f.set_permissions(fs::Permissions::from_mode(job.mode))?;
    for (k, v) in &job.xattrs {
        if !k.starts_with("trusted.overlay.") {
            xattr::set(&job.dest, k, v)?;
        }
    }
    filetime::set_file_handle_times(&f, Some(job.mtime), Some(job.mtime))
}

/// Asks the kernel to start writing the file's dirty pages now (without waiting), so
/// the commit's `syncfs` finds most of the data already on its way to disk instead of
/// starting all the writeback at the end.
pub fn start_writeback(f: &fs::File) {
    use std::os::fd::AsRawFd;
    // SAFETY: plain syscall on a valid descriptor; failure only loses the hint.
    unsafe {
        libc::sync_file_range(f.as_raw_fd(), 0, 0, libc::SYNC_FILE_RANGE_WRITE);
    }
}
