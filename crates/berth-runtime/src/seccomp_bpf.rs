//! Docker's seccomp profile compiled once to a classic BPF program and loaded by the
//! container's own init right before `execve`.
//!
//! Why not leave it to libcontainer: libcontainer 0.7 compiles the OCI `linux.seccomp`
//! section with libseccomp inside every container's init process, which costs ~8 ms of
//! CPU per `run` (measured with `perf record` on this 2-core host; the whole `run --rm`
//! was ~50 ms). The profile only depends on the capability set, so the daemon compiles
//! each distinct profile once ([`compile_cached`], still with libseccomp: the translation
//! below mirrors libcontainer's `initialize_seccomp`), writes the program into the bundle
//! ([`BPF_FILE`]) and the shim's executor installs it with `seccomp(2)` ([`load`]).
//!
//! Installing a filter after capabilities are dropped needs `no_new_privs`, so this path
//! is only taken when the container has it (berth's default); a container started with
//! `--security-opt no-new-privileges=false` keeps the profile in `config.json` and
//! libcontainer loads it before dropping capabilities, as runc does.

use std::collections::{HashMap, HashSet};
use std::io::{Read, Seek, SeekFrom};
use std::sync::{Arc, Mutex, OnceLock};

use libcontainer::oci_spec::runtime::{
    Arch, LinuxSeccomp, LinuxSeccompAction, LinuxSeccompFilterFlag, LinuxSeccompOperator,
};
use libseccomp::{
    ScmpAction, ScmpArch, ScmpArgCompare, ScmpCompareOp, ScmpFilterContext, ScmpSyscall,
};

/// File name of the compiled program inside a bundle.
pub const BPF_FILE: &str = "seccomp.bpf";

/// A profile that cannot be compiled or loaded.
#[derive(Debug, thiserror::Error)]
pub enum BpfError {
    /// libseccomp refused a part of the profile.
    #[error("seccomp profile: {what}: {source}")]
    Compile {
        /// The part of the profile.
        what: String,
        /// libseccomp's error.
        source: libseccomp::error::SeccompError,
    },
    /// The profile uses something this path does not handle (notify actions).
    #[error("seccomp profile: {0}")]
    Unsupported(String),
    /// Exporting or loading the program failed.
    #[error("seccomp program: {what}: {source}")]
    Io {
        /// What was being done.
        what: &'static str,
        /// The OS error.
        source: std::io::Error,
    },
}

fn compile_err(
    what: impl Into<String>,
) -> impl FnOnce(libseccomp::error::SeccompError) -> BpfError {
    let what = what.into();
    move |source| BpfError::Compile { what, source }
}

fn arch(a: Arch) -> ScmpArch {
    match a {
        Arch::ScmpArchNative => ScmpArch::Native,
        Arch::ScmpArchX86 => ScmpArch::X86,
        Arch::ScmpArchX86_64 => ScmpArch::X8664,
        Arch::ScmpArchX32 => ScmpArch::X32,
        Arch::ScmpArchArm => ScmpArch::Arm,
        Arch::ScmpArchAarch64 => ScmpArch::Aarch64,
        Arch::ScmpArchMips => ScmpArch::Mips,
        Arch::ScmpArchMips64 => ScmpArch::Mips64,
        Arch::ScmpArchMips64n32 => ScmpArch::Mips64N32,
        Arch::ScmpArchMipsel => ScmpArch::Mipsel,
        Arch::ScmpArchMipsel64 => ScmpArch::Mipsel64,
        Arch::ScmpArchMipsel64n32 => ScmpArch::Mipsel64N32,
        Arch::ScmpArchPpc => ScmpArch::Ppc,
        Arch::ScmpArchPpc64 => ScmpArch::Ppc64,
        Arch::ScmpArchPpc64le => ScmpArch::Ppc64Le,
        Arch::ScmpArchS390 => ScmpArch::S390,
        Arch::ScmpArchS390x => ScmpArch::S390X,
        Arch::ScmpArchRiscv64 => ScmpArch::Riscv64,
        Arch::ScmpArchParisc => ScmpArch::Parisc,
        Arch::ScmpArchParisc64 => ScmpArch::Parisc64,
        Arch::ScmpArchLoongarch64 => ScmpArch::Loongarch64,
        Arch::ScmpArchM68k => ScmpArch::M68k,
        Arch::ScmpArchSh => ScmpArch::Sh,
        Arch::ScmpArchSheb => ScmpArch::Sheb,
    }
}

fn action(a: LinuxSeccompAction, errno: Option<u32>) -> Result<ScmpAction, BpfError> {
    Ok(match a {
        LinuxSeccompAction::ScmpActKill => ScmpAction::KillThread,
        LinuxSeccompAction::ScmpActKillThread => ScmpAction::KillThread,
        LinuxSeccompAction::ScmpActKillProcess => ScmpAction::KillProcess,
        LinuxSeccompAction::ScmpActTrap => ScmpAction::Trap,
        LinuxSeccompAction::ScmpActErrno => {
            ScmpAction::Errno(errno.unwrap_or(libc::EPERM as u32) as i32)
        }
        LinuxSeccompAction::ScmpActTrace => {
            ScmpAction::Trace(errno.unwrap_or(libc::EPERM as u32) as u16)
        }
        LinuxSeccompAction::ScmpActAllow => ScmpAction::Allow,
        LinuxSeccompAction::ScmpActLog => ScmpAction::Log,
        LinuxSeccompAction::ScmpActNotify => {
            return Err(BpfError::Unsupported("SCMP_ACT_NOTIFY".into()))
        }
    })
}

fn op(o: LinuxSeccompOperator, datum_b: Option<u64>) -> ScmpCompareOp {
    match o {
        LinuxSeccompOperator::ScmpCmpNe => ScmpCompareOp::NotEqual,
        LinuxSeccompOperator::ScmpCmpLt => ScmpCompareOp::Less,
        LinuxSeccompOperator::ScmpCmpLe => ScmpCompareOp::LessOrEqual,
        LinuxSeccompOperator::ScmpCmpEq => ScmpCompareOp::Equal,
        LinuxSeccompOperator::ScmpCmpGe => ScmpCompareOp::GreaterEqual,
        LinuxSeccompOperator::ScmpCmpGt => ScmpCompareOp::Greater,
        LinuxSeccompOperator::ScmpCmpMaskedEq => ScmpCompareOp::MaskedEqual(datum_b.unwrap_or(0)),
    }
}

/// True when the profile needs libcontainer's own path (a user-notify action, whose
/// listener fd libcontainer hands to the runtime).
pub fn needs_libcontainer(seccomp: &LinuxSeccomp) -> bool {
    seccomp.default_action() == LinuxSeccompAction::ScmpActNotify
        || seccomp
            .syscalls()
            .iter()
            .flatten()
            .any(|r| r.action() == LinuxSeccompAction::ScmpActNotify)
}

/// Compiles an OCI seccomp section to a BPF program (`struct sock_filter` array).
pub fn compile(seccomp: &LinuxSeccomp) -> Result<Vec<u8>, BpfError> {
    let default = action(seccomp.default_action(), seccomp.default_errno_ret())?;
    let mut ctx = ScmpFilterContext::new(default).map_err(compile_err("default action"))?;
    for flag in seccomp.flags().iter().flatten() {
        match flag {
            LinuxSeccompFilterFlag::SeccompFilterFlagLog => ctx.set_ctl_log(true),
            LinuxSeccompFilterFlag::SeccompFilterFlagTsync => ctx.set_ctl_tsync(true),
            LinuxSeccompFilterFlag::SeccompFilterFlagSpecAllow => ctx.set_ctl_ssb(true),
            LinuxSeccompFilterFlag::SeccompFilterFlagWaitKillableRecv => ctx.set_ctl_waitkill(true),
        }
        .map_err(compile_err(format!("flag {flag:?}")))?;
    }
    for &a in seccomp.architectures().iter().flatten() {
        ctx.add_arch(arch(a))
            .map_err(compile_err(format!("architecture {a:?}")))?;
    }
    for rule in seccomp.syscalls().iter().flatten() {
        let act = action(rule.action(), rule.errno_ret())?;
        if act == default {
            continue;
        }
        for name in rule.names() {
            // A name this libseccomp does not know is a syscall this kernel lacks.
            let Ok(sc) = ScmpSyscall::from_name(name) else {
                continue;
            };
            let cmps: Vec<ScmpArgCompare> = rule
                .args()
                .iter()
                .flatten()
                .map(|a| {
                    ScmpArgCompare::new(a.index() as u32, op(a.op(), a.value_two()), a.value())
                })
                .collect();
            let mut seen = HashSet::new();
            let duplicate_index = rule
                .args()
                .iter()
                .flatten()
                .any(|a| !seen.insert(a.index()));
            let what = || format!("syscall {name}");
            if cmps.is_empty() {
                ctx.add_rule(act, sc).map_err(compile_err(what()))?;
            } else if duplicate_index {
                // Like runc: one rule per comparison when an argument is compared twice.
                for c in &cmps {
                    ctx.add_rule_conditional(act, sc, std::slice::from_ref(c))
                        .map_err(compile_err(what()))?;
                }
            } else {
                ctx.add_rule_conditional(act, sc, &cmps)
                    .map_err(compile_err(what()))?;
            }
        }
    }
    let mut f = tempfile::tempfile().map_err(|source| BpfError::Io {
        what: "temp file",
        source,
    })?;
    ctx.export_bpf(&f).map_err(compile_err("export"))?;
    let mut prog = Vec::new();
    f.seek(SeekFrom::Start(0))
        .and_then(|_| f.read_to_end(&mut prog))
        .map_err(|source| BpfError::Io {
            what: "read exported program",
            source,
        })?;
    if prog.is_empty() || !prog.len().is_multiple_of(8) {
        return Err(BpfError::Io {
            what: "exported program",
            source: std::io::Error::other(format!("bad length {}", prog.len())),
        });
    }
    Ok(prog)
}

/// [`compile`], memoised per profile for the life of the process (the daemon sees a
/// handful of distinct profiles: one per capability set).
pub fn compile_cached(seccomp: &LinuxSeccomp) -> Result<Arc<Vec<u8>>, BpfError> {
    static CACHE: OnceLock<Mutex<HashMap<String, Arc<Vec<u8>>>>> = OnceLock::new();
    let key = serde_json::to_string(seccomp).unwrap_or_default();
    let cache = CACHE.get_or_init(Default::default);
    if let Some(p) = cache.lock().ok().and_then(|c| c.get(&key).cloned()) {
        return Ok(p);
    }
    let prog = Arc::new(compile(seccomp)?);
    if let Ok(mut c) = cache.lock() {
        c.insert(key, prog.clone());
    }
    Ok(prog)
}

/// Installs a program made by [`compile`] on the calling thread. The caller must have
/// `no_new_privs` set (or `CAP_SYS_ADMIN`).
pub fn load(prog: &[u8]) -> Result<(), BpfError> {
    if prog.is_empty() || !prog.len().is_multiple_of(8) || prog.len() / 8 > u16::MAX as usize {
        return Err(BpfError::Io {
            what: "program",
            source: std::io::Error::other(format!("bad length {}", prog.len())),
        });
    }
    // Copy into properly aligned `sock_filter`s (the byte buffer has no alignment guarantee).
    let filters: Vec<libc::sock_filter> = prog
        .chunks_exact(8)
        .map(|c| libc::sock_filter {
            code: u16::from_ne_bytes([c[0], c[1]]),
            jt: c[2],
            jf: c[3],
            k: u32::from_ne_bytes([c[4], c[5], c[6], c[7]]),
        })
        .collect();
    let fprog = libc::sock_fprog {
        len: filters.len() as u16,
        filter: filters.as_ptr() as *mut libc::sock_filter,
    };
    // SAFETY: `fprog` points at `filters`, which outlives the call; the kernel copies it.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            libc::SECCOMP_SET_MODE_FILTER,
            0,
            &fprog as *const libc::sock_fprog,
        )
    };
    if rc != 0 {
        return Err(BpfError::Io {
            what: "seccomp(SECCOMP_SET_MODE_FILTER)",
            source: std::io::Error::last_os_error(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn docker_profile() -> LinuxSeccomp {
        let caps: Vec<String> = crate::spec::defaults::DEFAULT_CAPS
            .iter()
            .map(|s| s.to_string())
            .collect();
        serde_json::from_value(crate::spec::seccomp::docker_default(&caps)).expect("profile parses")
    }

    #[test]
    fn compiles_docker_profile_once() {
        let p = docker_profile();
        let a = compile_cached(&p).expect("compiles");
        assert!(a.len() > 100 * 8, "program of {} bytes", a.len());
        assert_eq!(a.len() % 8, 0);
        let b = compile_cached(&p).expect("compiles");
        assert!(
            Arc::ptr_eq(&a, &b),
            "second compile must come from the cache"
        );
    }

    #[test]
    fn loaded_program_filters_in_a_child() {
        // Load the profile in a forked child (a filter cannot be removed) and check that a
        // syscall the profile denies (`unshare`, no CAP_SYS_ADMIN in the default set) fails
        // with EPERM while an allowed one works.
        let prog = compile(&docker_profile()).expect("compiles");
        // SAFETY: the child only makes raw syscalls and exits.
        match unsafe { nix::unistd::fork() }.expect("fork") {
            nix::unistd::ForkResult::Child => {
                let code = unsafe {
                    if libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 {
                        libc::_exit(10);
                    }
                    if load(&prog).is_err() {
                        libc::_exit(11);
                    }
                    let denied = libc::syscall(libc::SYS_keyctl, 0, 0, 0, 0, 0);
                    let errno = *libc::__errno_location();
                    if libc::getpid() <= 0 {
                        libc::_exit(12);
                    }
                    if denied == -1 && errno == libc::EPERM {
                        0
                    } else {
                        13
                    }
                };
                unsafe { libc::_exit(code) };
            }
            nix::unistd::ForkResult::Parent { child } => {
                let st = nix::sys::wait::waitpid(child, None).expect("wait");
                assert_eq!(st, nix::sys::wait::WaitStatus::Exited(child, 0));
            }
        }
    }
}
