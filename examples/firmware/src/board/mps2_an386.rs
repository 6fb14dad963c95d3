//! QEMU's `mps2-an386` (Arm MPS2 FPGA image AN386, a Cortex-M4F at
//! 25 MHz): the SMSC LAN9118 at 0x4020_0000 on IRQ 13 (`lan9118.rs`), the
//! FPGA counter and SysTick as embassy-time's driver (`time_driver.rs`),
//! and logs, panics and hard faults over semihosting (QEMU's
//! `-semihosting`), where a panic or fault ends QEMU with exit status 1.
//!
//! Under QEMU's user-mode network (`-nic user,model=lan9118`) the guest is
//! 10.0.2.15/24 with the gateway at 10.0.2.2 (QEMU's defaults, which its
//! DHCP server also offers: the `dhcp` feature works too).

use cortex_m::peripheral::NVIC;
use cortex_m_rt::{exception, ExceptionFrame};
use cortex_m_semihosting::{debug, hprintln};

use crate::lan9118::{self, Lan9118};
use crate::{time_driver, wfi_executor};

/// The board's name in the start-up log.
pub const NAME: &str = "QEMU mps2-an386 (LAN9118)";
/// Device identification object 1 (product code).
#[cfg_attr(feature = "no-modbus", allow(dead_code))]
pub const PRODUCT_CODE: &[u8] = b"MB-AN386";
/// Static address (without the `dhcp` feature): QEMU's user-net guest.
#[cfg(not(feature = "dhcp"))]
pub const ADDRESS: embassy_net::Ipv4Address = embassy_net::Ipv4Address::new(10, 0, 2, 15);
/// Prefix length of `ADDRESS`.
#[cfg(not(feature = "dhcp"))]
pub const PREFIX_LEN: u8 = 24;
/// QEMU's user-net gateway.
#[cfg(not(feature = "dhcp"))]
pub const GATEWAY: embassy_net::Ipv4Address = embassy_net::Ipv4Address::new(10, 0, 2, 2);

/// Locally administered MAC address (bit 1 of the first byte set).
const MAC_ADDRESS: [u8; 6] = [0x02, 0x00, 0x4d, 0x42, 0x00, 0x02];

/// Logs a line on the host's standard output (semihosting); `core::fmt`
/// format strings, the same ones the defmt board uses.
macro_rules! log_info {
    ($($arg:tt)*) => {
        cortex_m_semihosting::hprintln!("INFO  {}", format_args!($($arg)*))
    };
}
/// Like `log_info`, marked as a warning.
macro_rules! log_warn {
    ($($arg:tt)*) => {
        cortex_m_semihosting::hprintln!("WARN  {}", format_args!($($arg)*))
    };
}
pub(crate) use {log_info, log_warn};

/// The embassy-net driver of this board.
pub type Device = Lan9118;

/// What the board-independent part needs from the board.
pub struct Board {
    /// The network driver, for `embassy_net::new`.
    pub device: Device,
    /// Seed of smoltcp's TCP sequence numbers and ports.
    pub seed: u64,
    /// UART0, set up for Modbus RTU (`rtu_cmsdk.rs`), its interrupts on.
    #[cfg(feature = "rtu")]
    pub rtu: crate::cmsdk_uart::CmsdkUart,
}

/// The LAN9118's NVIC line, for `NVIC::unmask`.
#[derive(Clone, Copy)]
struct Lan9118Irq;

// SAFETY: `number` returns a valid interrupt number of this device (the
// MPS2 AN386 has 32 external interrupts; the LAN9118 is on line 13), as
// `InterruptNumber` requires.
unsafe impl cortex_m::interrupt::InterruptNumber for Lan9118Irq {
    fn number(self) -> u16 {
        lan9118::IRQ
    }
}

/// The entry point: the shared start, `crate::run`, on an executor that
/// sleeps with WFI (`wfi_executor.rs`).
#[cortex_m_rt::entry]
fn entry() -> ! {
    wfi_executor::run(|spawner| spawner.spawn(main_task(spawner).expect("spawned once")))
}

#[embassy_executor::task]
async fn main_task(spawner: embassy_executor::Spawner) {
    #[cfg(feature = "serial-echo")]
    crate::serial_echo::start(spawner);
    crate::run(spawner).await
}

/// The time driver, the LAN9118, its interrupt.
pub fn init() -> Board {
    let Some(mut core) = cortex_m::Peripherals::take() else {
        panic!("core peripherals taken twice");
    };
    time_driver::start(&mut core.SYST);
    let device = match Lan9118::new(MAC_ADDRESS) {
        Ok(device) => device,
        Err(e) => panic!("LAN9118: {}", e),
    };
    // Not a cryptographic seed (there is no RNG on this board): the chip's
    // counter differs from run to run under QEMU, which follows host time.
    let seed = u64::from(device.free_running_counter()) << 32 | 0x4d42_0002;
    // SAFETY: unmasking can break critical sections that rely on this line
    // being masked; none does. `DefaultHandler` below handles the line.
    unsafe { NVIC::unmask(Lan9118Irq) };
    #[cfg(feature = "rtu")]
    let rtu = match crate::cmsdk_uart::CmsdkUart::new(crate::rtu::BAUD) {
        Ok(uart) => {
            unmask_uart0();
            uart
        }
        Err(e) => panic!("UART0: {}", e),
    };
    Board {
        device,
        seed,
        #[cfg(feature = "rtu")]
        rtu,
    }
}

/// UART0's NVIC lines (`cmsdk_uart.rs`), for `NVIC::unmask`.
#[cfg(any(feature = "serial-echo", feature = "rtu"))]
#[derive(Clone, Copy)]
struct Uart0Irq(u16);

// SAFETY: `number` returns a valid interrupt number of this device: only
// `unmask_uart0` builds one, from `cmsdk_uart`'s lines 0, 1 and 12 (of 32).
#[cfg(any(feature = "serial-echo", feature = "rtu"))]
unsafe impl cortex_m::interrupt::InterruptNumber for Uart0Irq {
    fn number(self) -> u16 {
        self.0
    }
}

/// Unmasks UART0's RX, TX and overrun lines, once `CmsdkUart::new` has
/// set the UART up.
#[cfg(any(feature = "serial-echo", feature = "rtu"))]
pub fn unmask_uart0() {
    use crate::cmsdk_uart::{OVERRUN_IRQ, RX_IRQ, TX_IRQ};
    for line in [RX_IRQ, TX_IRQ, OVERRUN_IRQ] {
        // SAFETY: as for the LAN9118's line in `init`: no critical section
        // relies on these being masked; `DefaultHandler` handles them.
        unsafe { NVIC::unmask(Uart0Irq(line)) };
    }
}

// External interrupts: cortex-m-rt routes all of them here (there is no
// device crate for this board). Only the LAN9118's is enabled, and with
// `serial-echo` or `rtu` UART0's.
// SAFETY: cortex-m-rt requires `DefaultHandler` to be an `unsafe fn`; this
// one only touches the LAN9118's and UART0's registers (as the drivers
// do) or exits.
#[exception]
unsafe fn DefaultHandler(irqn: i16) {
    #[cfg(any(feature = "serial-echo", feature = "rtu"))]
    if crate::cmsdk_uart::on_interrupt(irqn) {
        return;
    }
    if irqn == lan9118::IRQ as i16 {
        lan9118::on_interrupt();
    } else {
        hprintln!("FATAL unexpected exception or interrupt {}", irqn);
        debug::exit(debug::EXIT_FAILURE);
    }
}

// SAFETY: cortex-m-rt requires the hard fault handler to be an `unsafe fn`
// (it runs on a possibly corrupt stack); this one only prints the frame and
// exits through semihosting.
#[exception]
unsafe fn HardFault(frame: &ExceptionFrame) -> ! {
    hprintln!("FATAL hard fault: {:?}", frame);
    debug::exit(debug::EXIT_FAILURE);
    loop {
        cortex_m::asm::wfi();
    }
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo) -> ! {
    hprintln!("PANIC {}", info);
    debug::exit(debug::EXIT_FAILURE);
    loop {
        cortex_m::asm::wfi();
    }
}
