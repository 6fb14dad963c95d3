//! An embassy-net driver for the SMSC LAN9118 Ethernet controller as QEMU
//! emulates it on the MPS2 boards (`hw/net/lan9118.c`): registers at
//! `BASE`, interrupt line `IRQ`.
//!
//! Register semantics are those of SMSC's LAN9118 datasheet (its register
//! description), checked against what QEMU's model does:
//!
//! - RX: each received frame puts one status word in the RX status FIFO
//!   (length with the 4-byte FCS in bits 29:16, error summary in bit 15)
//!   and its bytes in the RX data FIFO, little-endian, padded to whole
//!   words. Every frame raises `RSFL` (RX status FIFO level above
//!   `FIFO_INT`'s level, 0 here); `on_interrupt` acknowledges it and wakes
//!   the runner, which then drains the FIFO through `receive`. QEMU holds
//!   176 statuses and drops frames beyond that, so draining promptly
//!   matters more than anything else here.
//! - TX: a frame is command A (first and last segment, buffer size),
//!   command B (frame length), then its bytes as words into the TX data
//!   FIFO. QEMU sends it when the last word is written. TX status words are
//!   allowed to overrun (`TXSAO`): nothing reads them.
//! - The line is level-triggered and only follows `INT_STS & INT_EN` once
//!   `IRQ_CFG` has EN, POL (active high) and TYPE (push-pull) set; QEMU
//!   holds it asserted before that.
//! - `MAC_CR` resets with the MAC promiscuous and RX/TX off: `new` turns
//!   promiscuous mode off (own address and broadcast only) and RX/TX on.
//! - The internal PHY's link bit (basic status, bit 2) is read at start and
//!   again after each PHY interrupt (link down, auto-negotiation complete).
//!
//! Every wait on the chip is bounded (`SPINS` reads); the only `unsafe` is
//! the volatile access to the register block, in `Regs`.

use core::sync::atomic::{AtomicBool, Ordering};
use core::task::Context;

use embassy_net_driver::{Capabilities, Driver, HardwareAddress, LinkState};
use embassy_sync::waitqueue::AtomicWaker;

/// The register block on QEMU's mps2-an385/an386 (0x100 bytes).
const BASE: usize = 0x4020_0000;
/// Its NVIC interrupt number on mps2-an385/an386.
pub const IRQ: u16 = 13;

/// Register offsets (the datasheet's register map); only these are ever
/// accessed.
mod reg {
    pub const RX_DATA_FIFO: usize = 0x00;
    pub const TX_DATA_FIFO: usize = 0x20;
    pub const RX_STATUS_FIFO: usize = 0x40;
    pub const ID_REV: usize = 0x50;
    pub const IRQ_CFG: usize = 0x54;
    pub const INT_STS: usize = 0x58;
    pub const INT_EN: usize = 0x5C;
    pub const BYTE_TEST: usize = 0x64;
    pub const FIFO_INT: usize = 0x68;
    pub const RX_CFG: usize = 0x6C;
    pub const TX_CFG: usize = 0x70;
    pub const HW_CFG: usize = 0x74;
    pub const RX_FIFO_INF: usize = 0x7C;
    pub const TX_FIFO_INF: usize = 0x80;
    pub const PMT_CTRL: usize = 0x84;
    pub const FREE_RUN: usize = 0x9C;
    pub const MAC_CSR_CMD: usize = 0xA4;
    pub const MAC_CSR_DATA: usize = 0xA8;
}

/// MAC control and status registers, reached through MAC_CSR_CMD/DATA.
mod mac {
    pub const MAC_CR: u32 = 1;
    pub const ADDRH: u32 = 2;
    pub const ADDRL: u32 = 3;
    pub const MII_ACC: u32 = 6;
    pub const MII_DATA: u32 = 7;
    // MAC_CR bits.
    pub const FDPX: u32 = 1 << 20;
    pub const TXEN: u32 = 1 << 3;
    pub const RXEN: u32 = 1 << 2;
}

/// Interrupt bits (INT_STS, INT_EN).
const INT_RSFL: u32 = 1 << 3;
const INT_PHY: u32 = 1 << 18;
/// IRQ_CFG: enable, active high, push-pull.
const IRQ_CFG_EN_POL_TYPE: u32 = (1 << 8) | (1 << 4) | 1;
/// MAC_CSR_CMD: busy (start), read.
const CSR_BUSY: u32 = 1 << 31;
const CSR_READ: u32 = 1 << 30;
/// TX_CFG: transmitter on, status FIFO allowed to overrun.
const TX_CFG_ON_SAO: u32 = (1 << 1) | (1 << 2);
/// HW_CFG soft reset; PMT_CTRL ready.
const HW_CFG_SRST: u32 = 1;
const PMT_READY: u32 = 1;
/// RX status word: error summary.
const RX_STATUS_ERROR: u32 = 1 << 15;
/// TX command A: first and last segment.
const TX_CMD_A_FIRST_LAST: u32 = (1 << 13) | (1 << 12);
/// The internal PHY (address 1) and its registers.
const PHY_ADDRESS: u32 = 1;
const PHY_BASIC_STATUS: u32 = 1;
const PHY_BASIC_STATUS_LINK: u32 = 1 << 2;
const PHY_INTERRUPT_SOURCE: u32 = 29;
const PHY_INTERRUPT_MASK: u32 = 30;
/// PHY interrupts: link down, auto-negotiation complete.
const PHY_INT_LINK: u32 = (1 << 4) | (1 << 6);

/// Bound of every wait on the chip (register reads). QEMU answers at once;
/// a real chip within microseconds.
const SPINS: u32 = 100_000;
/// Ethernet MTU as embassy-net counts it: 1500 bytes of IP and the 14-byte
/// header, without the FCS.
const MTU: usize = 1514;
/// RX buffer: a maximal frame with its FCS, in whole words.
const RX_BUFFER: usize = 1520;
/// TX data FIFO space a frame may need: the frame and its two command words.
const TX_NEEDED: u32 = (MTU + 8) as u32;
/// Frames read per `receive` call at most, counting dropped ones, before
/// it yields (and wakes itself) to let the stack run.
const RX_BATCH: usize = 8;

/// Why the chip could not be brought up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Error {
    /// BYTE_TEST did not read 0x87654321: no LAN9118 (or wrong endianness).
    ByteTest(u32),
    /// ID_REV is not a LAN9118's.
    Id(u32),
    /// A bounded wait ran out (reset, PMT ready, MAC CSR or MII busy).
    Timeout,
}

impl core::fmt::Display for Error {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Error::ByteTest(v) => write!(f, "BYTE_TEST read {v:#010x}"),
            Error::Id(v) => write!(f, "ID_REV {v:#010x} is not a LAN9118"),
            Error::Timeout => f.write_str("the chip did not answer in time"),
        }
    }
}

/// The register block at `BASE`. Zero-sized: there is one chip.
#[derive(Clone, Copy)]
struct Regs;

impl Regs {
    fn read(self, offset: usize) -> u32 {
        // SAFETY: BASE is the LAN9118's register block on this board
        // (device memory, not Rust memory), and `offset` is one of the
        // word-aligned offsets in `reg`, inside its 0x100 bytes. A volatile
        // word read is how the chip is accessed; reads of the FIFO ports pop
        // a word, which only this driver does.
        unsafe { core::ptr::read_volatile((BASE + offset) as *const u32) }
    }

    fn write(self, offset: usize, value: u32) {
        // SAFETY: as in `read`: a word-aligned register of the chip's block
        // at BASE, written with a volatile word store.
        unsafe { core::ptr::write_volatile((BASE + offset) as *mut u32, value) }
    }

    /// Spins until `read(offset) & mask == want`, at most SPINS reads.
    fn wait(self, offset: usize, mask: u32, want: u32) -> Result<(), Error> {
        for _ in 0..SPINS {
            if self.read(offset) & mask == want {
                return Ok(());
            }
        }
        Err(Error::Timeout)
    }

    fn mac_read(self, index: u32) -> Result<u32, Error> {
        self.wait(reg::MAC_CSR_CMD, CSR_BUSY, 0)?;
        self.write(reg::MAC_CSR_CMD, CSR_BUSY | CSR_READ | index);
        self.wait(reg::MAC_CSR_CMD, CSR_BUSY, 0)?;
        Ok(self.read(reg::MAC_CSR_DATA))
    }

    fn mac_write(self, index: u32, value: u32) -> Result<(), Error> {
        self.wait(reg::MAC_CSR_CMD, CSR_BUSY, 0)?;
        self.write(reg::MAC_CSR_DATA, value);
        self.write(reg::MAC_CSR_CMD, CSR_BUSY | index);
        self.wait(reg::MAC_CSR_CMD, CSR_BUSY, 0)
    }

    /// MII_ACC: PHY address in 15:11, register in 10:6, write in 1, busy in 0.
    fn mii_command(index: u32, write: bool) -> u32 {
        (PHY_ADDRESS << 11) | (index << 6) | (u32::from(write) << 1) | 1
    }

    fn mii_wait(self) -> Result<(), Error> {
        for _ in 0..SPINS {
            if self.mac_read(mac::MII_ACC)? & 1 == 0 {
                return Ok(());
            }
        }
        Err(Error::Timeout)
    }

    fn phy_read(self, index: u32) -> Result<u32, Error> {
        self.mii_wait()?;
        self.mac_write(mac::MII_ACC, Self::mii_command(index, false))?;
        self.mii_wait()?;
        Ok(self.mac_read(mac::MII_DATA)? & 0xFFFF)
    }

    fn phy_write(self, index: u32, value: u32) -> Result<(), Error> {
        self.mii_wait()?;
        self.mac_write(mac::MII_DATA, value & 0xFFFF)?;
        self.mac_write(mac::MII_ACC, Self::mii_command(index, true))?;
        self.mii_wait()
    }

    fn link_up(self) -> Result<bool, Error> {
        Ok(self.phy_read(PHY_BASIC_STATUS)? & PHY_BASIC_STATUS_LINK != 0)
    }
}

/// Woken by `on_interrupt`: a frame arrived or the PHY changed.
static WAKER: AtomicWaker = AtomicWaker::new();
/// Set by `on_interrupt` on a PHY interrupt; `link_state` re-reads the PHY.
static PHY_CHANGED: AtomicBool = AtomicBool::new(false);

/// The interrupt handler's work: acknowledge what is pending (the line
/// drops), note a PHY change, wake the runner. Call it on IRQ 13.
pub fn on_interrupt() {
    let pending = Regs.read(reg::INT_STS);
    Regs.write(reg::INT_STS, pending); // write 1 to clear
    if pending & INT_PHY != 0 {
        PHY_CHANGED.store(true, Ordering::Release);
    }
    WAKER.wake();
}

/// The LAN9118 as an embassy-net driver.
pub struct Lan9118 {
    mac_address: [u8; 6],
    link_up: bool,
    rx: [u8; RX_BUFFER],
    tx: [u8; MTU],
}

impl Lan9118 {
    /// Resets the chip and starts it with `mac_address`: RX of that address
    /// and broadcast, TX, RX and PHY interrupts enabled on its line (the
    /// caller unmasks `IRQ` in the NVIC and routes it to `on_interrupt`).
    pub fn new(mac_address: [u8; 6]) -> Result<Self, Error> {
        let regs = Regs;
        let test = regs.read(reg::BYTE_TEST);
        if test != 0x8765_4321 {
            return Err(Error::ByteTest(test));
        }
        let id = regs.read(reg::ID_REV);
        if id >> 16 != 0x0118 {
            return Err(Error::Id(id));
        }
        regs.write(reg::HW_CFG, HW_CFG_SRST);
        regs.wait(reg::HW_CFG, HW_CFG_SRST, 0)?;
        regs.wait(reg::PMT_CTRL, PMT_READY, PMT_READY)?;

        let [a, b, c, d, e, f] = mac_address;
        regs.mac_write(mac::ADDRL, u32::from_le_bytes([a, b, c, d]))?;
        regs.mac_write(mac::ADDRH, u32::from_le_bytes([e, f, 0, 0]))?;

        // RSFL on every frame: RX status level 0 (bits 7:0); the rest as reset.
        let fifo_int = regs.read(reg::FIFO_INT);
        regs.write(reg::FIFO_INT, fifo_int & !0xFF);
        regs.write(reg::RX_CFG, 0); // no offset, 4-byte end alignment
        regs.write(reg::TX_CFG, TX_CFG_ON_SAO);
        // Not promiscuous: own address (perfect filter) and broadcast.
        regs.mac_write(mac::MAC_CR, mac::FDPX | mac::TXEN | mac::RXEN)?;

        regs.phy_write(PHY_INTERRUPT_MASK, PHY_INT_LINK)?;
        regs.phy_read(PHY_INTERRUPT_SOURCE)?; // clears what reset left
        let link_up = regs.link_up()?;

        regs.write(reg::INT_STS, u32::MAX);
        regs.write(reg::INT_EN, INT_RSFL | INT_PHY);
        regs.write(reg::IRQ_CFG, IRQ_CFG_EN_POL_TYPE);
        Ok(Self {
            mac_address,
            link_up,
            rx: [0; RX_BUFFER],
            tx: [0; MTU],
        })
    }

    /// The chip's free-running 25 MHz counter (FREE_RUN), for a seed.
    pub fn free_running_counter(&self) -> u32 {
        Regs.read(reg::FREE_RUN)
    }

    /// Pops the next frame into `self.rx`; its length without the FCS, or
    /// None if it had an error or does not fit (its words are read and
    /// dropped, so the FIFOs stay in step).
    fn pop_frame(&mut self) -> Option<usize> {
        let regs = Regs;
        let status = regs.read(reg::RX_STATUS_FIFO);
        let length = ((status >> 16) & 0x3FFF) as usize; // with the FCS
        let words = length.div_ceil(4);
        let fits = status & RX_STATUS_ERROR == 0 && (14 + 4..=RX_BUFFER).contains(&length);
        if !fits {
            for _ in 0..words {
                regs.read(reg::RX_DATA_FIFO);
            }
            return None;
        }
        for chunk in self.rx.chunks_exact_mut(4).take(words) {
            chunk.copy_from_slice(&regs.read(reg::RX_DATA_FIFO).to_le_bytes());
        }
        Some(length - 4)
    }
}

/// One received frame, in the driver's RX buffer.
pub struct RxToken<'a> {
    frame: &'a mut [u8],
}

impl embassy_net_driver::RxToken for RxToken<'_> {
    fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, f: F) -> R {
        f(self.frame)
    }
}

/// Room for one frame to send; written to the TX data FIFO on `consume`.
pub struct TxToken<'a> {
    buffer: &'a mut [u8; MTU],
}

impl embassy_net_driver::TxToken for TxToken<'_> {
    fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, len: usize, f: F) -> R {
        // embassy-net asks for at most the MTU announced in `capabilities`.
        let len = len.min(MTU);
        let frame = &mut self.buffer[..len];
        let result = f(frame);
        let regs = Regs;
        // Bits 10:0 of both commands: the length (at most 1514 < 2048).
        let len_bits = len as u32;
        regs.write(reg::TX_DATA_FIFO, TX_CMD_A_FIRST_LAST | len_bits);
        regs.write(reg::TX_DATA_FIFO, len_bits);
        for chunk in frame.chunks(4) {
            let mut word = [0u8; 4];
            word[..chunk.len()].copy_from_slice(chunk);
            regs.write(reg::TX_DATA_FIFO, u32::from_le_bytes(word));
        }
        result
    }
}

impl Driver for Lan9118 {
    type RxToken<'a> = RxToken<'a>;
    type TxToken<'a> = TxToken<'a>;

    fn receive(&mut self, cx: &mut Context) -> Option<(RxToken<'_>, TxToken<'_>)> {
        // Register before looking: a frame arriving after the look wakes us.
        WAKER.register(cx.waker());
        for _ in 0..RX_BATCH {
            let queued = (Regs.read(reg::RX_FIFO_INF) >> 16) & 0xFF;
            if queued == 0 {
                return None;
            }
            if let Some(len) = self.pop_frame() {
                let frame = &mut self.rx[..len];
                return Some((
                    RxToken { frame },
                    TxToken {
                        buffer: &mut self.tx,
                    },
                ));
            }
        }
        // Only dropped frames so far and maybe more queued: come back soon.
        cx.waker().wake_by_ref();
        None
    }

    fn transmit(&mut self, cx: &mut Context) -> Option<TxToken<'_>> {
        // TDFREE (bits 15:0). QEMU sends each frame as its last word is
        // written, so there is always room there; a full FIFO (real chip)
        // is polled again rather than waited for by interrupt.
        if Regs.read(reg::TX_FIFO_INF) & 0xFFFF < TX_NEEDED {
            cx.waker().wake_by_ref();
            return None;
        }
        Some(TxToken {
            buffer: &mut self.tx,
        })
    }

    fn link_state(&mut self, cx: &mut Context) -> LinkState {
        WAKER.register(cx.waker());
        if PHY_CHANGED.swap(false, Ordering::Acquire) {
            // Reading the PHY's interrupt source acknowledges it. On a
            // timeout the last known state stands.
            let _ = Regs.phy_read(PHY_INTERRUPT_SOURCE);
            if let Ok(up) = Regs.link_up() {
                if up != self.link_up {
                    crate::info!("lan9118: link {}", if up { "up" } else { "down" });
                }
                self.link_up = up;
            }
        }
        if self.link_up {
            LinkState::Up
        } else {
            LinkState::Down
        }
    }

    fn capabilities(&self) -> Capabilities {
        let mut capabilities = Capabilities::default();
        capabilities.max_transmission_unit = MTU;
        capabilities.max_burst_size = Some(1);
        capabilities
    }

    fn hardware_address(&self) -> HardwareAddress {
        HardwareAddress::Ethernet(self.mac_address)
    }
}
