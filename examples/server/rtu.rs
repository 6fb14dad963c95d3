//! The simulator's RTU options: `--rtu DEVICE` serves the same data on a
//! serial line (feature `serial`, Unix), `--rtu-over-tcp` makes the TCP
//! listener take RTU frames (feature `rtu`).

use modbus_device::runtimes::{ModbusServer, Runtime, ServerConfig};
use modbus_device::{Banks, DataHandler};

pub const USAGE: &str = "
  --rtu DEVICE   also serve Modbus RTU on the serial device (feature serial, Unix),
                 with [--baud N] (default 19200) [--parity none|even|odd] (default even)
                 [--stop-bits 1|2] (default 1) [--unit ID] (the server address, default 1)
  --rtu-over-tcp the TCP listener takes RTU frames (address, PDU, CRC) instead of MBAP";

/// What the RTU options say.
pub struct RtuArgs {
    device: Option<String>,
    baud: u32,
    parity: String,
    stop_bits: u8,
    unit: u8,
    over_tcp: bool,
}

impl Default for RtuArgs {
    fn default() -> Self {
        RtuArgs {
            device: None,
            baud: 19_200,
            parity: "even".into(),
            stop_bits: 1,
            unit: 1,
            over_tcp: false,
        }
    }
}

impl RtuArgs {
    /// Takes `arg` if it is an RTU option (reading its value with
    /// `value`): `Ok(false)` if it is not one.
    pub fn parse(
        &mut self,
        arg: &str,
        value: &mut impl FnMut(&str) -> Result<String, String>,
    ) -> Result<bool, String> {
        match arg {
            "--rtu" => self.device = Some(value(arg)?),
            "--baud" => {
                let v = value(arg)?;
                self.baud = v
                    .parse()
                    .ok()
                    .filter(|b| *b > 0)
                    .ok_or_else(|| format!("--baud {v:?} is not a rate in bits per second"))?;
            }
            "--parity" => {
                let v = value(arg)?;
                if !["none", "even", "odd"].contains(&v.as_str()) {
                    return Err(format!("--parity {v:?}: none, even or odd"));
                }
                self.parity = v;
            }
            "--stop-bits" => {
                let v = value(arg)?;
                self.stop_bits = match v.as_str() {
                    "1" => 1,
                    "2" => 2,
                    _ => return Err(format!("--stop-bits {v:?}: 1 or 2")),
                };
            }
            "--unit" => {
                let v = value(arg)?;
                self.unit = v
                    .parse()
                    .ok()
                    .filter(|u| (1..=247).contains(u))
                    .ok_or_else(|| format!("--unit {v:?} is not a server address 1..=247"))?;
            }
            "--rtu-over-tcp" => self.over_tcp = true,
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// Sets the TCP listener's framing.
    pub fn configure(&self, config: &mut ServerConfig) -> Result<(), String> {
        if !self.over_tcp {
            return Ok(());
        }
        #[cfg(feature = "rtu")]
        {
            config.framing = modbus_device::runtimes::TcpFraming::Rtu;
            Ok(())
        }
        #[cfg(not(feature = "rtu"))]
        {
            let _ = config;
            Err(
                "--rtu-over-tcp: this program was built without RTU (build with --features rtu)"
                    .into(),
            )
        }
    }

    /// Opens the serial line, if `--rtu` names one, and serves it on a
    /// thread of its own until the line fails.
    pub fn serve<R, B, H>(&self, server: &ModbusServer<R, B, H>) -> Result<(), String>
    where
        R: Runtime,
        B: Banks + Send + 'static,
        H: DataHandler + Send + 'static,
    {
        let Some(device) = &self.device else {
            return Ok(());
        };
        #[cfg(all(feature = "serial", unix))]
        {
            use modbus_device::runtimes::serial::{LineConfig, Parity, SerialPort, StopBits};
            let line = LineConfig {
                baud: self.baud,
                parity: match self.parity.as_str() {
                    "none" => Parity::None,
                    "odd" => Parity::Odd,
                    _ => Parity::Even,
                },
                stop_bits: if self.stop_bits == 2 {
                    StopBits::Two
                } else {
                    StopBits::One
                },
            };
            let port =
                SerialPort::open(device, line).map_err(|e| format!("--rtu {device}: {e}"))?;
            let (server, unit, device) = (server.clone(), self.unit, device.clone());
            println!(
                "serving Modbus RTU on {device} at {} baud, parity {}, {} stop bit(s), unit {unit}",
                self.baud, self.parity, self.stop_bits
            );
            std::thread::Builder::new()
                .name("rtu".into())
                .spawn(move || {
                    // serve_rtu serves the line on a thread of its own;
                    // this one waits for its end, to log it.
                    let error = R::block_on(server.serve_rtu(port, unit));
                    log::warn!("RTU on {device} ended: {error}");
                })
                .map_err(|e| format!("cannot start the RTU thread: {e}"))?;
            Ok(())
        }
        #[cfg(not(all(feature = "serial", unix)))]
        {
            let _ = server;
            Err(format!(
                "--rtu {device}: this program was built without serial lines (build with --features serial, on Unix)"
            ))
        }
    }
}
