//! FIFO queues for FC 24 (Read FIFO Queue), in the holding registers.
//!
//! The model is the one of the specification's example (section 6.18): the
//! holding register at the FIFO pointer address holds the queue count `N`,
//! and the `N` registers after it hold the queue, oldest first. A request
//! reads the count and the queue without changing them; a count above 31
//! is answered with exception 3, a queue that runs past the table with
//! exception 2. Any holding register can be a FIFO pointer: no extra
//! storage, and clients see the same registers with FC 3.
//!
//! The application fills a queue with [`DataBank::set_fifo_queue`],
//! [`DataBank::push_fifo_queue`] and [`DataBank::pop_fifo_queue`] (local
//! writes: no change callback).

use super::data_bank::{AccessError, ChangeCallbacks, DataBank};
use super::files::FileStorage;
use super::Storage;
use crate::wire::MAX_FIFO_COUNT;

impl<S: Storage, C: ChangeCallbacks, F: FileStorage> DataBank<S, C, F> {
    /// The queue count at `pointer` (the register's value).
    fn fifo_count(&self, pointer: u16) -> Result<u16, AccessError> {
        let mut count = [0u16];
        self.get_holding_registers(pointer, &mut count)?;
        Ok(count[0])
    }

    /// The queue of FC 24 at `pointer` becomes `values`: its count at
    /// `pointer`, the values in the holding registers after it.
    ///
    /// ```
    /// use modbus_device::DataBank;
    ///
    /// let mut bank = DataBank::default();
    /// bank.set_fifo_queue(1246, &[440, 4740])?; // the specification's example
    /// let mut regs = [0u16; 3];
    /// bank.get_holding_registers(1246, &mut regs)?;
    /// assert_eq!(regs, [2, 440, 4740]);
    /// # Ok::<(), modbus_device::AccessError>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`AccessError::FifoFull`] for more than 31 values;
    /// [`AccessError::OutOfRange`] when `pointer` and the values do not fit
    /// the holding registers; [`AccessError::Storage`] when the storage
    /// refuses. Nothing is written then.
    pub fn set_fifo_queue(&mut self, pointer: u16, values: &[u16]) -> Result<(), AccessError> {
        if values.len() > usize::from(MAX_FIFO_COUNT) {
            return Err(AccessError::FifoFull { pointer });
        }
        let mut regs = [0u16; MAX_FIFO_COUNT as usize + 1];
        let regs = &mut regs[..=values.len()];
        regs[0] = values.len() as u16; // at most 31: checked above
        regs[1..].copy_from_slice(values);
        self.set_holding_registers(pointer, regs)
    }

    /// Appends `value` to the queue at `pointer` (and counts it).
    ///
    /// # Errors
    ///
    /// [`AccessError::FifoFull`] when the queue already holds 31 values (or
    /// its count register holds more); [`AccessError::OutOfRange`] when the
    /// new value does not fit the holding registers;
    /// [`AccessError::Storage`] when the storage refuses. Nothing is
    /// written then.
    pub fn push_fifo_queue(&mut self, pointer: u16, value: u16) -> Result<(), AccessError> {
        let count = self.fifo_count(pointer)?;
        if count >= MAX_FIFO_COUNT {
            return Err(AccessError::FifoFull { pointer });
        }
        let mut regs = [0u16; MAX_FIFO_COUNT as usize + 1];
        let regs = &mut regs[..=usize::from(count) + 1];
        self.get_holding_registers(pointer, &mut regs[..=usize::from(count)])
            .and_then(|()| {
                regs[0] = count + 1;
                regs[usize::from(count) + 1] = value;
                self.set_holding_registers(pointer, regs)
            })
    }

    /// Removes and returns the oldest value of the queue at `pointer`
    /// (`None` when it is empty); the others move one register down.
    ///
    /// # Errors
    ///
    /// [`AccessError::FifoFull`] when the count register holds more than 31
    /// (not a queue of FC 24); [`AccessError::OutOfRange`] when the queue
    /// does not fit the holding registers; [`AccessError::Storage`] when
    /// the storage refuses. Nothing is written then.
    pub fn pop_fifo_queue(&mut self, pointer: u16) -> Result<Option<u16>, AccessError> {
        let count = self.fifo_count(pointer)?;
        if count > MAX_FIFO_COUNT {
            return Err(AccessError::FifoFull { pointer });
        }
        if count == 0 {
            return Ok(None);
        }
        let mut regs = [0u16; MAX_FIFO_COUNT as usize + 1];
        let regs = &mut regs[..=usize::from(count)];
        self.get_holding_registers(pointer, regs)?;
        let oldest = regs[1];
        regs.copy_within(2.., 1);
        regs[0] = count - 1;
        // The last register keeps its value: only the count says what is queued.
        self.set_holding_registers(pointer, &regs[..usize::from(count)])?;
        Ok(Some(oldest))
    }
}
