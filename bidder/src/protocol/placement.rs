//! Placement played by a bidder and by the operator who asks for it: the
//! shipped `models/placement.lcc`, or a model of one's own with the same
//! two roles and components.
//!
//! | role | who plays it | components ([`super::vocabulary`]) |
//! |---|---|---|
//! | `operator(Placement, Hosts, Window, StartWithin)` | `market place`, or a scenario's arriving VM ([`operate`]) | `pick`, `conclude` |
//! | `host` | every host that plays the protocol | `quote`, `start`, `release` |
//!
//! **Prices** follow the one convention of docs/economics.md: the operator
//! *sells* the new VM, a host *buys* it, and `Price` is what the host pays
//! (negative: what the operator pays the host to run it). A host quotes its
//! true value of taking the VM ([`Valuer::value_of_taking`](market::valuation::Valuer::value_of_taking), the same
//! pricing as a contract-net offer); the operator's reserve is the least it
//! accepts; `pick` decides through [`mechanism::award_bids`] with the
//! protocol's rule, so the host whose policy values the VM most wins.
//!
//! **Capacity** is held from the quote until the award deadline, so two
//! placements at once never both get the same room; a host that already
//! has a domain of the name or UUID (or is holding room for one) answers
//! `present(Why)`, and the operator then places nothing anywhere.
//!
//! **The winner starts it** through `migration::placement`: its ledger
//! records the placement before the domain is defined; a start that fails
//! removes the definition and rolls the record back.

use std::sync::{Arc, Mutex};

use lcc::component::{Components, Failure};
use lcc::sync::Locked;
use lcc::term::Term;
use market::credits::Credits;
use market::ledger::{ProtocolRef, TradeId, TradeKind, TradeTerms, VmRef};
use market::mechanism::contract_net::{self as mechanism, AwardRule};
use market::resources::Resources;
use market::runtime::{self, Endpoint, InitiateError, Recruitment};
use serde::Serialize;

use super::Protocol;
use super::contract_net::{offer_priced, perform};
use super::terms::{Report, Task, compound, read_credits, text};
use super::vocabulary::{CONCLUDE, PICK, QUOTE, RELEASE, START};
use crate::agent::{
    AgentError, HostContext, Initiates, Initiative, KindPlay, KindSettings, NoSettings, Play,
    ProtocolKind, Role, read_settings,
};
use crate::hypervisor::DomainSpec;
use crate::migration::Outcome;
use crate::problem::ConfigProblem;
use futures::future::BoxFuture;

/// The role the operator starts.
pub const OPERATOR: &str = "operator";
/// The role every host answers.
pub const HOST: &str = "host";

/// A new VM for the zone: on the wire `placement(Trade, Task, Domain)`.
#[derive(Debug, Clone, PartialEq)]
pub struct Placement {
    /// The trade id the winner records: the call's interaction id, as a
    /// contract-net trade's.
    pub trade_id: String,
    /// The VM, its bundle, and the operator's reserve.
    pub task: Task,
    /// Its libvirt domain XML.
    pub domain: String,
}

impl Placement {
    /// The placement as an LCC term.
    pub fn to_term(&self) -> Term {
        Term::apply(
            "placement",
            vec![
                Term::string(&self.trade_id),
                self.task.to_term(),
                Term::string(&self.domain),
            ],
        )
    }

    /// Reads a placement term; anything else does not hold.
    pub fn from_term(term: &Term) -> Result<Placement, Failure> {
        let not = || Failure::no(format!("not a placement: {term}"));
        let args = compound(term, "placement", 3).ok_or_else(not)?;
        let (Some(trade_id), Some(domain)) = (text(&args[0]), text(&args[2])) else {
            return Err(not());
        };
        Ok(Placement {
            trade_id,
            task: Task::from_term(&args[1])?,
            domain,
        })
    }

    /// Why the domain XML does not describe the task's VM, if it does not:
    /// every host checks, since the operator's word is all it has.
    pub fn mismatch(&self) -> Option<String> {
        let spec = match DomainSpec::parse(&self.domain) {
            Ok(spec) => spec,
            Err(e) => return Some(e.to_string()),
        };
        let task = &self.task;
        let defined = new_vm(&spec, task.reserved.network_mbps, task.reserve);
        if defined.uuid != task.uuid || defined.name != task.name {
            Some(format!(
                "the domain XML defines {} ({}), the placement names {} ({})",
                defined.name, defined.uuid, task.name, task.uuid
            ))
        } else if defined.reserved != task.reserved {
            Some(format!(
                "the bundle reserves {} millicores and {} MiB, the domain XML defines {} and {}",
                task.reserved.cpu_millicores,
                task.reserved.memory_mib,
                defined.reserved.cpu_millicores,
                defined.reserved.memory_mib
            ))
        } else if defined.group != task.group {
            Some("the placement group differs from the domain XML's".to_string())
        } else {
            None
        }
    }
}

/// The task a new VM defined by `spec` is placed as: it reserves the
/// definition's vCPUs and memory and `network_mbps`, is taken at that
/// whole bundle until it is measured, and goes for no less than `reserve`.
pub fn new_vm(spec: &DomainSpec, network_mbps: u64, reserve: Credits) -> Task {
    let reserved = Resources::new(
        u64::from(spec.vcpus) * 1000,
        spec.memory_mib(),
        network_mbps,
    );
    Task {
        uuid: spec.uuid.clone(),
        name: spec.name.clone(),
        group: spec.group.clone(),
        reserved,
        used: reserved,
        reserve,
    }
}

/// A host's answer to a placement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "answer", rename_all = "snake_case")]
pub enum Answer {
    /// `offer(Price)`: it takes the VM for this price, holding the room.
    Offer {
        /// What it pays.
        price: Credits,
    },
    /// `refused(Why)`: its policy will not take the VM.
    Refused {
        /// Why, in the host's words.
        why: String,
    },
    /// `present(Why)`: a domain of that name or UUID is already there.
    Present {
        /// Where and in which state.
        why: String,
    },
}

impl Answer {
    fn to_term(&self) -> Term {
        match self {
            Answer::Offer { price } => Term::apply("offer", vec![Term::Int(price.0)]),
            Answer::Refused { why } => Term::apply("refused", vec![Term::string(why)]),
            Answer::Present { why } => Term::apply("present", vec![Term::string(why)]),
        }
    }

    fn from_term(term: &Term) -> Option<Answer> {
        let [arg] = term.args() else { return None };
        match term.functor()?.as_str() {
            "offer" => read_credits(arg).map(|price| Answer::Offer { price }),
            "refused" => text(arg).map(|why| Answer::Refused { why }),
            "present" => text(arg).map(|why| Answer::Present { why }),
            _ => None,
        }
    }
}

/// The components a host provides as `host` of `protocol`.
pub(crate) fn host(inner: Arc<HostContext>, protocol: &Protocol) -> Components {
    let mut components = Components::new();
    let quoting = Arc::clone(&inner);
    components.register_async(QUOTE.name, QUOTE.modes, move |args| {
        let inner = Arc::clone(&quoting);
        async move {
            let placement = Placement::from_term(&args[0])?;
            let Term::Int(award_by) = args[1] else {
                return Err(Failure::no(format!("award deadline {} is not ms", args[1])));
            };
            let answer = quote(&inner, &placement, award_by).await?;
            tracing::info!(host = %inner.name(), vm = %placement.task.name, ?answer, "placement quoted");
            Ok(vec![args[0].clone(), args[1].clone(), answer.to_term()])
        }
    });
    let starting = Arc::clone(&inner);
    let protocol_ref = ProtocolRef {
        name: protocol.name().to_string(),
        hash: protocol.model().hash().to_string(),
    };
    components.register_async(START.name, START.modes, move |args| {
        let (inner, protocol) = (Arc::clone(&starting), protocol_ref.clone());
        async move {
            let placement = Placement::from_term(&args[0])?;
            let (Some(price), Some(operator)) = (read_credits(&args[1]), text(&args[2])) else {
                return Err(Failure::no(format!(
                    "not a price and an operator: {args:?}"
                )));
            };
            let started = start(&inner, &placement, price, &operator, protocol).await;
            let outcome = if started.is_ok() { "started" } else { "failed" };
            metrics::counter!("bourse_placements_total", "outcome" => outcome).increment(1);
            let report = match started {
                Ok(()) => Term::atom("started"),
                Err(why) => Term::apply("failed", vec![Term::string(&why)]),
            };
            inner.release(&placement.task.uuid);
            Ok(vec![
                args[0].clone(),
                args[1].clone(),
                args[2].clone(),
                report,
            ])
        }
    });
    components.register_fn(RELEASE.name, RELEASE.modes, move |args| {
        let placement = Placement::from_term(&args[0])?;
        inner.release(&placement.task.uuid);
        tracing::debug!(host = %inner.name(), vm = %placement.task.name, why = %args[1], "placement released");
        Ok(vec![])
    });
    components
}

/// What this host answers: checked for presence, priced and held under
/// the agent's pricing lock, so two placements of one name, or two VMs
/// for one room, are never both offered.
async fn quote(
    inner: &HostContext,
    placement: &Placement,
    award_by: i64,
) -> Result<Answer, Failure> {
    if let Some(why) = placement.mismatch() {
        return Ok(Answer::Refused { why });
    }
    let uuid = placement.task.uuid.clone();
    let _pricing = inner.pricing().await;
    let present = inner
        .present(&uuid, &placement.task.name)
        .await
        .map_err(|e| Failure::broken(e.to_string()))?;
    if let Some(why) = present {
        return Ok(Answer::Present { why });
    }
    Ok(match offer_priced(inner, &placement.task, award_by).await {
        Ok(price) => Answer::Offer { price },
        Err(refusal) => Answer::Refused {
            why: refusal.reason,
        },
    })
}

/// Takes the VM at `pays` (re-valued now, as contract net's winner does)
/// and starts it through the placement workflow.
async fn start(
    inner: &HostContext,
    placement: &Placement,
    price: Credits,
    operator: &str,
    protocol: ProtocolRef,
) -> Result<(), String> {
    let task = &placement.task;
    perform(inner, task, price).await.map_err(|f| f.reason)?;
    let terms = TradeTerms {
        trade_id: TradeId::new(&placement.trade_id).map_err(|e| e.to_string())?,
        kind: TradeKind::Placement,
        interaction_id: placement.trade_id.clone(),
        protocol,
        seller: operator.to_string(),
        buyer: inner.name().to_string(),
        vms: vec![VmRef {
            uuid: task.uuid.to_string(),
            name: task.name.clone(),
        }],
        resources: task.reserved,
        price,
    };
    match inner.place(&terms, &placement.domain).await {
        Ok(Outcome::Settled) => {
            tracing::info!(host = %inner.name(), vm = %task.name, %price, %operator, "placed: the VM runs here");
            Ok(())
        }
        Ok(Outcome::Failed { reason } | Outcome::RolledBack { reason }) => Err(reason),
        Err(e) => Err(e.to_string()),
    }
}

/// The terms of the operator's call: how long it lasts, in ms of the
/// peers' clock, and how the winner is chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CallTerms {
    /// How long hosts have to join.
    pub recruit_ms: i64,
    /// How long they have to answer.
    pub window_ms: i64,
    /// How long the winner has to start the VM and report.
    pub start_within_ms: i64,
    /// How the winner is chosen and what it pays.
    pub award: AwardRule,
}

/// One host's answer, as the operator received it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HostAnswer {
    /// The host.
    pub host: String,
    /// What it said.
    #[serde(flatten)]
    pub answer: Answer,
}

/// How a placement call ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum Ended {
    /// The VM runs at `host`, which paid `price`.
    Started {
        /// The winner.
        host: String,
        /// What it pays the operator.
        price: Credits,
    },
    /// The winner could not start it; its ledger rolled the placement back.
    Failed {
        /// The winner.
        host: String,
        /// The price it had accepted.
        price: Credits,
        /// Why, in its words.
        reason: String,
    },
    /// The winner did not report in time: its ledger says how it ended.
    Silent {
        /// The winner.
        host: String,
        /// The price it had accepted.
        price: Credits,
    },
    /// Nothing was placed anywhere.
    Refused {
        /// Why, for people.
        reason: String,
    },
}

/// What the operator's call came to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CallReport {
    /// The trade id the winner records (`None` when no host joined).
    pub trade_id: Option<String>,
    /// The VM's name.
    pub vm: String,
    /// The VM's UUID, by which ledgers and libvirt know it (generated when
    /// the operator's definition had none).
    pub uuid: String,
    /// The hosts that joined the call.
    pub hosts: Vec<String>,
    /// Every answer, in the order they came.
    pub answers: Vec<HostAnswer>,
    /// How it ended.
    #[serde(flatten)]
    pub ended: Ended,
}

/// The operator's side of one call, filled by its components.
struct Call {
    rule: AwardRule,
    reserve: Credits,
    ended: Mutex<Option<(Vec<HostAnswer>, Ended)>>,
}

/// Asks the zone to place the VM `task` describes, defined by `domain`
/// (its libvirt XML): recruits the hosts that play `protocol`, runs the
/// call, and reports how it ended. `peer` is the operator on the bus (its
/// name is the seller in the winner's ledger); the task's reserve is the
/// least it accepts.
pub async fn operate(
    peer: &Endpoint,
    protocol: &Protocol,
    task: &Task,
    domain: &str,
    terms: CallTerms,
) -> Result<CallReport, InitiateError> {
    let report = |trade_id, hosts: Vec<String>, answers, ended| CallReport {
        trade_id,
        vm: task.name.clone(),
        uuid: task.uuid.to_string(),
        hosts,
        answers,
        ended,
    };
    let model = protocol.model();
    let recruitment = Recruitment {
        role: HOST.to_string(),
        within_ms: terms.recruit_ms,
        reach: None,
    };
    let recruited = match runtime::recruit(peer, model, &recruitment).await {
        Ok(recruited) => recruited,
        Err(InitiateError::NotEnoughPlayers { .. }) => {
            let reason = format!(
                "no host of zone {} answered within {} ms (is any bidder up, playing {}?)",
                peer.space.zone(),
                terms.recruit_ms,
                protocol.name()
            );
            return Ok(report(None, vec![], vec![], Ended::Refused { reason }));
        }
        Err(e) => return Err(e),
    };
    let hosts: Vec<String> = recruited.players.iter().map(|p| p.to_string()).collect();
    let placement = Placement {
        trade_id: recruited.interaction.id.to_string(),
        task: task.clone(),
        domain: domain.to_string(),
    };
    let rule = terms.award;
    let call = Arc::new(Call {
        rule,
        reserve: task.reserve,
        ended: Mutex::new(None),
    });
    let components = operator(Arc::clone(&call));
    let role = |players: Vec<Term>| {
        Term::apply(
            OPERATOR,
            vec![
                placement.to_term(),
                Term::list(players),
                Term::Int(terms.window_ms),
                Term::Int(terms.start_within_ms),
            ],
        )
    };
    recruited.run(peer, model, role, &components).await?;
    let ended = call.ended.locked().take();
    let (answers, ended) = ended.unwrap_or_else(|| {
        let reason = "the call ended without a conclusion".to_string();
        (vec![], Ended::Refused { reason })
    });
    Ok(report(Some(placement.trade_id), hosts, answers, ended))
}

/// The operator's components for one call.
fn operator(call: Arc<Call>) -> Components {
    let mut components = Components::new();
    let picking = Arc::clone(&call);
    components.register_fn(PICK.name, PICK.modes, move |args| pick(&picking, args));
    components.register_fn(CONCLUDE.name, CONCLUDE.modes, move |args| {
        let answers = read_answers(&args[1]).map_err(Failure::broken)?;
        let ended = conclude(&call, &answers, &args[2], &args[3], &args[4]);
        *call.ended.locked() = Some((answers, ended));
        Ok(vec![])
    });
    components
}

/// `pick(+Placement, +Answers, -Winner, -Price)`: no award when a host has
/// the VM already; otherwise the best offer by the protocol's rule.
fn pick(call: &Call, args: &[Term]) -> Result<Vec<Term>, Failure> {
    let answers = read_answers(&args[1]).map_err(Failure::broken)?;
    if let Some(present) = answers
        .iter()
        .find(|a| matches!(a.answer, Answer::Present { .. }))
    {
        return Err(Failure::no(format!("already at {}", present.host)));
    }
    let bids: Vec<Term> = answers
        .iter()
        .filter_map(|a| match a.answer {
            Answer::Offer { price } => Some(Term::apply(
                "bid",
                vec![Term::atom(&a.host), Term::Int(price.0)],
            )),
            _ => None,
        })
        .collect();
    let (winner, price) = mechanism::award_bids(call.reserve, &Term::list(bids), call.rule)
        .map_err(Failure::broken)?
        .ok_or_else(|| Failure::no(format!("no offer reaches the reserve {}", call.reserve)))?;
    Ok(vec![
        args[0].clone(),
        args[1].clone(),
        winner,
        Term::Int(price.0),
    ])
}

/// How the call ended, from `conclude`'s arguments.
fn conclude(
    call: &Call,
    answers: &[HostAnswer],
    winner: &Term,
    price: &Term,
    report: &Term,
) -> Ended {
    let host = text(winner).unwrap_or_default();
    let price = read_credits(price).unwrap_or_default();
    match Report::read(report) {
        Report::Started => Ended::Started { host, price },
        Report::Failed(reason) => Ended::Failed {
            host,
            price,
            reason,
        },
        Report::Silent => Ended::Silent { host, price },
        Report::Done | Report::CalledOff(_) | Report::Other(_) | Report::Missing => {
            Ended::Refused {
                reason: refusal(call, answers),
            }
        }
    }
}

/// Why nothing was placed, from the answers.
fn refusal(call: &Call, answers: &[HostAnswer]) -> String {
    let said = |pick: fn(&Answer) -> Option<&String>| -> Vec<String> {
        answers
            .iter()
            .filter_map(|a| pick(&a.answer).map(|why| format!("{}: {why}", a.host)))
            .collect()
    };
    let present = said(|a| match a {
        Answer::Present { why } => Some(why),
        _ => None,
    });
    if !present.is_empty() {
        return format!("the VM is already in the zone ({})", present.join("; "));
    }
    let best = answers
        .iter()
        .filter_map(|a| match a.answer {
            Answer::Offer { price } => Some((price, &a.host)),
            _ => None,
        })
        .max();
    if let Some((price, host)) = best {
        return format!(
            "no offer reaches the reserve {}: the best was {price} from {host}",
            call.reserve
        );
    }
    let refused = said(|a| match a {
        Answer::Refused { why } => Some(why),
        _ => None,
    });
    if refused.is_empty() {
        return "no host answered in time".to_string();
    }
    format!("no host will take it ({})", refused.join("; "))
}

/// `Answers` as the model gathered them (newest first), oldest first.
fn read_answers(term: &Term) -> Result<Vec<HostAnswer>, String> {
    let items = term
        .as_list()
        .ok_or_else(|| format!("answers {term} are not a list"))?;
    let mut answers = items
        .into_iter()
        .map(|item| {
            let args =
                compound(item, "answer", 2).ok_or_else(|| format!("not an answer: {item}"))?;
            let host = text(&args[0]).ok_or_else(|| format!("not a host: {}", args[0]))?;
            let answer =
                Answer::from_term(&args[1]).ok_or_else(|| format!("not an answer: {}", args[1]))?;
            Ok(HostAnswer { host, answer })
        })
        .collect::<Result<Vec<_>, String>>()?;
    answers.reverse();
    Ok(answers)
}

/// Placement, as a kind: an operator starts `operator` ([`operate`]),
/// every host that plays it answers as `host`; a host never starts it.
pub struct PlacementKind;

impl ProtocolKind for PlacementKind {
    fn name(&self) -> &'static str {
        "placement"
    }

    fn shipped_model(&self) -> lcc::models::Shipped {
        lcc::models::PLACEMENT
    }

    fn roles(&self) -> [Role; 2] {
        [
            Role {
                name: OPERATOR,
                parameters: 4,
                signatures: &[PICK, CONCLUDE],
            },
            Role {
                name: HOST,
                parameters: 0,
                signatures: &[QUOTE, START, RELEASE],
            },
        ]
    }

    fn initiates(&self) -> Initiates {
        Initiates::Never
    }

    /// A host only answers a placement: it takes no settings. The award
    /// rule is the operator's ([`CallTerms::award`]).
    fn configure(&self, table: &toml::Table) -> Result<Arc<dyn KindSettings>, ConfigProblem> {
        let settings: NoSettings = read_settings(table, |key| {
            let whose = match key {
                "award" => "the operator's (`market place --award`); a host only answers",
                "pricing" | "window_ms" => "a call market's (kind \"call-market\")",
                _ => return None,
            };
            Some(format!("a placement's `{key}` is {whose}"))
        })?;
        Ok(Arc::new(settings))
    }

    fn join(&self, host: Arc<HostContext>) -> Arc<dyn KindPlay> {
        Arc::new(Hosting(host))
    }
}

/// A host's part in placements: it answers, and starts nothing.
struct Hosting(Arc<HostContext>);

impl KindPlay for Hosting {
    fn respond(&self, protocol: &Protocol) -> Components {
        host(Arc::clone(&self.0), protocol)
    }

    fn initiate<'a>(
        &'a self,
        _play: &'a Play<'a>,
        _protocol: &'a Protocol,
    ) -> BoxFuture<'a, Result<Option<Initiative>, AgentError>> {
        Box::pin(std::future::ready(Ok(None)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use market::resources::Resources;

    fn placement(domain: &str) -> Placement {
        Placement {
            trade_id: "place-1".into(),
            task: Task {
                uuid: crate::hypervisor::DomainUuid::parse("00000000-0000-4000-8000-000000000001")
                    .unwrap(),
                name: "web1".into(),
                group: None,
                reserved: Resources::new(2000, 1024, 100),
                used: Resources::new(2000, 1024, 100),
                reserve: Credits(i64::MIN),
            },
            domain: domain.into(),
        }
    }

    const XML: &str = "<domain type='test'><name>web1</name>\
        <uuid>00000000-0000-4000-8000-000000000001</uuid>\
        <memory unit='MiB'>1024</memory><vcpu>2</vcpu></domain>";

    #[test]
    fn a_placement_and_its_answers_read_back_as_written() {
        let p = placement(XML);
        assert_eq!(Placement::from_term(&p.to_term()), Ok(p.clone()));
        assert_eq!(p.mismatch(), None);
        for answer in [
            Answer::Offer { price: Credits(-5) },
            Answer::Refused { why: "full".into() },
            Answer::Present {
                why: "at h1".into(),
            },
        ] {
            assert_eq!(Answer::from_term(&answer.to_term()), Some(answer));
        }
    }

    #[test]
    fn a_domain_that_is_not_the_bundle_is_a_mismatch() {
        let bigger = XML.replace("<vcpu>2</vcpu>", "<vcpu>4</vcpu>");
        let why = placement(&bigger).mismatch().unwrap();
        assert!(why.contains("4000"), "{why}");
        assert!(placement("<domain>").mismatch().is_some());
    }
}
