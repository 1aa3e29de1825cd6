//! Running a whole interaction in one process: every peer a tokio task,
//! messages over a [`Hub`]. Used by tests, benchmarks and simulations.

use std::sync::Arc;

use super::{Clock, Completion, RoleFailure, RoleInstance};
use crate::ast::Span;
use crate::channel::{Hub, PeerId};
use crate::compile::Program;
use crate::component::Components;
use crate::term::{Symbol, Term};

/// A peer and the role it starts in.
struct Participant {
    id: PeerId,
    role: Term,
    components: Components,
}

/// The peers of one interaction of a model, ready to run.
pub struct Interaction {
    program: Arc<Program>,
    clock: Arc<dyn Clock>,
    participants: Vec<Participant>,
    silent: Vec<PeerId>,
}

/// How one peer's part ended.
#[derive(Debug, Clone)]
pub struct PeerOutcome {
    pub peer: PeerId,
    pub result: Result<Completion, RoleFailure>,
}

impl Interaction {
    pub fn new(program: Arc<Program>, clock: Arc<dyn Clock>) -> Self {
        Interaction {
            program,
            clock,
            participants: Vec::new(),
            silent: Vec::new(),
        }
    }

    /// Peer `id` starts in `role` with its own components.
    pub fn peer(mut self, id: &str, role: Term, components: Components) -> Self {
        self.participants.push(Participant {
            id: Symbol::new(id),
            role,
            components,
        });
        self
    }

    /// A peer that is addressable but never answers (a host that went quiet).
    pub fn silent_peer(mut self, id: &str) -> Self {
        self.silent.push(Symbol::new(id));
        self
    }

    /// Runs every peer to its end; outcomes in the order peers were added.
    pub async fn run(self) -> Vec<PeerOutcome> {
        let hub = Hub::new();
        // Everyone joins before anyone speaks, so no early message is lost.
        let _silent: Vec<_> = self.silent.iter().map(|id| hub.join(id.clone())).collect();
        let channels: Vec<_> = self
            .participants
            .iter()
            .map(|p| hub.join(p.id.clone()))
            .collect();
        let mut tasks = Vec::with_capacity(self.participants.len());
        for (participant, channel) in self.participants.into_iter().zip(channels) {
            let program = Arc::clone(&self.program);
            let clock = Arc::clone(&self.clock);
            let peer = participant.id.clone();
            let task = tokio::spawn(async move {
                let mut instance = RoleInstance::start(
                    program,
                    participant.role,
                    participant.id,
                    &participant.components,
                    clock,
                    channel,
                )?;
                instance.run().await
            });
            tasks.push((peer, task));
        }
        let mut outcomes = Vec::with_capacity(tasks.len());
        for (peer, task) in tasks {
            let result = task.await.unwrap_or_else(|e| {
                Err(RoleFailure {
                    peer: peer.to_string(),
                    role: String::new(),
                    reason: format!("the peer's task ended abnormally: {e}"),
                    span: Span::default(),
                })
            });
            outcomes.push(PeerOutcome { peer, result });
        }
        outcomes
    }
}
