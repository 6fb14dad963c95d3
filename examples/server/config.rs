//! The simulator's TOML configuration file: server limits, table sizes and
//! default values, initial values, file records, FIFO queues, server id
//! (FC 17) and device identification. Every key is
//! optional; unknown keys are errors, so a typo does not silently do nothing.
//! [`sample.toml`](sample.toml), next to this file, sets every key with a
//! comment on each (tests/desktop_examples.rs loads it).
//!
//! Every error names the file; a TOML syntax error keeps toml's lines that
//! point at the place (line, column, caret).

use std::time::Duration;

use modbus_device::runtimes::LimitPolicy;
use modbus_device::{
    object_id, DataBank, DeviceIdentification, HeapFiles, HeapStorage, HeapStorageConfig,
    NoCallbacks, ServerId,
};
use toml::{Table, Value};

/// What the file configures.
pub struct SimConfig {
    pub tables: HeapStorageConfig,
    pub initial: Vec<Initial>,
    pub device_identification: Option<DeviceIdentification>,
    pub max_connections: Option<usize>,
    pub max_connections_per_ip: Option<usize>,
    pub on_limit: Option<LimitPolicy>,
    pub idle_timeout: Option<Option<Duration>>,
    /// SO_SNDBUF / SO_RCVBUF caps of each connection: `Some(None)` leaves
    /// the kernel's autotuning (the file's 0).
    pub send_buffer: Option<Option<usize>>,
    pub recv_buffer: Option<Option<usize>>,
    /// FC 20 / 21: `files.count` files of `files.records` records each.
    pub files: (usize, usize),
    /// FC 24: queues written at start, by FIFO pointer address.
    pub fifo_queues: Vec<(u16, Vec<u16>)>,
    /// FC 17: what the server reports.
    pub server_id: ServerId,
}

/// The simulator's data bank: heap tables and heap files.
pub type SimBank = DataBank<HeapStorage, NoCallbacks, HeapFiles>;

/// Files served when the file does not say: 4 files of 10,000 records
/// (80 KB), so that every function code answers out of the box.
const DEFAULT_FILES: (usize, usize) = (4, 10_000);

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
            max_connections_per_ip: None,
            on_limit: None,
            idle_timeout: None,
            send_buffer: None,
            recv_buffer: None,
            files: DEFAULT_FILES,
            fifo_queues: Vec::new(),
            server_id: default_server_id(),
        }
    }

    /// Reads and checks `path`; the error names the file and the problem.
    pub fn load(path: &str) -> Result<Self, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read config file {path}: {e}"))?;
        Self::parse(&text).map_err(|e| in_file(path, e))
    }

    /// Checks `text`. A syntax error is toml's whole message: the position,
    /// the line quoted with a caret under the place, then the problem.
    pub fn parse(text: &str) -> Result<Self, String> {
        let root: Table = text
            .parse()
            .map_err(|e: toml::de::Error| e.to_string().trim_end().to_string())?;
        let mut config = SimConfig::defaults();
        for (key, value) in &root {
            match key.as_str() {
                "server" => config.server(table(value, "server")?)?,
                "data_bank" => config.data_bank(table(value, "data_bank")?)?,
                "device_identification" => {
                    config.device_identification = Some(device_identification(table(value, key)?)?)
                }
                "files" => config.files(table(value, "files")?)?,
                "fifo" => config.fifo(table(value, "fifo")?)?,
                "server_id" => config.server_id = server_id(table(value, "server_id")?)?,
                other => {
                    return Err(format!(
                    "unknown section [{other}] (expected server, data_bank, files, fifo, server_id, device_identification)"
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
                "max_connections_per_ip" => {
                    let n = integer(value, "server.max_connections_per_ip", 1, u32::MAX as i64)?;
                    self.max_connections_per_ip = Some(n as usize);
                }
                "on_limit" => {
                    self.on_limit = Some(match string(value, "server.on_limit")? {
                        "refuse" => LimitPolicy::Refuse,
                        "evict-least-active" | "evict" => LimitPolicy::EvictLeastActive,
                        other => {
                            return Err(format!(
                                "server.on_limit = {other:?} is not \"refuse\" or \"evict-least-active\" (or \"evict\")"
                            ))
                        }
                    });
                }
                "idle_timeout_s" => {
                    let s = integer(value, "server.idle_timeout_s", 0, 86_400 * 365)?;
                    self.idle_timeout = Some((s > 0).then(|| Duration::from_secs(s as u64)));
                }
                "send_buffer_bytes" | "recv_buffer_bytes" => {
                    let name = format!("server.{key}");
                    let n = integer(value, &name, 0, i32::MAX as i64)?;
                    let cap = (n > 0).then_some(n as usize);
                    if key == "send_buffer_bytes" {
                        self.send_buffer = Some(cap);
                    } else {
                        self.recv_buffer = Some(cap);
                    }
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
    pub fn build_data_bank(&self) -> Result<SimBank, String> {
        let (count, records) = self.files;
        let files = HeapFiles::new(count, records).map_err(|e| format!("files: {e}"))?;
        let mut bank = DataBank::from_config(self.tables)
            .map_err(|e| e.to_string())?
            .with_files(files);
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
        for (pointer, values) in &self.fifo_queues {
            bank.set_fifo_queue(*pointer, values)
                .map_err(|e| format!("fifo.queues.{pointer}: {e}"))?;
        }
        Ok(bank)
    }

    fn files(&mut self, t: &Table) -> Result<(), String> {
        for (key, value) in t {
            match key.as_str() {
                // File numbers 1..=count; the specification's largest
                // record number is 0x270F, so 10,000 records at most.
                "count" => self.files.0 = integer(value, "files.count", 0, 0xFFFF)? as usize,
                "records" => self.files.1 = integer(value, "files.records", 0, 10_000)? as usize,
                other => return Err(format!("unknown key files.{other}")),
            }
        }
        Ok(())
    }

    fn fifo(&mut self, t: &Table) -> Result<(), String> {
        for (key, value) in t {
            match key.as_str() {
                "queues" => {
                    for (pointer, values) in table(value, "fifo.queues")? {
                        let at = format!("fifo.queues.{pointer}");
                        let pointer: u16 = pointer.parse().map_err(|_| {
                            format!("{at}: the key must be a decimal register address 0..=65535")
                        })?;
                        let values = values
                            .as_array()
                            .ok_or_else(|| format!("{at} must be an array of registers"))?
                            .iter()
                            .map(|v| integer(v, &at, 0, 0xFFFF).map(|n| n as u16))
                            .collect::<Result<Vec<u16>, String>>()?;
                        self.fifo_queues.push((pointer, values));
                    }
                }
                other => return Err(format!("unknown key fifo.{other}")),
            }
        }
        Ok(())
    }
}

/// FC 17 when the file does not say: "modbus-device", running.
fn default_server_id() -> ServerId {
    ServerId::new(b"modbus-device").expect("13 bytes fit a server id")
}

fn server_id(t: &Table) -> Result<ServerId, String> {
    let mut id = b"modbus-device".to_vec();
    let mut running = true;
    let mut additional = Vec::new();
    for (key, value) in t {
        let name = format!("server_id.{key}");
        match key.as_str() {
            "id" => id = string(value, &name)?.as_bytes().to_vec(),
            "run_indicator" => running = boolean(value, &name)?,
            "additional_data" => additional = string(value, &name)?.as_bytes().to_vec(),
            other => return Err(format!("unknown key server_id.{other}")),
        }
    }
    ServerId::new(&id)
        .and_then(|s| s.with_additional_data(&additional))
        .map(|s| s.with_run_indicator(running))
        .map_err(|e| format!("server_id: {e}"))
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

/// The configuration of `path` (defaults without one) and its data bank;
/// every error, the data bank's included, names the file.
pub fn load(path: Option<&str>) -> Result<(SimConfig, SimBank), String> {
    let sim = match path {
        Some(path) => SimConfig::load(path)?,
        None => SimConfig::defaults(),
    };
    let bank = sim.build_data_bank().map_err(|e| match path {
        Some(path) => in_file(path, e),
        None => e,
    })?;
    Ok((sim, bank))
}

fn in_file(path: &str, error: String) -> String {
    format!("config file {path}: {error}")
}
