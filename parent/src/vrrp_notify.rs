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

/// keepalived's FIFO line for a virtual server's quorum: `VS [10.0.0.1]:tcp:80 UP`
/// (`notify_fifo_vs` in `check/ipwrapper.c`).
pub fn vs_line(vs: &conf::model::VirtualServer, up: bool) -> String {
    format!(
        "VS {} {}\n",
        conf::project::fmt_vs(vs),
        if up { "UP" } else { "DOWN" }
    )
}

/// keepalived's FIFO line for a real server: `RS [192.168.1.2]:tcp:80 [10.0.0.1]:tcp:80 UP`
/// (`notify_fifo_rs`).
pub fn rs_line(vs: &conf::model::VirtualServer, rs: &conf::model::RealServer, up: bool) -> String {
    format!(
        "RS {} {} {}\n",
        conf::project::fmt_svc(rs.addr, rs.port, vs.protocol),
        conf::project::fmt_vs(vs),
        if up { "UP" } else { "DOWN" }
    )
}

/// Which events a FIFO gets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Events {
    Vrrp,
    Lvs,
}

struct OpenFifo {
    path: std::path::PathBuf,
    file: std::fs::File,
    /// We made it (mkfifo): we remove it when closing.
    created: bool,
    vrrp: bool,
    lvs: bool,
}

/// `notify_fifo` (VRRP and LVS events), `vrrp_notify_fifo` and `lvs_notify_fifo`
/// (keepalived `fifo_open` in `lib/notify.c`): made with mkfifo if missing (mode 0644 less
/// the umask, owned by the given user), opened read-write and non-blocking so a write never
/// blocks (a line is dropped when the pipe is full), closed and removed (if we made it) at
/// reload and stop. keepalived opens them in its VRRP and checker processes; the parent holds
/// them here for both children.
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
        let kinds = [
            (&g.notify_fifo, true, true),
            (&g.vrrp_notify_fifo, true, false),
            (&g.lvs_notify_fifo, false, true),
        ];
        let wanted: Vec<conf::model::Fifo> = kinds.iter().filter_map(|k| k.0.clone()).collect();
        if wanted == self.conf && !self.open.is_empty() {
            return Vec::new();
        }
        self.close();
        self.conf = wanted;
        let mut scripts = Vec::new();
        for (f, vrrp, lvs) in kinds {
            let Some(f) = f.clone() else { continue };
            let path = std::path::PathBuf::from(&f.path);
            if let Some(o) = self.open.iter_mut().find(|o| o.path == path) {
                // global_data.c: the same path as notify_fifo is ignored; vrrp and lvs on
                // one path share it (the VRRP one's script runs).
                if o.vrrp && o.lvs {
                    log!(
                        "notify FIFO {} has been specified for global and {} FIFO - ignoring {} FIFO",
                        f.path,
                        if vrrp { "vrrp" } else { "LVS" },
                        if vrrp { "vrrp" } else { "LVS" }
                    );
                }
                o.vrrp |= vrrp;
                o.lvs |= lvs;
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
                        vrrp,
                        lvs,
                    });
                }
                Err(e) => log!("Unable to open notify fifo {}: {e}", f.path),
            }
        }
        scripts
    }

    /// Write one line to every FIFO that takes these events; a full pipe drops it, as
    /// keepalived does.
    pub fn write(&mut self, line: &str, events: Events) {
        use std::io::Write;
        for f in &mut self.open {
            if (events == Events::Vrrp && f.vrrp) || (events == Events::Lvs && f.lvs) {
                let _ = f.file.write(line.as_bytes());
            }
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;
    use std::os::unix::fs::OpenOptionsExt;

    fn cfg(text: &str) -> Config {
        conf::load_str("t.conf", text, &conf::LoadOptions::default()).config
    }

    #[test]
    fn lines_are_keepalived_s() {
        let c = cfg("virtual_server 10.0.0.1 80 {\n protocol TCP\n real_server 192.168.1.2 8080 {\n TCP_CHECK {\n }\n }\n}\n\
                     virtual_server fwmark 5 {\n real_server fd00::2 80 {\n TCP_CHECK {\n }\n }\n}\n");
        let vs = &c.virtual_servers[0];
        assert_eq!(vs_line(vs, true), "VS [10.0.0.1]:tcp:80 UP\n");
        assert_eq!(
            rs_line(vs, &vs.real_servers[0], false),
            "RS [192.168.1.2]:tcp:8080 [10.0.0.1]:tcp:80 DOWN\n"
        );
        assert_eq!(vs_line(&c.virtual_servers[1], false), "VS FWM 5 DOWN\n");
    }

    #[test]
    fn each_fifo_gets_its_events_and_a_shared_path_gets_them_once() {
        let base = std::env::temp_dir().join(format!(
            "ka-fifo-test-{}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or(0)
        ));
        std::fs::create_dir(&base).unwrap();
        let p = |n: &str| base.join(n).to_string_lossy().into_owned();
        let c = cfg(&format!(
            "global_defs {{\n notify_fifo {}\n vrrp_notify_fifo {}\n lvs_notify_fifo {}\n}}\n",
            p("all"),
            p("vrrp"),
            p("lvs")
        ));
        let mut f = Fifos::default();
        assert!(f.open(&c).is_empty(), "no scripts");
        let read = |n: &str| {
            let mut r = std::fs::OpenOptions::new()
                .read(true)
                .custom_flags(libc::O_NONBLOCK)
                .open(p(n))
                .unwrap();
            let mut s = String::new();
            let _ = r.read_to_string(&mut s);
            s
        };
        f.write("INSTANCE \"VI_1\" MASTER 100\n", Events::Vrrp);
        f.write("VS [10.0.0.1]:tcp:80 UP\n", Events::Lvs);
        assert_eq!(
            read("all"),
            "INSTANCE \"VI_1\" MASTER 100\nVS [10.0.0.1]:tcp:80 UP\n"
        );
        assert_eq!(read("vrrp"), "INSTANCE \"VI_1\" MASTER 100\n");
        assert_eq!(read("lvs"), "VS [10.0.0.1]:tcp:80 UP\n");
        f.close();
        assert!(!base.join("lvs").exists(), "made by us, removed at close");
        // lvs_notify_fifo on notify_fifo's path: ignored, the line comes once.
        let c = cfg(&format!(
            "global_defs {{\n notify_fifo {}\n lvs_notify_fifo {}\n}}\n",
            p("all"),
            p("all")
        ));
        f.open(&c);
        f.write("VS [10.0.0.1]:tcp:80 DOWN\n", Events::Lvs);
        assert_eq!(read("all"), "VS [10.0.0.1]:tcp:80 DOWN\n");
        f.close();
        std::fs::remove_dir_all(&base).unwrap();
    }
}
