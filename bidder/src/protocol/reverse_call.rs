//! The reverse call played by a bidder: the demand side of contract net,
//! `models/reverse-call.lcc` (or a model of one's own with its two roles and
//! components).
//!
//! | role | who plays it | components ([`super::vocabulary`]) |
//! |---|---|---|
//! | `buyer(Room, Sellers, Window, Grace, Trade)` | an underloaded host (one that wants load: power saving's "fill me"), announcing its free room | `choose`, `result` |
//! | `seller` | every host, answering calls | `give`, `hand_over`, `withdraw` |
//!
//! A seller offers the VM that fits the room and that it asks least for
//! ([`Valuer::ask_for_giving`]: negative when its policy gains by giving the
//! VM away, as a lightly used host's does); the buyer values each offered
//! VM ([`Valuer::value_of_taking`]) and awards through the same
//! [`mechanism::award`] as contract net, on the surplus each offer leaves
//! it (value less reserve) with a reserve of zero. So the price (what the
//! buyer pays the seller) is, under first price, the seller's reserve, and
//! under second price the price that leaves the buyer the runner-up's
//! surplus (its whole value when the winner was alone): the seller's
//! dominant strategy is then to ask its true value.
//!
//! The seller is the source of the trade, so it carries the trade out when
//! it is told it won (`hand_over`): both ledgers first, then the move. The
//! buyer holds its room for the VM from the award until the VM arrives.

use std::sync::{Arc, Mutex};

use lcc::component::{Components, Failure};
use lcc::sync::Locked;
use lcc::term::Term;
use market::credits::Credits;
use market::host::HostId;
use market::ledger::TradeId;
use market::mechanism::contract_net::{self as mechanism, AwardRule, Proposal};
use market::resources::Resources;
use market::valuation::Valuer;

use super::terms::{Report, Task, bundle, compound, read_bundle, read_credits, text};
use super::vocabulary::{CHOOSE, GIVE, HAND_OVER, RESULT, WITHDRAW};
use super::{CallSettings, Protocol};
use crate::agent::{
    AgentError, Agreed, HostContext, Initiates, Initiative, KindPlay, KindSettings, Play,
    ProtocolKind, Role, TradeReport,
};
use crate::migration::Outcome;
use crate::problem::ConfigProblem;
use futures::future::BoxFuture;
use market::policy::Classification;

/// The role an underloaded host starts.
pub const BUYER: &str = "buyer";
/// The role every host answers.
pub const SELLER: &str = "seller";

/// `room(bundle(Cpu, Mem, Net))`: the capacity a buyer has free.
fn room(free: &Resources) -> Term {
    Term::apply("room", vec![bundle(free)])
}

fn read_room(term: &Term) -> Result<Resources, Failure> {
    compound(term, "room", 1)
        .and_then(|args| read_bundle(&args[0]))
        .ok_or_else(|| Failure::no(format!("not a room: {term}")))
}

/// The components a host provides as seller of `protocol`.
pub(crate) fn seller(inner: Arc<HostContext>, protocol: &Protocol) -> Components {
    let mut components = Components::new();
    let giving = Arc::clone(&inner);
    components.register_async(GIVE.name, GIVE.modes, move |args| {
        let inner = Arc::clone(&giving);
        async move {
            let room = read_room(&args[0])?;
            let task = give(&inner, &room).await?;
            tracing::debug!(host = %inner.name(), vm = %task.name, reserve = %task.reserve, "offers a VM");
            Ok(vec![args[0].clone(), args[1].clone(), task.to_term()])
        }
    });
    let handing = Arc::clone(&inner);
    let (name, hash) = (
        protocol.name().to_string(),
        protocol.model().hash().to_string(),
    );
    components.register_async(HAND_OVER.name, HAND_OVER.modes, move |args| {
        let (inner, protocol, model_hash) = (Arc::clone(&handing), name.clone(), hash.clone());
        async move {
            let task = Task::from_term(&args[0])?;
            let (Some(price), Some(trade_id), Some(buyer)) = (
                read_credits(&args[1]),
                text(&args[2]).and_then(|id| TradeId::new(id).ok()),
                text(&args[3]),
            ) else {
                return Err(Failure::no(format!(
                    "not a price, trade and buyer: {args:?}"
                )));
            };
            let handed =
                hand_over(&inner, &task, price, trade_id, buyer, protocol, model_hash).await;
            inner.stop_giving(&task.uuid);
            handed?;
            Ok(vec![])
        }
    });
    components.register_fn(WITHDRAW.name, WITHDRAW.modes, move |args| {
        let task = Task::from_term(&args[0])?;
        inner.stop_giving(&task.uuid);
        tracing::debug!(host = %inner.name(), vm = %task.name, why = %args[1], "withdrawn");
        Ok(vec![])
    });
    components
}

/// Of this host's VMs that fit `room` and are not offered elsewhere, the
/// one its policy asks least for.
async fn give(inner: &HostContext, room: &Resources) -> Result<Task, Failure> {
    let host = inner
        .view()
        .await
        .map_err(|e| Failure::broken(e.to_string()))?;
    let valuer = Valuer::new(inner.policy(), &host).map_err(|e| Failure::broken(e.to_string()))?;
    let mut best: Option<(Credits, Task)> = None;
    for vm in host.vms.iter().filter(|vm| vm.reserved.fits_within(room)) {
        let Some(uuid) = inner.uuid_of(vm.id) else {
            continue;
        };
        let Ok(ask) = valuer.ask_for_giving(vm.id) else {
            continue;
        };
        if best.as_ref().is_none_or(|(least, _)| ask < *least) {
            let task = Task {
                uuid,
                name: vm.name.clone(),
                group: vm.group.clone(),
                reserved: vm.reserved,
                used: vm.used,
                reserve: ask,
            };
            best = Some((ask, task));
        }
    }
    let (_, task) = best.ok_or_else(|| Failure::no("no VM to give into that room"))?;
    let uuid = task.uuid.clone();
    if !inner.start_giving(&uuid).await {
        return Err(Failure::no(format!("{} is offered elsewhere", task.name)));
    }
    Ok(task)
}

/// Sells the task's VM to `buyer`: both ledgers, then the move. Holds only
/// when the VM moved.
async fn hand_over(
    inner: &HostContext,
    task: &Task,
    price: Credits,
    trade_id: TradeId,
    buyer: String,
    protocol: String,
    model_hash: String,
) -> Result<(), Failure> {
    if price < task.reserve {
        return Err(Failure::no(format!(
            "offered {price}, accepts no less than {}",
            task.reserve
        )));
    }
    let report = inner
        .carry_out(Agreed {
            trade_id,
            protocol,
            model_hash,
            vm_uuid: task.uuid.clone(),
            vm_name: task.name.clone(),
            reserved: task.reserved,
            buyer,
            price,
        })
        .await
        .map_err(|e| Failure::broken(e.to_string()))?;
    match report.outcome {
        Outcome::Settled => Ok(()),
        other => Err(Failure::no(format!("the hand-over ended {other:?}"))),
    }
}

/// The buyer's side of one call: what it chose, and how the call ended.
struct Call {
    trade_id: TradeId,
    protocol: String,
    rule: AwardRule,
    chosen: Mutex<Option<(String, Task)>>,
    ended: Mutex<Option<Initiative>>,
}

/// The components a host provides as buyer of one call.
fn buyer(inner: Arc<HostContext>, call: Arc<Call>) -> Components {
    let mut components = Components::new();
    let (choosing, deciding) = (Arc::clone(&inner), Arc::clone(&call));
    components.register_async(CHOOSE.name, CHOOSE.modes, move |args| {
        let (inner, call) = (Arc::clone(&choosing), Arc::clone(&deciding));
        async move { choose(&inner, &call, &args).await }
    });
    components.register_fn(RESULT.name, RESULT.modes, move |args| {
        let ended = result(&inner, &call, args);
        *call.ended.locked() = Some(ended);
        Ok(vec![])
    });
    components
}

/// `choose(+Room, +Offers, -Winner, -Task, -Price)`: every offer valued under
/// this host's policy, the mechanism deciding on the surplus each leaves.
async fn choose(inner: &HostContext, call: &Call, args: &[Term]) -> Result<Vec<Term>, Failure> {
    let offers = args[1]
        .as_list()
        .ok_or_else(|| Failure::broken(format!("offers {} are not a list", args[1])))?;
    let _pricing = inner.pricing().await;
    let host = inner
        .view_with_holds(None)
        .await
        .map_err(|e| Failure::broken(e.to_string()))?;
    let valuer = Valuer::new(inner.policy(), &host).map_err(|e| Failure::broken(e.to_string()))?;
    // (seller's name, its term, the task, this host's value of it), sorted
    // by name so that ties go to the first name, as in contract net.
    let mut valued = Vec::new();
    for offer in offers {
        let read = compound(offer, "offer", 2)
            .and_then(|a| Some((text(&a[0])?, a[0].clone(), Task::from_term(&a[1]).ok()?)))
            .ok_or_else(|| Failure::broken(format!("not an offer(Peer, Task): {offer}")))?;
        let vm = read.2.vm();
        if let Ok(value) = valuer.value_of_taking(&vm) {
            valued.push((read.0, read.1, read.2, value));
        }
    }
    valued.sort_by(|a, b| a.0.cmp(&b.0));
    let proposals: Vec<Proposal> = valued
        .iter()
        .enumerate()
        .map(|(i, (_, _, task, value))| Proposal {
            bidder: HostId(i as u32),
            price: Credits(value.0.saturating_sub(task.reserve.0)),
        })
        .collect();
    let decision = mechanism::award(Credits::ZERO, &proposals, call.rule)
        .ok_or_else(|| Failure::no("no offer is worth its reserve"))?;
    let (name, peer, task, value) = &valued[decision.winner.0 as usize];
    // The buyer keeps `decision.pays` of surplus; the seller gets the rest.
    let price = Credits(value.0.saturating_sub(decision.price.0));
    let (uuid, vm) = (task.uuid.clone(), task.vm());
    inner.hold_until_arrival(uuid.clone(), vm);
    inner.expect(uuid, &task.used);
    tracing::debug!(host = %inner.name(), seller = %name, vm = %task.name, %price, rule = ?call.rule, "chose");
    *call.chosen.locked() = Some((name.clone(), task.clone()));
    Ok(vec![
        args[0].clone(),
        args[1].clone(),
        peer.clone(),
        task.to_term(),
        Term::Int(price.0),
    ])
}

/// How the call ended, for the initiator's report; a VM that is not coming
/// frees the room held for it.
fn result(inner: &HostContext, call: &Call, args: &[Term]) -> Initiative {
    let report = Report::read(&args[3]);
    let chosen = call.chosen.locked().clone();
    match (&report, chosen, read_credits(&args[2])) {
        (Report::Done, Some((seller, task)), Some(price)) => Initiative::Traded(TradeReport {
            trade_id: call.trade_id.clone(),
            protocol: call.protocol.clone(),
            vm: task.name,
            seller,
            buyer: inner.name().to_string(),
            price,
            outcome: Outcome::Settled,
        }),
        (_, chosen, _) => {
            if let Some((_, task)) = &chosen
                && report != Report::Silent
            {
                inner.release(&task.uuid);
            }
            tracing::info!(host = %inner.name(), %report, "no trade");
            Initiative::NoTrade {
                vm: chosen.map(|(_, task)| task.name).unwrap_or_default(),
                report,
            }
        }
    }
}

/// One reverse call: announce the room this host has free, recruit
/// sellers, run the model, and return how it ended.
pub(crate) async fn call(play: &Play<'_>, protocol: &Protocol) -> Result<Initiative, AgentError> {
    let inner = play.host;
    let host = inner.view_with_holds(None).await?;
    let reserved = Resources::checked_sum(host.vms.iter().map(|vm| &vm.reserved))
        .map_err(|e| inner.resource_error(e))?;
    let free = inner.policy().capacity(&host).saturating_sub(&reserved);
    if free.cpu_millicores == 0 || free.memory_mib == 0 {
        return Ok(Initiative::NothingToOffer);
    }
    tracing::info!(host = %inner.name(), room = %format!("{free:?}"), protocol = %protocol.name(), "underloaded: calling for a VM");
    let Some(recruited) = super::recruit_for_call(play, protocol, SELLER).await? else {
        return Ok(Initiative::NoPeers);
    };
    let rule = protocol.settings::<CallSettings>().award;
    let call = Arc::new(Call {
        trade_id: TradeId::new(recruited.interaction.id.to_string()).map_err(|e| {
            play.host
                .trade_error(&recruited.interaction.id.to_string(), e)
        })?,
        protocol: protocol.name().to_string(),
        rule,
        chosen: Mutex::new(None),
        ended: Mutex::new(None),
    });
    let components = buyer(Arc::clone(inner), Arc::clone(&call));
    let (window, grace) = (play.config.window_ms, play.config.grace_ms);
    let trade = Term::string(call.trade_id.as_str());
    let role = |sellers: Vec<Term>| {
        Term::apply(
            BUYER,
            vec![
                room(&free),
                Term::list(sellers),
                Term::Int(window),
                Term::Int(grace),
                trade,
            ],
        )
    };
    recruited
        .run(play.peer, protocol.model(), role, &components)
        .await
        .map_err(|source| play.interaction_error(protocol, source))?;
    let ended = call.ended.locked().take();
    Ok(ended.unwrap_or(Initiative::NoTrade {
        vm: String::new(),
        report: Report::Missing,
    }))
}

/// The reverse call, as a kind: an underloaded host starts `buyer`, every
/// host answers as `seller`.
pub struct ReverseCall;

impl ProtocolKind for ReverseCall {
    fn name(&self) -> &'static str {
        "reverse-call"
    }

    fn shipped_model(&self) -> lcc::models::Shipped {
        lcc::models::REVERSE_CALL
    }

    fn roles(&self) -> [Role; 2] {
        [
            Role {
                name: BUYER,
                parameters: 5,
                signatures: &[CHOOSE, RESULT],
            },
            Role {
                name: SELLER,
                parameters: 0,
                signatures: &[GIVE, HAND_OVER, WITHDRAW],
            },
        ]
    }

    fn initiates(&self) -> Initiates {
        Initiates::When(Classification::Underloaded)
    }

    fn configure(&self, table: &toml::Table) -> Result<Arc<dyn KindSettings>, ConfigProblem> {
        CallSettings::read(self.name(), table)
    }

    fn join(&self, host: Arc<HostContext>) -> Arc<dyn KindPlay> {
        Arc::new(Calls(host))
    }
}

/// A host's part in the reverse call: it keeps no state of its own.
struct Calls(Arc<HostContext>);

impl KindPlay for Calls {
    fn respond(&self, protocol: &Protocol) -> Components {
        seller(Arc::clone(&self.0), protocol)
    }

    fn initiate<'a>(
        &'a self,
        play: &'a Play<'a>,
        protocol: &'a Protocol,
    ) -> BoxFuture<'a, Result<Option<Initiative>, AgentError>> {
        Box::pin(async move { call(play, protocol).await.map(Some) })
    }
}
