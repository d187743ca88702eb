//! berth-net's error type.

/// A networking error, naming the resource it concerns.
#[derive(Debug, thiserror::Error)]
pub enum NetError {
    /// A netlink request failed.
    #[error("{what}: {source}")]
    Netlink {
        what: String,
        #[source]
        source: rtnetlink::Error,
    },
    /// A system call or file operation failed.
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
    /// The firewall (nft) refused a change.
    #[error("firewall: {0}")]
    Firewall(String),
    /// Bad input (subnet, port, address).
    #[error("{0}")]
    Invalid(String),
    /// A resource is taken (port, subnet, address).
    #[error("{0}")]
    Conflict(String),
}

impl NetError {
    pub(crate) fn io(what: impl Into<String>, source: std::io::Error) -> Self {
        NetError::Io {
            what: what.into(),
            source,
        }
    }
    pub(crate) fn nl(what: impl Into<String>, source: rtnetlink::Error) -> Self {
        NetError::Netlink {
            what: what.into(),
            source,
        }
    }
}

pub type Result<T, E = NetError> = std::result::Result<T, E>;
