//! `run-wasm`: runs a `wasi:cli/command` component on the same engine
//! configuration as `up`, so that timings taken inside it (the crypto
//! micro-benchmark) are what a request's instance sees. The current
//! directory is preopened read-write (criterion writes its results there).

use std::path::Path;

use anyhow::{anyhow, Context, Result};
use wasmtime::component::{Component, Linker, ResourceTable};
use wasmtime::Store;
use wasmtime_wasi::p2::bindings::Command;
use wasmtime_wasi::{FsPerms, WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};

struct CommandState {
    wasi: WasiCtx,
    table: ResourceTable,
}

impl WasiView for CommandState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

pub async fn run(wasm: &Path, args: &[String], env: &[String]) -> Result<()> {
    let engine = crate::server::engine()?;
    let component = Component::from_file(&engine, wasm)
        .map_err(anyhow::Error::from)
        .with_context(|| format!("cannot load {}", wasm.display()))?;
    let mut linker = Linker::new(&engine);
    wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
    let program = wasm.display().to_string();
    let mut builder = WasiCtxBuilder::new();
    builder
        .inherit_stdout()
        .inherit_stderr()
        .arg(&program)
        .args(args);
    for pair in env {
        let (key, value) = pair
            .split_once('=')
            .with_context(|| format!("--env {pair:?}: expected KEY=VALUE"))?;
        builder.env(key, value);
    }
    builder.preopened_dir(".", ".", FsPerms::ReadWrite)?;
    let wasi = builder.build();
    let mut store = Store::new(
        &engine,
        CommandState {
            wasi,
            table: ResourceTable::new(),
        },
    );
    let command = Command::instantiate_async(&mut store, &component, &linker)
        .await
        .map_err(anyhow::Error::from)
        .context("cannot instantiate the command")?;
    command
        .wasi_cli_run()
        .call_run(&mut store)
        .await
        .map_err(anyhow::Error::from)?
        .map_err(|()| anyhow!("{program} exited with an error"))
}
