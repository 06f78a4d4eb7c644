//! `snakepit new adapter NAME`: a new adapter project from a tested template.
//!
//! It writes `NAME/` with the adapter module (a plain, a streaming and a session tool), a
//! pytest file that runs the tools in-process through `snakepit_bridge.testing`, a
//! `requirements.txt`, a `snakepit.toml` naming the adapter, and a `.gitignore`. Then
//! `cd NAME && snakepit setup && snakepit doctor && .venv/bin/python -m pytest -q` works.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use clap::{Args, Subcommand};

use crate::exit::usage;

/// Arguments of `snakepit new`.
#[derive(Debug, Args)]
pub(crate) struct NewArgs {
    /// What to create.
    #[command(subcommand)]
    pub(crate) what: NewWhat,
}

/// The templates.
#[derive(Debug, Subcommand)]
pub(crate) enum NewWhat {
    /// A Python adapter project in the directory NAME.
    Adapter {
        /// The project's name: letters, digits, `_` and `-`, starting with a letter.
        name: String,
        /// Where to create it. Default: `./NAME`.
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
    },
}

const ADAPTER: &str = include_str!("../../templates/adapter/adapter.py");
const TEST: &str = include_str!("../../templates/adapter/test_adapter.py");
const CONFIG: &str = include_str!("../../templates/adapter/snakepit.toml");
const REQUIREMENTS: &str = include_str!("../../templates/adapter/requirements.txt");
const PYPROJECT: &str = include_str!("../../templates/adapter/pyproject.toml");
const GITIGNORE: &str = include_str!("../../templates/adapter/gitignore");

/// Runs `snakepit new`.
///
/// # Errors
///
/// A name that is not usable (a usage error), a directory that exists and is not empty, or
/// a file that cannot be written.
pub(crate) fn run(args: &NewArgs) -> anyhow::Result<()> {
    let NewWhat::Adapter { name, dir } = &args.what;
    let names = Names::new(name)?;
    let dir = dir.clone().unwrap_or_else(|| PathBuf::from(name));
    if dir.exists()
        && std::fs::read_dir(&dir)
            .map(|mut entries| entries.next().is_some())
            .unwrap_or(true)
    {
        return Err(usage(format!(
            "{} already exists and is not empty; pick another name or --dir",
            dir.display()
        )));
    }
    let files = [
        (format!("{}.py", names.module), ADAPTER),
        (format!("tests/test_{}.py", names.module), TEST),
        ("snakepit.toml".to_owned(), CONFIG),
        ("requirements.txt".to_owned(), REQUIREMENTS),
        ("pyproject.toml".to_owned(), PYPROJECT),
        (".gitignore".to_owned(), GITIGNORE),
    ];
    for (relative, template) in files {
        write(&dir.join(relative), &names.fill(template))?;
    }
    println!(
        "created {} ({}:{})",
        dir.display(),
        names.module,
        names.class
    );
    println!("next:");
    println!("  cd {}", dir.display());
    println!("  snakepit setup                       # .venv with the requirements and msgpack");
    println!("  snakepit doctor                      # check that everything is in place");
    println!("  .venv/bin/python -m pytest -q        # the adapter's tests, in-process");
    println!("  snakepit call hello --args '{{\"name\": \"Ada\"}}'");
    Ok(())
}

fn write(path: &Path, contents: &str) -> anyhow::Result<()> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("could not create {}", parent.display()))?;
    }
    std::fs::write(path, contents).with_context(|| format!("could not write {}", path.display()))
}

/// The names a project's files use.
#[derive(Debug, PartialEq, Eq)]
struct Names {
    name: String,
    module: String,
    class: String,
}

impl Names {
    fn new(name: &str) -> anyhow::Result<Self> {
        let valid = name.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
        if !valid {
            return Err(usage(format!(
                "`{name}` is not a usable adapter name: use letters, digits, `_` and `-`, \
                 starting with a letter"
            )));
        }
        let stem = name.replace('-', "_").to_ascii_lowercase();
        let class: String = stem
            .split('_')
            .filter(|part| !part.is_empty())
            .map(|part| {
                let mut chars = part.chars();
                chars.next().map_or_else(String::new, |first| {
                    first.to_ascii_uppercase().to_string() + chars.as_str()
                })
            })
            .collect();
        Ok(Self {
            name: name.to_owned(),
            module: format!("{stem}_adapter"),
            class: format!("{class}Adapter"),
        })
    }

    fn fill(&self, template: &str) -> String {
        template
            .replace("{{name}}", &self.name)
            .replace("{{module}}", &self.module)
            .replace("{{class}}", &self.class)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_become_a_module_and_a_class() {
        let names = Names::new("my-demo_2").unwrap();
        assert_eq!(names.module, "my_demo_2_adapter");
        assert_eq!(names.class, "MyDemo2Adapter");
        assert!(Names::new("2fast").is_err());
        assert!(Names::new("a b").is_err());
    }
}
