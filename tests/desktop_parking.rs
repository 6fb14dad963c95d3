//! Idle connections park their engine (buffers) in the server's pool and
//! take one again when bytes arrive: requests longer than the parked
//! connection's 64-byte stash, pipelined bursts and partial frames sent
//! right after a pause must all be answered exactly as on a busy connection.
#![cfg(all(feature = "async-std", feature = "smol", feature = "tokio"))]

mod desktop_common;

use std::io::Write;
use std::thread;
use std::time::Duration;

use desktop_common::*;
use modbus_device::runtimes::Runtime;
use modbus_device::{DataBank, Service};

all_runtimes!(parked_connections_answer_like_busy_ones);

/// Longer than the server's park delay (100 ms).
const PAUSE: Duration = Duration::from_millis(250);

fn parked_connections_answer_like_busy_ones<R: Runtime>() {
    let (server, addr) = start::<R, _, _>(loopback_config(), Service::new(DataBank::default()));
    let mut client = RawClient::connect(addr);

    // A first request after the connection sat idle (it starts parked).
    thread::sleep(PAUSE);
    let values: Vec<u16> = (1..=60).collect(); // FC 16 of 60 registers: 128 bytes, two stash reads
    client.write_holding(10, &values).unwrap();
    assert_eq!(client.read_holding(10, 60).unwrap(), values);

    // Parked again: a pipelined burst of 20 requests in one write.
    thread::sleep(PAUSE);
    let mut burst = Vec::new();
    for tid in 0..20u16 {
        burst.extend_from_slice(&mbap_frame(
            1000 + tid,
            1,
            &[0x03, 0x00, 10 + tid as u8, 0x00, 0x02],
        ));
    }
    client.stream.write_all(&burst).unwrap();
    for tid in 0..20u16 {
        let ((got_tid, unit), pdu) = read_frame(&mut client.stream).unwrap();
        assert_eq!((got_tid, unit), (1000 + tid, 1));
        let first = 1 + tid;
        assert_eq!(words_of(&pdu, 0x03, 2), [first, first + 1]);
    }

    // Parked again: a frame split across a pause on each side of a park.
    thread::sleep(PAUSE);
    let frame = mbap_frame(7, 1, &[0x03, 0x00, 0x0A, 0x00, 0x01]);
    client.stream.write_all(&frame[..5]).unwrap();
    thread::sleep(Duration::from_millis(50));
    client.stream.write_all(&frame[5..]).unwrap();
    let ((tid, _), pdu) = read_frame(&mut client.stream).unwrap();
    assert_eq!(tid, 7);
    assert_eq!(words_of(&pdu, 0x03, 1), [1]);

    // Many connections parked at once, then all woken.
    let mut idle: Vec<RawClient> = (0..50).map(|_| RawClient::connect(addr)).collect();
    thread::sleep(PAUSE);
    for c in &mut idle {
        assert_eq!(c.read_holding(12, 1).unwrap(), [3]);
    }
    server.stop();
}
