//! Endpoints of one bus for tests that run against both buses: the
//! in-process `MemoryBus`, and `NatsBus` connections to a real nats-server
//! on a free loopback port (killed by pid when the cluster is dropped).
#![allow(dead_code)] // each test file uses a different subset
#![allow(clippy::unwrap_used)] // fixtures: a failure here is the test failing

use std::sync::Arc;

use market::bus::{Bus, LocalNatsServer, MemoryBus, NatsBus, NatsConfig};

/// Something that hands out endpoints of one bus.
pub trait Cluster {
    async fn endpoint(&self) -> Arc<dyn Bus>;
}

pub struct MemoryCluster(pub MemoryBus);

impl MemoryCluster {
    pub fn new() -> Self {
        Self(MemoryBus::new())
    }
}

impl Cluster for MemoryCluster {
    async fn endpoint(&self) -> Arc<dyn Bus> {
        Arc::new(self.0.clone())
    }
}

pub struct NatsCluster(pub LocalNatsServer);

impl NatsCluster {
    pub fn start() -> Self {
        Self(LocalNatsServer::start().unwrap())
    }
}

impl Cluster for NatsCluster {
    async fn endpoint(&self) -> Arc<dyn Bus> {
        let config = NatsConfig::new([self.0.url()], "test");
        Arc::new(NatsBus::connect(&config).await.unwrap())
    }
}
