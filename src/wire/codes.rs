//! Function and exception codes as enums where every byte maps to a value.

/// Declares a `u8` protocol enum with an `Unknown(u8)` catch-all, so that
/// converting from a byte is total (smoltcp's `enum_with_unknown!`).
macro_rules! enum_with_unknown {
    (
        $(#[$enum_attr:meta])*
        pub enum $name:ident {
            $( $(#[$variant_attr:meta])* $variant:ident = $value:expr ),+ $(,)?
        }
    ) => {
        $(#[$enum_attr])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[cfg_attr(feature = "defmt", derive(defmt::Format))]
        #[non_exhaustive]
        pub enum $name {
            $( $(#[$variant_attr])* $variant, )+
            /// A code this crate has no name for, kept as received.
            Unknown(u8),
        }

        impl From<u8> for $name {
            fn from(value: u8) -> Self {
                match value {
                    $( $value => $name::$variant, )+
                    other => $name::Unknown(other),
                }
            }
        }

        impl From<$name> for u8 {
            fn from(value: $name) -> u8 {
                match value {
                    $( $name::$variant => $value, )+
                    $name::Unknown(other) => other,
                }
            }
        }
    };
}

enum_with_unknown! {
    /// A Modbus function code (the first byte of every PDU).
    pub enum FunctionCode {
        /// 0x01, read coils.
        ReadCoils = 0x01,
        /// 0x02, read discrete inputs.
        ReadDiscreteInputs = 0x02,
        /// 0x03, read holding registers.
        ReadHoldingRegisters = 0x03,
        /// 0x04, read input registers.
        ReadInputRegisters = 0x04,
        /// 0x05, write single coil.
        WriteSingleCoil = 0x05,
        /// 0x06, write single register.
        WriteSingleRegister = 0x06,
        /// 0x0F, write multiple coils.
        WriteMultipleCoils = 0x0F,
        /// 0x10, write multiple registers.
        WriteMultipleRegisters = 0x10,
        /// 0x16, mask write register.
        MaskWriteRegister = 0x16,
        /// 0x17, read/write multiple registers.
        ReadWriteMultipleRegisters = 0x17,
        /// 0x2B, encapsulated interface transport (MEI); 0x2B/0x0E is read
        /// device identification.
        EncapsulatedInterfaceTransport = 0x2B,
        // FC 20, 21, 24
        /// 0x14, read file record.
        ReadFileRecord = 0x14,
        /// 0x15, write file record.
        WriteFileRecord = 0x15,
        /// 0x18, read FIFO queue.
        ReadFifoQueue = 0x18,
        // FC 8, 11, 17
        /// 0x08, diagnostics (sub-functions: echo, restart, counters).
        Diagnostics = 0x08,
        /// 0x0B, get comm event counter.
        GetCommEventCounter = 0x0B,
        /// 0x11, report server id (the specification's former "report
        /// slave id").
        #[doc(alias = "ReportSlaveId")]
        ReportServerId = 0x11,
    }
}

enum_with_unknown! {
    /// A Modbus exception code: the single data byte of an exception response.
    ///
    /// An exception is a normal response, not a failure of the server: data
    /// handlers return it in `Err` to refuse a request.
    #[doc(alias = "exp_code")]
    #[doc(alias = "ModbusExcept")]
    pub enum ExceptionCode {
        /// 0x01: the function code is not supported.
        #[doc(alias = "EXP_ILLEGAL_FUNCTION")]
        IllegalFunction = 0x01,
        /// 0x02: the address range is not available.
        #[doc(alias = "EXP_DATA_ADDRESS")]
        IllegalDataAddress = 0x02,
        /// 0x03: a value in the request (quantity, byte count, ...) is not allowed.
        #[doc(alias = "EXP_DATA_VALUE")]
        IllegalDataValue = 0x03,
        /// 0x04: an unrecoverable error while performing the action.
        #[doc(alias = "EXP_SLAVE_DEVICE_FAILURE")]
        ServerDeviceFailure = 0x04,
        /// 0x05: accepted, processing takes long.
        #[doc(alias = "EXP_ACKNOWLEDGE")]
        Acknowledge = 0x05,
        /// 0x06: busy with a long command, retry later.
        #[doc(alias = "EXP_SLAVE_DEVICE_BUSY")]
        ServerDeviceBusy = 0x06,
        /// 0x08: memory parity error.
        #[doc(alias = "EXP_MEMORY_PARITY_ERROR")]
        MemoryParityError = 0x08,
        /// 0x0A: a gateway has no path to the target.
        #[doc(alias = "EXP_GATEWAY_PATH_UNAVAILABLE")]
        GatewayPathUnavailable = 0x0A,
        /// 0x0B: the gateway's target device did not respond.
        #[doc(alias = "EXP_GATEWAY_TARGET_DEVICE_FAILED_TO_RESPOND")]
        GatewayTargetDeviceFailedToRespond = 0x0B,
    }
}

impl core::fmt::Display for ExceptionCode {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let text = match self {
            ExceptionCode::IllegalFunction => "illegal function",
            ExceptionCode::IllegalDataAddress => "illegal data address",
            ExceptionCode::IllegalDataValue => "illegal data value",
            ExceptionCode::ServerDeviceFailure => "server device failure",
            ExceptionCode::Acknowledge => "acknowledge",
            ExceptionCode::ServerDeviceBusy => "server device busy",
            ExceptionCode::MemoryParityError => "memory parity error",
            ExceptionCode::GatewayPathUnavailable => "gateway path unavailable",
            ExceptionCode::GatewayTargetDeviceFailedToRespond => {
                "gateway target device failed to respond"
            }
            ExceptionCode::Unknown(_) => "unknown exception",
        };
        write!(f, "Modbus exception 0x{:02X} ({})", u8::from(*self), text)
    }
}

impl core::error::Error for ExceptionCode {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_byte_round_trips() {
        for byte in 0..=u8::MAX {
            assert_eq!(u8::from(FunctionCode::from(byte)), byte);
            assert_eq!(u8::from(ExceptionCode::from(byte)), byte);
        }
        assert_eq!(
            FunctionCode::from(0x17),
            FunctionCode::ReadWriteMultipleRegisters
        );
        assert_eq!(
            ExceptionCode::from(0x0B),
            ExceptionCode::GatewayTargetDeviceFailedToRespond
        );
        assert_eq!(FunctionCode::from(0x80), FunctionCode::Unknown(0x80));
    }
}
