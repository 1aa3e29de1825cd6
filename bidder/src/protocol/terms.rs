//! How market values travel in LCC terms, for every protocol alike.
//!
//! | value | term |
//! |---|---|
//! | a bundle | `bundle(CpuMillicores, MemoryMiB, NetworkMbps)` |
//! | a placement group | `group(Name, together)`, `group(Name, apart)`, or `none` |
//! | credits | an integer of micro-credits |
//! | a host, a VM's UUID or name | an atom or a string |

use lcc::term::Term;
use market::credits::Credits;
use market::resources::Resources;
use market::vm::{GroupRule, PlacementGroup};

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

#[cfg(test)]
mod tests {
    use super::*;

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
