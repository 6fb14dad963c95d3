//! embassy-time's driver on mps2-an386: the time is the FPGA's 32-bit
//! cycle counter (FPGAIO COUNTER, 25 MHz with PRESCALE 0), extended to 64
//! bits; SysTick interrupts once a millisecond to wake expired timers
//! (embassy-time-queue-utils' queue, the executor's integrated one: one
//! entry per task, nothing to size) and to see every wrap of the counter
//! (one each 171 s).
//!
//! Why not count SysTick interrupts as the time: under QEMU on a loaded
//! host, timer interrupts are delivered late and periods get lost; counted
//! ticks then ran 1.7 times slower than the wall clock (a 5 s frame timeout
//! took 8.6 s). QEMU computes the FPGA counter from its virtual clock, which
//! follows the host's, whenever it is read, so it loses nothing: a late
//! SysTick only delays a wake-up.

use core::cell::{Cell, RefCell};
use core::task::Waker;

use cortex_m::interrupt::{self, CriticalSection, Mutex};
use cortex_m::peripheral::syst::SystClkSource;
use cortex_m::peripheral::SYST;
use cortex_m_rt::exception;
use embassy_time_driver::{Driver, TICK_HZ};
use embassy_time_queue_utils::Queue;

/// The FPGA's system control and I/O block (Arm AN386, "FPGA system control
/// and I/O"): COUNTER counts cycles of the 25 MHz reference divided by
/// PRESCALE + 1.
const FPGAIO_COUNTER: usize = 0x4002_8018;
const FPGAIO_PRESCALE: usize = 0x4002_801C;
/// The counter's rate, and the core clock SysTick counts.
const CLOCK_HZ: u64 = 25_000_000;
/// Counter cycles per embassy-time tick (1 MHz: embassy-time's
/// `tick-hz-1_000_000`).
const CYCLES_PER_TICK: u64 = CLOCK_HZ / TICK_HZ;
const _: () = assert!(CYCLES_PER_TICK * TICK_HZ == CLOCK_HZ);
/// SysTick period: 1 ms of core clock (the reload value is 24-bit).
const SYSTICK_RELOAD: u32 = (CLOCK_HZ / 1000 - 1) as u32;

fn read(address: usize) -> u32 {
    // SAFETY: `address` is one of the FPGAIO registers above: device memory
    // of this board, word-aligned, with no effect on Rust memory.
    unsafe { core::ptr::read_volatile(address as *const u32) }
}

fn write(address: usize, value: u32) {
    // SAFETY: as in `read`; PRESCALE is a plain read/write register.
    unsafe { core::ptr::write_volatile(address as *mut u32, value) }
}

struct Mps2TimeDriver {
    /// The counter's last value and how many times it wrapped before it.
    last: Mutex<Cell<u32>>,
    wraps: Mutex<Cell<u32>>,
    /// The tick at which the queue has its next timer (u64::MAX: none).
    alarm: Mutex<Cell<u64>>,
    queue: Mutex<RefCell<Queue>>,
}

embassy_time_driver::time_driver_impl!(static DRIVER: Mps2TimeDriver = Mps2TimeDriver {
    last: Mutex::new(Cell::new(0)),
    wraps: Mutex::new(Cell::new(0)),
    alarm: Mutex::new(Cell::new(u64::MAX)),
    queue: Mutex::new(RefCell::new(Queue::new())),
});

impl Mps2TimeDriver {
    /// The 64-bit cycle count; must be called at least once a wrap (171 s):
    /// SysTick does, every millisecond.
    fn cycles(&self, cs: &CriticalSection) -> u64 {
        let now = read(FPGAIO_COUNTER);
        let last = self.last.borrow(cs);
        let wraps = self.wraps.borrow(cs);
        if now < last.get() {
            wraps.set(wraps.get().wrapping_add(1));
        }
        last.set(now);
        u64::from(wraps.get()) << 32 | u64::from(now)
    }

    fn ticks(&self, cs: &CriticalSection) -> u64 {
        self.cycles(cs) / CYCLES_PER_TICK
    }
}

/// Starts the counter at full rate, and SysTick on the core clock.
pub fn start(syst: &mut SYST) {
    write(FPGAIO_PRESCALE, 0);
    syst.set_clock_source(SystClkSource::Core);
    syst.set_reload(SYSTICK_RELOAD);
    syst.clear_current();
    syst.enable_interrupt();
    syst.enable_counter();
}

#[exception]
fn SysTick() {
    interrupt::free(|cs| {
        let now = DRIVER.ticks(cs);
        let alarm = DRIVER.alarm.borrow(cs);
        if now >= alarm.get() {
            // Wakes every expired timer; returns the next one's tick.
            alarm.set(DRIVER.queue.borrow(cs).borrow_mut().next_expiration(now));
        }
    });
}

impl Driver for Mps2TimeDriver {
    fn now(&self) -> u64 {
        interrupt::free(|cs| self.ticks(cs))
    }

    fn schedule_wake(&self, at: u64, waker: &Waker) {
        interrupt::free(|cs| {
            let mut queue = self.queue.borrow(cs).borrow_mut();
            if queue.schedule_wake(at, waker) {
                // A past `at` is woken here at once, a future one by SysTick.
                let now = self.ticks(cs);
                self.alarm.borrow(cs).set(queue.next_expiration(now));
            }
        })
    }
}
