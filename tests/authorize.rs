//! The authorization hook of `Service` (Modbus/TCP Security, section 8.4)
//! through the real `Engine`: a denied request is answered with exception
//! 01 and changes nothing; the identity reaches the handler.

use std::sync::{Arc, Mutex};

use modbus_device::authorize::{AddressRange, Rights, RoleMap};
use modbus_device::{
    Bank, ClientIdentity, DataBank, DataHandler, Engine, EngineConfig, ExceptionCode, FixedStorage,
    Instant, Service, SessionInfo,
};

type Bank16 = DataBank<FixedStorage<2, 2, 16, 16>>;

/// Sends one request ADU as `identity` and returns the response ADU.
fn ask<X>(service: &X, identity: Option<ClientIdentity<'_>>, request: &[u8]) -> Vec<u8>
where
    X: modbus_device::Shared,
    X::Target: modbus_device::Respond,
{
    let mut engine = Engine::<260, 260>::new(EngineConfig::default(), None, Instant::ZERO);
    engine.input_buffer()[..request.len()].copy_from_slice(request);
    engine.handle_input(request.len(), Instant::ZERO);
    engine.poll_output_as(service, identity).unwrap().to_vec()
}

fn roles() -> RoleMap {
    let mut roles = RoleMap::new();
    roles.insert(
        "operator",
        Rights::functions(&[1, 2, 3, 4, 5, 6, 15, 16, 22, 23, 43]),
    );
    roles.insert("viewer", Rights::functions(&[1, 2, 3, 4, 43]));
    roles.insert(
        "field",
        Rights::functions(&[3, 6])
            .with_units(&[7])
            .with_ranges(vec![AddressRange { start: 4, count: 4 }]),
    );
    roles
}

fn who(role: Option<&str>) -> Option<ClientIdentity<'_>> {
    Some(ClientIdentity {
        subject: "CN=test client",
        role,
    })
}

const WRITE_REG_5: [u8; 12] = [0, 1, 0, 0, 0, 6, 7, 6, 0, 5, 0x12, 0x34];
const READ_REG_0: [u8; 12] = [0, 2, 0, 0, 0, 6, 7, 3, 0, 0, 0, 1];

fn register(service: &Mutex<Service<Bank16>>, address: u16) -> u16 {
    let mut out = [0];
    service
        .lock()
        .unwrap()
        .data_bank
        .get_holding_registers(address, &mut out)
        .unwrap();
    out[0]
}

#[test]
fn viewer_write_is_exception_01_and_changes_nothing() {
    let service = Mutex::new(Service::new(bank()).with_authorizer(roles()));
    let response = ask(&service, who(Some("viewer")), &WRITE_REG_5);
    assert_eq!(response, [0, 1, 0, 0, 0, 3, 7, 0x86, 0x01]);
    assert_eq!(register(&service, 5), 0, "the table is unchanged");
    // The viewer reads; the operator writes.
    let response = ask(&service, who(Some("viewer")), &READ_REG_0);
    assert_eq!(response, [0, 2, 0, 0, 0, 5, 7, 3, 2, 0, 0]);
    let response = ask(&service, who(Some("operator")), &WRITE_REG_5);
    assert_eq!(response, WRITE_REG_5);
    assert_eq!(register(&service, 5), 0x1234);
}

#[test]
fn null_role_unknown_role_and_no_identity_are_denied_under_a_role_map() {
    let service = Mutex::new(Service::new(bank()).with_authorizer(roles()));
    for identity in [who(None), who(Some("intruder")), None] {
        let response = ask(&service, identity, &READ_REG_0);
        assert_eq!(response, [0, 2, 0, 0, 0, 3, 7, 0x83, 0x01], "{identity:?}");
    }
}

#[test]
fn units_and_address_ranges_restrict_a_role() {
    let service = Mutex::new(Service::new(bank()).with_authorizer(roles()));
    let field = who(Some("field"));
    assert_eq!(ask(&service, field, &WRITE_REG_5), WRITE_REG_5);
    // Unit 8: not the role's.
    let mut other_unit = WRITE_REG_5;
    other_unit[6] = 8;
    assert_eq!(ask(&service, field, &other_unit)[7..], [0x86, 0x01]);
    // Registers 0..1: outside 4..8.
    assert_eq!(ask(&service, field, &READ_REG_0)[7..], [0x83, 0x01]);
    // 4 registers from 5 reach 8: outside.
    let read_5_4 = [0, 3, 0, 0, 0, 6, 7, 3, 0, 5, 0, 4];
    assert_eq!(ask(&service, field, &read_5_4)[7..], [0x83, 0x01]);
}

#[test]
fn no_authorizer_serves_everyone_and_a_map_can_be_replaced() {
    let service = Mutex::new(Service::new(bank()));
    assert_eq!(ask(&service, None, &WRITE_REG_5), WRITE_REG_5);
    service
        .lock()
        .unwrap()
        .set_authorizer(Some(modbus_device::authorize::Authorizer::new(roles())));
    assert_eq!(
        ask(&service, who(Some("viewer")), &WRITE_REG_5)[7..],
        [0x86, 0x01]
    );
    service.lock().unwrap().set_authorizer(None);
    assert_eq!(
        ask(&service, who(Some("viewer")), &WRITE_REG_5),
        WRITE_REG_5
    );
}

/// Remembers the identity each request came with.
#[derive(Default)]
struct Seen(Arc<Mutex<Vec<Identity>>>);

/// An identity as recorded: subject, role.
type Identity = (String, Option<String>);

impl DataHandler for Seen {
    fn read_h_regs(
        &mut self,
        bank: &mut dyn Bank,
        address: u16,
        out: &mut [u16],
        srv_info: &SessionInfo,
    ) -> Result<(), ExceptionCode> {
        if let Some(identity) = srv_info.identity {
            let role = identity.role.map(str::to_owned);
            self.0
                .lock()
                .unwrap()
                .push((identity.subject.to_owned(), role));
        }
        bank.read_h_regs(address, out, srv_info)
    }
}

#[test]
fn the_identity_reaches_the_handler_and_a_closure_authorizes() {
    let seen = Seen::default();
    let log = Arc::clone(&seen.0);
    let service = Mutex::new(Service::with_handler(bank(), seen).with_authorizer(
        |access: &modbus_device::authorize::Access<'_>| access.role() == Some("operator"),
    ));
    ask(&service, who(Some("operator")), &READ_REG_0);
    assert_eq!(
        *log.lock().unwrap(),
        [("CN=test client".to_owned(), Some("operator".to_owned()))]
    );
}

fn bank() -> Bank16 {
    DataBank::new(FixedStorage::filled(false, false, 0, 0))
}
