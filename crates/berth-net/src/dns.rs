//! The embedded DNS server of user-defined networks: it listens on the network's gateway
//! address (port 53, UDP), answers A queries for container names and aliases on that
//! network, and relays everything else unchanged to the host's resolvers.
//!
//! Messages are parsed and built with `hickory-proto`. hickory-server's catalog is made for
//! authorities over zones; here every answer comes from the engine's live view of the
//! network, so a small handler on a `UdpSocket` is the whole server, and forwarded
//! queries are relayed as the client's own bytes (upstream answers reach the container
//! exactly as the resolver sent them).

use crate::error::{NetError, Result};
use hickory_proto::op::{Message, MessageType, ResponseCode};
use hickory_proto::rr::rdata::A;
use hickory_proto::rr::{RData, Record, RecordType};
use hickory_proto::serialize::binary::{BinDecodable, BinEncodable};
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::UdpSocket;

/// Where answers come from: `lookup(server, name)` gives the addresses of a container
/// name or alias on the network served at `server` (`None`: not ours, forward).
pub trait Names: Send + Sync + 'static {
    fn lookup(&self, server: Ipv4Addr, name: &str) -> Option<Vec<Ipv4Addr>>;
}

/// A running server; stops when dropped.
pub struct DnsServer {
    task: tokio::task::JoinHandle<()>,
    pub addr: SocketAddr,
}

impl Drop for DnsServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The host's resolvers, from `/etc/resolv.conf` (port 53).
pub fn host_resolvers() -> Vec<SocketAddr> {
    std::fs::read_to_string("/etc/resolv.conf")
        .unwrap_or_default()
        .lines()
        .filter_map(|l| {
            let mut w = l.split_whitespace();
            (w.next() == Some("nameserver"))
                .then(|| w.next())
                .flatten()
                .and_then(|a| a.parse::<std::net::IpAddr>().ok())
                .map(|ip| SocketAddr::new(ip, 53))
        })
        .collect()
}

/// Starts a server on `bind` (port 53 unless `port` says otherwise).
pub async fn spawn(
    bind: Ipv4Addr,
    port: u16,
    names: Arc<dyn Names>,
    upstreams: Vec<SocketAddr>,
) -> Result<DnsServer> {
    let sock = UdpSocket::bind((bind, port))
        .await
        .map_err(|e| NetError::io(format!("DNS server on {bind}:{port}"), e))?;
    let addr = sock
        .local_addr()
        .map_err(|e| NetError::io("DNS server address", e))?;
    let sock = Arc::new(sock);
    let task = tokio::spawn(serve(sock, bind, names, Arc::new(upstreams)));
    Ok(DnsServer { task, addr })
}

async fn serve(
    sock: Arc<UdpSocket>,
    server: Ipv4Addr,
    names: Arc<dyn Names>,
    upstreams: Arc<Vec<SocketAddr>>,
) {
    let mut buf = vec![0u8; 4096];
    loop {
        let (n, peer) = match sock.recv_from(&mut buf).await {
            Ok(x) => x,
            Err(e) => {
                tracing::warn!("dns recv on {server}: {e}");
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        let raw = buf[..n].to_vec();
        let Ok(q) = Message::from_bytes(&raw) else {
            continue;
        };
        if let Some(reply) = answer_locally(&q, server, names.as_ref()) {
            if let Ok(bytes) = reply.to_bytes() {
                let _ = sock.send_to(&bytes, peer).await;
            }
            continue;
        }
        let sock = sock.clone();
        let upstreams = upstreams.clone();
        tokio::spawn(async move {
            let reply = match forward(&raw, &upstreams).await {
                Some(r) => r,
                None => {
                    let mut m = reply_to(&q);
                    m.set_response_code(ResponseCode::ServFail);
                    match m.to_bytes() {
                        Ok(b) => b,
                        Err(_) => return,
                    }
                }
            };
            let _ = sock.send_to(&reply, peer).await;
        });
    }
}

fn reply_to(q: &Message) -> Message {
    let mut m = Message::new();
    m.set_id(q.id());
    m.set_message_type(MessageType::Response);
    m.set_op_code(q.op_code());
    m.set_recursion_desired(q.recursion_desired());
    m.set_recursion_available(true);
    m.add_queries(q.queries().to_vec());
    m
}

/// The answer for a name this network knows, or `None` to forward.
fn answer_locally(q: &Message, server: Ipv4Addr, names: &dyn Names) -> Option<Message> {
    let query = q.queries().first()?;
    let name = query.name().to_ascii();
    let name = name.trim_end_matches('.').to_ascii_lowercase();
    let ips = names.lookup(server, &name)?;
    let mut m = reply_to(q);
    m.set_authoritative(true);
    if matches!(query.query_type(), RecordType::A | RecordType::ANY) {
        for ip in ips {
            m.add_answer(Record::from_rdata(
                query.name().clone(),
                600,
                RData::A(A(ip)),
            ));
        }
    }
    Some(m)
}

async fn forward(raw: &[u8], upstreams: &[SocketAddr]) -> Option<Vec<u8>> {
    for up in upstreams {
        let local: SocketAddr = if up.is_ipv4() {
            "0.0.0.0:0".parse().ok()?
        } else {
            "[::]:0".parse().ok()?
        };
        let Ok(s) = UdpSocket::bind(local).await else {
            continue;
        };
        if s.send_to(raw, up).await.is_err() {
            continue;
        }
        let mut buf = vec![0u8; 4096];
        if let Ok(Ok((n, _))) =
            tokio::time::timeout(Duration::from_secs(3), s.recv_from(&mut buf)).await
        {
            buf.truncate(n);
            return Some(buf);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use hickory_proto::op::Query;
    use hickory_proto::rr::Name;
    use std::str::FromStr;

    struct Fixed;
    impl Names for Fixed {
        fn lookup(&self, _: Ipv4Addr, name: &str) -> Option<Vec<Ipv4Addr>> {
            (name == "web").then(|| vec![Ipv4Addr::new(10, 9, 0, 2)])
        }
    }

    async fn ask(server: SocketAddr, name: &str) -> Message {
        let c = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let mut q = Message::new();
        q.set_id(77);
        q.set_recursion_desired(true);
        q.add_query(Query::query(Name::from_str(name).unwrap(), RecordType::A));
        c.send_to(&q.to_bytes().unwrap(), server).await.unwrap();
        let mut buf = vec![0u8; 4096];
        let (n, _) = tokio::time::timeout(Duration::from_secs(5), c.recv_from(&mut buf))
            .await
            .unwrap()
            .unwrap();
        Message::from_bytes(&buf[..n]).unwrap()
    }

    #[tokio::test]
    async fn answers_local_names_and_forwards_the_rest() {
        // A fake upstream on loopback that answers everything with 1.2.3.4.
        let up = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let up_addr = up.local_addr().unwrap();
        tokio::spawn(async move {
            let mut buf = vec![0u8; 4096];
            loop {
                let (n, peer) = up.recv_from(&mut buf).await.unwrap();
                let q = Message::from_bytes(&buf[..n]).unwrap();
                let mut m = reply_to(&q);
                let name = q.queries()[0].name().clone();
                m.add_answer(Record::from_rdata(
                    name,
                    5,
                    RData::A(A(Ipv4Addr::new(1, 2, 3, 4))),
                ));
                up.send_to(&m.to_bytes().unwrap(), peer).await.unwrap();
            }
        });
        let srv = spawn(Ipv4Addr::LOCALHOST, 0, Arc::new(Fixed), vec![up_addr])
            .await
            .unwrap();
        let r = ask(srv.addr, "web.").await;
        assert_eq!(r.id(), 77);
        assert_eq!(r.answers().len(), 1);
        assert_eq!(
            r.answers()[0].data(),
            &RData::A(A(Ipv4Addr::new(10, 9, 0, 2)))
        );
        let r = ask(srv.addr, "example.org.").await;
        assert_eq!(
            r.answers()[0].data(),
            &RData::A(A(Ipv4Addr::new(1, 2, 3, 4)))
        );
    }
}
