//! Compiling a parsed model ([`crate::ast::Model`]) into the [`Program`] the
//! interpreter runs.
//!
//! Done once per model, so that running does no name lookups and clones no
//! syntax: clause bodies become a flat table of definitions indexed by
//! [`DefId`]; constraints a table indexed by [`ConstraintId`]; each clause's
//! variables are numbered `0..vars` (so a clause instance is a slot range in
//! the binding store); atoms are interned so equal atoms share one
//! allocation; calls are resolved to a built-in or to an entry of the
//! program's component table; clauses are indexed by role name and arity.

use std::collections::HashMap;

use crate::ast::{self, ConstraintKind, DefKind, Span, TermKind};
use crate::stdlib::Builtin;
use crate::term::{CONS, NIL, Symbol, Term};

/// Index of a definition in a [`Program`].
pub type DefId = u32;
/// Index of a clause in a [`Program`].
pub type ClauseId = u32;
/// Index of a constraint in a [`Program`].
pub type ConstraintId = u32;

/// A compiled model.
#[derive(Debug, Clone, Default)]
pub struct Program {
    pub(crate) clauses: Vec<ClauseCode>,
    pub(crate) defs: Vec<Located<DefCode>>,
    pub(crate) constraints: Vec<Located<ConstraintCode>>,
    /// Components the model calls, as `(name, arity)`; calls refer to them
    /// by index so a peer resolves each name once.
    pub(crate) components: Vec<(Symbol, usize)>,
    /// Clauses by role name, then arity.
    by_role: HashMap<Symbol, Vec<(usize, Vec<ClauseId>)>>,
}

/// A compiled node with the span of the syntax it came from.
#[derive(Debug, Clone)]
pub(crate) struct Located<T> {
    pub code: T,
    pub span: Span,
}

/// A clause `a(Role, Id) :: Body`.
#[derive(Debug, Clone)]
pub(crate) struct ClauseCode {
    pub role: Term,
    pub id: Term,
    pub body: DefId,
    /// How many variables the clause has (its frame size).
    pub vars: u32,
}

/// A deadline on a receive.
#[derive(Debug, Clone)]
pub(crate) enum DeadlineCode {
    /// Milliseconds after the receive is first tried.
    Within(Term),
    /// An absolute time, in the clock `now/1` reads.
    Until(Term),
}

#[derive(Debug, Clone)]
pub(crate) enum DefCode {
    RoleChange {
        role: Term,
        id: Term,
        guard: Option<ConstraintId>,
    },
    Send {
        message: Term,
        /// The receiver's role, as written (documentation: routing is by id).
        role: Term,
        to: Term,
        guard: Option<ConstraintId>,
    },
    Receive {
        message: Term,
        /// The sender's role, as written (not checked at run time).
        role: Term,
        from: Term,
        guard: Option<ConstraintId>,
        deadline: Option<DeadlineCode>,
    },
    Null {
        guard: Option<ConstraintId>,
    },
    Then(DefId, DefId),
    Or(DefId, DefId),
    Par(DefId, DefId),
}

#[derive(Debug, Clone)]
pub(crate) enum ConstraintCode {
    Builtin(Builtin, Box<[Term]>),
    /// A component call: index into [`Program::components`], and arguments.
    Component(u32, Box<[Term]>),
    Not(ConstraintId),
    And(ConstraintId, ConstraintId),
    Or(ConstraintId, ConstraintId),
}

/// A model that cannot run.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{message}")]
pub struct CompileError {
    pub message: String,
    pub span: Span,
}

impl Program {
    /// Compiles a parsed model.
    pub fn compile(model: &ast::Model) -> Result<Program, CompileError> {
        let mut compiler = Compiler::default();
        for clause in &model.clauses {
            compiler.clause(clause)?;
        }
        Ok(compiler.program)
    }

    /// The clauses that may play `name/arity`, in model order.
    pub(crate) fn clauses_for(&self, name: &Symbol, arity: usize) -> &[ClauseId] {
        self.by_role
            .get(name)
            .and_then(|by_arity| by_arity.iter().find(|(a, _)| *a == arity))
            .map_or(&[], |(_, clauses)| clauses.as_slice())
    }

    /// The components the model calls that `components` does not provide,
    /// as `name/arity`: a peer lacking one should refuse to run the model.
    pub fn missing_components(&self, components: &crate::component::Components) -> Vec<String> {
        self.components
            .iter()
            .filter(|(name, arity)| components.get(name.as_str(), *arity).is_none())
            .map(|(name, arity)| format!("{name}/{arity}"))
            .collect()
    }
}

#[derive(Default)]
struct Compiler {
    program: Program,
    atoms: HashMap<String, Symbol>,
    /// Variables of the clause being compiled.
    vars: HashMap<String, u32>,
    var_count: u32,
}

fn index(len: usize) -> u32 {
    u32::try_from(len).unwrap_or(u32::MAX)
}

impl Compiler {
    fn clause(&mut self, clause: &ast::Clause) -> Result<(), CompileError> {
        self.vars.clear();
        self.var_count = 0;
        let (name, arity) = role_key(&clause.head.role).ok_or_else(|| CompileError {
            message: "a clause head must name its role with an atom or a compound term".into(),
            span: clause.head.role.span,
        })?;
        let role = self.term(&clause.head.role);
        let id = self.term(&clause.head.id);
        let body = self.def(&clause.body)?;
        let name = self.symbol(name);
        let id_of_clause = index(self.program.clauses.len());
        self.program.clauses.push(ClauseCode {
            role,
            id,
            body,
            vars: self.var_count,
        });
        let by_arity = self.program.by_role.entry(name).or_default();
        match by_arity.iter_mut().find(|(a, _)| *a == arity) {
            Some((_, clauses)) => clauses.push(id_of_clause),
            None => by_arity.push((arity, vec![id_of_clause])),
        }
        Ok(())
    }

    fn def(&mut self, def: &ast::Def) -> Result<DefId, CompileError> {
        let code = match &def.kind {
            DefKind::RoleChange { role, guard } => {
                if role_key(&role.role).is_none() {
                    return Err(CompileError {
                        message: "a role change must name its role with an atom or a compound term"
                            .into(),
                        span: role.role.span,
                    });
                }
                DefCode::RoleChange {
                    role: self.term(&role.role),
                    id: self.term(&role.id),
                    guard: self.guard(guard.as_ref())?,
                }
            }
            DefKind::Send { message, to, guard } => DefCode::Send {
                message: self.term(message),
                role: self.term(&to.role),
                to: self.term(&to.id),
                guard: self.guard(guard.as_ref())?,
            },
            DefKind::Receive {
                message,
                from,
                guard,
                deadline,
            } => DefCode::Receive {
                message: self.term(message),
                role: self.term(&from.role),
                from: self.term(&from.id),
                guard: self.guard(guard.as_ref())?,
                deadline: deadline.as_ref().map(|d| match d {
                    ast::Deadline::Within(e) => DeadlineCode::Within(self.term(e)),
                    ast::Deadline::Until(e) => DeadlineCode::Until(self.term(e)),
                }),
            },
            DefKind::Null { guard } => DefCode::Null {
                guard: self.guard(guard.as_ref())?,
            },
            DefKind::Then(a, b) => DefCode::Then(self.def(a)?, self.def(b)?),
            DefKind::Or(a, b) => DefCode::Or(self.def(a)?, self.def(b)?),
            DefKind::Par(a, b) => DefCode::Par(self.def(a)?, self.def(b)?),
        };
        let id = index(self.program.defs.len());
        self.program.defs.push(Located {
            code,
            span: def.span,
        });
        Ok(id)
    }

    fn guard(
        &mut self,
        guard: Option<&ast::Constraint>,
    ) -> Result<Option<ConstraintId>, CompileError> {
        guard.map(|c| self.constraint(c)).transpose()
    }

    fn constraint(&mut self, constraint: &ast::Constraint) -> Result<ConstraintId, CompileError> {
        let code = match &constraint.kind {
            ConstraintKind::Call(term) => self.call(term)?,
            ConstraintKind::Not(c) => ConstraintCode::Not(self.constraint(c)?),
            ConstraintKind::And(a, b) => {
                ConstraintCode::And(self.constraint(a)?, self.constraint(b)?)
            }
            ConstraintKind::Or(a, b) => {
                ConstraintCode::Or(self.constraint(a)?, self.constraint(b)?)
            }
        };
        let id = index(self.program.constraints.len());
        self.program.constraints.push(Located {
            code,
            span: constraint.span,
        });
        Ok(id)
    }

    fn call(&mut self, term: &ast::Term) -> Result<ConstraintCode, CompileError> {
        let (name, args): (&str, &[ast::Term]) = match &term.kind {
            TermKind::Atom(name) => (name, &[]),
            TermKind::Compound(name, args) => (name, args),
            _ => {
                return Err(CompileError {
                    message: "a constraint must be an atom or a compound term".into(),
                    span: term.span,
                });
            }
        };
        let args: Box<[Term]> = args.iter().map(|a| self.term(a)).collect();
        if let Some((builtin, _)) = Builtin::find(name, args.len()) {
            return Ok(ConstraintCode::Builtin(builtin, args));
        }
        let name = self.symbol(name);
        let key = (name, args.len());
        let slot = match self.program.components.iter().position(|c| *c == key) {
            Some(i) => index(i),
            None => {
                self.program.components.push(key);
                index(self.program.components.len() - 1)
            }
        };
        Ok(ConstraintCode::Component(slot, args))
    }

    fn symbol(&mut self, name: &str) -> Symbol {
        // Lists written as `'.'(H, T)` or `[]` share the runtime's symbols.
        match name {
            CONS => return Symbol::cons(),
            NIL => return Symbol::nil(),
            _ => {}
        }
        self.atoms
            .entry(name.to_owned())
            .or_insert_with(|| Symbol::new(name))
            .clone()
    }

    fn term(&mut self, term: &ast::Term) -> Term {
        match &term.kind {
            TermKind::Var(name) => {
                if name == "_" {
                    self.var_count += 1;
                    return Term::var(self.var_count - 1);
                }
                let next = self.var_count;
                let v = *self.vars.entry(name.clone()).or_insert(next);
                if v == next {
                    self.var_count += 1;
                }
                Term::var(v)
            }
            TermKind::Atom(name) => Term::Atom(self.symbol(name)),
            TermKind::Int(i) => Term::Int(*i),
            TermKind::Float(f) => Term::Float(*f),
            TermKind::Str(s) => Term::Str(Symbol::new(s)),
            TermKind::List(items, tail) => {
                let tail = match tail {
                    Some(t) => self.term(t),
                    None => Term::Atom(self.symbol(NIL)),
                };
                let cons = self.symbol(CONS);
                let items: Vec<Term> = items.iter().map(|t| self.term(t)).collect();
                items.into_iter().rev().fold(tail, |tail, head| {
                    Term::compound(cons.clone(), vec![head, tail])
                })
            }
            TermKind::Compound(name, args) => {
                let functor = self.symbol(name);
                let args = args.iter().map(|a| self.term(a)).collect();
                Term::compound(functor, args)
            }
        }
    }
}

/// `(name, arity)` of a role type term.
fn role_key(role: &ast::Term) -> Option<(&str, usize)> {
    match &role.kind {
        TermKind::Atom(name) => Some((name, 0)),
        TermKind::Compound(name, args) => Some((name, args.len())),
        _ => None,
    }
}
