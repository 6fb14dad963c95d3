//! Routing unit ids to data banks: one server in front of several devices
//! (a gateway, a simulator of a whole bus).

use crate::handler::DataHandler;
use crate::session::SessionInfo;
use crate::storage::{ChangeCallbacks, DataBank, NoCallbacks, Storage};
use crate::wire::ExceptionCode;

/// A unit id can be routed only once, and the router has room for `N`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum RouteError {
    /// This unit id already has a bank.
    Duplicate {
        /// The unit id.
        unit_id: u8,
    },
    /// All `N` routes are taken.
    Full {
        /// The unit id that did not fit.
        unit_id: u8,
    },
}

impl core::fmt::Display for RouteError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            RouteError::Duplicate { unit_id } => write!(f, "unit id {unit_id} is routed twice"),
            RouteError::Full { unit_id } => write!(f, "no room to route unit id {unit_id}"),
        }
    }
}

impl core::error::Error for RouteError {}

/// A [`DataHandler`] that serves each routed unit id from its own data bank,
/// and every other unit id from the service's bank.
///
/// To refuse the unit ids that are neither routed nor meant for the
/// service's bank, combine it with [`UnitFilter`](crate::UnitFilter) (exception
/// 0x0B or silence). Each bank's change callbacks fire for its own writes.
/// The application reaches the routed banks through
/// [`bank_mut`](Self::bank_mut) (on a desktop server: `server.with_data_hdl`).
///
/// ```
/// use modbus_server::{DataBank, FixedStorage, Service, UnitFilter, UnitRouter, UnitSet};
///
/// type Tables = FixedStorage<0, 0, 8, 0>;
/// let router = UnitRouter::<Tables, _, 2>::new()
///     .route(2, DataBank::new(Tables::filled(false, false, 2, 0)))?
///     .route(3, DataBank::new(Tables::filled(false, false, 3, 0)))?;
/// // Units 0 and 1 use the service's own bank; 2 and 3 their own; others get 0x0B.
/// let service = Service::with_handler(DataBank::new(Tables::filled(false, false, 1, 0)), router)
///     .with_unit_filter(UnitFilter::OnlyWithException(UnitSet::of(&[0, 1, 2, 3])));
/// # let _ = service;
/// # Ok::<(), modbus_server::RouteError>(())
/// ```
#[derive(Debug)]
pub struct UnitRouter<S, C = NoCallbacks, const N: usize = 8> {
    routes: heapless::Vec<(u8, DataBank<S, C>), N>,
}

impl<S: Storage, C: ChangeCallbacks, const N: usize> Default for UnitRouter<S, C, N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<S: Storage, C: ChangeCallbacks, const N: usize> UnitRouter<S, C, N> {
    /// No routes: every unit id is served by the service's bank.
    pub const fn new() -> Self {
        UnitRouter {
            routes: heapless::Vec::new(),
        }
    }

    /// Serves `unit_id` from `bank` (builder style).
    pub fn route(mut self, unit_id: u8, bank: DataBank<S, C>) -> Result<Self, RouteError> {
        if self.routes.iter().any(|(unit, _)| *unit == unit_id) {
            return Err(RouteError::Duplicate { unit_id });
        }
        self.routes
            .push((unit_id, bank))
            .map_err(|_| RouteError::Full { unit_id })?;
        Ok(self)
    }

    /// The bank routed for `unit_id`, if any.
    pub fn bank_mut(&mut self, unit_id: u8) -> Option<&mut DataBank<S, C>> {
        self.routes
            .iter_mut()
            .find(|(unit, _)| *unit == unit_id)
            .map(|(_, bank)| bank)
    }

    fn pick<'a>(
        &'a mut self,
        own: &'a mut DataBank<S, C>,
        srv_info: &SessionInfo,
    ) -> &'a mut DataBank<S, C> {
        match self
            .routes
            .iter_mut()
            .find(|(unit, _)| *unit == srv_info.unit_id)
        {
            Some((_, bank)) => bank,
            None => own,
        }
    }
}

impl<S: Storage, C: ChangeCallbacks, const N: usize> DataHandler<S, C> for UnitRouter<S, C, N> {
    fn read_coils(
        &mut self,
        bank: &mut DataBank<S, C>,
        address: u16,
        out: &mut [bool],
        srv_info: &SessionInfo,
    ) -> Result<(), ExceptionCode> {
        self.pick(bank, srv_info).read_coils(address, out, srv_info)
    }

    fn read_d_inputs(
        &mut self,
        bank: &mut DataBank<S, C>,
        address: u16,
        out: &mut [bool],
        srv_info: &SessionInfo,
    ) -> Result<(), ExceptionCode> {
        self.pick(bank, srv_info)
            .read_d_inputs(address, out, srv_info)
    }

    fn read_h_regs(
        &mut self,
        bank: &mut DataBank<S, C>,
        address: u16,
        out: &mut [u16],
        srv_info: &SessionInfo,
    ) -> Result<(), ExceptionCode> {
        self.pick(bank, srv_info)
            .read_h_regs(address, out, srv_info)
    }

    fn read_i_regs(
        &mut self,
        bank: &mut DataBank<S, C>,
        address: u16,
        out: &mut [u16],
        srv_info: &SessionInfo,
    ) -> Result<(), ExceptionCode> {
        self.pick(bank, srv_info)
            .read_i_regs(address, out, srv_info)
    }

    fn write_coils(
        &mut self,
        bank: &mut DataBank<S, C>,
        address: u16,
        bits_l: &[bool],
        srv_info: &SessionInfo,
    ) -> Result<(), ExceptionCode> {
        self.pick(bank, srv_info)
            .write_coils(address, bits_l, srv_info)
    }

    fn write_h_regs(
        &mut self,
        bank: &mut DataBank<S, C>,
        address: u16,
        words_l: &[u16],
        srv_info: &SessionInfo,
    ) -> Result<(), ExceptionCode> {
        self.pick(bank, srv_info)
            .write_h_regs(address, words_l, srv_info)
    }

    fn mask_write_h_reg(
        &mut self,
        bank: &mut DataBank<S, C>,
        address: u16,
        and_mask: u16,
        or_mask: u16,
        srv_info: &SessionInfo,
    ) -> Result<(), ExceptionCode> {
        self.pick(bank, srv_info)
            .mask_write_h_reg(address, and_mask, or_mask, srv_info)
    }

    fn read_write_h_regs(
        &mut self,
        bank: &mut DataBank<S, C>,
        read_address: u16,
        out: &mut [u16],
        write_address: u16,
        words_l: &[u16],
        srv_info: &SessionInfo,
    ) -> Result<(), ExceptionCode> {
        self.pick(bank, srv_info).read_write_h_regs(
            read_address,
            out,
            write_address,
            words_l,
            srv_info,
        )
    }
}

#[cfg(test)]
mod tests {
    use core::cell::RefCell;

    use super::*;
    use crate::{Engine, EngineConfig, FixedStorage, Instant, Service};

    type Tables = FixedStorage<1, 1, 4, 4>;

    fn bank(value: u16) -> DataBank<Tables> {
        DataBank::new(Tables::filled(false, false, value, 0))
    }

    /// Sends FC 16 then FC 3 for `unit` and returns the register read back.
    fn write_then_read(
        service: &RefCell<Service<Tables, UnitRouter<Tables, NoCallbacks, 2>>>,
        unit: u8,
        value: u16,
    ) -> (u16, u16) {
        let mut engine = Engine::<260, 600>::new(EngineConfig::default(), None, Instant::ZERO);
        let [hi, lo] = value.to_be_bytes();
        let read = [0, 1, 0, 0, 0, 6, unit, 0x03, 0, 0, 0, 1];
        let write = [0, 2, 0, 0, 0, 9, unit, 0x10, 0, 1, 0, 1, 2, hi, lo];
        let mut before = 0;
        for (i, frame) in [&read[..], &write[..], &read[..]].into_iter().enumerate() {
            engine.input_buffer()[..frame.len()].copy_from_slice(frame);
            engine.handle_input(frame.len(), Instant::ZERO);
            let out = engine.poll_output(service).unwrap();
            if i == 0 {
                before = u16::from_be_bytes([out[9], out[10]]);
            }
            if i == 2 {
                return (before, u16::from_be_bytes([out[9], out[10]]));
            }
        }
        unreachable!()
    }

    #[test]
    fn each_routed_unit_has_its_own_bank() {
        let router = UnitRouter::new()
            .route(2, bank(2))
            .unwrap()
            .route(3, bank(3))
            .unwrap();
        let service = RefCell::new(Service::with_handler(bank(1), router));
        assert_eq!(write_then_read(&service, 2, 22), (2, 2));
        assert_eq!(write_then_read(&service, 3, 33), (3, 3));
        assert_eq!(write_then_read(&service, 9, 99), (1, 1)); // not routed: the service's bank
        let mut s = service.borrow_mut();
        let mut reg = [0; 2];
        s.data_hdl
            .bank_mut(2)
            .unwrap()
            .get_holding_registers(0, &mut reg)
            .unwrap();
        assert_eq!(reg, [2, 22]);
        s.data_hdl
            .bank_mut(3)
            .unwrap()
            .get_holding_registers(0, &mut reg)
            .unwrap();
        assert_eq!(reg, [3, 33]);
        s.data_bank.get_holding_registers(0, &mut reg).unwrap();
        assert_eq!(reg, [1, 99]);
    }

    #[test]
    fn routes_are_checked() {
        let router = UnitRouter::<Tables, NoCallbacks, 1>::new()
            .route(2, bank(0))
            .unwrap();
        assert_eq!(
            router.route(2, bank(0)).unwrap_err(),
            RouteError::Duplicate { unit_id: 2 }
        );
        let router = UnitRouter::<Tables, NoCallbacks, 1>::new()
            .route(2, bank(0))
            .unwrap();
        assert_eq!(
            router.route(3, bank(0)).unwrap_err(),
            RouteError::Full { unit_id: 3 }
        );
    }
}
