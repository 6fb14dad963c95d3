//! Tables with sizes fixed at compile time: no heap, bit tables packed.

use super::{range_in, BitTable, Storage, WordTable, MAX_TABLE_SIZE};
use crate::wire::{put_words, ExceptionCode, REGISTER_LEN};

/// Storage in fixed arrays sized by const generics; no heap.
///
/// Coils and discrete inputs are bit-packed: `COIL_BYTES` and
/// `DISCRETE_INPUT_BYTES` are sizes in *bytes*, so the tables hold
/// `COIL_BYTES * 8` and `DISCRETE_INPUT_BYTES * 8` bits ([`bit_bytes`]
/// rounds a number of bits up). `HOLDING` and `INPUT` are numbers of
/// registers. A size above what Modbus can address (0x10000 entries) does
/// not compile.
///
/// [`bit_bytes`]: FixedStorage::bit_bytes
///
/// ```
/// use modbus_device::{DataBank, FixedStorage};
///
/// // 100 coils (104 after rounding), 16 discrete inputs, 64 + 32 registers:
/// // 2 bytes + 13 + 128 + 64 of RAM.
/// type Tables = FixedStorage<{ FixedStorage::<0, 0, 0, 0>::bit_bytes(100) }, 2, 64, 32>;
/// let mut bank = DataBank::new(Tables::new());
/// bank.set_holding_registers(0, &[1, 2, 3]).unwrap();
/// assert!(bank.set_holding_registers(63, &[1, 2]).is_err()); // no partial write
/// ```
#[derive(Debug, Clone)]
pub struct FixedStorage<
    const COIL_BYTES: usize,
    const DISCRETE_INPUT_BYTES: usize,
    const HOLDING: usize,
    const INPUT: usize,
> {
    coils: [u8; COIL_BYTES],
    discrete_inputs: [u8; DISCRETE_INPUT_BYTES],
    holding_registers: [u16; HOLDING],
    input_registers: [u16; INPUT],
}

impl<const C: usize, const D: usize, const H: usize, const I: usize> Default
    for FixedStorage<C, D, H, I>
{
    fn default() -> Self {
        Self::new()
    }
}

impl<const C: usize, const D: usize, const H: usize, const I: usize> FixedStorage<C, D, H, I> {
    const SIZES_FIT: () = assert!(
        C * 8 <= MAX_TABLE_SIZE
            && D * 8 <= MAX_TABLE_SIZE
            && H <= MAX_TABLE_SIZE
            && I <= MAX_TABLE_SIZE,
        "a FixedStorage table is larger than the 0x10000 entries Modbus can address"
    );

    /// Bytes needed for `bits` bits: use it for `COIL_BYTES` and `DISCRETE_INPUT_BYTES`.
    #[must_use]
    pub const fn bit_bytes(bits: usize) -> usize {
        bits.div_ceil(8)
    }

    /// All bits false, all registers 0.
    #[must_use]
    pub const fn new() -> Self {
        Self::filled(false, false, 0, 0)
    }

    /// Every entry of each table set to the given default value (pyModbusTCP's
    /// `coils_default_value`, `d_inputs_default_value`, ...).
    #[must_use]
    pub const fn filled(coils: bool, discrete_inputs: bool, holding: u16, input: u16) -> Self {
        #[allow(clippy::let_unit_value)]
        let () = Self::SIZES_FIT;
        FixedStorage {
            coils: [if coils { 0xFF } else { 0x00 }; C],
            discrete_inputs: [if discrete_inputs { 0xFF } else { 0x00 }; D],
            holding_registers: [holding; H],
            input_registers: [input; I],
        }
    }

    fn bits(&self, table: BitTable) -> &[u8] {
        match table {
            BitTable::Coils => &self.coils,
            BitTable::DiscreteInputs => &self.discrete_inputs,
        }
    }

    fn bits_mut(&mut self, table: BitTable) -> &mut [u8] {
        match table {
            BitTable::Coils => &mut self.coils,
            BitTable::DiscreteInputs => &mut self.discrete_inputs,
        }
    }

    fn words(&self, table: WordTable) -> &[u16] {
        match table {
            WordTable::HoldingRegisters => &self.holding_registers,
            WordTable::InputRegisters => &self.input_registers,
        }
    }

    fn words_mut(&mut self, table: WordTable) -> &mut [u16] {
        match table {
            WordTable::HoldingRegisters => &mut self.holding_registers,
            WordTable::InputRegisters => &mut self.input_registers,
        }
    }
}

impl<const C: usize, const D: usize, const H: usize, const I: usize> Storage
    for FixedStorage<C, D, H, I>
{
    fn bits_len(&self, table: BitTable) -> usize {
        self.bits(table).len() * 8
    }

    fn words_len(&self, table: WordTable) -> usize {
        self.words(table).len()
    }

    fn get_bits(
        &self,
        table: BitTable,
        address: u16,
        out: &mut [bool],
    ) -> Result<(), ExceptionCode> {
        let bytes = self.bits(table);
        let range = range_in(bytes.len() * 8, address, out.len())
            .ok_or(ExceptionCode::IllegalDataAddress)?;
        // Eight bits at a time: each output chunk of 8 comes from at most two
        // source bytes, shifted into place once.
        let (first, shift) = (range.start / 8, range.start % 8);
        let source = bytes.get(first..).unwrap_or(&[]);
        for (j, chunk) in out.chunks_mut(8).enumerate() {
            let low = u16::from(source.get(j).copied().unwrap_or(0));
            let high = u16::from(source.get(j + 1).copied().unwrap_or(0));
            let byte = ((low | high << 8) >> shift) as u8;
            for (k, slot) in chunk.iter_mut().enumerate() {
                *slot = byte >> k & 1 == 1;
            }
        }
        Ok(())
    }

    fn set_bits(
        &mut self,
        table: BitTable,
        address: u16,
        values: &[bool],
    ) -> Result<(), ExceptionCode> {
        let bytes = self.bits_mut(table);
        let range = range_in(bytes.len() * 8, address, values.len())
            .ok_or(ExceptionCode::IllegalDataAddress)?;
        for (&value, bit) in values.iter().zip(range) {
            if let Some(byte) = bytes.get_mut(bit / 8) {
                let mask = 1u8 << (bit % 8);
                *byte = if value { *byte | mask } else { *byte & !mask };
            }
        }
        Ok(())
    }

    fn get_words(
        &self,
        table: WordTable,
        address: u16,
        out: &mut [u16],
    ) -> Result<(), ExceptionCode> {
        let words = self.words(table);
        let range =
            range_in(words.len(), address, out.len()).ok_or(ExceptionCode::IllegalDataAddress)?;
        out.copy_from_slice(&words[range]);
        Ok(())
    }

    fn get_words_be(
        &self,
        table: WordTable,
        address: u16,
        out: &mut [u8],
    ) -> Result<(), ExceptionCode> {
        let words = self.words(table);
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
        let words = self.words_mut(table);
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
    fn bits_are_packed_and_independent() {
        let mut s = FixedStorage::<2, 1, 4, 4>::new();
        assert_eq!(s.bits_len(BitTable::Coils), 16);
        s.set_bits(
            BitTable::Coils,
            3,
            &[true, true, false, true, true, true, true, true, true],
        )
        .unwrap();
        let mut out = [false; 16];
        s.get_bits(BitTable::Coils, 0, &mut out).unwrap();
        let expected: [bool; 16] = core::array::from_fn(|i| (3..12).contains(&i) && i != 5);
        assert_eq!(out, expected);
        let mut di = [true; 8];
        s.get_bits(BitTable::DiscreteInputs, 0, &mut di).unwrap();
        assert_eq!(di, [false; 8]);
        assert_eq!(
            s.set_bits(BitTable::Coils, 15, &[true, true]),
            Err(ExceptionCode::IllegalDataAddress)
        );
        assert_eq!(
            s.get_bits(BitTable::Coils, 0xFFFF, &mut [false; 2]),
            Err(ExceptionCode::IllegalDataAddress)
        );
    }

    #[test]
    fn filled_defaults() {
        let s = FixedStorage::<1, 1, 2, 2>::filled(true, false, 7, 9);
        let mut bits = [false; 8];
        s.get_bits(BitTable::Coils, 0, &mut bits).unwrap();
        assert_eq!(bits, [true; 8]);
        let mut words = [0; 2];
        s.get_words(WordTable::InputRegisters, 0, &mut words)
            .unwrap();
        assert_eq!(words, [9, 9]);
    }

    #[test]
    fn unaligned_reads_match_bit_by_bit() {
        let mut s = FixedStorage::<4, 0, 0, 0>::new();
        let pattern: [bool; 32] = core::array::from_fn(|i| (i * 7 + i / 3) % 3 == 0);
        s.set_bits(BitTable::Coils, 0, &pattern).unwrap();
        for start in 0..32 {
            for len in 0..=(32 - start) {
                let mut out = [false; 32];
                s.get_bits(BitTable::Coils, start as u16, &mut out[..len])
                    .unwrap();
                assert_eq!(
                    out[..len],
                    pattern[start..start + len],
                    "start {start} len {len}"
                );
            }
        }
    }
}
