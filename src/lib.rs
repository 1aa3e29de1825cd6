//! The root package's library: the engine behind `market simulate`
//! ([`simulate`]) and the trace replay behind `market replay` ([`replay`]). It lives here rather than in the `market` binary so the
//! integration tests in `tests/` run scenarios through the same code path as
//! the CLI. It sits above `bidder` (it runs agents), so no crate depends on
//! it but the binaries and the tests.

pub mod replay;
pub mod simulate;
