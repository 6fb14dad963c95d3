//! Response PDUs: emitting (the server side) and parsing (clients and
//! round-trip tests), laid out as in the "Response" tables of the Modbus
//! Application Protocol Specification V1.1b3, sections 6 and 7.

use super::mei::{self, DeviceObjects};
use super::response::{exception_pdu, EXCEPTION_BIT};
use super::{be_u16, pack_bits, Bits, Field, Words, REGISTER_LEN};
use super::{limits::MEI_READ_DEVICE_ID, ExceptionCode, FunctionCode, Request};
use super::{ResponseWriter, WriteError, MAX_PDU_LEN};
// FC 20, 21, 24
use super::{fifo, file_record, FileRecordData, FileRecordWrites};

/// Byte positions inside a response PDU, function code at 0.
mod field {
    use crate::wire::Field;

    /// Every response (section 4.1): the function code.
    pub const FUNCTION: usize = 0;

    /// FC 0x01..=0x04, 0x17 (sections 6.1-6.4, 6.17): bytes of values
    /// that follow.
    pub const BYTE_COUNT: usize = 1;
    /// FC 0x01..=0x04, 0x17: the first byte of the values.
    pub const VALUES: usize = 2;

    /// FC 0x05, 0x06, 0x0F, 0x10, 0x16 (sections 6.5, 6.6, 6.11, 6.12,
    /// 6.16): the (first) address, echoed.
    pub const ADDRESS: Field = 1..3;
    /// FC 0x05, 0x06 (sections 6.5, 6.6): the value written, echoed.
    pub const VALUE: Field = 3..5;
    /// FC 0x0F, 0x10 (sections 6.11, 6.12): how many bits or registers
    /// were written.
    pub const QUANTITY: Field = 3..5;
    /// FC 0x16 (section 6.16): the AND mask, echoed.
    pub const AND_MASK: Field = 3..5;
    /// FC 0x16 (section 6.16): the OR mask, echoed.
    pub const OR_MASK: Field = 5..7;

    /// Exception responses (section 7): the exception code.
    pub const EXCEPTION_CODE: usize = 1;
    /// Exception responses: the whole PDU.
    pub const EXCEPTION_LEN: usize = EXCEPTION_CODE + 1;

    // FC 8, 11, 17
    /// FC 0x08 (section 6.8): the sub-function, echoed.
    pub const SUB_FUNCTION: Field = 1..3;
    /// FC 0x08 (section 6.8): the first byte of the data, which runs to
    /// the end of the PDU.
    pub const DIAGNOSTIC_DATA: usize = 3;
    /// FC 0x0B (section 6.9): the status word (0xFFFF busy, 0x0000 not).
    pub const STATUS: Field = 1..3;
    /// FC 0x0B (section 6.9): the event count.
    pub const EVENT_COUNT: Field = 3..5;
    /// FC 0x11 (section 6.13): bytes of server id, run indicator status and
    /// additional data that follow (the layout of FC 0x01..=0x04's values).
    pub const SERVER_ID_BYTE_COUNT: usize = BYTE_COUNT;
    /// FC 0x11 (section 6.13): the first byte of the server id.
    pub const SERVER_ID: usize = VALUES;
}

/// FC 0x05 (section 6.5): the only two values of a coil write.
const ON: u16 = 0xFF00;
const OFF: u16 = 0x0000;

/// Why a response PDU cannot be parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum ResponseError {
    /// A function code (or, for 0x2B, an MEI type) this crate does not
    /// serve, or an empty PDU (`function` 0 then).
    Unsupported {
        /// The function code received.
        function: u8,
    },
    /// Shorter than its fields or byte count announce, or a field holds a
    /// value its function does not allow (an odd register byte count, a
    /// coil value other than 0xFF00 / 0x0000, more follows other than
    /// 0x00 / 0xFF).
    Malformed,
}

impl core::fmt::Display for ResponseError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            ResponseError::Unsupported { function } => {
                write!(f, "unsupported response function 0x{function:02X}")
            }
            ResponseError::Malformed => f.write_str("malformed response PDU"),
        }
    }
}

impl core::error::Error for ResponseError {}

/// A response PDU: what a server answers to a [`Request`], as fields.
///
/// Read values are checked views into the bytes. A read response does not
/// carry the quantity asked for: parsed coils and inputs are every bit of
/// the packed bytes, padding included (the client knows how many it asked).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Response<'a> {
    /// FC 0x01.
    ReadCoils {
        /// The coils, packed LSB first.
        values: Bits<'a>,
    },
    /// FC 0x02.
    ReadDiscreteInputs {
        /// The inputs, packed LSB first.
        values: Bits<'a>,
    },
    /// FC 0x03.
    ReadHoldingRegisters {
        /// The registers.
        values: Words<'a>,
    },
    /// FC 0x04.
    ReadInputRegisters {
        /// The registers.
        values: Words<'a>,
    },
    /// FC 0x05: the request echoed.
    WriteSingleCoil {
        /// The coil.
        address: u16,
        /// The value written.
        value: bool,
    },
    /// FC 0x06: the request echoed.
    WriteSingleRegister {
        /// The register.
        address: u16,
        /// The value written.
        value: u16,
    },
    /// FC 0x0F.
    WriteMultipleCoils {
        /// First coil.
        address: u16,
        /// How many coils were written.
        quantity: u16,
    },
    /// FC 0x10.
    WriteMultipleRegisters {
        /// First register.
        address: u16,
        /// How many registers were written.
        quantity: u16,
    },
    /// FC 0x16: the request echoed.
    MaskWriteRegister {
        /// The register.
        address: u16,
        /// AND mask.
        and_mask: u16,
        /// OR mask.
        or_mask: u16,
    },
    /// FC 0x17: the registers read (after the write).
    ReadWriteMultipleRegisters {
        /// The registers.
        values: Words<'a>,
    },
    /// FC 0x2B, MEI type 0x0E.
    ReadDeviceIdentification {
        /// The request's read code, echoed.
        read_code: u8,
        /// The device's conformity level.
        conformity_level: u8,
        /// `Some(id)` when more follows (0xFF): the next request starts at
        /// object `id`.
        next_object_id: Option<u8>,
        /// The objects of this response.
        objects: DeviceObjects<'a>,
    },
    // FC 20, 21, 24
    /// FC 0x14: one sub-response per sub-request.
    ReadFileRecord {
        /// The record data of each sub-request.
        records: FileRecordData<'a>,
    },
    /// FC 0x15: the request echoed.
    WriteFileRecord {
        /// The sub-requests and values written.
        records: FileRecordWrites<'a>,
    },
    /// FC 0x18: the queued registers (their number is the FIFO count).
    ReadFifoQueue {
        /// The queued registers, at most 31.
        values: Words<'a>,
    },
    // FC 8, 11, 17
    /// FC 0x08: the sub-function echoed, and its data.
    Diagnostics {
        /// The request's sub-function.
        sub_function: u16,
        /// The data: the request's data (return query data, restart, clear
        /// counters) or a counter, big-endian.
        data: &'a [u8],
    },
    /// FC 0x0B.
    GetCommEventCounter {
        /// 0xFFFF while a previous command is still being processed, else 0.
        status: u16,
        /// Successful message completions counted.
        event_count: u16,
    },
    /// FC 0x11: `data` is the server id, the run indicator status (0x00
    /// OFF, 0xFF ON) and the additional data, in this order; where the
    /// server id ends is device specific
    /// ([`ServerId`](crate::ServerId) builds and splits it).
    #[doc(alias = "ReportSlaveId")]
    ReportServerId {
        /// The bytes the byte count covers (at least the run indicator).
        data: &'a [u8],
    },
    /// An exception response (section 7).
    Exception {
        /// The request's function code (bit 0x80 clear).
        function: FunctionCode,
        /// Why the request was refused.
        code: ExceptionCode,
    },
}

impl<'a> Response<'a> {
    /// Parses a response PDU (function code first). Never panics; bytes
    /// after the last field are ignored.
    ///
    /// # Errors
    ///
    /// [`ResponseError::Unsupported`] for an empty PDU or a function this
    /// crate does not serve, [`ResponseError::Malformed`] for a PDU that
    /// does not hold what its function needs.
    pub fn parse(pdu: &'a [u8]) -> Result<Response<'a>, ResponseError> {
        let Some(&function) = pdu.get(field::FUNCTION) else {
            return Err(ResponseError::Unsupported { function: 0 });
        };
        let byte = |at: usize| pdu.get(at).copied().ok_or(ResponseError::Malformed);
        let word = |at: Field| be_u16(pdu, at.start).ok_or(ResponseError::Malformed);
        let counted = || -> Result<&'a [u8], ResponseError> {
            let end = field::VALUES + usize::from(byte(field::BYTE_COUNT)?);
            pdu.get(field::VALUES..end).ok_or(ResponseError::Malformed)
        };
        let bits =
            || counted().and_then(|b| Bits::new(b, b.len() * 8).ok_or(ResponseError::Malformed));
        let words = || counted().and_then(|b| Words::new(b).ok_or(ResponseError::Malformed));
        if function & EXCEPTION_BIT != 0 {
            return Ok(Response::Exception {
                function: FunctionCode::from(function & !EXCEPTION_BIT),
                code: ExceptionCode::from(byte(field::EXCEPTION_CODE)?),
            });
        }
        let response = match FunctionCode::from(function) {
            FunctionCode::ReadCoils => Response::ReadCoils { values: bits()? },
            FunctionCode::ReadDiscreteInputs => Response::ReadDiscreteInputs { values: bits()? },
            FunctionCode::ReadHoldingRegisters => {
                Response::ReadHoldingRegisters { values: words()? }
            }
            FunctionCode::ReadInputRegisters => Response::ReadInputRegisters { values: words()? },
            FunctionCode::WriteSingleCoil => Response::WriteSingleCoil {
                address: word(field::ADDRESS)?,
                value: match word(field::VALUE)? {
                    ON => true,
                    OFF => false,
                    _ => return Err(ResponseError::Malformed),
                },
            },
            FunctionCode::WriteSingleRegister => Response::WriteSingleRegister {
                address: word(field::ADDRESS)?,
                value: word(field::VALUE)?,
            },
            FunctionCode::WriteMultipleCoils => Response::WriteMultipleCoils {
                address: word(field::ADDRESS)?,
                quantity: word(field::QUANTITY)?,
            },
            FunctionCode::WriteMultipleRegisters => Response::WriteMultipleRegisters {
                address: word(field::ADDRESS)?,
                quantity: word(field::QUANTITY)?,
            },
            FunctionCode::MaskWriteRegister => Response::MaskWriteRegister {
                address: word(field::ADDRESS)?,
                and_mask: word(field::AND_MASK)?,
                or_mask: word(field::OR_MASK)?,
            },
            FunctionCode::ReadWriteMultipleRegisters => {
                Response::ReadWriteMultipleRegisters { values: words()? }
            }
            FunctionCode::EncapsulatedInterfaceTransport => {
                if byte(mei::field::MEI_TYPE)? != MEI_READ_DEVICE_ID {
                    return Err(ResponseError::Unsupported { function });
                }
                let next = byte(mei::field::NEXT_OBJECT_ID)?;
                let next_object_id = match byte(mei::field::MORE_FOLLOWS)? {
                    mei::MORE_FOLLOWS => Some(next),
                    mei::NO_MORE_FOLLOWS => None,
                    _ => return Err(ResponseError::Malformed),
                };
                let list = pdu
                    .get(mei::field::OBJECTS..)
                    .ok_or(ResponseError::Malformed)?;
                let count = byte(mei::field::OBJECT_COUNT)?;
                Response::ReadDeviceIdentification {
                    read_code: byte(mei::field::READ_CODE)?,
                    conformity_level: byte(mei::field::CONFORMITY_LEVEL)?,
                    next_object_id,
                    objects: DeviceObjects::new(list, count).ok_or(ResponseError::Malformed)?,
                }
            }
            // FC 20, 21, 24
            FunctionCode::ReadFileRecord => {
                let end = file_record::pdu::SUB_REQUESTS
                    + usize::from(byte(file_record::pdu::BYTE_COUNT)?);
                let bytes = pdu
                    .get(file_record::pdu::SUB_REQUESTS..end)
                    .ok_or(ResponseError::Malformed)?;
                Response::ReadFileRecord {
                    records: FileRecordData::new(bytes).ok_or(ResponseError::Malformed)?,
                }
            }
            FunctionCode::WriteFileRecord => Response::WriteFileRecord {
                records: FileRecordWrites::from_pdu(pdu).map_err(|_| ResponseError::Malformed)?,
            },
            FunctionCode::ReadFifoQueue => Response::ReadFifoQueue {
                values: fifo::parse_response(pdu).ok_or(ResponseError::Malformed)?,
            },
            // FC 8, 11, 17
            FunctionCode::Diagnostics => Response::Diagnostics {
                sub_function: word(field::SUB_FUNCTION)?,
                data: pdu.get(field::DIAGNOSTIC_DATA..).unwrap_or_default(),
            },
            FunctionCode::GetCommEventCounter => Response::GetCommEventCounter {
                status: word(field::STATUS)?,
                event_count: word(field::EVENT_COUNT)?,
            },
            FunctionCode::ReportServerId => {
                let end = field::SERVER_ID + usize::from(byte(field::SERVER_ID_BYTE_COUNT)?);
                match pdu.get(field::SERVER_ID..end) {
                    // The run indicator status is always there.
                    Some(data) if !data.is_empty() => Response::ReportServerId { data },
                    _ => return Err(ResponseError::Malformed),
                }
            }
            FunctionCode::Unknown(_) => return Err(ResponseError::Unsupported { function }),
        };
        Ok(response)
    }

    /// The response that echoes a write request (FC 0x05, 0x06, 0x0F,
    /// 0x10, 0x16); `None` for the other requests, whose responses carry
    /// data.
    #[must_use]
    pub fn write_echo(request: &Request<'_>) -> Option<Response<'static>> {
        Some(match *request {
            Request::WriteSingleCoil { address, value } => {
                Response::WriteSingleCoil { address, value }
            }
            Request::WriteSingleRegister { address, value } => {
                Response::WriteSingleRegister { address, value }
            }
            // The parser bounds both quantities far below `u16::MAX`.
            Request::WriteMultipleCoils { address, values } => Response::WriteMultipleCoils {
                address,
                quantity: values.len() as u16,
            },
            Request::WriteMultipleRegisters { address, values } => {
                Response::WriteMultipleRegisters {
                    address,
                    quantity: values.len() as u16,
                }
            }
            Request::MaskWriteRegister {
                address,
                and_mask,
                or_mask,
            } => Response::MaskWriteRegister {
                address,
                and_mask,
                or_mask,
            },
            _ => return None,
        })
    }

    /// Appends this response's PDU to `out`: the inverse of
    /// [`parse`](Self::parse). Read values and device objects are written
    /// as their bytes ([`Bits::as_bytes`], [`Words::as_bytes`],
    /// [`DeviceObjects::as_bytes`]).
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
        if out.remaining() < len {
            return Err(WriteError {
                required_size: len - out.remaining(),
            });
        }
        // Room is checked: the writes below cannot fail halfway.
        match *self {
            Response::ReadCoils { values } | Response::ReadDiscreteInputs { values } => {
                emit_counted(out, self.function(), values.as_bytes())
            }
            Response::ReadHoldingRegisters { values }
            | Response::ReadInputRegisters { values }
            | Response::ReadWriteMultipleRegisters { values } => {
                emit_counted(out, self.function(), values.as_bytes())
            }
            Response::WriteSingleCoil { address, value } => {
                let value = if value { ON } else { OFF };
                let fields = [(field::ADDRESS, address), (field::VALUE, value)];
                emit_fields(out, self.function(), len, &fields)
            }
            Response::WriteSingleRegister { address, value } => {
                let fields = [(field::ADDRESS, address), (field::VALUE, value)];
                emit_fields(out, self.function(), len, &fields)
            }
            Response::WriteMultipleCoils { address, quantity }
            | Response::WriteMultipleRegisters { address, quantity } => {
                let fields = [(field::ADDRESS, address), (field::QUANTITY, quantity)];
                emit_fields(out, self.function(), len, &fields)
            }
            Response::MaskWriteRegister {
                address,
                and_mask,
                or_mask,
            } => {
                let fields = [
                    (field::ADDRESS, address),
                    (field::AND_MASK, and_mask),
                    (field::OR_MASK, or_mask),
                ];
                emit_fields(out, self.function(), len, &fields)
            }
            Response::ReadDeviceIdentification {
                read_code,
                conformity_level,
                next_object_id,
                objects,
            } => {
                let at = mei::emit_header(out, read_code, conformity_level)?;
                out.extend(objects.as_bytes())?;
                // At most 246 objects fit a PDU: checked above.
                mei::patch_header(out, at, next_object_id, objects.len() as u8)
            }
            // FC 20, 21, 24
            Response::ReadFileRecord { records } => {
                out.push(u8::from(FunctionCode::ReadFileRecord))?;
                // At most MAX_PDU_LEN - 2 bytes: checked above.
                out.push(records.as_bytes().len() as u8)?;
                out.extend(records.as_bytes())
            }
            Response::WriteFileRecord { records } => {
                out.push(u8::from(FunctionCode::WriteFileRecord))?;
                out.push(records.as_bytes().len() as u8)?;
                out.extend(records.as_bytes())
            }
            Response::ReadFifoQueue { values } => fifo::emit_response_bytes(out, values),
            // FC 8, 11, 17
            Response::Diagnostics { sub_function, data } => {
                emit_diagnostics(out, sub_function, data)
            }
            Response::GetCommEventCounter {
                status,
                event_count,
            } => emit_comm_event_counter(out, status, event_count),
            Response::ReportServerId { data } => emit_report_server_id(out, data),
            Response::Exception { function, code } => {
                out.extend(&exception_pdu(u8::from(function), code))
            }
        }
    }

    /// The length of the PDU [`emit`](Self::emit) writes.
    #[must_use]
    pub fn pdu_len(&self) -> usize {
        match self {
            Response::ReadCoils { values } | Response::ReadDiscreteInputs { values } => {
                field::VALUES + values.as_bytes().len()
            }
            Response::ReadHoldingRegisters { values }
            | Response::ReadInputRegisters { values }
            | Response::ReadWriteMultipleRegisters { values } => {
                field::VALUES + values.as_bytes().len()
            }
            Response::WriteSingleCoil { .. } | Response::WriteSingleRegister { .. } => {
                field::VALUE.end
            }
            Response::WriteMultipleCoils { .. } | Response::WriteMultipleRegisters { .. } => {
                field::QUANTITY.end
            }
            Response::MaskWriteRegister { .. } => field::OR_MASK.end,
            Response::ReadDeviceIdentification { objects, .. } => {
                mei::HEADER_LEN + objects.as_bytes().len()
            }
            // FC 20, 21, 24
            Response::ReadFileRecord { records } => {
                file_record::pdu::SUB_REQUESTS + records.as_bytes().len()
            }
            Response::WriteFileRecord { records } => {
                file_record::pdu::SUB_REQUESTS + records.as_bytes().len()
            }
            Response::ReadFifoQueue { values } => fifo::response_len(values.len()),
            // FC 8, 11, 17
            Response::Diagnostics { data, .. } => field::DIAGNOSTIC_DATA + data.len(),
            Response::GetCommEventCounter { .. } => field::EVENT_COUNT.end,
            Response::ReportServerId { data } => field::SERVER_ID + data.len(),
            Response::Exception { .. } => field::EXCEPTION_LEN,
        }
    }

    /// The function code of this response (for an exception, the
    /// request's, without bit 0x80).
    #[must_use]
    pub fn function(&self) -> FunctionCode {
        match self {
            Response::ReadCoils { .. } => FunctionCode::ReadCoils,
            Response::ReadDiscreteInputs { .. } => FunctionCode::ReadDiscreteInputs,
            Response::ReadHoldingRegisters { .. } => FunctionCode::ReadHoldingRegisters,
            Response::ReadInputRegisters { .. } => FunctionCode::ReadInputRegisters,
            Response::WriteSingleCoil { .. } => FunctionCode::WriteSingleCoil,
            Response::WriteSingleRegister { .. } => FunctionCode::WriteSingleRegister,
            Response::WriteMultipleCoils { .. } => FunctionCode::WriteMultipleCoils,
            Response::WriteMultipleRegisters { .. } => FunctionCode::WriteMultipleRegisters,
            Response::MaskWriteRegister { .. } => FunctionCode::MaskWriteRegister,
            Response::ReadWriteMultipleRegisters { .. } => FunctionCode::ReadWriteMultipleRegisters,
            Response::ReadDeviceIdentification { .. } => {
                FunctionCode::EncapsulatedInterfaceTransport
            }
            // FC 20, 21, 24
            Response::ReadFileRecord { .. } => FunctionCode::ReadFileRecord,
            Response::WriteFileRecord { .. } => FunctionCode::WriteFileRecord,
            Response::ReadFifoQueue { .. } => FunctionCode::ReadFifoQueue,
            // FC 8, 11, 17
            Response::Diagnostics { .. } => FunctionCode::Diagnostics,
            Response::GetCommEventCounter { .. } => FunctionCode::GetCommEventCounter,
            Response::ReportServerId { .. } => FunctionCode::ReportServerId,
            Response::Exception { function, .. } => *function,
        }
    }
}

/// Appends a read response (FC 0x01, 0x02) for `bits`, packed LSB first:
/// the server's emitter, straight from the handler's values (a
/// [`Response::ReadCoils`] needs them packed first).
///
/// # Errors
///
/// [`WriteError`] if `out` has no room, or if the PDU would be longer than
/// [`MAX_PDU_LEN`] (`required_size` is the excess). Nothing is written then.
pub fn emit_read_bits(
    out: &mut ResponseWriter<'_>,
    function: FunctionCode,
    bits: &[bool],
) -> Result<(), WriteError> {
    let byte_count = bits.len().div_ceil(8);
    let values = reserve_counted(out, function, byte_count)?;
    // Cannot fail: `reserve_counted` sized the values for exactly these bits.
    let _packed = pack_bits(bits, values);
    Ok(())
}

/// Appends a read response (FC 0x03, 0x04, 0x17) for `words`, big-endian:
/// the server's emitter, straight from the handler's values.
///
/// # Errors
///
/// [`WriteError`] if `out` has no room, or if the PDU would be longer than
/// [`MAX_PDU_LEN`] (`required_size` is the excess). Nothing is written then.
#[inline]
pub fn emit_read_words(
    out: &mut ResponseWriter<'_>,
    function: FunctionCode,
    words: &[u16],
) -> Result<(), WriteError> {
    // One reservation and direct stores: a two-byte `extend` costs a
    // `memcpy` call, a measurable share of a small read (benches/engine.rs).
    let values = reserve_counted(out, function, words.len() * REGISTER_LEN)?;
    super::put_words(words, values);
    Ok(())
}

/// Appends the response to a write request (FC 0x05, 0x06, 0x0F, 0x10,
/// 0x16) that `request_pdu` parsed into `request`: the server's emitter of
/// [`Response::write_echo`]. That response is the request's own first
/// bytes (function code, address, then the value, the quantity or the two
/// masks), which the parser has checked, so it is copied: building the
/// [`Response`] and emitting it field by field cost about 140
/// instructions of a 10-register write (`benches/engine.rs`).
///
/// # Errors
///
/// [`WriteError`] if `out` has no room; `None`: not a write request, or a
/// PDU shorter than its parse says (neither can come from the parser).
pub(crate) fn emit_write_echo(
    out: &mut ResponseWriter<'_>,
    request_pdu: &[u8],
    request: &Request<'_>,
) -> Option<Result<(), WriteError>> {
    match request {
        Request::WriteSingleCoil { .. }
        | Request::WriteSingleRegister { .. }
        | Request::WriteMultipleCoils { .. }
        | Request::WriteMultipleRegisters { .. } => {
            copy_prefix::<{ field::VALUE.end }>(out, request_pdu)
        }
        Request::MaskWriteRegister { .. } => {
            copy_prefix::<{ field::OR_MASK.end }>(out, request_pdu)
        }
        _ => None,
    }
}

/// Appends the first `N` bytes of `pdu`; `None` if it is shorter.
#[inline]
fn copy_prefix<const N: usize>(
    out: &mut ResponseWriter<'_>,
    pdu: &[u8],
) -> Option<Result<(), WriteError>> {
    let prefix: &[u8; N] = pdu.get(..N)?.try_into().ok()?;
    Some(out.reserve(N).map(|room| room.copy_from_slice(prefix)))
}

/// Reserves a read response (FC 0x03, 0x04) of `quantity` registers and
/// writes its function code and byte count; returns the room for the
/// values, which the handler fills straight from its storage.
///
/// # Errors
///
/// As [`emit_read_words`].
#[inline]
pub(crate) fn reserve_read_words<'o>(
    out: &'o mut ResponseWriter<'_>,
    function: FunctionCode,
    quantity: u16,
) -> Result<&'o mut [u8], WriteError> {
    reserve_counted(out, function, usize::from(quantity) * REGISTER_LEN)
}

/// Reserves a read response of `byte_count` value bytes and writes its
/// function code and byte count; returns the room for the values.
#[inline]
fn reserve_counted<'o>(
    out: &'o mut ResponseWriter<'_>,
    function: FunctionCode,
    byte_count: usize,
) -> Result<&'o mut [u8], WriteError> {
    let len = field::VALUES + byte_count;
    if len > MAX_PDU_LEN {
        return Err(WriteError {
            required_size: len - MAX_PDU_LEN,
        });
    }
    // One split, so that the header's stores need no bounds checks of
    // their own (a measurable share of a small read, benches/engine.rs).
    let (header, values) = out.reserve(len)?.split_at_mut(field::VALUES);
    if let [function_at, count_at] = header {
        // `header` is exactly FUNCTION, BYTE_COUNT.
        (*function_at, *count_at) = (u8::from(function), byte_count as u8); // < MAX_PDU_LEN
    }
    Ok(values)
}

/// A read response carrying `bytes` as its values.
fn emit_counted(
    out: &mut ResponseWriter<'_>,
    function: FunctionCode,
    bytes: &[u8],
) -> Result<(), WriteError> {
    reserve_counted(out, function, bytes.len())?.copy_from_slice(bytes);
    Ok(())
}

/// A response of `len` bytes: `function`, then each word at its field.
fn emit_fields(
    out: &mut ResponseWriter<'_>,
    function: FunctionCode,
    len: usize,
    fields: &[(Field, u16)],
) -> Result<(), WriteError> {
    let pdu = out.reserve(len)?;
    pdu[field::FUNCTION] = u8::from(function);
    for (at, word) in fields {
        pdu[at.clone()].copy_from_slice(&word.to_be_bytes());
    }
    Ok(())
}

// FC 8, 11, 17: the server's emitters (the service writes these without
// going through `Response::emit`, whose other variants would then be linked
// into firmware that never sends them).

/// Appends a diagnostics (FC 0x08) response: `sub_function`, then `data`.
pub(crate) fn emit_diagnostics(
    out: &mut ResponseWriter<'_>,
    sub_function: u16,
    data: &[u8],
) -> Result<(), WriteError> {
    let len = field::DIAGNOSTIC_DATA + data.len();
    if len > MAX_PDU_LEN {
        return Err(WriteError {
            required_size: len - MAX_PDU_LEN,
        });
    }
    let pdu = out.reserve(len)?;
    pdu[field::FUNCTION] = u8::from(FunctionCode::Diagnostics);
    pdu[field::SUB_FUNCTION].copy_from_slice(&sub_function.to_be_bytes());
    pdu[field::DIAGNOSTIC_DATA..].copy_from_slice(data);
    Ok(())
}

/// Appends a get comm event counter (FC 0x0B) response.
pub(crate) fn emit_comm_event_counter(
    out: &mut ResponseWriter<'_>,
    status: u16,
    event_count: u16,
) -> Result<(), WriteError> {
    let fields = [(field::STATUS, status), (field::EVENT_COUNT, event_count)];
    let function = FunctionCode::GetCommEventCounter;
    emit_fields(out, function, field::EVENT_COUNT.end, &fields)
}

/// Appends a report server id (FC 0x11) response: byte count, then `data`
/// (server id, run indicator status, additional data).
pub(crate) fn emit_report_server_id(
    out: &mut ResponseWriter<'_>,
    data: &[u8],
) -> Result<(), WriteError> {
    emit_counted(out, FunctionCode::ReportServerId, data)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::vec;
    use std::vec::Vec;

    /// The server's echo and the canonical response, for one write PDU.
    fn both_echoes(pdu: &[u8]) -> (Vec<u8>, Vec<u8>) {
        let request = Request::parse(pdu).expect("a valid write");
        let mut fast = [0u8; MAX_PDU_LEN];
        let mut fast_out = ResponseWriter::new(&mut fast);
        emit_write_echo(&mut fast_out, pdu, &request)
            .expect("a write request")
            .expect("room");
        let mut canonical = [0u8; MAX_PDU_LEN];
        let mut canonical_out = ResponseWriter::new(&mut canonical);
        Response::write_echo(&request)
            .expect("a write request")
            .emit(&mut canonical_out)
            .expect("room");
        (
            fast_out.written().to_vec(),
            canonical_out.written().to_vec(),
        )
    }

    /// A write-multiple PDU: `function`, address, quantity, byte count,
    /// then `bytes` of values.
    fn multiple(function: u8, address: u16, quantity: u16, bytes: usize) -> Vec<u8> {
        let mut pdu = vec![function];
        pdu.extend(address.to_be_bytes());
        pdu.extend(quantity.to_be_bytes());
        pdu.push(bytes as u8);
        pdu.extend((0..bytes).map(|i| i as u8 ^ 0x5A));
        pdu
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() })]

        #[test]
        fn write_echo_is_the_canonical_response(
            address in any::<u16>(),
            value in any::<u16>(),
            on in any::<bool>(),
            registers in 1u16..=123,
            coils in 1u16..=1968,
            masks in any::<(u16, u16)>(),
        ) {
            let [a0, a1] = address.to_be_bytes();
            let [v0, v1] = value.to_be_bytes();
            let (and, or) = (masks.0.to_be_bytes(), masks.1.to_be_bytes());
            let pdus = [
                vec![0x05, a0, a1, if on { 0xFF } else { 0x00 }, 0x00],
                vec![0x06, a0, a1, v0, v1],
                multiple(0x0F, address, coils, usize::from(coils).div_ceil(8)),
                multiple(0x10, address, registers, usize::from(registers) * 2),
                vec![0x16, a0, a1, and[0], and[1], or[0], or[1]],
            ];
            for pdu in &pdus {
                let (fast, canonical) = both_echoes(pdu);
                prop_assert_eq!(fast, canonical, "PDU {:02X?}", pdu);
            }
        }
    }

    #[test]
    fn only_writes_are_echoed() {
        let pdu = [0x03, 0x00, 0x00, 0x00, 0x01];
        let request = Request::parse(&pdu).unwrap();
        let mut buf = [0u8; MAX_PDU_LEN];
        assert!(emit_write_echo(&mut ResponseWriter::new(&mut buf), &pdu, &request).is_none());
    }
}
