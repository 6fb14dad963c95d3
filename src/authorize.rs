//! Role-based authorization (Modbus/TCP Security, `MB-TCP-Security-v36_2021-07-30`,
//! section 8.4): the [`Authorize`] hook the [`Service`](crate::Service) asks
//! before it serves any request, and [`RoleMap`], a configurable rules
//! database for it.
//!
//! The specification leaves the algorithm and the rules to the device
//! vendor (R-24, R-25): the hook sees the client's role, the unit id, the
//! function code and the address ranges, and answers allow or deny. A deny
//! is answered with exception 01, illegal function (R-31), before the
//! request reaches `ext_engine` or the handler, so a denied write changes
//! nothing.

use alloc::boxed::Box;
use alloc::collections::BTreeMap;
use alloc::string::String;
use alloc::vec::Vec;

use crate::service::UnitSet;
use crate::session::{ClientIdentity, SessionInfo};
use crate::wire::{FunctionCode, Request};

/// `count` consecutive addresses from `start` of one table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AddressRange {
    /// The first address.
    pub start: u16,
    /// How many addresses (at least 1 in a valid request).
    pub count: u16,
}

impl AddressRange {
    /// The last address (as `u32`: a range may end past 0xFFFF in a request
    /// the handler will refuse).
    #[must_use]
    pub fn last(&self) -> u32 {
        u32::from(self.start) + u32::from(self.count.max(1)) - 1
    }

    /// True if `other` lies wholly inside this range.
    #[must_use]
    pub fn covers(&self, other: &AddressRange) -> bool {
        other.start >= self.start && other.last() <= self.last()
    }
}

/// One request, as the authorization sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Access<'a> {
    /// The authenticated client; `None` on a connection without
    /// authentication (plain Modbus TCP).
    pub identity: Option<ClientIdentity<'a>>,
    /// The request's unit id.
    pub unit_id: u8,
    /// The request's function code.
    pub function_code: FunctionCode,
    /// The addresses the request reads (its table follows from the
    /// function code); `None` for functions without one (FC 8, 43, a
    /// malformed request).
    pub read: Option<AddressRange>,
    /// The addresses the request writes (FC 5, 6, 15, 16, 22, 23).
    pub write: Option<AddressRange>,
}

impl<'a> Access<'a> {
    /// The access of the request `pdu` (function code first) in `session`.
    /// A request that does not parse has no ranges: the handler answers
    /// its exception if it is allowed.
    #[must_use]
    pub fn of(pdu: &[u8], session: &SessionInfo<'a>) -> Self {
        let (read, write) = Request::parse(pdu).map_or((None, None), |r| ranges(&r));
        Access {
            identity: session.identity,
            unit_id: session.unit_id,
            function_code: session.function_code,
            read,
            write,
        }
    }

    /// The client's role: `None` without authentication or for a
    /// certificate without a role (the NULL role, R-23).
    #[must_use]
    pub fn role(&self) -> Option<&'a str> {
        self.identity.and_then(|identity| identity.role)
    }
}

/// The read and write ranges of a request.
fn ranges(request: &Request<'_>) -> (Option<AddressRange>, Option<AddressRange>) {
    let range = |start: u16, count: usize| {
        Some(AddressRange {
            start,
            count: u16::try_from(count).unwrap_or(u16::MAX),
        })
    };
    match request {
        Request::ReadCoils { address, quantity }
        | Request::ReadDiscreteInputs { address, quantity }
        | Request::ReadHoldingRegisters { address, quantity }
        | Request::ReadInputRegisters { address, quantity } => {
            (range(*address, usize::from(*quantity)), None)
        }
        Request::WriteSingleCoil { address, .. } | Request::WriteSingleRegister { address, .. } => {
            (None, range(*address, 1))
        }
        Request::MaskWriteRegister { address, .. } => (range(*address, 1), range(*address, 1)),
        Request::WriteMultipleCoils { address, values } => (None, range(*address, values.len())),
        Request::WriteMultipleRegisters { address, values } => {
            (None, range(*address, values.len()))
        }
        Request::ReadWriteMultipleRegisters {
            read_address,
            read_quantity,
            write_address,
            values,
        } => (
            range(*read_address, usize::from(*read_quantity)),
            range(*write_address, values.len()),
        ),
        _ => (None, None),
    }
}

/// Decides whether a request may be served: the authorization function of
/// Modbus/TCP Security. Asked for every request, under the service's lock:
/// keep it quick.
///
/// Implemented for closures `Fn(&Access) -> bool`.
pub trait Authorize {
    /// True to serve the request; false answers it with exception 01.
    fn authorize(&self, access: &Access<'_>) -> bool;
}

impl<F: Fn(&Access<'_>) -> bool> Authorize for F {
    fn authorize(&self, access: &Access<'_>) -> bool {
        self(access)
    }
}

/// The authorization a [`Service`](crate::Service) holds: any [`Authorize`]
/// that can move between threads.
pub struct Authorizer(Box<dyn Authorize + Send>);

impl Authorizer {
    /// Wraps `authorize`.
    pub fn new(authorize: impl Authorize + Send + 'static) -> Self {
        Authorizer(Box::new(authorize))
    }

    /// Asks the wrapped authorization.
    #[inline]
    #[must_use]
    pub fn allows(&self, access: &Access<'_>) -> bool {
        self.0.authorize(access)
    }
}

impl core::fmt::Debug for Authorizer {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("Authorizer")
    }
}

/// A set of function codes, without a heap.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FunctionSet([u64; 4]);

impl FunctionSet {
    /// The codes listed.
    #[must_use]
    pub fn of(codes: &[u8]) -> Self {
        let mut set = FunctionSet::default();
        for &code in codes {
            set.0[usize::from(code / 64)] |= 1 << (code % 64);
        }
        set
    }

    /// True if `code` is in the set.
    #[must_use]
    pub fn contains(&self, code: u8) -> bool {
        self.0[usize::from(code / 64)] >> (code % 64) & 1 == 1
    }
}

/// What one role may do: the rights of a [`RoleMap`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Rights {
    /// The function codes the role may use.
    pub functions: FunctionSet,
    /// The unit ids it may address; `None`: every unit id.
    pub units: Option<UnitSet>,
    /// The addresses it may read or write, in any table: every range of a
    /// request must lie inside one of them. `None`: every address.
    pub ranges: Option<Vec<AddressRange>>,
}

impl Rights {
    /// Rights to use `functions`, on every unit id and address.
    #[must_use]
    pub fn functions(functions: &[u8]) -> Self {
        Rights {
            functions: FunctionSet::of(functions),
            units: None,
            ranges: None,
        }
    }

    /// Limits these rights to `units` (builder style).
    #[must_use]
    pub fn with_units(mut self, units: &[u8]) -> Self {
        self.units = Some(UnitSet::of(units));
        self
    }

    /// Limits these rights to `ranges` (builder style).
    #[must_use]
    pub fn with_ranges(mut self, ranges: Vec<AddressRange>) -> Self {
        self.ranges = Some(ranges);
        self
    }

    /// True if these rights allow `access`.
    #[must_use]
    pub fn allow(&self, access: &Access<'_>) -> bool {
        let inside = |range: &Option<AddressRange>| match (range, &self.ranges) {
            (None, _) | (_, None) => true,
            (Some(range), Some(allowed)) => allowed.iter().any(|a| a.covers(range)),
        };
        self.functions.contains(u8::from(access.function_code))
            && self
                .units
                .is_none_or(|units| units.contains(access.unit_id))
            && inside(&access.read)
            && inside(&access.write)
    }
}

/// A roles-to-rights rules database, configured by the user (R-26 to
/// R-28): no role is built in. A client whose role is not in the map, a
/// certificate without a role (the NULL role) and a client without
/// authentication are all denied.
///
/// ```
/// use modbus_device::authorize::{Access, Authorize, RoleMap, Rights};
/// use modbus_device::{ClientIdentity, FunctionCode, SessionInfo};
///
/// let mut roles = RoleMap::new();
/// roles.insert("viewer", Rights::functions(&[1, 2, 3, 4, 43]));
/// let viewer = ClientIdentity { subject: "CN=hmi", role: Some("viewer") };
/// let mut session = SessionInfo::local(FunctionCode::ReadHoldingRegisters);
/// session.identity = Some(viewer);
/// assert!(roles.authorize(&Access::of(&[3, 0, 0, 0, 1], &session)));
/// session.function_code = FunctionCode::WriteSingleRegister;
/// assert!(!roles.authorize(&Access::of(&[6, 0, 0, 0, 1], &session)));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RoleMap {
    roles: BTreeMap<String, Rights>,
}

impl RoleMap {
    /// A map without roles: denies everything.
    #[must_use]
    pub fn new() -> Self {
        RoleMap::default()
    }

    /// Gives `role` these rights (replacing any it had).
    pub fn insert(&mut self, role: impl Into<String>, rights: Rights) {
        self.roles.insert(role.into(), rights);
    }

    /// Takes `role` out.
    pub fn remove(&mut self, role: &str) -> Option<Rights> {
        self.roles.remove(role)
    }

    /// The rights of `role`.
    #[must_use]
    pub fn rights(&self, role: &str) -> Option<&Rights> {
        self.roles.get(role)
    }

    /// The roles, in order.
    pub fn roles(&self) -> impl Iterator<Item = &str> {
        self.roles.keys().map(String::as_str)
    }
}

impl Authorize for RoleMap {
    fn authorize(&self, access: &Access<'_>) -> bool {
        access
            .role()
            .and_then(|role| self.roles.get(role))
            .is_some_and(|rights| rights.allow(access))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn access(role: Option<&str>, unit_id: u8, pdu: &[u8]) -> bool {
        let mut roles = RoleMap::new();
        roles.insert("operator", Rights::functions(&[3, 6, 16, 23]));
        roles.insert(
            "field",
            Rights::functions(&[3, 16])
                .with_units(&[2])
                .with_ranges(alloc::vec![AddressRange {
                    start: 100,
                    count: 10
                }]),
        );
        let mut session = SessionInfo::local(FunctionCode::from(pdu[0]));
        session.unit_id = unit_id;
        session.identity = Some(ClientIdentity {
            subject: "CN=t",
            role,
        });
        roles.authorize(&Access::of(pdu, &session))
    }

    #[test]
    fn functions_units_and_ranges() {
        assert!(access(Some("operator"), 1, &[6, 0, 1, 0, 1]));
        assert!(!access(Some("operator"), 1, &[5, 0, 1, 0xFF, 0]));
        assert!(!access(None, 1, &[3, 0, 1, 0, 1]), "NULL role");
        assert!(
            !access(Some("Operator"), 1, &[3, 0, 1, 0, 1]),
            "exact match"
        );
        assert!(access(Some("field"), 2, &[3, 0, 100, 0, 10]));
        assert!(
            !access(Some("field"), 2, &[3, 0, 100, 0, 11]),
            "past the range"
        );
        assert!(
            !access(Some("field"), 2, &[3, 0, 99, 0, 1]),
            "before the range"
        );
        assert!(!access(Some("field"), 1, &[3, 0, 100, 0, 1]), "other unit");
        // FC 16, 2 registers at 109: the last one is outside.
        assert!(!access(
            Some("field"),
            2,
            &[16, 0, 109, 0, 2, 4, 0, 1, 0, 2]
        ));
        assert!(access(Some("field"), 2, &[16, 0, 108, 0, 2, 4, 0, 1, 0, 2]));
    }
}
