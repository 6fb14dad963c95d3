//! "Run this closure with exclusive access": how connections (and the
//! application) share one [`Service`](crate::Service).
//!
//! The engine needs `&mut` access only while it answers one batch of
//! requests, and never across an `.await` or a socket write. Which lock
//! provides it is the adapter's choice: a std [`Mutex`](std::sync::Mutex) on
//! a desktop, a [`RefCell`](core::cell::RefCell) on a single-threaded
//! embedded executor, or your own (a critical-section mutex) through this
//! trait.

use core::cell::RefCell;

/// Exclusive access to a `Target` for the duration of a closure.
pub trait Shared {
    /// What is shared.
    type Target: ?Sized;

    /// Runs `f` with exclusive access.
    fn with<R>(&self, f: impl FnOnce(&mut Self::Target) -> R) -> R;
}

/// Single-threaded sharing (one embedded executor). Panics if re-entered from
/// inside `with` (a handler that tries to lock its own service): a
/// programming error, never caused by network input.
impl<T: ?Sized> Shared for RefCell<T> {
    type Target = T;

    #[inline]
    fn with<R>(&self, f: impl FnOnce(&mut T) -> R) -> R {
        f(&mut self.borrow_mut())
    }
}

/// Multi-threaded sharing. A poisoned mutex (a handler or callback panicked
/// while holding it) is recovered rather than propagated: each request
/// commits its write before any callback runs, so the data is consistent,
/// and one faulty connection must not take every other one down.
#[cfg(feature = "std")]
impl<T: ?Sized> Shared for std::sync::Mutex<T> {
    type Target = T;

    #[inline]
    fn with<R>(&self, f: impl FnOnce(&mut T) -> R) -> R {
        let mut guard = self.lock().unwrap_or_else(|poisoned| {
            self.clear_poison();
            poisoned.into_inner()
        });
        f(&mut guard)
    }
}

impl<X: Shared + ?Sized> Shared for &X {
    type Target = X::Target;

    #[inline]
    fn with<R>(&self, f: impl FnOnce(&mut Self::Target) -> R) -> R {
        (**self).with(f)
    }
}

#[cfg(feature = "alloc")]
impl<X: Shared + ?Sized> Shared for alloc::sync::Arc<X> {
    type Target = X::Target;

    #[inline]
    fn with<R>(&self, f: impl FnOnce(&mut Self::Target) -> R) -> R {
        (**self).with(f)
    }
}

#[cfg(feature = "alloc")]
impl<X: Shared + ?Sized> Shared for alloc::rc::Rc<X> {
    type Target = X::Target;

    #[inline]
    fn with<R>(&self, f: impl FnOnce(&mut Self::Target) -> R) -> R {
        (**self).with(f)
    }
}
