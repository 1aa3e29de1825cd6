//! The auctioneer's side of one round: the host whose turn it is recruits
//! the zone's traders, lists itself among them, clears every order with
//! its own, and sees each trade's legs carried out in order.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

use lcc::sync::Locked;
use tokio::task::JoinHandle;

use lcc::component::{Components, Failure};
use lcc::term::Term;
use market::host::HostId;
use market::ledger::{ProtocolRef, TradeId};
use market::mechanism::double_auction::clear as clear_round;
use market::mechanism::{ClearingRules, HostSlot, Order, OrderId, Round, Trade, VmSlot};
use market::runtime::{self, InitiateError, Recruitment};
use market::vm::VmId;

use super::Seat;
use super::party;
use super::terms::{Filled, LegTerms, Listed, ListedVm, Posted, catalogue_term, read_listed};
use super::trader::{carry, protocol_ref, refused};
use super::{AUCTIONEER, Settings, TRADER, round_span_ms};
use crate::agent::{AgentError, Initiative, Play, TradeReport, vm_id};
use crate::migration::Outcome;
use crate::protocol::Protocol;
use crate::protocol::terms::{Report, compound, text};
use crate::protocol::vocabulary::{CARRY, CATALOGUE, CLEAR, CONCLUDED, LEADS, LEG_ENDED, READY};

/// The auctioneer's own orders being made.
type OwnOrders = JoinHandle<Result<Vec<Posted>, Failure>>;

/// One round as its auctioneer holds it.
struct Held {
    round: String,
    /// Whether it holds the round it recruited for (`leads`); if not, the
    /// model lets its traders go.
    leads: bool,
    protocol: ProtocolRef,
    rules: ClearingRules,
    /// When the party of a trade stops waiting to be told to move.
    until_ms: i64,
    /// Every trader's listing kept, this host's first.
    catalogue: Mutex<Vec<Listed>>,
    /// Its own orders, started when the catalogue is shown.
    own_orders: Mutex<Option<OwnOrders>>,
    /// The trades cleared and recorded by this host where it is a party.
    trades: Mutex<Vec<Filled>>,
    /// How each leg ended, by trade and leg (from 1).
    legs: Mutex<BTreeMap<(String, i64), Term>>,
    /// How each trade ended.
    concluded: Mutex<BTreeMap<String, String>>,
}

/// Holds the round of this period if it is this host's turn: `None` when
/// it is not.
pub(crate) async fn hold(
    play: &Play<'_>,
    inner: &Arc<Seat>,
    protocol: &Protocol,
) -> Result<Option<Initiative>, AgentError> {
    let seq = inner.host.period();
    if !inner.due_round(protocol.name().as_str(), seq) {
        return Ok(None);
    }
    let (window, grace) = (
        protocol.settings::<Settings>().window_ms,
        play.config.grace_ms,
    );
    // A round this host is still in (a trade of the last one moving) ends
    // first: held now, its round would go on without its own orders. It
    // holds the round only if it is still its turn then.
    let span = round_span_ms(window, grace);
    party::free_by(inner, inner.host.now_ms().saturating_add(span)).await;
    if !inner.due_round(protocol.name().as_str(), seq) {
        return Ok(None);
    }
    let first = inner.first_round_due(protocol.name().as_str());
    let recruitment = Recruitment {
        role: TRADER.to_string(),
        within_ms: play.config.recruit_ms,
        reach: None,
    };
    let recruited = match runtime::recruit(play.peer, protocol.model(), &recruitment).await {
        Ok(recruited) => recruited,
        Err(InitiateError::NotEnoughPlayers { .. }) => {
            inner.heard_round(protocol.name().as_str(), seq, &[]);
            return Ok(Some(Initiative::NoPeers));
        }
        Err(source) => return Err(play.interaction_error(protocol, source)),
    };
    let round = recruited.interaction.id.to_string();
    let mut roster = vec![inner.host.name().to_string()];
    roster.extend(recruited.players.iter().map(|p| p.to_string()));
    let leads = !first || inner.holds_first_round(protocol.name().as_str(), seq, &roster[1..]);
    let own = if leads {
        inner.heard_round(protocol.name().as_str(), seq, &roster);
        tracing::info!(host = %inner.host.name(), %round, seq, traders = roster.len() - 1, protocol = %protocol.name(), "holds a call-market round");
        // Called into another round while it recruited, it lists itself
        // once that one ends for it.
        let list_by = inner.host.now_ms().saturating_add(window / 2);
        party::list(inner, &round, roster, list_by).await.ok()
    } else {
        tracing::debug!(host = %inner.host.name(), %round, seq, "leaves the first round to the first host by name");
        None
    };
    let started = inner.host.now_ms();
    let held = Arc::new(Held {
        round: round.clone(),
        leads,
        protocol: protocol_ref(protocol),
        rules: ClearingRules {
            pricing: protocol.settings::<Settings>().pricing,
            ..ClearingRules::default()
        },
        until_ms: started + span,
        catalogue: Mutex::new(
            own.into_iter()
                .map(|listing| Listed {
                    trader: inner.host.name().to_string(),
                    listing,
                })
                .collect(),
        ),
        own_orders: Mutex::new(None),
        trades: Mutex::new(Vec::new()),
        legs: Mutex::new(BTreeMap::new()),
        concluded: Mutex::new(BTreeMap::new()),
    });
    let components = auctioneer(Arc::clone(inner), Arc::clone(&held));
    let role = |traders: Vec<Term>| {
        Term::apply(
            AUCTIONEER,
            vec![
                Term::string(&round),
                Term::Int(i64::try_from(seq).unwrap_or(i64::MAX)),
                Term::list(traders),
                Term::Int(window),
                Term::Int(grace),
            ],
        )
    };
    let ran = recruited
        .run(play.peer, protocol.model(), role, &components)
        .await;
    // Whatever the round came to, its own legs that did not move are off.
    party::call_off(inner, &round, None, "the round ended").await;
    party::leave(inner, &round);
    ran.map_err(|source| play.interaction_error(protocol, source))?;
    // Released, it cleared nothing; a model of one's own that does not
    // call `leads` holds the round whatever, and its trades are reported.
    Ok(Some(Initiative::Cleared(reports(&held))))
}

/// How every leg of every trade ended, as the auctioneer heard it.
fn reports(held: &Held) -> Vec<TradeReport> {
    let (legs, concluded) = (held.legs.locked(), held.concluded.locked());
    let mut out = Vec::new();
    for filled in held.trades.locked().iter() {
        for (k, leg) in (1..).zip(&filled.legs) {
            let heard = legs.get(&(filled.clearing_id.clone(), k)).map(Report::read);
            let outcome = match heard {
                Some(Report::Done) => Outcome::Settled,
                Some(failed @ Report::Failed(_)) => Outcome::Failed {
                    reason: failed.to_string(),
                },
                _ => Outcome::RolledBack {
                    reason: concluded
                        .get(&filled.clearing_id)
                        .cloned()
                        .unwrap_or_else(|| "not carried out".into()),
                },
            };
            // Ids this auctioneer gave; one that is not a trade id was
            // never recorded by anybody, and there is nothing to report.
            let Ok(trade_id) = TradeId::new(&leg.trade_id) else {
                continue;
            };
            out.push(TradeReport {
                trade_id,
                protocol: held.protocol.name.clone(),
                vm: leg.name.clone(),
                seller: leg.seller.clone(),
                buyer: leg.buyer.clone(),
                price: leg.price,
                outcome,
            });
        }
    }
    out
}

/// The components a host provides as auctioneer of one round.
fn auctioneer(inner: Arc<Seat>, held: Arc<Held>) -> Components {
    let mut components = Components::new();
    let leading = Arc::clone(&held);
    components.register_fn(LEADS.name, LEADS.modes, move |_| {
        if leading.leads {
            Ok(vec![])
        } else {
            Err(Failure::no("another host holds this first round"))
        }
    });
    let (listing, cataloguing) = (Arc::clone(&inner), Arc::clone(&held));
    components.register_fn(CATALOGUE.name, CATALOGUE.modes, move |args| {
        let shown = catalogue(&listing, &cataloguing, args)?;
        order_own(&listing, &cataloguing);
        Ok(shown)
    });
    let (clearing, deciding) = (Arc::clone(&inner), Arc::clone(&held));
    components.register_async(CLEAR.name, CLEAR.modes, move |args| {
        let (inner, held) = (Arc::clone(&clearing), Arc::clone(&deciding));
        async move { clear(&inner, &held, &args).await }
    });
    components.register_fn(READY.name, READY.modes, |args| {
        let (Some(parties), Some(acks)) = (args[2].as_list(), args[3].as_list()) else {
            return Err(Failure::broken("parties and acks are lists"));
        };
        if parties.iter().all(|p| acks.contains(p)) {
            Ok(vec![])
        } else {
            Err(Failure::no("a party did not record the trade"))
        }
    });
    let ending = Arc::clone(&held);
    components.register_fn(LEG_ENDED.name, LEG_ENDED.modes, move |args| {
        let (Some(id), Term::Int(k)) = (text(&args[1]), &args[2]) else {
            return Err(Failure::broken(format!("not a trade and leg: {args:?}")));
        };
        tracing::info!(clearing = %id, leg = k, report = %args[3], "leg ended");
        ending.legs.locked().insert((id, *k), args[3].clone());
        Ok(vec![])
    });
    let (concluding, ended) = (Arc::clone(&inner), Arc::clone(&held));
    components.register_async(CONCLUDED.name, CONCLUDED.modes, move |args| {
        let (inner, held) = (Arc::clone(&concluding), Arc::clone(&ended));
        async move {
            let id = text(&args[1]).ok_or_else(|| Failure::broken("a trade id"))?;
            let report = Report::read(&args[2]);
            // Its own part of the trade ends as any party's does, for the
            // reason the trade was called off (`not_recorded` tells a
            // buyer its seller never recorded the leg).
            match &report {
                Report::Done => {}
                Report::CalledOff(why) => {
                    party::call_off(&inner, &held.round, Some(&id), why).await;
                }
                other => {
                    party::call_off(&inner, &held.round, Some(&id), &other.to_string()).await;
                }
            }
            tracing::info!(host = %inner.host.name(), clearing = %id, %report, "trade concluded");
            held.concluded.locked().insert(id, report.to_string());
            Ok(vec![])
        }
    });
    components.register_async(CARRY.name, CARRY.modes, move |args| {
        let inner = Arc::clone(&inner);
        async move { carry(&inner, &args).await }
    });
    components
}

/// Starts the auctioneer's own orders as the catalogue is shown, when the
/// traders start theirs: in hand when the last order comes in, instead of
/// computed after it, in the time the round takes to clear.
fn order_own(inner: &Arc<Seat>, held: &Held) {
    let catalogue = held.catalogue.locked().clone();
    if !catalogue.iter().any(|l| l.trader == inner.host.name()) {
        return; // it listed nothing: it sits its own round out
    }
    let (inner, round) = (Arc::clone(inner), held.round.clone());
    let task = tokio::spawn(async move { party::orders(&inner, &round, &catalogue).await });
    *held.own_orders.locked() = Some(task);
}

/// `catalogue(+Round, +Listings, -Catalogue, -Listers)`: the listings that
/// read, from traders of the round, of VMs nobody else listed.
fn catalogue(inner: &Seat, held: &Held, args: &[Term]) -> Result<Vec<Term>, Failure> {
    let listings = args[1]
        .as_list()
        .ok_or_else(|| Failure::broken("listings are a list"))?;
    let mut catalogue = held.catalogue.locked();
    let mut seen: BTreeSet<_> = catalogue
        .iter()
        .flat_map(|l| l.listing.vms.iter().map(|vm| vm_id(&vm.uuid)))
        .collect();
    let mut listers = Vec::new();
    for term in listings {
        let from = compound(term, "listed", 2)
            .and_then(|a| text(&a[0]))
            .unwrap_or_else(|| "?".into());
        let mut listed = match read_listed(term) {
            Ok(listed) if listed.trader == from => listed,
            Ok(_) | Err(_) => {
                refused(
                    inner.host.name(),
                    "listing",
                    &from,
                    &format!("does not read: {term}"),
                );
                continue;
            }
        };
        listed.listing.vms.retain(|vm| {
            let fresh = seen.insert(vm_id(&vm.uuid));
            if !fresh {
                refused(
                    inner.host.name(),
                    "listing",
                    &from,
                    &format!("{} is listed twice", vm.uuid),
                );
            }
            fresh
        });
        listers.push(Term::atom(&listed.trader));
        catalogue.push(listed);
    }
    // By trader, not by arrival: a trader's slot is its id in the
    // clearing, which breaks ties by id, so the same listings clear the
    // same way whichever arrived first.
    catalogue.sort_by(|a, b| a.trader.cmp(&b.trader));
    Ok(vec![
        args[0].clone(),
        args[1].clone(),
        catalogue_term(&catalogue),
        Term::list(listers),
    ])
}

/// The round's market: one slot per lister (its index its id), the VMs they
/// listed.
fn market_of(catalogue: &[Listed]) -> Round {
    let mut round = Round::default();
    for (i, listed) in catalogue.iter().enumerate() {
        let host = HostId(u32::try_from(i).unwrap_or(u32::MAX));
        round.hosts.push(HostSlot {
            id: host,
            capacity: listed.listing.capacity,
            reserved: listed.listing.reserved,
        });
        for vm in &listed.listing.vms {
            round.vms.push(VmSlot {
                id: vm_id(&vm.uuid),
                host,
                reserved: vm.reserved,
            });
        }
    }
    round
}

/// `clear(+Round, +Orders, -Results, -Trades)`.
async fn clear(inner: &Seat, held: &Held, args: &[Term]) -> Result<Vec<Term>, Failure> {
    let started = std::time::Instant::now();
    let posted = args[1]
        .as_list()
        .ok_or_else(|| Failure::broken("orders are a list"))?;
    let catalogue = held.catalogue.locked().clone();
    let index: BTreeMap<&str, u32> = (0..)
        .zip(&catalogue)
        .map(|(i, l)| (l.trader.as_str(), i))
        .collect();
    let mut market = market_of(&catalogue);
    let mut read = Vec::new();
    for term in posted {
        match compound(term, "posted", 2).and_then(|a| Some((text(&a[0])?, a[1].as_list()?))) {
            Some(order) => read.push(order),
            None => refused(
                inner.host.name(),
                "order",
                "?",
                &format!("does not read: {term}"),
            ),
        }
    }
    // By trader, not by arrival, as the catalogue: an order's index breaks
    // ties in the clearing.
    read.sort_by(|a, b| a.0.cmp(&b.0));
    let mut ordered = Vec::new();
    for (from, orders) in read {
        ordered.push(from.clone());
        let Some(&host) = index.get(from.as_str()) else {
            refused(
                inner.host.name(),
                "order",
                &from,
                "orders from a trader that listed nothing",
            );
            continue;
        };
        for order in orders {
            match Posted::from_term(order) {
                Ok(posted) => push_order(&mut market, host, &posted),
                Err(why) => refused(inner.host.name(), "order", &from, &why),
            }
        }
    }
    let own = held.own_orders.locked().take();
    if let Some(&me) = index.get(inner.host.name())
        && let Some(own) = own
        && let Ok(Ok(own)) = own.await
    {
        for posted in &own {
            push_order(&mut market, me, posted);
        }
    }
    let collected_ms = started.elapsed().as_millis();
    let cleared = clear_round(&market, &held.rules).map_err(|e| Failure::broken(e.to_string()))?;
    let clearing_ms = started.elapsed().as_millis() - collected_ms;
    for (order, why) in &cleared.rejected {
        let from = trader_of(&market, &catalogue, *order);
        refused(inner.host.name(), "order", &from, &why.to_string());
    }
    for set in &cleared.unordered {
        let hosts: Vec<String> = set
            .iter()
            .map(|o| trader_of(&market, &catalogue, *o))
            .collect();
        refused(
            inner.host.name(),
            "package",
            &hosts.join(", "),
            "no order of its legs keeps every host within its capacity on the way",
        );
    }
    let vms: BTreeMap<_, &ListedVm> = catalogue
        .iter()
        .flat_map(|l| l.listing.vms.iter())
        .map(|vm| (vm_id(&vm.uuid), vm))
        .collect();
    let mut filled = Vec::new();
    for (k, trade) in (1..).zip(&cleared.trades) {
        let trade = filled_of(&held.round, k, trade, &catalogue, &vms);
        let mine = trade
            .legs
            .iter()
            .any(|l| l.seller == inner.host.name() || l.buyer == inner.host.name());
        if mine && let Err(why) = party::take_part(inner, &held.protocol, &held.round, &trade).await
        {
            tracing::info!(host = %inner.host.name(), clearing = %trade.clearing_id, %why, "declines its own trade");
            continue;
        }
        filled.push(trade);
    }
    tracing::info!(
        host = %inner.host.name(), round = %held.round, orders = market.orders.len(),
        trades = filled.len(), surplus = %cleared.total_surplus, collected_ms, clearing_ms,
        recorded_ms = started.elapsed().as_millis(), "cleared"
    );
    let results = ordered
        .iter()
        .map(|trader| {
            let outcome = filled
                .iter()
                .find(|t| {
                    t.legs
                        .iter()
                        .any(|l| &l.seller == trader || &l.buyer == trader)
                })
                .map_or_else(
                    || Term::atom("none"),
                    |t| Term::apply("fill", vec![t.to_term(), Term::Int(held.until_ms)]),
                );
            Term::apply("result", vec![Term::atom(trader), outcome])
        })
        .collect();
    let trades = filled
        .iter()
        .map(|t| settle_term(t, inner.host.name()))
        .collect();
    *held.trades.locked() = filled;
    Ok(vec![
        args[0].clone(),
        args[1].clone(),
        Term::list(results),
        Term::list(trades),
    ])
}

/// Adds a trader's order to the round, its VMs by their market ids.
fn push_order(market: &mut Round, host: u32, posted: &Posted) {
    let id = OrderId(market.orders.len() as u64);
    market.orders.push(Order {
        id,
        host: HostId(host),
        gives: posted.gives.as_ref().map(vm_id),
        takes: posted.takes.as_ref().map(vm_id),
        limit: posted.limit,
    });
}

/// Who posted `order` (an order's id is its place in the round,
/// [`push_order`]).
fn trader_of(market: &Round, catalogue: &[Listed], order: OrderId) -> String {
    usize::try_from(order.0)
        .ok()
        .and_then(|i| market.orders.get(i))
        .and_then(|o| catalogue.get(o.host.0 as usize))
        .map_or_else(|| "?".into(), |l| l.trader.clone())
}

/// A cleared trade as its parties record it: trade `k` of the round, its
/// legs numbered from 1 in the order they move; `vms`, the catalogue's
/// VMs by market id.
fn filled_of(
    round: &str,
    k: usize,
    trade: &Trade,
    catalogue: &[Listed],
    vms: &BTreeMap<VmId, &ListedVm>,
) -> Filled {
    let host = |id: HostId| catalogue[id.0 as usize].trader.clone();
    let clearing_id = format!("{round}.{k}");
    let legs = (1..)
        .zip(&trade.moves)
        .filter_map(|(i, m)| {
            let vm = vms.get(&m.vm)?;
            Some(LegTerms {
                trade_id: format!("{clearing_id}.{i}"),
                seller: host(m.from),
                buyer: host(m.to),
                uuid: vm.uuid.clone(),
                name: vm.name.clone(),
                reserved: vm.reserved,
                price: m.price,
            })
        })
        .collect();
    Filled { clearing_id, legs }
}

/// `trade(Id, Parties, Legs)`: the parties other than the auctioneer, and
/// each leg's number and source.
fn settle_term(trade: &Filled, me: &str) -> Term {
    let parties: BTreeSet<&str> = trade
        .legs
        .iter()
        .flat_map(|l| [l.seller.as_str(), l.buyer.as_str()])
        .filter(|h| *h != me)
        .collect();
    Term::apply(
        "trade",
        vec![
            Term::string(&trade.clearing_id),
            Term::list(parties.into_iter().map(Term::atom).collect()),
            Term::list(
                (1..)
                    .zip(&trade.legs)
                    .map(|(k, l)| Term::apply("leg", vec![Term::Int(k), Term::atom(&l.seller)]))
                    .collect(),
            ),
        ],
    )
}
