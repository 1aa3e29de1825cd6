//! [`Endpoint`]: what a host needs to take part in interactions over the bus.

use std::sync::Arc;

use lcc::interp::Clock;

use crate::bus::Bus;
use crate::bus::subject::{HostName, SubjectSpace};
use crate::wire::WireLimits;

/// This host on the bus: its endpoint, its zone, its name, the clock its
/// role instances read (hosts of a zone agree on wall-clock milliseconds
/// for `until` deadlines), and the envelope size limit.
#[derive(Clone)]
pub struct Endpoint {
    pub bus: Arc<dyn Bus>,
    pub space: SubjectSpace,
    pub me: HostName,
    pub clock: Arc<dyn Clock>,
    pub limits: WireLimits,
}
