// "Starting soon" on the list page: the scheduled auctions (GET /api/auctions/?status=scheduled,
// docs/auction-rules.md § Scheduled start), the soonest to open first, each with its start time
// and a countdown, linking to its page (which counts down too and opens live). The countdown
// runs from the body's `starts_in` (seconds, by the server's clock), so a browser whose clock is
// off still counts to the right moment. Hidden when nothing is scheduled. When a start passes,
// the auction moves to the live list on its own.

import { formatDateTime, formatPKR, t } from "./languages.js";

const $ = (id) => document.getElementById(id);

function card(auction, startsAt) {
  const item = document.createElement("li");
  const link = document.createElement("a");
  link.href = `/auction/${auction.id}`;
  const images = auction.product.images;
  const primary = images.find((i) => i.is_primary) || images[0];
  if (primary) {
    const img = document.createElement("img");
    img.src = primary.image_url;
    img.alt = auction.product.name;
    link.append(img);
  }
  const title = document.createElement("h2");
  title.textContent = auction.product.name;
  const price = document.createElement("p");
  price.className = "soon-price";
  price.textContent = t("card_starting_price", { price: formatPKR(auction.starting_price) });
  const when = document.createElement("p");
  when.className = "starts-at";
  const time = document.createElement("time");
  time.dateTime = auction.start_time;
  time.textContent = formatDateTime(new Date(auction.start_time));
  when.append(t("card_starts_at"), " ", time);
  const countdown = document.createElement("p");
  countdown.className = "starts-in";
  countdown.dataset.start = String(startsAt);
  link.append(title, price, when, countdown);
  item.append(link);
  return item;
}

// ``timeLeft(date)`` words the time until ``date`` (app.js's, as the live cards use).
// ``opened()`` is called when a listed start has passed and the server has opened it: the page
// then lists it among the live auctions, with no reload.
export async function startSoon(api, search, timeLeft, opened) {
  const section = $("soon");
  if (!section) return;
  const query = search ? `&search=${encodeURIComponent(search)}` : "";
  const list = $("soon-list");
  let refreshing = false;

  // The scheduled list as the server has it now; true when one listed before has left it.
  async function refresh() {
    const result = await api(`/api/auctions/?status=scheduled&ordering=start_time${query}&page_size=100`);
    if (!result.ok) return false;
    const before = [...list.querySelectorAll("a")].map((a) => a.getAttribute("href"));
    const loaded = Date.now();
    list.replaceChildren(
      ...result.body.results.map((a) => card(a, loaded + (a.starts_in ?? 0) * 1000)),
    );
    section.hidden = result.body.count === 0;
    const now = new Set(result.body.results.map((a) => `/auction/${a.id}`));
    return before.some((href) => !now.has(href));
  }

  const tick = () => {
    let due = false;
    for (const el of list.querySelectorAll(".starts-in")) {
      const start = Number(el.dataset.start);
      due ||= start <= Date.now();
      el.textContent = start > Date.now()
        ? t("starts_in", { time: timeLeft(new Date(start)) })
        : t("starting_now");
    }
    // A start has passed: ask again a moment later (the server opens it on the second; until
    // it has, the card stays, "Starting…", and the next tick asks again).
    if (due && !refreshing) {
      refreshing = true;
      setTimeout(async () => {
        try {
          if (await refresh()) await opened();
        } finally {
          refreshing = false;
        }
      }, 1000);
    }
  };
  await refresh();
  tick();
  setInterval(tick, 1000);
}
