//! Subcommand table. Each role lives in its own module with its clap arguments and a
//! `run` function returning the process exit code.

pub mod analyze;
pub mod build;
pub mod builder;
pub mod client;
pub mod commit;
pub mod compose;
pub mod container_fs;
pub mod container_ops;
pub mod containers;
pub mod daemon;
pub mod dist;
pub mod events;
pub mod health;
pub mod host_flags;
pub mod images;
pub mod network;
pub mod registry;
pub mod shim;
pub mod system;
pub mod update;
pub mod volume;

pub use client::ClientOpts;

/// Every `berth` subcommand.
#[derive(clap::Subcommand, Debug)]
pub enum Command {
    /// Run the daemon (Docker Engine API on a unix socket).
    Daemon(daemon::DaemonArgs),
    /// Show the client and daemon versions.
    Version(system::VersionArgs),
    /// Show daemon-wide information.
    Info(system::InfoArgs),
    /// Create and run a new container from an image.
    Run(containers::RunArgs),
    /// Create a new container.
    Create(containers::CreateArgs),
    /// Start one or more stopped containers.
    Start(containers::StartArgs),
    /// Stop one or more running containers.
    Stop(containers::StopArgs),
    /// Restart one or more containers.
    Restart(containers::StopArgs),
    /// Kill one or more running containers.
    Kill(containers::KillArgs),
    /// Pause all processes within one or more containers.
    Pause(containers::PauseArgs),
    /// Unpause all processes within one or more containers.
    Unpause(containers::PauseArgs),
    /// Remove one or more containers.
    Rm(containers::RmArgs),
    /// List containers.
    Ps(containers::PsArgs),
    /// Fetch the logs of a container.
    Logs(containers::LogsArgs),
    /// Execute a command in a running container.
    Exec(containers::ExecArgs),
    /// Inspect changes to files or directories on a container's filesystem.
    Diff(containers::DiffArgs),
    /// Block until containers stop, then print their exit codes.
    Wait(containers::WaitArgs),
    /// Copy files/folders between a container and the local filesystem.
    Cp(container_fs::CpArgs),
    /// Export a container's filesystem as a tar archive.
    Export(container_fs::ExportArgs),
    /// Rename a container.
    Rename(container_ops::RenameArgs),
    /// Update configuration of one or more containers.
    Update(update::UpdateArgs),
    /// Display the running processes of a container.
    Top(container_ops::TopArgs),
    /// Display a live stream of container resource usage statistics.
    Stats(container_ops::StatsArgs),
    /// Attach local standard input, output, and error streams to a running container.
    Attach(container_ops::AttachArgs),
    /// Manage containers.
    #[command(subcommand)]
    Container(container_ops::ContainerCmd),
    /// Get real time events from the server.
    Events(events::EventsArgs),
    /// Build an image from a Dockerfile.
    Build(build::BuildArgs),
    /// Create a new image from a container's changes.
    Commit(commit::CommitArgs),
    /// List images.
    Images(images::ImagesArgs),
    /// Import a rootfs tarball as an image.
    Import(images::ImportArgs),
    /// Create a tag TARGET that refers to SOURCE.
    Tag(images::TagArgs),
    /// Remove one or more images.
    Rmi(images::RmiArgs),
    /// Return low-level information on objects.
    Inspect(images::InspectArgs),
    /// Show the history of an image.
    History(images::HistoryArgs),
    /// Save one or more images to a tar archive.
    Save(images::SaveArgs),
    /// Load images from a tar archive.
    Load(images::LoadArgs),
    /// Download an image from a registry.
    Pull(dist::PullArgs),
    /// Upload an image to a registry.
    Push(dist::PushArgs),
    /// Log in to a registry.
    Login(dist::LoginArgs),
    /// Log out from a registry.
    Logout(dist::LogoutArgs),
    /// Manage images.
    #[command(subcommand)]
    Image(ImageCmd),
    /// Manage berth itself.
    #[command(subcommand)]
    System(system::SystemCmd),
    /// Manage volumes.
    #[command(subcommand)]
    Volume(volume::VolumeCmd),
    /// Manage builds.
    #[command(subcommand)]
    Builder(builder::BuilderCmd),
    /// Manage networks.
    #[command(subcommand)]
    Network(network::NetworkCmd),
    /// List port mappings or a specific mapping for the container.
    Port(network::PortArgs),
    /// Run the OCI distribution registry server and its tools.
    Registry(registry::RegistryArgs),
    /// Analyze an image's layers: efficiency, wasted bytes, CI rules, TUI.
    Analyze(analyze::AnalyzeArgs),
    /// Define and run multi-container applications (compose files, v1 to the spec).
    Compose(compose::ComposeArgs),
    /// Internal: the per-container shim (started by the daemon).
    #[command(hide = true)]
    Shim(shim::ShimArgs),
}

/// `berth image …` (docker's management-command spelling).
#[derive(clap::Subcommand, Debug)]
pub enum ImageCmd {
    /// List images.
    #[command(alias = "list", name = "ls")]
    Ls(images::ImagesArgs),
    /// Remove images.
    #[command(alias = "remove", name = "rm")]
    Rm(images::RmiArgs),
    /// Display detailed information on images.
    Inspect(images::InspectArgs),
    /// Show the history of an image.
    History(images::HistoryArgs),
    /// Create a tag.
    Tag(images::TagArgs),
    /// Import a rootfs tarball.
    Import(images::ImportArgs),
    /// Save images to a tar archive.
    Save(images::SaveArgs),
    /// Load images from a tar archive.
    Load(images::LoadArgs),
    /// Remove unused images.
    Prune(images::PruneArgs),
}

/// Runs a subcommand and returns its exit code.
pub fn run(cmd: Command, opts: &ClientOpts) -> anyhow::Result<i32> {
    match cmd {
        Command::Daemon(a) => daemon::run(a),
        Command::Events(a) => events::run(opts, a),
        Command::Cp(a) => container_fs::cp(opts, a),
        Command::Export(a) => container_fs::export(opts, a),
        Command::Rename(a) => container_ops::rename(opts, a),
        Command::Update(a) => update::update(opts, a),
        Command::Top(a) => container_ops::top(opts, a),
        Command::Stats(a) => container_ops::stats(opts, a),
        Command::Attach(a) => container_ops::attach(opts, a),
        Command::Container(c) => container_ops::run_container_cmd(opts, c),
        Command::Version(a) => system::version(opts, a),
        Command::Info(a) => system::info(opts, a),
        Command::Run(a) => containers::run(opts, a),
        Command::Create(a) => containers::create_cmd(opts, a),
        Command::Start(a) => containers::start(opts, a),
        Command::Stop(a) => containers::stop(opts, a, false),
        Command::Restart(a) => containers::stop(opts, a, true),
        Command::Kill(a) => containers::kill(opts, a),
        Command::Pause(a) => containers::pause(opts, a, true),
        Command::Unpause(a) => containers::pause(opts, a, false),
        Command::Rm(a) => containers::rm(opts, a),
        Command::Ps(a) => containers::ps(opts, a),
        Command::Logs(a) => containers::logs(opts, a),
        Command::Exec(a) => containers::exec(opts, a),
        Command::Wait(a) => containers::wait(opts, a),
        Command::Diff(a) => containers::diff(opts, a),
        Command::Build(a) => build::run(opts, a),
        Command::Commit(a) => commit::run(opts, a),
        Command::Images(a) => images::images(opts, a),
        Command::Import(a) => images::import(opts, a),
        Command::Tag(a) => images::tag(opts, a),
        Command::Rmi(a) => images::rmi(opts, a),
        Command::Inspect(a) => images::inspect(opts, a),
        Command::History(a) => images::history(opts, a),
        Command::Save(a) => images::save(opts, a),
        Command::Load(a) => images::load(opts, a),
        Command::Pull(a) => dist::pull(opts, a),
        Command::Push(a) => dist::push(opts, a),
        Command::Login(a) => dist::login(opts, a),
        Command::Logout(a) => dist::logout(opts, a),
        Command::System(c) => system::system(opts, c),
        Command::Image(c) => match c {
            ImageCmd::Ls(a) => images::images(opts, a),
            ImageCmd::Rm(a) => images::rmi(opts, a),
            ImageCmd::Inspect(mut a) => {
                a.kind = Some("image".into());
                images::inspect(opts, a)
            }
            ImageCmd::History(a) => images::history(opts, a),
            ImageCmd::Tag(a) => images::tag(opts, a),
            ImageCmd::Import(a) => images::import(opts, a),
            ImageCmd::Save(a) => images::save(opts, a),
            ImageCmd::Load(a) => images::load(opts, a),
            ImageCmd::Prune(a) => images::prune(opts, a),
        },
        Command::Volume(c) => volume::run(opts, c),
        Command::Builder(c) => builder::run(opts, c),
        Command::Network(c) => network::run(opts, c),
        Command::Port(a) => network::port(opts, a),
        Command::Registry(a) => registry::run(a),
        Command::Analyze(a) => analyze::run_with_host(a, opts.host.as_deref()),
        Command::Compose(a) => compose::run(opts, a),
        Command::Shim(a) => shim::run(a),
    }
}
