//! A host's part in one round, the same whether it trades or holds the
//! round: what it listed and ordered, the trade it recorded, and the steps
//! that act on them (list, order, record, carry a leg, call off, leave).

use std::collections::BTreeMap;

use lcc::component::Failure;
use lcc::term::Term;
use market::credits::Credits;
use market::ledger::{
    ClearingTerms, ProtocolRef, TradeId, TradeKind, TradeState, TradeTerms, VmRef,
};
use market::mechanism::{HostSlot, OrderKind};
use market::resources::Resources;
use market::valuation::Valuer;
use market::vm::{Vm, VmId};

use super::Seat;
use super::terms::{Filled, LegTerms, Listed, ListedVm, Listing, Posted};
use super::{BEST_BIDS, BEST_PACKAGES, LISTED_VMS, WANTED_VMS};
use crate::agent::vm_id;
use crate::hypervisor::DomainUuid;
use crate::migration::Outcome;

/// One round as this host takes part in it.
#[derive(Debug, Clone, Default)]
pub(crate) struct Part {
    /// Every host of the round (the auctioneer first).
    roster: Vec<String>,
    /// The VMs it listed, marked as being given until it leaves.
    listed: Vec<ListedVm>,
    /// The VMs others listed, by UUID, as the catalogue showed them.
    on_offer: BTreeMap<DomainUuid, ListedVm>,
    /// The orders it posted.
    orders: Vec<Posted>,
    /// The trade it recorded, until the round ends for it.
    recorded: Option<Filled>,
}

impl Part {
    /// The trade this host recorded, while the round is under way.
    pub(crate) fn recorded(&self) -> Option<&Filled> {
        self.recorded.as_ref()
    }
}

fn broken(e: impl std::fmt::Display) -> Failure {
    Failure::broken(e.to_string())
}

/// Joins round `round` of `roster` and lists this host: its room, and the
/// VMs it would give, which are not offered elsewhere until it leaves.
/// A host still in another round waits for it to end until `by_ms` of the
/// peers' clock ([`free_by`]); does not hold when it is in one then.
pub(crate) async fn list(
    inner: &Seat,
    round: &str,
    roster: Vec<String>,
    by_ms: i64,
) -> Result<Listing, Failure> {
    loop {
        let free = free_by(inner, by_ms).await;
        let mut state = inner.call_market();
        if state.stopping {
            return Err(Failure::no("the host is stopping"));
        }
        match &state.busy {
            None => {
                state.busy = Some(round.to_string());
                break;
            }
            Some(other) if !free => return Err(Failure::no(format!("in round {other}"))),
            Some(_) => {} // another round took it first: wait again
        }
    }
    let listed = listing(inner).await;
    let mut state = inner.call_market();
    match listed {
        Ok(listing) => {
            state.parts.insert(
                round.to_string(),
                Part {
                    roster,
                    listed: listing.vms.clone(),
                    ..Part::default()
                },
            );
            Ok(listing)
        }
        Err(why) => {
            state.busy = None;
            Err(why)
        }
    }
}

/// Waits until this host is in no round, or until `by_ms` of the peers'
/// clock: whether it is free. The parties of a round's last trade are
/// often still carrying it out when the next round calls; joining it once
/// they are done, instead of passing, is what lets them trade from the
/// state that trade left (and keeps the others from trading without them).
pub(crate) async fn free_by(inner: &Seat, by_ms: i64) -> bool {
    loop {
        let left = inner.round_left().notified();
        tokio::pin!(left);
        left.as_mut().enable();
        if inner.call_market().busy.is_none() {
            return true;
        }
        if inner.host.now_ms() >= by_ms {
            return false;
        }
        tokio::select! {
            () = left => {}
            () = inner.host.sleep_until(by_ms) => {}
        }
    }
}

/// The host is stopping: it joins no new round, and plays the one it is
/// in to its end (each leg it recorded moved or called off) or until
/// `by_ms` of the peers' clock. Whether it is in none. A role cut short
/// instead would leave every leg it recorded agreed, in its ledger and in
/// its peers', until it is back and they are recovered.
pub(crate) async fn play_out(inner: &Seat, by_ms: i64) -> bool {
    let round = {
        let mut state = inner.call_market();
        state.stopping = true;
        state.busy.clone()
    };
    let Some(round) = round else {
        return true;
    };
    tracing::info!(host = %inner.host.name(), %round, "stopping: plays the round it is in to its end");
    free_by(inner, by_ms).await
}

/// The host's listing; its VMs are marked as being given.
async fn listing(inner: &Seat) -> Result<Listing, Failure> {
    let running = inner.host.view().await.map_err(broken)?;
    let held = inner.host.with_holds(running.clone(), None);
    let slot = HostSlot::of(&held, inner.host.policy()).map_err(broken)?;
    let valuer = Valuer::new(inner.host.policy(), &held).map_err(broken)?;
    let mut asks: Vec<(Credits, &Vm)> = running
        .vms
        .iter()
        .filter_map(|vm| Some((valuer.ask_for_giving(vm.id).ok()?, vm)))
        .collect();
    asks.sort_by_key(|(ask, vm)| (*ask, vm.id));
    let mut vms = Vec::new();
    for (_, vm) in asks {
        if vms.len() == LISTED_VMS {
            break;
        }
        let Some(uuid) = inner.host.uuid_of(vm.id) else {
            continue;
        };
        if !inner.host.start_giving(&uuid).await {
            continue; // offered in a call under way
        }
        vms.push(ListedVm {
            uuid,
            name: vm.name.clone(),
            group: vm.group.clone(),
            reserved: vm.reserved,
            used: vm.used,
        });
    }
    Ok(Listing {
        capacity: slot.capacity,
        reserved: slot.reserved,
        vms,
    })
}

/// This host's orders for the VMs of `catalogue`, at its true valuation,
/// the best of each kind kept. Does not hold when it has none.
pub(crate) async fn orders(
    inner: &Seat,
    round: &str,
    catalogue: &[Listed],
) -> Result<Vec<Posted>, Failure> {
    let me = inner.host.name();
    let listed: Vec<ListedVm> = part(inner, round, |p| p.listed.clone())?;
    let host = inner.host.view_with_holds(None).await.map_err(broken)?;
    let valuer = Valuer::new(inner.host.policy(), &host).map_err(broken)?;
    // Room for a VM, counting what giving its largest listed VM frees.
    let slot = HostSlot::of(&host, inner.host.policy()).map_err(broken)?;
    let largest = listed
        .iter()
        .map(|vm| vm.reserved)
        .fold(Resources::ZERO, |a, b| {
            Resources::new(
                a.cpu_millicores.max(b.cpu_millicores),
                a.memory_mib.max(b.memory_mib),
                a.network_mbps.max(b.network_mbps),
            )
        });
    let room = slot
        .capacity
        .saturating_sub(&slot.reserved)
        .saturating_add(&largest);
    let mut fitting: Vec<&ListedVm> = catalogue
        .iter()
        .filter(|l| l.trader != me)
        .flat_map(|l| l.listing.vms.iter())
        .filter(|vm| !listed.iter().any(|own| own.uuid == vm.uuid))
        .filter(|vm| vm.reserved.fits_within(&room))
        .collect();
    // At most WANTED_VMS of them, a different choice on every host and in
    // every round.
    fitting.sort_by_cached_key(|vm| {
        (
            spread(me, Some(round), Some(vm.uuid.as_str())),
            vm.uuid.clone(),
        )
    });
    fitting.truncate(WANTED_VMS);
    let on_offer: BTreeMap<DomainUuid, ListedVm> = fitting
        .into_iter()
        .map(|vm| (vm.uuid.clone(), vm.clone()))
        .collect();
    let wanted: Vec<Vm> = on_offer.values().map(ListedVm::vm).collect();
    let by_id: BTreeMap<VmId, DomainUuid> = listed
        .iter()
        .chain(on_offer.values())
        .map(|vm| (vm_id(&vm.uuid), vm.uuid.clone()))
        .collect();
    let listed_ids: Vec<VmId> = listed.iter().map(|vm| vm_id(&vm.uuid)).collect();
    let mut all = valuer.orders(&mut 0, &wanted.iter().collect::<Vec<_>>());
    // Only VMs it listed are given: the others may be in another call.
    all.retain(|o| o.gives.is_none_or(|v| listed_ids.contains(&v)));
    // Best first; among equal limits, an order of VMs of this host's own
    // (a hash of its name and the VMs), so that hosts alike do not all
    // bid for the same few VMs.
    all.sort_by_cached_key(|o| {
        let named = |v: Option<VmId>| v.and_then(|v| by_id.get(&v)).map(DomainUuid::as_str);
        (
            std::cmp::Reverse(o.limit),
            spread(me, named(o.gives), named(o.takes)),
            o.id,
        )
    });
    let (mut bids, mut packages) = (0, 0);
    all.retain(|o| match o.kind() {
        OrderKind::Bid => {
            bids += 1;
            bids <= BEST_BIDS
        }
        OrderKind::Package => {
            packages += 1;
            packages <= BEST_PACKAGES
        }
        OrderKind::Ask => true,
        OrderKind::Empty => false,
    });
    let posted: Vec<Posted> = all
        .iter()
        .map(|o| Posted {
            gives: o.gives.and_then(|v| by_id.get(&v).cloned()),
            takes: o.takes.and_then(|v| by_id.get(&v).cloned()),
            limit: o.limit,
        })
        .collect();
    if posted.is_empty() {
        return Err(Failure::no("no order worth posting"));
    }
    let mut state = inner.call_market();
    if let Some(p) = state.parts.get_mut(round) {
        p.on_offer = on_offer;
        p.orders = posted.clone();
    }
    Ok(posted)
}

/// FNV-1a of a host's name and two more names (an order's VMs; a round and
/// a VM): the same on every machine and every run, different from host to
/// host.
fn spread(me: &str, gives: Option<&str>, takes: Option<&str>) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for part in [me, gives.unwrap_or("-"), takes.unwrap_or("-")] {
        for byte in part.bytes().chain([0]) {
            hash ^= u64::from(byte);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
    }
    hash
}

/// Reads something of this host's part in `round`.
fn part<T>(inner: &Seat, round: &str, read: impl FnOnce(&Part) -> T) -> Result<T, Failure> {
    let state = inner.call_market();
    state
        .parts
        .get(round)
        .map(read)
        .ok_or_else(|| Failure::no(format!("not in round {round}")))
}

/// Checks this host's part of `filled` against its orders and its host now,
/// then records every leg in its ledger in one transaction and holds room
/// for the VM it takes. The error says why it declines.
pub(crate) async fn take_part(
    inner: &Seat,
    protocol: &ProtocolRef,
    round: &str,
    filled: &Filled,
) -> Result<(), String> {
    let me = inner.host.name().to_string();
    let part = part(inner, round, Part::clone).map_err(|f| f.to_string())?;
    if let Some(leg) = filled
        .legs
        .iter()
        .find(|l| !part.roster.contains(&l.seller) || !part.roster.contains(&l.buyer))
    {
        return Err(format!(
            "leg {} moves {} from {} to {}: a host outside the round",
            leg.trade_id, leg.name, leg.seller, leg.buyer
        ));
    }
    let gives: Vec<&LegTerms> = filled.legs.iter().filter(|l| l.seller == me).collect();
    let takes: Vec<&LegTerms> = filled.legs.iter().filter(|l| l.buyer == me).collect();
    if gives.len() > 1 || takes.len() > 1 || (gives.is_empty() && takes.is_empty()) {
        return Err(format!(
            "gives {} and takes {} VMs: not one order of this host",
            gives.len(),
            takes.len()
        ));
    }
    let (give, take) = (gives.first().copied(), takes.first().copied());
    let given = give.map(|l| l.uuid.clone());
    let taken = take.map(|l| l.uuid.clone());
    if let Some(l) = give
        && !part.listed.iter().any(|vm| vm.uuid == l.uuid)
    {
        return Err(format!("gives {}, which it did not list", l.name));
    }
    let Some(order) = part
        .orders
        .iter()
        .find(|o| o.gives == given && o.takes == taken)
    else {
        return Err("matches none of its orders".into());
    };
    let price = Credits(
        take.map_or(0, |l| l.price.0)
            .saturating_sub(give.map_or(0, |l| l.price.0)),
    );
    if price > order.limit {
        return Err(format!(
            "would pay {price}, its order's limit is {}",
            order.limit
        ));
    }
    let taken_vm = match &taken {
        Some(uuid) => Some(
            part.on_offer
                .get(uuid)
                .map(ListedVm::vm)
                .ok_or_else(|| format!("takes {uuid}, which was not on offer"))?,
        ),
        None => None,
    };
    let worth = {
        let _pricing = inner.host.pricing().await;
        let host = inner
            .host
            .view_with_holds(None)
            .await
            .map_err(|e| e.to_string())?;
        let valuer = Valuer::new(inner.host.policy(), &host).map_err(|e| e.to_string())?;
        valuer
            .package(given.as_ref().map(vm_id), taken_vm.as_ref())
            .map_err(|refusal| format!("its policy refuses the package now: {refusal}"))?
    };
    if price > worth {
        return Err(format!(
            "would pay {price}, the package is worth {worth} now"
        ));
    }
    let terms = clearing_terms(protocol, round, filled)?;
    // In hand before it is in the ledger: the daemon's periodic recovery
    // must never find it agreed and not in hand, and roll it back.
    let set_recorded = |filled: Option<Filled>| {
        if let Some(p) = inner.call_market().parts.get_mut(round) {
            p.recorded = filled;
        }
    };
    set_recorded(Some(filled.clone()));
    if let Err(e) = inner.host.ledger().record_clearing(&terms).await {
        set_recorded(None);
        return Err(format!("cannot record the trade: {e}"));
    }
    if let (Some(uuid), Some(vm)) = (taken, taken_vm) {
        let used = vm.used;
        inner.host.hold_until_arrival(uuid.clone(), vm);
        inner.host.expect(uuid, &used);
    }
    Ok(())
}

/// The ledger's terms of a filled trade: each leg a migration of one VM.
fn clearing_terms(
    protocol: &ProtocolRef,
    round: &str,
    filled: &Filled,
) -> Result<ClearingTerms, String> {
    let legs = filled
        .legs
        .iter()
        .map(|leg| {
            Ok(TradeTerms {
                trade_id: TradeId::new(&leg.trade_id).map_err(|e| e.to_string())?,
                kind: TradeKind::Migration,
                interaction_id: round.to_string(),
                protocol: protocol.clone(),
                seller: leg.seller.clone(),
                buyer: leg.buyer.clone(),
                vms: vec![VmRef {
                    uuid: leg.uuid.as_str().to_string(),
                    name: leg.name.clone(),
                }],
                resources: leg.reserved,
                price: leg.price,
            })
        })
        .collect::<Result<_, String>>()?;
    Ok(ClearingTerms {
        clearing_id: filled.clearing_id.clone(),
        legs,
    })
}

/// Carries out leg `k` (from 1) of clearing `clearing_id`, of which this
/// host is the source, from the terms in its own ledger: `done` or
/// `failed(Why)`.
pub(crate) async fn carry(inner: &Seat, clearing_id: &str, k: i64) -> Term {
    match carry_leg(inner, clearing_id, k).await {
        Ok(Outcome::Settled) => Term::atom("done"),
        Ok(Outcome::Failed { reason } | Outcome::RolledBack { reason }) | Err(reason) => {
            tracing::warn!(host = %inner.host.name(), clearing = clearing_id, leg = k, %reason, "leg did not move");
            Term::apply("failed", vec![Term::string(&reason)])
        }
    }
}

async fn carry_leg(inner: &Seat, clearing_id: &str, k: i64) -> Result<Outcome, String> {
    let legs = inner
        .host
        .ledger()
        .clearing(clearing_id)
        .await
        .map_err(|e| e.to_string())?;
    let leg = legs
        .iter()
        .find(|l| i64::from(l.leg) == k)
        .ok_or_else(|| format!("this ledger lists no leg {k} of clearing {clearing_id}"))?;
    let record = inner
        .host
        .ledger()
        .trade(&leg.trade_id)
        .await
        .map_err(|e| e.to_string())?
        .ok_or_else(|| format!("leg {} is not recorded here", leg.trade_id))?;
    if record.terms.seller != inner.host.name() {
        return Err(format!(
            "leg {} leaves {}, not this host",
            leg.trade_id, record.terms.seller
        ));
    }
    let outcome = inner
        .host
        .execute(&record.terms)
        .await
        .map_err(|e| e.to_string())?;
    tracing::info!(host = %inner.host.name(), clearing = clearing_id, leg = k, vm = %leg.vm_uuid, to = %leg.buyer, ?outcome, "leg carried out");
    Ok(outcome)
}

/// Why an auctioneer calls a trade off when a party did not record it in
/// time (`call-market.lcc`, `settle`): then none of its legs has moved.
const NOT_RECORDED: &str = "not_recorded";

/// The trade this host recorded in `round` is off (if it is `clearing`,
/// when that names one): each leg it is the source of that did not move is
/// rolled back in both ledgers, and the room it held for a VM that is not
/// coming is freed.
pub(crate) async fn call_off(inner: &Seat, round: &str, clearing: Option<&str>, why: &str) {
    let Some(filled) = part(inner, round, |p| p.recorded.clone()).ok().flatten() else {
        return;
    };
    if clearing.is_some_and(|id| id != filled.clearing_id) {
        return;
    }
    let me = inner.host.name();
    for leg in &filled.legs {
        let Ok(trade_id) = TradeId::new(&leg.trade_id) else {
            continue;
        };
        if leg.seller == me {
            if let Err(e) = inner.host.call_off_leg(&trade_id, &leg.buyer, why).await {
                tracing::error!(host = %me, trade = %trade_id, error = %e, "cannot call the leg off; recovery will");
            }
        } else if leg.buyer == me {
            let state = inner
                .host
                .ledger()
                .trade(&trade_id)
                .await
                .ok()
                .flatten()
                .map(|t| t.state);
            // Called off because a party did not record the trade, it never
            // moved; its seller may be that party (killed, its disk full),
            // and then nobody else would ever end this leg, which recovery
            // (the seller's) does not know of: the buyer ends its record.
            // A seller that did record calls it off too and finds it
            // already rolled back here.
            if state == Some(TradeState::Agreed) && why == NOT_RECORDED {
                let reason = format!("called off: {why}");
                if let Err(e) = inner.host.ledger().roll_back(&trade_id, &reason).await {
                    tracing::error!(host = %me, trade = %trade_id, error = %e, "cannot roll back the leg it was to receive");
                }
            }
            if state != Some(TradeState::Settled) {
                inner.host.release(&leg.uuid);
            }
        }
    }
    tracing::info!(host = %me, clearing = %filled.clearing_id, why, "trade called off");
}

/// The round is over for this host: what it listed may be offered again.
pub(crate) fn leave(inner: &Seat, round: &str) {
    let part = {
        let mut state = inner.call_market();
        if state.busy.as_deref() == Some(round) {
            state.busy = None;
        }
        state.parts.remove(round)
    };
    inner.round_left().notify_waiters();
    for vm in part.iter().flat_map(|p| &p.listed) {
        inner.host.stop_giving(&vm.uuid);
    }
}
