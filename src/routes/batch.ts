// POST /v1/authors/spread-info/batch: up to 100 tuples in one request, each through the same cache,
// coalescing, budget and stale rules as the single route, answered per item in the order given. It
// counts as what it is: its distinct items against the caller's request limit, each upstream call
// against the caller's pending cap and share; and it answers within one overall deadline.

import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { Ticket } from '../cache/cache-service.js';
import { spreadInfoCall } from '../catalogue/call.js';
import { SPREAD_INFO } from '../catalogue/index.js';
import { GatewayError, upstreamUnavailable } from '../errors.js';
import { wantsForcedRefresh } from '../http/forced-refresh.js';
import { mapLimit } from '../http/map-limit.js';
import { sendJson, spreadInfoJson } from '../http/present.js';
import { CallerRefusal, type CallerRefusalReason } from '../limits/caller-refusal.js';
import { callerRefOf } from '../plugins/access.js';
import { errorBody, toGatewayError } from '../plugins/error-handler.js';
import type { SpreadParams } from '../upstream/params.js';
import { EXAMPLE_AUTHOR_ID } from './examples.js';
import { batchItemSchema, errorObjectSchema, errorResponses, spreadInfoResponseSchema } from './schemas.js';

export const BATCH_PATH = '/v1/authors/spread-info/batch';
export const BATCH_MAX_ITEMS = 100;
/** 100 items of the longest valid form fit in about 20 KiB; anything far bigger is not a batch. */
export const BATCH_BODY_LIMIT = 64 * 1024;
/**
 * Upstream calls one batch may have in flight. The global budget (UPSTREAM_MAX_RPS) still governs;
 * this only keeps one caller's batch from occupying every budget slot and socket at once.
 */
export const BATCH_CONCURRENCY = 8;
/** The batch's deadline minus this is each item's own: the answer is assembled and written in time. */
const BATCH_MARGIN_MS = 1000;

export const batchBodySchema = z
  .strictObject({
    items: z
      .array(batchItemSchema)
      .min(1)
      .max(BATCH_MAX_ITEMS)
      .describe(`1 to ${BATCH_MAX_ITEMS} parameter tuples; identical tuples are fetched once.`),
  })
  .meta({
    examples: [
      {
        items: [
          { oAuthorId: EXAMPLE_AUTHOR_ID },
          { oAuthorId: EXAMPLE_AUTHOR_ID, range: 'DAY_90', onlyAssign: true },
        ],
      },
    ],
  });

/**
 * The statuses an item can have besides 200: the single route's upstream outcomes, 429 when a
 * per-caller upstream limit refuses the item, 500 for an unexpected failure. Listed, so generated
 * clients narrow an item on `status`.
 */
export const BATCH_ITEM_ERROR_STATUSES = [404, 429, 500, 502, 503, 504] as const;

const batchResultSchema = z.discriminatedUnion('status', [
  z
    .object({ status: z.literal(200), body: spreadInfoResponseSchema })
    .describe('The item as the single route answers it.'),
  z
    .object({
      status: z
        .literal(BATCH_ITEM_ERROR_STATUSES)
        .describe('What the single route would have answered for this item.'),
      error: errorObjectSchema,
    })
    .describe('The item failed; `error` as the single route would have sent it.'),
]);

const batchResponseSchema = z
  .object({
    results: z.array(batchResultSchema).describe('One result per item, in the order given.'),
  })
  .describe('Per-item outcomes; the batch itself is 200 whenever its body was valid.');

interface BatchRouteOptions {
  /** The whole batch answers within this (UPSTREAM_MAX_WAIT_MS + UPSTREAM_TIMEOUT_MS + 1 s). */
  deadlineMs: number;
}

interface Slot {
  params: SpreadParams;
  json?: string;
  ticket?: Ticket;
}

const batchRoute: FastifyPluginAsyncZod<BatchRouteOptions> = async (app, opts) => {
  app.post(
    BATCH_PATH,
    {
      config: { endpoint: SPREAD_INFO, auth: 'caller', forceRefresh: true },
      bodyLimit: BATCH_BODY_LIMIT,
      schema: {
        operationId: 'getSpreadInfoBatch',
        summary: 'Distribution metrics of many creators or parameter tuples at once',
        description:
          `Each item is answered as \`GET /v1/authors/{oAuthorId}/spread-info\` would answer it: \`status\` 200 with ` +
          `the same body, or the error status with the same error object. Identical tuples are fetched once; at most ` +
          `${BATCH_CONCURRENCY} items are in flight at a time. The batch counts as its distinct items against the ` +
          `caller's request limit (429 for the whole batch past it), and each upstream call against the caller's ` +
          `pending cap and daily share (429 for that item). The whole batch answers within UPSTREAM_MAX_WAIT_MS + ` +
          `UPSTREAM_TIMEOUT_MS + 1 s: an item not done by then gets its own 503 (still waiting for upstream budget) ` +
          `or 504 (its upstream call had not answered). A body over ${BATCH_BODY_LIMIT / 1024} KiB is a 413.`,
        tags: ['metrics'],
        body: batchBodySchema,
        response: {
          200: batchResponseSchema,
          ...errorResponses([400, 401, 413, 415, 429, 500]),
        },
      },
    },
    async (request, reply) => {
      const deadline = Date.now() + opts.deadlineMs;
      const arrivedAt = Date.now() - reply.elapsedTime;
      const force = wantsForcedRefresh(request);
      const caller = callerRefOf(request);
      // A caller that hung up reads nothing more: stop starting upstream calls on its behalf.
      let callerGone = false;
      reply.raw.once('close', () => {
        callerGone = !reply.raw.writableEnded;
      });
      const byKey = new Map<string, Slot>();
      /** Items refused by the caller's own limits, by reason: one log line per reason for the batch. */
      const refusedItems = new Map<CallerRefusalReason, number>();
      const keys = request.body.items.map((item) => {
        const key = app.spread.keyFor(spreadInfoCall(item));
        if (!byKey.has(key)) byKey.set(key, { params: item });
        return key;
      });
      await countDistinctItems(byKey.size);

      let late = false;
      let timer: NodeJS.Timeout | undefined;
      const work = mapLimit([...byKey.values()], BATCH_CONCURRENCY, async (slot) => {
        if (callerGone || late) return;
        slot.ticket = { caller, called: false };
        slot.json = await answerItem(slot.params, slot.ticket);
      });
      const overdue = new Promise<void>((resolve) => {
        timer = setTimeout(resolve, Math.max(0, deadline - Date.now()));
      });
      await Promise.race([work, overdue]);
      clearTimeout(timer);
      late = true; // nothing starts after the answer
      // 499 ("client closed request") only fills items skipped for a caller that is gone: never read.
      const results = keys.map((k) => {
        const slot = byKey.get(k)!;
        return slot.json ?? (callerGone ? '{"status":499}' : unfinished(slot));
      });
      for (const [reason, items] of refusedItems)
        request.log.info({ caller: caller.name, reason, requests: items }, `caller refused: ${reason}`);
      return sendJson(reply, 200, `{"results":[${results.join(',')}]}`);

      /** The rate-limit hook counted the batch as one request; the rest of its distinct items count now. */
      async function countDistinctItems(n: number): Promise<void> {
        if (n <= 1) return;
        const r = await app.countRequests(request, n - 1);
        reply.header('ratelimit-remaining', String(Math.max(0, r.max - r.current)));
        if (r.current <= r.max) return;
        app.usage.refused(caller, 'rate', n, true);
        throw new CallerRefusal(
          'rate',
          `rate limit of ${r.max} requests exceeded (CALLER_RATE_LIMIT): this batch counts as its ${n} distinct items; retry in ${Math.ceil(r.ttlMs / 1000)} s`,
          r.ttlMs / 1000,
        );
      }

      async function answerItem(params: SpreadParams, ticket: Ticket): Promise<string> {
        try {
          // Keeps the upstream timeout inside the batch's deadline: a late item waits less for budget.
          const until = deadline - BATCH_MARGIN_MS;
          const answer = await app.spread.get(spreadInfoCall(params), {
            force,
            log: request.log,
            route: 'batch',
            caller,
            ticket,
            deadline: until,
            arrivedAt,
          });
          return `{"status":200,"body":${spreadInfoJson(params, answer)}}`;
        } catch (err) {
          return itemError(err);
        }
      }

      /** Not done by the deadline: still waiting for budget (503), or its call had not answered (504). */
      function unfinished(slot: Slot): string {
        const seconds = Math.round(opts.deadlineMs / 1000);
        return itemError(
          slot.ticket?.called
            ? new GatewayError(
                'UPSTREAM_TIMEOUT',
                `the upstream did not answer within the batch's ${seconds} s`,
              )
            : upstreamUnavailable(`no upstream budget for this item within the batch's ${seconds} s`, 1),
        );
      }

      function itemError(err: unknown): string {
        const gw = toGatewayError(err);
        if (err instanceof CallerRefusal)
          refusedItems.set(err.reason, (refusedItems.get(err.reason) ?? 0) + 1);
        if (gw.statusCode >= 500 && gw.code === 'INTERNAL')
          request.log.error({ err }, 'batch item failed unexpectedly');
        return JSON.stringify({ status: gw.statusCode, error: errorBody(request.id, gw).error });
      }
    },
  );
};

export default batchRoute;
