//! berth-build: berth's image builder — the Dockerfile front end and the executor.
//!
//! [`exec::Builder::build`] runs a whole build against the store (context slots,
//! stage waves on parallel threads, the step cache in the store's database); RUN
//! steps go through an [`exec::RunBackend`] that the engine implements with its own
//! containers. Everything else of `docker build` lives here as pure functions and
//! small types:
//!
//! * [`parser::parse`] turns Dockerfile text into positioned [`parser::Node`]s
//!   (directives, continuations, heredocs, JSON vs shell form), and
//!   [`instructions::parse_dockerfile`] turns those into typed stages
//!   ([`instructions::Stage`], [`instructions::Instruction`]).
//! * [`shell_lex::Lex`] is Docker's variable-substitution lexer; [`args::BuildArgs`]
//!   holds ARG scoping and reports unused `--build-arg`s.
//! * [`evolve`] applies metadata instructions to an [`berth_oci::ImageConfig`] and
//!   writes the history entries the legacy builder writes.
//! * [`stages::StageGraph`] resolves `--target`, stage dependencies and a parallel
//!   build order.
//! * [`ignore`] is `.dockerignore` (moby/patternmatcher); [`context`] walks a
//!   directory into a context tar and reads context tars (plain/gzip/bzip2/xz).
//! * [`copy`] resolves COPY/ADD sources; [`archive`] detects and safely extracts
//!   archives for ADD; [`checksum`] computes tarsum-v1 source hashes and step cache
//!   keys; [`layer`] writes deterministic layer tars from overlay upper dirs and from
//!   resolved COPY file sets.

//!
//! # How the daemon drives it (one build)
//!
//! 1. [`context::open_context`] (or [`context::open_context_reusing`] into the
//!    previous build's directory of a build slot) on the request body (tar, maybe
//!    compressed) → context dir, the tar's path list and the Dockerfile text; [`frontend::BuildPlan::new`] with the `/build` options
//!    (`buildargs`, `target`, `labels`) → stages, stage graph, parallel waves.
//! 2. Per stage (stages of one wave may run in parallel): base from
//!    `plan.graph.stages[i].base` (scratch / earlier stage / image to pull), then
//!    [`frontend::BuildPlan::begin_stage`]; dispatch the base's ONBUILD triggers
//!    ([`evolve::parse_trigger`]) and then the stage's commands with
//!    [`evolve::StageState::dispatch`], printing `Step n/m : {code}`.
//! 3. Per [`evolve::Step`]: compute [`checksum::step_cache_key`] (parent image ID,
//!    `st.config`, `created_by`, source hash) and reuse a cached child on a hit
//!    (` ---> Using cache`). On a miss: `Commit` → [`evolve::child_config`] with no
//!    layer; `Workdir` → mkdir in the rootfs, layer only if created; `Run` → run
//!    `argv`/`env` with the config's WorkingDir/User in a container on the
//!    stage rootfs, then [`layer::diff_tar`] of the overlay upper dir (empty →
//!    `empty_layer`), failure text from [`evolve::RunStep::failure_message`];
//!    `Copy` → `--chown` via [`userdb::resolve_chown`] (the image's
//!    /etc/passwd, /etc/group), [`copy::plan_copy`] over the context dir or the
//!    `--from` stage's rootfs with [`copy::RootfsDest`] (pass
//!    `OpenedContext::tar_paths` for context sources so hashes match Docker's,
//!    `--chmod` via [`userdb::parse_chmod`]), downloads then
//!    [`copy::CopyPlan::resolve_download`], history from
//!    [`evolve::CopyStep::created_by`], layer from [`layer::copy_layer_tar`].
//! 4. After each stage [`frontend::BuildPlan::finish_stage`]; at the end print
//!    [`frontend::BuildPlan::unused_build_args_warning`]. Keep one
//!    [`checksum::HashCache`] across builds (in memory, pruned to what the build
//!    slots hold) to skip re-hashing unchanged context files.

pub mod archive;
pub mod args;
pub mod checksum;
pub mod context;
pub mod copy;
pub mod duration;
pub mod error;
pub mod evolve;
pub mod exec;
pub mod fnmatch;
pub mod frontend;
pub mod ignore;
pub mod instructions;
pub mod layer;
pub mod parser;
pub mod paths;
pub mod reuse;
pub mod shell_lex;
pub mod stages;
pub mod upload;
pub mod userdb;

pub use error::{Location, ParseError};
