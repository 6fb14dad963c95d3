//! Modbus RTU (feature `rtu`): frames of a server address, a PDU and a
//! CRC-16, on a serial line ("Modbus over Serial Line V1.02", in the
//! public repository clean-energy-tools/modbus-wiki,
//! `raw/MODBUS/modbusoverserial.md`) or on a TCP stream (RTU over TCP).
//!
//! [`RtuEngine`] is the sans-IO port: it finds the frames (by silent
//! intervals on a serial line, [`RtuTiming`]; by length on a stream),
//! checks their CRC ([`crc16`]) and address, and answers them through the
//! same [`Respond`](crate::Respond) dispatch, handler and storage as the
//! TCP [`Engine`](crate::Engine).

mod crc;
mod engine;
mod length;
mod timing;

pub use crc::{crc16, crc_matches};
pub use engine::{RtuConfig, RtuEngine, RtuFraming, MAX_RTU_ADU};
pub use timing::{RtuTiming, BITS_PER_CHAR, FIXED_TIMING_ABOVE_BAUD};
