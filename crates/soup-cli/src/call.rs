//! `soup call`: one unary call to any plugin, request and response as JSON, message types
//! from the plugin's reflection or from `--proto` files.

use std::process::ExitCode;

use anyhow::{Context as _, bail};
use soup_client::dynamic::{self, DynamicError, Reflection};

use crate::cli::CallArgs;

/// Splits `CMD... METHOD [JSON]` (what follows `--`).
pub fn split_trailing(args: &[String]) -> anyhow::Result<(Vec<String>, String, String)> {
    let mut rest = args.to_vec();
    let json = match rest.last() {
        Some(last) if last.trim_start().starts_with('{') => rest.pop().expect("non-empty"),
        _ => "{}".to_string(),
    };
    let Some(method) = rest.pop() else {
        bail!(
            "give the plugin command and the method after `--`: soup call -- ./plugin /package.Service/Method '{{\"field\": 1}}'"
        );
    };
    dynamic::split_method(&method)?;
    if rest.is_empty() {
        bail!(
            "no plugin command before the method {method:?}: soup call -- ./plugin {method} ['{{...}}']"
        );
    }
    Ok((rest, method, json))
}

pub async fn run(mut args: CallArgs) -> anyhow::Result<ExitCode> {
    let (command, method_path, json) = split_trailing(&args.conn.command)?;
    args.conn.command = command;
    let opts = crate::probe_options(&args.conn, &args.target)?;
    let (service, method) = dynamic::split_method(&method_path)?;
    // Compile --proto files before starting anything.
    let proto_pool = if args.proto.is_empty() {
        None
    } else {
        Some(dynamic::pool_from_protos(&args.proto)?)
    };
    let (plugin, _, _) = soup_client::probe::launch_any(&opts).await?;
    let result = call(&plugin, proto_pool, &service, &method, &json, &opts).await;
    let exit = plugin.shutdown().await;
    tracing::debug!(?exit, "plugin stopped");
    let value = result?;
    println!("{}", serde_json::to_string_pretty(&value)?);
    Ok(ExitCode::SUCCESS)
}

async fn call(
    plugin: &soup_client::PluginClient,
    proto_pool: Option<prost_reflect::DescriptorPool>,
    service: &str,
    method: &str,
    json: &str,
    opts: &soup_client::probe::ProbeOptions,
) -> anyhow::Result<serde_json::Value> {
    let channel = plugin.channel();
    let pool = match proto_pool {
        Some(p) => p,
        None => {
            let mut reflection = Reflection::open(&channel, opts.call_timeout)
                .await
                .context("the plugin's message types come from its gRPC reflection; give its .proto files with --proto")?;
            let services = reflection.services().await?;
            if !services.iter().any(|s| s == service) {
                return Err(DynamicError::NoService {
                    service: service.into(),
                    known: services,
                }
                .into());
            }
            reflection.pool_for(&[service.to_string()]).await?
        }
    };
    let m = dynamic::find_method(&pool, service, method)?;
    if m.is_client_streaming() || m.is_server_streaming() {
        return Err(DynamicError::Streaming(format!("/{service}/{method}")).into());
    }
    let request = dynamic::encode_json(&m, json)?;
    let path = format!("/{service}/{method}");
    let bytes = dynamic::unary_raw(&channel, &path, request, Some(opts.call_timeout))
        .await
        .map_err(|s| {
            anyhow::anyhow!(
                "{path} failed: {:?}: {}",
                s.code(),
                if s.message().is_empty() {
                    "(no message)"
                } else {
                    s.message()
                }
            )
        })?;
    Ok(dynamic::to_json(&dynamic::decode(&m, bytes)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn the_method_and_json_come_last() {
        let (cmd, m, j) = split_trailing(&strings(&[
            "/usr/bin/plugin",
            "serve",
            "/proto.KV/Get",
            r#"{"key":"a"}"#,
        ]))
        .unwrap();
        assert_eq!(cmd, ["/usr/bin/plugin", "serve"]);
        assert_eq!(
            (m.as_str(), j.as_str()),
            ("/proto.KV/Get", r#"{"key":"a"}"#)
        );
        let (_, _, j) = split_trailing(&strings(&["p", "/proto.KV/Get"])).unwrap();
        assert_eq!(j, "{}");
        let err = split_trailing(&strings(&["/proto.KV/Get"]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("no plugin command"), "{err}");
        let err = split_trailing(&strings(&["./plugin"]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("not a gRPC method"), "{err}");
    }
}
