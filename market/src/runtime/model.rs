//! A model a host is ready to run: checked, compiled, and named by the hash
//! of its text.

use std::sync::Arc;

use lcc::ast::RoleDecl;
use lcc::compile::Program;
use lcc::diagnostic::Severity;

use crate::bus::subject::Token;
use crate::wire::ModelHash;

/// An LCC model as peers exchange it: the name it is advertised under (a
/// subject token), the hash peers compare, the compiled program.
#[derive(Debug, Clone)]
pub struct Model {
    name: Token,
    hash: ModelHash,
    program: Arc<Program>,
    roles: Vec<RoleDecl>,
}

#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    /// The rendered diagnostics (with line, column and caret).
    #[error("model {name} does not pass the checker:\n{diagnostics}")]
    Refused { name: Token, diagnostics: String },
    #[error("model {name} does not compile: {reason}")]
    Compile { name: Token, reason: String },
}

impl Model {
    /// Parses, checks and compiles `source`. A model with checker errors
    /// never runs; warnings are allowed.
    pub fn load(name: Token, source: &str) -> Result<Self, ModelError> {
        let refused = |diagnostics: Vec<lcc::diagnostic::Diagnostic>| ModelError::Refused {
            name: name.clone(),
            diagnostics: diagnostics
                .iter()
                .map(|d| d.render(name.as_str(), source))
                .collect::<Vec<_>>()
                .join("\n"),
        };
        let model = lcc::syntax::parse(source).map_err(|d| refused(vec![d]))?;
        let errors: Vec<_> = lcc::check::check(&model)
            .into_iter()
            .filter(|d| d.severity == Severity::Error)
            .collect();
        if !errors.is_empty() {
            return Err(refused(errors));
        }
        let program = Program::compile(&model).map_err(|e| ModelError::Compile {
            name: name.clone(),
            reason: e.to_string(),
        })?;
        Ok(Self {
            hash: ModelHash::of(source),
            name,
            program: Arc::new(program),
            roles: model.roles,
        })
    }

    pub fn name(&self) -> &Token {
        &self.name
    }

    pub fn hash(&self) -> ModelHash {
        self.hash
    }

    pub fn program(&self) -> Arc<Program> {
        Arc::clone(&self.program)
    }

    /// How many peers may play `role`, from its `r(role, kind, Min, Max)`
    /// declaration (OpenKnowledge's default for each bound is 1); `None`
    /// when the model declares no such role.
    pub fn players(&self, role: &str) -> Option<(u32, u32)> {
        let decl = self.roles.iter().find(|r| r.name == role)?;
        Some((decl.min.unwrap_or(1), decl.max.unwrap_or(1)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model_file(name: &str) -> &'static str {
        lcc::models::find(name).unwrap().source
    }

    #[test]
    fn the_shipped_models_load_with_their_player_counts() {
        let net = Model::load(
            Token::new("contract-net").unwrap(),
            model_file("contract-net"),
        )
        .unwrap();
        assert_eq!(net.players("contractor"), Some((1, 1000)));
        assert_eq!(net.players("manager"), Some((1, 1)));
        assert_eq!(net.players("nobody"), None);
        let auction = Model::load(
            Token::new("double-auction").unwrap(),
            model_file("double-auction"),
        )
        .unwrap();
        assert_eq!(auction.players("trader"), Some((2, 1000)));
        assert_ne!(net.hash(), auction.hash());
    }

    #[test]
    fn a_model_that_fails_the_checker_is_refused_with_its_diagnostics() {
        // `bidder` receives a message nobody sends.
        let source = "r(a, initial)\nr(b, necessary)\n\
                      a(a, A) :: hello => a(b, B)\n\
                      a(b, B) :: bye <= a(a, A)\n";
        let error = Model::load(Token::new("broken").unwrap(), source).unwrap_err();
        assert!(matches!(error, ModelError::Refused { .. }), "{error}");
        assert!(error.to_string().contains("broken"), "{error}");
    }
}
