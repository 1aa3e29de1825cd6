//! Fixtures shared by the ledger tests: real ledger files in a temp dir.

#![allow(dead_code)] // each test file uses a different part
#![allow(clippy::unwrap_used)] // test fixtures: a failure here is a failed test

use std::path::{Path, PathBuf};

use market::credits::Credits;
use market::ledger::{Ledger, LedgerOptions, ProtocolRef, TradeId, TradeTerms, VmRef};
use market::resources::Resources;

/// Terms of a trade in which `from` sells VM `vm` to `to`, which pays
/// `price`.
pub fn terms(id: &str, from: &str, to: &str, vm: &str, price: i64) -> TradeTerms {
    TradeTerms {
        trade_id: TradeId::new(id).unwrap(),
        interaction_id: format!("interaction-{id}"),
        protocol: ProtocolRef {
            name: "contract-net".to_string(),
            hash: "b3:5e1f".to_string(),
        },
        seller: from.to_string(),
        buyer: to.to_string(),
        vms: vec![VmRef {
            uuid: format!("uuid-{vm}"),
            name: vm.to_string(),
        }],
        resources: Resources {
            cpu_millicores: 2000,
            memory_mib: 4096,
            network_mbps: 100,
        },
        price: Credits(price),
    }
}

/// The ledger file of `host` in `dir`.
pub fn ledger_path(dir: &Path, host: &str) -> PathBuf {
    dir.join(format!("{host}.ledger"))
}

/// Opens (creating) `host`'s ledger in `dir` with default options.
pub async fn open(dir: &Path, host: &str) -> Ledger {
    Ledger::open(ledger_path(dir, host), host, &LedgerOptions::default())
        .await
        .unwrap()
}

/// Records `terms` as agreed in both parties' ledgers and settles it.
pub async fn agree_and_settle(buyer: &Ledger, seller: &Ledger, terms: &TradeTerms) {
    buyer.record_agreed(terms).await.unwrap();
    seller.record_agreed(terms).await.unwrap();
    buyer.settle(&terms.trade_id).await.unwrap();
    seller.settle(&terms.trade_id).await.unwrap();
}

/// A plain SQLite connection to `path`, outside the ledger API.
pub async fn raw(path: &Path) -> sqlx::SqlitePool {
    sqlx::SqlitePool::connect(&format!("sqlite://{}", path.display()))
        .await
        .unwrap()
}
