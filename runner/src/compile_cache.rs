//! Caches the compiled component next to the manifest
//! (`.spin/runner-cache/<key>.cwasm`), keyed by the Wasm bytes and the
//! engine's compatibility hash, so a restart skips the Cranelift compile.

use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use sha2::{Digest, Sha256};
use wasmtime::component::Component;
use wasmtime::Engine;

/// Feeds `Hash` output into SHA-256 (stable, unlike `DefaultHasher`'s keys).
struct Sha256Hasher(Sha256);

impl Hasher for Sha256Hasher {
    fn finish(&self) -> u64 {
        0
    }

    fn write(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }
}

pub fn cache_key(engine: &Engine, wasm: &[u8]) -> String {
    let mut hasher = Sha256Hasher(Sha256::new());
    hasher.write(&Sha256::digest(wasm));
    engine.precompile_compatibility_hash().hash(&mut hasher);
    hex::encode(hasher.0.finalize())
}

/// Loads the component at `wasm_path`, from the cache in `cache_dir` when it
/// has it. Cache problems are warnings, never fatal.
pub fn load_component(engine: &Engine, wasm_path: &Path, cache_dir: &Path) -> Result<Component> {
    let wasm = std::fs::read(wasm_path)
        .with_context(|| format!("cannot read component {}", wasm_path.display()))?;
    let key = cache_key(engine, &wasm);
    let cached = cache_dir.join(format!("{key}.cwasm"));

    if cached.is_file() {
        // SAFETY: the file was written by `Component::serialize` of an engine
        // with the same compatibility hash (it is in the file name), in a
        // directory only this runner writes to.
        match unsafe { Component::deserialize_file(engine, &cached) } {
            Ok(component) => return Ok(component),
            Err(e) => eprintln!(
                "WARN compile cache: ignoring unreadable {}: {e}",
                cached.display()
            ),
        }
    }

    let component = Component::new(engine, &wasm)
        .map_err(anyhow::Error::from)
        .with_context(|| format!("cannot compile component {}", wasm_path.display()))?;
    if let Err(e) = store(&component, cache_dir, &cached) {
        eprintln!("WARN compile cache: not saved: {e:#}");
    }
    Ok(component)
}

fn store(component: &Component, cache_dir: &Path, cached: &Path) -> Result<()> {
    std::fs::create_dir_all(cache_dir)
        .with_context(|| format!("creating {}", cache_dir.display()))?;
    let bytes = component.serialize()?;
    let tmp: PathBuf = cache_dir.join(format!(".tmp-{}.cwasm", std::process::id()));
    std::fs::write(&tmp, bytes).with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, cached).with_context(|| format!("renaming to {}", cached.display()))?;
    // Older artifacts (previous builds of the component) are never used again.
    if let Ok(entries) = std::fs::read_dir(cache_dir) {
        for entry in entries.flatten() {
            let path = entry.path();
            if path != cached && path.extension().is_some_and(|e| e == "cwasm") {
                let _ = std::fs::remove_file(path);
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_depends_on_bytes() {
        let engine = Engine::default();
        let a = cache_key(&engine, b"one");
        assert_eq!(a, cache_key(&engine, b"one"));
        assert_ne!(a, cache_key(&engine, b"two"));
        assert_eq!(a.len(), 64);
    }

    #[test]
    fn caches_and_reloads_a_component() {
        let engine = Engine::default();
        let dir = tempfile::tempdir().unwrap();
        let wasm = dir.path().join("c.wasm");
        // The smallest valid component.
        std::fs::write(&wasm, wat_empty_component()).unwrap();
        let cache = dir.path().join(".spin/runner-cache");
        load_component(&engine, &wasm, &cache).unwrap();
        let files: Vec<_> = std::fs::read_dir(&cache).unwrap().flatten().collect();
        assert_eq!(files.len(), 1);
        // Second load comes from the cache.
        load_component(&engine, &wasm, &cache).unwrap();
        // A missing file is a clear error.
        let e = load_component(&engine, &dir.path().join("nope.wasm"), &cache).unwrap_err();
        assert!(format!("{e:#}").contains("nope.wasm"));
    }

    fn wat_empty_component() -> Vec<u8> {
        // (component) in binary: magic, component version 0x0d, layer 1.
        vec![0x00, 0x61, 0x73, 0x6d, 0x0d, 0x00, 0x01, 0x00]
    }
}
