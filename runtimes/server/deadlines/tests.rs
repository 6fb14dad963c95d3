//! The deadline thread against the wall clock: sleeps end at (not before)
//! their deadlines and in their order, wake the waker of their latest
//! poll, and dropped ones do not pile up.

use super::*;
use core::time::Duration;
use futures::task::ArcWake;
use std::sync::atomic::AtomicU32;

/// A waker that counts its wake-ups.
#[derive(Default)]
struct Counting(AtomicU32);

impl ArcWake for Counting {
    fn wake_by_ref(arc_self: &Arc<Self>) {
        arc_self.0.fetch_add(1, Ordering::SeqCst);
    }
}

/// Wakes the thread that blocks on a future.
struct Unpark(std::thread::Thread);

impl ArcWake for Unpark {
    fn wake_by_ref(arc_self: &Arc<Self>) {
        arc_self.0.unpark();
    }
}

/// Polls `future` on this thread until it ends (bounded by the test's own
/// checks: every future here ends within a second).
fn block_on<F: Future>(future: F) -> F::Output {
    let waker = futures::task::waker(Arc::new(Unpark(std::thread::current())));
    let mut cx = Context::from_waker(&waker);
    let mut future = core::pin::pin!(future);
    let give_up = Instant::now() + Duration::from_secs(5);
    loop {
        if let Poll::Ready(out) = future.as_mut().poll(&mut cx) {
            return out;
        }
        assert!(Instant::now() < give_up, "never woken");
        std::thread::park_timeout(Duration::from_secs(1));
    }
}

fn sleep(after: Duration) -> (Sleep, Instant) {
    let at = Instant::now() + after;
    (sleep_until(at).expect("the deadline thread starts"), at)
}

#[test]
fn sleeps_end_at_their_deadlines_in_their_order() {
    let (late, late_at) = sleep(Duration::from_millis(60));
    let (early, early_at) = sleep(Duration::from_millis(20));
    let (middle, middle_at) = sleep(Duration::from_millis(40));
    let ended = |sleep: Sleep| async move {
        sleep.await;
        Instant::now()
    };
    let (late_end, early_end, middle_end) = block_on(futures::future::join3(
        ended(late),
        ended(early),
        ended(middle),
    ));
    assert!(early_end >= early_at && middle_end >= middle_at && late_end >= late_at);
    assert!(early_end <= middle_end && middle_end <= late_end);
    assert!(late_end < late_at + Duration::from_secs(1), "not lost");
}

#[test]
fn a_passed_deadline_ends_at_the_first_poll() {
    let mut passed = sleep_until(Instant::now()).expect("the deadline thread starts");
    let mut cx = Context::from_waker(core::task::Waker::noop());
    assert!(Pin::new(&mut passed).poll(&mut cx).is_ready());
}

#[test]
fn the_waker_of_the_latest_poll_is_woken() {
    let (mut sleep, at) = sleep(Duration::from_millis(20));
    let first = Arc::new(Counting::default());
    let latest = Arc::new(Counting::default());
    let first_waker = futures::task::waker(Arc::clone(&first));
    let latest_waker = futures::task::waker(Arc::clone(&latest));
    assert!(Pin::new(&mut sleep)
        .poll(&mut Context::from_waker(&first_waker))
        .is_pending());
    assert!(Pin::new(&mut sleep)
        .poll(&mut Context::from_waker(&latest_waker))
        .is_pending());
    let give_up = Instant::now() + Duration::from_secs(2);
    while latest.0.load(Ordering::SeqCst) == 0 && Instant::now() < give_up {
        std::thread::sleep(Duration::from_millis(2));
    }
    assert_eq!(latest.0.load(Ordering::SeqCst), 1);
    assert_eq!(first.0.load(Ordering::SeqCst), 0);
    assert!(Instant::now() >= at);
    assert!(Pin::new(&mut sleep)
        .poll(&mut Context::from_waker(&latest_waker))
        .is_ready());
}

#[test]
fn dropped_sleeps_do_not_pile_up() {
    let mut cx = Context::from_waker(core::task::Waker::noop());
    for _ in 0..4 * PURGE_ABOVE {
        let (mut sleep, _) = sleep(Duration::from_secs(600));
        assert!(Pin::new(&mut sleep).poll(&mut cx).is_pending());
    }
    // Other tests' sleeps may be registered meanwhile: a few, not thousands.
    let held = lock(&deadlines().expect("started").due).len();
    assert!(held <= PURGE_ABOVE + 64, "{held} entries held");
}
