//! Read-only memory maps of blob files, handed to hyper as `Bytes` without copying: the
//! socket write reads straight from the page cache, saving the read-into-buffer copy.
//! Every live mapping is also registered with its file, so the plain-TCP connection
//! wrapper ([`crate::sendfile`]) can recognise a body frame that points into a mapping
//! and send it with `sendfile(2)` instead (no copy at all).
//! Hand-written on `libc::mmap` because it is twenty lines; blob files are immutable
//! (written once, renamed into place, only ever unlinked), so a mapping never sees
//! truncation.

use bytes::Bytes;
use std::fs::File;
use std::os::fd::AsRawFd;

struct Mapping {
    ptr: *mut libc::c_void,
    len: usize,
}

/// A registered mapping: its file, kept open for `sendfile`.
pub struct Registered {
    pub len: usize,
    pub file: std::sync::Arc<File>,
}

static LIVE: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

fn registry() -> &'static std::sync::Mutex<std::collections::BTreeMap<usize, Registered>> {
    static R: std::sync::OnceLock<std::sync::Mutex<std::collections::BTreeMap<usize, Registered>>> =
        std::sync::OnceLock::new();
    R.get_or_init(Default::default)
}

/// If `ptr..ptr+len` lies inside a live mapping: its file and the file offset of `ptr`.
pub fn lookup(ptr: *const u8, len: usize) -> Option<(std::sync::Arc<File>, u64)> {
    if LIVE.load(std::sync::atomic::Ordering::Relaxed) == 0 || len == 0 {
        return None;
    }
    let addr = ptr as usize;
    let map = registry().lock().ok()?;
    let (start, reg) = map.range(..=addr).next_back()?;
    if addr + len <= start + reg.len {
        Some((reg.file.clone(), (addr - start) as u64))
    } else {
        None
    }
}

// SAFETY: the mapping is read-only and owned; it is unmapped once, on drop.
unsafe impl Send for Mapping {}
unsafe impl Sync for Mapping {}

impl AsRef<[u8]> for Mapping {
    fn as_ref(&self) -> &[u8] {
        // SAFETY: ptr..ptr+len is a live PROT_READ mapping for the lifetime of self.
        unsafe { std::slice::from_raw_parts(self.ptr as *const u8, self.len) }
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        if let Ok(mut m) = registry().lock() {
            if m.remove(&(self.ptr as usize)).is_some() {
                LIVE.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
            }
        }
        // SAFETY: unmapping exactly what mmap returned.
        unsafe {
            libc::munmap(self.ptr, self.len);
        }
    }
}

/// Maps `offset..offset+len` of `file`; `None` if mapping fails (the caller falls back to
/// reads).
pub fn map(file: File, offset: u64, len: u64) -> Option<Bytes> {
    let total = offset.checked_add(len)?;
    if len == 0 || file.metadata().ok()?.len() < total {
        return None;
    }
    let total = usize::try_from(total).ok()?;
    // SAFETY: a fresh private read-only mapping of a file we hold open.
    let ptr = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            total,
            libc::PROT_READ,
            libc::MAP_SHARED,
            file.as_raw_fd(),
            0,
        )
    };
    if ptr == libc::MAP_FAILED {
        return None;
    }
    // SAFETY: advice on our own mapping.
    unsafe {
        libc::madvise(ptr, total, libc::MADV_SEQUENTIAL);
    }
    if let Ok(mut m) = registry().lock() {
        m.insert(
            ptr as usize,
            Registered {
                len: total,
                file: std::sync::Arc::new(file),
            },
        );
        LIVE.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }
    let all = Bytes::from_owner(Mapping { ptr, len: total });
    Some(all.slice(offset as usize..))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn maps_a_range() {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        let data: Vec<u8> = (0..10_000u32).map(|i| i as u8).collect();
        f.write_all(&data).unwrap();
        f.flush().unwrap();
        let file = File::open(f.path()).unwrap();
        let b = map(file, 5000, 3000).unwrap();
        assert_eq!(&b[..], &data[5000..8000]);
        let (_, off) = lookup(b[10..].as_ptr(), 100).unwrap();
        assert_eq!(off, 5010);
        assert!(lookup(data.as_ptr(), 10).is_none());
        assert!(map(File::open(f.path()).unwrap(), 9000, 2000).is_none());
    }
}
