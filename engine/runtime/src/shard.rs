//! A shard's thread: admits its records, runs executions that need nothing
//! from outside inline, parks the others in its reactor and hands finished
//! ones to the sink writer, a batch per turn. A panic in one record's work
//! dead-letters that record (`Expressway.InternalError`); past the drain
//! deadline the shard drops what is still parked, unacknowledged, and gives
//! the dedup claims of what it dropped back to the store in one call.

use crate::admission::{
    Admission, Checked, Claiming, Started, admit, check, claimed_keys, give_back, send_claims, settle_claims,
};
use crate::api::DedupStore;
use crate::api::Record;
use crate::executor::{Done, Intake, Output};
use crate::live::{self, Boxed, Live};
use crate::metrics::{ShardMetrics, metric};
use crate::outcome::{conclude, dead_letter};
use crate::panics::{INTERNAL_ERROR, Panicked, isolate};
use crate::reactor::{Ended, Reactor};
use crate::spec::{KeySpec, PipelineSpec, Stats};
use crate::timers::Timers;
use crate::twins::Twins;
use crossbeam_channel::{Receiver, Sender};
use expressway_engine::WorkflowType;
use expressway_engine::driver::{self, ExecutionResult, Offline, RunOptions};
use expressway_engine::value::Value;
use expressway_engine::vm::{ExecutionInfo, Resume};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

pub(crate) fn shard_loop(
    spec: &PipelineSpec,
    shard: usize,
    rx: Receiver<Intake>,
    done: Sender<Vec<Done>>,
    dedup: &dyn DedupStore,
    stats: &Stats,
    abandon: &AtomicBool,
) {
    let base_info = ExecutionInfo {
        state_machine_name: spec.state_machine_name.as_str().into(),
        state_machine_id: format!("arn:aws:states:local:000000000000:stateMachine:{}", spec.state_machine_name).into(),
        role_arn: "arn:aws:iam::000000000000:role/expressway".into(),
        express: spec.express,
        ..ExecutionInfo::default()
    };
    let opts = RunOptions {
        observer: spec.watch.as_ref().map(|w| w.observer(shard)),
        max_work: spec.max_work_per_execution,
        ..RunOptions::for_workflow(if spec.express { WorkflowType::Express } else { WorkflowType::Standard })
    };
    let m = ShardMetrics::new(&spec.name);
    let timers = Timers::new(spec.clock.clone());
    let live = Live { program: &spec.program, tasks: spec.tasks.as_ref(), timers: &timers, clock: spec.clock.as_ref() };
    // Machines without tasks, waits or retries never wait on anything: they
    // run to their end inline, on the virtual clock, with no future at all.
    let suspends = spec.program.suspends();
    let mut reactor: Reactor<'_, Started> = Reactor::new();
    // Records whose twin is running: held, unacknowledged, until it is done.
    let mut twins = Twins::new(m.twins_held.clone());
    // Its own handle on the wake queue, so a woken slot is polled as it is
    // taken off the queue (no list of them per turn).
    let woken = reactor.woken.clone();
    let mut seq: u64 = 0;
    // Results of this turn, handed to the sink writer in one send before the
    // shard waits for anything.
    let mut finished: Vec<Done> = Vec::new();
    let finish = |(ended, started): (Ended, Started)| {
        let output = match ended.and_then(|result| isolate(|| conclude(spec, stats, &m, &started, &result))) {
            Ok(output) => output,
            Err(panicked) => {
                internal_error(spec, stats, &m, &started.record.coordinates, None, Some(&started.input), &panicked)
            }
        };
        let Started { record, reader, dedup_key, .. } = started;
        Done { id: record.id, dedup_key, output, key: record.key, reader, coordinates: record.coordinates }
    };
    // The turn's counts are added to the shared ones first. A batch the
    // sink writer no longer takes (it stopped) is kept: its records' claims
    // are given back at the end.
    let hand_over = |finished: &mut Vec<Done>| {
        m.flush(stats);
        finished.is_empty()
            || match done.send(std::mem::take(finished)) {
                Ok(()) => true,
                Err(unsent) => {
                    *finished = unsent.into_inner();
                    false
                }
            }
    };
    // The next batch, checked and its claims sent, when it was already
    // waiting as the current one began: the store answers while the current
    // one runs.
    let mut ahead: Option<Prepared<'_>> = None;
    let keyed = !matches!(spec.key, KeySpec::None);
    let mut open = true;
    // Claims of records dropped before their execution ended (past the drain
    // deadline): given back to the store in one call at the end, so that
    // their records, delivered again, run at once.
    let mut unfinished: Vec<String> = Vec::new();
    // The sink writer stopped (its sink failed): nothing more can be
    // written, and what is dropped now was not dropped for the deadline.
    let mut sink_stopped = false;
    // Past the drain deadline a batch is not started (below), so it is not
    // prepared either: no claim is sent only to be given back.
    let intake = |batch: Intake| (!abandon.load(Ordering::Relaxed)).then(|| prepare(spec, batch, dedup, stats, &m));
    while open || !reactor.is_empty() || !twins.is_empty() || ahead.is_some() {
        if !hand_over(&mut finished) {
            // The writer also stops at the drain deadline: that is not a
            // failed sink.
            sink_stopped = !abandon.load(Ordering::Relaxed);
            break;
        }
        if abandon.load(Ordering::Relaxed) {
            break;
        }
        let batch = if let Some(next) = ahead.take() {
            timers.fire_due();
            while let Ok(slot) = woken.try_recv() {
                if let Some(f) = reactor.poll(slot) {
                    finished.push(finish(f));
                }
            }
            Some(next)
        } else if reactor.is_empty() && twins.is_empty() {
            match rx.recv() {
                Ok(batch) => intake(batch),
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
                sink_stopped = !abandon.load(Ordering::Relaxed);
                break;
            }
            let wait =
                timers.next().map_or(IDLE_POLL, |at| at.saturating_duration_since(spec.clock.now()).min(IDLE_POLL));
            let wait = twins.next_due().map_or(wait, |at| at.saturating_duration_since(Instant::now()).min(wait));
            if open {
                crossbeam_channel::select! {
                    recv(rx) -> r => match r {
                        Ok(batch) => intake(batch),
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
        // Past the drain deadline a batch is not started: unacknowledged, it
        // is delivered again after a restart.
        let batch = match batch {
            Some(dropped) if abandon.load(Ordering::Relaxed) => {
                unfinished.extend(dropped.claimed_keys());
                None
            }
            batch => batch,
        };
        // Only a keyed pipeline has claims whose answers are worth waiting
        // for in the background.
        if batch.is_some()
            && keyed
            && ahead.is_none()
            && let Ok(next) = rx.try_recv()
        {
            ahead = intake(next);
        }
        let (reader, batch, checked) = match batch {
            Some(prepared) => settle(spec, prepared, stats, &m),
            None => (0, Vec::new(), Vec::new()),
        };
        // Held twins due to be asked about again, then the batch.
        let now = Instant::now();
        let ready = twins.recheck(now, dedup, stats, &m, |record, admission, panicked| {
            internal_error(spec, stats, &m, &record.coordinates, None, Some(&admission.input), panicked)
        });
        let batch = batch.into_iter().zip(checked).map(|(record, checked)| (record, reader, checked));
        let mut work = ready.into_iter().chain(batch);
        while let Some((record, reader, checked)) = work.next() {
            // Past the drain deadline a record is not started: unacknowledged,
            // it is delivered again after a restart, and its claim (with
            // those of the records after it) is given back.
            if abandon.load(Ordering::Relaxed) {
                let rest = std::iter::once(checked).chain(work.map(|(_, _, checked)| checked));
                unfinished.extend(rest.filter_map(Checked::claimed_key));
                break;
            }
            seq += 1;
            let mut admission = match checked {
                Checked::Run(admission) => admission,
                Checked::Settled(output) => {
                    finished.push(Done {
                        id: record.id,
                        dedup_key: None,
                        output,
                        key: record.key,
                        reader,
                        coordinates: record.coordinates,
                    });
                    continue;
                }
                Checked::Failed { output, dedup_key } => {
                    let dedup_key = Some(dedup_key);
                    finished.push(Done {
                        id: record.id,
                        dedup_key,
                        output,
                        key: record.key,
                        reader,
                        coordinates: record.coordinates,
                    });
                    continue;
                }
                Checked::Twin(admission) => {
                    twins.hold(record, reader, admission, now);
                    continue;
                }
            };
            admit(spec, &mut admission, &m, shard, seq);
            let Admission { dedup_key, input, input_bound, name } = admission;
            let started = Started { record, reader, dedup_key, input, input_bound, name, began: spec.clock.now() };
            let info = Arc::new(ExecutionInfo {
                execution_id: execution_id(spec, &started.name),
                execution_name: started.name.clone(),
                start_time_ms: spec.clock.wall_ms(),
                ..base_info.clone()
            });
            if suspends {
                let execution = isolate(|| -> Boxed<'_, ExecutionResult> {
                    let (mut frame, mut shared, deadline) =
                        driver::begin(&spec.program, info, started.execution_input(), &opts);
                    let first = spec.program.resume(&mut frame, &mut shared, Resume::Start);
                    Box::pin(live::execute(&live, frame, shared, first, deadline))
                });
                match execution {
                    Ok(execution) => {
                        if let Some(f) = reactor.spawn(execution, started) {
                            finished.push(finish(f));
                        }
                    }
                    Err(panicked) => finished.push(finish((Err(panicked), started))),
                }
            } else {
                let result =
                    isolate(|| driver::execute(&spec.program, info, started.execution_input(), &mut Offline, &opts));
                finished.push(finish((result, started)));
            }
        }
    }
    // A batch whose claims were sent ahead and that never started.
    if let Some(dropped) = ahead.take() {
        unfinished.extend(dropped.claimed_keys());
    }
    // Held twins hold no claim (their key's claim is another record's).
    let held = twins.drop_all();
    if held > 0 && !sink_stopped {
        tracing::warn!(
            pipeline = %spec.name,
            shard,
            held,
            "drain timeout: records held for a twin still running are let go unacknowledged and will be delivered again after a restart"
        );
    }
    let parked = reactor.drain();
    let abandoned = parked.len();
    unfinished.extend(parked.into_iter().filter_map(|started| started.dedup_key));
    if abandoned > 0 && !sink_stopped {
        stats.abandoned.fetch_add(abandoned as u64, Ordering::Relaxed);
        metrics::counter!(metric::ABANDONED, "pipeline" => spec.name.clone()).increment(abandoned as u64);
        tracing::warn!(
            pipeline = %spec.name,
            shard,
            abandoned,
            "drain timeout: executions still running are abandoned unacknowledged and will run again after a restart"
        );
    } else if sink_stopped && abandoned + held > 0 {
        tracing::warn!(
            pipeline = %spec.name,
            shard,
            dropped = abandoned + held,
            "the sink writer stopped: records still running or held are dropped unacknowledged and will be delivered again after a restart"
        );
    }
    if !hand_over(&mut finished) {
        // The sink writer stopped: these results are never written.
        unfinished.extend(finished.into_iter().filter_map(|d| d.dedup_key));
    }
    let unfinished: Vec<&str> = unfinished.iter().map(String::as_str).collect();
    give_back(dedup, &spec.name, &unfinished);
}

/// A batch checked, its keys' claims sent and not yet answered.
struct Prepared<'s> {
    reader: u16,
    records: Vec<Record>,
    checked: Vec<Checked>,
    claiming: Result<Option<Claiming<'s>>, Panicked>,
}

impl Prepared<'_> {
    /// The keys this batch, dropped unstarted, holds claims on (its claims'
    /// answers waited for).
    fn claimed_keys(self) -> Vec<String> {
        let Prepared { checked, claiming, .. } = self;
        match claiming {
            Ok(claiming) => claimed_keys(checked, claiming),
            // Whether its keys were sent is unknown: a store releases only
            // its own claims, so asking for all of them is safe.
            Err(_) => checked.into_iter().filter_map(Checked::claimed_key).collect(),
        }
    }
}

/// Check every record of a batch, then send its keys' claims to the dedup
/// store in one call.
fn prepare<'s>(
    spec: &PipelineSpec,
    intake: Intake,
    dedup: &'s dyn DedupStore,
    stats: &Stats,
    m: &ShardMetrics,
) -> Prepared<'s> {
    let Intake { reader, records } = intake;
    let mut checked: Vec<Checked> = Vec::with_capacity(records.len());
    for record in &records {
        checked.push(match isolate(|| check(spec, record, stats, m)) {
            Ok(c) => c,
            Err(panicked) => {
                let payload = record.oversized.is_none().then_some(record.payload.as_slice());
                Checked::Settled(internal_error(spec, stats, m, &record.coordinates, payload, None, &panicked))
            }
        });
    }
    let claiming = isolate(|| send_claims(&checked, dedup));
    Prepared { reader, records, checked, claiming }
}

/// Take a prepared batch's claims: what to start, in the batch's order.
fn settle(
    spec: &PipelineSpec,
    prepared: Prepared<'_>,
    stats: &Stats,
    m: &ShardMetrics,
) -> (u16, Vec<Record>, Vec<Checked>) {
    let Prepared { reader, records, mut checked, claiming } = prepared;
    let settled = match claiming {
        Ok(None) => Ok(()),
        Ok(Some(claiming)) => isolate(|| settle_claims(&mut checked, claiming, stats, m)),
        Err(panicked) => Err(panicked),
    };
    if let Err(panicked) = settled {
        // Whether a key of this batch was claimed is unknown: its records
        // are dead-lettered like a panic in their own admission.
        for (record, c) in records.iter().zip(checked.iter_mut()) {
            if let Checked::Run(Admission { dedup_key: Some(key), .. }) = c {
                let dedup_key = std::mem::take(key);
                let payload = record.oversized.is_none().then_some(record.payload.as_slice());
                let output = internal_error(spec, stats, m, &record.coordinates, payload, None, &panicked);
                *c = Checked::Failed { output, dedup_key };
            }
        }
    }
    (reader, records, checked)
}

/// Count an execution ended by a panic and render its dead letter.
fn internal_error(
    spec: &PipelineSpec,
    stats: &Stats,
    m: &ShardMetrics,
    coordinates: &crate::api::Coordinates,
    payload: Option<&[u8]>,
    input: Option<&Value>,
    panicked: &Panicked,
) -> Output {
    stats.internal_errors.fetch_add(1, Ordering::Relaxed);
    m.internal_errors.increment(1);
    let cause = panicked.cause();
    tracing::error!(pipeline = %spec.name, source = %coordinates, cause, "an execution panicked; it is dead-lettered");
    dead_letter(spec, coordinates, payload, INTERNAL_ERROR, &cause, input)
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
