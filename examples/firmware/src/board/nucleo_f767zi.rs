//! The NUCLEO-F767ZI: the STM32F767's Ethernet MAC with the board's
//! LAN8742A PHY over RMII (embassy-stm32), its RNG for the TCP seed, defmt
//! over RTT, panic-probe.

use embassy_stm32::eth::{Ethernet, GenericPhy, PacketQueue, Sma};
use embassy_stm32::peripherals::{ETH, ETH_SMA};
use embassy_stm32::rng::Rng;
use embassy_stm32::time::Hertz;
use embassy_stm32::{bind_interrupts, eth, peripherals, rng};
use static_cell::StaticCell;
use {defmt_rtt as _, panic_probe as _};

/// The board's name in the start-up log.
pub const NAME: &str = "NUCLEO-F767ZI";
/// Device identification object 1 (product code).
#[cfg_attr(feature = "no-modbus", allow(dead_code))]
pub const PRODUCT_CODE: &[u8] = b"MB-F767";
/// Static address (without the `dhcp` feature): 192.168.1.50/24.
#[cfg(not(feature = "dhcp"))]
pub const ADDRESS: embassy_net::Ipv4Address = embassy_net::Ipv4Address::new(192, 168, 1, 50);
/// Prefix length of `ADDRESS`.
#[cfg(not(feature = "dhcp"))]
pub const PREFIX_LEN: u8 = 24;
/// Default gateway.
#[cfg(not(feature = "dhcp"))]
pub const GATEWAY: embassy_net::Ipv4Address = embassy_net::Ipv4Address::new(192, 168, 1, 1);

/// Locally administered MAC address (bit 1 of the first byte set).
const MAC_ADDRESS: [u8; 6] = [0x02, 0x00, 0x4d, 0x42, 0x00, 0x01];

bind_interrupts!(struct Irqs {
    ETH => eth::InterruptHandler;
    RNG => rng::InterruptHandler<peripherals::RNG>;
});

/// The embassy-net driver of this board.
pub type Device = Ethernet<'static, ETH, GenericPhy<Sma<'static, ETH_SMA>>>;

/// What the board-independent part needs from the board.
pub struct Board {
    /// The network driver, for `embassy_net::new`.
    pub device: Device,
    /// Seed of smoltcp's TCP sequence numbers and ports.
    pub seed: u64,
    /// USART2 and the transceiver's DE pin, for the RS-485 variant.
    #[cfg(all(feature = "rtu", not(feature = "no-modbus")))]
    pub rtu: crate::rtu::RtuPins,
}

/// The entry point: embassy-executor's thread-mode executor (WFE/SEV)
/// running the shared start, `crate::run`.
#[embassy_executor::main]
async fn main(spawner: embassy_executor::Spawner) {
    crate::run(spawner).await
}

/// Clocks, the RNG seed and the Ethernet MAC.
pub fn init() -> Board {
    let p = embassy_stm32::init(clock_config());

    // Seed smoltcp's TCP sequence numbers and ports from the hardware RNG.
    let mut rng = Rng::new(p.RNG, Irqs);
    let mut seed = [0u8; 8];
    rng.fill_bytes(&mut seed);
    let seed = u64::from_le_bytes(seed);

    static PACKETS: StaticCell<PacketQueue<4, 4>> = StaticCell::new();
    // NUCLEO-F767ZI RMII pins (UM1974, table 13).
    let device = Ethernet::new(
        PACKETS.init(PacketQueue::<4, 4>::new()),
        p.ETH,
        Irqs,
        p.PA1,  // REF_CLK
        p.PA7,  // CRS_DV
        p.PC4,  // RXD0
        p.PC5,  // RXD1
        p.PG13, // TXD0
        p.PB13, // TXD1
        p.PG11, // TX_EN
        MAC_ADDRESS,
        p.ETH_SMA,
        p.PA2, // MDIO
        p.PC1, // MDC
    );
    Board {
        device,
        seed,
        // Zio connector: TX PD5, RX PD6, DE on PD4 (USART2's RTS pin).
        #[cfg(all(feature = "rtu", not(feature = "no-modbus")))]
        rtu: crate::rtu::RtuPins {
            usart: p.USART2,
            tx: p.PD5,
            rx: p.PD6,
            de: p.PD4,
        },
    }
}

/// 216 MHz from the 8 MHz ST-LINK clock (HSE bypass), 48 MHz for the RNG.
fn clock_config() -> embassy_stm32::Config {
    use embassy_stm32::rcc::*;
    let mut config = embassy_stm32::Config::default();
    config.rcc.hse = Some(Hse {
        freq: Hertz(8_000_000),
        mode: HseMode::Bypass,
    });
    config.rcc.pll_src = PllSource::HSE;
    config.rcc.pll = Some(Pll {
        prediv: PllPreDiv::DIV4,
        mul: PllMul::MUL216,
        divp: Some(PllPDiv::DIV2), // 8 / 4 * 216 / 2 = 216 MHz
        divq: Some(PllQDiv::DIV9), // 8 / 4 * 216 / 9 = 48 MHz
        divr: None,
    });
    config.rcc.ahb_pre = AHBPrescaler::DIV1;
    config.rcc.apb1_pre = APBPrescaler::DIV4;
    config.rcc.apb2_pre = APBPrescaler::DIV2;
    config.rcc.sys = Sysclk::PLL1_P;
    config
}
