//! A shard's thread: admits its records, runs executions that need nothing
//! from outside inline, parks the others in its reactor and hands finished
//! ones to the sink writer, a batch per turn.

use crate::admission::{Admitted, Started, prepare};
use crate::api::{DedupStore, Record};
use crate::executor::Done;
use crate::live::{self, Live};
use crate::metrics::ShardMetrics;
use crate::outcome::conclude;
use crate::reactor::Reactor;
use crate::spec::{PipelineSpec, Stats};
use crate::timers::Timers;
use crossbeam_channel::{Receiver, Sender};
use expressway_engine::WorkflowType;
use expressway_engine::driver::{self, ExecutionResult, Offline, RunOptions};
use expressway_engine::vm::{ExecutionInfo, Resume};
use std::sync::Arc;
use std::time::Duration;

pub(crate) fn shard_loop(
    spec: &PipelineSpec,
    shard: usize,
    rx: Receiver<Vec<Record>>,
    done: Sender<Vec<Done>>,
    dedup: &dyn DedupStore,
    stats: &Stats,
) {
    let base_info = ExecutionInfo {
        state_machine_name: spec.state_machine_name.as_str().into(),
        state_machine_id: format!("arn:aws:states:local:000000000000:stateMachine:{}", spec.state_machine_name).into(),
        role_arn: "arn:aws:iam::000000000000:role/expressway".into(),
        express: spec.express,
        ..ExecutionInfo::default()
    };
    let opts = RunOptions::for_workflow(if spec.express { WorkflowType::Express } else { WorkflowType::Standard });
    let m = ShardMetrics::new(&spec.name);
    let timers = Timers::new(spec.clock.clone());
    let live = Live {
        program: &spec.program,
        tasks: spec.tasks.as_ref(),
        timers: &timers,
        clock: spec.clock.as_ref(),
        max_transitions: opts.max_transitions,
    };
    // Machines without tasks, waits or retries never wait on anything: they
    // run to their end inline, on the virtual clock, with no future at all.
    let suspends = spec.program.suspends();
    let mut reactor: Reactor<'_, Started> = Reactor::new();
    // Its own handle on the wake queue, so a woken slot is polled as it is
    // taken off the queue (no list of them per turn).
    let woken = reactor.woken.clone();
    let mut seq: u64 = 0;
    let mut scratch = Vec::with_capacity(4096);
    // Results of this turn, handed to the sink writer in one send before the
    // shard waits for anything.
    let mut finished: Vec<Done> = Vec::new();
    let finish = |(result, started): (ExecutionResult, Started)| {
        let output = conclude(spec, stats, &m, &started, &result);
        let Started { record, dedup_key, .. } = started;
        Done { id: record.id, dedup_key, output, key: record.key }
    };
    let hand_over = |finished: &mut Vec<Done>| finished.is_empty() || done.send(std::mem::take(finished)).is_ok();
    let mut open = true;
    while open || !reactor.is_empty() {
        if !hand_over(&mut finished) {
            return;
        }
        let batch = if reactor.is_empty() {
            match rx.recv() {
                Ok(batch) => Some(batch),
                Err(_) => {
                    open = false;
                    None
                }
            }
        } else {
            timers.fire_due();
            while let Ok(slot) = woken.try_recv() {
                if let Some(f) = reactor.poll(slot) {
                    finished.push(finish(f));
                }
            }
            if !hand_over(&mut finished) {
                return;
            }
            let wait =
                timers.next().map_or(IDLE_POLL, |at| at.saturating_duration_since(spec.clock.now()).min(IDLE_POLL));
            if open {
                crossbeam_channel::select! {
                    recv(rx) -> r => match r {
                        Ok(batch) => Some(batch),
                        Err(_) => { open = false; None }
                    },
                    recv(woken) -> slot => {
                        if let Ok(slot) = slot && let Some(f) = reactor.poll(slot) {
                            finished.push(finish(f));
                        }
                        None
                    },
                    default(wait) => None,
                }
            } else {
                if let Ok(slot) = woken.recv_timeout(wait)
                    && let Some(f) = reactor.poll(slot)
                {
                    finished.push(finish(f));
                }
                None
            }
        };
        for record in batch.into_iter().flatten() {
            seq += 1;
            let started = match prepare(spec, record, &mut scratch, dedup, stats, &m, shard, seq) {
                Admitted::Run(started) => started,
                Admitted::Settled(record, output) => {
                    finished.push(Done { id: record.id, dedup_key: None, output, key: record.key });
                    continue;
                }
            };
            let info = Arc::new(ExecutionInfo {
                execution_id: execution_id(spec, &started.name),
                execution_name: started.name.clone(),
                start_time_ms: spec.clock.wall_ms(),
                ..base_info.clone()
            });
            if suspends {
                let (mut frame, mut shared, deadline) =
                    driver::begin(&spec.program, info, started.input.clone(), &opts);
                let first = spec.program.resume(&mut frame, &mut shared, Resume::Start);
                let execution = Box::pin(live::execute(&live, frame, shared, first, deadline));
                if let Some(f) = reactor.spawn(execution, started) {
                    finished.push(finish(f));
                }
            } else {
                let result = driver::execute(&spec.program, info, started.input.clone(), &mut Offline, &opts);
                finished.push(finish((result, started)));
            }
        }
    }
    hand_over(&mut finished);
}

/// How long a shard with parked executions waits for a record or a wake
/// before it checks its timers again.
const IDLE_POLL: Duration = Duration::from_millis(50);

fn execution_id(spec: &PipelineSpec, name: &str) -> String {
    if name.is_empty() {
        String::new()
    } else {
        format!("arn:aws:states:local:000000000000:express:{}:{name}", spec.state_machine_name)
    }
}
