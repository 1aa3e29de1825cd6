//! What recovery must leave alone: the trades a live role carries out now.
//!
//! Recovery runs at start and every period, beside the roles that carry
//! trades out (a reverse call's seller handing a VM over, a call-market
//! leg waiting for its turn, a placement). A trade such a role recorded
//! looks, in the ledger, exactly like one a crash left unfinished, and
//! recovering it would roll back (or finish from where its VMs are) a
//! trade that is moving. So every role holds its trade from *before* it
//! records it until it has ended, and recovery asks *after* it has read
//! the ledger ([`InHand::holds`]): a trade it reads unfinished and finds
//! not held is one nobody carries out.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

use lcc::sync::Locked;
use market::ledger::TradeId;

/// The trades this host carries out now, each held while a [`Held`] for
/// it lives.
#[derive(Debug, Clone, Default)]
pub struct Carrying(Arc<Mutex<BTreeSet<TradeId>>>);

impl Carrying {
    /// Whether `trade_id` is being carried out now.
    pub fn holds(&self, trade_id: &TradeId) -> bool {
        self.0.locked().contains(trade_id)
    }

    /// Holds `trade_id` until the guard is dropped (also when the task
    /// carrying it out is cancelled).
    pub fn hold(&self, trade_id: &TradeId) -> Held {
        self.0.locked().insert(trade_id.clone());
        Held {
            carrying: self.clone(),
            trade_id: trade_id.clone(),
        }
    }
}

/// A trade held in [`Carrying`] while it lives.
#[derive(Debug)]
pub struct Held {
    carrying: Carrying,
    trade_id: TradeId,
}

impl Drop for Held {
    fn drop(&mut self) {
        self.carrying.0.locked().remove(&self.trade_id);
    }
}

/// Asks whether a live role holds a trade, at the moment recovery is
/// about to act on it: every place a host holds trades in ([`Carrying`],
/// a call-market round's recorded legs), read live.
#[derive(Clone)]
pub struct InHand(Arc<dyn Fn(&TradeId) -> bool + Send + Sync>);

impl InHand {
    /// Holds what `holds` says it holds.
    pub fn new(holds: impl Fn(&TradeId) -> bool + Send + Sync + 'static) -> InHand {
        InHand(Arc::new(holds))
    }

    /// Holds nothing: a host that has not started a role yet.
    pub fn nothing() -> InHand {
        InHand::new(|_| false)
    }

    /// Whether a live role carries `trade_id` out now.
    pub fn holds(&self, trade_id: &TradeId) -> bool {
        (self.0)(trade_id)
    }
}

impl std::fmt::Debug for InHand {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("InHand")
    }
}
