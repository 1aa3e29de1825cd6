//! A host's status, as its agent sees the host.

use market::events::HostStatus;

use crate::agent::{Agent, AgentError};

/// The status of `agent`'s host now, for a host trading every `period_ms`
/// in `publisher`'s zone. Reads the host once (domains and load) and asks
/// the policy, as a sample does.
pub async fn status(
    agent: &Agent,
    publisher: &super::Publisher,
    period_ms: u64,
) -> Result<HostStatus, AgentError> {
    let host = agent.view().await?;
    let policy = agent.policy();
    let resource_error = |source| AgentError::Resources {
        host: agent.name().to_string(),
        source,
    };
    let metrics = host.metrics().map_err(resource_error)?;
    let state = policy
        .state(&host, &metrics, None, None)
        .map_err(resource_error)?;
    Ok(HostStatus {
        host: publisher.host().clone(),
        zone: publisher.space().zone().clone(),
        class: policy.classify(&state),
        holding: agent.is_holding(),
        load_one: host.load_one,
        reserved: metrics.reserved,
        used: metrics.used,
        capacity: host.capacity,
        vm_count: u32::try_from(metrics.vm_count).unwrap_or(u32::MAX),
        utility: policy.utility(&state),
        protocols: agent.protocols().iter().map(|p| p.name().clone()).collect(),
        version: env!("CARGO_PKG_VERSION").to_owned(),
        period_ms,
        at_ms: publisher.now_ms(),
    })
}
