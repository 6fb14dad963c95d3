//! Routing unit ids to data banks: one server in front of several devices
//! (a gateway, a simulator of a whole bus).

use crate::device_id::DeviceIdentification;
use crate::server_id::ServerId;
use crate::storage::{Bank, Banks, ChangeCallbacks, DataBank, NoCallbacks, Storage};

/// How one unit id identifies itself apart from the server: its own
/// device identification (FC 43/14) and report server id answer (FC 17).
/// A `None` falls back to the [`Service`](crate::Service)'s.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UnitIdentity {
    /// Served by FC 43/14 for this unit id.
    pub device_identification: Option<DeviceIdentification>,
    /// Served by FC 17 for this unit id.
    pub server_id: Option<ServerId>,
}

impl UnitIdentity {
    /// Nothing of its own: the service's identification and server id.
    #[must_use]
    pub const fn new() -> Self {
        UnitIdentity {
            device_identification: None,
            server_id: None,
        }
    }

    /// Sets the device identification (builder style).
    #[must_use]
    pub fn with_device_identification(mut self, id: DeviceIdentification) -> Self {
        self.device_identification = Some(id);
        self
    }

    /// Sets the report server id answer (builder style).
    #[must_use]
    pub fn with_server_id(mut self, id: ServerId) -> Self {
        self.server_id = Some(id);
        self
    }
}

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

/// One data bank per routed unit id, and a default bank for every other unit
/// id: the [`Banks`] of a gateway or of a simulated bus.
///
/// Give it to [`Service::new`](crate::Service::new) in place of a single
/// [`DataBank`]: the service picks the bank of each request's unit id, and
/// the handler (any [`DataHandler`](crate::DataHandler)) serves it. To refuse
/// the unit ids that are not routed, combine it with
/// [`UnitFilter`](crate::UnitFilter) (exception 0x0B or silence). Each bank's
/// change callbacks fire for its own writes. The application reaches the
/// banks through [`bank_mut`](Self::bank_mut) (on a desktop server:
/// `server.with_data_bank(|router| ...)`).
///
/// Up to `I` unit ids (none by default, so a router without them costs no
/// room) can also have a [`UnitIdentity`]: their own device identification
/// and report server id, through [`identify`](Self::identify). The others
/// answer with the service's.
///
/// ```
/// use modbus_device::{DataBank, FixedStorage, Service, UnitFilter, UnitRouter, UnitSet};
///
/// type Tables = FixedStorage<0, 0, 8, 0>;
/// let mut router = UnitRouter::<Tables, _, 2>::new(DataBank::new(Tables::filled(false, false, 1, 0)))
///     .route(2, DataBank::new(Tables::filled(false, false, 2, 0)))?
///     .route(3, DataBank::new(Tables::filled(false, false, 3, 0)))?;
/// router.bank_mut(3).set_holding_registers(0, &[33]).unwrap();
/// // Units 0 and 1 use the default bank; 2 and 3 their own; others get 0x0B.
/// let service = Service::new(router)
///     .with_unit_filter(UnitFilter::OnlyWithException(UnitSet::of(&[0, 1, 2, 3])));
/// # let _ = service;
/// # Ok::<(), modbus_device::RouteError>(())
/// ```
#[derive(Debug)]
pub struct UnitRouter<S, C = NoCallbacks, const N: usize = 8, const I: usize = 0> {
    default: DataBank<S, C>,
    routes: heapless::Vec<(u8, DataBank<S, C>), N>,
    identities: heapless::Vec<(u8, UnitIdentity), I>,
}

impl<S: Storage, C: ChangeCallbacks, const N: usize, const I: usize> UnitRouter<S, C, N, I> {
    /// No routes yet: `default` serves every unit id.
    pub const fn new(default: DataBank<S, C>) -> Self {
        UnitRouter {
            default,
            routes: heapless::Vec::new(),
            identities: heapless::Vec::new(),
        }
    }

    /// Serves `unit_id` from `bank` (builder style).
    ///
    /// # Errors
    /// [`RouteError::Duplicate`] if `unit_id` has a bank already,
    /// [`RouteError::Full`] if all `N` routes are taken.
    pub fn route(mut self, unit_id: u8, bank: DataBank<S, C>) -> Result<Self, RouteError> {
        if self.routes.iter().any(|(unit, _)| *unit == unit_id) {
            return Err(RouteError::Duplicate { unit_id });
        }
        self.routes
            .push((unit_id, bank))
            .map_err(|_| RouteError::Full { unit_id })?;
        Ok(self)
    }

    /// The bank that serves `unit_id`: its own if routed, else the default.
    pub fn bank_mut(&mut self, unit_id: u8) -> &mut DataBank<S, C> {
        match self.routes.iter_mut().find(|(unit, _)| *unit == unit_id) {
            Some((_, bank)) => bank,
            None => &mut self.default,
        }
    }

    /// True if `unit_id` has a bank of its own.
    #[must_use]
    pub fn is_routed(&self, unit_id: u8) -> bool {
        self.routes.iter().any(|(unit, _)| *unit == unit_id)
    }

    /// Gives `unit_id` its own device identification and server id (builder
    /// style); whether it has a bank of its own does not matter.
    ///
    /// ```
    /// use modbus_device::{DataBank, FixedStorage, ServerId, UnitIdentity, UnitRouter};
    ///
    /// type Tables = FixedStorage<0, 0, 8, 0>;
    /// // 2 routes, 1 identity.
    /// let router = UnitRouter::<Tables, _, 2, 1>::new(DataBank::new(Tables::new()))
    ///     .identify(3, UnitIdentity::new().with_server_id(ServerId::new(&[3])?))?;
    /// assert_eq!(router.identity(3).and_then(|i| i.server_id.as_ref()).map(ServerId::server_id), Some(&[3][..]));
    /// # Ok::<(), Box<dyn core::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`RouteError::Duplicate`] if `unit_id` has an identity already,
    /// [`RouteError::Full`] if all `I` are taken.
    pub fn identify(mut self, unit_id: u8, identity: UnitIdentity) -> Result<Self, RouteError> {
        if self.identity(unit_id).is_some() {
            return Err(RouteError::Duplicate { unit_id });
        }
        self.identities
            .push((unit_id, identity))
            .map_err(|_| RouteError::Full { unit_id })?;
        Ok(self)
    }

    /// The identity of `unit_id`, if it has one of its own.
    #[must_use]
    pub fn identity(&self, unit_id: u8) -> Option<&UnitIdentity> {
        let (_, identity) = self.identities.iter().find(|(unit, _)| *unit == unit_id)?;
        Some(identity)
    }

    /// The identity of `unit_id` to change while serving, if it has one of
    /// its own.
    pub fn identity_mut(&mut self, unit_id: u8) -> Option<&mut UnitIdentity> {
        let (_, identity) = self
            .identities
            .iter_mut()
            .find(|(unit, _)| *unit == unit_id)?;
        Some(identity)
    }
}

impl<S: Storage, C: ChangeCallbacks, const N: usize, const I: usize> Banks
    for UnitRouter<S, C, N, I>
{
    fn bank(&mut self, unit_id: u8) -> &mut dyn Bank {
        self.bank_mut(unit_id)
    }

    fn device_identification(&self, unit_id: u8) -> Option<&DeviceIdentification> {
        self.identity(unit_id)?.device_identification.as_ref()
    }

    fn server_id(&self, unit_id: u8) -> Option<&ServerId> {
        self.identity(unit_id)?.server_id.as_ref()
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
        service: &RefCell<Service<UnitRouter<Tables, NoCallbacks, 2>>>,
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
        let router = UnitRouter::new(bank(1))
            .route(2, bank(2))
            .unwrap()
            .route(3, bank(3))
            .unwrap();
        let service = RefCell::new(Service::new(router));
        assert_eq!(write_then_read(&service, 2, 22), (2, 2));
        assert_eq!(write_then_read(&service, 3, 33), (3, 3));
        assert_eq!(write_then_read(&service, 9, 99), (1, 1)); // not routed: the default bank
        let mut s = service.borrow_mut();
        let mut reg = [0; 2];
        s.data_bank
            .bank_mut(2)
            .get_holding_registers(0, &mut reg)
            .unwrap();
        assert_eq!(reg, [2, 22]);
        s.data_bank
            .bank_mut(3)
            .get_holding_registers(0, &mut reg)
            .unwrap();
        assert_eq!(reg, [3, 33]);
        s.data_bank
            .bank_mut(9)
            .get_holding_registers(0, &mut reg)
            .unwrap();
        assert_eq!(reg, [1, 99]);
        assert!(s.data_bank.is_routed(2) && !s.data_bank.is_routed(9));
    }

    #[test]
    fn routes_are_checked() {
        let router = UnitRouter::<Tables, NoCallbacks, 1>::new(bank(0))
            .route(2, bank(0))
            .unwrap();
        assert_eq!(
            router.route(2, bank(0)).unwrap_err(),
            RouteError::Duplicate { unit_id: 2 }
        );
        let router = UnitRouter::<Tables, NoCallbacks, 1>::new(bank(0))
            .route(2, bank(0))
            .unwrap();
        assert_eq!(
            router.route(3, bank(0)).unwrap_err(),
            RouteError::Full { unit_id: 3 }
        );
    }
}
