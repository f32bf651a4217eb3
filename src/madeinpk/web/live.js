// The live page's connection rules, apart from its rendering: where to reconnect from and when.
// A reconnect asks for `since_seq` (the last event seen), so the server replays what was missed;
// a replayed event, or any event the newest auction_status already includes, changes nothing.

export const SERVICE_RESTART = 1012; // the server is restarting: another process takes over
const FAST_RETRY_CODES = new Set([1001, 1006, SERVICE_RESTART]);
const NO_RETRY_CODES = new Set([4400, 4401, 4404]);

export function socketUrl(auctionId, token, lastSeq) {
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  const params = new URLSearchParams();
  if (token) params.set("token", token);
  if (lastSeq !== null && lastSeq !== undefined) params.set("since_seq", String(lastSeq));
  const query = params.toString();
  return `${scheme}://${location.host}/ws/auction/${auctionId}/${query ? `?${query}` : ""}`;
}

// Milliseconds before reconnect attempt `attempt` (1, 2, …) after a close with `code`, or null
// to stay closed. A restart or a dropped connection is retried at once (with jitter, so the
// watchers of a stopped process do not all land at the same instant), then with a backoff.
export function reconnectDelay(code, attempt) {
  if (NO_RETRY_CODES.has(code)) return null;
  const jitter = Math.random() * 250;
  if (FAST_RETRY_CODES.has(code) && attempt === 1) return 100 + jitter;
  return Math.min(10000, 500 * 2 ** Math.min(attempt - 1, 5)) + jitter;
}

// The highest seq an event or snapshot carries, or null.
export function seqOf(message) {
  const seq = message?.data?.seq;
  return Number.isInteger(seq) ? seq : null;
}

// True when the state already includes this event (a replay, or a copy racing a snapshot).
export function alreadyApplied(message, state) {
  const seq = seqOf(message);
  return Boolean(message.replay) || (state !== null && seq !== null && seq <= state.seq);
}
