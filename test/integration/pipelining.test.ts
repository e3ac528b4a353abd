// Pipelined requests whose answers are never read, against the gateway as a process of its own (its
// memory is read from /proc): the gateway must stop reading such a socket rather than parse every
// request sent, and a client that pipelines and does read must still get every answer, in order.
import { createConnection, type Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type SimUpstream, startSimUpstream } from '../../src/sim/upstream-server.js';
import { CALLER_KEY, TEST_TOKEN } from '../helpers/gateway.js';
import { residentMb } from '../helpers/proc-memory.js';
import { killServerProcesses, type ServerProcess, startServerProcess } from '../helpers/server-process.js';

let sim: SimUpstream;
let server: ServerProcess;
beforeAll(async () => {
  sim = await startSimUpstream({ token: TEST_TOKEN });
  server = await startServerProcess({
    upstreamUrl: sim.url,
    // Upstream answers for `hang…` ids never come, and the caller limits let every request through.
    env: {
      API_KEYS: `svc:${CALLER_KEY}`,
      UPSTREAM_TIMEOUT_MS: '60000',
      CALLER_RATE_LIMIT: '100000000',
      CALLER_MAX_PENDING_UPSTREAM: '1000',
      LOG_LEVEL: 'warn',
    },
  });
}, 60_000);
afterAll(async () => {
  killServerProcesses();
  await sim?.close();
});

const get = (id: string) =>
  `GET /v1/authors/${id}/spread-info HTTP/1.1\r\nhost: gw\r\nx-api-key: ${CALLER_KEY}\r\n\r\n`;

describe('pipelined requests', () => {
  it('100 MB of them, never read, on four sockets: the gateway stays under 300 MB of RSS', async () => {
    const pid = server.child.pid!;
    const before = residentMb(pid);
    // Every request waits on the same hanging upstream call, so none is answered while they pile up.
    const chunk = Buffer.from(get('hang1').repeat(Math.ceil(65_536 / get('hang1').length)));
    const perSocket = 25e6;
    let sent = 0;
    const sockets: Socket[] = [];
    for (let i = 0; i < 4; i++) {
      const socket = createConnection({ host: '127.0.0.1', port: server.port });
      socket.pause(); // never read the answers
      socket.on('error', () => {});
      let mine = 0;
      const more = () => {
        while (mine < perSocket && !socket.destroyed) {
          mine += chunk.length;
          sent += chunk.length;
          if (!socket.write(chunk)) return void socket.once('drain', more);
        }
      };
      socket.once('connect', more);
      sockets.push(socket);
    }
    const samples: number[] = [];
    try {
      for (let t = 0; t < 12; t++) {
        await sleep(1000);
        samples.push(residentMb(pid).rss);
      }
    } finally {
      for (const s of sockets) s.destroy();
    }
    const peak = residentMb(pid).peak;
    console.log(
      `pipelining, unread: RSS ${before.rss.toFixed(0)} MB before, ${samples.map((s) => s.toFixed(0)).join(' ')} MB` +
        ` (1 s apart), peak ${peak.toFixed(0)} MB; ${(sent / 1e6).toFixed(0)} MB taken by the sockets`,
    );
    expect(peak).toBeLessThan(300);
  }, 60_000);

  it('a client that pipelines 200 requests and reads gets 200 answers, in order', async () => {
    const socket = createConnection({ host: '127.0.0.1', port: server.port });
    const ids = Array.from({ length: 200 }, (_, i) => `pipe${i % 10}x`);
    socket.write(ids.map(get).join(''));
    let data = '';
    const answered = new Promise<void>((resolve) => {
      socket.on('data', (b: Buffer) => {
        data += b.toString();
        if ((data.match(/HTTP\/1\.1 /g) ?? []).length >= ids.length && data.endsWith('}')) resolve();
      });
    });
    await Promise.race([answered, sleep(20_000)]);
    socket.destroy();
    expect(data.match(/HTTP\/1\.1 \d{3}/g)).toEqual(Array(200).fill('HTTP/1.1 200'));
    const authors = [...data.matchAll(/"authorId":"([^"]+)"/g)].map((m) => m[1]);
    expect(authors).toEqual(ids);
  }, 30_000);
});
