//! The components a bidder provides to the models it plays, declared once.
//!
//! A protocol's components are registered from these signatures (so the
//! name and modes a model calls are the ones written here), and a model is
//! checked against them before the bidder plays it: a role that calls a
//! component not listed for it is refused with E0112, a role of its kind
//! that the model lacks with E0117. docs/lcc.md ("The bidder's
//! components") is this table for protocol authors.

use lcc::ast::Mode::{In, Out};

use super::Signature;

/// `offer(+Task, +AwardBy, -Price)`.
pub const OFFER: Signature = Signature {
    name: "offer",
    modes: &[In, In, Out],
    meaning: "what this host pays to take the task's VM (the change in its utility, in \
              micro-credits, from its policy; negative when it must be paid), holding the \
              capacity until AwardBy (ms); does not hold when its policy refuses the VM \
              (no room, anti-affinity) or when it would pay less than the task's reserve",
};

/// `perform(+Task, +Price)`.
pub const PERFORM: Signature = Signature {
    name: "perform",
    modes: &[In, In],
    meaning: "commits to take the task's VM at Price, re-valued against the host as it is \
              now; the capacity stays held until the VM runs here; does not hold when the \
              host can no longer take it or Price exceeds its value",
};

/// `release(+Task, +Why)`.
pub const RELEASE: Signature = Signature {
    name: "release",
    modes: &[In, In],
    meaning: "the offer no longer binds: frees the capacity it held",
};

/// `award(+Task, +Proposals, -Winner, -Price)`.
pub const AWARD: Signature = Signature {
    name: "award",
    modes: &[In, In, Out, Out],
    meaning: "the winner of Proposals (a list of bid(Peer, Price)) and what it pays, by the \
              protocol's award rule (first or second price) with the task's reserve, through \
              market::mechanism::contract_net::award; does not hold when no proposal reaches \
              the reserve",
};

/// `outcome(+Task, +Winner, +Price, +Report)`.
pub const OUTCOME: Signature = Signature {
    name: "outcome",
    modes: &[In, In, In, In],
    meaning: "ends the round: on Report = done, records the trade in both ledgers and \
              carries it out with the migration workflow; any other Report (failed(Why), \
              silent, no_proposals, no_award) is logged and nothing moves",
};

/// `give(+Room, +AwardBy, -Task)`.
pub const GIVE: Signature = Signature {
    name: "give",
    modes: &[In, In, Out],
    meaning: "the VM this host would give into Room (room(Bundle), the buyer's free \
              capacity) as a task whose Reserve is the least it accepts for it (its policy's \
              ask: negative when it pays to be rid of the VM); of the VMs that fit, the one it \
              asks least for; the VM is not offered elsewhere until the call ends; does not \
              hold when no VM fits or its policy gives none",
};

/// `hand_over(+Task, +Price, +Trade, +Buyer)`.
pub const HAND_OVER: Signature = Signature {
    name: "hand_over",
    modes: &[In, In, In, In],
    meaning: "sells the task's VM to Buyer at Price under trade id Trade: both ledgers \
              record the trade, then the migration workflow moves the VM; does not hold when \
              Price is below the reserve or the VM did not move",
};

/// `withdraw(+Task, +Why)`.
pub const WITHDRAW: Signature = Signature {
    name: "withdraw",
    modes: &[In, In],
    meaning: "the offer of the task's VM no longer binds: it may be offered again",
};

/// `choose(+Room, +Offers, -Winner, -Task, -Price)`.
pub const CHOOSE: Signature = Signature {
    name: "choose",
    modes: &[In, In, Out, Out, Out],
    meaning: "values every offered VM (Offers: offer(Peer, Task)) under this host's policy \
              and picks the one that leaves it the most surplus (its value less the seller's \
              reserve) through market::mechanism::contract_net::award with the protocol's \
              rule: first price pays the seller its reserve, second price pays what leaves the \
              buyer the runner-up's surplus (all of it, when there is none); holds the room \
              until the VM arrives; does not hold when no offer is worth its reserve",
};

/// `result(+Room, +Winner, +Price, +Report)`.
pub const RESULT: Signature = Signature {
    name: "result",
    modes: &[In, In, In, In],
    meaning: "ends the call: done (the seller reported the VM handed over), failed(Why), \
              silent, no_offers or no_award; frees the held room unless the VM is coming",
};

/// `quote(+Placement, +AwardBy, -Answer)`.
pub const QUOTE: Signature = Signature {
    name: "quote",
    modes: &[In, In, Out],
    meaning: "this host's answer to a placement(Trade, Task, Domain): offer(Price), what it \
              pays to run the new VM (its policy's value of taking it, as `offer` prices a \
              contract-net task), holding the room until AwardBy; refused(Why) when its policy \
              will not take it, it pays less than the reserve, or the domain XML does not \
              describe the task; present(Why) when a domain of that name or UUID is defined \
              here or room is held for one",
};

/// `start(+Placement, +Price, +Operator, -Report)`.
pub const START: Signature = Signature {
    name: "start",
    modes: &[In, In, In, Out],
    meaning: "takes the placed VM at Price (re-valued now): records the placement in this \
              host's ledger (bought from Operator), then defines and starts the domain; \
              Report is started, or failed(Why) with the record rolled back and nothing \
              left defined",
};

/// `pick(+Placement, +Answers, -Winner, -Price)`.
pub const PICK: Signature = Signature {
    name: "pick",
    modes: &[In, In, Out, Out],
    meaning: "the operator's award: of Answers (answer(Host, Answer)), the best offer by the \
              call's award rule with the task's reserve, through \
              market::mechanism::contract_net::award_bids; does not hold when no offer \
              reaches the reserve or any host answered present(_)",
};

/// `conclude(+Placement, +Answers, +Winner, +Price, +Report)`.
pub const CONCLUDE: Signature = Signature {
    name: "conclude",
    modes: &[In, In, In, In, In],
    meaning: "ends the operator's call: Report is the winner's started or failed(Why), \
              silent, or no_award (Winner none); what `market place` prints",
};

/// `leads(+Round)`.
pub const LEADS: Signature = Signature {
    name: "leads",
    modes: &[In],
    meaning: "the auctioneer's: holds when it holds the round it recruited for, always but \
              for a first round of hosts that started together, held by the first of them by \
              name (the others release their traders)",
};

/// `catalogue(+Round, +Listings, -Catalogue, -Listers)`.
pub const CATALOGUE: Signature = Signature {
    name: "catalogue",
    modes: &[In, In, Out, Out],
    meaning: "the auctioneer's: of Listings (listed(Trader, Listing)), those that read as \
              listings of VMs not listed twice, with its own listing added, as Catalogue; \
              Listers, the traders whose listing it kept; a listing it drops is logged and \
              counted",
};

/// `clear(+Round, +Orders, -Results, -Trades)`.
pub const CLEAR: Signature = Signature {
    name: "clear",
    modes: &[In, In, Out, Out],
    meaning: "the auctioneer's: clears Orders (posted(Trader, Orders)) with its own orders \
              through market::mechanism::double_auction::clear; Results, one \
              result(Trader, none | fill(Clearing, Until)) per trader that ordered; Trades, \
              trade(Id, Parties, Legs) with Legs leg(K, Source) in the order they can move; \
              records its own part of a trade first; orders it cannot read, orders the \
              mechanism rejects and trades with no feasible order of legs are logged and \
              counted",
};

/// `ready(+Round, +Id, +Parties, +Acks)`.
pub const READY: Signature = Signature {
    name: "ready",
    modes: &[In, In, In, In],
    meaning: "the auctioneer's: holds when every party of trade Id is in Acks (said it \
              recorded every leg)",
};

/// `leg_ended(+Round, +Id, +K, +Report)`.
pub const LEG_ENDED: Signature = Signature {
    name: "leg_ended",
    modes: &[In, In, In, In],
    meaning: "the auctioneer's: leg K of trade Id ended done, failed(Why) or silent",
};

/// `concluded(+Round, +Id, +Report)`.
pub const CONCLUDED: Signature = Signature {
    name: "concluded",
    modes: &[In, In, In],
    meaning: "the auctioneer's: trade Id ended done or called_off(Why); its own legs that \
              did not move are rolled back in both ledgers",
};

/// `list_for(+Round, +Seq, +ListBy, +Roster, -Listing)`.
pub const LIST_FOR: Signature = Signature {
    name: "list_for",
    modes: &[In, In, In, In, Out],
    meaning: "a trader's: notes Seq and Roster (whose turn the next round is), then lists \
              its room and the VMs it would give, those its policy asks least for, which are \
              not offered elsewhere until the round ends; in another round, it waits for that \
              one to end for half the time left to ListBy, and does not hold if it has not",
};

/// `orders_for(+Round, +Catalogue, -Orders)`.
pub const ORDERS_FOR: Signature = Signature {
    name: "orders_for",
    modes: &[In, In, Out],
    meaning: "a trader's: its orders at its true valuation (market::valuation::Valuer::orders) \
              for the VMs on offer: an ask for each VM it listed, bids and packages for the \
              others' VMs, the best of each kind kept; does not hold when it has none",
};

/// `record(+Round, +Trade)`.
pub const RECORD: Signature = Signature {
    name: "record",
    modes: &[In, In],
    meaning: "a trader's: checks its part of Trade against its orders and its host now (the \
              hosts are the round's, it gives VMs it listed, what it pays is within what the \
              package is worth to it now) and records every leg in its ledger in one \
              transaction; holds the room for a VM it takes; does not hold otherwise",
};

/// `carry(+Round, +Id, +K, -Report)`.
pub const CARRY: Signature = Signature {
    name: "carry",
    modes: &[In, In, In, Out],
    meaning: "the source of leg K of trade Id: carries the leg out with the migration \
              workflow from the terms in its own ledger; Report is done or failed(Why)",
};

/// `called_off(+Round, +Id, +Why)`.
pub const CALLED_OFF: Signature = Signature {
    name: "called_off",
    modes: &[In, In, In],
    meaning: "a trader's: the legs of its trade that did not move are rolled back in both \
              ledgers (it does so for the legs it is the source of) and the room held for \
              them is freed; Id is the trade's, or any",
};

/// `leave(+Round, +Why)`.
pub const LEAVE: Signature = Signature {
    name: "leave",
    modes: &[In, In],
    meaning: "a trader's: the round is over for it; what it listed may be offered again",
};

#[cfg(test)]
mod tests {
    use lcc::diagnostic::Code;

    use crate::protocol::{CONTRACT_NET, SHIPPED};

    #[test]
    fn every_kind_s_shipped_model_needs_nothing_the_bidder_lacks() {
        for kind in SHIPPED {
            let model = lcc::syntax::parse(kind.shipped_model().source).unwrap();
            assert!(kind.missing(&model).is_empty(), "{}", kind.name());
        }
    }

    #[test]
    fn a_component_the_bidder_lacks_is_e0112_and_a_missing_role_e0117() {
        let source = "r(manager, initial)\nr(contractor, necessary)\n\
                      component guess(+Task, -Price)\n\
                      a(manager(T, Cs, W, G), M) :: cfp(T) => a(contractor, C)\n\
                      a(contractor, C) :: cfp(T) <= a(manager, M) then null <- guess(T, P)\n";
        let model = lcc::syntax::parse(source).unwrap();
        let found = CONTRACT_NET.missing(&model);
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].code, Code::MissingComponent);
        let rendered = found[0].render("sealed.lcc", source);
        assert!(rendered.contains("sealed.lcc:5:"), "{rendered}");

        let source = "r(manager, initial)\nr(contractor, necessary)\n\
                      a(manager(T), M) :: cfp(T) => a(contractor, C)\n\
                      a(contractor, C) :: cfp(T) <= a(manager, M)\n";
        let found = CONTRACT_NET.missing(&lcc::syntax::parse(source).unwrap());
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].code, Code::MissingRole);
    }
}
