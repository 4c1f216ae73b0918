//! The parent's supervisor: one mio loop that starts the children (fork + exec of
//! `/proc/self/exe --role …` with the socket at fd 3), talks to them, watches them, restarts
//! them, and answers their requests after checking them against its own copy of the config.
//!
//! Restart policy (ARCHITECTURE §4): a child that dies after it reached ready (handshake done,
//! snapshot acknowledged) is restarted at once; one that dies before ready is restarted after
//! 1, 2, 4, … 60 s. A child that does not answer a ping within `PONG_DEADLINE` is killed and
//! restarted. A child that sends anything malformed or unexpected is refused: logged, killed,
//! restarted. `-R` stops the daemon instead of restarting.

use conf::project::ObjId;
use conf::Config;
use ipc::channel::socketpair;
use ipc::sandbox::Role;
use ipc::*;
use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Token};
use nix::sys::signal::{kill, Signal};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;
use serde::{de::DeserializeOwned, Serialize};
use signal_hook::consts::signal::{SIGCHLD, SIGHUP, SIGINT, SIGTERM, SIGUSR1, SIGUSR2};
use signal_hook_mio::v1_0::Signals;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::scripts::{RunAs, Running};

/// What a script's end is reported as.
pub enum ScriptEnd {
    Startup,
    /// Nothing waits for it (a checker's notify or quorum script).
    Detached,
    /// A track script the VRRP child asked for: answer it.
    Track {
        req_id: u64,
    },
    /// A MISC_CHECK the checker asked for: answer it.
    Misc {
        req_id: u64,
    },
    /// A notify script of an instance: the next one of that instance may start.
    Notify {
        instance: ObjId,
    },
    /// A `*_fifo_script` (it reads the FIFO for as long as it likes).
    Fifo,
}

/// keepalived runs one instance's notify scripts in event order; a script still running
/// after this long no longer holds up the next one.
pub const NOTIFY_HOLD: Duration = Duration::from_secs(5);

/// Notify scripts of one instance waiting for the previous one.
#[derive(Default)]
struct NotifyQueue {
    waiting: std::collections::VecDeque<(conf::model::Script, Vec<String>)>,
    running: Option<(Pid, Instant)>,
}

/// Whether a descriptor has input waiting (poll(2) with no wait).
fn readable_now(fd: std::os::fd::RawFd) -> bool {
    let mut p = libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: poll on one pollfd we own, no wait.
    unsafe { libc::poll(&mut p, 1, 0) == 1 && p.revents & libc::POLLIN != 0 }
}

/// How often a ready child is pinged.
pub const PING_INTERVAL: Duration = Duration::from_secs(1);
/// A child that has not answered a ping this long after it was sent is restarted.
pub const PONG_DEADLINE: Duration = Duration::from_secs(3);
/// Longest back-off for a child that keeps dying before it is ready.
const MAX_BACKOFF: Duration = Duration::from_secs(60);
/// A ready child that died is restarted at once at most this many times in `FAST_WINDOW`;
/// past that it is in a crash loop and backs off like a child that never got ready.
const FAST_RESTARTS: usize = 20;
const FAST_WINDOW: Duration = Duration::from_secs(10);

const SIGNALS: Token = Token(0);
const VRRP: Token = Token(1);
const CHECKER: Token = Token(2);

/// The subsystems the command line allows (`-C`, `-P`, `-B` forbid one each; `-a` runs
/// every allowed child even when the config has nothing for it).
#[derive(Clone, Copy, Debug)]
pub struct Modes {
    pub vrrp: bool,
    pub checker: bool,
    pub bfd: bool,
    pub all: bool,
}

impl Modes {
    /// Which of VRRP, the checker and BFD `cfg` needs (keepalived's `running_vrrp` etc.).
    pub fn wanted(&self, cfg: &Config) -> (bool, bool, bool) {
        (
            self.vrrp && (self.all || !cfg.instances.is_empty()),
            self.checker && (self.all || !cfg.virtual_servers.is_empty()),
            self.bfd && (self.all || !cfg.bfd_instances.is_empty()),
        )
    }
}

/// What the command line and config decided.
pub struct Settings {
    pub modes: Modes,
    pub config_path: String,
    pub load: conf::LoadOptions,
    pub respawn: bool,
    pub pid_file: PathBuf,
    pub vrrp_pid_file: PathBuf,
    pub checkers_pid_file: PathBuf,
    pub run_vrrp: bool,
    pub run_checker: bool,
    /// Run the `bfd_instance` sessions (keepalived's BFD child: config has some, no `-B`).
    /// They run in the VRRP child, which then starts even without `vrrp_instance` (or with
    /// `-C`), with a snapshot of BFD only.
    pub run_bfd: bool,
    /// Arguments passed on to the children (logging flags).
    pub child_args: Vec<String>,
    /// Remove VIPs and static addresses at stop (not with `-V`).
    pub release_vrrp: bool,
    /// Remove the configuration's IPVS services at stop (not with `-I`).
    pub release_ipvs: bool,
}

/// Per-direction behaviour the generic child slot needs.
pub trait FromChild: DeserializeOwned + Manifest {
    fn common(&self) -> Common<'_>;
}
pub trait ToChild: Serialize {
    fn hello() -> Self;
    fn ping(seq: u64) -> Self;
    fn stop() -> Self;
    /// Finish so that a new child takes over (no shutdown actions).
    fn handover() -> Self
    where
        Self: Sized,
    {
        Self::stop()
    }
}

pub enum Common<'a> {
    Hello(&'a Hello),
    SnapshotAck(u64),
    Pong(u64),
    Stopped,
    Other,
}

impl FromChild for VrrpToParent {
    fn common(&self) -> Common<'_> {
        match self {
            VrrpToParent::Hello(h) => Common::Hello(h),
            VrrpToParent::SnapshotAck { generation } => Common::SnapshotAck(*generation),
            VrrpToParent::Pong { seq } => Common::Pong(*seq),
            VrrpToParent::Stopped => Common::Stopped,
            _ => Common::Other,
        }
    }
}

impl FromChild for CheckerToParent {
    fn common(&self) -> Common<'_> {
        match self {
            CheckerToParent::Hello(h) => Common::Hello(h),
            CheckerToParent::SnapshotAck { generation } => Common::SnapshotAck(*generation),
            CheckerToParent::Pong { seq } => Common::Pong(*seq),
            CheckerToParent::Stopped => Common::Stopped,
            _ => Common::Other,
        }
    }
}

impl ToChild for ParentToVrrp {
    fn hello() -> Self {
        ParentToVrrp::Hello(Hello::ours())
    }
    fn ping(seq: u64) -> Self {
        ParentToVrrp::Ping { seq }
    }
    fn stop() -> Self {
        ParentToVrrp::Stop
    }
}

impl ToChild for ParentToChecker {
    fn hello() -> Self {
        ParentToChecker::Hello(Hello::ours())
    }
    fn ping(seq: u64) -> Self {
        ParentToChecker::Ping { seq }
    }
    fn stop() -> Self {
        ParentToChecker::Stop
    }
    fn handover() -> Self {
        ParentToChecker::Handover
    }
}

/// One supervised child.
pub struct Slot<Tx, Rx> {
    pub role: Role,
    token: Token,
    pid_file: PathBuf,
    pub pid: Option<Pid>,
    chan: Option<Channel<Tx, Rx>>,
    greeted: bool,
    pub ready: bool,
    acked: u64,
    ping_seq: u64,
    ping_sent: Option<Instant>,
    next_ping: Instant,
    backoff: Duration,
    restart_at: Option<Instant>,
    stopping: bool,
    /// An operator asked for a restart of this child: respawn it when it is gone.
    restart_requested: bool,
    /// Scheduling asked for by the config (`*_rt_priority`, `*_rlimit_rttime`, `*_priority`).
    pub sched: Sched,
    /// `vrrp_no_swap` / `checker_no_swap`: the child locks its memory before the drop.
    pub no_swap: bool,
    /// When recent immediate restarts happened (crash-loop detection).
    recent_restarts: Vec<Instant>,
    /// The sockets the running child was given (a reload needing others restarts it).
    kinds: Vec<FdKind>,
}

/// How a child is scheduled; the parent applies it by pid after the start.
#[derive(Clone, Copy, Debug, Default)]
pub struct Sched {
    pub rt_priority: Option<u32>,
    pub rlimit_rttime: u32,
    pub nice: Option<i32>,
}

impl Sched {
    fn apply(&self, pid: Pid) {
        if let Some(n) = self.nice {
            // SAFETY: plain system call with integer arguments.
            if unsafe { libc::setpriority(libc::PRIO_PROCESS, pid.as_raw() as libc::id_t, n) } < 0 {
                log!(
                    "Unable to set priority {n} of pid {pid}: {}",
                    std::io::Error::last_os_error()
                );
            }
        }
        let Some(p) = self.rt_priority else { return };
        let lim = libc::rlimit {
            rlim_cur: self.rlimit_rttime as libc::rlim_t,
            rlim_max: self.rlimit_rttime as libc::rlim_t,
        };
        let param = libc::sched_param {
            sched_priority: p as i32,
        };
        // SAFETY: plain system calls on a pid we started, with pointers to locals.
        unsafe {
            if libc::prlimit(
                pid.as_raw(),
                libc::RLIMIT_RTTIME,
                &lim,
                std::ptr::null_mut(),
            ) < 0
            {
                log!(
                    "Unable to set RLIMIT_RTTIME of pid {pid}: {}",
                    std::io::Error::last_os_error()
                );
            }
            if libc::sched_setscheduler(pid.as_raw(), libc::SCHED_RR, &param) < 0 {
                log!(
                    "Unable to set SCHED_RR priority {p} of pid {pid}: {}",
                    std::io::Error::last_os_error()
                );
            }
        }
    }
}

impl<Tx: ToChild, Rx: FromChild> Slot<Tx, Rx> {
    fn new(role: Role, token: Token, pid_file: PathBuf) -> Self {
        Slot {
            role,
            token,
            pid_file,
            pid: None,
            chan: None,
            greeted: false,
            ready: false,
            acked: 0,
            ping_seq: 0,
            ping_sent: None,
            next_ping: Instant::now(),
            backoff: Duration::ZERO,
            restart_at: None,
            stopping: false,
            restart_requested: false,
            sched: Sched::default(),
            no_swap: false,
            recent_restarts: Vec::new(),
            kinds: Vec::new(),
        }
    }

    fn label(&self) -> &'static str {
        match self.role {
            Role::Vrrp => "VRRP",
            Role::Checker => "Healthcheck",
        }
    }

    fn spawn(&mut self, poll: &Poll, args: &[String]) -> std::io::Result<()> {
        let mut args = args.to_vec();
        if self.no_swap {
            args.push("--no-swap".into());
        }
        let (ours, theirs) = socketpair().map_err(|e| std::io::Error::other(e.to_string()))?;
        let child_fd = theirs.as_raw_fd();
        // Looked up here, where the user database is loaded anyway: the child then maps no
        // NSS module (libnss_systemd and what it links: ~700 kB of RSS per child).
        let id = ipc::sandbox::identity(self.role);
        let mut cmd = std::process::Command::new("/proc/self/exe");
        cmd.arg0("keepalived")
            .arg("--role")
            .arg(self.role.name())
            .arg("--run-as")
            .arg(id.arg())
            .args(args);
        // SAFETY: between fork and exec this runs only async-signal-safe calls (dup2, fcntl,
        // prctl) on descriptors the parent owns; the parent has no threads.
        unsafe {
            cmd.pre_exec(move || {
                if child_fd == ipc::CHILD_FD {
                    // dup2 onto itself would keep FD_CLOEXEC; clear it instead.
                    if libc::fcntl(child_fd, libc::F_SETFD, 0) < 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                } else if libc::dup2(child_fd, ipc::CHILD_FD) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                // Nothing but 0–2 and the channel crosses the exec, not even descriptors
                // the parent inherited from whoever started it.
                if libc::syscall(libc::SYS_close_range, ipc::CHILD_FD as u32 + 1, u32::MAX, 0) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let child = cmd.spawn()?;
        drop(theirs);
        let pid = Pid::from_raw(child.id() as i32);
        self.sched.apply(pid);
        let mut chan: Channel<Tx, Rx> =
            Channel::new(ours).map_err(|e| std::io::Error::other(e.to_string()))?;
        let fd = chan.as_raw_fd();
        poll.registry().register(
            &mut SourceFd(&fd),
            self.token,
            Interest::READABLE | Interest::WRITABLE,
        )?;
        chan.send(&Tx::hello())
            .map_err(|e| std::io::Error::other(e.to_string()))?;
        log!("Starting {} child process, pid={}", self.label(), pid);
        write_pid_file(&self.pid_file, pid.as_raw());
        self.pid = Some(pid);
        self.chan = Some(chan);
        self.greeted = false;
        self.ready = false;
        self.acked = 0;
        self.ping_sent = None;
        self.restart_at = None;
        Ok(())
    }

    /// Tear the child down (it is refused or unresponsive): close the channel and kill it.
    fn kill(&mut self, poll: &Poll, why: &str) {
        log!(
            "{} child process({}) {} - restarting",
            self.label(),
            self.pid.map(|p| p.as_raw()).unwrap_or(0),
            why
        );
        self.close(poll);
        if let Some(pid) = self.pid {
            let _ = kill(pid, Signal::SIGKILL);
        }
    }

    fn close(&mut self, poll: &Poll) {
        if let Some(ch) = self.chan.take() {
            let fd = ch.as_raw_fd();
            let _ = poll.registry().deregister(&mut SourceFd(&fd));
        }
    }

    /// Send sockets with their manifest message.
    fn send_fds(&mut self, poll: &Poll, msg: &Tx, fds: Vec<OwnedFd>) {
        let Some(ch) = self.chan.as_mut() else { return };
        if let Err(e) = ch.send_with_fds(msg, fds) {
            let why = format!("channel failed ({e})");
            self.kill(poll, &why);
        }
    }

    fn send(&mut self, poll: &Poll, msg: &Tx) {
        let Some(ch) = self.chan.as_mut() else { return };
        if let Err(e) = ch.send(msg) {
            let why = format!("channel failed ({e})");
            self.kill(poll, &why);
        }
    }

    /// The child's pid was reaped: schedule the restart.
    fn exited(&mut self, poll: &Poll, status: &str, respawn: bool) -> bool {
        let was_ready = self.ready;
        log!(
            "{} child process({}) {}",
            self.label(),
            self.pid.map(|p| p.as_raw()).unwrap_or(0),
            status
        );
        self.close(poll);
        self.pid = None;
        self.ready = false;
        if self.stopping {
            return true;
        }
        if std::mem::take(&mut self.restart_requested) {
            self.restart_at = Some(Instant::now());
            log!(
                "{} child process stopped on request: starting a new one",
                self.label()
            );
            return true;
        }
        if !respawn {
            return false;
        }
        // A ready child is restarted at once, unless it keeps dying: more than
        // `FAST_RESTARTS` restarts within `FAST_WINDOW` fall back to the back-off.
        let now = Instant::now();
        self.recent_restarts
            .retain(|t| now.duration_since(*t) < FAST_WINDOW);
        if was_ready && self.recent_restarts.len() < FAST_RESTARTS {
            self.recent_restarts.push(now);
            self.backoff = Duration::ZERO;
            self.restart_at = Some(now);
            log!("{} child process died: Respawning", self.label());
        } else {
            self.backoff = if self.backoff.is_zero() {
                Duration::from_secs(1)
            } else {
                (self.backoff * 2).min(MAX_BACKOFF)
            };
            log!(
                "Restart of {} process delayed {} seconds to limit respawn rate",
                self.label(),
                self.backoff.as_secs()
            );
            self.restart_at = Some(Instant::now() + self.backoff);
        }
        true
    }

    /// Orderly stop of this child only, and a new one as soon as it is gone (not counted as
    /// a crash).
    fn restart(&mut self, poll: &Poll) {
        self.restart_requested = true;
        self.send(poll, &Tx::handover());
    }

    /// Orderly stop: no more restarts; ask the child to finish.
    fn stop(&mut self, poll: &Poll) {
        self.stopping = true;
        self.restart_at = None;
        self.send(poll, &Tx::stop());
    }

    fn next_deadline(&self) -> Option<Instant> {
        let ping = if self.ready {
            Some(self.next_ping)
        } else {
            None
        };
        let pong = self.ping_sent.map(|t| t + PONG_DEADLINE);
        [ping, pong, self.restart_at].into_iter().flatten().min()
    }

    /// Timers: ping, pong deadline, delayed restart.
    /// Restart the pong deadline of a ping in flight (the parent itself was busy).
    fn forgive(&mut self, now: Instant) {
        if self.ping_sent.is_some() {
            self.ping_sent = Some(now);
        }
    }

    fn tick(&mut self, poll: &Poll, now: Instant, args: &[String]) {
        if let Some(t) = self.restart_at {
            if t <= now && self.pid.is_none() && !self.stopping {
                crate::log::mark(&format!("spawn {}", self.label()));
                if let Err(e) = self.spawn(poll, args) {
                    log!("Unable to start {} child process: {e}", self.label());
                    self.restart_at = Some(now + Duration::from_secs(1));
                }
            }
        }
        if let Some(sent) = self.ping_sent {
            // The pong may be waiting behind requests we were busy answering (a thousand
            // instances' VIPs at once): a child whose channel has unread input is not hung;
            // the next drain reads the pong.
            let unread = self
                .chan
                .as_ref()
                .is_some_and(|c| readable_now(std::os::fd::AsRawFd::as_raw_fd(c)));
            if now >= sent + PONG_DEADLINE && self.chan.is_some() && !unread {
                self.kill(poll, "not responding");
                return;
            }
        }
        if self.ready && self.ping_sent.is_none() && now >= self.next_ping {
            self.ping_seq += 1;
            self.ping_sent = Some(now);
            self.next_ping = now + PING_INTERVAL;
            let seq = self.ping_seq;
            self.send(poll, &Tx::ping(seq));
        }
    }

    /// Read what the child sent. Common messages are handled here; the rest is returned.
    fn drain(&mut self, poll: &Poll, generation: u64) -> Result<Vec<Rx>, String> {
        let mut out = Vec::new();
        let label = self.label();
        loop {
            let Some(ch) = self.chan.as_mut() else {
                return Ok(out);
            };
            let _ = ch.flush();
            let msg = match ch.recv() {
                Ok(Some(m)) => m,
                Ok(None) => break,
                Err(ChannelError::Closed) => {
                    // EOF: SIGCHLD follows; stop reading this channel.
                    self.close(poll);
                    break;
                }
                Err(e) => return Err(format!("sent a bad frame ({e})")),
            };
            match msg.common() {
                Common::Hello(h) if !self.greeted => {
                    if *h != Hello::ours() {
                        return Err(format!("is another build ({h:?})"));
                    }
                    self.greeted = true;
                }
                _ if !self.greeted => return Err("spoke before Hello".into()),
                Common::Hello(_) => return Err("sent a second Hello".into()),
                Common::SnapshotAck(g) => {
                    if g > generation {
                        return Err(format!("acknowledged generation {g} it was never sent"));
                    }
                    if self.ready && g > self.acked {
                        log!("{label} child process acknowledged configuration generation {g}");
                    }
                    self.acked = g;
                    if g == generation && !self.ready {
                        self.ready = true;
                        self.backoff = Duration::ZERO;
                        self.next_ping = Instant::now() + PING_INTERVAL;
                        log!("{label} child process ready (configuration generation {g})");
                    }
                }
                Common::Pong(seq) => {
                    if self.ping_sent.is_none() || seq != self.ping_seq {
                        return Err(format!("answered ping {seq} it was not sent"));
                    }
                    self.ping_sent = None;
                }
                Common::Stopped => {}
                Common::Other => out.push(msg),
            }
        }
        Ok(out)
    }
}

impl<Tx: ToChild, Rx: FromChild> Slot<Tx, Rx> {
    /// Read the child: `None` when it was refused (and killed); else whether the handshake
    /// just completed (the child needs its configuration) and the requests to answer.
    fn service(&mut self, poll: &Poll, generation: u64) -> Option<(bool, Vec<Rx>)> {
        let before = self.greeted;
        match self.drain(poll, generation) {
            Ok(msgs) => Some((!before && self.greeted, msgs)),
            Err(why) => {
                self.kill(poll, &why);
                None
            }
        }
    }

    /// A freshly greeted child gets its snapshot, then the sockets it needs.
    fn configure(
        &mut self,
        poll: &Poll,
        snapshot: &Tx,
        kinds: &[FdKind],
        sockets: impl FnOnce(Vec<FdKind>) -> Tx,
    ) {
        self.send(poll, snapshot);
        self.kinds = kinds.to_vec();
        let (manifest, fds) = crate::privops::sockets::open_all(kinds);
        if !manifest.is_empty() {
            self.send_fds(poll, &sockets(manifest), fds);
        }
    }
}

fn write_pid_file(path: &PathBuf, pid: i32) {
    if let Err(e) = std::fs::write(path, format!("{pid}\n")) {
        log!("Unable to write pid file {}: {e}", path.display());
    }
}

pub struct Supervisor {
    s: Settings,
    config: Config,
    generation: u64,
    poll: Poll,
    vrrp: Slot<ParentToVrrp, VrrpToParent>,
    checker: Slot<ParentToChecker, CheckerToParent>,
    /// Last reported state of every VRRP instance and real server (handed to restarted children).
    instance_states: Vec<InstanceState>,
    rs_states: Vec<RsState>,
    /// Last reported level of every BFD session BFD_CHECK follows (given to a new checker
    /// and to a restarted VRRP child).
    bfd_states: Vec<BfdLevel>,
    /// The IPVS table, reconciled with the kernel's.
    lvs: crate::privops::lvs::Lvs,
    /// What the kernel held for our real servers when the daemon started (the first
    /// checker starts from it).
    kernel_resume: Option<Vec<RsState>>,
    stopping: Option<Instant>,
    rtnl: Option<crate::privops::addr::Rtnl>,
    /// Accept-mode drop rules (nftables), opened at the first `no_accept` master.
    nft: Option<crate::privops::nft::Nft>,
    /// Scripts running, and what their end means.
    scripts: Vec<Running<ScriptEnd>>,
    script_default: RunAs,
    /// Children wait for the startup script.
    startup_pending: bool,
    notify: std::collections::HashMap<ObjId, NotifyQueue>,
    /// Instances whose VIPs we set (removed again at stop).
    vips_set: Vec<ObjId>,
    /// Since when no VRRP child has been ready (while we hold VIPs): past the instances'
    /// Master_Down_Interval the VIPs go, so two hosts never answer for one address for long.
    vrrp_gone_since: Option<Instant>,
    /// VRRP child deaths since then, and since when the current one is ready.
    /// Instances whose VIPs were on the interfaces when we started (a killed daemon's):
    /// kept if the instance comes up MASTER, removed if it comes up BACKUP or FAULT.
    stale_vips: Vec<ObjId>,
    statics_set: bool,
    /// VMAC interfaces we created, and sysctls we changed (undone at stop).
    vmacs: Vec<String>,
    sysctls: crate::privops::sysctl::Changed,
    fifos: crate::vrrp_notify::Fifos,
}

impl Supervisor {
    pub fn new(s: Settings, config: Config) -> std::io::Result<Self> {
        let g = &config.global;
        let mut vrrp = Slot::new(Role::Vrrp, VRRP, s.vrrp_pid_file.clone());
        vrrp.sched = Sched {
            rt_priority: g.vrrp_rt_priority,
            rlimit_rttime: g.vrrp_rlimit_rttime.unwrap_or(10_000),
            nice: g.vrrp_priority,
        };
        let mut checker = Slot::new(Role::Checker, CHECKER, s.checkers_pid_file.clone());
        vrrp.no_swap = g.vrrp_no_swap;
        checker.no_swap = g.checker_no_swap;
        checker.sched = Sched {
            rt_priority: g.checker_rt_priority,
            rlimit_rttime: g.checker_rlimit_rttime.unwrap_or(10_000),
            nice: g.checker_priority,
        };
        Ok(Supervisor {
            s,
            config,
            generation: 1,
            poll: Poll::new()?,
            vrrp,
            checker,
            instance_states: Vec::new(),
            rs_states: Vec::new(),
            bfd_states: Vec::new(),
            lvs: Default::default(),
            kernel_resume: None,
            stopping: None,
            rtnl: None,
            nft: None,
            scripts: Vec::new(),
            script_default: RunAs::ROOT,
            startup_pending: false,
            notify: Default::default(),
            vips_set: Vec::new(),
            vrrp_gone_since: None,
            stale_vips: Vec::new(),
            statics_set: false,
            vmacs: Vec::new(),
            sysctls: Default::default(),
            fifos: Default::default(),
        })
    }

    /// What the host needs before VRRP runs (at start, or at the reload that brings the first
    /// instance): VIPs a killed daemon left, static addresses, VMACs and their sysctls.
    fn vrrp_host_setup(&mut self) {
        self.find_stale_vips();
        self.set_static_addresses();
        self.set_interfaces();
    }

    /// Whether the VRRP child runs: for VRRP, for BFD, or both.
    fn vrrp_child(&self) -> bool {
        self.s.run_vrrp || self.s.run_bfd
    }

    /// The sockets the VRRP child gets: VRRP's only when it runs VRRP, BFD's only when BFD.
    fn vrrp_kinds(&self) -> Vec<FdKind> {
        let mut kinds = crate::privops::sockets::vrrp_kinds(&self.config);
        kinds.retain(|k| {
            if matches!(k, FdKind::Bfd4 | FdKind::Bfd6) {
                self.s.run_bfd
            } else {
                self.s.run_vrrp
            }
        });
        kinds
    }

    /// A BFD session the checker may be told of: a configured `bfd_instance` whose events
    /// go to the checker.
    fn known_bfd(&self, id: ObjId) -> bool {
        self.s.run_bfd
            && self
                .config
                .bfd_instances
                .iter()
                .any(|b| b.to_checker() && conf::project::bfd_id(&b.name) == id)
    }

    /// The VRRP child reported BFD sessions: keep them, and tell the checker what changed.
    fn bfd_reported(&mut self, list: Vec<BfdLevel>) -> Result<(), String> {
        if let Some(bad) = list.iter().find(|l| !self.known_bfd(l.bfd)) {
            return Err(format!("reported unknown BFD instance {:?}", bad.bfd));
        }
        let changed: Vec<BfdLevel> = list
            .into_iter()
            .filter(|l| !self.bfd_states.contains(l))
            .collect();
        if changed.is_empty() {
            return Ok(());
        }
        for l in &changed {
            self.bfd_states.retain(|s| s.bfd != l.bfd);
            self.bfd_states.push(*l);
        }
        if self.s.run_checker {
            self.checker
                .send(&self.poll, &ParentToChecker::BfdState(changed));
        }
        Ok(())
    }

    fn vrrp_snapshot(&self) -> ParentToVrrp {
        let mut snapshot = self.config.for_vrrp();
        if !self.s.run_vrrp {
            // BFD only (no vrrp_instance, or -C): nothing else of VRRP runs.
            snapshot.instances.clear();
            snapshot.sync_groups.clear();
            snapshot.scripts.clear();
            snapshot.track_files.clear();
            snapshot.track_processes.clear();
        }
        if !self.s.run_bfd {
            snapshot.bfd_instances.clear();
        }
        snapshot.interfaces = crate::privops::ifinfo::read(&self.config);
        // keepalived's defaults for smtp_alert mail (`set_default_email_from`, `local_name`):
        // router_id and HELO name the host, the sender is the daemon's user at the host.
        let g = &mut snapshot.global;
        if let Some(host) = nix::unistd::gethostname()
            .ok()
            .and_then(|h| h.into_string().ok())
        {
            g.router_id.get_or_insert_with(|| host.clone());
            g.smtp_helo_name.get_or_insert_with(|| host.clone());
            g.notification_email_from
                .get_or_insert_with(|| format!("root@{host}"));
        }
        ParentToVrrp::Snapshot {
            generation: self.generation,
            snapshot: Box::new(snapshot),
            resume: self.instance_states.clone(),
            bfd: self.bfd_states.clone(),
        }
    }

    fn checker_snapshot(&mut self) -> ParentToChecker {
        // The first checker of this daemon starts from what the kernel already holds (a
        // daemon started again over its own table changes nothing); a restarted one from
        // what its predecessor reported.
        self.lvs.apply_globals(&self.config);
        let resume = if !self.rs_states.is_empty() {
            self.rs_states.clone()
        } else if let Some(first) = self.kernel_resume.take() {
            first
        } else if self.lvs.ensure(&self.config) {
            self.lvs.kernel_states(&self.config)
        } else {
            Vec::new()
        };
        // Taken once: a later checker starts from what was reported, or the kernel's table.
        if self.kernel_resume.is_none() {
            self.kernel_resume = Some(Vec::new());
        }
        let mut snapshot = self.config.for_checker();
        // keepalived's router_id defaults to the host name (mail subjects carry it).
        if snapshot.router_id.is_none() {
            snapshot.router_id = nix::unistd::gethostname()
                .ok()
                .and_then(|h| h.into_string().ok());
        }
        ParentToChecker::Snapshot {
            generation: self.generation,
            snapshot: Box::new(snapshot),
            resume,
            bfd: self.bfd_states.clone(),
        }
    }

    /// Run until stopped. Returns the process exit code.
    pub fn run(mut self) -> i32 {
        let sig_json = libc::SIGRTMIN() + 2;
        let sig_stats_clear = libc::SIGRTMAX() - 1;
        let sig_restart_checker = libc::SIGRTMIN() + 4;
        let mut signals = match Signals::new([
            SIGCHLD,
            SIGHUP,
            SIGTERM,
            SIGINT,
            SIGUSR1,
            SIGUSR2,
            sig_json,
            sig_stats_clear,
            sig_restart_checker,
        ]) {
            Ok(s) => s,
            Err(e) => {
                log!("Unable to set up signal handling: {e}");
                return 1;
            }
        };
        if let Err(e) = self
            .poll
            .registry()
            .register(&mut signals, SIGNALS, Interest::READABLE)
        {
            log!("Unable to register signals: {e}");
            return 1;
        }
        crate::log::mark("run");
        write_pid_file(&self.s.pid_file, std::process::id() as i32);
        match crate::privops::addr::Rtnl::connect() {
            Ok(r) => self.rtnl = Some(r),
            Err(e) => log!("Unable to open the netlink command channel: {e}"),
        }
        if self.s.run_vrrp {
            self.vrrp_host_setup();
        }
        crate::log::mark("vrrp start-up steps");
        if self.s.run_checker {
            // The start-up table goes in before the children start (a few milliseconds
            // of netlink batches even at 10,000 real servers).
            self.kernel_resume = Some(self.lvs.start(&self.config));
        }
        crate::log::mark("ipvs start-up table");
        let args = self.s.child_args.clone();
        self.script_default = crate::scripts::default_identity(&self.config);
        self.open_fifos();
        // A child we do not run has no pid file (a stale one would name another process).
        if !self.vrrp_child() {
            let _ = std::fs::remove_file(&self.s.vrrp_pid_file);
        }
        if !self.s.run_checker {
            let _ = std::fs::remove_file(&self.s.checkers_pid_file);
        }
        if let Some(s) = self.config.global.startup_script.clone() {
            let timeout =
                Duration::from_secs(self.config.global.startup_script_timeout.unwrap_or(10) as u64);
            self.start_script(&s, &[], Some(timeout), ScriptEnd::Startup);
        }
        self.startup_pending = true;
        let mut events = Events::with_capacity(64);
        let mut announced_ready = false;
        loop {
            let deadline = [
                self.vrrp.next_deadline(),
                self.checker.next_deadline(),
                self.stopping.map(|t| t + Duration::from_secs(5)),
            ]
            .into_iter()
            .chain(self.scripts.iter().map(|r| r.next_deadline()))
            .chain([
                self.startup_pending.then(Instant::now),
                self.notify_deadline(),
                self.vips_orphan_deadline(),
            ])
            .flatten()
            .min();
            let timeout = deadline.map(|d| d.saturating_duration_since(Instant::now()));
            match self.poll.poll(&mut events, timeout) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    log!("poll failed: {e}");
                    return 1;
                }
            }
            let mut got_signals = Vec::new();
            for ev in events.iter() {
                if ev.token() == SIGNALS {
                    got_signals.extend(signals.pending());
                }
            }
            for sig in got_signals {
                match sig {
                    SIGCHLD => {
                        let respawned = self.reap();
                        if !respawned {
                            log!("A child exited and -R is set: stopping");
                            self.begin_stop();
                        }
                    }
                    SIGHUP => self.reload(),
                    SIGTERM | SIGINT => self.begin_stop(),
                    SIGUSR1 => self.request_dump(DumpKind::Data),
                    SIGUSR2 => self.request_dump(DumpKind::Stats),
                    s if s == sig_json => self.request_dump(DumpKind::Json),
                    s if s == sig_stats_clear => self.request_dump(DumpKind::Stats),
                    s if s == sig_restart_checker => self.restart_checker(),
                    _ => {}
                }
            }
            let busy_from = Instant::now();
            self.service_vrrp();
            self.service_checker();
            let now = Instant::now();
            // A long piece of our own work (10,000 IPVS changes) is no child's fault: their
            // answers may be waiting unread, so their pong deadlines start again.
            if now - busy_from > Duration::from_secs(1) {
                self.vrrp.forgive(now);
                self.checker.forgive(now);
            }
            for r in self.scripts.iter_mut() {
                r.enforce(now);
            }
            let held: Vec<ObjId> = self.notify.keys().copied().collect();
            for id in held {
                self.start_notify(id, now);
            }
            if self.startup_pending
                && !self
                    .scripts
                    .iter()
                    .any(|r| matches!(r.then, ScriptEnd::Startup))
            {
                self.startup_pending = false;
                if self.vrrp_child() {
                    self.vrrp.restart_at = Some(now);
                }
                if self.s.run_checker {
                    self.checker.restart_at = Some(now);
                }
            }
            // A ready child has advertised (a resumed MASTER sends an advert before it says
            // ready), so the peer's Master_Down timer starts again: the orphan clock stops.
            if self.vrrp.ready {
                self.vrrp_gone_since = None;
            }
            if self.vips_orphan_deadline().is_some_and(|d| now >= d) {
                // No VRRP child ready for a whole Master_Down_Interval (a crash loop, or
                // none could start): the peer has taken over, so our VIPs go.
                self.release_orphan_vips();
                self.vrrp_gone_since = None;
            }
            if self.stopping.is_none() {
                self.vrrp.tick(&self.poll, now, &args);
                self.checker.tick(&self.poll, now, &args);
            }
            let all_ready = (!self.vrrp_child() || self.vrrp.ready)
                && (!self.s.run_checker || self.checker.ready);
            if all_ready && !announced_ready && self.stopping.is_none() {
                announced_ready = true;
                log!("Startup complete");
                crate::notify::sd_notify("READY=1");
            }
            if let Some(t) = self.stopping {
                let done = self.vrrp.pid.is_none() && self.checker.pid.is_none();
                if done || now >= t + Duration::from_secs(5) {
                    for slot_pid in [self.vrrp.pid, self.checker.pid].into_iter().flatten() {
                        let _ = kill(slot_pid, Signal::SIGKILL);
                    }
                    if self.s.release_vrrp {
                        self.release_addresses();
                    }
                    // keepalived deletes its firewall table at exit, -V or not.
                    if let Some(n) = self.nft.as_mut() {
                        n.cleanup();
                    }
                    if self.s.release_ipvs {
                        self.lvs.release(&self.config);
                    }
                    self.release_interfaces();
                    self.fifos.close();
                    self.run_shutdown_script();
                    for f in [
                        &self.s.vrrp_pid_file,
                        &self.s.checkers_pid_file,
                        &self.s.pid_file,
                    ] {
                        let _ = std::fs::remove_file(f);
                    }
                    log!("Stopped Keepalived v{}", crate::VERSION);
                    return 0;
                }
            }
        }
    }

    fn begin_stop(&mut self) {
        if self.stopping.is_some() {
            return;
        }
        log!("Stopping");
        crate::notify::sd_notify("STOPPING=1");
        self.stopping = Some(Instant::now());
        self.vrrp.stop(&self.poll);
        self.checker.stop(&self.poll);
    }

    /// Reap every exited child; `false` when one died and we must not respawn.
    fn reap(&mut self) -> bool {
        let mut ok = true;
        loop {
            let st = match waitpid(Pid::from_raw(-1), Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::StillAlive) | Err(_) => break,
                Ok(st) => st,
            };
            let (pid, text) = match st {
                WaitStatus::Exited(pid, code) => (pid, format!("exited with status {code}")),
                WaitStatus::Signaled(pid, sig, _) => {
                    (pid, format!("exited due to signal {} ({sig})", sig as i32))
                }
                _ => continue,
            };
            if let Some(i) = self.scripts.iter().position(|r| r.pid == pid) {
                let r = self.scripts.swap_remove(i);
                self.script_ended(r, st);
                continue;
            }
            let respawn = self.s.respawn && self.stopping.is_none();
            if self.vrrp.pid == Some(pid) {
                if self.stopping.is_none() {
                    self.vrrp_gone_since.get_or_insert(Instant::now());
                }
                ok &= self.vrrp.exited(&self.poll, &text, respawn);
            } else if self.checker.pid == Some(pid) {
                ok &= self.checker.exited(&self.poll, &text, respawn);
            }
        }
        ok
    }

    fn service_vrrp(&mut self) {
        let (fresh, msgs) = match self.vrrp.service(&self.poll, self.generation) {
            Some(r) => r,
            None => return,
        };
        if fresh {
            let snap = self.vrrp_snapshot();
            let kinds = self.vrrp_kinds();
            self.vrrp.configure(&self.poll, &snap, &kinds, |manifest| {
                ParentToVrrp::Sockets { manifest }
            });
            drop(snap);
            trim_heap();
        }
        for m in msgs {
            if let Err(why) = self.vrrp_request(m) {
                return self.vrrp.kill(&self.poll, &why);
            }
        }
    }

    fn service_checker(&mut self) {
        let (fresh, msgs) = match self.checker.service(&self.poll, self.generation) {
            Some(r) => r,
            None => return,
        };
        if fresh {
            let snap = self.checker_snapshot();
            let kinds = crate::privops::sockets::checker_kinds(&self.config);
            self.checker
                .configure(&self.poll, &snap, &kinds, |manifest| {
                    ParentToChecker::Sockets { manifest }
                });
            drop(snap);
            trim_heap();
            crate::log::mark("checker snapshot sent");
        }
        for m in msgs {
            if let Err(why) = self.checker_request(m) {
                return self.checker.kill(&self.poll, &why);
            }
        }
    }

    fn known_instance(&self, id: ObjId) -> bool {
        self.config
            .instances
            .iter()
            .any(|v| conf::project::instance_id(v) == id)
    }

    /// A request from the VRRP child, checked against our copy of the config.
    fn vrrp_request(&mut self, m: VrrpToParent) -> Result<(), String> {
        // A child that runs BFD only has no instance to speak of.
        if !self.s.run_vrrp
            && !matches!(
                &m,
                VrrpToParent::BfdState(_) | VrrpToParent::DumpText { .. }
            )
            && !matches!(&m, VrrpToParent::FullState(l) if l.is_empty())
        {
            return Err(format!("runs BFD only but sent {m:?}"));
        }
        match m {
            VrrpToParent::BfdState(list) => self.bfd_reported(list)?,
            VrrpToParent::AddVips { req_id, instance } => {
                let result = self.set_vips(instance, true)?;
                self.vrrp
                    .send(&self.poll, &ParentToVrrp::AddVipsResult { req_id, result });
            }
            VrrpToParent::DelVips { req_id, instance } => {
                let result = self.set_vips(instance, false)?;
                self.vrrp
                    .send(&self.poll, &ParentToVrrp::DelVipsResult { req_id, result });
            }
            VrrpToParent::RunScript { req_id, script } => self.run_vrrp_script(req_id, script)?,
            VrrpToParent::StateChanged(st) => {
                if !self.known_instance(st.instance) {
                    return Err(format!("reported unknown instance {:?}", st.instance));
                }
                self.sync_daemon_follows(&st);
                self.settle_stale_vips(&st)?;
                self.instance_states.retain(|s| s.instance != st.instance);
                self.instance_states.push(st);
            }
            VrrpToParent::FullState(list) => {
                if let Some(bad) = list.iter().find(|s| !self.known_instance(s.instance)) {
                    return Err(format!("reported unknown instance {:?}", bad.instance));
                }
                for st in &list {
                    self.sync_daemon_follows(st);
                    self.settle_stale_vips(st)?;
                }
                self.instance_states = list;
            }
            VrrpToParent::DumpText { kind, text } => {
                // The data dump starts with the privilege audit of every live process.
                let text = if kind == DumpKind::Data {
                    let procs: Vec<(&str, i32)> = [
                        ("parent", Some(std::process::id() as i32)),
                        ("vrrp", self.vrrp.pid.map(|p| p.as_raw())),
                        ("checker", self.checker.pid.map(|p| p.as_raw())),
                    ]
                    .into_iter()
                    .filter_map(|(n, p)| p.map(|p| (n, p)))
                    .collect();
                    format!(
                        "------< Process privileges >------\n{}{text}",
                        crate::privilege::table(&procs).0
                    )
                } else {
                    text
                };
                let base = if kind == DumpKind::BfdData {
                    "keepalived_bfd"
                } else {
                    "keepalived"
                };
                write_dump(kind, base, &text)
            }
            other => return Err(format!("sent an unexpected {other:?}")),
        }
        Ok(())
    }

    fn start_script(
        &mut self,
        script: &conf::model::Script,
        extra: &[String],
        timeout: Option<Duration>,
        then: ScriptEnd,
    ) -> bool {
        let who = crate::scripts::identity(script, self.script_default);
        match crate::scripts::spawn(script, who, extra) {
            Ok(pid) => {
                self.scripts.push(Running {
                    pid,
                    started: Instant::now(),
                    timeout,
                    term_sent: None,
                    then,
                });
                true
            }
            Err(e) => {
                log!("Unable to run script {}: {e}", script.cmd);
                false
            }
        }
    }

    /// Answer a VRRP script request that ran nothing to wait for (or could not run).
    fn vrrp_script_not_run(&mut self, req_id: u64) {
        self.vrrp.send(
            &self.poll,
            &ParentToVrrp::RunScriptResult {
                req_id,
                exit_status: None,
                timed_out: false,
            },
        );
    }

    /// The VRRP child asks for a script by id; we run what our config says for it.
    fn run_vrrp_script(&mut self, req_id: u64, which: ScriptRef) -> Result<(), String> {
        match which {
            ScriptRef::Track(id) => {
                let Some(s) = self
                    .config
                    .scripts
                    .iter()
                    .find(|s| conf::project::script_id(&s.name) == id)
                    .cloned()
                else {
                    return Err(format!("asked to run unknown script {id:?}"));
                };
                let t = if s.timeout > 0 { s.timeout } else { s.interval };
                if !self.start_script(
                    &s.script,
                    &[],
                    Some(Duration::from_secs(t.max(1) as u64)),
                    ScriptEnd::Track { req_id },
                ) {
                    self.vrrp_script_not_run(req_id);
                }
            }
            ScriptRef::Notify { instance, state } => {
                let Some(v) = self
                    .config
                    .instances
                    .iter()
                    .find(|v| conf::project::instance_id(v) == instance)
                    .cloned()
                else {
                    return Err(format!("asked to notify for unknown instance {instance:?}"));
                };
                let (specific, word) = match state {
                    VrrpState::Master => (&v.notify.master, "MASTER"),
                    VrrpState::Backup => (&v.notify.backup, "BACKUP"),
                    VrrpState::Fault => (&v.notify.fault, "FAULT"),
                    VrrpState::Stop => (&v.notify.stop, "STOP"),
                    VrrpState::Init => (&None, "INIT"),
                };
                if let Some(s) = specific {
                    self.queue_notify(instance, s.clone(), Vec::new());
                }
                let prio = self
                    .instance_states
                    .iter()
                    .find(|s| s.instance == instance)
                    .map(|s| s.effective_priority)
                    .unwrap_or(v.priority);
                if state != VrrpState::Init {
                    let line = crate::vrrp_notify::instance_line(&v.name, state, prio);
                    self.fifos.write(&line, crate::vrrp_notify::Events::Vrrp);
                }
                if let Some(g) = &v.notify.generic {
                    let extra = [
                        "INSTANCE".to_string(),
                        v.name.clone(),
                        word.to_string(),
                        prio.to_string(),
                    ];
                    self.queue_notify(instance, g.clone(), extra.to_vec());
                }
                self.vrrp_script_not_run(req_id);
            }
            ScriptRef::Misc { .. } | ScriptRef::RsNotify { .. } | ScriptRef::Quorum { .. } => {
                return Err("asked the VRRP side for a checker script".into())
            }
            ScriptRef::GroupNotify { group, state } => {
                let (id, scripts) = crate::vrrp_notify::group_scripts(&self.config, &group, state)?;
                for (script, extra) in scripts {
                    self.queue_notify(id, script, extra);
                }
                self.fifos.write(
                    &crate::vrrp_notify::group_line(&group, state),
                    crate::vrrp_notify::Events::Vrrp,
                );
                self.vrrp_script_not_run(req_id);
            }
        }
        Ok(())
    }

    /// The checker asks for a real server's MISC_CHECK by id; we run that checker's
    /// `misc_path`, killed after `misc_timeout` (default: the check's delay_loop).
    fn run_misc_check(&mut self, req_id: u64, which: ScriptRef) -> Result<(), String> {
        let (rs, checker) = match which {
            ScriptRef::Misc { rs, checker } => (rs, checker),
            ScriptRef::RsNotify { rs, up } => {
                return self.run_checker_notify(req_id, rs, up, false)
            }
            ScriptRef::Quorum { vs, up } => return self.run_checker_notify(req_id, vs, up, true),
            _ => return Err("asked the checker side for a VRRP script".into()),
        };
        self.lvs.ensure(&self.config);
        let (path, t) = {
            let found = match self.lvs.locate(rs) {
                Some((v, Some(r))) => self
                    .config
                    .virtual_servers
                    .get(v)
                    .and_then(|vs| Some((vs, vs.real_servers.get(r)?))),
                _ => None,
            };
            let Some((vs, real)) = found else {
                return Err(format!(
                    "asked to run a check of unknown real server {rs:?}"
                ));
            };
            let Some(c) = real.checkers.get(checker as usize) else {
                return Err(format!(
                    "asked for checker {checker} of a real server that has {}",
                    real.checkers.len()
                ));
            };
            let conf::model::CheckKind::Misc {
                path: Some(path),
                timeout,
                ..
            } = &c.kind
            else {
                return Err(format!(
                    "checker {checker} of that real server is not a MISC_CHECK"
                ));
            };
            let delay = c
                .retry
                .delay_loop
                .or(real.defaults.delay_loop)
                .or(vs.defaults.delay_loop)
                .unwrap_or(60_000_000);
            let t = timeout
                .map(|s| Duration::from_secs(s as u64))
                .unwrap_or(Duration::from_micros(delay));
            (path.clone(), t)
        };
        if !self.start_script(&path, &[], Some(t), ScriptEnd::Misc { req_id }) {
            self.answer_checker_script(req_id);
        }
        Ok(())
    }

    /// A checker's script request answered without a status (not run, or nothing waits).
    fn answer_checker_script(&mut self, req_id: u64) {
        self.checker.send(
            &self.poll,
            &ParentToChecker::RunScriptResult {
                req_id,
                exit_status: None,
                timed_out: false,
            },
        );
    }

    /// A real server's notify_up/notify_down (`quorum` None) or a virtual server's
    /// quorum_up/quorum_down, by id; started and answered at once (nothing waits for it).
    fn run_checker_notify(
        &mut self,
        req_id: u64,
        id: ObjId,
        up: bool,
        quorum: bool,
    ) -> Result<(), String> {
        self.lvs.ensure(&self.config);
        let script = match self.lvs.locate(id) {
            Some((v, None)) if quorum => self.config.virtual_servers.get(v).map(|vs| {
                if up {
                    vs.quorum_up.clone()
                } else {
                    vs.quorum_down.clone()
                }
            }),
            Some((v, Some(r))) if !quorum => self
                .config
                .virtual_servers
                .get(v)
                .and_then(|vs| vs.real_servers.get(r))
                .map(|rs| {
                    if up {
                        rs.notify_up.clone()
                    } else {
                        rs.notify_down.clone()
                    }
                }),
            _ => None,
        };
        let Some(script) = script else {
            return Err(format!("asked to notify for unknown object {id:?}"));
        };
        if let Some(s) = script {
            self.start_script(&s, &[], None, ScriptEnd::Detached);
        }
        self.answer_checker_script(req_id);
        Ok(())
    }

    fn script_ended(&mut self, r: Running<ScriptEnd>, st: WaitStatus) {
        let timed_out = r.term_sent.is_some();
        let status = match st {
            WaitStatus::Exited(_, c) => Some(c),
            _ => None,
        };
        match r.then {
            ScriptEnd::Detached => {}
            ScriptEnd::Fifo => {}
            ScriptEnd::Startup => {
                if timed_out {
                    log!("Startup script timed out");
                }
            }
            ScriptEnd::Misc { req_id } => {
                self.checker.send(
                    &self.poll,
                    &ParentToChecker::RunScriptResult {
                        req_id,
                        exit_status: status,
                        timed_out,
                    },
                );
            }
            ScriptEnd::Track { req_id } => {
                self.vrrp.send(
                    &self.poll,
                    &ParentToVrrp::RunScriptResult {
                        req_id,
                        exit_status: status,
                        timed_out,
                    },
                );
            }
            ScriptEnd::Notify { instance } => {
                if let Some(q) = self.notify.get_mut(&instance) {
                    if q.running.is_some_and(|(p, _)| p == r.pid) {
                        q.running = None;
                    }
                }
                self.start_notify(instance, Instant::now());
            }
        }
    }

    fn queue_notify(&mut self, instance: ObjId, script: conf::model::Script, extra: Vec<String>) {
        self.notify
            .entry(instance)
            .or_default()
            .waiting
            .push_back((script, extra));
        self.start_notify(instance, Instant::now());
    }

    /// Start the next notify script of an instance if none runs, or if the running one has
    /// held the queue for `NOTIFY_HOLD`.
    fn start_notify(&mut self, instance: ObjId, now: Instant) {
        let Some(q) = self.notify.get_mut(&instance) else {
            return;
        };
        if let Some((_, since)) = q.running {
            if now < since + NOTIFY_HOLD || q.waiting.is_empty() {
                return;
            }
            let name = self
                .config
                .instances
                .iter()
                .find(|v| conf::project::instance_id(v) == instance)
                .map(|v| v.name.clone())
                .unwrap_or_default();
            log!(
                "({name}) notify script still running after {} s - starting the next one",
                NOTIFY_HOLD.as_secs()
            );
        }
        let Some((script, extra)) = q.waiting.pop_front() else {
            return;
        };
        q.running = None;
        if self.start_script(&script, &extra, None, ScriptEnd::Notify { instance }) {
            let pid = self.scripts.last().map(|r| r.pid);
            if let (Some(pid), Some(q)) = (pid, self.notify.get_mut(&instance)) {
                q.running = Some((pid, now));
            }
        } else {
            self.start_notify(instance, now);
        }
    }

    fn notify_deadline(&self) -> Option<Instant> {
        self.notify
            .values()
            .filter(|q| !q.waiting.is_empty())
            .filter_map(|q| q.running.map(|(_, t)| t + NOTIFY_HOLD))
            .min()
    }

    /// `notify_fifo` / `vrrp_notify_fifo` for the running config, their scripts started.
    fn open_fifos(&mut self) {
        for (script, path) in self.fifos.open(&self.config) {
            self.start_script(&script, &[path], None, ScriptEnd::Fifo);
        }
    }

    /// `shutdown_script`, after the children are gone: waited for, bounded by its timeout.
    fn run_shutdown_script(&mut self) {
        let Some(s) = self.config.global.shutdown_script.clone() else {
            return;
        };
        let who = crate::scripts::identity(&s, self.script_default);
        let Ok(pid) = crate::scripts::spawn(&s, who, &[]) else {
            return;
        };
        let limit = Instant::now()
            + Duration::from_secs(self.config.global.shutdown_script_timeout.unwrap_or(10) as u64);
        loop {
            match waitpid(pid, Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::StillAlive) => {}
                _ => return,
            }
            if Instant::now() >= limit {
                log!("Shutdown script timed out");
                let _ = kill(pid, Signal::SIGKILL);
                let _ = waitpid(pid, None);
                return;
            }
            // Stop has no event loop left to wait in; a short bounded poll.
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Add or remove the VIPs and eVIPs of one instance, as its own config entry says.
    /// `Err` refuses the request (unknown instance).
    fn set_vips(&mut self, instance: ObjId, add: bool) -> Result<OpResult, String> {
        let Some(v) = self
            .config
            .instances
            .iter()
            .find(|v| conf::project::instance_id(v) == instance)
        else {
            return Err(format!("asked for VIPs of unknown instance {instance:?}"));
        };
        if self.rtnl.is_none() {
            return Ok(OpResult::Failed("no netlink command channel".into()));
        }
        log!(
            "({}) {} VIPs.",
            v.name,
            if add { "setting" } else { "removing" }
        );
        let dev = vip_dev(v, &self.config);
        let verb = if add { "add" } else { "remove" };
        let mut failed = Vec::new();
        // keepalived `vrrp_handle_accept_mode`: a non-owner without accept mode drops
        // traffic to and from its VIPs while MASTER; the rule goes in before the VIPs and
        // comes out after them.
        let drop_rules = v.priority != 255 && !v.accept_mode(self.config.global.vrrp_strict);
        let fw_addrs: Vec<std::net::IpAddr> = v
            .vips
            .iter()
            .chain(v.evips.iter())
            .map(|a| a.addr)
            .collect();
        let firewall = |nft: &mut Option<crate::privops::nft::Nft>| -> Option<String> {
            if nft.is_none() {
                match crate::privops::nft::Nft::open() {
                    Ok(n) => {
                        log!("use_vmac or no_accept/strict specified, but no firewall configured - using nftables");
                        *nft = Some(n)
                    }
                    Err(e) => return Some(e.text),
                }
            }
            let n = nft.as_mut()?;
            n.update(&fw_addrs, add).err().map(|e| e.text)
        };
        if drop_rules && add {
            if let Some(e) = firewall(&mut self.nft) {
                log!("({}) cannot set the firewall drop rule: {e}", v.name);
                failed.push(e);
            }
        }
        let Some(rtnl) = self.rtnl.as_mut() else {
            return Ok(OpResult::Failed("no netlink command channel".into()));
        };
        let mut note = |what: String, r: Result<(), crate::privops::addr::NlError>| {
            if let Err(e) = r {
                log!("({}) cannot {verb} {what}: {e}", v.name);
                failed.push(e.text);
            }
        };
        for a in v.vips.iter().chain(v.evips.iter()) {
            let r = if add {
                rtnl.add(a, &dev)
            } else {
                rtnl.del(a, &dev)
            };
            note(crate::privops::addr::show(a), r);
        }
        // virtual_routes and virtual_rules follow the VIPs.
        for r in &v.vroutes {
            note(
                format!("route {}", crate::privops::route::show_route(r)),
                rtnl.route(r, add),
            );
        }
        for r in &v.vrules {
            note(
                format!("rule with preference {}", r.preference),
                rtnl.rule(r, add),
            );
        }
        if drop_rules && !add {
            if let Some(e) = firewall(&mut self.nft) {
                log!("({}) cannot remove the firewall drop rule: {e}", v.name);
                failed.push(e);
            }
        }
        if add {
            if !self.vips_set.contains(&instance) {
                self.vips_set.push(instance);
            }
        } else {
            self.vips_set.retain(|i| *i != instance);
        }
        Ok(if failed.is_empty() {
            OpResult::Done
        } else {
            OpResult::Failed(failed.join("; "))
        })
    }

    /// Reload, for the instances whose VIPs are set (MASTERs), as keepalived's
    /// `restore_vrrp_state` and `clear_diff_vrrp`: addresses, excluded addresses, virtual
    /// routes and rules the new config names are added, those it no longer names removed; an
    /// instance gone from the config loses them all. Nothing else is touched.
    fn reload_vips(&mut self, old: &conf::model::Config) {
        let Some(rtnl) = self.rtnl.as_mut() else {
            return;
        };
        let by_id = |c: &conf::model::Config, id: ObjId| {
            c.instances
                .iter()
                .find(|v| conf::project::instance_id(v) == id)
                .cloned()
        };
        let empty = conf::model::VrrpInstance::new("");
        for id in self.vips_set.clone() {
            let Some(was) = by_id(old, id) else { continue };
            let now = by_id(&self.config, id);
            let is = now.as_ref().unwrap_or(&empty);
            let (dev_was, dev_is) = (vip_dev(&was, old), vip_dev(is, &self.config));
            let name = was.name.clone();
            let note = |what: String, r: Result<(), crate::privops::addr::NlError>| {
                if let Err(e) = r {
                    log!("({name}) cannot {what}: {e}");
                }
            };
            let addrs = |v: &conf::model::VrrpInstance| -> Vec<conf::model::IpAddress> {
                v.vips.iter().chain(v.evips.iter()).cloned().collect()
            };
            if now.is_none() {
                log!("({name}) removing VIPs.");
            }
            // What the old config has and the new one lacks goes, then the reverse comes
            // (an instance gone from the config only loses).
            let moved = dev_was != dev_is;
            let sides = [(&was, is, &dev_was, false), (is, &was, &dev_is, true)];
            for (from, other, dev, add) in sides.into_iter().take(if now.is_some() { 2 } else { 1 })
            {
                let verb = if add { "add" } else { "remove" };
                let kept = addrs(other);
                for a in addrs(from).iter().filter(|a| moved || !kept.contains(a)) {
                    let r = if add {
                        rtnl.add(a, dev)
                    } else {
                        rtnl.del(a, dev)
                    };
                    note(format!("{verb} {}", crate::privops::addr::show(a)), r);
                }
                for r in from.vroutes.iter().filter(|r| !other.vroutes.contains(r)) {
                    let what = format!("{verb} route {}", crate::privops::route::show_route(r));
                    note(what, rtnl.route(r, add));
                }
                for r in from.vrules.iter().filter(|r| !other.vrules.contains(r)) {
                    let what = format!("{verb} rule with preference {}", r.preference);
                    note(what, rtnl.rule(r, add));
                }
            }
            if now.is_none() {
                self.vips_set.retain(|i| *i != id);
            }
        }
    }

    /// `static_ipaddress`: set when VRRP starts, whatever the state.
    fn set_static_addresses(&mut self) {
        let Some(rtnl) = self.rtnl.as_mut() else {
            return;
        };
        let dev = self
            .config
            .global
            .default_interface
            .clone()
            .unwrap_or_else(|| "eth0".into());
        for a in &self.config.static_ipaddress {
            match rtnl.add(a, &dev) {
                Ok(()) => log!(
                    "Assigned address {} for interface {}",
                    a.addr,
                    a.dev.as_deref().unwrap_or(&dev)
                ),
                Err(e) => log!(
                    "Unable to assign static address {}: {e}",
                    crate::privops::addr::show(a)
                ),
            }
        }
        for r in &self.config.static_routes {
            if let Err(e) = rtnl.route(r, true) {
                log!(
                    "Unable to add static route {}: {e}",
                    crate::privops::route::show_route(r)
                );
            }
        }
        for r in &self.config.static_rules {
            if let Err(e) = rtnl.rule(r, true) {
                log!(
                    "Unable to add static rule with preference {}: {e}",
                    r.preference
                );
            }
        }
        self.statics_set = true;
    }

    fn release_interfaces(&mut self) {
        if let Some(rtnl) = self.rtnl.as_mut() {
            for name in self.vmacs.drain(..) {
                if let Err(e) = rtnl.delete_link(&name) {
                    log!("Unable to delete VMAC interface {name}: {e}");
                }
            }
        }
        self.sysctls.restore();
    }

    /// `use_vmac` interfaces and the sysctls keepalived sets (VMACs, `promote_secondaries`).
    fn set_interfaces(&mut self) {
        let Some(rtnl) = self.rtnl.as_mut() else {
            return;
        };
        let prefix = crate::privops::link::vmac_prefix(&self.config);
        for v in &self.config.instances {
            let base = v.interface.clone().unwrap_or_default();
            if v.promote_secondaries {
                if let Err(e) = self
                    .sysctls
                    .set(&format!("net/ipv4/conf/{base}/promote_secondaries"), "1")
                {
                    log!("({}) cannot set promote_secondaries on {base}: {e}", v.name);
                }
            }
            let Some((name, mac)) = crate::privops::link::vmac_of(v, &prefix) else {
                continue;
            };
            match rtnl.create_vmac(&name, &base, mac) {
                Ok(()) => {
                    log!("({}) Created VMAC interface {name} on {base}", v.name);
                    self.vmacs.push(name.clone());
                    if let Err(e) = crate::privops::sysctl::vmac(&mut self.sysctls, &name, &base) {
                        log!("({}) cannot set sysctls for {name}: {e}", v.name);
                    }
                }
                Err(e) => log!("({}) cannot create VMAC interface {name}: {e}", v.name),
            }
        }
    }

    /// At stop: every VIP we set and the static addresses go.
    fn release_addresses(&mut self) {
        for id in self.vips_set.clone() {
            let _ = self.set_vips(id, false);
        }
        if !self.statics_set {
            return;
        }
        let Some(rtnl) = self.rtnl.as_mut() else {
            return;
        };
        let dev = self
            .config
            .global
            .default_interface
            .clone()
            .unwrap_or_else(|| "eth0".into());
        for a in &self.config.static_ipaddress {
            if let Err(e) = rtnl.del(a, &dev) {
                log!(
                    "Unable to remove static address {}: {e}",
                    crate::privops::addr::show(a)
                );
            }
        }
        for r in &self.config.static_routes {
            if let Err(e) = rtnl.route(r, false) {
                log!(
                    "Unable to remove static route {}: {e}",
                    crate::privops::route::show_route(r)
                );
            }
        }
        for r in &self.config.static_rules {
            if let Err(e) = rtnl.rule(r, false) {
                log!(
                    "Unable to remove static rule with preference {}: {e}",
                    r.preference
                );
            }
        }
    }

    /// Start-up: VIPs of our instances already on the interfaces were left by a daemon that
    /// was killed. Held until the instance says what it is.
    fn find_stale_vips(&mut self) {
        let present = crate::privops::ifinfo::present_addresses();
        for v in &self.config.instances {
            if v.vips.iter().any(|a| present.contains(&a.addr)) {
                log!("({}) its VIPs are on the interfaces already: kept if it comes up MASTER, removed otherwise", v.name);
                self.stale_vips.push(conf::project::instance_id(v));
            }
        }
    }

    /// The first state of an instance whose VIPs were left by a killed daemon decides them.
    fn settle_stale_vips(&mut self, st: &InstanceState) -> Result<(), String> {
        if !self.stale_vips.contains(&st.instance) {
            return Ok(());
        }
        match st.state {
            ipc::VrrpState::Master => self.stale_vips.retain(|i| *i != st.instance),
            ipc::VrrpState::Backup | ipc::VrrpState::Fault | ipc::VrrpState::Stop => {
                // An address owner (priority 255) passes BACKUP on its way to MASTER.
                let owner = self
                    .config
                    .instances
                    .iter()
                    .any(|v| conf::project::instance_id(v) == st.instance && v.priority == 255);
                if owner && st.state == ipc::VrrpState::Backup {
                    return Ok(());
                }
                self.stale_vips.retain(|i| *i != st.instance);
                // set_vips logs keepalived's "(VI_1) removing VIPs."
                self.set_vips(st.instance, false)?;
            }
            ipc::VrrpState::Init => {}
        }
        Ok(())
    }

    /// An `lvs_sync_daemon` tied to a VRRP instance is master while that instance is.
    fn sync_daemon_follows(&mut self, st: &InstanceState) {
        let Some(name) = self
            .config
            .global
            .lvs_sync_daemon
            .as_ref()
            .and_then(|s| s.instance.clone())
        else {
            return;
        };
        let is_it = self
            .config
            .instances
            .iter()
            .any(|v| v.name == name && conf::project::instance_id(v) == st.instance);
        if is_it {
            let master = st.state == ipc::VrrpState::Master;
            self.lvs.instance_state(&self.config, &name, master);
        }
    }

    fn checker_request(&mut self, m: CheckerToParent) -> Result<(), String> {
        match m {
            CheckerToParent::ApplyIpvs { req_id, ops, .. } => {
                crate::log::mark(&format!("ApplyIpvs {} ops", ops.len()));
                let available = self.lvs.ensure(&self.config);
                for op in &ops {
                    let id = match op {
                        IpvsOp::AddService { vs }
                        | IpvsOp::DelService { vs }
                        | IpvsOp::AddSorry { vs, .. }
                        | IpvsOp::DelSorry { vs } => *vs,
                        IpvsOp::AddDest { rs, .. }
                        | IpvsOp::EditDest { rs, .. }
                        | IpvsOp::DelDest { rs } => *rs,
                    };
                    if self.lvs.locate(id).is_none() {
                        return Err(format!("asked to change unknown IPVS object {id:?}"));
                    }
                }
                let result = if available {
                    self.lvs.apply(&self.config, &ops)
                } else {
                    OpResult::Unavailable
                };
                self.checker.send(
                    &self.poll,
                    &ParentToChecker::ApplyIpvsResult { req_id, result },
                );
                // A checker's first request names every real server (10,500 ops at 10,000):
                // its message and the commands it queued leave megabytes of free heap on
                // pages that stay resident until trimmed.
                if ops.len() >= 1024 {
                    drop(ops);
                    trim_heap();
                }
                crate::log::mark("ApplyIpvs answered");
            }
            CheckerToParent::RunScript { req_id, script } => self.run_misc_check(req_id, script)?,
            CheckerToParent::RsChanged(st) => {
                self.rs_states.retain(|s| s.rs != st.rs);
                self.rs_states.push(st);
            }
            CheckerToParent::FullState(list) => self.rs_states = list,
            CheckerToParent::LvsNotify(ev) => {
                let (id, up) = match ev {
                    ipc::LvsEvent::Rs { rs, up } => (rs, up),
                    ipc::LvsEvent::Vs { vs, up } => (vs, up),
                };
                let found = self.lvs.locate(id).and_then(|(v, r)| {
                    let vs = self.config.virtual_servers.get(v)?;
                    Some(match (ev, r) {
                        (ipc::LvsEvent::Rs { .. }, Some(r)) => {
                            crate::vrrp_notify::rs_line(vs, vs.real_servers.get(r)?, up)
                        }
                        (ipc::LvsEvent::Vs { .. }, None) => crate::vrrp_notify::vs_line(vs, up),
                        _ => return None,
                    })
                });
                let Some(line) = found else {
                    return Err(format!("asked to notify for unknown IPVS object {id:?}"));
                };
                self.fifos.write(&line, crate::vrrp_notify::Events::Lvs);
            }
            CheckerToParent::DumpText { kind, text } if kind != DumpKind::BfdData => {
                write_dump(kind, "keepalived_check", &text)
            }
            other => return Err(format!("sent an unexpected {other:?}")),
        }
        Ok(())
    }

    /// SIGHUP: parse and validate first; keep the running config if the new one could not start.
    fn reload(&mut self) {
        log!("Reloading ...");
        crate::notify::sd_notify("RELOADING=1");
        let loaded = conf::load(&self.s.config_path, &self.s.load);
        for d in &loaded.diags.list {
            log!("{d}");
        }
        if loaded.diags.refuses_reload() {
            log!("Reload refused: the configuration could not start; keeping the running configuration");
            crate::notify::sd_notify("READY=1");
            return;
        }
        // A subsystem the new config needs and no child runs starts now, as keepalived's
        // reload starts a child it did not run; one no longer needed keeps running with an
        // empty configuration (keepalived's too).
        let (want_vrrp, want_checker, want_bfd) = self.s.modes.wanted(&loaded.config);
        let vrrp_was = self.vrrp_child();
        let new_vrrp = want_vrrp && !self.s.run_vrrp;
        let new_checker = want_checker && !self.s.run_checker;
        self.s.run_vrrp |= want_vrrp;
        self.s.run_bfd |= want_bfd;
        if self.s.run_checker {
            self.lvs.configure(Some(&self.config), &loaded.config);
        }
        let old = std::mem::replace(&mut self.config, loaded.config);
        if new_checker {
            log!("The configuration now has virtual servers: starting the Healthcheck child");
            self.s.run_checker = true;
            self.kernel_resume = Some(self.lvs.start(&self.config));
            self.checker.restart_at = Some(Instant::now());
        }
        if new_vrrp {
            self.vrrp_host_setup();
        }
        if self.vrrp_child() && !vrrp_was {
            log!("The configuration now has VRRP or BFD instances: starting the VRRP child");
            self.vrrp.restart_at = Some(Instant::now());
        }
        // A BFD session no longer configured (or no longer for the checker) is forgotten.
        let states = std::mem::take(&mut self.bfd_states);
        self.bfd_states = states
            .into_iter()
            .filter(|l| self.known_bfd(l.bfd))
            .collect();
        self.reload_vips(&old);
        self.open_fifos();
        self.generation += 1;
        let kinds = self.vrrp_kinds();
        if let Some(pid) = self
            .vrrp
            .pid
            .filter(|_| self.vrrp.greeted && kinds.iter().any(|k| !self.vrrp.kinds.contains(k)))
        {
            // Sockets of a kind the running child was not given (the first IPv6, AH or BFD
            // instance): a new child gets them all. It is killed, not stopped (a stop sends
            // priority 0), and resumes every instance's state, as after a crash: the VIPs
            // stay, no peer takes over.
            log!("The configuration needs sockets the VRRP child lacks ({kinds:?}): restarting it");
            self.vrrp.restart_requested = true;
            let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL);
        } else {
            let v = self.vrrp_snapshot();
            self.vrrp.send(&self.poll, &v);
        }
        if self.s.run_checker {
            let c = self.checker_snapshot();
            self.checker.send(&self.poll, &c);
        }
        trim_heap();
        log!(
            "Reload complete (configuration generation {})",
            self.generation
        );
        crate::notify::sd_notify("READY=1");
    }

    /// When the VIPs we hold must go if no VRRP child is ready by then: the largest
    /// Master_Down_Interval of their instances (3 adverts + skew, RFC 5798 §6.1) after the
    /// last child died — by then the peer has taken over.
    fn vips_orphan_deadline(&self) -> Option<Instant> {
        Some(self.vrrp_gone_since? + self.vips_mdi()?)
    }

    /// The largest Master_Down_Interval of the instances whose VIPs we hold.
    fn vips_mdi(&self) -> Option<Duration> {
        let mdi_cs = self
            .config
            .instances
            .iter()
            .filter(|v| self.vips_set.contains(&conf::project::instance_id(v)))
            .map(|v| {
                let adv = v.advert_int as u64;
                3 * adv + (256 - v.priority as u64) * adv / 256
            })
            .max()?;
        Some(Duration::from_millis(mdi_cs * 10))
    }

    /// No VRRP child came back within Master_Down_Interval (a crash loop): release the
    /// VIPs as keepalived's master would, and let the next child start as BACKUP.
    fn release_orphan_vips(&mut self) {
        for id in self.vips_set.clone() {
            let name = self
                .config
                .instances
                .iter()
                .find(|v| conf::project::instance_id(v) == id)
                .map(|v| v.name.clone())
                .unwrap_or_default();
            if let Err(e) = self.set_vips(id, false) {
                log!("({name}) {e}");
            }
            for st in self.instance_states.iter_mut().filter(|s| s.instance == id) {
                if st.state == ipc::VrrpState::Master {
                    st.state = ipc::VrrpState::Backup;
                }
            }
        }
        // A child still starting may have been told to resume MASTER; it would advertise
        // without VIPs. The next one starts from BACKUP.
        if let Some(pid) = self.vrrp.pid.filter(|_| !self.vrrp.ready) {
            let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL);
        }
    }

    /// The operator's `keepalived --restart-checker`: an orderly stop of the checker child
    /// and a new one at once, given the last real-server states (IPVS and VRRP untouched).
    fn restart_checker(&mut self) {
        if self.stopping.is_some() || !self.s.run_checker {
            return;
        }
        match self.checker.pid {
            Some(pid) => {
                log!("Restarting the Healthcheck child process (pid {pid}) on request");
                self.checker.restart(&self.poll);
            }
            None => log!("Restart of the Healthcheck child process requested: none is running"),
        }
    }

    fn request_dump(&mut self, kind: DumpKind) {
        self.vrrp
            .send(&self.poll, &ParentToVrrp::Dump { kind: kind.clone() });
        self.checker
            .send(&self.poll, &ParentToChecker::Dump { kind });
    }
}

/// The interface an instance's VIPs go on: its VMAC with `use_vmac`, else its interface.
fn vip_dev(v: &conf::model::VrrpInstance, cfg: &conf::model::Config) -> String {
    match crate::privops::link::vmac_of(v, &crate::privops::link::vmac_prefix(cfg)) {
        Some((name, _)) => name,
        None => v.interface.clone().unwrap_or_default(),
    }
}

/// Give freed heap back to the system (building and encoding a child's snapshot of a large
/// configuration leaves megabytes that glibc would keep), and the config reader's pages.
fn trim_heap() {
    ipc::mem::trim();
}

/// Dump files live in `$TMPDIR` or `/tmp`, mode 0600, written by the parent only.
fn write_dump(kind: DumpKind, base: &str, text: &str) {
    use std::os::unix::fs::OpenOptionsExt;
    let dir = std::env::var("TMPDIR").unwrap_or_else(|_| "/tmp".into());
    let ext = match kind {
        DumpKind::Data | DumpKind::BfdData => "data",
        DumpKind::Stats => "stats",
        DumpKind::Json => "json",
    };
    let path = PathBuf::from(dir).join(format!("{base}.{ext}"));
    let r = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&path)
        .and_then(|mut f| {
            use std::io::Write;
            f.write_all(text.as_bytes())
        });
    if let Err(e) = r {
        log!("Unable to write {}: {e}", path.display());
    }
}

/// Keep descriptor 3 taken in the parent, so nothing of ours (or of `Command`) lands on the
/// number the children expect their socket at.
pub fn reserve_low_fds() {
    loop {
        match nix::fcntl::open(
            "/dev/null",
            nix::fcntl::OFlag::O_RDONLY | nix::fcntl::OFlag::O_CLOEXEC,
            nix::sys::stat::Mode::empty(),
        ) {
            Ok(fd) if fd.as_raw_fd() <= ipc::CHILD_FD => std::mem::forget::<OwnedFd>(fd),
            _ => break,
        }
    }
}
