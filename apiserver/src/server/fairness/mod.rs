//! Fairness between tenants, in the spirit of Kubernetes' API Priority and Fairness with the
//! logical cluster as the flow: short requests take a seat from their priority level's pool,
//! wait in their workspace's queue when none is free, and are dispatched fairly across
//! workspaces ([`dispatch`]), where a workspace beside others executes no more than its share
//! of what the CPUs can run. System traffic (`system:masters`, kcp's own `system:kcp:*`
//! users) has seats of its own that tenants cannot take. A full queue or a wait beyond the
//! limit answers 429 with `Retry-After`. Watches are long-running and hold no seat.

pub mod dispatch;
mod layer;
mod queue;

use std::time::Duration;

pub use layer::{FairnessLayer, FairnessService};
pub use queue::{FairQueue, FairnessMetrics, PriorityLevel, Seat};

use crate::config::{parse_duration, ConfigError};
use dispatch::Limits;

/// Concurrent short requests by default, split between the priority levels.
pub const DEFAULT_MAX_REQUESTS_INFLIGHT: usize = 400;
/// Percentage of the seats reserved for system traffic by default.
const DEFAULT_SYSTEM_SHARE: u8 = 20;
/// Requests one workspace may have waiting by default (as APF's `queueLengthLimit`).
const DEFAULT_QUEUE_LENGTH: usize = 50;
/// Longest wait for a seat by default: a quarter of a client's usual 60s timeout, as APF.
const DEFAULT_QUEUE_WAIT: Duration = Duration::from_secs(15);
/// Seats one flow may execute at once beside others by default: about what the CPUs can run
/// without making everyone else wait behind that flow's tasks.
fn default_flow_seats() -> usize {
    2 * std::thread::available_parallelism().map_or(1, usize::from)
}

/// A level's queues together hold at most this many flows' worth of full queues (APF's
/// default of 64 queues), so memory stays bounded however many workspaces call at once.
const QUEUED_FLOWS: usize = 64;

/// The fairness settings as flags (a config file's keys are their camelCased names).
#[derive(Debug, Default, Clone, PartialEq, Eq, clap::Args)]
pub struct FairnessFlags {
    /// Percentage of --max-requests-inflight reserved for system traffic (system:masters and
    /// kcp's own system:kcp:* users); default 20.
    #[arg(long, value_name = "PERCENT")]
    pub fairness_system_share: Option<u8>,
    /// Requests one workspace may have waiting for a seat before more get 429; default 50.
    #[arg(long)]
    pub fairness_queue_length: Option<usize>,
    /// Longest a request waits for a seat before it gets 429; default `15s`.
    #[arg(long, value_parser = parse_duration, value_name = "DURATION")]
    pub fairness_queue_wait: Option<Duration>,
    /// Requests one workspace may execute at once while other workspaces are being served
    /// (alone it may take every seat); default twice the number of CPUs.
    #[arg(long, value_name = "SEATS")]
    pub fairness_flow_seats: Option<usize>,
}

/// Resolved fairness settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FairnessConfig {
    /// Seats and queues of system traffic.
    pub system: Limits,
    /// Seats and queues of the workspaces' traffic.
    pub workspaces: Limits,
    /// Longest wait for a seat.
    pub queue_wait: Duration,
}

impl FairnessFlags {
    /// These flags over the config file's settings.
    pub fn or(self, file: FairnessFlags) -> FairnessFlags {
        FairnessFlags {
            fairness_system_share: self.fairness_system_share.or(file.fairness_system_share),
            fairness_queue_length: self.fairness_queue_length.or(file.fairness_queue_length),
            fairness_queue_wait: self.fairness_queue_wait.or(file.fairness_queue_wait),
            fairness_flow_seats: self.fairness_flow_seats.or(file.fairness_flow_seats),
        }
    }

    /// Splits `max_inflight` seats between the levels.
    pub fn resolve(self, max_inflight: usize) -> Result<FairnessConfig, ConfigError> {
        let share = self.fairness_system_share.unwrap_or(DEFAULT_SYSTEM_SHARE);
        if share == 0 || share >= 100 {
            return Err(ConfigError::Invalid { setting: "--fairness-system-share", message: format!("{share} must be between 1 and 99") });
        }
        if max_inflight < 2 {
            return Err(ConfigError::Invalid { setting: "--max-requests-inflight", message: "both priority levels need a seat: give at least 2".into() });
        }
        let queue_length = self.fairness_queue_length.unwrap_or(DEFAULT_QUEUE_LENGTH);
        let flow_seats = self.fairness_flow_seats.unwrap_or_else(default_flow_seats);
        if flow_seats == 0 {
            return Err(ConfigError::Invalid { setting: "--fairness-flow-seats", message: "a workspace needs at least one seat".into() });
        }
        let system_seats = (max_inflight * usize::from(share)).div_ceil(100).clamp(1, max_inflight - 1);
        let limits = |seats| Limits { seats, queue_length, max_queued: queue_length.saturating_mul(QUEUED_FLOWS), flow_seats };
        Ok(FairnessConfig {
            system: limits(system_seats),
            workspaces: limits(max_inflight - system_seats),
            queue_wait: self.fairness_queue_wait.unwrap_or(DEFAULT_QUEUE_WAIT),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seats_split_between_levels_with_defaults() {
        let config = FairnessFlags::default().resolve(DEFAULT_MAX_REQUESTS_INFLIGHT).expect("resolves");
        assert_eq!(config.system, Limits { seats: 80, queue_length: 50, max_queued: 3200, flow_seats: default_flow_seats() });
        assert_eq!(config.workspaces.seats, 320);
        assert_eq!(config.queue_wait, Duration::from_secs(15));
        let small = FairnessFlags { fairness_system_share: Some(10), fairness_queue_length: Some(0), ..Default::default() }.resolve(2).expect("resolves");
        assert_eq!((small.system.seats, small.workspaces.seats, small.workspaces.max_queued), (1, 1, 0));
    }

    #[test]
    fn flags_win_and_impossible_settings_are_refused() {
        let file = FairnessFlags { fairness_queue_length: Some(5), fairness_queue_wait: Some(Duration::from_secs(3)), ..Default::default() };
        let flags = FairnessFlags { fairness_queue_length: Some(7), ..Default::default() };
        let config = flags.or(file).resolve(10).expect("resolves");
        assert_eq!((config.workspaces.queue_length, config.queue_wait), (7, Duration::from_secs(3)));
        let share = |s| FairnessFlags { fairness_system_share: Some(s), ..Default::default() }.resolve(10);
        assert!(matches!(share(0), Err(ConfigError::Invalid { setting: "--fairness-system-share", .. })));
        assert!(matches!(share(100), Err(ConfigError::Invalid { .. })));
        assert!(matches!(FairnessFlags::default().resolve(1), Err(ConfigError::Invalid { setting: "--max-requests-inflight", .. })));
        let none = FairnessFlags { fairness_flow_seats: Some(0), ..Default::default() }.resolve(10);
        assert!(matches!(none, Err(ConfigError::Invalid { setting: "--fairness-flow-seats", .. })));
    }
}
