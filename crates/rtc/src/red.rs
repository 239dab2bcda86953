//! RED (RFC 2198) for subscribers that did not negotiate it.
//!
//! Chromium wraps its Opus in RED when the offer allows it: each packet carries the current
//! frame and copies of earlier ones, so a lost packet is covered by the next. The SFU
//! forwards RED as it is to those who negotiated it; a subscriber whose browser did not
//! (some Safari and Firefox versions) gets the primary frame alone as plain Opus, instead of
//! hearing nothing.

/// The primary (newest) block of a RED payload: its payload type and its bytes. `None` when
/// the payload is not well-formed RED (truncated headers, block lengths past the end).
///
/// Layout: a 4-byte header per redundant block (F=1, PT, 14-bit timestamp offset, 10-bit
/// length), then a 1-byte header for the primary (F=0, PT), then the blocks' data in the same
/// order, the primary's last.
pub(crate) fn primary(payload: &[u8]) -> Option<(u8, &[u8])> {
    let mut at = 0;
    let mut redundant = 0usize;
    loop {
        let first = *payload.get(at)?;
        if first & 0x80 == 0 {
            let start = at + 1 + redundant;
            return Some((first & 0x7f, payload.get(start..)?));
        }
        let hi = usize::from(*payload.get(at + 2)? & 0x03);
        let lo = usize::from(*payload.get(at + 3)?);
        redundant += (hi << 8) | lo;
        at += 4;
    }
}

#[cfg(test)]
mod tests {
    use super::primary;

    #[test]
    fn a_primary_alone_is_unwrapped() {
        // F=0, PT 111, then the frame.
        assert_eq!(primary(&[111, 1, 2, 3]), Some((111, &[1u8, 2, 3][..])));
    }

    #[test]
    fn redundant_blocks_are_skipped() {
        // One redundant block of 2 bytes (ts offset 960), then the primary of 3 bytes.
        let ts_offset: u16 = 960;
        let len: u16 = 2;
        let hdr = [
            0x80 | 111,
            (ts_offset >> 6) as u8,
            (((ts_offset & 0x3f) << 2) as u8) | (len >> 8) as u8,
            (len & 0xff) as u8,
        ];
        let mut p = hdr.to_vec();
        p.push(111);
        p.extend_from_slice(&[9, 9]); // the earlier frame
        p.extend_from_slice(&[7, 8, 6]); // the primary
        assert_eq!(primary(&p), Some((111, &[7u8, 8, 6][..])));
    }

    #[test]
    fn two_redundant_blocks_and_a_long_length() {
        let mut p = vec![0x80 | 111, 0, 0x01, 0x2c]; // 300 bytes
        p.extend_from_slice(&[0x80 | 111, 0, 0x00, 0x05]); // 5 bytes
        p.push(111);
        p.extend(std::iter::repeat_n(1u8, 300));
        p.extend(std::iter::repeat_n(2u8, 5));
        p.extend_from_slice(&[3, 4]);
        assert_eq!(primary(&p), Some((111, &[3u8, 4][..])));
    }

    #[test]
    fn malformed_red_is_refused_not_read_past_its_end() {
        assert_eq!(primary(&[]), None);
        assert_eq!(primary(&[0x80 | 111, 0, 0]), None); // a header cut short
        assert_eq!(primary(&[0x80 | 111, 0, 0, 9, 111, 1]), None); // 9 bytes claimed, 1 there
        assert_eq!(primary(&[0x80, 0, 0, 0]), None); // never reaches a primary header
    }
}
