//! The simulator's Modbus/TCP Security options: `--tls-cert FILE --tls-key
//! FILE --tls-client-ca FILE` (PEM) serve TLS with client certificates
//! required (port 802 unless `--port` says otherwise), and `--roles FILE`
//! loads the role map that authorizes every request:
//!
//! ```toml
//! [roles.operator]
//! functions = [1, 2, 3, 4, 5, 6, 15, 16, 22, 23, 43]
//! [roles.viewer]
//! functions = [1, 2, 3, 4, 43]
//! units = [1, 2]              # optional: the unit ids the role may address
//! ranges = [[0, 100]]         # optional: [start, count] address ranges
//! ```
//!
//! Without `--roles`, every authenticated client may do everything. A
//! client whose certificate has no role, or a role not in the file, is
//! answered exception 1 to every request.

use modbus_device::authorize::{AddressRange, Rights, RoleMap};
use toml::{Table, Value};

/// The options as given.
#[derive(Default)]
pub struct SecurityArgs {
    pub cert: Option<String>,
    pub key: Option<String>,
    pub client_ca: Option<String>,
    pub roles: Option<String>,
}

impl SecurityArgs {
    /// Takes `arg` (and its value from `value`) if it is one of these
    /// options: `Ok(true)` when it was.
    pub fn take(
        &mut self,
        arg: &str,
        value: impl FnOnce(&str) -> Result<String, String>,
    ) -> Result<bool, String> {
        let slot = match arg {
            "--tls-cert" => &mut self.cert,
            "--tls-key" => &mut self.key,
            "--tls-client-ca" => &mut self.client_ca,
            "--roles" => &mut self.roles,
            _ => return Ok(false),
        };
        *slot = Some(value(arg)?);
        Ok(true)
    }

    /// Whether TLS is asked for; an error when only some of its files are given.
    pub fn tls_on(&self) -> Result<bool, String> {
        match (&self.cert, &self.key, &self.client_ca) {
            (None, None, None) if self.roles.is_some() => {
                Err("--roles needs TLS: --tls-cert, --tls-key and --tls-client-ca".into())
            }
            (None, None, None) => Ok(false),
            (Some(_), Some(_), Some(_)) => Ok(true),
            _ => Err("TLS needs all three of --tls-cert, --tls-key and --tls-client-ca".into()),
        }
    }
}

/// The TLS configuration the options name (`None`: plain Modbus TCP).
#[cfg(feature = "tls")]
pub fn tls_config(
    args: &SecurityArgs,
) -> Result<Option<modbus_device::runtimes::tls::TlsConfig>, String> {
    let (Some(cert), Some(key), Some(ca)) = (&args.cert, &args.key, &args.client_ca) else {
        return Ok(None);
    };
    modbus_device::runtimes::tls::TlsConfig::from_pem_files(cert, key, ca)
        .map(Some)
        .map_err(|e| e.to_string())
}

/// Without the `tls` feature, asking for TLS is an error that says how to
/// build it in.
#[cfg(not(feature = "tls"))]
pub fn tls_config(args: &SecurityArgs) -> Result<Option<std::convert::Infallible>, String> {
    if args.tls_on()? {
        return Err("TLS: this program was built without it (build with --features tls)".into());
    }
    Ok(None)
}

/// Loads the role map of `path`.
pub fn load_roles(path: &str) -> Result<RoleMap, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{path}: {e}"))?;
    parse_roles(&text).map_err(|e| format!("{path}: {e}"))
}

/// Parses a role map (the form in the module comment).
pub fn parse_roles(text: &str) -> Result<RoleMap, String> {
    let top: Table = text
        .parse()
        .map_err(|e: toml::de::Error| e.to_string().trim_end().to_string())?;
    let roles = match top.get("roles") {
        Some(Value::Table(roles)) => roles,
        Some(_) => return Err("[roles] must be a table".into()),
        None => return Err("no [roles] table".into()),
    };
    let mut map = RoleMap::new();
    for (name, rights) in roles {
        let Value::Table(rights) = rights else {
            return Err(format!("roles.{name} must be a table"));
        };
        map.insert(name.as_str(), role_rights(name, rights)?);
    }
    Ok(map)
}

fn role_rights(name: &str, t: &Table) -> Result<Rights, String> {
    let key = |k: &str| format!("roles.{name}.{k}");
    let functions = match t.get("functions") {
        Some(v) => bytes(v, &key("functions"), 1, 127)?,
        None => return Err(format!("{} is missing", key("functions"))),
    };
    let mut rights = Rights::functions(&functions);
    if let Some(v) = t.get("units") {
        rights = rights.with_units(&bytes(v, &key("units"), 0, 255)?);
    }
    if let Some(v) = t.get("ranges") {
        rights = rights.with_ranges(ranges(v, &key("ranges"))?);
    }
    for other in t.keys() {
        if !["functions", "units", "ranges"].contains(&other.as_str()) {
            log::warn!("{}: not a key this simulator knows; ignored", key(other));
        }
    }
    Ok(rights)
}

fn list<'a>(v: &'a Value, name: &str) -> Result<&'a Vec<Value>, String> {
    v.as_array().ok_or_else(|| format!("{name} must be a list"))
}

fn integer(v: &Value, name: &str, min: i64, max: i64) -> Result<i64, String> {
    match v.as_integer() {
        Some(n) if (min..=max).contains(&n) => Ok(n),
        _ => Err(format!("{name}: {v} is not an integer {min}..={max}")),
    }
}

fn bytes(v: &Value, name: &str, min: i64, max: i64) -> Result<Vec<u8>, String> {
    list(v, name)?
        .iter()
        .map(|item| integer(item, name, min, max).map(|n| n as u8))
        .collect()
}

fn ranges(v: &Value, name: &str) -> Result<Vec<AddressRange>, String> {
    list(v, name)?
        .iter()
        .map(|item| match list(item, name)?.as_slice() {
            [start, count] => {
                let start = integer(start, name, 0, 0xFFFF)?;
                let count = integer(count, name, 1, 0x1_0000 - start)?;
                Ok(AddressRange {
                    start: start as u16,
                    // 65,536 addresses from 0: as many as a u16 counts.
                    count: u16::try_from(count).unwrap_or(u16::MAX),
                })
            }
            _ => Err(format!("{name}: each range is [start, count]")),
        })
        .collect()
}
