//! The silent intervals of RTU framing ("Modbus over Serial Line V1.02",
//! section 2.5.1.1): a frame ends after 3.5 character times of silence
//! (t3.5), and a silence of more than 1.5 character times inside a frame
//! (t1.5) makes it incomplete, to be discarded.

use core::time::Duration;

/// Bits on the line per character in RTU mode: a start bit, 8 data bits,
/// and a parity bit and a stop bit, or no parity and 2 stop bits
/// (section 2.5.1). Without parity and with one stop bit, a character is
/// 10 bits; the 11-bit time is then a little longer, which only delays the
/// end of a frame.
pub const BITS_PER_CHAR: u32 = 11;

/// Above this rate the specification fixes t1.5 and t3.5 (section 2.5.1.1).
pub const FIXED_TIMING_ABOVE_BAUD: u32 = 19_200;

/// The character time and the two silent intervals of a serial line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct RtuTiming {
    /// How long one character takes on the line.
    pub char_time: Duration,
    /// The longest silence allowed between two characters of a frame.
    pub t1_5: Duration,
    /// The silence that ends a frame.
    pub t3_5: Duration,
}

impl RtuTiming {
    /// The intervals at `baud` bits per second: 1.5 and 3.5 character
    /// times of 11 bits; above 19,200 baud the fixed 750 µs and 1,750 µs
    /// the specification recommends. A `baud` of 0 is taken as 1.
    #[must_use]
    pub const fn for_baud(baud: u32) -> Self {
        let baud = if baud == 0 { 1 } else { baud as u64 };
        // Nanoseconds, rounded up: a silence a little too long is safe,
        // one too short would cut frames.
        let char_nanos = (BITS_PER_CHAR as u64 * 1_000_000_000).div_ceil(baud);
        let char_time = Duration::from_nanos(char_nanos);
        if baud > FIXED_TIMING_ABOVE_BAUD as u64 {
            RtuTiming {
                char_time,
                t1_5: Duration::from_micros(750),
                t3_5: Duration::from_micros(1750),
            }
        } else {
            // Whole microseconds, rounded up: deadlines are `Instant`s.
            RtuTiming {
                char_time,
                t1_5: Duration::from_micros((char_nanos * 3).div_ceil(2000)),
                t3_5: Duration::from_micros((char_nanos * 7).div_ceil(2000)),
            }
        }
    }

    /// How long `chars` characters take on the line (saturating).
    #[must_use]
    pub fn chars(&self, chars: usize) -> Duration {
        let chars = u32::try_from(chars).unwrap_or(u32::MAX);
        self.char_time.saturating_mul(chars)
    }
}
