//! The LCC components a host provides to `models/contract-net.lcc`, over
//! its policy, valuation, ledger and migration workflow.
//!
//! | component | role | what it does here |
//! |---|---|---|
//! | `price(+Task, -Price)` | contractor | minus the value of taking the bundle; refused when the policy refuses the move or the price exceeds what the manager pays |
//! | `perform(+Task)` | contractor | re-prices against the host as it is now and commits to take the VM |
//! | `release(+Task, +Why)` | contractor | nothing binds it any more (logged) |
//! | `outcome(+Task, +Winner, +Price, +Report)` | manager | on `done`, carries the trade out with the migration executor |
//!
//! Prices are integer micro-credits ([`Credits`]): what the manager (buyer)
//! pays the winner (seller); negative when the winner pays to get the VM.
//! The model awards the lowest price.

use std::sync::{Arc, Mutex};

use lcc::ast::Mode;
use lcc::component::{Components, Failure};
use lcc::term::Term;
use market::credits::Credits;
use market::ledger::{ProtocolRef, TradeId, TradeTerms, VmRef};
use market::resources::Resources;
use market::valuation::Valuer;
use market::vm::Vm;
use market::wire::Interaction;

use super::{Inner, ManagerRound, TradeReport, vm_id};
use crate::hypervisor::DomainUuid;
use crate::migration::Executor;

/// What a contract-net manager announces: one VM's bundle and the most the
/// manager pays to be rid of it. On the wire:
/// `task(Uuid, Name, bundle(Cpu, Mem, Net), bundle(Cpu, Mem, Net), MaxPrice)`
/// with the reserved bundle first, then the measured use.
#[derive(Debug, Clone, PartialEq)]
pub struct Task {
    /// The domain's UUID.
    pub uuid: String,
    /// The domain's name.
    pub name: String,
    /// What the VM reserves.
    pub reserved: Resources,
    /// What it was last measured to use.
    pub used: Resources,
    /// The highest price the manager accepts (negative: it must be paid).
    pub max_price: Credits,
}

impl Task {
    /// The task as an LCC term.
    pub fn to_term(&self) -> Term {
        Term::apply(
            "task",
            vec![
                Term::string(&self.uuid),
                Term::string(&self.name),
                bundle(&self.reserved),
                bundle(&self.used),
                Term::Int(self.max_price.0),
            ],
        )
    }

    /// Reads a task term; anything else does not hold.
    pub fn from_term(term: &Term) -> Result<Task, Failure> {
        let not_a_task = || Failure::no(format!("not a task: {term}"));
        let args = term.args();
        if term.functor().map(|f| f.as_str()) != Some("task") || args.len() != 5 {
            return Err(not_a_task());
        }
        let text = |t: &Term| match t {
            Term::Str(s) | Term::Atom(s) => Some(s.as_str().to_string()),
            _ => None,
        };
        let (Some(uuid), Some(name), Some(reserved), Some(used), Term::Int(max)) = (
            text(&args[0]),
            text(&args[1]),
            read_bundle(&args[2]),
            read_bundle(&args[3]),
            &args[4],
        ) else {
            return Err(not_a_task());
        };
        Ok(Task {
            uuid,
            name,
            reserved,
            used,
            max_price: Credits(*max),
        })
    }

    fn vm(&self) -> Result<(DomainUuid, Vm), Failure> {
        let uuid = DomainUuid::parse(&self.uuid).map_err(|e| Failure::no(e.to_string()))?;
        let vm = Vm {
            id: vm_id(&uuid),
            name: self.name.clone(),
            reserved: self.reserved,
            used: self.used,
            group: None,
        };
        Ok((uuid, vm))
    }
}

fn bundle(r: &Resources) -> Term {
    let int = |v: u64| Term::Int(i64::try_from(v).unwrap_or(i64::MAX));
    Term::apply(
        "bundle",
        vec![
            int(r.cpu_millicores),
            int(r.memory_mib),
            int(r.network_mbps),
        ],
    )
}

fn read_bundle(term: &Term) -> Option<Resources> {
    let args = term.args();
    if term.functor().map(|f| f.as_str()) != Some("bundle") || args.len() != 3 {
        return None;
    }
    let int = |t: &Term| match t {
        Term::Int(v) => u64::try_from(*v).ok(),
        _ => None,
    };
    Some(Resources::new(
        int(&args[0])?,
        int(&args[1])?,
        int(&args[2])?,
    ))
}

/// This host's price for taking the task's VM now, or why it will not.
async fn price(inner: &Inner, task: &Task) -> Result<Credits, Failure> {
    let (_, vm) = task.vm()?;
    let host = inner
        .view()
        .await
        .map_err(|e| Failure::broken(e.to_string()))?;
    let valuer = Valuer::new(&inner.policy, &host).map_err(|e| Failure::broken(e.to_string()))?;
    let value = valuer
        .value_of_taking(&vm)
        .map_err(|refusal| Failure::no(refusal.to_string()))?;
    let price = Credits(value.0.saturating_neg());
    if price > task.max_price {
        return Err(Failure::no(format!(
            "asks {price}, the manager pays at most {}",
            task.max_price
        )));
    }
    Ok(price)
}

/// The contractor's components.
pub(super) fn contractor(inner: Arc<Inner>) -> Components {
    let mut components = Components::new();
    let pricing = Arc::clone(&inner);
    components.register_async("price", &[Mode::In, Mode::Out], move |args| {
        let inner = Arc::clone(&pricing);
        async move {
            let task = Task::from_term(&args[0])?;
            let price = price(&inner, &task).await.inspect_err(|why| {
                tracing::debug!(host = %inner.identity.name, vm = %task.name, %why, "declines");
            })?;
            tracing::debug!(host = %inner.identity.name, vm = %task.name, %price, "proposes");
            Ok(vec![args[0].clone(), Term::Int(price.0)])
        }
    });
    let performing = Arc::clone(&inner);
    components.register_async("perform", &[Mode::In], move |args| {
        let inner = Arc::clone(&performing);
        async move {
            let task = Task::from_term(&args[0])?;
            price(&inner, &task).await?;
            let (uuid, _) = task.vm()?;
            inner.usage().expect(uuid, &task.used);
            tracing::info!(host = %inner.identity.name, vm = %task.name, "awarded: will take the VM");
            Ok(vec![])
        }
    });
    components.register_fn("release", &[Mode::In, Mode::In], move |args| {
        tracing::debug!(host = %inner.identity.name, task = %args[0], why = %args[1], "released");
        Ok(vec![])
    });
    components
}

/// What the manager's ledger records about where a trade was agreed.
pub(super) struct Agreement {
    /// The interaction.
    pub interaction: Interaction,
    /// The model's name.
    pub protocol: String,
}

/// The manager's components; how the round ended is left in `ended`.
pub(super) fn manager(
    inner: Arc<Inner>,
    agreement: Agreement,
    ended: Arc<Mutex<Option<ManagerRound>>>,
) -> Components {
    let agreement = Arc::new(agreement);
    let mut components = Components::new();
    components.register_async("outcome", &[Mode::In; 4], move |args| {
        let (inner, agreement, ended) = (
            Arc::clone(&inner),
            Arc::clone(&agreement),
            Arc::clone(&ended),
        );
        async move {
            let round = outcome(&inner, &agreement, &args).await?;
            *ended.lock().unwrap_or_else(|p| p.into_inner()) = Some(round);
            Ok(vec![])
        }
    });
    components
}

/// Ends the manager's round: on `done`, the migration workflow carries the
/// trade out (both ledgers first, then the hand-off, then settlement).
async fn outcome(
    inner: &Inner,
    agreement: &Agreement,
    args: &[Term],
) -> Result<ManagerRound, Failure> {
    let task = Task::from_term(&args[0])?;
    let report = args[3].to_string();
    if report != "done" {
        tracing::info!(host = %inner.identity.name, vm = %task.name, %report, "no trade");
        return Ok(ManagerRound::NoTrade {
            vm: task.name,
            report,
        });
    }
    let winner = match &args[1] {
        Term::Atom(s) | Term::Str(s) => s.as_str().to_string(),
        other => return Err(Failure::broken(format!("winner {other} is not a host"))),
    };
    let Term::Int(price) = args[2] else {
        return Err(Failure::broken(format!(
            "price {} is not an integer",
            args[2]
        )));
    };
    let interaction_id = agreement.interaction.id.to_string();
    let terms = TradeTerms {
        trade_id: TradeId::new(&interaction_id).map_err(|e| Failure::broken(e.to_string()))?,
        interaction_id,
        protocol: ProtocolRef {
            name: agreement.protocol.clone(),
            hash: agreement.interaction.model.to_string(),
        },
        buyer: inner.identity.name.clone(),
        seller: winner.clone(),
        vms: vec![VmRef {
            uuid: task.uuid.clone(),
            name: task.name.clone(),
        }],
        resources: market::ledger::Resources {
            cpu_millicores: task.reserved.cpu_millicores,
            memory_mib: task.reserved.memory_mib,
            network_mbps: task.reserved.network_mbps,
        },
        price: Credits(price),
    };
    let destination = inner
        .reach
        .peer(&winner)
        .ok_or_else(|| Failure::broken(format!("no way to reach {winner}'s workflow")))?;
    let executor = Executor::new(
        inner.ledger.clone(),
        Arc::clone(&inner.hypervisor),
        destination,
        inner.reach.method(&winner),
    );
    let outcome = executor
        .execute(&terms)
        .await
        .map_err(|e| Failure::broken(e.to_string()))?;
    tracing::info!(
        trade = %terms.trade_id, vm = %task.name, from = %terms.buyer, to = %winner,
        price = %terms.price, ?outcome, "trade carried out"
    );
    Ok(ManagerRound::Traded(TradeReport {
        trade_id: terms.trade_id.to_string(),
        vm: task.name,
        from: terms.buyer,
        to: winner,
        price: terms.price,
        outcome,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_task_reads_back_as_written() {
        let task = Task {
            uuid: "00000000-0000-4000-8000-000000000001".into(),
            name: "okvm1".into(),
            reserved: Resources::new(1000, 512, 100),
            used: Resources::new(1000, 512, 5),
            max_price: Credits(-1_500_000),
        };
        assert_eq!(Task::from_term(&task.to_term()), Ok(task));
        assert!(Task::from_term(&Term::atom("task")).is_err());
    }
}
