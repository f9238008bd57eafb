//! Password guessing by counting, per window, what one client's failed or repeated logins leave
//! on the wire of one server, whatever the tool (hydra, medusa, ncrack, a script):
//! - HTTP authentication failures: responses with status 401 or 407 from the server to the client
//!   (Zeek's `ftp/detect-bruteforcing.zeek` counts FTP's 530 replies the same way);
//! - connections to a login service the server accepted (SYN+ACK to a new client port): SSH, FTP,
//!   Telnet, mail, directory, file sharing, remote desktop and database logins, where a guess
//!   costs a connection or a few guesses do, and the payload is encrypted or not parsed.
//!
//! A busy client's logins succeed and then stay (one session, many requests); a guesser's fail
//! and come again. Guessing spread over many clients, each below the thresholds, is not seen.

use std::net::IpAddr;

use rustc_hash::{FxHashMap, FxHashSet};

use super::flag;
use crate::features::split_windows;
use crate::packet::{Packet, Protocol};

/// The alert class this detector raises.
pub const BRUTE_FORCE: &str = "Brute_Force";

/// Entries (accepted connections, failures) tracked per window; beyond it new ones are not counted.
pub const MAX_TRACKED: usize = 2_000_000;

/// Ports of login services: FTP, SSH, Telnet, POP3, IMAP, LDAP, SMB, SMTP submission, IMAPS,
/// POP3S, MS SQL, Oracle, MySQL, RDP, PostgreSQL, VNC. (SMTP's 25 is not: mail relays connect
/// to each other all day.)
pub const LOGIN_PORTS: [u16; 18] =
    [21, 22, 23, 110, 143, 389, 445, 465, 587, 636, 993, 995, 1433, 1521, 3306, 3389, 5432, 5900];

/// HTTP statuses of a failed authentication: 401 Unauthorized, 407 Proxy Authentication Required.
pub const HTTP_AUTH_FAILURES: [u16; 2] = [401, 407];

/// Counts in one window, from one client to one server, that make a brute force (0: off).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Thresholds {
    /// HTTP authentication failures.
    pub http_failures: u32,
    /// Accepted connections to one login service.
    pub login_connections: u32,
}

impl Thresholds {
    pub const DEFAULT: Thresholds = Thresholds { http_failures: 20, login_connections: 30 };

    /// The threshold of what a service counts (0: off).
    fn of(self, service: Service) -> u32 {
        match service {
            Service::Http => self.http_failures,
            Service::Login(_) => self.login_connections,
        }
    }
}

/// What was counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Service {
    /// HTTP authentication failures, on any port.
    Http,
    /// Connections to this login port.
    Login(u16),
}

/// One client guessing at one server in one window.
#[derive(Debug, Clone, PartialEq)]
pub struct Finding {
    pub window_seconds: u32,
    pub start_micros: i64,
    pub attacker: IpAddr,
    pub victim: IpAddr,
    pub service: Service,
    pub count: u32,
    pub threshold: u32,
}

impl Finding {
    /// "10.0.0.66 made 297 failed HTTP authentications (401/407) at 10.0.0.5 in 5 s; rule: at least 20".
    pub fn describe(&self) -> String {
        let what = match self.service {
            Service::Http => "failed HTTP authentications (401/407) at".to_string(),
            Service::Login(port) => format!("connections accepted by the login service on port {port} of"),
        };
        format!(
            "{} made {} {what} {} in {} s; rule: at least {}",
            self.attacker,
            crate::alerts::thousands(f64::from(self.count)),
            self.victim,
            self.window_seconds,
            self.threshold
        )
    }
}

/// The brute forces in `packets` (in capture-time order), window by window of `seconds`.
pub fn brute_force_findings(packets: &[Packet], seconds: u32, thresholds: Thresholds) -> Vec<Finding> {
    let mut out = Vec::new();
    if thresholds.http_failures == 0 && thresholds.login_connections == 0 {
        return out;
    }
    for (start, window) in split_windows(packets, seconds) {
        window_findings(window, (seconds, start), thresholds, &mut out);
    }
    out
}

/// (client, server, service).
type Guessing = (IpAddr, IpAddr, Service);

fn window_findings(window: &[Packet], at: (u32, i64), thresholds: Thresholds, out: &mut Vec<Finding>) {
    let mut counts: FxHashMap<Guessing, u32> = FxHashMap::default();
    // Accepted connections by client port: a SYN+ACK sent again is the same connection.
    let mut accepted: FxHashSet<(Guessing, u16)> = FxHashSet::default();
    for p in window {
        let (Some(server), Some(client)) = (p.src_ip, p.dst_ip) else { continue };
        let service = match p.transport() {
            Some(Protocol::Tcp) if flag(p.tcp_syn) && flag(p.tcp_ack) => {
                let (Some(port), Some(client_port)) = (p.src_port, p.dst_port) else { continue };
                let service = Service::Login(port);
                if !LOGIN_PORTS.contains(&port) || thresholds.of(service) == 0 {
                    continue;
                }
                if accepted.len() >= MAX_TRACKED || !accepted.insert(((client, server, service), client_port)) {
                    continue;
                }
                service
            }
            _ if p.http_status.is_some_and(|s| HTTP_AUTH_FAILURES.contains(&s)) => Service::Http,
            _ => continue,
        };
        if thresholds.of(service) == 0 {
            continue;
        }
        let tracked = counts.len() < MAX_TRACKED;
        if let Some(n) = counts.get_mut(&(client, server, service)) {
            *n = n.saturating_add(1);
        } else if tracked {
            counts.insert((client, server, service), 1);
        }
    }
    let mut found: Vec<Finding> = counts
        .into_iter()
        .filter_map(|((attacker, victim, service), count)| {
            let threshold = thresholds.of(service);
            (count >= threshold).then_some(Finding {
                window_seconds: at.0,
                start_micros: at.1,
                attacker,
                victim,
                service,
                count,
                threshold,
            })
        })
        .collect();
    found.sort_by_key(|f| (f.attacker, f.victim, f.service));
    out.extend(found);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detectors::testing::tcp;

    const GUESSER: &str = "10.0.0.66";
    const SERVER: &str = "10.0.0.5";

    /// `n` connections from the guesser to `port`, each accepted, one guess sent, closed.
    fn connections(n: u16, port: u16) -> Vec<Packet> {
        (0..n)
            .flat_map(|i| {
                let t = 1e9 + f64::from(i) * 0.01;
                let client_port = 40_000 + i;
                vec![
                    tcp(t, GUESSER, client_port, SERVER, port, "S"),
                    tcp(t + 0.001, SERVER, port, GUESSER, client_port, "SA"),
                    tcp(t + 0.002, GUESSER, client_port, SERVER, port, "A"),
                    tcp(t + 0.003, GUESSER, client_port, SERVER, port, "PA"),
                    tcp(t + 0.004, SERVER, port, GUESSER, client_port, "FA"),
                ]
            })
            .collect()
    }

    fn http_response(t: f64, status: u16) -> Packet {
        let mut p = tcp(t, SERVER, 80, GUESSER, 40_000, "PA");
        p.http_status = Some(status);
        p
    }

    #[test]
    fn many_accepted_connections_to_a_login_service_are_guessing() {
        let found = brute_force_findings(&connections(30, 22), 5, Thresholds::DEFAULT);
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!((found[0].service, found[0].count), (Service::Login(22), 30));
        assert_eq!(
            found[0].describe(),
            "10.0.0.66 made 30 connections accepted by the login service on port 22 of 10.0.0.5 in 5 s; rule: at least 30"
        );
        assert!(brute_force_findings(&connections(29, 22), 5, Thresholds::DEFAULT).is_empty());
        assert!(brute_force_findings(&connections(300, 443), 5, Thresholds::DEFAULT).is_empty(), "not a login port");
        let off = Thresholds { login_connections: 0, ..Thresholds::DEFAULT };
        assert!(brute_force_findings(&connections(300, 22), 5, off).is_empty());
    }

    #[test]
    fn refused_connections_and_resent_syn_acks_are_not_counted() {
        // A SYN scan of port 22 from many source ports, refused: no SYN+ACK, no guess.
        let refused: Vec<Packet> = (0..100)
            .flat_map(|i| {
                let t = 1e9 + f64::from(i) * 0.01;
                vec![
                    tcp(t, GUESSER, 40_000 + i, SERVER, 22, "S"),
                    tcp(t + 0.001, SERVER, 22, GUESSER, 40_000 + i, "RA"),
                ]
            })
            .collect();
        assert!(brute_force_findings(&refused, 5, Thresholds::DEFAULT).is_empty());
        let resent: Vec<Packet> =
            (0..100).map(|i| tcp(1e9 + f64::from(i) * 0.01, SERVER, 22, GUESSER, 40_000, "SA")).collect();
        assert!(brute_force_findings(&resent, 5, Thresholds::DEFAULT).is_empty());
    }

    #[test]
    fn http_authentication_failures_are_guessing_and_other_statuses_are_not() {
        let failures: Vec<Packet> = (0..20).map(|i| http_response(1e9 + f64::from(i) * 0.1, 401)).collect();
        let found = brute_force_findings(&failures, 5, Thresholds::DEFAULT);
        assert_eq!(found.len(), 1);
        assert_eq!((found[0].service, found[0].attacker.to_string()), (Service::Http, GUESSER.to_string()));
        assert!(found[0].describe().starts_with("10.0.0.66 made 20 failed HTTP authentications (401/407) at 10.0.0.5"));
        let fine: Vec<Packet> =
            (0..500).map(|i| http_response(1e9 + f64::from(i) * 0.01, 200 + i as u16 % 300)).collect();
        let found = brute_force_findings(&fine, 5, Thresholds::DEFAULT);
        assert!(found.is_empty(), "200-499 but 401 and 407 once each: {found:?}");
    }
}
