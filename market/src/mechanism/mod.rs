//! Auction mechanisms: pure, deterministic functions from orders to trades.
//!
//! Two protocols run them (as LCC models, elsewhere):
//!
//! - [`contract_net`]: one host announces a VM, peers propose, the manager
//!   awards ([`contract_net::award`]).
//! - [`double_auction`]: many hosts post orders for one round; the round
//!   clears them together ([`double_auction::clear`]), which finds swaps and
//!   chains ([`package`]) no single push can (seed 002 section 6.1).
//!
//! # Orders
//!
//! Every order is a package "host `h` gives `gives` and takes `takes`" with a
//! **limit**: the most `h` pays for it, in micro-credits. A negative limit is
//! the least it must be paid. A bid ("`h` pays up to `x` for `v`") takes
//! only; an ask ("`s` gives `v` for at least `y`") gives only and has limit
//! `-y`, so `y` may be negative (it pays to be rid of `v`); a swap or chain
//! link does both. One convention for all three makes surplus a plain sum:
//! the surplus of a set of orders that fit together is the sum of their
//! limits.
//!
//! # One order per host per round
//!
//! Each host fills at most one order in a round (its orders are
//! alternatives, "XOR"). This is what makes the guarantees exact rather than
//! hoped for: every order was valued by its host against the host's current
//! state, and that is the state it applies to, so the limit is the true
//! worth of what happens to the host; and capacity is checked per order
//! ("reserved, less what it gives, plus what it takes, fits") and holds for
//! the round as a whole. A host that must shed three VMs does so over three
//! rounds, as seed 002's peers did.
//!
//! Module map: [`book`] (validation and indices), [`package`] (the
//! candidate trades: pairs, swaps, chains), [`selection`] (which candidates
//! clear), [`pricing`] (equal split of surplus) and [`trade_reduction`]
//! (second-price, McAfee-style). Guarantees are stated in docs/economics.md.

pub mod book;
pub mod contract_net;
pub mod double_auction;
pub mod legs;
pub mod package;
pub mod pricing;
pub mod selection;
pub mod trade_reduction;

use serde::{Deserialize, Serialize};

use crate::credits::Credits;
use crate::host::{Host, HostId};
use crate::policy::Policy;
use crate::resources::{Dimension, ResourceError, Resources};
use crate::vm::{Vm, VmId};

/// The largest limit, either way, an order may name: 2^60 micro-credits
/// (about 1.15e12 credits). It keeps every sum of a few limits inside `i64`,
/// so surplus and prices never overflow.
pub const MAX_LIMIT: i64 = 1 << 60;

/// An order's identity in a round, unique within it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct OrderId(pub u64);

/// One host's order: give `gives`, take `takes`, pay at most `limit`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Order {
    /// Unique in the round.
    pub id: OrderId,
    /// Who posts it.
    pub host: HostId,
    /// The VM the host gives away, if any (it must run it).
    pub gives: Option<VmId>,
    /// The VM the host takes in, if any (it must not run it).
    pub takes: Option<VmId>,
    /// The most the host pays for the package; negative: the least it must
    /// be paid.
    pub limit: Credits,
}

/// What kind of order an [`Order`] is, by what it gives and takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OrderKind {
    /// Takes only: "pays up to `limit` for the VM".
    Bid,
    /// Gives only: "gives the VM for at least `-limit`".
    Ask,
    /// Gives one VM and takes another: a swap or a link of a chain.
    Package,
    /// Neither; always rejected.
    Empty,
}

impl Order {
    /// A bid: `host` pays up to `pays_up_to` for `vm`.
    pub fn bid(id: u64, host: HostId, vm: VmId, pays_up_to: Credits) -> Order {
        Order {
            id: OrderId(id),
            host,
            gives: None,
            takes: Some(vm),
            limit: pays_up_to,
        }
    }

    /// An ask: `host` gives `vm` for at least `at_least` (negative: it pays
    /// up to `-at_least` to be rid of it).
    pub fn ask(id: u64, host: HostId, vm: VmId, at_least: Credits) -> Order {
        Order {
            id: OrderId(id),
            host,
            gives: Some(vm),
            takes: None,
            limit: Credits(at_least.0.saturating_neg()),
        }
    }

    /// A package: `host` gives `gives`, takes `takes`, pays at most `limit`.
    pub fn package(id: u64, host: HostId, gives: VmId, takes: VmId, limit: Credits) -> Order {
        Order {
            id: OrderId(id),
            host,
            gives: Some(gives),
            takes: Some(takes),
            limit,
        }
    }

    /// Which kind of order this is.
    pub fn kind(&self) -> OrderKind {
        match (self.gives, self.takes) {
            (None, Some(_)) => OrderKind::Bid,
            (Some(_), None) => OrderKind::Ask,
            (Some(_), Some(_)) => OrderKind::Package,
            (None, None) => OrderKind::Empty,
        }
    }
}

/// A host as the round sees it: how much room it has.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostSlot {
    /// The host.
    pub id: HostId,
    /// Capacity offered to VMs (hardware less the policy's headroom).
    pub capacity: Resources,
    /// Reserved by every VM it runs now.
    pub reserved: Resources,
}

impl HostSlot {
    /// The slot of `host` under `policy`: capacity less headroom, and what
    /// its VMs reserve.
    pub fn of(host: &Host, policy: &Policy) -> Result<HostSlot, ResourceError> {
        Ok(HostSlot {
            id: host.id,
            capacity: policy.capacity(host),
            reserved: host.metrics()?.reserved,
        })
    }
}

/// A VM as the round sees it: where it is and how big.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VmSlot {
    /// The VM.
    pub id: VmId,
    /// The host it runs on now.
    pub host: HostId,
    /// What it reserves.
    pub reserved: Resources,
}

impl VmSlot {
    /// The slot of `vm` running on `host`.
    pub fn of(host: &Host, vm: &Vm) -> VmSlot {
        VmSlot {
            id: vm.id,
            host: host.id,
            reserved: vm.reserved,
        }
    }
}

/// Everything one round clears: hosts, the VMs orders refer to, orders.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Round {
    /// Every host that posts an order.
    pub hosts: Vec<HostSlot>,
    /// Every VM an order gives or takes.
    pub vms: Vec<VmSlot>,
    /// The orders, in any order: the result does not depend on it.
    pub orders: Vec<Order>,
}

/// How prices are set.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Pricing {
    /// Every trade's surplus is split equally among its orders
    /// ([`pricing`]): individually rational and exactly budget balanced.
    #[default]
    #[serde(alias = "equal_split")]
    EqualSplit,
    /// Plain bid/ask trades clear at the second-highest bid for the VM and
    /// only when that covers the ask ([`trade_reduction`]); packages still
    /// split equally.
    #[serde(alias = "trade_reduction")]
    TradeReduction,
}

impl Pricing {
    /// Every rule, as configuration files write it (kebab-case, as every
    /// other value is: `first-price`, `double-auction`).
    pub const ALL: [(&'static str, Pricing); 2] = [
        ("equal-split", Pricing::EqualSplit),
        ("trade-reduction", Pricing::TradeReduction),
    ];

    /// The spellings of files written before the names were kebab-case:
    /// still read, and the reader warns with the new one.
    const OLD: [(&'static str, Pricing); 2] = [
        ("equal_split", Pricing::EqualSplit),
        ("trade_reduction", Pricing::TradeReduction),
    ];

    /// The rule `text` names, and whether it is an old spelling.
    pub fn parse(text: &str) -> Option<(Pricing, bool)> {
        let find =
            |table: &[(&str, Pricing)]| table.iter().find(|(n, _)| *n == text).map(|(_, p)| *p);
        find(&Pricing::ALL)
            .map(|p| (p, false))
            .or_else(|| find(&Pricing::OLD).map(|p| (p, true)))
    }
}

impl std::fmt::Display for Pricing {
    /// As configuration files write it.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let name = Pricing::ALL
            .iter()
            .find(|(_, p)| p == self)
            .map_or("?", |(n, _)| n);
        f.write_str(name)
    }
}

/// Knobs of the clearing; the defaults are what the benchmarks measure.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClearingRules {
    /// How prices are set.
    pub pricing: Pricing,
    /// Up to this many candidate trades, the selection is exact (branch and
    /// bound); above, greedy plus local improvement.
    pub exact_up_to: usize,
    /// Chains ask -> package -> bid consider this many of the best bids for
    /// the package's VM (bounds the work when one VM draws many bids).
    pub chain_bids_per_vm: usize,
    /// Passes of local improvement after the greedy selection.
    pub improvement_passes: usize,
}

impl Default for ClearingRules {
    fn default() -> Self {
        ClearingRules {
            pricing: Pricing::EqualSplit,
            exact_up_to: 16,
            chain_bids_per_vm: 4,
            improvement_passes: 2,
        }
    }
}

/// One VM moving from one host to another: a leg of a trade.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Move {
    /// The VM.
    pub vm: VmId,
    /// Where it runs now.
    pub from: HostId,
    /// Where it goes.
    pub to: HostId,
    /// What `to` pays `from` for this leg ([`legs::prices`]); per host, the
    /// legs' prices add up to what its order pays.
    pub price: Credits,
}

/// What one filled order pays.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Payment {
    /// The filled order.
    pub order: OrderId,
    /// Its host.
    pub host: HostId,
    /// What it pays (negative: what it receives). Never above its limit.
    pub price: Credits,
}

/// The terms of one cleared trade: a pair (ask and bid), a swap (two
/// packages) or a chain (ask, package, bid). Its payments sum to zero.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Trade {
    /// The VMs that move, in the order they must move: after each one,
    /// every host still fits its capacity ([`legs::feasible_order`]).
    pub moves: Vec<Move>,
    /// What each filled order pays, in order id order.
    pub payments: Vec<Payment>,
    /// Sum of the filled orders' limits: the gain from trade.
    pub surplus: Credits,
}

/// Why an order did not take part in the clearing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[serde(rename_all = "snake_case")]
pub enum Rejection {
    /// Another order in the round has the same id.
    #[error("another order in the round has the same id")]
    DuplicateId,
    /// The order gives and takes nothing.
    #[error("the order gives and takes nothing")]
    Empty,
    /// The order's host is not in the round.
    #[error("the order's host is not in the round")]
    UnknownHost,
    /// The order names a VM that is not in the round.
    #[error("the order names a VM that is not in the round")]
    UnknownVm(VmId),
    /// The order gives a VM its host does not run.
    #[error("the host does not run {0}")]
    NotOwner(VmId),
    /// The order takes a VM its host already runs.
    #[error("the host already runs {0}")]
    AlreadyOwner(VmId),
    /// The order gives and takes the same VM.
    #[error("the order gives and takes the same VM")]
    SameVm,
    /// The limit is beyond [`MAX_LIMIT`] either way.
    #[error(
        "the limit is beyond the {} micro-credits an order may name",
        MAX_LIMIT
    )]
    LimitOutOfRange,
    /// After the order the host would exceed its capacity.
    #[error("no room: the host would exceed its {0} capacity")]
    NoRoom(Dimension),
    /// The host posted the same package with a higher limit (or the same
    /// limit and a smaller id); only that one is kept.
    #[error("superseded by order {0:?} of the same host for the same package")]
    Superseded(OrderId),
}

/// The result of clearing a round.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Clearing {
    /// The cleared trades, sorted by their smallest order id.
    pub trades: Vec<Trade>,
    /// Orders that could not take part, with why, in order id order.
    pub rejected: Vec<(OrderId, Rejection)>,
    /// Sets of orders that fit together and would gain, left out because
    /// no order of their legs keeps every host within its capacity on the
    /// way (two full hosts cannot swap); each set in order id order.
    pub unordered: Vec<Vec<OrderId>>,
    /// Sum of the trades' surpluses.
    pub total_surplus: Credits,
    /// True when the selection was proved optimal over the candidate trades
    /// (branch and bound); false when it is greedy plus local improvement.
    pub exact: bool,
}

/// A round the mechanism cannot clear at all (as opposed to single bad
/// orders, which are rejected and reported in [`Clearing::rejected`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClearingError {
    /// Two host slots with one id.
    #[error("{0} is listed twice in the round")]
    DuplicateHost(HostId),
    /// Two VM slots with one id.
    #[error("{0} is listed twice in the round")]
    DuplicateVm(VmId),
    /// A VM slot on a host the round does not list.
    #[error("{0} is on {1}, which the round does not list")]
    VmOnUnknownHost(VmId, HostId),
    /// More than 2^32 - 1 hosts, VMs or orders in one round.
    #[error("the round is too large: more than 2^32 - 1 hosts, VMs or orders")]
    TooLarge,
}
