// Lua run by Redis so that every instance's check-and-reserve is one atomic step, timed by Redis's
// own clock (TIME) rather than by instances whose clocks disagree. The arithmetic mirrors gcra.ts,
// backoff.ts and local-gate.ts. One script sees the account's keys and one endpoint's together;
// all share the `{gov}` hash tag: in Redis Cluster one script, one slot.

/**
 * KEYS of the gate and record scripts: the account's (rate, quota:<day>, circuit, probe), then the
 * endpoint's (rate, quota:<day>, dayover:<day>, pause, strikes). redis-gate.ts builds them.
 */
const ACCOUNT_KEYS = ['rate', 'quota', 'circuit', 'probe'] as const;
const ENDPOINT_KEYS = ['rate', 'quota', 'dayover', 'pause', 'strikes'] as const;
export const GOVERNOR_KEY_COUNT = ACCOUNT_KEYS.length + ENDPOINT_KEYS.length;

const NOW = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
`;

/** GCRA on one schedule key: {start wait, base} without writing (gcra.ts). */
const GCRA = `
local function slot(key, interval, burst)
  local base = math.max(tonumber(redis.call('GET', key) or '0'), now)
  local start = math.max(now, base - (burst - 1) * interval)
  return start - now, base
end
local function take(key, base, interval)
  local tat = base + interval
  redis.call('SET', key, string.format('%.3f', tat), 'PX', math.ceil(tat - now) + 1000)
  return math.ceil(tat - now)
end
local function handoff(key, ms)
  if ms > 0 and now + ms > tonumber(redis.call('GET', key) or '0') then
    redis.call('SET', key, string.format('%.3f', now + ms), 'PX', math.ceil(ms) + 1000)
  end
end
local function addUnsynced(key, n, ttl)
  if n > 0 then
    redis.call('INCRBY', key, n)
    redis.call('PEXPIRE', key, ttl)
  end
end
`;

/**
 * ARGV: mode ('reserve' | 'account' | 'admit'), intervalMs, burst, maxWaitMs, quota (0: none),
 * dayLeftMs, probeTtlMs, unsynced, handoffMs, epIntervalMs (0: no budget of its own), epQuota,
 * epUnsynced, epHandoffMs. `unsynced`: calls admitted in-process while Redis was away, added to
 * today's counts; `handoffMs`: how far ahead of now the in-process schedule handed out slots
 * meanwhile (the shared schedule starts after them).
 * Returns {'go', probe 0|1, used, tatAhead, epTatAhead, epUsed} | {'wait', ms, used, tatAhead,
 * epTatAhead, next, epUsed} | {reason, retryMs, code-or-used, probing 0|1}; tatAhead / epTatAhead:
 * how far ahead of now the schedules run after a reservation (-1: not touched), so the in-process
 * ones can follow; epUsed: the endpoint's count today (remembered should Redis forget it).
 */
export const GATE_LUA = `${NOW}${GCRA}
local mode = ARGV[1]
local interval = tonumber(ARGV[2])
local burst = tonumber(ARGV[3])
local maxWait = tonumber(ARGV[4])
local quota = tonumber(ARGV[5])
local dayLeft = tonumber(ARGV[6])
local epInterval = tonumber(ARGV[10])
local epQuota = tonumber(ARGV[11])
local dayKeyTtl = math.ceil(dayLeft) + 3600000
addUnsynced(KEYS[2], tonumber(ARGV[8]), dayKeyTtl)
addUnsynced(KEYS[6], tonumber(ARGV[12]), dayKeyTtl)
handoff(KEYS[1], tonumber(ARGV[9]))
handoff(KEYS[5], tonumber(ARGV[13]))
local tatAhead = -1
local epAhead = -1
local probe = 0
local openUntil = redis.call('HGET', KEYS[3], 'until')
if openUntil then
  local code = tonumber(redis.call('HGET', KEYS[3], 'code') or '0')
  local left = tonumber(openUntil) - now
  if left > 0 then return {'circuit', math.ceil(left), code} end
  local probeLeft = redis.call('PTTL', KEYS[4])
  if probeLeft > 0 then return {'circuit', probeLeft, code, 1} end
  probe = 1
end
local dayover = redis.call('PTTL', KEYS[7])
if dayover > 0 then return {'dayover', dayover, 303} end
local pause = redis.call('PTTL', KEYS[8])
if pause > 0 then return {'backoff', pause, 302} end
local used = tonumber(redis.call('GET', KEYS[2]) or '0')
if quota > 0 and used >= quota then return {'quota', math.ceil(dayLeft), used} end
local epUsed = tonumber(redis.call('GET', KEYS[6]) or '0')
if epQuota > 0 and epUsed >= epQuota then return {'endpoint_quota', math.ceil(dayLeft), used} end
if mode == 'reserve' and epInterval > 0 then
  local wait, base = slot(KEYS[5], epInterval, burst)
  if wait > maxWait then return {'rate', math.ceil(wait), used} end
  if wait > 0 then
    epAhead = take(KEYS[5], base, epInterval)
    return {'wait', math.ceil(wait), used, tatAhead, epAhead, 'account', epUsed}
  end
  local aWait = slot(KEYS[1], interval, burst)
  if aWait > maxWait then return {'rate', math.ceil(aWait), used} end
  epAhead = take(KEYS[5], base, epInterval)
end
if mode == 'reserve' or mode == 'account' then
  local wait, base = slot(KEYS[1], interval, burst)
  if wait > maxWait then return {'rate', math.ceil(wait), used} end
  tatAhead = take(KEYS[1], base, interval)
  if wait > 0 then return {'wait', math.ceil(wait), used, tatAhead, epAhead, 'admit', epUsed} end
end
if probe == 1 then redis.call('SET', KEYS[4], '1', 'PX', ARGV[7]) end
if quota > 0 then
  used = redis.call('INCR', KEYS[2])
  redis.call('PEXPIRE', KEYS[2], dayKeyTtl)
end
if epQuota > 0 then
  epUsed = redis.call('INCR', KEYS[6])
  redis.call('PEXPIRE', KEYS[6], dayKeyTtl)
end
return {'go', probe, used, tatAhead, epAhead, epUsed}
`;

/**
 * After an answer. ARGV: event ('ok' | '302' | '303' | 'credential' | 'other' | 'nocode'),
 * isProbe 0|1, code, backoffBaseMs, backoffCapMs, jitter01, strikesTtlMs, dayLeftMs,
 * cooldownMs, cooldownCapMs, circuitRetentionMs.
 * Returns {effect, ms, strikes, closed 0|1}: effect is 'none', 'backoff' (a new pause of the
 * endpoint), 'paused' (one was already running: a burst of 302s counts once), 'dayover' (the
 * endpoint until the upstream's midnight), 'opened', 'reopened', 'already' (the account's circuit).
 */
export const RECORD_LUA = `${NOW}
local event = ARGV[1]
local isProbe = ARGV[2] == '1'
local code = ARGV[3]
local backoffBase = tonumber(ARGV[4])
local backoffCap = tonumber(ARGV[5])
local jitter01 = tonumber(ARGV[6])
local strikesTtl = ARGV[7]
local dayLeft = tonumber(ARGV[8])
local cooldown = tonumber(ARGV[9])
local cooldownCap = tonumber(ARGV[10])
local retention = tonumber(ARGV[11])
local closed = 0
if isProbe and event == 'nocode' then
  redis.call('DEL', KEYS[4])
elseif isProbe and event ~= 'credential' then
  redis.call('DEL', KEYS[3], KEYS[4])
  closed = 1
end
if event == 'ok' then
  redis.call('DEL', KEYS[9])
elseif event == '302' then
  local left = redis.call('PTTL', KEYS[8])
  if left > 0 then return {'paused', left, tonumber(redis.call('GET', KEYS[9]) or '0'), closed} end
  local strikes = redis.call('INCR', KEYS[9])
  redis.call('PEXPIRE', KEYS[9], strikesTtl)
  local base = math.min(backoffCap, backoffBase * 2 ^ (strikes - 1))
  local ms = math.floor(base * (1 + 0.5 * jitter01) + 0.5)
  redis.call('SET', KEYS[8], '1', 'PX', ms)
  return {'backoff', ms, strikes, closed}
elseif event == '303' then
  local ms = math.max(1, math.ceil(dayLeft))
  redis.call('SET', KEYS[7], '1', 'PX', ms)
  return {'dayover', ms, 0, closed}
elseif event == 'credential' then
  local openUntil = redis.call('HGET', KEYS[3], 'until')
  local strikes = tonumber(redis.call('HGET', KEYS[3], 'strikes') or '0')
  if openUntil and not isProbe then
    return {'already', math.max(0, math.ceil(tonumber(openUntil) - now)), strikes, closed}
  end
  strikes = strikes + 1
  local ms = math.min(cooldownCap, cooldown * 2 ^ (strikes - 1))
  redis.call('HSET', KEYS[3], 'until', string.format('%.3f', now + ms), 'strikes', strikes, 'code', code)
  redis.call('PEXPIRE', KEYS[3], math.ceil(ms) + retention)
  redis.call('DEL', KEYS[4])
  return {strikes == 1 and 'opened' or 'reopened', math.ceil(ms), strikes, closed}
end
return {'none', 0, 0, closed}
`;

/**
 * Read-only view for /readyz, /metrics and the in-process mirror. KEYS: the account's four, then
 * any number of endpoints' five. Returns {circuitLeftMs (-1: closed), code, used, rateAheadMs,
 * then per endpoint: dayoverMs, pauseMs, used, rateAheadMs}.
 */
export const STATUS_LUA = `${NOW}
local circuit = -1
local code = 0
local openUntil = redis.call('HGET', KEYS[3], 'until')
if openUntil then
  circuit = math.max(0, math.ceil(tonumber(openUntil) - now))
  code = tonumber(redis.call('HGET', KEYS[3], 'code') or '0')
end
local function ahead(key)
  return math.max(0, math.ceil(tonumber(redis.call('GET', key) or '0') - now))
end
local out = {circuit, code, tonumber(redis.call('GET', KEYS[2]) or '0'), ahead(KEYS[1])}
local i = 5
while KEYS[i] do
  out[#out + 1] = redis.call('PTTL', KEYS[i + 2])
  out[#out + 1] = redis.call('PTTL', KEYS[i + 3])
  out[#out + 1] = tonumber(redis.call('GET', KEYS[i + 1]) or '0')
  out[#out + 1] = ahead(KEYS[i])
  i = i + 5
end
return out
`;
