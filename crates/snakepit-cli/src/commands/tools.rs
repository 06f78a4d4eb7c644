//! `snakepit tools`: the tools the workers offer, as their hello described them (of a running
//! server's pool with `--server`).

use anyhow::Context as _;

use snakepit::ToolSpec;

use super::remote::Remote;
use super::workers::pool_builder;
use crate::cli::ToolsArgs;

/// Runs `snakepit tools`.
///
/// # Errors
///
/// When the workers do not start.
pub(crate) async fn run(args: &ToolsArgs) -> anyhow::Result<()> {
    let tools: Vec<ToolSpec> = match Remote::from_args(&args.remote, args.worker.pool.as_deref())? {
        Some(remote) => serde_json::from_value(remote.tools().await?)
            .context("the server's tool list is not valid")?,
        None => pool_builder(&args.worker)?
            .run_script(|pool| async move { pool.tools().to_vec() })
            .await
            .map_err(|err| crate::exit::library_failure(err, "the workers did not start"))?,
    };
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&tools).context("could not print the tools")?
        );
        return Ok(());
    }
    if tools.is_empty() {
        println!("the workers announced no tools (classic workers cannot)");
    }
    for tool in &tools {
        let parameters: Vec<String> = tool
            .parameters
            .iter()
            .map(|param| {
                let type_name = param
                    .type_name
                    .as_deref()
                    .map(|name| format!(": {name}"))
                    .unwrap_or_default();
                let optional = if param.required { "" } else { "?" };
                format!("{}{optional}{type_name}", param.name)
            })
            .collect();
        let streaming = if tool.streaming { " [streaming]" } else { "" };
        println!("{}({}){streaming}", tool.name, parameters.join(", "));
        if let Some(description) = tool.description.as_deref().filter(|text| !text.is_empty()) {
            println!("    {description}");
        }
    }
    Ok(())
}
