//! Request PDUs: parsing with the check order and exception codes of
//! `behaviour.md` (unsupported function → 1; quantity, byte count or short
//! PDU → 3). Address ranges depend on the tables and are checked by the
//! dispatcher (→ 2).

use super::{be_u16, Bits, ExceptionCode, FunctionCode, Words};

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

const ON: u16 = 0xFF00;
const OFF: u16 = 0x0000;

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
}

impl<'a> Request<'a> {
    /// Parses a request PDU (function code first).
    ///
    /// Never panics. Bytes after the last field a function needs are
    /// ignored. An unsupported function code, including an empty PDU and
    /// 0x80..=0xFF, is [`ExceptionCode::IllegalFunction`]; a PDU too short
    /// for its function or a value outside the protocol's limits is
    /// [`ExceptionCode::IllegalDataValue`]; an MEI type other than 0x0E is
    /// [`ExceptionCode::IllegalDataAddress`] (as pyModbusTCP).
    pub fn parse(pdu: &'a [u8]) -> Result<Request<'a>, ExceptionCode> {
        let Some((&function, data)) = pdu.split_first() else {
            return Err(ExceptionCode::IllegalFunction);
        };
        let word = |at: usize| be_u16(data, at).ok_or(ExceptionCode::IllegalDataValue);
        let quantity_in = |at: usize, max: u16| -> Result<u16, ExceptionCode> {
            let q = word(at)?;
            if (1..=max).contains(&q) {
                Ok(q)
            } else {
                Err(ExceptionCode::IllegalDataValue)
            }
        };
        let request = match FunctionCode::from(function) {
            FunctionCode::ReadCoils => Request::ReadCoils {
                address: word(0)?,
                quantity: quantity_in(2, MAX_READ_BITS)?,
            },
            FunctionCode::ReadDiscreteInputs => Request::ReadDiscreteInputs {
                address: word(0)?,
                quantity: quantity_in(2, MAX_READ_BITS)?,
            },
            FunctionCode::ReadHoldingRegisters => Request::ReadHoldingRegisters {
                address: word(0)?,
                quantity: quantity_in(2, MAX_READ_REGISTERS)?,
            },
            FunctionCode::ReadInputRegisters => Request::ReadInputRegisters {
                address: word(0)?,
                quantity: quantity_in(2, MAX_READ_REGISTERS)?,
            },
            FunctionCode::WriteSingleCoil => Request::WriteSingleCoil {
                address: word(0)?,
                value: match word(2)? {
                    ON => true,
                    OFF => false,
                    _ => return Err(ExceptionCode::IllegalDataValue),
                },
            },
            FunctionCode::WriteSingleRegister => Request::WriteSingleRegister {
                address: word(0)?,
                value: word(2)?,
            },
            FunctionCode::WriteMultipleCoils => {
                let address = word(0)?;
                let quantity = quantity_in(2, MAX_WRITE_BITS)?;
                let byte_count = usize::from(*data.get(4).ok_or(ExceptionCode::IllegalDataValue)?);
                // A byte count larger than needed is accepted (as pyModbusTCP).
                if byte_count < usize::from(quantity).div_ceil(8) {
                    return Err(ExceptionCode::IllegalDataValue);
                }
                let bytes = data
                    .get(5..5 + byte_count)
                    .ok_or(ExceptionCode::IllegalDataValue)?;
                let values = Bits::new(bytes, usize::from(quantity))
                    .ok_or(ExceptionCode::IllegalDataValue)?;
                Request::WriteMultipleCoils { address, values }
            }
            FunctionCode::WriteMultipleRegisters => {
                let address = word(0)?;
                let quantity = quantity_in(2, MAX_WRITE_REGISTERS)?;
                let values = words_with_count(data, 4, quantity)?;
                Request::WriteMultipleRegisters { address, values }
            }
            FunctionCode::MaskWriteRegister => Request::MaskWriteRegister {
                address: word(0)?,
                and_mask: word(2)?,
                or_mask: word(4)?,
            },
            FunctionCode::ReadWriteMultipleRegisters => {
                let read_address = word(0)?;
                let read_quantity = quantity_in(2, MAX_READ_REGISTERS)?;
                let write_address = word(4)?;
                let write_quantity = quantity_in(6, MAX_READ_WRITE_REGISTERS)?;
                let values = words_with_count(data, 8, write_quantity)?;
                Request::ReadWriteMultipleRegisters {
                    read_address,
                    read_quantity,
                    write_address,
                    values,
                }
            }
            FunctionCode::EncapsulatedInterfaceTransport => {
                let mei_type = *data.first().ok_or(ExceptionCode::IllegalDataValue)?;
                if mei_type != MEI_READ_DEVICE_ID {
                    return Err(ExceptionCode::IllegalDataAddress);
                }
                let read_code = *data.get(1).ok_or(ExceptionCode::IllegalDataValue)?;
                let object_id = *data.get(2).ok_or(ExceptionCode::IllegalDataValue)?;
                if !(1..=4).contains(&read_code) {
                    return Err(ExceptionCode::IllegalDataValue);
                }
                Request::ReadDeviceIdentification {
                    read_code,
                    object_id,
                }
            }
            FunctionCode::Unknown(_) => return Err(ExceptionCode::IllegalFunction),
        };
        Ok(request)
    }

    /// The function code of this request.
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
        }
    }
}

/// A byte count at `data[at]` that must equal `2 * quantity`, followed by
/// that many bytes.
fn words_with_count(data: &[u8], at: usize, quantity: u16) -> Result<Words<'_>, ExceptionCode> {
    let byte_count = usize::from(*data.get(at).ok_or(ExceptionCode::IllegalDataValue)?);
    if byte_count != 2 * usize::from(quantity) {
        return Err(ExceptionCode::IllegalDataValue);
    }
    let bytes = data
        .get(at + 1..at + 1 + byte_count)
        .ok_or(ExceptionCode::IllegalDataValue)?;
    Words::new(bytes).ok_or(ExceptionCode::IllegalDataValue)
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
        for f in [
            0x00, 0x07, 0x08, 0x11, 0x14, 0x18, 0x2A, 0x7F, 0x80, 0x83, 0xFF,
        ] {
            assert_eq!(
                parse(&[f, 0, 0, 0, 1]),
                Err(IllegalFunction),
                "function {f:#04x}"
            );
            assert_eq!(parse(&[f]), Err(IllegalFunction), "bare function {f:#04x}");
        }
    }

    #[test]
    fn bare_supported_function_is_exception_3() {
        for f in [
            0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x0F, 0x10, 0x16, 0x17, 0x2B,
        ] {
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
