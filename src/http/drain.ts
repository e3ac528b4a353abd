// Lets a closing server finish in-flight requests without waiting on kept-alive connections.
// server.close() only drops connections idle at that instant; one whose request ends later would
// stay open until its keep-alive timeout (72 s in Fastify) and hold the shutdown past its grace.
import type { Server, ServerResponse } from 'node:http';

/** Tracks responses from now on; the returned function starts draining. */
export function drainOnClose(server: Server): () => void {
  const open = new Set<ServerResponse>();
  let draining = false;
  server.on('request', (_req, res: ServerResponse) => {
    if (draining) {
      res.setHeader('connection', 'close');
      return;
    }
    open.add(res);
    res.once('close', () => open.delete(res));
  });
  return () => {
    draining = true;
    // `connection: close` makes Node end the socket once this answer is written, so nothing lingers.
    for (const res of open) if (!res.headersSent) res.setHeader('connection', 'close');
    server.closeIdleConnections();
  };
}
