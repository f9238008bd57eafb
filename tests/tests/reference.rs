//! docs/reference.md names everything a user can set, call or request: every setting of the
//! extension and every SQL function it installs (as a fresh database lists them), every route of
//! the front, every flag and environment variable of the front and the sensor. A new one that
//! the reference lacks fails here.

use std::collections::BTreeSet;
use std::process::Command;

use e2e::{workspace_binary, TestDb};
use http_front::routes::ROUTES;

fn reference() -> String {
    std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/reference.md")).expect("docs/reference.md")
}

/// What `--help` of a binary (and of its subcommands) lists: long flags and environment variables.
fn flags_and_environment(binary: &str, subcommands: &[&str]) -> BTreeSet<String> {
    let path = workspace_binary(binary).expect("build");
    let mut names = BTreeSet::new();
    let mut runs: Vec<Vec<&str>> = subcommands.iter().map(|s| vec![*s, "--help"]).collect();
    runs.push(vec!["--help"]);
    for args in runs {
        let output = Command::new(&path).args(&args).output().expect("--help");
        let help = String::from_utf8_lossy(&output.stdout);
        for word in help.split(|c: char| c.is_whitespace() || c == '[' || c == ']' || c == ',') {
            if let Some(flag) = word.strip_prefix("--").filter(|f| !f.is_empty() && *f != "help") {
                names.insert(format!("--{flag}"));
            }
        }
        for piece in help.split("[env: ").skip(1) {
            names.insert(piece.split('=').next().unwrap_or_default().to_string());
        }
    }
    names
}

#[tokio::test]
async fn the_reference_names_every_setting_route_and_function() {
    let doc = reference();
    let mut missing = Vec::new();
    let mut expect = |kind: &str, name: String| {
        if !doc.contains(&format!("`{name}")) {
            missing.push(format!("{kind} {name}"));
        }
    };

    let db = TestDb::create("ta_e2e_reference").await.expect("db");
    for row in db
        .admin
        .query("SELECT name FROM pg_settings WHERE name LIKE 'traffic_analyzer.%' ORDER BY name", &[])
        .await
        .expect("settings")
    {
        expect("setting", row.get("name"));
    }
    let functions = db
        .admin
        .query(
            "SELECT DISTINCT p.proname AS name FROM pg_proc p
             JOIN pg_depend d ON d.objid = p.oid AND d.classid = 'pg_proc'::regclass AND d.deptype = 'e'
             JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'traffic_analyzer'
             ORDER BY 1",
            &[],
        )
        .await
        .expect("functions");
    assert!(functions.len() > 40, "the extension's functions: {}", functions.len());
    for row in functions {
        expect("SQL function", row.get("name"));
    }

    for route in ROUTES.iter() {
        expect("route", format!("{} {}", route.method, route.path));
    }
    for name in flags_and_environment("http_front", &[]) {
        expect("front setting", name);
    }
    for name in flags_and_environment("sensor", &["replay", "live"]) {
        expect("sensor option", name);
    }
    assert!(missing.is_empty(), "docs/reference.md lacks:\n{}", missing.join("\n"));
}
