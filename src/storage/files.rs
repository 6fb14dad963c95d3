//! Files of records for FC 20 / 21 (Read / Write File Record): the
//! [`FileStorage`] trait, [`NoFiles`] (the default: FC 20 and 21 answer
//! exception 1), [`FixedFiles`] (no heap) and `HeapFiles` (sized at run
//! time), and the data bank's file operations.

use super::data_bank::{changed_runs, AccessError, ChangeCallbacks, DataBank};
use super::range_in;
use crate::session::SessionInfo;
use crate::wire::{ExceptionCode, FileRecordWrites, MAX_RECORDS_PER_FILE, MAX_WRITE_FILE_WORDS};

/// Files of 16-bit records, as FC 20 and 21 reach them.
///
/// Files are numbered 1..=[`file_count`](FileStorage::file_count); a file
/// holds [`records_in`](FileStorage::records_in) records, numbered from 0
/// (at most 10,000, the protocol's records 0..=0x270F). Callers
/// ([`DataBank`]) check every range before calling, so an implementation
/// sees only ranges inside a file; it still must not panic out of range
/// (return an exception), and a write must write all values or none.
///
/// A storage with no file (`file_count() == 0`, as [`NoFiles`]) makes the
/// data bank answer FC 20 and 21 with exception 1 (illegal function).
///
/// ```
/// use modbus_device::{ExceptionCode, FileStorage};
///
/// /// File 1: record `n` reads as `n * 2`; nothing is stored.
/// struct Doubled;
///
/// impl FileStorage for Doubled {
///     fn file_count(&self) -> u16 { 1 }
///     fn records_in(&self, file: u16) -> usize { if file == 1 { 100 } else { 0 } }
///     fn read_records(&self, _: u16, record: u16, out: &mut [u16]) -> Result<(), ExceptionCode> {
///         for (i, slot) in out.iter_mut().enumerate() {
///             *slot = (usize::from(record) + i) as u16 * 2;
///         }
///         Ok(())
///     }
///     fn write_records(&mut self, _: u16, _: u16, _: &[u16]) -> Result<(), ExceptionCode> {
///         Err(ExceptionCode::IllegalDataAddress)
///     }
/// }
///
/// let bank = modbus_device::DataBank::default().with_files(Doubled);
/// let mut out = [0u16; 2];
/// bank.get_file_records(1, 10, &mut out).unwrap();
/// assert_eq!(out, [20, 22]);
/// ```
pub trait FileStorage {
    /// The highest file number (0: no files).
    fn file_count(&self) -> u16;

    /// Records in `file` (0 for a file that does not exist).
    fn records_in(&self, file: u16) -> usize;

    /// Reads `out.len()` records of `file` from `record`.
    ///
    /// # Errors
    ///
    /// Any [`ExceptionCode`] the storage wants the client to receive.
    fn read_records(&self, file: u16, record: u16, out: &mut [u16]) -> Result<(), ExceptionCode>;

    /// Writes `values` to `file` from `record`, all or nothing.
    ///
    /// # Errors
    ///
    /// Any [`ExceptionCode`] the storage wants the client to receive;
    /// nothing is written then.
    fn write_records(
        &mut self,
        file: u16,
        record: u16,
        values: &[u16],
    ) -> Result<(), ExceptionCode>;
}

/// No files: FC 20 and 21 answer exception 1 (illegal function). The
/// default of a [`DataBank`], at no cost.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct NoFiles;

impl FileStorage for NoFiles {
    fn file_count(&self) -> u16 {
        0
    }

    fn records_in(&self, _file: u16) -> usize {
        0
    }

    fn read_records(&self, _: u16, _: u16, _: &mut [u16]) -> Result<(), ExceptionCode> {
        Err(ExceptionCode::IllegalFunction)
    }

    fn write_records(&mut self, _: u16, _: u16, _: &[u16]) -> Result<(), ExceptionCode> {
        Err(ExceptionCode::IllegalFunction)
    }
}

/// `FILES` files (numbered 1..=FILES) of `RECORDS` records each, in a
/// fixed array; no heap. More than 0xFFFF files or 10,000 records per file
/// does not compile.
///
/// ```
/// use modbus_device::{DataBank, FixedFiles, FixedStorage};
///
/// // 4 files of 32 records: 256 bytes of RAM.
/// let mut bank = DataBank::new(FixedStorage::<0, 0, 8, 0>::new()).with_files(FixedFiles::<4, 32>::new());
/// bank.set_file_records(4, 30, &[7, 8]).unwrap();
/// assert!(bank.set_file_records(5, 0, &[1]).is_err()); // no file 5
/// assert!(bank.set_file_records(4, 31, &[1, 2]).is_err()); // no record 32
/// ```
#[derive(Debug, Clone)]
pub struct FixedFiles<const FILES: usize, const RECORDS: usize> {
    files: [[u16; RECORDS]; FILES],
}

impl<const FILES: usize, const RECORDS: usize> Default for FixedFiles<FILES, RECORDS> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const FILES: usize, const RECORDS: usize> FixedFiles<FILES, RECORDS> {
    const SIZES_FIT: () = assert!(
        FILES <= u16::MAX as usize && RECORDS <= MAX_RECORDS_PER_FILE,
        "FixedFiles: at most 0xFFFF files of at most 10,000 records"
    );

    /// Every record 0.
    #[must_use]
    pub const fn new() -> Self {
        Self::filled(0)
    }

    /// Every record `value`.
    #[must_use]
    pub const fn filled(value: u16) -> Self {
        #[allow(clippy::let_unit_value)]
        let () = Self::SIZES_FIT;
        FixedFiles {
            files: [[value; RECORDS]; FILES],
        }
    }

    fn file(&self, file: u16) -> Option<&[u16; RECORDS]> {
        self.files.get(usize::from(file).checked_sub(1)?)
    }
}

impl<const FILES: usize, const RECORDS: usize> FileStorage for FixedFiles<FILES, RECORDS> {
    fn file_count(&self) -> u16 {
        FILES as u16 // at most 0xFFFF: SIZES_FIT
    }

    fn records_in(&self, file: u16) -> usize {
        self.file(file).map_or(0, |f| f.len())
    }

    fn read_records(&self, file: u16, record: u16, out: &mut [u16]) -> Result<(), ExceptionCode> {
        let range = range_in(self.records_in(file), record, out.len());
        let values = self.file(file).zip(range).and_then(|(f, r)| f.get(r));
        out.copy_from_slice(values.ok_or(ExceptionCode::IllegalDataAddress)?);
        Ok(())
    }

    fn write_records(
        &mut self,
        file: u16,
        record: u16,
        values: &[u16],
    ) -> Result<(), ExceptionCode> {
        let range = range_in(self.records_in(file), record, values.len())
            .ok_or(ExceptionCode::IllegalDataAddress)?;
        let index = usize::from(file).wrapping_sub(1);
        let slots = self
            .files
            .get_mut(index)
            .and_then(|f| f.get_mut(range))
            .ok_or(ExceptionCode::IllegalDataAddress)?;
        slots.copy_from_slice(values);
        Ok(())
    }
}

#[cfg(feature = "alloc")]
pub use heap::{FilesTooLarge, HeapFiles};

#[cfg(feature = "alloc")]
mod heap {
    use alloc::vec;
    use alloc::vec::Vec;

    use super::{range_in, FileStorage, MAX_RECORDS_PER_FILE};
    use crate::wire::ExceptionCode;

    /// More files or records than the protocol can address.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    #[cfg_attr(feature = "defmt", derive(defmt::Format))]
    pub struct FilesTooLarge {
        /// The files asked for.
        pub files: usize,
        /// The largest number of records asked for in one file.
        pub records: usize,
    }

    impl core::fmt::Display for FilesTooLarge {
        fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
            write!(
                f,
                "{} files of up to {} records: Modbus addresses at most 65535 files of {} records",
                self.files, self.records, MAX_RECORDS_PER_FILE
            )
        }
    }

    impl core::error::Error for FilesTooLarge {}

    /// Files sized at run time, on the heap (feature `alloc`): file `n`
    /// (from 1) holds the `n`-th size given.
    ///
    /// ```
    /// use modbus_device::{DataBank, HeapFiles};
    ///
    /// let files = HeapFiles::new(10, 10_000)?; // files 1..=10, records 0..=9999
    /// let mut bank = DataBank::default().with_files(files);
    /// bank.set_file_records(3, 9_998, &[1, 2])?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[derive(Debug, Clone, Default, PartialEq, Eq)]
    pub struct HeapFiles {
        files: Vec<Vec<u16>>,
    }

    impl HeapFiles {
        /// `files` files of `records` records each, all 0.
        ///
        /// # Errors
        ///
        /// [`FilesTooLarge`] for more than 0xFFFF files or more than
        /// 10,000 records.
        pub fn new(files: usize, records: usize) -> Result<Self, FilesTooLarge> {
            Self::check(files, records)?;
            Ok(HeapFiles {
                files: vec![vec![0; records]; files],
            })
        }

        /// One file per entry of `sizes` (file 1 first), of that many
        /// records, all 0.
        ///
        /// # Errors
        ///
        /// [`FilesTooLarge`] for more than 0xFFFF files or a file of more
        /// than 10,000 records.
        pub fn with_sizes(sizes: &[usize]) -> Result<Self, FilesTooLarge> {
            Self::check(sizes.len(), sizes.iter().copied().max().unwrap_or(0))?;
            Ok(HeapFiles {
                files: sizes.iter().map(|&n| vec![0; n]).collect(),
            })
        }

        fn check(files: usize, records: usize) -> Result<(), FilesTooLarge> {
            if files > usize::from(u16::MAX) || records > MAX_RECORDS_PER_FILE {
                return Err(FilesTooLarge { files, records });
            }
            Ok(())
        }

        fn file(&self, file: u16) -> Option<&Vec<u16>> {
            self.files.get(usize::from(file).checked_sub(1)?)
        }
    }

    impl FileStorage for HeapFiles {
        fn file_count(&self) -> u16 {
            self.files.len() as u16 // at most 0xFFFF: `check`
        }

        fn records_in(&self, file: u16) -> usize {
            self.file(file).map_or(0, Vec::len)
        }

        fn read_records(
            &self,
            file: u16,
            record: u16,
            out: &mut [u16],
        ) -> Result<(), ExceptionCode> {
            let range = range_in(self.records_in(file), record, out.len());
            let values = self.file(file).zip(range).and_then(|(f, r)| f.get(r));
            out.copy_from_slice(values.ok_or(ExceptionCode::IllegalDataAddress)?);
            Ok(())
        }

        fn write_records(
            &mut self,
            file: u16,
            record: u16,
            values: &[u16],
        ) -> Result<(), ExceptionCode> {
            let range = range_in(self.records_in(file), record, values.len())
                .ok_or(ExceptionCode::IllegalDataAddress)?;
            let index = usize::from(file).wrapping_sub(1);
            let slots = self
                .files
                .get_mut(index)
                .and_then(|f| f.get_mut(range))
                .ok_or(ExceptionCode::IllegalDataAddress)?;
            slots.copy_from_slice(values);
            Ok(())
        }
    }
}

/// Most sub-requests one FC 21 request carries: 9 bytes (a header and one
/// word) each in the largest request data length, 0xFB.
const MAX_WRITE_SUB_REQUESTS: usize = 0xFB / 9;

/// The data bank's files: the application's side (`get_file_records`,
/// `set_file_records`) and the request side the [`Bank`](super::Bank)
/// methods use.
impl<S, C: ChangeCallbacks, F: FileStorage> DataBank<S, C, F> {
    /// The files.
    pub fn files(&self) -> &F {
        &self.files
    }

    /// The files, mutably (writes through it fire no callback).
    pub fn files_mut(&mut self) -> &mut F {
        &mut self.files
    }

    /// This data bank with `files` for FC 20 and 21 (builder style); the
    /// files it had are dropped.
    #[must_use]
    pub fn with_files<G: FileStorage>(self, files: G) -> DataBank<S, C, G> {
        DataBank {
            storage: self.storage,
            callbacks: self.callbacks,
            files,
        }
    }

    /// Takes the data bank apart, files included.
    pub fn into_parts_with_files(self) -> (S, C, F) {
        (self.storage, self.callbacks, self.files)
    }

    fn local_records(&self, file: u16, record: u16, count: usize) -> Result<(), AccessError> {
        let size = self.files.records_in(file);
        range_in(size, record, count)
            .map(|_| ())
            .ok_or(AccessError::OutOfRange {
                address: record,
                count,
                size,
            })
    }

    /// Reads `out.len()` records of `file` from `record`.
    ///
    /// # Errors
    ///
    /// [`AccessError::OutOfRange`] when the records are not all in the file
    /// (`size` is the file's number of records, 0 for a file that does not
    /// exist); [`AccessError::Storage`] when the file storage refuses.
    pub fn get_file_records(
        &self,
        file: u16,
        record: u16,
        out: &mut [u16],
    ) -> Result<(), AccessError> {
        self.local_records(file, record, out.len())?;
        self.files
            .read_records(file, record, out)
            .map_err(AccessError::Storage)
    }

    /// Writes records of `file` from `record`, all or nothing; fires no
    /// callback.
    ///
    /// # Errors
    ///
    /// [`AccessError::OutOfRange`] when the records are not all in the file
    /// (`size` is the file's number of records, 0 for a file that does not
    /// exist); [`AccessError::Storage`] when the file storage refuses.
    /// Nothing is written in either case.
    pub fn set_file_records(
        &mut self,
        file: u16,
        record: u16,
        values: &[u16],
    ) -> Result<(), AccessError> {
        self.local_records(file, record, values.len())?;
        self.files
            .write_records(file, record, values)
            .map_err(AccessError::Storage)
    }

    /// FC 20, one sub-request: exception 1 without files, 2 for records
    /// outside the file.
    pub(super) fn read_file_request(
        &self,
        file: u16,
        record: u16,
        out: &mut [u16],
    ) -> Result<(), ExceptionCode> {
        if self.files.file_count() == 0 {
            return Err(ExceptionCode::IllegalFunction);
        }
        range_in(self.files.records_in(file), record, out.len())
            .ok_or(ExceptionCode::IllegalDataAddress)?;
        self.files.read_records(file, record, out)
    }

    /// FC 21: every sub-request's range is checked before any is written;
    /// a storage failure midway restores what was written, in reverse
    /// order. The change callbacks see each sub-request's changed runs
    /// after all are written.
    pub(super) fn write_file_request(
        &mut self,
        records: FileRecordWrites<'_>,
        srv_info: &SessionInfo,
    ) -> Result<(), ExceptionCode> {
        if self.files.file_count() == 0 {
            return Err(ExceptionCode::IllegalFunction);
        }
        for sub in records.iter() {
            range_in(
                self.files.records_in(sub.file),
                sub.record,
                sub.values.len(),
            )
            .ok_or(ExceptionCode::IllegalDataAddress)?;
        }
        // (file, record, first word in the scratch, words) per sub-request.
        let mut done = [(0u16, 0u16, 0usize, 0usize); MAX_WRITE_SUB_REQUESTS];
        let mut new = [0u16; MAX_WRITE_FILE_WORDS];
        let mut old = [0u16; MAX_WRITE_FILE_WORDS];
        let mut written = 0;
        let mut at = 0;
        for sub in records.iter() {
            let n = sub.values.len();
            // The parser bounds the sub-requests to `done`'s length.
            let step = match done.get(written) {
                Some(_) => self.write_one(sub.file, sub.record, sub.values, at, &mut new, &mut old),
                None => Err(ExceptionCode::IllegalDataValue),
            };
            if let Err(code) = step {
                self.restore(&done[..written], &old);
                return Err(code);
            }
            done[written] = (sub.file, sub.record, at, n);
            written += 1;
            at += n;
        }
        if C::ENABLED {
            for &(file, record, start, n) in &done[..written] {
                let (from, to) = (&old[start..start + n], &new[start..start + n]);
                for run in changed_runs(from, to) {
                    let first = record.wrapping_add(run.start as u16); // in range: checked
                    self.callbacks.on_file_records_change(
                        file,
                        first,
                        &from[run.clone()],
                        &to[run],
                        srv_info,
                    );
                }
            }
        }
        Ok(())
    }

    /// Writes back the old values of the sub-requests `done`, last first.
    fn restore(&mut self, done: &[(u16, u16, usize, usize)], old: &[u16]) {
        for &(file, record, start, n) in done.iter().rev() {
            if let Some(values) = old.get(start..start + n) {
                // The values the file held a moment ago: this succeeds
                // unless the storage itself fails, and then the first
                // failure is still the answer.
                let _ = self.files.write_records(file, record, values);
            }
        }
    }

    /// Decodes one sub-request's values into `new[at..]`, saves the old
    /// values into `old[at..]`, and writes.
    fn write_one(
        &mut self,
        file: u16,
        record: u16,
        values: crate::wire::Words<'_>,
        at: usize,
        new: &mut [u16],
        old: &mut [u16],
    ) -> Result<(), ExceptionCode> {
        let end = at + values.len();
        let (new, old) = new
            .get_mut(at..end)
            .zip(old.get_mut(at..end))
            .ok_or(ExceptionCode::IllegalDataValue)?;
        values.decode_into(new);
        self.files.read_records(file, record, old)?;
        self.files.write_records(file, record, new)
    }
}
