//! How a call market's listings, orders and trades travel in LCC terms.
//!
//! | value | term |
//! |---|---|
//! | a trader's listing | `listing(Capacity, Reserved, [vm(Uuid, Name, Group, Reserved, Used), ..])` |
//! | the catalogue | `[listed(Trader, Listing), ..]` |
//! | a trader's orders | `[order(Gives, Takes, Limit), ..]`, Gives and Takes a VM's UUID or `none` |
//! | a filled trade | `clearing(Id, [leg(TradeId, From, To, Uuid, Name, Reserved, Price), ..])`, legs in the order they move |
//!
//! Bundles, groups and credits are as in [`crate::protocol::terms`].
//! Reading never trusts the sender: anything that does not read is an
//! error naming the term, and the caller drops it and says so.

use lcc::term::Term;
use market::credits::Credits;
use market::resources::Resources;
use market::vm::{PlacementGroup, Vm};

use crate::hypervisor::DomainUuid;
use crate::protocol::terms::{
    bundle, compound, group, read_bundle, read_credits, read_group, text,
};

/// A VM a trader would give.
#[derive(Debug, Clone, PartialEq)]
pub struct ListedVm {
    /// Its domain UUID.
    pub uuid: DomainUuid,
    /// Its domain name.
    pub name: String,
    /// Its placement group.
    pub group: Option<PlacementGroup>,
    /// What it reserves.
    pub reserved: Resources,
    /// What it was last measured to use.
    pub used: Resources,
}

impl ListedVm {
    /// The VM as the market sees it.
    pub fn vm(&self) -> Vm {
        Vm {
            id: crate::agent::vm_id(&self.uuid),
            name: self.name.clone(),
            reserved: self.reserved,
            used: self.used,
            group: self.group.clone(),
        }
    }

    fn to_term(&self) -> Term {
        Term::apply(
            "vm",
            vec![
                Term::string(self.uuid.as_str()),
                Term::string(&self.name),
                group(self.group.as_ref()),
                bundle(&self.reserved),
                bundle(&self.used),
            ],
        )
    }

    fn from_term(term: &Term) -> Result<ListedVm, String> {
        let bad = || format!("not a vm(Uuid, Name, Group, Reserved, Used): {term}");
        let args = compound(term, "vm", 5).ok_or_else(bad)?;
        let (Some(uuid), Some(name), Some(reserved), Some(used)) = (
            text(&args[0]).and_then(|u| DomainUuid::parse(&u).ok()),
            text(&args[1]),
            read_bundle(&args[3]),
            read_bundle(&args[4]),
        ) else {
            return Err(bad());
        };
        Ok(ListedVm {
            uuid,
            name,
            group: read_group(&args[2])?,
            reserved,
            used,
        })
    }
}

/// What a trader brings to a round: its room and the VMs it would give.
#[derive(Debug, Clone, PartialEq)]
pub struct Listing {
    /// What its policy lets VMs use.
    pub capacity: Resources,
    /// What its VMs (and the VMs it holds room for) reserve now.
    pub reserved: Resources,
    /// The VMs it would give.
    pub vms: Vec<ListedVm>,
}

impl Listing {
    /// The listing as a term.
    pub fn to_term(&self) -> Term {
        Term::apply(
            "listing",
            vec![
                bundle(&self.capacity),
                bundle(&self.reserved),
                Term::list(self.vms.iter().map(ListedVm::to_term).collect()),
            ],
        )
    }

    /// Reads a listing.
    pub fn from_term(term: &Term) -> Result<Listing, String> {
        let bad = || format!("not a listing(Capacity, Reserved, Vms): {term}");
        let args = compound(term, "listing", 3).ok_or_else(bad)?;
        let (Some(capacity), Some(reserved), Some(vms)) = (
            read_bundle(&args[0]),
            read_bundle(&args[1]),
            args[2].as_list(),
        ) else {
            return Err(bad());
        };
        let vms = vms
            .into_iter()
            .map(ListedVm::from_term)
            .collect::<Result<_, _>>()?;
        Ok(Listing {
            capacity,
            reserved,
            vms,
        })
    }
}

/// One trader's listing in the catalogue.
#[derive(Debug, Clone, PartialEq)]
pub struct Listed {
    /// The trader.
    pub trader: String,
    /// What it listed.
    pub listing: Listing,
}

/// The catalogue as a term.
pub fn catalogue_term(catalogue: &[Listed]) -> Term {
    Term::list(
        catalogue
            .iter()
            .map(|l| Term::apply("listed", vec![Term::atom(&l.trader), l.listing.to_term()]))
            .collect(),
    )
}

/// One `listed(Trader, Listing)`.
pub fn read_listed(term: &Term) -> Result<Listed, String> {
    let args = compound(term, "listed", 2)
        .ok_or_else(|| format!("not listed(Trader, Listing): {term}"))?;
    let trader = text(&args[0]).ok_or_else(|| format!("not a trader: {}", args[0]))?;
    Ok(Listed {
        trader,
        listing: Listing::from_term(&args[1])?,
    })
}

/// Reads a whole catalogue (what a trader is shown).
pub fn read_catalogue(term: &Term) -> Result<Vec<Listed>, String> {
    term.as_list()
        .ok_or_else(|| format!("the catalogue is not a list: {term}"))?
        .into_iter()
        .map(read_listed)
        .collect()
}

/// One order as a trader posts it: VMs by UUID, the limit in micro-credits
/// (what it pays at most; negative, what it must at least be paid).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Posted {
    /// The VM it gives.
    pub gives: Option<DomainUuid>,
    /// The VM it takes.
    pub takes: Option<DomainUuid>,
    /// Its limit.
    pub limit: Credits,
}

fn vm_or_none(uuid: Option<&DomainUuid>) -> Term {
    uuid.map_or_else(|| Term::atom("none"), |u| Term::string(u.as_str()))
}

fn read_vm_or_none(term: &Term) -> Result<Option<DomainUuid>, String> {
    match text(term) {
        Some(t) if t == "none" => Ok(None),
        Some(t) => DomainUuid::parse(&t)
            .map(Some)
            .map_err(|e| format!("{term}: {e}")),
        None => Err(format!("not a VM's UUID or none: {term}")),
    }
}

impl Posted {
    /// The order as a term.
    pub fn to_term(&self) -> Term {
        Term::apply(
            "order",
            vec![
                vm_or_none(self.gives.as_ref()),
                vm_or_none(self.takes.as_ref()),
                Term::Int(self.limit.0),
            ],
        )
    }

    /// Reads one order.
    pub fn from_term(term: &Term) -> Result<Posted, String> {
        let args = compound(term, "order", 3)
            .ok_or_else(|| format!("not an order(Gives, Takes, Limit): {term}"))?;
        Ok(Posted {
            gives: read_vm_or_none(&args[0])?,
            takes: read_vm_or_none(&args[1])?,
            limit: read_credits(&args[2]).ok_or_else(|| format!("not a limit: {}", args[2]))?,
        })
    }
}

/// One leg of a filled trade: one VM, the host it leaves, the host it goes
/// to, what the latter pays the former.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LegTerms {
    /// The leg's trade id.
    pub trade_id: String,
    /// The host the VM leaves.
    pub seller: String,
    /// The host it goes to.
    pub buyer: String,
    /// The VM's UUID.
    pub uuid: DomainUuid,
    /// Its name.
    pub name: String,
    /// What it reserves.
    pub reserved: Resources,
    /// What `to` pays `from`.
    pub price: Credits,
}

/// A filled trade: its id and its legs in the order they move.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Filled {
    /// The id every party records it under.
    pub clearing_id: String,
    /// The legs.
    pub legs: Vec<LegTerms>,
}

impl Filled {
    /// The trade as a term.
    pub fn to_term(&self) -> Term {
        let leg = |l: &LegTerms| {
            Term::apply(
                "leg",
                vec![
                    Term::string(&l.trade_id),
                    Term::atom(&l.seller),
                    Term::atom(&l.buyer),
                    Term::string(l.uuid.as_str()),
                    Term::string(&l.name),
                    bundle(&l.reserved),
                    Term::Int(l.price.0),
                ],
            )
        };
        Term::apply(
            "clearing",
            vec![
                Term::string(&self.clearing_id),
                Term::list(self.legs.iter().map(leg).collect()),
            ],
        )
    }

    /// Reads a filled trade.
    pub fn from_term(term: &Term) -> Result<Filled, String> {
        let bad = || format!("not a clearing(Id, Legs): {term}");
        let args = compound(term, "clearing", 2).ok_or_else(bad)?;
        let (Some(clearing_id), Some(legs)) = (text(&args[0]), args[1].as_list()) else {
            return Err(bad());
        };
        let leg = |t: &Term| -> Result<LegTerms, String> {
            let bad =
                || format!("not a leg(TradeId, Seller, Buyer, Uuid, Name, Reserved, Price): {t}");
            let a = compound(t, "leg", 7).ok_or_else(bad)?;
            let (Some(trade_id), Some(seller), Some(buyer), Some(uuid), Some(name)) = (
                text(&a[0]),
                text(&a[1]),
                text(&a[2]),
                text(&a[3]).and_then(|u| DomainUuid::parse(&u).ok()),
                text(&a[4]),
            ) else {
                return Err(bad());
            };
            let (Some(reserved), Some(price)) = (read_bundle(&a[5]), read_credits(&a[6])) else {
                return Err(bad());
            };
            Ok(LegTerms {
                trade_id,
                seller,
                buyer,
                uuid,
                name,
                reserved,
                price,
            })
        };
        let legs = legs.into_iter().map(leg).collect::<Result<Vec<_>, _>>()?;
        if legs.is_empty() {
            return Err(format!("a clearing without legs: {term}"));
        }
        Ok(Filled { clearing_id, legs })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use market::vm::GroupRule;

    fn uuid(n: u32) -> DomainUuid {
        DomainUuid::parse(&format!("00000000-0000-4000-8000-{n:012}")).unwrap()
    }

    #[test]
    fn listings_orders_and_trades_read_back_as_written() {
        let listing = Listing {
            capacity: Resources::new(8000, 8192, 1000),
            reserved: Resources::new(2000, 2048, 0),
            vms: vec![ListedVm {
                uuid: uuid(1),
                name: "web1".into(),
                group: Some(PlacementGroup::new("web", GroupRule::Apart).unwrap()),
                reserved: Resources::new(1000, 1024, 0),
                used: Resources::new(300, 1024, 0),
            }],
        };
        let listed = Listed {
            trader: "h1".into(),
            listing: listing.clone(),
        };
        assert_eq!(
            read_catalogue(&catalogue_term(std::slice::from_ref(&listed))),
            Ok(vec![listed])
        );
        let order = Posted {
            gives: Some(uuid(1)),
            takes: None,
            limit: Credits(-5),
        };
        assert_eq!(Posted::from_term(&order.to_term()), Ok(order));
        let filled = Filled {
            clearing_id: "r-1".into(),
            legs: vec![LegTerms {
                trade_id: "r-1.1".into(),
                seller: "h1".into(),
                buyer: "h2".into(),
                uuid: uuid(1),
                name: "web1".into(),
                reserved: Resources::new(1000, 1024, 0),
                price: Credits(-3),
            }],
        };
        assert_eq!(Filled::from_term(&filled.to_term()), Ok(filled));
    }

    #[test]
    fn what_does_not_read_is_an_error_naming_it() {
        let bad = Term::apply("order", vec![Term::string("not-a-uuid")]);
        assert!(Posted::from_term(&bad).unwrap_err().contains("order"));
        let bad = Term::apply(
            "order",
            vec![Term::string("nope"), Term::atom("none"), Term::Int(1)],
        );
        assert!(Posted::from_term(&bad).is_err());
        assert!(
            Filled::from_term(&Term::apply(
                "clearing",
                vec![Term::string("x"), Term::list(vec![])]
            ))
            .is_err()
        );
    }
}
