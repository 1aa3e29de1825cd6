//! The daemon's Prometheus endpoint (`metrics_listen`): installs the
//! recorder and describes every metric the bidder exports, so `/metrics`
//! carries a `# HELP` line for each and dashboards (deploy/grafana/) can
//! rely on their names. The metrics themselves are counted where things
//! happen, across the crates.

use std::net::SocketAddr;

use metrics::{Unit, describe_counter, describe_gauge, describe_histogram};

use super::DaemonError;

/// Installs the Prometheus recorder with its HTTP listener: every metric
/// the libraries emit is served at `http://<address>/metrics`.
pub(super) fn serve(address: SocketAddr) -> Result<(), DaemonError> {
    metrics_exporter_prometheus::PrometheusBuilder::new()
        .with_http_listener(address)
        .install()
        .map_err(|e| DaemonError::Metrics {
            address,
            reason: e.to_string(),
        })?;
    describe();
    // A gauge shows from the start; counters and histograms appear with
    // their first event.
    metrics::gauge!("bourse_holds").set(0.0);
    Ok(())
}

/// Every metric a bidder exports, with what it counts.
fn describe() {
    describe_counter!(
        "bourse_initiatives_total",
        "Trading periods by what the host did as initiator (outcome: settled, failed, rolled_back, no_trade, nothing_to_do, holding, nothing_to_offer, no_peers, error)"
    );
    describe_counter!(
        "bourse_recovered_trades_total",
        "Unfinished trades crash recovery ended, by outcome"
    );
    describe_counter!(
        "bourse_placements_total",
        "Placements of new VMs this host won and started or failed, by outcome"
    );
    describe_counter!(
        "bourse_call_market_refused_total",
        "Call-market orders and results this host refused, by what was wrong"
    );
    describe_counter!(
        "bourse_interactions_total",
        "LCC interactions this host took part in, by model, role and outcome"
    );
    describe_counter!(
        "bourse_peer_requests_total",
        "Migration requests from peers this host answered, by request and outcome"
    );
    describe_counter!(
        "migration_steps_total",
        "Steps of the migration workflow completed, by step"
    );
    describe_histogram!(
        "migration_step_seconds",
        Unit::Seconds,
        "Time each step of the migration workflow took, by step"
    );
    describe_counter!(
        "ledger_transitions_total",
        "Committed changes of the ledger, by kind"
    );
    describe_histogram!(
        "bourse_trade_price_credits",
        "Prices of the trades this host agreed to, in credits, by trade kind and its side"
    );
    describe_gauge!(
        "bourse_holds",
        "Capacity held for open offers and awarded VMs not yet arrived, in VMs"
    );
    describe_counter!(
        "bourse_messages_dropped_total",
        "Messages dropped unread (malformed, misaddressed, replayed, too large), by reason and subject kind"
    );
    describe_counter!(
        "bourse_events_published_total",
        "Events published for observers, by kind"
    );
    describe_counter!(
        "bourse_events_dropped_total",
        "Events for observers dropped while the bus was slow, by reason"
    );
    describe_counter!(
        "bourse_bus_events_total",
        "Connection events of the NATS client (connected, disconnected, ...)"
    );
    describe_counter!("lcc_messages_sent_total", "Messages LCC interactions sent");
    describe_counter!(
        "lcc_messages_received_total",
        "Messages LCC interactions received"
    );
    describe_counter!(
        "lcc_deadlines_passed_total",
        "Deadlines LCC interactions reached without the awaited message"
    );
    describe_counter!("lcc_steps_total", "Steps of the LCC interpreter");
}
