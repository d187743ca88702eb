//! The per-container shim: `berth shim --id ID --bundle DIR --state-dir DIR`.
//!
//! The daemon spawns it; it detaches ([`daemonize`]), creates the container with libcontainer
//! ([`create`]), reports readiness on stdout, and then serves the control socket until the
//! container exits ([`server`]). It owns the container: it survives the daemon, and a
//! restarted daemon reconnects through `<state-dir>/control.sock`.
//!
//! Files in the state directory: `control.sock`, `shim.json` ([`crate::status::ShimRecord`]),
//! `exit.json` ([`crate::ExitRecord`], written atomically when the container has exited) and
//! `shim.log` (the shim's own tracing output).

pub mod create;
pub mod daemonize;
pub mod recover;
pub mod server;
pub mod spare;
pub mod sys;

use std::path::PathBuf;

use crate::protocol::Response;
use daemonize::{detach, Reporter, Role};
use server::Server;

/// Default state root of libcontainer under berth.
pub const DEFAULT_RUNTIME_ROOT: &str = "/run/berth/runtime";

/// Command-line options of `berth shim`.
#[derive(Clone, Debug)]
pub struct ShimOptions {
    /// Container ID.
    pub id: String,
    /// Bundle directory written by [`crate::bundle::write_bundle`].
    pub bundle: PathBuf,
    /// The shim's state directory (`/run/berth/containers/<id>`).
    pub state_dir: PathBuf,
    /// libcontainer's state root.
    pub runtime_root: PathBuf,
    /// Stay in the foreground (no fork/setsid); for debugging.
    pub foreground: bool,
    /// Start the container right after creating it.
    pub start: bool,
}

/// Runs the shim and returns the exit code of this process: in the original process, 0
/// once the container is created (or started), else Docker's code for the failure (125, 126,
/// 127); in the detached shim, 0 when it is done.
///
/// Must be called from a single-threaded process.
pub fn run(opts: ShimOptions) -> i32 {
    if let Err(e) = std::fs::create_dir_all(&opts.state_dir) {
        let r = Response::err(format!("state dir {}: {e}", opts.state_dir.display()), 125);
        Reporter::stdout().report(&r);
        return 125;
    }
    let reporter = if opts.foreground {
        Reporter::stdout()
    } else {
        match detach(&opts.state_dir) {
            Ok(Role::Parent(code)) => return code,
            Ok(Role::Shim(r)) => r,
            Err(e) => {
                Reporter::stdout().report(&Response::err(e.to_string(), 125));
                return 125;
            }
        }
    };
    serve(&opts, reporter)
}

/// Runs a spare shim (`berth shim --spare`): detaches at once, then waits on the socket it
/// was given as stdin for one [`spare::Assignment`] and becomes that container's shim,
/// reporting on the same socket. `on_assign` runs once the state directory exists (the
/// caller points its logging there). End of file before an assignment (the daemon stopped
/// or dropped its spare) ends the process quietly.
///
/// Must be called from a single-threaded process.
pub fn run_spare(on_assign: impl FnOnce(&std::path::Path)) -> i32 {
    let sock = match spare::detach_spare() {
        Ok(spare::SpareRole::Parent(code)) => return code,
        Ok(spare::SpareRole::Spare(sock)) => sock,
        Err(_) => return 125,
    };
    let (opts, mut reporter) = match spare::await_assignment(sock) {
        Ok(Some(v)) => v,
        Ok(None) => return 0,
        Err((e, mut reporter)) => {
            reporter.report(&Response::err(e, 125));
            return 125;
        }
    };
    on_assign(&opts.state_dir);
    if let Err(e) = daemonize::redirect_stdio(&opts.state_dir) {
        reporter.report(&Response::err(e.to_string(), 125));
        return 125;
    }
    serve(&opts, reporter)
}

/// The detached shim's work: create (and maybe start) the container, report, then serve the
/// control socket until the container has exited.
fn serve(opts: &ShimOptions, mut reporter: Reporter) -> i32 {
    let mut server = match Server::create(opts) {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(error = %e.message, "create failed");
            reporter.report(&Response::err(e.message, e.exit_code));
            return e.exit_code;
        }
    };
    if opts.start {
        if let Err(e) = server.start() {
            reporter.report(&Response::err(e, 125));
            // start() killed the created init; the normal exit path cleans up.
            return server.run();
        }
    }
    reporter.report(&Response {
        pid: Some(server.init_pid()),
        ..Response::ok()
    });
    server.run()
}
