//! keepalived.conf, read exactly as keepalived 2.2.x reads it.
//!
//! * `preproc` — includes, comments, `@` conditionals, `$` definitions, `~SEQ`/`~LST`;
//! * `parse` — the keyword-table engine (keepalived's `process_stream`);
//! * `kw_global`, `kw_vrrp`, `kw_check` — the keyword handlers filling the typed `model`;
//! * `validate` — keepalived's completion-phase checks and defaults;
//! * `print` — the model back as keepalived.conf; `project` — child snapshots and reload diff.
//!
//! Every diagnostic carries keepalived's category, so `keepalived -t` exits as keepalived's does.

pub mod body_regex;
pub mod diag;
mod kw_check;
mod kw_global;
mod kw_vrrp;
pub mod lexer;
pub mod model;
pub mod parse;
pub mod preproc;
pub mod print;
pub mod project;
pub mod specs;
pub mod validate;
pub mod values;

pub use diag::{Category, Diagnostic, Diagnostics, Loc};
pub use model::Config;

use parse::{Parser, Words};
use std::path::Path;

/// Options of one load (from the command line).
#[derive(Clone, Debug, Default)]
pub struct LoadOptions {
    /// `-i`: compared with `@ID` lines; `None` = host name up to the first dot.
    pub config_id: Option<String>,
    /// `-e`: a missing include is an error.
    pub all_config: bool,
    /// Check that interfaces exist (off for unit tests that run without them).
    pub check_interfaces: bool,
    /// With `check_interfaces`: the interfaces that exist, instead of those in
    /// `/sys/class/net` (tests).
    pub interface_names: Option<Vec<String>>,
    /// Check scripts on disk (script security); off for unit tests.
    pub check_scripts: bool,
}

/// Parse-time facts `validate` needs and the model does not keep.
#[derive(Clone, Debug, Default)]
pub struct InstanceRaw {
    pub advert_int_text: Option<String>,
    /// A unicast keyword was given (keepalived's `VRRP_FLAG_UNICAST_CONFIGURED`).
    pub unicast_configured: bool,
}

/// State shared by the keyword handlers while one config is read.
pub struct Build {
    pub cfg: Config,
    /// keepalived gives rules without a preference 16384, 16383, … in order of appearance.
    pub next_rule_pref: u32,
    pub instance_raw: Vec<InstanceRaw>,
}

/// The result of reading a config: the model and every diagnostic.
#[derive(Clone, Debug)]
pub struct Loaded {
    pub config: Config,
    pub diags: Diagnostics,
    /// Every file read, in order.
    pub files: Vec<String>,
}

/// The host name up to the first dot (keepalived's default config id).
pub fn default_config_id() -> String {
    let name = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    name.trim()
        .split('.')
        .next()
        .unwrap_or_default()
        .to_string()
}

/// Read, parse and validate a configuration file (a glob, as `-f` takes).
pub fn load(path: &str, opts: &LoadOptions) -> Loaded {
    read(opts, || {
        let id = opts.config_id.clone().unwrap_or_else(default_config_id);
        let pp = preproc::Preprocessor::new(preproc::Options {
            config_id: Some(id),
            include_check: if opts.all_config {
                preproc::INCLUDE_ALL
            } else {
                0
            },
            random_seed: None,
            no_includes: false,
        });
        let mut p = Parser::new(pp);
        let mut diags_open = Diagnostics::default();
        if !p.pp.open_main(path, Path::new("."), &mut diags_open) {
            // keepalived 2.2.7 prints this and `-t` exits 0; we count it (see README).
            let mut diags = Diagnostics::default();
            for d in diags_open.list {
                diags.push(Category::FileNotFound, d.loc, d.msg);
            }
            if diags.list.is_empty() {
                diags.push(
                    Category::FileNotFound,
                    None,
                    format!("Unable to find configuration file {path}"),
                );
            }
            return Err(Box::new(Loaded {
                config: Config::default(),
                diags,
                files: Vec::new(),
            }));
        }
        p.diags = diags_open;
        Ok(p)
    })
}

/// Parse bytes without touching the file system (no includes, no interface or script
/// checks): the fuzzing entry point.
pub fn load_bytes(name: &str, data: &[u8]) -> Loaded {
    read(&LoadOptions::default(), || {
        let pp = preproc::Preprocessor::new(preproc::Options {
            config_id: Some("fuzz".into()),
            include_check: 0,
            random_seed: Some(1),
            no_includes: true,
        });
        let mut p = Parser::new(pp);
        p.pp.open_memory(name, data.to_vec());
        Ok(p)
    })
}

/// `finish` could not decide: read the configuration again with `dynamic_interfaces` in
/// effect from the start.
struct ReadAgain;

/// Read the configuration `open` opens (or the result when it cannot be opened): once, or a
/// second time when `dynamic_interfaces` came after an interface that does not exist
/// (keepalived knows the global settings before it reads the VRRP sections).
fn read(opts: &LoadOptions, open: impl Fn() -> Result<Parser, Box<Loaded>>) -> Loaded {
    let mut dynamic = false;
    loop {
        let mut p = match open() {
            Ok(p) => p,
            Err(l) => return *l,
        };
        p.ifs.dynamic = dynamic;
        match finish(p, opts) {
            Ok(l) => return l,
            // Only a reading without `dynamic_interfaces` from the start asks for another.
            Err(ReadAgain) => dynamic = true,
        }
    }
}

fn finish(mut p: Parser, opts: &LoadOptions) -> Result<Loaded, ReadAgain> {
    p.ifs.check = opts.check_interfaces;
    p.ifs.names = opts.interface_names.clone();
    let mut b = Build {
        cfg: Config::default(),
        next_rule_pref: 16384,
        instance_raw: Vec::new(),
    };
    p.top(&mut |p, w| top_keyword(p, &mut b, w));
    // `missing` is only set while `dynamic_interfaces` is not in effect.
    if p.ifs.missing && b.cfg.global.dynamic_interfaces.is_some() {
        return Err(ReadAgain);
    }
    if p.pp.block_depth > 0 {
        let n = p.pp.block_depth;
        p.report_global(
            Category::MissingEob,
            format!("There are {n} missing '}}'s or extra '{{'s"),
        );
        for open in p.pp.open_braces.clone() {
            p.diags
                .push(Category::Info, Some(open), "note: this '{' is never closed");
        }
    }
    p.loc = None;
    validate::complete(&mut p, &mut b, opts);
    p.diags.file_error = p.pp.file_error;
    let files = p.pp.files.iter().map(|f| f.to_string()).collect();
    Ok(Loaded {
        config: b.cfg,
        diags: p.diags,
        files,
    })
}

/// Parse a configuration held in memory (tests, fuzzing): `name` is used in messages.
pub fn load_str(name: &str, text: &str, opts: &LoadOptions) -> Loaded {
    let dir = std::env::temp_dir().join(format!("kconf-{}-{}", std::process::id(), unique()));
    let _ = std::fs::create_dir_all(&dir);
    let file = dir.join(name);
    let _ = std::fs::write(&file, text);
    let out = load(&file.to_string_lossy(), opts);
    let _ = std::fs::remove_dir_all(&dir);
    out
}

fn unique() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    N.fetch_add(1, Ordering::Relaxed)
}

fn top_keyword(p: &mut Parser, b: &mut Build, w: &Words) -> bool {
    match w.kw() {
        "global_defs" => kw_global::global_defs(p, b),
        "net_namespace" => b.cfg.net_namespace = p.arg(w, 1).map(str::to_string),
        "net_namespace_ipvs" => b.cfg.net_namespace_ipvs = Some(w.get(1).unwrap_or("").to_string()),
        "namespace_with_ipsets" => b.cfg.namespace_with_ipsets = true,
        "use_pid_dir" => b.cfg.use_pid_dir = true,
        "instance" => b.cfg.instance = p.arg(w, 1).map(str::to_string),
        "child_wait_time" => {
            b.cfg.child_wait_time = p.unsigned_arg(w, 1, 1, 1000).map(|x| x as u32)
        }
        "linkbeat_use_polling" => b.cfg.linkbeat_use_polling = true,
        "linkbeat_interfaces" => {
            for e in p.value_block(w) {
                p.loc = Some(e.line.loc());
                b.cfg
                    .linkbeat_interfaces
                    .push((e.kw().to_string(), e.get(1).map(str::to_string)));
            }
        }
        "interface_up_down_delays" => {
            for e in p.value_block(w) {
                p.loc = Some(e.line.loc());
                let name = e.kw().to_string();
                let down = match e.get(1) {
                    Some(s) => {
                        let s = s.to_string();
                        p.decimal(&s, 0, 255_000_000, 6).unwrap_or(0)
                    }
                    None => 0,
                };
                let up = e
                    .get(2)
                    .map(str::to_string)
                    .and_then(|s| p.decimal(&s, 0, 255_000_000, 6));
                b.cfg.interface_up_down_delays.push((name, down, up));
            }
        }
        "track_group" => {
            let name = p.arg(w, 1).unwrap_or_default().to_string();
            let mut g = model::TrackGroup {
                name,
                group: Vec::new(),
            };
            p.block(&mut |p, w| {
                if w.kw() != "group" {
                    return false;
                }
                for e in p.value_block(w) {
                    p.loc = Some(e.line.loc());
                    g.group.extend(e.rest(0));
                }
                true
            });
            b.cfg.track_groups.push(g);
        }
        "garp_group" => {
            let mut g = model::GarpGroup::default();
            p.block(&mut |p, w| {
                match w.kw() {
                    "garp_interval" => {
                        g.garp_interval = p.timer(w, 1, 0, 1000 * model::USEC_PER_SEC)
                    }
                    "gna_interval" => g.gna_interval = p.timer(w, 1, 0, 1000 * model::USEC_PER_SEC),
                    "interface" => {
                        if let Some(name) = p.arg(w, 1) {
                            garp_group_interface(p, &mut g, name);
                        }
                    }
                    "interfaces" => {
                        // keepalived reads the whole block first: its messages point at the `}`.
                        for e in p.value_block(w) {
                            for name in e.iter_from(0) {
                                garp_group_interface(p, &mut g, name);
                            }
                        }
                    }
                    _ => return false,
                }
                true
            });
            b.cfg.garp_groups.push(g);
        }
        "static_ipaddress" | "static_routes" | "static_rules" => kw_vrrp::static_block(p, b, w),
        "track_file" | "vrrp_track_file" => kw_vrrp::track_file(p, b, w),
        "vrrp_track_process" => kw_vrrp::track_process(p, b, w),
        "bfd_instance" => kw_vrrp::bfd_instance(p, b, w),
        "vrrp_script" => kw_vrrp::vrrp_script(p, b, w),
        "vrrp_sync_group" => kw_vrrp::sync_group(p, b, w),
        "vrrp_instance" => kw_vrrp::instance(p, b, w),
        "SSL" => kw_check::ssl(p, b),
        "virtual_server_group" => kw_check::vs_group(p, b, w),
        "virtual_server" => kw_check::virtual_server(p, b, w),
        _ => return false,
    }
    true
}

/// One interface of a `garp_group`: it must exist (or `dynamic_interfaces` be set).
fn garp_group_interface(p: &mut Parser, g: &mut model::GarpGroup, name: &str) {
    if p.interface_usable(name) {
        g.interfaces.push(name.to_string());
    } else {
        p.report(
            Category::GeneralError,
            format!("WARNING - interface {name} specified for garp_group doesn't exist"),
        );
    }
}
