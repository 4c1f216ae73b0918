//! `smtp_alert` mail sent by the VRRP child itself (keepalived `vrrp_smtp_notifier`,
//! `vrrp_sync_smtp_notifier`, `core/smtp.c`): connecting to the SMTP server is ordinary
//! unprivileged TCP, so no request to the parent. The conversation is `ipc::smtp`'s
//! (sans-IO, shared with the checker); this module only moves its bytes.

use ipc::smtp::{Conversation, Mail, Step};
use mio::net::TcpStream;
use mio::{Interest, Registry, Token};
use std::io::{ErrorKind, Read, Write};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// Where mail goes, from the snapshot's globals.
#[derive(Clone, Debug)]
pub struct MailCfg {
    pub server: SocketAddr,
    pub from: String,
    pub to: Vec<String>,
    pub helo: String,
    pub router_id: String,
    /// `smtp_connect_timeout`: the whole conversation's bound, as keepalived's.
    pub timeout: Duration,
}

/// keepalived's subject and body for an instance (`vrrp_smtp_notifier`) entering `state`
/// (`MASTER`, `BACKUP`, `FAULT`, `STOP`); `None` for a state that sends none.
pub fn instance_text(state: &str) -> Option<(&'static str, &'static str)> {
    Some(match state {
        "MASTER" => (
            "Entering MASTER state",
            "=> VRRP Instance is now owning VRRP VIPs <=",
        ),
        "BACKUP" => (
            "Entering BACKUP state",
            "=> VRRP Instance is no longer owning VRRP VIPs <=",
        ),
        "FAULT" => (
            "Entering FAULT state",
            "=> VRRP Instance is no longer owning VRRP VIPs <=",
        ),
        "STOP" => ("Stopping", "=> VRRP Instance stopping <="),
        _ => return None,
    })
}

/// The same for a sync group (`vrrp_sync_smtp_notifier`).
pub fn group_text(state: &str) -> Option<(&'static str, &'static str)> {
    Some(match state {
        "MASTER" => (
            "Entering MASTER state",
            "=> All VRRP group instances are now in MASTER state <=",
        ),
        "BACKUP" => (
            "Entering BACKUP state",
            "=> All VRRP group instances are now in BACKUP state <=",
        ),
        "FAULT" => (
            "Entering FAULT state",
            "=> All VRRP group instances are now in FAULT state <=",
        ),
        "STOP" => (
            "Stopping",
            "=> All VRRP group instances are now stopping <=",
        ),
        _ => return None,
    })
}

/// What a state change asks to mail: `[router_id] VRRP Instance NAME - SUBJECT` or
/// `[router_id] VRRP Group NAME - SUBJECT`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Alert {
    pub group: bool,
    pub name: String,
    pub state: &'static str,
}

struct Flight {
    token: usize,
    stream: TcpStream,
    conv: Conversation,
    deadline: Instant,
    registered: bool,
    connected: bool,
}

#[derive(Default)]
pub struct Mailer {
    cfg: Option<MailCfg>,
    flights: Vec<Flight>,
    next_token: usize,
}

/// Tokens of mail sockets, above `ipc::child::OWN_TOKEN_BASE`.
const TOKEN_BASE: usize = ipc::child::OWN_TOKEN_BASE;

impl Mailer {
    pub fn configure(&mut self, cfg: Option<MailCfg>) {
        self.cfg = cfg;
    }

    /// Whether mail is configured at all (`smtp_server` and `notification_email`).
    pub fn enabled(&self) -> bool {
        self.cfg.is_some()
    }

    /// Start one mail; failures to start are logged as keepalived logs them.
    pub fn send(&mut self, alert: &Alert, date_secs: u64, now: Instant, log: fn(&str)) {
        let Some(cfg) = &self.cfg else { return };
        let text = if alert.group {
            group_text(alert.state)
        } else {
            instance_text(alert.state)
        };
        let Some((subject, body)) = text else { return };
        let kind = if alert.group { "Group" } else { "Instance" };
        let mail = Mail {
            helo: cfg.helo.clone(),
            from: cfg.from.clone(),
            to: cfg.to.clone(),
            subject: format!("[{}] VRRP {kind} {} - {subject}", cfg.router_id, alert.name),
            body: body.to_string(),
            date: ipc::smtp::rfc822(date_secs),
        };
        match TcpStream::connect(cfg.server) {
            Ok(stream) => {
                self.next_token += 1;
                self.flights.push(Flight {
                    token: self.next_token,
                    stream,
                    conv: Conversation::new(mail),
                    deadline: now + cfg.timeout,
                    registered: false,
                    connected: false,
                });
            }
            Err(e) => log(&format!("SMTP connection ERROR to {}: {e}", cfg.server)),
        }
    }

    pub fn register(&mut self, reg: &Registry, log: fn(&str)) {
        let mut failed = Vec::new();
        for f in self.flights.iter_mut().filter(|f| !f.registered) {
            f.registered = true;
            if let Err(e) = reg.register(
                &mut f.stream,
                Token(TOKEN_BASE + f.token),
                Interest::READABLE | Interest::WRITABLE,
            ) {
                failed.push((f.token, format!("cannot watch the SMTP socket: {e}")));
            }
        }
        for (t, why) in failed {
            self.finish(t, Err(why), log);
        }
    }

    /// Whether `token` is one of ours.
    pub fn owns(&self, token: usize) -> bool {
        token > TOKEN_BASE && self.flights.iter().any(|f| TOKEN_BASE + f.token == token)
    }

    pub fn next_deadline(&self) -> Option<Instant> {
        self.flights.iter().map(|f| f.deadline).min()
    }

    /// Conversations past `smtp_connect_timeout` are abandoned.
    pub fn tick(&mut self, now: Instant, log: fn(&str)) {
        let late: Vec<usize> = self
            .flights
            .iter()
            .filter(|f| f.deadline <= now)
            .map(|f| f.token)
            .collect();
        for t in late {
            let server = self.cfg.as_ref().map(|c| c.server.to_string());
            self.finish(
                t,
                Err(format!(
                    "Timeout connecting SMTP server {}",
                    server.unwrap_or_default()
                )),
                log,
            );
        }
    }

    /// A socket event: finish the connect, read replies, write what the conversation says.
    pub fn event(&mut self, token: usize, ev: &mio::event::Event, log: fn(&str)) {
        let Some(f) = self
            .flights
            .iter_mut()
            .find(|f| TOKEN_BASE + f.token == token)
        else {
            return;
        };
        let t = f.token;
        let r = step(f, ev.is_writable(), ev.is_error());
        if let Some(r) = r {
            self.finish(t, r, log);
        }
    }

    fn finish(&mut self, token: usize, r: Result<(), String>, log: fn(&str)) {
        let Some(i) = self.flights.iter().position(|f| f.token == token) else {
            return;
        };
        let f = self.flights.swap_remove(i);
        match r {
            Ok(()) => log("SMTP alert successfully sent."),
            Err(e) => log(&format!("SMTP alert not sent: {e}")),
        }
        drop(f);
    }
}

/// Drive one conversation: `Some` once it ended.
fn step(f: &mut Flight, writable: bool, errored: bool) -> Option<Result<(), String>> {
    if !f.connected {
        match f.stream.take_error() {
            Ok(Some(e)) => return Some(Err(format!("Error connecting SMTP server: {e}"))),
            Err(e) => return Some(Err(format!("Error connecting SMTP server: {e}"))),
            Ok(None) if writable || errored => f.connected = true,
            Ok(None) => {}
        }
    }
    let mut buf = [0u8; 1024];
    loop {
        match f.stream.read(&mut buf) {
            Ok(0) => {
                return Some(if f.conv.sent() {
                    Ok(())
                } else {
                    Err("the SMTP server closed the connection".into())
                })
            }
            Ok(n) => match f.conv.feed(&buf[..n]) {
                Ok(Step::Wait) => {}
                Ok(Step::Send(b)) => {
                    // Small writes on a fresh connection: the socket buffer takes them.
                    if let Err(e) = f.stream.write_all(&b) {
                        return Some(Err(format!("write: {e}")));
                    }
                }
                Ok(Step::Done) => return Some(Ok(())),
                Err(e) => return Some(Err(e)),
            },
            Err(e) if e.kind() == ErrorKind::WouldBlock => return None,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) if e.kind() == ErrorKind::NotConnected => return None,
            Err(e) => return Some(Err(format!("read: {e}"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keepalived_s_texts() {
        assert_eq!(
            instance_text("MASTER"),
            Some((
                "Entering MASTER state",
                "=> VRRP Instance is now owning VRRP VIPs <="
            ))
        );
        assert_eq!(instance_text("STOP").map(|t| t.0), Some("Stopping"));
        assert_eq!(
            group_text("FAULT").map(|t| t.1),
            Some("=> All VRRP group instances are now in FAULT state <=")
        );
        assert_eq!(instance_text("INIT"), None);
    }

    /// A whole mail through a real socket to a sink on loopback, driven by hand.
    #[test]
    fn a_mail_reaches_a_sink() {
        use std::io::{BufRead, BufReader};
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        let mut m = Mailer::default();
        m.configure(Some(MailCfg {
            server: addr,
            from: "root@lb1".into(),
            to: vec!["ops@lab".into()],
            helo: "lb1".into(),
            router_id: "lb1".into(),
            timeout: Duration::from_secs(5),
        }));
        let now = Instant::now();
        m.send(
            &Alert {
                group: false,
                name: "VI_1".into(),
                state: "MASTER",
            },
            0,
            now,
            |_| {},
        );
        let (s, _) = l.accept().unwrap();
        let mut w = s.try_clone().unwrap();
        let mut r = BufReader::new(s);
        let mut poll = mio::Poll::new().unwrap();
        m.register(poll.registry(), |_| {});
        let mut events = mio::Events::with_capacity(8);
        let mut got = String::new();
        let mut drive = |m: &mut Mailer, poll: &mut mio::Poll| {
            poll.poll(&mut events, Some(Duration::from_millis(200)))
                .unwrap();
            for ev in events.iter() {
                m.event(ev.token().0, ev, |_| {});
            }
        };
        w.write_all(b"220 sink\r\n").unwrap();
        for reply in ["250 hi", "250 ok", "250 ok", "354 go"] {
            drive(&mut m, &mut poll);
            let mut line = String::new();
            r.read_line(&mut line).unwrap();
            got.push_str(&line);
            w.write_all(format!("{reply}\r\n").as_bytes()).unwrap();
        }
        drive(&mut m, &mut poll);
        loop {
            let mut line = String::new();
            r.read_line(&mut line).unwrap();
            got.push_str(&line);
            if line == ".\r\n" {
                break;
            }
        }
        w.write_all(b"250 queued\r\n").unwrap();
        drive(&mut m, &mut poll);
        assert!(
            got.starts_with("HELO lb1\r\nMAIL FROM:<root@lb1>\r\nRCPT TO:<ops@lab>\r\nDATA\r\n")
        );
        assert!(
            got.contains("\r\nSubject: [lb1] VRRP Instance VI_1 - Entering MASTER state\r\n"),
            "{got}"
        );
        assert!(got.contains("\r\n\r\n=> VRRP Instance is now owning VRRP VIPs <=\r\n"));
    }
}
