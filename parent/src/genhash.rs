//! `genhash` (also `keepalived -T` / `--genhash`): fetch one URL from a web server and print the
//! MD5 digest of the body, the value an `HTTP_GET` checker's `digest` keyword expects.
//!
//! Options, request and output follow keepalived 2.2.7's built-in genhash
//! (`keepalived/check/check_genhash.c`, the request template in `check_http.c`) plus `-r` and
//! `-H` of the older stand-alone genhash. One blocking connection with a timeout: this is a
//! one-shot command-line tool, not part of the daemon. With `-S` it speaks TLS with SSL_GET's settings (certificates not verified, as keepalived's).

use std::ffi::OsString;
use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use md5::{Digest, Md5};

/// `-P`: the HTTP version, and whether `Connection: close` is sent (keepalived sends it with
/// `1.0C` and `1.1`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Protocol {
    Http10,
    Http10Close,
    Http11,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Options {
    pub server: Option<IpAddr>,
    pub port: Option<u16>,
    pub url: Option<String>,
    pub virtualhost: Option<String>,
    pub protocol: Protocol,
    pub timeout: Duration,
    pub fwmark: Option<u32>,
    pub ssl: bool,
    pub sni: bool,
    pub verbose: bool,
    pub help: bool,
    pub release: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            server: None,
            port: None,
            url: None,
            virtualhost: None,
            protocol: Protocol::Http10,
            // keepalived 2.2.7 waits for ever by default; the stand-alone genhash used 5 s.
            timeout: Duration::from_secs(5),
            fwmark: None,
            ssl: false,
            sni: false,
            verbose: false,
            help: false,
            release: false,
        }
    }
}

const LONGS: &[(&str, char)] = &[
    ("help", 'h'),
    ("release", 'r'),
    ("verbose", 'v'),
    ("use-ssl", 'S'),
    ("use-sni", 'I'),
    ("sni", 'I'),
    ("server", 's'),
    ("port", 'p'),
    ("url", 'u'),
    ("use-virtualhost", 'V'),
    ("hash", 'H'),
    ("protocol", 'P'),
    ("timeout", 't'),
    ("fwmark", 'm'),
];

/// A decimal number as keepalived's genhash reads one (`strtoul` after leading blanks, no
/// sign, nothing after it).
fn unsigned(v: &str) -> Option<u32> {
    let t = v.trim_start_matches([' ', '\t']);
    (!t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()))
        .then(|| t.parse().ok())
        .flatten()
}

/// Parse genhash's options (everything after the program name, or after `-T`).
pub fn parse(args: Vec<OsString>) -> Result<Options, String> {
    use lexopt::Arg;
    let mut o = Options::default();
    let mut p = lexopt::Parser::from_args(args);
    while let Some(arg) = p.next().map_err(|e| e.to_string())? {
        let (opt, shown) = match arg {
            Arg::Short(c) => (c, format!("-{c}")),
            Arg::Long(name) => match crate::cli::long_to_short(LONGS, name) {
                Some(c) => (c, format!("--{name}")),
                None => return Err(format!("Unknown option --{name}")),
            },
            Arg::Value(v) => {
                let mut rest = vec![v.to_string_lossy().into_owned()];
                rest.extend(
                    p.raw_args()
                        .map_err(|e| e.to_string())?
                        .map(|a| a.to_string_lossy().into_owned()),
                );
                return Err(format!("Unexpected argument(s): {}", rest.join(" ")));
            }
        };
        let mut value = || -> Result<String, String> {
            p.value()
                .map(|v| v.to_string_lossy().into_owned())
                .map_err(|_| format!("Missing parameter for option {shown}"))
        };
        match opt {
            'h' => o.help = true,
            'r' => o.release = true,
            'v' => o.verbose = true,
            'S' => o.ssl = true,
            'I' => o.sni = true,
            's' => {
                let v = value()?;
                o.server = Some(
                    v.parse()
                        .map_err(|_| format!("server should be an IP, not {v}"))?,
                );
            }
            'p' => {
                let v = value()?;
                o.port = Some(
                    v.parse::<u16>()
                        .ok()
                        .filter(|p| *p > 0)
                        .ok_or_else(|| format!("invalid port number '{v}'"))?,
                );
            }
            'u' => o.url = Some(value()?),
            'V' => o.virtualhost = Some(value()?),
            'H' => {
                let v = value()?;
                if !v.eq_ignore_ascii_case("md5") {
                    return Err(format!("unknown hash algorithm: {v}"));
                }
            }
            'P' => {
                let v = value()?;
                o.protocol = match v.as_str() {
                    "1.0" => Protocol::Http10,
                    "1.0c" | "1.0C" => Protocol::Http10Close,
                    "1.1" => Protocol::Http11,
                    _ => return Err(format!("invalid HTTP protocol version '{v}'")),
                };
            }
            't' => {
                let v = value()?;
                o.timeout = Duration::from_secs(
                    unsigned(&v)
                        .ok_or_else(|| format!("invalid timeout '{v}'"))?
                        .into(),
                );
            }
            'm' => {
                let v = value()?;
                o.fwmark = Some(unsigned(&v).ok_or_else(|| format!("invalid fwmark '{v}'"))?);
            }
            _ => return Err(format!("Unknown option {shown}")),
        }
    }
    Ok(o)
}

pub fn usage(prog: &str, am_genhash: bool) -> String {
    format!(
        "Usage: {prog}{} COMMAND [OPTIONS]
Commands:
   -s server-address -p port -u url
   -S -s server-address -p port -u url
   -h
   -r

Options:
Either long or short options are allowed.
   --use-ssl         -S       Use SSL connection to remote server.
   --use-sni         -I       Use SNI during SSL handshake (uses virtualhost setting; see -V).
   --server          -s       Use the specified remote server address.
   --port            -p       Use the specified remote server port.
   --url             -u       Use the specified remote server url.
   --use-virtualhost -V       Use the specified virtualhost in GET query.
   --hash            -H       Use the specified hash algorithm (md5, the only one).
   --verbose         -v       Use verbose mode output.
   --help            -h       Display this short inlined help screen.
   --release         -r       Display the release number.
   --fwmark          -m       Use the specified FW mark.
   --protocol        -P       Use the specified HTTP protocol - '1.0', 1.0c', '1.1'.
                                1.0c means 1.0 with 'Connection: close'
   --timeout         -t       Timeout in seconds (default 5)
",
        if am_genhash { "" } else { " --genhash" }
    )
}

/// The GET request keepalived's HTTP checker sends: the virtual host, else the address (in
/// brackets for IPv6, RFC 2732) with the port.
pub fn request(path: &str, addr: SocketAddr, vhost: Option<&str>, protocol: Protocol) -> String {
    let minor = if protocol == Protocol::Http11 { 1 } else { 0 };
    let close = if protocol == Protocol::Http10 {
        ""
    } else {
        "Connection: close\r\n"
    };
    let host = match (vhost, addr) {
        (Some(v), _) => v.to_string(),
        (None, SocketAddr::V6(a)) => format!("[{}]:{}", a.ip(), a.port()),
        (None, SocketAddr::V4(a)) => format!("{}:{}", a.ip(), a.port()),
    };
    format!(
        "GET {path} HTTP/1.{minor}\r\nUser-Agent: KeepAliveClient\r\n{close}Host: {host}\r\n\r\n"
    )
}

/// A response split at the header terminator; the body stops at `Content-Length` when the
/// server sent one (as keepalived counts it). None when no complete header arrived.
pub fn split_response(resp: &[u8]) -> Option<(&[u8], &[u8])> {
    let end = resp.windows(4).position(|w| w == b"\r\n\r\n")? + 4;
    let (head, mut body) = resp.split_at(end);
    if let Some(n) = content_length(head) {
        body = &body[..n.min(body.len())];
    }
    Some((head, body))
}

fn content_length(head: &[u8]) -> Option<usize> {
    String::from_utf8_lossy(head).lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.trim()
            .eq_ignore_ascii_case("content-length")
            .then(|| v.trim().parse::<usize>().ok())
            .flatten()
    })
}

pub fn hex(digest: &[u8]) -> String {
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// keepalived's `dump_buffer` layout: offset, 16 bytes in hex (a `-` after 8), the printable
/// ones as text, a short last row padded.
fn dump(buf: &[u8]) -> String {
    let mut out = String::new();
    for (i, row) in buf.chunks(16).enumerate() {
        out.push_str(&format!("{:04} ", (i * 16) & 0xffff));
        for j in 0..16 {
            match row.get(j) {
                Some(b) => out.push_str(&format!(" {b:02x}")),
                None => out.push_str("   "),
            }
            if j == 7 {
                out.push_str(" -");
            }
        }
        out.push_str("   ");
        out.extend((0..16).map(|j| match row.get(j) {
            Some(&b) if (0x20..=0x7e).contains(&b) => b as char,
            Some(_) => '.',
            None => ' ',
        }));
        out.push('\n');
    }
    out
}

trait ReadWrite: Read + Write {}
impl<T: Read + Write> ReadWrite for T {}

/// Connect (with the fwmark, if any), send the request (through TLS with `-S`), read to EOF
/// or to the end of a `Content-Length` body.
pub fn fetch(o: &Options, addr: SocketAddr, req: &str) -> Result<Vec<u8>, String> {
    use socket2::{Domain, Socket, Type};
    let fail =
        |what: &str, e: std::io::Error| format!("{what} [{}]:{}: {e}", addr.ip(), addr.port());
    let sock = Socket::new(Domain::for_address(addr), Type::STREAM, None)
        .map_err(|e| fail("Cannot create a socket for", e))?;
    if let Some(m) = o.fwmark {
        sock.set_mark(m)
            .map_err(|e| fail("Cannot set the fwmark for", e))?;
    }
    let timeout = (!o.timeout.is_zero()).then_some(o.timeout);
    match timeout {
        Some(t) => sock.connect_timeout(&addr.into(), t),
        None => sock.connect(&addr.into()),
    }
    .map_err(|e| fail("Connection to", e))?;
    let tcp: TcpStream = sock.into();
    tcp.set_read_timeout(timeout)
        .and_then(|_| tcp.set_write_timeout(timeout))
        .map_err(|e| fail("Cannot set timeouts for", e))?;
    let mut stream: Box<dyn ReadWrite> = if o.ssl {
        // -I sends the virtualhost (or the address) as SNI, as SSL_GET's enable_sni.
        let sni = o.sni.then(|| {
            o.virtualhost
                .clone()
                .unwrap_or_else(|| addr.ip().to_string())
        });
        Box::new(checker_child::tls::BlockingTls::new(
            sni.as_deref(),
            addr,
            tcp,
        )?)
    } else {
        Box::new(tcp)
    };
    stream
        .write_all(req.as_bytes())
        .map_err(|e| fail("Cannot send get request to", e))?;
    let mut resp = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        let n = stream
            .read(&mut buf)
            .map_err(|e| fail("Read error with", e))?;
        if n == 0 {
            break;
        }
        resp.extend_from_slice(&buf[..n]);
        if let Some((head, body)) = split_response(&resp) {
            if content_length(head).is_some_and(|n| body.len() >= n) {
                break;
            }
        }
    }
    Ok(resp)
}

/// The whole tool: `args` are the options (after the program name or `-T`).
pub fn main(prog: &str, args: Vec<OsString>, am_genhash: bool) -> ExitCode {
    let no_options = args.is_empty();
    let o = match parse(args) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("{e}");
            eprint!("{}", usage(prog, am_genhash));
            return ExitCode::from(1);
        }
    };
    if o.help {
        print!("{}", usage(prog, am_genhash));
        return ExitCode::SUCCESS;
    }
    if o.release {
        println!(
            "Keepalived-rs v{} (keepalived 2.2.7 compatible)",
            crate::VERSION
        );
        if o.server.is_none() && o.port.is_none() && o.url.is_none() {
            return ExitCode::SUCCESS;
        }
    }
    let (Some(ip), Some(port), Some(path)) = (o.server, o.port, o.url.as_deref()) else {
        if !no_options {
            eprintln!("genhash needs a server (-s), a port (-p) and a url (-u)");
        }
        eprint!("{}", usage(prog, am_genhash));
        return ExitCode::from(1);
    };
    let addr = SocketAddr::new(ip, port);
    let start = Instant::now();
    let req = request(path, addr, o.virtualhost.as_deref(), o.protocol);
    let resp = match fetch(&o, addr, &req) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(1);
        }
    };
    let Some((head, body)) = split_response(&resp) else {
        eprintln!("no data received from remote webserver");
        return ExitCode::from(1);
    };
    let digest = Md5::digest(body);
    if o.verbose {
        // keepalived's verbose layout (check_http.c): titled hex dumps of header, body, digest.
        let title = |t: &str| format!("-----------------------[{t}]-----------------------\n");
        print!("{}{}", title("    HTTP Header Buffer    "), dump(head));
        println!(
            "{}{}",
            title(" HTTP Header Ascii Buffer "),
            String::from_utf8_lossy(head)
        );
        print!("{}{}", title("        HTML Buffer        "), dump(body));
        print!(
            "\n{}{}",
            title("    HTML hash resulting    "),
            dump(&digest)
        );
        print!("{}", title(" HTML hash final resulting "));
    }
    println!("{}", hex(&digest));
    if o.verbose {
        println!(
            "\nGlobal response time for [{path}] = {} usecs",
            start.elapsed().as_micros()
        );
    }
    ExitCode::SUCCESS
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    fn opts(args: &[&str]) -> Result<Options, String> {
        parse(args.iter().map(OsString::from).collect())
    }

    #[test]
    fn request_is_keepalived_s() {
        let v4: SocketAddr = "192.0.2.1:8080".parse().unwrap();
        assert_eq!(
            request("/index.html", v4, None, Protocol::Http10),
            "GET /index.html HTTP/1.0\r\nUser-Agent: KeepAliveClient\r\nHost: 192.0.2.1:8080\r\n\r\n"
        );
        let v6: SocketAddr = "[2001:db8::1]:80".parse().unwrap();
        assert_eq!(
            request("/", v6, None, Protocol::Http11),
            "GET / HTTP/1.1\r\nUser-Agent: KeepAliveClient\r\nConnection: close\r\nHost: [2001:db8::1]:80\r\n\r\n"
        );
        assert_eq!(
            request("/x", v6, Some("www.example.com"), Protocol::Http10Close),
            "GET /x HTTP/1.0\r\nUser-Agent: KeepAliveClient\r\nConnection: close\r\nHost: www.example.com\r\n\r\n"
        );
    }

    #[test]
    fn body_is_after_the_header_and_stops_at_content_length() {
        let r = b"HTTP/1.0 200 OK\r\nContent-length: 5\r\n\r\nHelloTRAILING";
        let (head, body) = split_response(r).unwrap();
        assert!(head.ends_with(b"\r\n\r\n"));
        assert_eq!(body, b"Hello");
        assert_eq!(hex(&Md5::digest(body)), "8b1a9953c4611296a827abf8c47804d7");
        let (_, body) = split_response(b"HTTP/1.0 200 OK\r\n\r\n").unwrap();
        assert!(body.is_empty());
        assert!(split_response(b"HTTP/1.0 200 OK\r\n").is_none());
    }

    #[test]
    fn options_as_keepalived_reads_them() {
        let o = opts(&[
            "-s",
            "::1",
            "--port=80",
            "-u/a",
            "-V",
            "h",
            "-P1.1",
            "-t",
            " 3",
            "-m7",
            "-Hmd5",
            "-v",
        ])
        .unwrap();
        assert_eq!(o.server, Some("::1".parse().unwrap()));
        assert_eq!(o.port, Some(80));
        assert_eq!(o.url.as_deref(), Some("/a"));
        assert_eq!(o.virtualhost.as_deref(), Some("h"));
        assert_eq!(o.protocol, Protocol::Http11);
        assert_eq!(o.timeout, Duration::from_secs(3));
        assert_eq!(o.fwmark, Some(7));
        assert!(o.verbose);
        assert_eq!(
            opts(&["--prot", "1.0C"]).unwrap().protocol,
            Protocol::Http10Close
        );
        assert_eq!(
            opts(&["-s", "localhost"]).unwrap_err(),
            "server should be an IP, not localhost"
        );
        assert_eq!(opts(&["-p", "0"]).unwrap_err(), "invalid port number '0'");
        assert_eq!(
            opts(&["-p", "65536"]).unwrap_err(),
            "invalid port number '65536'"
        );
        assert_eq!(
            opts(&["-H", "sha1"]).unwrap_err(),
            "unknown hash algorithm: sha1"
        );
        assert_eq!(
            opts(&["-P", "2"]).unwrap_err(),
            "invalid HTTP protocol version '2'"
        );
        assert_eq!(opts(&["-t", "-1"]).unwrap_err(), "invalid timeout '-1'");
        assert_eq!(
            opts(&["-u"]).unwrap_err(),
            "Missing parameter for option -u"
        );
        assert_eq!(opts(&["--bogus"]).unwrap_err(), "Unknown option --bogus");
        assert_eq!(
            opts(&["-s", "::1", "x", "y"]).unwrap_err(),
            "Unexpected argument(s): x y"
        );
    }

    #[test]
    fn dump_layout() {
        assert_eq!(
            dump(b"0123456789abcdefXY"),
            "0000  30 31 32 33 34 35 36 37 - 38 39 61 62 63 64 65 66   0123456789abcdef\n\
             0016  58 59                   -                           XY              \n"
        );
    }

    /// A local server answers one request with a known body; the digest is that body's.
    #[test]
    fn fetches_and_digests_a_real_response() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        let server = std::thread::spawn(move || {
            let (mut s, _) = l.accept().unwrap();
            let mut req = Vec::new();
            let mut b = [0u8; 512];
            while !req.ends_with(b"\r\n\r\n") {
                let n = s.read(&mut b).unwrap();
                assert!(n > 0, "client closed early");
                req.extend_from_slice(&b[..n]);
            }
            s.write_all(b"HTTP/1.0 200 OK\r\nServer: test\r\n\r\nHello, keepalived-rs\n")
                .unwrap();
            String::from_utf8(req).unwrap()
        });
        let o = Options {
            timeout: Duration::from_secs(5),
            ..Options::default()
        };
        let req = request("/check", addr, None, Protocol::Http10);
        let resp = fetch(&o, addr, &req).unwrap();
        let seen = server.join().unwrap();
        assert_eq!(seen, req);
        let (_, body) = split_response(&resp).unwrap();
        assert_eq!(hex(&Md5::digest(body)), "1c693fd50ef4280ac94b7f55f2a94c39");
    }
}
