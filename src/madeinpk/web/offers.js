// Second-chance offers (docs/auction-rules.md § Second-chance offer): the signed-in user's
// pending offers, on every page, each with Accept and Decline. Refreshed when
// /ws/notifications/ pushes a new offer (alerts.js sends "madeinpk:offer").

import { formatDateTime, formatPKR, t } from "./languages.js";

const $ = (id) => document.getElementById(id);

export function startOffers(api) {
  const panel = $("offers");
  if (!panel) return;
  const list = $("offer-list");

  async function answer(offer, action, item) {
    for (const button of item.querySelectorAll("button")) button.disabled = true;
    const result = await api(`/api/offers/${offer.id}/${action}/`, { method: "POST" });
    const note = item.querySelector(".offer-result");
    if (result.ok) {
      note.textContent = action === "accept"
        ? t("offer_accepted", { order: result.body.new_order })
        : t("offer_declined");
    } else {
      // The server's refusal stays in its (English) words, as every API error does.
      note.textContent = result.body?.error || result.body?.detail || t("offer_failed");
      note.classList.add("error");
    }
  }

  async function refresh() {
    const result = await api("/api/offers/?status=pending");
    if (!result.ok) return;
    list.textContent = "";
    for (const offer of result.body.results) {
      const item = document.createElement("li");
      item.dataset.offer = String(offer.id);
      const text = document.createElement("p");
      text.textContent = t("offer_text", {
        product: offer.product_name,
        price: formatPKR(offer.amount),
        time: formatDateTime(new Date(offer.expires_at)),
      });
      const accept = document.createElement("button");
      accept.type = "button";
      accept.textContent = t("accept");
      accept.addEventListener("click", () => answer(offer, "accept", item));
      const decline = document.createElement("button");
      decline.type = "button";
      decline.className = "secondary";
      decline.textContent = t("decline");
      decline.addEventListener("click", () => answer(offer, "decline", item));
      const note = document.createElement("p");
      note.className = "offer-result";
      note.setAttribute("role", "status");
      item.append(text, accept, decline, note);
      list.append(item);
    }
    panel.hidden = result.body.count === 0;
  }

  window.addEventListener("madeinpk:offer", refresh);
  return refresh();
}
