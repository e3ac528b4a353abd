// GET /api/douyin-xingtu/gw/api/data_sp/get_author_spread_info/v1: the drop-in route.
// STUB until issue "Operations and integration surface" lands.
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';

const dropInRoute: FastifyPluginAsyncZod = async () => {};

export default dropInRoute;
