//! What every simulator's fault rule shares: the builder methods that set how
//! often a rule fires, what it answers and how long it stalls. Each simulator
//! keeps its own rule type (its operations and error body differ) and gets
//! these methods from [`fault_rule_builders!`].

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
