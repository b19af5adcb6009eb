//! Exact conversion of stored timestamps to integer nanoseconds.

use crate::time::Timestamp;

const NS: i128 = 1_000_000_000;

/// How raw pcapng timestamp units become nanoseconds, chosen once per interface.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TsConv {
    /// `raw * k`: the unit is a whole number of ns (10^-n with n ≤ 9, or 2^0 = 1 s).
    Mul(u64),
    /// `raw / d`: the unit is 10^-n with n > 9; `d` = 10^(n-9) (sub-ns part dropped).
    Div(u64),
    /// `raw * 1e9 >> n`: the unit is 2^-n (floor, exact to the ns).
    Shift(u32),
    /// Unusable resolution: the raw value counts for nothing (only used by
    /// [`crate::capture::Interface::timestamp`], the reader rejects such interfaces).
    Zero,
}

impl TsConv {
    /// From the raw `if_tsresol` byte: high bit clear = 10^-n, set = 2^-n. `None` when the units
    /// per second do not fit a `u64` (10^20 and more, 2^64 and more), as Wireshark refuses them.
    pub(crate) fn from_tsresol(tsresol: u8) -> Option<TsConv> {
        let n = u32::from(tsresol & 0x7f);
        if tsresol & 0x80 == 0 {
            match n {
                0..=9 => Some(TsConv::Mul(10u64.pow(9 - n))),
                10..=19 => Some(TsConv::Div(10u64.pow(n - 9))),
                _ => None,
            }
        } else {
            match n {
                0 => Some(TsConv::Mul(1_000_000_000)),
                1..=63 => Some(TsConv::Shift(n)),
                _ => None,
            }
        }
    }

    /// Nanoseconds of `raw` units (not offset), exact floor.
    #[inline]
    pub(crate) fn nanos(self, raw: u64) -> i128 {
        match self {
            TsConv::Mul(k) => i128::from(raw) * i128::from(k),
            TsConv::Div(d) => i128::from(raw / d),
            // raw < 2^64, 1e9 < 2^30: the product fits in 94 bits.
            TsConv::Shift(n) => ((u128::from(raw) * 1_000_000_000u128) >> n) as i128,
            TsConv::Zero => 0,
        }
    }

    /// `offset_secs` seconds plus `raw` units, saturating to the `Timestamp` range.
    #[inline]
    pub(crate) fn timestamp(self, offset_secs: i64, raw: u64) -> Timestamp {
        saturate(i128::from(offset_secs) * NS + self.nanos(raw))
    }
}

/// Units per second of an `if_tsresol` byte (`None` when it does not fit a `u64`).
pub(crate) fn units_per_sec(tsresol: u8) -> Option<u64> {
    let n = u32::from(tsresol & 0x7f);
    if tsresol & 0x80 == 0 {
        10u64.checked_pow(n)
    } else {
        1u64.checked_shl(n).filter(|_| n < 64)
    }
}

/// The 64-bit pcapng timestamp of `(ts_high, ts_low)`.
#[inline]
pub(crate) fn raw64(ts_raw: (u32, u32)) -> u64 {
    (u64::from(ts_raw.0) << 32) | u64::from(ts_raw.1)
}

/// A legacy pcap timestamp: seconds plus a µs or ns fraction (taken as stored, even when out of
/// range). Cannot overflow: at most 2^32 s plus 2^32 µs.
#[inline]
pub(crate) fn pcap_ts(sec: u32, frac: u32, nanos: bool) -> Timestamp {
    let frac_ns = if nanos {
        i64::from(frac)
    } else {
        i64::from(frac) * 1000
    };
    Timestamp(i64::from(sec) * 1_000_000_000 + frac_ns)
}

#[inline]
fn saturate(ns: i128) -> Timestamp {
    Timestamp(ns.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimal_resolutions() {
        let t = |r: u8, raw: u64| TsConv::from_tsresol(r).unwrap().timestamp(0, raw).0;
        assert_eq!(t(6, 1_700_000_000_123_456), 1_700_000_000_123_456_000);
        assert_eq!(t(9, 1_700_000_000_123_456_789), 1_700_000_000_123_456_789);
        assert_eq!(t(3, 1_700_000_000_123), 1_700_000_000_123_000_000);
        assert_eq!(t(0, 5), 5_000_000_000);
        assert_eq!(t(12, 1_234_567_891_234), 1_234_567_891);
        assert_eq!(t(19, u64::MAX), (u64::MAX / 10_000_000_000) as i64);
        assert!(TsConv::from_tsresol(20).is_none());
        assert_eq!(units_per_sec(19), Some(10_000_000_000_000_000_000));
        assert_eq!(units_per_sec(20), None);
        // Saturates instead of overflowing.
        assert_eq!(t(0, u64::MAX), i64::MAX);
    }

    #[test]
    fn binary_resolutions() {
        let t = |r: u8, raw: u64| TsConv::from_tsresol(r).unwrap().timestamp(0, raw).0;
        // 2^-20 s units: 1.5 s = 1.5 * 2^20.
        assert_eq!(t(0x80 | 20, 3 << 19), 1_500_000_000);
        // One unit of 2^-20 s is 953.674... ns: floor.
        assert_eq!(t(0x80 | 20, 1), 953);
        // Large value: (raw >> n) * 1e9 + ((raw & mask) * 1e9 >> n).
        let raw: u64 = (1_700_000_000u64 << 30) | 0x2000_0001;
        let want =
            1_700_000_000i64 * 1_000_000_000 + ((0x2000_0001u64 * 1_000_000_000) >> 30) as i64;
        assert_eq!(t(0x80 | 30, raw), want);
        assert_eq!(t(0x80, 7), 7_000_000_000);
        assert_eq!(t(0x80 | 63, u64::MAX), 1_999_999_999);
        assert!(TsConv::from_tsresol(0x80 | 64).is_none());
        assert_eq!(units_per_sec(0x80 | 20), Some(1 << 20));
        assert_eq!(units_per_sec(0x80 | 64), None);
    }

    #[test]
    fn offsets_and_pcap() {
        let c = TsConv::from_tsresol(6).unwrap();
        assert_eq!(c.timestamp(100, 1_000_001).0, 101_000_001_000);
        assert_eq!(c.timestamp(-100, 0).0, -100_000_000_000);
        assert_eq!(c.timestamp(i64::MIN, 0), Timestamp::MIN);
        assert_eq!(
            pcap_ts(u32::MAX, u32::MAX, false).0,
            4_294_967_295_000_000_000 + 4_294_967_295_000
        );
        assert_eq!(pcap_ts(1, 2, true).0, 1_000_000_002);
        assert_eq!(raw64((1, 2)), (1 << 32) | 2);
    }
}
