// A client may pipeline requests (send the next before reading an answer). Node answers them in
// order and stops reading a socket only once the answers already written pile up past its
// high-water mark; requests still waiting for their answer (a miss, a hang) cost nothing there, so
// a client that pipelines and never reads made Node parse every request it sent: 28 MB of them on
// four sockets held 300,000 requests and took the gateway from 250 MB to 900 MB of RSS in 20 s.
// Here a socket also stops being read (its parser paused, Node's own mechanism) while it has
// MAX_QUEUED_REQUESTS waiting behind the answer in progress or MAX_UNWRITTEN_BYTES not yet taken by
// the client, and reads again once its answers are written.
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';

/** Pipelined requests a connection may have waiting behind the one being answered. */
const MAX_QUEUED_REQUESTS = 16;
/** Answer bytes a connection may leave unread before the gateway stops reading its requests. */
const MAX_UNWRITTEN_BYTES = 1024 * 1024;

/** Node's own fields for this (node:_http_server): `_paused` also pauses the parser mid-chunk. */
type HttpSocket = Socket & {
  _paused?: boolean;
  parser?: { pause(): void; resume(): void } | null;
  [queued]?: number;
};
const queued = Symbol('pipelined requests waiting');

export function boundPipelining(server: Server): void {
  server.on('request', (_req: IncomingMessage, res: ServerResponse) => {
    // Assigned a socket at once unless an earlier answer is still in progress on it: only pipelined
    // requests get here with none, so a client that waits for its answers pays nothing more.
    if (res.socket !== null) return;
    const socket = _req.socket as HttpSocket;
    const waiting = (socket[queued] ?? 0) + 1;
    socket[queued] = waiting;
    let counted = true;
    const done = () => {
      if (!counted) return;
      counted = false;
      socket[queued] = (socket[queued] ?? 1) - 1;
      if (socket._paused && !overBound(socket)) {
        socket._paused = false;
        socket.parser?.resume();
        socket.resume();
      }
    };
    res.once('finish', done);
    res.once('close', done);
    if (!socket._paused && overBound(socket)) {
      // As Node does for answers piling up: the parser pauses once this chunk's request is parsed.
      socket._paused = true;
      socket.pause();
    }
  });
}

function overBound(socket: HttpSocket): boolean {
  return (socket[queued] ?? 0) >= MAX_QUEUED_REQUESTS || socket.writableLength > MAX_UNWRITTEN_BYTES;
}
