//! Delegated IPAM: the IPAM plugin named by `ipam.type`, exec'd from
//! `CNI_PATH` with the request's environment and configuration, as the
//! reference plugins do it.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command as Process, Stdio};

use serde_json::Value;

use super::request::{Command, Request};
use super::types::{code, CniError, CniResult};

/// The IPAM plugin's executable: the first `ipam.type` in `CNI_PATH`.
pub fn find(req: &Request, plugin: &str) -> Result<PathBuf, CniError> {
    use std::os::unix::fs::PermissionsExt;
    if req.path.is_empty() {
        return Err(CniError::new(
            code::BAD_ENVIRONMENT,
            format!("CNI_PATH is not set: cannot find IPAM plugin {plugin:?}"),
        ));
    }
    req.path
        .iter()
        .map(|d| d.join(plugin))
        .find(|p| std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0))
        .ok_or_else(|| {
            CniError::new(
                code::INVALID_CONFIG,
                format!("IPAM plugin {plugin:?} not found in CNI_PATH {:?}", req.path_raw),
            )
        })
}

/// The `ipam.type` of the request's configuration, if it delegates.
pub fn plugin(req: &Request) -> Option<&str> {
    req.config.ipam.as_ref().and_then(|i| i["type"].as_str())
}

/// Runs the IPAM plugin for `command` with the request's environment and
/// stdin, the latter rewritten to `cni_version` when that differs from the
/// configuration's. Returns its result for ADD (`None` for the other
/// verbs), or its CNI error as it gave it.
pub fn exec(req: &Request, command: Command, cni_version: &str) -> Result<Option<CniResult>, CniError> {
    start(req, command, cni_version)?.finish()
}

/// An IPAM plugin process started by [`start`].
#[derive(Debug)]
pub struct Running {
    child: std::process::Child,
    plugin: String,
    command: Command,
}

/// [`exec`] in two halves: starts the plugin (its stdin written and
/// closed), so that the caller can work meanwhile; [`Running::finish`]
/// waits for it.
pub fn start(req: &Request, command: Command, cni_version: &str) -> Result<Running, CniError> {
    let plugin = plugin(req).ok_or_else(|| CniError::new(code::INVALID_CONFIG, "no ipam configured"))?;
    let exe = find(req, plugin)?;
    let stdin = match cni_version == req.config.cni_version {
        true => req.stdin.clone(),
        false => {
            let mut v: Value = serde_json::from_slice(&req.stdin).expect("parsed before");
            v["cniVersion"] = Value::String(cni_version.to_owned());
            if v["prevResult"].is_object() {
                v["prevResult"]["cniVersion"] = Value::String(cni_version.to_owned());
            }
            serde_json::to_vec(&v).expect("a JSON value serializes")
        }
    };
    let mut p = Process::new(&exe);
    p.env("CNI_COMMAND", command.as_str())
        .env("CNI_CONTAINERID", &req.container_id)
        .env("CNI_IFNAME", &req.ifname)
        .env("CNI_ARGS", &req.args_raw)
        .env("CNI_PATH", &req.path_raw)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    match &req.netns {
        Some(n) => p.env("CNI_NETNS", n),
        None => p.env_remove("CNI_NETNS"),
    };
    let mut child = p.spawn().map_err(|e| {
        CniError::new(code::IPAM, format!("IPAM plugin {plugin} {command}: exec {}: {e}", exe.display()))
    })?;
    let mut pipe = child.stdin.take().expect("piped");
    // A plugin that exits without reading its stdin closes the pipe: its
    // exit status says what happened, not this write. The configuration
    // fits the pipe's buffer, so this does not wait for the plugin.
    let _ = pipe.write_all(&stdin);
    drop(pipe);
    Ok(Running { child, plugin: plugin.to_owned(), command })
}

impl Running {
    /// Waits for the plugin: its result for ADD, or its CNI error.
    pub fn finish(self) -> Result<Option<CniResult>, CniError> {
        let Running { child, plugin, command } = self;
        let fail = |what: String| CniError::new(code::IPAM, format!("IPAM plugin {plugin} {command}: {what}"));
        let out = child.wait_with_output().map_err(|e| fail(format!("wait: {e}")))?;
        let stderr = String::from_utf8_lossy(&out.stderr);
        if !stderr.trim().is_empty() {
            log::info!("IPAM {plugin} {command}: {}", stderr.trim());
        }
        if !out.status.success() {
            return Err(match serde_json::from_slice::<CniError>(&out.stdout) {
                Ok(mut e) => {
                    e.msg = format!("IPAM plugin {plugin} {command}: {}", e.msg);
                    e
                }
                Err(_) => fail(format!(
                    "{}; stdout {:?}; stderr {:?}",
                    out.status,
                    String::from_utf8_lossy(&out.stdout),
                    stderr.trim()
                )),
            });
        }
        if command != Command::Add {
            return Ok(None);
        }
        let v: Value = serde_json::from_slice(&out.stdout)
            .map_err(|e| fail(format!("unreadable result ({e}): {:?}", String::from_utf8_lossy(&out.stdout))))?;
        CniResult::from_json(&v).map(Some).map_err(|e| fail(format!("unreadable result ({e}): {v}")))
    }
}

/// The versions the IPAM plugin speaks (its VERSION answer).
pub fn versions(req: &Request) -> Result<Vec<String>, CniError> {
    let plugin = plugin(req).ok_or_else(|| CniError::new(code::INVALID_CONFIG, "no ipam configured"))?;
    let exe = find(req, plugin)?;
    let mut child = Process::new(&exe)
        .env("CNI_COMMAND", "VERSION")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| CniError::new(code::IPAM, format!("exec {}: {e}", exe.display())))?;
    let mut pipe = child.stdin.take().expect("piped");
    let _ = pipe.write_all(format!(r#"{{"cniVersion":"{}"}}"#, req.config.cni_version).as_bytes());
    drop(pipe);
    let out = child.wait_with_output().map_err(|e| CniError::new(code::IPAM, format!("wait: {e}")))?;
    let v: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    Ok(v["supportedVersions"]
        .as_array()
        .map(|a| a.iter().filter_map(|s| s.as_str().map(str::to_owned)).collect())
        .unwrap_or_default())
}

/// The version to speak to the IPAM plugin: the configuration's, or, when
/// that is 1.1.0 and the plugin is older (Debian 12's reference plugins
/// stop at 1.0.0), 1.0.0, whose results read the same. `None`: the plugin
/// speaks neither (for STATUS and GC: it has no such verb).
pub fn version_for(req: &Request) -> Result<Option<String>, CniError> {
    let v = &req.config.cni_version;
    if v != "1.1.0" {
        return Ok(Some(v.clone()));
    }
    let known = versions(req)?;
    // No readable answer: the verb itself will say what is wrong.
    Ok(if known.is_empty() || known.iter().any(|k| k == v) {
        Some(v.clone())
    } else if known.iter().any(|k| k == "1.0.0") {
        Some("1.0.0".to_owned())
    } else {
        None
    })
}
