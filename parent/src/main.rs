//! `keepalived`: the parent process of keepalived-rs.
//!
//! Today it reads and checks the configuration (`-t`, `-d`) exactly as keepalived 2.2.7 does;
//! the supervisor, the children and the privileged operations arrive with the process-model
//! issue, and until then starting the daemon is refused rather than half done.

mod cli;

use std::io::Write;
use std::process::ExitCode;

pub const VERSION: &str = env!("CARGO_PKG_VERSION");
const DEFAULT_CONFIG: &str = "/etc/keepalived/keepalived.conf";

/// keepalived's daemon exit codes (`KEEPALIVED_EXIT_*`).
const EXIT_FATAL: u8 = 1;
const EXIT_CONFIG: u8 = 2;

fn main() -> ExitCode {
    let args: Vec<_> = std::env::args_os().collect();
    let prog = args
        .first()
        .and_then(|a| std::path::Path::new(a).file_name())
        .map(|s| s.to_string_lossy().into_owned());
    if prog.as_deref() == Some("genhash")
        || args.get(1).is_some_and(|a| a == "-T" || a == "--genhash")
    {
        eprintln!("genhash is not implemented yet");
        return ExitCode::from(EXIT_FATAL);
    }
    let c = match cli::parse(args) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(EXIT_FATAL);
        }
    };
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
        check_scripts: true,
    };
    let loaded = conf::load(&file, &opts);

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

    for d in &loaded.diags.list {
        eprintln!("{d}");
    }
    if c.dump_conf {
        print!("{}", conf::print::to_conf(&loaded.config));
    }
    if loaded.diags.is_fatal() {
        return ExitCode::from(if loaded.files.is_empty() {
            6
        } else {
            EXIT_CONFIG
        });
    }
    eprintln!("keepalived-rs: the daemon (VRRP and checker children) is not implemented yet; only -t and -d work");
    ExitCode::from(EXIT_FATAL)
}
