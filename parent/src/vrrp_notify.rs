//! Sync-group notifies (keepalived `send_group_notifies`): the group's `notify_<state>`
//! script, then the generic `notify` with `GROUP NAME STATE 0`.

use conf::model::{Config, Script};
use conf::project::ObjId;
use ipc::VrrpState;

/// keepalived's word for a state in notify arguments and FIFO lines.
pub fn state_word(s: VrrpState) -> &'static str {
    match s {
        VrrpState::Master => "MASTER",
        VrrpState::Backup => "BACKUP",
        VrrpState::Fault => "FAULT",
        VrrpState::Stop => "STOP",
        VrrpState::Init => "INIT",
    }
}

/// A script to run with the extra arguments appended.
pub type Run = (Script, Vec<String>);

/// The scripts to run for a sync group entering `state`, in order, with their extra
/// arguments, under the group's queue id; `Err` for a group the config does not have.
pub fn group_scripts(
    cfg: &Config,
    group: &str,
    state: VrrpState,
) -> Result<(ObjId, Vec<Run>), String> {
    let Some(g) = cfg.sync_groups.iter().find(|g| g.name == group) else {
        return Err(format!("asked to notify for unknown sync group {group:?}"));
    };
    let specific = match state {
        VrrpState::Master => &g.notify.master,
        VrrpState::Backup => &g.notify.backup,
        VrrpState::Fault => &g.notify.fault,
        VrrpState::Stop => &g.notify.stop,
        VrrpState::Init => &None,
    };
    let mut out = Vec::new();
    if let Some(s) = specific {
        out.push((s.clone(), Vec::new()));
    }
    if let Some(s) = &g.notify.generic {
        let extra = ["GROUP", &g.name, state_word(state), "0"];
        out.push((s.clone(), extra.iter().map(|x| x.to_string()).collect()));
    }
    Ok((conf::project::group_id(&g.name), out))
}

/// keepalived's FIFO line for an instance: `INSTANCE "VI_1" MASTER 150`.
pub fn instance_line(name: &str, state: VrrpState, priority: u8) -> String {
    format!("INSTANCE \"{name}\" {} {priority}\n", state_word(state))
}

/// keepalived's FIFO line for a sync group: `GROUP "VG_1" BACKUP 0`.
pub fn group_line(name: &str, state: VrrpState) -> String {
    format!("GROUP \"{name}\" {} 0\n", state_word(state))
}

struct OpenFifo {
    path: std::path::PathBuf,
    file: std::fs::File,
    /// We made it (mkfifo): we remove it when closing.
    created: bool,
}

/// `notify_fifo` and `vrrp_notify_fifo` (keepalived `fifo_open` in `lib/notify.c`): made with
/// mkfifo if missing (mode 0644 less the umask, owned by the given user), opened
/// read-write and non-blocking so a write never blocks (a line is dropped when the pipe is
/// full), closed and removed (if we made it) at reload and stop.
#[derive(Default)]
pub struct Fifos {
    open: Vec<OpenFifo>,
    /// The configuration they were opened for (a reload that keeps it keeps them open).
    conf: Vec<conf::model::Fifo>,
}

impl Fifos {
    /// Open the FIFOs of `cfg` (each path once); returns the `*_fifo_script`s to start,
    /// each with its FIFO's path as last argument. Nothing happens if they are open already.
    pub fn open(&mut self, cfg: &Config) -> Vec<(Script, String)> {
        use std::os::unix::fs::OpenOptionsExt;
        let g = &cfg.global;
        let wanted: Vec<conf::model::Fifo> = [&g.notify_fifo, &g.vrrp_notify_fifo]
            .into_iter()
            .flatten()
            .cloned()
            .collect();
        if wanted == self.conf && !self.open.is_empty() {
            return Vec::new();
        }
        self.close();
        self.conf = wanted.clone();
        let mut scripts = Vec::new();
        for f in wanted {
            let path = std::path::PathBuf::from(&f.path);
            if self.open.iter().any(|o| o.path == path) {
                log!(
                    "vrrp_notify_fifo {} is the same as notify_fifo - ignoring",
                    f.path
                );
                continue;
            }
            let mut created = false;
            if !path.exists() {
                match nix::unistd::mkfifo(&path, nix::sys::stat::Mode::from_bits_truncate(0o644)) {
                    Ok(()) => created = true,
                    Err(e) => {
                        log!("Unable to create notify fifo {}: {e}", f.path);
                        continue;
                    }
                }
                let uid = f
                    .user
                    .as_deref()
                    .and_then(|u| nix::unistd::User::from_name(u).ok().flatten());
                let gid = f
                    .group
                    .as_deref()
                    .and_then(|n| nix::unistd::Group::from_name(n).ok().flatten());
                if uid.is_some() || gid.is_some() {
                    if let Err(e) = nix::unistd::chown(
                        &path,
                        uid.as_ref().map(|u| u.uid),
                        gid.as_ref().map(|g| g.gid).or(uid.as_ref().map(|u| u.gid)),
                    ) {
                        log!("Unable to set the owner of notify fifo {}: {e}", f.path);
                    }
                }
            }
            match std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .custom_flags(libc::O_NONBLOCK | libc::O_NOFOLLOW)
                .open(&path)
            {
                Ok(file) => {
                    if let Some(s) = &f.script {
                        scripts.push((s.clone(), f.path.clone()));
                    }
                    self.open.push(OpenFifo {
                        path,
                        file,
                        created,
                    });
                }
                Err(e) => log!("Unable to open notify fifo {}: {e}", f.path),
            }
        }
        scripts
    }

    /// Write one line to every FIFO; a full pipe drops it, as keepalived does.
    pub fn write(&mut self, line: &str) {
        use std::io::Write;
        for f in &mut self.open {
            let _ = f.file.write(line.as_bytes());
        }
    }

    pub fn close(&mut self) {
        for f in self.open.drain(..) {
            if f.created {
                let _ = std::fs::remove_file(&f.path);
            }
        }
        self.conf.clear();
    }
}
