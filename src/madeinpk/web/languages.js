// The page's words in English and Urdu: every text the page shows comes from MESSAGES (the
// static HTML names its keys in data-i18n attributes). What the server sends (product names,
// usernames, the protocol's error messages) is shown as sent: the protocol's words stay English,
// and only the page chooses to word a known error.code in Urdu.
//
// The language is the one chosen with the switch (kept in localStorage, and saved to the
// signed-in user's profile so notices and emails follow), else the browser's first of
// navigator.languages that we speak, else English. Urdu is written right to left
// (<html dir="rtl">; app.css uses logical properties, so the layout mirrors).
//
// Amounts are grouped the Pakistani way (1,00,000.00: thousands, then lakhs and crores) in both
// languages: Chromium's Intl.NumberFormat groups 'en-PK' and 'ur-PK' by thousands, so the
// grouping is explicit here. Digits stay Latin (0-9) in Urdu too, as Intl itself does for
// 'ur-PK' and as Pakistani price tags, banks and newspapers mostly write them.

const LANGUAGE_KEY = "madeinpk.language";
const LANGUAGES = ["en", "ur"];

export const MESSAGES = {
  en: {
    page_title_list: "MadeInPK Live — auctions",
    page_title_auction: "MadeInPK Live — auction",
    page_title_named: "{name} — MadeInPK Live",
    language_name: "English",
    language_label: "Language",
    sign_in_to_bid: "Sign in to bid",
    email: "Email",
    password: "Password",
    sign_in: "Sign in",
    sign_in_failed: "Sign-in failed",
    signed_in_as: "Signed in as {username} ",
    sign_out: "Sign out",
    live_auctions: "Live auctions",
    loading_auctions: "Loading auctions…",
    could_not_load: "Could not load auctions.",
    auctions_open: "{count} auctions open for bidding",
    card_price: "{price} · {count} bids",
    card_time_left: "Time left: {time}",
    starting_soon: "Starting soon",
    card_starting_price: "Starting price: {price}",
    card_starts_at: "Starts:",
    starts_in: "Starts in {time}",
    starting_now: "Starting…",
    ended: "Ended",
    duration_days: "{d}d ",
    duration: "{h}h {m}m {s}s",
    unread_notifications: "Unread notifications",
    unread_count: "{count} unread notifications",
    bid_again: "Bid again",
    view_auction: "View auction",
    live: "Live",
    disconnected: "Disconnected",
    loading_auction: "Loading auction data…",
    condition_label: "Condition:",
    category_label: "Category:",
    condition_new: "new",
    condition_like_new: "like new",
    condition_good: "good",
    condition_fair: "fair",
    verified: "Verified",
    seller: "Seller: {name}",
    rating: "Rating: {rating} ★ ({count} reviews)",
    show_image: "Show image {n} of {name}",
    starting_price: "Starting price",
    current_price: "Current price",
    min_next_bid: "Minimum next bid",
    increment: "Bid increment",
    total_bids: "Total bids",
    time_left: "Time left",
    your_bid: "Your bid (PKR)",
    max_label: "Bid automatically up to (PKR, optional)",
    place_bid: "Place bid",
    max_hint: "Set a maximum and we bid for you, one step at a time, only as far as needed to " +
      "keep you in the lead. Nobody else sees it.",
    recent_bids: "Recent bids",
    no_bids: "No bids yet. Be the first to bid!",
    min_placeholder: "Min: {amount}",
    leading: "You are the highest bidder.",
    leading_with_max: "You are the highest bidder. Bidding automatically up to {max}.",
    spectator_hint: "You are watching as a spectator. Sign in to bid.",
    lead_hint: "You lead. To raise your maximum, enter it under \"Bid automatically up to\" and " +
      "leave \"Your bid\" empty.",
    bid_hint: "Bid at least {min} (steps of {step}). With only a maximum, we bid {min} for you.",
    reserve_met: "Reserve met",
    reserve_not_met: "Reserve not met",
    soft_close: "Soft close: a bid in the last {s} s moves the end to {s} s after that bid.",
    extended: "The auction was extended by a late bid: it now ends at {time}.",
    automatic: "automatic",
    automatic_title: "Placed by a bidder's maximum (proxy bid)",
    ended_winner: "Auction ended. Winner: {winner}. Final price: {price}",
    ended_reserve: "Auction ended without a sale: the reserve price was not met.",
    ended_no_bids: "Auction ended with no bids.",
    outbid_auto: "An automatic bid outbid you: {amount}. Bid at least {min} to lead.",
    outbid: "You have been outbid: {amount}. Bid at least {min} to lead.",
    recorded_but_outbid: "Your bid of {amount} was recorded, but an automatic bid outbid you " +
      "at once: the price is now {price}.",
    session_expired: "Your session has expired. Please sign in again.",
    auction_not_found: "Auction not found",
    invalid_max: "Please enter a valid maximum bid",
    invalid_amount: "Please enter a valid bid amount",
    search_label: "Search auctions",
    search_placeholder: "Pashmina, carpet, khussa…",
    search: "Search",
    auctions_match: "{count} auctions open for bidding match “{search}”, best match first",
    opens_at_start: "Bidding opens when the auction starts.",
    buy_now: "Buy It Now for {price}",
    buy_now_confirm: "Confirm: buy now for {price}",
    buy_now_hint: "Buy It Now ends the auction at once: the item is yours at this price and the " +
      "order is created.",
    buy_now_sign_in: "Sign in to buy it now.",
    bought_by_you: "You bought it with Buy It Now for {price}. Order {order}: please complete " +
      "payment.",
    ended_bought: "Auction ended: bought with Buy It Now by {winner} for {price}.",
    retract_bid: "Retract my last bid",
    bid_removed: "A bid was removed. The price is now {price}.",
    bid_removed_no_bids: "A bid was removed. There are no bids now.",
    bid_removed_outbid: "A bid was removed: you no longer lead. Bid at least {min} to lead.",
    relisted: "This item was relisted: see the new auction",
    watch: "Watch",
    watching: "Watching ✓",
    watch_title: "Add this auction to your watchlist",
    unwatch_title: "Stop watching this auction",
    watch_sign_in: "Sign in to watch",
    watch_count_one: "1 watching",
    watch_count: "{count} watching",
    offers_title: "Second-chance offers",
    offer_text: "{product} at your highest bid, {price} (answer by {time})",
    accept: "Accept",
    decline: "Decline",
    offer_accepted: "Accepted: order {order} awaits your payment.",
    offer_declined: "Declined.",
    offer_failed: "Could not answer the offer.",
  },
  ur: {
    page_title_list: "MadeInPK Live — نیلامیاں",
    page_title_auction: "MadeInPK Live — نیلامی",
    page_title_named: "{name} — MadeInPK Live",
    language_name: "اردو",
    language_label: "زبان",
    sign_in_to_bid: "بولی لگانے کے لیے سائن اِن کریں",
    email: "ای میل",
    password: "پاس ورڈ",
    sign_in: "سائن اِن",
    sign_in_failed: "سائن اِن ناکام رہا",
    signed_in_as: "{username} کے طور پر سائن اِن ",
    sign_out: "سائن آؤٹ",
    live_auctions: "جاری نیلامیاں",
    loading_auctions: "نیلامیاں لوڈ ہو رہی ہیں…",
    could_not_load: "نیلامیاں لوڈ نہیں ہو سکیں۔",
    auctions_open: "{count} نیلامیاں بولی کے لیے کھلی ہیں",
    card_price: "{price} · {count} بولیاں",
    card_time_left: "باقی وقت: {time}",
    starting_soon: "جلد شروع ہونے والی نیلامیاں",
    card_starting_price: "ابتدائی قیمت: {price}",
    card_starts_at: "آغاز:",
    starts_in: "{time} میں شروع ہو گی",
    starting_now: "شروع ہو رہی ہے…",
    ended: "ختم",
    duration_days: "{d} دن ",
    duration: "{h} گھنٹے {m} منٹ {s} سیکنڈ",
    unread_notifications: "غیر پڑھی اطلاعات",
    unread_count: "{count} غیر پڑھی اطلاعات",
    bid_again: "دوبارہ بولی لگائیں",
    view_auction: "نیلامی دیکھیں",
    live: "براہِ راست",
    disconnected: "رابطہ منقطع",
    loading_auction: "نیلامی کی معلومات لوڈ ہو رہی ہیں…",
    condition_label: "حالت:",
    category_label: "زمرہ:",
    condition_new: "نئی",
    condition_like_new: "تقریباً نئی",
    condition_good: "اچھی",
    condition_fair: "مناسب",
    verified: "تصدیق شدہ",
    seller: "فروخت کنندہ: {name}",
    rating: "درجہ بندی: {rating} ★ ({count} جائزے)",
    show_image: "{name} کی تصویر {n} دکھائیں",
    starting_price: "ابتدائی قیمت",
    current_price: "موجودہ قیمت",
    min_next_bid: "اگلی کم از کم بولی",
    increment: "بولی کا اضافہ",
    total_bids: "کل بولیاں",
    time_left: "باقی وقت",
    your_bid: "آپ کی بولی (روپے)",
    max_label: "خودکار بولی کی حد (روپے، اختیاری)",
    place_bid: "بولی لگائیں",
    max_hint: "حد مقرر کریں تو ہم آپ کی طرف سے ایک ایک قدم بولی لگائیں گے، صرف اتنی جتنی آپ کو " +
      "آگے رکھنے کے لیے ضروری ہو۔ یہ حد کسی اور کو نظر نہیں آتی۔",
    recent_bids: "حالیہ بولیاں",
    no_bids: "ابھی کوئی بولی نہیں۔ پہلی بولی آپ لگائیں!",
    min_placeholder: "کم از کم: {amount}",
    leading: "سب سے زیادہ بولی آپ کی ہے۔",
    leading_with_max: "سب سے زیادہ بولی آپ کی ہے۔ {max} تک خودکار بولی جاری ہے۔",
    spectator_hint: "آپ تماشائی کے طور پر دیکھ رہے ہیں۔ بولی لگانے کے لیے سائن اِن کریں۔",
    lead_hint: "آپ آگے ہیں۔ اپنی حد بڑھانے کے لیے اسے \"خودکار بولی کی حد\" میں لکھیں اور " +
      "\"آپ کی بولی\" خالی چھوڑ دیں۔",
    bid_hint: "کم از کم {min} کی بولی لگائیں ({step} کے قدموں میں)۔ صرف حد لکھنے پر ہم آپ کی طرف " +
      "سے {min} کی بولی لگائیں گے۔",
    reserve_met: "کم از کم قیمت (ریزرو) پوری ہو گئی",
    reserve_not_met: "کم از کم قیمت (ریزرو) پوری نہیں ہوئی",
    soft_close: "نرم اختتام: آخری {s} سیکنڈ میں لگی بولی اختتام کو اس بولی کے {s} سیکنڈ بعد تک لے " +
      "جاتی ہے۔",
    extended: "ایک آخری لمحے کی بولی سے نیلامی بڑھ گئی: اب یہ {time} پر ختم ہو گی۔",
    automatic: "خودکار",
    automatic_title: "کسی بولی دہندہ کی حد سے لگی بولی (پراکسی بولی)",
    ended_winner: "نیلامی ختم ہو گئی۔ جیتنے والے: {winner}۔ آخری قیمت: {price}",
    ended_reserve: "نیلامی بغیر فروخت کے ختم ہو گئی: کم از کم قیمت (ریزرو) پوری نہیں ہوئی۔",
    ended_no_bids: "نیلامی کسی بولی کے بغیر ختم ہو گئی۔",
    outbid_auto: "ایک خودکار بولی آپ سے آگے نکل گئی: {amount}۔ آگے ہونے کے لیے کم از کم {min} " +
      "کی بولی لگائیں۔",
    outbid: "آپ سے زیادہ بولی لگ گئی: {amount}۔ آگے ہونے کے لیے کم از کم {min} کی بولی لگائیں۔",
    recorded_but_outbid: "آپ کی {amount} کی بولی درج ہو گئی، لیکن ایک خودکار بولی فوراً آگے نکل " +
      "گئی: قیمت اب {price} ہے۔",
    session_expired: "آپ کا سیشن ختم ہو گیا ہے۔ براہِ کرم دوبارہ سائن اِن کریں۔",
    auction_not_found: "نیلامی نہیں ملی",
    invalid_max: "براہِ کرم درست حد لکھیں",
    invalid_amount: "براہِ کرم بولی کی درست رقم لکھیں",
    search_label: "نیلامیاں تلاش کریں",
    search_placeholder: "پشمینہ، قالین، کھسہ…",
    search: "تلاش",
    auctions_match: "“{search}” سے ملتی {count} نیلامیاں بولی کے لیے کھلی ہیں، سب سے موزوں پہلے",
    opens_at_start: "نیلامی شروع ہونے پر بولی لگ سکے گی۔",
    buy_now: "ابھی خریدیں: {price}",
    buy_now_confirm: "تصدیق کریں: {price} میں ابھی خریدیں",
    buy_now_hint: "ابھی خریدنے سے نیلامی فوراً ختم ہو جاتی ہے: چیز اس قیمت پر آپ کی ہو جاتی ہے اور " +
      "آرڈر بن جاتا ہے۔",
    buy_now_sign_in: "ابھی خریدنے کے لیے سائن اِن کریں۔",
    bought_by_you: "آپ نے یہ چیز {price} میں ابھی خرید لی۔ آرڈر {order}: براہِ کرم ادائیگی مکمل " +
      "کریں۔",
    ended_bought: "نیلامی ختم ہو گئی: {winner} نے یہ چیز {price} میں ابھی خرید لی۔",
    retract_bid: "میری آخری بولی واپس لیں",
    bid_removed: "ایک بولی ہٹا دی گئی۔ قیمت اب {price} ہے۔",
    bid_removed_no_bids: "ایک بولی ہٹا دی گئی۔ اب کوئی بولی نہیں۔",
    bid_removed_outbid: "ایک بولی ہٹا دی گئی: اب آپ آگے نہیں۔ آگے ہونے کے لیے کم از کم {min} کی " +
      "بولی لگائیں۔",
    relisted: "یہ چیز دوبارہ نیلامی میں لگ گئی ہے: نئی نیلامی دیکھیں",
    watch: "نظر رکھیں",
    watching: "نظر میں ہے ✓",
    watch_title: "یہ نیلامی اپنی واچ لسٹ میں شامل کریں",
    unwatch_title: "اس نیلامی پر نظر رکھنا بند کریں",
    watch_sign_in: "نظر رکھنے کے لیے سائن اِن کریں",
    watch_count_one: "1 نظر رکھے ہوئے ہے",
    watch_count: "{count} نظر رکھے ہوئے ہیں",
    offers_title: "دوسرے موقع کی پیشکشیں",
    offer_text: "{product}، آپ کی سب سے زیادہ بولی {price} پر ({time} تک جواب دیں)",
    accept: "قبول کریں",
    decline: "مسترد کریں",
    offer_accepted: "قبول: آرڈر {order} آپ کی ادائیگی کا منتظر ہے۔",
    offer_declined: "مسترد۔",
    offer_failed: "پیشکش کا جواب نہیں دیا جا سکا۔",
  },
};

// The socket's error.code worded in Urdu; in English the server's message is shown as sent.
const URDU_ERRORS = {
  not_found: "نیلامی نہیں ملی",
  unauthenticated: "بولی لگانے کے لیے سائن اِن ضروری ہے",
  blocked: "آپ کا اکاؤنٹ بلاک ہے",
  not_active: "یہ نیلامی فعال نہیں ہے",
  own_auction: "آپ اپنی نیلامی پر بولی نہیں لگا سکتے",
  too_low: "بولی موجودہ قیمت {price} سے زیادہ ہونی چاہیے",
  below_increment: "بولی کم از کم {price} ہونی چاہیے",
  invalid_amount: "بولی کی رقم درست نہیں",
  invalid_max_amount: "حد کم از کم بولی کی رقم جتنی ہونی چاہیے",
  rate_limited: "بہت زیادہ بولیاں، ذرا آہستہ",
  internal: "آپ کی بولی پر کارروائی نہیں ہو سکی، براہِ کرم دوبارہ کوشش کریں",
  not_started: "نیلامی ابھی شروع نہیں ہوئی",
  idempotency_conflict: "یہ شناختی کلید کسی اور بولی کے لیے استعمال ہو چکی ہے",
  no_buy_now: "اس نیلامی میں ابھی خریدنے کی قیمت نہیں ہے",
  buy_now_closed: "اس نیلامی میں اب ابھی خریدنے کا اختیار نہیں رہا",
  unknown_bid: "بولی نہیں ملی",
  already_removed: "یہ بولی پہلے ہی ہٹائی جا چکی ہے",
  automatic_bid: "خودکار بولیاں نہیں ہٹائی جا سکتیں: وہ بولی ہٹائیں جس نے حد مقرر کی تھی",
  staff_only: "کسی اور کی بولی صرف عملہ ہٹا سکتا ہے",
  not_your_bid: "آپ صرف اپنی بولی واپس لے سکتے ہیں",
  retraction_off: "اس سائٹ پر بولی واپس لینے کی اجازت نہیں",
  retract_too_late: "بولی لگانے کے {seconds} سیکنڈ کے اندر ہی واپس لی جا سکتی ہے",
  last_hour: "نیلامی کے آخری گھنٹے میں بولیاں واپس نہیں لی جا سکتیں",
};

// Buy It Now's words for the codes it shares with bids (the message names buying).
const URDU_BUY_ERRORS = {
  own_auction: "آپ اپنی نیلامی خود نہیں خرید سکتے",
  unauthenticated: "خریدنے کے لیے سائن اِن ضروری ہے",
};

function browserLanguage() {
  for (const tag of navigator.languages || [navigator.language || ""]) {
    const primary = String(tag).toLowerCase().split("-")[0];
    if (LANGUAGES.includes(primary)) return primary;
  }
  return "en";
}

function chosenLanguage() {
  try {
    const stored = localStorage.getItem(LANGUAGE_KEY);
    if (LANGUAGES.includes(stored)) return stored;
  } catch { /* storage blocked: follow the browser */ }
  return browserLanguage();
}

export const language = chosenLanguage();

// A message in the page's language, with {name} placeholders filled in.
export function t(key, values = {}) {
  const text = MESSAGES[language][key] ?? MESSAGES.en[key] ?? key;
  return text.replace(/\{(\w+)\}/g, (_, name) => String(values[name] ?? ""));
}

// "12345678.5" as "1,23,45,678.50": thousands, then groups of two (lakh, crore).
export function pakistaniNumber(value) {
  const text = /^-?\d+\.\d{2}$/.test(String(value)) ? String(value) : Number(value).toFixed(2);
  const negative = text.startsWith("-");
  const [whole, cents] = (negative ? text.slice(1) : text).split(".");
  let head = whole.slice(0, -3);
  const groups = [whole.slice(-3)];
  while (head.length > 2) { groups.unshift(head.slice(-2)); head = head.slice(0, -2); }
  if (head) groups.unshift(head);
  return `${negative ? "-" : ""}${groups.join(",")}.${cents}`;
}

export function formatPKR(value) {
  const number = pakistaniNumber(value);
  return language === "ur" ? `${number} روپے` : `PKR ${number}`;
}

export function formatTime(date) {
  return date.toLocaleTimeString(language === "ur" ? "ur-PK" : undefined);
}

// A date and time in the reader's time zone, e.g. "5 Dec 2026, 14:30" (a scheduled start).
export function formatDateTime(date) {
  return date.toLocaleString(language === "ur" ? "ur-PK" : undefined, {
    dateStyle: "medium", timeStyle: "short",
  });
}

// What an error frame says on this page: the server's words, or in Urdu the code's.
export function errorText(message) {
  const text = message.message || "";
  const buying = /\bbuy\b/i.test(text) && URDU_BUY_ERRORS[message.code];
  const urdu = language === "ur" && (buying || URDU_ERRORS[message.code]);
  if (!urdu) return message.message;
  const price = /(\d+\.\d{2})/.exec(text);
  const seconds = /(\d+) seconds/.exec(text);
  return urdu
    .replace("{price}", price ? formatPKR(price[1]) : "")
    .replace("{seconds}", seconds ? seconds[1] : "");
}

// Sets <html lang dir>, the static texts (data-i18n, data-i18n-title, data-i18n-placeholder)
// and the switch, which offers the other language.
export function applyLanguage({ token, api }) {
  const root = document.documentElement;
  root.lang = language;
  root.dir = language === "ur" ? "rtl" : "ltr";
  for (const el of document.querySelectorAll("[data-i18n]")) el.textContent = t(el.dataset.i18n);
  for (const el of document.querySelectorAll("[data-i18n-title]")) el.title = t(el.dataset.i18nTitle);
  for (const el of document.querySelectorAll("[data-i18n-placeholder]")) {
    el.placeholder = t(el.dataset.i18nPlaceholder);
  }
  const other = language === "ur" ? "en" : "ur";
  const button = document.getElementById("language-switch");
  if (!button) return;
  button.textContent = MESSAGES[other].language_name;
  button.lang = other;
  button.dir = other === "ur" ? "rtl" : "ltr";
  button.setAttribute("aria-label", `${t("language_label")}: ${MESSAGES[other].language_name}`);
  button.addEventListener("click", async () => {
    try { localStorage.setItem(LANGUAGE_KEY, other); } catch { /* this page only */ }
    if (token()) {
      // The preference follows the user: their notices and emails are written in it.
      await api("/api/auth/profile/", { method: "PATCH", body: JSON.stringify({ language: other }) });
    }
    location.reload();
  });
}
