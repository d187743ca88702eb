//! berth-build: the Dockerfile front end of berth's image builder.
//!
//! Everything of `docker build` that does not need a running container lives here, as
//! pure functions and small types the daemon's `POST /build` and the `berth build` CLI
//! call:
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

pub mod archive;
pub mod args;
pub mod checksum;
pub mod context;
pub mod copy;
pub mod duration;
pub mod error;
pub mod evolve;
pub mod fnmatch;
pub mod frontend;
pub mod ignore;
pub mod instructions;
pub mod layer;
pub mod parser;
pub mod paths;
pub mod shell_lex;
pub mod stages;
pub mod userdb;

pub use error::{Location, ParseError};
