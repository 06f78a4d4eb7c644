//! `snakepit config check [FILE]`: reads a config file, checks it and prints it resolved,
//! every default filled in; a bad file fails naming file, line and key.

use anyhow::{Context as _, bail};

use crate::cli::{ConfigCheckArgs, ConfigCommand};
use crate::config::{CONFIG_ENV, Config, locate};

/// Runs `snakepit config ...`.
///
/// # Errors
///
/// No config file, or one that cannot be used.
pub(crate) fn run(command: &ConfigCommand) -> anyhow::Result<()> {
    match command {
        ConfigCommand::Check(args) => check(args),
    }
}

fn check(args: &ConfigCheckArgs) -> anyhow::Result<()> {
    let Some(path) = locate(args.file.as_deref())? else {
        bail!(
            "no config file: name one, set ${CONFIG_ENV}, or create ./snakepit.toml (see docs/config.md)"
        );
    };
    let config = Config::load(&path)?;
    // Each pool must also turn into a pool builder (nothing is started).
    drop(config.pools()?);
    if args.json {
        let report = serde_json::json!({
            "file": config.path,
            "overrides": config.overrides,
            "interpreters": config.notes,
            "config": config.file,
        });
        println!(
            "{}",
            serde_json::to_string_pretty(&report).context("could not print the config as JSON")?
        );
        return Ok(());
    }
    println!(
        "# {}: valid; resolved with every default filled in",
        config.path.display()
    );
    for applied in &config.overrides {
        println!("# environment override: {applied}");
    }
    for note in &config.notes {
        println!("# {note}");
    }
    println!();
    print!("{}", config.to_toml()?);
    Ok(())
}
