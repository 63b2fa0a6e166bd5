//! The SQS job queue on the emulator: messages are held (their visibility extended) while a
//! worker runs their job, come back when released, are gone when deleted; a FIFO queue
//! queues a job sent twice once; a missing queue is named.

use std::time::Duration;

use tradai_aws::{create_job_queue, JobMessage, QueueTiming, SqsJobQueue};

use crate::{emulator, unique_table};

fn queue_url(o: &tradai_aws::AwsOverrides, name: &str) -> String {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let cfg = tradai_aws::load_sdk_config(o).await;
        create_job_queue(&cfg, name).await.unwrap()
    })
}

fn msg(id: &str) -> JobMessage {
    JobMessage { job_id: id.to_owned(), job_type: "backtest".into() }
}

/// A two-second timeout: extensions (every third of it) must keep a held message from a
/// second consumer for well over the timeout.
const SHORT: QueueTiming = QueueTiming { visibility: Duration::from_secs(2), wait: Duration::from_secs(1) };

#[test]
fn held_messages_stay_hidden_until_released_or_deleted() {
    let Some(o) = emulator("sqs::held_messages_stay_hidden_until_released_or_deleted") else { return };
    let url = queue_url(&o, &unique_table("q"));
    let a = SqsJobQueue::connect(&url, &o, SHORT).unwrap();
    let b = SqsJobQueue::connect(&url, &o, SHORT).unwrap();
    a.send(&msg("job-1")).unwrap();
    let got = a.receive().unwrap().expect("the message arrives");
    assert_eq!((got.message.clone(), got.receive_count), (msg("job-1"), 1));
    assert_eq!(a.held_count(), 1);
    // Three timeouts later the message is still with `a`: its visibility was extended.
    let until = std::time::Instant::now() + Duration::from_secs(6);
    while std::time::Instant::now() < until {
        assert!(b.receive().unwrap().is_none(), "a held message was delivered to a second consumer");
    }
    a.release(&got, Duration::ZERO).unwrap();
    assert_eq!(a.held_count(), 0);
    let again = b.receive().unwrap().expect("a released message comes back");
    assert_eq!((again.message.job_id.as_str(), again.receive_count), ("job-1", 2));
    b.delete(&again).unwrap();
    std::thread::sleep(Duration::from_secs(3));
    assert!(a.receive().unwrap().is_none(), "a deleted message never comes back");
    assert_eq!(a.depth().unwrap(), (0, 0));
}

#[test]
fn an_unsettled_message_of_a_dead_consumer_comes_back() {
    let Some(o) = emulator("sqs::an_unsettled_message_of_a_dead_consumer_comes_back") else { return };
    let url = queue_url(&o, &unique_table("dead"));
    let a = SqsJobQueue::connect(&url, &o, SHORT).unwrap();
    a.send(&msg("job-2")).unwrap();
    let got = a.receive().unwrap().unwrap();
    // The consumer "dies": its runtime and extension tasks go with it.
    drop(a);
    let b = SqsJobQueue::connect(&url, &o, SHORT).unwrap();
    let mut back = None;
    for _ in 0..10 {
        back = b.receive().unwrap();
        if back.is_some() {
            break;
        }
    }
    let back = back.expect("the message comes back after its visibility timeout");
    assert_eq!(back.message, got.message);
    assert!(back.receive_count >= 2);
    b.delete(&back).unwrap();
}

#[test]
fn fifo_queues_deduplicate_a_job_sent_twice_and_bad_bodies_are_dropped() {
    let Some(o) = emulator("sqs::fifo_queues_deduplicate_a_job_sent_twice_and_bad_bodies_are_dropped") else { return };
    let url = queue_url(&o, &format!("{}.fifo", unique_table("fifo")));
    let q = SqsJobQueue::connect(&url, &o, SHORT).unwrap();
    q.send(&msg("job-3")).unwrap();
    q.send(&msg("job-3")).unwrap();
    q.send(&msg("job-4")).unwrap();
    let mut seen = Vec::new();
    while let Some(r) = q.receive().unwrap() {
        seen.push(r.message.job_id.clone());
        q.delete(&r).unwrap();
    }
    seen.sort();
    assert_eq!(seen, ["job-3", "job-4"], "the second send of job-3 is deduplicated");

    // A message that is not a job message is deleted, not redelivered forever.
    let plain = queue_url(&o, &unique_table("bad"));
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let cfg = tradai_aws::load_sdk_config(&o).await;
        aws_sdk_sqs::Client::new(&cfg).send_message().queue_url(&plain).message_body("not json").send().await.unwrap();
    });
    let q = SqsJobQueue::connect(&plain, &o, SHORT).unwrap();
    assert!(q.receive().unwrap().is_none());
    assert_eq!(q.depth().unwrap(), (0, 0), "the bad message is gone");
}

#[test]
fn a_missing_queue_is_named_and_bad_timings_refused() {
    let Some(o) = emulator("sqs::a_missing_queue_is_named_and_bad_timings_refused") else { return };
    let url = format!("{}/123456789012/tradai-no-such-queue", o.endpoint_url.as_deref().unwrap());
    let e = SqsJobQueue::connect(&url, &o, SHORT).unwrap_err();
    assert!(e.to_string().contains("tradai-no-such-queue"), "{e}");
    assert!(!e.is_retryable(), "{e:?}");
    let bad = QueueTiming { visibility: Duration::from_secs(1), wait: Duration::from_secs(30) };
    assert!(SqsJobQueue::connect(&url, &o, bad).unwrap_err().to_string().contains("20 s"));
}
