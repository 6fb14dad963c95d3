//! A thread-mode executor that sleeps with WFI, for mps2-an386.
//!
//! embassy-executor's own thread executor sleeps with WFE and is woken by
//! SEV. QEMU implements WFE as a plain yield, so the emulated core spins at
//! 100 % of a host core while the firmware is idle (measured: 505 of 500
//! CPU ticks in 5 s). WFI halts QEMU's core until an interrupt is pending,
//! and every wake-up here comes from an interrupt (SysTick, the LAN9118) or
//! from a task run by `poll` itself, so WFI loses nothing.

use core::sync::atomic::{AtomicBool, Ordering};

use embassy_executor::{raw, Spawner};
use static_cell::StaticCell;

/// Set when a task is woken: poll again before sleeping.
static WOKEN: AtomicBool = AtomicBool::new(false);

/// embassy-executor calls this when a task of the executor is woken (from
/// a task or an interrupt handler). It is the binary's only `__pender`:
/// embassy-executor defines its own only with `executor-thread` or
/// `executor-interrupt`, which this board does not enable.
#[export_name = "__pender"]
fn pender(_context: *mut ()) {
    WOKEN.store(true, Ordering::Release);
}

/// Runs `init` with a spawner, then polls the tasks forever, sleeping
/// whenever none was woken.
pub fn run(init: impl FnOnce(Spawner)) -> ! {
    static EXECUTOR: StaticCell<raw::Executor> = StaticCell::new();
    let executor: &'static raw::Executor = EXECUTOR.init(raw::Executor::new(core::ptr::null_mut()));
    init(executor.spawner());
    loop {
        // Cleared before polling: a wake during the poll sets it again.
        WOKEN.store(false, Ordering::Release);
        // SAFETY: `poll` must not be called reentrantly or from two threads;
        // this loop, in thread mode on the one core, is its only caller.
        unsafe { executor.poll() };
        // With interrupts masked, an interrupt that wakes a task after the
        // check stays pending, and a pending interrupt ends WFI even while
        // PRIMASK masks it (Armv7-M Architecture Reference Manual, WFI); it
        // then runs when the mask is lifted.
        cortex_m::interrupt::free(|_| {
            if !WOKEN.load(Ordering::Acquire) {
                cortex_m::asm::wfi();
            }
        });
    }
}
