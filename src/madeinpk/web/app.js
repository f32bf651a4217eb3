// MadeInPK Live: the auction list and the live auction page, with no build step and no network
// requests beyond this server. The live page follows the customer's React hook: auction_status
// is the truth on every (re)connect, new_bid and auction_ended update it, errors show for 5 s.

import { startAlerts } from "./alerts.js";
import { startOffers } from "./offers.js";
import { startSoon } from "./soon.js";
import { applyLanguage, errorText, formatPKR, formatTime, t } from "./languages.js";
import { alreadyApplied, reconnectDelay, seqOf, socketUrl } from "./live.js";
import { TAB_ID, shareSocket } from "./tabs.js";
import { startWatchToggle } from "./watch.js";

const TOKEN_KEY = "authToken"; // the React client's key

const $ = (id) => document.getElementById(id);
const token = () => localStorage.getItem(TOKEN_KEY);

function timeLeft(endTime) {
  const seconds = Math.max(0, Math.floor((new Date(endTime) - Date.now()) / 1000));
  if (seconds === 0) return t("ended");
  const d = Math.floor(seconds / 86400), h = Math.floor((seconds % 86400) / 3600);
  const m = Math.floor((seconds % 3600) / 60), s = seconds % 60;
  return (d ? t("duration_days", { d }) : "") +
    t("duration", { h, m: String(m).padStart(2, "0"), s: String(s).padStart(2, "0") });
}

async function api(path, options = {}) {
  const headers = { "Content-Type": "application/json", ...(options.headers || {}) };
  if (token()) headers.Authorization = `Token ${token()}`;
  const response = await fetch(path, { ...options, headers });
  const body = response.status === 204 ? null : await response.json().catch(() => null);
  return { ok: response.ok, status: response.status, body };
}

async function renderAccount() {
  const box = $("account");
  box.textContent = "";
  if (!token()) {
    const panel = $("login-panel");
    if (panel) panel.hidden = false;
    else {
      const link = document.createElement("a");
      link.href = "/";
      link.textContent = t("sign_in_to_bid");
      box.append(link);
    }
    return null;
  }
  const me = await api("/api/auth/profile/");
  if (!me.ok) {
    localStorage.removeItem(TOKEN_KEY);
    return renderAccount();
  }
  const name = document.createElement("span");
  name.id = "username";
  name.textContent = t("signed_in_as", { username: me.body.username });
  const out = document.createElement("button");
  out.type = "button";
  out.textContent = t("sign_out");
  out.addEventListener("click", async () => {
    await api("/api/auth/logout/", { method: "POST" });
    localStorage.removeItem(TOKEN_KEY);
    location.reload();
  });
  box.append(name, out);
  return me.body;
}

// --- the list -----------------------------------------------------------------------------

// The live auctions (matching the search, if any), the soonest ending first or the best match.
async function liveList(query, search) {
  const result = await api(`/api/auctions/?status=active&${query}&page_size=100`);
  const list = $("auction-list");
  list.replaceChildren();
  if (!result.ok) {
    $("list-status").textContent = t("could_not_load");
    return;
  }
  $("list-status").textContent = search
    ? t("auctions_match", { count: result.body.count, search })
    : t("auctions_open", { count: result.body.count });
  for (const auction of result.body.results) {
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
    price.className = "price";
    price.textContent = t("card_price", {
      price: formatPKR(auction.current_price), count: auction.total_bids,
    });
    const left = document.createElement("p");
    left.className = "time-left";
    left.dataset.end = auction.end_time;
    left.textContent = t("card_time_left", { time: timeLeft(auction.end_time) });
    link.append(title, price, left);
    item.append(link);
    list.append(item);
  }
}

async function listPage() {
  const form = $("login-form");
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const error = $("login-error");
    const result = await api("/api/auth/login/", {
      method: "POST",
      body: JSON.stringify({ email: form.email.value, password: form.password.value }),
    });
    if (result.ok) {
      localStorage.setItem(TOKEN_KEY, result.body.token);
      location.reload();
    } else {
      error.textContent = result.body?.error || t("sign_in_failed");
      error.hidden = false;
    }
  });
  if (await renderAccount()) startOffers(api);
  // The search box submits to this page (?search=…); a search lists the best match first (the
  // API's relevance order, docs/rest-api.md "Search"), no search the soonest ending first.
  const search = (new URLSearchParams(location.search).get("search") || "").trim();
  $("search-text").value = search;
  const query = search ? `search=${encodeURIComponent(search)}` : "ordering=end_time";
  // Scheduled auctions (matching the search, if any), in their own "Starting soon" section; one
  // that opens joins the live list.
  const showLive = () => liveList(query, search);
  startSoon(api, search, timeLeft, showLive);
  await showLive();
  setInterval(() => {
    for (const el of document.querySelectorAll(".time-left")) {
      el.textContent = t("card_time_left", { time: timeLeft(el.dataset.end) });
    }
  }, 1000);
}

// --- the live page -------------------------------------------------------------------------

const cents = (money) => Math.round(Number(money) * 100);
const money = (value) => (value / 100).toFixed(2);

function auctionPage() {
  const auctionId = Number(location.pathname.split("/").filter(Boolean)[1]);
  let state = null;
  let socket = null;
  let connected = false;
  let attempts = 0;
  let errorTimer = null;
  let me = null; // the signed-in user's profile, once known
  let clockOffset = 0; // server clock minus this browser's, from server_time
  let awaitingAnswer = false; // a place_bid of ours has no bid_accepted or error yet
  let status = null; // {kind: "leading" | "outbid" | "info", text}
  let extendedTo = null;

  const now = () => Date.now() + clockOffset;
  const isActive = () => state && state.status === "active" && new Date(state.end_time) > now();
  // Scheduled: the page shows "Starts in …" and a disabled form until auction_started.
  const isScheduled = () => Boolean(state) && state.status === "scheduled";
  const leader = () => state?.latest_bids[0]?.bidder ?? null;
  const iLead = () => Boolean(me) && leader() === me.username;
  let lastSeq = null; // the last event seen: a reconnect replays from here
  let link = null; // this browser's one socket for this auction, whichever tab holds it
  let bids = 0;
  let confirmingBuy = false; // Buy It Now takes two clicks: it cannot be undone
  let bought = null; // our buy_now_accepted, once we bought

  const setConnected = (live) => {
    connected = live;
    const pill = $("connection");
    pill.textContent = live ? t("live") : t("disconnected");
    pill.className = `pill ${live ? "pill-on" : "pill-off"}`;
    renderBidForm();
  };

  const showError = (message) => {
    const box = $("error");
    box.textContent = message;
    box.hidden = false;
    clearTimeout(errorTimer);
    errorTimer = setTimeout(() => { box.hidden = true; }, 5000);
  };

  const setStatus = (kind, text) => { status = { kind, text }; renderStatus(); };

  // On (re)connect: whether we lead is in the snapshot (the newest bid is the leader's).
  function initialStatus() {
    if (!me || !state) return;
    if (iLead()) setStatus("leading", leadingText());
    else if (status?.kind === "leading") status = null;
  }

  function renderStatus() {
    const box = $("my-status");
    if (!status || !me || !state) { box.hidden = true; return; }
    box.textContent = status.text;
    box.className = `my-status ${status.kind}`;
    box.hidden = false;
  }

  // What "you lead" says, with the standing maximum when it is above the price.
  function leadingText() {
    const max = state.my_max_bid;
    return max && cents(max) > cents(state.current_price)
      ? t("leading_with_max", { max: formatPKR(max) })
      : t("leading");
  }

  function renderBidForm() {
    const form = $("bid-form");
    if (!state) return;
    const input = $("bid-amount"), maxInput = $("max-amount"), button = $("bid-button");
    const hint = $("bid-hint");
    form.hidden = !isActive() && !isScheduled();
    input.min = state.min_next_bid;
    input.placeholder = t("min_placeholder", { amount: state.min_next_bid });
    maxInput.min = state.min_next_bid;
    const canBid = Boolean(token()) && connected && !isScheduled();
    for (const control of [input, maxInput, button]) control.disabled = !canBid;
    // Retracting (docs/auction-rules.md § 10): for a signed-in bidder with a bid on the page.
    const retract = $("retract-button");
    retract.hidden = !me || !state.latest_bids.some((b) => b.bidder === me.username && !b.auto);
    retract.disabled = !canBid;
    if (isScheduled()) {
      hint.textContent = t("opens_at_start");
    } else if (!token()) {
      hint.textContent = t("spectator_hint");
    } else if (iLead()) {
      hint.textContent = t("lead_hint");
    } else {
      hint.textContent = t("bid_hint", {
        min: formatPKR(state.min_next_bid), step: formatPKR(state.min_increment),
      });
    }
    renderBuyNow();
  }

  // "Buy It Now for PKR …" while the server says it is open (buy_now_open), hidden once not.
  function renderBuyNow() {
    const box = $("buy-now"), button = $("buy-now-button");
    const mine = Boolean(me) && state.seller?.id === me.id;
    const open = isActive() && Boolean(state.buy_now_open) && Boolean(state.buy_now_price) && !mine;
    box.hidden = !open;
    if (!open) { confirmingBuy = false; return; }
    const price = formatPKR(state.buy_now_price);
    button.textContent = t(confirmingBuy ? "buy_now_confirm" : "buy_now", { price });
    button.className = confirmingBuy ? "confirming" : "";
    button.disabled = !token() || !connected;
    $("buy-now-hint").textContent = t(token() ? "buy_now_hint" : "buy_now_sign_in");
  }

  function renderCountdown() {
    if (!state) return;
    $("countdown").textContent = timeLeft(new Date(new Date(state.end_time).getTime() - clockOffset));
    const starts = $("starts");
    starts.hidden = !isScheduled();
    if (isScheduled()) {
      const start = new Date(new Date(state.start_time).getTime() - clockOffset);
      starts.textContent = start > Date.now()
        ? t("starts_in", { time: timeLeft(start) })
        : t("starting_now");
    }
  }

  function render() {
    if (!state) return;
    $("loading").hidden = true;
    $("auction").hidden = false;
    const product = state.product;
    document.title = t("page_title_named", { name: product.name });
    $("name").textContent = product.name;
    $("description").textContent = product.description;
    $("condition").textContent = t(`condition_${product.condition}`);
    $("category").textContent = product.category || "—";
    const images = product.images;
    const primary = images.find((i) => i.is_primary) || images[0];
    const main = $("primary-image");
    main.hidden = !primary;
    if (primary) { main.src = primary.url; main.alt = product.name; }
    const thumbs = $("thumbnails");
    thumbs.textContent = "";
    images.forEach((image, index) => {
      const button = document.createElement("button");
      button.type = "button";
      button.setAttribute("aria-pressed", String(image === primary));
      button.setAttribute("aria-label", t("show_image", { n: index + 1, name: product.name }));
      const img = document.createElement("img");
      img.src = image.url;
      img.alt = "";
      button.append(img);
      button.addEventListener("click", () => {
        main.src = image.url;
        for (const b of thumbs.children) b.setAttribute("aria-pressed", String(b === button));
      });
      thumbs.append(button);
    });
    const seller = state.seller;
    $("seller-name").textContent = t("seller", { name: seller.brand_name || seller.username });
    $("verified").hidden = !seller.is_verified;
    $("rating").textContent = t("rating", {
      rating: seller.average_rating, count: seller.total_feedbacks,
    });
    $("biography").textContent = seller.biography;
    $("starting-price").textContent = formatPKR(state.starting_price);
    $("current-price").textContent = formatPKR(state.current_price);
    $("min-next-bid").textContent = formatPKR(state.min_next_bid);
    $("increment").textContent = formatPKR(state.min_increment);
    $("total-bids").textContent = String(state.total_bids);
    renderCountdown();
    const reserve = $("reserve");
    reserve.hidden = state.reserve_met === null || state.reserve_met === undefined;
    reserve.textContent = state.reserve_met ? t("reserve_met") : t("reserve_not_met");
    reserve.className = `reserve ${state.reserve_met ? "reserve-met" : "reserve-not-met"}`;
    const softClose = $("soft-close");
    softClose.hidden = !state.soft_close_seconds || state.status !== "active";
    softClose.textContent = t("soft_close", { s: state.soft_close_seconds });
    const extended = $("extended");
    extended.hidden = !extendedTo || state.status !== "active";
    if (extendedTo) {
      extended.textContent = t("extended", { time: formatTime(new Date(extendedTo)) });
    }
    const list = $("latest-bids");
    list.textContent = "";
    for (const bid of state.latest_bids.slice(0, 5)) {
      const item = document.createElement("li");
      item.innerHTML = "<span class=bidder></span><span class=amount></span><time></time>";
      item.querySelector(".bidder").textContent = bid.bidder;
      item.querySelector(".amount").textContent = formatPKR(bid.amount);
      const time = item.querySelector("time");
      time.dateTime = bid.time;
      time.textContent = formatTime(new Date(bid.time));
      if (bid.auto) {
        item.classList.add("auto");
        const mark = document.createElement("span");
        mark.className = "auto-mark";
        mark.textContent = t("automatic");
        mark.title = t("automatic_title");
        item.append(mark);
      }
      list.append(item);
    }
    $("no-bids").hidden = state.latest_bids.length > 0;
    const ended = $("ended");
    if (state.status !== "active" && !isScheduled()) {
      const winner = state.winner?.username ?? state.winner;
      const finalPrice = formatPKR(state.final_price || state.current_price);
      ended.textContent = bought
        ? t("bought_by_you", { price: formatPKR(bought.price), order: bought.order_number })
        : state.bought_now && winner
        ? t("ended_bought", { winner, price: finalPrice })
        : winner
        ? t("ended_winner", { winner, price: finalPrice })
        : state.reserve_met === false && state.total_bids > 0
          ? t("ended_reserve")
          : t("ended_no_bids");
      ended.hidden = false;
      status = null;
      findSuccessor();
    } else {
      ended.hidden = true;
    }
    renderStatus();
    renderBidForm();
  }

  // An unsold run may have been relisted (by its seller, or by auto_relist in the ending's own
  // transaction): the page links to the new run. Asked once per ending seen.
  let successorAsked = false;
  async function findSuccessor() {
    if (successorAsked) return;
    successorAsked = true;
    const result = await api(`/api/auctions/${auctionId}/`);
    if (result.ok && result.body.relisted_as) {
      $("relisted-link").href = `/auction/${result.body.relisted_as}`;
      $("relisted").hidden = false;
    }
  }

  // The reserve is secret, so whether a new price meets it is asked of the server (only while
  // it is not met: prices never go down); so is whether Buy It Now is still open after a bid.
  async function refreshReserve() {
    const result = await api(`/api/auctions/${auctionId}/`);
    if (!result.ok || !state) return;
    if (result.body.reserve_met) state = { ...state, reserve_met: true };
    if (!result.body.buy_now_open) state = { ...state, buy_now_open: false };
    render();
  }

  function onNewBid(data) {
    if (data.seq <= state.seq) return; // already in the state (a reconnect's snapshot)
    const wasLeading = iLead();
    const mineBefore = awaitingAnswer;
    state = {
      ...state,
      seq: data.seq,
      current_price: data.current_price,
      min_next_bid: data.min_next_bid,
      min_increment: money(cents(data.min_next_bid) - cents(data.current_price)),
      total_bids: data.total_bids ?? (state.total_bids || 0) + 1,
      latest_bids: [data, ...state.latest_bids.slice(0, 4)],
    };
    const noReserve = state.reserve_met === null || state.reserve_met === undefined;
    if (state.buy_now_open && noReserve && cents(state.current_price) >= cents(state.buy_now_price)) {
      state.buy_now_open = false; // without a reserve: closed once the price reaches it
    }
    if (state.reserve_met === false) refreshReserve(); // with a reserve, Buy It Now's fate too
    if (!me) return;
    if (data.bidder === me.username) {
      setStatus("leading", leadingText());
    } else if (wasLeading && state.my_max_bid && cents(data.amount) <= cents(state.my_max_bid)) {
      // Within our maximum: our proxy answers in the very next event, and we keep the lead.
    } else {
      state.my_max_bid = null;
      if (wasLeading || mineBefore) {
        const values = { amount: formatPKR(data.amount), min: formatPKR(data.min_next_bid) };
        setStatus("outbid", data.auto ? t("outbid_auto", values) : t("outbid", values));
      }
    }
  }

  // A bid was removed or retracted: the server recounted price, leader and latest bids.
  function onBidRemoved(data) {
    const wasLeading = iLead();
    state = {
      ...state,
      seq: data.seq,
      current_price: data.current_price,
      min_next_bid: data.min_next_bid,
      min_increment: money(cents(data.min_next_bid) - cents(data.current_price)),
      total_bids: data.total_bids,
      latest_bids: data.latest_bids,
    };
    const notice = $("removed");
    notice.textContent = data.leader
      ? t("bid_removed", { price: formatPKR(data.current_price) })
      : t("bid_removed_no_bids");
    notice.hidden = false;
    refreshMine();
    if (!me) return;
    if (data.leader === me.username) setStatus("leading", leadingText());
    else if (wasLeading) {
      state.my_max_bid = null;
      setStatus("outbid", t("bid_removed_outbid", { min: formatPKR(data.min_next_bid) }));
    }
  }

  // What only the server knows after a removal: the reserve and this viewer's own maximum.
  async function refreshMine() {
    const result = await api(`/api/auctions/${auctionId}/`);
    if (!result.ok || !state) return;
    state = { ...state, reserve_met: result.body.reserve_met, my_max_bid: result.body.my_max_bid };
    if (iLead()) setStatus("leading", leadingText());
    render();
  }

  function onBidAccepted(data) {
    awaitingAnswer = false;
    if (data.is_leading) {
      if (data.max_amount) state.my_max_bid = data.max_amount;
      else if (!state.my_max_bid || cents(state.my_max_bid) < cents(data.amount)) state.my_max_bid = data.amount;
      setStatus("leading", leadingText());
    } else {
      state.my_max_bid = null;
      setStatus("outbid", t("recorded_but_outbid", {
        amount: formatPKR(data.amount), price: formatPKR(data.current_price),
      }));
    }
  }

  // error.code says what to do beyond showing the (unchanged) message.
  function onError(message) {
    awaitingAnswer = false;
    showError(errorText(message));
    const input = $("bid-amount"), maxInput = $("max-amount");
    input.removeAttribute("aria-invalid");
    maxInput.removeAttribute("aria-invalid");
    switch (message.code) {
      case "too_low":
      case "below_increment":
      case "invalid_amount":
        input.setAttribute("aria-invalid", "true");
        input.focus();
        break;
      case "invalid_max_amount":
        maxInput.setAttribute("aria-invalid", "true");
        maxInput.focus();
        break;
      case "not_active":
        if (state) { state = { ...state, is_active: false }; renderBidForm(); }
        break;
      case "no_buy_now":
      case "buy_now_closed":
        if (state) { state = { ...state, buy_now_open: false }; renderBidForm(); }
        break;
      case "blocked":
      case "unauthenticated":
        for (const id of ["bid-amount", "max-amount", "bid-button"]) $(id).disabled = true;
        break;
      default:
        break;
    }
  }

  function handle(message) {
    if (message.server_time) clockOffset = Date.parse(message.server_time) - Date.now();
    const seq = seqOf(message);
    // Answers (bid_accepted, error) are not events: they are never replayed nor "already in".
    const event = ["auction_started", "new_bid", "auction_extended", "auction_ended", "bid_removed"].includes(message.type);
    if (event && alreadyApplied(message, state)) {
      if (seq !== null) lastSeq = Math.max(lastSeq ?? 0, seq);
      return;
    }
    if (event || message.type === "auction_status") lastSeq = seq ?? lastSeq;
    switch (message.type) {
      case "auction_status": // the truth, also after every reconnect
        state = message.data;
        initialStatus();
        break;
      case "new_bid":
        if (!state) return;
        onNewBid(message.data);
        break;
      case "auction_started": // a scheduled auction opened: bidding is on
        if (!state) return;
        state = { ...state, status: "active", seq: message.data.seq, starts_in: undefined };
        break;
      case "auction_extended":
        if (!state) return;
        state = { ...state, seq: message.data.seq, end_time: message.data.end_time };
        extendedTo = message.data.end_time;
        break;
      case "bid_removed":
        if (!state) return;
        onBidRemoved(message.data);
        break;
      case "bid_accepted":
        if (!state || !ownBid(message.data.bid_id)) return;
        onBidAccepted(message.data);
        break;
      case "auction_ended":
        if (!state) return;
        state = {
          ...state,
          status: "ended",
          seq: message.data.seq ?? state.seq,
          winner: message.data.winner,
          final_price: message.data.final_price,
          reserve_met: message.data.reserve_met ?? state.reserve_met,
          bought_now: message.data.buy_now === true || Boolean(state.bought_now),
          buy_now_open: false,
        };
        break;
      case "buy_now_accepted":
        if (!state || !ownBid(message.data.bid_id)) return;
        awaitingAnswer = false;
        bought = message.data;
        break;
      case "error": // every tab hears the shared socket: each shows its own bids' errors
        if (message.bid_id ? ownBid(message.bid_id) : link?.isLeader()) onError(message);
        return;
      default:
        return;
    }
    render();
  }

  // Bids carry this tab's id, so the tab that sent one is the one that hears its answer.
  function ownBid(bidId) {
    return !bidId || bidId.startsWith(`${TAB_ID}-`);
  }

  function connect({ message, status }) {
    const open = () => {
      socket = new WebSocket(socketUrl(auctionId, token(), lastSeq));
      socket.onopen = () => { attempts = 0; status(true); };
      socket.onmessage = (event) => message(JSON.parse(event.data));
      socket.onclose = (event) => {
        status(false);
        awaitingAnswer = false;
        if (event.code === 4401 || event.code === 4404) {
          showError(event.code === 4401 ? t("session_expired") : t("auction_not_found"));
          return;
        }
        attempts += 1;
        const delay = reconnectDelay(event.code, attempts);
        if (delay !== null) setTimeout(open, delay);
      };
    };
    open();
    return { send: (data) => socket?.readyState === WebSocket.OPEN && socket.send(JSON.stringify(data)) };
  }

  $("bid-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const input = $("bid-amount"), maxInput = $("max-amount");
    const maximum = maxInput.value.trim() === "" ? null : parseFloat(maxInput.value);
    if (maximum !== null && !(maximum > 0)) {
      showError(t("invalid_max"));
      return;
    }
    let amount = input.value.trim() === "" ? null : parseFloat(input.value);
    if (amount === null && maximum !== null && state) {
      // Only a maximum: the leader raises it; anyone else bids the minimum with it as ceiling.
      amount = Number(iLead() ? state.current_price : state.min_next_bid);
    }
    if (!(amount > 0)) {
      showError(t("invalid_amount"));
      return;
    }
    if (link && connected) {
      bids += 1;
      const frame = { type: "place_bid", amount, bid_id: `${TAB_ID}-${bids}` };
      if (maximum !== null) frame.max_amount = maximum;
      awaitingAnswer = true;
      link.send(frame);
      input.value = "";
      maxInput.value = "";
    }
  });
  $("retract-button").addEventListener("click", () => {
    if (link && connected) link.send({ type: "retract_bid" });
  });
  $("buy-now-button").addEventListener("click", () => {
    if (!state || !link || !connected) return;
    if (!confirmingBuy) { confirmingBuy = true; renderBuyNow(); return; }
    confirmingBuy = false;
    bids += 1;
    awaitingAnswer = true;
    link.send({ type: "buy_now", bid_id: `${TAB_ID}-${bids}` });
    renderBuyNow();
  });
  setInterval(() => { if (state) { renderCountdown(); renderBidForm(); } }, 1000);
  renderAccount().then((profile) => {
    me = profile;
    initialStatus();
    render();
    if (profile) startOffers(api);
  });
  if (token()) startAlerts(token(), auctionId);
  startWatchToggle(auctionId, token);
  link = shareSocket(`madeinpk-auction-${auctionId}`, connect, {
    onMessage: handle,
    onStatus: setConnected,
    // A tab that joins gets this tab's state, as of the last event it applied.
    snapshot: () => state && { type: "auction_status", data: { ...state, seq: lastSeq ?? state.seq } },
  });
}

applyLanguage({ token, api });
if (document.body.dataset.page === "auction") auctionPage();
else listPage();
