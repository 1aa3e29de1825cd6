//! Fixtures shared by the ledger tests: real ledger files in a temp dir.

#![allow(dead_code)] // each test file uses a different part
#![allow(clippy::unwrap_used)] // test fixtures: a failure here is a failed test

use std::path::{Path, PathBuf};

use market::credits::Credits;
use market::ledger::{
    Ledger, LedgerError, LedgerOptions, ProtocolRef, TradeId, TradeState, TradeTerms, VmRef,
};
use market::resources::Resources;

/// Terms of a trade in which `from` sells VM `vm` to `to`, which pays
/// `price`.
pub fn terms(id: &str, from: &str, to: &str, vm: &str, price: i64) -> TradeTerms {
    TradeTerms {
        trade_id: TradeId::new(id).unwrap(),
        kind: market::ledger::TradeKind::Migration,
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

/// The step of a trade that found the ledger full.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    Record,
    Settle,
}

/// Where filling a ledger stopped: the trade whose step failed, how, and
/// how many trades settled before it.
pub struct Filled {
    pub trade: TradeTerms,
    pub error: LedgerError,
    pub step: Step,
    pub settled: i64,
}

/// Records and settles trades of 3 credits from `host-a` to `host-b`, each
/// with a VM name of about 1 KB so the file grows fast, until a step fails
/// or `at_most` trades went through (`None`: nothing failed). The full-disk
/// tests, on SQLite's page quota and on a real small file system, fill the
/// ledger the same way.
pub async fn fill(ledger: &Ledger, at_most: usize) -> Option<Filled> {
    for i in 0..at_most {
        let mut trade = terms(&format!("f{i}"), "host-a", "host-b", &format!("vm{i}"), 3);
        trade.vms[0].name = format!("{i}-{}", "x".repeat(900));
        let (step, result) = match ledger.record_agreed(&trade).await {
            Ok(_) => (
                Step::Settle,
                ledger.settle(&trade.trade_id).await.map(|_| ()),
            ),
            Err(e) => (Step::Record, Err(e)),
        };
        if let Err(error) = result {
            return Some(Filled {
                trade,
                error,
                step,
                // Every trade before this one settled.
                settled: i64::try_from(i).unwrap(),
            });
        }
    }
    None
}

impl Filled {
    /// Nothing of the failed step is in `ledger`, and its credits and
    /// settled trades are exactly those of the trades that settled before.
    pub async fn assert_left_no_trace(&self, ledger: &Ledger) {
        let id = &self.trade.trade_id;
        let events = ledger.events(Some(id)).await.unwrap();
        match self.step {
            Step::Record => {
                assert!(ledger.trade(id).await.unwrap().is_none());
                assert!(events.is_empty());
            }
            Step::Settle => {
                let record = ledger.trade(id).await.unwrap().unwrap();
                assert_eq!(record.state, TradeState::Agreed);
                assert_eq!(events.len(), 1);
            }
        }
        assert_eq!(ledger.balance("host-a").await.unwrap().0, 3 * self.settled);
        assert_eq!(
            ledger
                .trades(Some(TradeState::Settled))
                .await
                .unwrap()
                .len(),
            usize::try_from(self.settled).unwrap()
        );
    }
}
