//! Root stays root no longer (issue #13). Live capture needs root (or CAP_NET_RAW) to open
//! packet sockets; once the first captures and the `--write` file are open, dnsleak gives up
//! what it does not need, as tcpdump's `-Z` does, and more:
//!
//! 1. [`prepare`], before any thread starts (threads inherit it): the capability bounding set
//!    shrinks to what capture needs (CAP_NET_RAW, CAP_NET_ADMIN), so nothing run later could
//!    gain more.
//! 2. [`lock_down`], after the first captures and files are open and before their threads
//!    start: switch to an unprivileged user (`--user NAME`; `nobody` by default when running
//!    as root), keeping CAP_NET_RAW and CAP_NET_ADMIN across the switch (keep-caps), because
//!    interfaces that appear later are opened then; drop every other capability; set
//!    `no_new_privs`; install a seccomp filter allowing the system calls capture and output
//!    make (found with strace over monitor, check, --write, the dashboard and an interface
//!    appearing later). A call outside the list fails with ENOSYS, a code every library takes
//!    as "not supported" (glibc then uses an older call), never a silent kill; the error
//!    names the operation, and `--no-seccomp` runs without the filter to confirm.
//!
//! The user switch goes through glibc's setuid, which applies it to every thread (the
//! dashboard's runs already); the filter is installed on every thread at once (TSYNC).

use std::collections::BTreeMap;

use anyhow::{bail, Context};
use caps::{CapSet, Capability};
// libc's numbers and flags only (system calls, socket families), through nix's re-export:
// the calls themselves go through nix, caps and seccompiler.
use nix::libc;
use nix::unistd::{Uid, User};
use seccompiler::{BpfProgram, SeccompAction, SeccompCondition, SeccompFilter, SeccompRule, TargetArch};

use super::privilege::{self, capture_caps};

/// The user dnsleak becomes when it runs as root and no `--user` is given.
pub const DEFAULT_USER: &str = "nobody";

/// How far to lock down.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Options {
    /// `--user NAME`: the user to become; `root` stays root. None: `nobody` when root.
    pub user: Option<String>,
    /// Install the system-call filter (`--no-seccomp` turns it off).
    pub seccomp: bool,
}

/// Said after an error whose cause is ENOSYS, the code the filter answers refused calls with.
pub const REFUSED_HINT: &str =
    " (\"Function not implemented\" is what dnsleak's system-call filter answers a call \
it does not allow: run again with --no-seccomp to confirm, and report it)";

/// Whether an error may come from a call the filter refused (its cause is ENOSYS).
pub fn maybe_refused(err: &anyhow::Error) -> bool {
    err.chain()
        .any(|c| c.downcast_ref::<std::io::Error>().is_some_and(|e| e.raw_os_error() == Some(libc::ENOSYS)))
}

/// What [`lock_down`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LockedDown {
    /// The user now running dnsleak (name, uid).
    pub user: (String, u32),
    pub seccomp: bool,
}

/// Before any thread starts: takes from this thread's bounding set (inherited by every thread
/// started later) every capability capture does not need. Needs CAP_SETPCAP; without it (an
/// unprivileged process with file capabilities) there is nothing to take and nothing is done.
pub fn prepare() -> anyhow::Result<()> {
    if !caps::has_cap(None, CapSet::Effective, Capability::CAP_SETPCAP).unwrap_or(false) {
        return Ok(());
    }
    let keep = capture_caps();
    for cap in caps::runtime::thread_all_supported() {
        if !keep.contains(&cap) && caps::has_cap(None, CapSet::Bounding, cap).unwrap_or(true) {
            caps::drop(None, CapSet::Bounding, cap)
                .with_context(|| format!("cannot remove {cap} from the capability bounding set"))?;
        }
    }
    Ok(())
}

/// After the first captures and `--write` files are open: becomes the unprivileged user,
/// keeps only CAP_NET_RAW and CAP_NET_ADMIN (raised again after the switch), sets
/// `no_new_privs` and installs the system-call filter. Threads started afterwards inherit all
/// of it; threads already running get the user (glibc), `no_new_privs` and the filter (TSYNC).
pub fn lock_down(opts: &Options) -> anyhow::Result<LockedDown> {
    let target = target_user(opts)?;
    prepare()?;
    if let Some(user) = &target {
        switch_user(user)?;
    }
    privilege::mark_switched();
    privilege::keep_only_capture_caps().context("keeping only CAP_NET_RAW and CAP_NET_ADMIN")?;
    nix::sys::prctl::set_no_new_privs().context("setting no_new_privs (prctl PR_SET_NO_NEW_PRIVS)")?;
    if opts.seccomp {
        install_filter()?;
    }
    let uid = nix::unistd::geteuid();
    let name = User::from_uid(uid).ok().flatten().map_or_else(|| uid.to_string(), |u| u.name);
    Ok(LockedDown { user: (name, uid.as_raw()), seccomp: opts.seccomp })
}

/// Before threads start, after process attribution is loaded: keeps what capture needs and
/// what [`lock_down`]'s switch to `--user` needs (`privilege::switch_caps`), in this thread
/// and so in every thread it starts; [`lock_down`] gives up the switch's after it.
pub fn keep_until_lock_down() -> anyhow::Result<()> {
    privilege::keep_only(&capture_caps().union(&privilege::switch_caps()).copied().collect())
}

/// The user and group [`lock_down`] will switch to, or None when it stays who it is: for a
/// process started before the switch that must run as that user.
pub fn target_ids(opts: &Options) -> anyhow::Result<Option<(u32, u32)>> {
    Ok(target_user(opts)?.map(|u| (u.uid.as_raw(), u.gid.as_raw())))
}

/// The user to become, or None to stay who we are.
fn target_user(opts: &Options) -> anyhow::Result<Option<User>> {
    let root = nix::unistd::geteuid().is_root();
    let name = match (&opts.user, root) {
        (Some(name), _) if name == "root" || name == "0" => return Ok(None),
        (Some(name), true) => name.as_str(),
        (None, true) => DEFAULT_USER,
        (None, false) => return Ok(None),
        (Some(name), false) => {
            let me = User::from_uid(nix::unistd::geteuid()).ok().flatten();
            if me.as_ref().is_some_and(|u| &u.name == name || u.uid.to_string() == *name) {
                return Ok(None);
            }
            bail!("--user {name}: switching to another user needs root, and dnsleak does not run as root; leave out --user")
        }
    };
    let by_name = User::from_name(name).with_context(|| format!("looking up user {name} for --user"))?;
    let by_id = || name.parse::<u32>().ok().and_then(|id| User::from_uid(Uid::from_raw(id)).ok().flatten());
    match by_name.or_else(by_id) {
        Some(u) if u.uid.is_root() => Ok(None),
        Some(u) => Ok(Some(u)),
        None => bail!(
            "--user {name}: no such user on this system; give an existing unprivileged user (--user NAME), or --user root to stay root"
        ),
    }
}

/// Becomes `user` (its group, no supplementary groups), keeping the permitted capabilities.
fn switch_user(user: &User) -> anyhow::Result<()> {
    let fail = |what: &str| {
        format!("cannot switch to user {} ({what}); run as root, or give --user root to stay root", user.name)
    };
    caps::securebits::set_keepcaps(true).with_context(|| fail("keeping capabilities across the switch"))?;
    nix::unistd::setgroups(&[user.gid]).with_context(|| fail("setgroups"))?;
    nix::unistd::setgid(user.gid).with_context(|| fail("setgid"))?;
    nix::unistd::setuid(user.uid).with_context(|| fail("setuid"))?;
    caps::securebits::set_keepcaps(false).with_context(|| fail("resetting keep-caps"))?;
    if nix::unistd::getegid() != user.gid || nix::unistd::geteuid() != user.uid {
        bail!("{}: the user or group did not change", fail("setuid"));
    }
    Ok(())
}

/// Memory, threads, time, signals.
const THREADS_MEMORY_TIME: &[i64] = &[
    libc::SYS_brk,
    libc::SYS_mmap,
    libc::SYS_munmap,
    libc::SYS_mremap,
    libc::SYS_mprotect,
    libc::SYS_madvise,
    libc::SYS_set_robust_list,
    libc::SYS_rseq,
    libc::SYS_futex,
    libc::SYS_sched_yield,
    libc::SYS_sched_getaffinity,
    libc::SYS_exit,
    libc::SYS_exit_group,
    libc::SYS_gettid,
    libc::SYS_getpid,
    libc::SYS_tgkill,
    libc::SYS_prlimit64,
    libc::SYS_getrandom,
    libc::SYS_clock_gettime,
    libc::SYS_clock_nanosleep,
    libc::SYS_nanosleep,
    libc::SYS_rt_sigaction,
    libc::SYS_rt_sigprocmask,
    libc::SYS_rt_sigreturn,
    libc::SYS_sigaltstack,
    libc::SYS_restart_syscall,
    libc::SYS_capget,
    // The process scan thread raises its kept capabilities again after the user switch (a
    // capset can only lower them or raise what is permitted).
    libc::SYS_capset,
    libc::SYS_getuid,
    libc::SYS_geteuid,
    libc::SYS_getgid,
    libc::SYS_getegid,
    // --on-leak: the launcher process (started before the drop) is waited for when the
    // monitor stops. It reaps a child of this process only; starting one stays refused.
    libc::SYS_wait4,
];

/// Files already open and files read (interfaces in /sys, resolver configuration).
const FILES: &[i64] = &[
    libc::SYS_read,
    libc::SYS_readv,
    libc::SYS_pread64,
    libc::SYS_write,
    libc::SYS_writev,
    libc::SYS_close,
    libc::SYS_newfstatat,
    libc::SYS_fstat,
    libc::SYS_statx,
    libc::SYS_lseek,
    libc::SYS_fcntl,
    libc::SYS_ioctl,
    libc::SYS_getdents64,
    libc::SYS_readlinkat,
    libc::SYS_faccessat2,
    libc::SYS_uname,
    libc::SYS_dup,
    libc::SYS_dup3,
    libc::SYS_pipe2,
    libc::SYS_eventfd2,
    libc::SYS_fsync,
    libc::SYS_fdatasync,
];

/// Waiting.
const WAITING: &[i64] = &[
    libc::SYS_ppoll,
    libc::SYS_pselect6,
    libc::SYS_epoll_create1,
    libc::SYS_epoll_ctl,
    libc::SYS_epoll_pwait,
];

/// Sockets: packet capture, netlink (interfaces), lookups (check).
const SOCKETS: &[i64] = &[
    libc::SYS_bind,
    libc::SYS_connect,
    libc::SYS_getsockname,
    libc::SYS_getpeername,
    libc::SYS_setsockopt,
    libc::SYS_getsockopt,
    libc::SYS_sendto,
    libc::SYS_recvfrom,
    libc::SYS_sendmsg,
    libc::SYS_recvmsg,
    libc::SYS_sendmmsg,
    libc::SYS_recvmmsg,
    libc::SYS_shutdown,
    // --metrics: the HTTP server's listener thread accepts connections (on the socket bound
    // before the drop).
    libc::SYS_accept4,
    libc::SYS_accept,
];

/// The older calls of x86-64 that glibc still makes for some functions.
#[cfg(target_arch = "x86_64")]
const X86_64: &[i64] = &[
    libc::SYS_poll,
    libc::SYS_select,
    libc::SYS_epoll_wait,
    libc::SYS_stat,
    libc::SYS_lstat,
    libc::SYS_access,
    libc::SYS_readlink,
    libc::SYS_dup2,
    libc::SYS_pipe,
    libc::SYS_arch_prctl,
    libc::SYS_time,
    libc::SYS_gettimeofday,
];
#[cfg(not(target_arch = "x86_64"))]
const X86_64: &[i64] = &[];

/// The system calls dnsleak makes once locked down, found with strace over `monitor` (lines,
/// NDJSON, the dashboard, `--write`, an interface appearing later) and `check`. Some more are
/// allowed with conditions only (`rules`).
fn allowed() -> Vec<i64> {
    [THREADS_MEMORY_TIME, FILES, WAITING, SOCKETS, X86_64].concat()
}

/// The calls allowed only with some arguments:
/// - `socket`: the families capture, interface listing and lookups use;
/// - `clone`: threads only (`clone3`, whose flags a filter cannot read, is refused: glibc then
///   starts threads with `clone`), so no process can be started;
/// - `openat`: for reading only (the `--write` file was opened before);
/// - `prctl`: thread names.
fn rules() -> anyhow::Result<BTreeMap<i64, Vec<SeccompRule>>> {
    use seccompiler::SeccompCmpArgLen::{Dword, Qword};
    use seccompiler::SeccompCmpOp::{Eq, MaskedEq};
    let rule = |arg: u8, len, op, value: u64| -> anyhow::Result<SeccompRule> {
        Ok(SeccompRule::new(vec![SeccompCondition::new(arg, len, op, value)?])?)
    };
    let mut rules: BTreeMap<i64, Vec<SeccompRule>> =
        allowed().into_iter().map(|nr| (nr, Vec::new())).collect();
    let families = [libc::AF_UNIX, libc::AF_INET, libc::AF_INET6, libc::AF_NETLINK, libc::AF_PACKET];
    rules.insert(
        libc::SYS_socket,
        families.iter().map(|&f| rule(0, Dword, Eq, f as u64)).collect::<anyhow::Result<_>>()?,
    );
    let thread = libc::CLONE_THREAD as u64;
    rules.insert(libc::SYS_clone, vec![rule(0, Qword, MaskedEq(thread), thread)?]);
    let writing = (libc::O_WRONLY | libc::O_RDWR | libc::O_CREAT | libc::O_TRUNC | libc::O_APPEND) as u64;
    rules.insert(libc::SYS_openat, vec![rule(2, Dword, MaskedEq(writing), 0)?]);
    let names = [libc::PR_SET_NAME, libc::PR_GET_NAME];
    rules.insert(
        libc::SYS_prctl,
        names.iter().map(|&o| rule(0, Dword, Eq, o as u64)).collect::<anyhow::Result<_>>()?,
    );
    Ok(rules)
}

/// The compiled filter: what `rules` allows, ENOSYS for the rest.
fn program() -> anyhow::Result<BpfProgram> {
    let arch: TargetArch = std::env::consts::ARCH.try_into().map_err(|_| {
        anyhow::anyhow!(
            "no system-call filter for this architecture ({}): run with --no-seccomp",
            std::env::consts::ARCH
        )
    })?;
    let filter =
        SeccompFilter::new(rules()?, SeccompAction::Errno(libc::ENOSYS as u32), SeccompAction::Allow, arch)
            .context("building the system-call filter")?;
    filter.try_into().context("compiling the system-call filter")
}

/// Installs the filter on every thread.
fn install_filter() -> anyhow::Result<()> {
    let program = program()?;
    seccompiler::apply_filter_all_threads(&program)
        .context("installing the system-call filter (seccomp); run with --no-seccomp to go without it")?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_filter_compiles_for_this_machine() {
        assert!(program().unwrap().len() > allowed().len());
    }

    #[test]
    fn execve_and_friends_are_not_allowed() {
        let r = rules().unwrap();
        let refused = [
            libc::SYS_execve,
            libc::SYS_execveat,
            libc::SYS_clone3,
            libc::SYS_ptrace,
            libc::SYS_setuid,
            libc::SYS_mount,
            libc::SYS_bpf,
            libc::SYS_unlinkat,
            libc::SYS_renameat2,
        ];
        for nr in refused {
            assert!(!r.contains_key(&nr), "{nr} is allowed");
        }
    }

    /// The filter in a process of its own (this test binary run again): threads start, files
    /// are read; files are not created, no process is started, and refused calls say ENOSYS.
    #[test]
    fn the_filter_refuses_what_is_not_needed_and_keeps_threads() {
        const CHILD: &str = "DNSLEAK_SECCOMP_CHILD";
        if let Some(dir) = std::env::var_os(CHILD) {
            install_filter().unwrap();
            assert_eq!(std::thread::spawn(|| 7).join().unwrap(), 7, "a thread starts");
            let status = std::fs::read_to_string("/proc/self/status").unwrap();
            assert!(status.contains("Seccomp:\t2") && status.contains("NoNewPrivs:\t1"), "{status}");
            let created = std::fs::File::create(std::path::Path::new(&dir).join("created"));
            assert_eq!(created.unwrap_err().raw_os_error(), Some(libc::ENOSYS), "a file is not created");
            let spawned = std::process::Command::new("/bin/true").status();
            assert!(spawned.is_err(), "no process is started: {spawned:?}");
            return;
        }
        let dir = std::env::temp_dir().join(format!("dnsleak-seccomp-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let out = std::process::Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "system::sandbox::tests::the_filter_refuses_what_is_not_needed_and_keeps_threads",
            ])
            .args(["--nocapture", "--test-threads=1"])
            .env(CHILD, &dir)
            .output()
            .unwrap();
        let created = dir.join("created").exists();
        let _ = std::fs::remove_dir_all(&dir);
        let text =
            format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        assert!(out.status.success(), "{text}");
        assert!(text.contains("1 passed"), "the child ran the test: {text}");
        assert!(!created, "the filtered process created a file");
    }

    #[test]
    fn an_enosys_error_gets_the_hint() {
        let e = anyhow::Error::new(std::io::Error::from_raw_os_error(libc::ENOSYS)).context("writing output");
        assert!(maybe_refused(&e));
        let other =
            anyhow::Error::new(std::io::Error::from_raw_os_error(libc::EACCES)).context("writing output");
        assert!(!maybe_refused(&other));
    }

    #[test]
    fn staying_who_we_are_needs_no_switch() {
        let root = Options { user: Some("root".into()), seccomp: false };
        assert_eq!(target_user(&root).unwrap(), None);
        if !nix::unistd::geteuid().is_root() {
            assert_eq!(target_user(&Options::default()).unwrap(), None);
        }
    }

    #[test]
    fn an_unknown_user_is_named_in_the_error() {
        let o = Options { user: Some("no-such-user-dnsleak".into()), seccomp: false };
        let e = target_user(&o).unwrap_err().to_string();
        assert!(e.contains("no-such-user-dnsleak"), "{e}");
    }
}
