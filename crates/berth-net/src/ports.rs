//! Host ports of published container ports: each one is held by a bound socket in the
//! daemon for as long as it is published, so the kernel refuses it to other programs
//! (and a taken port fails the publish with Docker's error). Traffic itself never reaches
//! these sockets: it is DNAT'ed to the container before the socket lookup.

use crate::error::{NetError, Result};
use crate::firewall::Proto;
use std::net::{Ipv4Addr, SocketAddrV4, TcpListener, UdpSocket};

/// A held host port.
#[derive(Debug)]
pub enum Reservation {
    Tcp(TcpListener),
    Udp(UdpSocket),
}

/// Binds `ip:port` (`port` 0: an ephemeral port) and returns the holder and the port.
pub fn reserve(ip: Option<Ipv4Addr>, port: u16, proto: Proto) -> Result<(Reservation, u16)> {
    let ip = ip.unwrap_or(Ipv4Addr::UNSPECIFIED);
    let addr = SocketAddrV4::new(ip, port);
    let taken = |e: std::io::Error| {
        if e.kind() == std::io::ErrorKind::AddrInUse {
            NetError::Conflict(format!(
                "Bind for {ip}:{port} failed: port is already allocated"
            ))
        } else {
            NetError::io(format!("Bind for {ip}:{port}"), e)
        }
    };
    match proto {
        Proto::Tcp => {
            let l = TcpListener::bind(addr).map_err(taken)?;
            let p = l
                .local_addr()
                .map_err(|e| NetError::io("local addr", e))?
                .port();
            Ok((Reservation::Tcp(l), p))
        }
        Proto::Udp => {
            let s = UdpSocket::bind(addr).map_err(taken)?;
            let p = s
                .local_addr()
                .map_err(|e| NetError::io("local addr", e))?
                .port();
            Ok((Reservation::Udp(s), p))
        }
    }
}

/// Parses Docker's `80/tcp` port keys.
pub fn parse_port_key(k: &str) -> Result<(u16, Proto)> {
    let (p, proto) = k.split_once('/').unwrap_or((k, "tcp"));
    let proto = match proto {
        "tcp" => Proto::Tcp,
        "udp" => Proto::Udp,
        other => return Err(NetError::Invalid(format!("invalid proto: {other}"))),
    };
    let port = p
        .parse::<u16>()
        .ok()
        .filter(|p| *p > 0)
        .ok_or_else(|| NetError::Invalid(format!("invalid containerPort: {p}")))?;
    Ok((port, proto))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn taken_port_is_a_conflict() {
        let (r, port) = reserve(Some(Ipv4Addr::LOCALHOST), 0, Proto::Tcp).unwrap();
        assert!(port > 0);
        let e = reserve(Some(Ipv4Addr::LOCALHOST), port, Proto::Tcp).unwrap_err();
        assert!(e.to_string().contains("port is already allocated"), "{e}");
        drop(r);
        reserve(Some(Ipv4Addr::LOCALHOST), port, Proto::Tcp).unwrap();
    }

    #[test]
    fn port_keys() {
        assert_eq!(parse_port_key("80/tcp").unwrap(), (80, Proto::Tcp));
        assert_eq!(parse_port_key("53/udp").unwrap(), (53, Proto::Udp));
        assert!(parse_port_key("x/tcp").is_err());
        assert!(parse_port_key("80/sctp").is_err());
    }
}
