//! Linker scripts per board. `link.x` comes from cortex-m-rt for both.
//! - nucleo-f767zi: `memory.x` from embassy-stm32's `memory-x` feature, and
//!   defmt's `defmt.x`.
//! - mps2-an386: `memory.x` written here. QEMU's mps2-an386 has 4 MiB of
//!   SSRAM at 0 (code) and 4 MiB at 0x2000_0000 (data); Arm's AN386
//!   application note gives the same map.
use std::env;
use std::fs;
use std::path::PathBuf;

const MPS2_AN386_MEMORY: &str = "MEMORY
{
  FLASH : ORIGIN = 0x00000000, LENGTH = 4M
  RAM : ORIGIN = 0x20000000, LENGTH = 4M
}
";

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rustc-link-arg=-Tlink.x");
    if env::var_os("CARGO_FEATURE_NUCLEO_F767ZI").is_some() {
        println!("cargo:rustc-link-arg=-Tdefmt.x");
    }
    if env::var_os("CARGO_FEATURE_MPS2_AN386").is_some() {
        let out = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
        fs::write(out.join("memory.x"), MPS2_AN386_MEMORY).expect("write memory.x");
        println!("cargo:rustc-link-search={}", out.display());
    }
}
