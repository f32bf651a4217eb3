// MadeInPK Live: the auction list and the live auction page, with no build step and no network
// requests beyond this server. The live page follows the customer's React hook: auction_status
// is the truth on every (re)connect, new_bid and auction_ended update it, errors show for 5 s.

import { startAlerts } from "./alerts.js";
import { alreadyApplied, reconnectDelay, seqOf, socketUrl } from "./live.js";
import { TAB_ID, shareSocket } from "./tabs.js";

const TOKEN_KEY = "authToken"; // the React client's key

const $ = (id) => document.getElementById(id);
const token = () => localStorage.getItem(TOKEN_KEY);

export function formatPKR(value) {
  const amount = Number(value);
  return "PKR " + amount.toLocaleString("en-US", { minimumFractionDigits: 2, maximumFractionDigits: 2 });
}

function timeLeft(endTime) {
  const seconds = Math.max(0, Math.floor((new Date(endTime) - Date.now()) / 1000));
  if (seconds === 0) return "Ended";
  const d = Math.floor(seconds / 86400), h = Math.floor((seconds % 86400) / 3600);
  const m = Math.floor((seconds % 3600) / 60), s = seconds % 60;
  return (d ? `${d}d ` : "") + `${h}h ${String(m).padStart(2, "0")}m ${String(s).padStart(2, "0")}s`;
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
      link.textContent = "Sign in to bid";
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
  name.textContent = `Signed in as ${me.body.username} `;
  const out = document.createElement("button");
  out.type = "button";
  out.textContent = "Sign out";
  out.addEventListener("click", async () => {
    await api("/api/auth/logout/", { method: "POST" });
    localStorage.removeItem(TOKEN_KEY);
    location.reload();
  });
  box.append(name, out);
  return me.body;
}

// --- the list -----------------------------------------------------------------------------

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
      error.textContent = result.body?.error || "Sign-in failed";
      error.hidden = false;
    }
  });
  await renderAccount();
  const result = await api("/api/auctions/?status=active&ordering=end_time&page_size=100");
  const list = $("auction-list");
  if (!result.ok) {
    $("list-status").textContent = "Could not load auctions.";
    return;
  }
  $("list-status").textContent = `${result.body.count} auctions open for bidding`;
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
    price.textContent = `${formatPKR(auction.current_price)} · ${auction.total_bids} bids`;
    const left = document.createElement("p");
    left.className = "time-left";
    left.dataset.end = auction.end_time;
    left.textContent = `Time left: ${timeLeft(auction.end_time)}`;
    link.append(title, price, left);
    item.append(link);
    list.append(item);
  }
  setInterval(() => {
    for (const el of document.querySelectorAll(".time-left")) {
      el.textContent = `Time left: ${timeLeft(el.dataset.end)}`;
    }
  }, 1000);
}

// --- the live page -------------------------------------------------------------------------

function auctionPage() {
  const auctionId = Number(location.pathname.split("/").filter(Boolean)[1]);
  let state = null;
  let socket = null;
  let connected = false;
  let attempts = 0;
  let errorTimer = null;
  let lastSeq = null; // the last event seen: a reconnect replays from here
  let link = null; // this browser's one socket for this auction, whichever tab holds it
  let bids = 0;

  const setConnected = (live) => {
    connected = live;
    const pill = $("connection");
    pill.textContent = live ? "Live" : "Disconnected";
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

  const isActive = () => state && state.status === "active" && new Date(state.end_time) > Date.now();

  function renderBidForm() {
    const form = $("bid-form");
    if (!state) return;
    const input = $("bid-amount"), button = $("bid-button"), hint = $("bid-hint");
    form.hidden = !isActive();
    const minimum = (Number(state.current_price) + 0.01).toFixed(2);
    input.min = minimum;
    input.placeholder = `Min: ${minimum}`;
    const canBid = Boolean(token()) && connected;
    input.disabled = !canBid;
    button.disabled = !canBid;
    hint.textContent = !token()
      ? "You are watching as a spectator. Sign in to bid."
      : `Bids must be above ${formatPKR(state.current_price)}.`;
  }

  function render() {
    if (!state) return;
    $("loading").hidden = true;
    $("auction").hidden = false;
    const product = state.product;
    document.title = `${product.name} — MadeInPK Live`;
    $("name").textContent = product.name;
    $("description").textContent = product.description;
    $("condition").textContent = product.condition.replace("_", " ");
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
      button.setAttribute("aria-label", `Show image ${index + 1} of ${product.name}`);
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
    $("seller-name").textContent = `Seller: ${seller.brand_name || seller.username}`;
    $("verified").hidden = !seller.is_verified;
    $("rating").textContent = `Rating: ${seller.average_rating} ★ (${seller.total_feedbacks} reviews)`;
    $("biography").textContent = seller.biography;
    $("starting-price").textContent = formatPKR(state.starting_price);
    $("current-price").textContent = formatPKR(state.current_price);
    $("total-bids").textContent = String(state.total_bids);
    $("countdown").textContent = timeLeft(state.end_time);
    const list = $("latest-bids");
    list.textContent = "";
    for (const bid of state.latest_bids.slice(0, 5)) {
      const item = document.createElement("li");
      item.innerHTML = "<span class=bidder></span><span class=amount></span><time></time>";
      item.querySelector(".bidder").textContent = bid.bidder;
      item.querySelector(".amount").textContent = formatPKR(bid.amount);
      const time = item.querySelector("time");
      time.dateTime = bid.time;
      time.textContent = new Date(bid.time).toLocaleTimeString();
      list.append(item);
    }
    $("no-bids").hidden = state.latest_bids.length > 0;
    const ended = $("ended");
    if (state.status !== "active") {
      const winner = state.winner?.username ?? state.winner;
      ended.textContent = winner
        ? `Auction ended. Winner: ${winner}. Final price: ${formatPKR(state.final_price || state.current_price)}`
        : `Auction ended with no bids.`;
      ended.hidden = false;
    } else {
      ended.hidden = true;
    }
    renderBidForm();
  }

  function handle(message) {
    const seq = seqOf(message);
    if (message.type !== "auction_status" && alreadyApplied(message, state)) {
      if (seq !== null) lastSeq = Math.max(lastSeq ?? 0, seq);
      return;
    }
    if (seq !== null) lastSeq = seq;
    switch (message.type) {
      case "auction_status": // the truth, also after every reconnect
        state = message.data;
        break;
      case "new_bid":
        if (!state) return;
        state = {
          ...state,
          current_price: message.data.current_price,
          total_bids: (state.total_bids || 0) + 1,
          latest_bids: [message.data, ...state.latest_bids.slice(0, 4)],
        };
        break;
      case "auction_ended":
        if (!state) return;
        state = { ...state, status: "ended", winner: message.data.winner, final_price: message.data.final_price };
        break;
      case "error": // every tab hears the shared socket: each shows its own bids' errors
        if (message.bid_id ? message.bid_id.startsWith(`${TAB_ID}-`) : link?.isLeader()) showError(message.message);
        return;
      default:
        return;
    }
    render();
  }

  function connect({ message, status }) {
    const open = () => {
      socket = new WebSocket(socketUrl(auctionId, token(), lastSeq));
      socket.onopen = () => { attempts = 0; status(true); };
      socket.onmessage = (event) => message(JSON.parse(event.data));
      socket.onclose = (event) => {
        status(false);
        if (event.code === 4401 || event.code === 4404) {
          showError(event.code === 4401 ? "Your session has expired. Please sign in again." : "Auction not found");
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
    const input = $("bid-amount");
    const amount = parseFloat(input.value);
    if (!(amount > 0)) {
      showError("Please enter a valid bid amount");
      return;
    }
    if (link && connected) {
      bids += 1;
      link.send({ type: "place_bid", amount, bid_id: `${TAB_ID}-${bids}` });
      input.value = "";
    }
  });
  setInterval(() => { if (state) { $("countdown").textContent = timeLeft(state.end_time); renderBidForm(); } }, 1000);
  renderAccount();
  if (token()) startAlerts(token(), auctionId);
  link = shareSocket(`madeinpk-auction-${auctionId}`, connect, {
    onMessage: handle,
    onStatus: setConnected,
    // A tab that joins gets this tab's state, as of the last event it applied.
    snapshot: () => state && { type: "auction_status", data: { ...state, seq: lastSeq ?? state.seq } },
  });
}

if (document.body.dataset.page === "auction") auctionPage();
else listPage();
