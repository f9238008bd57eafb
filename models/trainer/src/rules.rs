//! `trainer rules`: the transparent rules (scan, SYN flood, packet flood, brute force, slow DoS) at
//! their default thresholds over every labelled capture, through the production parser and the
//! core's detectors, as the extension runs them in each window size. Per capture: whether a finding
//! of the attack's class names its victim and its attacker (or lists its many), and the findings of
//! other classes about its hosts; per real benign capture, every finding (each a false alert).

use std::collections::BTreeMap;
use std::path::Path;

use traffic_core::alerts::{rule_findings, RuleFinding};
use traffic_core::detectors::RuleThresholds;
use traffic_core::Packet;

use crate::dataset::{benign_captures, labelled_captures, read_packets};
use crate::labels::Attack;

/// Every rule's findings in `packets` (capture-time order) for each window size, at the defaults.
pub fn findings(packets: &[Packet], windows: &[u32]) -> Vec<RuleFinding> {
    windows.iter().flat_map(|&seconds| rule_findings(packets, seconds, &RuleThresholds::DEFAULT)).collect()
}

/// Whether a finding is the attack, named as an analyst needs it: its class, the victim (none for
/// a sweep across hosts) and the attacker (or, for many sources, at least 10 of them listed;
/// nothing to name for spoofed ones).
fn names(f: &RuleFinding, attack: &Attack) -> bool {
    let victim = match f.victim {
        Some(v) => attack.victims.contains(&v),
        None => attack.victims.is_empty(),
    };
    let listed = f.attackers.iter().filter(|a| attack.attackers.contains(a)).count();
    let attacker = attack.attackers.is_empty()
        || f.source.is_some_and(|s| attack.attackers.contains(&s))
        || (attack.attackers.len() > 1 && listed >= attack.attackers.len().min(10));
    f.class == attack.class && victim && attacker
}

/// Whether a finding is about the attack's hosts (its source one of the attackers, or unnamed and
/// its victim one of the attack's).
fn about(f: &RuleFinding, attack: &Attack) -> bool {
    match f.source {
        Some(s) => attack.attackers.contains(&s),
        None => f.victim.is_none_or(|v| attack.victims.contains(&v)),
    }
}

/// Hours of traffic: 5 s windows holding packets (a capture's clock may jump, its span is no
/// measure).
fn busy_hours(packets: &[Packet]) -> f64 {
    let windows: std::collections::BTreeSet<i64> = packets.iter().map(|p| p.timestamp_micros() / 5_000_000).collect();
    windows.len() as f64 * 5.0 / 3600.0
}

fn summary(found: &[&RuleFinding]) -> String {
    let mut by_class: BTreeMap<(&str, u32), usize> = BTreeMap::new();
    for f in found {
        *by_class.entry((f.class, f.window_seconds)).or_default() += 1;
    }
    let parts: Vec<String> = by_class.iter().map(|((c, s), n)| format!("{c} in {n} {s} s windows")).collect();
    if parts.is_empty() {
        "nothing".into()
    } else {
        parts.join(", ")
    }
}

/// Prints the rules' results per capture and in total; the real benign captures in `benign` are
/// each checked on their own.
pub fn report(captures: &Path, benign: Option<&Path>, windows: &[u32]) -> anyhow::Result<()> {
    let (mut right, mut attacks, mut wrong_class, mut benign_hours, mut false_alerts) = (0, 0, 0, 0.0, 0);
    for (capture, labels) in labelled_captures(captures)? {
        let packets = read_packets(std::slice::from_ref(&capture))?;
        let found = findings(&packets, windows);
        let name = capture.file_stem().unwrap_or_default().to_string_lossy().into_owned();
        let Some(attack) = labels.attacks.first() else {
            benign_hours += busy_hours(&packets);
            false_alerts += found.len();
            println!("{name}: benign, {}", summary(&found.iter().collect::<Vec<_>>()));
            continue;
        };
        attacks += 1;
        let named = found.iter().any(|f| names(f, attack));
        right += usize::from(named);
        let others: Vec<&RuleFinding> = found.iter().filter(|f| f.class != attack.class && about(f, attack)).collect();
        wrong_class += usize::from(!others.is_empty());
        let mine: Vec<&RuleFinding> = found.iter().filter(|f| f.class == attack.class).collect();
        println!(
            "{name}: {} {} ({} attackers) -> {}; other classes: {}",
            attack.class,
            if named { "named" } else { "MISSED" },
            attack.attackers.len(),
            summary(&mine),
            summary(&others)
        );
    }
    if let Some(dir) = benign {
        for file in benign_captures(dir)? {
            let packets = read_packets(std::slice::from_ref(&file))?;
            benign_hours += busy_hours(&packets);
            let found = findings(&packets, windows);
            false_alerts += found.len();
            let name = file.file_name().unwrap_or_default().to_string_lossy().into_owned();
            println!("{name}: real benign, {}", summary(&found.iter().collect::<Vec<_>>()));
        }
    }
    println!(
        "attacks named by the rules: {right} of {attacks}; with a finding of another class about their hosts: \
         {wrong_class}; findings on benign traffic: {false_alerts} in {benign_hours:.2} h of 5 s windows with packets"
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::net::IpAddr;

    use super::*;
    use traffic_core::alerts::Severity;

    fn attack(class: &str, attackers: &[&str], victims: &[&str]) -> Attack {
        let ips = |v: &[&str]| v.iter().map(|s| s.parse::<IpAddr>().unwrap()).collect();
        Attack {
            class: class.into(),
            start: 0.0,
            end: 1.0,
            attackers: ips(attackers),
            victims: ips(victims),
            command: "".into(),
        }
    }

    fn finding(class: &'static str, source: Option<&str>, attackers: &[&str], victim: Option<&str>) -> RuleFinding {
        RuleFinding {
            class,
            window_seconds: 5,
            start_micros: 0,
            source: source.map(|s| s.parse().unwrap()),
            attackers: attackers.iter().map(|s| s.parse().unwrap()).collect(),
            victim: victim.map(|s| s.parse().unwrap()),
            severity: Severity::High,
            words: String::new(),
        }
    }

    #[test]
    fn a_finding_names_an_attack_by_class_victim_and_attacker() {
        let one = attack("UDP_Flood", &["10.0.0.66"], &["10.0.0.5"]);
        assert!(names(&finding("UDP_Flood", Some("10.0.0.66"), &["10.0.0.66"], Some("10.0.0.5")), &one));
        assert!(!names(&finding("ICMP_Flood", Some("10.0.0.66"), &[], Some("10.0.0.5")), &one));
        assert!(!names(&finding("UDP_Flood", None, &[], Some("10.0.0.5")), &one), "the attacker unnamed");
        let many = attack("UDP_Flood", &["10.0.0.101", "10.0.0.102"], &["10.0.0.5"]);
        assert!(names(&finding("UDP_Flood", None, &["10.0.0.101", "10.0.0.102"], Some("10.0.0.5")), &many));
        let sweep = attack("Host_Sweep", &["10.0.0.66"], &[]);
        assert!(names(&finding("Host_Sweep", Some("10.0.0.66"), &["10.0.0.66"], None), &sweep));
        assert!(about(&finding("Port_Scan", Some("10.0.0.66"), &[], Some("10.9.9.9")), &sweep));
        assert!(!about(&finding("Port_Scan", Some("10.0.0.7"), &[], Some("10.0.0.5")), &sweep));
    }
}
