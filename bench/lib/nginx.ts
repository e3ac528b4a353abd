// A reference point for the cache hit: Debian's nginx with proxy_cache in front of the gateway, one
// worker (the gateway is one process too), on loopback, everything under a temp dir. It caches the
// gateway's 200 answers per URL and key for the run (the gateway marks them private: nginx is told to
// cache them anyway, as a shared cache in front of one caller would).
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { nginxDir, runNginx } from '../../test/helpers/nginx.js';
import { cpuMs } from './children.js';

export { nginxBinary } from '../../test/helpers/nginx.js';

export interface NginxCache {
  url: string;
  /** CPU of the master and its workers (ms). */
  cpuMs(): number;
  stop(): Promise<void>;
}

export async function startNginxCache(gatewayUrl: string): Promise<NginxCache> {
  const { dir, port } = await nginxDir('xtg-bench-nginx-');
  const upstream = new URL(gatewayUrl).host;
  const conf = `
worker_processes 1;
error_log ${join(dir, 'error.log')} warn;
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
  writeFileSync(join(dir, 'nginx.conf'), conf);
  const nginx = await runNginx(dir, port);
  return {
    url: nginx.url,
    cpuMs: () => [nginx.pid, ...childrenOf(nginx.pid)].reduce((n, pid) => n + cpuMs(pid), 0),
    stop: nginx.stop,
  };
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
