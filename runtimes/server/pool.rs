//! Engines shared by a server's connections: an idle connection parks its
//! engine (2 KiB of buffers) here, so thousands of idle connections cost
//! only their sockets and a small task each.

use std::boxed::Box;
use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::Duration;
use std::vec::Vec;

use super::connection::{lock, DesktopEngine, INPUT_BUFFER, OUTPUT_BUFFER};
use crate::engine::Parked;
use crate::runtimes::io::{EngineSlot, Slot};
use crate::{EngineConfig, Instant};

/// A connection parks after this long without input. Long enough that a
/// busy or pipelining client never parks between batches; short enough that
/// a client polling every second holds no buffers between polls.
const PARK_AFTER: Duration = Duration::from_millis(100);

/// Parked engines kept for reuse; beyond this, parked engines are freed.
const POOL_LIMIT: usize = 256;

/// The server's pool of parked engines.
pub(crate) struct EnginePool {
    config: EngineConfig,
    // Boxed so that parking and waking move a pointer, not 2 KiB.
    #[allow(clippy::vec_box)]
    parked: Mutex<Vec<Box<DesktopEngine>>>,
}

impl EnginePool {
    pub(crate) fn new(config: EngineConfig) -> Self {
        EnginePool {
            config,
            parked: Mutex::new(Vec::new()),
        }
    }

    /// The timeouts of the pool's engines.
    #[cfg_attr(not(feature = "rtu"), allow(dead_code))]
    pub(crate) fn config(&self) -> &EngineConfig {
        &self.config
    }

    fn take(&self, client: SocketAddr, now: Instant) -> Box<DesktopEngine> {
        let reused = lock(&self.parked).pop();
        match reused {
            Some(mut engine) => {
                engine.restart(Some(client), now);
                engine
            }
            None => {
                let mut engine = Box::new(DesktopEngine::new(self.config, Some(client), now));
                // The engine tells when it may be parked; `restart` keeps it.
                engine.set_park_after(Some(PARK_AFTER));
                engine
            }
        }
    }

    fn put(&self, engine: Box<DesktopEngine>) {
        let mut parked = lock(&self.parked);
        if parked.len() < POOL_LIMIT {
            parked.push(engine);
        }
    }
}

/// Bytes a parked connection reads before it takes an engine again: a
/// request of up to 64 bytes arrives in one read, a longer one in two.
const STASH: usize = 64;

/// One connection's place for an engine, taken from and parked in a pool.
/// It starts parked: a connection that never sends holds no engine.
pub(crate) struct PooledSlot<'a> {
    pool: &'a EnginePool,
    client: SocketAddr,
    engine: Option<Box<DesktopEngine>>,
    /// The deadline while parked (no engine): computed by the engine that
    /// was parked, or from the configuration for a new connection.
    parked: Parked,
    stash: [u8; STASH],
}

impl<'a> PooledSlot<'a> {
    /// The slot of a connection accepted from `client` at `now`.
    pub(crate) fn new(pool: &'a EnginePool, client: SocketAddr, now: Instant) -> Self {
        PooledSlot {
            pool,
            client,
            engine: None,
            parked: Parked::accepted(&pool.config, now),
            stash: [0; STASH],
        }
    }

    fn give_engine_back(&mut self) {
        if let Some(engine) = self.engine.take() {
            self.pool.put(engine);
        }
    }
}

impl Drop for PooledSlot<'_> {
    fn drop(&mut self) {
        self.give_engine_back();
    }
}

impl EngineSlot<INPUT_BUFFER, OUTPUT_BUFFER> for PooledSlot<'_> {
    fn state(&mut self) -> Slot<'_, INPUT_BUFFER, OUTPUT_BUFFER> {
        match self.engine.as_deref_mut() {
            Some(engine) => Slot::Active(engine),
            None => Slot::Parked {
                parked: self.parked,
                stash: &mut self.stash,
            },
        }
    }

    fn park(&mut self, parked: Parked) {
        self.parked = parked;
        self.give_engine_back();
    }

    fn wake(&mut self, len: usize, now: Instant) {
        let (pool, client) = (self.pool, self.client);
        let engine = self.engine.get_or_insert_with(|| pool.take(client, now));
        // A restarted engine has at least 260 bytes of input space free.
        let input = engine.input_buffer();
        let len = len.min(STASH).min(input.len());
        input[..len].copy_from_slice(&self.stash[..len]);
        engine.handle_input(len, now);
    }
}

#[cfg(test)]
mod tests;
