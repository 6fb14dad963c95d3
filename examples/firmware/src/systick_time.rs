//! embassy-time's driver on the Cortex-M SysTick: one interrupt per tick
//! (`TICK_HZ`, 1 kHz with embassy-time's `tick-hz-1_000`), a 64-bit tick
//! count, and embassy-time-queue-utils' queue of timers (the executor's
//! integrated queue: one entry per task, nothing to size).
//!
//! Chosen over a free-running counter with a compare interrupt because the
//! MPS2's CMSDK timers are 32-bit down-counters without compare: SysTick is
//! as good and is the same on every Cortex-M. The cost, one interrupt per
//! millisecond, is nothing under QEMU.

use core::cell::{Cell, RefCell};
use core::task::Waker;

use cortex_m::interrupt::{self, Mutex};
use cortex_m::peripheral::syst::SystClkSource;
use cortex_m::peripheral::SYST;
use cortex_m_rt::exception;
use embassy_time_driver::{Driver, TICK_HZ};
use embassy_time_queue_utils::Queue;

/// The processor clock SysTick counts, as QEMU's mps2-an386 sets it.
const CORE_CLOCK_HZ: u64 = 25_000_000;

struct SysTickDriver {
    /// Ticks since `start`.
    ticks: Mutex<Cell<u64>>,
    /// The tick at which the queue has its next timer (u64::MAX: none).
    alarm: Mutex<Cell<u64>>,
    queue: Mutex<RefCell<Queue>>,
}

embassy_time_driver::time_driver_impl!(static DRIVER: SysTickDriver = SysTickDriver {
    ticks: Mutex::new(Cell::new(0)),
    alarm: Mutex::new(Cell::new(u64::MAX)),
    queue: Mutex::new(RefCell::new(Queue::new())),
});

/// Starts SysTick on the core clock, one interrupt per tick.
pub fn start(syst: &mut SYST) {
    const RELOAD: u64 = CORE_CLOCK_HZ / TICK_HZ - 1;
    const _: () = assert!(RELOAD > 0 && RELOAD < (1 << 24), "SysTick reload is 24-bit");
    syst.set_clock_source(SystClkSource::Core);
    syst.set_reload(RELOAD as u32);
    syst.clear_current();
    syst.enable_interrupt();
    syst.enable_counter();
}

#[exception]
fn SysTick() {
    interrupt::free(|cs| {
        let ticks = DRIVER.ticks.borrow(cs);
        let now = ticks.get() + 1;
        ticks.set(now);
        let alarm = DRIVER.alarm.borrow(cs);
        if now >= alarm.get() {
            // Wakes every expired timer; returns the next one's tick.
            alarm.set(DRIVER.queue.borrow(cs).borrow_mut().next_expiration(now));
        }
    });
}

impl Driver for SysTickDriver {
    fn now(&self) -> u64 {
        interrupt::free(|cs| self.ticks.borrow(cs).get())
    }

    fn schedule_wake(&self, at: u64, waker: &Waker) {
        interrupt::free(|cs| {
            let mut queue = self.queue.borrow(cs).borrow_mut();
            if queue.schedule_wake(at, waker) {
                // A past `at` is woken here at once, a future one by SysTick.
                let now = self.ticks.borrow(cs).get();
                self.alarm.borrow(cs).set(queue.next_expiration(now));
            }
        })
    }
}
