//! Effective priority and FAULT from tracker state (reference §5.2, keepalived's
//! `initialise_*_tracking_priorities`): recomputed from the level of every tracked object,
//! never carried as a delta. Pure.

use conf::project::ObjId;

/// What an instance (or its sync group) tracks.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum TrackKey {
    /// A `vrrp_script` by id.
    Script(ObjId),
    /// An interface by name (`track_interface`, and the instance's own interface).
    Interface(String),
    /// A `track_file` block by name.
    File(String),
    /// A `vrrp_track_process` block by name.
    Process(String),
    /// A `bfd_instance` by name (`track_bfd`): up while its session is Up.
    Bfd(String),
}

/// The state of a tracked object.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Level {
    /// Script succeeded, link up and running, process quorum held.
    Up(bool),
    /// A tracked file's number.
    Value(i64),
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Tracked {
    pub key: TrackKey,
    /// The object's name, for log lines.
    pub name: String,
    pub weight: i32,
    pub reverse: bool,
}

/// One object's contribution to the priority, or `None` when it puts the instance in
/// FAULT. keepalived: with weight w and multiplier m (−1 with `reverse`), an up object adds
/// w·m if w > 0, a down one w·m if w < 0; weight 0 means FAULT while down (up, with
/// `reverse`). A file adds value·w·m clamped to 253, and ≤ −254 is FAULT; with weight 0 a
/// non-zero value (zero, with `reverse`) is FAULT.
pub fn contribution(level: Level, weight: i32, reverse: bool) -> Option<i64> {
    let m: i64 = if reverse { -1 } else { 1 };
    let w = i64::from(weight);
    match level {
        Level::Up(up) => {
            if w == 0 {
                (up != reverse).then_some(0)
            } else if (w > 0) == up {
                Some(w * m)
            } else {
                Some(0)
            }
        }
        Level::Value(v) => {
            if w == 0 {
                ((v != 0) == reverse).then_some(0)
            } else {
                let s = v.saturating_mul(w).saturating_mul(m);
                (s > -254).then_some(s.min(253))
            }
        }
    }
}

/// The outcome for one instance: effective priority, and the first tracker holding it in
/// FAULT (if any). Objects with no state yet (a script that never ran) count for nothing.
pub fn evaluate<'a>(
    base: u8,
    tracks: impl IntoIterator<Item = (&'a Tracked, Option<Level>)>,
) -> (u8, Option<&'a TrackKey>) {
    let mut total = i64::from(base);
    let mut fault = None;
    for (t, level) in tracks {
        let Some(level) = level else { continue };
        match contribution(level, t.weight, t.reverse) {
            Some(c) => total += c,
            None => {
                fault.get_or_insert(&t.key);
            }
        }
    }
    // The address owner is never adjusted (keepalived rejects weights on it).
    let eff = if base == 255 {
        255
    } else {
        total.clamp(1, 254) as u8
    };
    (eff, fault)
}

/// The first integer of a tracked file's text, as keepalived's `strtol(buf, NULL, 0)`
/// (shared with the checker's FILE_CHECK).
pub use ipc::trackfile::file_value;
