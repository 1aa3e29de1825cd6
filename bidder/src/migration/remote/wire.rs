//! What travels between a migration's source and destination: the body of
//! each request and reply envelope (`market::wire`). The ledger's types are
//! mirrored in plain strings and numbers and checked again on arrival (a
//! trade id, UUIDs), since a peer may send anything.

use market::credits::Credits;
use market::ledger::{MigrationMethod, ProtocolRef, TradeId, TradeKind, TradeTerms, VmRef};
use serde::{Deserialize, Serialize};

use crate::hypervisor::{DomainState, DomainUuid};
// Each request and reply names the `Peer` call or error it carries.
#[cfg(doc)]
use crate::migration::{Peer, PeerError};

/// The terms of a trade as they travel (the ledger's types are checked
/// again on arrival: a trade id, UUIDs).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WireTerms {
    /// Shared trade id.
    pub trade_id: String,
    /// The interaction that agreed it.
    pub interaction_id: String,
    /// Model name.
    pub protocol_name: String,
    /// Model hash.
    pub protocol_hash: String,
    /// The source: its VMs leave, it is paid the price.
    pub seller: String,
    /// The destination: the VMs arrive, it pays the price.
    pub buyer: String,
    /// (UUID, name) of each VM, in the agreed order.
    pub vms: Vec<(String, String)>,
    /// The bundle: cpu millicores, memory MiB, network Mbit/s.
    pub bundle: [u64; 3],
    /// Micro-credits the buyer pays the seller.
    pub price: i64,
}

impl From<&TradeTerms> for WireTerms {
    fn from(terms: &TradeTerms) -> WireTerms {
        WireTerms {
            trade_id: terms.trade_id.to_string(),
            interaction_id: terms.interaction_id.clone(),
            protocol_name: terms.protocol.name.clone(),
            protocol_hash: terms.protocol.hash.clone(),
            seller: terms.seller.clone(),
            buyer: terms.buyer.clone(),
            vms: terms
                .vms
                .iter()
                .map(|vm| (vm.uuid.clone(), vm.name.clone()))
                .collect(),
            bundle: [
                terms.resources.cpu_millicores,
                terms.resources.memory_mib,
                terms.resources.network_mbps,
            ],
            price: terms.price.0,
        }
    }
}

impl WireTerms {
    /// The ledger's terms, or why these are not terms. The migration
    /// workflow carries migrations only.
    pub(super) fn to_terms(&self) -> Result<TradeTerms, String> {
        Ok(TradeTerms {
            trade_id: trade_id(&self.trade_id)?,
            kind: TradeKind::Migration,
            interaction_id: self.interaction_id.clone(),
            protocol: ProtocolRef {
                name: self.protocol_name.clone(),
                hash: self.protocol_hash.clone(),
            },
            seller: self.seller.clone(),
            buyer: self.buyer.clone(),
            vms: self
                .vms
                .iter()
                .map(|(uuid, name)| {
                    DomainUuid::parse(uuid).map(|uuid| VmRef {
                        uuid: uuid.as_str().to_string(),
                        name: name.clone(),
                    })
                })
                .collect::<Result<_, _>>()
                .map_err(|e| e.to_string())?,
            resources: market::resources::Resources {
                cpu_millicores: self.bundle[0],
                memory_mib: self.bundle[1],
                network_mbps: self.bundle[2],
            },
            price: Credits(self.price),
        })
    }
}

pub(super) fn trade_id(text: &str) -> Result<TradeId, String> {
    TradeId::new(text).map_err(|e| e.to_string())
}

/// How the VMs move, as it travels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum WireMethod {
    /// libvirt live migration.
    Live,
    /// Hand-off of the domain definition.
    Handoff,
}

impl From<MigrationMethod> for WireMethod {
    fn from(method: MigrationMethod) -> WireMethod {
        match method {
            MigrationMethod::Live => WireMethod::Live,
            MigrationMethod::Handoff => WireMethod::Handoff,
        }
    }
}

impl From<WireMethod> for MigrationMethod {
    fn from(method: WireMethod) -> MigrationMethod {
        match method {
            WireMethod::Live => MigrationMethod::Live,
            WireMethod::Handoff => MigrationMethod::Handoff,
        }
    }
}

/// One [`Peer`] call, as the source asks it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum PeerRequest {
    /// [`Peer::agree`].
    Agree(WireTerms),
    /// [`Peer::attempt_started`].
    AttemptStarted {
        /// The trade.
        trade_id: String,
        /// Attempt number.
        attempt: u32,
        /// How.
        method: WireMethod,
    },
    /// [`Peer::receive_domains`].
    ReceiveDomains {
        /// The trade.
        trade_id: String,
        /// Each domain's inactive XML.
        domains: Vec<String>,
    },
    /// [`Peer::trade_status`].
    TradeStatus {
        /// The trade.
        trade_id: String,
    },
    /// [`Peer::locate`].
    Locate {
        /// The VM.
        uuid: String,
    },
    /// [`Peer::discard`].
    Discard {
        /// The trade.
        trade_id: String,
        /// The VM.
        uuid: String,
    },
    /// [`Peer::settle`].
    Settle {
        /// The trade.
        trade_id: String,
    },
    /// [`Peer::fail`].
    Fail {
        /// The trade.
        trade_id: String,
        /// The refusal.
        reason: String,
    },
    /// [`Peer::roll_back`].
    RollBack {
        /// The trade.
        trade_id: String,
        /// Why.
        reason: String,
    },
    /// [`Peer::seller_status`]: from a trade's buyer to its seller.
    SellerStatus(WireTerms),
}

impl PeerRequest {
    /// The `request` label of the counter.
    pub(super) fn name(&self) -> &'static str {
        match self {
            PeerRequest::Agree(_) => "agree",
            PeerRequest::AttemptStarted { .. } => "attempt_started",
            PeerRequest::ReceiveDomains { .. } => "receive_domains",
            PeerRequest::TradeStatus { .. } => "trade_status",
            PeerRequest::Locate { .. } => "locate",
            PeerRequest::Discard { .. } => "discard",
            PeerRequest::Settle { .. } => "settle",
            PeerRequest::Fail { .. } => "fail",
            PeerRequest::RollBack { .. } => "roll_back",
            PeerRequest::SellerStatus(_) => "seller_status",
        }
    }

    /// The trade the request is about, if any.
    pub(super) fn trade(&self) -> Option<&str> {
        match self {
            PeerRequest::Agree(terms) | PeerRequest::SellerStatus(terms) => Some(&terms.trade_id),
            PeerRequest::AttemptStarted { trade_id, .. }
            | PeerRequest::ReceiveDomains { trade_id, .. }
            | PeerRequest::TradeStatus { trade_id }
            | PeerRequest::Discard { trade_id, .. }
            | PeerRequest::Settle { trade_id }
            | PeerRequest::Fail { trade_id, .. }
            | PeerRequest::RollBack { trade_id, .. } => Some(trade_id),
            PeerRequest::Locate { .. } => None,
        }
    }
}

/// The body of a request envelope: the call and its deadline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeerCall {
    /// The destination must not act on the call after this (ms since the
    /// Unix epoch, the source's clock).
    pub reply_by_ms: i64,
    /// The call.
    pub request: PeerRequest,
}

/// A trade's state at the destination, as it travels.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WireStatus {
    /// `agreed`, `migrating`, `settled`, `failed`, `rolled_back`.
    pub state: String,
    /// The reason on file.
    pub reason: Option<String>,
}

/// The destination's answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum PeerReply {
    /// Recorded (or already was).
    Done,
    /// Hand-off: these domains run at the destination.
    Running(Vec<String>),
    /// The trade in the destination's ledger (`None`: not recorded).
    Status(Option<WireStatus>),
    /// The VM at the destination (`None`: not defined there).
    Located(Option<DomainState>),
    /// [`PeerError::Refused`].
    Refused(String),
    /// [`PeerError::Unavailable`].
    Unavailable(String),
}
