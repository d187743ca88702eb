//! `/version` and `/info`.

use crate::Engine;
use bollard_stubs::models::{
    SystemInfo, SystemInfoCgroupDriverEnum, SystemInfoCgroupVersionEnum, SystemVersion,
    SystemVersionComponents, SystemVersionPlatform,
};

/// The newest API version berth speaks.
pub const API_VERSION: &str = "1.47";
/// The oldest API version berth accepts.
pub const MIN_API_VERSION: &str = "1.24";
/// berth's version.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

fn uname() -> (String, String) {
    // SAFETY: utsname is plain data; uname fills it.
    let mut u: libc::utsname = unsafe { std::mem::zeroed() };
    if unsafe { libc::uname(&mut u) } != 0 {
        return (String::new(), String::new());
    }
    let s = |f: &[libc::c_char]| {
        let bytes: Vec<u8> = f
            .iter()
            .take_while(|c| **c != 0)
            .map(|c| *c as u8)
            .collect();
        String::from_utf8_lossy(&bytes).into_owned()
    };
    (s(&u.release), s(&u.nodename))
}

fn arch() -> String {
    std::env::consts::ARCH
        .replace("x86_64", "amd64")
        .replace("aarch64", "arm64")
}

fn os_name() -> String {
    std::fs::read_to_string("/etc/os-release")
        .ok()
        .and_then(|s| {
            s.lines().find_map(|l| {
                l.strip_prefix("PRETTY_NAME=")
                    .map(|v| v.trim_matches('"').to_string())
            })
        })
        .unwrap_or_else(|| "Linux".into())
}

impl Engine {
    /// `GET /version`.
    pub fn version(&self) -> SystemVersion {
        let (kernel, _) = uname();
        SystemVersion {
            platform: Some(SystemVersionPlatform {
                name: "berth".into(),
            }),
            components: Some(vec![SystemVersionComponents {
                name: "Engine".into(),
                version: VERSION.into(),
                details: Some(
                    [
                        ("ApiVersion".to_string(), API_VERSION.to_string()),
                        ("MinAPIVersion".to_string(), MIN_API_VERSION.to_string()),
                        ("Os".to_string(), "linux".to_string()),
                        ("Arch".to_string(), arch()),
                        ("KernelVersion".to_string(), kernel.clone()),
                    ]
                    .into_iter()
                    .collect(),
                ),
            }]),
            version: Some(VERSION.into()),
            api_version: Some(API_VERSION.into()),
            min_api_version: Some(MIN_API_VERSION.into()),
            git_commit: Some(option_env!("BERTH_GIT_COMMIT").unwrap_or("unknown").into()),
            go_version: Some("n/a (Rust)".into()),
            os: Some("linux".into()),
            arch: Some(arch()),
            kernel_version: Some(kernel),
            experimental: Some(false),
            build_time: None,
        }
    }

    /// `GET /info`.
    pub fn info(&self) -> crate::Result<SystemInfo> {
        let (kernel, host) = uname();
        let images = self.store.images()?.len() as i64;
        let mem = std::fs::read_to_string("/proc/meminfo")
            .ok()
            .and_then(|s| {
                s.lines().find_map(|l| {
                    l.strip_prefix("MemTotal:")
                        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<i64>().ok())
                })
            })
            .unwrap_or(0)
            * 1024;
        let cgv2_only = std::path::Path::new("/sys/fs/cgroup/cgroup.controllers").exists();
        Ok(SystemInfo {
            id: Some(format!("berth-{}", host)),
            containers: Some(0),
            containers_running: Some(0),
            containers_paused: Some(0),
            containers_stopped: Some(0),
            images: Some(images),
            driver: Some("overlay2".into()),
            driver_status: Some(vec![vec!["Backing Filesystem".into(), "extfs".into()]]),
            docker_root_dir: Some(self.data_root().display().to_string()),
            logging_driver: Some("json-file".into()),
            cgroup_driver: Some(SystemInfoCgroupDriverEnum::CGROUPFS),
            cgroup_version: Some(if cgv2_only {
                SystemInfoCgroupVersionEnum::_2
            } else {
                SystemInfoCgroupVersionEnum::_1
            }),
            kernel_version: Some(kernel),
            operating_system: Some(os_name()),
            os_type: Some("linux".into()),
            architecture: Some(std::env::consts::ARCH.into()),
            ncpu: Some(
                std::thread::available_parallelism()
                    .map(|n| n.get() as i64)
                    .unwrap_or(1),
            ),
            mem_total: Some(mem),
            index_server_address: Some("https://index.docker.io/v1/".into()),
            name: Some(host),
            server_version: Some(VERSION.into()),
            live_restore_enabled: Some(true),
            security_options: Some(vec!["name=seccomp,profile=builtin".into()]),
            system_time: Some(berth_store::now_rfc3339()),
            ..Default::default()
        })
    }
}
