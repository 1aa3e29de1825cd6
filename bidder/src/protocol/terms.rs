//! How market values travel in LCC terms, for every protocol alike.
//!
//! | value | term |
//! |---|---|
//! | a bundle | `bundle(CpuMillicores, MemoryMiB, NetworkMbps)` |
//! | a placement group | `group(Name, together)`, `group(Name, apart)`, or `none` |
//! | credits | an integer of micro-credits |
//! | a host, a VM's UUID or name | an atom or a string |
//! | a VM for a price | [`Task`]: `task(Uuid, Name, Group, Reserved, Used, Reserve)` |
//! | how an interaction or a step ended | [`Report`]: `done`, `started`, `silent`, `failed(Why)`, or another word |

use lcc::component::Failure;
use lcc::term::Term;
use market::credits::Credits;
use market::resources::Resources;
use market::vm::{GroupRule, PlacementGroup, Vm};

pub use crate::agent::Report;
use crate::hypervisor::DomainUuid;

/// `bundle(Cpu, Mem, Net)`.
pub fn bundle(r: &Resources) -> Term {
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

/// A bundle term, if `term` is one with three non-negative integers.
pub fn read_bundle(term: &Term) -> Option<Resources> {
    let args = compound(term, "bundle", 3)?;
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

/// `group(Name, Rule)`, or `none`.
pub fn group(group: Option<&PlacementGroup>) -> Term {
    match group {
        None => Term::atom("none"),
        Some(g) => Term::apply(
            "group",
            vec![Term::string(&g.name), Term::atom(g.rule.as_str())],
        ),
    }
}

/// A group term: `Ok(None)` for `none`; an error (for people) for a term
/// that is neither, or names an invalid group.
pub fn read_group(term: &Term) -> Result<Option<PlacementGroup>, String> {
    if matches!(term, Term::Atom(a) if a.as_str() == "none") {
        return Ok(None);
    }
    let args = compound(term, "group", 2).ok_or_else(|| format!("not a group: {term}"))?;
    let (Some(name), Some(rule)) = (text(&args[0]), text(&args[1])) else {
        return Err(format!("not a group: {term}"));
    };
    let rule = GroupRule::parse(&rule).map_err(|e| e.to_string())?;
    PlacementGroup::new(&name, rule)
        .map(Some)
        .map_err(|e| e.to_string())
}

/// The text of an atom or a string.
pub fn text(term: &Term) -> Option<String> {
    match term {
        Term::Str(s) | Term::Atom(s) => Some(s.as_str().to_string()),
        _ => None,
    }
}

impl Report {
    /// The report `term` is (read here, where every value is read from
    /// terms).
    pub fn read(term: &Term) -> Report {
        match text(term).as_deref() {
            Some("done") => return Report::Done,
            Some("started") => return Report::Started,
            Some("silent") => return Report::Silent,
            _ => {}
        }
        match (term.functor().map(|f| f.as_str()), term.args()) {
            (Some("failed"), [why]) => Report::Failed(text(why).unwrap_or_else(|| why.to_string())),
            (Some("called_off"), [why]) => {
                Report::CalledOff(text(why).unwrap_or_else(|| why.to_string()))
            }
            _ => Report::Other(term.to_string()),
        }
    }
}

/// Micro-credits.
pub fn read_credits(term: &Term) -> Option<Credits> {
    match term {
        Term::Int(v) => Some(Credits(*v)),
        _ => None,
    }
}

/// The arguments of `term` if it is `name` with `arity` arguments.
pub fn compound<'t>(term: &'t Term, name: &str, arity: usize) -> Option<&'t [Term]> {
    let args = term.args();
    (term.functor().map(|f| f.as_str()) == Some(name) && args.len() == arity).then_some(args)
}

/// One VM offered for a price: what a contract-net manager announces, and
/// what a reverse-call seller offers. On the wire: `task(Uuid, Name, Group, Reserved, Used, Reserve)`, with the
/// group as in [`group`] and the bundles as [`bundle`].
#[derive(Debug, Clone, PartialEq)]
pub struct Task {
    /// The domain's UUID.
    pub uuid: DomainUuid,
    /// The domain's name.
    pub name: String,
    /// Its placement group.
    pub group: Option<PlacementGroup>,
    /// What the VM reserves.
    pub reserved: Resources,
    /// What it was last measured to use.
    pub used: Resources,
    /// The least the manager accepts for giving it (negative: the most it
    /// pays to be rid of it).
    pub reserve: Credits,
}

impl Task {
    /// The task as an LCC term.
    pub fn to_term(&self) -> Term {
        Term::apply(
            "task",
            vec![
                Term::string(self.uuid.as_str()),
                Term::string(&self.name),
                group(self.group.as_ref()),
                bundle(&self.reserved),
                bundle(&self.used),
                Term::Int(self.reserve.0),
            ],
        )
    }

    /// Reads a task term; anything else does not hold.
    pub fn from_term(term: &Term) -> Result<Task, Failure> {
        let not_a_task = || Failure::no(format!("not a task: {term}"));
        let args = compound(term, "task", 6).ok_or_else(not_a_task)?;
        let (Some(uuid), Some(name), Some(reserved), Some(used), Some(reserve)) = (
            text(&args[0]),
            text(&args[1]),
            read_bundle(&args[3]),
            read_bundle(&args[4]),
            read_credits(&args[5]),
        ) else {
            return Err(not_a_task());
        };
        let uuid = DomainUuid::parse(&uuid).map_err(|e| Failure::no(e.to_string()))?;
        let group = read_group(&args[2]).map_err(Failure::no)?;
        Ok(Task {
            uuid,
            name,
            group,
            reserved,
            used,
            reserve,
        })
    }

    /// The VM the task is about, as the market sees it.
    pub fn vm(&self) -> Vm {
        Vm {
            id: crate::agent::vm_id(&self.uuid),
            name: self.name.clone(),
            reserved: self.reserved,
            used: self.used,
            group: self.group.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An auctioneer's own part of a trade called off ends with the
    /// reason inside `called_off(..)`: read whole, `not_recorded` did not
    /// reach its buyer's rule, and an auctioneer that bought a leg whose
    /// seller never recorded it kept the leg agreed (found by the chain's
    /// kill test, docs/reliability.md).
    #[test]
    fn a_report_reads_the_reason_a_trade_was_called_off() {
        let called_off = Term::apply("called_off", vec![Term::atom("not_recorded")]);
        assert_eq!(
            Report::read(&called_off),
            Report::CalledOff("not_recorded".into())
        );
        assert_eq!(Report::read(&Term::atom("done")), Report::Done);
        let failed = Term::apply("failed", vec![Term::string("no room")]);
        assert_eq!(Report::read(&failed), Report::Failed("no room".into()));
        assert_eq!(
            Report::read(&Term::atom("no_award")),
            Report::Other("no_award".into())
        );
    }

    #[test]
    fn a_task_reads_back_as_written() {
        let task = Task {
            uuid: DomainUuid::parse("00000000-0000-4000-8000-000000000001").unwrap(),
            name: "okvm1".into(),
            group: Some(PlacementGroup::new("web", GroupRule::Apart).unwrap()),
            reserved: Resources::new(1000, 512, 100),
            used: Resources::new(1000, 512, 5),
            reserve: Credits(-1_500_000),
        };
        assert_eq!(Task::from_term(&task.to_term()), Ok(task));
        assert!(Task::from_term(&Term::atom("task")).is_err());
    }

    #[test]
    fn values_read_back_as_written() {
        let r = Resources::new(2000, 1024, 100);
        assert_eq!(read_bundle(&bundle(&r)), Some(r));
        assert_eq!(read_bundle(&Term::atom("bundle")), None);
        let g = PlacementGroup::new("web", GroupRule::Apart).unwrap();
        assert_eq!(read_group(&group(Some(&g))), Ok(Some(g)));
        assert_eq!(read_group(&group(None)), Ok(None));
        let bad = Term::apply("group", vec![Term::string("a b"), Term::atom("apart")]);
        assert!(read_group(&bad).is_err());
    }
}
