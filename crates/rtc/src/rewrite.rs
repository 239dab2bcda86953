//! Per-subscriber rewriting of what a slot sends: sequence numbers, RTP timestamps and VP8
//! picture ids continue across a change of source (another simulcast layer, a participant who
//! rejoined with a new connection, a new participant in the slot).
//!
//! Why: a subscriber's outgoing stream is one SSRC for the life of its connection. In RTP mode
//! str0m derives the SRTP rollover counter from the extended sequence number we write, so a
//! late joiner that received the publisher's raw numbers (already past 65,535 after a long
//! call) would decrypt nothing; and a decoder that sees sequence numbers, timestamps or
//! picture ids jump backwards at a layer switch treats the new frames as old and drops them.

use std::time::Instant;

/// One incoming packet, as far as rewriting needs it.
#[derive(Debug, Clone, Copy)]
pub struct InPacket {
    /// The publisher's SSRC for this layer.
    pub ssrc: u32,
    /// Extended sequence number (str0m extends it).
    pub seq: u64,
    /// RTP timestamp.
    pub ts: u32,
    /// Arrival time.
    pub at: Instant,
    /// VP8 picture id (15 bit), when present.
    pub pid: Option<u16>,
    /// VP8 TL0PICIDX, when present.
    pub tl0: Option<u8>,
}

/// The rewritten numbers for one packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutPacket {
    /// Extended sequence number to write (the low 16 bits go on the wire).
    pub seq: u64,
    /// RTP timestamp to write.
    pub ts: u32,
    /// Picture id to write, when the packet had one.
    pub pid: Option<u16>,
    /// TL0PICIDX to write, when the packet had one.
    pub tl0: Option<u8>,
}

/// The state of one outgoing stream of a slot (audio or video).
#[derive(Debug)]
pub struct Rewriter {
    clock_rate: u32,
    src: Option<u32>,
    in_seq_base: u64,
    out_seq_base: u64,
    ts_off: u32,
    pid_off: u16,
    tl0_off: u8,
    /// Highest sequence number written; the next source continues after it.
    max_out_seq: u64,
    last_out_ts: Option<u32>,
    last_at: Option<Instant>,
    last_out_pid: Option<u16>,
    last_out_tl0: Option<u8>,
}

const PID_MASK: u16 = 0x7fff;

impl Rewriter {
    /// A stream that has written nothing yet; `clock_rate` is 90,000 for video, 48,000 for Opus.
    pub fn new(clock_rate: u32) -> Self {
        Self {
            clock_rate,
            src: None,
            in_seq_base: 0,
            out_seq_base: 1,
            ts_off: 0,
            pid_off: 0,
            tl0_off: 0,
            max_out_seq: 0,
            last_out_ts: None,
            last_at: None,
            last_out_pid: None,
            last_out_tl0: None,
        }
    }

    /// The SSRC being forwarded, if any.
    pub fn source(&self) -> Option<u32> {
        self.src
    }

    /// Forgets the source (the slot is empty or paused); the numbering continues when a
    /// source is switched in again.
    pub fn release(&mut self) {
        self.src = None;
    }

    /// Makes `p` the first packet of a new source (for video: the first packet of a keyframe).
    pub fn switch(&mut self, p: &InPacket) {
        self.src = Some(p.ssrc);
        self.in_seq_base = p.seq;
        self.out_seq_base = self.max_out_seq + 1;
        self.ts_off = match (self.last_out_ts, self.last_at) {
            (Some(last), Some(at)) => {
                // Continue the clock by the wall time since the last packet (at least one tick),
                // so the receiver's jitter buffer sees time move forward by what really passed.
                let elapsed = p.at.saturating_duration_since(at);
                let ticks = (elapsed.as_micros() as u64 * u64::from(self.clock_rate) / 1_000_000)
                    .max(1) as u32;
                last.wrapping_add(ticks).wrapping_sub(p.ts)
            }
            _ => 0,
        };
        self.pid_off = match (self.last_out_pid, p.pid) {
            (Some(last), Some(pid)) => last.wrapping_add(1).wrapping_sub(pid) & PID_MASK,
            _ => 0,
        };
        self.tl0_off = match (self.last_out_tl0, p.tl0) {
            (Some(last), Some(tl0)) => last.wrapping_add(1).wrapping_sub(tl0),
            _ => 0,
        };
    }

    /// The numbers to write for `p`, or `None` when it is not from the current source or
    /// predates the switch (a late packet of the old layer).
    pub fn map(&mut self, p: &InPacket) -> Option<OutPacket> {
        if self.src != Some(p.ssrc) || p.seq < self.in_seq_base {
            return None;
        }
        let seq = self.out_seq_base + (p.seq - self.in_seq_base);
        let ts = p.ts.wrapping_add(self.ts_off);
        if seq > self.max_out_seq {
            self.max_out_seq = seq;
        }
        let newer = self
            .last_out_ts
            .is_none_or(|last| (ts.wrapping_sub(last) as i32) >= 0);
        if newer {
            self.last_out_ts = Some(ts);
            self.last_at = Some(p.at);
        }
        let pid = p.pid.map(|v| v.wrapping_add(self.pid_off) & PID_MASK);
        let tl0 = p.tl0.map(|v| v.wrapping_add(self.tl0_off));
        if newer {
            if pid.is_some() {
                self.last_out_pid = pid;
            }
            if tl0.is_some() {
                self.last_out_tl0 = tl0;
            }
        }
        Some(OutPacket { seq, ts, pid, tl0 })
    }
}

#[cfg(test)]
#[allow(clippy::expect_used)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn pkt(ssrc: u32, seq: u64, ts: u32, at: Instant, pid: u16) -> InPacket {
        InPacket {
            ssrc,
            seq,
            ts,
            at,
            pid: Some(pid),
            tl0: Some(pid as u8),
        }
    }

    #[test]
    fn a_late_joiner_starts_at_one_whatever_the_publisher_has_sent() {
        // The publisher is 200,000 packets in (ROC 3); the subscriber must see ROC 0.
        let t = Instant::now();
        let mut r = Rewriter::new(90_000);
        let first = pkt(1, 200_000, 5_000, t, 100);
        r.switch(&first);
        let out = r.map(&first).expect("mapped");
        assert_eq!(out.seq, 1);
        assert_eq!(
            r.map(&pkt(1, 200_001, 5_000, t, 100)).map(|o| o.seq),
            Some(2)
        );
    }

    #[test]
    fn switching_layer_continues_sequence_time_and_picture_id() {
        let t = Instant::now();
        let mut r = Rewriter::new(90_000);
        let a = pkt(1, 10, 1_000, t, 30_000);
        r.switch(&a);
        for i in 0..5 {
            r.map(&pkt(
                1,
                10 + i,
                1_000 + i as u32 * 3_000,
                t,
                30_000 + i as u16,
            ));
        }
        // 33 ms later the other layer's keyframe starts, with unrelated numbers.
        let t2 = t + Duration::from_millis(33);
        let b = pkt(2, 70_000, 9_999_999, t2, 12);
        r.switch(&b);
        let out = r.map(&b).expect("mapped");
        assert_eq!(out.seq, 6, "follows the last written");
        assert_eq!(
            out.ts,
            1_000 + 4 * 3_000 + 2_970,
            "time moved by 33 ms at 90 kHz"
        );
        assert_eq!(out.pid, Some(30_005));
        assert_eq!(out.tl0, Some((30_004u16 as u8).wrapping_add(1)));
        // Late packets of the old layer are dropped.
        assert_eq!(r.map(&pkt(1, 15, 16_000, t2, 30_005)), None);
        // Packets before the keyframe of the new layer too.
        assert_eq!(r.map(&pkt(2, 69_999, 9_999_000, t2, 11)), None);
    }

    #[test]
    fn picture_ids_and_timestamps_wrap() {
        let t = Instant::now();
        let mut r = Rewriter::new(90_000);
        let a = pkt(1, 1, u32::MAX - 10, t, PID_MASK);
        r.switch(&a);
        r.map(&a);
        let b = pkt(2, 1, 0, t + Duration::from_millis(10), 5);
        r.switch(&b);
        let out = r.map(&b).expect("mapped");
        assert_eq!(out.pid, Some(0), "0x7fff + 1 wraps to 0");
        assert_eq!(out.ts, (u32::MAX - 10).wrapping_add(900));
    }

    #[test]
    fn a_retransmitted_older_packet_keeps_its_own_number() {
        let t = Instant::now();
        let mut r = Rewriter::new(48_000);
        let p = |seq| InPacket {
            ssrc: 9,
            seq,
            ts: seq as u32 * 960,
            at: t,
            pid: None,
            tl0: None,
        };
        r.switch(&p(100));
        for s in 100..110 {
            r.map(&p(s));
        }
        assert_eq!(r.map(&p(104)).map(|o| o.seq), Some(5));
        // The next source still continues after the highest, not after the late one.
        r.switch(&InPacket { ssrc: 10, ..p(7) });
        assert_eq!(
            r.map(&InPacket { ssrc: 10, ..p(7) }).map(|o| o.seq),
            Some(11)
        );
    }

    #[test]
    fn release_then_resume_continues_numbering() {
        let t = Instant::now();
        let mut r = Rewriter::new(90_000);
        let a = pkt(1, 1, 0, t, 1);
        r.switch(&a);
        r.map(&a);
        r.release();
        assert_eq!(
            r.map(&pkt(1, 2, 3_000, t, 2)),
            None,
            "paused: nothing forwarded"
        );
        let b = pkt(1, 50, 150_000, t + Duration::from_secs(2), 50);
        r.switch(&b);
        assert_eq!(r.map(&b).map(|o| (o.seq, o.ts)), Some((2, 180_000)));
    }
}
