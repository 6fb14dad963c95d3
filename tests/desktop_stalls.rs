//! A client that keeps sending requests but never reads its responses:
//! once the socket buffers are full the server's writes stall, and after the
//! idle timeout the server drops the connection (and only that one).
#![cfg(all(feature = "async-std", feature = "smol", feature = "tokio"))]

mod desktop_common;

use std::io::{ErrorKind, Write};
use std::net::TcpStream;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use desktop_common::*;
use modbus_device::runtimes::{ConnectionEvent, DisconnectReason, Runtime};
use modbus_device::{CloseReason, DataBank, Service};

all_runtimes!(a_client_that_never_reads_is_dropped);

fn a_client_that_never_reads_is_dropped<R: Runtime>() {
    let mut config = loopback_config();
    config.engine.idle_timeout = Some(Duration::from_millis(1500));
    let (server, addr) = start::<R, _, _>(config, Service::new(DataBank::default()));
    let (events, disconnects) = mpsc::channel();
    server.on_event(move |event| {
        if let ConnectionEvent::Disconnected { reason, .. } = event {
            let _ = events.send(reason.clone());
        }
    });

    let mut stalled = TcpStream::connect(addr).unwrap();
    socket2::SockRef::from(&stalled)
        .set_recv_buffer_size(4096)
        .unwrap();
    // Blocked for a whole second means the server stopped reading: it is
    // stuck writing responses nobody reads (not merely busy).
    stalled
        .set_write_timeout(Some(Duration::from_secs(1)))
        .unwrap();
    // FC 3 x 125: 12 bytes in, 259 bytes out. Send until our writes block
    // (the server stopped reading because its own writes stalled), bounded.
    let request = mbap_frame(1, 1, &[0x03, 0x00, 0x00, 0x00, 0x7D]);
    let batch: Vec<u8> = request
        .iter()
        .copied()
        .cycle()
        .take(request.len() * 1000)
        .collect();
    let started = Instant::now();
    for _ in 0..10_000 {
        match stalled.write(&batch) {
            Ok(_) => {}
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => break,
            // Already dropped: with its send buffer capped (64 KiB by
            // default) the server stalls within milliseconds, and the idle
            // timeout can pass while our own send buffer still takes bytes.
            Err(e) if matches!(e.kind(), ErrorKind::ConnectionReset | ErrorKind::BrokenPipe) => {
                break
            }
            Err(e) => panic!("write failed before the server stalled: {e}"),
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "the server never stopped reading"
        );
    }

    // Meanwhile another client is served normally.
    let mut healthy = RawClient::connect(addr);
    assert_eq!(healthy.read_holding(0, 2).unwrap(), [0, 0]);

    let reason = disconnects
        .recv_timeout(Duration::from_secs(10))
        .expect("the stalled connection is dropped within the idle timeout");
    // Stalled in a write: WriteTimeout; or, when the kernel's growing send
    // buffer let a write finish after the idle deadline passed: IdleTimeout.
    assert!(
        matches!(
            reason,
            DisconnectReason::Closed(CloseReason::WriteTimeout | CloseReason::IdleTimeout)
        ),
        "{reason:?}"
    );
    assert_eq!(healthy.read_holding(0, 1).unwrap(), [0]);
    drop(stalled);
    server.stop();
}
