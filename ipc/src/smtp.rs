//! keepalived's `smtp_alert` mail, sans-IO: the conversation (`core/smtp.c`: 220, HELO,
//! MAIL FROM, RCPT TO for each recipient, DATA, headers and body, QUIT) and the message
//! format, for the children to send over a socket of their own (unprivileged network I/O).

/// One alert to send.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mail {
    pub helo: String,
    pub from: String,
    pub to: Vec<String>,
    pub subject: String,
    pub body: String,
    /// RFC 822 date of the message.
    pub date: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Stage {
    Banner,
    Helo,
    MailFrom,
    Rcpt(usize),
    Data,
    Body,
    Quit,
    Done,
}

/// Where a conversation stands after the server spoke.
#[derive(Debug, PartialEq, Eq)]
pub enum Step {
    /// Send these bytes, then wait for the next reply.
    Send(Vec<u8>),
    /// The reply is not complete yet.
    Wait,
    /// The server took the mail (and said goodbye).
    Done,
}

#[derive(Clone, Debug)]
pub struct Conversation {
    mail: Mail,
    stage: Stage,
    inbuf: Vec<u8>,
}

/// The reply code of a complete SMTP reply in `buf`: its last line `NNN text` (a line
/// `NNN-text` means more lines follow).
pub fn reply_code(buf: &[u8]) -> Option<u16> {
    let text = std::str::from_utf8(buf).ok()?;
    if !text.ends_with('\n') {
        return None;
    }
    let last = text.lines().rfind(|l| !l.is_empty())?;
    if last.len() >= 4 && last.as_bytes()[3] == b'-' {
        return None;
    }
    last.get(..3)?.parse().ok()
}

impl Conversation {
    pub fn new(mail: Mail) -> Self {
        Conversation {
            mail,
            stage: Stage::Banner,
            inbuf: Vec::new(),
        }
    }

    /// What the server sent; `Err` names the command it refused, as keepalived logs it.
    pub fn feed(&mut self, data: &[u8]) -> Result<Step, String> {
        self.inbuf.extend_from_slice(data);
        if self.inbuf.len() > 8192 {
            return Err("reply too long".into());
        }
        let Some(code) = reply_code(&self.inbuf) else {
            return Ok(Step::Wait);
        };
        self.inbuf.clear();
        let (want, name) = match self.stage {
            Stage::Banner => (220, "connect"),
            Stage::Helo => (250, "HELO"),
            Stage::MailFrom => (250, "MAIL"),
            Stage::Rcpt(_) => (250, "RCPT"),
            Stage::Data => (354, "DATA"),
            Stage::Body => (250, "DATA"),
            Stage::Quit => (221, "QUIT"),
            Stage::Done => return Ok(Step::Done),
        };
        if code != want {
            // keepalived treats a refused recipient as a refused mail too.
            return Err(format!(
                "Error processing {name} cmd. SMTP status code = {code}"
            ));
        }
        let m = &self.mail;
        let (next, bytes) = match self.stage {
            Stage::Banner => (Stage::Helo, format!("HELO {}\r\n", m.helo)),
            Stage::Helo => (Stage::MailFrom, format!("MAIL FROM:<{}>\r\n", m.from)),
            Stage::MailFrom | Stage::Rcpt(_) => {
                let i = match self.stage {
                    Stage::Rcpt(i) => i + 1,
                    _ => 0,
                };
                match m.to.get(i) {
                    Some(to) => (Stage::Rcpt(i), format!("RCPT TO:<{to}>\r\n")),
                    None => (Stage::Data, "DATA\r\n".to_string()),
                }
            }
            Stage::Data => (Stage::Body, self.message()),
            Stage::Body => (Stage::Quit, "QUIT\r\n".to_string()),
            Stage::Quit | Stage::Done => {
                self.stage = Stage::Done;
                return Ok(Step::Done);
            }
        };
        self.stage = next;
        Ok(Step::Send(bytes.into_bytes()))
    }

    /// keepalived's headers and body, ending with the lone dot.
    fn message(&self) -> String {
        let m = &self.mail;
        format!(
            "Date: {}\r\nFrom: {}\r\nSubject: {}\r\nX-Mailer: Keepalived\r\nTo: {}\r\n\r\n{}\r\n\r\n.\r\n",
            m.date,
            m.from,
            m.subject,
            m.to.join(", "),
            m.body
        )
    }

    /// The mail was taken (the 250 after the body came), whatever QUIT got.
    pub fn sent(&self) -> bool {
        matches!(self.stage, Stage::Quit | Stage::Done)
    }
}

/// RFC 822 date in UTC for `secs` since the epoch (children read no time zone files).
pub fn rfc822(secs: u64) -> String {
    use crate::clock::{civil, DAYS, MONTHS};
    let c = civil(secs as i64);
    format!(
        "{}, {:02} {} {} {:02}:{:02}:{:02} +0000",
        DAYS[c.weekday], c.day, MONTHS[c.month], c.year, c.hour, c.min, c.sec
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_whole_conversation_as_keepalived_s() {
        let mut c = Conversation::new(Mail {
            helo: "lb1".into(),
            from: "ka@lab".into(),
            to: vec!["a@lab".into(), "b@lab".into()],
            subject:
                "[lb1] Realserver [10.99.1.2]:tcp:80 of virtual server [10.99.0.10]:tcp:80 - DOWN"
                    .into(),
            body: "=> TCP CHECK failed on service <=".into(),
            date: rfc822(0),
        });
        let send = |s: Result<Step, String>| match s {
            Ok(Step::Send(b)) => String::from_utf8(b).unwrap(),
            other => panic!("{other:?}"),
        };
        assert_eq!(
            c.feed(b"220 mail").unwrap(),
            Step::Wait,
            "an incomplete line waits"
        );
        assert_eq!(send(c.feed(b" ESMTP\r\n")), "HELO lb1\r\n");
        assert_eq!(
            send(c.feed(b"250-mail\r\n250 OK\r\n")),
            "MAIL FROM:<ka@lab>\r\n"
        );
        assert_eq!(send(c.feed(b"250 OK\r\n")), "RCPT TO:<a@lab>\r\n");
        assert_eq!(send(c.feed(b"250 OK\r\n")), "RCPT TO:<b@lab>\r\n");
        assert_eq!(send(c.feed(b"250 OK\r\n")), "DATA\r\n");
        let body = send(c.feed(b"354 go\r\n"));
        assert!(body.starts_with(
            "Date: Thu, 01 Jan 1970 00:00:00 +0000\r\nFrom: ka@lab\r\nSubject: [lb1] Realserver"
        ));
        assert!(body.contains("\r\nX-Mailer: Keepalived\r\nTo: a@lab, b@lab\r\n\r\n=> TCP CHECK failed on service <=\r\n"));
        assert!(body.ends_with("\r\n.\r\n"));
        assert!(!c.sent());
        assert_eq!(send(c.feed(b"250 queued\r\n")), "QUIT\r\n");
        assert!(c.sent());
        assert_eq!(c.feed(b"221 bye\r\n").unwrap(), Step::Done);
    }

    #[test]
    fn a_refusal_names_the_command() {
        let mut c = Conversation::new(Mail {
            helo: "h".into(),
            from: "f".into(),
            to: vec!["t".into()],
            subject: "s".into(),
            body: "b".into(),
            date: rfc822(0),
        });
        c.feed(b"220 hi\r\n").unwrap();
        assert!(c
            .feed(b"550 no\r\n")
            .unwrap_err()
            .contains("HELO cmd. SMTP status code = 550"));
    }

    #[test]
    fn dates() {
        assert_eq!(rfc822(951_782_400), "Tue, 29 Feb 2000 00:00:00 +0000");
        assert_eq!(
            rfc822(1_796_083_200 + 3661),
            "Tue, 01 Dec 2026 01:01:01 +0000"
        );
    }
}
