//! Tables sized at run time, on the heap (feature `alloc`).

use alloc::vec;
use alloc::vec::Vec;

use super::{range_in, BitTable, Storage, WordTable, MAX_TABLE_SIZE};
use crate::wire::{put_words, ExceptionCode, REGISTER_LEN};

/// Sizes and default values of [`HeapStorage`]: the parameters of pyModbusTCP's
/// `DataBank(coils_size=0x10000, coils_default_value=False, ...)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[doc(alias = "coils_size")]
#[doc(alias = "coils_default_value")]
pub struct HeapStorageConfig {
    /// Number of coils (at most 0x10000).
    pub coils_size: usize,
    /// Initial value of every coil.
    pub coils_default_value: bool,
    /// Number of discrete inputs (at most 0x10000).
    pub d_inputs_size: usize,
    /// Initial value of every discrete input.
    pub d_inputs_default_value: bool,
    /// Number of holding registers (at most 0x10000).
    pub h_regs_size: usize,
    /// Initial value of every holding register.
    pub h_regs_default_value: u16,
    /// Number of input registers (at most 0x10000).
    pub i_regs_size: usize,
    /// Initial value of every input register.
    pub i_regs_default_value: u16,
}

impl Default for HeapStorageConfig {
    /// 0x10000 entries per table, all false / 0, as pyModbusTCP.
    fn default() -> Self {
        HeapStorageConfig {
            coils_size: MAX_TABLE_SIZE,
            coils_default_value: false,
            d_inputs_size: MAX_TABLE_SIZE,
            d_inputs_default_value: false,
            h_regs_size: MAX_TABLE_SIZE,
            h_regs_default_value: 0,
            i_regs_size: MAX_TABLE_SIZE,
            i_regs_default_value: 0,
        }
    }
}

/// A table size that Modbus cannot address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct TableTooLarge {
    /// The table's name as in [`HeapStorageConfig`] (`"coils_size"`, ...).
    pub table: &'static str,
    /// The size asked for.
    pub size: usize,
}

impl core::fmt::Display for TableTooLarge {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(
            f,
            "{} = {} is larger than the {} entries a 16-bit Modbus address can reach",
            self.table, self.size, MAX_TABLE_SIZE
        )
    }
}

impl core::error::Error for TableTooLarge {}

/// Storage in heap vectors sized at run time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeapStorage {
    coils: Vec<bool>,
    discrete_inputs: Vec<bool>,
    holding_registers: Vec<u16>,
    input_registers: Vec<u16>,
}

impl Default for HeapStorage {
    /// 0x10000 entries per table, all false / 0.
    fn default() -> Self {
        Self::with_defaults()
    }
}

impl HeapStorage {
    /// Tables as `config` says.
    ///
    /// # Errors
    ///
    /// [`TableTooLarge`], naming the table, when a size is above 0x10000.
    pub fn new(config: HeapStorageConfig) -> Result<Self, TableTooLarge> {
        for (table, size) in [
            ("coils_size", config.coils_size),
            ("d_inputs_size", config.d_inputs_size),
            ("h_regs_size", config.h_regs_size),
            ("i_regs_size", config.i_regs_size),
        ] {
            if size > MAX_TABLE_SIZE {
                return Err(TableTooLarge { table, size });
            }
        }
        Ok(HeapStorage {
            coils: vec![config.coils_default_value; config.coils_size],
            discrete_inputs: vec![config.d_inputs_default_value; config.d_inputs_size],
            holding_registers: vec![config.h_regs_default_value; config.h_regs_size],
            input_registers: vec![config.i_regs_default_value; config.i_regs_size],
        })
    }

    /// 0x10000 entries per table, all false / 0.
    #[must_use]
    pub fn with_defaults() -> Self {
        let size = MAX_TABLE_SIZE;
        HeapStorage {
            coils: vec![false; size],
            discrete_inputs: vec![false; size],
            holding_registers: vec![0; size],
            input_registers: vec![0; size],
        }
    }

    fn bits(&mut self, table: BitTable) -> &mut Vec<bool> {
        match table {
            BitTable::Coils => &mut self.coils,
            BitTable::DiscreteInputs => &mut self.discrete_inputs,
        }
    }

    fn words(&mut self, table: WordTable) -> &mut Vec<u16> {
        match table {
            WordTable::HoldingRegisters => &mut self.holding_registers,
            WordTable::InputRegisters => &mut self.input_registers,
        }
    }

    fn bits_ref(&self, table: BitTable) -> &[bool] {
        match table {
            BitTable::Coils => &self.coils,
            BitTable::DiscreteInputs => &self.discrete_inputs,
        }
    }

    fn words_ref(&self, table: WordTable) -> &[u16] {
        match table {
            WordTable::HoldingRegisters => &self.holding_registers,
            WordTable::InputRegisters => &self.input_registers,
        }
    }
}

impl Storage for HeapStorage {
    fn bits_len(&self, table: BitTable) -> usize {
        self.bits_ref(table).len()
    }

    fn words_len(&self, table: WordTable) -> usize {
        self.words_ref(table).len()
    }

    fn get_bits(
        &self,
        table: BitTable,
        address: u16,
        out: &mut [bool],
    ) -> Result<(), ExceptionCode> {
        let bits = self.bits_ref(table);
        let range =
            range_in(bits.len(), address, out.len()).ok_or(ExceptionCode::IllegalDataAddress)?;
        out.copy_from_slice(&bits[range]);
        Ok(())
    }

    fn set_bits(
        &mut self,
        table: BitTable,
        address: u16,
        values: &[bool],
    ) -> Result<(), ExceptionCode> {
        let bits = self.bits(table);
        let range =
            range_in(bits.len(), address, values.len()).ok_or(ExceptionCode::IllegalDataAddress)?;
        bits[range].copy_from_slice(values);
        Ok(())
    }

    fn get_words(
        &self,
        table: WordTable,
        address: u16,
        out: &mut [u16],
    ) -> Result<(), ExceptionCode> {
        let words = self.words_ref(table);
        let range =
            range_in(words.len(), address, out.len()).ok_or(ExceptionCode::IllegalDataAddress)?;
        out.copy_from_slice(&words[range]);
        Ok(())
    }

    #[inline]
    fn get_words_be(
        &self,
        table: WordTable,
        address: u16,
        out: &mut [u8],
    ) -> Result<(), ExceptionCode> {
        let words = self.words_ref(table);
        let range = range_in(words.len(), address, out.len() / REGISTER_LEN)
            .ok_or(ExceptionCode::IllegalDataAddress)?;
        put_words(&words[range], out);
        Ok(())
    }

    fn set_words(
        &mut self,
        table: WordTable,
        address: u16,
        values: &[u16],
    ) -> Result<(), ExceptionCode> {
        let words = self.words(table);
        let range = range_in(words.len(), address, values.len())
            .ok_or(ExceptionCode::IllegalDataAddress)?;
        words[range].copy_from_slice(values);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_sizes_and_defaults() {
        let s = HeapStorage::new(HeapStorageConfig {
            coils_size: 10,
            h_regs_size: 3,
            h_regs_default_value: 42,
            ..Default::default()
        })
        .unwrap();
        assert_eq!(s.bits_len(BitTable::Coils), 10);
        assert_eq!(s.bits_len(BitTable::DiscreteInputs), 0x10000);
        let mut out = [0; 3];
        s.get_words(WordTable::HoldingRegisters, 0, &mut out)
            .unwrap();
        assert_eq!(out, [42; 3]);
        let err = HeapStorage::new(HeapStorageConfig {
            i_regs_size: 0x10001,
            ..Default::default()
        })
        .unwrap_err();
        assert_eq!(err.table, "i_regs_size");
    }
}
