//! A zone's nats-server cluster: where each node listens, the routes that
//! join them, and each node's configuration file.
//!
//! One nats-server is a single point of failure for a zone; a cluster of
//! three or more is not. Every node routes to every other one (a full
//! mesh, as nats-server expects), so a message published at one node
//! reaches subscribers at any node, and a client whose node dies
//! reconnects to another. Routes authenticate with a user and password of
//! their own, distinct from the hosts' (nats-server keeps the two apart:
//! route credentials give no client rights, and the other way round). The
//! client users and their permissions ([`super::permissions`]) are the
//! same on every node, so a host may connect to any of them.
//!
//! `market nats-config --node NAME=HOST:CLIENT_PORT:CLUSTER_PORT[:MONITOR_PORT]`
//! builds a [`Cluster`] and writes [`Cluster::node_config`] for each node.

use std::collections::BTreeMap;
use std::fmt::{self, Write};
use std::str::FromStr;

use super::permissions::{Users, authorization, quoted};
use super::subject::{SubjectSpace, Token};

/// The longest [`PlainName`].
const MAX_NAME_LEN: usize = 64;

/// A name that is safe as a file name, a nats-server `server_name` and the
/// user part of a route URL: 1 to 64 ASCII letters, digits, `-` or `_`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PlainName(String);

impl PlainName {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for PlainName {
    type Err = ClusterError;
    fn from_str(name: &str) -> Result<Self, Self::Err> {
        let plain = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '_';
        if name.is_empty() || name.len() > MAX_NAME_LEN || !name.chars().all(plain) {
            return Err(ClusterError::Name(name.to_owned()));
        }
        Ok(Self(name.to_owned()))
    }
}

impl fmt::Display for PlainName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Why a cluster cannot be written as asked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClusterError {
    #[error("{0:?} is not a plain name: use 1 to {MAX_NAME_LEN} ASCII letters, digits, '-' or '_'")]
    Name(String),
    #[error(
        "{spec:?} is not a node: expected NAME=HOST:CLIENT_PORT:CLUSTER_PORT[:MONITOR_PORT], \
         e.g. n1=10.0.0.1:4222:6222:8222 ({reason})"
    )]
    Spec { spec: String, reason: &'static str },
    #[error(
        "node {node} listens on {host}, which no other machine can reach: give the address \
         the other nodes and the hosts connect to"
    )]
    Unspecified { node: PlainName, host: String },
    #[error("node {0} is named twice: every node of a cluster needs its own name")]
    DuplicateNode(PlainName),
    #[error(
        "{first} and {second} both listen on {host}:{port}: give each listener of a machine \
         its own port"
    )]
    PortCollision {
        host: String,
        port: u16,
        first: String,
        second: String,
    },
}

/// One node of the cluster: where clients, the other nodes and (if asked)
/// monitoring reach it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterNode {
    /// The node's `server_name`, and its configuration file's name.
    pub name: PlainName,
    /// An address the other nodes and the hosts reach it at (an IP address,
    /// `[v6]` bracketed, or a DNS name); it listens there.
    pub host: String,
    /// Where hosts connect (nats-server's usual 4222).
    pub client_port: u16,
    /// Where the other nodes' routes connect (usually 6222).
    pub cluster_port: u16,
    /// nats-server's HTTP monitoring (`/connz`, `/routez`, `/healthz`;
    /// usually 8222): unauthenticated, so only when asked for.
    pub monitor_port: Option<u16>,
}

impl ClusterNode {
    /// `nats://HOST:CLIENT_PORT`: what a host's `[nats] servers` lists.
    pub fn client_url(&self) -> String {
        format!("nats://{}:{}", self.host, self.client_port)
    }

    /// The address of the monitoring endpoint, if it has one.
    pub fn monitor_address(&self) -> Option<String> {
        self.monitor_port
            .map(|port| format!("{}:{port}", self.host))
    }

    /// Every listener of the node, named for error messages.
    fn listeners(&self) -> Vec<(u16, String)> {
        let mut listeners = vec![
            (
                self.client_port,
                format!("node {}'s client port", self.name),
            ),
            (
                self.cluster_port,
                format!("node {}'s cluster port", self.name),
            ),
        ];
        if let Some(port) = self.monitor_port {
            listeners.push((port, format!("node {}'s monitoring port", self.name)));
        }
        listeners
    }
}

impl FromStr for ClusterNode {
    type Err = ClusterError;

    /// `NAME=HOST:CLIENT_PORT:CLUSTER_PORT[:MONITOR_PORT]`.
    fn from_str(spec: &str) -> Result<Self, Self::Err> {
        let error = |reason| ClusterError::Spec {
            spec: spec.to_owned(),
            reason,
        };
        let (name, address) = spec.split_once('=').ok_or(error("no '='"))?;
        let name: PlainName = name.parse()?;
        let (host, ports) = split_host(address).ok_or(error("no host before the ports"))?;
        let ports = ports
            .split(':')
            .map(|port| match port.parse::<u16>() {
                Ok(0) => Err(error("port 0 is not a port others can reach")),
                Ok(port) => Ok(port),
                Err(_) => Err(error("a port is not a number from 1 to 65535")),
            })
            .collect::<Result<Vec<u16>, _>>()?;
        let (client_port, cluster_port, monitor_port) = match ports[..] {
            [client, cluster] => (client, cluster, None),
            [client, cluster, monitor] => (client, cluster, Some(monitor)),
            _ => return Err(error("two or three ports after the host")),
        };
        if is_unspecified(host) {
            return Err(ClusterError::Unspecified {
                node: name,
                host: host.to_owned(),
            });
        }
        Ok(Self {
            name,
            host: host.to_owned(),
            client_port,
            cluster_port,
            monitor_port,
        })
    }
}

/// Splits `HOST:PORTS` where HOST may be a bracketed IPv6 address; `None`
/// when there is no host or nothing after it.
fn split_host(address: &str) -> Option<(&str, &str)> {
    let (host, ports) = if address.starts_with('[') {
        let end = address.find(']')? + 1;
        (&address[..end], address[end..].strip_prefix(':')?)
    } else {
        address.split_once(':')?
    };
    let usable = !host.is_empty()
        && !host
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || matches!(c, '/' | '@' | '"'));
    usable.then_some((host, ports))
}

/// An address that means "every interface": nobody can connect to it.
fn is_unspecified(host: &str) -> bool {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    bare.parse::<std::net::IpAddr>()
        .is_ok_and(|ip| ip.is_unspecified())
}

/// A zone's cluster: its name and its nodes, checked for names given twice
/// and listeners that would collide on one machine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cluster {
    name: Token,
    nodes: Vec<ClusterNode>,
}

/// The routes' own credentials: every node accepts routes that present
/// them and presents them to the others.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteAccount {
    pub user: PlainName,
    pub password: String,
}

impl Cluster {
    /// Checks that no node is named twice and that no two listeners share a
    /// port at one host address (the same name, compared without case:
    /// two names of one machine cannot be told apart here).
    pub fn new(name: Token, nodes: Vec<ClusterNode>) -> Result<Self, ClusterError> {
        let mut names = std::collections::BTreeSet::new();
        let mut listeners: BTreeMap<(String, u16), String> = BTreeMap::new();
        for node in &nodes {
            if !names.insert(&node.name) {
                return Err(ClusterError::DuplicateNode(node.name.clone()));
            }
            for (port, what) in node.listeners() {
                let key = (node.host.to_ascii_lowercase(), port);
                if let Some(first) = listeners.get(&key) {
                    return Err(ClusterError::PortCollision {
                        host: node.host.clone(),
                        port,
                        first: first.clone(),
                        second: what,
                    });
                }
                listeners.insert(key, what);
            }
        }
        Ok(Self { name, nodes })
    }

    pub fn name(&self) -> &Token {
        &self.name
    }

    pub fn nodes(&self) -> &[ClusterNode] {
        &self.nodes
    }

    /// What every host's `[nats] servers` lists: each node's client URL.
    pub fn client_urls(&self) -> Vec<String> {
        self.nodes.iter().map(ClusterNode::client_url).collect()
    }

    /// The complete nats-server (2.9 format) configuration of `node`: its
    /// listeners, its routes to every other node with the route
    /// credentials, and the zone's users, the same on every node.
    pub fn node_config(
        &self,
        node: &ClusterNode,
        space: &SubjectSpace,
        routes: &RouteAccount,
        users: &Users<'_>,
    ) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "# nats-server configuration of node {} of cluster {} (zone {}, prefix {}), \
             written by `market nats-config`.\n\
             # Every node has the same users; start each with its own file.\n\
             server_name: {}\n\
             listen: {}",
            node.name,
            self.name,
            space.zone(),
            space.prefix(),
            quoted(node.name.as_str()),
            quoted(&format!("{}:{}", node.host, node.client_port)),
        );
        if let Some(monitor) = node.monitor_address() {
            let _ = writeln!(out, "http: {}", quoted(&monitor));
        }
        let route_urls: Vec<String> = self
            .nodes
            .iter()
            .filter(|other| other.name != node.name)
            .map(|other| {
                quoted(&format!(
                    "nats-route://{}:{}@{}:{}",
                    routes.user, routes.password, other.host, other.cluster_port
                ))
            })
            .collect();
        let _ = writeln!(
            out,
            "cluster {{\n  name: {}\n  listen: {}\n  authorization {{\n    user: {}\n    \
             password: {}\n  }}\n  routes = [{}]\n}}",
            quoted(self.name.as_str()),
            quoted(&format!("{}:{}", node.host, node.cluster_port)),
            quoted(routes.user.as_str()),
            quoted(&routes.password),
            route_urls.join(", "),
        );
        out.push_str(&authorization(space, users));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bus::permissions::Account;

    fn node(spec: &str) -> ClusterNode {
        spec.parse().unwrap()
    }

    #[test]
    fn a_node_reads_from_its_specification() {
        assert_eq!(
            node("n1=10.0.0.1:4222:6222:8222"),
            ClusterNode {
                name: "n1".parse().unwrap(),
                host: "10.0.0.1".into(),
                client_port: 4222,
                cluster_port: 6222,
                monitor_port: Some(8222),
            }
        );
        let v6 = node("n2=[fd00::2]:4222:6222");
        assert_eq!(v6.host, "[fd00::2]");
        assert_eq!(v6.monitor_port, None);
        assert_eq!(v6.client_url(), "nats://[fd00::2]:4222");
        assert_eq!(node("n3=nats3.example:1:2").host, "nats3.example");
    }

    #[test]
    fn malformed_nodes_are_refused_with_the_reason() {
        for (spec, reason) in [
            ("n1", "no '='"),
            ("n1=10.0.0.1", "no host before the ports"),
            ("n1=:4222:6222", "no host before the ports"),
            ("n1=10.0.0.1:4222", "two or three ports after the host"),
            ("n1=10.0.0.1:1:2:3:4", "two or three ports after the host"),
            (
                "n1=10.0.0.1:4222:x",
                "a port is not a number from 1 to 65535",
            ),
            (
                "n1=10.0.0.1:4222:70000",
                "a port is not a number from 1 to 65535",
            ),
            (
                "n1=10.0.0.1:0:6222",
                "port 0 is not a port others can reach",
            ),
        ] {
            assert_eq!(
                spec.parse::<ClusterNode>(),
                Err(ClusterError::Spec {
                    spec: spec.into(),
                    reason
                }),
                "{spec}"
            );
        }
        assert!(matches!(
            "n.1=10.0.0.1:1:2".parse::<ClusterNode>(),
            Err(ClusterError::Name(_))
        ));
        for everywhere in ["n1=0.0.0.0:1:2", "n1=[::]:1:2"] {
            assert!(
                matches!(
                    everywhere.parse::<ClusterNode>(),
                    Err(ClusterError::Unspecified { .. })
                ),
                "{everywhere}"
            );
        }
    }

    #[test]
    fn a_node_named_twice_is_refused() {
        let nodes = vec![node("n1=10.0.0.1:4222:6222"), node("n1=10.0.0.2:4222:6222")];
        assert_eq!(
            Cluster::new(Token::new("z1").unwrap(), nodes),
            Err(ClusterError::DuplicateNode("n1".parse().unwrap()))
        );
    }

    #[test]
    fn listeners_sharing_a_port_on_one_machine_are_refused() {
        let zone = || Token::new("z1").unwrap();
        let within = vec![node("n1=127.0.0.1:4222:4222")];
        assert_eq!(
            Cluster::new(zone(), within).unwrap_err().to_string(),
            "node n1's client port and node n1's cluster port both listen on 127.0.0.1:4222: \
             give each listener of a machine its own port"
        );
        let across = vec![
            node("n1=127.0.0.1:4222:6222:8222"),
            node("n2=127.0.0.1:4223:6223:6222"),
        ];
        assert!(matches!(
            Cluster::new(zone(), across),
            Err(ClusterError::PortCollision { port: 6222, .. })
        ));
        let machines = vec![node("n1=10.0.0.1:4222:6222"), node("n2=10.0.0.2:4222:6222")];
        assert!(Cluster::new(zone(), machines).is_ok());
    }

    #[test]
    fn each_node_routes_to_the_others_with_the_route_credentials() {
        let space = SubjectSpace::in_zone(Token::new("z1").unwrap());
        let nodes = vec![
            node("n1=10.0.0.1:4222:6222:8222"),
            node("n2=10.0.0.2:4222:6222"),
            node("n3=10.0.0.3:4222:6222"),
        ];
        let cluster = Cluster::new(Token::new("z1").unwrap(), nodes).unwrap();
        let routes = RouteAccount {
            user: "route".parse().unwrap(),
            password: "rpw".into(),
        };
        let hosts = [Account {
            user: Token::new("h1").unwrap(),
            password: "pw1".into(),
        }];
        let users = Users {
            hosts: &hosts,
            observer: None,
            operator: None,
        };
        let text = cluster.node_config(&cluster.nodes()[0], &space, &routes, &users);
        for expected in [
            r#"server_name: "n1""#,
            r#"listen: "10.0.0.1:4222""#,
            r#"http: "10.0.0.1:8222""#,
            r#"name: "z1""#,
            r#"listen: "10.0.0.1:6222""#,
            r#"user: "route""#,
            r#"password: "rpw""#,
            r#"routes = ["nats-route://route:rpw@10.0.0.2:6222", "nats-route://route:rpw@10.0.0.3:6222"]"#,
            r#"user: "h1""#,
        ] {
            assert!(text.contains(expected), "missing {expected}\n{text}");
        }
        let second = cluster.node_config(&cluster.nodes()[1], &space, &routes, &users);
        assert!(!second.contains("http:"), "{second}");
        assert!(second.contains("@10.0.0.1:6222"), "{second}");
        assert!(!second.contains("@10.0.0.2:6222"), "{second}");
        assert_eq!(
            cluster.client_urls(),
            [
                "nats://10.0.0.1:4222",
                "nats://10.0.0.2:4222",
                "nats://10.0.0.3:4222"
            ]
        );
    }
}
