//! The serial variant on QEMU's mps2-an386 (features `mps2-an386,rtu`):
//! Modbus RTU on UART0 (`cmsdk_uart.rs`, QEMU's `-serial`) next to Modbus
//! TCP, with the same service (`modbus::SERVICE`): a write over RTU is
//! read back over TCP, and the other way round. `ci/qemu-serial.sh` runs
//! it with UART0 on a host pseudo-terminal.
//!
//! No direction control (`NoDirection`): UART0 is a point-to-point line
//! (QEMU's character backend), and the CMSDK UART has no transmitter-idle
//! flag a DE pin could wait for anyway (`flush` only says the last byte
//! was handed to the transmitter).
//!
//! Why 2,400 baud: QEMU does not pace the UART (bytes arrive as fast as
//! the emulator runs), so the baud rate only sets the RTU engine's
//! silences, t1.5 (inter-character, 6.9 ms here) and t3.5 (end of frame,
//! 16 ms here; at 19,200 baud and above they are 0.75 ms and 1.75 ms,
//! Modbus over serial line, 2.5.1.1). A frame's bytes reach the guest one
//! at a time, each when QEMU's main loop gets to it; a host under load (CI)
//! can pause QEMU for a few milliseconds between two bytes, which at
//! 19,200 baud would split a request into two broken frames. 16 ms of
//! margin makes that rare; the host client sets the same nominal rate.

use modbus_device::rtu::{RtuConfig, RtuEngine};
use modbus_device::runtimes::embassy::EmbassyClock;
use modbus_device::runtimes::io::Clock;
use modbus_device::runtimes::rtu::{serve_uart, NoDirection};
use static_cell::StaticCell;

use crate::cmsdk_uart::CmsdkUart;
use crate::modbus::SERVICE;
use crate::{info, warn};

/// The line's nominal rate (see the module's documentation).
pub const BAUD: u32 = 2_400;
/// This server's address on the line.
const UNIT: u8 = 1;

/// The RTU engine: its buffers in .bss, built in place at start.
static ENGINE: StaticCell<RtuEngine> = StaticCell::new();

/// Serves UART0 forever (`board::init` set it up at `BAUD`). A lost byte
/// (`RxError::Overrun`: the receive ring was full) has made the library
/// discard the frame in progress; it is logged and the line served on.
#[embassy_executor::task]
pub async fn rtu_task(mut uart: CmsdkUart) -> ! {
    // The timing follows the divisor's actual rate, which `new` rounded.
    let baud = uart.baud_rate();
    let engine = ENGINE
        .init_with(|| RtuEngine::new(RtuConfig::serial(UNIT, baud), None, EmbassyClock.now()));
    info!("rtu: unit {} on uart0 at {} baud", UNIT, baud);
    let mut errors: u32 = 0;
    loop {
        let error = serve_uart(&mut uart, &SERVICE, &EmbassyClock, engine, &mut NoDirection).await;
        errors = errors.wrapping_add(1);
        warn!(
            "rtu: uart0 error {} ({} so far; {} bytes dropped, {} overruns); frame discarded",
            error,
            errors,
            uart.dropped(),
            uart.hardware_overruns()
        );
    }
}
