//! What function 0x11 (report server id, the former "report slave id")
//! answers: a server id, the run indicator status and additional data
//! (Modbus Application Protocol Specification V1.1b3, section 6.13).

use crate::wire::MAX_PDU_LEN;

/// The most bytes a report server id response can carry after its byte
/// count: server id, run indicator status and additional data together
/// (a 253-byte PDU less the function code and the byte count).
pub const MAX_SERVER_ID_BYTES: usize = MAX_PDU_LEN - 2;

/// The run indicator status byte (section 6.13): 0xFF ON.
const RUN_ON: u8 = 0xFF;
/// The run indicator status byte: 0x00 OFF.
const RUN_OFF: u8 = 0x00;

/// The server id, run indicator and additional data together would not fit
/// one response ([`MAX_SERVER_ID_BYTES`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct ServerIdTooLong {
    /// Bytes that were asked for in all (server id, run indicator status
    /// and additional data).
    pub len: usize,
}

impl core::fmt::Display for ServerIdTooLong {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(
            f,
            "report server id data of {} bytes exceeds {MAX_SERVER_ID_BYTES}",
            self.len
        )
    }
}

impl core::error::Error for ServerIdTooLong {}

/// The answer to function 0x11, report server id: the bytes after the
/// response's byte count, kept as they go on the wire (no heap).
///
/// The specification leaves the server id's length and the additional
/// data's content to the device; the run indicator status is 0xFF (ON) or
/// 0x00 (OFF). A new `ServerId` runs (0xFF), as libmodbus's server reports
/// and its unit test expects.
///
/// A [`Service`](crate::Service) without one answers function 0x11 with
/// exception 1 (illegal function), as pyModbusTCP, which has no function
/// 0x11. A [`UnitRouter`](crate::UnitRouter) can give a unit id its own.
///
/// ```
/// use modbus_device::{DataBank, Service, ServerId};
///
/// let id = ServerId::new(&[0x2A])?.with_additional_data(b"pump 3 v1.2")?;
/// assert_eq!(id.as_bytes()[..2], [0x2A, 0xFF]); // id, then "running"
/// let service = Service::new(DataBank::default()).with_server_id(id);
/// # let _ = service;
/// # Ok::<(), modbus_device::ServerIdTooLong>(())
/// ```
#[doc(alias = "report_slave_id")]
#[doc(alias = "Report Slave ID")]
#[doc(alias = "Report Server ID")]
#[derive(Clone)]
pub struct ServerId {
    /// Server id, run indicator status, additional data.
    bytes: [u8; MAX_SERVER_ID_BYTES],
    /// Bytes of `bytes` in use.
    len: u8,
    /// Where the run indicator status is (the server id's length).
    run_at: u8,
}

/// Equal when the same bytes go on the wire with the server id ending at
/// the same place (bytes past the end, left by a shorter additional data,
/// do not count).
impl PartialEq for ServerId {
    fn eq(&self, other: &Self) -> bool {
        self.run_at == other.run_at && self.as_bytes() == other.as_bytes()
    }
}

impl Eq for ServerId {}

impl core::fmt::Debug for ServerId {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("ServerId")
            .field("server_id", &self.server_id())
            .field("run_indicator", &self.run_indicator())
            .field("additional_data", &self.additional_data())
            .finish()
    }
}

#[cfg(feature = "defmt")]
impl defmt::Format for ServerId {
    fn format(&self, f: defmt::Formatter<'_>) {
        defmt::write!(
            f,
            "ServerId {{ server_id: {=[u8]}, run_indicator: {}, additional_data: {=[u8]} }}",
            self.server_id(),
            self.run_indicator(),
            self.additional_data()
        );
    }
}

impl ServerId {
    /// `server_id` (device specific, possibly empty), running, no
    /// additional data.
    ///
    /// # Errors
    /// [`ServerIdTooLong`] if `server_id` and the run indicator do not fit
    /// [`MAX_SERVER_ID_BYTES`].
    pub fn new(server_id: &[u8]) -> Result<Self, ServerIdTooLong> {
        let len = server_id.len() + 1;
        if len > MAX_SERVER_ID_BYTES {
            return Err(ServerIdTooLong { len });
        }
        let mut bytes = [0; MAX_SERVER_ID_BYTES];
        bytes[..server_id.len()].copy_from_slice(server_id);
        bytes[server_id.len()] = RUN_ON;
        // Both below MAX_SERVER_ID_BYTES (251).
        Ok(ServerId {
            bytes,
            len: len as u8,
            run_at: server_id.len() as u8,
        })
    }

    /// Sets the run indicator status (builder style): `true` is 0xFF (ON),
    /// `false` 0x00 (OFF).
    #[must_use]
    pub fn with_run_indicator(mut self, on: bool) -> Self {
        self.set_run_indicator(on);
        self
    }

    /// Sets the additional data that follows the run indicator (builder
    /// style), replacing any set before.
    ///
    /// # Errors
    /// [`ServerIdTooLong`] if the whole would not fit
    /// [`MAX_SERVER_ID_BYTES`]; nothing changes then.
    pub fn with_additional_data(mut self, data: &[u8]) -> Result<Self, ServerIdTooLong> {
        self.set_additional_data(data)?;
        Ok(self)
    }

    /// Sets the run indicator status: `true` is 0xFF (ON), `false` 0x00 (OFF).
    pub fn set_run_indicator(&mut self, on: bool) {
        self.bytes[usize::from(self.run_at)] = if on { RUN_ON } else { RUN_OFF };
    }

    /// Replaces the additional data.
    ///
    /// # Errors
    /// [`ServerIdTooLong`] if the whole would not fit
    /// [`MAX_SERVER_ID_BYTES`]; nothing changes then.
    pub fn set_additional_data(&mut self, data: &[u8]) -> Result<(), ServerIdTooLong> {
        let start = usize::from(self.run_at) + 1;
        let len = start + data.len();
        let room = self
            .bytes
            .get_mut(start..len)
            .ok_or(ServerIdTooLong { len })?;
        room.copy_from_slice(data);
        self.len = len as u8; // <= MAX_SERVER_ID_BYTES
        Ok(())
    }

    /// The server id.
    #[must_use]
    pub fn server_id(&self) -> &[u8] {
        &self.bytes[..usize::from(self.run_at)]
    }

    /// The run indicator status: `true` for ON (0xFF), `false` for OFF.
    #[must_use]
    pub fn run_indicator(&self) -> bool {
        self.bytes[usize::from(self.run_at)] == RUN_ON
    }

    /// The additional data.
    #[must_use]
    pub fn additional_data(&self) -> &[u8] {
        &self.bytes[usize::from(self.run_at) + 1..usize::from(self.len)]
    }

    /// The bytes after the response's byte count, as sent: server id, run
    /// indicator status, additional data
    /// ([`Response::ReportServerId`](crate::wire::Response::ReportServerId)'s
    /// `data`).
    #[must_use]
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }

    /// Splits a report server id response's data (`Response::ReportServerId`)
    /// whose server id is `server_id_len` bytes long, as the client knows
    /// from the device's documentation.
    ///
    /// # Errors
    /// [`ServerIdTooLong`] if `data` is longer than [`MAX_SERVER_ID_BYTES`];
    /// `None` inside `Ok` if `data` has no run indicator status after
    /// `server_id_len` bytes, or one other than 0x00 or 0xFF.
    pub fn parse(data: &[u8], server_id_len: usize) -> Result<Option<Self>, ServerIdTooLong> {
        if data.len() > MAX_SERVER_ID_BYTES {
            return Err(ServerIdTooLong { len: data.len() });
        }
        let (Some(server_id), Some(&run), Some(additional)) = (
            data.get(..server_id_len),
            data.get(server_id_len),
            data.get(server_id_len + 1..),
        ) else {
            return Ok(None);
        };
        if run != RUN_ON && run != RUN_OFF {
            return Ok(None);
        }
        ServerId::new(server_id)?
            .with_run_indicator(run == RUN_ON)
            .with_additional_data(additional)
            .map(Some)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_is_id_run_indicator_additional_data() {
        let id = ServerId::new(&[1, 2])
            .unwrap()
            .with_additional_data(b"abc")
            .unwrap();
        assert_eq!(id.as_bytes(), &[1, 2, 0xFF, b'a', b'b', b'c']);
        let id = id.with_run_indicator(false);
        assert_eq!(id.as_bytes(), &[1, 2, 0x00, b'a', b'b', b'c']);
        assert_eq!(
            (id.server_id(), id.run_indicator(), id.additional_data()),
            (&[1u8, 2][..], false, &b"abc"[..])
        );
        // Replacing the additional data shortens it too.
        let id = id.with_additional_data(b"z").unwrap();
        assert_eq!(id.as_bytes(), &[1, 2, 0x00, b'z']);
        assert_eq!(ServerId::parse(id.as_bytes(), 2), Ok(Some(id.clone())));
        assert_eq!(ServerId::parse(id.as_bytes(), 4), Ok(None));
        assert_eq!(ServerId::parse(&[1, 0x12], 1), Ok(None));
    }

    #[test]
    fn size_is_bounded_by_one_pdu() {
        let id = ServerId::new(&[7; MAX_SERVER_ID_BYTES - 1]).unwrap();
        assert_eq!(id.as_bytes().len(), MAX_SERVER_ID_BYTES);
        assert_eq!(
            ServerId::new(&[7; MAX_SERVER_ID_BYTES]),
            Err(ServerIdTooLong {
                len: MAX_SERVER_ID_BYTES + 1
            })
        );
        let id = ServerId::new(&[7; 10]).unwrap();
        let full = [0; MAX_SERVER_ID_BYTES - 11];
        assert!(id.clone().with_additional_data(&full).is_ok());
        let err = id
            .clone()
            .with_additional_data(&[0; MAX_SERVER_ID_BYTES - 10]);
        assert_eq!(
            err,
            Err(ServerIdTooLong {
                len: MAX_SERVER_ID_BYTES + 1
            })
        );
        assert_eq!(
            ServerId::parse(&[0; MAX_SERVER_ID_BYTES + 1], 0),
            Err(ServerIdTooLong {
                len: MAX_SERVER_ID_BYTES + 1
            })
        );
    }
}
