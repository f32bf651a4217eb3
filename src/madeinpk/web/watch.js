// The watch toggle on the auction page: whether you watch the auction and how many do, from the
// REST API (GET /api/auctions/{id}/ says both; POST and DELETE /api/auctions/{id}/watch/ change
// yours). Watchers get an "ending soon" notification before the end, pushed as a toast.

import { t } from "./languages.js";

const $ = (id) => document.getElementById(id);

function countText(count) {
  return count === 1 ? t("watch_count_one") : t("watch_count", { count });
}

export function startWatchToggle(auctionId, token) {
  const button = $("watch-button");
  const count = $("watch-count");
  if (!button || !count) return;
  let watching = false;
  let busy = false;

  const headers = () => (token() ? { Authorization: `Token ${token()}` } : {});
  const show = (isWatching, watchCount) => {
    watching = isWatching;
    button.setAttribute("aria-pressed", String(watching));
    button.textContent = t(watching ? "watching" : "watch");
    button.title = t(watching ? "unwatch_title" : "watch_title");
    count.textContent = countText(watchCount);
  };
  const load = async () => {
    const response = await fetch(`/api/auctions/${auctionId}/`, { headers: headers() });
    if (!response.ok) return;
    const auction = await response.json();
    show(Boolean(auction.is_watching), auction.watch_count ?? 0);
  };

  if (!token()) {
    button.disabled = true;
    button.textContent = t("watch_sign_in");
  }
  button.addEventListener("click", async () => {
    if (busy || !token()) return;
    busy = true;
    button.disabled = true;
    try {
      const path = `/api/auctions/${auctionId}/watch/`;
      const response = await fetch(path, { method: watching ? "DELETE" : "POST", headers: headers() });
      if (response.status === 200 || response.status === 201) {
        const body = await response.json();
        show(body.is_watching, body.watch_count);
      } else {
        await load(); // 204 (no body), or an error: read where things stand
      }
    } finally {
      busy = false;
      button.disabled = false;
    }
  });
  load().then(() => { if (!token()) button.textContent = t("watch_sign_in"); });
}
