//! Model-based test: random request sequences through the real `Engine` and
//! `Service`, compared byte for byte with a plain reference model of the
//! four tables written from `spec/behaviour.md` (and nothing of the crate),
//! plus files of records (FC 20, 21) and FIFO queues in the holding
//! registers (FC 24) written from the specification's sections 6.14, 6.15
//! and 6.18.

mod common;

use std::cell::RefCell;

use common::exceptions::mbap_frame;
use common::requests::{bytes_from, request_with_files, FileSizes, Sizes};
use common::{to_hex, Conn};
use modbus_device::{
    Bank, Banks, BitTable, DataBank, DataHandler, EngineConfig, ExceptionCode, FixedStorage,
    HeapStorage, HeapStorageConfig, Instant, Service, SessionInfo, Storage, WordTable,
};
// FC 20, 21, 24
use modbus_device::{FileStorage, HeapFiles, NoCallbacks, NoFiles};
use proptest::prelude::*;

/// The reference: four tables and the rules of behaviour.md, nothing else.
#[derive(Debug, Clone, PartialEq)]
struct Model {
    coils: Vec<bool>,
    d_inputs: Vec<bool>,
    holding: Vec<u16>,
    input: Vec<u16>,
    /// File `n` (from 1) is `files[n - 1]`; none: FC 20 / 21 are exception 1.
    files: Vec<Vec<u16>>,
    // FC 8, 11, 17: the counters (every request is served: no unit filter).
    /// Requests seen (bus message count = server message count).
    messages: u16,
    /// Exception responses (bus exception error count).
    exceptions: u16,
    /// Normal responses but to FC 11 (comm event count).
    events: u16,
    /// The request being served cleared the counters: it is not counted.
    cleared: bool,
}

const ILLEGAL_FUNCTION: u8 = 1;
const ILLEGAL_ADDRESS: u8 = 2;
const ILLEGAL_VALUE: u8 = 3;

fn word(data: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*data.get(at)?, *data.get(at + 1)?]))
}

/// `address..address + count` inside a table of `size`.
fn fits(size: usize, address: u16, count: usize) -> bool {
    usize::from(address) + count <= size
}

impl Model {
    /// Pseudo-random initial contents from `seed`, for tables of `sizes`.
    fn new(sizes: Sizes, files: FileSizes, seed: u64) -> Model {
        let bits = |n, s| bytes_from(s, n).into_iter().map(|b| b & 1 == 1).collect();
        let words = |n, s| {
            bytes_from(s, 2 * n)
                .chunks(2)
                .map(|c| u16::from_be_bytes([c[0], c[1]]))
                .collect()
        };
        let mut holding: Vec<u16> = words(sizes.holding, seed ^ 2);
        // FIFO counts 0..=35 in every fifth register, so that FC 24 finds
        // queues (and counts above 31).
        for (i, reg) in holding.iter_mut().enumerate().step_by(5) {
            *reg = (i as u16 ^ (seed as u16)) % 36;
        }
        Model {
            coils: bits(sizes.coils, seed),
            d_inputs: bits(sizes.d_inputs, seed ^ 1),
            holding,
            input: words(sizes.input, seed ^ 3),
            files: (0..u64::from(files.files))
                .map(|f| words(usize::from(files.records), seed ^ (f + 4)))
                .collect(),
            messages: 0,
            exceptions: 0,
            events: 0,
            cleared: false,
        }
    }

    /// Loads the model's contents into a data bank with the local API.
    fn load<S: Storage, F: FileStorage>(&self, bank: &mut DataBank<S, NoCallbacks, F>) {
        bank.set_coils(0, &self.coils).unwrap();
        bank.set_discrete_inputs(0, &self.d_inputs).unwrap();
        bank.set_holding_registers(0, &self.holding).unwrap();
        bank.set_input_registers(0, &self.input).unwrap();
        for (i, file) in self.files.iter().enumerate() {
            bank.set_file_records(i as u16 + 1, 0, file).unwrap();
        }
    }

    /// Reads a data bank's contents back into a model of the same sizes.
    fn read_back<S: Storage, F: FileStorage>(&self, bank: &DataBank<S, NoCallbacks, F>) -> Model {
        let mut out = self.clone();
        bank.get_coils(0, &mut out.coils).unwrap();
        bank.get_discrete_inputs(0, &mut out.d_inputs).unwrap();
        bank.get_holding_registers(0, &mut out.holding).unwrap();
        bank.get_input_registers(0, &mut out.input).unwrap();
        for (i, file) in out.files.iter_mut().enumerate() {
            bank.get_file_records(i as u16 + 1, 0, file).unwrap();
        }
        out
    }

    /// The response PDU to `pdu`.
    fn respond(&mut self, pdu: &[u8]) -> Vec<u8> {
        let function = pdu[0];
        self.messages = self.messages.wrapping_add(1);
        self.cleared = false;
        let response = self.serve(function, &pdu[1..]);
        let counted = !self.cleared;
        match response {
            Ok(response) => {
                if counted && function != 0x0B {
                    self.events = self.events.wrapping_add(1);
                }
                response
            }
            Err(code) => {
                if counted {
                    self.exceptions = self.exceptions.wrapping_add(1);
                }
                vec![function | 0x80, code]
            }
        }
    }

    fn serve(&mut self, function: u8, data: &[u8]) -> Result<Vec<u8>, u8> {
        let w = |at| word(data, at).ok_or(ILLEGAL_VALUE);
        let echo = |n: usize| {
            let mut out = vec![function];
            out.extend_from_slice(&data[..n]);
            out
        };
        match function {
            0x01 | 0x02 => {
                let (address, quantity) = (w(0)?, w(2)?);
                if !(1..=2000).contains(&quantity) {
                    return Err(ILLEGAL_VALUE);
                }
                let table = if function == 1 {
                    &self.coils
                } else {
                    &self.d_inputs
                };
                if !fits(table.len(), address, quantity.into()) {
                    return Err(ILLEGAL_ADDRESS);
                }
                let bits = &table[usize::from(address)..][..usize::from(quantity)];
                let mut bytes = vec![0u8; bits.len().div_ceil(8)];
                for (i, &bit) in bits.iter().enumerate() {
                    if bit {
                        bytes[i / 8] |= 1 << (i % 8);
                    }
                }
                let mut out = vec![function, bytes.len() as u8];
                out.extend(bytes);
                Ok(out)
            }
            0x03 | 0x04 => {
                let (address, quantity) = (w(0)?, w(2)?);
                if !(1..=125).contains(&quantity) {
                    return Err(ILLEGAL_VALUE);
                }
                let table = if function == 3 {
                    &self.holding
                } else {
                    &self.input
                };
                if !fits(table.len(), address, quantity.into()) {
                    return Err(ILLEGAL_ADDRESS);
                }
                let mut out = vec![function, (2 * quantity) as u8];
                for v in &table[usize::from(address)..][..usize::from(quantity)] {
                    out.extend_from_slice(&v.to_be_bytes());
                }
                Ok(out)
            }
            0x05 => {
                let (address, value) = (w(0)?, w(2)?);
                let on = match value {
                    0xFF00 => true,
                    0x0000 => false,
                    _ => return Err(ILLEGAL_VALUE),
                };
                if !fits(self.coils.len(), address, 1) {
                    return Err(ILLEGAL_ADDRESS);
                }
                self.coils[usize::from(address)] = on;
                Ok(echo(4))
            }
            0x06 => {
                let (address, value) = (w(0)?, w(2)?);
                if !fits(self.holding.len(), address, 1) {
                    return Err(ILLEGAL_ADDRESS);
                }
                self.holding[usize::from(address)] = value;
                Ok(echo(4))
            }
            0x0F => {
                let (address, quantity) = (w(0)?, w(2)?);
                if !(1..=1968).contains(&quantity) {
                    return Err(ILLEGAL_VALUE);
                }
                let count = usize::from(*data.get(4).ok_or(ILLEGAL_VALUE)?);
                if count < usize::from(quantity).div_ceil(8) || data.len() < 5 + count {
                    return Err(ILLEGAL_VALUE);
                }
                if !fits(self.coils.len(), address, quantity.into()) {
                    return Err(ILLEGAL_ADDRESS);
                }
                for i in 0..usize::from(quantity) {
                    self.coils[usize::from(address) + i] = data[5 + i / 8] >> (i % 8) & 1 == 1;
                }
                Ok(echo(4))
            }
            0x10 => {
                let (address, quantity) = (w(0)?, w(2)?);
                if !(1..=123).contains(&quantity) {
                    return Err(ILLEGAL_VALUE);
                }
                let count = usize::from(*data.get(4).ok_or(ILLEGAL_VALUE)?);
                if count != 2 * usize::from(quantity) || data.len() < 5 + count {
                    return Err(ILLEGAL_VALUE);
                }
                if !fits(self.holding.len(), address, quantity.into()) {
                    return Err(ILLEGAL_ADDRESS);
                }
                for i in 0..usize::from(quantity) {
                    self.holding[usize::from(address) + i] = w(5 + 2 * i)?;
                }
                Ok(echo(4))
            }
            0x16 => {
                let (address, and, or) = (w(0)?, w(2)?, w(4)?);
                if !fits(self.holding.len(), address, 1) {
                    return Err(ILLEGAL_ADDRESS);
                }
                let reg = &mut self.holding[usize::from(address)];
                *reg = (*reg & and) | (or & !and);
                Ok(echo(6))
            }
            0x17 => {
                let (read_address, read_quantity) = (w(0)?, w(2)?);
                let (write_address, write_quantity) = (w(4)?, w(6)?);
                if !(1..=125).contains(&read_quantity) || !(1..=121).contains(&write_quantity) {
                    return Err(ILLEGAL_VALUE);
                }
                let count = usize::from(*data.get(8).ok_or(ILLEGAL_VALUE)?);
                if count != 2 * usize::from(write_quantity) || data.len() < 9 + count {
                    return Err(ILLEGAL_VALUE);
                }
                let size = self.holding.len();
                if !fits(size, read_address, read_quantity.into())
                    || !fits(size, write_address, write_quantity.into())
                {
                    return Err(ILLEGAL_ADDRESS);
                }
                for i in 0..usize::from(write_quantity) {
                    self.holding[usize::from(write_address) + i] = w(9 + 2 * i)?;
                }
                let mut out = vec![function, (2 * read_quantity) as u8];
                for v in &self.holding[usize::from(read_address)..][..usize::from(read_quantity)] {
                    out.extend_from_slice(&v.to_be_bytes());
                }
                Ok(out)
            }
            0x2B => {
                // No device identification is configured in this model.
                let mei = *data.first().ok_or(ILLEGAL_VALUE)?;
                if mei != 0x0E {
                    return Err(ILLEGAL_ADDRESS);
                }
                let code = *data.get(1).ok_or(ILLEGAL_VALUE)?;
                data.get(2).ok_or(ILLEGAL_VALUE)?;
                if !(1..=4).contains(&code) {
                    return Err(ILLEGAL_VALUE);
                }
                Err(ILLEGAL_ADDRESS)
            }
            // FC 20, 21, 24
            0x14 | 0x15 => self.serve_file(function, data),
            0x18 => {
                let pointer = usize::from(w(0)?);
                let count = usize::from(*self.holding.get(pointer).ok_or(ILLEGAL_ADDRESS)?);
                if count > 31 {
                    return Err(ILLEGAL_VALUE);
                }
                let queue = self
                    .holding
                    .get(pointer + 1..pointer + 1 + count)
                    .ok_or(ILLEGAL_ADDRESS)?;
                let mut out = vec![function];
                out.extend_from_slice(&(2 + 2 * count as u16).to_be_bytes());
                out.extend_from_slice(&(count as u16).to_be_bytes());
                for v in queue {
                    out.extend_from_slice(&v.to_be_bytes());
                }
                Ok(out)
            }
            // FC 8, 11, 17
            0x08 => {
                let sub = w(0)?;
                let rest = &data[2..];
                let zero = rest == [0x00, 0x00];
                match sub {
                    0x00 => Ok(echo(data.len())),
                    0x01 | 0x0A => {
                        if !(zero || (sub == 0x01 && rest == [0xFF, 0x00])) {
                            return Err(ILLEGAL_VALUE);
                        }
                        (self.messages, self.exceptions, self.events) = (0, 0, 0);
                        self.cleared = true;
                        Ok(echo(data.len()))
                    }
                    0x0B..=0x12 => {
                        if !zero {
                            return Err(ILLEGAL_VALUE);
                        }
                        let count = match sub {
                            0x0B | 0x0E => self.messages,
                            0x0D => self.exceptions,
                            _ => 0,
                        };
                        let mut out = echo(2);
                        out.extend_from_slice(&count.to_be_bytes());
                        Ok(out)
                    }
                    _ => Err(ILLEGAL_FUNCTION),
                }
            }
            0x0B => {
                let mut out = vec![0x0B, 0x00, 0x00];
                out.extend_from_slice(&self.events.to_be_bytes());
                Ok(out)
            }
            // No server id is configured in this model.
            0x11 => Err(ILLEGAL_FUNCTION),
            _ => Err(ILLEGAL_FUNCTION),
        }
    }

    /// FC 20 and 21 (sections 6.14, 6.15 and their state diagrams).
    fn serve_file(&mut self, function: u8, data: &[u8]) -> Result<Vec<u8>, u8> {
        let count = usize::from(*data.first().ok_or(ILLEGAL_VALUE)?);
        let read = function == 0x14;
        let allowed = if read { 0x07..=0xF5 } else { 0x09..=0xFB };
        if !allowed.contains(&count) || data.len() < 1 + count {
            return Err(ILLEGAL_VALUE);
        }
        let body = &data[1..1 + count];
        // Shape: (reference, file, record, values) per sub-request.
        let mut subs = Vec::new();
        let mut at = 0;
        while at < body.len() {
            let sub = body.get(at..at + 7).ok_or(ILLEGAL_VALUE)?;
            let length = usize::from(word(sub, 5).unwrap());
            let data_len = if read { 0 } else { 2 * length };
            let values = body.get(at + 7..at + 7 + data_len).ok_or(ILLEGAL_VALUE)?;
            if length == 0 {
                return Err(ILLEGAL_VALUE);
            }
            let file = word(sub, 1).unwrap();
            let record = word(sub, 3).unwrap();
            subs.push((sub[0], file, record, length, values));
            at += 7 + data_len;
        }
        if read && 2 + subs.iter().map(|s| 2 + 2 * s.3).sum::<usize>() > 253 {
            return Err(ILLEGAL_VALUE);
        }
        for &(reference, file, record, length, _) in &subs {
            if reference != 6 || file == 0 || usize::from(record) + length > 10_000 {
                return Err(ILLEGAL_ADDRESS);
            }
        }
        if self.files.is_empty() {
            return Err(ILLEGAL_FUNCTION);
        }
        for &(_, file, record, length, _) in &subs {
            let size = self.files.get(usize::from(file) - 1).map_or(0, Vec::len);
            if !fits(size, record, length) {
                return Err(ILLEGAL_ADDRESS);
            }
        }
        let mut out = vec![function];
        if read {
            let mut body = Vec::new();
            for &(_, file, record, length, _) in &subs {
                body.push((1 + 2 * length) as u8);
                body.push(6);
                for v in &self.files[usize::from(file) - 1][usize::from(record)..][..length] {
                    body.extend_from_slice(&v.to_be_bytes());
                }
            }
            out.push(body.len() as u8);
            out.extend(body);
        } else {
            for &(_, file, record, length, values) in &subs {
                for i in 0..length {
                    self.files[usize::from(file) - 1][usize::from(record) + i] =
                        word(values, 2 * i).unwrap();
                }
            }
            out.extend_from_slice(&data[..1 + count]);
        }
        Ok(out)
    }
}

/// Runs `requests` one by one through a fresh engine over `service` and
/// compares each response, then the final tables, with the model.
fn check<S: Storage, F: FileStorage>(
    service: Service<DataBank<S, NoCallbacks, F>>,
    model: Model,
    requests: &[(u16, u8, Vec<u8>)],
) -> Result<(), TestCaseError> {
    check_through(service, model, requests, |bank| bank)
}

/// [`check`] for any banks and handler: `tables` finds the data bank that
/// holds the tables inside the service's banks.
fn check_through<B, H, S, F>(
    service: Service<B, H>,
    mut model: Model,
    requests: &[(u16, u8, Vec<u8>)],
    tables: fn(&mut B) -> &mut DataBank<S, NoCallbacks, F>,
) -> Result<(), TestCaseError>
where
    B: Banks,
    H: DataHandler,
    S: Storage,
    F: FileStorage,
{
    let shared = RefCell::new(service);
    model.load(tables(&mut shared.borrow_mut().data_bank));
    let mut conn: Conn<260, 260> = Conn::new(EngineConfig::default());
    for (i, (tid, unit, pdu)) in requests.iter().enumerate() {
        let expected = mbap_frame(*tid, *unit, &model.respond(pdu));
        conn.feed(&shared, &mbap_frame(*tid, *unit, pdu), Instant::ZERO);
        prop_assert_eq!(conn.closed, None);
        let sent = conn.take_sent();
        prop_assert!(
            sent == expected,
            "request {} {}\n  actual:   {}\n  expected: {}",
            i,
            to_hex(pdu),
            to_hex(&sent),
            to_hex(&expected)
        );
    }
    let after = model.read_back(tables(&mut shared.borrow_mut().data_bank));
    prop_assert!(
        after == model,
        "tables differ from the model after the sequence"
    );
    Ok(())
}

/// Table sizes for heap storage: empty, tiny, odd, and the full 0x10000.
fn heap_size() -> impl Strategy<Value = usize> {
    prop_oneof![Just(0usize), 1usize..=20, Just(1000), Just(0x10000)]
}

/// The tables of the FixedStorage test: 16 coils, 24 inputs, 20 + 10 registers.
type Small = FixedStorage<2, 3, 20, 10>;
const SMALL: Sizes = Sizes {
    coils: 16,
    d_inputs: 24,
    holding: 20,
    input: 10,
};

fn sized_requests(
    sizes: Sizes,
    files: FileSizes,
) -> impl Strategy<Value = Vec<(u16, u8, Vec<u8>)>> {
    proptest::collection::vec(request_with_files(sizes, files), 1..40)
}

/// The heap test's files: 3 files of 50 records.
const HEAP_FILES: FileSizes = FileSizes {
    files: 3,
    records: 50,
};
/// The fixed test has no files: FC 20 / 21 are exception 1.
const NO_FILES: FileSizes = FileSizes {
    files: 0,
    records: 0,
};

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, failure_persistence: None, ..ProptestConfig::default() })]

    /// Heap tables of random sizes.
    #[test]
    fn heap_storage_matches_model(
        (sizes, requests) in (heap_size(), heap_size(), heap_size(), heap_size())
            .prop_map(|(coils, d_inputs, holding, input)| Sizes { coils, d_inputs, holding, input })
            .prop_flat_map(|sizes| (Just(sizes), sized_requests(sizes, HEAP_FILES))),
        seed in any::<u64>(),
    ) {
        let config = HeapStorageConfig {
            coils_size: sizes.coils,
            d_inputs_size: sizes.d_inputs,
            h_regs_size: sizes.holding,
            i_regs_size: sizes.input,
            ..HeapStorageConfig::default()
        };
        let files = HeapFiles::new(usize::from(HEAP_FILES.files), usize::from(HEAP_FILES.records))
            .unwrap();
        let bank = DataBank::new(HeapStorage::new(config).unwrap()).with_files(files);
        check(Service::new(bank), Model::new(sizes, HEAP_FILES, seed), &requests)?;
    }

    /// Small fixed tables: most ranges hit an edge (exception 2).
    #[test]
    fn fixed_storage_matches_model(requests in sized_requests(SMALL, NO_FILES), seed in any::<u64>()) {
        let bank: DataBank<Small, NoCallbacks, NoFiles> = DataBank::new(Small::new());
        check(Service::new(bank), Model::new(SMALL, NO_FILES, seed), &requests)?;
    }

    /// FC 3 and FC 4 go straight from storage into the response. The
    /// defaults behind that fast path, for storages, banks and handlers
    /// that have only the `u16` reads, answer the same bytes.
    #[test]
    fn u16_only_read_paths_match_model(
        sizes in (heap_size(), heap_size(), heap_size(), heap_size())
            .prop_map(|(coils, d_inputs, holding, input)| Sizes { coils, d_inputs, holding, input }),
        seed in any::<u64>(),
        requests_seed in any::<u64>(),
    ) {
        let requests = requests_for(sizes, requests_seed);
        let heap = || HeapStorage::new(HeapStorageConfig {
            coils_size: sizes.coils,
            d_inputs_size: sizes.d_inputs,
            h_regs_size: sizes.holding,
            i_regs_size: sizes.input,
            ..HeapStorageConfig::default()
        }).unwrap();
        let model = || Model::new(sizes, NO_FILES, seed);
        // Storage::get_words_be's default.
        check(Service::new(DataBank::new(WordsOnly(heap()))), model(), &requests)?;
        // Bank::read_regs_be's default.
        check_through(Service::new(U16Bank(DataBank::new(heap()))), model(), &requests, |b| &mut b.0)?;
        // DataHandler::read_regs_be's default.
        check_through(Service::with_handler(DataBank::new(heap()), Plain), model(), &requests, |b| b)?;
    }
}

/// A fixed request sequence for `sizes` drawn from `seed` (the proptest
/// above draws sizes first; the requests depend on them).
fn requests_for(sizes: Sizes, seed: u64) -> Vec<(u16, u8, Vec<u8>)> {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
    let mut bytes = [0u8; 32];
    bytes[..8].copy_from_slice(&seed.to_le_bytes());
    let rng = TestRng::from_seed(RngAlgorithm::ChaCha, &bytes);
    let mut runner = TestRunner::new_with_rng(Config::default(), rng);
    sized_requests(sizes, NO_FILES)
        .new_tree(&mut runner)
        .expect("a request sequence")
        .current()
}

/// A storage with only the required methods: `get_words_be` is the
/// trait's default, through `get_words`.
struct WordsOnly(HeapStorage);

impl Storage for WordsOnly {
    fn bits_len(&self, table: BitTable) -> usize {
        self.0.bits_len(table)
    }
    fn words_len(&self, table: WordTable) -> usize {
        self.0.words_len(table)
    }
    fn get_bits(
        &self,
        table: BitTable,
        address: u16,
        out: &mut [bool],
    ) -> Result<(), ExceptionCode> {
        self.0.get_bits(table, address, out)
    }
    fn set_bits(
        &mut self,
        table: BitTable,
        address: u16,
        values: &[bool],
    ) -> Result<(), ExceptionCode> {
        self.0.set_bits(table, address, values)
    }
    fn get_words(
        &self,
        table: WordTable,
        address: u16,
        out: &mut [u16],
    ) -> Result<(), ExceptionCode> {
        self.0.get_words(table, address, out)
    }
    fn set_words(
        &mut self,
        table: WordTable,
        address: u16,
        values: &[u16],
    ) -> Result<(), ExceptionCode> {
        self.0.set_words(table, address, values)
    }
}

/// A bank with only the required methods (file records: none), over a
/// data bank: `read_regs_be` is the trait's default, through `read_h_regs`
/// and `read_i_regs`.
struct U16Bank(DataBank<HeapStorage>);

impl Bank for U16Bank {
    fn bits_len(&self, table: BitTable) -> usize {
        Bank::bits_len(&self.0, table)
    }
    fn words_len(&self, table: WordTable) -> usize {
        Bank::words_len(&self.0, table)
    }
    fn read_coils(
        &mut self,
        address: u16,
        out: &mut [bool],
        srv_info: &SessionInfo,
    ) -> Result<(), ExceptionCode> {
        self.0.read_coils(address, out, srv_info)
    }
    fn read_d_inputs(
        &mut self,
        address: u16,
        out: &mut [bool],
        srv_info: &SessionInfo,
    ) -> Result<(), ExceptionCode> {
        self.0.read_d_inputs(address, out, srv_info)
    }
    fn read_h_regs(
        &mut self,
        address: u16,
        out: &mut [u16],
        srv_info: &SessionInfo,
    ) -> Result<(), ExceptionCode> {
        self.0.read_h_regs(address, out, srv_info)
    }
    fn read_i_regs(
        &mut self,
        address: u16,
        out: &mut [u16],
        srv_info: &SessionInfo,
    ) -> Result<(), ExceptionCode> {
        self.0.read_i_regs(address, out, srv_info)
    }
    fn write_coils(
        &mut self,
        address: u16,
        bits_l: &[bool],
        srv_info: &SessionInfo,
    ) -> Result<(), ExceptionCode> {
        self.0.write_coils(address, bits_l, srv_info)
    }
    fn write_h_regs(
        &mut self,
        address: u16,
        words_l: &[u16],
        srv_info: &SessionInfo,
    ) -> Result<(), ExceptionCode> {
        self.0.write_h_regs(address, words_l, srv_info)
    }
}

impl Banks for U16Bank {
    fn bank(&mut self, _unit_id: u8) -> &mut dyn Bank {
        self
    }
}

/// A handler with no method of its own: `read_regs_be` is the trait's
/// default, through `read_h_regs` and `read_i_regs`.
struct Plain;

impl DataHandler for Plain {}
