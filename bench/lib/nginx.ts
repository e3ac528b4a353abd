// A reference point for the cache hit: Debian's nginx with proxy_cache in front of the gateway, one
// worker (the gateway is one process too), on loopback, everything under a temp dir. It caches the
// gateway's 200 answers per URL and key for the run (the gateway marks them private: nginx is told to
// cache them anyway, as a shared cache in front of one caller would).
import { type ChildProcess, spawn } from 'node:child_process';
import {
  accessSync,
  chmodSync,
  constants,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../../test/helpers/redis-server.js';
import { cpuMs } from './children.js';

const BINARIES = ['/usr/sbin/nginx', '/usr/bin/nginx', '/usr/local/sbin/nginx'];

export function nginxBinary(): string | null {
  for (const p of BINARIES) {
    try {
      accessSync(p, constants.X_OK);
      return p;
    } catch {}
  }
  return null;
}

export interface NginxCache {
  url: string;
  /** CPU of the master and its workers (ms). */
  cpuMs(): number;
  stop(): Promise<void>;
}

export async function startNginxCache(gatewayUrl: string): Promise<NginxCache> {
  const bin = nginxBinary();
  if (!bin) throw new Error('nginx not found (apt-get install -y nginx)');
  const dir = mkdtempSync(join(tmpdir(), 'xtg-bench-nginx-'));
  // nginx run as root hands its workers to an unprivileged user, which must reach these paths.
  chmodSync(dir, 0o777);
  const port = await freePort();
  const upstream = new URL(gatewayUrl).host;
  const conf = `
worker_processes 1;
error_log ${join(dir, 'error.log')} warn;
pid ${join(dir, 'nginx.pid')};
events { worker_connections 4096; }
http {
  access_log off;
  ${['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map((t) => `${t}_temp_path ${join(dir, t)};`).join('\n  ')}
  proxy_cache_path ${join(dir, 'cache')} levels=1:2 keys_zone=bench:10m max_size=100m inactive=10m use_temp_path=off;
  upstream gateway { server ${upstream}; keepalive 64; }
  server {
    listen 127.0.0.1:${port};
    location /healthz { proxy_pass http://gateway; }
    location / {
      proxy_pass http://gateway;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_cache bench;
      proxy_cache_key "$request_uri|$http_x_api_key";
      proxy_cache_valid 200 10m;
      proxy_ignore_headers Cache-Control Expires Vary Set-Cookie;
      add_header x-nginx-cache $upstream_cache_status;
    }
  }
}
`;
  const confPath = join(dir, 'nginx.conf');
  writeFileSync(confPath, conf);
  const child: ChildProcess = spawn(bin, ['-p', dir, '-c', confPath, '-g', 'daemon off;'], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr?.on('data', (b: Buffer) => (stderr += b.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const url = `http://127.0.0.1:${port}`;
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
    if (child.exitCode !== null) throw new Error(`nginx exited: ${stderr}${readLog(dir)}`);
    try {
      if ((await fetch(`${url}/healthz`)).status === 200) break;
    } catch {}
    if (Date.now() > end) {
      await stop();
      throw new Error(`nginx did not answer on ${url}: ${stderr}${readLog(dir)}`);
    }
  }
  const master = child.pid!;
  return {
    url,
    cpuMs: () => [master, ...childrenOf(master)].reduce((n, pid) => n + cpuMs(pid), 0),
    stop,
  };
}

function readLog(dir: string): string {
  try {
    return readFileSync(join(dir, 'error.log'), 'utf8');
  } catch {
    return '';
  }
}

/** The processes whose parent is `pid` (nginx's workers), from /proc. */
function childrenOf(pid: number): number[] {
  const out: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === pid) out.push(Number(name));
    } catch {}
  }
  return out;
}
