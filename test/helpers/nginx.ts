// The Debian nginx binary run with the SHIPPED deploy/nginx.conf: the test config is generated from
// that file by replacing only what ties it to Docker (the listen port and the gateway's DNS name),
// plus temp/pid/log paths under a temp prefix, so the proxy directives under test are the shipped
// ones. A replacement that no longer matches fails loudly instead of testing a stale copy.
import { type ChildProcess, spawn } from 'node:child_process';
import { accessSync, chmodSync, constants, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './redis-server.js';

const SHIPPED = new URL('../../deploy/nginx.conf', import.meta.url);

export function nginxBinary(): string | null {
  for (const p of ['/usr/sbin/nginx', '/usr/bin/nginx', '/usr/local/sbin/nginx']) {
    try {
      accessSync(p, constants.X_OK);
      return p;
    } catch {}
  }
  return null;
}

function replaceOnce(text: string, from: RegExp, to: string): string {
  const hits = text.match(new RegExp(from.source, 'g'))?.length ?? 0;
  if (hits !== 1) throw new Error(`deploy/nginx.conf: expected one ${from} to replace, found ${hits}`);
  return text.replace(from, to);
}

/** The shipped config, pointed at `upstream` (host:port) and listening on loopback `port`. */
function testNginxConfig(source: string, o: { port: number; upstream: string; dir: string }): string {
  let conf = replaceOnce(source, /listen\s+8080;/, `listen 127.0.0.1:${o.port};`);
  conf = replaceOnce(conf, /set \$gateway http:\/\/gateway:3000;/, `set $gateway http://${o.upstream};`);
  const temp = ['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi']
    .map((t) => `  ${t}_temp_path ${join(o.dir, t)};`)
    .join('\n');
  return replaceOnce(conf, /http\s*\{/, `http {\n${temp}`);
}

export interface Nginx {
  url: string;
  shippedConfig: string;
  stop(): Promise<void>;
}

export async function startNginx(upstream: string): Promise<Nginx> {
  const { dir, port } = await nginxDir('xtg-nginx-');
  const shippedConfig = readFileSync(SHIPPED, 'utf8');
  writeFileSync(join(dir, 'nginx.conf'), testNginxConfig(shippedConfig, { port, upstream, dir }));
  const nginx = await runNginx(dir, port);
  return { url: nginx.url, shippedConfig, stop: nginx.stop };
}

/** A temp prefix for an nginx run (its config, logs, temp files) and a free loopback port. */
export async function nginxDir(prefix: string): Promise<{ dir: string; port: number }> {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  // Run as root, nginx's workers drop to an unprivileged user, which must reach the temp paths.
  chmodSync(dir, 0o755);
  return { dir, port: await freePort() };
}

export interface NginxProcess {
  url: string;
  /** The master's pid (its workers are its children). */
  pid: number;
  /** Stops nginx and removes `dir`. */
  stop(): Promise<void>;
}

/**
 * Runs nginx in the foreground with `dir/nginx.conf` (which listens on 127.0.0.1:`port` and must not
 * name a pid file), until it answers `/healthz`; throws with its error log when it does not.
 */
export async function runNginx(dir: string, port: number): Promise<NginxProcess> {
  const bin = nginxBinary();
  if (!bin) throw new Error('nginx not found (apt-get install -y nginx)');
  const errorLog = join(dir, 'error.log');
  const child: ChildProcess = spawn(
    bin,
    [
      '-p',
      dir,
      '-c',
      join(dir, 'nginx.conf'),
      '-e',
      errorLog,
      '-g',
      `daemon off; pid ${join(dir, 'nginx.pid')};`,
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let stderr = '';
  child.stderr?.on('data', (b: Buffer) => (stderr += b.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const url = `http://127.0.0.1:${port}`;
  const log = () => {
    try {
      return readFileSync(errorLog, 'utf8');
    } catch {
      return '';
    }
  };
  const stop = async () => {
    if (child.exitCode === null) {
      child.kill('SIGQUIT');
      const killer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(killer);
    }
    rmSync(dir, { recursive: true, force: true });
  };
  for (const end = Date.now() + 10_000; ; await new Promise((r) => setTimeout(r, 50))) {
    if (child.exitCode !== null) throw new Error(`nginx exited: ${stderr}${log()}`);
    try {
      if ((await fetch(`${url}/healthz`)).status === 200) break;
    } catch {}
    if (Date.now() > end) {
      const why = `nginx did not answer on ${url}: ${stderr}${log()}`;
      await stop();
      throw new Error(why);
    }
  }
  return { url, pid: child.pid!, stop };
}
