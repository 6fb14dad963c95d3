//! The RS-485 variant (feature `rtu`): Modbus RTU on USART2 next to Modbus
//! TCP, with the same service (`modbus::SERVICE`): a write over TCP is read
//! back over RTU, and the other way round.
//!
//! USART2 on the NUCLEO-F767ZI's Zio connector: TX on PD5, RX on PD6, and
//! PD4 (the pin of USART2's RTS) as a GPIO driving the transceiver's DE and
//! /RE (a MAX485-style module): raised before each response, released once
//! the UART's `flush` says the last stop bit left. 19,200 baud, 8 data
//! bits, even parity, 1 stop bit (the Modbus default), server address 1.

use embassy_stm32::gpio::{Level, Output, Speed};
use embassy_stm32::usart::{self, BufferedUart, DataBits, Parity, StopBits};
use embassy_stm32::{bind_interrupts, peripherals, Peri};
use modbus_device::rtu::{RtuConfig, RtuEngine};
use modbus_device::runtimes::embassy::EmbassyClock;
use modbus_device::runtimes::io::Clock;
use modbus_device::runtimes::rtu::{serve_uart, Rs485};
use static_cell::{ConstStaticCell, StaticCell};

use crate::modbus::SERVICE;
use crate::warn;

bind_interrupts!(struct UartIrqs {
    USART2 => usart::BufferedInterruptHandler<peripherals::USART2>;
});

/// The line's rate.
const BAUD: u32 = 19_200;
/// This server's address on the line.
const UNIT: u8 = 1;

/// The UART's buffers: a maximal RTU frame each way.
static RX: ConstStaticCell<[u8; 256]> = ConstStaticCell::new([0; 256]);
static TX: ConstStaticCell<[u8; 256]> = ConstStaticCell::new([0; 256]);
/// The RTU engine: its 0.9 KiB of buffers in .bss, built in place at
/// start (a `const` one would sit in .data, its image in flash).
static ENGINE: StaticCell<RtuEngine> = StaticCell::new();

/// The pins and the UART the RTU task takes.
pub struct RtuPins {
    pub usart: Peri<'static, peripherals::USART2>,
    pub tx: Peri<'static, peripherals::PD5>,
    pub rx: Peri<'static, peripherals::PD6>,
    pub de: Peri<'static, peripherals::PD4>,
}

/// Serves the RS-485 line forever; a UART error (framing, parity,
/// overrun) is logged, its frame discarded, and the line served on.
#[embassy_executor::task]
pub async fn rtu_task(pins: RtuPins) -> ! {
    let mut config = usart::Config::default();
    config.baudrate = BAUD;
    config.data_bits = DataBits::DataBits8;
    config.parity = Parity::ParityEven;
    config.stop_bits = StopBits::STOP1;
    let mut uart = match BufferedUart::new(
        pins.usart,
        pins.rx,
        pins.tx,
        TX.take(),
        RX.take(),
        UartIrqs,
        config,
    ) {
        Ok(uart) => uart,
        Err(e) => {
            warn!("rtu: USART2 set-up refused: {}", e);
            loop {
                embassy_time::Timer::after_secs(3600).await;
            }
        }
    };
    let mut direction = Rs485(Output::new(pins.de, Level::Low, Speed::VeryHigh));
    let engine = ENGINE
        .init_with(|| RtuEngine::new(RtuConfig::serial(UNIT, BAUD), None, EmbassyClock.now()));
    loop {
        let error = serve_uart(&mut uart, &SERVICE, &EmbassyClock, engine, &mut direction).await;
        warn!("rtu: UART error: {}", error);
    }
}
