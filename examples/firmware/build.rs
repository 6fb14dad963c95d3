//! The linker scripts (`link.x`, `defmt.x`) come from cortex-m-rt and defmt;
//! `memory.x` from embassy-stm32's `memory-x` feature. Nothing to generate.
fn main() {
    println!("cargo:rerun-if-changed=build.rs");
}
