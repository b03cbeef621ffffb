//! A TCP proxy between a server under test and its PostgreSQL, which the test can
//! switch between passing traffic, refusing (an outage: connections closed and new ones
//! refused) and a black hole (a partition: sockets stay open and nothing passes, in
//! either direction, until it heals).

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Pass,
    Refuse,
    BlackHole,
}

pub struct Proxy {
    pub port: u16,
    mode: watch::Sender<Mode>,
    /// Local ports of the proxy's connections to the target: how PostgreSQL's
    /// `pg_stat_activity.client_port` tells proxied sessions from others.
    outbound_ports: Arc<Mutex<HashSet<u16>>>,
}

impl Proxy {
    pub async fn start(target: String) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let port = listener.local_addr().expect("proxy addr").port();
        let (mode, rx) = watch::channel(Mode::Pass);
        let outbound_ports: Arc<Mutex<HashSet<u16>>> = Default::default();
        let ports = outbound_ports.clone();
        tokio::spawn(async move {
            loop {
                let Ok((inbound, _)) = listener.accept().await else {
                    return;
                };
                let rx = rx.clone();
                if *rx.borrow() == Mode::Refuse {
                    drop(inbound);
                    continue;
                }
                let target = target.clone();
                let ports = ports.clone();
                tokio::spawn(async move {
                    let Ok(outbound) = TcpStream::connect(&target).await else {
                        return;
                    };
                    if let Ok(addr) = outbound.local_addr() {
                        ports.lock().expect("ports").insert(addr.port());
                    }
                    let (ir, iw) = inbound.into_split();
                    let (or, ow) = outbound.into_split();
                    let mut cut = rx.clone();
                    tokio::select! {
                        _ = pipe(ir, ow, rx.clone()) => {}
                        _ = pipe(or, iw, rx.clone()) => {}
                        _ = cut.wait_for(|m| *m == Mode::Refuse) => {}
                    }
                });
            }
        });
        Proxy {
            port,
            mode,
            outbound_ports,
        }
    }

    /// A proxy to the PostgreSQL of `url`, and `url` pointed at the proxy.
    pub async fn for_url(url: &str) -> (Proxy, String) {
        let parsed = reqwest::Url::parse(url).expect("database URL");
        let target = format!(
            "{}:{}",
            parsed.host_str().expect("host"),
            parsed.port().unwrap_or(5432)
        );
        let proxy = Proxy::start(target).await;
        let mut proxied = parsed.clone();
        proxied.set_port(Some(proxy.port)).expect("port");
        (proxy, proxied.to_string())
    }

    pub fn set(&self, mode: Mode) {
        let _ = self.mode.send(mode);
    }

    pub fn outbound_ports(&self) -> HashSet<u16> {
        self.outbound_ports.lock().expect("ports").clone()
    }
}

/// Copies one direction; in a black hole it stops reading (so the sender's buffers
/// fill, as across a partition) and resumes where it stopped when the hole heals.
async fn pipe(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    mut mode: watch::Receiver<Mode>,
) {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        if mode.wait_for(|m| *m == Mode::Pass).await.is_err() {
            return;
        }
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        if mode.wait_for(|m| *m == Mode::Pass).await.is_err() {
            return;
        }
        if to.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}
