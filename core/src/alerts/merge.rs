//! One attack, one alert across windows: when are two alerts, each of its own type, source and
//! destination, readings of one incident? The extension's alert writer and the trainer's replay
//! both ask [`absorbs`]; the time condition (within `traffic_analyzer.alert_merge_gap` of each
//! other) is theirs.
//!
//! Only the model's readings are absorbed, never a rule's: a rule names an attack by what it
//! counted, and two rule alerts with different keys are two findings. The model reads one attack
//! in many ways: each source's row in a long window, the victim's row, the global row, or another
//! class of the same kind at the attack's edges. Such a reading goes into the alert that names
//! every party it names:
//!
//! - into a rule's alert (or one raised by both), of the same class or of another class of the same
//!   kind (a SYN flood read as a slow DoS), when its source is unnamed, the rule's source or one of
//!   its attackers, and its destination is unnamed or the rule's victim (a rule without a victim,
//!   a sweep, takes any); a reading of another class must name at least one party;
//! - into another of the model's own alerts of the same class that names more: the scanner's row
//!   ("to many hosts") into the scanner-and-victim alert, a flood source's row into the alert on
//!   its victim that lists it.
//!
//! A reading that names no host at all (the global row, when no host's row of its window agrees)
//! opens no alert of its own ([`opens_alert`]): an analyst cannot act on "an attack from many
//! sources to many hosts", and on the lab's captures such readings named no attack that a host's
//! row or a rule did not, while they were the model's false alerts on benign traffic. It joins an
//! alert that takes it, and stays on its window row (`aggregated_features.predicted_label`).

use std::net::IpAddr;

use super::{same_kind, AlertCandidate, Detector};

/// What the merge rule reads of a stored alert.
#[derive(Debug, Clone, PartialEq)]
pub struct Parties {
    pub alert_type: String,
    pub detector: Detector,
    pub source: Option<IpAddr>,
    pub destination: Option<IpAddr>,
    pub attackers: Vec<IpAddr>,
}

impl From<&AlertCandidate> for Parties {
    fn from(c: &AlertCandidate) -> Self {
        Parties {
            alert_type: c.alert_type.clone(),
            detector: c.detector,
            source: c.source,
            destination: c.destination,
            attackers: c.attackers.clone(),
        }
    }
}

impl Parties {
    fn names_source(&self, ip: IpAddr) -> bool {
        self.source == Some(ip) || self.attackers.contains(&ip)
    }

    fn same_key(&self, other: &Parties) -> bool {
        self.alert_type == other.alert_type && self.source == other.source && self.destination == other.destination
    }
}

/// Whether an alert may stand on its own: a rule's does, the model's when it names a host.
pub fn opens_alert(alert: &Parties) -> bool {
    alert.detector != Detector::Model || alert.source.is_some() || alert.destination.is_some()
}

/// Whether `reading` (the model's alone) is another reading of `keeper`'s incident and goes into
/// it (see the module's documentation). Never both ways: a keeper names strictly more.
pub fn absorbs(keeper: &Parties, reading: &Parties) -> bool {
    if reading.detector != Detector::Model || keeper.same_key(reading) {
        return false;
    }
    let same_class = reading.alert_type == keeper.alert_type;
    let source_fits = reading.source.is_none_or(|s| keeper.names_source(s));
    if keeper.detector == Detector::Model {
        // Model into model: the same class, every party named by the keeper too.
        return same_class && source_fits && reading.destination.is_none_or(|d| keeper.destination == Some(d));
    }
    let names_one = reading.source.is_some() || reading.destination.is_some();
    same_kind(&reading.alert_type, &keeper.alert_type)
        && (same_class || names_one)
        && source_fits
        && (reading.destination.is_none() || keeper.destination.is_none() || reading.destination == keeper.destination)
}

/// Where alert `written` (just written) goes among `near` (the alerts within the merge gap of it,
/// oldest first, `written` among them): the readings it absorbs, then the alert it is absorbed
/// into, if any (the first that absorbs it; it takes the readings too).
pub fn plan(written: &Parties, near: &[(i64, Parties)]) -> (Vec<i64>, Option<i64>) {
    let absorbed: Vec<i64> = near.iter().filter(|(_, other)| absorbs(written, other)).map(|(id, _)| *id).collect();
    let into = near.iter().find(|(id, other)| !absorbed.contains(id) && absorbs(other, written)).map(|(id, _)| *id);
    (absorbed, into)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alert(class: &str, source: Option<&str>, destination: Option<&str>, detector: Detector) -> Parties {
        let ip = |s: Option<&str>| s.map(|s| s.parse().unwrap());
        Parties {
            alert_type: class.into(),
            detector,
            source: ip(source),
            destination: ip(destination),
            attackers: ip(source).into_iter().collect(),
        }
    }

    const A: Option<&str> = Some("10.0.0.66");
    const V: Option<&str> = Some("10.0.0.5");

    #[test]
    fn a_rule_alert_absorbs_the_models_readings_of_its_incident() {
        let rule = alert("SYN_Flood", A, V, Detector::Rule);
        assert!(absorbs(&rule, &alert("Slow_DoS", None, V, Detector::Model)));
        assert!(absorbs(&rule, &alert("UDP_Flood", A, None, Detector::Model)));
        assert!(absorbs(&rule, &alert("SYN_Flood", A, None, Detector::Model)), "the attacker's row");
        assert!(absorbs(&rule, &alert("SYN_Flood", None, None, Detector::Model)), "the global row, same class");
        assert!(!absorbs(&rule, &alert("Slow_DoS", None, None, Detector::Model)), "another class names no party");
        assert!(!absorbs(&rule, &alert("Brute_Force", A, None, Detector::Model)), "another kind");
        assert!(!absorbs(&rule, &alert("Slow_DoS", Some("10.0.0.7"), None, Detector::Model)), "another host");
        assert!(!absorbs(&rule, &alert("SYN_Flood", A, V, Detector::Rule)), "a rule's alert is never absorbed");
        assert!(!absorbs(&alert("Slow_DoS", None, V, Detector::Model), &rule), "nor goes into the model's");
    }

    #[test]
    fn a_flood_from_many_sources_takes_each_sources_reading() {
        let bots = ["10.0.0.101", "10.0.0.102"];
        let mut victim = alert("UDP_Flood", None, V, Detector::Both);
        victim.attackers = bots.iter().map(|b| b.parse().unwrap()).collect();
        assert!(absorbs(&victim, &alert("UDP_Flood", Some(bots[1]), V, Detector::Model)));
        assert!(!absorbs(&victim, &alert("UDP_Flood", Some("10.0.0.103"), V, Detector::Model)), "not listed");
        // The model's own victim alert listing them takes them too.
        victim.detector = Detector::Model;
        assert!(absorbs(&victim, &alert("UDP_Flood", Some(bots[0]), V, Detector::Model)));
        assert!(absorbs(&victim, &alert("UDP_Flood", None, None, Detector::Model)));
        assert!(!absorbs(&victim, &alert("Slow_DoS", Some(bots[0]), V, Detector::Model)), "model to model: same class");
    }

    #[test]
    fn the_model_merges_into_the_alert_that_names_more() {
        let full = alert("Port_Scan", A, V, Detector::Model);
        let scanner = alert("Port_Scan", A, None, Detector::Model);
        assert!(absorbs(&full, &scanner));
        assert!(!absorbs(&scanner, &full), "never both ways");
        assert!(!absorbs(&full, &alert("Port_Scan", A, Some("10.0.0.6"), Detector::Model)), "another victim");
        assert!(!absorbs(&full, &full.clone()), "the same alert");
    }

    #[test]
    fn a_reading_of_no_host_opens_no_alert() {
        assert!(!opens_alert(&alert("Brute_Force", None, None, Detector::Model)));
        assert!(opens_alert(&alert("Brute_Force", None, V, Detector::Model)));
        assert!(opens_alert(&alert("Host_Sweep", None, None, Detector::Rule)), "a rule's finding stands");
    }

    #[test]
    fn a_written_alert_absorbs_or_is_absorbed() {
        let rule = alert("SYN_Flood", A, V, Detector::Rule);
        let model = alert("Slow_DoS", None, V, Detector::Model);
        let other = alert("Port_Scan", Some("10.0.0.9"), Some("10.0.0.1"), Detector::Model);
        // Whichever came first.
        let near = [(1, model.clone()), (2, other.clone()), (3, rule.clone())];
        assert_eq!(plan(&rule, &near), (vec![1], None));
        let near = [(1, rule.clone()), (2, other), (3, model.clone())];
        assert_eq!(plan(&model, &near), (vec![], Some(1)));
        // A model alert that takes readings and goes into a rule's: both (a sweep's rule takes any
        // victim).
        let scanner = alert("Port_Scan", A, None, Detector::Model);
        let full = alert("Port_Scan", A, V, Detector::Model);
        let sweep = alert("Host_Sweep", A, None, Detector::Rule);
        assert_eq!(plan(&full, &[(1, scanner), (2, sweep), (3, full.clone())]), (vec![1], Some(2)));
    }
}
