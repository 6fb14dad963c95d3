//! Engines shared by a server's connections: an idle connection parks its
//! engine (1.5 KiB of buffers) here, so thousands of idle connections cost
//! only their sockets and a small task each.

use std::boxed::Box;
use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::Duration;
use std::vec::Vec;

use super::connection::{lock, DesktopEngine};
use crate::runtimes::io::EngineSlot;
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
    // Boxed so that parking and waking move a pointer, not 1.6 KiB.
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

    fn take(&self, client: SocketAddr, now: Instant) -> Box<DesktopEngine> {
        let reused = lock(&self.parked).pop();
        match reused {
            Some(mut engine) => {
                engine.restart(Some(client), now);
                engine
            }
            None => Box::new(DesktopEngine::new(self.config, Some(client), now)),
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
    stash: [u8; STASH],
}

impl<'a> PooledSlot<'a> {
    pub(crate) fn new(pool: &'a EnginePool, client: SocketAddr) -> Self {
        PooledSlot {
            pool,
            client,
            engine: None,
            stash: [0; STASH],
        }
    }
}

impl Drop for PooledSlot<'_> {
    fn drop(&mut self) {
        self.park();
    }
}

impl EngineSlot<{ super::connection::INPUT_BUFFER }, { super::connection::OUTPUT_BUFFER }>
    for PooledSlot<'_>
{
    fn active(&mut self) -> Option<&mut DesktopEngine> {
        self.engine.as_deref_mut()
    }

    fn stash(&mut self) -> &mut [u8] {
        &mut self.stash
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

    fn park_after(&self) -> Option<Duration> {
        Some(PARK_AFTER)
    }

    fn park(&mut self) {
        if let Some(engine) = self.engine.take() {
            self.pool.put(engine);
        }
    }

    fn parked_deadline(&self, now: Instant) -> Option<Instant> {
        self.pool.config.idle_timeout.map(|t| now + t)
    }
}
