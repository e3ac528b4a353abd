import { type ChildProcess, spawn } from 'node:child_process';
import { accessSync, constants, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { createConnection, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';

export interface RedisProcess {
  readonly port: number;
  readonly url: string;
  /** Changes on every restart. */
  readonly pid: number;
  /** SIGTERM, then SIGKILL after 2 s; resolves once the process has exited. */
  stop(): Promise<void>;
  /** Same port and dir; data is not kept (and a cluster node forgets its cluster). */
  restart(): Promise<void>;
  /** SIGSTOP: the server keeps its connections open and answers nothing (a silent Redis). */
  pause(): void;
  /** SIGCONT. stop() and the exit hook resume (or kill) a paused server too. */
  resume(): void;
}

export interface StartRedisOptions {
  port?: number;
  cluster?: boolean;
  /** Caller-owned dir; otherwise a temp dir is created and removed on stop. */
  dir?: string;
}

const READY_TIMEOUT_MS = 10_000;
const TAIL_BYTES = 4_000;

// Children must never outlive the test process. 'exit' handlers must be synchronous, hence SIGKILL;
// a signal that kills us by default fires no 'exit', so signals are hooked too.
const live = new Set<ChildProcess>();
const ownedDirs = new Set<string>();
let hooked = false;

function killAll(): void {
  for (const child of live) child.kill('SIGKILL');
  for (const dir of ownedDirs) rmSync(dir, { recursive: true, force: true });
}

function hookProcessExit(): void {
  if (hooked) return;
  hooked = true;
  process.on('exit', killAll);
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    const onSignal = () => {
      killAll();
      // Listening disables Node's default die-on-signal; restore it unless someone else (vitest) handles it.
      if (process.listenerCount(sig) === 1) {
        process.off(sig, onSignal);
        process.kill(process.pid, sig);
      }
    };
    process.on(sig, onSignal);
  }
}

export function hasBinary(name: string): boolean {
  for (const dir of (process.env['PATH'] ?? '').split(delimiter)) {
    if (!dir) continue;
    try {
      accessSync(join(dir, name), constants.X_OK);
      return true;
    } catch {}
  }
  return false;
}

/** Binds `port` (0 = any) on loopback and releases it: the bound port, or null if it was taken. */
function tryBind(port: number): Promise<number | null> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.once('error', () => resolve(null));
    srv.listen(port, '127.0.0.1', () => {
      const addr = srv.address();
      srv.close(() => resolve(typeof addr === 'object' && addr ? addr.port : null));
    });
  });
}

export async function isPortFree(port: number): Promise<boolean> {
  return (await tryBind(port)) !== null;
}

export async function freePort(): Promise<number> {
  const port = await tryBind(0);
  if (!port) throw new Error('could not allocate a free loopback port');
  return port;
}

/**
 * PID of whatever Redis answers on `port`, or null. Raw socket because ioredis would reconnect and log
 * while we poll; the PID (not a bare PING) proves it is our child and not a server already on the port.
 */
function answeringPid(port: number): Promise<number | null> {
  return new Promise((resolve) => {
    const sock = createConnection({ host: '127.0.0.1', port });
    let buf = '';
    const done = (pid: number | null) => {
      sock.destroy();
      resolve(pid);
    };
    sock.setTimeout(500, () => done(null));
    sock.once('error', () => done(null));
    sock.once('connect', () => sock.write('INFO server\r\n'));
    sock.on('data', (chunk) => {
      buf += chunk.toString();
      if (buf.startsWith('-')) return done(null);
      const m = /process_id:(\d+)\r\n/.exec(buf);
      if (m) done(Number(m[1]));
    });
  });
}

interface Spawned {
  child: ChildProcess;
  exited: Promise<void>;
}

async function spawnAndWait(port: number, dir: string, cluster: boolean): Promise<Spawned> {
  const args = ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'];
  args.push('--protected-mode', 'no', '--daemonize', 'no', '--dir', dir);
  if (cluster) {
    args.push('--cluster-enabled', 'yes', '--cluster-config-file', join(dir, 'nodes.conf'));
    args.push('--cluster-node-timeout', '2000');
  }
  hookProcessExit();
  const child = spawn('redis-server', args, { stdio: ['ignore', 'pipe', 'pipe'] });
  live.add(child);
  let tail = '';
  const keepTail = (buf: Buffer) => {
    tail = (tail + buf.toString()).slice(-TAIL_BYTES);
  };
  child.stdout?.on('data', keepTail);
  child.stderr?.on('data', keepTail);
  // Held in an object so TS control-flow narrowing doesn't assume the callbacks never ran.
  const state: { exit: string | null } = { exit: null };
  const exited = new Promise<void>((resolve) => {
    child.once('exit', (code, signal) => {
      state.exit = `code=${code} signal=${signal}`;
      live.delete(child);
      resolve();
    });
  });
  child.once('error', (err) => {
    state.exit = `spawn error: ${err.message}`;
    live.delete(child);
  });
  // A forgotten server must not keep a test worker alive; the 'exit' hook above still kills it.
  child.unref();
  for (const s of [child.stdout, child.stderr]) (s as unknown as { unref?: () => void } | null)?.unref?.();

  const deadline = Date.now() + READY_TIMEOUT_MS;
  while (Date.now() < deadline) {
    if (state.exit) break;
    if ((await answeringPid(port)) === child.pid) return { child, exited };
    await new Promise((r) => setTimeout(r, 50));
  }
  const why = state.exit ? `exited (${state.exit})` : `did not answer within ${READY_TIMEOUT_MS} ms`;
  child.kill('SIGKILL');
  throw new Error(`redis-server on port ${port} ${why}; output tail:\n${tail}`);
}

async function terminate({ child, exited }: Spawned): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null || !child.pid) return;
  child.kill('SIGCONT'); // a paused server would not act on SIGTERM
  child.kill('SIGTERM');
  const killer = setTimeout(() => child.kill('SIGKILL'), 2_000);
  await exited;
  clearTimeout(killer);
}

export async function startRedisServer(opts: StartRedisOptions = {}): Promise<RedisProcess> {
  if (!hasBinary('redis-server')) {
    throw new Error('redis-server not on PATH (install it, e.g. `apt-get install -y redis-server`)');
  }
  const cluster = opts.cluster ?? false;
  const ownsDir = !opts.dir;
  const dir = opts.dir ?? mkdtempSync(join(tmpdir(), 'redis-test-'));
  if (ownsDir) ownedDirs.add(dir);
  const dropDir = () => {
    if (!ownsDir) return;
    rmSync(dir, { recursive: true, force: true });
    ownedDirs.delete(dir);
  };
  let port = opts.port ?? (await freePort());
  let current: Spawned | undefined;
  // A port picked by freePort() can be taken before redis binds it, so retry; a fixed port cannot.
  for (let attempt = 1; !current; attempt++) {
    try {
      current = await spawnAndWait(port, dir, cluster);
    } catch (err) {
      if (opts.port !== undefined || attempt >= 3) {
        dropDir();
        throw err;
      }
      port = await freePort();
    }
  }
  let proc: Spawned = current;

  const stop = async () => {
    await terminate(proc);
    dropDir();
  };

  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    get pid() {
      return proc.child.pid ?? -1;
    },
    stop,
    pause() {
      proc.child.kill('SIGSTOP');
    },
    resume() {
      proc.child.kill('SIGCONT');
    },
    async restart() {
      await stop();
      mkdirSync(dir, { recursive: true });
      if (ownsDir) ownedDirs.add(dir);
      proc = await spawnAndWait(port, dir, cluster);
    },
  };
}
