//! Which candidate trades clear: a set of candidates no two of which share
//! a host, with the largest total surplus we can find.
//!
//! This is weighted set packing (each candidate is a set of at most three
//! hosts), NP-hard in general. Two methods, chosen by size:
//!
//! - **exact** (at most [`ClearingRules::exact_up_to`] candidates): branch
//!   and bound over the candidates sorted by surplus; returns an optimum
//!   over the candidate family;
//! - **greedy plus local improvement** (larger rounds): take candidates by
//!   decreasing surplus when their hosts are free; then, for each candidate
//!   left out, if its surplus beats the total of the (at most three) chosen
//!   candidates it conflicts with, swap it in and refill the hosts that
//!   freed up. Greedy alone is within a factor 1/3 of the optimum over the
//!   candidates (1/k for sets of at most k hosts; 1/2 when every candidate
//!   is a pair). Local improvement then tries, for each candidate left out,
//!   to swap it in for the (at most three) chosen ones it conflicts with,
//!   and for each chosen one, to replace it by the best set of left-out
//!   candidates that can use its hosts. Each accepted change strictly
//!   raises the total, so the result is never worse than greedy, and the
//!   number of passes is bounded.
//!
//! Ties are broken by the candidates' order ids, so the result depends on
//! the orders only, never on hashing or input order.

use std::cmp::Ordering;

use super::ClearingRules;
use super::book::Book;
use super::package::Candidate;

const FREE: u32 = u32::MAX;

/// The chosen candidates (positions in `candidates`, ascending) and whether
/// the choice is proved optimal.
pub fn select(
    book: &Book<'_>,
    candidates: &[Candidate],
    rules: &ClearingRules,
) -> (Vec<usize>, bool) {
    let mut order: Vec<usize> = (0..candidates.len()).collect();
    order.sort_unstable_by(|&a, &b| rank(&candidates[a], &candidates[b]));
    let (mut chosen, exact) = if candidates.len() <= rules.exact_up_to {
        (branch_and_bound(book, candidates, &order), true)
    } else {
        (
            greedy_then_improve(book, candidates, &order, rules.improvement_passes),
            false,
        )
    };
    chosen.sort_unstable();
    (chosen, exact)
}

/// Higher surplus first; then smaller order ids first (positions in the
/// book are in id order, and no two candidates have the same orders).
fn rank(a: &Candidate, b: &Candidate) -> Ordering {
    b.surplus
        .cmp(&a.surplus)
        .then_with(|| a.orders().cmp(b.orders()))
}

/// Who holds each host: [`FREE`] or the position of a chosen candidate.
struct Holders {
    by_host: Vec<u32>,
}

impl Holders {
    fn new(book: &Book<'_>) -> Self {
        Holders {
            by_host: vec![FREE; book.host_count()],
        }
    }

    fn all_free(&self, book: &Book<'_>, c: &Candidate) -> bool {
        c.orders()
            .iter()
            .all(|&o| self.by_host[book.host(o) as usize] == FREE)
    }

    fn set(&mut self, book: &Book<'_>, c: &Candidate, holder: u32) {
        for &o in c.orders() {
            self.by_host[book.host(o) as usize] = holder;
        }
    }

    /// The distinct chosen candidates holding any host of `c`.
    fn conflicts(&self, book: &Book<'_>, c: &Candidate) -> Vec<u32> {
        let mut out: Vec<u32> = c
            .orders()
            .iter()
            .map(|&o| self.by_host[book.host(o) as usize])
            .filter(|&h| h != FREE)
            .collect();
        out.sort_unstable();
        out.dedup();
        out
    }
}

fn greedy_then_improve(
    book: &Book<'_>,
    candidates: &[Candidate],
    order: &[usize],
    passes: usize,
) -> Vec<usize> {
    let mut state = Greedy {
        book,
        candidates,
        order,
        holders: Holders::new(book),
        chosen: vec![false; candidates.len()],
        touching: Vec::new(),
        rank_of: Vec::new(),
    };
    state.fill();
    if passes > 0 {
        state.index();
    }
    for _ in 0..passes {
        let one_for_many = state.swap_in_better_singles();
        let many_for_one = state.replace_singles_by_several();
        if !(one_for_many || many_for_one) {
            break;
        }
        state.fill();
    }
    (0..candidates.len()).filter(|&c| state.chosen[c]).collect()
}

/// The greedy selection and its local improvements.
struct Greedy<'a, 'r> {
    book: &'a Book<'r>,
    candidates: &'a [Candidate],
    /// Candidate positions, best first.
    order: &'a [usize],
    holders: Holders,
    chosen: Vec<bool>,
    /// For each host, the candidates that involve it (built for improvement).
    touching: Vec<Vec<u32>>,
    /// For each candidate, its place in `order`.
    rank_of: Vec<u32>,
}

impl Greedy<'_, '_> {
    /// Adds, best first, every candidate whose hosts are all free.
    fn fill(&mut self) {
        for &c in self.order {
            if !self.chosen[c] && self.holders.all_free(self.book, &self.candidates[c]) {
                self.choose(c);
            }
        }
    }

    fn choose(&mut self, c: usize) {
        self.chosen[c] = true;
        self.holders.set(self.book, &self.candidates[c], c as u32);
    }

    fn drop(&mut self, c: usize) {
        self.chosen[c] = false;
        self.holders.set(self.book, &self.candidates[c], FREE);
    }

    fn index(&mut self) {
        self.touching = vec![Vec::new(); self.book.host_count()];
        self.rank_of = vec![0; self.candidates.len()];
        for (rank, &c) in self.order.iter().enumerate() {
            self.rank_of[c] = rank as u32;
            for &o in self.candidates[c].orders() {
                self.touching[self.book.host(o) as usize].push(c as u32);
            }
        }
    }

    /// A candidate left out replaces the chosen ones it conflicts with when
    /// it alone is worth more than all of them.
    fn swap_in_better_singles(&mut self) -> bool {
        let mut improved = false;
        for &c in self.order {
            if self.chosen[c] {
                continue;
            }
            let conflicts = self.holders.conflicts(self.book, &self.candidates[c]);
            let lost: i64 = conflicts
                .iter()
                .map(|&k| self.candidates[k as usize].surplus)
                .sum();
            if self.candidates[c].surplus > lost {
                for &k in &conflicts {
                    self.drop(k as usize);
                }
                self.choose(c);
                improved = true;
            }
        }
        improved
    }

    /// A chosen candidate is dropped when the candidates that can use its
    /// hosts instead (chosen greedily, best first) are worth more together.
    fn replace_singles_by_several(&mut self) -> bool {
        let mut improved = false;
        for &k in self.order {
            if !self.chosen[k] {
                continue;
            }
            let mut near: Vec<u32> = self.candidates[k]
                .orders()
                .iter()
                .flat_map(|&o| self.touching[self.book.host(o) as usize].iter().copied())
                .filter(|&c| c as usize != k && !self.chosen[c as usize])
                .collect();
            near.sort_unstable_by_key(|&c| self.rank_of[c as usize]);
            near.dedup();
            self.drop(k);
            let mut added = Vec::new();
            let mut gained = 0i64;
            for &c in &near {
                if self
                    .holders
                    .all_free(self.book, &self.candidates[c as usize])
                {
                    self.choose(c as usize);
                    added.push(c);
                    gained += self.candidates[c as usize].surplus;
                }
            }
            if gained > self.candidates[k].surplus {
                improved = true;
            } else {
                for &c in &added {
                    self.drop(c as usize);
                }
                self.choose(k);
            }
        }
        improved
    }
}

fn branch_and_bound(book: &Book<'_>, candidates: &[Candidate], order: &[usize]) -> Vec<usize> {
    // suffix[i]: the most the candidates from order[i] on could still add.
    let mut suffix = vec![0i64; order.len() + 1];
    for i in (0..order.len()).rev() {
        suffix[i] = suffix[i + 1] + candidates[order[i]].surplus;
    }
    let mut search = Search {
        book,
        candidates,
        order,
        suffix,
        holders: Holders::new(book),
        current: Vec::new(),
        best: Vec::new(),
        best_surplus: 0,
    };
    search.run(0, 0);
    search.best
}

struct Search<'a, 'r> {
    book: &'a Book<'r>,
    candidates: &'a [Candidate],
    order: &'a [usize],
    suffix: Vec<i64>,
    holders: Holders,
    current: Vec<usize>,
    best: Vec<usize>,
    best_surplus: i64,
}

impl Search<'_, '_> {
    /// Tries including, then excluding, `order[i]`; keeps the first strictly
    /// better set found, so ties go to the greedy-ranked choice.
    fn run(&mut self, i: usize, surplus: i64) {
        if surplus > self.best_surplus {
            self.best_surplus = surplus;
            self.best = self.current.clone();
        }
        if i == self.order.len() || surplus + self.suffix[i] <= self.best_surplus {
            return;
        }
        let c = self.order[i];
        let candidate = self.candidates[c];
        if self.holders.all_free(self.book, &candidate) {
            self.holders.set(self.book, &candidate, c as u32);
            self.current.push(c);
            self.run(i + 1, surplus + candidate.surplus);
            self.current.pop();
            self.holders.set(self.book, &candidate, FREE);
        }
        self.run(i + 1, surplus);
    }
}
