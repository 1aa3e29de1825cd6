//! Contract net played by a bidder: the shipped `models/contract-net.lcc`,
//! or any model of a protocol author's with the same two roles and the
//! same components.
//!
//! | role | who plays it | components ([`super::vocabulary`]) |
//! |---|---|---|
//! | `manager(Task, Contractors, Window, Grace)` | an overloaded host, for the VM whose departure helps it most | `award`, `outcome` |
//! | `contractor` | every host, answering calls | `offer`, `perform`, `release` |
//!
//! **Prices** follow the one convention of docs/economics.md: the manager
//! *sells* the VM, a contractor *buys* it, and `Price` is what the buyer pays
//! the seller (negative: the seller pays the buyer to take it, the usual
//! case for an overloaded host). A contractor offers its true value of
//! taking the VM ([`Valuer::value_of_taking`]); the task carries the
//! manager's **reserve**, the least it accepts for giving the VM
//! ([`Valuer::ask_for_giving`]); the manager's `award` component decides
//! through [`mechanism::award`] with the protocol's rule:
//! first price (the winner pays its offer) or second price (it pays the
//! best losing offer, at least the reserve).
//!
//! **Capacity** is held from the offer until the award deadline, so a host
//! that offered its last room to one manager refuses the next call; a
//! rejected offer, or one no award came for, frees it; an accepted one
//! keeps it until the VM runs here.

use std::sync::{Arc, Mutex};

use lcc::component::{Components, Failure};
use lcc::sync::Locked;
use lcc::term::Term;
use market::credits::Credits;
use market::ledger::TradeId;
use market::mechanism::contract_net::{self as mechanism, AwardRule};
use market::runtime::Model;
use market::valuation::Valuer;
use market::vm::Vm;
use market::wire::Interaction;

use super::terms::{Report, Task, read_credits, text};
use super::vocabulary::{AWARD, OFFER, OUTCOME, PERFORM, RELEASE};
use super::{CallSettings, Protocol};
use crate::agent::{
    AgentError, Agreed, HostContext, Initiates, Initiative, KindPlay, KindSettings, Play,
    ProtocolKind, Role, Signature,
};
use crate::hypervisor::DomainUuid;
use crate::problem::ConfigProblem;
use futures::future::BoxFuture;
use market::policy::Classification;

/// The role an overloaded host starts.
pub const MANAGER: &str = "manager";
/// The role every host answers.
pub const CONTRACTOR: &str = "contractor";

/// The components a host provides as contractor: a kind of one's own
/// whose responders answer calls as contract net's do uses them too.
pub fn contractor(inner: Arc<HostContext>) -> Components {
    let mut components = Components::new();
    let offering = Arc::clone(&inner);
    components.register_async(OFFER.name, OFFER.modes, move |args| {
        let inner = Arc::clone(&offering);
        async move {
            let task = Task::from_term(&args[0])?;
            let Term::Int(award_by) = args[1] else {
                return Err(Failure::no(format!("award deadline {} is not ms", args[1])));
            };
            let price = offer(&inner, &task, award_by).await.inspect_err(|why| {
                tracing::debug!(host = %inner.name(), vm = %task.name, %why, "declines");
            })?;
            tracing::debug!(host = %inner.name(), vm = %task.name, %price, "offers");
            Ok(vec![args[0].clone(), args[1].clone(), Term::Int(price.0)])
        }
    });
    let performing = Arc::clone(&inner);
    components.register_async(PERFORM.name, PERFORM.modes, move |args| {
        let inner = Arc::clone(&performing);
        async move {
            let task = Task::from_term(&args[0])?;
            let price = read_credits(&args[1])
                .ok_or_else(|| Failure::no(format!("price {} is not credits", args[1])))?;
            perform(&inner, &task, price).await?;
            tracing::info!(host = %inner.name(), vm = %task.name, %price, "awarded: will take the VM");
            Ok(vec![])
        }
    });
    components.register_fn(RELEASE.name, RELEASE.modes, move |args| {
        let task = Task::from_term(&args[0])?;
        inner.release(&task.uuid);
        tracing::debug!(host = %inner.name(), vm = %task.name, why = %args[1], "released");
        Ok(vec![])
    });
    components
}

/// What this host pays to take the task's VM, holding the capacity until
/// `award_by`; checked and held under the agent's pricing lock, so two
/// calls never both get the same room.
async fn offer(inner: &HostContext, task: &Task, award_by: i64) -> Result<Credits, Failure> {
    let _pricing = inner.pricing().await;
    offer_priced(inner, task, award_by).await
}

/// [`offer`] for a caller that holds the pricing lock.
pub(super) async fn offer_priced(
    inner: &HostContext,
    task: &Task,
    award_by: i64,
) -> Result<Credits, Failure> {
    let (uuid, vm) = (task.uuid.clone(), task.vm());
    let price = value_now(inner, &uuid, &vm).await?;
    if price < task.reserve {
        return Err(Failure::no(format!(
            "would pay {price}, the caller accepts no less than {}",
            task.reserve
        )));
    }
    inner.hold(uuid, vm, award_by);
    Ok(price)
}

/// Commits to take the VM at `pays`: re-valued against the host as it is
/// now (less this task's own hold), then held until it arrives.
pub(super) async fn perform(
    inner: &HostContext,
    task: &Task,
    price: Credits,
) -> Result<(), Failure> {
    let (uuid, vm) = (task.uuid.clone(), task.vm());
    let _pricing = inner.pricing().await;
    let checked = async {
        let value = value_now(inner, &uuid, &vm).await?;
        if price > value {
            return Err(Failure::no(format!(
                "the award asks {price}, taking the VM is now worth {value}"
            )));
        }
        Ok(())
    };
    if let Err(why) = checked.await {
        inner.release(&uuid);
        return Err(why);
    }
    inner.hold_until_arrival(uuid.clone(), vm);
    inner.expect(uuid, &task.used);
    Ok(())
}

/// This host's value of taking `vm` now: room is checked counting what it
/// holds for other offers (but not `uuid`'s own hold), and the value is
/// the lower of the value with those holds and without them. Any of the
/// other offers may be rejected and free its hold before this award
/// comes; a host whose utility rises the fuller it gets (power saving)
/// would otherwise offer what only the fuller host is worth, and fail the
/// award once the other holds are gone.
async fn value_now(inner: &HostContext, uuid: &DomainUuid, vm: &Vm) -> Result<Credits, Failure> {
    let broken = |e: &dyn std::fmt::Display| Failure::broken(e.to_string());
    let held = inner
        .view_with_holds(Some(uuid))
        .await
        .map_err(|e| broken(&e))?;
    let valuer = Valuer::new(inner.policy(), &held).map_err(|e| broken(&e))?;
    let with_holds = valuer
        .value_of_taking(vm)
        .map_err(|refusal| Failure::no(refusal.to_string()))?;
    let bare = inner.view().await.map_err(|e| broken(&e))?;
    let valuer = Valuer::new(inner.policy(), &bare).map_err(|e| broken(&e))?;
    Ok(match valuer.value_of_taking(vm) {
        Ok(alone) => alone.min(with_holds),
        Err(_) => with_holds,
    })
}

/// The manager's side of one round: how it ended is left in `ended`.
struct Round {
    interaction: Interaction,
    protocol: String,
    decision: Decision,
    ended: Mutex<Option<Initiative>>,
}

/// How a call's manager chooses the winner: the component its model
/// calls for it, `Name(+Task, +Proposals, -Winner, -Price)`, and what that
/// answers. Contract net awards by the protocol's rule ([`by_award_rule`]);
/// a kind of one's own may run the same call and choose otherwise.
#[derive(Clone)]
pub struct Decision {
    /// The component, as the model calls it.
    pub signature: Signature,
    /// Its answer: `[Task, Proposals, Winner, Price]` from the task read
    /// and the arguments (`Proposals` a list of `bid(Contractor, Price)`);
    /// fails (`Failure::no`) when no proposal is acceptable.
    pub decide: Arc<Decide>,
}

/// A [`Decision`]'s answer.
pub type Decide = dyn Fn(&Task, &[Term]) -> Result<Vec<Term>, Failure> + Send + Sync;

/// Contract net's decision: `award` through the mechanism, with the
/// task's reserve and `rule`, the protocol's.
pub fn by_award_rule(rule: AwardRule) -> Decision {
    Decision {
        signature: AWARD,
        decide: Arc::new(move |task, args| mechanism::answer_award(args, task.reserve, rule)),
    }
}

/// The components a host provides as manager of one round.
fn manager(inner: Arc<HostContext>, round: Arc<Round>) -> Components {
    let mut components = Components::new();
    let Decision { signature, decide } = round.decision.clone();
    components.register_fn(signature.name, signature.modes, move |args| {
        let task = Task::from_term(&args[0])?;
        let answer = decide(&task, args)?;
        tracing::debug!(vm = %task.name, winner = %answer[2], price = %answer[3], decided_by = signature.name, "awarded");
        Ok(answer)
    });
    components.register_async(OUTCOME.name, OUTCOME.modes, move |args| {
        let (inner, round) = (Arc::clone(&inner), Arc::clone(&round));
        async move {
            let ended = outcome(&inner, &round, &args).await?;
            *round.ended.locked() = Some(ended);
            Ok(vec![])
        }
    });
    components
}

/// Ends the manager's round: on `done`, the agent records and carries out
/// the trade.
async fn outcome(inner: &HostContext, round: &Round, args: &[Term]) -> Result<Initiative, Failure> {
    let task = Task::from_term(&args[0])?;
    let report = Report::read(&args[3]);
    if report != Report::Done {
        tracing::info!(host = %inner.name(), vm = %task.name, %report, "no trade");
        return Ok(Initiative::NoTrade {
            vm: task.name,
            report,
        });
    }
    let buyer = text(&args[1])
        .ok_or_else(|| Failure::broken(format!("winner {} is not a host", args[1])))?;
    let price = read_credits(&args[2])
        .ok_or_else(|| Failure::broken(format!("price {} is not credits", args[2])))?;
    let report = inner
        .carry_out(Agreed {
            trade_id: TradeId::new(round.interaction.id.to_string())
                .map_err(|e| Failure::broken(e.to_string()))?,
            protocol: round.protocol.clone(),
            model_hash: round.interaction.model.to_string(),
            vm_uuid: task.uuid,
            vm_name: task.name,
            reserved: task.reserved,
            buyer,
            price,
        })
        .await
        .map_err(|e| Failure::broken(e.to_string()))?;
    Ok(Initiative::Traded(report))
}

/// One call as manager: offer the VM whose departure helps the host most,
/// recruit contractors, run the model, let `decision` choose the winner,
/// carry the trade out, and return how it ended.
pub async fn manage(
    play: &Play<'_>,
    protocol: &Protocol,
    decision: Decision,
) -> Result<Initiative, AgentError> {
    let inner = play.host;
    let host = inner.view().await?;
    let valuer = Valuer::new(inner.policy(), &host).map_err(|e| inner.resource_error(e))?;
    let Some(offer) = valuer.best_offer() else {
        return Ok(Initiative::NothingToOffer);
    };
    let Some(vm) = host.vm(offer.vm) else {
        return Ok(Initiative::NothingToOffer);
    };
    let Some(uuid) = inner.uuid_of(vm.id) else {
        return Ok(Initiative::NothingToOffer);
    };
    if !inner.start_giving(&uuid).await {
        // Offered in a reverse call under way: not twice at once.
        return Ok(Initiative::NothingToOffer);
    }
    // Nor offered to a reverse call while this call runs.
    let round = offer_vm(play, protocol, decision, vm, uuid.clone(), offer.ask).await;
    inner.stop_giving(&uuid);
    round
}

/// The call for `vm`, which this host has marked as being given.
async fn offer_vm(
    play: &Play<'_>,
    protocol: &Protocol,
    decision: Decision,
    vm: &Vm,
    uuid: DomainUuid,
    reserve: Credits,
) -> Result<Initiative, AgentError> {
    let inner = play.host;
    let task = Task {
        uuid,
        name: vm.name.clone(),
        group: vm.group.clone(),
        reserved: vm.reserved,
        used: vm.used,
        reserve,
    };
    tracing::info!(host = %inner.name(), vm = %vm.name, reserve = %task.reserve, protocol = %protocol.name(), "overloaded: offering a VM");
    let model: &Model = protocol.model();
    let Some(recruited) = super::recruit_for_call(play, protocol, CONTRACTOR).await? else {
        return Ok(Initiative::NoPeers);
    };
    let round = Arc::new(Round {
        interaction: recruited.interaction,
        protocol: protocol.name().to_string(),
        decision,
        ended: Mutex::new(None),
    });
    let components = manager(Arc::clone(inner), Arc::clone(&round));
    let (window, grace) = (play.config.window_ms, play.config.grace_ms);
    let role = |contractors: Vec<Term>| {
        Term::apply(
            MANAGER,
            vec![
                task.to_term(),
                Term::list(contractors),
                Term::Int(window),
                Term::Int(grace),
            ],
        )
    };
    recruited
        .run(play.peer, model, role, &components)
        .await
        .map_err(|source| play.interaction_error(protocol, source))?;
    let ended = round.ended.locked().take();
    Ok(ended.unwrap_or(Initiative::NoTrade {
        vm: vm.name.clone(),
        report: Report::Missing,
    }))
}

/// Contract net, as a kind: an overloaded host starts `manager`, every
/// host answers as `contractor`.
pub struct ContractNet;

impl ProtocolKind for ContractNet {
    fn name(&self) -> &'static str {
        "contract-net"
    }

    fn shipped_model(&self) -> lcc::models::Shipped {
        lcc::models::CONTRACT_NET
    }

    fn roles(&self) -> [Role; 2] {
        [
            Role {
                name: MANAGER,
                parameters: 4,
                signatures: &[AWARD, OUTCOME],
            },
            Role {
                name: CONTRACTOR,
                parameters: 0,
                signatures: &[OFFER, PERFORM, RELEASE],
            },
        ]
    }

    fn initiates(&self) -> Initiates {
        Initiates::When(Classification::Overloaded)
    }

    fn configure(&self, table: &toml::Table) -> Result<Arc<dyn KindSettings>, ConfigProblem> {
        CallSettings::read(self.name(), table)
    }

    fn join(&self, host: Arc<HostContext>) -> Arc<dyn KindPlay> {
        Arc::new(Calls(host))
    }
}

/// A host's part in contract net: it keeps no state of its own.
struct Calls(Arc<HostContext>);

impl KindPlay for Calls {
    fn respond(&self, _protocol: &Protocol) -> Components {
        contractor(Arc::clone(&self.0))
    }

    fn initiate<'a>(
        &'a self,
        play: &'a Play<'a>,
        protocol: &'a Protocol,
    ) -> BoxFuture<'a, Result<Option<Initiative>, AgentError>> {
        let decision = by_award_rule(protocol.settings::<CallSettings>().award);
        Box::pin(async move { manage(play, protocol, decision).await.map(Some) })
    }
}
