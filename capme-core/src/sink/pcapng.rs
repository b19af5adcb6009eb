//! A pcapng writer that keeps each input interface's link type and timestamp units.
//!
//! Used when the records of one result come from inputs that a single legacy pcap header cannot
//! describe (different link types or precisions). Every source interface becomes one Interface
//! Description Block with the source's raw `if_tsresol` byte and `if_tsoffset`, and every record
//! an Enhanced Packet Block whose timestamp is in that interface's units, so no precision is lost
//! and pcapng inputs keep their raw timestamp words.

use crate::capture::{Format, Interface, Record};
use std::io::{self, Write};

const SHB_TYPE: u32 = 0x0A0D_0D0A;
const IDB_TYPE: u32 = 0x0000_0001;
const EPB_TYPE: u32 = 0x0000_0006;
const BOM: u32 = 0x1A2B_3C4D;

const OPT_ENDOFOPT: u16 = 0;
const OPT_SHB_USERAPPL: u16 = 4;
const OPT_IF_TSRESOL: u16 = 9;
const OPT_IF_FCSLEN: u16 = 13;
const OPT_IF_TSOFFSET: u16 = 14;

fn pad4(n: usize) -> usize {
    (4 - n % 4) % 4
}

fn invalid(msg: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, msg)
}

/// Appends one option (code, length, value, padding) to `out`, little-endian.
fn push_option(out: &mut Vec<u8>, code: u16, value: &[u8]) -> io::Result<()> {
    let len = u16::try_from(value.len())
        .map_err(|_| invalid(format!("pcapng option {code} longer than 65535 bytes")))?;
    out.extend_from_slice(&code.to_le_bytes());
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(value);
    out.extend_from_slice(&[0u8; 3][..pad4(value.len())]);
    Ok(())
}

/// Writes `block_type`, total length, `body` (already padded to 4), total length.
fn write_block<W: Write>(w: &mut W, block_type: u32, body: &[u8]) -> io::Result<()> {
    let total = u32::try_from(body.len() + 12)
        .map_err(|_| invalid("pcapng block larger than 4 GiB".to_string()))?;
    w.write_all(&block_type.to_le_bytes())?;
    w.write_all(&total.to_le_bytes())?;
    w.write_all(body)?;
    w.write_all(&total.to_le_bytes())
}

/// Writes a little-endian pcapng stream: one section, its interfaces, Enhanced Packet Blocks.
///
/// ```
/// use capme_core::capture::{Format, Interface};
/// use capme_core::sink::PcapngFileWriter;
///
/// let eth = Interface { format: Format::Pcap { nanos: false, big_endian: false }, linktype: 1,
///     snaplen: 65535, units_per_sec: 1_000_000, tsresol: 6, tsoffset: 0, fcs_bits: None };
/// let mut w = PcapngFileWriter::new(Vec::new())?;
/// let id = w.add_interface(&eth)?;
/// w.write_packet(id, &eth, (1_700_000_000, 5), 60, &[0u8; 60])?;
/// let bytes = w.into_inner()?;
/// assert_eq!(&bytes[..4], &[0x0a, 0x0d, 0x0d, 0x0a]);
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug)]
pub struct PcapngFileWriter<W: Write> {
    w: W,
    interfaces: u32,
    /// Reused for each block body.
    scratch: Vec<u8>,
}

impl<W: Write> PcapngFileWriter<W> {
    /// Writes the Section Header Block (version 1.0, section length -1, `shb_userappl`
    /// "capme").
    pub fn new(w: W) -> io::Result<Self> {
        Self::with_user_appl(w, Some("capme"))
    }

    /// Like [`new`](Self::new) with a chosen `shb_userappl` option, or none.
    pub fn with_user_appl(mut w: W, user_appl: Option<&str>) -> io::Result<Self> {
        let mut body = Vec::with_capacity(32);
        body.extend_from_slice(&BOM.to_le_bytes());
        body.extend_from_slice(&1u16.to_le_bytes());
        body.extend_from_slice(&0u16.to_le_bytes());
        body.extend_from_slice(&(-1i64).to_le_bytes());
        if let Some(app) = user_appl {
            push_option(&mut body, OPT_SHB_USERAPPL, app.as_bytes())?;
            push_option(&mut body, OPT_ENDOFOPT, &[])?;
        }
        write_block(&mut w, SHB_TYPE, &body)?;
        Ok(PcapngFileWriter {
            w,
            interfaces: 0,
            scratch: body,
        })
    }

    /// Writes an Interface Description Block for `iface` and returns its id (0, 1, …) for
    /// [`write_packet`](Self::write_packet).
    ///
    /// Keeps the link type, snaplen, the raw `if_tsresol` byte (omitted when it is 6, the
    /// default), `if_tsoffset` (omitted when 0) and the FCS length as `if_fcslen` (when known). A link type above 65535 cannot be written
    /// in an IDB and is an `InvalidInput` error.
    pub fn add_interface(&mut self, iface: &Interface) -> io::Result<u32> {
        let linktype = u16::try_from(iface.linktype).map_err(|_| {
            invalid(format!(
                "link type {} does not fit a pcapng interface (16 bits)",
                iface.linktype
            ))
        })?;
        let body = &mut self.scratch;
        body.clear();
        body.extend_from_slice(&linktype.to_le_bytes());
        body.extend_from_slice(&0u16.to_le_bytes());
        body.extend_from_slice(&iface.snaplen.to_le_bytes());
        let mut opts = false;
        if iface.tsresol != 6 {
            push_option(body, OPT_IF_TSRESOL, &[iface.tsresol])?;
            opts = true;
        }
        if iface.tsoffset != 0 {
            push_option(body, OPT_IF_TSOFFSET, &iface.tsoffset.to_le_bytes())?;
            opts = true;
        }
        if let Some(bits) = iface.fcs_bits {
            push_option(body, OPT_IF_FCSLEN, &[bits])?;
            opts = true;
        }
        if opts {
            push_option(body, OPT_ENDOFOPT, &[])?;
        }
        write_block(&mut self.w, IDB_TYPE, body)?;
        let id = self.interfaces;
        self.interfaces += 1;
        Ok(id)
    }

    /// The number of interfaces written so far.
    pub fn interface_count(&self) -> u32 {
        self.interfaces
    }

    /// Writes one Enhanced Packet Block on interface `iface_id` (as returned by
    /// [`add_interface`](Self::add_interface) for `iface`).
    ///
    /// The timestamp stays in `iface`'s units: a record from a legacy pcap (`ts_raw` = seconds,
    /// fraction) becomes `seconds * units_per_sec + fraction`, a pcapng record keeps its
    /// `(ts_high, ts_low)` words. Data is padded to 4 bytes. An unknown `iface_id`, a
    /// timestamp that does not fit 64 bits or data over 4 GiB is an `InvalidInput` error.
    pub fn write_packet(
        &mut self,
        iface_id: u32,
        iface: &Interface,
        ts_raw: (u32, u32),
        orig_len: u32,
        data: &[u8],
    ) -> io::Result<()> {
        if iface_id >= self.interfaces {
            return Err(invalid(format!(
                "packet for interface {iface_id}, but only {} written",
                self.interfaces
            )));
        }
        let raw: u64 = match iface.format {
            Format::Pcap { .. } => u64::from(ts_raw.0)
                .checked_mul(iface.units_per_sec)
                .and_then(|v| v.checked_add(u64::from(ts_raw.1)))
                .ok_or_else(|| {
                    invalid(format!(
                        "timestamp {}.{} in units of 1/{} s does not fit 64 bits",
                        ts_raw.0, ts_raw.1, iface.units_per_sec
                    ))
                })?,
            Format::Pcapng => (u64::from(ts_raw.0) << 32) | u64::from(ts_raw.1),
        };
        let caplen = u32::try_from(data.len())
            .ok()
            .filter(|&c| c <= u32::MAX - 36)
            .ok_or_else(|| invalid("packet larger than 4 GiB".to_string()))?;
        let total = 32 + caplen + pad4(data.len()) as u32;
        let mut h = [0u8; 28];
        for (i, v) in [
            EPB_TYPE,
            total,
            iface_id,
            (raw >> 32) as u32,
            raw as u32,
            caplen,
            orig_len,
        ]
        .into_iter()
        .enumerate()
        {
            h[i * 4..i * 4 + 4].copy_from_slice(&v.to_le_bytes());
        }
        self.w.write_all(&h)?;
        self.w.write_all(data)?;
        self.w.write_all(&[0u8; 3][..pad4(data.len())])?;
        self.w.write_all(&total.to_le_bytes())
    }

    /// [`write_packet`](Self::write_packet) with the fields of a [`Record`].
    pub fn write_record(
        &mut self,
        iface_id: u32,
        iface: &Interface,
        rec: &Record<'_>,
    ) -> io::Result<()> {
        self.write_packet(iface_id, iface, rec.ts_raw, rec.orig_len, rec.data)
    }

    /// Flushes and returns the underlying writer.
    pub fn into_inner(mut self) -> io::Result<W> {
        self.w.flush()?;
        Ok(self.w)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capture::CaptureReader;
    use crate::testutil::capture::{PcapBuilder, PcapngBuilder};
    use std::io::Cursor;

    fn reader(bytes: Vec<u8>) -> CaptureReader {
        CaptureReader::from_read(Box::new(Cursor::new(bytes)), "out.pcapng".into()).unwrap()
    }

    /// Copies every record of `inputs` into one pcapng and reads it back.
    fn roundtrip(inputs: Vec<Vec<u8>>) {
        let mut w = PcapngFileWriter::new(Vec::new()).unwrap();
        let mut want = Vec::new(); // (ts ns, data, linktype)
        for input in inputs {
            let mut r = reader(input);
            let mut ids: Vec<Option<u32>> = Vec::new();
            while let Some((rec, iface)) = r.next_with_interface().unwrap() {
                if ids.len() <= rec.iface {
                    ids.resize(rec.iface + 1, None);
                }
                let id = match ids[rec.iface] {
                    Some(id) => id,
                    None => {
                        let id = w.add_interface(iface).unwrap();
                        ids[rec.iface] = Some(id);
                        id
                    }
                };
                w.write_record(id, iface, &rec).unwrap();
                want.push((rec.ts, rec.data.to_vec(), rec.orig_len, iface.linktype));
            }
        }
        let out = w.into_inner().unwrap();
        let mut r = reader(out);
        let mut got = Vec::new();
        while let Some((rec, iface)) = r.next_with_interface().unwrap() {
            let lt = iface.linktype;
            got.push((rec.ts, rec.data.to_vec(), rec.orig_len, lt));
        }
        assert_eq!(got, want);
    }

    #[test]
    fn roundtrip_mixed_inputs() {
        let us = PcapBuilder::new(1, false, false)
            .packet((1_700_000_000, 123_456), &[1, 2, 3, 4, 5])
            .packet((1_700_000_001, 999_999), &[6; 64])
            .orig_len(1500)
            .bytes();
        let ns_be = PcapBuilder::new(113, true, true)
            .packet((1_700_000_000, 123_456_789), &[7; 3])
            .bytes();
        let mut ng = PcapngBuilder::new();
        ng.section(true);
        let a = ng.interface(101, 0, Some(0x80 | 20), Some(-3600));
        let b = ng.interface(1, 65535, Some(3), None);
        ng.epb(a, (1_700_003_600u64 << 20) | 12345, &[9; 7], 7).pb(
            b as u16,
            1_700_000_000_123,
            &[8; 1],
            60,
        );
        let mut w = PcapngFileWriter::new(Vec::new()).unwrap();
        let eth = Interface {
            format: Format::Pcapng,
            linktype: 1,
            snaplen: 0,
            units_per_sec: 1_000_000_000,
            tsresol: 9,
            tsoffset: 10,
            fcs_bits: None,
        };
        w.add_interface(&eth).unwrap();
        w.write_packet(0, &eth, (0, 42), 2, &[0xaa, 0xbb]).unwrap();
        let own = w.into_inner().unwrap();
        roundtrip(vec![us, ns_be, ng.bytes(), own]);
    }

    #[test]
    fn idb_options_and_layout() {
        let mut w = PcapngFileWriter::with_user_appl(Vec::new(), None).unwrap();
        let plain = Interface {
            format: Format::Pcap {
                nanos: false,
                big_endian: true,
            },
            linktype: 1,
            snaplen: 65535,
            units_per_sec: 1_000_000,
            tsresol: 6,
            tsoffset: 0,
            fcs_bits: None,
        };
        w.add_interface(&plain).unwrap();
        w.write_packet(0, &plain, (1, 2), 5, &[1, 2, 3, 4, 5])
            .unwrap();
        let v = w.into_inner().unwrap();
        // SHB without options: 28 bytes; IDB without options: 20 bytes.
        assert_eq!(u32::from_le_bytes(v[4..8].try_into().unwrap()), 28);
        assert_eq!(u32::from_le_bytes(v[32..36].try_into().unwrap()), 20);
        let epb = &v[48..];
        assert_eq!(u32::from_le_bytes(epb[4..8].try_into().unwrap()), 40);
        assert_eq!(epb.len(), 40);
        let raw = (u64::from(u32::from_le_bytes(epb[12..16].try_into().unwrap())) << 32)
            | u64::from(u32::from_le_bytes(epb[16..20].try_into().unwrap()));
        assert_eq!(raw, 1_000_002);
        assert_eq!(&epb[28..36], &[1, 2, 3, 4, 5, 0, 0, 0]);

        let mut w = PcapngFileWriter::new(Vec::new()).unwrap();
        assert!(w.write_packet(0, &plain, (1, 2), 5, &[]).is_err());
        let big = Interface {
            linktype: 70_000,
            ..plain
        };
        assert!(w.add_interface(&big).is_err());
        let bin = Interface {
            format: Format::Pcapng,
            tsresol: 0x80 | 20,
            units_per_sec: 1 << 20,
            tsoffset: 7,
            ..big
        };
        let bin = Interface { linktype: 1, ..bin };
        assert_eq!(w.add_interface(&bin).unwrap(), 0);
        assert_eq!(w.interface_count(), 1);
        let r = {
            let mut r = reader(w.into_inner().unwrap());
            assert!(r.next_record().unwrap().is_none());
            r.interfaces().to_vec()
        };
        assert_eq!(r, vec![bin]);
    }
}
