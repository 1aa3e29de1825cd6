//! `market`: the observer and tooling CLI of bourse.
fn main() {}
