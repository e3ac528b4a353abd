// Lets a closing server finish in-flight requests without waiting on kept-alive connections.
// server.close() only drops connections idle at that instant; one whose request ends later would
// stay open until its keep-alive timeout (72 s in Fastify) and hold the shutdown past its grace.
// Connections are tracked, not requests (a listener per request showed in the cache-hit profile):
// a connection's answer in progress is the response Node keeps on its socket.
import type { Server, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';

/** Tracks connections from now on; the returned function starts draining. */
export function drainOnClose(server: Server): () => void {
  const open = new Set<Socket>();
  let draining = false;
  server.on('connection', (socket: Socket) => {
    open.add(socket);
    socket.once('close', () => open.delete(socket));
  });
  server.on('request', (_req, res: ServerResponse) => {
    if (draining) res.setHeader('connection', 'close');
  });
  return () => {
    draining = true;
    // `connection: close` makes Node end the socket once this answer is written, so nothing lingers.
    for (const socket of open) {
      const res = (socket as Socket & { _httpMessage?: ServerResponse | null })._httpMessage;
      if (res && !res.headersSent) res.setHeader('connection', 'close');
    }
    server.closeIdleConnections();
  };
}
