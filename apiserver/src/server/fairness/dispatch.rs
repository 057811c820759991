//! The fair-queuing model of one priority level, free of I/O and clocks: seats, one queue per
//! flow (a logical cluster), and the choice of whom a freed seat goes to.
//!
//! A freed seat goes to the waiting flow with the fewest requests executing, the one served
//! longest ago among equals. A flow flooding the level thus holds at most the seats nobody else
//! asks for, and a quiet flow's request waits for one seat to free, never behind the flood's
//! queue.
//!
//! Seats bound requests, not CPU: a flood holding hundreds of seats on a saturated machine makes
//! every other request wait for the CPU behind its tasks. So while another flow has been served
//! recently (within the level's last `seats` dispatches), one flow executes at most
//! `flow_seats` requests at once; alone, it may take every seat.

use std::collections::{HashMap, VecDeque};

/// Limits of one priority level.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Requests executing at once.
    pub seats: usize,
    /// Requests one flow may have waiting.
    pub queue_length: usize,
    /// Requests all flows together may have waiting.
    pub max_queued: usize,
    /// Requests one flow may execute at once while another flow has been served recently.
    pub flow_seats: usize,
}

/// Identifies a queued request until it is granted a seat or cancelled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Ticket(u64);

/// Why a request was turned away.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Rejection {
    /// Its flow's queue was at its length limit.
    QueueFull,
    /// All queues of the level together were at their limit.
    LevelFull,
    /// It waited longer than allowed for a seat.
    TimedOut,
}

impl Rejection {
    /// The metric label of the reason.
    pub fn as_str(self) -> &'static str {
        match self {
            Rejection::QueueFull => "queue-full",
            Rejection::LevelFull => "level-full",
            Rejection::TimedOut => "time-out",
        }
    }
}

/// What happened to an arriving request.
#[derive(Debug, PartialEq, Eq)]
pub enum Arrival {
    /// It holds a seat and may execute now.
    Admitted,
    /// It waits for a seat under this ticket.
    Queued(Ticket),
    /// It may not wait.
    Rejected(Rejection),
}

#[derive(Default)]
struct Flow {
    executing: usize,
    waiting: VecDeque<Ticket>,
    /// When the flow was last granted a seat (a dispatch count), to alternate among equals.
    served_at: u64,
}

/// One priority level's seats and queues.
pub struct Dispatcher {
    limits: Limits,
    in_use: usize,
    queued: usize,
    flows: HashMap<String, Flow>,
    tickets: u64,
    dispatches: u64,
    /// The two flows served last, each with the dispatch that served it: enough to tell
    /// whether a flow other than a given one was served recently.
    last_served: [Option<(String, u64)>; 2],
}

impl Dispatcher {
    /// An idle level.
    pub fn new(limits: Limits) -> Self {
        Dispatcher { limits, in_use: 0, queued: 0, flows: HashMap::new(), tickets: 0, dispatches: 0, last_served: [None, None] }
    }

    /// The level's limits.
    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// Seats held by executing requests.
    pub fn in_use(&self) -> usize {
        self.in_use
    }

    /// Requests waiting in all queues.
    pub fn queued(&self) -> usize {
        self.queued
    }

    /// A request of `flow` arrives. It takes a free seat if its flow may hold one more (a free
    /// seat means every waiting flow is at its share), else it queues, space permitting.
    pub fn arrive(&mut self, flow: &str) -> Arrival {
        let executing = self.flows.get(flow).map_or(0, |f| f.executing);
        if self.in_use < self.limits.seats && self.may_take(flow, executing) {
            self.in_use += 1;
            self.grant(flow);
            return Arrival::Admitted;
        }
        if self.queued >= self.limits.max_queued {
            return Arrival::Rejected(Rejection::LevelFull);
        }
        let entry = self.flows.entry(flow.to_string()).or_default();
        if entry.waiting.len() >= self.limits.queue_length {
            if entry.executing == 0 && entry.waiting.is_empty() {
                self.flows.remove(flow);
            }
            return Arrival::Rejected(Rejection::QueueFull);
        }
        self.tickets += 1;
        let ticket = Ticket(self.tickets);
        entry.waiting.push_back(ticket);
        self.queued += 1;
        Arrival::Queued(ticket)
    }

    /// A request of `flow` finished and gives back its seat; returns the queued requests that
    /// get a seat now, and their flows (more than one when the finished request's flow was
    /// holding others back).
    pub fn release(&mut self, flow: &str) -> Vec<(Ticket, String)> {
        if let Some(f) = self.flows.get_mut(flow) {
            f.executing = f.executing.saturating_sub(1);
            if f.executing == 0 && f.waiting.is_empty() {
                self.flows.remove(flow);
            }
        }
        self.in_use = self.in_use.saturating_sub(1);
        let mut granted = Vec::new();
        while self.in_use < self.limits.seats {
            let next = self
                .flows
                .iter()
                .filter(|(name, f)| !f.waiting.is_empty() && self.may_take(name, f.executing))
                .min_by_key(|(_, f)| (f.executing, f.served_at))
                .map(|(name, _)| name.clone());
            let Some(name) = next else { break };
            let Some(ticket) = self.flows.get_mut(&name).and_then(|f| f.waiting.pop_front()) else { break };
            self.queued -= 1;
            self.in_use += 1;
            self.grant(&name);
            granted.push((ticket, name));
        }
        granted
    }

    /// Whether `flow`, executing `executing` requests, may take one more seat.
    fn may_take(&self, flow: &str, executing: usize) -> bool {
        executing < self.limits.flow_seats || !self.others_served_recently(flow)
    }

    /// Whether a flow other than `flow` was granted a seat within the last `seats` dispatches.
    fn others_served_recently(&self, flow: &str) -> bool {
        let window = u64::try_from(self.limits.seats).unwrap_or(u64::MAX);
        self.last_served.iter().flatten().find(|(f, _)| f != flow).is_some_and(|(_, at)| self.dispatches - at < window)
    }

    /// Takes a queued request of `flow` out of its queue (it gave up or timed out); false when
    /// it is not queued, because it already holds a seat.
    pub fn cancel(&mut self, flow: &str, ticket: Ticket) -> bool {
        let Some(f) = self.flows.get_mut(flow) else { return false };
        let Some(at) = f.waiting.iter().position(|t| *t == ticket) else { return false };
        f.waiting.remove(at);
        self.queued -= 1;
        if f.executing == 0 && f.waiting.is_empty() {
            self.flows.remove(flow);
        }
        true
    }

    /// Counts a seat (already accounted in `in_use`) as held by `flow`.
    fn grant(&mut self, flow: &str) {
        self.dispatches += 1;
        let f = self.flows.entry(flow.to_string()).or_default();
        f.executing += 1;
        f.served_at = self.dispatches;
        match &mut self.last_served[0] {
            Some((last, at)) if last == flow => *at = self.dispatches,
            _ => {
                self.last_served[1] = self.last_served[0].take();
                self.last_served[0] = Some((flow.to_string(), self.dispatches));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn level(seats: usize, queue_length: usize, max_queued: usize) -> Dispatcher {
        Dispatcher::new(Limits { seats, queue_length, max_queued, flow_seats: usize::MAX })
    }

    fn queued(d: &mut Dispatcher, flow: &str) -> Ticket {
        match d.arrive(flow) {
            Arrival::Queued(t) => t,
            other => panic!("expected {flow} to queue, got {other:?}"),
        }
    }

    #[test]
    fn admits_up_to_the_seats_then_queues() {
        let mut d = level(2, 10, 100);
        assert_eq!(d.arrive("a"), Arrival::Admitted);
        assert_eq!(d.arrive("a"), Arrival::Admitted);
        let t = queued(&mut d, "a");
        assert_eq!((d.in_use(), d.queued()), (2, 1));
        assert_eq!(d.release("a"), vec![(t, "a".to_string())]);
        assert_eq!((d.in_use(), d.queued()), (2, 0));
        assert_eq!(d.release("a"), vec![]);
        assert_eq!(d.release("a"), vec![]);
        assert_eq!((d.in_use(), d.queued()), (0, 0));
        assert!(d.flows.is_empty(), "idle flows are forgotten");
    }

    #[test]
    fn a_quiet_flow_overtakes_a_flood() {
        let mut d = level(2, 100, 1000);
        assert_eq!(d.arrive("noisy"), Arrival::Admitted);
        assert_eq!(d.arrive("noisy"), Arrival::Admitted);
        let flood: Vec<Ticket> = (0..50).map(|_| queued(&mut d, "noisy")).collect();
        let quiet = queued(&mut d, "quiet");
        assert_eq!(d.release("noisy"), vec![(quiet, "quiet".to_string())], "the next seat goes to the flow executing nothing");
        assert_eq!(d.release("noisy"), vec![(flood[0], "noisy".to_string())]);
        // Each flow holds one seat now: whichever frees one gets it back while it waits.
        let quiet2 = queued(&mut d, "quiet");
        assert_eq!(d.release("noisy"), vec![(flood[1], "noisy".to_string())]);
        assert_eq!(d.release("quiet"), vec![(quiet2, "quiet".to_string())]);
    }

    #[test]
    fn equal_flows_alternate() {
        let mut d = level(1, 100, 1000);
        assert_eq!(d.arrive("a"), Arrival::Admitted);
        let a: Vec<Ticket> = (0..3).map(|_| queued(&mut d, "a")).collect();
        let b: Vec<Ticket> = (0..3).map(|_| queued(&mut d, "b")).collect();
        let mut order = Vec::new();
        let mut running = "a".to_string();
        while let [(t, flow)] = &d.release(&running)[..] {
            order.push(*t);
            running = flow.clone();
        }
        assert_eq!(order, [b[0], a[0], b[1], a[1], b[2], a[2]]);
    }

    #[test]
    fn queues_are_bounded_per_flow_and_per_level() {
        let mut d = level(1, 2, 3);
        assert_eq!(d.arrive("a"), Arrival::Admitted);
        queued(&mut d, "a");
        queued(&mut d, "a");
        assert_eq!(d.arrive("a"), Arrival::Rejected(Rejection::QueueFull));
        queued(&mut d, "b");
        assert_eq!(d.arrive("c"), Arrival::Rejected(Rejection::LevelFull));
        assert!(!d.flows.contains_key("c"), "a rejected flow leaves nothing behind");
    }

    #[test]
    fn a_cancelled_request_leaves_the_queue() {
        let mut d = level(1, 10, 10);
        assert_eq!(d.arrive("a"), Arrival::Admitted);
        let gone = queued(&mut d, "b");
        let stays = queued(&mut d, "c");
        assert!(d.cancel("b", gone));
        assert!(!d.cancel("b", gone), "cancelled once");
        assert_eq!(d.queued(), 1);
        assert_eq!(d.release("a"), vec![(stays, "c".to_string())]);
        assert!(!d.cancel("c", stays), "a granted request is not queued any more");
    }

    #[test]
    fn a_seat_nobody_waits_for_admits_the_next_arrival_at_once() {
        let mut d = level(1, 10, 10);
        assert_eq!(d.arrive("a"), Arrival::Admitted);
        let b = queued(&mut d, "b");
        assert_eq!(d.release("a"), vec![(b, "b".to_string())]);
        assert_eq!(d.release("b"), vec![]);
        assert_eq!(d.arrive("c"), Arrival::Admitted);
    }

    #[test]
    fn beside_another_flow_a_flood_executes_at_most_its_share() {
        let mut d = Dispatcher::new(Limits { seats: 10, queue_length: 100, max_queued: 1000, flow_seats: 2 });
        for _ in 0..10 {
            assert_eq!(d.arrive("noisy"), Arrival::Admitted, "alone, a flow takes every seat");
        }
        let flood: Vec<Ticket> = (0..20).map(|_| queued(&mut d, "noisy")).collect();
        let quiet = queued(&mut d, "quiet");
        assert_eq!(d.release("noisy"), vec![(quiet, "quiet".to_string())]);
        // The flood's seats go free until it executes fewer than its share.
        for _ in 0..7 {
            assert_eq!(d.release("noisy"), vec![]);
        }
        assert_eq!(d.release("noisy"), vec![(flood[0], "noisy".to_string())]);
        assert_eq!(d.in_use(), 3);
        assert_eq!(d.arrive("other"), Arrival::Admitted, "a free seat is taken at once by a flow under its share");
        assert_eq!(d.release("quiet"), vec![]);
        assert_eq!(d.release("other"), vec![]);
        // Once no other flow has been served for a level's worth of dispatches, the flood
        // fills the free seats again.
        let mut releases = 0;
        loop {
            releases += 1;
            let granted = d.release("noisy");
            assert!(granted.iter().all(|(_, flow)| flow == "noisy"));
            if granted.len() > 1 {
                break;
            }
            assert_eq!(granted.len(), 1, "one in, one out while the others are recent");
            assert!(releases <= 10, "the flood stays held back");
        }
        assert_eq!(d.in_use(), 10);
    }
}
