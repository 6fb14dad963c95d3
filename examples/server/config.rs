//! The simulator's TOML configuration file. Every key is optional; unknown
//! keys are errors, so a typo does not silently do nothing.
//!
//! ```toml
//! [server]
//! max_connections = 1024      # beyond it new connections are refused
//! idle_timeout_s = 60         # 0 disables
//!
//! [data_bank]                 # sizes and default values (pyModbusTCP's DataBank arguments)
//! coils_size = 65536
//! coils_default_value = false
//! d_inputs_size = 65536
//! d_inputs_default_value = false
//! h_regs_size = 65536
//! h_regs_default_value = 0
//! i_regs_size = 65536
//! i_regs_default_value = 0
//!
//! [data_bank.holding_registers]   # initial values: start address = values
//! 0 = [100, 200, 300]
//! [data_bank.input_registers]
//! 10 = [1, 2]
//! [data_bank.coils]
//! 0 = [true, false, true]
//! [data_bank.discrete_inputs]
//! 5 = [true]
//!
//! [device_identification]     # absent: function 43 answers exception 2
//! vendor_name = "Seed"
//! product_code = "MS-1"
//! major_minor_revision = "1.0"
//! vendor_url = "https://example.com"
//! product_name = "modbus-server"
//! model_name = "sim"
//! user_application_name = "acceptance"
//! [device_identification.objects]   # extra objects 0x80..=0xFF, keyed by decimal id
//! 128 = "extra object"
//! ```

use std::time::Duration;

use modbus_server::{object_id, DataBank, DeviceIdentification, HeapStorage, HeapStorageConfig};
use toml::{Table, Value};

/// What the file configures.
pub struct SimConfig {
    pub tables: HeapStorageConfig,
    pub initial: Vec<Initial>,
    pub device_identification: Option<DeviceIdentification>,
    pub max_connections: Option<usize>,
    pub idle_timeout: Option<Option<Duration>>,
}

/// Initial values for one run of addresses.
pub enum Initial {
    Coils(u16, Vec<bool>),
    DiscreteInputs(u16, Vec<bool>),
    HoldingRegisters(u16, Vec<u16>),
    InputRegisters(u16, Vec<u16>),
}

impl SimConfig {
    pub fn defaults() -> Self {
        SimConfig {
            tables: HeapStorageConfig::default(),
            initial: Vec::new(),
            device_identification: None,
            max_connections: None,
            idle_timeout: None,
        }
    }

    /// Reads and checks `path`; the error is one line that names the problem.
    pub fn load(path: &str) -> Result<Self, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read config file {path}: {e}"))?;
        Self::parse(&text).map_err(|e| format!("config file {path}: {e}"))
    }

    pub fn parse(text: &str) -> Result<Self, String> {
        let root: Table = text
            .parse()
            .map_err(|e: toml::de::Error| one_line(&e.to_string()))?;
        let mut config = SimConfig::defaults();
        for (key, value) in &root {
            match key.as_str() {
                "server" => config.server(table(value, "server")?)?,
                "data_bank" => config.data_bank(table(value, "data_bank")?)?,
                "device_identification" => {
                    config.device_identification = Some(device_identification(table(value, key)?)?)
                }
                other => {
                    return Err(format!(
                    "unknown section [{other}] (expected server, data_bank, device_identification)"
                ))
                }
            }
        }
        Ok(config)
    }

    fn server(&mut self, t: &Table) -> Result<(), String> {
        for (key, value) in t {
            match key.as_str() {
                "max_connections" => {
                    let n = integer(value, "server.max_connections", 1, u32::MAX as i64)?;
                    self.max_connections = Some(n as usize);
                }
                "idle_timeout_s" => {
                    let s = integer(value, "server.idle_timeout_s", 0, 86_400 * 365)?;
                    self.idle_timeout = Some((s > 0).then(|| Duration::from_secs(s as u64)));
                }
                other => return Err(format!("unknown key server.{other}")),
            }
        }
        Ok(())
    }

    fn data_bank(&mut self, t: &Table) -> Result<(), String> {
        let size = |v: &Value, k: &str| integer(v, k, 0, 0x10000).map(|n| n as usize);
        let word = |v: &Value, k: &str| integer(v, k, 0, 0xFFFF).map(|n| n as u16);
        for (key, value) in t {
            let name = format!("data_bank.{key}");
            match key.as_str() {
                "coils_size" => self.tables.coils_size = size(value, &name)?,
                "d_inputs_size" => self.tables.d_inputs_size = size(value, &name)?,
                "h_regs_size" => self.tables.h_regs_size = size(value, &name)?,
                "i_regs_size" => self.tables.i_regs_size = size(value, &name)?,
                "coils_default_value" => self.tables.coils_default_value = boolean(value, &name)?,
                "d_inputs_default_value" => {
                    self.tables.d_inputs_default_value = boolean(value, &name)?
                }
                "h_regs_default_value" => self.tables.h_regs_default_value = word(value, &name)?,
                "i_regs_default_value" => self.tables.i_regs_default_value = word(value, &name)?,
                "coils" | "discrete_inputs" | "holding_registers" | "input_registers" => {
                    for (address, values) in table(value, &name)? {
                        let at = format!("{name}.{address}");
                        let address: u16 = address.parse().map_err(|_| {
                            format!("{at}: the key must be a decimal address 0..=65535")
                        })?;
                        let list = value_list(values, &at)?;
                        self.initial.push(match key.as_str() {
                            "coils" => Initial::Coils(
                                address,
                                list.iter()
                                    .map(|v| boolean(v, &at))
                                    .collect::<Result<_, _>>()?,
                            ),
                            "discrete_inputs" => Initial::DiscreteInputs(
                                address,
                                list.iter()
                                    .map(|v| boolean(v, &at))
                                    .collect::<Result<_, _>>()?,
                            ),
                            "holding_registers" => Initial::HoldingRegisters(
                                address,
                                list.iter()
                                    .map(|v| word(v, &at))
                                    .collect::<Result<_, _>>()?,
                            ),
                            _ => Initial::InputRegisters(
                                address,
                                list.iter()
                                    .map(|v| word(v, &at))
                                    .collect::<Result<_, _>>()?,
                            ),
                        });
                    }
                }
                other => return Err(format!("unknown key data_bank.{other}")),
            }
        }
        Ok(())
    }

    /// The data bank: sized, filled with defaults, then the initial values.
    pub fn build_data_bank(&self) -> Result<DataBank<HeapStorage>, String> {
        let mut bank = DataBank::from_config(self.tables).map_err(|e| e.to_string())?;
        for initial in &self.initial {
            let result = match initial {
                Initial::Coils(a, v) => bank
                    .set_coils(*a, v)
                    .map_err(|e| format!("data_bank.coils.{a}: {e}")),
                Initial::DiscreteInputs(a, v) => bank
                    .set_discrete_inputs(*a, v)
                    .map_err(|e| format!("data_bank.discrete_inputs.{a}: {e}")),
                Initial::HoldingRegisters(a, v) => bank
                    .set_holding_registers(*a, v)
                    .map_err(|e| format!("data_bank.holding_registers.{a}: {e}")),
                Initial::InputRegisters(a, v) => bank
                    .set_input_registers(*a, v)
                    .map_err(|e| format!("data_bank.input_registers.{a}: {e}")),
            };
            result?;
        }
        Ok(bank)
    }
}

fn device_identification(t: &Table) -> Result<DeviceIdentification, String> {
    let mut id = DeviceIdentification::new();
    for (key, value) in t {
        let name = format!("device_identification.{key}");
        let object = match key.as_str() {
            "vendor_name" => object_id::VENDOR_NAME,
            "product_code" => object_id::PRODUCT_CODE,
            "major_minor_revision" => object_id::MAJOR_MINOR_REVISION,
            "vendor_url" => object_id::VENDOR_URL,
            "product_name" => object_id::PRODUCT_NAME,
            "model_name" => object_id::MODEL_NAME,
            "user_application_name" => object_id::USER_APPLICATION_NAME,
            "objects" => {
                for (object, value) in table(value, &name)? {
                    let at = format!("{name}.{object}");
                    let object: u8 = object.parse().map_err(|_| {
                        format!("{at}: the key must be a decimal object id 128..=255")
                    })?;
                    id.set(object, string(value, &at)?.as_bytes())
                        .map_err(|e| format!("{at}: {e}"))?;
                }
                continue;
            }
            other => return Err(format!("unknown key device_identification.{other}")),
        };
        id.set(object, string(value, &name)?.as_bytes())
            .map_err(|e| format!("{name}: {e}"))?;
    }
    Ok(id)
}

fn table<'a>(value: &'a Value, name: &str) -> Result<&'a Table, String> {
    value
        .as_table()
        .ok_or_else(|| format!("{name} must be a table"))
}

fn value_list<'a>(value: &'a Value, name: &str) -> Result<&'a Vec<Value>, String> {
    value
        .as_array()
        .ok_or_else(|| format!("{name} must be a list of values"))
}

fn integer(value: &Value, name: &str, min: i64, max: i64) -> Result<i64, String> {
    match value.as_integer() {
        Some(n) if (min..=max).contains(&n) => Ok(n),
        Some(n) => Err(format!("{name} = {n} is outside {min}..={max}")),
        None => Err(format!("{name} must be an integer")),
    }
}

fn boolean(value: &Value, name: &str) -> Result<bool, String> {
    value
        .as_bool()
        .ok_or_else(|| format!("{name} must be true or false"))
}

fn string<'a>(value: &'a Value, name: &str) -> Result<&'a str, String> {
    value
        .as_str()
        .ok_or_else(|| format!("{name} must be a string"))
}

fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}
