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
//! A host that has heard no round (it has just started) knows only itself,
//! so it is its turn: it recruits, and the players who join are the
//! roster. It holds the round only if the roster says it is its turn, and
//! otherwise lets the host whose turn it is hold it; so hosts that start
//! together, or one that restarts among others, agree at once.

/// The rotation as one host sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rotation {
    me: String,
    /// Every host of the last round heard, this one included, sorted.
    roster: Vec<String>,
    /// The number of the last round heard or held.
    last: Option<u64>,
}

impl Rotation {
    /// A host that has heard no round.
    pub fn new(me: &str) -> Rotation {
        Rotation {
            me: me.to_string(),
            roster: vec![me.to_string()],
            last: None,
        }
    }

    /// A round was heard (or held here): round `seq` among `roster`. A
    /// round older than the last one heard changes nothing.
    pub fn heard(&mut self, seq: u64, roster: impl IntoIterator<Item = String>) {
        if self.last.is_some_and(|last| seq < last) {
            return;
        }
        self.learn(roster);
        self.last = Some(seq);
    }

    /// The hosts of the zone are `roster` (the players a recruitment
    /// found), whether or not a round follows.
    pub fn learn(&mut self, roster: impl IntoIterator<Item = String>) {
        let mut roster: Vec<String> = roster.into_iter().collect();
        roster.push(self.me.clone());
        roster.sort();
        roster.dedup();
        self.roster = roster;
    }

    /// Whether this host holds the round of period `seq`: it is its turn
    /// among the hosts it knows of, and no round of that period (or a
    /// later one) was heard.
    pub fn due(&self, seq: u64) -> bool {
        if self.last.is_some_and(|last| seq <= last) {
            return false;
        }
        let n = self.roster.len() as u64;
        let turn = usize::try_from(seq % n).unwrap_or_default();
        self.roster[turn] == self.me
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
    fn a_host_that_heard_nothing_holds_the_first_round() {
        assert!(Rotation::new("a").due(7));
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
                .iter()
                .zip(&roster)
                .filter(|(h, _)| h.due(seq))
                .map(|(_, name)| name.as_str())
                .collect();
            assert_eq!(due.len(), 1, "period {seq}: {due:?}");
            holders.push(due[0].to_string());
            for h in &mut hosts {
                h.heard(seq, roster.clone());
            }
            assert!(hosts.iter().all(|h| !h.due(seq)), "held once");
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
    fn hosts_that_start_together_agree_once_they_have_recruited() {
        let roster = names(&["a", "b", "c"]);
        let mut hosts: Vec<Rotation> = roster.iter().map(|h| Rotation::new(h)).collect();
        assert!(hosts.iter().all(|h| h.due(4)), "each knows only itself");
        for h in &mut hosts {
            h.learn(roster.clone());
        }
        let due: Vec<bool> = hosts.iter().map(|h| h.due(4)).collect();
        assert_eq!(due, [false, true, false], "period 4 is b's");
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
