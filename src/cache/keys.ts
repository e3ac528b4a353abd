// Cache keys from the normalised tuple: a version prefix, the author id encoded so no input can
// collide with another key or escape its prefix, then the query in a fixed order. The author id is
// wrapped in a hash tag so every variant of one author lives in one Redis Cluster slot (purge).
import type { SpreadParams } from '../upstream/params.js';

const KEY_VERSION = 'v1';

/** Base64url cannot contain ':', '{', '}' or '*', so an id can never end a field or a hash tag. */
export function encodeAuthorId(id: string): string {
  return Buffer.from(id, 'utf8').toString('base64url');
}

/** Tags of recent ids: every request names its key, and encoding the id each time showed in profiles. */
const tags = new Map<string, string>();
const MAX_TAGS = 10_000;

/** `{a:<b64>}`: the hash tag that groups an author's keys in one cluster slot. */
function authorTag(oAuthorId: string): string {
  let tag = tags.get(oAuthorId);
  if (tag === undefined) {
    tag = `{a:${encodeAuthorId(oAuthorId)}}`;
    if (tags.size >= MAX_TAGS) tags.clear();
    tags.set(oAuthorId, tag);
  }
  return tag;
}

/** The tuple part of a key, without the deployment prefix: stable across instances and restarts. */
export function tupleKey(p: SpreadParams): string {
  return `${KEY_VERSION}:${authorTag(p.oAuthorId)}:${p.platform}:${p.range}:${p.type}:${p.onlyAssign ? 1 : 0}:${p.flowType}`;
}

/** The author part shared by every variant, for purge. */
export function authorKeyPrefix(oAuthorId: string): string {
  return `${KEY_VERSION}:${authorTag(oAuthorId)}:`;
}
