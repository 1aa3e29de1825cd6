//! Property: any sequence of lifecycle calls (including replays, illegal
//! steps and wrong attempt numbers) on a real ledger behaves like the
//! lifecycle model: the state follows `TradeState::step`, a call writes an
//! event exactly when it returns `Applied`, and credits move exactly once,
//! when the trade settles.

// Fixtures outside #[test] functions unwrap too: a failure there is a failed test.
#![allow(clippy::unwrap_used)]

mod ledger_support;

use ledger_support::{ledger_path, terms};
use market::credits::Credits;
use market::ledger::trade::{Action, Step};
use market::ledger::{
    AttemptOutcome, Durability, Ledger, LedgerOptions, MigrationMethod, TradeState, Transition,
};
use proptest::prelude::*;

#[derive(Debug, Clone)]
enum Call {
    RecordAgain,
    Start(u32, MigrationMethod),
    End(u32, AttemptOutcome),
    Settle,
    Fail,
    RollBack,
}

fn call() -> impl Strategy<Value = Call> {
    let method = prop_oneof![Just(MigrationMethod::Live), Just(MigrationMethod::Handoff)];
    let outcome = prop_oneof![
        Just(AttemptOutcome::Succeeded),
        Just(AttemptOutcome::Failed),
        Just(AttemptOutcome::Interrupted)
    ];
    prop_oneof![
        Just(Call::RecordAgain),
        (1u32..4, method).prop_map(|(n, m)| Call::Start(n, m)),
        (1u32..4, outcome).prop_map(|(n, o)| Call::End(n, o)),
        Just(Call::Settle),
        Just(Call::Fail),
        Just(Call::RollBack),
    ]
}

/// The model: state plus the attempts (method, outcome) recorded so far.
struct Model {
    state: TradeState,
    attempts: Vec<(MigrationMethod, Option<AttemptOutcome>)>,
}

/// What the model expects from a call: `Some(applied?)`, or `None` for an error.
impl Model {
    fn apply(&mut self, call: &Call) -> Option<bool> {
        match *call {
            Call::RecordAgain => Some(false),
            Call::Start(n, method) => {
                let index = usize::try_from(n).unwrap() - 1;
                if let Some((recorded, _)) = self.attempts.get(index) {
                    return (*recorded == method).then_some(false);
                }
                let Ok(Step::To(next)) = self.state.step(Action::StartMigration) else {
                    return None;
                };
                let previous_open = self.attempts.last().is_some_and(|(_, o)| o.is_none());
                if previous_open || index != self.attempts.len() {
                    return None;
                }
                self.attempts.push((method, None));
                self.state = next;
                Some(true)
            }
            Call::End(n, outcome) => {
                let index = usize::try_from(n).unwrap() - 1;
                match self.attempts.get_mut(index) {
                    None => None,
                    Some((_, Some(done))) => (*done == outcome).then_some(false),
                    Some((_, open @ None)) => {
                        *open = Some(outcome);
                        Some(true)
                    }
                }
            }
            Call::Settle => self.finish(Action::Settle, AttemptOutcome::Succeeded),
            Call::Fail => self.finish(Action::Fail, AttemptOutcome::Failed),
            Call::RollBack => self.finish(Action::RollBack, AttemptOutcome::Interrupted),
        }
    }

    fn finish(&mut self, action: Action, closes_as: AttemptOutcome) -> Option<bool> {
        match self.state.step(action) {
            Err(_) => None,
            Ok(Step::AlreadyThere) => Some(false),
            Ok(Step::To(next)) => {
                for (_, outcome) in &mut self.attempts {
                    outcome.get_or_insert(closes_as);
                }
                self.state = next;
                Some(true)
            }
        }
    }
}

async fn run(calls: Vec<Call>) -> Result<(), TestCaseError> {
    let dir = tempfile::tempdir().unwrap();
    let options = LedgerOptions {
        durability: Durability::Normal,
        ..LedgerOptions::default()
    };
    let ledger = Ledger::open(ledger_path(dir.path(), "host-a"), "host-a", &options)
        .await
        .unwrap();
    let t = terms("p1", "host-a", "host-b", "vm", 250);
    let id = &t.trade_id;
    ledger.record_agreed(&t).await.unwrap();
    let mut model = Model {
        state: TradeState::Agreed,
        attempts: Vec::new(),
    };
    let mut events = 1;
    for call in &calls {
        let got = match *call {
            Call::RecordAgain => ledger.record_agreed(&t).await,
            Call::Start(n, m) => ledger.start_migration(id, n, m).await,
            Call::End(n, o) => ledger.end_attempt(id, n, o, Some("why")).await,
            Call::Settle => ledger.settle(id).await,
            Call::Fail => ledger.fail(id, "refused").await,
            Call::RollBack => ledger.roll_back(id, "called off").await,
        };
        let want = model.apply(call);
        let got = got.ok().map(|t| t == Transition::Applied);
        prop_assert_eq!(got, want, "{:?} after {:?}", call, calls);
        events += usize::from(got == Some(true));
        let record = ledger.trade(id).await.unwrap().unwrap();
        prop_assert_eq!(record.state, model.state);
    }
    prop_assert_eq!(ledger.events(None).await.unwrap().len(), events);
    let attempts: Vec<_> = ledger
        .attempts(id)
        .await
        .unwrap()
        .into_iter()
        .map(|a| (a.method, a.outcome))
        .collect();
    prop_assert_eq!(attempts, model.attempts);
    let paid = if model.state == TradeState::Settled {
        250
    } else {
        0
    };
    prop_assert_eq!(ledger.balance("host-a").await.unwrap(), Credits(paid));
    ledger.close().await;
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn the_ledger_follows_the_lifecycle_model(calls in prop::collection::vec(call(), 1..12)) {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(run(calls))?;
    }
}
