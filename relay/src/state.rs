//! What every handler shares: the subsystems lib.rs started, behind `Arc`s.

use crate::admission::Admission;
use crate::auth::Verifier;
use crate::config::Config;
use crate::console::Console;
use crate::decisions::Decisions;
use crate::hub::Hub;
use crate::ledger::Ledger;
use std::sync::Arc;

/// What every handler shares.
#[derive(Clone)]
pub struct AppState {
    pub hub: Arc<Hub>,
    pub config: Arc<Config>,
    pub verifier: Arc<Verifier>,
    /// The session ledger and webhook queue.
    pub ledger: Arc<Ledger>,
    /// The operator console's live stream and login limits.
    pub console: Arc<Console>,
    /// The site's answers for the channels it decides.
    pub decisions: Arc<Decisions>,
    /// Who may open a connection: per-address and overall limits.
    pub admission: Arc<Admission>,
}

impl AppState {
    pub(crate) fn origin_allowed(&self, origin: Option<&str>) -> bool {
        let allowed = &self.config.allowed_origins;
        allowed.is_empty() || origin.is_some_and(|o| allowed.iter().any(|a| a == o))
    }
}
