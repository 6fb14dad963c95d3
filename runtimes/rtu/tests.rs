//! The RTU port driver in virtual time: a response leaves exactly t3.5
//! after the request's last byte, the direction pin frames each write, and
//! an RTU-over-TCP connection idles out.

use core::cell::RefCell;
use core::pin::pin;
use core::time::Duration;
use std::vec::Vec;

use super::{serve_rtu, Direction, NoDirection};
use crate::rtu::{RtuConfig, RtuEngine};
use crate::runtimes::io::tests::service;
use crate::runtimes::io::virtual_time::{ms, run, run_until, Peer, Reads, VirtualClock};
use crate::runtimes::io::ConnectionEnd;
use crate::{CloseReason, Instant};

/// FC 3, one register at 0, address 1.
const REQUEST: [u8; 8] = [0x01, 0x03, 0x00, 0x00, 0x00, 0x01, 0x84, 0x0A];
/// Register 0 is 7.
const RESPONSE: [u8; 7] = [0x01, 0x03, 0x02, 0x00, 0x07, 0xF9, 0x86];

/// Records when the line was driven and released.
struct Recorder<'c> {
    clock: &'c VirtualClock,
    log: RefCell<Vec<(Instant, bool)>>,
}

impl Direction for Recorder<'_> {
    const DRIVES_LINE: bool = true;

    fn transmit(&mut self) {
        use crate::runtimes::io::Clock;
        self.log.borrow_mut().push((self.clock.now(), true));
    }

    fn receive(&mut self) {
        use crate::runtimes::io::Clock;
        self.log.borrow_mut().push((self.clock.now(), false));
    }
}

#[test]
fn a_response_leaves_t3_5_after_the_request_with_the_line_driven_around_it() {
    let clock = VirtualClock::starting_at(ms(0));
    let service = service();
    // 19,200 baud: t3.5 = 2,006 µs. The write takes 3.6 ms (7 characters).
    let mut peer = Peer::new(&clock, Reads::Slowly(Duration::from_micros(3_600)))
        .sends(ms(10), &REQUEST)
        .sends(ms(30), &REQUEST);
    let mut engine = RtuEngine::new(RtuConfig::serial(1, 19_200), None, ms(0));
    let mut pin = Recorder {
        clock: &clock,
        log: RefCell::new(Vec::new()),
    };
    {
        let serving = pin!(serve_rtu(
            &mut peer,
            &service,
            &clock,
            &mut engine,
            &mut pin
        ));
        assert!(
            run_until(&clock, serving, ms(100)).is_none(),
            "a line never ends"
        );
    }
    let sent = Instant::from_micros(12_006);
    let done = Instant::from_micros(15_606);
    assert_eq!(
        peer.received,
        [
            (done, RESPONSE.to_vec()),
            (Instant::from_micros(35_606), RESPONSE.to_vec())
        ]
    );
    assert_eq!(
        pin.log.into_inner()[..2],
        [(sent, true), (done, false)],
        "driven from the end of t3.5 until the write and flush completed"
    );
}

#[test]
fn rtu_over_tcp_answers_at_once_and_idles_out() {
    let clock = VirtualClock::starting_at(ms(0));
    let service = service();
    let mut peer = Peer::new(&clock, Reads::Promptly).sends(ms(10), &REQUEST);
    let config = RtuConfig::stream(Some(Duration::from_millis(500)));
    let mut engine = RtuEngine::new(config, None, ms(0));
    let end = run(
        &clock,
        pin!(serve_rtu(
            &mut peer,
            &service,
            &clock,
            &mut engine,
            &mut NoDirection
        )),
    );
    assert_eq!(end, ConnectionEnd::Closed(CloseReason::IdleTimeout));
    assert_eq!(clock_now(&clock), ms(510));
    assert_eq!(peer.received, [(ms(10), RESPONSE.to_vec())]);
}

fn clock_now(clock: &VirtualClock) -> Instant {
    use crate::runtimes::io::Clock;
    clock.now()
}

#[test]
fn a_client_that_keeps_the_stream_busy_yields_every_8_kib() {
    let clock = VirtualClock::starting_at(ms(0));
    let service = service();
    // 2,048 requests (16 KiB) all there at once.
    let mut peer = Peer::new(&clock, Reads::Promptly);
    for _ in 0..2_048 {
        peer = peer.sends(ms(1), &REQUEST);
    }
    let config = RtuConfig::stream(Some(Duration::from_millis(500)));
    let mut engine = RtuEngine::new(config, None, ms(0));
    let end = run(
        &clock,
        pin!(serve_rtu(
            &mut peer,
            &service,
            &clock,
            &mut engine,
            &mut NoDirection
        )),
    );
    assert_eq!(end, ConnectionEnd::Closed(CloseReason::IdleTimeout));
    assert_eq!(peer.received.len(), 2_048);
    assert_eq!(clock.yields(), 2, "one yield per 8 KiB read");
}
