//! Components: the named constraints a peer implements in Rust.
//!
//! LCC only orders an interaction; whatever a peer *decides* or *senses*
//! (its price for a bundle, whether it is overloaded, migrating a VM) is a
//! constraint the model names and the peer solves with a component. A peer
//! registers its components in a [`Components`] registry before it runs a
//! model.
//!
//! A component is called with its arguments resolved (bound variables
//! replaced by their values; unbound ones left as [`Term::Var`]). It answers
//! once, with the first solution only (LCC constraints do not backtrack):
//!
//! - `Ok(vec![])`: the constraint holds and binds nothing;
//! - `Ok(values)` with one term per argument: the constraint holds, and each
//!   value is unified with its argument (this is how outputs are bound: give
//!   back the inputs unchanged and a value for each output);
//! - `Err(Failure::no(..))`: the constraint does not hold (so an `or` may
//!   take its other branch, and `not` succeeds);
//! - `Err(Failure::broken(..))`: the component could not answer (libvirt
//!   down, say). The constraint fails too, but `not` does not turn it into
//!   success.
//!
//! A component may answer at once ([`Reply::Ready`]) or later
//! ([`Reply::Pending`], a future): the role instance waits for it. A
//! component with no arguments is an ordinary component of arity 0.

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use crate::ast::Mode;
use crate::term::Term;

/// Values for the arguments of a call: empty, or one per argument.
pub type Solution = Vec<Term>;

/// A component's answer that is not ready yet.
pub type PendingReply = Pin<Box<dyn Future<Output = Result<Solution, Failure>> + Send>>;

/// Why a constraint failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{reason}")]
pub struct Failure {
    pub kind: FailureKind,
    /// For people: what did not hold, or what broke.
    pub reason: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureKind {
    /// The constraint is false.
    DoesNotHold,
    /// The component could not decide (an error).
    Broken,
}

impl Failure {
    /// The constraint does not hold.
    pub fn no(reason: impl Into<String>) -> Self {
        Failure {
            kind: FailureKind::DoesNotHold,
            reason: reason.into(),
        }
    }

    /// The component could not answer.
    pub fn broken(reason: impl Into<String>) -> Self {
        Failure {
            kind: FailureKind::Broken,
            reason: reason.into(),
        }
    }
}

/// How a component answers a call.
pub enum Reply {
    Ready(Result<Solution, Failure>),
    Pending(PendingReply),
}

/// A named constraint implemented in Rust.
pub trait Component: Send + Sync {
    /// Solves the constraint for these (resolved) arguments.
    fn call(&self, args: &[Term]) -> Reply;
}

/// A registered component with its declared argument modes.
#[derive(Clone)]
pub struct Registered {
    pub modes: Vec<Mode>,
    pub component: Arc<dyn Component>,
}

impl fmt::Debug for Registered {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Registered")
            .field("modes", &self.modes)
            .finish_non_exhaustive()
    }
}

/// The components one peer provides, by name and arity.
#[derive(Clone, Debug, Default)]
pub struct Components {
    entries: HashMap<(String, usize), Registered>,
}

impl Components {
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers `component` as `name/modes.len()`. The interpreter checks
    /// that every [`Mode::In`] argument is bound before calling it, so the
    /// component can rely on it. Registering the same name and arity again
    /// replaces the earlier one.
    pub fn register(
        &mut self,
        name: &str,
        modes: &[Mode],
        component: impl Component + 'static,
    ) -> &mut Self {
        self.entries.insert(
            (name.to_owned(), modes.len()),
            Registered {
                modes: modes.to_vec(),
                component: Arc::new(component),
            },
        );
        self
    }

    /// Registers a component that answers at once.
    pub fn register_fn<F>(&mut self, name: &str, modes: &[Mode], solve: F) -> &mut Self
    where
        F: Fn(&[Term]) -> Result<Solution, Failure> + Send + Sync + 'static,
    {
        self.register(name, modes, Immediate(solve))
    }

    /// Registers a component that answers later (it does I/O, or waits).
    pub fn register_async<F, Fut>(&mut self, name: &str, modes: &[Mode], solve: F) -> &mut Self
    where
        F: Fn(Vec<Term>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Solution, Failure>> + Send + 'static,
    {
        self.register(name, modes, Eventual(solve))
    }

    /// The component registered as `name/arity`.
    pub fn get(&self, name: &str, arity: usize) -> Option<&Registered> {
        self.entries.get(&(name.to_owned(), arity))
    }

    /// Every registered `name/arity`, sorted.
    pub fn names(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .entries
            .keys()
            .map(|(name, arity)| format!("{name}/{arity}"))
            .collect();
        names.sort();
        names
    }
}

/// A component from a plain function.
struct Immediate<F>(F);

impl<F> Component for Immediate<F>
where
    F: Fn(&[Term]) -> Result<Solution, Failure> + Send + Sync,
{
    fn call(&self, args: &[Term]) -> Reply {
        Reply::Ready((self.0)(args))
    }
}

/// A component from an async function.
struct Eventual<F>(F);

impl<F, Fut> Component for Eventual<F>
where
    F: Fn(Vec<Term>) -> Fut + Send + Sync,
    Fut: Future<Output = Result<Solution, Failure>> + Send + 'static,
{
    fn call(&self, args: &[Term]) -> Reply {
        Reply::Pending(Box::pin((self.0)(args.to_vec())))
    }
}
