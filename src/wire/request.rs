//! Request PDUs: parsing with the check order and exception codes of
//! `behaviour.md` (unsupported function → 1; quantity, byte count or short
//! PDU → 3), and emitting (the client side, and round-trip tests). Address
//! ranges depend on the tables and are checked by the dispatcher (→ 2).

use super::{be_u16, Bits, ExceptionCode, FunctionCode, ResponseWriter, Words, WriteError};
use super::{Field, MAX_PDU_LEN, REGISTER_LEN};
// FC 20, 21, 24
use super::{fifo, file_record, FileRecordReads, FileRecordWrites};

/// The protocol's quantity limits, per function.
pub mod limits {
    /// Most coils or discrete inputs one read may ask for (FC 0x01, 0x02).
    pub const MAX_READ_BITS: u16 = 2000;
    /// Most registers one read may ask for (FC 0x03, 0x04, and the read of 0x17).
    pub const MAX_READ_REGISTERS: u16 = 125;
    /// Most coils one write may carry (FC 0x0F).
    pub const MAX_WRITE_BITS: u16 = 1968;
    /// Most registers one write may carry (FC 0x10).
    pub const MAX_WRITE_REGISTERS: u16 = 123;
    /// Most registers the write of FC 0x17 may carry.
    pub const MAX_READ_WRITE_REGISTERS: u16 = 121;
    /// The MEI type of read device identification (FC 0x2B).
    pub const MEI_READ_DEVICE_ID: u8 = 0x0E;
}

use limits::*;

/// Byte positions inside a request PDU, function code at 0, as laid out in
/// the "Request" tables of the Modbus Application Protocol Specification
/// V1.1b3, section 6 (MBAP-relative positions are in `mbap.rs`).
mod field {
    use crate::wire::Field;

    /// Every function (section 4.1): the function code.
    pub const FUNCTION: usize = 0;

    /// FC 0x01..=0x06, 0x0F, 0x10, 0x16 (sections 6.1-6.6, 6.11, 6.12,
    /// 6.16): the (first) address.
    pub const ADDRESS: Field = 1..3;
    /// FC 0x01..=0x04, 0x0F, 0x10 (sections 6.1-6.4, 6.11, 6.12): how
    /// many bits or registers.
    pub const QUANTITY: Field = 3..5;
    /// FC 0x05, 0x06 (sections 6.5, 6.6): the value written.
    pub const VALUE: Field = 3..5;
    /// FC 0x0F, 0x10 (sections 6.11, 6.12): bytes of values that follow.
    pub const BYTE_COUNT: usize = 5;
    /// FC 0x0F, 0x10 (sections 6.11, 6.12): the first byte of the values.
    pub const VALUES: usize = 6;

    /// FC 0x16 (section 6.16): the AND mask.
    pub const AND_MASK: Field = 3..5;
    /// FC 0x16 (section 6.16): the OR mask.
    pub const OR_MASK: Field = 5..7;

    /// FC 0x17 (section 6.17): the first register read.
    pub const READ_ADDRESS: Field = 1..3;
    /// FC 0x17 (section 6.17): how many registers are read.
    pub const READ_QUANTITY: Field = 3..5;
    /// FC 0x17 (section 6.17): the first register written.
    pub const WRITE_ADDRESS: Field = 5..7;
    /// FC 0x17 (section 6.17): how many registers are written.
    pub const WRITE_QUANTITY: Field = 7..9;
    /// FC 0x17 (section 6.17): bytes of written values that follow.
    pub const WRITE_BYTE_COUNT: usize = 9;
    /// FC 0x17 (section 6.17): the first byte of the written values.
    pub const WRITE_VALUES: usize = 10;

    /// FC 0x2B (sections 6.19, 6.21): the MEI type.
    pub const MEI_TYPE: usize = 1;
    /// FC 0x2B / 0x0E (section 6.21): the read device id code.
    pub const READ_CODE: usize = 2;
    /// FC 0x2B / 0x0E (section 6.21): the first (or the one) object.
    pub const OBJECT_ID: usize = 3;
    /// FC 0x2B / 0x0E (section 6.21): the whole request, object id last.
    pub const READ_DEVICE_ID_LEN: usize = OBJECT_ID + 1;

    // FC 8, 11, 17
    /// FC 0x08 (section 6.8): the sub-function.
    pub const SUB_FUNCTION: Field = 1..3;
    /// FC 0x08 (section 6.8): the first byte of the data, which runs to
    /// the end of the PDU.
    pub const DIAGNOSTIC_DATA: usize = 3;
    /// FC 0x0B, 0x11 (sections 6.9, 6.13): the whole request, the function
    /// code alone.
    pub const FUNCTION_ONLY_LEN: usize = FUNCTION + 1;
}

/// FC 0x05 (section 6.5): the only two values of a coil write.
const ON: u16 = 0xFF00;
const OFF: u16 = 0x0000;

/// FC 0x2B / 0x0E (section 6.21): read device id codes 1 (basic stream),
/// 2 (regular), 3 (extended) and 4 (one specific object).
const READ_CODES: core::ops::RangeInclusive<u8> = 1..=4;

/// A parsed request PDU. Values are checked views into the received bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Request<'a> {
    /// FC 0x01.
    ReadCoils {
        /// First coil.
        address: u16,
        /// 1..=2000.
        quantity: u16,
    },
    /// FC 0x02.
    ReadDiscreteInputs {
        /// First input.
        address: u16,
        /// 1..=2000.
        quantity: u16,
    },
    /// FC 0x03.
    ReadHoldingRegisters {
        /// First register.
        address: u16,
        /// 1..=125.
        quantity: u16,
    },
    /// FC 0x04.
    ReadInputRegisters {
        /// First register.
        address: u16,
        /// 1..=125.
        quantity: u16,
    },
    /// FC 0x05.
    WriteSingleCoil {
        /// The coil.
        address: u16,
        /// 0xFF00 on the wire is `true`, 0x0000 is `false`.
        value: bool,
    },
    /// FC 0x06.
    WriteSingleRegister {
        /// The register.
        address: u16,
        /// The new value.
        value: u16,
    },
    /// FC 0x0F.
    WriteMultipleCoils {
        /// First coil.
        address: u16,
        /// 1..=1968 values.
        values: Bits<'a>,
    },
    /// FC 0x10.
    WriteMultipleRegisters {
        /// First register.
        address: u16,
        /// 1..=123 values.
        values: Words<'a>,
    },
    /// FC 0x16: `(current & and_mask) | (or_mask & !and_mask)`.
    MaskWriteRegister {
        /// The register.
        address: u16,
        /// AND mask.
        and_mask: u16,
        /// OR mask.
        or_mask: u16,
    },
    /// FC 0x17: write first, then read, as one step.
    ReadWriteMultipleRegisters {
        /// First register to read.
        read_address: u16,
        /// 1..=125.
        read_quantity: u16,
        /// First register to write.
        write_address: u16,
        /// 1..=121 values.
        values: Words<'a>,
    },
    /// FC 0x2B, MEI type 0x0E.
    ReadDeviceIdentification {
        /// 1 basic, 2 regular, 3 extended stream, 4 one object.
        read_code: u8,
        /// The first object (streams) or the one object (code 4).
        object_id: u8,
    },
    // FC 20, 21, 24
    /// FC 0x14: one or more groups of file records to read.
    ReadFileRecord {
        /// The checked sub-requests.
        records: FileRecordReads<'a>,
    },
    /// FC 0x15: one or more groups of file records to write, all or none.
    WriteFileRecord {
        /// The checked sub-requests and their values.
        records: FileRecordWrites<'a>,
    },
    /// FC 0x18: the queue at a FIFO pointer address.
    ReadFifoQueue {
        /// The FIFO pointer address.
        pointer: u16,
    },
    // FC 8, 11, 17
    /// FC 0x08, diagnostics: a sub-function and its data.
    Diagnostics {
        /// Which test or counter (section 6.8.1).
        sub_function: u16,
        /// The data field: every byte after the sub-function (the PDU's
        /// length delimits it).
        data: &'a [u8],
    },
    /// FC 0x0B, get comm event counter (no fields).
    GetCommEventCounter,
    /// FC 0x11, report server id (no fields).
    #[doc(alias = "ReportSlaveId")]
    ReportServerId,
}

impl<'a> Request<'a> {
    /// Parses a request PDU (function code first).
    ///
    /// Never panics. Bytes after the last field a function needs are
    /// ignored.
    ///
    /// # Errors
    ///
    /// The exception a server answers: an unsupported function code,
    /// including an empty PDU and 0x80..=0xFF, is
    /// [`ExceptionCode::IllegalFunction`]; a PDU too short for its function
    /// or a value outside the protocol's limits is
    /// [`ExceptionCode::IllegalDataValue`]; an MEI type other than 0x0E is
    /// [`ExceptionCode::IllegalDataAddress`] (as pyModbusTCP).
    pub fn parse(pdu: &'a [u8]) -> Result<Request<'a>, ExceptionCode> {
        let Some(&function) = pdu.get(field::FUNCTION) else {
            return Err(ExceptionCode::IllegalFunction);
        };
        let byte = |at: usize| pdu.get(at).copied().ok_or(ExceptionCode::IllegalDataValue);
        let word = |at: Field| be_u16(pdu, at.start).ok_or(ExceptionCode::IllegalDataValue);
        let quantity_in = |at: Field, max: u16| -> Result<u16, ExceptionCode> {
            let q = word(at)?;
            if (1..=max).contains(&q) {
                Ok(q)
            } else {
                Err(ExceptionCode::IllegalDataValue)
            }
        };
        let request = match FunctionCode::from(function) {
            FunctionCode::ReadCoils => Request::ReadCoils {
                address: word(field::ADDRESS)?,
                quantity: quantity_in(field::QUANTITY, MAX_READ_BITS)?,
            },
            FunctionCode::ReadDiscreteInputs => Request::ReadDiscreteInputs {
                address: word(field::ADDRESS)?,
                quantity: quantity_in(field::QUANTITY, MAX_READ_BITS)?,
            },
            FunctionCode::ReadHoldingRegisters => Request::ReadHoldingRegisters {
                address: word(field::ADDRESS)?,
                quantity: quantity_in(field::QUANTITY, MAX_READ_REGISTERS)?,
            },
            FunctionCode::ReadInputRegisters => Request::ReadInputRegisters {
                address: word(field::ADDRESS)?,
                quantity: quantity_in(field::QUANTITY, MAX_READ_REGISTERS)?,
            },
            FunctionCode::WriteSingleCoil => Request::WriteSingleCoil {
                address: word(field::ADDRESS)?,
                value: match word(field::VALUE)? {
                    ON => true,
                    OFF => false,
                    _ => return Err(ExceptionCode::IllegalDataValue),
                },
            },
            FunctionCode::WriteSingleRegister => Request::WriteSingleRegister {
                address: word(field::ADDRESS)?,
                value: word(field::VALUE)?,
            },
            FunctionCode::WriteMultipleCoils => {
                let address = word(field::ADDRESS)?;
                let quantity = quantity_in(field::QUANTITY, MAX_WRITE_BITS)?;
                let byte_count = usize::from(byte(field::BYTE_COUNT)?);
                // A byte count larger than needed is accepted (as pyModbusTCP).
                if byte_count < packed_len(quantity) {
                    return Err(ExceptionCode::IllegalDataValue);
                }
                let bytes = counted(pdu, field::VALUES, byte_count)?;
                let values = Bits::new(bytes, usize::from(quantity))
                    .ok_or(ExceptionCode::IllegalDataValue)?;
                Request::WriteMultipleCoils { address, values }
            }
            FunctionCode::WriteMultipleRegisters => {
                let address = word(field::ADDRESS)?;
                let quantity = quantity_in(field::QUANTITY, MAX_WRITE_REGISTERS)?;
                let byte_count = byte(field::BYTE_COUNT)?;
                let values = words_with_count(pdu, byte_count, field::VALUES, quantity)?;
                Request::WriteMultipleRegisters { address, values }
            }
            FunctionCode::MaskWriteRegister => Request::MaskWriteRegister {
                address: word(field::ADDRESS)?,
                and_mask: word(field::AND_MASK)?,
                or_mask: word(field::OR_MASK)?,
            },
            FunctionCode::ReadWriteMultipleRegisters => {
                let read_address = word(field::READ_ADDRESS)?;
                let read_quantity = quantity_in(field::READ_QUANTITY, MAX_READ_REGISTERS)?;
                let write_address = word(field::WRITE_ADDRESS)?;
                let write_quantity = quantity_in(field::WRITE_QUANTITY, MAX_READ_WRITE_REGISTERS)?;
                let byte_count = byte(field::WRITE_BYTE_COUNT)?;
                let values =
                    words_with_count(pdu, byte_count, field::WRITE_VALUES, write_quantity)?;
                Request::ReadWriteMultipleRegisters {
                    read_address,
                    read_quantity,
                    write_address,
                    values,
                }
            }
            FunctionCode::EncapsulatedInterfaceTransport => {
                if byte(field::MEI_TYPE)? != MEI_READ_DEVICE_ID {
                    return Err(ExceptionCode::IllegalDataAddress);
                }
                let read_code = byte(field::READ_CODE)?;
                let object_id = byte(field::OBJECT_ID)?;
                if !READ_CODES.contains(&read_code) {
                    return Err(ExceptionCode::IllegalDataValue);
                }
                Request::ReadDeviceIdentification {
                    read_code,
                    object_id,
                }
            }
            // FC 20, 21, 24
            #[cfg(feature = "file-records")]
            FunctionCode::ReadFileRecord => Request::ReadFileRecord {
                records: FileRecordReads::from_pdu(pdu)?,
            },
            #[cfg(feature = "file-records")]
            FunctionCode::WriteFileRecord => Request::WriteFileRecord {
                records: FileRecordWrites::from_pdu(pdu)?,
            },
            // Without the feature the server answers as for any function it
            // does not serve: the checks of FC 20/21 cost about 1 KiB of
            // flash, which firmware without files should not pay.
            #[cfg(not(feature = "file-records"))]
            FunctionCode::ReadFileRecord | FunctionCode::WriteFileRecord => {
                return Err(ExceptionCode::IllegalFunction)
            }
            FunctionCode::ReadFifoQueue => Request::ReadFifoQueue {
                pointer: fifo::parse_request(pdu).ok_or(ExceptionCode::IllegalDataValue)?,
            },
            // FC 8, 11, 17
            FunctionCode::Diagnostics => Request::Diagnostics {
                sub_function: word(field::SUB_FUNCTION)?,
                data: pdu.get(field::DIAGNOSTIC_DATA..).unwrap_or_default(),
            },
            FunctionCode::GetCommEventCounter => Request::GetCommEventCounter,
            FunctionCode::ReportServerId => Request::ReportServerId,
            FunctionCode::Unknown(_) => return Err(ExceptionCode::IllegalFunction),
        };
        Ok(request)
    }

    /// Appends this request's PDU (function code first) to `out`: the
    /// inverse of [`parse`](Self::parse), for clients and tests.
    ///
    /// Values are written as given, without the limit checks of `parse`;
    /// the byte counts of FC 0x0F, 0x10 and 0x17 are the lengths of the
    /// values' bytes ([`Bits::as_bytes`], [`Words::as_bytes`]), so a parsed
    /// request emits the bytes it was parsed from.
    ///
    /// # Errors
    ///
    /// [`WriteError`] if `out` has no room for the whole PDU, or if the PDU
    /// would be longer than [`MAX_PDU_LEN`] (then `required_size` is the
    /// excess). Nothing is written then.
    pub fn emit(&self, out: &mut ResponseWriter<'_>) -> Result<(), WriteError> {
        let len = self.pdu_len();
        if len > MAX_PDU_LEN {
            return Err(WriteError {
                required_size: len - MAX_PDU_LEN,
            });
        }
        let pdu = out.reserve(len)?;
        pdu[field::FUNCTION] = u8::from(self.function());
        // `len` covers every field written below, and byte counts fit a `u8`
        // because the PDU is at most MAX_PDU_LEN bytes long.
        match *self {
            Request::ReadCoils { address, quantity }
            | Request::ReadDiscreteInputs { address, quantity }
            | Request::ReadHoldingRegisters { address, quantity }
            | Request::ReadInputRegisters { address, quantity } => {
                put(pdu, field::ADDRESS, address);
                put(pdu, field::QUANTITY, quantity);
            }
            Request::WriteSingleCoil { address, value } => {
                put(pdu, field::ADDRESS, address);
                put(pdu, field::VALUE, if value { ON } else { OFF });
            }
            Request::WriteSingleRegister { address, value } => {
                put(pdu, field::ADDRESS, address);
                put(pdu, field::VALUE, value);
            }
            Request::WriteMultipleCoils { address, values } => {
                put(pdu, field::ADDRESS, address);
                put(pdu, field::QUANTITY, values.len() as u16);
                put_counted(pdu, field::BYTE_COUNT, field::VALUES, values.as_bytes());
            }
            Request::WriteMultipleRegisters { address, values } => {
                put(pdu, field::ADDRESS, address);
                put(pdu, field::QUANTITY, values.len() as u16);
                put_counted(pdu, field::BYTE_COUNT, field::VALUES, values.as_bytes());
            }
            Request::MaskWriteRegister {
                address,
                and_mask,
                or_mask,
            } => {
                put(pdu, field::ADDRESS, address);
                put(pdu, field::AND_MASK, and_mask);
                put(pdu, field::OR_MASK, or_mask);
            }
            Request::ReadWriteMultipleRegisters {
                read_address,
                read_quantity,
                write_address,
                values,
            } => {
                put(pdu, field::READ_ADDRESS, read_address);
                put(pdu, field::READ_QUANTITY, read_quantity);
                put(pdu, field::WRITE_ADDRESS, write_address);
                put(pdu, field::WRITE_QUANTITY, values.len() as u16);
                let bytes = values.as_bytes();
                put_counted(pdu, field::WRITE_BYTE_COUNT, field::WRITE_VALUES, bytes);
            }
            Request::ReadDeviceIdentification {
                read_code,
                object_id,
            } => {
                pdu[field::MEI_TYPE] = MEI_READ_DEVICE_ID;
                pdu[field::READ_CODE] = read_code;
                pdu[field::OBJECT_ID] = object_id;
            }
            // FC 20, 21, 24
            Request::ReadFileRecord { records } => {
                let (count_at, start) =
                    (file_record::pdu::BYTE_COUNT, file_record::pdu::SUB_REQUESTS);
                put_counted(pdu, count_at, start, records.as_bytes());
            }
            Request::WriteFileRecord { records } => {
                let (count_at, start) =
                    (file_record::pdu::BYTE_COUNT, file_record::pdu::SUB_REQUESTS);
                put_counted(pdu, count_at, start, records.as_bytes());
            }
            Request::ReadFifoQueue { pointer } => fifo::put_request(pdu, pointer),
            // FC 8, 11, 17
            Request::Diagnostics { sub_function, data } => {
                put(pdu, field::SUB_FUNCTION, sub_function);
                pdu[field::DIAGNOSTIC_DATA..].copy_from_slice(data);
            }
            Request::GetCommEventCounter | Request::ReportServerId => {}
        }
        Ok(())
    }

    /// The length of the PDU [`emit`](Self::emit) writes.
    #[must_use]
    pub fn pdu_len(&self) -> usize {
        match self {
            Request::ReadCoils { .. }
            | Request::ReadDiscreteInputs { .. }
            | Request::ReadHoldingRegisters { .. }
            | Request::ReadInputRegisters { .. } => field::QUANTITY.end,
            Request::WriteSingleCoil { .. } | Request::WriteSingleRegister { .. } => {
                field::VALUE.end
            }
            Request::WriteMultipleCoils { values, .. } => field::VALUES + values.as_bytes().len(),
            Request::WriteMultipleRegisters { values, .. } => {
                field::VALUES + values.as_bytes().len()
            }
            Request::MaskWriteRegister { .. } => field::OR_MASK.end,
            Request::ReadWriteMultipleRegisters { values, .. } => {
                field::WRITE_VALUES + values.as_bytes().len()
            }
            Request::ReadDeviceIdentification { .. } => field::READ_DEVICE_ID_LEN,
            // FC 20, 21, 24
            Request::ReadFileRecord { records } => {
                file_record::pdu::SUB_REQUESTS + records.as_bytes().len()
            }
            Request::WriteFileRecord { records } => {
                file_record::pdu::SUB_REQUESTS + records.as_bytes().len()
            }
            Request::ReadFifoQueue { .. } => fifo::REQUEST_LEN,
            // FC 8, 11, 17
            Request::Diagnostics { data, .. } => field::DIAGNOSTIC_DATA + data.len(),
            Request::GetCommEventCounter | Request::ReportServerId => field::FUNCTION_ONLY_LEN,
        }
    }

    /// The function code of this request.
    #[must_use]
    pub fn function(&self) -> FunctionCode {
        match self {
            Request::ReadCoils { .. } => FunctionCode::ReadCoils,
            Request::ReadDiscreteInputs { .. } => FunctionCode::ReadDiscreteInputs,
            Request::ReadHoldingRegisters { .. } => FunctionCode::ReadHoldingRegisters,
            Request::ReadInputRegisters { .. } => FunctionCode::ReadInputRegisters,
            Request::WriteSingleCoil { .. } => FunctionCode::WriteSingleCoil,
            Request::WriteSingleRegister { .. } => FunctionCode::WriteSingleRegister,
            Request::WriteMultipleCoils { .. } => FunctionCode::WriteMultipleCoils,
            Request::WriteMultipleRegisters { .. } => FunctionCode::WriteMultipleRegisters,
            Request::MaskWriteRegister { .. } => FunctionCode::MaskWriteRegister,
            Request::ReadWriteMultipleRegisters { .. } => FunctionCode::ReadWriteMultipleRegisters,
            Request::ReadDeviceIdentification { .. } => {
                FunctionCode::EncapsulatedInterfaceTransport
            }
            // FC 20, 21, 24
            Request::ReadFileRecord { .. } => FunctionCode::ReadFileRecord,
            Request::WriteFileRecord { .. } => FunctionCode::WriteFileRecord,
            Request::ReadFifoQueue { .. } => FunctionCode::ReadFifoQueue,
            // FC 8, 11, 17
            Request::Diagnostics { .. } => FunctionCode::Diagnostics,
            Request::GetCommEventCounter => FunctionCode::GetCommEventCounter,
            Request::ReportServerId => FunctionCode::ReportServerId,
        }
    }
}

/// Bytes that `quantity` bits take packed LSB first (section 6.11: "N =
/// quantity of outputs / 8, if the remainder is different of 0 then N = N+1").
fn packed_len(quantity: u16) -> usize {
    usize::from(quantity).div_ceil(8)
}

/// `byte_count` bytes of `pdu` from `start`.
fn counted(pdu: &[u8], start: usize, byte_count: usize) -> Result<&[u8], ExceptionCode> {
    let end = start + byte_count;
    pdu.get(start..end).ok_or(ExceptionCode::IllegalDataValue)
}

/// Register values whose byte count must equal the registers' size.
fn words_with_count(
    pdu: &[u8],
    byte_count: u8,
    start: usize,
    quantity: u16,
) -> Result<Words<'_>, ExceptionCode> {
    let byte_count = usize::from(byte_count);
    if byte_count != REGISTER_LEN * usize::from(quantity) {
        return Err(ExceptionCode::IllegalDataValue);
    }
    Words::new(counted(pdu, start, byte_count)?).ok_or(ExceptionCode::IllegalDataValue)
}

/// Writes `word` big-endian at `at`.
fn put(pdu: &mut [u8], at: Field, word: u16) {
    pdu[at].copy_from_slice(&word.to_be_bytes());
}

/// Writes a byte count at `count_at`, then `values` from `start`; the
/// caller sized `pdu` and bounded `values` to a PDU.
fn put_counted(pdu: &mut [u8], count_at: usize, start: usize, values: &[u8]) {
    pdu[count_at] = values.len() as u8;
    pdu[start..start + values.len()].copy_from_slice(values);
}

#[cfg(test)]
mod tests {
    use super::*;
    use ExceptionCode::*;

    fn parse(pdu: &[u8]) -> Result<Request<'_>, ExceptionCode> {
        Request::parse(pdu)
    }

    #[test]
    fn spec_examples() {
        // Modbus Application Protocol V1.1b3, section 6 examples.
        assert_eq!(
            parse(&[0x01, 0x00, 0x13, 0x00, 0x13]),
            Ok(Request::ReadCoils {
                address: 0x13,
                quantity: 0x13
            })
        );
        assert_eq!(
            parse(&[0x02, 0x00, 0xC4, 0x00, 0x16]),
            Ok(Request::ReadDiscreteInputs {
                address: 0xC4,
                quantity: 0x16
            })
        );
        assert_eq!(
            parse(&[0x03, 0x00, 0x6B, 0x00, 0x03]),
            Ok(Request::ReadHoldingRegisters {
                address: 0x6B,
                quantity: 3
            })
        );
        assert_eq!(
            parse(&[0x04, 0x00, 0x08, 0x00, 0x01]),
            Ok(Request::ReadInputRegisters {
                address: 8,
                quantity: 1
            })
        );
        assert_eq!(
            parse(&[0x05, 0x00, 0xAC, 0xFF, 0x00]),
            Ok(Request::WriteSingleCoil {
                address: 0xAC,
                value: true
            })
        );
        assert_eq!(
            parse(&[0x06, 0x00, 0x01, 0x00, 0x03]),
            Ok(Request::WriteSingleRegister {
                address: 1,
                value: 3
            })
        );
        let Ok(Request::WriteMultipleCoils {
            address: 0x13,
            values,
        }) = parse(&[0x0F, 0x00, 0x13, 0x00, 0x0A, 0x02, 0xCD, 0x01])
        else {
            panic!("FC 0x0F example")
        };
        assert_eq!(values.len(), 10);
        let Ok(Request::WriteMultipleRegisters { address: 1, values }) =
            parse(&[0x10, 0x00, 0x01, 0x00, 0x02, 0x04, 0x00, 0x0A, 0x01, 0x02])
        else {
            panic!("FC 0x10 example")
        };
        assert_eq!(values.get(1), Some(0x0102));
        assert_eq!(
            parse(&[0x16, 0x00, 0x04, 0x00, 0xF2, 0x00, 0x25]),
            Ok(Request::MaskWriteRegister {
                address: 4,
                and_mask: 0xF2,
                or_mask: 0x25
            })
        );
        let Ok(Request::ReadWriteMultipleRegisters {
            read_address: 3,
            read_quantity: 6,
            write_address: 0x0E,
            values,
        }) = parse(&[
            0x17, 0x00, 0x03, 0x00, 0x06, 0x00, 0x0E, 0x00, 0x03, 0x06, 0x00, 0xFF, 0x00, 0xFF,
            0x00, 0xFF,
        ])
        else {
            panic!("FC 0x17 example")
        };
        assert_eq!(values.len(), 3);
        assert_eq!(
            parse(&[0x2B, 0x0E, 0x01, 0x00]),
            Ok(Request::ReadDeviceIdentification {
                read_code: 1,
                object_id: 0
            })
        );
    }

    #[test]
    fn unsupported_functions_are_exception_1() {
        assert_eq!(parse(&[]), Err(IllegalFunction));
        for f in [0x00, 0x07, 0x2A, 0x7F, 0x80, 0x83, 0xFF] {
            assert_eq!(
                parse(&[f, 0, 0, 0, 1]),
                Err(IllegalFunction),
                "function {f:#04x}"
            );
            assert_eq!(parse(&[f]), Err(IllegalFunction), "bare function {f:#04x}");
        }
    }

    #[test]
    #[cfg(not(feature = "file-records"))]
    fn without_the_feature_file_records_are_exception_1() {
        // Well-formed FC 20 (one group) and FC 21 (one record) requests.
        let read = [0x14, 0x07, 0x06, 0x00, 0x04, 0x00, 0x01, 0x00, 0x02];
        let write = [
            0x15, 0x09, 0x06, 0x00, 0x04, 0x00, 0x07, 0x00, 0x01, 0x06, 0xAF,
        ];
        assert_eq!(parse(&read), Err(IllegalFunction));
        assert_eq!(parse(&write), Err(IllegalFunction));
    }

    #[test]
    fn bare_supported_function_is_exception_3() {
        let files: &[u8] = if cfg!(feature = "file-records") {
            &[0x14, 0x15]
        } else {
            &[]
        };
        for &f in [
            0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x0F, 0x10, 0x16, 0x17, 0x2B, 0x18,
        ]
        .iter()
        .chain(files)
        {
            assert_eq!(parse(&[f]), Err(IllegalDataValue), "function {f:#04x}");
        }
    }

    #[test]
    fn quantity_limits() {
        for (f, max) in [(0x01u8, 2000u16), (0x02, 2000), (0x03, 125), (0x04, 125)] {
            let pdu = |q: u16| {
                let [h, l] = q.to_be_bytes();
                [f, 0, 0, h, l]
            };
            assert!(parse(&pdu(1)).is_ok());
            assert!(parse(&pdu(max)).is_ok());
            assert_eq!(parse(&pdu(0)), Err(IllegalDataValue));
            assert_eq!(parse(&pdu(max + 1)), Err(IllegalDataValue));
        }
    }

    #[test]
    fn single_coil_value_must_be_on_or_off() {
        assert_eq!(
            parse(&[0x05, 0, 1, 0x00, 0x00]),
            Ok(Request::WriteSingleCoil {
                address: 1,
                value: false
            })
        );
        for v in [[0x00, 0x01], [0xFF, 0xFF], [0x12, 0x34], [0x00, 0xFF]] {
            assert_eq!(parse(&[0x05, 0, 1, v[0], v[1]]), Err(IllegalDataValue));
        }
    }

    #[test]
    fn write_coils_byte_count_rules() {
        // 9 coils need 2 bytes.
        assert_eq!(
            parse(&[0x0F, 0, 0, 0, 9, 1, 0xFF]).unwrap_err(),
            IllegalDataValue
        );
        assert!(parse(&[0x0F, 0, 0, 0, 9, 2, 0xFF, 0x01]).is_ok());
        // A larger byte count than needed is accepted when the bytes are there.
        assert!(parse(&[0x0F, 0, 0, 0, 9, 3, 0xFF, 0x01, 0x00]).is_ok());
        // Declared bytes missing.
        assert_eq!(
            parse(&[0x0F, 0, 0, 0, 9, 3, 0xFF, 0x01]).unwrap_err(),
            IllegalDataValue
        );
        assert_eq!(
            parse(&[0x0F, 0, 0, 0x07, 0xB1, 0xF6]).unwrap_err(),
            IllegalDataValue
        ); // 1969
    }

    #[test]
    fn write_registers_byte_count_rules() {
        assert!(parse(&[0x10, 0, 0, 0, 1, 2, 0, 7]).is_ok());
        assert_eq!(
            parse(&[0x10, 0, 0, 0, 1, 3, 0, 7, 0]).unwrap_err(),
            IllegalDataValue
        );
        assert_eq!(
            parse(&[0x10, 0, 0, 0, 2, 4, 0, 7]).unwrap_err(),
            IllegalDataValue
        );
        assert_eq!(
            parse(&[0x10, 0, 0, 0, 124, 248]).unwrap_err(),
            IllegalDataValue
        );
        // FC 0x17: write quantity up to 121, read up to 125.
        let rw = |rq: u16, wq: u16| {
            let mut pdu = heapless::Vec::<u8, 260>::new();
            pdu.extend_from_slice(&[0x17, 0, 0]).unwrap();
            pdu.extend_from_slice(&rq.to_be_bytes()).unwrap();
            pdu.extend_from_slice(&[0, 0]).unwrap();
            pdu.extend_from_slice(&wq.to_be_bytes()).unwrap();
            pdu.push((wq * 2) as u8).unwrap();
            for _ in 0..wq * 2 {
                pdu.push(0).unwrap();
            }
            Request::parse(&pdu).map(|_| ())
        };
        assert_eq!(rw(125, 121), Ok(()));
        assert_eq!(rw(126, 1), Err(IllegalDataValue));
        assert_eq!(rw(1, 122), Err(IllegalDataValue));
        assert_eq!(rw(0, 1), Err(IllegalDataValue));
    }

    #[test]
    fn device_identification_rules() {
        assert_eq!(parse(&[0x2B, 0x0D, 0x01, 0x00]), Err(IllegalDataAddress));
        assert_eq!(parse(&[0x2B, 0x0E]), Err(IllegalDataValue));
        assert_eq!(parse(&[0x2B, 0x0E, 0x01]), Err(IllegalDataValue));
        assert_eq!(parse(&[0x2B, 0x0E, 0x00, 0x00]), Err(IllegalDataValue));
        assert_eq!(parse(&[0x2B, 0x0E, 0x05, 0x00]), Err(IllegalDataValue));
        assert_eq!(
            parse(&[0x2B, 0x0E, 0x04, 0x81]),
            Ok(Request::ReadDeviceIdentification {
                read_code: 4,
                object_id: 0x81
            })
        );
    }

    // FC 8, 11, 17

    #[test]
    fn diagnostics_and_function_only_requests() {
        // Section 6.8.2's example: return query data A5 37.
        assert_eq!(
            parse(&[0x08, 0x00, 0x00, 0xA5, 0x37]),
            Ok(Request::Diagnostics {
                sub_function: 0,
                data: &[0xA5, 0x37]
            })
        );
        // No data at all is a request (the sub-function decides if it is enough).
        assert_eq!(
            parse(&[0x08, 0x00, 0x0B]),
            Ok(Request::Diagnostics {
                sub_function: 0x0B,
                data: &[]
            })
        );
        // Without a whole sub-function: exception 3.
        assert_eq!(parse(&[0x08]), Err(IllegalDataValue));
        assert_eq!(parse(&[0x08, 0x00]), Err(IllegalDataValue));
        // FC 0x0B and 0x11 are the function code alone; more is ignored.
        assert_eq!(parse(&[0x0B]), Ok(Request::GetCommEventCounter));
        assert_eq!(parse(&[0x11]), Ok(Request::ReportServerId));
        assert_eq!(parse(&[0x11, 0xDE, 0xAD]), Ok(Request::ReportServerId));
    }

    #[test]
    fn trailing_bytes_are_ignored() {
        assert_eq!(
            parse(&[0x03, 0, 1, 0, 2, 0xDE, 0xAD]),
            Ok(Request::ReadHoldingRegisters {
                address: 1,
                quantity: 2
            })
        );
    }
}
