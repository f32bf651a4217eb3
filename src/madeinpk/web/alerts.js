// The signed-in user's alerts on every page: a badge with the unread count, and a toast when
// the user is outbid on another auction, pushed by /ws/notifications/ the moment it happens
// (one socket for all the tabs of this browser).

import { t } from "./languages.js";
import { reconnectDelay } from "./live.js";
import { shareSocket } from "./tabs.js";

const $ = (id) => document.getElementById(id);

function showCount(count) {
  const badge = $("alerts");
  if (!badge) return;
  badge.hidden = !(count > 0);
  badge.textContent = String(count);
  badge.setAttribute("aria-label", t("unread_count", { count }));
}

function toast(notification) {
  const box = $("toasts");
  if (!box) return;
  const item = document.createElement("div");
  item.className = "toast";
  item.setAttribute("role", "status");
  const title = document.createElement("strong");
  title.textContent = notification.title;
  const text = document.createElement("p");
  text.textContent = notification.message;
  item.append(title, text);
  if (notification.notification_type === "second_chance_offer") {
    // Answered in the offers panel (offers.js), which this tells to refresh.
    window.dispatchEvent(new CustomEvent("madeinpk:offer"));
  } else if (notification.auction) {
    const link = document.createElement("a");
    link.href = `/auction/${notification.auction}`;
    link.textContent = t(notification.notification_type === "auction_ending_soon" ? "view_auction" : "bid_again");
    item.append(link);
  }
  box.append(item);
  setTimeout(() => item.remove(), 10000);
}

export function startAlerts(token, currentAuctionId) {
  let unread = 0;
  const connect = ({ message, status }) => {
    let socket = null;
    let attempts = 0;
    const open = () => {
      const scheme = location.protocol === "https:" ? "wss" : "ws";
      socket = new WebSocket(`${scheme}://${location.host}/ws/notifications/?token=${encodeURIComponent(token)}`);
      socket.onopen = () => { attempts = 0; status(true); };
      socket.onmessage = (event) => message(JSON.parse(event.data));
      socket.onclose = (event) => {
        status(false);
        attempts += 1;
        const delay = reconnectDelay(event.code, attempts);
        if (delay !== null) setTimeout(open, delay);
      };
    };
    open();
    return { send: (data) => socket?.readyState === WebSocket.OPEN && socket.send(JSON.stringify(data)) };
  };
  shareSocket("madeinpk-alerts", connect, {
    onMessage: (message) => {
      if (message.type === "unread_count") unread = message.data.unread_count;
      else if (message.type === "notification") {
        unread = message.unread_count;
        const data = message.data;
        if (data.notification_type !== "bid_outbid" || data.auction !== currentAuctionId) toast(data);
      } else return;
      showCount(unread);
    },
    onStatus: () => {},
    snapshot: () => ({ type: "unread_count", data: { unread_count: unread } }),
  });
}
