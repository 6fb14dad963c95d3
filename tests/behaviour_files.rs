//! FC 20 (Read File Record), FC 21 (Write File Record) and FC 24 (Read
//! FIFO Queue), one test per rule of the Modbus Application Protocol
//! Specification V1.1b3, sections 6.14, 6.15 and 6.18, through the real
//! `Engine` and `Service`. Request and response PDUs are written byte for
//! byte, in hex with spaces between fields.

mod common;

use std::sync::Mutex;

use common::exceptions::mbap_frame;
use common::{assert_hex, exchange, hex, to_hex};
use modbus_device::{
    AccessError, Bank, ChangeCallbacks, DataBank, DataHandler, ExceptionCode, ExtResponse,
    FileStorage, FilesTooLarge, FixedFiles, FixedStorage, HeapFiles, HeapStorage,
    HeapStorageConfig, NoCallbacks, Respond, ResponseWriter, Service, SessionInfo, Shared,
};

type FileServer<C = NoCallbacks> = Mutex<Service<DataBank<HeapStorage, C, HeapFiles>>>;

/// Files 1..=4 of 200 records each.
fn file_server() -> FileServer {
    let bank = DataBank::default().with_files(HeapFiles::new(4, 200).unwrap());
    Mutex::new(Service::new(bank))
}

/// Sends one request PDU (spaced hex) on a fresh connection and returns the
/// response PDU; checks the MBAP header around it.
#[track_caller]
fn ask<X>(shared: &X, pdu: &str) -> Vec<u8>
where
    X: Shared + ?Sized,
    X::Target: Respond,
{
    let (sent, closed) = exchange(shared, &mbap_frame(0x1234, 9, &hex(pdu)));
    assert_eq!(closed, None, "the connection must stay open");
    assert!(sent.len() > 7, "no response: {}", to_hex(&sent));
    let length = usize::from(u16::from_be_bytes([sent[4], sent[5]]));
    assert_eq!(&sent[..4], &[0x12, 0x34, 0, 0], "transaction and protocol");
    assert_eq!(sent[6], 9, "unit id");
    assert_eq!(length, sent.len() - 6, "MBAP length");
    sent[7..].to_vec()
}

fn records<C: ChangeCallbacks>(srv: &FileServer<C>, file: u16, record: u16, n: usize) -> Vec<u16> {
    let mut out = vec![0; n];
    srv.lock()
        .unwrap()
        .data_bank
        .get_file_records(file, record, &mut out)
        .unwrap();
    out
}

// ----- FC 20 -----

#[test]
fn fc14_spec_example_two_groups() {
    // Section 6.14: two registers of file 4 from record 1, two of file 3
    // from record 9.
    let srv = file_server();
    {
        let bank = &mut srv.lock().unwrap().data_bank;
        bank.set_file_records(4, 1, &[0x0DFE, 0x0020]).unwrap();
        bank.set_file_records(3, 9, &[0x33CD, 0x0040]).unwrap();
    }
    let response = ask(&srv, "14 0E  06 0004 0001 0002  06 0003 0009 0002");
    assert_hex(&response, "14 0C  05 06 0DFE 0020  05 06 33CD 0040");
}

#[test]
fn fc14_byte_count_outside_07_to_f5_is_exception_3() {
    let srv = file_server();
    // 0x06: less than one sub-request.
    assert_hex(&ask(&srv, "14 06  06 0001 0000 00"), "94 03");
    // 0xF6 (with 0xF6 bytes present): above the limit, even as 7-byte groups.
    let mut pdu = String::from("14 F6");
    for _ in 0..0xF6 / 7 {
        pdu.push_str(" 06 0001 0000 0001");
    }
    pdu.push_str(" 06 0001 0000 00");
    assert_hex(&ask(&srv, &pdu), "94 03");
    // A bare function code.
    assert_hex(&ask(&srv, "14"), "94 03");
}

#[test]
fn fc14_byte_count_not_whole_sub_requests_or_missing_bytes_is_exception_3() {
    let srv = file_server();
    assert_hex(&ask(&srv, "14 08  06 0001 0000 0001 06"), "94 03");
    // Declares two sub-requests, carries one.
    assert_hex(&ask(&srv, "14 0E  06 0001 0000 0001"), "94 03");
}

#[test]
fn fc14_record_length_0_is_exception_3() {
    let srv = file_server();
    assert_hex(&ask(&srv, "14 07  06 0001 0000 0000"), "94 03");
}

#[test]
fn fc14_response_longer_than_a_pdu_is_exception_3() {
    let srv = file_server();
    // One group of 124 registers: 2 + 2 + 248 = 252 bytes, fits.
    let response = ask(&srv, "14 07  06 0001 0000 007C");
    assert_eq!(response.len(), 252);
    assert_eq!(&response[..4], &hex("14 FA F9 06"));
    // 125 registers: 254 bytes.
    assert_hex(&ask(&srv, "14 07  06 0001 0000 007D"), "94 03");
    // Two groups: 2 + (2 + 2 * 61) + (2 + 2 * 63) = 254 bytes.
    assert_hex(
        &ask(&srv, "14 0E  06 0001 0000 003D  06 0002 0000 003F"),
        "94 03",
    );
    assert_eq!(
        ask(&srv, "14 0E  06 0001 0000 003D  06 0002 0000 003E").len(),
        252
    );
}

#[test]
fn fc14_reference_type_other_than_6_is_exception_2() {
    let srv = file_server();
    for reference in ["00", "05", "07", "FF"] {
        let pdu = format!("14 07  {reference} 0001 0000 0001");
        assert_hex(&ask(&srv, &pdu), "94 02");
    }
}

#[test]
fn fc14_file_0_and_records_past_270f_are_exception_2() {
    // A storage with a file large enough that only the protocol limit applies.
    let bank = DataBank::default().with_files(HeapFiles::new(2, 10_000).unwrap());
    let srv = Mutex::new(Service::new(bank));
    assert_hex(&ask(&srv, "14 07  06 0000 0000 0001"), "94 02");
    assert_hex(&ask(&srv, "14 07  06 0001 2710 0001"), "94 02");
    assert_hex(&ask(&srv, "14 07  06 0001 270F 0002"), "94 02");
    assert_hex(&ask(&srv, "14 07  06 0001 270F 0001"), "14 04  03 06 0000");
}

#[test]
fn fc14_shape_is_checked_before_references() {
    // Sub-request 1 has a bad reference type (2), sub-request 2 a record
    // length of 0 (3): the state diagram checks the shape first.
    let srv = file_server();
    assert_hex(
        &ask(&srv, "14 0E  07 0001 0000 0001  06 0001 0000 0000"),
        "94 03",
    );
}

#[test]
fn fc14_missing_file_or_records_past_its_end_are_exception_2() {
    let srv = file_server(); // files 1..=4 of 200 records
    assert_hex(&ask(&srv, "14 07  06 0005 0000 0001"), "94 02");
    assert_hex(&ask(&srv, "14 07  06 0004 00C7 0002"), "94 02");
    assert_hex(&ask(&srv, "14 07  06 0004 00C7 0001"), "14 04  03 06 0000");
    // A good group before a bad one: the request is refused as a whole.
    assert_hex(
        &ask(&srv, "14 0E  06 0001 0000 0001  06 0009 0000 0001"),
        "94 02",
    );
}

#[test]
fn fc14_fc15_without_files_are_exception_1() {
    let srv = Mutex::new(Service::new(DataBank::default()));
    assert_hex(&ask(&srv, "14 07  06 0001 0000 0001"), "94 01");
    assert_hex(&ask(&srv, "15 09  06 0001 0000 0001 1234"), "95 01");
    // The shape is still checked first (exception 3 before 1 would need the
    // function to be known; it is, the bank has no files).
    assert_hex(&ask(&srv, "14 07  06 0001 0000 0000"), "94 03");
}

// ----- FC 21 -----

#[test]
fn fc15_spec_example_echoes_and_writes() {
    // Section 6.15: three registers of file 4 from record 7.
    let srv = file_server();
    let request = "15 0D  06 0004 0007 0003 06AF 04BE 100D";
    assert_hex(&ask(&srv, request), request);
    assert_eq!(records(&srv, 4, 6, 5), [0, 0x06AF, 0x04BE, 0x100D, 0]);
}

#[test]
fn fc15_several_groups_are_all_written() {
    let srv = file_server();
    let request = "15 14  06 0001 0002 0001 AAAA  06 0003 00C6 0002 BBBB CCCC";
    assert_hex(&ask(&srv, request), request);
    assert_eq!(records(&srv, 1, 2, 1), [0xAAAA]);
    assert_eq!(records(&srv, 3, 198, 2), [0xBBBB, 0xCCCC]);
}

#[test]
fn fc15_one_bad_group_writes_nothing() {
    let srv = file_server();
    // Group 2 runs past record 199 of file 3.
    let request = "15 14  06 0001 0002 0001 AAAA  06 0003 00C7 0002 BBBB CCCC";
    assert_hex(&ask(&srv, request), "95 02");
    assert_eq!(records(&srv, 1, 2, 1), [0], "group 1 must not be written");
    assert_eq!(records(&srv, 3, 199, 1), [0]);
    // Group 2 names file 0: exception 2 from the parser, nothing written.
    let request = "15 14  06 0001 0002 0001 AAAA  06 0000 0000 0002 BBBB CCCC";
    assert_hex(&ask(&srv, request), "95 02");
    assert_eq!(records(&srv, 1, 2, 1), [0]);
}

#[test]
fn fc15_data_length_outside_09_to_fb_is_exception_3() {
    let srv = file_server();
    assert_hex(&ask(&srv, "15 08  06 0001 0000 0001 12"), "95 03");
    // 0xFC: the PDU would be longer than 253 bytes; refused on the count.
    assert_hex(&ask(&srv, "15 FC  06 0001 0000 0001 1234"), "95 03");
    assert_hex(&ask(&srv, "15 FF  06 0001 0000 0001 1234"), "95 03");
    assert_hex(&ask(&srv, "15"), "95 03");
}

#[test]
fn fc15_groups_must_fill_the_data_length_exactly() {
    let srv = file_server();
    // A record length of 2 with one word of data.
    assert_hex(&ask(&srv, "15 09  06 0001 0000 0002 1234"), "95 03");
    // One word of data too many for the record length.
    assert_hex(&ask(&srv, "15 0B  06 0001 0000 0001 1234 5678"), "95 03");
    // Declared bytes missing.
    assert_hex(&ask(&srv, "15 0B  06 0001 0000 0002 1234"), "95 03");
    // A record length of 0.
    assert_hex(&ask(&srv, "15 09  06 0001 0000 0000 1234"), "95 03");
    assert_eq!(records(&srv, 1, 0, 2), [0, 0]);
}

#[test]
fn fc15_reference_type_and_record_limits_are_exception_2() {
    let srv = file_server();
    assert_hex(&ask(&srv, "15 09  05 0001 0000 0001 1234"), "95 02");
    assert_hex(&ask(&srv, "15 09  06 0001 2710 0001 1234"), "95 02");
    assert_hex(&ask(&srv, "15 09  06 0005 0000 0001 1234"), "95 02");
}

#[test]
fn fc15_largest_request_is_served() {
    let srv = file_server();
    // 0xFB bytes: one group of 122 words.
    let mut pdu = String::from("15 FB  06 0002 0000 007A");
    for i in 0..0x7Au16 {
        pdu.push_str(&format!(" {:04X}", i + 1));
    }
    assert_hex(&ask(&srv, &pdu), &pdu);
    assert_eq!(records(&srv, 2, 120, 3), [121, 122, 0]);
}

/// One `on_file_records_change` call: file, record, from, to, unit id.
type FileChange = (u16, u16, Vec<u16>, Vec<u16>, u8);

#[derive(Debug, Default)]
struct FileLog(Vec<FileChange>);

impl ChangeCallbacks for FileLog {
    fn on_file_records_change(
        &mut self,
        file: u16,
        record: u16,
        from: &[u16],
        to: &[u16],
        srv: &SessionInfo,
    ) {
        self.0
            .push((file, record, from.to_vec(), to.to_vec(), srv.unit_id));
    }
}

#[test]
fn fc15_change_callbacks_per_changed_run_after_the_write() {
    let bank = DataBank::with_callbacks(HeapStorage::default(), FileLog::default())
        .with_files(HeapFiles::new(2, 20).unwrap());
    let srv = Mutex::new(Service::new(bank));
    srv.lock()
        .unwrap()
        .data_bank
        .set_file_records(1, 0, &[1, 2, 3, 4])
        .unwrap(); // local: no callback
    let request = "15 18  06 0001 0000 0004 0001 0009 0009 0004  06 0002 0005 0001 0000";
    assert_hex(&ask(&srv, request), request);
    let srv = srv.lock().unwrap();
    // File 1: records 1..=2 changed; file 2's write changed nothing.
    assert_eq!(
        srv.data_bank.callbacks().0,
        [(1, 1, vec![2, 3], vec![9, 9], 9)]
    );
}

/// File 2 refuses every write with exception 4; file 1 is normal.
struct FailingFile2(HeapFiles);

impl FileStorage for FailingFile2 {
    fn file_count(&self) -> u16 {
        self.0.file_count()
    }
    fn records_in(&self, file: u16) -> usize {
        self.0.records_in(file)
    }
    fn read_records(&self, file: u16, record: u16, out: &mut [u16]) -> Result<(), ExceptionCode> {
        self.0.read_records(file, record, out)
    }
    fn write_records(&mut self, file: u16, record: u16, v: &[u16]) -> Result<(), ExceptionCode> {
        if file == 2 {
            return Err(ExceptionCode::ServerDeviceFailure);
        }
        self.0.write_records(file, record, v)
    }
}

#[test]
fn fc15_storage_failure_midway_restores_earlier_groups() {
    let files = FailingFile2(HeapFiles::new(2, 10).unwrap());
    let bank =
        DataBank::with_callbacks(HeapStorage::default(), FileLog::default()).with_files(files);
    let srv = Mutex::new(Service::new(bank));
    srv.lock()
        .unwrap()
        .data_bank
        .set_file_records(1, 0, &[7, 7])
        .unwrap();
    let request = "15 14  06 0001 0000 0002 1111 2222  06 0002 0000 0001 3333";
    assert_hex(&ask(&srv, request), "95 04");
    let srv = srv.lock().unwrap();
    let mut back = [0u16; 2];
    srv.data_bank.get_file_records(1, 0, &mut back).unwrap();
    assert_eq!(back, [7, 7], "group 1 must be restored");
    assert!(
        srv.data_bank.callbacks().0.is_empty(),
        "no callback for a refused write"
    );
}

// ----- FC 24 -----

#[test]
fn fc18_spec_example() {
    // Section 6.18: the queue at pointer 1246 holds 440 and 4740.
    let srv = Mutex::new(Service::new(DataBank::default()));
    srv.lock()
        .unwrap()
        .data_bank
        .set_fifo_queue(0x04DE, &[440, 4740])
        .unwrap();
    assert_hex(&ask(&srv, "18 04DE"), "18 0006 0002 01B8 1284");
    // Reading does not clear the queue.
    assert_hex(&ask(&srv, "18 04DE"), "18 0006 0002 01B8 1284");
}

#[test]
fn fc18_empty_queue_is_count_0() {
    let srv = Mutex::new(Service::new(DataBank::default()));
    assert_hex(&ask(&srv, "18 0010"), "18 0002 0000");
    // The last register as a pointer with an empty queue is fine.
    assert_hex(&ask(&srv, "18 FFFF"), "18 0002 0000");
}

#[test]
fn fc18_count_31_is_served_32_is_exception_3() {
    let srv = Mutex::new(Service::new(DataBank::default()));
    let values: Vec<u16> = (1..=31).collect();
    srv.lock()
        .unwrap()
        .data_bank
        .set_fifo_queue(100, &values)
        .unwrap();
    let response = ask(&srv, "18 0064");
    assert_eq!(response.len(), 5 + 62);
    assert_eq!(&response[..7], &hex("18 0040 001F 0001"));
    srv.lock()
        .unwrap()
        .data_bank
        .set_holding_registers(100, &[32])
        .unwrap();
    assert_hex(&ask(&srv, "18 0064"), "98 03");
    srv.lock()
        .unwrap()
        .data_bank
        .set_holding_registers(100, &[0xFFFF])
        .unwrap();
    assert_hex(&ask(&srv, "18 0064"), "98 03");
}

#[test]
fn fc18_queue_outside_the_table_is_exception_2() {
    let config = HeapStorageConfig {
        h_regs_size: 10,
        ..HeapStorageConfig::default()
    };
    let srv = Mutex::new(Service::new(DataBank::from_config(config).unwrap()));
    assert_hex(&ask(&srv, "18 000A"), "98 02"); // no count register
    srv.lock()
        .unwrap()
        .data_bank
        .set_holding_registers(8, &[2, 5])
        .unwrap();
    assert_hex(&ask(&srv, "18 0008"), "98 02"); // queue runs past register 9
    srv.lock()
        .unwrap()
        .data_bank
        .set_holding_registers(8, &[1])
        .unwrap();
    assert_hex(&ask(&srv, "18 0008"), "18 0004 0001 0005");
    // Pointer 0xFFFF with a count of 1: the queue would start at 0x10000.
    let srv = Mutex::new(Service::new(DataBank::default()));
    srv.lock()
        .unwrap()
        .data_bank
        .set_holding_registers(0xFFFF, &[1])
        .unwrap();
    assert_hex(&ask(&srv, "18 FFFF"), "98 02");
}

#[test]
fn fc18_short_request_is_exception_3() {
    let srv = Mutex::new(Service::new(DataBank::default()));
    assert_hex(&ask(&srv, "18 04"), "98 03");
    assert_hex(&ask(&srv, "18"), "98 03");
}

/// pyModbusTCP's custom handler example: holding registers from 100 on are
/// refused.
struct Below100;

impl DataHandler for Below100 {
    fn read_h_regs(
        &mut self,
        bank: &mut dyn Bank,
        address: u16,
        out: &mut [u16],
        srv_info: &SessionInfo,
    ) -> Result<(), ExceptionCode> {
        if usize::from(address) + out.len() > 100 {
            return Err(ExceptionCode::IllegalDataAddress);
        }
        bank.read_h_regs(address, out, srv_info)
    }
}

#[test]
fn fc18_restricting_handler_holds_for_fifo_reads() {
    let mut bank = DataBank::default();
    bank.set_fifo_queue(98, &[1, 2]).unwrap();
    let srv = Mutex::new(Service::with_handler(bank, Below100));
    assert_hex(&ask(&srv, "18 0062"), "98 02"); // 98: the queue reaches 100
    let mut ok = DataBank::default();
    ok.set_fifo_queue(97, &[1, 2]).unwrap();
    let srv = Mutex::new(Service::with_handler(ok, Below100));
    assert_hex(&ask(&srv, "18 0061"), "18 0006 0002 0001 0002");
}

#[test]
fn fifo_application_api() {
    let mut bank = DataBank::new(FixedStorage::<0, 0, 40, 0>::new());
    assert_eq!(bank.pop_fifo_queue(0), Ok(None));
    bank.push_fifo_queue(0, 10).unwrap();
    bank.push_fifo_queue(0, 20).unwrap();
    bank.push_fifo_queue(0, 30).unwrap();
    assert_eq!(bank.pop_fifo_queue(0), Ok(Some(10)));
    let mut regs = [0u16; 3];
    bank.get_holding_registers(0, &mut regs).unwrap();
    assert_eq!(regs, [2, 20, 30]);
    let full: Vec<u16> = (0..31).collect();
    bank.set_fifo_queue(0, &full).unwrap();
    assert_eq!(
        bank.push_fifo_queue(0, 99),
        Err(AccessError::FifoFull { pointer: 0 })
    );
    assert_eq!(
        bank.set_fifo_queue(0, &[0; 32]),
        Err(AccessError::FifoFull { pointer: 0 })
    );
    // 31 values from register 9 reach register 40: outside the table.
    assert!(matches!(
        bank.set_fifo_queue(9, &full),
        Err(AccessError::OutOfRange { .. })
    ));
    let mut regs = [0u16; 2];
    bank.get_holding_registers(0, &mut regs).unwrap();
    assert_eq!(regs, [31, 0], "refused writes change nothing");
}

// ----- handler, hook, storage types -----

/// Serves file 7 itself, from the unit id; everything else from the bank.
struct UnitFile;

impl DataHandler for UnitFile {
    fn read_file_record(
        &mut self,
        bank: &mut dyn Bank,
        file: u16,
        record: u16,
        out: &mut [u16],
        srv_info: &SessionInfo,
    ) -> Result<(), ExceptionCode> {
        if file != 7 {
            return bank.read_file_record(file, record, out, srv_info);
        }
        out.fill(u16::from(srv_info.unit_id));
        Ok(())
    }

    fn ext_engine(
        &mut self,
        _: &mut dyn Bank,
        pdu: &[u8],
        _: &SessionInfo,
        response: &mut ResponseWriter<'_>,
    ) -> ExtResponse {
        // The hook sees FC 24 first and answers pointer 0xBEEF itself.
        if pdu == [0x18, 0xBE, 0xEF] && response.extend(&hex("18 0004 0001 CAFE")).is_ok() {
            return ExtResponse::Respond;
        }
        ExtResponse::Dispatch
    }
}

#[test]
fn handler_methods_get_the_session_and_the_hook_sees_requests_first() {
    let bank = DataBank::default().with_files(HeapFiles::new(1, 4).unwrap());
    let srv = Mutex::new(Service::with_handler(bank, UnitFile));
    assert_hex(
        &ask(&srv, "14 0E  06 0007 0000 0002  06 0001 0000 0001"),
        "14 0A  05 06 0009 0009  03 06 0000",
    );
    assert_hex(&ask(&srv, "14 07  06 0002 0000 0001"), "94 02");
    assert_hex(&ask(&srv, "18 BEEF"), "18 0004 0001 CAFE");
    assert_hex(&ask(&srv, "18 BEEE"), "18 0002 0000");
}

/// A firmware-style bank: fixed tables and fixed files in a `static`.
static FIXED: Mutex<Service<DataBank<FixedStorage<0, 0, 8, 0>, NoCallbacks, FixedFiles<2, 16>>>> =
    Mutex::new(Service::new(DataBank::from_parts(
        FixedStorage::new(),
        NoCallbacks,
        FixedFiles::new(),
    )));

#[test]
fn fixed_files_serve_fc14_and_fc15() {
    let request = "15 0B  06 0002 000E 0002 0102 0304";
    assert_hex(&ask(&FIXED, request), request);
    assert_hex(
        &ask(&FIXED, "14 07  06 0002 000E 0002"),
        "14 06  05 06 0102 0304",
    );
    assert_hex(&ask(&FIXED, "14 07  06 0002 000F 0002"), "94 02");
    assert_hex(&ask(&FIXED, "14 07  06 0003 0000 0001"), "94 02");
}

#[test]
fn heap_files_sizes() {
    assert_eq!(
        HeapFiles::new(1, 10_001),
        Err(FilesTooLarge {
            files: 1,
            records: 10_001
        })
    );
    assert!(HeapFiles::new(0x1_0000, 1).is_err());
    let files = HeapFiles::with_sizes(&[3, 0, 5]).unwrap();
    assert_eq!(files.file_count(), 3);
    assert_eq!(
        [1, 2, 3, 4].map(|f| files.records_in(f)),
        [3, 0, 5, 0],
        "file 4 does not exist"
    );
    let mut bank = DataBank::default().with_files(files);
    assert_eq!(
        bank.set_file_records(2, 0, &[1]),
        Err(AccessError::OutOfRange {
            address: 0,
            count: 1,
            size: 0
        })
    );
}
