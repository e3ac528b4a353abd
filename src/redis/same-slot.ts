// A key that lands in the same Redis Cluster slot as another, so one script may use both: the
// key's own hash tag when it has one, else the whole key made the tag.
export function sameSlotKey(key: string, suffix: string): string {
  const open = key.indexOf('{');
  const close = open < 0 ? -1 : key.indexOf('}', open + 1);
  if (close > open + 1) return key + suffix;
  // Braces that make no tag cannot go inside one (REDIS_KEY_PREFIX allows none; keys have none).
  if (key.includes('{') || key.includes('}')) return key + suffix;
  return `{${key}}${suffix}`;
}
