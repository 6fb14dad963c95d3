//! A driver for UART0 of QEMU's mps2-an386, an Arm CMSDK APB UART, as an
//! `embedded-io-async` byte stream (`Read`, `Write`, `ReadReady`,
//! `WriteReady`).
//!
//! Register semantics are those of the Arm Cortex-M System Design Kit
//! Technical Reference Manual (DDI 0479, "UART"), checked against QEMU's
//! model (`hw/char/cmsdk-apb-uart.c`) and board (`hw/arm/mps2.c`):
//!
//! - One byte of buffer each way, no FIFO. STATE has TXFULL, RXFULL and the
//!   two overrun flags (write 1 to clear); INTSTATUS has the TX, RX and
//!   overrun interrupts (write 1 to clear). RX raises its interrupt for each
//!   byte; TX raises its interrupt when TXFULL goes from set to clear.
//! - BAUDDIV: QEMU ignores divisors below 16 (the reset value 0 included),
//!   so `new` always sets one. QEMU does not pace the line: bytes move as
//!   fast as the emulator runs, whatever the divisor; the baud rate only
//!   reaches a host serial port backend. 8N1 always (no parity setting).
//! - QEMU only takes the next byte from the host once RXFULL is clear, so
//!   under QEMU the UART itself never overruns (a real one does: counted
//!   in `hardware_overruns`). A byte is read into `RX_RING` by the RX
//!   interrupt; when the ring is full it is dropped and counted in
//!   `dropped`, as a real line would lose it.
//! - Either loss is also reported in-band, like a UART's character error:
//!   `read` returns the bytes received before the loss, then
//!   `Err(RxError::Overrun)` once, then the bytes after it. Losses while
//!   one is still unreported fold into it (they are still counted).
//! - TX: QEMU hands a written byte to its character backend at once; TXFULL
//!   stays set while the backend cannot take it (a host PTY nobody reads),
//!   and `write` then waits for the TX interrupt.
//! - Interrupts on mps2-an385/an386: UART0 RX on NVIC line 0 (`RX_IRQ`), TX
//!   on line 1 (`TX_IRQ`), the overrun interrupts of UART0-2 ORed on line 12
//!   (`OVERRUN_IRQ`); the combined UARTINT output is not wired.
//!
//! There is one UART0, so its state is in statics and `new` succeeds once.
//! No wait on the UART spins: `write` and `flush` sleep until the TX
//! interrupt, `read` until the RX interrupt. The only `unsafe` is the
//! volatile access to the register block, in `Regs`.

use core::future::poll_fn;
use core::sync::atomic::{AtomicBool, AtomicU32, AtomicU8, AtomicUsize, Ordering};
use core::task::{Context, Poll};

use cortex_m::interrupt;
use embassy_sync::waitqueue::AtomicWaker;
use embedded_io_async::ErrorKind;

/// UART0's register block on QEMU's mps2-an385/an386 (0x1000 bytes).
const BASE: usize = 0x4000_4000;
/// UART0 receive interrupt (NVIC line).
pub const RX_IRQ: u16 = 0;
/// UART0 transmit interrupt (NVIC line).
pub const TX_IRQ: u16 = 1;
/// The overrun interrupts of UART0, UART1 and UART2, ORed (NVIC line).
pub const OVERRUN_IRQ: u16 = 12;
/// The UART's clock (the board's 25 MHz APB clock, QEMU's SYSCLK_FRQ).
const PCLK_HZ: u32 = 25_000_000;
/// BAUDDIV limits: at least 16 (the UART samples 16 times a bit), 20 bits.
const BAUDDIV_MIN: u32 = 16;
const BAUDDIV_MAX: u32 = 0xF_FFFF;
/// Received bytes buffered between the RX interrupt and `read`. A power of
/// two (cheap modulo); twice a maximal Modbus RTU frame (256 bytes).
pub const RX_RING: usize = 512;
const _: () = assert!(RX_RING.is_power_of_two());

/// Register offsets (the TRM's register map); only these are accessed.
mod reg {
    pub const DATA: usize = 0x00;
    pub const STATE: usize = 0x04;
    pub const CTRL: usize = 0x08;
    pub const INTSTATUS: usize = 0x0C; // read: status; write 1: clear
    pub const BAUDDIV: usize = 0x10;
}

/// STATE bits.
const STATE_TX_FULL: u32 = 1 << 0;
const STATE_RX_FULL: u32 = 1 << 1;
const STATE_TX_OVERRUN: u32 = 1 << 2;
const STATE_RX_OVERRUN: u32 = 1 << 3;
/// CTRL bits.
const CTRL_TX_EN: u32 = 1 << 0;
const CTRL_RX_EN: u32 = 1 << 1;
const CTRL_TX_INTEN: u32 = 1 << 2;
const CTRL_RX_INTEN: u32 = 1 << 3;
const CTRL_RXO_INTEN: u32 = 1 << 5;
/// INTSTATUS bits.
const INT_TX: u32 = 1 << 0;
const INT_RX: u32 = 1 << 1;
const INT_ALL: u32 = 0xF;

/// Why the UART could not be set up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Error {
    /// The baud rate needs a divisor of the 25 MHz clock outside 16..=2^20-1.
    BaudRate(u32),
    /// `new` was called before: there is one UART0.
    Taken,
}

impl core::fmt::Display for Error {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Error::BaudRate(baud) => write!(f, "baud rate {baud} out of range"),
            Error::Taken => f.write_str("UART0 already taken"),
        }
    }
}

/// What `read` reports besides bytes (`write` never fails).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RxError {
    /// Bytes were lost at this point of the stream (the ring was full, or
    /// the UART overran): the frame in progress is incomplete.
    Overrun,
}

impl core::fmt::Display for RxError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            RxError::Overrun => f.write_str("received bytes lost (overrun)"),
        }
    }
}

impl core::error::Error for RxError {}

impl embedded_io_async::Error for RxError {
    fn kind(&self) -> ErrorKind {
        ErrorKind::Other
    }
}

/// UART0's register block. Zero-sized: there is one.
#[derive(Clone, Copy)]
struct Regs;

impl Regs {
    fn read(self, offset: usize) -> u32 {
        // SAFETY: BASE is UART0's register block on this board (device
        // memory, not Rust memory), and `offset` is one of the word-aligned
        // offsets in `reg`, inside its 0x1000 bytes. Reading DATA pops the
        // received byte, which only the RX interrupt handler and `new` do.
        unsafe { core::ptr::read_volatile((BASE + offset) as *const u32) }
    }

    fn write(self, offset: usize, value: u32) {
        // SAFETY: as in `read`: a word-aligned register of UART0's block at
        // BASE, written with a volatile word store.
        unsafe { core::ptr::write_volatile((BASE + offset) as *mut u32, value) }
    }

    fn tx_full(self) -> bool {
        self.read(reg::STATE) & STATE_TX_FULL != 0
    }

    /// Sets or clears CTRL bits. Thread mode calls it with interrupts off;
    /// the TX interrupt handler, which cannot be preempted by the UART's
    /// other handlers (same priority), also calls it.
    fn modify_ctrl(self, set: u32, clear: u32) {
        let ctrl = self.read(reg::CTRL);
        self.write(reg::CTRL, (ctrl & !clear) | set);
    }
}

/// A single-producer (the RX interrupt), single-consumer (`read`) ring of
/// bytes. `head` and `tail` count bytes pushed and popped since start
/// (wrapping); their difference is the fill level. Atomics all through, so
/// neither side needs a lock or `unsafe`.
struct RxRing {
    bytes: [AtomicU8; RX_RING],
    head: AtomicUsize,
    tail: AtomicUsize,
}

impl RxRing {
    const fn new() -> Self {
        Self {
            bytes: [const { AtomicU8::new(0) }; RX_RING],
            head: AtomicUsize::new(0),
            tail: AtomicUsize::new(0),
        }
    }

    /// Producer side: false if the ring is full (the byte is not stored).
    fn push(&self, byte: u8) -> bool {
        let head = self.head.load(Ordering::Relaxed);
        let tail = self.tail.load(Ordering::Acquire);
        if head.wrapping_sub(tail) >= RX_RING {
            return false;
        }
        self.bytes[head % RX_RING].store(byte, Ordering::Relaxed);
        // Release: the byte is visible before the new head.
        self.head.store(head.wrapping_add(1), Ordering::Release);
        true
    }

    /// Consumer side: moves up to `buf.len()` bytes out; how many.
    fn pop_into(&self, buf: &mut [u8]) -> usize {
        let head = self.head.load(Ordering::Acquire);
        let mut tail = self.tail.load(Ordering::Relaxed);
        let mut n = 0;
        for slot in buf.iter_mut() {
            if tail == head {
                break;
            }
            *slot = self.bytes[tail % RX_RING].load(Ordering::Relaxed);
            tail = tail.wrapping_add(1);
            n += 1;
        }
        // Release: the slots are read before the producer may reuse them.
        self.tail.store(tail, Ordering::Release);
        n
    }

    fn is_empty(&self) -> bool {
        self.head.load(Ordering::Acquire) == self.tail.load(Ordering::Relaxed)
    }
}

static RX: RxRing = RxRing::new();
/// Woken by the RX interrupt (a byte is in the ring, or a loss noted) and
/// the overrun interrupt: `read` waits on it.
static RX_WAKER: AtomicWaker = AtomicWaker::new();
/// Woken by the TX interrupt (TXFULL cleared): `write` and `flush` wait on it.
static TX_WAKER: AtomicWaker = AtomicWaker::new();
/// Bytes received while the ring was full (dropped).
static DROPPED: AtomicU32 = AtomicU32::new(0);
/// Times the UART itself overran (a byte arrived before the last was read).
static OVERRUNS: AtomicU32 = AtomicU32::new(0);
/// Set by the first `new`.
static TAKEN: AtomicBool = AtomicBool::new(false);
/// A loss `read` has not reported yet, and where in the stream: the ring
/// position (a `head` count) the lost bytes would have had.
static GAP: AtomicBool = AtomicBool::new(false);
static GAP_AT: AtomicUsize = AtomicUsize::new(0);

/// Interrupt handlers only: bytes were lost just before the next one the
/// ring will take.
fn note_loss() {
    if !GAP.load(Ordering::Relaxed) {
        GAP_AT.store(RX.head.load(Ordering::Relaxed), Ordering::Relaxed);
        GAP.store(true, Ordering::Release);
    }
}

/// A UART overrun (the byte before the one in DATA was overwritten): count
/// it, note it, clear the flag (which also clears its interrupt).
fn take_overrun(regs: Regs) {
    let state = regs.read(reg::STATE);
    if state & STATE_RX_OVERRUN != 0 {
        OVERRUNS.fetch_add(1, Ordering::Relaxed);
        note_loss();
    }
    let flags = state & (STATE_RX_OVERRUN | STATE_TX_OVERRUN);
    if flags != 0 {
        regs.write(reg::STATE, flags); // write 1 to clear
    }
}

/// The interrupt handlers' work: call it for every external interrupt;
/// true if `irqn` was one of UART0's (`RX_IRQ`, `TX_IRQ`, `OVERRUN_IRQ`).
pub fn on_interrupt(irqn: i16) -> bool {
    match u16::try_from(irqn) {
        Ok(RX_IRQ) => on_rx(),
        Ok(TX_IRQ) => on_tx(),
        Ok(OVERRUN_IRQ) => on_overrun(),
        _ => return false,
    }
    true
}

/// Acknowledge first, then empty the data register: a byte arriving in
/// between raises the interrupt again rather than being missed. An overrun
/// is taken first, so that the loss is noted before the byte that follows.
fn on_rx() {
    let regs = Regs;
    regs.write(reg::INTSTATUS, INT_RX);
    take_overrun(regs);
    // One byte of buffer: at most one iteration in practice, bounded anyway.
    for _ in 0..2 {
        if regs.read(reg::STATE) & STATE_RX_FULL == 0 {
            break;
        }
        // Truncation intended: DATA holds the byte in bits 7:0.
        let byte = regs.read(reg::DATA) as u8;
        if !RX.push(byte) {
            DROPPED.fetch_add(1, Ordering::Relaxed);
            note_loss();
        }
    }
    RX_WAKER.wake();
}

/// TXFULL was cleared: `write` enabled this interrupt to wait for that;
/// turn it off again (it fires for every byte sent otherwise).
fn on_tx() {
    let regs = Regs;
    regs.write(reg::INTSTATUS, INT_TX);
    regs.modify_ctrl(0, CTRL_TX_INTEN);
    TX_WAKER.wake();
}

/// An overrun the RX handler has not taken yet. UART1 and UART2 share the
/// line but are never enabled.
fn on_overrun() {
    take_overrun(Regs);
    RX_WAKER.wake();
}

/// UART0, 8N1, receiving into `RX_RING` by interrupt.
pub struct CmsdkUart {
    baud_rate: u32,
}

impl CmsdkUart {
    /// Sets the divisor for `baud_rate` (the nearest; `baud_rate()` gives
    /// the one obtained), clears what reset or a previous program left,
    /// and enables RX, TX and the RX and overrun interrupts in the UART.
    /// The caller unmasks `RX_IRQ`, `TX_IRQ` and `OVERRUN_IRQ` in the NVIC
    /// and routes them to `on_interrupt`.
    pub fn new(baud_rate: u32) -> Result<Self, Error> {
        let divisor = PCLK_HZ
            .checked_add(baud_rate / 2)
            .and_then(|clock| clock.checked_div(baud_rate))
            .filter(|d| (BAUDDIV_MIN..=BAUDDIV_MAX).contains(d))
            .ok_or(Error::BaudRate(baud_rate))?;
        if TAKEN.swap(true, Ordering::AcqRel) {
            return Err(Error::Taken);
        }
        let regs = Regs;
        regs.write(reg::CTRL, 0);
        regs.write(reg::BAUDDIV, divisor);
        regs.write(reg::STATE, STATE_RX_OVERRUN | STATE_TX_OVERRUN);
        regs.write(reg::INTSTATUS, INT_ALL);
        regs.read(reg::DATA); // a stale byte, if any
        regs.write(
            reg::CTRL,
            CTRL_TX_EN | CTRL_RX_EN | CTRL_RX_INTEN | CTRL_RXO_INTEN,
        );
        Ok(Self {
            baud_rate: PCLK_HZ / divisor,
        })
    }

    /// The baud rate the divisor gives (for RTU timing, t1.5 and t3.5;
    /// QEMU itself does not pace bytes at it).
    pub fn baud_rate(&self) -> u32 {
        self.baud_rate
    }

    /// Bytes dropped because `RX_RING` was full, since start.
    pub fn dropped(&self) -> u32 {
        DROPPED.load(Ordering::Relaxed)
    }

    /// Overruns of the UART itself, since start (never under QEMU).
    pub fn hardware_overruns(&self) -> u32 {
        OVERRUNS.load(Ordering::Relaxed)
    }

    /// Ready once TXFULL is clear. Registers the waker and enables the TX
    /// interrupt first, then looks: TXFULL clearing after the look raises
    /// the interrupt, and if it cleared before, there is nothing to wait for.
    fn poll_tx_room(cx: &mut Context<'_>) -> Poll<()> {
        let regs = Regs;
        if !regs.tx_full() {
            return Poll::Ready(());
        }
        TX_WAKER.register(cx.waker());
        interrupt::free(|_| regs.modify_ctrl(CTRL_TX_INTEN, 0));
        if regs.tx_full() {
            Poll::Pending
        } else {
            Poll::Ready(())
        }
    }
}

impl embedded_io_async::ErrorType for CmsdkUart {
    /// `read`'s overrun; `write` and `flush` never fail.
    type Error = RxError;
}

/// How many ring bytes `read` may return before the unreported loss, if
/// there is one (0: report it now, and it is taken); None: no loss.
/// Looked at and taken with interrupts off, so that a loss noted meanwhile
/// is not lost with the flag.
fn bytes_before_gap() -> Option<usize> {
    interrupt::free(|_| {
        if !GAP.load(Ordering::Acquire) {
            return None;
        }
        let before = GAP_AT
            .load(Ordering::Relaxed)
            .wrapping_sub(RX.tail.load(Ordering::Relaxed));
        if before == 0 {
            GAP.store(false, Ordering::Relaxed);
        }
        Some(before)
    })
}

impl embedded_io_async::Read for CmsdkUart {
    /// Waits for at least one byte, then returns what the ring holds, up to
    /// `buf.len()`; at the point where bytes were lost, `RxError::Overrun`
    /// once.
    async fn read(&mut self, buf: &mut [u8]) -> Result<usize, RxError> {
        if buf.is_empty() {
            return Ok(0);
        }
        poll_fn(|cx| {
            // Register before looking: a byte pushed after the look wakes us.
            RX_WAKER.register(cx.waker());
            let limit = match bytes_before_gap() {
                Some(0) => return Poll::Ready(Err(RxError::Overrun)),
                Some(before) => before.min(buf.len()),
                None => buf.len(),
            };
            match RX.pop_into(&mut buf[..limit]) {
                0 => Poll::Pending,
                n => Poll::Ready(Ok(n)),
            }
        })
        .await
    }
}

impl embedded_io_async::ReadReady for CmsdkUart {
    fn read_ready(&mut self) -> Result<bool, RxError> {
        Ok(!RX.is_empty() || GAP.load(Ordering::Acquire))
    }
}

impl embedded_io_async::Write for CmsdkUart {
    /// Waits for room for one byte, then writes bytes while the UART takes
    /// them (under QEMU, usually all of `buf`).
    async fn write(&mut self, buf: &[u8]) -> Result<usize, RxError> {
        if buf.is_empty() {
            return Ok(0);
        }
        poll_fn(Self::poll_tx_room).await;
        let regs = Regs;
        let mut sent = 0;
        for &byte in buf {
            if regs.tx_full() {
                break;
            }
            regs.write(reg::DATA, u32::from(byte));
            sent += 1;
        }
        Ok(sent)
    }

    /// Waits until the last byte left the holding register. On real
    /// hardware the shift register may still be sending it: the CMSDK UART
    /// has no "transmitter idle" flag.
    async fn flush(&mut self) -> Result<(), RxError> {
        poll_fn(Self::poll_tx_room).await;
        Ok(())
    }
}

impl embedded_io_async::WriteReady for CmsdkUart {
    fn write_ready(&mut self) -> Result<bool, RxError> {
        Ok(!Regs.tx_full())
    }
}
