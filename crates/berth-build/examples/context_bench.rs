//! Times berth-build's share of a `COPY . /data` build over a context directory:
//! client-side context tar (with .dockerignore), daemon-side open (re-extracting into
//! the previous build's context directory), COPY planning with
//! tarsum source hashing (through a persisted [`HashCache`]), and (cold only)
//! writing the layer tar to disk.
//! Usage: `context_bench CONTEXT_DIR WORK_DIR` — prints `cold_ms` and `cached_ms`.

use berth_build::checksum::HashCache;
use berth_build::context::{open_context_reusing, tar_context_dir};
use berth_build::copy::{plan_copy, CopyRequest, EmptyDest};
use berth_build::frontend::{BuildOptions, BuildPlan};
use berth_build::layer::copy_layer_tar;
use berth_build::reuse::Fingerprints;
use std::path::Path;
use std::time::Instant;

fn run(
    ctx: &Path,
    work: &Path,
    write_layer: bool,
    cache: &HashCache,
    fingerprints: &Fingerprints,
) -> Result<(), Box<dyn std::error::Error>> {
    std::fs::create_dir_all(work)?;
    // Client and daemon run concurrently, the context streaming between them, as
    // over the API socket.
    let t = Instant::now();
    let (reader, writer) = std::io::pipe()?;
    let ctx_owned = ctx.to_path_buf();
    let client = std::thread::spawn(move || {
        tar_context_dir(&ctx_owned, "Dockerfile", std::io::BufWriter::new(writer))
            .map(|_| ())
            .map_err(|e| e.to_string())
    });
    // The daemon keeps the previous build's context directory and re-extracts into it.
    let ctx_dir = work.parent().unwrap_or(work).join("context-slot");
    let opened = open_context_reusing(reader, None, &ctx_dir, fingerprints)?;
    client.join().map_err(|_| "client thread panicked")??;
    eprintln!("  send+open {:?}", t.elapsed());
    let t = Instant::now();
    let plan = BuildPlan::new("Dockerfile", &opened.dockerfile, &BuildOptions::default())?;
    let (mut st, _) = plan.begin_stage(plan.target, None);
    for c in &plan.dockerfile.stages[plan.target].commands {
        if let berth_build::evolve::Step::Copy(cp) = st.dispatch(c)? {
            let req = CopyRequest {
                keyword: cp.keyword,
                sources: &cp.sources,
                contents: &cp.contents,
                dest: &cp.dest,
                root: &opened.root,
                from_image: false,
                owner: None,
                chmod: None,
                allow_decompress: cp.allow_decompress,
                hash_cache: Some(cache),
                tar_paths: Some(&opened.tar_paths),
                excludes: &cp.excludes,
                checksum: None,
            };
            let p = plan_copy(&req, &EmptyDest)?;
            eprintln!("  plan {:?}", t.elapsed());
            let key = berth_build::checksum::step_cache_key(
                "sha256:scratch",
                &st.config,
                &cp.created_by(&p.src_hash),
                &p.src_hash,
            );
            if write_layer {
                let f = std::io::BufWriter::new(std::fs::File::create(work.join("layer.tar"))?);
                let (mut w, info) = copy_layer_tar(&p, f)?;
                std::io::Write::flush(&mut w)?;
                w.get_ref().sync_all()?;
                eprintln!(
                    "layer {} ({} bytes, {} entries), cache key {key}",
                    info.diff_id, info.size, info.entries
                );
            }
        }
    }
    Ok(())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    if args.len() != 3 {
        eprintln!("usage: context_bench CONTEXT_DIR WORK_DIR");
        std::process::exit(2);
    }
    let (ctx, work) = (Path::new(&args[1]), Path::new(&args[2]));
    // The daemon keeps its hash cache across builds (persisted next to the build
    // cache); the cold build starts with an empty one.
    // Clean-up of earlier runs happens outside the timed regions.
    let _ = std::fs::remove_dir_all(work);
    std::fs::create_dir_all(work)?;
    let cache_file = work.join("hashcache.json");
    // The daemon keeps the slot fingerprints in memory for its lifetime.
    let fingerprints = Fingerprints::default();
    let t = Instant::now();
    let cache = HashCache::load(&cache_file);
    run(ctx, &work.join("cold"), true, &cache, &fingerprints)?;
    cache.save(&cache_file)?;
    println!("cold_ms {}", t.elapsed().as_millis());
    let t = Instant::now();
    let cache = HashCache::load(&cache_file);
    run(ctx, &work.join("cached"), false, &cache, &fingerprints)?;
    println!("cached_ms {}", t.elapsed().as_millis());
    let _ = std::fs::remove_dir_all(work);
    Ok(())
}
