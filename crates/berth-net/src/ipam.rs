//! IP address management: choosing a subnet that overlaps nothing the host routes, and
//! handing out addresses inside a subnet. Pure functions over the addresses in use; the
//! engine persists who holds which address.

use ipnet::Ipv4Net;
use std::collections::HashSet;
use std::net::Ipv4Addr;

/// Docker's default address pools: `172.17.0.0/16` … `172.31.0.0/16`, then
/// `192.168.0.0/16` cut into `/20`s.
pub fn default_pools() -> Vec<(Ipv4Net, u8)> {
    vec![
        ("172.17.0.0/16".parse().expect("pool"), 16),
        ("172.18.0.0/15".parse().expect("pool"), 16),
        ("172.20.0.0/14".parse().expect("pool"), 16),
        ("172.24.0.0/13".parse().expect("pool"), 16),
        ("192.168.0.0/16".parse().expect("pool"), 20),
    ]
}

/// Parses `--default-address-pool base=10.10.0.0/16,size=24`.
pub fn parse_pool(s: &str) -> Result<(Ipv4Net, u8), String> {
    let mut base = None;
    let mut size = None;
    for kv in s.split(',') {
        match kv.split_once('=') {
            Some(("base", v)) => {
                base = Some(
                    v.parse::<Ipv4Net>()
                        .map_err(|e| format!("invalid pool base {v:?}: {e}"))?,
                )
            }
            Some(("size", v)) => {
                size = Some(
                    v.parse::<u8>()
                        .map_err(|e| format!("invalid pool size {v:?}: {e}"))?,
                )
            }
            _ => {
                return Err(format!(
                    "invalid default address pool {s:?}: expected base=CIDR,size=N"
                ))
            }
        }
    }
    let base = base.ok_or_else(|| format!("invalid default address pool {s:?}: base missing"))?;
    let size = size.unwrap_or(base.prefix_len());
    if size < base.prefix_len() || size > 30 {
        return Err(format!(
            "invalid default address pool {s:?}: size {size} does not fit base"
        ));
    }
    Ok((base.trunc(), size))
}

/// IPv4 routes of the host's main table (`/proc/net/route`), default route excluded.
pub fn host_routes() -> Vec<Ipv4Net> {
    let Ok(text) = std::fs::read_to_string("/proc/net/route") else {
        return Vec::new();
    };
    text.lines()
        .skip(1)
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let dest = u32::from_str_radix(f.get(1)?, 16).ok()?;
            let mask = u32::from_str_radix(f.get(7)?, 16).ok()?;
            // The file holds little-endian words.
            let dest = Ipv4Addr::from(dest.to_le_bytes());
            let prefix = mask.count_ones() as u8;
            (prefix > 0)
                .then(|| Ipv4Net::new(dest, prefix).ok())
                .flatten()
        })
        .collect()
}

/// The first subnet from the pools that overlaps none of `taken`.
pub fn pick_subnet(pools: &[(Ipv4Net, u8)], taken: &[Ipv4Net]) -> Option<Ipv4Net> {
    for (base, size) in pools {
        let Ok(subnets) = base.subnets(*size) else {
            continue;
        };
        for s in subnets {
            if !taken.iter().any(|t| overlaps(&s, t)) {
                return Some(s);
            }
        }
    }
    None
}

/// Whether two subnets share an address.
pub fn overlaps(a: &Ipv4Net, b: &Ipv4Net) -> bool {
    a.contains(&b.network()) || b.contains(&a.network())
}

/// The conventional gateway: the subnet's first host address.
pub fn first_host(s: &Ipv4Net) -> Ipv4Addr {
    Ipv4Addr::from(u32::from(s.network()) + 1)
}

/// The lowest free host address of `subnet` (not the gateway, network or broadcast).
pub fn allocate(subnet: &Ipv4Net, gateway: Ipv4Addr, used: &HashSet<Ipv4Addr>) -> Option<Ipv4Addr> {
    subnet
        .hosts()
        .find(|a| *a != gateway && !used.contains(a) && *a != subnet.broadcast())
}

/// Like [`allocate`], but searching from just after `after` and wrapping around, so a
/// freed address is handed out again only once the others have been used.
pub fn allocate_after(
    subnet: &Ipv4Net,
    gateway: Ipv4Addr,
    used: &HashSet<Ipv4Addr>,
    after: Option<Ipv4Addr>,
) -> Option<Ipv4Addr> {
    let free = |a: &Ipv4Addr| *a != gateway && !used.contains(a) && *a != subnet.broadcast();
    match after.filter(|a| subnet.contains(a)) {
        Some(a) => subnet
            .hosts()
            .skip_while(|h| *h <= a)
            .find(free)
            .or_else(|| subnet.hosts().find(free)),
        None => subnet.hosts().find(free),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn picks_first_pool_subnet_not_overlapping() {
        let taken: Vec<Ipv4Net> = vec![
            "172.17.0.0/16".parse().unwrap(),
            "172.18.5.0/24".parse().unwrap(),
        ];
        assert_eq!(
            pick_subnet(&default_pools(), &taken),
            Some("172.19.0.0/16".parse().unwrap())
        );
        let all: Vec<Ipv4Net> = vec!["172.16.0.0/12".parse().unwrap()];
        assert_eq!(
            pick_subnet(&default_pools(), &all),
            Some("192.168.0.0/20".parse().unwrap())
        );
    }

    #[test]
    fn allocates_lowest_free_address() {
        let s: Ipv4Net = "10.1.0.0/29".parse().unwrap();
        let gw = first_host(&s);
        assert_eq!(gw, Ipv4Addr::new(10, 1, 0, 1));
        let mut used = HashSet::new();
        let a = allocate(&s, gw, &used).unwrap();
        assert_eq!(a, Ipv4Addr::new(10, 1, 0, 2));
        used.insert(a);
        for _ in 0..4 {
            used.insert(allocate(&s, gw, &used).unwrap());
        }
        // .2-.6 used, .7 is broadcast: full.
        assert_eq!(allocate(&s, gw, &used), None);
    }

    #[test]
    fn allocation_goes_round_robin() {
        let s: Ipv4Net = "10.1.0.0/29".parse().unwrap();
        let gw = first_host(&s);
        let used = HashSet::new();
        let a = allocate_after(&s, gw, &used, None).unwrap();
        assert_eq!(a, Ipv4Addr::new(10, 1, 0, 2));
        // .2 freed again: the next one is .3, not .2.
        assert_eq!(
            allocate_after(&s, gw, &used, Some(a)),
            Some(Ipv4Addr::new(10, 1, 0, 3))
        );
        // Wraps around past the end.
        let last = Ipv4Addr::new(10, 1, 0, 6);
        assert_eq!(
            allocate_after(&s, gw, &used, Some(last)),
            Some(Ipv4Addr::new(10, 1, 0, 2))
        );
    }

    #[test]
    fn pools_parse() {
        assert_eq!(
            parse_pool("base=10.10.0.0/16,size=24").unwrap(),
            ("10.10.0.0/16".parse().unwrap(), 24)
        );
        assert!(parse_pool("base=10.10.0.0/16,size=8").is_err());
    }

    #[test]
    fn host_routes_include_local_subnets() {
        // Whatever the host has, the parse yields proper networks.
        for r in host_routes() {
            assert_eq!(r, r.trunc());
        }
    }
}
