//! `keepalived`: the parent process of keepalived-rs.
//!
//! It reads and checks the configuration exactly as keepalived 2.2.7 does (`-t`, `-d`), then
//! supervises the VRRP and checker children (`supervisor.rs`); the same executable runs as a
//! child with `--role vrrp|checker`.

mod cli;
mod genhash;
#[macro_use]
mod log;
mod notify;
mod privilege;
mod privops;
mod scripts;
mod supervisor;
mod vrrp_notify;

use std::io::Write;
use std::process::ExitCode;

pub const VERSION: &str = env!("CARGO_PKG_VERSION");
const DEFAULT_CONFIG: &str = "/etc/keepalived/keepalived.conf";

/// keepalived's daemon exit codes (`KEEPALIVED_EXIT_*`).
const EXIT_FATAL: u8 = 1;
const EXIT_CONFIG: u8 = 2;

fn main() -> ExitCode {
    log::mark("main");
    let args: Vec<_> = std::env::args_os().collect();
    let prog = args
        .first()
        .and_then(|a| std::path::Path::new(a).file_name())
        .map(|s| s.to_string_lossy().into_owned());
    // keepalived runs its genhash when called by that name, or with -T as the first option.
    let shown = args
        .first()
        .map(|a| a.to_string_lossy().into_owned())
        .unwrap_or_default();
    if prog.as_deref() == Some("genhash") {
        return genhash::main(&shown, args.into_iter().skip(1).collect(), true);
    }
    if args.get(1).is_some_and(|a| a == "-T" || a == "--genhash") {
        return genhash::main(&shown, args.into_iter().skip(2).collect(), false);
    }
    let c = match cli::parse(args) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(EXIT_FATAL);
        }
    };
    if let Some(role) = &c.role {
        return child_main(role, &c);
    }
    if c.caps {
        return caps_report(&c);
    }
    if c.restart_checker {
        return restart_checker(&c);
    }
    if c.help {
        print!("{}", cli::USAGE);
        return ExitCode::SUCCESS;
    }
    if c.version {
        println!("Keepalived-rs v{VERSION} (keepalived 2.2.7 compatible)");
        println!("Copyright(C) 2026 keepalived-rs authors; configuration language of Keepalived by Alexandre Cassen");
        return ExitCode::SUCCESS;
    }
    if let Some(name) = &c.signum {
        return match cli::signum(name) {
            Some(n) => {
                println!("{n}");
                ExitCode::SUCCESS
            }
            None => {
                eprintln!("Unknown sigfunc {name}");
                ExitCode::from(EXIT_FATAL)
            }
        };
    }
    for s in &c.stray {
        eprintln!("Unexpected argument(s): {s}");
    }
    let file = c
        .use_file
        .clone()
        .unwrap_or_else(|| DEFAULT_CONFIG.to_string());
    let opts = conf::LoadOptions {
        config_id: c.config_id.clone(),
        all_config: c.all_config,
        check_interfaces: true,
        interface_names: None,
        check_scripts: true,
    };
    let loaded = conf::load(&file, &opts);
    log::mark("config loaded");

    if let Some(log) = &c.config_test {
        let mut out: Box<dyn Write> = match log {
            Some(path) => match std::fs::File::create(path) {
                Ok(f) => Box::new(f),
                Err(e) => {
                    eprintln!("Unable to open config-test log file {path}: {e}");
                    Box::new(std::io::stderr())
                }
            },
            None => Box::new(std::io::stderr()),
        };
        for d in &loaded.diags.list {
            let _ = writeln!(out, "{d}");
        }
        if c.dump_conf {
            let _ = write!(out, "{}", conf::print::to_conf(&loaded.config));
        }
        return ExitCode::from(loaded.diags.test_exit_code() as u8);
    }

    log::init("Keepalived", c.log_console, !c.no_syslog, c.log_facility);
    log!("Starting Keepalived-rs v{VERSION}");
    log!("Configuration file {file}");
    for d in &loaded.diags.list {
        log!("{d}");
    }
    if c.dump_conf {
        for line in conf::print::to_conf(&loaded.config).lines() {
            log!("{line}");
        }
    }
    if loaded.diags.is_fatal() {
        return ExitCode::from(if loaded.files.is_empty() {
            6
        } else {
            EXIT_CONFIG
        });
    }
    if !c.dont_fork {
        if let Err(e) = nix::unistd::daemon(false, true) {
            log!("Unable to daemonise: {e}");
            return ExitCode::from(EXIT_FATAL);
        }
    }
    if let Some(m) = c.umask {
        nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(m));
    }
    supervisor::reserve_low_fds();
    if let Err(e) = privilege::restrict(&loaded.config) {
        log!("Unable to restrict the parent's capabilities: {e}");
        return ExitCode::from(EXIT_FATAL);
    }
    let modes = supervisor::Modes {
        vrrp: !c.check_only,
        checker: !c.vrrp_only,
        bfd: !c.no_bfd,
        all: c.all,
    };
    let (run_vrrp, run_checker, run_bfd) = modes.wanted(&loaded.config);
    let mut child_args = Vec::new();
    if c.log_console {
        child_args.push("-l".to_string());
    }
    if c.no_syslog {
        child_args.push("-G".to_string());
    }
    if let Some(f) = c.log_facility {
        child_args.push(format!("-S{}", f));
    }
    let settings = supervisor::Settings {
        config_path: file,
        load: opts,
        respawn: !c.dont_respawn,
        pid_file: c
            .pid_file
            .clone()
            .unwrap_or_else(|| "/run/keepalived.pid".into())
            .into(),
        vrrp_pid_file: c
            .vrrp_pid_file
            .clone()
            .unwrap_or_else(|| "/run/vrrp.pid".into())
            .into(),
        checkers_pid_file: c
            .checkers_pid_file
            .clone()
            .unwrap_or_else(|| "/run/checkers.pid".into())
            .into(),
        modes,
        run_vrrp,
        run_checker,
        run_bfd,
        child_args,
        release_vrrp: !c.dont_release_vrrp,
        release_ipvs: !c.dont_release_ipvs,
    };
    log::mark("restricted");
    let sup = match supervisor::Supervisor::new(settings, loaded.config) {
        Ok(s) => s,
        Err(e) => {
            log!("Unable to start: {e}");
            return ExitCode::from(EXIT_FATAL);
        }
    };
    ExitCode::from(sup.run() as u8)
}

/// `--role vrrp|checker`: a child. Take the socket at fd 3, drop every privilege, run.
fn child_main(role: &str, c: &cli::Cli) -> ExitCode {
    log::mark(&format!("child {role} main"));
    // Started as /proc/self/exe, the kernel named us "exe": keepalived's children are
    // "keepalived" to ps -C, pgrep, pidof and monitoring such as check_procs -C keepalived.
    // SAFETY: PR_SET_NAME reads the NUL-terminated name given.
    unsafe { libc::prctl(libc::PR_SET_NAME, c"keepalived".as_ptr()) };
    let (role, ident) = match role {
        "vrrp" => (ipc::sandbox::Role::Vrrp, vrrp_child::IDENT),
        "checker" => (ipc::sandbox::Role::Checker, checker_child::IDENT),
        other => {
            eprintln!("Unknown role {other}");
            return ExitCode::from(EXIT_FATAL);
        }
    };
    log::init(ident, c.log_console, !c.no_syslog, c.log_facility);
    let parent = nix::unistd::getppid();
    if c.no_swap {
        // Work that needs privilege comes before the drop (CAP_IPC_LOCK).
        use nix::sys::mman::{mlockall, MlockAllFlags};
        if let Err(e) = mlockall(MlockAllFlags::MCL_CURRENT | MlockAllFlags::MCL_FUTURE) {
            log!("Unable to lock memory: {e}");
        }
    }
    if role == ipc::sandbox::Role::Checker {
        // One descriptor per probe in flight: at 10,000 checks and a slow network that is
        // far past the default 1024 (keepalived raises it too).
        use nix::sys::resource::{getrlimit, setrlimit, Resource};
        if let Ok((_, hard)) = getrlimit(Resource::RLIMIT_NOFILE) {
            let _ = setrlimit(Resource::RLIMIT_NOFILE, hard.min(1 << 20), hard);
        }
    }
    // Started by the parent, the child is told its user; by hand, it looks it up.
    let id = match c.run_as.as_deref() {
        Some(s) => match ipc::sandbox::Identity::parse(s) {
            Some(id) => id,
            None => {
                log!("Bad --run-as {s}");
                return ExitCode::from(EXIT_FATAL);
            }
        },
        None => ipc::sandbox::identity(role),
    };
    let extra = match role {
        ipc::sandbox::Role::Vrrp => vrrp_child::SYSCALLS,
        ipc::sandbox::Role::Checker => checker_child::SYSCALLS,
    };
    // SAFETY: the parent put our end of the socketpair at CHILD_FD before exec; nothing else
    // in this process owns that descriptor.
    let result = match role {
        ipc::sandbox::Role::Vrrp => unsafe { ipc::Channel::from_inherited(ipc::CHILD_FD) }
            .map_err(|e| e.to_string())
            .and_then(|ch| enter(id, extra, parent).map(|_| ch))
            .and_then(|ch| vrrp_child::run(ch, log::info).map_err(|e| e.to_string())),
        ipc::sandbox::Role::Checker => unsafe { ipc::Channel::from_inherited(ipc::CHILD_FD) }
            .map_err(|e| e.to_string())
            .and_then(|ch| enter(id, extra, parent).map(|_| ch))
            .and_then(|ch| checker_child::run(ch, log::info).map_err(|e| e.to_string())),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            log!("{e}");
            ExitCode::from(EXIT_FATAL)
        }
    }
}

/// The sandbox, then the parent-death signal again (a credential change clears it) and a
/// check that the parent did not die in between.
fn enter(
    id: ipc::sandbox::Identity,
    extra: &[i64],
    parent: nix::unistd::Pid,
) -> Result<(), String> {
    ipc::sandbox::enter(id, extra).map_err(|e| e.to_string())?;
    // SAFETY: prctl with integer arguments only.
    if unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) } < 0 {
        return Err("PR_SET_PDEATHSIG failed".into());
    }
    if nix::unistd::getppid() != parent {
        return Err("parent went away during start-up".into());
    }
    Ok(())
}

/// `--caps`: uid and capability sets of every live keepalived-rs process, from the pid files.
/// `--restart-checker`: signal the running parent (by its pid file) to restart its checker.
fn restart_checker(c: &cli::Cli) -> ExitCode {
    let file = c
        .pid_file
        .clone()
        .unwrap_or_else(|| "/run/keepalived.pid".to_string());
    let Some(pid) = std::fs::read_to_string(&file)
        .ok()
        .and_then(|s| s.trim().parse::<i32>().ok())
    else {
        eprintln!("no running keepalived-rs found (pid file {file})");
        return ExitCode::from(EXIT_FATAL);
    };
    let sig = cli::signum("RESTART_CHECKER").unwrap_or(libc::SIGRTMIN() + 4);
    // SAFETY: kill with a pid read from the daemon's pid file and a real-time signal number.
    if unsafe { libc::kill(pid, sig) } != 0 {
        eprintln!(
            "keepalived-rs (pid {pid}): {}",
            std::io::Error::last_os_error()
        );
        return ExitCode::from(EXIT_FATAL);
    }
    println!("asked keepalived-rs (pid {pid}) to restart its health checker");
    ExitCode::SUCCESS
}

fn caps_report(c: &cli::Cli) -> ExitCode {
    let pid_of = |f: Option<&String>, default: &str| {
        let f = f.cloned().unwrap_or_else(|| default.to_string());
        std::fs::read_to_string(f)
            .ok()
            .and_then(|s| s.trim().parse::<i32>().ok())
    };
    let procs: Vec<(&str, i32)> = [
        ("parent", pid_of(c.pid_file.as_ref(), "/run/keepalived.pid")),
        ("vrrp", pid_of(c.vrrp_pid_file.as_ref(), "/run/vrrp.pid")),
        (
            "checker",
            pid_of(c.checkers_pid_file.as_ref(), "/run/checkers.pid"),
        ),
    ]
    .into_iter()
    .filter_map(|(n, p)| p.map(|p| (n, p)))
    .collect();
    let (text, found) = privilege::table(&procs);
    if found == 0 {
        eprintln!("no running keepalived-rs found (pid files)");
        return ExitCode::from(EXIT_FATAL);
    }
    print!("{text}");
    ExitCode::SUCCESS
}
