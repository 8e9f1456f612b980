//! What every simulator's faults and request log share: the list of fault
//! rules and how the first matching one is taken ([`Faults`]), the builder
//! methods that set how often a rule fires, what it answers and how long it
//! stalls ([`fault_rule_builders!`]), and the log of answered requests with
//! per-operation counts ([`RequestLog`]). Each simulator keeps its own rule and
//! record types (its operations, subjects and error bodies differ).

use std::collections::HashMap;
use std::hash::Hash;

/// A fault rule that fires a limited number of times.
pub(crate) trait Rule: Clone {
    /// How many more requests it fires for (0 = never again).
    fn times_left(&mut self) -> &mut usize;
}

/// A simulator's fault rules, in the order added.
#[derive(Debug)]
pub(crate) struct Faults<R>(Vec<R>);

impl<R> Default for Faults<R> {
    fn default() -> Self {
        Self(Vec::new())
    }
}

impl<R: Rule> Faults<R> {
    pub fn push(&mut self, rule: R) {
        self.0.push(rule);
    }

    pub fn clear(&mut self) {
        self.0.clear();
    }

    /// The first rule that `applies` to the request and still fires, with its
    /// count decremented (removed at 0); a rule added with `times == 0` never fires.
    pub fn take(&mut self, applies: impl Fn(&R) -> bool) -> Option<R> {
        let i = self
            .0
            .iter_mut()
            .position(|r| *r.times_left() > 0 && applies(r))?;
        let rule = &mut self.0[i];
        *rule.times_left() -= 1;
        let taken = rule.clone();
        if *rule.times_left() == 0 {
            self.0.remove(i);
        }
        Some(taken)
    }
}

/// Every request a simulator answered, in order of the answer, and how many of
/// each operation (requests that are no known operation are logged, not counted).
#[derive(Debug)]
pub(crate) struct RequestLog<R, Op> {
    records: Vec<R>,
    counts: HashMap<Op, usize>,
}

impl<R, Op> Default for RequestLog<R, Op> {
    fn default() -> Self {
        Self {
            records: Vec::new(),
            counts: HashMap::new(),
        }
    }
}

impl<R: Clone, Op: Copy + Eq + Hash> RequestLog<R, Op> {
    pub fn record(&mut self, op: Option<Op>, record: R) {
        if let Some(op) = op {
            *self.counts.entry(op).or_default() += 1;
        }
        self.records.push(record);
    }

    pub fn records(&self) -> Vec<R> {
        self.records.clone()
    }

    pub fn count(&self, op: Op) -> usize {
        self.counts.get(&op).copied().unwrap_or(0)
    }

    /// Forget every record and count.
    pub fn clear(&mut self) {
        self.records.clear();
        self.counts.clear();
    }
}

/// `times`, `retry_after`, `delay` and `message` (and, with `any_op`, a way to
/// match any operation) for a fault-rule type with the fields `times`,
/// `retry_after_secs`, `delay`, `op` and the named message field.
macro_rules! fault_rule_builders {
    ($rule:ty, message: $msg:ident, any_op) => {
        $crate::faults::fault_rule_builders!($rule, message: $msg);
        impl $rule {
            /// Any operation (clears `op`).
            pub fn any_op(mut self) -> Self {
                self.op = None;
                self
            }
        }
    };
    ($rule:ty, message: $msg:ident) => {
        impl $crate::faults::Rule for $rule {
            fn times_left(&mut self) -> &mut usize {
                &mut self.times
            }
        }

        impl $rule {
            /// Fire for this many matching requests (default 1).
            pub fn times(mut self, times: usize) -> Self {
                self.times = times;
                self
            }

            /// Answer with `Retry-After: <secs>`.
            pub fn retry_after(mut self, secs: u32) -> Self {
                self.retry_after_secs = Some(secs);
                self
            }

            /// Stall this long before answering (to provoke client timeouts).
            pub fn delay(mut self, delay: std::time::Duration) -> Self {
                self.delay = Some(delay);
                self
            }

            /// The error message of the answer.
            pub fn message(mut self, message: &str) -> Self {
                self.$msg = message.to_string();
                self
            }
        }
    };
}

pub(crate) use fault_rule_builders;
