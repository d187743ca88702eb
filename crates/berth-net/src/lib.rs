//! berth-net: container networking on one host.
//!
//! - [`netns`]: pinned network namespaces that containers join by path;
//! - [`link`]: bridges, veth pairs, addresses and routes over rtnetlink;
//! - [`ipam`]: subnet choice (overlapping no host route) and address allocation;
//! - [`firewall`]: the [`firewall::FirewallDriver`] trait (setup/teardown pairs) and its
//!   nftables backend: outbound NAT, published ports, internal networks;
//! - [`ports`]: holding published host ports;
//! - [`dns`]: the embedded DNS server of user-defined networks;
//! - [`owner`]: which daemon owns a link or table, and the sweep of dead daemons'.
//!
//! The engine owns the records (networks, endpoints and their addresses) and calls these
//! rooms to make the kernel match them.

pub mod dns;
pub mod error;
pub mod firewall;
pub mod ipam;
pub mod link;
pub mod netns;
pub mod owner;
pub mod ports;

pub use error::{NetError, Result};

/// An exclusive host-wide lock (`/run/lock/berth-net.lock`), held while a daemon sweeps
/// what dead daemons left ([`owner::sweep`]), picks its bridge's name and subnet and
/// makes its bridge and nftables table, and while it picks a network's subnet: two
/// daemons on one host never pick the same name or subnet, and a sweep never sees a
/// daemon half made. Released when the file is dropped (closed).
pub fn host_lock() -> Result<std::fs::File> {
    let dir = std::path::Path::new("/run/lock");
    let _ = std::fs::create_dir_all(dir);
    let p = dir.join("berth-net.lock");
    let f = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&p)
        .map_err(|e| NetError::io(p.display().to_string(), e))?;
    // SAFETY: flock on an fd we own.
    let r = unsafe { libc::flock(std::os::fd::AsRawFd::as_raw_fd(&f), libc::LOCK_EX) };
    if r != 0 {
        return Err(NetError::io("flock", std::io::Error::last_os_error()));
    }
    Ok(f)
}
