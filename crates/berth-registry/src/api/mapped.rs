//! Read-only memory maps of blob files, handed to hyper as `Bytes` without copying: the
//! socket write reads straight from the page cache, saving the read-into-buffer copy
//! (the closest to `sendfile` that still goes through hyper and works for TLS too).
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
        // SAFETY: unmapping exactly what mmap returned.
        unsafe {
            libc::munmap(self.ptr, self.len);
        }
    }
}

/// Maps `offset..offset+len` of `file`; `None` if mapping fails (the caller falls back to
/// reads).
pub fn map(file: &File, offset: u64, len: u64) -> Option<Bytes> {
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
    let all = Bytes::from_owner(Mapping { ptr, len: total });
    Some(all.slice(offset as usize..))
}

/// Asks the kernel to read ahead a part of a mapping.
pub fn will_need(b: &Bytes) {
    let page = 4096usize;
    let start = b.as_ptr() as usize & !(page - 1);
    let end = b.as_ptr() as usize + b.len();
    // SAFETY: advisory call on a range inside a live mapping (start rounded down to its page).
    unsafe {
        libc::madvise(start as *mut libc::c_void, end - start, libc::MADV_WILLNEED);
    }
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
        let b = map(&file, 5000, 3000).unwrap();
        assert_eq!(&b[..], &data[5000..8000]);
        assert!(map(&file, 9000, 2000).is_none());
    }
}
