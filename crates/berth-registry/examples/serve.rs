//! A standalone registry server for benchmarking the library without building the whole
//! `berth` binary: `serve [registry serve] CONFIG.yml` (same arguments as
//! `berth registry serve`). Stops on Ctrl-C or SIGTERM.

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "registry" && a != "serve")
        .collect();
    let cfg =
        berth_registry::Config::load(args.first().map(std::path::Path::new), std::env::vars())?;
    let rt = tokio::runtime::Runtime::new()?;
    rt.block_on(async {
        let running = berth_registry::start(&cfg).await?;
        let stop = running.shutdown_handle();
        tokio::spawn(async move {
            let mut term =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            let _ = stop.send(true);
            anyhow::Ok(())
        });
        running.wait().await;
        anyhow::Ok(())
    })
}
