//! SSL_GET's TLS, with rustls (sans-IO) over the probe's non-blocking stream. As keepalived,
//! the server's certificate is not verified (keepalived never sets SSL_VERIFY_PEER): the
//! check is about the service answering, not about trust. SNI only with `enable_sni`.

use crate::probe::HttpReply;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, ClientConnection, DigitallySignedStruct, SignatureScheme};
use std::io::{ErrorKind, Read, Write};
use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};

#[derive(Debug)]
struct AnyCert(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for AnyCert {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

fn config(sni: bool) -> Result<Arc<ClientConfig>, String> {
    static WITH: OnceLock<Result<Arc<ClientConfig>, String>> = OnceLock::new();
    static WITHOUT: OnceLock<Result<Arc<ClientConfig>, String>> = OnceLock::new();
    let cell = if sni { &WITH } else { &WITHOUT };
    cell.get_or_init(|| {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut c = ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| e.to_string())?
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AnyCert(provider)))
            .with_no_client_auth();
        c.enable_sni = sni;
        Ok(Arc::new(c))
    })
    .clone()
}

/// A client connection with the request queued (sent once the handshake is done).
pub fn client(
    sni: Option<&str>,
    peer: Option<SocketAddr>,
    request: &[u8],
) -> Result<ClientConnection, String> {
    let name: ServerName<'static> = match sni {
        Some(n) => ServerName::try_from(n.to_string()).map_err(|e| format!("SNI {n}: {e}"))?,
        None => ServerName::IpAddress(
            peer.map(|p| p.ip())
                .unwrap_or(std::net::IpAddr::from([0, 0, 0, 0]))
                .into(),
        ),
    };
    let mut conn =
        ClientConnection::new(config(sni.is_some())?, name).map_err(|e| format!("SSL: {e}"))?;
    conn.writer()
        .write_all(request)
        .map_err(|e| format!("SSL: {e}"))?;
    Ok(conn)
}

/// Move bytes both ways until blocked. `Ok(true)` once the reply is complete (by length,
/// or the server closed).
pub fn drive(
    conn: &mut ClientConnection,
    stream: &mut mio::net::TcpStream,
    reply: &mut HttpReply,
) -> Result<bool, String> {
    loop {
        let mut progressed = false;
        while conn.wants_write() {
            match conn.write_tls(stream) {
                Ok(_) => progressed = true,
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) => return Err(format!("SSL write: {e}")),
            }
        }
        let mut eof = false;
        if conn.wants_read() {
            match conn.read_tls(stream) {
                Ok(0) => eof = true,
                Ok(_) => {
                    progressed = true;
                    conn.process_new_packets()
                        .map_err(|e| format!("SSL: {e}"))?;
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                Err(e) => return Err(format!("SSL read: {e}")),
            }
        }
        let mut buf = [0u8; 16384];
        loop {
            match conn.reader().read(&mut buf) {
                Ok(0) => return Ok(true),
                Ok(n) => {
                    progressed = true;
                    if reply.feed(&buf[..n]) {
                        return Ok(true);
                    }
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                // Closed without close_notify: what arrived is the reply, as keepalived reads it.
                Err(e) if e.kind() == ErrorKind::UnexpectedEof => return Ok(true),
                Err(e) => return Err(format!("SSL: {e}")),
            }
        }
        if eof {
            return if reply.status.is_some() {
                Ok(true)
            } else {
                Err("SSL: connection closed".into())
            };
        }
        if !progressed {
            return Ok(false);
        }
    }
}

/// A blocking TLS stream (`genhash -S`): the same client settings as SSL_GET's.
pub struct BlockingTls(rustls::StreamOwned<ClientConnection, std::net::TcpStream>);

impl BlockingTls {
    pub fn new(
        sni: Option<&str>,
        peer: SocketAddr,
        stream: std::net::TcpStream,
    ) -> Result<Self, String> {
        let conn = client(sni, Some(peer), &[])?;
        Ok(BlockingTls(rustls::StreamOwned::new(conn, stream)))
    }
}

impl Read for BlockingTls {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self.0.read(buf) {
            // Closed without close_notify: the end of the reply, as keepalived reads it.
            Err(e) if e.kind() == ErrorKind::UnexpectedEof => Ok(0),
            r => r,
        }
    }
}

impl Write for BlockingTls {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.write(buf)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.0.flush()
    }
}
