//! `bidder`: the per-host daemon of bourse.
fn main() {}
