//! pyModbusTCP's `DataBank`: a storage with a local get/set API for the
//! application, the request-side operations the default handler uses, and
//! change callbacks for writes that come from Modbus clients.

use core::ops::Range;

use super::{range_in, Bank, Banks, BitTable, Storage, WordTable};
// FC 20, 21, 24
use super::files::{FileStorage, NoFiles};
use crate::session::SessionInfo;
use crate::wire::limits::{MAX_WRITE_BITS, MAX_WRITE_REGISTERS};
use crate::wire::FileRecordWrites;
use crate::wire::{ExceptionCode, REGISTER_LEN};

/// Called after a Modbus client's write changed values (pyModbusTCP's
/// `on_coils_change` / `on_holding_registers_change`, which pyModbusTCP users
/// override in a `DataBank` subclass).
///
/// Semantics: only writes from requests (FC 5/15 for coils,
/// FC 6/16/22/23 for registers, FC 21 for file records) fire, never the application's local `set_*`
/// calls; only values that actually changed are reported, one call per
/// contiguous run of changed addresses, after the write is committed.
///
/// Callbacks run while the server holds exclusive access to the data: keep
/// them short (log, notify a channel), and do not block.
///
/// ```
/// use modbus_device::{Bank, ChangeCallbacks, DataBank, FixedStorage, FunctionCode, SessionInfo};
///
/// #[derive(Default)]
/// struct Log(Vec<(u16, Vec<u16>, Vec<u16>)>);
///
/// impl ChangeCallbacks for Log {
///     fn on_holding_registers_change(&mut self, address: u16, from: &[u16], to: &[u16], _: &SessionInfo) {
///         self.0.push((address, from.to_vec(), to.to_vec()));
///     }
/// }
///
/// let mut bank = DataBank::with_callbacks(FixedStorage::<0, 0, 8, 0>::new(), Log::default());
/// let session = SessionInfo::local(FunctionCode::WriteMultipleRegisters);
/// bank.write_h_regs(0, &[0, 5, 6, 0], &session).unwrap();
/// assert_eq!(bank.callbacks().0, [(1, vec![0, 0], vec![5, 6])]);
/// ```
#[doc(alias = "on_coils_change")]
#[doc(alias = "on_holding_registers_change")]
pub trait ChangeCallbacks {
    /// False skips reading old values and comparing: set it only for a type
    /// whose callbacks do nothing (as [`NoCallbacks`]).
    const ENABLED: bool = true;

    /// Coils `address..address + to_value.len()` changed from `from_value`
    /// to `to_value`.
    fn on_coils_change(
        &mut self,
        address: u16,
        from_value: &[bool],
        to_value: &[bool],
        srv_info: &SessionInfo,
    ) {
        let _ = (address, from_value, to_value, srv_info);
    }

    /// Holding registers `address..address + to_value.len()` changed from
    /// `from_value` to `to_value`.
    fn on_holding_registers_change(
        &mut self,
        address: u16,
        from_value: &[u16],
        to_value: &[u16],
        srv_info: &SessionInfo,
    ) {
        let _ = (address, from_value, to_value, srv_info);
    }

    // FC 20, 21, 24
    /// Records `record..record + to_value.len()` of `file` changed from
    /// `from_value` to `to_value` (FC 21: one call per changed run of each
    /// sub-request, after every sub-request is written).
    fn on_file_records_change(
        &mut self,
        file: u16,
        record: u16,
        from_value: &[u16],
        to_value: &[u16],
        srv_info: &SessionInfo,
    ) {
        let _ = (file, record, from_value, to_value, srv_info);
    }
}

/// No change callbacks, at no cost.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct NoCallbacks;

impl ChangeCallbacks for NoCallbacks {
    const ENABLED: bool = false;
}

/// A local access to the data bank failed; nothing was written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum AccessError {
    /// `address..address + count` is not inside the table.
    OutOfRange {
        /// First address asked for.
        address: u16,
        /// Number of entries asked for.
        count: usize,
        /// The table's size.
        size: usize,
    },
    /// The storage refused (a virtual storage's own failure).
    Storage(ExceptionCode),
    // FC 20, 21, 24
    /// The FIFO queue at `pointer` would hold more than 31 values (FC 24).
    FifoFull {
        /// The FIFO pointer address.
        pointer: u16,
    },
}

impl core::fmt::Display for AccessError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            AccessError::OutOfRange {
                address,
                count,
                size,
            } => write!(
                f,
                "{count} entries from address {address} do not fit in a table of {size}"
            ),
            AccessError::Storage(code) => write!(f, "storage refused the access: {code}"),
            AccessError::FifoFull { pointer } => {
                write!(
                    f,
                    "the FIFO queue at {pointer} would hold more than 31 values"
                )
            }
        }
    }
}

impl core::error::Error for AccessError {}

/// pyModbusTCP's `DataBank`: a [`Storage`] plus change callbacks.
///
/// - The application reads and writes it with `get_*` / `set_*`
///   (`get_coils`, `set_holding_registers`, ...): out-of-range accesses are an
///   [`AccessError`], never a panic or a partial write, and fire no callback.
/// - The default [`DataHandler`](crate::DataHandler) serves requests through
///   its [`Bank`] methods `read_*` / `write_*` (`read_h_regs`, `write_coils`,
///   ...), which check address ranges (exception 2) and fire the
///   [`ChangeCallbacks`].
///
/// ```
/// use modbus_device::DataBank;
///
/// let mut bank = DataBank::default(); // 0x10000 entries per table, on the heap
/// bank.set_holding_registers(0, &[100, 200, 300, 400, 500]).unwrap();
/// bank.set_coils(0, &[true, false, true, false]).unwrap();
/// let mut regs = [0u16; 2];
/// bank.get_holding_registers(3, &mut regs).unwrap();
/// assert_eq!(regs, [400, 500]);
/// assert!(bank.set_coils(0xFFFF, &[true, true]).is_err());
/// ```
///
/// Files of records for FC 20 / 21 are a third part, `F` ([`NoFiles`]
/// unless [`with_files`](DataBank::with_files) gives some); FC 24 reads
/// FIFO queues kept in the holding registers (`set_fifo_queue`).
#[derive(Debug, Clone)]
pub struct DataBank<S, C = NoCallbacks, F = NoFiles> {
    pub(super) storage: S,
    pub(super) callbacks: C,
    pub(super) files: F,
}

#[cfg(feature = "alloc")]
impl Default for DataBank<super::HeapStorage> {
    /// Heap tables of 0x10000 entries each, all false / 0 (pyModbusTCP's `DataBank()`).
    fn default() -> Self {
        DataBank::new(super::HeapStorage::default())
    }
}

#[cfg(feature = "alloc")]
impl DataBank<super::HeapStorage> {
    /// Heap tables sized and filled as `config` says (pyModbusTCP's
    /// `DataBank(coils_size=..., coils_default_value=..., ...)`).
    ///
    /// # Errors
    ///
    /// [`TableTooLarge`](super::TableTooLarge) when a size is above 0x10000.
    pub fn from_config(config: super::HeapStorageConfig) -> Result<Self, super::TableTooLarge> {
        Ok(DataBank::new(super::HeapStorage::new(config)?))
    }
}

impl<S: Storage> DataBank<S> {
    /// A data bank over `storage`, with no change callbacks.
    pub const fn new(storage: S) -> Self {
        DataBank {
            storage,
            callbacks: NoCallbacks,
            files: NoFiles,
        }
    }
}

/// Scratch for the old values of one write: a request carries at most this many.
const BIT_SCRATCH: usize = MAX_WRITE_BITS as usize;
const WORD_SCRATCH: usize = MAX_WRITE_REGISTERS as usize;

impl<S: Storage, C: ChangeCallbacks> DataBank<S, C> {
    /// A data bank over `storage` whose request writes call `callbacks`.
    pub const fn with_callbacks(storage: S, callbacks: C) -> Self {
        DataBank {
            storage,
            callbacks,
            files: NoFiles,
        }
    }

    /// Takes the data bank apart (see
    /// [`into_parts_with_files`](Self::into_parts_with_files) for a bank
    /// with files).
    pub fn into_parts(self) -> (S, C) {
        (self.storage, self.callbacks)
    }
}

impl<S: Storage, C: ChangeCallbacks, F: FileStorage> DataBank<S, C, F> {
    /// A data bank over `storage` and `files` whose request writes call
    /// `callbacks` (a `const fn`, for a `static`).
    pub const fn from_parts(storage: S, callbacks: C, files: F) -> Self {
        DataBank {
            storage,
            callbacks,
            files,
        }
    }

    /// The storage.
    pub fn storage(&self) -> &S {
        &self.storage
    }

    /// The storage, mutably (writes through it fire no callback).
    pub fn storage_mut(&mut self) -> &mut S {
        &mut self.storage
    }

    /// The change callbacks.
    pub fn callbacks(&self) -> &C {
        &self.callbacks
    }

    /// The change callbacks, mutably.
    pub fn callbacks_mut(&mut self) -> &mut C {
        &mut self.callbacks
    }

    // ----- local API (the application's side) -----

    fn local_bits(&self, table: BitTable, address: u16, count: usize) -> Result<(), AccessError> {
        let size = self.storage.bits_len(table);
        range_in(size, address, count)
            .map(|_| ())
            .ok_or(AccessError::OutOfRange {
                address,
                count,
                size,
            })
    }

    fn local_words(&self, table: WordTable, address: u16, count: usize) -> Result<(), AccessError> {
        let size = self.storage.words_len(table);
        range_in(size, address, count)
            .map(|_| ())
            .ok_or(AccessError::OutOfRange {
                address,
                count,
                size,
            })
    }

    /// Reads `out.len()` coils from `address`.
    ///
    /// # Errors
    ///
    /// [`AccessError::OutOfRange`] when `address..address + out.len()` does not fit the
    /// table (nothing is read); [`AccessError::Storage`] when the storage refuses.
    pub fn get_coils(&self, address: u16, out: &mut [bool]) -> Result<(), AccessError> {
        self.local_bits(BitTable::Coils, address, out.len())?;
        self.storage
            .get_bits(BitTable::Coils, address, out)
            .map_err(AccessError::Storage)
    }

    /// Writes coils from `address`, all or nothing; fires no callback.
    ///
    /// # Errors
    ///
    /// [`AccessError::OutOfRange`] when `address..address + bit_list.len()` does not fit the
    /// table; [`AccessError::Storage`] when the storage refuses. Nothing is
    /// written in either case.
    pub fn set_coils(&mut self, address: u16, bit_list: &[bool]) -> Result<(), AccessError> {
        self.local_bits(BitTable::Coils, address, bit_list.len())?;
        self.storage
            .set_bits(BitTable::Coils, address, bit_list)
            .map_err(AccessError::Storage)
    }

    /// Reads `out.len()` discrete inputs from `address`.
    ///
    /// # Errors
    ///
    /// [`AccessError::OutOfRange`] when `address..address + out.len()` does not fit the
    /// table (nothing is read); [`AccessError::Storage`] when the storage refuses.
    pub fn get_discrete_inputs(&self, address: u16, out: &mut [bool]) -> Result<(), AccessError> {
        self.local_bits(BitTable::DiscreteInputs, address, out.len())?;
        self.storage
            .get_bits(BitTable::DiscreteInputs, address, out)
            .map_err(AccessError::Storage)
    }

    /// Writes discrete inputs from `address`, all or nothing.
    ///
    /// # Errors
    ///
    /// [`AccessError::OutOfRange`] when `address..address + bit_list.len()` does not fit the
    /// table; [`AccessError::Storage`] when the storage refuses. Nothing is
    /// written in either case.
    pub fn set_discrete_inputs(
        &mut self,
        address: u16,
        bit_list: &[bool],
    ) -> Result<(), AccessError> {
        self.local_bits(BitTable::DiscreteInputs, address, bit_list.len())?;
        self.storage
            .set_bits(BitTable::DiscreteInputs, address, bit_list)
            .map_err(AccessError::Storage)
    }

    /// Reads `out.len()` holding registers from `address`.
    ///
    /// # Errors
    ///
    /// [`AccessError::OutOfRange`] when `address..address + out.len()` does not fit the
    /// table (nothing is read); [`AccessError::Storage`] when the storage refuses.
    pub fn get_holding_registers(&self, address: u16, out: &mut [u16]) -> Result<(), AccessError> {
        self.local_words(WordTable::HoldingRegisters, address, out.len())?;
        self.storage
            .get_words(WordTable::HoldingRegisters, address, out)
            .map_err(AccessError::Storage)
    }

    /// Writes holding registers from `address`, all or nothing; fires no callback.
    ///
    /// # Errors
    ///
    /// [`AccessError::OutOfRange`] when `address..address + word_list.len()` does not fit the
    /// table; [`AccessError::Storage`] when the storage refuses. Nothing is
    /// written in either case.
    pub fn set_holding_registers(
        &mut self,
        address: u16,
        word_list: &[u16],
    ) -> Result<(), AccessError> {
        self.local_words(WordTable::HoldingRegisters, address, word_list.len())?;
        self.storage
            .set_words(WordTable::HoldingRegisters, address, word_list)
            .map_err(AccessError::Storage)
    }

    /// Reads `out.len()` input registers from `address`.
    ///
    /// # Errors
    ///
    /// [`AccessError::OutOfRange`] when `address..address + out.len()` does not fit the
    /// table (nothing is read); [`AccessError::Storage`] when the storage refuses.
    pub fn get_input_registers(&self, address: u16, out: &mut [u16]) -> Result<(), AccessError> {
        self.local_words(WordTable::InputRegisters, address, out.len())?;
        self.storage
            .get_words(WordTable::InputRegisters, address, out)
            .map_err(AccessError::Storage)
    }

    /// Writes input registers from `address`, all or nothing.
    ///
    /// # Errors
    ///
    /// [`AccessError::OutOfRange`] when `address..address + word_list.len()` does not fit the
    /// table; [`AccessError::Storage`] when the storage refuses. Nothing is
    /// written in either case.
    pub fn set_input_registers(
        &mut self,
        address: u16,
        word_list: &[u16],
    ) -> Result<(), AccessError> {
        self.local_words(WordTable::InputRegisters, address, word_list.len())?;
        self.storage
            .set_words(WordTable::InputRegisters, address, word_list)
            .map_err(AccessError::Storage)
    }

    fn read_bits(
        &self,
        table: BitTable,
        address: u16,
        out: &mut [bool],
    ) -> Result<(), ExceptionCode> {
        range_in(self.storage.bits_len(table), address, out.len())
            .ok_or(ExceptionCode::IllegalDataAddress)?;
        self.storage.get_bits(table, address, out)
    }

    fn read_words(
        &self,
        table: WordTable,
        address: u16,
        out: &mut [u16],
    ) -> Result<(), ExceptionCode> {
        range_in(self.storage.words_len(table), address, out.len())
            .ok_or(ExceptionCode::IllegalDataAddress)?;
        self.storage.get_words(table, address, out)
    }
}

/// The request side: what the default [`DataHandler`](crate::DataHandler)
/// calls. Ranges are checked (exception 2) and writes fire the callbacks.
impl<S: Storage, C: ChangeCallbacks, F: FileStorage> Bank for DataBank<S, C, F> {
    fn bits_len(&self, table: BitTable) -> usize {
        self.storage.bits_len(table)
    }

    fn words_len(&self, table: WordTable) -> usize {
        self.storage.words_len(table)
    }

    fn read_coils(
        &mut self,
        address: u16,
        out: &mut [bool],
        _srv_info: &SessionInfo,
    ) -> Result<(), ExceptionCode> {
        self.read_bits(BitTable::Coils, address, out)
    }

    fn read_d_inputs(
        &mut self,
        address: u16,
        out: &mut [bool],
        _srv_info: &SessionInfo,
    ) -> Result<(), ExceptionCode> {
        self.read_bits(BitTable::DiscreteInputs, address, out)
    }

    fn read_h_regs(
        &mut self,
        address: u16,
        out: &mut [u16],
        _srv_info: &SessionInfo,
    ) -> Result<(), ExceptionCode> {
        self.read_words(WordTable::HoldingRegisters, address, out)
    }

    fn read_i_regs(
        &mut self,
        address: u16,
        out: &mut [u16],
        _srv_info: &SessionInfo,
    ) -> Result<(), ExceptionCode> {
        self.read_words(WordTable::InputRegisters, address, out)
    }

    fn read_regs_be(
        &mut self,
        table: WordTable,
        address: u16,
        out: &mut [u8],
        _srv_info: &SessionInfo,
    ) -> Result<(), ExceptionCode> {
        range_in(
            self.storage.words_len(table),
            address,
            out.len() / REGISTER_LEN,
        )
        .ok_or(ExceptionCode::IllegalDataAddress)?;
        self.storage.get_words_be(table, address, out)
    }

    fn write_coils(
        &mut self,
        address: u16,
        bits_l: &[bool],
        srv_info: &SessionInfo,
    ) -> Result<(), ExceptionCode> {
        let table = BitTable::Coils;
        range_in(self.storage.bits_len(table), address, bits_l.len())
            .ok_or(ExceptionCode::IllegalDataAddress)?;
        if !C::ENABLED {
            return self.storage.set_bits(table, address, bits_l);
        }
        let mut scratch = [false; BIT_SCRATCH];
        let old = scratch
            .get_mut(..bits_l.len())
            .ok_or(ExceptionCode::IllegalDataValue)?;
        self.storage.get_bits(table, address, old)?;
        self.storage.set_bits(table, address, bits_l)?;
        for run in changed_runs(old, bits_l) {
            let start = address.wrapping_add(run.start as u16); // in range: checked above
            self.callbacks
                .on_coils_change(start, &old[run.clone()], &bits_l[run], srv_info);
        }
        Ok(())
    }

    fn write_h_regs(
        &mut self,
        address: u16,
        words_l: &[u16],
        srv_info: &SessionInfo,
    ) -> Result<(), ExceptionCode> {
        let table = WordTable::HoldingRegisters;
        range_in(self.storage.words_len(table), address, words_l.len())
            .ok_or(ExceptionCode::IllegalDataAddress)?;
        if !C::ENABLED {
            return self.storage.set_words(table, address, words_l);
        }
        let mut scratch = [0u16; WORD_SCRATCH];
        let old = scratch
            .get_mut(..words_l.len())
            .ok_or(ExceptionCode::IllegalDataValue)?;
        self.storage.get_words(table, address, old)?;
        self.storage.set_words(table, address, words_l)?;
        for run in changed_runs(old, words_l) {
            let start = address.wrapping_add(run.start as u16);
            self.callbacks.on_holding_registers_change(
                start,
                &old[run.clone()],
                &words_l[run],
                srv_info,
            );
        }
        Ok(())
    }

    // FC 20, 21, 24
    fn records_in(&self, file: u16) -> usize {
        self.files.records_in(file)
    }

    fn read_file_record(
        &mut self,
        file: u16,
        record: u16,
        out: &mut [u16],
        _srv_info: &SessionInfo,
    ) -> Result<(), ExceptionCode> {
        self.read_file_request(file, record, out)
    }

    fn write_file_record(
        &mut self,
        records: FileRecordWrites<'_>,
        srv_info: &SessionInfo,
    ) -> Result<(), ExceptionCode> {
        self.write_file_request(records, srv_info)
    }
}

/// Every unit id is served by this one bank (as pyModbusTCP does).
impl<S: Storage, C: ChangeCallbacks, F: FileStorage> Banks for DataBank<S, C, F> {
    fn bank(&mut self, _unit_id: u8) -> &mut dyn Bank {
        self
    }
}

/// The maximal runs of indexes where `old` and `new` differ.
pub(super) fn changed_runs<'a, T: PartialEq>(
    old: &'a [T],
    new: &'a [T],
) -> impl Iterator<Item = Range<usize>> + 'a {
    let len = old.len().min(new.len());
    let differs = move |i: usize| old[i] != new[i];
    let mut i = 0;
    core::iter::from_fn(move || {
        while i < len && !differs(i) {
            i += 1;
        }
        if i >= len {
            return None;
        }
        let start = i;
        while i < len && differs(i) {
            i += 1;
        }
        Some(start..i)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::{Bank as _, FixedStorage};
    use crate::wire::FunctionCode;

    #[derive(Default)]
    struct Recorder {
        coils: heapless::Vec<(u16, heapless::Vec<bool, 16>, heapless::Vec<bool, 16>), 8>,
        regs: heapless::Vec<(u16, heapless::Vec<u16, 16>, heapless::Vec<u16, 16>), 8>,
    }

    impl ChangeCallbacks for Recorder {
        fn on_coils_change(&mut self, address: u16, from: &[bool], to: &[bool], _: &SessionInfo) {
            let _ = self
                .coils
                .push((address, from.try_into().unwrap(), to.try_into().unwrap()));
        }
        fn on_holding_registers_change(
            &mut self,
            address: u16,
            from: &[u16],
            to: &[u16],
            _: &SessionInfo,
        ) {
            let _ = self
                .regs
                .push((address, from.try_into().unwrap(), to.try_into().unwrap()));
        }
    }

    type Bank = DataBank<FixedStorage<2, 2, 16, 16>, Recorder>;
    const S: SessionInfo = SessionInfo::local(FunctionCode::WriteMultipleRegisters);

    #[test]
    fn runs_of_changes() {
        let runs: heapless::Vec<Range<usize>, 8> =
            changed_runs(&[0, 1, 2, 3, 4, 5], &[0, 9, 9, 3, 4, 8]).collect();
        assert_eq!(runs, [1..3, 5..6]);
        assert_eq!(changed_runs(&[1, 2], &[1, 2]).count(), 0);
    }

    #[test]
    fn request_writes_report_only_changed_runs() {
        let mut bank = Bank::with_callbacks(FixedStorage::new(), Recorder::default());
        bank.set_holding_registers(0, &[1, 2, 3, 4]).unwrap(); // local: no callback
        assert!(bank.callbacks().regs.is_empty());
        bank.write_h_regs(0, &[1, 7, 8, 4, 0, 5], &S).unwrap();
        let regs = &bank.callbacks().regs;
        assert_eq!(regs.len(), 2);
        assert_eq!(
            (regs[0].0, &regs[0].1[..], &regs[0].2[..]),
            (1, &[2, 3][..], &[7, 8][..])
        );
        assert_eq!(
            (regs[1].0, &regs[1].1[..], &regs[1].2[..]),
            (5, &[0][..], &[5][..])
        );

        bank.write_coils(3, &[false, true, true], &S).unwrap();
        let coils = &bank.callbacks().coils;
        assert_eq!(coils.len(), 1);
        assert_eq!((coils[0].0, &coils[0].2[..]), (4, &[true, true][..]));
    }

    #[test]
    fn out_of_range_is_exception_2_and_writes_nothing() {
        let mut bank = Bank::with_callbacks(FixedStorage::new(), Recorder::default());
        assert_eq!(
            bank.write_h_regs(15, &[1, 2], &S),
            Err(ExceptionCode::IllegalDataAddress)
        );
        let mut all = [0u16; 16];
        bank.get_holding_registers(0, &mut all).unwrap();
        assert_eq!(all, [0; 16], "a write out of range must not write");
        assert_eq!(
            bank.set_input_registers(10, &[0; 7]),
            Err(AccessError::OutOfRange {
                address: 10,
                count: 7,
                size: 16
            })
        );
    }
}
