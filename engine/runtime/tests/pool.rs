//! The API's execution pool holds as many waiting submissions as it was
//! sized for, whatever the number of threads: the API sizes it to its
//! running bound, so an execution it admitted is never refused here.

use expressway_engine::vm::ExecutionInfo;
use expressway_engine::{Value, WorkflowType, compile_text};
use expressway_runtime::NoTaskService;
use expressway_runtime::SystemClock;
use expressway_runtime::pool::{Finished, Pool, Submission};
use std::sync::Arc;
use std::sync::mpsc;
use std::time::Duration;

fn submission(program: &Arc<expressway_engine::program::Program>, done: mpsc::Sender<bool>) -> Submission {
    let info = ExecutionInfo {
        execution_id: "arn:aws:states:us-east-1:1:execution:m:e".into(),
        execution_name: "e".into(),
        state_machine_id: Arc::from("arn:aws:states:us-east-1:1:stateMachine:m"),
        state_machine_name: Arc::from("m"),
        role_arn: Arc::from("arn:aws:iam::1:role/r"),
        start_time_ms: 0,
        express: true,
    };
    Submission {
        program: program.clone(),
        info: Arc::new(info),
        input: Value::from(1u64),
        workflow: WorkflowType::Express,
        tasks: Arc::new(NoTaskService),
        observer: None,
        abort: None,
        done: Box::new(move |finished| {
            let _ = done.send(matches!(finished, Finished::Ran(_)));
        }),
    }
}

#[test]
fn a_pool_queues_what_it_was_sized_for_beyond_a_fixed_per_thread_queue() {
    let program = Arc::new(
        compile_text(r#"{"StartAt":"P","States":{"P":{"Type":"Pass","End":true}}}"#, WorkflowType::Express)
            .expect("valid"),
    );
    // More than the 4,096 per thread the queues used to hold.
    let queued = 5_000;
    let pool = Pool::start(1, queued, Arc::new(SystemClock)).expect("pool");

    // The only thread is held inside the first execution's end.
    let (entered_tx, entered) = mpsc::channel::<()>();
    let (release, released) = mpsc::channel::<()>();
    let (first_done, first_ended) = mpsc::channel::<bool>();
    let mut first = submission(&program, first_done);
    let report = std::mem::replace(&mut first.done, Box::new(|_| {}));
    first.done = Box::new(move |finished| {
        let _ = entered_tx.send(());
        let _ = released.recv_timeout(Duration::from_secs(60));
        report(finished);
    });
    assert!(pool.submit(first).is_ok());
    entered.recv_timeout(Duration::from_secs(10)).expect("the first execution ends and blocks its thread");

    let (done, ended) = mpsc::channel::<bool>();
    for i in 0..queued {
        assert!(pool.submit(submission(&program, done.clone())).is_ok(), "submission {i} of {queued} is refused");
    }
    assert!(pool.submit(submission(&program, done.clone())).is_err(), "one past the bound waits nowhere");

    release.send(()).expect("the first is still waiting");
    assert_eq!(first_ended.recv_timeout(Duration::from_secs(10)), Ok(true));
    for i in 0..queued {
        assert_eq!(ended.recv_timeout(Duration::from_secs(30)), Ok(true), "execution {i} ran");
    }
    // Taken off the queue, their room is free again.
    assert!(pool.submit(submission(&program, done)).is_ok());
    assert_eq!(ended.recv_timeout(Duration::from_secs(10)), Ok(true));
    pool.shutdown(Duration::from_secs(5));
}
