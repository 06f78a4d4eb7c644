//! The package API against a real virtual environment and the real package index.

use std::path::Path;
use std::time::Duration;

use snakepit::packages::{Installer, Packages, create_venv, probe};

fn venv(dir: &Path) -> std::path::PathBuf {
    create_venv(
        Path::new("python3"),
        &dir.join("venv"),
        Installer::Pip,
        Duration::from_secs(300),
        &mut |_| {},
    )
    .expect("python3 -m venv works")
}

#[test]
fn requirements_are_checked_installed_and_explained() {
    let dir = tempfile::tempdir().unwrap();
    let python = venv(dir.path());
    let packages = Packages::new(&python).installer(Installer::Pip);

    let report = packages.check(&["six>=1.10", "pip>=1", "pip<1"]).unwrap();
    let statuses: Vec<_> = report
        .packages
        .iter()
        .map(|p| (p.name.as_str(), p.satisfied))
        .collect();
    assert_eq!(statuses, [("six", false), ("pip", true), ("pip", false)]);
    assert_eq!(report.packages[0].reason.as_deref(), Some("not installed"));
    let too_new = report.packages[2].reason.as_deref().unwrap();
    assert!(too_new.contains("is installed, <1 is wanted"), "{too_new}");

    let mut lines = Vec::new();
    packages
        .install(&["six>=1.10"], &mut |line| lines.push(line.to_owned()))
        .unwrap();
    assert!(
        !lines.is_empty(),
        "the installer's progress reaches the caller"
    );
    let report = packages.ensure(&["six>=1.10"]).unwrap();
    assert!(report.all_satisfied());
    assert!(report.packages[0].installed.is_some());

    let bad = packages.check(&["six >>> 1"]).unwrap_err().to_string();
    assert!(bad.contains("six >>> 1"), "{bad}");

    let failed = packages
        .install(&["snakepit-no-such-package-here==0.0.1"], &mut |_| {})
        .unwrap_err()
        .to_string();
    assert!(failed.contains("snakepit-no-such-package-here"), "{failed}");
    assert!(failed.contains("with pip"), "{failed}");

    let info = probe(&python, Duration::from_secs(30)).unwrap();
    assert!(info.executable.starts_with(dir.path()) || info.executable.ends_with("python"));
}
