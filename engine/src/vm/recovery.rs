//! Retry and Catch: what becomes of a state that raised an error.

use super::{Frame, Outcome, Raised, Role, Shared, StateEvent, Step, Waiting, write_path};
use crate::asl::{ResultPath, Retrier};
use crate::errors;
use crate::program::Program;

impl Program {
    pub(super) fn fail_or_handle(&self, frame: &mut Frame, shared: &mut Shared, e: Raised) -> Step {
        match self.raise(frame, shared, e) {
            Some(step) => step,
            None => self.run(frame, shared),
        }
    }

    /// Apply Retry then Catch. `None`: caught, continue running; `Some`: a
    /// retry timer or the frame's failure.
    pub(super) fn raise(&self, frame: &mut Frame, shared: &mut Shared, err: Raised) -> Option<Step> {
        shared.watch.note_stage(frame.state, || Some(super::Stage::Raised), || err.to_error_output());
        let info = &self.states[frame.state as usize];
        let name = err.name().to_string();
        let recoverable = name != errors::ErrorName::Runtime.as_str();
        if recoverable {
            let retriers = &self.retriers[info.retry.start as usize..info.retry.end as usize];
            if let Some(i) = retriers.iter().position(|r| errors::matches(&r.error_equals, &name)) {
                let r = &retriers[i];
                if frame.attempts[i] < r.max_attempts {
                    let delay = retry_delay(r, frame.attempts[i], shared);
                    frame.attempts[i] += 1;
                    frame.pending = None;
                    frame.waiting = Waiting::Retry;
                    shared.watch.note(frame.state, StateEvent::Retried);
                    return Some(Step::Sleep { millis: delay });
                }
            }
            let catchers = &self.catchers[info.catch.start as usize..info.catch.end as usize];
            if let Some(c) = catchers.iter().find(|c| errors::matches(&c.error_equals, &name)) {
                shared.watch.note_leaving(frame.state, StateEvent::Caught, c.next);
                let error_output = err.to_error_output();
                // The failed state's own assignments are dropped; the
                // catcher's see the error output as `$`.
                frame.pending = None;
                if let Some(t) = c.assign {
                    let mut resolver = self.resolver(frame, shared);
                    resolver.role = Role::ErrorOutput;
                    let assigned = resolver.eval_template(&self.templates[t as usize], &error_output);
                    match assigned {
                        Ok(v) => frame.pending = Some(v),
                        Err((n, detail)) => {
                            return Some(Step::Done(Outcome::Failed(self.template_error(frame, n, detail))));
                        }
                    }
                }
                let output = match c.output {
                    Some(t) => {
                        let mut resolver = self.resolver(frame, shared);
                        resolver.role = Role::ErrorOutput;
                        match resolver.eval_template(&self.templates[t as usize], &error_output) {
                            Ok(v) => Some(v),
                            Err((n, detail)) => {
                                return Some(Step::Done(Outcome::Failed(self.template_error(frame, n, detail))));
                            }
                        }
                    }
                    None => None,
                };
                frame.apply_pending();
                let out = match &c.result_path {
                    _ if output.is_some() => output.unwrap_or_default(),
                    ResultPath::Replace => error_output,
                    ResultPath::Discard => frame.input.clone(),
                    ResultPath::Into(_, steps) => {
                        let (mut out, mut scanned) = (frame.input.clone(), 0);
                        let wrote = write_path(&mut out, steps, error_output.clone(), &mut scanned);
                        shared.spend_work(scanned / super::MEMBERS_PER_STEP);
                        if wrote.is_err() { error_output } else { out }
                    }
                };
                shared.events += 1; // StateExited
                frame.set_input(out, None);
                self.enter_state(frame, shared, c.next);
                return None;
            }
        }
        shared.watch.note(frame.state, StateEvent::Failed);
        Some(Step::Done(Outcome::Failed(err)))
    }
}

fn retry_delay(r: &Retrier, attempt: u32, shared: &mut Shared) -> i64 {
    let mut secs = r.interval_seconds as f64 * r.backoff_rate.powi(attempt as i32);
    if let Some(max) = r.max_delay_seconds {
        secs = secs.min(max as f64);
    }
    if r.full_jitter {
        let unit = (shared.next_random() >> 11) as f64 / (1u64 << 53) as f64;
        secs *= unit;
    }
    (secs * 1000.0).round() as i64
}
