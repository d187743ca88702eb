//! Firewall drivers: NAT for outbound traffic, DNAT for published ports, isolation of
//! internal networks. Every change comes as a setup/teardown pair (as in netavark's
//! `FirewallDriver`), so whatever berth adds it can take away again, also after a daemon
//! restart: rules are found again by their comment, port mappings are map elements.

mod nft;

pub use nft::{Nft, TableInfo};

use crate::error::Result;
use ipnet::Ipv4Net;
use std::net::Ipv4Addr;

/// What the firewall needs to know about a network.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetworkRules {
    /// The bridge's name.
    pub bridge: String,
    pub subnet: Ipv4Net,
    /// No traffic in or out of the bridge except between its members.
    pub internal: bool,
}

/// Transport protocol of a published port.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Proto {
    Tcp,
    Udp,
}

impl Proto {
    pub fn as_str(self) -> &'static str {
        match self {
            Proto::Tcp => "tcp",
            Proto::Udp => "udp",
        }
    }
}

/// One published port: `host_ip:host_port/proto` → `container_ip:container_port`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct PortRule {
    /// `None` (or 0.0.0.0) for every local address.
    pub host_ip: Option<Ipv4Addr>,
    pub host_port: u16,
    pub proto: Proto,
    pub container_ip: Ipv4Addr,
    pub container_port: u16,
}

/// A firewall backend.
pub trait FirewallDriver: Send + Sync {
    /// The backend's name (`nftables`).
    fn name(&self) -> &'static str;
    /// Creates berth's table and base chains (idempotent).
    fn setup_base(&self) -> Result<()>;
    /// Removes everything berth added.
    fn teardown_base(&self) -> Result<()>;
    /// Rules for one network (masquerade, loopback and hairpin NAT, isolation).
    fn setup_network(&self, n: &NetworkRules) -> Result<()>;
    fn teardown_network(&self, n: &NetworkRules) -> Result<()>;
    /// One published port.
    fn setup_port(&self, p: &PortRule) -> Result<()>;
    fn teardown_port(&self, p: &PortRule) -> Result<()>;
}
