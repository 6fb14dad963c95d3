//! Where the data lives: the [`Storage`] trait for the four Modbus tables,
//! its two implementations, and [`DataBank`], pyModbusTCP's data bank.
//!
//! - [`FixedStorage`]: sizes fixed at compile time, no heap, coils and
//!   discrete inputs bit-packed (for firmware).
//! - [`HeapStorage`] (feature `alloc`): sizes chosen at run time, 0x10000
//!   entries per table by default (for desktops).
//! - Your own type: implement [`Storage`] to serve virtual data
//!   (pyModbusTCP's `virtual_mode`) from a sensor, another bus, or a computation.

mod bank;
mod data_bank;
// FC 20, 21, 24
mod fifo;
mod files;
mod fixed;
#[cfg(feature = "alloc")]
mod heap;

pub use bank::{Bank, Banks};
pub use data_bank::{AccessError, ChangeCallbacks, DataBank, NoCallbacks};
pub use fixed::FixedStorage;
// FC 20, 21, 24
pub use files::{FileStorage, FixedFiles, NoFiles};
#[cfg(feature = "alloc")]
pub use files::{FilesTooLarge, HeapFiles};
#[cfg(feature = "alloc")]
pub use heap::{HeapStorage, HeapStorageConfig, TableTooLarge};

use crate::wire::ExceptionCode;

/// The largest table Modbus can address: addresses are 16 bits.
pub const MAX_TABLE_SIZE: usize = 0x10000;

/// The two single-bit tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum BitTable {
    /// Coils: read and written by clients (FC 1, 5, 15).
    Coils,
    /// Discrete inputs: read-only for clients (FC 2).
    #[doc(alias = "d_inputs")]
    DiscreteInputs,
}

/// The two 16-bit register tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum WordTable {
    /// Holding registers: read and written by clients (FC 3, 6, 16, 22, 23).
    #[doc(alias = "h_regs")]
    HoldingRegisters,
    /// Input registers: read-only for clients (FC 4).
    #[doc(alias = "i_regs")]
    InputRegisters,
}

/// The four Modbus tables, as a block of bits and words.
///
/// These are pyModbusTCP's override points `get_bits`, `set_bits`, `get_words`
/// and `set_words`. Callers ([`DataBank`]) check every range against
/// [`bits_len`](Storage::bits_len) / [`words_len`](Storage::words_len)
/// before calling, so an implementation sees only `address + len <= size`.
/// It still must not panic if called out of range (return an exception),
/// and a `set_*` must write all values or none.
///
/// Returning an [`ExceptionCode`] lets a virtual storage report its own
/// failure (for example [`ExceptionCode::ServerDeviceFailure`] when the
/// sensor behind it does not answer); the client receives it as is.
///
/// # Example: virtual data
///
/// ```
/// use modbus_device::{BitTable, ExceptionCode, Storage, WordTable};
///
/// /// Input register `n` reads as `n * 10`; nothing is stored.
/// struct Computed;
///
/// impl Storage for Computed {
///     fn bits_len(&self, _: BitTable) -> usize { 0 }
///     fn words_len(&self, table: WordTable) -> usize {
///         match table { WordTable::InputRegisters => 100, WordTable::HoldingRegisters => 0 }
///     }
///     fn get_bits(&self, _: BitTable, _: u16, _: &mut [bool]) -> Result<(), ExceptionCode> {
///         Err(ExceptionCode::IllegalDataAddress)
///     }
///     fn set_bits(&mut self, _: BitTable, _: u16, _: &[bool]) -> Result<(), ExceptionCode> {
///         Err(ExceptionCode::IllegalDataAddress)
///     }
///     fn get_words(&self, _: WordTable, address: u16, out: &mut [u16]) -> Result<(), ExceptionCode> {
///         for (i, slot) in out.iter_mut().enumerate() {
///             *slot = (usize::from(address) + i) as u16 * 10;
///         }
///         Ok(())
///     }
///     fn set_words(&mut self, _: WordTable, _: u16, _: &[u16]) -> Result<(), ExceptionCode> {
///         Err(ExceptionCode::IllegalDataAddress)
///     }
/// }
///
/// let bank = modbus_device::DataBank::new(Computed);
/// let mut out = [0u16; 3];
/// bank.get_input_registers(7, &mut out).unwrap();
/// assert_eq!(out, [70, 80, 90]);
/// ```
#[doc(alias = "virtual_mode")]
#[doc(alias = "get_bits")]
#[doc(alias = "set_bits")]
#[doc(alias = "get_words")]
#[doc(alias = "set_words")]
pub trait Storage {
    /// Number of entries in a bit table (at most [`MAX_TABLE_SIZE`]).
    fn bits_len(&self, table: BitTable) -> usize;

    /// Number of entries in a register table (at most [`MAX_TABLE_SIZE`]).
    fn words_len(&self, table: WordTable) -> usize;

    /// Reads `out.len()` bits starting at `address`.
    ///
    /// # Errors
    ///
    /// Any [`ExceptionCode`] the storage wants the client to receive (for
    /// example [`ExceptionCode::ServerDeviceFailure`] when a device behind a
    /// virtual storage does not answer); a `set_*` that fails writes nothing.
    fn get_bits(
        &self,
        table: BitTable,
        address: u16,
        out: &mut [bool],
    ) -> Result<(), ExceptionCode>;

    /// Writes `values` starting at `address`, all or nothing.
    ///
    /// # Errors
    ///
    /// Any [`ExceptionCode`] the storage wants the client to receive (for
    /// example [`ExceptionCode::ServerDeviceFailure`] when a device behind a
    /// virtual storage does not answer); a `set_*` that fails writes nothing.
    fn set_bits(
        &mut self,
        table: BitTable,
        address: u16,
        values: &[bool],
    ) -> Result<(), ExceptionCode>;

    /// Reads `out.len()` registers starting at `address`.
    ///
    /// # Errors
    ///
    /// Any [`ExceptionCode`] the storage wants the client to receive (for
    /// example [`ExceptionCode::ServerDeviceFailure`] when a device behind a
    /// virtual storage does not answer); a `set_*` that fails writes nothing.
    fn get_words(
        &self,
        table: WordTable,
        address: u16,
        out: &mut [u16],
    ) -> Result<(), ExceptionCode>;

    /// Reads `out.len() / 2` registers starting at `address` into `out`,
    /// big-endian (as a read response carries them).
    ///
    /// The default reads through [`get_words`](Self::get_words), so a
    /// storage needs nothing more. [`HeapStorage`] and [`FixedStorage`]
    /// convert straight from their tables into the response: no copy of
    /// the values in between (`benches/engine.rs`).
    ///
    /// # Errors
    ///
    /// As [`get_words`](Self::get_words); the default answers exception 3
    /// for more than 125 registers (more than one read carries).
    fn get_words_be(
        &self,
        table: WordTable,
        address: u16,
        out: &mut [u8],
    ) -> Result<(), ExceptionCode> {
        crate::wire::read_as_be(out, |words| self.get_words(table, address, words))
    }

    /// Writes `values` starting at `address`, all or nothing.
    ///
    /// # Errors
    ///
    /// Any [`ExceptionCode`] the storage wants the client to receive (for
    /// example [`ExceptionCode::ServerDeviceFailure`] when a device behind a
    /// virtual storage does not answer); a `set_*` that fails writes nothing.
    fn set_words(
        &mut self,
        table: WordTable,
        address: u16,
        values: &[u16],
    ) -> Result<(), ExceptionCode>;
}

/// The range `address..address + len` if it lies inside a table of `size`.
#[inline]
pub(crate) fn range_in(size: usize, address: u16, len: usize) -> Option<core::ops::Range<usize>> {
    let start = usize::from(address);
    let end = start.checked_add(len)?;
    (end <= size).then_some(start..end)
}
