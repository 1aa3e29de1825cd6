//! Whose turn it is to hold a zone's call-market round.
//!
//! There is no fixed auctioneer. Rounds are numbered by trading period
//! (`Seq`: the host's clock at its last sample, divided by its period, so
//! the hosts of a zone, which share a period, count alike), and every
//! round carries its number and its roster (every host that joined it).
//! Every host that hears a round keeps the roster; the round of period
//! `Seq` is held by the roster's host at `Seq mod n` (sorted by name).
//!
//! So turns go round the hosts, and an auctioneer that dies mid-round is
//! not the next one: the next period's host holds the next round, and the
//! dead host, which joins no recruitment, drops out of the roster that
//! round carries. A period whose host is gone passes without a round.
//!
//! A host that has heard no round (it has just started) listens for one
//! whole period first: in a zone already trading it hears the next round
//! and learns the roster from it. When it hears none, it recruits for the
//! next round itself; hosts that start together all do so in the same
//! period, and each recruits every other, so each knows the same roster
//! then: only the first of them by name holds it
//! ([`Rotation::first_round`]), and the others join its round.

/// The rotation as one host sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rotation {
    me: String,
    /// Every host of the last round heard, this one included, sorted.
    roster: Vec<String>,
    /// The number of the last round heard or held.
    last: Option<u64>,
    /// The first period it was asked about, while it has heard no round.
    since: Option<u64>,
}

impl Rotation {
    /// A host that has heard no round.
    pub fn new(me: &str) -> Rotation {
        Rotation {
            me: me.to_string(),
            roster: vec![me.to_string()],
            last: None,
            since: None,
        }
    }

    /// A round was heard (or held here): round `seq` among `roster`. A
    /// round older than the last one heard changes nothing.
    pub fn heard(&mut self, seq: u64, roster: impl IntoIterator<Item = String>) {
        if self.last.is_some_and(|last| seq < last) {
            return;
        }
        let mut roster: Vec<String> = roster.into_iter().collect();
        roster.push(self.me.clone());
        roster.sort();
        roster.dedup();
        self.roster = roster;
        self.last = Some(seq);
    }

    /// Whether this host holds the round of period `seq`: it is its turn
    /// among the hosts of the last round heard, and no round of that
    /// period (or a later one) was heard; or it has heard none for a whole
    /// period since it started.
    pub fn due(&mut self, seq: u64) -> bool {
        match self.last {
            Some(last) if seq <= last => false,
            Some(_) => {
                let n = self.roster.len() as u64;
                let turn = usize::try_from(seq % n).unwrap_or_default();
                self.roster[turn] == self.me
            }
            None => seq > *self.since.get_or_insert(seq),
        }
    }

    /// For a host that had heard no round when it became due, once it has
    /// recruited `players` for its first: hosts that start together all
    /// become due in the same period and each recruits every other, so
    /// they agree on one round, held by the first of them by name (a host
    /// that recruited only some of the others, its deadline passing
    /// first, still agrees unless it missed that one). Learns the roster;
    /// whether this host holds the round.
    pub fn first_round(&mut self, seq: u64, players: impl IntoIterator<Item = String>) -> bool {
        if self.last.is_some_and(|last| seq < last) {
            return false; // a later round was heard meanwhile
        }
        self.heard(seq, players);
        self.roster.first() == Some(&self.me)
    }

    /// Whether it has heard no round yet and waits a period before holding
    /// one.
    pub fn listening(&self) -> bool {
        self.last.is_none() && self.since.is_some()
    }

    /// The hosts this one knows of (the last roster heard).
    pub fn roster(&self) -> &[String] {
        &self.roster
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(hosts: &[&str]) -> Vec<String> {
        hosts.iter().map(|h| h.to_string()).collect()
    }

    #[test]
    fn a_host_that_heard_nothing_listens_a_period_then_holds() {
        let mut a = Rotation::new("a");
        assert!(!a.due(7));
        assert!(!a.due(7));
        assert!(a.due(8));
        let mut b = Rotation::new("b");
        assert!(!b.due(7));
        b.heard(7, names(&["a", "b"]));
        assert!(!b.due(8), "period 8 is a's");
        assert!(b.due(9));
    }

    #[test]
    fn turns_go_round_the_roster_one_round_a_period() {
        let roster = names(&["a", "b", "c"]);
        let mut hosts: Vec<Rotation> = roster.iter().map(|h| Rotation::new(h)).collect();
        for h in &mut hosts {
            h.heard(0, roster.clone());
        }
        let mut holders = Vec::new();
        for seq in 1..=6 {
            let due: Vec<&str> = hosts
                .iter_mut()
                .zip(&roster)
                .filter_map(|(h, name)| h.due(seq).then_some(name.as_str()))
                .collect();
            assert_eq!(due.len(), 1, "period {seq}: {due:?}");
            holders.push(due[0].to_string());
            for h in &mut hosts {
                h.heard(seq, roster.clone());
            }
            assert!(hosts.iter_mut().all(|h| !h.due(seq)), "held once");
        }
        assert_eq!(holders, names(&["b", "c", "a", "b", "c", "a"]));
    }

    #[test]
    fn a_dead_auctioneer_is_not_the_next_and_drops_out_of_the_roster() {
        let mut a = Rotation::new("a");
        let mut c = Rotation::new("c");
        for h in [&mut a, &mut c] {
            h.heard(3, names(&["a", "b", "c"]));
        }
        // Period 4 is b's: b dies and nobody holds it. Period 5 is c's.
        assert!(!a.due(4) && !c.due(4));
        assert!(c.due(5) && !a.due(5));
        // c's round recruits only the living.
        for h in [&mut a, &mut c] {
            h.heard(5, names(&["a", "c"]));
        }
        assert_eq!(a.roster(), names(&["a", "c"]));
        assert!(a.due(6) && !c.due(6));
    }

    #[test]
    fn hosts_that_start_together_hold_one_first_round() {
        let roster = names(&["a", "b", "c"]);
        let mut hosts: Vec<Rotation> = roster.iter().map(|h| Rotation::new(h)).collect();
        for h in &mut hosts {
            assert!(!h.due(7));
        }
        let mut holders = Vec::new();
        for (h, me) in hosts.iter_mut().zip(&roster) {
            assert!(h.due(8), "{me} has listened a period");
            let others = roster.iter().filter(|r| *r != me).cloned();
            if h.first_round(8, others) {
                holders.push(me.as_str());
            }
        }
        assert_eq!(holders, ["a"], "the first by name");
        assert!(hosts.iter_mut().all(|h| !h.due(8)));
        let next: Vec<bool> = hosts.iter_mut().map(|h| h.due(9)).collect();
        assert_eq!(
            next,
            [true, false, false],
            "then the rotation goes on: 9 mod 3"
        );
    }

    #[test]
    fn a_first_round_is_not_held_after_a_later_one_was_heard() {
        let mut a = Rotation::new("a");
        assert!(!a.due(3) && a.due(4));
        a.heard(5, names(&["a", "b"]));
        assert!(!a.first_round(4, names(&["b"])));
        assert_eq!(a.roster(), names(&["a", "b"]));
    }

    #[test]
    fn a_straggler_does_not_turn_the_rotation_back() {
        let mut a = Rotation::new("a");
        a.heard(5, names(&["a", "b"]));
        a.heard(2, names(&["a", "b", "c"]));
        assert_eq!(a.roster(), names(&["a", "b"]));
        assert!(!a.due(5));
    }
}
