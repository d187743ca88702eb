//! Unit tests of the spec builder (no root needed).

use std::path::Path;

use libcontainer::oci_spec::runtime::{LinuxNamespaceType, Spec};

use super::*;
use crate::config::*;

fn host() -> HostInfo {
    HostInfo {
        cap_bounding: 0x0000_01ff_feff_ffff,
        nofile_hard: 20000,
    }
}

fn base() -> ContainerSpec {
    ContainerSpec {
        id: "0123456789abcdef".into(),
        args: vec!["sh".into(), "-c".into(), "true".into()],
        ..Default::default()
    }
}

fn build_ok(c: &ContainerSpec) -> Spec {
    build(c, Path::new("/tmp/rootfs"), &host()).expect("spec builds")
}

fn caps_of(s: &Spec) -> Vec<String> {
    let caps = s
        .process()
        .as_ref()
        .and_then(|p| p.capabilities().clone())
        .expect("caps");
    let mut v: Vec<String> = caps
        .effective()
        .iter()
        .flatten()
        .map(|c| {
            serde_json::to_value(c)
                .ok()
                .and_then(|v| v.as_str().map(String::from))
                .unwrap_or_default()
        })
        .collect();
    v.sort();
    v
}

#[test]
fn default_profile_matches_docker() {
    let s = build_ok(&base());
    let mut want: Vec<String> = defaults::DEFAULT_CAPS
        .iter()
        .map(|s| s.to_string())
        .collect();
    want.sort();
    assert_eq!(caps_of(&s), want);
    let linux = s.linux().as_ref().expect("linux");
    assert_eq!(
        linux.cgroups_path().as_deref(),
        Some(Path::new("/berth/0123456789abcdef"))
    );
    let masked = linux.masked_paths().clone().unwrap_or_default();
    for p in [
        "/proc/kcore",
        "/proc/keys",
        "/proc/timer_list",
        "/proc/sched_debug",
        "/sys/firmware",
        "/proc/scsi",
    ] {
        assert!(masked.iter().any(|m| m == p), "{p} masked");
    }
    let ro = linux.readonly_paths().clone().unwrap_or_default();
    for p in [
        "/proc/sys",
        "/proc/sysrq-trigger",
        "/proc/irq",
        "/proc/bus",
        "/proc/fs",
    ] {
        assert!(ro.iter().any(|m| m == p), "{p} read-only");
    }
    assert!(linux.seccomp().is_some());
    let ns: Vec<LinuxNamespaceType> = linux
        .namespaces()
        .iter()
        .flatten()
        .map(|n| n.typ())
        .collect();
    for t in [
        LinuxNamespaceType::Pid,
        LinuxNamespaceType::Network,
        LinuxNamespaceType::Mount,
        LinuxNamespaceType::Uts,
        LinuxNamespaceType::Ipc,
    ] {
        assert!(ns.contains(&t), "{t:?}");
    }
    assert_eq!(s.hostname().as_deref(), Some("0123456789ab"));
    let dests: Vec<String> = s
        .mounts()
        .iter()
        .flatten()
        .map(|m| m.destination().display().to_string())
        .collect();
    for d in [
        "/proc",
        "/dev",
        "/dev/pts",
        "/dev/shm",
        "/dev/mqueue",
        "/sys",
        "/sys/fs/cgroup",
    ] {
        assert!(dests.iter().any(|x| x == d), "mount {d}");
    }
    let sys = s
        .mounts()
        .iter()
        .flatten()
        .find(|m| m.destination() == Path::new("/sys"))
        .expect("/sys");
    assert!(sys.options().iter().flatten().any(|o| o == "ro"));
    let env = s
        .process()
        .as_ref()
        .and_then(|p| p.env().clone())
        .unwrap_or_default();
    assert!(env.iter().any(|e| e.starts_with("PATH=/usr/local/sbin")));
    assert!(env.iter().any(|e| e == "HOSTNAME=0123456789ab"));
}

#[test]
fn rlimits_are_capped_at_host_hard_limit() {
    let s = build_ok(&base());
    let rl = s
        .process()
        .as_ref()
        .and_then(|p| p.rlimits().clone())
        .unwrap_or_default();
    assert_eq!(rl.len(), 1);
    assert_eq!(rl[0].hard(), 20000);
    assert_eq!(rl[0].soft(), 20000);
}

#[test]
fn cap_add_drop_and_host_bounding() {
    let mut c = base();
    c.security.cap_add = vec!["sys_admin".into(), "CAP_SYS_RESOURCE".into()];
    c.security.cap_drop = vec!["NET_RAW".into()];
    let caps = caps_of(&build_ok(&c));
    assert!(caps.contains(&"CAP_SYS_ADMIN".to_string()));
    assert!(!caps.contains(&"CAP_NET_RAW".to_string()));
    assert!(
        !caps.contains(&"CAP_SYS_RESOURCE".to_string()),
        "host cannot grant it"
    );

    let mut c = base();
    c.security.cap_drop = vec!["ALL".into()];
    c.security.cap_add = vec!["CHOWN".into()];
    assert_eq!(caps_of(&build_ok(&c)), vec!["CAP_CHOWN".to_string()]);

    let mut c = base();
    c.security.cap_add = vec!["CAP_BOGUS".into()];
    let err = build(&c, Path::new("/r"), &host()).expect_err("unknown cap");
    assert!(err.to_string().contains("security.cap_add"), "{err}");
}

#[test]
fn privileged_drops_masks_and_seccomp() {
    let mut c = base();
    c.security.privileged = true;
    let s = build_ok(&c);
    let linux = s.linux().as_ref().expect("linux");
    assert!(linux.seccomp().is_none());
    assert!(linux.masked_paths().as_ref().is_none_or(|m| m.is_empty()));
    assert!(caps_of(&s).contains(&"CAP_SYS_ADMIN".to_string()));
    let sys = s
        .mounts()
        .iter()
        .flatten()
        .find(|m| m.destination() == Path::new("/sys"))
        .expect("/sys");
    assert!(!sys.options().iter().flatten().any(|o| o == "ro"));
}

#[test]
fn unconfined_seccomp_and_read_only_rootfs() {
    let mut c = base();
    c.security.seccomp = SeccompMode::Unconfined;
    c.security.read_only_rootfs = true;
    c.security.no_new_privileges = true;
    let s = build_ok(&c);
    assert!(s
        .linux()
        .as_ref()
        .and_then(|l| l.seccomp().clone())
        .is_none());
    assert_eq!(s.root().as_ref().and_then(|r| r.readonly()), Some(true));
    assert_eq!(
        s.process().as_ref().and_then(|p| p.no_new_privileges()),
        Some(true)
    );
}

#[test]
fn resources_map_to_cgroup_settings() {
    let mut c = base();
    c.resources = Resources {
        memory_bytes: 64 << 20,
        nano_cpus: 1_500_000_000,
        cpu_shares: 512,
        pids_limit: 100,
        ..Default::default()
    };
    let s = build_ok(&c);
    let r = s
        .linux()
        .as_ref()
        .and_then(|l| l.resources().clone())
        .expect("resources");
    assert_eq!(r.memory().as_ref().and_then(|m| m.limit()), Some(64 << 20));
    let cpu = r.cpu().clone().expect("cpu");
    assert_eq!(cpu.quota(), Some(150_000));
    assert_eq!(cpu.period(), Some(100_000));
    assert_eq!(cpu.shares(), Some(512));
    assert_eq!(r.pids().as_ref().map(|p| p.limit()), Some(100));
}

#[test]
fn update_resources_map_to_cgroup_settings() {
    let mut c = base();
    c.resources = Resources {
        memory_bytes: 64 << 20,
        memory_swap: 128 << 20,
        memory_reservation: 32 << 20,
        cpu_period: 50_000,
        cpu_quota: 25_000,
        cpuset_cpus: "0-1".into(),
        cpuset_mems: "0".into(),
        blkio_weight: 300,
        ..Default::default()
    };
    let s = build_ok(&c);
    let r = s
        .linux()
        .as_ref()
        .and_then(|l| l.resources().clone())
        .expect("resources");
    let mem = (*r.memory()).expect("memory");
    assert_eq!(mem.limit(), Some(64 << 20));
    assert_eq!(mem.swap(), Some(128 << 20));
    assert_eq!(mem.reservation(), Some(32 << 20));
    let cpu = r.cpu().clone().expect("cpu");
    assert_eq!(cpu.quota(), Some(25_000));
    assert_eq!(cpu.period(), Some(50_000));
    assert_eq!(cpu.cpus().as_deref(), Some("0-1"));
    assert_eq!(cpu.mems().as_deref(), Some("0"));
    assert_eq!(r.block_io().as_ref().and_then(|b| b.weight()), Some(300));

    // Swap without a memory limit means nothing; a reservation alone stands.
    let mut c = base();
    c.resources.memory_swap = 128 << 20;
    c.resources.memory_reservation = 16 << 20;
    let s = build_ok(&c);
    let mem = s
        .linux()
        .as_ref()
        .and_then(|l| l.resources().clone())
        .and_then(|r| *r.memory())
        .expect("memory");
    assert_eq!((mem.limit(), mem.swap()), (None, None));
    assert_eq!(mem.reservation(), Some(16 << 20));
}

#[test]
fn bad_values_name_the_field() {
    let mut c = base();
    c.resources.memory_bytes = 1024;
    assert!(build(&c, Path::new("/r"), &host())
        .expect_err("too small")
        .to_string()
        .contains("6MB"));
    let mut c = base();
    c.resources.nano_cpus = -1;
    assert!(build(&c, Path::new("/r"), &host())
        .expect_err("neg")
        .to_string()
        .contains("nano_cpus"));
    let mut c = base();
    c.args.clear();
    assert!(build(&c, Path::new("/r"), &host())
        .expect_err("no args")
        .to_string()
        .contains("args"));
    let mut c = base();
    c.cwd = "relative".into();
    assert!(build(&c, Path::new("/r"), &host())
        .expect_err("cwd")
        .to_string()
        .contains("cwd"));
    let mut c = base();
    c.mounts = vec![MountSpec::Tmpfs {
        destination: "run".into(),
        options: vec![],
        read_only: false,
    }];
    assert!(build(&c, Path::new("/r"), &host())
        .expect_err("dest")
        .to_string()
        .contains("mounts[0]"));
    let mut c = base();
    c.id = "a/b".into();
    assert!(build(&c, Path::new("/r"), &host()).is_err());
}

#[test]
fn mounts_network_and_tty() {
    let mut c = base();
    c.tty = true;
    c.network = NetworkMode::Join("/run/netns/x".into());
    c.etc_files = Some(EtcFiles {
        hostname: "/c/hostname".into(),
        hosts: "/c/hosts".into(),
        resolv_conf: "/c/resolv.conf".into(),
    });
    c.mounts = vec![
        MountSpec::Tmpfs {
            destination: "/dev/shm".into(),
            options: vec!["size=1m".into()],
            read_only: false,
        },
        MountSpec::Bind {
            source: "/data".into(),
            destination: "/data".into(),
            read_only: true,
        },
    ];
    let s = build_ok(&c);
    let mounts: Vec<_> = s.mounts().iter().flatten().collect();
    let shm: Vec<_> = mounts
        .iter()
        .filter(|m| m.destination() == Path::new("/dev/shm"))
        .collect();
    assert_eq!(shm.len(), 1, "user tmpfs replaces the default /dev/shm");
    assert!(shm[0].options().iter().flatten().any(|o| o == "size=1m"));
    let data = mounts
        .iter()
        .find(|m| m.destination() == Path::new("/data"))
        .expect("/data");
    assert!(data.options().iter().flatten().any(|o| o == "ro"));
    assert!(mounts
        .iter()
        .any(|m| m.destination() == Path::new("/etc/hosts")
            && m.source().as_deref() == Some(Path::new("/c/hosts"))));
    let net = s
        .linux()
        .as_ref()
        .and_then(|l| l.namespaces().clone())
        .unwrap_or_default();
    let net = net
        .iter()
        .find(|n| n.typ() == LinuxNamespaceType::Network)
        .expect("netns");
    assert_eq!(net.path().as_deref(), Some(Path::new("/run/netns/x")));
    let p = s.process().clone().expect("process");
    assert_eq!(p.terminal(), Some(true));
    assert!(p.env().iter().flatten().any(|e| e == "TERM=xterm"));

    let mut c = base();
    c.network = NetworkMode::Host;
    let s = build_ok(&c);
    assert!(!s
        .linux()
        .as_ref()
        .and_then(|l| l.namespaces().clone())
        .unwrap_or_default()
        .iter()
        .any(|n| n.typ() == LinuxNamespaceType::Network));
}

#[test]
fn init_is_mounted_and_runs_first() {
    let mut c = base();
    c.init = Some("/usr/bin/tini-static".into());
    let s = build_ok(&c);
    let args = s
        .process()
        .as_ref()
        .and_then(|p| p.args().clone())
        .unwrap_or_default();
    assert_eq!(args, vec!["/sbin/docker-init", "--", "sh", "-c", "true"]);
    let m = s
        .mounts()
        .iter()
        .flatten()
        .find(|m| m.destination() == Path::new("/sbin/docker-init"))
        .expect("init mount");
    assert_eq!(
        m.source().as_deref(),
        Some(Path::new("/usr/bin/tini-static"))
    );
    assert!(m.options().iter().flatten().any(|o| o == "ro"));
}

#[test]
fn host_and_joined_namespaces_ulimits_shm_and_devices() {
    let ns_of = |s: &Spec| -> Vec<(LinuxNamespaceType, Option<String>)> {
        s.linux()
            .as_ref()
            .and_then(|l| l.namespaces().clone())
            .unwrap_or_default()
            .iter()
            .map(|n| (n.typ(), n.path().as_ref().map(|p| p.display().to_string())))
            .collect()
    };
    let shm_of = |s: &Spec| {
        s.mounts()
            .as_ref()
            .and_then(|m| {
                m.iter()
                    .find(|m| m.destination() == Path::new("/dev/shm"))
                    .cloned()
            })
            .expect("a /dev/shm mount")
    };
    // Default: private pid/ipc/uts, a hostname, 64 MiB of shm.
    let s = build_ok(&base());
    let ns = ns_of(&s);
    for t in [
        LinuxNamespaceType::Pid,
        LinuxNamespaceType::Ipc,
        LinuxNamespaceType::Uts,
    ] {
        assert!(ns.contains(&(t, None)), "{ns:?}");
    }
    assert!(s.hostname().is_some());
    let shm = shm_of(&s);
    assert!(shm
        .options()
        .as_ref()
        .unwrap()
        .contains(&"size=65536k".to_string()));

    let mut c = base();
    c.namespaces = Namespaces {
        pid: NsMode::Host,
        ipc: NsMode::Join("/proc/42/ns/ipc".into()),
        uts: NsMode::Host,
    };
    c.rlimits = vec![
        Rlimit {
            kind: "RLIMIT_NOFILE".into(),
            soft: 100,
            hard: 200,
        },
        Rlimit {
            kind: "RLIMIT_NPROC".into(),
            soft: 50,
            hard: 50,
        },
    ];
    c.devices = vec![Device {
        path: "/dev/xnull".into(),
        kind: 'c',
        major: 1,
        minor: 3,
        file_mode: 0o666,
        uid: 0,
        gid: 0,
        access: "rw".into(),
    }];
    let s = build_ok(&c);
    let ns = ns_of(&s);
    assert!(
        !ns.iter().any(|(t, _)| *t == LinuxNamespaceType::Pid),
        "{ns:?}"
    );
    assert!(
        !ns.iter().any(|(t, _)| *t == LinuxNamespaceType::Uts),
        "{ns:?}"
    );
    assert!(ns.contains(&(LinuxNamespaceType::Ipc, Some("/proc/42/ns/ipc".into()))));
    // No UTS namespace of its own: no hostname to set.
    assert!(s.hostname().is_none());
    // The joined container's /dev/shm.
    let shm = shm_of(&s);
    assert_eq!(
        shm.source().as_deref(),
        Some(Path::new("/proc/42/root/dev/shm"))
    );
    let v = serde_json::to_value(&s).unwrap();
    let rl = &v["process"]["rlimits"];
    assert_eq!(rl.as_array().unwrap().len(), 2, "{rl}");
    assert!(rl
        .as_array()
        .unwrap()
        .iter()
        .any(|r| r["type"] == "RLIMIT_NOFILE" && r["soft"] == 100 && r["hard"] == 200));
    let dev = &v["linux"]["devices"][0];
    assert_eq!(
        (dev["path"].as_str(), dev["major"].as_i64()),
        (Some("/dev/xnull"), Some(1))
    );
    let rules = v["linux"]["resources"]["devices"].as_array().unwrap();
    assert!(rules
        .iter()
        .any(|r| r["allow"] == true && r["major"] == 1 && r["minor"] == 3 && r["access"] == "rw"));

    let mut c = base();
    c.shm_size = 1 << 20;
    let s = build_ok(&c);
    assert!(shm_of(&s)
        .options()
        .as_ref()
        .unwrap()
        .contains(&"size=1024k".to_string()));
    c.namespaces.ipc = NsMode::Host;
    assert_eq!(
        shm_of(&build_ok(&c)).source().as_deref(),
        Some(Path::new("/dev/shm"))
    );
}

#[test]
fn host_devices_lists_dev_null() {
    let devs = crate::spec::host::host_devices();
    let null = devs
        .iter()
        .find(|d| d.path == "/dev/null")
        .expect("/dev/null");
    assert_eq!((null.kind, null.major, null.minor), ('c', 1, 3));
    assert!(!devs.iter().any(|d| d.path.starts_with("/dev/pts/")));
}
