// Child processes of the bench (gateways, the bare server): tracked so none outlives the run, even
// when the bench is interrupted or times out, and measured from /proc (RSS, open fds).
import { type ChildProcess, spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';

const live = new Set<ChildProcess>();

// 'exit' handlers must be synchronous, hence SIGKILL. A signal that would kill us fires no 'exit',
// so the usual ones are hooked too and end the run with the conventional status.
process.on('exit', () => {
  for (const c of live) c.kill('SIGKILL');
});
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  process.on(sig, () => {
    process.stderr.write(`\nbench: ${sig}, stopping children\n`);
    process.exit(128 + (sig === 'SIGINT' ? 2 : sig === 'SIGTERM' ? 15 : 1));
  });
}

export interface Child {
  readonly pid: number;
  /** Last few KB of the child's stdout+stderr, for error messages. */
  tail(): string;
  /** Sends `signal` and resolves with the first output line matching `re` written after it. */
  ask(signal: NodeJS.Signals, re: RegExp, timeoutMs?: number): Promise<string>;
  /** SIGTERM, then SIGKILL after 3 s; resolves once the process is gone. */
  stop(): Promise<void>;
}

const TAIL_BYTES = 4000;

export function startChild(name: string, args: string[], env: NodeJS.ProcessEnv, cwd: string): Child {
  const child = spawn(process.execPath, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
  live.add(child);
  let tail = '';
  let waiting: { re: RegExp; resolve: (line: string) => void } | null = null;
  // Output must be drained, or a chatty child blocks on a full pipe and the bench measures that.
  const keep = (b: Buffer) => {
    const text = b.toString();
    tail = (tail + text).slice(-TAIL_BYTES);
    const line = waiting && text.split('\n').find((l) => waiting?.re.test(l));
    if (waiting && line) {
      waiting.resolve(line);
      waiting = null;
    }
  };
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  void exited.then(() => live.delete(child));
  if (!child.pid) throw new Error(`${name}: could not spawn`);
  const pid = child.pid;
  return {
    pid,
    tail: () => tail,
    ask(signal, re, timeoutMs = 5000) {
      return new Promise((resolve, reject) => {
        const t = setTimeout(() => reject(new Error(`${name}: no answer to ${signal}`)), timeoutMs);
        waiting = {
          re,
          resolve: (line) => {
            clearTimeout(t);
            resolve(line);
          },
        };
        child.kill(signal);
      });
    },
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const killer = setTimeout(() => child.kill('SIGKILL'), 3000);
      await exited;
      clearTimeout(killer);
    },
  };
}

/** Polls `url` until it answers 200; throws with the child's output tail if it never does. */
export async function waitHttp(url: string, child: Child, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(1000) });
      await res.arrayBuffer();
      if (res.ok) return;
    } catch {
      // not listening yet
    }
    if (!isAlive(child.pid)) break;
    await sleep(100);
  }
  throw new Error(`${url} did not come up; output tail:\n${child.tail()}`);
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Resident set size in MiB, from /proc (Linux only; NaN elsewhere). */
export function rssMiB(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : Number.NaN;
  } catch {
    return Number.NaN;
  }
}

/** Open file descriptors (sockets, pipes, files) of a process: a handle leak shows here. */
export function openFds(pid: number): number {
  try {
    return readdirSync(`/proc/${pid}/fd`).length;
  } catch {
    return Number.NaN;
  }
}

/**
 * CPU time (user + system) a process has used, in ms. /proc reports clock ticks, which Linux
 * fixes at 100 per second (USER_HZ) whatever the kernel's own tick rate.
 */
export function cpuMs(pid: number): number {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
    return (Number(fields[11]) + Number(fields[12])) * 10;
  } catch {
    return Number.NaN;
  }
}
