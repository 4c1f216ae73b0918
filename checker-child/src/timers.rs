//! When each check runs next. A check that ran at `now` is due at `now + delay`, with few
//! distinct delays (delay_loop, delay_before_retry) and `now` only growing: one FIFO lane
//! per delay is in order by itself, so scheduling and taking the next due check are O(1)
//! instead of a heap's O(log n) over every check. What does not fit a lane — the random
//! first runs, a time earlier than the lane's last, more distinct delays than lanes — goes
//! to a heap. Entries are (due, id); the caller skips stale ones.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::time::{Duration, Instant};

const MAX_LANES: usize = 8;

#[derive(Default)]
pub struct Timers {
    lanes: Vec<(Duration, VecDeque<(Instant, usize)>)>,
    heap: BinaryHeap<Reverse<(Instant, usize)>>,
}

impl Timers {
    pub fn clear(&mut self) {
        self.lanes.clear();
        self.heap.clear();
    }

    /// Due at `at`.
    pub fn at(&mut self, at: Instant, id: usize) {
        self.heap.push(Reverse((at, id)));
    }

    /// Due `delay` after `from`.
    pub fn after(&mut self, from: Instant, delay: Duration, id: usize) {
        let at = from + delay;
        let lane = match self.lanes.iter().position(|(d, _)| *d == delay) {
            Some(i) => Some(i),
            None if self.lanes.len() < MAX_LANES => {
                self.lanes.push((delay, VecDeque::new()));
                Some(self.lanes.len() - 1)
            }
            None => None,
        };
        match lane {
            Some(i) if self.lanes[i].1.back().is_none_or(|(t, _)| *t <= at) => {
                self.lanes[i].1.push_back((at, id))
            }
            _ => self.at(at, id),
        }
    }

    /// The earliest entry and where it is (`None`: the heap).
    fn first(&self) -> Option<((Instant, usize), Option<usize>)> {
        let mut best = self.heap.peek().map(|Reverse(e)| (*e, None));
        for (i, (_, q)) in self.lanes.iter().enumerate() {
            if let Some(&e) = q.front() {
                if best.is_none_or(|(b, _)| e < b) {
                    best = Some((e, Some(i)));
                }
            }
        }
        best
    }

    pub fn peek(&self) -> Option<(Instant, usize)> {
        self.first().map(|(e, _)| e)
    }

    /// The earliest entry if it is due by `now`.
    pub fn pop_due(&mut self, now: Instant) -> Option<(Instant, usize)> {
        let (e, from) = self.first()?;
        if e.0 > now {
            return None;
        }
        match from {
            Some(i) => self.lanes[i].1.pop_front(),
            None => self.heap.pop().map(|Reverse(e)| e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_come_out_in_time_order_from_lanes_and_heap() {
        let t0 = Instant::now();
        let s = Duration::from_secs;
        let mut t = Timers::default();
        t.at(t0 + s(3), 1);
        t.after(t0, s(5), 2);
        t.after(t0 + s(1), s(5), 3);
        t.after(t0, s(1), 4);
        // Earlier than the lane's last: the heap takes it, the order holds.
        t.after(t0, s(5), 5);
        for d in 10..30 {
            t.after(t0, s(d), 100 + d as usize); // more delays than lanes
        }
        assert_eq!(t.peek(), Some((t0 + s(1), 4)));
        assert_eq!(t.pop_due(t0), None, "nothing due yet");
        let mut order = Vec::new();
        while let Some((at, id)) = t.pop_due(t0 + s(100)) {
            order.push((at, id));
        }
        let mut sorted = order.clone();
        sorted.sort();
        assert_eq!(order, sorted);
        assert_eq!(order.len(), 25);
        assert_eq!(
            &order[..4],
            &[
                (t0 + s(1), 4),
                (t0 + s(3), 1),
                (t0 + s(5), 2),
                (t0 + s(5), 5)
            ]
        );
    }
}
