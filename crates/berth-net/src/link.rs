//! Links, addresses and routes over rtnetlink: the bridge of each network, the veth pair
//! of each container endpoint, and the container side's address and default route.
//!
//! A [`Links`] talks to the network namespace it was opened in ([`Links::host`] for the
//! daemon's, [`Links::inside`] for a container's pinned namespace).

use crate::error::{NetError, Result};
use futures::TryStreamExt;
use ipnet::Ipv4Net;
use rtnetlink::packet_route::link::{LinkAttribute, LinkMessage};
use rtnetlink::{Handle, LinkBridge, LinkUnspec, LinkVeth, RouteMessageBuilder};
use std::net::{IpAddr, Ipv4Addr};
use std::os::fd::AsRawFd;
use std::path::Path;

/// A netlink connection to one namespace.
#[derive(Clone)]
pub struct Links {
    handle: Handle,
}

const EEXIST: i32 = libc::EEXIST;

fn errno(e: &rtnetlink::Error) -> Option<i32> {
    match e {
        rtnetlink::Error::NetlinkError(m) => Some(-m.raw_code()),
        _ => None,
    }
}

/// A link's name and alias.
#[derive(Debug, Clone)]
pub struct LinkInfo {
    pub index: u32,
    pub name: String,
    pub alias: String,
}

fn info(m: &LinkMessage) -> LinkInfo {
    let mut out = LinkInfo {
        index: m.header.index,
        name: String::new(),
        alias: String::new(),
    };
    for a in &m.attributes {
        match a {
            LinkAttribute::IfName(n) => out.name = n.clone(),
            LinkAttribute::IfAlias(a) => out.alias = a.clone(),
            _ => {}
        }
    }
    out
}

/// Docker's MAC scheme: `02:42` followed by the IPv4 address.
pub fn mac_for(ip: Ipv4Addr) -> [u8; 6] {
    let o = ip.octets();
    [0x02, 0x42, o[0], o[1], o[2], o[3]]
}

/// `aa:bb:…` form of a MAC.
pub fn mac_string(m: &[u8; 6]) -> String {
    m.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

impl Links {
    /// A connection to the daemon's own namespace. Must be called inside a tokio runtime.
    pub fn host() -> Result<Links> {
        let (conn, handle, _) =
            rtnetlink::new_connection().map_err(|e| NetError::io("netlink socket", e))?;
        tokio::spawn(conn);
        Ok(Links { handle })
    }

    /// A connection to the namespace pinned at `netns` (the socket is made on a thread
    /// inside it). Must be called inside a tokio runtime.
    pub fn inside(netns: &Path) -> Result<Links> {
        let rt = tokio::runtime::Handle::current();
        let (conn, handle) = crate::netns::run_in(netns, move || {
            let _g = rt.enter();
            let (conn, handle, _) =
                rtnetlink::new_connection().map_err(|e| NetError::io("netlink socket", e))?;
            Ok((conn, handle))
        })?;
        tokio::spawn(conn);
        Ok(Links { handle })
    }

    /// Every link of the namespace.
    pub async fn list(&self) -> Result<Vec<LinkInfo>> {
        let mut s = self.handle.link().get().execute();
        let mut out = Vec::new();
        while let Some(m) = s
            .try_next()
            .await
            .map_err(|e| NetError::nl("list links", e))?
        {
            out.push(info(&m));
        }
        Ok(out)
    }

    /// A link by name.
    pub async fn get(&self, name: &str) -> Result<Option<LinkInfo>> {
        let mut s = self.handle.link().get().match_name(name).execute();
        match s.try_next().await {
            Ok(m) => Ok(m.as_ref().map(info)),
            Err(e) if errno(&e) == Some(libc::ENODEV) => Ok(None),
            Err(e) => Err(NetError::nl(format!("get link {name}"), e)),
        }
    }

    async fn index(&self, name: &str) -> Result<u32> {
        self.get(name)
            .await?
            .map(|l| l.index)
            .ok_or_else(|| NetError::Invalid(format!("link {name} not found")))
    }

    async fn add_addr(&self, index: u32, what: &str, addr: Ipv4Addr, prefix: u8) -> Result<()> {
        match self
            .handle
            .address()
            .add(index, IpAddr::V4(addr), prefix)
            .execute()
            .await
        {
            Ok(()) => Ok(()),
            Err(e) if errno(&e) == Some(EEXIST) => Ok(()),
            Err(e) => Err(NetError::nl(format!("add {addr}/{prefix} to {what}"), e)),
        }
    }

    /// Creates (or completes) a bridge with `gateway/prefix` on it, up. `alias` marks who
    /// owns it.
    pub async fn ensure_bridge(
        &self,
        name: &str,
        gateway: Ipv4Addr,
        prefix: u8,
        alias: &str,
    ) -> Result<()> {
        if self.get(name).await?.is_none() {
            let msg = LinkBridge::new(name).alias(alias).build();
            match self.handle.link().add(msg).execute().await {
                Ok(()) => {}
                Err(e) if errno(&e) == Some(EEXIST) => {}
                Err(e) => return Err(NetError::nl(format!("create bridge {name}"), e)),
            }
        }
        set_alias(name, alias);
        let idx = self.index(name).await?;
        self.add_addr(idx, name, gateway, prefix).await?;
        self.handle
            .link()
            .set(LinkUnspec::new_with_index(idx).up().build())
            .execute()
            .await
            .map_err(|e| NetError::nl(format!("set {name} up"), e))?;
        // Published ports reached on 127.0.0.1 are DNAT'ed to the bridge: the kernel must
        // accept loopback sources routed there.
        sysctl(&format!("net/ipv4/conf/{name}/route_localnet"), "1")?;
        Ok(())
    }

    /// Deletes a link (deleting either end of a veth pair deletes both); a missing link is
    /// not an error.
    pub async fn delete(&self, name: &str) -> Result<()> {
        let Some(l) = self.get(name).await? else {
            return Ok(());
        };
        match self.handle.link().del(l.index).execute().await {
            Ok(()) => Ok(()),
            Err(e) if errno(&e) == Some(libc::ENODEV) => Ok(()),
            Err(e) => Err(NetError::nl(format!("delete link {name}"), e)),
        }
    }

    /// Deletes the link with this index (a link of that name made since is not
    /// touched); a missing link is not an error.
    pub async fn delete_index(&self, index: u32) -> Result<()> {
        match self.handle.link().del(index).execute().await {
            Ok(()) => Ok(()),
            Err(e) if errno(&e) == Some(libc::ENODEV) => Ok(()),
            Err(e) => Err(NetError::nl(format!("delete link #{index}"), e)),
        }
    }

    /// Creates a veth pair, plugs `host_end` into `bridge` (up, hairpin on) and moves
    /// `peer` into the namespace pinned at `netns`.
    pub async fn add_veth(
        &self,
        host_end: &str,
        peer: &str,
        bridge: &str,
        netns: &Path,
        alias: &str,
    ) -> Result<()> {
        let _ = self.delete(host_end).await;
        self.handle
            .link()
            .add(LinkVeth::new(host_end, peer).alias(alias).build())
            .execute()
            .await
            .map_err(|e| NetError::nl(format!("create veth {host_end}"), e))?;
        set_alias(host_end, alias);
        let r = self.plug_veth(host_end, peer, bridge, netns).await;
        if r.is_err() {
            let _ = self.delete(host_end).await;
        }
        r
    }

    async fn plug_veth(
        &self,
        host_end: &str,
        peer: &str,
        bridge: &str,
        netns: &Path,
    ) -> Result<()> {
        let fd = crate::netns::open(netns)?;
        let peer_idx = self.index(peer).await?;
        self.handle
            .link()
            .set(
                LinkUnspec::new_with_index(peer_idx)
                    .setns_by_fd(fd.as_raw_fd())
                    .build(),
            )
            .execute()
            .await
            .map_err(|e| NetError::nl(format!("move {peer} into {}", netns.display()), e))?;
        let br = self.index(bridge).await?;
        let idx = self.index(host_end).await?;
        self.handle
            .link()
            .set(LinkUnspec::new_with_index(idx).controller(br).up().build())
            .execute()
            .await
            .map_err(|e| NetError::nl(format!("plug {host_end} into {bridge}"), e))?;
        // Hairpin: a container reaching its own published port through the host comes
        // back out of the port it went in.
        let _ = std::fs::write(
            format!("/sys/class/net/{host_end}/brport/hairpin_mode"),
            "1",
        );
        Ok(())
    }

    /// Inside a container's namespace: renames `tmp` to `ifname`, gives it `addr/prefix`
    /// and its MAC, brings it and `lo` up and, with a gateway, adds the default route.
    pub async fn configure_endpoint(
        &self,
        tmp: &str,
        ifname: &str,
        addr: Ipv4Addr,
        prefix: u8,
        gateway: Option<Ipv4Addr>,
    ) -> Result<()> {
        let idx = self.index(tmp).await?;
        self.handle
            .link()
            .set(
                LinkUnspec::new_with_index(idx)
                    .name(ifname.to_string())
                    .address(mac_for(addr).to_vec())
                    .build(),
            )
            .execute()
            .await
            .map_err(|e| NetError::nl(format!("rename {tmp} to {ifname}"), e))?;
        self.add_addr(idx, ifname, addr, prefix).await?;
        self.handle
            .link()
            .set(LinkUnspec::new_with_index(idx).up().build())
            .execute()
            .await
            .map_err(|e| NetError::nl(format!("set {ifname} up"), e))?;
        let lo = self.index("lo").await?;
        self.handle
            .link()
            .set(LinkUnspec::new_with_index(lo).up().build())
            .execute()
            .await
            .map_err(|e| NetError::nl("set lo up", e))?;
        if let Some(gw) = gateway {
            let route = RouteMessageBuilder::<Ipv4Addr>::new().gateway(gw).build();
            match self.handle.route().add(route).execute().await {
                Ok(()) => {}
                Err(e) if errno(&e) == Some(EEXIST) => {}
                Err(e) => return Err(NetError::nl(format!("default route via {gw}"), e)),
            }
        }
        Ok(())
    }

    /// Renames a link that stays down (a spare's `eth0`, configured when taken).
    pub async fn rename_down(&self, from: &str, to: &str) -> Result<()> {
        let idx = self.index(from).await?;
        self.handle
            .link()
            .set(LinkUnspec::new_with_index(idx).name(to.to_string()).build())
            .execute()
            .await
            .map_err(|e| NetError::nl(format!("rename {from} to {to}"), e))
    }

    /// Renames a link (taken down for the rename, then up again).
    pub async fn rename(&self, from: &str, to: &str) -> Result<()> {
        let idx = self.index(from).await?;
        for msg in [
            LinkUnspec::new_with_index(idx).down().build(),
            LinkUnspec::new_with_index(idx).name(to.to_string()).build(),
            LinkUnspec::new_with_index(idx).up().build(),
        ] {
            self.handle
                .link()
                .set(msg)
                .execute()
                .await
                .map_err(|e| NetError::nl(format!("rename {from} to {to}"), e))?;
        }
        Ok(())
    }

    /// Inside a container's namespace: brings `lo` up (for `--network none`).
    pub async fn lo_up(&self) -> Result<()> {
        let lo = self.index("lo").await?;
        self.handle
            .link()
            .set(LinkUnspec::new_with_index(lo).up().build())
            .execute()
            .await
            .map_err(|e| NetError::nl("set lo up", e))
    }
}

/// Marks a link as ours (the kernel ignores `IFLA_IFALIAS` when a link is created).
fn set_alias(name: &str, alias: &str) {
    let _ = std::fs::write(format!("/sys/class/net/{name}/ifalias"), alias);
}

/// Writes a sysctl under `/proc/sys`.
pub fn sysctl(key: &str, value: &str) -> Result<()> {
    let p = format!("/proc/sys/{key}");
    std::fs::write(&p, value).map_err(|e| NetError::io(p, e))
}

/// `subnet` as the bridge's address (`gateway/prefix`).
pub fn bridge_addr(subnet: &Ipv4Net, gateway: Ipv4Addr) -> (Ipv4Addr, u8) {
    (gateway, subnet.prefix_len())
}
