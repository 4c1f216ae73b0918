//! keepalived 2.2.x's command line, with getopt's behaviour (lexopt's optional values match
//! getopt's `::`: `-tFILE` and `--config-test=FILE` take the file, `-t FILE` does not).

use std::ffi::OsString;

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Cli {
    pub use_file: Option<String>,
    pub vrrp_only: bool,
    pub check_only: bool,
    pub no_bfd: bool,
    pub all: bool,
    pub log_console: bool,
    pub log_detail: u32,
    pub log_facility: Option<u8>,
    pub no_syslog: bool,
    pub umask: Option<u32>,
    pub release_vips: bool,
    pub dont_release_vrrp: bool,
    pub dont_release_ipvs: bool,
    pub dont_respawn: bool,
    pub dont_fork: bool,
    pub dump_conf: bool,
    pub pid_file: Option<String>,
    pub vrrp_pid_file: Option<String>,
    pub checkers_pid_file: Option<String>,
    pub bfd_pid_file: Option<String>,
    pub address_monitoring: bool,
    pub snmp: bool,
    pub snmp_agent_socket: Option<String>,
    pub namespace: Option<String>,
    pub core_dump: bool,
    pub core_dump_pattern: Option<Option<String>>,
    pub all_config: bool,
    pub config_id: Option<String>,
    pub signum: Option<String>,
    /// `-t[FILE]`: Some(None) = test to stderr.
    pub config_test: Option<Option<String>>,
    pub version: bool,
    pub help: bool,
    /// `--role vrrp|checker` (internal: how the parent starts its children).
    pub role: Option<String>,
    /// `--run-as UID:GID` (internal: the user the parent looked up for that child, so
    /// the child needs no user database and maps none of its libraries).
    pub run_as: Option<String>,
    /// `--caps`: print the running daemon's privilege table.
    pub caps: bool,
    /// `--restart-checker`: ask the running daemon to restart its checker child only.
    pub restart_checker: bool,
    /// `--no-swap` (internal, children): lock memory before dropping privileges.
    pub no_swap: bool,
    pub stray: Vec<String>,
}

pub enum CliError {
    Unknown(String),
    Missing(String),
    Invalid(String),
}

impl std::fmt::Display for CliError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CliError::Unknown(o) => write!(f, "Unknown option {o}"),
            CliError::Missing(o) => write!(f, "Missing parameter for option {o}"),
            CliError::Invalid(m) => f.write_str(m),
        }
    }
}

/// Long options, with every spelling keepalived accepts (mixed `-` and `_`).
const LONGS: &[(&str, char)] = &[
    ("use-file", 'f'),
    ("vrrp", 'P'),
    ("check", 'C'),
    ("no_bfd", 'B'),
    ("all", '\u{1}'),
    ("log-console", 'l'),
    ("log-detail", 'D'),
    ("log-facility", 'S'),
    ("no-syslog", 'G'),
    ("umask", 'u'),
    ("release-vips", 'X'),
    ("dont-release-vrrp", 'V'),
    ("dont-release-ipvs", 'I'),
    ("dont-respawn", 'R'),
    ("dont-fork", 'n'),
    ("dump-conf", 'd'),
    ("pid", 'p'),
    ("vrrp_pid", 'r'),
    ("checkers_pid", 'c'),
    ("bfd_pid", 'b'),
    ("address-monitoring", 'a'),
    ("snmp", 'x'),
    ("snmp-agent-socket", 'A'),
    ("namespace", 's'),
    ("core-dump", 'm'),
    ("core-dump-pattern", 'M'),
    ("all-config", 'e'),
    ("config-id", 'i'),
    ("signum", '\u{2}'),
    ("config-test", 't'),
    ("version", 'v'),
    ("help", 'h'),
    ("role", '\u{3}'),
    ("caps", '\u{4}'),
    ("restart-checker", '\u{6}'),
    ("no-swap", '\u{5}'),
    ("run-as", '\u{7}'),
];

/// The short option a long one stands for in `table`, as getopt_long finds it: the exact name,
/// else an unambiguous prefix.
pub fn long_to_short(table: &[(&str, char)], name: &str) -> Option<char> {
    if let Some((_, c)) = table.iter().find(|(n, _)| *n == name) {
        return Some(*c);
    }
    let m: Vec<_> = table.iter().filter(|(n, _)| n.starts_with(name)).collect();
    (m.len() == 1).then(|| m[0].1)
}

fn facility(s: &str) -> Option<u8> {
    if let Ok(n) = s.parse::<u8>() {
        return (n <= 7).then_some(n);
    }
    match s {
        "daemon" => Some(255),
        "user" => Some(254),
        _ => s
            .strip_prefix("local")
            .and_then(|n| n.parse::<u8>().ok())
            .filter(|n| *n <= 7),
    }
}

pub fn parse(args: Vec<OsString>) -> Result<Cli, CliError> {
    use lexopt::Arg;
    let mut c = Cli::default();
    let mut p = lexopt::Parser::from_iter(args);
    loop {
        let arg = match p.next() {
            Ok(Some(a)) => a,
            Ok(None) => break,
            Err(e) => return Err(CliError::Invalid(e.to_string())),
        };
        let (opt, shown) = match arg {
            Arg::Short(ch) => (ch, format!("-{ch}")),
            Arg::Long(name) => match long_to_short(LONGS, name) {
                Some(ch) => (ch, format!("--{name}")),
                None => return Err(CliError::Unknown(format!("--{name}"))),
            },
            Arg::Value(v) => {
                c.stray.push(v.to_string_lossy().into_owned());
                continue;
            }
        };
        let value = |p: &mut lexopt::Parser| -> Result<String, CliError> {
            p.value()
                .map(|v| v.to_string_lossy().into_owned())
                .map_err(|_| CliError::Missing(shown.clone()))
        };
        let optional =
            |p: &mut lexopt::Parser| p.optional_value().map(|v| v.to_string_lossy().into_owned());
        match opt {
            'f' => c.use_file = Some(value(&mut p)?),
            'P' => c.vrrp_only = true,
            'C' => c.check_only = true,
            'B' => c.no_bfd = true,
            '\u{1}' => c.all = true,
            'l' => c.log_console = true,
            'D' => c.log_detail += 1,
            'S' => {
                let v = value(&mut p)?;
                c.log_facility = Some(
                    facility(&v)
                        .ok_or_else(|| CliError::Invalid(format!("Invalid log facility '{v}'")))?,
                );
            }
            'G' => c.no_syslog = true,
            'u' => {
                let v = value(&mut p)?;
                let m = if v.len() > 1 && v.starts_with('0') {
                    u32::from_str_radix(&v[1..], 8)
                } else {
                    v.parse()
                };
                c.umask = Some(m.map_err(|_| CliError::Invalid(format!("Invalid umask '{v}'")))?);
            }
            'X' => c.release_vips = true,
            'V' => c.dont_release_vrrp = true,
            'I' => c.dont_release_ipvs = true,
            'R' => c.dont_respawn = true,
            'n' => c.dont_fork = true,
            'd' => c.dump_conf = true,
            'p' => c.pid_file = Some(value(&mut p)?),
            'r' => c.vrrp_pid_file = Some(value(&mut p)?),
            'c' => c.checkers_pid_file = Some(value(&mut p)?),
            'b' => c.bfd_pid_file = Some(value(&mut p)?),
            'a' => c.address_monitoring = true,
            'x' => c.snmp = true,
            'A' => c.snmp_agent_socket = Some(value(&mut p)?),
            's' => c.namespace = Some(value(&mut p)?),
            'm' => c.core_dump = true,
            'M' => c.core_dump_pattern = Some(optional(&mut p)),
            'e' => c.all_config = true,
            'i' => c.config_id = Some(value(&mut p)?),
            '\u{2}' => c.signum = Some(value(&mut p)?),
            't' => c.config_test = Some(optional(&mut p)),
            'v' => c.version = true,
            'h' => c.help = true,
            '\u{3}' => c.role = Some(value(&mut p)?),
            '\u{4}' => c.caps = true,
            '\u{6}' => c.restart_checker = true,
            '\u{5}' => c.no_swap = true,
            '\u{7}' => c.run_as = Some(value(&mut p)?),
            _ => return Err(CliError::Unknown(shown)),
        }
    }
    if c.config_test.is_some() {
        // -t implies -R -n -G, as in keepalived.
        c.dont_respawn = true;
        c.dont_fork = true;
        c.no_syslog = true;
    }
    Ok(c)
}

/// `--signum NAME`: the signal keepalived uses for it.
pub fn signum(name: &str) -> Option<i32> {
    Some(match name {
        "STOP" => libc::SIGTERM,
        "RELOAD" => libc::SIGHUP,
        "DATA" => libc::SIGUSR1,
        "STATS" => libc::SIGUSR2,
        "STATS_CLEAR" => libc::SIGRTMAX() - 1,
        "JSON" => libc::SIGRTMIN() + 2,
        // Ours: keepalived has no way to restart only the checker.
        "RESTART_CHECKER" => libc::SIGRTMIN() + 4,
        _ => return None,
    })
}

pub const USAGE: &str = "Usage: keepalived [OPTION...]
  -f, --use-file=FILE          Use the specified configuration file
  -P, --vrrp                   Only run with VRRP subsystem
  -C, --check                  Only run with Health-checker subsystem
  -B, --no_bfd                 Don't run BFD subsystem
      --all                    Force all child processes to run, even if have no configuration
  -l, --log-console            Log messages to local console
  -D, --log-detail             Detailed log messages
  -S, --log-facility=[0-7]     Set syslog facility to LOG_LOCAL[0-7]
  -G, --no-syslog              Don't log via syslog
  -u, --umask=MASK             umask for file creation (in numeric form)
  -X, --release-vips           Drop VIP on transition from signal.
  -V, --dont-release-vrrp      Don't remove VRRP VIPs and VROUTEs on daemon stop
  -I, --dont-release-ipvs      Don't remove IPVS topology on daemon stop
  -R, --dont-respawn           Don't respawn child processes
  -n, --dont-fork              Don't fork the daemon process
  -d, --dump-conf              Dump the configuration data
  -p, --pid=FILE               Use specified pidfile for parent process
  -r, --vrrp_pid=FILE          Use specified pidfile for VRRP child process
  -c, --checkers_pid=FILE      Use specified pidfile for checkers child process
  -a, --address-monitoring     Report all address additions/deletions notified via netlink
  -s, --namespace=NAME         Run in network namespace NAME (overrides config)
  -m, --core-dump              Produce core dump if terminate abnormally
  -M, --core-dump-pattern=PATN Also set /proc/sys/kernel/core_pattern to PATN (default 'core')
  -e, --all-config             Error if any configuration file missing (same as includea)
  -i, --config-id id           Skip any configuration lines beginning '@' that don't match id
                                or any lines beginning @^ that do match.
                                The config-id defaults to the node name if option not used
      --caps                   Show uid and capabilities of the running daemon's processes
      --restart-checker        Restart only the running daemon's health checker (IPVS and
                               VRRP untouched); --signum=RESTART_CHECKER is its signal
      --signum=SIGFUNC         Return signal number for STOP, RELOAD, DATA, STATS, STATS_CLEAR, JSON, RESTART_CHECKER
  -t, --config-test[=LOG_FILE] Check the configuration for obvious errors, output to
                                stderr by default
  -v, --version                Display the version number
  -h, --help                   Display this help message
";

#[cfg(test)]
mod tests {
    use super::*;

    fn p(args: &[&str]) -> Cli {
        let mut v: Vec<OsString> = vec!["keepalived".into()];
        v.extend(args.iter().map(OsString::from));
        match parse(v) {
            Ok(c) => c,
            Err(e) => panic!("{e}"),
        }
    }

    #[test]
    fn getopt_optional_arguments() {
        assert_eq!(p(&["-t"]).config_test, Some(None));
        assert_eq!(
            p(&["-t/tmp/log"]).config_test,
            Some(Some("/tmp/log".into()))
        );
        assert_eq!(
            p(&["--config-test=/tmp/log"]).config_test,
            Some(Some("/tmp/log".into()))
        );
        let c = p(&["-t", "x"]);
        assert_eq!(c.config_test, Some(None));
        assert_eq!(c.stray, ["x"]);
        assert!(c.dont_fork && c.dont_respawn && c.no_syslog);
    }

    #[test]
    fn clusters_counts_and_prefixes() {
        let c = p(&[
            "-nlDD",
            "-S3",
            "--dont-f",
            "--vrrp_pid=/r",
            "-f",
            "/etc/k.conf",
        ]);
        assert!(c.dont_fork && c.log_console);
        assert_eq!(c.log_detail, 2);
        assert_eq!(c.log_facility, Some(3));
        assert_eq!(c.vrrp_pid_file.as_deref(), Some("/r"));
        assert_eq!(c.use_file.as_deref(), Some("/etc/k.conf"));
    }

    #[test]
    fn unknown_options_are_refused() {
        let v: Vec<OsString> = vec!["keepalived".into(), "-Z".into()];
        assert!(matches!(parse(v), Err(CliError::Unknown(_))));
        assert_eq!(signum("RELOAD"), Some(libc::SIGHUP));
    }
}
