//! Feature `serial-echo` (mps2-an386): a task that echoes every byte it
//! reads on UART0 (`cmsdk_uart.rs`), the test hook of the serial path until
//! a Modbus RTU server takes its place. `ci/qemu-serial.sh` connects UART0
//! to a host PTY (QEMU's `-serial pty`) and checks the echo.
//!
//! After each read it logs the drop counters, and how many times `read`
//! reported the loss in-band, if they changed, so the host can account
//! for every byte of a burst: echoed + dropped = sent.

use embassy_executor::Spawner;
use embedded_io_async::{Read, Write};

use crate::cmsdk_uart::{self, CmsdkUart, RxError};

/// The line's nominal rate. QEMU does not pace bytes at it; it fixes the
/// divisor, and would fix RTU's inter-frame timing.
const BAUD_RATE: u32 = 19_200;

/// Sets up UART0 (the caller routes its interrupts to
/// `cmsdk_uart::on_interrupt`) and starts the echo task.
pub fn start(spawner: Spawner) {
    let uart = match CmsdkUart::new(BAUD_RATE) {
        Ok(uart) => uart,
        Err(e) => panic!("UART0: {}", e),
    };
    crate::board::unmask_uart0();
    crate::info!("uart0: echo at {} baud", uart.baud_rate());
    spawner.spawn(echo_task(uart).expect("echo task spawned once"));
}

#[embassy_executor::task]
async fn echo_task(mut uart: CmsdkUart) -> ! {
    let mut buffer = [0u8; 64];
    let mut overrun_errors: u32 = 0;
    let mut logged = (0, 0, 0);
    loop {
        match uart.read(&mut buffer).await {
            // `read` returns at most `buffer.len()`. `write_all` never
            // fails (cmsdk_uart.rs): nothing to handle.
            Ok(n) => {
                let _ = uart.write_all(&buffer[..n.min(buffer.len())]).await;
            }
            // Bytes were lost here; what follows is echoed as it comes.
            Err(RxError::Overrun) => overrun_errors = overrun_errors.wrapping_add(1),
        }
        let counters = (uart.dropped(), uart.hardware_overruns(), overrun_errors);
        if counters != logged {
            logged = counters;
            crate::info!(
                "uart0: dropped {} (ring of {} full), overruns {}, overrun errors read {}",
                counters.0,
                cmsdk_uart::RX_RING,
                counters.1,
                counters.2
            );
        }
    }
}
